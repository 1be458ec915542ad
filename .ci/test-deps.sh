#!/usr/bin/env bash
# Install what the test suite needs beyond the Rust toolchain and libvips (idempotent).
# Today that is nothing extra: the tests use the real libvips from `make deps` and the image
# corpus in ../shared/corpus (or REFRACT_CORPUS). Later suites add their servers here.
set -euo pipefail
corpus=${REFRACT_CORPUS:-$(dirname "$0")/../../shared/corpus}
if [ ! -f "$corpus/MANIFEST.md" ]; then
  echo "test-deps: image corpus not found at $corpus (set REFRACT_CORPUS)" >&2
  exit 1
fi
