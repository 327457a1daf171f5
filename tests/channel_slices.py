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
Exit 0 pass, 1 fail, 77 skipped (model missing).
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=2)
    a = ap.parse_args()
    path = os.path.join(a.models, a.model + ".onnx")
    if not os.path.exists(path):
        print(f"skip: {path} not found")
        return 77
    m = onnx.load(path, load_external_data=False)
    size = SIZES.get(a.model, 640)
    x = np.random.default_rng(7).random([a.batch, 3, size, size], dtype=np.float32)
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
