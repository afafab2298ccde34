#!/usr/bin/env bash
# The storage floor: a cold pass (bench/solo.sh, feedfold alone), then
# bench-floor stores what that pass stored again with SQLite alone: the
# full-text rows, the entry rows, and both (see bench/floor.rs).
#   bench/floor.sh [FEEDS] [ITEMS]        (default 2000 × 50)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --example bench-floor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
KEEP_COLD="$work/cold.db" bench/solo.sh "$@"
echo "== storage floor: the cold pass's rows, stored by SQLite alone"
target/release/examples/bench-floor "$work/cold.db" --dir "$work"
