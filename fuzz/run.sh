#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) on the stable toolchain:
# cargo-fuzz needs nightly-only rustc flags (-Z sanitizer, -C passes=sancov),
# which RUSTC_BOOTSTRAP=1 unlocks on stable. Seeds come from ../shared/corpora
# when it is there. Exits non-zero on the first crash, leaving the input in
# fuzz/artifacts/TARGET/.
#   usage: fuzz/run.sh [SECONDS] [TARGET…]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(normalize dateline fingerprint feed_to_store opml)
export RUSTC_BOOTSTRAP=1

seed_dir() {
    # Small real feeds as starting points; the fuzzer's own corpus grows beside them.
    local dir="corpus/$1"
    mkdir -p "$dir"
    local shared=../../shared/corpora
    local patterns=(\( -name '*.xml' -o -name '*.rss' -o -name '*.atom' -o -name '*.json' \))
    # Subscription lists for the OPML target (their first bytes become its
    # parameters, the rest its junk, and the whole file is imported as is).
    if [ "$1" = opml ]; then
        shared=../../shared/corpora/opml
        patterns=(-type f)
    fi
    if [ -d "$shared" ] && [ -z "$(ls -A "$dir")" ]; then
        find "$shared" -type f -size -16k "${patterns[@]}" \
            | sort | awk 'NR % 8 == 0' | head -400 | while read -r f; do
                cp "$f" "$dir/$(echo "$f" | md5sum | cut -c1-16)"
            done
    fi
    echo "$dir"
}

cargo fuzz build
for t in "${targets[@]}"; do
    dir=$(seed_dir "$t")
    echo "== fuzz $t for ${seconds}s"
    log=$(mktemp)
    if ! cargo fuzz run "$t" "$dir" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 >"$log" 2>&1; then
        tail -60 "$log"
        echo "fuzz target $t crashed: input in fuzz/artifacts/$t/"
        exit 1
    fi
    grep -E "^stat::number_of_executed_units|^Done [0-9]+ runs" "$log" | tail -2
    rm -f "$log"
done
