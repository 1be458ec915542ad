#!/usr/bin/env bash
# Load benchmark: Refract under wrk, next to references measured in the same run.
#
#   make bench-load          (or: benches/load.sh [SECONDS])
#
# (a) miss  — one 12 MP photo at 300 distinct widths, JPEG and WebP (q80), variant cache off:
#             every request is a transform (the original stays in the originals cache), scaled
#             from the photo's decode-once master; again with masters off as the reference.
# (b) hit   — one URL at 32 connections, with the access log off and on (to a file), against
#             nginx serving the same bytes from a file as Debian ships it (sendfile on), access
#             log off and on (to a file, combined format, as Debian's nginx.conf has it), nginx
#             tuned (open_file_cache, keepalive_requests 100000) and hyper's floor
#             (examples/hyper_floor.rs); the six take turns, median of five 6-s rounds each; for
#             a typical ~21 KB variant and for a large ~87 KB one.
# (c) srcset — 50 originals x 6 widths x 2 DPR x 3 formats (1,800 URLs) in random order, as
#             pages full of srcsets ask for them: each URL once, in one fixed shuffled order,
#             from 8 connections (benches/replay.py), timed to the last answer; the variant
#             cache is on. Run twice: with decode-once masters, and with --master-cache-size 0
#             (every variant from its original) as the reference. The workload is fixed, so
#             its length is not SECONDS.
# (d) srcset by format — (c)'s URLs one output format at a time (600 each), masters and
#             reference: the decode the masters remove against the encode they cannot.
# (e) variant store — (c)'s URLs on a replica with --variant-store: every render is written
#             behind; the replica stops (SIGTERM: pending writes flushed) and a second replica,
#             cold in memory, replays the same list over the warm store. Its CPU per request
#             against the first's is what a restart, a deploy or a new replica costs. Once with
#             a directory, once with S3 (a local Garage node; .ci/garage.sh builds it once).
# For each: requests/s, server CPU ms per request (/proc), p50/p99 latency, peak RSS.
# LOAD_ONLY=c (or a, b, ad, e, ...) runs only those workloads. A full run (no LOAD_ONLY) also
# writes its report (machine, table, command) into BENCHMARKS.md, between the bench-load
# markers of its Load section.
# Needs a release build, wrk and nginx (Debian packages; installed if missing) and the corpus.
set -euo pipefail

seconds=${1:-15}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/target/release/refract
corpus=${REFRACT_CORPUS:-$here/../shared/corpus}
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
[ -d "$corpus/photos" ] || { echo "corpus not found at $corpus" >&2; exit 1; }
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  echo "load: installing ${missing[*]}" >&2
  policy=/usr/sbin/policy-rc.d
  [ -e "$policy" ] || { printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; trap 'rm -f "$policy"' EXIT; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/root" "$work/static" "$work/nginx"

serve() { # serve VAR LOG ARGS... -> VAR=address, last_pid=its pid
  local var=$1 log=$2; shift 2
  "$bin" serve --listen 127.0.0.1:0 --root "$work/root" --access-log false "$@" \
    >"${SERVE_STDOUT:-/dev/null}" 2>"$log" &
  last_pid=$!
  pids+=("$last_pid")
  until grep -q 'listen=' "$log" 2>/dev/null; do sleep 0.1; done
  printf -v "$var" '%s' "$(sed -n 's/.*listen=\([^ ]*\).*/\1/p' "$log" | head -1)"
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hwm() { awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$1/status"; }
clk=$(getconf CLK_TCK)
report=$work/report.md
say() { printf '%s\n' "$*" | tee -a "$report"; } # a line of the report: printed and kept
rounds=()
masters=
store_notes=()

# wrk script: random paths from a file, one per line.
cat > "$work/paths.lua" <<'EOF'
local paths = {}
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
-- Each wrk thread has its own Lua state: seed each differently, or they ask in lockstep.
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  math.randomseed(os.time() * 100 + id)
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)], { ["Accept"] = "image/avif,image/webp,*/*" })
end
EOF

