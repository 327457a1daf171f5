#!/usr/bin/env python3
"""vidpipe's whole pipeline against the Python loop it replaces, in one run.

Usage (on the GPU machine):
    bench/pipeline_vs_python.py --vidpipe BIN --model yolov8n.onnx --video 1080p30.h264
        [--mp4 1080p30.mp4] [--streams 1,16,32,64] [--batch 32] [--inflight N] [--frames-per-stream 3000]
        [--json FILE]

Rows, all on the same file (1080p30 H.264):
  python   the source documents' "legacy pipeline", one stream: OpenCV
           decode (cv2.VideoCapture, its bundled FFmpeg, CPU), letterbox to
           640 with cv2/numpy, host->device copy, the same YOLOv8n
           architecture in PyTorch FP16 (ultralytics DetectionModel, Conv+BN
           fused, random weights), ultralytics' NMS (torchvision), boxes
           back to the host. Frames/s and host CPU ms per frame
           (process CPU time / frames).
  nvdec    the decode-only ceiling: `vidpipe decode-bench --hw nvdec` with
           the same stream counts (one NVDEC decoder per thread, shared
           context).
  vidpipe  `vidpipe run` with N copies of the file (each looped), NVDEC,
           GPU preprocessing, CUDA FP16 engine, GPU post-processing, no
           sink: end-to-end frames/s, streams in real time (frames/s / 30),
           host CPU ms per frame (by thread too), host<->device bytes per
           frame, latency packet -> result p50/p99. Frames/s and CPU are the
           steady state's (from every stream's first result to the first
           stream's end), as the NVDEC ceiling is measured; the whole run's
           come in the JSON rows.
  latency  one stream paced at its frame rate (sources[].realtime) in
           latency mode: p50/p99 from packet to result.
Ratios: vidpipe frames/s over the Python loop's and over the NVDEC ceiling
at the same stream count.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def python_loop(mp4: str, frames: int) -> dict:
    import cv2
    import numpy as np
    import torch

    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import nms as unms

    dev = torch.device("cuda")
    m = DetectionModel("yolov8n.yaml", verbose=False).fuse(verbose=False).to(dev).half().eval()
    m = m.to(memory_format=torch.channels_last)

    def letterbox(img, size=640):
        h, w = img.shape[:2]
        r = min(size / h, size / w)
        nw, nh = round(w * r), round(h * r)
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
        top, left = (size - nh) // 2, (size - nw) // 2
        return cv2.copyMakeBorder(img, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT,
                                  value=(114, 114, 114))

    def one_pass(n):
        cap = cv2.VideoCapture(mp4)
        done = 0
        with torch.inference_mode():
            while done < n:
                ok, frame = cap.read()
                if not ok:
                    cap.release()
                    cap = cv2.VideoCapture(mp4)
                    continue
                x = letterbox(frame)[:, :, ::-1].transpose(2, 0, 1)
                x = torch.from_numpy(np.ascontiguousarray(x)).to(dev).half().div_(255).unsqueeze(0)
                x = x.contiguous(memory_format=torch.channels_last)
                pred = m(x)
                pred = pred[0] if isinstance(pred, (list, tuple)) else pred
                det = unms.non_max_suppression(pred.float(), conf_thres=0.25, iou_thres=0.45, max_det=300)[0]
                det.cpu()
                done += 1
        cap.release()

    one_pass(20)  # warm-up: cuDNN autotune, lazy loading
    t0, c0 = time.perf_counter(), time.process_time()
    one_pass(frames)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"fps": frames / wall, "cpu_ms_per_frame": cpu * 1e3 / frames, "frames": frames}


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr[-1500:]}")
    return r


def vidpipe_run(a, n, tmp, loop, mode="throughput", realtime=False, batch=None, video=None):
    cfg = {
        "sources": [{"id": f"s{i}", "uri": video or a.video, "loop": loop, **({"realtime": True} if realtime else {})}
                    for i in range(n)],
        "decode": {"hw": "nvdec"},
        "model": {"path": a.model, "backend": "cuda", "precision": "fp16"},
        "batch": {"max": batch or a.batch, "timeout_ms": a.timeout_ms, "mode": mode,
                  "queue_frames": a.queue},
    }
    if mode == "latency":
        cfg["batch"] = {"max": 2, "mode": "latency"}
    if a.inflight:
        cfg["batch"]["inflight"] = a.inflight
    path = os.path.join(tmp, f"run{n}.json")
    json.dump(cfg, open(path, "w"))
    stats = os.path.join(tmp, f"stats{n}.json")
    run_json([a.vidpipe, "run", "--config", path, "--stats", stats, "--quiet"])
    return json.load(open(stats))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--video", required=True, help="1080p30 H.264 (Annex-B or container)")
    ap.add_argument("--mp4", help="the same stream in a container for OpenCV (default: --video)")
    ap.add_argument("--latency-video", help="stream for the latency row, as cameras send (no B-frames; default --video)")
    ap.add_argument("--streams", default="1,16,32,64")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--timeout-ms", type=float, default=10)
    ap.add_argument("--queue", type=int, default=4)
    ap.add_argument("--inflight", type=int, default=0,
                    help="batch.inflight of the vidpipe runs (1 = one batch at a time); 0 = the default (2)")
    # each stream decodes this many frames (the file looped): long enough
    # that the start (NVDEC decoders are created one after another, ~60 ms
    # each, so the 16th stream starts ~1 s after the first) is a small part
    # of the run; with 300, 16 streams ran ~2 s and never all at once
    ap.add_argument("--frames-per-stream", type=int, default=3000)
    ap.add_argument("--python-frames", type=int, default=300)
    ap.add_argument("--skip-python", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    streams = [int(x) for x in a.streams.split(",")]
    rows = []
    out = open(a.json, "w") if a.json else None

    def emit(row):
        rows.append(row)
        print(json.dumps(row), flush=True)
        if out:
            out.write(json.dumps(row) + "\n")
            out.flush()

    # frames in one pass of the file, for the loop count
    probe = subprocess.run([a.vidpipe, "decode", "--hw", "nvdec", a.video], capture_output=True, text=True)
    per_pass = sum(1 for _ in probe.stdout.splitlines()) or 50
    r = subprocess.run([a.vidpipe, "decode", "--hw", "nvdec", "--md5", a.video], capture_output=True, text=True)
    per_pass = len([l for l in r.stdout.splitlines() if l.startswith("frame ")]) or per_pass
    loop = max(0, -(-a.frames_per_stream // per_pass) - 1)

    py = None
    if not a.skip_python:
        try:
            py = python_loop(a.mp4 or a.video, a.python_frames)
            emit({"row": "python", **py})
        except Exception as e:  # a missing module is a missing row, not a failed benchmark
            print(f"python loop not measured: {e}", file=sys.stderr)

    dec = run_json([a.vidpipe, "decode-bench", "--hw", "nvdec", "--streams", a.streams, "--seconds", "4", "--json",
                    a.video])
    ceiling = {}
    for line in dec.stdout.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if "streams" in d and "fps" in d:
            ceiling[int(d["streams"])] = d
            emit({"row": "nvdec", **d})

    with tempfile.TemporaryDirectory() as tmp:
        for n in streams:
            try:
                st = vidpipe_run(a, n, tmp, loop)
            except RuntimeError as e:
                print(f"vidpipe row for {n} streams not measured: {e}", file=sys.stderr)
                continue
            # frames/s and CPU per frame of the steady state (every stream
            # running), as decode-bench measures the ceiling: the start
            # (NVDEC decoders made one after another) and the tail (streams
            # ending) stay out; the whole run's figures come along
            w = st.get("steady") or {}
            fps = w.get("fps") or st["fps"]
            row = {"row": "vidpipe", "streams": n, "fps": fps, "realtime_streams": fps / 30.0,
                   "cpu_ms_per_frame": w.get("cpu_ms_per_frame") or st["cpu_ms_per_frame"],
                   "fps_run": st["fps"], "cpu_ms_per_frame_run": st["cpu_ms_per_frame"],
                   "steady_s": w.get("wall_s"), "wall_s": st["wall_s"],
                   "copy_bytes_per_frame": st["copy_bytes_per_frame"],
                   "mean_batch": st["mean_batch"],
                   "latency_p50_ms": max(s["latency_p50_ms"] for s in st["streams"]),
                   "latency_p99_ms": max(s["latency_p99_ms"] for s in st["streams"]),
                   "dropped": sum(s["dropped"] for s in st["streams"]), "frames": st["frames"],
                   "stage_mean_ms": {k: round(v["mean"], 3) for k, v in st["stages_ms"].items()},
                   "cpu_ms_by_thread": {k: round(v, 4) for k, v in
                                        (w.get("cpu_ms_per_frame_by_thread") or
                                         st.get("cpu_ms_per_frame_by_thread", {})).items()}}
            if n in ceiling:
                row["vs_nvdec_ceiling"] = fps / ceiling[n]["fps"]
            if py:
                row["vs_python"] = fps / py["fps"]
            emit(row)
        try:
            st = vidpipe_run(a, 1, tmp, 0, mode="latency", realtime=True, video=a.latency_video)
            emit({"row": "latency", "streams": 1, "fps": st["fps"],
                  "latency_p50_ms": st["streams"][0]["latency_p50_ms"],
                  "latency_p99_ms": st["streams"][0]["latency_p99_ms"], "cpu_ms_per_frame": st["cpu_ms_per_frame"]})
        except RuntimeError as e:
            print(f"latency row not measured: {e}", file=sys.stderr)

    print("\nvidpipe rows: frames/s and host CPU of the steady state (every stream running; the whole run's in "
          "the JSON rows as fps_run, cpu_ms_per_frame_run), as the NVDEC ceiling is measured")
    print("\n| row | streams | frames/s | real-time 30 fps streams | host CPU ms/frame | bytes/frame | p50 / p99 ms "
          "| vs NVDEC ceiling | vs Python |")
    print("|---|---|---|---|---|---|---|---|---|")
    def cell(r: dict, key: str, spec: str, alt: str = "") -> str:
        v = r.get(key, r.get(alt) if alt else None)  # "-": not measured for this row
        return "-" if v is None else format(v, spec)

    for r in rows:
        lat = ("-" if "latency_p50_ms" not in r else
               f"{r['latency_p50_ms']:.2f} / {r.get('latency_p99_ms', float('nan')):.2f}")
        print(f"| {r['row']} | {r.get('streams', 1)} | {cell(r, 'fps', ',.0f')} | {cell(r, 'realtime_streams', '.1f')} | "
              f"{cell(r, 'cpu_ms_per_frame', '.3f', 'cpu_ms')} | {cell(r, 'copy_bytes_per_frame', '.0f')} | {lat} | "
              f"{cell(r, 'vs_nvdec_ceiling', '.2f')} | {cell(r, 'vs_python', '.1f')} |")
    # where vidpipe's host CPU goes, by thread, next to the decode-only
    # ceiling's (every NVDEC client's floor) at the same stream count
    split = [r for r in rows if r["row"] == "vidpipe" and r.get("cpu_ms_by_thread")]
    if split:
        print("\n| streams | vidpipe host CPU ms/frame (steady) | sources | infer | results | other (driver, NVDEC) "
              "| decode-only ceiling |")
        print("|---|---|---|---|---|---|---|")
        for r in split:
            t, c = r["cpu_ms_by_thread"], ceiling.get(r["streams"], {})
            print(f"| {r['streams']} | {r['cpu_ms_per_frame']:.3f} | {t['sources']:.3f} | {t['infer']:.3f} | "
                  f"{t['results']:.3f} | {t['other']:.3f} | {cell(c, 'cpu_ms_per_frame', '.3f', 'cpu_ms')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
