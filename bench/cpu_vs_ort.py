#!/usr/bin/env python3
"""vidpipe's CPU backend against ONNX Runtime (CPU), same model, same shapes.

Usage:
    bench/cpu_vs_ort.py --vidpipe BIN --model M.onnx [--batch 1,8] [--threads T]
                        [--iters N] [--warmup W] [--size S]

For each batch size B it runs
    BIN bench --model M --backend cpu --batch B --iters N --threads T
              --warmup W --size SxS --json
which prints one JSON object per batch size on stdout (keys: batch, iters,
mean_ms, p50_ms, p99_ms, img_per_s), and times ONNX Runtime with
intra_op_num_threads=T, inter_op_num_threads=1, sequential execution, the
same input shape, W warm-up runs then N timed runs. Prints a table:

    batch | vidpipe p50 ms | ORT p50 ms | ratio (ORT/vidpipe: >1 means vidpipe is faster)

A vidpipe failure (exit status, no JSON, timeout) is printed and the table
shows '-' for it; ORT is still measured. Exit status 0, or 1 when nothing
could be measured at all.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# H=W used for dynamic spatial dims, by model file stem prefix
SIZES = {"resnet50": 224, "mobilenetv3": 224, "deeplabv3": 512}


def default_size(model: Path) -> int:
    stem = model.stem
    for k, v in SIZES.items():
        if stem.startswith(k):
            return v
    return 640


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return float("nan")
    k = max(0, min(len(sorted_ms) - 1, int(round(q / 100.0 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[k]


def run_vidpipe(binary: str, model: Path, batch: int, iters: int, threads: int, timeout: float,
                warmup: int, size: int) -> dict:
    # --warmup and --size keep both sides on the same work (vidpipe bench has both)
    cmd = [binary, "bench", "--model", str(model), "--backend", "cpu", "--batch", str(batch),
           "--iters", str(iters), "--threads", str(threads), "--warmup", str(warmup),
           "--size", f"{size}x{size}", "--json"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (FileNotFoundError, PermissionError) as e:
        return {"error": f"cannot run {binary}: {e.strerror or e}"}
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s: {' '.join(cmd)}"}
    if p.returncode != 0:
        tail = " / ".join((p.stderr or p.stdout or "").strip().splitlines()[-5:])
        return {"error": f"exit {p.returncode}: {' '.join(cmd)}: {tail}"}
    found = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "p50_ms" in obj:
            found.append(obj)
    for obj in found:
        if int(obj.get("batch", -1)) == batch:
            return obj
    if found:
        return found[-1]
    return {"error": f"no JSON result with p50_ms on stdout of: {' '.join(cmd)}"}


def run_ort(model: Path, batch: int, iters: int, warmup: int, threads: int, size: int, seed: int) -> dict:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    feeds = {}
    for i, inp in enumerate(sess.get_inputs()):
        shape = [batch] + [d if isinstance(d, int) and d > 0 else size for d in inp.shape[1:]]
        feeds[inp.name] = np.random.default_rng(seed + i).random(shape, dtype=np.float32)
    for _ in range(warmup):
        sess.run(None, feeds)
    ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    mean = statistics.fmean(ms)
    return {"batch": batch, "iters": iters, "mean_ms": mean, "p50_ms": percentile(ms, 50),
            "p99_ms": percentile(ms, 99), "img_per_s": batch * 1e3 / mean if mean > 0 else float("nan")}


def fmt(v, spec=".2f") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return format(v, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vidpipe", required=True, help="path to the vidpipe binary")
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--batch", default="1,8", help="comma-separated batch sizes (default 1,8)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3, help="ORT warm-up runs (default 3)")
    ap.add_argument("--size", type=int, default=0, help="H=W for dynamic spatial dims (default by model name)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per vidpipe run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-vidpipe", action="store_true", help="time ORT only")
    args = ap.parse_args()

    try:
        batches = [int(b) for b in args.batch.split(",") if b.strip()]
    except ValueError:
        ap.error(f"bad --batch {args.batch!r}")
    if not batches or min(batches) < 1 or args.iters < 1 or args.threads < 1:
        ap.error("batch sizes, --iters and --threads must be >= 1")
    if not args.model.is_file():
        print(f"error: {args.model} not found", file=sys.stderr)
        return 1
    size = args.size or default_size(args.model)

    import onnxruntime as ort

    print(f"# model={args.model} threads={args.threads} iters={args.iters} warmup={args.warmup} "
          f"size={size} onnxruntime={ort.__version__} cpus={os.cpu_count()}")
    rows = []
    for b in batches:
        vp = {"error": "skipped"} if args.skip_vidpipe else run_vidpipe(
            args.vidpipe, args.model.resolve(), b, args.iters, args.threads, args.timeout, args.warmup, size)
        if "error" in vp and not args.skip_vidpipe:
            print(f"# vidpipe batch={b}: {vp['error']}", file=sys.stderr)
        try:
            ref = run_ort(args.model, b, args.iters, args.warmup, args.threads, size, args.seed)
        except Exception as e:  # noqa: BLE001 - keep going with other batch sizes
            print(f"# ORT batch={b}: {e}", file=sys.stderr)
            ref = {"error": str(e)}
        rows.append((b, vp, ref))
        sys.stdout.flush()

    header = ["batch", "vidpipe p50 ms", "ORT p50 ms", "ratio ORT/vidpipe",
              "vidpipe mean ms", "ORT mean ms", "vidpipe img/s", "ORT img/s"]
    table = []
    measured = 0
    for b, vp, ref in rows:
        vp50, r50 = vp.get("p50_ms"), ref.get("p50_ms")
        measured += (vp50 is not None) + (r50 is not None)
        ratio = r50 / vp50 if (vp50 and r50) else None
        table.append([str(b), fmt(vp50), fmt(r50), fmt(ratio, ".3f"), fmt(vp.get("mean_ms")),
                      fmt(ref.get("mean_ms")), fmt(vp.get("img_per_s"), ".1f"), fmt(ref.get("img_per_s"), ".1f")])
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(header)]
    print(" | ".join(h.rjust(w) for h, w in zip(header, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in table:
        print(" | ".join(c.rjust(w) for c, w in zip(r, widths)))
    print("# ratio > 1 means vidpipe is faster")
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