measure() { # measure PID TICKS-FN URL [paths-file] -> "req/s cpu-ms/req p50 p99" for one wrk run
  local pid=$1 count=$2 url=$3 paths=${4:-}
  local before after out reqs
  before=$($count "$pid")
  if [ -n "$paths" ]; then
    out=$(PATHS=$paths wrk -t2 -c"$conns" -d"${dur:-$seconds}s" --timeout 10s --latency -s "$work/paths.lua" "$url")
  else
    out=$(wrk -t2 -c"$conns" -d"${dur:-$seconds}s" --timeout 10s --latency -H 'Accept: image/avif,image/webp,*/*' "$url")
  fi
  after=$($count "$pid")
  check_2xx "$url" "$out"
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(per_request "$before" "$after" "$reqs")" \
    "$(echo "$out" | awk '$1 == "50%" {print $2}')" "$(echo "$out" | awk '$1 == "99%" {print $2}')"
}
replay() { # replay PID URL PATHS -> "req/s cpu-ms/req p50 p99": every path once, in order
  local pid=$1 before after out rps p50 p99 reqs
  before=$(ticks "$pid")
  out=$(python3 "$here/benches/replay.py" "$2" "$3" "$conns")
  after=$(ticks "$pid")
  read -r rps p50 p99 reqs <<< "$out"
  echo "$rps $(per_request "$before" "$after" "$reqs") $p50 $p99"
}
per_request() { # per_request TICKS-BEFORE TICKS-AFTER REQUESTS -> CPU ms per request
  python3 -c "print(f'{($2 - $1) * 1000 / $clk / max($3, 1):.4f}')"
}
replayed() { # replayed NAME PATHS LOG SERVE-ARGS... -> a table row; the server stays up
  local name=$1 paths=$2 log=$3 # (last_pid, at $address)
  shift 3
  serve address "$log" --max-queue 10000 "$@"
  conns=8
  row "$name" "$(replay "$last_pid" "http://$address" "$paths")" "$(hwm "$last_pid") MiB"
}
check_2xx() { # check_2xx URL WRK-OUTPUT: a run with error answers measures the wrong thing
  if echo "$2" | grep -q 'Non-2xx'; then
    echo "load: $1 answered non-2xx during the run:" >&2
    echo "$2" >&2
    exit 1
  fi
}
median() { sort -n -k1,1 "$1" | sed -n "$(( ($(wc -l < "$1") + 1) / 2 ))p"; } # by req/s
row() { # row NAME "req/s cpu p50 p99" RSS -> a table row
  local fields
  read -r -a fields <<< "$2"
  say "$(printf '| %s | %s | %s | %s | %s | %s |' "$1" "${fields[0]}" "${fields[1]}" "${fields[2]}" "${fields[3]}" "$3")"
}
run() { # run NAME PID URL [paths-file] -> a table row
  row "$1" "$(measure "$2" ticks "$3" "${4:-}")" "$(hwm "$2") MiB"
}

say "Run of $(date -u +%F). Machine: $(nproc) cores, $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//'); (a) $seconds-s wrk runs, (b) five 6-s rounds each, wrk -t2; (c) and (d) replay their fixed lists."
say
say "| workload | req/s | server CPU ms/req | p50 | p99 | peak RSS |"
say "|---|---|---|---|---|---|"

want() { [[ ${LOAD_ONLY:-abcde} == *$1* ]]; }

# The 12 MP photo of (a) and (b).
cp "$corpus/photos/libavif-dog_exif_extended_xmp_icc.jpg" "$work/root/big.jpg"

if want a; then
# (a) misses.
serve miss "$work/miss.log" --cache-size 0 --max-queue 10000
miss_pid=$last_pid
: > "$work/miss.paths"
for w in $(seq 200 4 1396); do
  echo "/big.jpg?w=$w&fm=jpg&q=80" >> "$work/miss.paths"
  echo "/big.jpg?w=$w&fm=webp&q=80" >> "$work/miss.paths"
done
conns=4 run "(a) miss: 12 MP JPEG → 300 widths, JPEG+WebP" "$miss_pid" "http://$miss" "$work/miss.paths"
kill "$miss_pid"
serve miss_direct "$work/miss-direct.log" --cache-size 0 --max-queue 10000 --master-cache-size 0
conns=4 run "(a) reference: the same, every miss decoding the original" "$last_pid" "http://$miss_direct" "$work/miss.paths"
kill "$last_pid"

fi

