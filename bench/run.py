#!/usr/bin/env python3
"""Side-by-side benchmark of feedfold, newsboat and reader (bench/run.sh runs this).

Every tool polls the same loopback server (bench/server.rs) in the same run, one
after the other; each is measured with /usr/bin/time -v (wall, user+sys CPU,
peak RSS) and its database is measured on disk. Scenarios:
  cold   N feeds x 50 items, empty database
  warm   the same feeds again: 90 % answer 304, 10 % gained 5 items
  scale  20,000 feeds cold and warm (feedfold only; --quick skips it)
  parse  real-world feed bytes -> entries in process (feedfold vs feedparser)
Under the table, the floors that bound feedfold's figures: SQLite alone storing
the rows of feedfold's cold pass (bench/floor.rs), and parsing plus
markup-to-text alone (bench/parse.rs).
The table goes to stdout and into BENCHMARKS.md between the bench markers.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
FEEDFOLD = os.path.join(RELEASE, "feedfold")
SERVER = os.path.join(RELEASE, "examples", "bench-server")
PARSE = os.path.join(RELEASE, "examples", "bench-parse")
FLOOR = os.path.join(RELEASE, "examples", "bench-floor")
CORPORA = os.path.join(ROOT, "..", "shared", "corpora")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

FEEDFOLD_CONCURRENCY = 64
NEWSBOAT_THREADS = 8
READER_WORKERS = 4


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def timed(cmd, cwd=None, env=None):
    """Runs cmd under /usr/bin/time -v; returns wall, cpu (user+sys) seconds and peak RSS MB."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        started = time.monotonic()
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", tf.name] + cmd, cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - started
        report = tf.read()
    def field(name):
        m = re.search(re.escape(name) + r":\s*([\d.]+)", report)
        return float(m.group(1)) if m else 0.0
    if proc.returncode != 0:
        sys.stderr.write(f"warning: {cmd[0]} exited {proc.returncode}: {proc.stderr[-500:]}\n")
    return {"wall": wall, "cpu": field("User time (seconds)") + field("System time (seconds)"),
            "rss": field("Maximum resident set size (kbytes)") / 1024.0, "stdout": proc.stdout,
            "stderr": proc.stderr}


def size_mb(*paths):
    total = 0
    for p in paths:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(p + suffix):
                total += os.path.getsize(p + suffix)
    return total / 1e6


def count(db, sql):
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
            return c.execute(sql).fetchone()[0]
    except sqlite3.Error:
        return 0


class Server:
    def __init__(self, feeds, items, realworld=None):
        cmd = [SERVER, "--feeds", str(feeds), "--items", str(items)]
        if realworld:
            cmd += ["--realworld", realworld]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.base = line.strip().split()[-1]

    def urls(self, n):
        with urllib.request.urlopen(f"{self.base}/_urls?n={n}") as r:
            return r.read().decode().split()

    def bump(self, pct=10, new=5):
        req = urllib.request.Request(f"{self.base}/_bump?pct={pct}&new={new}", method="POST")
        with urllib.request.urlopen(req) as r:
            return r.read().decode().strip()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Feedfold:
    name = "feedfold"
    settings = f"concurrency {FEEDFOLD_CONCURRENCY}, per-host limit lifted (all feeds share 127.0.0.1)"

    def __init__(self, work, urls):
        self.dir = os.path.join(work, "feedfold")
        os.makedirs(self.dir, exist_ok=True)
        self.db = os.path.join(self.dir, "ff.db")
        self.config = os.path.join(self.dir, "feedfold.toml")
        feeds = "".join(f'[[feed]]\nurl = "{u}"\n' for u in urls)
        base = f'database = "ff.db"\n[poll]\ninterval = "30m"\nconcurrency = {FEEDFOLD_CONCURRENCY}\n'
        # per_host exists once polite fetching landed; older builds reject unknown keys.
        for extra in (f"per_host = {FEEDFOLD_CONCURRENCY}\n", ""):
            with open(self.config, "w") as f:
                f.write(base + extra + feeds)
            if subprocess.run([FEEDFOLD, "-c", self.config, "check"], capture_output=True).returncode != 2:
                break

    def run(self):
        # The writer logs, at exit, how long entries waited from commit to searchable.
        env = {**os.environ, "RUST_LOG": "error,feedfold::store::writer=info"}
        m = timed([FEEDFOLD, "-c", self.config, "poll", "--all"], env=env)
        lag = re.search(r"entries=(\d+) p50_ms=(\d+) p99_ms=(\d+) max_ms=(\d+)", m["stderr"])
        if lag:
            m["search_lag"] = dict(zip(("entries", "p50", "p99", "max"), map(int, lag.groups())))
        return m

    def items(self):
        return count(self.db, "SELECT COUNT(*) FROM entry")

    def size(self):
        return size_mb(self.db)

    def keep(self, path):
        """Copies the database as it is now (bench-floor reads the cold one)."""
        shutil.copyfile(self.db, path)


