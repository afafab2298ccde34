#!/usr/bin/env python3
"""feedfold on PostgreSQL with 1, 2 and 4 workers, SQLite beside it.

    bench/pg.py [--feeds 2000] [--items 50] [--hosts 200] [--workers 1,2,4]

Starts a throwaway PostgreSQL (Debian's packages, as `.ci/run` installs
them; run as the `postgres` user when root), the benchmark server with the
feeds spread over `--hosts` loopback addresses, and for each worker count a
fresh database polled by that many `feedfold run` processes:

- cold: every feed new, until every feed is fetched, the fold queue is empty
  and every entry is searchable;
- warm: the server bumps 10 % of the feeds (5 new items each), every feed is
  made due again, until every feed is fetched again and folded.

Reported per pass: wall time, CPU seconds of the workers and of the
PostgreSQL server, entries per worker-CPU-second and per total-CPU-second,
database transactions per second (pg_stat_database), fetch-log rows per
second, the largest fold-queue backlog sampled every 0.25 s, and the
database size (`BENCH_SIZES=1`: by table, indexes and TOAST included).
Then one SQLite `feedfold poll --all`, cold and warm, on the
same corpus. Nothing is cached; everything lives in a temp dir.
"""

import argparse
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# BENCH_BIN_DIR=target/debug tries the script quickly with --no-build.
REL = os.environ.get("BENCH_BIN_DIR", os.path.join(ROOT, "target", "release"))
CLK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids):
    """utime + stime of the processes (and their reaped children)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / CLK
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


class Postgres:
    def __init__(self, work):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            sys.exit("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = os.path.dirname(bins[-1])
        self.dir = os.path.join(work, "pg")
        os.mkdir(self.dir)
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(work, 0o755)
        self.port = free_port()
        self.run("initdb", "-D", self.dir + "/data", "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.run(
            "pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/log", "-w", "start",
            "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
                  " -c shared_preload_libraries=pg_stat_statements",
        )

    def run(self, tool, *args, capture=False):
        cmd = [os.path.join(self.bin, tool), *args]
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        return out.stdout

    def url(self, db):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}?sslmode=disable"

    def sql(self, db, query):
        out = subprocess.run(
            [os.path.join(self.bin, "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-d", db, "-At", "-c", query],
            check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def server_pids(self):
        pids = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if b"postgres" in cmd and self.dir.encode() in cmd or cmd.startswith(b"postgres:"):
                pids.append(int(p))
        return pids

    def cpu(self):
        """CPU of the postmaster and every backend (live ones; the postmaster's
        reaped children count in its cstime)."""
        return cpu_seconds(self.server_pids())

    def stop(self):
        try:
            self.run("pg_ctl", "-D", self.dir + "/data", "-m", "fast", "stop")
        except subprocess.CalledProcessError:
            pass


def wait(what, done, timeout, sample=None):
    deadline = time.time() + timeout
    while not done():
        if sample:
            sample()
        if time.time() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.25)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--feeds", type=int, default=2000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "feedfold",
                        "--example", "bench-server"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp(prefix="feedfold-pgbench-")
    pg = Postgres(work)
    server = subprocess.Popen(
        [os.path.join(REL, "examples", "bench-server"), "--feeds", str(args.feeds), "--items",
         str(args.items), "--hosts", str(args.hosts)], stdout=subprocess.PIPE, text=True)
    workers = []
    try:
        base = server.stdout.readline().split()[-1]
        urls = urllib.request.urlopen(f"{base}/_urls?n={args.feeds}").read().decode().split()
        feeds_toml = "".join(f'[[feed]]\nurl = "{u}"\n' for u in urls)
        print(f"{args.feeds} feeds x {args.items} items on {args.hosts} hosts; "
              f"{os.cpu_count()} cores; PostgreSQL {pg.sql('postgres', 'SHOW server_version')}")
        print("| store | workers | pass | wall s | worker CPU s | PG CPU s | entries | entries/worker-CPU-s "
              "| entries/total-CPU-s | xact/s | fetches/s | max fold backlog | DB MB |")
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in [int(x) for x in args.workers.split(",")]:
            db = f"bench{n}"
            pg.sql("postgres", f"CREATE DATABASE {db}")
            pg.sql(db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            config = os.path.join(work, f"pg{n}.toml")
            with open(config, "w") as f:
                f.write(f'database = "{pg.url(db)}"\n[fetch]\nallow_private_networks = true\n'
                        '[poll]\ninterval = "30m"\nconcurrency = 64\nper_host = 4\n' + feeds_toml)
            pg_cpu0 = pg.cpu()
            started = time.time()
            env = dict(os.environ, RUST_LOG="warn")
            workers = [subprocess.Popen([os.path.join(REL, "feedfold"), "-c", config, "run"], env=env,
                                        stderr=open(os.path.join(work, f"w{n}_{i}.log"), "w"))
                       for i in range(n)]
            wait("the schema", lambda: pg.sql(db, "SELECT to_regclass('fold_queue') IS NOT NULL") == "t", 120)
            for name in ("cold", "warm"):
                if name == "warm":
                    urllib.request.urlopen(urllib.request.Request(f"{base}/_bump?pct=10&new=5", method="POST"))
                    pg_cpu0 = pg.cpu()
                    started = time.time()
                    pg.sql(db, "UPDATE feed SET next_due_at = now(), in_flight_until = NULL")
                since = pg.sql(db, "SELECT now()")
                w_cpu0 = cpu_seconds(w.pid for w in workers)
                entries0 = int(pg.sql(db, "SELECT count(*) FROM entry"))
                xact0 = int(pg.sql(db, f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{db}'"))
                logs0 = int(pg.sql(db, "SELECT count(*) FROM fetch_log"))
                backlog = [0]

                def sample():
                    backlog[0] = max(backlog[0], int(pg.sql(db, "SELECT count(*) FROM fold_queue")))

                wait(f"{name} pass", lambda: pg.sql(
                    db, f"SELECT count(*) = {args.feeds} FROM feed WHERE last_fetch_at >= '{since}'") == "t"
                    and pg.sql(db, "SELECT NOT EXISTS (SELECT 1 FROM fold_queue) AND NOT EXISTS "
                                   "(SELECT 1 FROM entry WHERE search IS NULL)") == "t", 3600, sample)
                wall = time.time() - started
                w_cpu = cpu_seconds(w.pid for w in workers) - w_cpu0
                p_cpu = pg.cpu() - pg_cpu0
                entries = int(pg.sql(db, "SELECT count(*) FROM entry")) - entries0
                xact = int(pg.sql(db, f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{db}'")) - xact0
                fetches = int(pg.sql(db, "SELECT count(*) FROM fetch_log")) - logs0
                size = int(pg.sql(db, "SELECT pg_database_size(current_database())")) / 1e6
                per_w = entries / w_cpu if w_cpu else 0
                per_t = entries / (w_cpu + p_cpu) if w_cpu + p_cpu else 0
                print(f"| PostgreSQL | {n} | {name} | {wall:.1f} | {w_cpu:.1f} | {p_cpu:.1f} | {entries} "
                      f"| {per_w:.0f} | {per_t:.0f} | {xact / wall:.0f} | {fetches / wall:.0f} "
                      f"| {backlog[0]} | {size:.0f} |", flush=True)
                if name == "cold" and os.environ.get("BENCH_SIZES"):
                    # Where the bytes are, table with its indexes and TOAST.
                    print(pg.sql(db, "SELECT string_agg(relname || ' ' || round(pg_total_relation_size(oid) / 1e6) "
                                     "|| ' MB', ', ' ORDER BY pg_total_relation_size(oid) DESC) FROM pg_class "
                                     "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace "
                                     "AND pg_total_relation_size(oid) > 1e6"), flush=True)
                if os.environ.get("BENCH_STATEMENTS"):
                    print(pg.sql(db, "SELECT round(total_exec_time)::text || ' ms ' || calls || ' calls: ' || "
                                     "left(regexp_replace(query, '\\s+', ' ', 'g'), 100) FROM pg_stat_statements "
                                     "ORDER BY total_exec_time DESC LIMIT 8"))
                    pg.sql(db, "SELECT pg_stat_statements_reset()")
            stories = pg.sql(db, "SELECT count(*) FROM story")
            multi = pg.sql(db, "SELECT count(*) FROM story WHERE source_count > 1")
            print(f"|  | {n} | stories | {stories} ({multi} with copies from several feeds) |||||||||||", flush=True)
            for w in workers:
                w.send_signal(signal.SIGTERM)
            for w in workers:
                w.wait(timeout=60)
            workers = []
        sqlite(work, feeds_toml, base, args)
    finally:
        for w in workers:
            w.kill()
        server.kill()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def sqlite(work, feeds_toml, base, args):
    """One SQLite process on the same corpus (after the PostgreSQL runs:
    the server's bump already happened, so its cold pass sees bumped feeds;
    the warm pass bumps again)."""
    config = os.path.join(work, "sqlite.toml")
    with open(config, "w") as f:
        f.write('database = "ff.db"\n[fetch]\nallow_private_networks = true\n'
                '[poll]\ninterval = "30m"\nconcurrency = 64\nper_host = 4\n' + feeds_toml)
    for name in ("cold", "warm"):
        if name == "warm":
            urllib.request.urlopen(urllib.request.Request(f"{base}/_bump?pct=10&new=5", method="POST"))
        db = os.path.join(work, "ff.db")
        before = 0
        if os.path.exists(db):
            before = int(subprocess.run(["sqlite3", db, "SELECT count(*) FROM entry"], capture_output=True,
                                        text=True).stdout.strip() or 0)
        started = time.time()
        proc = subprocess.Popen([os.path.join(REL, "feedfold"), "-c", config, "poll", "--all"],
                                env=dict(os.environ, RUST_LOG="error"), stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - started
        cpu = usage.ru_utime + usage.ru_stime
        after = int(subprocess.run(["sqlite3", db, "SELECT count(*) FROM entry"], capture_output=True,
                                   text=True).stdout.strip() or 0)
        entries = after - before
        size = os.path.getsize(db) / 1e6
        print(f"| SQLite | 1 | {name} | {wall:.1f} | {cpu:.1f} | – | {entries} | {entries / cpu:.0f} "
              f"| {entries / cpu:.0f} | – | {args.feeds / wall:.0f} | – | {size:.0f} |", flush=True)


if __name__ == "__main__":
    main()
