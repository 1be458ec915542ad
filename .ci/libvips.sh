#!/usr/bin/env bash
# Fetch the prebuilt libvips that sharp publishes on the npm registry and unpack it into DEST.
#
#   .ci/libvips.sh VERSION DEST
#
# Idempotent: the tarballs are cached in ${XDG_CACHE_HOME:-~/.cache}/refract (outside the repo,
# shared by every clone on the machine) and DEST is only rebuilt when its stamp is missing.
# Installs npm from Debian's packages when the machine has none.
set -euo pipefail
version=${1:?usage: libvips.sh VERSION DEST}
dest=${2:?usage: libvips.sh VERSION DEST}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/refract/npm
stamp=$dest/.complete

if [ -f "$stamp" ]; then exit 0; fi

if ! command -v npm >/dev/null 2>&1; then
  echo "libvips.sh: npm not found; installing Debian's nodejs and npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

mkdir -p "$cache"
for pkg in sharp-libvips-linux-x64 sharp-libvips-dev; do
  tgz=$cache/img-$pkg-$version.tgz
  if [ ! -s "$tgz" ]; then
    (cd "$cache" && npm pack --silent "@img/$pkg@$version" >/dev/null)
  fi
done

rm -rf "$dest" && mkdir -p "$dest/lib" "$dest/include"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar xzf "$cache/img-sharp-libvips-linux-x64-$version.tgz" -C "$tmp"
tar xzf "$cache/img-sharp-libvips-dev-$version.tgz" -C "$tmp" package/include package/versions.json
so=$(cd "$tmp/package/lib" && ls libvips-cpp.so.* | head -n1)
cp "$tmp/package/lib/$so" "$dest/lib/"
# The linker wants an unversioned name; the binary records the soname and finds it by rpath.
ln -sf "$so" "$dest/lib/libvips-cpp.so"
cp -r "$tmp/package/include/." "$dest/include/"
cp "$tmp/package/versions.json" "$dest/"
touch "$stamp"
echo "libvips.sh: libvips $(grep '"vips"' "$dest/versions.json" | tr -dc '0-9.') ready in $dest" >&2
