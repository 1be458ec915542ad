#!/bin/bash
# Peak RSS of `refract serve` under 12 MP misses (issue 31): the corpus's EXIF-rotated 12 MP phone
# photo at widths 700–999 as JPEG and WebP, two requests in flight (one per core), every cache
# off (--cache-size 0 --master-cache-size 0 --originals-cache-size 0). Prints peak RSS (VmHWM),
# wall time and the server's CPU, for the binary as it runs by default (one malloc arena, a fixed
# mmap threshold: `vips::tune_malloc`) and with glibc's own settings for comparison (8 arenas per
# core, and the mmap threshold where glibc's dynamic one ends up: 32 MB).
#   benches/rss.sh [BIN]        (default target/release/refract; `make bench-rss` builds it)
set -euo pipefail
BIN=${1:-target/release/refract}
CORPUS=${REFRACT_CORPUS:-../shared/corpus}
PHOTO="$CORPUS/photos/libavif-dog_exif_extended_xmp_icc.jpg"
[ -f "$PHOTO" ] || { echo "corpus missing: $PHOTO (set REFRACT_CORPUS)" >&2; exit 1; }
ROOT=$(mktemp -d); trap 'rm -rf "$ROOT"' EXIT
cp "$PHOTO" "$ROOT/dog.jpg"
grep -m1 "model name" /proc/cpuinfo || true

measure() {
    local label=$1 port=$2; shift 2
    env "$@" "$BIN" serve --root "$ROOT" --listen "127.0.0.1:$port" --cache-size 0 \
        --master-cache-size 0 --originals-cache-size 0 --access-log false >/dev/null 2>&1 &
    local pid=$!
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.1; done
    load() { for w in $(seq "$1" 7 999); do for fm in jpg webp; do
        curl -s -o /dev/null "http://127.0.0.1:$port/dog.jpg?w=$w&fm=$fm"; done; done; }
    local t0 t1 a b
    t0=$(date +%s.%N)
    load 700 & a=$!; load 703 & b=$!; wait $a $b
    t1=$(date +%s.%N)
    local cpu hwm
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$pid/stat")
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    kill $pid; wait $pid 2>/dev/null || true
    printf '%-34s peak RSS %6.1f MB   wall %5.1f s   server CPU %5.1f s (172 renders)\n' \
        "$label" "$(echo "$hwm / 1024" | bc -l)" "$(echo "$t1 - $t0" | bc -l)" "$cpu"
}
measure "default" 29101
measure "glibc's arenas and threshold" 29102 MALLOC_ARENA_MAX=16 MALLOC_MMAP_THRESHOLD_=33554432
