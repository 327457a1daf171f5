#!/usr/bin/env python3
"""Whole-model parity of the CUDA backend against the CPU backend.

Runs `vidpipe infer` on the same seeded input with --backend cpu and
--backend cuda (--precision fp32 or fp16) and checks every output:
rel = ||cuda - cpu|| / ||cpu|| <= tol (1e-4 for fp32, 1e-2 for fp16 by
default), equal shapes, no NaN/inf. --layout nhwc makes the CUDA run
channels-last in fp32 too. Exits 77 (skipped) when the CUDA backend
is not usable on this machine, 77 when the model file is missing. A failing
fp16 row also prints the model's fp16 storage floor (tests/fp16_floor.py):
the error of rounding only its weights (but the first layer's, which vidpipe
keeps in fp32) to fp16.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx

SIZES = {"resnet50": 224, "mobilenetv3": 224, "deeplabv3": 512}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16"])
    ap.add_argument("--tol", type=float, default=None)
    ap.add_argument("--layout", default="auto", choices=["auto", "nchw", "nhwc"],
                    help="the CUDA run's --layout (nhwc in fp32: channels-last convolutions and channel "
                         "slices through cuDNN's legacy API, checked at the fp32 tolerance)")
    args = ap.parse_args()
    tol = args.tol if args.tol is not None else (1e-4 if args.precision == "fp32" else 1e-2)
    path = os.path.join(args.models, args.model + ".onnx")
    if not os.path.exists(path):
        print(f"skip: {path} not found")
        return 77
    info = subprocess.run([args.vidpipe, "info", "--json"], capture_output=True, text=True)
    if '"cuda":"NVIDIA' not in info.stdout.replace(" ", "").replace("\n", ""):
        print("skip: CUDA backend not usable here:", info.stdout.strip()[-200:])
        return 77
    m = onnx.load(path, load_external_data=False)
    inp = m.graph.input[0]
    size = SIZES.get(args.model, 640)
    shape = [args.batch, 3, size, size]
    x = np.random.default_rng(1234).random(shape, dtype=np.float32)
    fails, worst = 0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "x.npy"), x)
        outs = {}
        for be, prec in (("cpu", "fp32"), ("cuda", args.precision)):
            od = os.path.join(tmp, be)
            lay = ["--layout", args.layout] if be == "cuda" else []
            r = subprocess.run([args.vidpipe, "infer", "--model", path, "--backend", be, "--precision", prec, *lay,
                                "--input", f"{inp.name}={tmp}/x.npy", "--outdir", od], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"model={args.model} batch={args.batch} {be}/{prec}: FAIL exit {r.returncode}: {r.stderr.strip()}")
                return 1
            outs[be] = od
        for o in m.graph.output:
            name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in o.name)
            a = np.load(os.path.join(outs["cuda"], name + ".npy")).astype(np.float64)
            b = np.load(os.path.join(outs["cpu"], name + ".npy")).astype(np.float64)
            finite = np.isfinite(a).all()
            rel = float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)) if a.shape == b.shape else float("inf")
            ok = a.shape == b.shape and finite and rel <= tol
            fails += not ok
            print(f"model={args.model} batch={args.batch} precision={args.precision} layout={args.layout} output={o.name} "
                  f"rel={rel:.3e} finite={finite} {'OK' if ok else 'FAIL'}")
            worst = max(worst, rel)
    if fails and args.precision == "fp16":
        # what FP16 storage alone costs this model (the failure stands; this says how far from it)
        try:
            sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
            import fp16_floor
            stem = os.environ.get("VIDPIPE_FP32_STEM") != "0"  # vidpipe keeps the first layer FP32 unless told
            fl = max(fp16_floor.floor(path, args.batch, size, stem))
            print(f"model={args.model} batch={args.batch}: fp16 storage floor rel={fl:.3e} (weights"
                  f"{' but the first layer' if stem else ' and input'} rounded to fp16, fp32 arithmetic, ONNX Runtime); "
                  f"this run {worst / max(fl, 1e-30):.2f}x the floor")
        except ImportError as e:
            print(f"(fp16 storage floor not computed: {e})")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
