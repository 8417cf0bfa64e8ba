"""Derive the query-side graph of the embedding model: `query_int8.onnx`.

The shipped `model.onnx` stores int8 weights but multiplies in fp32 (ONNX Runtime
folds the weights back to fp32 when it loads the graph), so a query costs a full fp32
forward pass. This script folds those constants once, then quantizes the graph
dynamically with per-channel int8 weights (onnxruntime.quantization): MatMulInteger
kernels, about twice as fast for a one-query batch, with query vectors within cosine
0.988 of the shipped graph's (docs/BENCHMARKS.md has the measurement and the
retrieval quality with it). Document vectors always come from `model.onnx`.

Dynamic quantization scales activations per call, so a vector depends on what else is
in its batch: the server embeds queries one at a time, so every query vector is
reproducible.

Usage: python quantize-query-model.py MODEL_DIR
"""

import os
import sys
import tempfile

import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic


def main() -> None:
    model_dir = sys.argv[1]
    source = os.path.join(model_dir, "model.onnx")
    target = os.path.join(model_dir, "query_int8.onnx")
    with tempfile.TemporaryDirectory() as work:
        folded = os.path.join(work, "folded.onnx")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = folded
        ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        quantize_dynamic(folded, target + ".part", per_channel=True, weight_type=QuantType.QInt8)
    os.replace(target + ".part", target)
    print(f"models: wrote {target}")


if __name__ == "__main__":
    main()
