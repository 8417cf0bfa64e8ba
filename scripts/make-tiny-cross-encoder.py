#!/usr/bin/env python3
"""Build a tiny, deterministic ONNX "cross-encoder" for Docent's reranker tests.

The graph has the inputs of a BERT cross-encoder (`input_ids`, `attention_mask`,
`token_type_ids`: int64, [batch, seq]) and one output `logits` ([batch, 1], float):

    logits[b] = sum_t attention_mask[b, t] * weight[input_ids[b, t]] * (1 + token_type_ids[b, t])

so query tokens (segment 0) count once and passage tokens (segment 1) twice. Every
weight is a multiple of 1/64 in [-1.5625, 1.5625]: the sums of a few hundred of them are
exact in float32 whatever order ONNX Runtime adds them in, so a test can compute the
expected score independently and compare it exactly.

    weight[id] = ((id * 7919) % 201 - 100) / 64

The directory written holds `model.onnx`, `weights.json` (the weights and the formula)
and the MiniLM tokenizer files copied from `--tokenizer-dir`, i.e. everything Docent's
cross-encoder loader reads. Idempotent: when the directory is complete and
`weights.json` records the same parameters, nothing is rewritten. Files are written to
temporary names and renamed, so a concurrent reader never sees half a file.

Usage:
    make-tiny-cross-encoder.py OUT_DIR [--tokenizer-dir models/all-minilm-l6-v2]
                               [--output-name logits] [--force]

`--output-name` other than `logits` builds a deliberately wrong model (the loader must
refuse it with a clear error). Needs the `onnx` package (and numpy), for instance in a
venv: `python3 -m venv target/onnx-venv && target/onnx-venv/bin/pip install onnx numpy`.
"""

import argparse
import json
import os
import sys

TOKENIZER_FILES = ["tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"]
FORMULA = "logits[b] = sum_t mask[b,t] * weight[ids[b,t]] * (1 + token_type_ids[b,t]); weight[i] = ((i * 7919) % 201 - 100) / 64"
VERSION = 1


def weight_of(token_id: int) -> float:
    return ((token_id * 7919) % 201 - 100) / 64.0


def write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def build_model(vocab_size: int, output_name: str) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    weights = [weight_of(i) for i in range(vocab_size)]
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    output = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", 1])
    initializers = [
        helper.make_tensor("weight", TensorProto.FLOAT, [vocab_size], weights),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
    ]
    nodes = [
        helper.make_node("Gather", ["weight", "input_ids"], ["token_weight"], axis=0),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["token_type_ids"], ["type_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["type_f", "one"], ["segment_factor"]),
        helper.make_node("Mul", ["token_weight", "mask_f"], ["masked"]),
        helper.make_node("Mul", ["masked", "segment_factor"], ["contribution"]),
        helper.make_node("ReduceSum", ["contribution", "axes"], [output_name], keepdims=1),
    ]
    graph = helper.make_graph(nodes, "tiny_cross_encoder", inputs, [output], initializers)
    model = helper.make_model(
        graph,
        producer_name="docent-make-tiny-cross-encoder",
        opset_imports=[helper.make_opsetid("", 13)],
    )
    # IR 8 / opset 13: understood by every ONNX Runtime Docent supports.
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--tokenizer-dir", default=os.path.join(here, "..", "models", "all-minilm-l6-v2"))
    parser.add_argument("--output-name", default="logits")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()

    for name in TOKENIZER_FILES:
        if not os.path.isfile(os.path.join(args.tokenizer_dir, name)):
            print(f"make-tiny-cross-encoder: {args.tokenizer_dir}/{name} does not exist (run `make models`)", file=sys.stderr)
            return 1
    with open(os.path.join(args.tokenizer_dir, "tokenizer.json"), encoding="utf-8") as f:
        vocab_size = len(json.load(f)["model"]["vocab"])

    meta = {"version": VERSION, "vocab_size": vocab_size, "output_name": args.output_name, "formula": FORMULA}
    out = args.out_dir
    weights_path = os.path.join(out, "weights.json")
    needed = [os.path.join(out, n) for n in TOKENIZER_FILES + ["model.onnx", "weights.json"]]
    if not args.force and all(os.path.isfile(p) for p in needed):
        try:
            with open(weights_path, encoding="utf-8") as f:
                existing = json.load(f)
            if all(existing.get(k) == v for k, v in meta.items()):
                print(f"tiny cross-encoder: present in {out}")
                return 0
        except (OSError, ValueError):
            pass

    try:
        model = build_model(vocab_size, args.output_name)
    except ImportError:
        print("make-tiny-cross-encoder: the `onnx` Python package is missing "
              "(python3 -m venv target/onnx-venv && target/onnx-venv/bin/pip install onnx numpy)", file=sys.stderr)
        return 1
    os.makedirs(out, exist_ok=True)
    for name in TOKENIZER_FILES:
        with open(os.path.join(args.tokenizer_dir, name), "rb") as f:
            write_atomic(os.path.join(out, name), f.read())
    write_atomic(os.path.join(out, "model.onnx"), model)
    weights = dict(meta, weights=[weight_of(i) for i in range(vocab_size)])
    # weights.json last: its presence with matching parameters marks the directory complete.
    write_atomic(weights_path, json.dumps(weights).encode("utf-8"))
    print(f"tiny cross-encoder: wrote {out} ({vocab_size} token weights, output `{args.output_name}`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
