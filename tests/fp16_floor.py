#!/usr/bin/env python3
"""The FP16 storage floor of a model: what rounding its weights and its input
to float16 costs alone, all arithmetic in float32 (ONNX Runtime, CPU).

Any FP16 engine stores the weights and the input in float16, so its error
against the FP32 model, rel = ||fp16 - fp32|| / ||fp32|| (the quantity
tests/parity_backends.py bounds), cannot be expected below this floor. Same
seeded input as parity_backends.py.

    python3 tests/fp16_floor.py --models build/models --model deeplabv3 [--batch 1]
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

SIZES = {"resnet50": 224, "mobilenetv3": 224, "deeplabv3": 512}


def run(model, x):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # no fusions that round differently
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return [o.astype(np.float64) for o in s.run(None, {s.get_inputs()[0].name: x})]


def floor(path, batch, size):
    """rel error per output of the model with float32 weights and input rounded to float16."""
    m = onnx.load(path)
    x = np.random.default_rng(1234).random([batch, 3, size, size], dtype=np.float32)
    ref = run(m, x)
    for init in m.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.size > 1:  # scalars (Resize scales, constants) stay as they are
            init.CopyFrom(numpy_helper.from_array(w.astype(np.float16).astype(np.float32), init.name))
    got = run(m, x.astype(np.float16).astype(np.float32))
    return [float(np.linalg.norm(g - r) / max(np.linalg.norm(r), 1e-30)) for g, r in zip(got, ref)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    a = ap.parse_args()
    path = os.path.join(a.models, a.model + ".onnx")
    if not os.path.exists(path):
        print(f"skip: {path} not found")
        return 77
    for i, rel in enumerate(floor(path, a.batch, SIZES.get(a.model, 640))):
        print(f"model={a.model} batch={a.batch} output={i} fp16 storage floor rel={rel:.3e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