class Newsboat:
    name = "newsboat"
    settings = f"reload-threads {NEWSBOAT_THREADS}"

    def __init__(self, work, urls):
        self.dir = os.path.join(work, "newsboat")
        os.makedirs(self.dir, exist_ok=True)
        self.urls = os.path.join(self.dir, "urls")
        self.cache = os.path.join(self.dir, "cache.db")
        self.conf = os.path.join(self.dir, "config")
        with open(self.urls, "w") as f:
            f.write("\n".join(urls) + "\n")
        with open(self.conf, "w") as f:
            f.write(f"reload-threads {NEWSBOAT_THREADS}\n")

    def run(self):
        env = {**os.environ, "HOME": self.dir}
        return timed(["newsboat", "-x", "reload", "-u", self.urls, "-c", self.cache, "-C", self.conf], env=env)

    def items(self):
        return count(self.cache, "SELECT COUNT(*) FROM rss_item")

    def size(self):
        return size_mb(self.cache)


class Reader:
    name = "reader"
    settings = f"--workers {READER_WORKERS}"

    def __init__(self, work, urls):
        self.dir = os.path.join(work, "reader")
        os.makedirs(self.dir, exist_ok=True)
        self.db = os.path.join(self.dir, "reader.sqlite")
        script = ("import sys\nfrom reader import make_reader\nr = make_reader(sys.argv[1])\n"
                  "for u in open(sys.argv[2]).read().split():\n    r.add_feed(u, exist_ok=True)\nr.close()\n")
        urls_file = os.path.join(self.dir, "urls")
        with open(urls_file, "w") as f:
            f.write("\n".join(urls))
        subprocess.run([sys.executable, "-c", script, self.db, urls_file], check=True)
        self.runs = 0

    def run(self):
        cmd = [sys.executable, "-m", "reader", "--db", self.db, "update", "--workers", str(READER_WORKERS)]
        if self.runs:
            cmd.append("--no-scheduled")  # else its one-hour schedule skips every feed
        self.runs += 1
        return timed(cmd)

    def items(self):
        return count(self.db, "SELECT COUNT(*) FROM entries")

    def size(self):
        return size_mb(self.db)


def versions():
    v = {}
    v["feedfold"] = sh([FEEDFOLD, "--version"]).strip()
    try:
        v["feedfold"] += " (commit " + sh(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip() + ")"
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        v["newsboat"] = sh(["newsboat", "--version"]).splitlines()[0]
    except (OSError, subprocess.CalledProcessError):
        v["newsboat"] = "not installed"
    for mod in ("reader", "feedparser"):
        try:
            v[mod] = mod + " " + sh([sys.executable, "-c", f"import {mod}; print({mod}.__version__)"]).strip()
        except (OSError, subprocess.CalledProcessError):
            v[mod] = "not installed"
    return v


def machine():
    cores = os.cpu_count()
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) / 1024 / 1024
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cores} cores ({cpu}), {mem:.1f} GiB RAM, {platform.system()} {platform.release()}"


def row(tool, scenario, m, items, db):
    return {"tool": tool, "scenario": scenario, "wall": m["wall"], "cpu": m["cpu"], "rss": m["rss"],
            "db": db, "items": items}


def fetch_scenarios(work, feeds, items, tools, label):
    server = Server(feeds, items)
    urls = server.urls(feeds)
    rows = []
    instances = [t(work, urls) for t in tools]
    cold_db = None
    lag = None
    for t in instances:
        m = t.run()
        lag = m.get("search_lag", lag)
        rows.append(row(t.name, f"{label} cold", m, t.items(), t.size()))
        print(f"  {t.name:9} cold: {m['wall']:.2f}s wall, {m['rss']:.0f} MB", flush=True)
        if isinstance(t, Feedfold):
            cold_db = os.path.join(work, "cold.db")
            t.keep(cold_db)
    print("  " + server.bump(10, 5), flush=True)
    for t in instances:
        m = t.run()
        rows.append(row(t.name, f"{label} warm", m, t.items(), t.size()))
        print(f"  {t.name:9} warm: {m['wall']:.2f}s wall, {m['rss']:.0f} MB", flush=True)
    steady = None
    if instances and isinstance(instances[0], Feedfold):
        steady = daemon_rss(instances[0])
    server.stop()
    if lag:
        rows[0]["search_lag"] = lag
    return rows, steady, cold_db


