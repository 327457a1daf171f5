#!/usr/bin/env python3
"""Models whose weights live in external-data files load and compute the same
as ONNX Runtime; a missing or short external file is a clean error (exit 2)."""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def model():
    rng = np.random.default_rng(7)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b")
    w2 = numpy_helper.from_array(rng.standard_normal((8, 8, 1, 1)).astype(np.float32), "w2")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w2"], ["y"], name="conv2")]
    g = helper.make_graph(nodes, "ext", [x], [y], [w, b, w2])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    args = ap.parse_args()
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ext.onnx")
        onnx.save_model(model(), path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="ext.weights", size_threshold=0)
        x = np.random.default_rng(1).random((2, 3, 16, 16), dtype=np.float32)
        np.save(os.path.join(tmp, "x.npy"), x)
        ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        out = os.path.join(tmp, "out")
        cmd = [args.vidpipe, "infer", "--model", path, "--input", f"x={tmp}/x.npy", "--outdir", out]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL external data model: exit {r.returncode}: {r.stderr.strip()}")
            fails += 1
        else:
            got = np.load(os.path.join(out, "y.npy"))
            rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
            ok = got.shape == ref.shape and rel <= 1e-5
            print(f"{'ok  ' if ok else 'FAIL'} external data model: rel error {rel:.2e}")
            fails += not ok
        # truncate the weights file: must be a one-line error, exit 2
        wpath = os.path.join(tmp, "ext.weights")
        with open(wpath, "r+b") as f:
            f.truncate(os.path.getsize(wpath) // 2)
        r = subprocess.run(cmd, capture_output=True, text=True)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        ok = r.returncode == 2 and len(lines) == 1 and "external data" in lines[0]
        print(f"{'ok  ' if ok else 'FAIL'} truncated external data: exit {r.returncode}: {' | '.join(lines)}")
        fails += not ok
        os.remove(wpath)
        r = subprocess.run(cmd, capture_output=True, text=True)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        ok = r.returncode == 2 and len(lines) == 1 and "ext.weights" in lines[0]
        print(f"{'ok  ' if ok else 'FAIL'} missing external data file: exit {r.returncode}: {' | '.join(lines)}")
        fails += not ok
    print(f"{3 - fails} passed, {fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
