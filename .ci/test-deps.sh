#!/usr/bin/env bash
# Install what the test suite needs beyond the Rust toolchain and libvips (idempotent):
# python3 and node run the signing examples in examples/ against the server. The image corpus
# must be at ../shared/corpus (or REFRACT_CORPUS).
set -euo pipefail

missing=()
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-deps: installing ${missing[*]} from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

corpus=${REFRACT_CORPUS:-$(dirname "$0")/../../shared/corpus}
if [ ! -f "$corpus/MANIFEST.md" ]; then
  echo "test-deps: image corpus not found at $corpus (set REFRACT_CORPUS)" >&2
  exit 1
fi
