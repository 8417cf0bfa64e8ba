#!/usr/bin/env bash
# Runs every example against a live `docent serve` (make test-examples): index corpus/
# into a temporary data dir, create a secret key, start the server on a free loopback
# port, then check what each example prints.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
DOCENT=${DOCENT_BIN:-$repo/target/release/docent}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url: poll until it answers 200 (bounded)
  for _ in $(seq 1 600); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "not ready: $1" >&2; return 1
}
fail() { echo "FAIL $*" >&2; exit 1; }

# An index built by an earlier run can be reused: EXAMPLES_DATA=dir keeps it there.
data=${EXAMPLES_DATA:-$tmp/data}
"$DOCENT" ingest "$repo/corpus" --bot docs --data "$data" --base-url https://help.lumenledger.example/ -q > /dev/null
export DOCENT_KEY
DOCENT_KEY=$("$DOCENT" keys create --data "$data" --bot docs --scopes chat,conversations:read --name examples 2>/dev/null)
port=$(free_port)
export DOCENT_URL=http://127.0.0.1:$port
"$DOCENT" serve --data "$data" --listen "127.0.0.1:$port" > "$tmp/server.log" 2>&1 &
pids+=($!)
wait_http "$DOCENT_URL/readyz"

echo "== curl.sh"
bash "$here/curl.sh" > "$tmp/curl.out"
grep -q '"finish_reason":"stop"' "$tmp/curl.out" || fail "curl blocking: no stop answer"
grep -q '^event: delta' "$tmp/curl.out" || fail "curl streaming: no delta frames"
grep -q '^event: done' "$tmp/curl.out" || fail "curl streaming: no done frame"
grep -q 'billing/refunds#' "$tmp/curl.out" || fail "curl: no citation of the refunds page"
echo "ok"

echo "== python/client.py"
python3 "$here/python/client.py" > "$tmp/python.out" || fail "python client: $(cat "$tmp/python.out")"
grep -q '30 days of the charge date' "$tmp/python.out" || fail "python blocking: $(cat "$tmp/python.out")"
grep -q 'follow-up finish_reason: stop' "$tmp/python.out" || fail "python follow-up: $(cat "$tmp/python.out")"
echo "ok"

echo "== rust (cargo example rust_client)"
rust=${RUST_CLIENT_BIN:-$(dirname "$DOCENT")/examples/rust_client}
"$rust" > "$tmp/rust.out" || fail "rust client: $(cat "$tmp/rust.out")"
grep -q '30 days of the charge date' "$tmp/rust.out" || fail "rust blocking: $(cat "$tmp/rust.out")"
grep -q 'follow-up finish_reason: stop' "$tmp/rust.out" || fail "rust follow-up: $(cat "$tmp/rust.out")"
echo "ok"

echo "== openai/openai_sdk.py (the openai SDK, via scripts/openai-client-test.sh)"
bash "$repo/scripts/openai-client-test.sh" run > "$tmp/openai.out" 2>&1 || fail "openai sdk: $(cat "$tmp/openai.out")"
grep -q '^citation: .*billing/refunds#' "$tmp/openai.out" || fail "openai streaming: no refunds citation: $(cat "$tmp/openai.out")"
grep -q '^streamed finish_reason: stop' "$tmp/openai.out" || fail "openai streaming: $(cat "$tmp/openai.out")"
grep -q '^follow-up finish_reason: stop' "$tmp/openai.out" || fail "openai blocking: $(cat "$tmp/openai.out")"
grep -q '^openai sdk: ok' "$tmp/openai.out" || fail "openai sdk: $(cat "$tmp/openai.out")"
echo "ok"

echo "== node-proxy/server.mjs"
pport=$(free_port)
PORT=$pport node "$here/node-proxy/server.mjs" > "$tmp/proxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -qs 'proxy on' "$tmp/proxy.log" && break; sleep 0.1; done
curl -sS -N -D "$tmp/proxy.headers" "http://127.0.0.1:$pport/chat" -H 'Content-Type: application/json' \
  -d '{"message":"What is the refund window for Lumen Ledger subscriptions?"}' > "$tmp/proxy.out"
grep -qi '^content-type: text/event-stream' "$tmp/proxy.headers" || fail "proxy: not SSE: $(cat "$tmp/proxy.headers")"
grep -q '^event: delta' "$tmp/proxy.out" || fail "proxy: no deltas"
grep -q '^event: done' "$tmp/proxy.out" || fail "proxy: no done frame"
if grep -q "$DOCENT_KEY" "$tmp/proxy.out" "$tmp/proxy.headers"; then fail "proxy: the secret key reached the client"; fi
echo "ok"
echo "examples: all passed"
