#!/usr/bin/env bash
# Before/after figures for a change: `bench/solo.sh FEEDS ITEMS` run ROUNDS
# times, alternating two commits, each built in its own worktree. Alternating
# keeps a busy machine from favouring one side.
#   bench/ab.sh OLD_REV NEW_REV [ROUNDS] [FEEDS] [ITEMS]   (default 2 rounds, 2000 × 50)
set -euo pipefail
cd "$(dirname "$0")/.."
old="$1" new="$2" rounds="${3:-2}" feeds="${4:-2000}" items="${5:-50}"
work=$(mktemp -d)
trap 'for s in old new; do git worktree remove --force "$work/$s" 2>/dev/null || true; done; rm -rf "$work"' EXIT
git worktree add -q --detach "$work/old" "$old"
git worktree add -q --detach "$work/new" "$new"
for side in old new; do
    (cd "$work/$side" && cargo build --release --locked --bin feedfold --example bench-server -q)
done
for round in $(seq "$rounds"); do
    for side in old new; do
        echo "### $side ($( [ $side = old ] && echo "$old" || echo "$new" )), round $round"
        (cd "$work/$side" && bash bench/solo.sh "$feeds" "$items" 2>&1 | grep -E "^==|wall")
    done
done
