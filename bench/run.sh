#!/usr/bin/env bash
# feedfold side-by-side benchmark: feedfold vs newsboat and reader (and feedparser
# for parsing) against the same loopback server in the same run.
#   bench/run.sh [--quick]     (--quick skips the 20,000-feed scale scenario)
# Installs the peers (Debian newsboat and time; PyPI reader, sgmllib3k, feedparser),
# builds feedfold in release mode, runs the scenarios, prints one table and
# writes it into BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need_apt=()
command -v newsboat >/dev/null || need_apt+=(newsboat)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v sqlite3 >/dev/null || need_apt+=(sqlite3)
if [ ${#need_apt[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
python3 -c "import reader, feedparser, sgmllib" 2>/dev/null || python3 -m pip install -q "reader[cli]" sgmllib3k feedparser

cargo build --release --locked --bin feedfold --example bench-server --example bench-parse --example bench-floor
exec python3 bench/run.py "$@"
