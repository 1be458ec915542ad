#!/usr/bin/env python3
"""Replay a list of request paths against a server, each exactly once, from N connections.

    benches/replay.py URL PATHS_FILE CONNECTIONS [LOG]

wrk picks paths at random with replacement and runs for a fixed time, so the faster server also
gets more repeats (cache hits) and a short run measures mostly the warm-up. For a workload
defined as "these URLs in this order" the fair measure is the time to answer all of them: both
servers then do exactly the same work. Each of CONNECTIONS threads keeps one HTTP/1.1 keep-alive
connection and takes the next path from the shared list. Prints one line:

    <req/s> <p50> <p99> <requests>

with latencies in wrk's style (e.g. 12.34ms). Exits 1 (after printing) if any answer was not a
2xx. With LOG, every answer is also written there as `status<TAB>bytes<TAB>path`, in the order
answered. URL may be several, comma-separated: connection i goes to the i-th (round robin), as
a load balancer spreads connections over processes that each listen on their own port.
"""

import http.client
import sys
import threading
import time
from urllib.parse import urlsplit

ACCEPT = "image/avif,image/webp,*/*"


def fmt(seconds):
    if seconds >= 1:
        return f"{seconds:.2f}s"
    if seconds >= 0.001:
        return f"{seconds * 1000:.2f}ms"
    return f"{seconds * 1e6:.2f}us"


def main():
    urls, paths_file, connections = sys.argv[1].split(","), sys.argv[2], int(sys.argv[3])
    log = open(sys.argv[4], "w") if len(sys.argv) > 4 else None
    with open(paths_file) as f:
        paths = [line.strip() for line in f if line.strip()]
    lock = threading.Lock()
    cursor = iter(paths)
    latencies, failures = [], []

    def worker(i):
        target = urlsplit(urls[i % len(urls)])
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        while True:
            with lock:
                path = next(cursor, None)
            if path is None:
                break
            start = time.perf_counter()
            conn.request("GET", path, headers={"Accept": ACCEPT})
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if log:
                    log.write(f"{response.status}\t{len(body)}\t{path}\n")
                if not 200 <= response.status < 300:
                    failures.append(f"{response.status} {path}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.perf_counter() - start
    if log:
        log.close()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print(f"{len(latencies) / total:.2f} {fmt(pick(0.5))} {fmt(pick(0.99))} {len(latencies)}")
    if failures:
        print(f"replay: {len(failures)} non-2xx answers, e.g. {failures[:3]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
