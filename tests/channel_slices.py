#!/usr/bin/env python3
"""The plan's channel slices (Concat and Split in place), tested without a GPU.

tests/slice_backend.c is loaded in the CUDA plugin's place: the CPU kernels,
planned as for a device backend, with a Conv that takes float32 channel
slices. Against the CPU backend with the same channels-last layout
(--layout nhwc), on the same seeded input, checks:
  1. slices are made (the plan's debug line counts them) and the outputs are
     bit-identical;
  2. a Conv that refuses slices (VP_SLICE_TEST_REFUSE=its name) makes the plan
     be made again without slices there: one retry, fewer slices, same
     outputs;
  3. every Conv refusing: the plan ends up without slices, same outputs;
  4. VIDPIPE_CHANNEL_SLICES=0: no slices, same outputs.
--model synthetic builds a small graph with the corner cases instead (see
synthetic()). Exit 0 pass, 1 fail, 77 skipped (model missing).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx

SIZES = {"resnet50": 224, "mobilenetv3": 224, "deeplabv3": 512}
SLICES = re.compile(r"(\d+) Concat inputs written in place as channel slices")
REFUSED = re.compile(r"node '([^']+)' \(Conv\): test backend: refuses channel slices here; planning again")


def synthetic(path):
    """A small graph with the cases the planner must get right: a Split in
    place (outputs read by Convs, one as a residual addend), a Concat whose
    inputs are in place, one with an input twice, one with a Split's outputs
    out of order, a Split output that is also a model output, a Concat
    output that is a model output."""
    from onnx import TensorProto, helper
    rng = np.random.default_rng(3)
    inits, nodes = [], []

    def conv(name, x, cin, cout, k=1, add=None):
        w = helper.make_tensor(name + "_w", TensorProto.FLOAT, [cout, cin, k, k],
                               (rng.standard_normal((cout, cin, k, k)) * 0.3).astype(np.float32).ravel())
        b = helper.make_tensor(name + "_b", TensorProto.FLOAT, [cout], rng.standard_normal(cout).astype(np.float32))
        inits.extend([w, b])
        out = name if add is None else name + "_c"
        nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [out], name=name, pads=[k // 2] * 4))
        if add is not None:
            nodes.append(helper.make_node("Add", [out, add], [name], name=name + "_add"))
        return name

    inits.append(helper.make_tensor("sp", TensorProto.INT64, [3], [8, 8, 16]))
    inits.append(helper.make_tensor("sp2", TensorProto.INT64, [2], [16, 16]))
    conv("c1", "x", 16, 32)
    nodes.append(helper.make_node("Split", ["c1", "sp"], ["a", "b", "d"], name="split", axis=1))
    conv("e", "b", 8, 8, k=3)
    conv("f", "d", 16, 16, k=3, add="d")  # the residual addend is a slice
    nodes.append(helper.make_node("Concat", ["a", "b", "d", "e", "f"], ["cat1"], name="cat1", axis=1))
    conv("g", "cat1", 56, 24)
    nodes.append(helper.make_node("Concat", ["e", "e"], ["cat2"], name="cat2", axis=1))  # an input twice
    conv("h", "x", 16, 32)
    nodes.append(helper.make_node("Split", ["h", "sp2"], ["h0", "h1"], name="split2", axis=1))
    nodes.append(helper.make_node("Concat", ["h1", "h0"], ["cat3"], name="cat3", axis=1))  # out of order
    conv("k", "cat3", 32, 8)
    conv("m", "x", 16, 16)
    conv("n", "x", 16, 16)
    nodes.append(helper.make_node("Split", ["m", "sp2b"], ["m0", "m1"], name="split3", axis=1))
    inits.append(helper.make_tensor("sp2b", TensorProto.INT64, [2], [8, 8]))
    nodes.append(helper.make_node("Concat", ["m0", "m1", "n"], ["cat4"], name="cat4", axis=1))
    conv("q", "cat4", 32, 8)
    outs = [helper.make_tensor_value_info(v, TensorProto.FLOAT, [2, c, 12, 12])
            for v, c in [("g", 24), ("cat2", 16), ("k", 8), ("m1", 8), ("q", 8), ("cat1", 56)]]
    g = helper.make_graph(nodes, "slices", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16, 12, 12])],
                          outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=2)
    a = ap.parse_args()
    path = os.path.join(a.models, a.model + ".onnx")
    keep = tempfile.TemporaryDirectory()
    if a.model == "synthetic":
        path = os.path.join(keep.name, "synthetic.onnx")
        synthetic(path)
    if not os.path.exists(path):
        print(f"skip: {path} not found")
        return 77
    m = onnx.load(path, load_external_data=False)
    dims = [d.dim_value or a.batch for d in m.graph.input[0].type.tensor_type.shape.dim]
    if a.model != "synthetic":
        size = SIZES.get(a.model, 640)
        dims = [a.batch, 3, size, size]
    x = np.random.default_rng(7).random(dims, dtype=np.float32)
    fails = []
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "x.npy"), x)

        def infer(tag, backend, env=None):
            od = os.path.join(tmp, tag)
            e = dict(os.environ, VP_CUDA_PLUGIN=os.path.abspath(a.plugin), **(env or {}))
            r = subprocess.run([a.vidpipe, "-vv", "infer", "--model", path, "--backend", backend, "--precision", "fp32",
                                "--layout", "nhwc", "--input", f"{m.graph.input[0].name}={tmp}/x.npy", "--outdir", od],
                               capture_output=True, text=True, env=e, timeout=900)
            if r.returncode:
                raise SystemExit(f"FAIL {tag}: exit {r.returncode}: {r.stderr.strip()[-400:]}")
            outs = []
            for o in m.graph.output:
                name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in o.name)
                outs.append(np.load(os.path.join(od, name + ".npy")))
            counts = [int(n) for n in SLICES.findall(r.stderr)]
            return outs, counts, REFUSED.findall(r.stderr)

        def same(tag, outs):
            for o, got, want in zip(m.graph.output, outs, ref):
                if got.shape != want.shape or not np.array_equal(got, want):
                    d = np.abs(got.astype(np.float64) - want).max() if got.shape == want.shape else "shape"
                    fails.append(f"{tag}: output {o.name} differs from the CPU backend's (max |diff| {d})")

        ref, _, _ = infer("cpu", "cpu")
        outs, counts, _ = infer("slices", "cuda")
        print(f"model={a.model}: {counts[-1] if counts else 0} Concat inputs as channel slices")
        if not counts or counts[-1] <= 0:
            fails.append("no channel slices made")
        same("slices", outs)
        full = counts[-1] if counts else 0

        outs, counts, refused = infer("refuse-all", "cuda", {"VP_SLICE_TEST_REFUSE": "*"})
        if counts and counts[-1] == 0:
            fails.append("refuse-all: the last plan still counted slices")
        same("refuse-all", outs)
        if full and refused:
            outs, counts, again = infer("refuse-one", "cuda", {"VP_SLICE_TEST_REFUSE": refused[0]})
            print(f"model={a.model}: '{refused[0]}' refusing: {len(again)} retry, then {counts[-1]} slices")
            if again != [refused[0]] or len(counts) != 2 or not 0 <= counts[-1] < full:
                fails.append(f"refuse-one: retries {again}, slice counts {counts} (want one retry, fewer than {full})")
            same("refuse-one", outs)
        elif full:
            fails.append("refuse-all: no Conv refused a slice")

        outs, counts, _ = infer("off", "cuda", {"VIDPIPE_CHANNEL_SLICES": "0"})
        if counts:
            fails.append(f"VIDPIPE_CHANNEL_SLICES=0: slices made {counts}")
        same("off", outs)
    for f in fails:
        print("FAIL", f)
    print(f"channel slices, {a.model}: {'FAIL' if fails else 'ok'}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
