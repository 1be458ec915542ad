#!/bin/bash
# Ready hits, binary A against binary B: CPU per request (/proc) and req/s under wrk (32
# connections) on one cached URL, the two servers taking turns, ROUNDS rounds of SECONDS each.
# For before/after figures (BENCHMARKS.md): build the old commit in a worktree, pass both binaries.
# URL=/p.jpg?w=1400&fm=webp picks another variant (bodies >= 32 KB go by sendfile).
#   benches/hits-ab.sh A_BIN B_BIN [ROUNDS] [SECONDS]
set -e
BASE=$1; NEW=$2; ROUNDS=${3:-5}; SECS=${4:-5}
D=$(mktemp -d); cp ${REFRACT_CORPUS:-$(cd "$(dirname "$0")/.." && pwd)/../shared/corpus}/photos/kde-Path-2560x1600.jpg $D/p.jpg
start() { local bin=$1 port=$2; $bin serve --listen 127.0.0.1:$port --root $D --access-log false >/dev/null 2>&1 & echo $!; }
PB=$(start $BASE 28081); PN=$(start $NEW 28082); sleep 2
URL=${URL:-"/p.jpg?w=400&fm=webp"}
for p in 28081 28082; do curl -s -o /dev/null "http://127.0.0.1:$p$URL"; curl -s -o /dev/null "http://127.0.0.1:$p$URL"; done
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
for r in $(seq 1 $ROUNDS); do
  for which in base new; do
    if [ $which = base ]; then pid=$PB; port=28081; else pid=$PN; port=28082; fi
    c0=$(cpu $pid)
    out=$(wrk -t1 -c32 -d${SECS}s "http://127.0.0.1:$port$URL" 2>&1)
    c1=$(cpu $pid)
    reqs=$(echo "$out" | awk '/requests in/{print $1}')
    echo "$which round $r: $reqs requests, $(echo "($c1-$c0)*10/$reqs" | bc -l | cut -c1-7) ms cpu/req, $(echo "$out" | awk '/Requests\/sec/{print $2}') req/s"
  done
done
kill $PB $PN; rm -rf $D
