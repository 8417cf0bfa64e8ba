#!/usr/bin/env bash
# An independent Standard Webhooks verifier for Docent's end-to-end webhook tests: the
# `standardwebhooks` PyPI package (the scheme's reference library) in a venv.
#
#   scripts/webhook-verifier.sh setup       build the venv (idempotent, seconds)
#   scripts/webhook-verifier.sh with CMD...  run CMD with DOCENT_WEBHOOK_VERIFIER set to
#                                            a command that verifies deliveries: it reads
#                                            JSON lines {"secret","headers","body"} on stdin
#                                            and prints one line per delivery, "ok <id>" or
#                                            "bad <id> <why>"
#
# The venv lives in target/webhook-venv (override with WEBHOOK_VENV).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${WEBHOOK_VENV:-$ROOT/target/webhook-venv}"
SPEC="standardwebhooks==1.1.0"
PY="$VENV/bin/python"

die() { echo "webhook-verifier: error: $*" >&2; exit 1; }
log() { echo "webhook-verifier: $*" >&2; }

have() { [ -x "$PY" ] && "$PY" -c 'import standardwebhooks' >/dev/null 2>&1; }

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
  with)
    shift
    [ $# -gt 0 ] || die "usage: scripts/webhook-verifier.sh with CMD..."
    setup
    DOCENT_WEBHOOK_VERIFIER="$PY $ROOT/scripts/verify_webhooks.py" "$@"
    ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
