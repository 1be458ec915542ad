#!/usr/bin/env bash
# Ready-response table against hostile client hints (issue 29, finding 1): one cached image, then
# N requests on keep-alive connections, each with unique 15,000-byte Save-Data, Sec-CH-DPR and
# Sec-CH-Width values. Prints the server's RSS before and after and the growth against the
# table's documented bound (16 shards x 1 MiB of entries, plus memory files within 64 MB).
#
#   benches/hints-rss.sh [REQUESTS]      (default 20000; needs a release build: make build)
set -euo pipefail
requests=${1:-20000}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${REFRACT_BIN:-$here/target/release/refract}
corpus=${REFRACT_CORPUS:-$here/../shared/corpus}
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cp "$corpus/photos/kde-Path-2560x1600.jpg" "$work/p.jpg"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --listen "127.0.0.1:$port" --root "$work" --access-log false >/dev/null 2>&1 &
pid=$!
rss() { awk '/VmRSS/{print $2}' "/proc/$pid/status"; }
python3 - "$port" "$requests" "$pid" <<'PY'
import socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port)).close(); break
    except OSError:
        time.sleep(0.1)
url = "/p.jpg?w=300&fm=png"  # over 32 KB: a body large enough for a memory file
def exchange(sock, extra):
    sock.sendall(f"GET {url} HTTP/1.1\r\nHost: bench\r\n{extra}\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(65536)
    head, _, rest = head.partition(b"\r\n\r\n")
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    while len(rest) < length:
        rest += sock.recv(1 << 20)
    return head
sock = socket.create_connection(("127.0.0.1", port))
for _ in range(3):
    exchange(sock, "")
before = rss()
junk = "x" * 15000
started = time.time()
for i in range(n):
    head = exchange(sock, f"Save-Data: {i}{junk}\r\nSec-CH-DPR: {i % 97}.{i}\r\nSec-CH-Width: {i}\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:40]
after = rss()
bound = 16 * 1024 + 64 * 1024  # KiB: table entries and memory files
print(f"hints-rss: {n} requests with unique 15,000-byte hint values in {time.time() - started:.1f} s")
print(f"hints-rss: RSS {before / 1024:.1f} MB -> {after / 1024:.1f} MB, growth {(after - before) / 1024:.1f} MB "
      f"(the table's bound: {bound / 1024:.0f} MB)")
assert after - before <= bound, "grew past the table's bound"
PY
