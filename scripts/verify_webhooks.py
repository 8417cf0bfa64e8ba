"""Verify Docent webhook deliveries with the `standardwebhooks` package, not Docent's code.

stdin: one JSON object per line, {"secret": "whsec_…", "headers": {name: value}, "body": "…"}.
stdout: one line per delivery, "ok <webhook-id>" or "bad <webhook-id> <reason>".
The timestamp tolerance is the library's own (5 minutes), so stale or future stamps fail.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    d = json.loads(line)
    headers = {k.lower(): v for k, v in d["headers"].items()}
    msg_id = headers.get("webhook-id", "?")
    try:
        payload = Webhook(d["secret"]).verify(d["body"], headers)
        if payload.get("id") != msg_id:
            print(f"bad {msg_id} envelope id {payload.get('id')} differs from webhook-id")
        else:
            print(f"ok {msg_id}")
    except Exception as e:  # noqa: BLE001 - report any failure
        print(f"bad {msg_id} {type(e).__name__}: {e}")
    sys.stdout.flush()
