#!/usr/bin/env python3
"""The FP16 storage floor of a model: what rounding its weights and its input
to float16 costs alone, all arithmetic in float32 (ONNX Runtime, CPU).

An FP16 engine that stores all weights and the input in float16 cannot be
expected below this floor in rel = ||fp16 - fp32|| / ||fp32|| (the quantity
tests/parity_backends.py bounds). vidpipe keeps the first layer's input and
weights in float32 (src/engine/layout.c), which is how it gets under this
floor in deep networks; --fp32-stem computes the floor with that first
layer's weights and the input left in float32. Same seeded input as
parity_backends.py.

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


def floor(path, batch, size, fp32_stem=False):
    """rel error per output of the model with float32 weights and input rounded to float16
    (fp32_stem: all but the first Conv's weights, and not the input)."""
    m = onnx.load(path)
    x = np.random.default_rng(1234).random([batch, 3, size, size], dtype=np.float32)
    ref = run(m, x)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    keep = set(convs[0].input[1:]) if fp32_stem and convs else set()
    for init in m.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype == np.float32 and w.size > 1 and init.name not in keep:  # scalars (Resize scales...) stay
            init.CopyFrom(numpy_helper.from_array(w.astype(np.float16).astype(np.float32), init.name))
    got = run(m, x if fp32_stem else x.astype(np.float16).astype(np.float32))
    return [float(np.linalg.norm(g - r) / max(np.linalg.norm(r), 1e-30)) for g, r in zip(got, ref)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--fp32-stem", action="store_true", help="the first Conv's weights and the input stay float32")
    a = ap.parse_args()
    path = os.path.join(a.models, a.model + ".onnx")
    if not os.path.exists(path):
        print(f"skip: {path} not found")
        return 77
    for i, rel in enumerate(floor(path, a.batch, SIZES.get(a.model, 640), a.fp32_stem)):
        print(f"model={a.model} batch={a.batch} output={i} fp16 storage floor{' (fp32 first layer)' if a.fp32_stem else ''} "
              f"rel={rel:.3e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
