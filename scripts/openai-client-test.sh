#!/usr/bin/env bash
# A real OpenAI client against Docent's OpenAI-compatible surface: the official
# `openai` Python SDK (from PyPI, by name) in a venv, running
# examples/openai/openai_sdk.py against a live `docent serve`.
#
#   scripts/openai-client-test.sh setup   build the venv (idempotent; instant when present)
#   scripts/openai-client-test.sh run     set up, then run the example against
#                                         $DOCENT_URL with $DOCENT_KEY (a key with the
#                                         chat scope); exits non-zero when it fails
#
# examples/test.sh (make test-examples) runs it. The venv lives in target/openai-venv
# (override with OPENAI_VENV; the package spec with OPENAI_SDK_SPEC).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${OPENAI_VENV:-$ROOT/target/openai-venv}"
SPEC="${OPENAI_SDK_SPEC:-openai>=1.66}"
PY="$VENV/bin/python"

die() { echo "openai-client-test: error: $*" >&2; exit 1; }
log() { echo "openai-client-test: $*" >&2; }

have() { [ -x "$PY" ] && "$PY" -c 'import openai' >/dev/null 2>&1; }

setup() {
  if have; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 is not installed"
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV" || die "could not create a venv (Debian: apt-get install python3-venv)"
  fi
  log "installing $SPEC"
  "$PY" -m pip install --quiet "$SPEC" || die "pip could not install $SPEC"
  have || die "$SPEC installed but cannot be imported"
}

case "${1:-}" in
  setup) setup ;;
  run)
    : "${DOCENT_URL:?set DOCENT_URL to a running docent serve}" "${DOCENT_KEY:?set DOCENT_KEY to a key with the chat scope}"
    setup
    "$PY" "$ROOT/examples/openai/openai_sdk.py"
    ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
