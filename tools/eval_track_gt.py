#!/usr/bin/env python3
"""Tracking accuracy with and without appearance features, isolated from
the detector: the ground-truth boxes of a generated video (objects not
marked ignore, score 0.9, every frame) go through vidpipe's tracker
(vp_track_test --replay), once by IoU only and once with embeddings of the
appearance model (assets/reid.onnx through ONNX Runtime, on crops made as
vidpipe makes them: tools/train_reid.py's crop()), and tools/eval.py scores
both (IDF1, ID switches, MOTA).

With perfect boxes this measures only association: it is the upper bound
of what ReID can change, not the pipeline's end-to-end score.

    tools/eval_track_gt.py --video DIR/vid000.mp4 --gt DIR/vid000.gt.jsonl
                           --tool build/tests/vision/vp_track_test
                           [--model assets/reid.onnx] [--jitter 0.05] [--min-vis 0]

--jitter: each box corner moved by up to this fraction of the box size
(uniform, seeded), so IoU is not trivially perfect.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", required=True)
    ap.add_argument("--gt", required=True)
    ap.add_argument("--tool", required=True)
    ap.add_argument("--model", default=os.path.join(ROOT, "assets", "reid.onnx"))
    ap.add_argument("--jitter", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-vis", type=float, default=0.0,
                    help="also leave out objects less visible than this (a detector that misses occluded objects)")
    a = ap.parse_args()
    import cv2
    import onnxruntime as ort
    import eval as ev
    from train_reid import crop

    sess = ort.InferenceSession(a.model)
    ih, iw = sess.get_inputs()[0].shape[2:4]
    rng = np.random.default_rng(a.seed)
    gts = [json.loads(l) for l in open(a.gt)]
    cap = cv2.VideoCapture(a.video)
    frames = []
    for g in gts:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        boxes = []
        for o in g["objects"]:
            if o["ignore"] or o["visibility"] < a.min_vis:
                continue
            b = np.array(o["box"], dtype=np.float64)
            w, h = b[2] - b[0], b[3] - b[1]
            b = b + rng.uniform(-a.jitter, a.jitter, 4) * np.array([w, h, w, h])
            boxes.append((b, o["cls"]))
        emb = np.zeros((len(boxes), 0), np.float32)
        if boxes:
            x = np.stack([crop(cv2, rgb, b, iw, ih) for b, _ in boxes]).transpose(0, 3, 1, 2).astype(np.float32) / 255
            emb = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        frames.append((g["frame"], boxes, emb))
    res = {}
    for mode, dim, fusion in [("iou", 0, 0), ("reid-botsort", emb.shape[1], 1), ("reid-weighted", emb.shape[1], 0)]:
        lines = [f"{dim} {fusion}"]
        for f, boxes, e in frames:
            lines.append(f"F {f + 1} {len(boxes)}")
            for i, (b, c) in enumerate(boxes):
                lines.append(" ".join(f"{v:.3f}" for v in b) + f" 0.9 {c}" +
                             ("".join(f" {v:.6g}" for v in e[i]) if dim else ""))
        r = subprocess.run([a.tool, "--replay"], input="\n".join(lines) + "\n", capture_output=True, text=True,
                           check=True)
        ids = {int(l.split()[0]) - 1: [int(v) for v in l.split()[1:]] for l in r.stdout.splitlines()}
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as out:
            for f, boxes, _ in frames:
                dets = [{"box": [round(float(v), 2) for v in b], "cls": c, "score": 0.9, "track_id": t}
                        for (b, c), t in zip(boxes, ids[f]) if t]
                out.write(json.dumps({"stream": "v", "frame": f, "detections": dets}) + "\n")
        r = ev.evaluate(out.name, [a.gt])
        os.unlink(out.name)
        t = r["tracking"]
        res[mode] = {k: t[k] for k in ("IDF1", "IDSW", "MOTA", "FP", "FN")}
        print(f"{mode:14s} " + "  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in res[mode].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
