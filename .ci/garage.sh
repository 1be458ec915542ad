#!/usr/bin/env bash
# Build Garage (the S3-compatible server the S3 source tests run against) once per machine and
# cache it outside the repository. Idempotent: a cached binary of the pinned version is reused.
# Only the features the tests need (LMDB metadata, bundled C libraries) are built, which keeps the
# ~20-minute build on 2 cores a little shorter.
# Prints the binary's path on stdout.
set -euo pipefail

version=${GARAGE_VERSION:-2.5.0}
root=${XDG_CACHE_HOME:-$HOME/.cache}/refract/garage-$version
bin=$root/bin/garage

if [ ! -x "$bin" ]; then
  echo "garage: building garage $version into $root (once per machine, ~20 min on 2 cores)" >&2
  cargo install garage --locked --version "$version" --root "$root" \
    --no-default-features --features bundled-libs,lmdb >&2
fi
echo "$bin"