if want b; then
# (b) hits against nginx, same bytes.
# Two bodies: a typical srcset variant (the 4 MP photo at 640 px, ~21 KB) and a large one (the
# 12 MP photo at 640 px, ~87 KB). nginx is configured as Debian's nginx.conf ships it (sendfile,
# tcp_nopush), access logs off on both sides. Its workers run as an unprivileged user, so the
# files must be world-readable: without that every answer is a tiny 403 and the "reference" is
# fast for the wrong reason (check_2xx refuses such a run). The machine is shared and noisy, so
# refract and nginx take turns, five short rounds each (a noisy neighbour's burst then lands
# on both), and the median round is reported.
chmod 755 "$work" "$work/static"
cp "$corpus/photos/kde-ColorfulCups-2560x1600.jpg" "$work/root/cups.jpg"
serve hit "$work/hit.log"
hit_pid=$last_pid
# The same with the access log on, written to a file (as a deployment runs it).
SERVE_STDOUT="$work/access.log" serve hit_logged "$work/hit-logged.log" --access-log true
hit_logged_pid=$last_pid
# nginx twice: as Debian's nginx.conf ships it, and tuned as a static server is in production
# (open_file_cache: no open/stat per request; keepalive_requests: connections never recycled).
start_nginx() { # start_nginx NAME EXTRA-HTTP-DIRECTIVES [ACCESS-LOG] -> nginx_port, nginx_master
  local name=$1 extra=$2 dir=$work/nginx-$1 log=${3:-off}
  mkdir -p "$dir"
  nginx_port=$(free_port)
  cat > "$dir/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log $log;
  sendfile on;
  tcp_nopush on;
  $extra
  client_body_temp_path $dir; proxy_temp_path $dir; fastcgi_temp_path $dir;
  uwsgi_temp_path $dir; scgi_temp_path $dir;
  types { image/webp webp; }
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/static;
    location / { add_header Cache-Control "public, max-age=31536000"; etag on; }
  }
}
EOF
  "$nginx_bin" -c "$dir/nginx.conf" -p "$dir" >/dev/null 2>&1 &
  pids+=($!)
  until [ -s "$dir/nginx.pid" ]; do sleep 0.1; done
  nginx_master=$(cat "$dir/nginx.pid")
}
start_nginx debian ""
debian_port=$nginx_port debian_master=$nginx_master
# Debian's nginx.conf logs every request (combined format) to a file: the reference for
# Refract with its access log on.
start_nginx logged "" "$work/nginx-logged/access.log"
logged_port=$nginx_port logged_master=$nginx_master
# hyper's floor (examples/hyper_floor.rs): the same body and a hit's headers from memory, no
# routing, parsing, lookup, metrics or log — what a hit would cost with hyper kept.
floor_bin=$here/target/release/examples/hyper_floor
(cd "$here" && cargo build --release --locked --example hyper_floor >/dev/null 2>&1)
start_nginx tuned "open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s; keepalive_requests 100000;"
tuned_port=$nginx_port tuned_master=$nginx_master
group_ticks() { for p in $(pgrep -P "$1") "$1"; do ticks "$p"; done | paste -sd+ | bc; }
debian_ticks() { group_ticks "$debian_master"; }
logged_ticks() { group_ticks "$logged_master"; }
tuned_ticks() { group_ticks "$tuned_master"; }
for case in cups big; do
  url="/$case.jpg?w=640&fm=webp"
  curl -sf "http://$hit$url" -o "$work/static/$case.webp"
  chmod 644 "$work/static/$case.webp"
  bytes=$(stat -c %s "$work/static/$case.webp")
  kb=$((bytes / 1024))
  for p in "$debian_port" "$logged_port" "$tuned_port"; do
    [ "$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$p/$case.webp")" = "200 $bytes" ] \
      || { echo "nginx does not serve $case.webp (200, $bytes bytes)" >&2; exit 1; }
  done
  floor_port=$(free_port)
  "$floor_bin" "127.0.0.1:$floor_port" "$work/static/$case.webp" 2>/dev/null &
  floor_pid=$!
  pids+=("$floor_pid")
  until curl -sf -o /dev/null "http://127.0.0.1:$floor_port/"; do sleep 0.1; done
  rm -f "$work"/rounds.*
  for round in 1 2 3 4 5; do
    dur=6 conns=32 measure "$hit_pid" ticks "http://$hit$url" >> "$work/rounds.refract"
    dur=6 conns=32 measure "$hit_logged_pid" ticks "http://$hit_logged$url" >> "$work/rounds.logged"
    dur=6 conns=32 measure "$debian_master" debian_ticks "http://127.0.0.1:$debian_port/$case.webp" >> "$work/rounds.nginx"
    dur=6 conns=32 measure "$logged_master" logged_ticks "http://127.0.0.1:$logged_port/$case.webp" >> "$work/rounds.nginxlog"
    dur=6 conns=32 measure "$tuned_master" tuned_ticks "http://127.0.0.1:$tuned_port/$case.webp" >> "$work/rounds.tuned"
    dur=6 conns=32 measure "$floor_pid" ticks "http://127.0.0.1:$floor_port$url" >> "$work/rounds.floor"
  done
  row "(b) hit: one URL ($kb KB WebP), 32 connections" "$(median "$work/rounds.refract")" "$(hwm "$hit_pid") MiB"
  row "(b) the same, access log on (to a file)" "$(median "$work/rounds.logged")" "$(hwm "$hit_logged_pid") MiB"
  row "(b) reference: nginx as Debian ships it, access log off, the same $kb KB from a file" "$(median "$work/rounds.nginx")" "–"
  row "(b) reference: nginx as Debian ships it, access log on (to a file, combined)" "$(median "$work/rounds.nginxlog")" "–"
  row "(b) reference: nginx tuned (open_file_cache, keepalive_requests 100000)" "$(median "$work/rounds.tuned")" "–"
  row "(b) reference: hyper's floor (examples/hyper_floor.rs, the same body and headers from memory)" "$(median "$work/rounds.floor")" "–"
  kill "$floor_pid" 2>/dev/null || true
  rounds+=("$kb KB: refract $(cut -d' ' -f1 "$work/rounds.refract" | paste -sd' '), logged $(cut -d' ' -f1 "$work/rounds.logged" | paste -sd' '), nginx $(cut -d' ' -f1 "$work/rounds.nginx" | paste -sd' '), nginx logged $(cut -d' ' -f1 "$work/rounds.nginxlog" | paste -sd' '), tuned $(cut -d' ' -f1 "$work/rounds.tuned" | paste -sd' '), floor $(cut -d' ' -f1 "$work/rounds.floor" | paste -sd' ')")
