#!/usr/bin/env bash
# HEIC input: Refract opens the system's libheif (with the libde265 HEVC decoder) at run time.
# Install it from Debian's packages when it is missing (idempotent; a no-op when present).
# Without it Refract still runs and answers HEIC originals with 415/422 unsupported_format.
set -euo pipefail

if ldconfig -p 2>/dev/null | grep -q 'libheif\.so\.1 '; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "heic.sh: no libheif.so.1 and no apt-get: install libheif (with libde265) to serve HEIC" >&2
  exit 0
fi
packages=(libheif1 libde265-0)
# Debian 13 and later ship the HEVC decoder as a plug-in package.
if apt-cache show libheif-plugin-libde265 >/dev/null 2>&1; then
  packages+=(libheif-plugin-libde265)
fi
echo "heic.sh: installing ${packages[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${packages[@]}" >/dev/null
