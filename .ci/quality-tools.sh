#!/usr/bin/env bash
# Install the perceptual metrics `make bench-quality` (and its smoke run in `make test`) compares
# images with, both run as separate programs, never linked: butteraugli_main from Debian's
# libjxl-devtools, and ssimulacra2_rs (crates.io, BSD-2-Clause) built once per machine into
# ~/.cache/refract. Idempotent. Prints the ssimulacra2_rs path on stdout.
set -euo pipefail

if ! command -v butteraugli_main >/dev/null 2>&1; then
  echo "quality-tools: installing libjxl-devtools (butteraugli_main)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjxl-devtools >/dev/null
fi

version=${SSIMULACRA2_VERSION:-0.5.2}
root=${XDG_CACHE_HOME:-$HOME/.cache}/refract/ssimulacra2-$version
bin=$root/bin/ssimulacra2_rs
if [ ! -x "$bin" ]; then
  echo "quality-tools: building ssimulacra2_rs $version into $root (once per machine, ~3 min)" >&2
  cargo install ssimulacra2_rs --locked --version "$version" --root "$root" \
    --no-default-features >&2
fi
echo "$bin"