def floor_note(cold_db, cold_rows):
    """Stores the rows of feedfold's cold pass again with SQLite alone (bench/floor.rs), and
    sets the floor beside the cold targets (10× newsboat's wall time, 20× reader's)."""
    out = subprocess.run([FLOOR, cold_db, "--dir", os.path.dirname(cold_db)],
                         capture_output=True, text=True, check=True).stdout
    ways = {w["way"]: w for w in (json.loads(line) for line in out.splitlines() if line.strip())}
    fts, rows, both = ways["fts"], ways["rows"], ways["both"]
    note = (f"Storage floor (bench/floor.rs: SQLite alone, one thread, the store's settings, stores "
            f"the {both['rows']:,} rows of feedfold's cold pass again): the full-text rows "
            f"{fts['wall_s']:.2f} s, the entry rows {rows['wall_s']:.2f} s, both {both['wall_s']:.2f} s "
            f"wall / {both['cpu_s']:.2f} CPU-s")
    wall = {x["tool"]: x["wall"] for x in cold_rows}
    note += f"; feedfold's cold pass took {wall['feedfold'] / both['wall_s']:.1f}× the floor's wall time"
    budgets = [f"{wall[t] / k:.1f} s for {k}× {t}" for t, k in (("newsboat", 10), ("reader", 20)) if t in wall]
    if budgets:
        note += " (the targets give the whole pass " + " and ".join(budgets) + ")"
    return note


def daemon_rss(ff, passes=5):
    """Runs the daemon polling every feed every 3 s; samples RSS after each pass."""
    cfg = ff.config + ".daemon.toml"
    with open(ff.config) as f:
        text = f.read()
    text = text.replace('interval = "30m"', 'interval = "1s"\nschedule = "*/3 * * * * *"')
    with open(cfg, "w") as f:
        f.write(text)
    proc = subprocess.Popen([FEEDFOLD, "-c", cfg, "run"], env={**os.environ, "RUST_LOG": "error"})
    samples = []
    try:
        for _ in range(passes):
            time.sleep(3.0)
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        samples.append(int(line.split()[1]) / 1024)
    finally:
        proc.terminate()
        proc.wait()
    return samples


def parse_scenario(work):
    tsv = os.path.join(CORPORA, "tools", "bench_realworld.tsv")
    if not os.path.exists(tsv):
        return [], "skipped: ../shared/corpora not present"
    paths = [os.path.join(CORPORA, line.split("\t")[0]) for line in open(tsv) if line.strip()]
    paths = [p for p in paths if os.path.exists(p)]
    lst = os.path.join(work, "realworld.list")
    with open(lst, "w") as f:
        f.write("\n".join(paths))
    total = sum(os.path.getsize(p) for p in paths)
    m = timed(["taskset", "-c", "0", PARSE, lst, "5"])
    ff = json.loads(m["stdout"])
    script = ("import sys, time, feedparser\npaths = open(sys.argv[1]).read().split()\n"
              "docs = [open(p, 'rb').read() for p in paths]\nn = 0\nt = time.perf_counter()\n"
              "for d in docs:\n    n += len(feedparser.parse(d).entries)\n"
              "s = time.perf_counter() - t\nprint(sum(map(len, docs)) / s / 1e6, n / s)\n")
    fp = timed(["taskset", "-c", "0", sys.executable, "-c", script, lst])
    fp_mbs, fp_eps = (float(x) for x in fp["stdout"].split())
    rows = [
        {"tool": "feedfold", "scenario": "parse", "wall": ff["seconds"], "cpu": m["cpu"], "rss": m["rss"],
         "db": 0.0, "items": ff["entries"], "mbs": ff["mb_per_s"]},
        {"tool": "feedparser", "scenario": "parse", "wall": total / 1e6 / fp_mbs, "cpu": fp["cpu"],
         "rss": fp["rss"], "db": 0.0, "items": int(fp_eps * total / 1e6 / fp_mbs), "mbs": fp_mbs},
    ]
    # The floor comes from a second run: its extra pass must not count in the row above.
    split = json.loads(timed(["taskset", "-c", "0", PARSE, lst, "3", "--split"])["stdout"])
    floor = split["bytes"] * split["rounds"] / 1e6 / (split["parse_seconds"] + split["html_to_text_seconds"])
    note = (f"{len(paths)} real-world feeds, {total / 1e6:.1f} MB; feedfold: parse + normalise + fingerprint, "
            f"5 rounds, one core; feedfold's parsing and markup-to-text alone (its floor): {floor:.1f} MB/s; "
            f"feedparser: parse only, 1 round, one core")
    return rows, note


