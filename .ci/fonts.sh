#!/usr/bin/env bash
# The fonts `txt` renders with, from Debian's packages, unpacked into DEST (not installed on the
# host): output never depends on what the host happens to have.
#
#   .ci/fonts.sh DEST
#
#   fonts-dejavu-core  DejaVu Sans, Serif and Sans Mono (the defaults: sans-serif, serif, monospace)
#   fonts-liberation2  Liberation Sans, Serif and Mono (metric-compatible stand-ins for Helvetica
#                      and Arial, Times, Courier)
#
# Idempotent: the .deb files are cached in ${XDG_CACHE_HOME:-~/.cache}/refract/debs (outside the
# repo, shared by every clone) and DEST is rebuilt only when its stamp is missing.
set -euo pipefail
dest=${1:?usage: fonts.sh DEST}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/refract/debs
packages=(fonts-dejavu-core fonts-liberation2)
stamp=$dest/.complete

if [ -f "$stamp" ]; then exit 0; fi
mkdir -p "$cache"
for pkg in "${packages[@]}"; do
  if ! ls "$cache/${pkg}"_*.deb >/dev/null 2>&1; then
    if ! (cd "$cache" && apt-get download -qq "$pkg" 2>/dev/null); then
      echo "fonts.sh: refreshing Debian's package lists to fetch $pkg" >&2
      apt-get update -qq
      (cd "$cache" && apt-get download -qq "$pkg")
    fi
  fi
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$dest" && mkdir -p "$dest"
for pkg in "${packages[@]}"; do
  deb=$(ls "$cache/${pkg}"_*.deb | sort | tail -n 1)
  dpkg-deb -x "$deb" "$work/$pkg"
  find "$work/$pkg" -name '*.ttf' -exec cp {} "$dest/" \;
  basename "$deb" >> "$dest/PACKAGES"
done
count=$(ls "$dest"/*.ttf | wc -l)
if [ "$count" -lt 6 ]; then
  echo "fonts.sh: only $count fonts unpacked into $dest" >&2
  exit 1
fi
touch "$stamp"
