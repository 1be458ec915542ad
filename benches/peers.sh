#!/usr/bin/env bash
# First renders side by side with the peers (issue 31): Refract, thumbor and ipx (sharp) serving
# the same originals the same srcset workload, one after the other on this machine, in one run.
#
#   make bench-peers        (or: benches/peers.sh [BIN])
#
# Workload: 6 camera and wallpaper photos from the corpus (2560x1600 to 4032x3024, one with an EXIF
# orientation) x widths 160, 320, 480, 640, 828, 1080 x DPR 1 and 2 x JPEG and WebP at q 80 = 144
# variants, each requested once, in one fixed shuffled order (the same for every server), over 2
# keep-alive connections (benches/replay.py): what a CDN asks of an origin after an upload, a
# new srcset width or a purge. Timed to the last answer. Each server gets one request for another
# image first (imports, JIT, lazy set-up are not first renders).
#
# Peers, installed once under ~/.cache/refract/peers (PyPI and npm; versions pinned here):
# - thumbor 7.8.0 (Pillow), 2 processes (one per core, as a production deployment runs it, each
#   on its own port with one of the two connections: a load balancer's spread), file loader, its default file storage for originals (its cache of
#   fetched originals), no result storage (its default). Defaults otherwise (q 80, progressive
#   JPEG, Lanczos) except RESPECT_ORIENTATION = True: a production site wants phone photos
#   upright, and Refract and ipx turn them. DPR is not a thumbor parameter: it is asked for the
#   pixel width (w x dpr).
# - ipx 3.1.1 with sharp 0.34.5 (libvips 8.17), `ipx serve --dir`, defaults (sharp's: libvips
#   operation cache, one libuv thread pool); the pixel width as for thumbor.
# - Refract, default flags except the source root (fast first WebP encodes, refined in the
#   background once hot: nothing here is requested twice, so nothing is refined); and again with
#   --refine off (every WebP at the standard settings).
#
# Prints per server: first-pass requests/s, server CPU ms per request (/proc, the process and
# its children), mean bytes per format, answers that were not 200, peak RSS (the largest
# process's VmHWM). Needs a release build, python3, node/npm and the corpus.
#
# PEERS_ONLY="refract thumbor ipx" runs only those. PEERS_PERF=FILE records the first Refract run
# with `perf record -g` into FILE (`perf report -i FILE --no-children` shows the split).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/release/refract}
corpus=${REFRACT_CORPUS:-$here/../shared/corpus}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/refract/peers
[ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
[ -d "$corpus/photos" ] || { echo "corpus not found at $corpus (set REFRACT_CORPUS)" >&2; exit 1; }

# --- the peers, installed once -------------------------------------------------------------
thumbor=$cache/thumbor-7.8.0
if [ ! -x "$thumbor/bin/thumbor" ]; then
  echo "peers: installing thumbor 7.8.0 into $thumbor" >&2
  rm -rf "$thumbor"
  python3 -m venv "$thumbor"
  "$thumbor/bin/pip" install -q thumbor==7.8.0
fi
ipx=$cache/ipx-3.1.1
if [ ! -f "$ipx/node_modules/ipx/bin/ipx.mjs" ]; then
  echo "peers: installing ipx 3.1.1 and sharp 0.34.5 into $ipx" >&2
  mkdir -p "$ipx"
  printf '{"name":"refract-peers","private":true,"dependencies":{"ipx":"3.1.1","sharp":"0.34.5"}}\n' \
    > "$ipx/package.json"
  (cd "$ipx" && npm install --no-audit --no-fund --silent)
fi

# --- originals and the workload --------------------------------------------------------------
work=$(mktemp -d)
pids=()
tree() { echo "$1"; for c in $(pgrep -P "$1" || true); do tree "$c"; done; } # a process and its descendants
stop() { kill $(tree "$1") 2>/dev/null || true; }
cleanup() { for p in "${pids[@]}"; do stop "$p"; done; sleep 0.5; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/root"
photos=(kde-ColorfulCups-2560x1600.jpg kde-FallenLeaf-2560x1600.jpg kde-Path-2560x1600.jpg
  libavif-dog_exif_extended_xmp_icc.jpg mate-Dune.jpg mate-Elephants_3840x2160.jpg)
for i in "${!photos[@]}"; do cp "$corpus/photos/${photos[$i]}" "$work/root/p$i.jpg"; done
cp "$corpus/photos/mate-Storm.jpg" "$work/root/warm.jpg"

# One line per variant: photo, width, dpr, format; shuffled once (the same order for everyone).
for i in "${!photos[@]}"; do
  for w in 160 320 480 640 828 1080; do
    for dpr in 1 2; do
      for fm in jpg webp; do echo "$i $w $dpr $fm"; done
    done
  done
done | shuf --random-source=<(yes) > "$work/variants"
paths() { # paths GRAMMAR -> one request path per variant, in the workload's order
  while read -r i w dpr fm; do
    local px=$((w * dpr))
    case $1 in
      refract) echo "/p$i.jpg?w=$w&dpr=$dpr&fm=$fm&q=80" ;;
      thumbor) [ "$fm" = jpg ] && f=jpeg || f=webp
        echo "/unsafe/${px}x0/filters:format($f):quality(80)/p$i.jpg" ;;
      ipx) [ "$fm" = jpg ] && f=jpeg || f=webp
        echo "/w_$px,f_$f,q_80/p$i.jpg" ;;
    esac
  done < "$work/variants"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ticks() { local t=0; for p in $(tree "$1"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
hwm() { local m=0 k; for p in $(tree "$1"); do
  k=$(awk '/VmHWM/ {print $2}' "/proc/$p/status"); [ "$k" -gt "$m" ] && m=$k; done; echo $((m / 1024)); }
clk=$(getconf CLK_TCK)

rows=()
run() { # run LABEL GRAMMAR PID PORTS(comma-separated) WARM_PATH
  local label=$1 grammar=$2 pid=$3 ports=$4 warm=$5 port urls=
  for port in ${ports//,/ }; do
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port$warm" && break; sleep 0.2; done
    curl -sf -o /dev/null "http://127.0.0.1:$port$warm" || { echo "$label did not answer" >&2; exit 1; }
    urls+=${urls:+,}http://127.0.0.1:$port
  done
  sleep 0.5
  paths "$grammar" > "$work/$grammar.paths"
  local t0 out t1 perf=
  if [ "$grammar" = refract ] && [ -n "${PEERS_PERF:-}" ] && [ ! -e "$PEERS_PERF" ]; then
    perf record -g -o "$PEERS_PERF" -p "$pid" 2>/dev/null & perf=$!
    sleep 1
  fi
  t0=$(ticks "$pid")
  out=$(python3 "$here/benches/replay.py" "$urls" "$work/$grammar.paths" 2 \
    "$work/$grammar.log" 2>/dev/null || true)
  t1=$(ticks "$pid")
  if [ -n "$perf" ]; then kill -INT "$perf"; wait "$perf" || true; fi
  [ -s "$work/$grammar.log" ] || { echo "$label: no answers" >&2; exit 1; }
  local rps
  rps=${out%% *}
  rows+=("$(awk -F'\t' -v label="$label" -v rps="$rps" -v cpu="$(((t1 - t0) * 1000 / clk))" \
    -v rss="$(hwm "$pid")" '
      { n++; if ($1 != 200) bad++; else if ($3 ~ /(fm=jpg|jpeg)/) { j += $2; nj++ } else { w += $2; nw++ } }
      END { printf "| %s | %s | %.1f | %d | %d | %d | %d |", label, rps, cpu / n,
            nj ? j / nj : 0, nw ? w / nw : 0, bad, rss }' "$work/$grammar.log")")
  stop "$pid"
  wait "$pid" 2>/dev/null || true
  echo "${rows[-1]}" >&2
}

refract() { # refract LABEL FLAGS...
  local label=$1; shift
  local port; port=$(free_port)
  "$bin" serve --listen "127.0.0.1:$port" --root "$work/root" --access-log false "$@" \
    >/dev/null 2>"$work/refract.err" &
  local pid=$!; pids+=("$pid")
  run "$label" refract "$pid" "$port" "/warm.jpg?w=300&fm=webp"
}

grep -m1 "model name" /proc/cpuinfo || true
echo "144 variants (6 photos x 6 widths x DPR 1, 2 x JPEG, WebP q80), each once, 2 connections" >&2

only=${PEERS_ONLY:-refract thumbor ipx}
want() { [[ " $only " == *" $1 "* ]]; }

if want refract; then
  refract "Refract, defaults"
  refract "Refract, --refine off" --refine off
fi

if want thumbor; then
# Two thumbor processes, one per core, each on its own port with one of the two connections (as a
# load balancer in front of them spreads connections): with `--processes 2` on one port the
# kernel picks which process accepts, and both connections often landed on one.
cat > "$work/thumbor.conf" <<EOF
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = '$work/root'
FILE_STORAGE_ROOT_PATH = '$work/thumbor-storage'
RESPECT_ORIENTATION = True
EOF
ports=("$(free_port)" "$(free_port)")
(
  for p in "${ports[@]}"; do
    "$thumbor/bin/thumbor" -p "$p" -i 127.0.0.1 -c "$work/thumbor.conf" >>"$work/thumbor.err" 2>&1 &
  done
  wait
) &
pid=$!; pids+=("$pid")
run "thumbor 7.8.0 (Pillow, 2 processes)" thumbor "$pid" "${ports[0]},${ports[1]}" \
  "/unsafe/300x0/filters:format(webp)/warm.jpg"
fi

if want ipx; then
port=$(free_port)
(cd "$ipx" && exec node node_modules/ipx/bin/ipx.mjs serve --dir "$work/root" --port "$port" \
  --host 127.0.0.1) >"$work/ipx.err" 2>&1 &
pid=$!; pids+=("$pid")
run "ipx 3.1.1 (sharp 0.34.5, libvips 8.17)" ipx "$pid" "$port" "/w_300,f_webp/warm.jpg"
fi

echo
echo "| server | first pass req/s | CPU ms per request | mean JPEG bytes | mean WebP bytes | not 200 | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
