#!/usr/bin/env python3
"""Compare `vidpipe infer` against ONNX Runtime on one model and batch size.

Usage:
    tests/parity_ort.py --vidpipe BIN --models DIR --model NAME --batch B [--tol 1e-4]
    tests/parity_ort.py --self-check [--perturb 1e-3] --models DIR --model NAME --batch B

A seeded random input (uniform 0..1, float32) is written as .npy, ONNX
Runtime (CPU) gives the reference outputs, and
`BIN infer --model DIR/NAME.onnx --input NAME=FILE.npy --outdir OUT` must
write OUT/<output name>.npy for every graph output (names sanitised: any
character outside [A-Za-z0-9_.-] becomes '_'). For each output one line:

    model=NAME batch=B output=OUT rel=... maxabs=... OK|FAIL

with rel = ||vidpipe - ort||_2 / ||ort||_2. Exit status: 0 when every
output has the reference's shape, no NaN and rel <= tol; 1 otherwise; 77
(ctest's skip code, SKIP_RETURN_CODE) when DIR/NAME.onnx does not exist.

--self-check replaces vidpipe with a second ONNX Runtime session (graph
optimisations off) whose outputs go through the same .npy files; with
--perturb EPS relative noise of size EPS is added to them, which must FAIL
for EPS > tol: it shows the checker can fail.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SKIP = 77

# spatial size used when the model's H/W are dynamic (or to document the default)
DEFAULT_SIZES = {
    "resnet50": 224,
    "mobilenetv3": 224,
    "deeplabv3": 512,
}
YOLO_SIZE = 640


def sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def default_size(model: str) -> int:
    if model in DEFAULT_SIZES:
        return DEFAULT_SIZES[model]
    return YOLO_SIZE  # yolo*, and anything else with dynamic H/W


def input_shape(dims, batch: int, size: int) -> list[int]:
    """Concrete input shape: dim 0 is the batch, other dynamic dims use size."""
    shape = []
    for i, d in enumerate(dims):
        if i == 0:
            shape.append(batch)
        elif isinstance(d, int) and d > 0:
            shape.append(d)
        else:
            shape.append(size)
    return shape


def ort_session(path: Path, optimize: bool = True, threads: int = 0):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    if threads:
        so.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def compare(got: np.ndarray, ref: np.ndarray) -> tuple[float, float, str]:
    """Return (rel, maxabs, problem); problem is '' when comparable."""
    if got.shape != ref.shape:
        return float("inf"), float("inf"), f"shape {list(got.shape)} != reference {list(ref.shape)}"
    g = got.astype(np.float64)
    r = ref.astype(np.float64)
    if np.isnan(g).any():
        return float("nan"), float("nan"), f"{int(np.isnan(g).sum())} NaN value(s)"
    if not np.isfinite(r).all():
        return float("nan"), float("nan"), "reference has non-finite values"
    if not np.isfinite(g).all():
        return float("inf"), float("inf"), f"{int((~np.isfinite(g)).sum())} Inf value(s)"
    diff = g - r
    nref = float(np.linalg.norm(r))
    ndiff = float(np.linalg.norm(diff))
    rel = ndiff / nref if nref > 0 else ndiff
    maxabs = float(np.abs(diff).max()) if diff.size else 0.0
    return rel, maxabs, ""


def worst_channel_rel(got: np.ndarray, ref: np.ndarray) -> tuple[float, int]:
    """Largest per-channel (axis 1) relative error, ignoring near-zero channels."""
    if got.shape != ref.shape or ref.ndim < 2:
        return float("nan"), -1
    g = np.moveaxis(got.astype(np.float64), 1, 0).reshape(ref.shape[1], -1)
    r = np.moveaxis(ref.astype(np.float64), 1, 0).reshape(ref.shape[1], -1)
    nr = np.linalg.norm(r, axis=1)
    nd = np.linalg.norm(g - r, axis=1)
    floor = 1e-6 * max(float(nr.max()), 1e-30)
    rel = nd / np.maximum(nr, floor)
    i = int(np.argmax(rel))
    return float(rel[i]), i


def run_vidpipe(binary: str, model: Path, in_name: str, in_file: Path, outdir: Path, timeout: float,
                layout: str = "auto") -> str:
    """Run `vidpipe infer`; return '' on success or an error message."""
    cmd = [binary, "infer", "--model", str(model), "--input", f"{in_name}={in_file}", "--outdir", str(outdir),
           "--layout", layout]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return f"cannot run {binary}: not found"
    except PermissionError:
        return f"cannot run {binary}: permission denied"
    except subprocess.TimeoutExpired:
        return f"{' '.join(cmd)}: timed out after {timeout:.0f} s"
    if p.returncode != 0:
        tail = (p.stderr or p.stdout or "").strip().splitlines()[-15:]
        return f"{' '.join(cmd)}: exit {p.returncode}\n" + "\n".join("  | " + t for t in tail)
    return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vidpipe", help="path to the vidpipe binary")
    ap.add_argument("--models", required=True, type=Path, help="directory with <model>.onnx")
    ap.add_argument("--model", required=True, help="model name, e.g. yolov8n (file DIR/NAME.onnx)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--tol", type=float, default=1e-4, help="max relative L2 error (default 1e-4)")
    ap.add_argument("--size", type=int, default=0, help="H=W for dynamic spatial dims (default per model)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--layout", default="auto", choices=["auto", "nchw", "nhwc"],
                    help="vidpipe's --layout (nhwc exercises the channels-last rewrite on the CPU)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds allowed for vidpipe (default 600)")
    ap.add_argument("--keep", type=Path, help="keep input/outputs in this directory instead of a temp dir")
    ap.add_argument("--verbose", "-v", action="store_true", help="also print shapes and the worst channel")
    ap.add_argument("--self-check", action="store_true", help="compare ORT against ORT (no vidpipe)")
    ap.add_argument("--perturb", type=float, default=0.0, help="with --self-check: relative noise added")
    args = ap.parse_args()

    if not args.self_check and not args.vidpipe:
        ap.error("--vidpipe is required unless --self-check is given")
    if args.batch < 1:
        ap.error("--batch must be >= 1")

    model_path = args.models / f"{args.model}.onnx"
    if not model_path.is_file():
        print(f"SKIP: {model_path} not found (generate it with tools/gen_models.py)")
        return SKIP

    sess = ort_session(model_path)
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        print(f"FAIL: {model_path} has {len(inputs)} inputs; this test feeds exactly one")
        return 1
    inp = inputs[0]
    size = args.size or default_size(args.model)
    shape = input_shape(inp.shape, args.batch, size)
    x = np.random.default_rng(args.seed).random(shape, dtype=np.float32)

    tmp = None
    if args.keep:
        work = args.keep
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="vp_parity_")
        work = Path(tmp.name)
    try:
        in_file = work / f"{sanitize(inp.name)}.npy"
        np.save(in_file, x)
        outdir = work / "out"
        outdir.mkdir(exist_ok=True)
        for old in outdir.glob("*.npy"):
            old.unlink()

        out_names = [o.name for o in sess.get_outputs()]
        refs = dict(zip(out_names, sess.run(None, {inp.name: x})))

        if args.self_check:
            other = ort_session(model_path, optimize=False)
            cand = dict(zip(out_names, other.run(None, {inp.name: x})))
            rng = np.random.default_rng(args.seed + 1)
            for name, y in cand.items():
                if args.perturb:
                    noise = rng.standard_normal(y.shape)
                    scale = args.perturb * np.linalg.norm(y) / max(np.linalg.norm(noise), 1e-30)
                    y = (y + noise * scale).astype(y.dtype)
                np.save(outdir / f"{sanitize(name)}.npy", y)
            label = "self-check" + (f" perturb={args.perturb:g}" if args.perturb else "")
            err = ""
        else:
            label = "vidpipe"
            err = run_vidpipe(args.vidpipe, model_path.resolve(), inp.name, in_file.resolve(),
                              outdir.resolve(), args.timeout, args.layout)

        if args.verbose:
            print(f"# {label}: model={model_path} input={inp.name}{shape} tol={args.tol:g}")
        ok = True
        if err:
            print(f"model={args.model} batch={args.batch} vidpipe FAILED: {err}")
            ok = False
        for name in out_names:
            ref = refs[name]
            f = outdir / f"{sanitize(name)}.npy"
            if err:
                print(f"model={args.model} batch={args.batch} output={name} rel=nan maxabs=nan FAIL")
                continue
            if not f.is_file():
                print(f"model={args.model} batch={args.batch} output={name} rel=nan maxabs=nan FAIL"
                      f" (missing {f.name})")
                ok = False
                continue
            try:
                got = np.load(f, allow_pickle=False)
            except Exception as e:  # noqa: BLE001 - report any unreadable file as a failure
                print(f"model={args.model} batch={args.batch} output={name} rel=nan maxabs=nan FAIL"
                      f" (cannot read {f.name}: {e})")
                ok = False
                continue
            rel, maxabs, problem = compare(got, ref)
            passed = not problem and rel <= args.tol
            ok &= passed
            line = (f"model={args.model} batch={args.batch} output={name} rel={rel:.3e} "
                    f"maxabs={maxabs:.3e} {'OK' if passed else 'FAIL'}")
            if problem:
                line += f" ({problem})"
            print(line)
            if args.verbose and not problem:
                wc, ci = worst_channel_rel(got, ref)
                print(f"#   shape={list(ref.shape)} dtype={got.dtype} ref_norm={np.linalg.norm(ref):.4g} "
                      f"worst_channel={ci} channel_rel={wc:.3e}")
        sys.stdout.flush()
        return 0 if ok else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
