#!/usr/bin/env bash
# Install what the test suite needs beyond the Rust toolchain and libvips (idempotent):
# python3 and node run the signing examples in examples/ against the server; promtool (Debian's
# prometheus package) checks the /metrics exposition; varnishd runs deploy/varnish/refract.vcl;
# cfn-lint and kubernetes-validate (PyPI, in a venv cached outside the repo) check deploy/;
# chromium (Debian) loads the demo page in tests/clients.rs; @imgix/js-core (npm, cached outside
# the repo) builds srcsets against the server; rabbitmq-server (Debian) is the broker the queue
# tests start on loopback, and pika (PyPI, in the venv) the independent AMQP client they read
# events with. The image corpus must be at ../shared/corpus (or
# REFRACT_CORPUS).
set -euo pipefail

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v curl >/dev/null 2>&1 || missing+=(curl) # S3 test fixtures, written with --aws-sigv4
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v varnishd >/dev/null 2>&1 || missing+=(varnish)
dpkg -s varnish-modules >/dev/null 2>&1 || missing+=(varnish-modules)
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-deps: installing ${missing[*]} from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start their daemons (the prometheus server): tests start what they need.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv=${XDG_CACHE_HOME:-$HOME/.cache}/refract/venv
if [ ! -x "$venv/bin/cfn-lint" ] || [ ! -x "$venv/bin/kubernetes-validate" ] \
  || [ ! -d "$(echo "$venv"/lib/python3*/site-packages/pika)" ]; then
  echo "test-deps: installing cfn-lint, kubernetes-validate and pika into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q cfn-lint kubernetes-validate pika
fi

node_dir=${XDG_CACHE_HOME:-$HOME/.cache}/refract/node
if [ ! -f "$node_dir/node_modules/@imgix/js-core/package.json" ]; then
  echo "test-deps: installing @imgix/js-core into $node_dir" >&2
  mkdir -p "$node_dir"
  npm install --silent --no-audit --no-fund --prefix "$node_dir" @imgix/js-core@3 >&2
fi

corpus=${REFRACT_CORPUS:-$(dirname "$0")/../../shared/corpus}
if [ ! -f "$corpus/MANIFEST.md" ]; then
  echo "test-deps: image corpus not found at $corpus (set REFRACT_CORPUS)" >&2
  exit 1
fi
