#!/usr/bin/env bash
# Upload throughput: how many uploads a second one Refract process stores, and the CPU each costs,
# for the capacity plan (docs/design.md: 5 million uploads an hour is 1,389 a second).
#
#   make bench-upload            (or: benches/upload-load.sh [FILES] [CONCURRENCY])
#
# Makes FILES distinct JPEGs (re-encodings of the corpus photos at 1800 px, ~200 KB on average, what
# phones upload after client-side resizing), starts `refract serve --upload` on a temporary
# directory, uploads them all with `refract upload`, and prints uploads/s, server CPU ms per
# upload (from /proc), and the cores 1,389 uploads/s would need. Needs a release build.
set -euo pipefail

files=${1:-300}
concurrency=${2:-16}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/target/release/refract
corpus=${REFRACT_CORPUS:-$here/../shared/corpus}
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
[ -d "$corpus/photos" ] || { echo "corpus not found at $corpus" >&2; exit 1; }

work=$(mktemp -d)
trap 'kill $gen_pid $srv_pid 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/in" "$work/gen" "$work/store"

# Distinct inputs: the corpus photos rendered by Refract itself at several qualities.
cp "$corpus"/photos/*.jpg "$work/gen/"
"$bin" serve --listen 127.0.0.1:0 --root "$work/gen" --access-log false 2>"$work/gen.log" &
gen_pid=$!
until grep -q 'listen=' "$work/gen.log"; do sleep 0.1; done
gen=$(sed -n 's/.*listen=\([^ ]*\).*/\1/p' "$work/gen.log" | head -1)
photos=("$work"/gen/*.jpg)
i=0
while [ "$i" -lt "$files" ]; do
  photo=$(basename "${photos[$((i % ${#photos[@]}))]}")
  q=$((60 + (i / ${#photos[@]}) % 35))
  curl -sf "http://$gen/$photo?w=1800&q=$q&fm=jpg" -o "$work/in/$i.jpg"
  i=$((i + 1))
done
kill $gen_pid
total_bytes=$(du -sb "$work/in" | cut -f1)

secret=bench-secret-0123456789abcdef-0123456789
"$bin" serve --listen 127.0.0.1:0 --root "$work/store" --access-log false --upload \
  --jwt-secret "$secret" 2>"$work/srv.log" &
srv_pid=$!
until grep -q 'listen=' "$work/srv.log" 2>/dev/null; do sleep 0.1; done
srv=$(sed -n 's/.*listen=\([^ ]*\).*/\1/p' "$work/srv.log" | head -1)
token=$(python3 - "$secret" <<'EOF'
import base64, hashlib, hmac, json, sys, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"scope": "upload", "exp": int(time.time()) + 3600}).encode())
sig = b64(hmac.new(sys.argv[1].encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
EOF
)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$srv_pid/stat"; }
ticks_per_s=$(getconf CLK_TCK)
before=$(cpu_ticks)
start=$(date +%s.%N)
"$bin" upload --server "http://$srv" --token "$token" --concurrency "$concurrency" \
  "$work/in" >/dev/null 2>"$work/upload.log"
end=$(date +%s.%N)
after=$(cpu_ticks)
tail -1 "$work/upload.log"
stored=$(find "$work/store" -type f -not -path '*/.refract-tmp/*' | wc -l)

python3 - "$files" "$stored" "$start" "$end" "$before" "$after" "$ticks_per_s" "$total_bytes" "$concurrency" <<'EOF'
import sys
files, stored = int(sys.argv[1]), int(sys.argv[2])
start, end = float(sys.argv[3]), float(sys.argv[4])
cpu = (int(sys.argv[6]) - int(sys.argv[5])) / int(sys.argv[7])
mb = int(sys.argv[8]) / 1e6
wall = end - start
per_s = files / wall
cpu_ms = cpu * 1000 / files
cores = 1389 * cpu_ms / 1000
print(f"files {files} ({mb:.0f} MB, mean {mb * 1000 / files:.0f} KB), stored {stored}, concurrency {sys.argv[9]}")
print(f"wall {wall:.2f} s: {per_s:.0f} uploads/s ({mb / wall:.0f} MB/s) on this machine, client on the same cores")
print(f"server CPU {cpu:.2f} s: {cpu_ms:.2f} ms per upload (read, header check, SHA-256, fsync'd write)")
print(f"5M uploads/h = 1,389/s -> {cores:.1f} cores of upload handling at this cost")
EOF

# Phase 2: wrk on the same cores for UPLOAD_SECONDS (10), each request a distinct upload — one of
# the files with a per-request trailer after the JPEG's end marker (decoders ignore it; the
# SHA-256, and so the key, differ), so every request stores a new object.
if command -v wrk >/dev/null; then
  seconds=${UPLOAD_SECONDS:-10}
  ls "$work"/in/*.jpg > "$work/files.txt"
  cat > "$work/upload.lua" <<LUA
local bodies, n, count = {}, 0, 0
for path in io.lines("$work/files.txt") do
  local f = io.open(path, "rb"); n = n + 1; bodies[n] = f:read("*a"); f:close()
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/jpeg"
wrk.headers["Authorization"] = "Bearer $token"
function setup(thread) thread:set("tag", tostring(math.random(1, 1e9))) end
function request()
  count = count + 1
  return wrk.format(nil, "/upload", nil, bodies[(count % n) + 1] .. tag .. ":" .. count)
end
LUA
  # Phase 1's files stay: deleting them now would slow ext4's inode allocation (it skips
  # recently freed inodes) and charge this run for the clean-up.
  already=$(find "$work/store" -type f | wc -l)
  before=$(cpu_ticks)
  # UPLOAD_PERF=FILE: also record a CPU profile of the server during the run (perf record -g).
  if [ -n "${UPLOAD_PERF:-}" ]; then
    perf record -g -o "$UPLOAD_PERF" -p "$srv_pid" -- sleep "$seconds" 2>/dev/null &
    perf_pid=$!
  fi
  wrk -t2 -c"$concurrency" -d"${seconds}s" -s "$work/upload.lua" "http://$srv" > "$work/wrk.txt"
  [ -z "${perf_pid:-}" ] || wait "$perf_pid"
  after=$(cpu_ticks)
  stored=$(( $(find "$work/store" -type f -not -path '*/.refract-tmp/*' | wc -l) - already ))
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
  python3 - "$rps" "$stored" "$before" "$after" "$ticks_per_s" "${non2xx:-0}" "$seconds" <<'PY'
import sys
rps, stored = float(sys.argv[1]), int(sys.argv[2])
cpu = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5])
print(f"wrk, {sys.argv[7]} s, distinct bodies: {rps:.0f} uploads/s, {stored} objects stored, "
      f"non-2xx {sys.argv[6]}; server CPU {cpu * 1000 / max(stored, 1):.2f} ms per upload")
PY
fi

# Phase 3: the same for UPLOAD_SECONDS with examples/upload_load.rs, a lean generator (one thread,
# each request one writev of head, the file's bytes and a per-request trailer), so the server
# gets the cores wrk's Lua spends building 200 KB strings. Its own CPU is printed too.
gen_bin=$here/target/release/examples/upload_load
(cd "$here" && cargo build --release --locked --example upload_load >/dev/null 2>&1)
seconds=${UPLOAD_SECONDS:-10}
already=$(find "$work/store" -type f | wc -l)
before=$(cpu_ticks)
if [ -n "${UPLOAD_PERF:-}" ]; then
  perf record -g -o "$UPLOAD_PERF.lean" -p "$srv_pid" -- sleep "$seconds" 2>/dev/null &
  perf_pid=$!
fi
"$gen_bin" "$srv" "$token" "$concurrency" "$seconds" "$work"/in/*.jpg > "$work/lean.txt"
[ -z "${perf_pid:-}" ] || wait "$perf_pid"
after=$(cpu_ticks)
stored=$(( $(find "$work/store" -type f -not -path '*/.refract-tmp/*' | wc -l) - already ))
python3 - "$(cat "$work/lean.txt")" "$stored" "$before" "$after" "$ticks_per_s" "$seconds" <<'PY'
import sys
fields = sys.argv[1].split()
stats = dict(zip(fields[::2], fields[1::2]))
stored = int(sys.argv[2])
cpu = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5])
print(f"lean generator, {sys.argv[6]} s, distinct bodies: {float(stats['uploads/s']):.0f} uploads/s, "
      f"{stored} objects stored, other {stats['other']}, errors {stats['errors']}; "
      f"server CPU {cpu * 1000 / max(stored, 1):.2f} ms per upload; generator CPU "
      f"{float(stats['generator_cpu_s']) * 1000 / max(stored, 1):.2f} ms per upload")
PY
