#!/usr/bin/env python3
"""The plan's graph passes fire where they should and change no result.

A small graph holds every pattern the passes rewrite: Conv -> BatchNormalization
(folded), Sigmoid + Mul on the conv output (SiLU post-op), a residual Add of a
tensor computed earlier (add post-op), Relu after a Conv, an Identity and a
no-op Cast (bypassed), and a Concat whose inputs are written in place. The
test checks the counts vidpipe logs (-v) and compares the outputs with ONNX
Runtime, with and without passes (--no-passes).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def build():
    rng = np.random.default_rng(3)
    init = []

    def w(name, *shape, positive=False):
        a = rng.uniform(0.5, 2.0, shape) if positive else rng.standard_normal(shape) * 0.3
        init.append(numpy_helper.from_array(a.astype(np.float32), name))
        return name

    nodes = [
        helper.make_node("Conv", ["x", w("w0", 8, 3, 3, 3), w("b0", 8)], ["c0"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c0", w("g", 8, positive=True), w("bt", 8), w("mu", 8),
                                                w("var", 8, positive=True)], ["bn0"], epsilon=1e-3),
        helper.make_node("Sigmoid", ["bn0"], ["s0"]),
        helper.make_node("Mul", ["bn0", "s0"], ["a0"]),                      # SiLU
        helper.make_node("Identity", ["a0"], ["id0"]),
        helper.make_node("Conv", ["id0", w("w1", 8, 8, 1, 1)], ["c1"]),
        helper.make_node("Add", ["c1", "a0"], ["r1"]),                       # residual
        helper.make_node("Cast", ["r1"], ["r1f"], to=TensorProto.FLOAT),      # no-op cast
        helper.make_node("Conv", ["r1f", w("w2", 4, 8, 3, 3)], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["y2"]),
        helper.make_node("Conv", ["r1f", w("w3", 4, 8, 1, 1)], ["c3"]),
        helper.make_node("Concat", ["y2", "c3"], ["y"], axis=1),
    ]
    g = helper.make_graph(nodes, "passes", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], init)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    args = ap.parse_args()
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.onnx")
        with open(path, "wb") as f:
            f.write(build().SerializeToString())
        x = np.random.default_rng(5).standard_normal((1, 3, 16, 16)).astype(np.float32)
        np.save(os.path.join(tmp, "x.npy"), x)
        ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for extra in ([], ["--no-passes"]):
            out = os.path.join(tmp, "out" + "".join(extra))
            r = subprocess.run([args.vidpipe, "infer", "-v", "--model", path, "--input", f"x={tmp}/x.npy",
                                "--outdir", out] + extra, capture_output=True, text=True)
            label = "passes off" if extra else "passes on"
            if r.returncode:
                print(f"FAIL {label}: exit {r.returncode}: {r.stderr.strip()}")
                fails += 1
                continue
            got = np.load(os.path.join(out, "y.npy"))
            rel = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
            ok = rel <= 1e-5
            print(f"{'ok  ' if ok else 'FAIL'} {label}: rel error vs ONNX Runtime {rel:.2e}")
            fails += not ok
            if not extra:
                m = re.search(r"folded (\d+) BatchNormalization, fused (\d+) ops", r.stderr)
                steps = re.search(r"plan with (\d+) steps", r.stderr)
                # 4 convs remain; the Concat step disappears (both inputs in place);
                # fused: SiLU, residual Add, Relu
                want = (1, 3, 4)
                have = (int(m.group(1)), int(m.group(2)), int(steps.group(1))) if m and steps else None
                ok = have == want
                print(f"{'ok  ' if ok else 'FAIL'} pass counts (BN folded, ops fused, steps): {have}, expected {want}")
                fails += not ok
    print(f"{3 - fails} passed, {fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
