#!/usr/bin/env python3
"""vidpipe's CUDA engine (FP16) against PyTorch on the same GPU, in one run.

Usage:
    bench/cuda_vs_torch.py --vidpipe BIN --models DIR
        [--rows "yolov8n:1,8,32;yolov8s:32;deeplabv3:8"] [--iters N]
        [--modes eager,graph,compile] [--json FILE]

For each row (model, batch B):
  - PyTorch, FP16, channels_last, inference mode, the model built the way
    the ONNX file was (ultralytics DetectionModel from its yaml with Conv+BN
    fused as ultralytics' own export does; torchvision's constructor), input
    already on the GPU:
      eager    plain calls;
      graph    the eager forward captured once in a CUDA graph and replayed;
      compile  torch.compile(mode="reduce-overhead") (inductor + CUDA graphs);
  - vidpipe: BIN bench --model DIR/<model>.onnx --backend cuda --precision
    fp16 --io device --batch B --json: the same input shape, in the plan's
    own device buffers and in its own form (FP16, channels-last), as the
    GPU preprocessing writes it and as the PyTorch rows get it.
Weights are random in both (same architecture; timing does not depend on
the values). Each time is the mean over N runs after warm-up, measured with
CUDA events (PyTorch) and by vidpipe itself (wall clock around a synchronous
run). Prints a table with images/s and the ratios vidpipe/PyTorch (> 1:
vidpipe faster), and writes every number as JSON lines with --json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SIZES = {"deeplabv3": 512, "resnet50": 224, "mobilenetv3": 224}
YAML = {"yolov8n": "yolov8n.yaml", "yolov8s": "yolov8s.yaml", "yolo11n": "yolo11n.yaml", "yolo12n": "yolo12n.yaml"}


def build_torch(name: str):
    import torch

    if name in YAML:
        os.environ.setdefault("YOLO_OFFLINE", "1")
        from ultralytics.nn.tasks import DetectionModel

        m = DetectionModel(YAML[name], verbose=False)
        m = m.fuse(verbose=False)  # Conv+BN folded, as ultralytics' exports do
        for mod in m.modules():
            if hasattr(mod, "export"):
                mod.export = True  # one output tensor, as in the ONNX file
        return m.eval()
    import torchvision

    if name == "deeplabv3":
        net = torchvision.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=False)

        class OutOnly(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x):
                return self.m(x)["out"]

        return OutOnly(net).eval()
    ctor = {"resnet50": "resnet50", "mobilenetv3": "mobilenet_v3_large"}[name]
    return getattr(torchvision.models, ctor)(weights=None).eval()


def time_cuda(fn, iters: int, warmup: int) -> float:
    """Mean milliseconds per call of fn(), by CUDA events around iters calls."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(iters):
        fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / iters


def torch_times(name: str, batch: int, modes: list[str], iters: int) -> dict:
    import torch

    size = SIZES.get(name, 640)
    model = build_torch(name).cuda().half().to(memory_format=torch.channels_last)
    x = torch.rand(batch, 3, size, size, device="cuda").half().contiguous(memory_format=torch.channels_last)
    res = {}
    with torch.inference_mode():
        if "eager" in modes:
            res["eager"] = time_cuda(lambda: model(x), iters, 10)
        if "graph" in modes:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    model(x)
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                model(x)
            res["graph"] = time_cuda(g.replay, iters, 10)
            del g
    if "compile" in modes:
        t0 = time.time()
        cm = torch.compile(model, mode="reduce-overhead")
        with torch.inference_mode():
            for _ in range(3):
                cm(x)
            torch.cuda.synchronize()
            res["compile_s"] = time.time() - t0
            res["compile"] = time_cuda(lambda: cm(x), iters, 5)
    del model
    torch.cuda.empty_cache()
    return res


def vidpipe_time(binary: str, model: Path, batch: int, iters: int, extra: list[str]) -> dict:
    size = SIZES.get(model.stem, 640)
    cmd = [binary, "bench", "--model", str(model), "--backend", "cuda", "--precision", "fp16", "--io", "device",
           "--batch", str(batch), "--iters", str(iters), "--warmup", "10", "--size", f"{size}x{size}", "--json"] + extra
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return {"error": "timed out"}
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {p.returncode}: " + " | ".join(tail)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vidpipe", required=True)
    ap.add_argument("--models", required=True, type=Path)
    ap.add_argument("--rows", default="yolov8n:1,8,32;yolov8s:32;deeplabv3:8")
    ap.add_argument("--modes", default="eager,graph,compile")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("cuda_vs_torch: no CUDA device visible to PyTorch", file=sys.stderr)
        return 77
    modes = args.modes.split(",")
    print(f"# {torch.cuda.get_device_name(0)}, PyTorch {torch.__version__}, FP16, channels_last, "
          f"{args.iters} iterations per row")
    hdr = f"{'model':<10} {'batch':>5} {'vidpipe img/s':>14} {'p50 ms':>8} {'p99 ms':>8}"
    for m in modes:
        hdr += f" {('torch ' + m + ' img/s'):>22} {'ratio':>6}"
    print(hdr)
    out = open(args.json, "w") if args.json else None
    ok = True
    for row in args.rows.split(";"):
        name, batches = row.split(":")
        model = args.models / f"{name}.onnx"
        for b in (int(x) for x in batches.split(",")):
            vp = vidpipe_time(args.vidpipe, model, b, args.iters, []) if model.exists() else {"error": f"no {model}"}
            try:
                tt = torch_times(name, b, modes, args.iters)
            except Exception as ex:  # report the row, keep going
                tt = {"error": f"{type(ex).__name__}: {ex}"}
            line = f"{name:<10} {b:>5}"
            vms = vp.get("mean_ms")
            if vms:
                line += f" {b * 1000 / vms:>14.1f} {vp['p50_ms']:>8.3f} {vp['p99_ms']:>8.3f}"
            else:
                ok = False
                line += f" {'-':>14} {'-':>8} {'-':>8}"
            for m in modes:
                t = tt.get(m)
                if t:
                    line += f" {b * 1000 / t:>22.1f} {(t / vms if vms else float('nan')):>6.2f}"
                else:
                    line += f" {'-':>22} {'-':>6}"
            print(line, flush=True)
            for err in (vp.get("error"), tt.get("error")):
                if err:
                    print(f"  ! {name} b{b}: {err}", flush=True)
            if out:
                out.write(json.dumps({"model": name, "batch": b, "vidpipe": vp, "torch_ms": tt}) + "\n")
    if out:
        out.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