def table(rows):
    ff = {r["scenario"]: r for r in rows if r["tool"] == "feedfold"}
    out = ["| scenario | tool | wall s | CPU s | peak RSS MB | DB MB | items | MB/s | feedfold's lead |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        base = ff.get(r["scenario"])
        if r["tool"] == "feedfold" or not base:
            ratio = "—"
        elif r.get("mbs"):
            # Parse rounds differ between the tools: compare throughput.
            ratio = f"{base['mbs'] / r['mbs']:.1f}× MB/s"
        elif base["wall"] > 0:
            ratio = f"{r['wall'] / base['wall']:.1f}× wall"
        else:
            ratio = "—"
        mbs = f"{r['mbs']:.1f}" if "mbs" in r else ""
        out.append(f"| {r['scenario']} | {r['tool']} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['rss']:.0f} | "
                   f"{r['db']:.1f} | {r['items']} | {mbs} | {ratio} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the 20,000-feed scale scenario")
    ap.add_argument("--feeds", type=int, default=2000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="feedfold-bench-")
    rows = []
    try:
        peers = [Feedfold]
        if shutil.which("newsboat"):
            peers.append(Newsboat)
        if subprocess.run([sys.executable, "-c", "import reader"], capture_output=True).returncode == 0:
            peers.append(Reader)
        print(f"== {args.feeds} feeds x {args.items} items: {', '.join(p.name for p in peers)}", flush=True)
        r, steady, cold_db = fetch_scenarios(os.path.join(work, "base"), args.feeds, args.items, peers,
                                             f"{args.feeds}")
        rows += r
        print("== storage floor", flush=True)
        floor = floor_note(cold_db, [x for x in r if x["scenario"].endswith(" cold")])
        steady_scale = None
        if not args.quick:
            print("== scale: 20000 feeds (feedfold)", flush=True)
            r, steady_scale, _ = fetch_scenarios(os.path.join(work, "scale"), 20000, args.items, [Feedfold],
                                                 "20000")
            rows += r
        print("== parse", flush=True)
        r, parse_note = parse_scenario(work)
        rows += r
    finally:
        shutil.rmtree(work, ignore_errors=True)

    v = versions()
    text = [BEGIN, "",
            f"Run `bench/run.sh{' --quick' if args.quick else ''}` on {datetime.date.today().isoformat()}; "
            f"machine: {machine()}.", "",
            "Versions: " + "; ".join(v.values()) + ".", "",
            "Settings: " + "; ".join(f"{p.name}: {p.settings}" for p in (Feedfold, Newsboat, Reader)) + ". "
            f"Loopback server: bench/server.rs, {args.feeds} feeds × {args.items} items (RSS, Atom, JSON Feed mixed, "
            "0.5–5 KB HTML bodies, 15 % syndicated copies); warm = 10 % of feeds gained 5 items, 90 % answer 304.", "",
            table(rows), ""]
    text += [f"{floor}.", ""]
    for r in rows:
        lag = r.get("search_lag")
        if lag:
            text += [f"Search lag during the {r['scenario']} pass (feedfold, commit to searchable, "
                     f"{lag['entries']} entries): p50 {lag['p50'] / 1000:.1f} s, p99 {lag['p99'] / 1000:.1f} s, "
                     f"max {lag['max'] / 1000:.1f} s.", ""]
    if parse_note:
        text += [f"Parse: {parse_note}.", ""]
    if steady:
        text += [f"Daemon steady RSS over 5 warm passes ({args.feeds} feeds): "
                 + ", ".join(f"{s:.0f}" for s in steady) + " MB.", ""]
    if steady_scale:
        text += ["Daemon steady RSS over 5 warm passes (20,000 feeds, ~1M items stored): "
                 + ", ".join(f"{s:.0f}" for s in steady_scale) + " MB.", ""]
    text.append(END)
    block = "\n".join(text)
    print(block)
    if args.no_write:
        return
    path = os.path.join(ROOT, "BENCHMARKS.md")
    old = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if BEGIN in old and END in old:
        new = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END):]
    else:
        new = old.rstrip() + "\n\n## Side by side with newsboat and reader\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main()
