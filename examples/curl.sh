#!/usr/bin/env bash
# Docent's chat API with curl: a blocking answer, then the same question streamed as SSE.
#   DOCENT_URL=http://127.0.0.1:8080 DOCENT_KEY=sk_… bash examples/curl.sh
set -euo pipefail
: "${DOCENT_URL:=http://127.0.0.1:8080}" "${DOCENT_KEY:?set DOCENT_KEY to a secret key with the chat scope}"
QUESTION=${1:-"What is the refund window for Lumen Ledger subscriptions?"}
json() { python3 -c 'import json,sys; print(json.dumps({"bot_id": "docs", "message": sys.argv[1], "stream": sys.argv[2] == "stream"}))' "$QUESTION" "$1"; }
body=$(json blocking)
stream=$(json stream)

echo "== blocking"
curl -sS --fail-with-body "$DOCENT_URL/v1/chat" \
  -H "Authorization: Bearer $DOCENT_KEY" -H 'Content-Type: application/json' -d "$body"
echo
echo "== streaming"
curl -sS -N --fail-with-body "$DOCENT_URL/v1/chat" \
  -H "Authorization: Bearer $DOCENT_KEY" -H 'Content-Type: application/json' -d "$stream"
