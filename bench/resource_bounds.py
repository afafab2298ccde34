#!/usr/bin/env python3
"""Peak memory of one `feedfold poll` over hostile-sized feeds.

Serves generated feeds on 127.0.0.1 (port 0), polls them with the feedfold
binary given as the first argument (default target/release/feedfold), and
prints the peak resident set size of the feedfold process per scenario.

    cargo build --release && python3 bench/resource_bounds.py target/release/feedfold
"""
import http.server
import os
import resource
import subprocess
import sys
import tempfile
import threading


def many_items(n):
    items = "".join(f"<item><guid>m{i}</guid><title>t{i}</title></item>\n" for i in range(n))
    return f'<rss version="2.0"><channel><title>Many</title>\n{items}</channel></rss>'


def huge_fields():
    title = "T" * (1024 * 1024)
    body = "body text " * (500 * 1024)
    enclosures = "".join(
        f'<enclosure url="https://cdn.example/{i}.mp3" length="1" type="audio/mpeg"/>' for i in range(10_000)
    )
    return (
        f'<rss version="2.0"><channel><title>Huge</title><item><guid>huge</guid><title>{title}</title>'
        f"<description>{body}</description></item><item><guid>enc</guid><title>Enclosures</title>"
        f"{enclosures}</item></channel></rss>"
    )


def normal():
    items = "".join(
        f"<item><guid>n{i}</guid><title>Normal item {i}</title><description>&lt;p&gt;Some text for item {i}.&lt;/p&gt;</description></item>"
        for i in range(50)
    )
    return f'<rss version="2.0"><channel><title>Normal</title>{items}</channel></rss>'


def near_limit():
    # 10 MiB is the fetch limit: the largest document feedfold accepts.
    body = "x" * 900
    items = []
    size = 0
    i = 0
    while size < 10 * 1024 * 1024 - 2048:
        item = f"<item><guid>b{i}</guid><title>Item {i}</title><description>{body}</description></item>\n"
        size += len(item)
        items.append(item)
        i += 1
    items.pop()
    return f'<rss version="2.0"><channel><title>Big</title>{"".join(items)}</channel></rss>'


def empty_items():
    # The most items that fit in the fetch limit.
    n = (10 * 1024 * 1024 - 100) // len("<item/>")
    return '<rss version="2.0"><channel><title>Empty</title>' + "<item/>" * n + "</channel></rss>"


def json_items():
    n = (10 * 1024 * 1024 - 100) // len('{"id":"1"},')
    items = ",".join('{"id":"%d"}' % (i % 10) for i in range(n))
    return '{"version":"https://jsonfeed.org/version/1.1","title":"J","items":[' + items + "]}"


SCENARIOS = [
    ("one ordinary feed (50 items)", {"/normal.rss": normal}),
    ("100,000 items (3.9 MB)", {"/many.rss": lambda: many_items(100_000)}),
    ("1 MB title + 5 MB body + 10,000 enclosures", {"/huge.rss": huge_fields}),
    ("10 MiB document (fetch limit), 11,000 items", {"/big.rss": near_limit}),
    ("10 MiB of empty `<item/>` (1.5 million items)", {"/empty.rss": empty_items}),
    ("10 MiB JSON Feed (950,000 items)", {"/feed.json": json_items}),
    ("all four at once", {"/normal.rss": normal, "/many.rss": lambda: many_items(100_000),
                          "/huge.rss": huge_fields, "/big.rss": near_limit}),
]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/feedfold"
    docs = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = docs.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.request_queue_size = 64
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    print(f"| scenario | peak RSS of `feedfold poll` |\n|---|---|")
    for name, feeds in SCENARIOS:
        docs.clear()
        for path, make in feeds.items():
            docs[path] = make().encode()
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "feedfold.toml")
            with open(cfg, "w") as f:
                f.write('database = "ff.db"\n')
                for path in feeds:
                    f.write(f'[[feed]]\nurl = "http://127.0.0.1:{port}{path}"\n')
            proc = subprocess.Popen([binary, "-c", cfg, "poll"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "RUST_LOG": "error"})
            _, _, usage = os.wait4(proc.pid, 0)
            proc.stdout.read()
            err = proc.stderr.read().decode()
            if err.strip():
                print(f"<!-- stderr: {err.strip()[:200]} -->")
            print(f"| {name} | {usage.ru_maxrss / 1024:.0f} MiB |")
    server.shutdown()


if __name__ == "__main__":
    main()
