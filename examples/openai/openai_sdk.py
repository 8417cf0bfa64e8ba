"""Docent from the official OpenAI Python SDK (`pip install openai`): the bots as
models, a streamed answer (the sources chunk, the per-citation annotations, the
finish reason), then a blocking follow-up in the same server-side conversation
(`X-Conversation-Id`). Exits non-zero when an answer lacks what it should carry.

    DOCENT_URL=http://127.0.0.1:8080 DOCENT_KEY=sk_… python examples/openai/openai_sdk.py

(scripts/openai-client-test.sh builds a venv with the SDK and runs this.)
"""

import os
import sys

from openai import OpenAI

URL = os.environ.get("DOCENT_URL", "http://127.0.0.1:8080")
BOT = os.environ.get("DOCENT_BOT", "docs")
client = OpenAI(base_url=f"{URL}/v1", api_key=os.environ["DOCENT_KEY"], max_retries=0, timeout=60)


def check(ok, what):
    if not ok:
        sys.exit(f"FAIL: {what}")


def plain(x):
    """A field the SDK does not declare arrives as plain JSON; one it does, as a model."""
    return x if isinstance(x, (dict, list, str, int, float, type(None))) else x.model_dump()


# The bots this key may use are the models.
models = [m.id for m in client.models.list()]
print("models:", ", ".join(models))
check(BOT in models, f"bot {BOT} is not among the models {models}")

# Streaming. Docent adds two things OpenAI clients may ignore: a content-empty chunk
# with a top-level `sources` list, and `delta.annotations` (url_citation) per [n].
question = "What is the refund window for Lumen Ledger subscriptions?"
content, sources, annotations, finish, usage = "", None, [], None, None
with client.chat.completions.with_streaming_response.create(
    model=BOT,
    messages=[{"role": "user", "content": question}],
    stream=True,
    stream_options={"include_usage": True},
) as response:
    conversation = response.headers.get("x-conversation-id")
    for chunk in response.parse():
        if getattr(chunk, "sources", None) is not None:
            sources = [plain(s) for s in chunk.sources]
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            content += choice.delta.content or ""
            annotations += [plain(a) for a in getattr(choice.delta, "annotations", None) or []]
            if choice.finish_reason:
                finish = choice.finish_reason
print("streamed:", content)
check(content.strip(), "the streamed answer is empty")
check(sources, "no sources chunk")
source_urls = {s["url"] for s in sources}
cited = [a["url_citation"]["url"] for a in annotations if a.get("type") == "url_citation"]
for url in cited:
    print("citation:", url)
check(cited, "the streamed answer has no citation")
check(all(u in source_urls for u in cited), "a citation URL is not one of the sources")
for a in annotations:
    u = a["url_citation"]
    check(content[u["start_index"] : u["end_index"]].startswith("["), f"annotation offsets miss the marker: {u}")
print("streamed finish_reason:", finish)
check(finish == "stop", f"finish_reason {finish}")
check(usage is not None and usage.total_tokens >= 0, "no usage chunk")
check(conversation and conversation.startswith("conv_"), "no X-Conversation-Id")

# Blocking follow-up with server-side history: only the new question is sent.
followup = client.chat.completions.create(
    model=BOT,
    messages=[{"role": "user", "content": "How long until the refunded money shows up on my card?"}],
    extra_headers={"X-Conversation-Id": conversation},
)
message = followup.choices[0].message
print("follow-up:", message.content)
check(message.content and message.content.strip(), "the blocking answer is empty")
urls = [a.url_citation.url for a in (message.annotations or []) if a.type == "url_citation"]
for url in urls:
    print("follow-up citation:", url)
check(urls, "the blocking answer has no citation")
blocking_sources = {plain(s)["url"] for s in getattr(followup, "sources", None) or []}
check(all(u in blocking_sources for u in urls), "a blocking citation URL is not one of the sources")
print("follow-up finish_reason:", followup.choices[0].finish_reason)
check(followup.choices[0].finish_reason == "stop", "follow-up finish_reason")
check(getattr(followup, "conversation_id", None) == conversation, "the follow-up went to another conversation")
print("openai sdk: ok")
