#!/usr/bin/env python3
"""vidpipe run with tracker.reid on the CPU path (assets/reid.onnx on crops
of the detections), on a short generated video (tools/gen_dataset.py):

  - the run succeeds (exit 0), every frame has a result line, detections
    carry track ids, the statistics have a "reid" stage with one entry per
    batch, and the result is the same on a second run (deterministic);
  - a missing ReID model and a model whose output is not [N,D] (the
    detector itself) are one clear error line each and exit 2, before any
    frame; tracker.reid.model without tracker.enabled fails vidpipe check.

The detector is the test models' yolov8n (random weights: what it finds is
noise, which is plenty of boxes to crop; accuracy is tools/eval.py's
business). Exit 0 pass, 1 fail, 77 when the model or ffmpeg is missing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    ap.add_argument("--models", required=True)
    a = ap.parse_args()
    det = os.path.join(a.models, "yolov8n.onnx")
    reid = os.path.join(ROOT, "assets", "reid.onnx")
    if not os.path.exists(det) or not shutil.which("ffmpeg"):
        print(f"SKIP: needs {det} (tools/gen_models.py) and ffmpeg")
        return 77
    fails = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_dataset.py"), "--out", tmp, "--seed", "1000",
                        "--videos", "1", "--frames", "24", "--size", "320x192"], check=True, stdout=subprocess.DEVNULL)

        def cfg(name, reid_model, track=True, extra=None):
            c = {"sources": [{"id": "v", "uri": os.path.join(tmp, "vid000.mp4")}],
                 "model": {"path": det, "backend": "cpu", "conf_threshold": 0.05, "max_det": 40},
                 "tracker": {"enabled": track, "high_thresh": 0.1, "low_thresh": 0.05, "new_track_thresh": 0.1,
                             "reid": {"model": reid_model, **(extra or {})}},
                 "batch": {"max": 4},
                 "sinks": [{"type": "jsonl", "path": os.path.join(tmp, name + ".jsonl")}]}
            p = os.path.join(tmp, name + ".json")
            json.dump(c, open(p, "w"))
            return p

        def run(p, stats=None):
            args = [a.vidpipe, "run", "--config", p] + (["--stats", stats] if stats else [])
            return subprocess.run(args, capture_output=True, text=True, timeout=300)

        outs = []
        for k in range(2):
            st = os.path.join(tmp, f"stats{k}.json")
            r = run(cfg(f"ok{k}", reid), st)
            if r.returncode:
                fails.append(f"run {k}: exit {r.returncode}: {r.stderr[-800:]}")
                continue
            lines = [json.loads(l) for l in open(os.path.join(tmp, f"ok{k}.jsonl"))]
            ids = {d["track_id"] for l in lines for d in l.get("detections", []) if d.get("track_id")}
            ndet = sum(len(l.get("detections", [])) for l in lines)
            if len(lines) != 24:
                fails.append(f"run {k}: {len(lines)} result lines, expected 24")
            if not ndet or not ids:
                fails.append(f"run {k}: {ndet} detections, {len(ids)} track ids: nothing was tracked")
            s = json.load(open(st))
            rs = s.get("stages_ms", {}).get("reid", {})
            if not rs or rs.get("n", 0) != s.get("batches"):
                fails.append(f"run {k}: reid stage {rs}, batches {s.get('batches')}")
            print(f"reid_run: run {k}: {len(lines)} frames, {ndet} detections, {len(ids)} track ids, "
                  f"reid stage mean {rs.get('mean', 0):.2f} ms per batch")
            outs.append([(l["frame"], [(d["box"], d.get("track_id")) for d in l.get("detections", [])])
                         for l in sorted(lines, key=lambda l: l["frame"])])
        if len(outs) == 2 and outs[0] != outs[1]:
            fails.append("two runs gave different results")
        for name, model, extra, want in [("missing", os.path.join(tmp, "nope.onnx"), None, "cannot open"),
                                         ("shape", det, {"input": {"width": 64, "height": 64}}, "expected float embeddings")]:
            r = run(cfg(name, model, extra=extra))
            errs = [l for l in r.stderr.splitlines() if l.startswith("vidpipe:")]
            if r.returncode != 2 or len(errs) != 1 or want not in errs[0] or "tracker.reid.model" not in errs[0]:
                fails.append(f"bad model ({name}): exit {r.returncode}, error lines {errs}")
            if os.path.exists(os.path.join(tmp, name + ".jsonl")) and os.path.getsize(os.path.join(tmp, name + ".jsonl")):
                fails.append(f"bad model ({name}): results were written")
            print(f"reid_run: bad model ({name}): exit {r.returncode}: {errs[0] if errs else ''}")
        r = subprocess.run([a.vidpipe, "check", cfg("notrack", reid, track=False)], capture_output=True, text=True)
        if r.returncode != 2 or "$.tracker.reid.model" not in r.stderr + r.stdout:
            fails.append(f"check without tracker.enabled: exit {r.returncode}: {r.stderr + r.stdout}")
    for f in fails:
        print("FAIL:", f)
    print("reid_run: " + ("all checks passed" if not fails else f"{len(fails)} checks FAILED"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
