#!/usr/bin/env bash
# feedfold alone against the benchmark server: one cold and one warm
# `poll --all`, timed with /usr/bin/time. Quicker than bench/run.sh (no
# peers) for before/after figures while working on speed.
#   bench/solo.sh [FEEDS] [ITEMS]        (default 2000 × 50)
# Set PERF=1 (or PERF=warm) to record the cold (warm) pass with `perf
# record -g` into solo.perf; PERF_FREQ and PERF_CG override rate and call graph.
# SOLO_LOG sets RUST_LOG for both passes (default error), e.g.
# SOLO_LOG=feedfold::store=debug for the writer's flush and index steps.
# KEEP_COLD=PATH copies the database as the cold pass left it (bench/floor.sh
# reads it); KEEP=PATH copies it after the warm pass.
set -euo pipefail
cd "$(dirname "$0")/.."
feeds="${1:-2000}"
items="${2:-50}"
cargo build --release --locked --bin feedfold --example bench-server
bin="$PWD/target/release"
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; [ -n "${KEEP:-}" ] && cp "$work/ff.db" "$KEEP"; rm -rf "$work"' EXIT
"$bin/examples/bench-server" --feeds "$feeds" --items "$items" >"$work/server.out" &
server=$!
for _ in $(seq 50); do [ -s "$work/server.out" ] && break; sleep 0.1; done
base=$(head -1 "$work/server.out" | awk '{print $NF}')
{
    echo 'database = "ff.db"'
    printf '[poll]\ninterval = "30m"\nconcurrency = %s\nper_host = %s\n' "${CONC:-64}" "${CONC:-64}"
    curl -sf "$base/_urls?n=$feeds" | while read -r url; do printf '[[feed]]\nurl = "%s"\n' "$url"; done
} >"$work/feedfold.toml"
perf=()
[ -n "${PERF:-}" ] && perf=(perf record -F "${PERF_FREQ:-499}" ${PERF_CG:--g} -o "$PWD/solo.perf")
cold_perf=() warm_perf=()
[ "${PERF:-}" = 1 ] && cold_perf=("${perf[@]}")
[ "${PERF:-}" = warm ] && warm_perf=("${perf[@]}")
timed() { RUST_LOG="${SOLO_LOG:-error}" /usr/bin/time -f "%e s wall, %U s user, %S s sys, %M KB peak RSS" "$@"; }
echo "== cold: $feeds feeds × $items items"
timed "${cold_perf[@]}" "$bin/feedfold" -c "$work/feedfold.toml" poll --all
[ -n "${KEEP_COLD:-}" ] && cp "$work/ff.db" "$KEEP_COLD"
curl -sf -X POST "$base/_bump?pct=10&new=5"
echo "== warm: 10 % of feeds with 5 new items, 90 % answer 304"
timed "${warm_perf[@]}" "$bin/feedfold" -c "$work/feedfold.toml" poll --all
echo "bench server CPU (both passes): $(ps -o times= -p "$server") s"
