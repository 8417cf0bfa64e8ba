"""Docent's chat API from Python with the standard library only: a blocking answer,
a streamed answer (SSE read line by line), and a follow-up in the same conversation.

    DOCENT_URL=http://127.0.0.1:8080 DOCENT_KEY=sk_… python3 examples/python/client.py
"""

import json
import os
import sys
import urllib.request

URL = os.environ.get("DOCENT_URL", "http://127.0.0.1:8080")
KEY = os.environ["DOCENT_KEY"]


def post(body, stream=False):
    req = urllib.request.Request(
        f"{URL}/v1/chat",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {KEY}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        },
    )
    return urllib.request.urlopen(req, timeout=60)


def ask(message, conversation_id=None):
    """Blocking: one JSON answer."""
    with post({"bot_id": "docs", "message": message, "conversation_id": conversation_id}) as r:
        return json.load(r)


def stream(message, conversation_id=None):
    """Streaming: yields (event, data) as frames arrive; ignores `: ping` and unknown fields."""
    body = {"bot_id": "docs", "message": message, "conversation_id": conversation_id, "stream": True}
    with post(body, stream=True) as r:
        event, data = None, []
        for raw in r:
            line = raw.decode("utf-8").rstrip("\r\n")
            if not line:
                if data:
                    yield event or "message", json.loads("\n".join(data))
                event, data = None, []
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    event = value
                elif field == "data":
                    data.append(value)


def main():
    first = ask("What is the refund window for Lumen Ledger subscriptions?")
    print("blocking:", first["message"]["content"])
    for s in first["sources"]:
        print(f"  [{s['index']}] {s['title']} {s['url']}")

    text, done = "", None
    for event, data in stream("How long until the refunded money shows up on my card?", first["conversation_id"]):
        if event == "delta":
            text += data["delta"]
            print(data["delta"], end="", flush=True)
        elif event == "done":
            done = data
        elif event == "error":
            sys.exit(f"\nstream failed: {data['error']['message']}")
    print()
    assert done is not None, "the stream ended without a done frame"
    assert done["conversation_id"] == first["conversation_id"], "the follow-up stayed in the conversation"
    assert done["message"]["content"] == text, "done repeats the streamed text"
    print("follow-up finish_reason:", done["finish_reason"], "sources:", [s["url"] for s in done["sources"]])


if __name__ == "__main__":
    main()