done
kill "$hit_pid" "$hit_logged_pid" "$debian_master" "$logged_master" "$tuned_master" 2>/dev/null || true
fi

if want c || want d || want e; then

# (c) the srcset workload, with decode-once masters and without: 50 originals from the corpus
# photos (re-encoded crops at camera size, so each is a distinct 10–16 MP JPEG — the originals
# whose repeated decode the masters remove), 6 widths x 2 DPR x 3 formats.
photos=()
for f in "$corpus"/photos/*.jpg; do
  [ "$(stat -c %s "$f")" -gt 200000 ] && photos+=("$f")
done
serve gen "$work/gen.log"
gen_pid=$last_pid
for f in "${photos[@]}"; do cp "$f" "$work/root/"; done
: > "$work/srcset.paths"
for i in $(seq 0 49); do
  src=$(basename "${photos[$((i % ${#photos[@]}))]}")
  crop=$((60 + (i / ${#photos[@]}) * 12))
  # Camera size: 4032 wide (a 12 MP phone photo's width), 10–16 MP, cropped to vary the shape.
  curl -sf "http://$gen/$src?w=4032&h=$((4032 * crop / 100))&fit=crop&q=90&fm=jpg" -o "$work/root/o$i.jpg"
  for w in 320 480 640 960 1280 1920; do
    for dpr in 1 2; do
      for fm in avif webp jpg; do
        echo "/o$i.jpg?w=$((w / 2))&dpr=$dpr&fm=$fm" >> "$work/srcset.paths"
      done
    done
  done
done
kill "$gen_pid"
# One fixed random order, the same for both servers.
shuf --random-source=<(yes) "$work/srcset.paths" > "$work/srcset.shuffled"
mv "$work/srcset.shuffled" "$work/srcset.paths"
fi

if want c; then
# Room for every original's master (≤ 5 MP each, ~15 MB, plus the original it pins).
replayed "(c) srcset: 1,800 URLs over 50 originals, decode-once masters" "$work/srcset.paths" \
  "$work/srcset.log" --master-cache-size 1GiB
masters=$(curl -sf "http://$address/metrics" | sed -n 's/^refract_masters_total{result="\(.*\)"} \(.*\)/\1 \2,/p' | tr '\n' ' ')
kill "$last_pid"
# The reference: the same workload with every variant rendered from its original.
replayed "(c) reference: the same, every variant from its original" "$work/srcset.paths" \
  "$work/direct.log" --master-cache-size 0
kill "$last_pid"
fi

if want d; then
# (d) the same workload one output format at a time (each format's 600 URLs, in the same order),
# on fresh servers: where the CPU goes that masters cannot remove.
for fm in jpg webp avif; do
  grep "fm=$fm\$" "$work/srcset.paths" > "$work/srcset.$fm"
  replayed "(d) srcset, $fm only: 600 URLs, decode-once masters" "$work/srcset.$fm" \
    "$work/srcset-$fm.log" --master-cache-size 1GiB
  kill "$last_pid"
  replayed "(d) reference: the same, every variant from its original" "$work/srcset.$fm" \
    "$work/direct-$fm.log" --master-cache-size 0
  kill "$last_pid"
done
fi
if want e; then
# (e) the variant store: a first replica renders and writes behind; a second reads it back.
# Twice: in a directory, and in S3 (a local Garage node, built once per machine by
# .ci/garage.sh), whose reads go through the S3 client (HTTP, SigV4) as in production.
store_run() { # store_run NAME URL: first replica, graceful stop, second replica over the store
  local name=$1 url=$2 metrics
  replayed "(e) $name store, first replica: renders, writes behind" "$work/srcset.paths" \
    "$work/store-first-$name.log" --master-cache-size 1GiB --variant-store "$url"
  kill -TERM "$last_pid"
  wait "$last_pid" 2>/dev/null || true
  replayed "(e) $name store, second replica over it (cold memory)" "$work/srcset.paths" \
    "$work/store-second-$name.log" --master-cache-size 1GiB --variant-store "$url"
  metrics=$(curl -sf "http://$address/metrics")
  store_notes+=("$name: the second replica's store reads: $(echo "$metrics" | sed -n 's/^refract_variant_store_total{result="\(.*\)"} \(.*\)/\1 \2/p' | paste -sd, -); its transforms: $(echo "$metrics" | awk '/^refract_stage_duration_seconds_count\{stage="transform"\}/ {n = $2} END {print n + 0}')")
  kill "$last_pid"
}
store_run directory "file://$work/variants"
# The same over S3: a one-node Garage on loopback, configured as tests/support/garage.rs does.
garage_bin=$("$here/.ci/garage.sh")
mkdir -p "$work/garage"
g_rpc=$(free_port); g_s3=$(free_port); g_admin=$(free_port)
cat > "$work/garage/garage.toml" <<GARAGE
metadata_dir = "$work/garage/meta"
data_dir = "$work/garage/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$g_rpc"
rpc_public_addr = "127.0.0.1:$g_rpc"
rpc_secret = "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$g_s3"
root_domain = ".s3.garage.localhost"
[admin]
api_bind_addr = "127.0.0.1:$g_admin"
GARAGE
RUST_LOG=garage=warn "$garage_bin" -c "$work/garage/garage.toml" server >/dev/null 2>&1 &
pids+=($!)
g() { RUST_LOG=garage=warn "$garage_bin" -c "$work/garage/garage.toml" "$@"; }
for _ in $(seq 150); do node=$(g node id -q 2>/dev/null) && break; sleep 0.2; done
[ -n "${node:-}" ] || { echo "load: garage did not start" >&2; exit 1; }
g layout assign -z dc1 -c 1G "${node%%@*}" >/dev/null
g layout apply --version 1 >/dev/null
for _ in $(seq 120); do g bucket create variants >/dev/null 2>&1 && break; sleep 0.25; done
keyinfo=$(g key create bench)
g bucket allow --read --write --owner variants --key bench >/dev/null
export AWS_ENDPOINT_URL="http://127.0.0.1:$g_s3" AWS_REGION=garage
AWS_ACCESS_KEY_ID=$(echo "$keyinfo" | awk -F: 'tolower($1) ~ /key id/ {gsub(/ /, "", $2); print $2}')
AWS_SECRET_ACCESS_KEY=$(echo "$keyinfo" | awk -F: 'tolower($1) ~ /secret key/ {gsub(/ /, "", $2); print $2}')
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
store_run s3 "s3://variants/v"
fi
say
[ ${#rounds[@]} -gt 0 ] && say "(b) req/s per round: ${rounds[0]}; ${rounds[1]}."
[ -n "$masters" ] && say "Masters during (c): ${masters%, }."
for note in "${store_notes[@]}"; do say "(e) $note."; done
say "Command: \`benches/load.sh $seconds\`${LOAD_ONLY:+ with LOAD_ONLY=$LOAD_ONLY}."

# A full run replaces the generated block of BENCHMARKS.md (between its bench-load markers);
# the analysis around it is written by hand.
if [ -z "${LOAD_ONLY:-}" ]; then
  python3 - "$here/BENCHMARKS.md" "$report" <<'PY'
import sys
path, report = sys.argv[1], open(sys.argv[2]).read()
text = open(path).read()
begin, end = "<!-- bench-load:begin -->", "<!-- bench-load:end -->"
if begin not in text or end not in text:
    sys.exit("load: BENCHMARKS.md has no bench-load markers; results only printed")
head, rest = text.split(begin, 1)
tail = rest.split(end, 1)[1]
open(path, "w").write(head + begin + "\n" + report + end + tail)
PY
  echo "load: results written to BENCHMARKS.md" >&2
else
  echo "load: LOAD_ONLY is set, so BENCHMARKS.md is left as it is" >&2
fi
