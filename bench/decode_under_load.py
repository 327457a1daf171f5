#!/usr/bin/env python3
"""NVDEC decode throughput alone and while the same GPU runs inference.

Usage (on the GPU machine):
    bench/decode_under_load.py --vidpipe BIN --model yolov8n.onnx --video 1080p30.h264
        [--streams 1,16] [--seconds 4] [--batch 32] [--json FILE]

The pipeline decodes while its engine runs; the decode-only ceiling
(`vidpipe decode-bench --hw nvdec`) decodes on an idle GPU. This measures
the difference: per stream count, decode-bench alone, then decode-bench
while another process runs `vidpipe bench --backend cuda --precision fp16
--batch B` back to back (the GPU's SMs 100 % busy, more than the
pipeline's engine ever is). Prints frames/s and host CPU ms per frame of
both and their ratio: a ratio near 1 means NVDEC and inference do not
compete; a low one means the decoder's mapping (its post-processing runs
on the GPU) waits behind inference kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def decode_bench(a, streams: str) -> list[dict]:
    out = subprocess.run([a.vidpipe, "decode-bench", "--hw", "nvdec", "--streams", streams,
                          "--seconds", str(a.seconds), "--json", a.video],
                         capture_output=True, text=True, timeout=600)
    if out.returncode:
        sys.exit(f"decode-bench failed (exit {out.returncode}): {out.stderr.strip()[-400:]}")
    return [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vidpipe", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--video", required=True)
    ap.add_argument("--streams", default="1,16")
    ap.add_argument("--seconds", type=float, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--json")
    a = ap.parse_args()

    bench = [a.vidpipe, "bench", "--backend", "cuda", "--precision", "fp16", "--model", a.model,
             "--batch", str(a.batch)]
    # once, to build the plan and fill the plan cache (the loaded run starts fast)
    r = subprocess.run(bench + ["--iters", "20", "--json"], capture_output=True, text=True, timeout=600)
    if r.returncode:
        sys.exit(f"vidpipe bench failed (exit {r.returncode}): {r.stderr.strip()[-400:]}")
    alone = decode_bench(a, a.streams)
    load = subprocess.Popen(bench + ["--iters", "1000000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(8)  # the plan from the cache, warm-up
        if load.poll() is not None:
            sys.exit(f"the inference load ended early (exit {load.returncode}): {load.stderr.read()[-400:]}")
        loaded = decode_bench(a, a.streams)
        if load.poll() is not None:
            sys.exit("the inference load ended before the decode runs did: the loaded rows are not loaded")
    finally:
        load.kill()
        load.wait()

    rows = []
    print(f"| streams | decode alone fps | cpu ms/f | decode under inference fps | cpu ms/f | ratio |")
    print("|---|---|---|---|---|---|")
    for x, y in zip(alone, loaded):
        ratio = y["fps"] / x["fps"] if x["fps"] else 0
        rows.append({"streams": x["streams"], "alone": x, "loaded": y, "ratio": ratio})
        print(f"| {x['streams']} | {x['fps']:,.0f} | {x['cpu_ms_per_frame']:.3f} | {y['fps']:,.0f} |"
              f" {y['cpu_ms_per_frame']:.3f} | {ratio:.2f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
