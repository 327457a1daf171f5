#!/usr/bin/env python3
"""The CPU post-processing (src/vision/postprocess.c, through vp_post_tool)
against independent implementations.

(a) Real model outputs. ONNX Runtime runs the generated models (random
    weights, calibrated heads: tools/gen_models.py) on two video frames
    letterboxed with ultralytics' LetterBox (batch 2):
      * yolov8n (detect), yolo11n-pose, yolo11n-seg through ultralytics'
        non_max_suppression (ultralytics.utils.nms) with the same conf, iou,
        max_det, and max_nms = max_candidates (so that both keep the same
        top-k before NMS); class-aware, agnostic and multi_label;
      * the same candidates through torchvision.ops.nms class by class, with
        no coordinate offset (ultralytics offsets boxes by class * 7680 px,
        which rounds coordinates to 1/16 px in float32 and can move an IoU
        across the threshold; the per-class reference has vidpipe's exact
        arithmetic, so the sets must be identical).
    Expected: the same set of detections (matched by equal class and IoU >
    0.99), boxes within 1e-3 px, scores within 1e-5, keypoints / mask
    coefficients equal to the model output's values (1e-5), the same count.
    Masks (segment) vs ultralytics' process_mask and vs numpy
    (sigmoid(coefs @ protos) > 0.5 inside the box scaled to prototype
    pixels, float64): pixels whose logit is within 1e-4 of 0 are not
    compared (the summation order decides them); everything else must agree.
    deeplabv3: per-pixel argmax vs numpy.argmax (float32, exact).
(b) Hand-computed small cases through .npy files written here: IoU just
    above / below the threshold, equal scores (order by anchor), class-aware
    vs class-agnostic, the v5 layout with objectness, multi_label, max_det
    and max_candidates truncation, a score exactly at the threshold
    (excluded), an empty result, float16 input, keypoint and coefficient
    copies, the NULL-scratch path, and bad parameters (one line, exit 2).
(c) Negative controls: the comparison must report a box moved by 0.01 px,
    a dropped detection and a flipped mask pixel, so it is shown able to fail.

Exit: 0 pass, 1 fail, 77 skipped (a Python module or model file missing,
named in the message).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77
FAILS: list[str] = []


def check(cond: bool, what: str) -> bool:
    if not cond:
        FAILS.append(what)
        print(f"FAIL: {what}")
    return cond


def skip(msg: str) -> None:
    if FAILS:  # checks that could run failed: that is a failure, not a skip
        print(f"{len(FAILS)} failure(s); then skipped the rest: {msg}")
        sys.exit(1)
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


try:
    import numpy as np
except ImportError:
    skip("numpy is not installed")


class Tool:
    def __init__(self, path: str, tmp: str):
        self.path, self.tmp, self.n = path, tmp, 0

    def save(self, arr) -> str:
        self.n += 1
        p = os.path.join(self.tmp, f"in{self.n}.npy")
        np.save(p, np.ascontiguousarray(arr))
        return p

    def run(self, pred, *args, protos=None, masks=False, in_size=None, expect_rc=0):
        """Runs `vp_post_tool run`; returns (json, masks or None) or, for
        expect_rc != 0, the completed process."""
        cmd = [self.path, "run", "--pred", pred if isinstance(pred, str) else self.save(pred)]
        if protos is not None:
            cmd += ["--protos", self.save(protos)]
        mpath = None
        if masks:
            mpath = os.path.join(self.tmp, f"masks{self.n}.npy")
            cmd += ["--masks", mpath, "--in-size", f"{in_size[0]}x{in_size[1]}"]
        cmd += [str(a) for a in args]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if expect_rc:
            return r
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} -> {r.returncode}: {r.stderr.strip()}")
        return json.loads(r.stdout), (np.load(mpath) if mpath else None)

    def semseg(self, logits):
        out = os.path.join(self.tmp, "semseg.npy")
        r = subprocess.run([self.path, "semseg", "--logits", self.save(logits), "--out", out],
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(r.stderr)
        return np.load(out)


# ----------------------------------------------------------------- matching

def iou_matrix(a, b):
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)
    uni = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(uni > 0, inter / np.where(uni > 0, uni, 1), 0)


def compare(name, got, ref, extra_key=None, box_tol=1e-3, score_tol=1e-5, quiet=False):
    """got: the tool's list of dicts; ref: rows (x0,y0,x1,y1,score,cls,extra...).
    Returns a list of problems (empty: same set); also the max deviations."""
    probs = []
    dev = {"box": 0.0, "score": 0.0, "extra": 0.0}
    ref = np.asarray(ref, np.float64).reshape(len(ref), -1) if len(ref) else np.zeros((0, 6))
    if len(got) != len(ref):
        probs.append(f"{name}: {len(got)} detections, reference {len(ref)}")
    gb = np.array([d["box"] for d in got], np.float64).reshape(-1, 4)
    gc = np.array([d["cls"] for d in got], np.int64)
    used = np.zeros(len(got), bool)
    ious = iou_matrix(ref[:, :4], gb) if len(ref) and len(got) else np.zeros((len(ref), len(got)))
    for i, r in enumerate(ref):
        cand = np.where((gc == int(r[5])) & (ious[i] > 0.99) & ~used)[0] if len(got) else []
        if not len(cand):
            probs.append(f"{name}: reference detection {np.round(r[:6], 3).tolist()} has no match")
            continue
        j = cand[np.argmax(ious[i, cand])]
        used[j] = True
        db = float(np.abs(gb[j] - r[:4]).max())
        ds = abs(got[j]["score"] - r[4])
        dev["box"], dev["score"] = max(dev["box"], db), max(dev["score"], ds)
        if db > box_tol or ds > score_tol:
            probs.append(f"{name}: detection {j}: box {gb[j].tolist()} vs {r[:4].tolist()}, "
                         f"score {got[j]['score']} vs {r[4]}")
        if extra_key:
            de = float(np.abs(np.asarray(got[j][extra_key]) - r[6:]).max())
            dev["extra"] = max(dev["extra"], de)
            if de > 1e-5:
                probs.append(f"{name}: detection {j}: {extra_key} differ by {de}")
    for j in np.where(~used)[0]:
        probs.append(f"{name}: tool detection {got[j]['box']} cls {got[j]['cls']} has no reference")
    if not quiet:
        for p in probs[:10]:
            print("   ", p)
    return probs, dev


# ----------------------------------------------------------------- (b) hand-made cases

def v8(boxes, scores, extra=None, dtype=np.float32):
    """One image, V8 layout [1, 4 + nc + extra, A] from per-anchor rows."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    s = np.asarray(scores, np.float64).reshape(len(b), -1)
    cols = [b, s] + ([np.asarray(extra, np.float64).reshape(len(b), -1)] if extra is not None else [])
    return np.concatenate(cols, 1).T[None].astype(dtype)


def dets(js, img=0):
    return js["images"][img]


def anchors(js, img=0):
    return [d["anchor"] for d in dets(js, img)]


def hand_cases(tool: Tool):
    print("(b) hand-computed cases")
    V8 = ["--layout", "v8"]
    # IoU of [0,0,100,100] and the same box shifted by x: (100-x)/(100+x);
    # x = 37 -> 0.4599 (> 0.45: suppressed), x = 39 -> 0.4388 (kept).
    for x, kept in ((37.0, [0]), (39.0, [0, 1])):
        js, _ = tool.run(v8([[50, 50, 100, 100], [50 + x, 50, 100, 100]], [[0.9], [0.8]]), *V8)
        check(anchors(js) == kept, f"IoU case shift {x}: kept {anchors(js)}, expected {kept}")
    # threshold exactly at the IoU: 63/137 in float32 -> not '> iou', kept
    iou = np.float32(63.0) / np.float32(137.0)
    js, _ = tool.run(v8([[50, 50, 100, 100], [87, 50, 100, 100]], [[0.9], [0.8]]), *V8, "--iou", repr(float(iou)))
    check(anchors(js) == [0, 1], f"IoU equal to the threshold must not suppress: {anchors(js)}")
    # equal scores: order by anchor. Anchor 1 and 2 overlap fully with the
    # same score: 1 is kept (lower anchor), 2 dropped; anchor 0 (disjoint,
    # same score) comes first.
    js, _ = tool.run(v8([[500, 500, 10, 10], [50, 50, 20, 20], [50, 50, 20, 20]], [[0.7], [0.7], [0.7]]), *V8)
    check(anchors(js) == [0, 1], f"equal scores: anchors {anchors(js)}, expected [0, 1]")
    js, _ = tool.run(v8([[50, 50, 20, 20], [500, 500, 10, 10], [50, 50, 20, 20]], [[0.7], [0.7], [0.7]]), *V8)
    check(anchors(js) == [0, 1], f"equal scores (2): anchors {anchors(js)}, expected [0, 1]")
    # class-aware vs agnostic: two overlapping boxes of different classes
    case = v8([[50, 50, 20, 20], [52, 50, 20, 20]], [[0.9, 0.1], [0.1, 0.8]])
    js, _ = tool.run(case, *V8)
    check([(d["anchor"], d["cls"]) for d in dets(js)] == [(0, 0), (1, 1)], f"class-aware: {dets(js)}")
    js, _ = tool.run(case, *V8, "--agnostic")
    check([(d["anchor"], d["cls"]) for d in dets(js)] == [(0, 0)], f"agnostic: {dets(js)}")
    # first maximal class wins
    js, _ = tool.run(v8([[50, 50, 20, 20]], [[0.3, 0.6, 0.6]]), *V8)
    check([d["cls"] for d in dets(js)] == [1], f"first maximal class: {dets(js)}")
    # multi_label: anchor 0 has classes 0 (0.9) and 2 (0.5) above 0.25, anchor
    # 1 (disjoint) class 1 at 0.5: order score desc, then anchor, then class
    ml = v8([[50, 50, 20, 20], [300, 300, 20, 20]], [[0.9, 0.1, 0.5], [0.1, 0.5, 0.2]])
    js, _ = tool.run(ml, *V8, "--multi-label")
    got = [(d["anchor"], d["cls"]) for d in dets(js)]
    check(got == [(0, 0), (0, 2), (1, 1)], f"multi_label: {got}")
    js, _ = tool.run(ml, *V8)
    check([(d["anchor"], d["cls"]) for d in dets(js)] == [(0, 0), (1, 1)], f"single label: {dets(js)}")
    js, _ = tool.run(ml, *V8, "--multi-label", "--agnostic")
    check([(d["anchor"], d["cls"]) for d in dets(js)] == [(0, 0), (1, 1)], f"multi_label agnostic: {dets(js)}")
    # max_det: 10 disjoint boxes, scores 0.30..0.75 -> the best 3
    boxes = [[40 + 60 * i, 40, 20, 20] for i in range(10)]
    sc = [[0.30 + 0.05 * ((i * 7) % 10)] for i in range(10)]
    js, _ = tool.run(v8(boxes, sc), *V8, "--max-det", 3)
    exp = sorted(range(10), key=lambda i: -sc[i][0])[:3]
    check(anchors(js) == exp, f"max_det 3: {anchors(js)}, expected {exp}")
    # max_candidates: the top 2 (anchors 0, 1) overlap, so NMS keeps one, and
    # anchors 2, 3 never reach NMS: 1 detection; with room for all: 3
    tk = v8([[50, 50, 20, 20], [51, 50, 20, 20], [300, 300, 20, 20], [500, 300, 20, 20]],
            [[0.9], [0.8], [0.7], [0.6]])
    js, _ = tool.run(tk, *V8, "--max-candidates", 2, "--max-det", 2)
    check(anchors(js) == [0], f"max_candidates 2: {anchors(js)}, expected [0]")
    js, _ = tool.run(tk, *V8)
    check(anchors(js) == [0, 2, 3], f"max_candidates default: {anchors(js)}")
    # top-k with more candidates than K, in shuffled order: exactly the K best
    rng = np.random.default_rng(7)
    n = 200
    bx = [[10 + 30 * (i % 20), 10 + 30 * (i // 20), 8, 8] for i in range(n)]
    sv = rng.permutation(n) / (2.0 * n) + 0.3
    js, _ = tool.run(v8(bx, sv[:, None]), *V8, "--max-candidates", 50, "--max-det", 50)
    exp = list(np.argsort(-sv, kind="stable")[:50])
    check(anchors(js) == exp, f"top-50 of 200: {anchors(js)[:8]}..., expected {exp[:8]}...")
    # conf exactly at the threshold is excluded; the next float above is kept
    t = np.float32(0.5)
    above = np.nextafter(t, np.float32(1))
    js, _ = tool.run(v8([[50, 50, 20, 20], [300, 300, 20, 20]], [[t], [above]]), *V8, "--conf", "0.5")
    check(anchors(js) == [1], f"score == conf must be excluded: {anchors(js)}")
    # empty result, and an image without detections next to one with
    js, _ = tool.run(v8([[50, 50, 20, 20]], [[0.1]]), *V8)
    check(dets(js) == [], f"empty: {dets(js)}")
    two = np.concatenate([v8([[50, 50, 20, 20]], [[0.1]]), v8([[50, 50, 20, 20]], [[0.6]])])
    js, _ = tool.run(two, *V8)
    check(len(dets(js, 0)) == 0 and anchors(js, 1) == [0], f"batch of 2: {js['images']}")
    # box corners: cx - w/2 etc. in float32 (odd sizes, fractional centres)
    js, _ = tool.run(v8([[10.25, 20.5, 3.0, 5.0]], [[0.9]]), *V8)
    check(dets(js)[0]["box"] == [8.75, 18.0, 11.75, 23.0], f"corners: {dets(js)[0]['box']}")
    # v5 layout [1, A, 5 + nc]: score = objectness * class score
    v5 = np.array([[[50, 50, 20, 20, 0.5, 0.6, 0.55],     # 0.30 (cls 0)
                    [300, 300, 20, 20, 0.9, 0.2, 0.26],   # 0.234 < 0.25: out
                    [500, 300, 20, 20, 0.8, 0.1, 0.9]]],  # 0.72 (cls 1)
                  np.float32)
    js, _ = tool.run(v5, "--layout", "v5")
    got = [(d["anchor"], d["cls"], round(d["score"], 6)) for d in dets(js)]
    exp = [(2, 1, round(float(np.float32(0.8) * np.float32(0.9)), 6)),
           (0, 0, round(float(np.float32(0.5) * np.float32(0.6)), 6))]
    check(got == exp and js["layout"]["layout"] == "v5", f"v5: {got}, expected {exp}")
    # auto layout: [1, 3, 7] has F > A, so auto reads it as v8 ([N, F=3, A=7]:
    # too few features, refused); padded to 10 anchors ([1, 10, 7]) it is v5
    r = tool.run(v5, expect_rc=2)
    check(r.returncode == 2 and "fewer than 4 box + 1 class" in r.stderr, f"auto [1,3,7]: {r.stderr!r}")
    v5p = np.concatenate([v5, np.zeros((1, 7, 7), np.float32)], 1)
    js, _ = tool.run(v5p)
    check(js["layout"]["layout"] == "v5" and anchors(js) == [2, 0], f"auto v5: {js['layout']}, {dets(js)}")
    # float16 input: values exact in half, same answer as float32
    f32 = v8([[50, 50, 20, 20], [87, 50, 20, 20], [300, 300, 16, 16]], [[0.875], [0.75], [0.5]])
    a, _ = tool.run(f32, *V8)
    b, _ = tool.run(f32.astype(np.float16), *V8)
    check(a["images"] == b["images"] and len(dets(a)) == 3, f"float16 vs float32: {b['images']} / {a['images']}")
    # NULL scratch (allocation per call) gives the same
    c, _ = tool.run(f32, *V8, "--no-scratch")
    check(c["images"] == a["images"], "NULL scratch differs")
    # pose: keypoints copied from the extra features (2 keypoints x 3)
    kp = [[1, 2, 0.5, 3, 4, 0.25], [5, 6, 0.75, 7, 8, 1.0]]
    js, _ = tool.run(v8([[50, 50, 20, 20], [300, 300, 20, 20]], [[0.6], [0.9]], kp), "--task", "pose", *V8)
    check(js["layout"]["num_keypoints"] == 2 and [d["keypoints"] for d in dets(js)] == [kp[1], kp[0]],
          f"pose keypoints: {dets(js)}")
    js, _ = tool.run(v8([[50, 50, 20, 20]], [[0.6]], [[1, 2, 3, 4, 5, 6]]), "--task", "pose", "--kd", 2, *V8)
    check(js["layout"]["num_keypoints"] == 3 and dets(js)[0]["keypoints"] == [1, 2, 3, 4, 5, 6],
          f"pose kd 2: {dets(js)}")
    # segment: coefficients copied; mask of a hand-made prototype
    protos = np.zeros((1, 2, 8, 8), np.float32)
    protos[0, 0] = 1.0            # proto 0: +1 everywhere
    protos[0, 1, :, :4] = 3.0     # proto 1: 3 on the left half
    # in 32x32 input, box [4,4,28,28] -> prototype [1,1,7,7]; coefs (1,-0.5):
    # logit 1 - 1.5 = -0.5 left half, +1 right half
    seg = v8([[16, 16, 24, 24]], [[0.9]], [[1.0, -0.5]])
    js, m = tool.run(seg, "--task", "segment", *V8, protos=protos, masks=True, in_size=(32, 32))
    exp = np.zeros((8, 8), np.uint8)
    exp[1:7, 4:7] = 1
    check(dets(js)[0]["coefs"] == [1.0, -0.5] and m.shape == (1, 8, 8) and (m[0] == exp).all(),
          f"segment mask:\n{m}")
    # mapping back to source pixels: (u - x0) * (src_w / w), clamped to the
    # picture, with LetterBox's geometry (w = round(src_w * r), pad split
    # with the extra pixel right/bottom) computed here from its definition
    lines, exp = [], []
    rng = np.random.default_rng(3)
    for sw, sh, dw, dh in ((1920, 1080, 640, 640), (1080, 1920, 640, 640), (1281, 719, 640, 384), (7, 3, 640, 640)):
        r = min(dh / sh, dw / sw)
        w, h = max(int(round(sw * r)), 1), max(int(round(sh * r)), 1)
        x0, y0 = (dw - w) // 2, (dh - h) // 2
        for _ in range(20):
            b = np.float32(rng.uniform(-50, 700, 4))
            lines.append(f"{sw} {sh} {dw} {dh} {' '.join(repr(float(v)) for v in b)}")
            m = [(float(b[0]) - x0) * (sw / w), (float(b[1]) - y0) * (sh / h),
                 (float(b[2]) - x0) * (sw / w), (float(b[3]) - y0) * (sh / h)]
            exp.append([min(max(v, 0.0), lim) for v, lim in zip(m, (sw, sh, sw, sh))])
    r = subprocess.run([tool.path, "map"], input="\n".join(lines) + "\n", capture_output=True, text=True)
    got = np.array([[float(v) for v in ln.split()] for ln in r.stdout.splitlines()]) if r.returncode == 0 else None
    dev = float(np.abs(got - np.array(exp)).max() / 1920) if got is not None and got.shape == (80, 4) else 1.0
    check(dev < 1e-6, f"map_box: relative deviation {dev} (rc {r.returncode}, {r.stderr.strip()})")
    # bad parameters: one line on stderr, exit 2
    good = tool.save(v8([[50, 50, 20, 20]], [[0.9]]))
    bad = [(["--layout", "v8", "--max-det", 0], "max_det"),
           (["--layout", "v8", "--max-candidates", 5000], "max_candidates"),
           (["--layout", "v8", "--max-det", 20, "--max-candidates", 10], "max_det"),
           (["--layout", "v8", "--iou", 1.5], "iou_threshold"),
           (["--layout", "v8", "--conf", "nan"], "conf_threshold"),
           (["--layout", "v8", "--nc", 3], "features"),
           (["--layout", "v8", "--task", "segment"], "prototypes"),
           (["--layout", "v8", "--task", "pose", "--kd", 4], "keypoint_dims"),
           (["--layout", "v9"], "--layout"),
           (["--bogus", 1], "--bogus")]
    for args, word in bad:
        r = tool.run(good, *args, expect_rc=2)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 2 and len(lines) == 1 and word in lines[0],
              f"bad parameters {args}: rc {r.returncode}, stderr {r.stderr!r}")
    # the example of a mismatch message: detect output given to pose with 80 classes
    r = tool.run(np.zeros((1, 84, 8400), np.float32), "--task", "pose", "--nc", 80, "--nk", 17, expect_rc=2)
    check(r.returncode == 2 and "84 features" in r.stderr and "= 135" in r.stderr,
          f"pose on a detect output: {r.stderr!r}")


# ----------------------------------------------------------------- (a) real models

def frames(media: str, n: int = 2):
    import cv2
    from ultralytics.data.augment import LetterBox

    imgs = []
    path = os.path.join(media, "h264_1080p.mp4")
    cap = cv2.VideoCapture(path) if os.path.exists(path) else None
    k = 0
    while cap is not None and len(imgs) < n:
        ok, f = cap.read()
        if not ok:
            break
        if k % 20 == 0:
            imgs.append(f)
        k += 1
    src = f"frames of {path}"
    if len(imgs) < n:  # synthetic pictures: gradients and shapes
        src = "synthetic pictures"
        imgs = []
        for i in range(n):
            y, x = np.mgrid[0:720, 0:1280]
            im = np.stack([(x * (i + 1)) % 256, (y * 2) % 256, ((x + y) // 3) % 256], -1).astype(np.uint8)
            cv2.circle(im, (400 + 200 * i, 360), 150, (30, 200, 90), -1)
            imgs.append(im)
    lb = LetterBox((640, 640), auto=False)
    batch = np.stack([lb(image=im)[:, :, ::-1].transpose(2, 0, 1) for im in imgs]).astype(np.float32) / 255.0
    return np.ascontiguousarray(batch), src


def candidate_conf(pred, nc, k):
    """A float32 threshold that leaves at most k anchors with a best score
    above it in every image (so no truncation happens anywhere)."""
    best = pred[:, 4:4 + nc].max(1)  # [N, A]
    t = max(float(np.sort(b)[::-1][k]) for b in best)
    return float(np.float32(t))


def ultra_nms(pred, conf, iou, max_det, nc, agnostic=False, multi_label=False, max_nms=30000):
    import torch
    from ultralytics.utils import nms as unms

    out = unms.non_max_suppression(torch.from_numpy(pred), conf, iou, agnostic=agnostic, multi_label=multi_label,
                                   max_det=max_det, nc=nc, max_nms=max_nms, max_time_img=100.0)
    return [o.numpy() for o in out]


def tv_nms(pred, conf, iou, max_det, nc, agnostic=False):
    """Candidates as in the contract, torchvision.ops.nms per class with no
    offset (or once, agnostic), merged by score: the exact reference."""
    import torch
    import torchvision

    res = []
    for x in pred:  # [F, A]
        x = x.T
        cls = x[:, 4:4 + nc]
        j = cls.argmax(1)
        s = cls[np.arange(len(x)), j]
        keep = s > np.float32(conf)
        b = x[keep, :4]
        xyxy = np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], 1).astype(np.float32)
        rows = np.concatenate([xyxy, s[keep, None], j[keep, None].astype(np.float32), x[keep, 4 + nc:]], 1)
        groups = [np.arange(len(rows))] if agnostic else [np.where(rows[:, 5] == c)[0] for c in range(nc)]
        kept = []
        for g in groups:
            if not len(g):
                continue
            i = torchvision.ops.nms(torch.from_numpy(rows[g, :4]), torch.from_numpy(rows[g, 4]), iou).numpy()
            kept.append(rows[g[i]])
        k = np.concatenate(kept) if kept else np.zeros((0, rows.shape[1]), np.float32)
        if not agnostic:
            # greedy NMS per class == class-aware NMS; order by score to cut at max_det
            k = k[np.argsort(-k[:, 4], kind="stable")]
        res.append(k[:max_det])
    return res


def contract_ref(pred, conf, iou, max_det, nc, K, agnostic=False, multi_label=False):
    """The header's algorithm written with numpy from its text: candidates,
    the total order (score desc, anchor asc, class asc) by np.lexsort, top K,
    greedy NMS with the IoU in float32 numpy operations (IEEE single, so the
    same values as C). Exact even when scores tie (saturated sigmoids), where
    ultralytics' and torchvision's unstable sorts may legitimately choose a
    different one of two equal boxes. Rows: x0,y0,x1,y1,score,cls,anchor,extra."""
    f32 = np.float32
    res = []
    for x in pred:  # [F, A]
        cls = x[4:4 + nc]  # [nc, A]
        if multi_label:
            c, a = np.nonzero(cls > f32(conf))
            sc = cls[c, a]
        else:
            c = cls.argmax(0)  # first maximal
            a = np.arange(x.shape[1])
            sc = cls[c, a]
            keep = sc > f32(conf)
            a, c, sc = a[keep], c[keep], sc[keep]
        order = np.lexsort((c, a, -sc))[:K]
        a, c, sc = a[order], c[order], sc[order]
        cx, cy, w, h = (x[i, a] for i in range(4))
        half = f32(2)
        bx = np.stack([cx - w / half, cy - h / half, cx + w / half, cy + h / half], 1).astype(f32)
        kept = []
        for i in range(len(a)):
            if len(kept) >= max_det:
                break
            if kept:
                k = np.array(kept)
                b = bx[k]
                same = np.ones(len(k), bool) if agnostic else c[k] == c[i]
                iw = np.minimum(b[:, 2], bx[i, 2]) - np.maximum(b[:, 0], bx[i, 0])
                ih = np.minimum(b[:, 3], bx[i, 3]) - np.maximum(b[:, 1], bx[i, 1])
                iw, ih = np.maximum(iw, f32(0)), np.maximum(ih, f32(0))
                inter = iw * ih
                aw = np.maximum(b[:, 2] - b[:, 0], f32(0)) * np.maximum(b[:, 3] - b[:, 1], f32(0))
                bw = np.maximum(bx[i, 2] - bx[i, 0], f32(0)) * np.maximum(bx[i, 3] - bx[i, 1], f32(0))
                uni = (aw + bw) - inter
                with np.errstate(divide="ignore", invalid="ignore"):
                    v = np.where(uni > 0, inter / uni, f32(0))
                if (same & (v > f32(iou))).any():
                    continue
            kept.append(i)
        k = np.array(kept, np.int64)
        res.append(np.concatenate([bx[k], sc[k, None], c[k, None].astype(f32), a[k, None].astype(f32),
                                   x[4 + nc:, a[k]].T], 1) if len(k) else np.zeros((0, 7 + x.shape[0] - 4 - nc)))
    return res


def exact(name, got, ref):
    """Identical list: order, anchors, classes, float32 values."""
    f = lambda v: float(np.float32(v))  # the tool prints 9 digits: float32 round trip
    g = [([f(v) for v in d["box"]], f(d["score"]), d["cls"], d["anchor"]) for d in got]
    r = [([f(v) for v in row[:4]], f(row[4]), int(row[5]), int(row[6])) for row in ref]
    if g == r:
        return True
    diff = next(i for i in range(min(len(g), len(r)) + 1) if i >= min(len(g), len(r)) or g[i] != r[i])
    print(f"    {name}: {len(g)} vs {len(r)} detections, first difference at {diff}: "
          f"{g[diff] if diff < len(g) else None} vs {r[diff] if diff < len(r) else None}")
    return False


def real_models(tool: Tool, models: str, media: str):
    try:
        import cv2  # noqa: F401
        import onnxruntime as ort
        import torch  # noqa: F401
        import torchvision  # noqa: F401
        from ultralytics.utils import nms  # noqa: F401
    except ImportError as e:
        skip(f"Python module missing: {e.name}")
    need = ["yolov8n", "yolo11n-pose", "yolo11n-seg", "deeplabv3"]
    missing = [m for m in need if not os.path.exists(os.path.join(models, m + ".onnx"))]
    if missing:
        skip(f"model file(s) missing in {models}: {', '.join(m + '.onnx' for m in missing)} (tools/gen_models.py)")
    xf, src = frames(media)
    # The generated models have random weights; on natural pictures their
    # class sigmoids saturate (about a third of all scores are exactly 1.0),
    # so ultralytics' and torchvision's unstable sorts may pick either of two
    # equal boxes. Uniform noise (what tools/gen_models.py calibrated the head
    # on) gives distinct scores: those outputs go to the library references,
    # the saturated frames to the exact numpy model of the contract.
    x = np.random.default_rng(2024).random(xf.shape, dtype=np.float32)
    print(f"(a) real model outputs, batch {len(x)}: uniform-noise pictures; {src} for tie-heavy outputs")

    def run_ort(name, inp):
        s = ort.InferenceSession(os.path.join(models, name + ".onnx"), providers=["CPUExecutionProvider"])
        return s.run(None, {s.get_inputs()[0].name: inp})

    stats = {"compared": 0, "box": 0.0, "score": 0.0, "extra": 0.0}

    def record(probs, dev, n):
        stats["compared"] += n
        for k in ("box", "score", "extra"):
            stats[k] = max(stats[k], dev[k])
        return not probs

    # --- detect
    pred = run_ort("yolov8n", x)[0]
    nc = pred.shape[1] - 4
    K = 4096
    conf = max(0.25, candidate_conf(pred, nc, K - 1))
    iou, max_det = 0.45, 300
    pf = tool.save(pred)
    js_cache = {}
    for agn, ml in ((False, False), (True, False), (False, True)):
        flags = (["--agnostic"] if agn else []) + (["--multi-label"] if ml else [])
        tag = "detect" + "".join(" " + f for f in flags)
        # multi_label can have more pairs than K pass: ultralytics then keeps the
        # max_nms best, which is the same top-k
        js, _ = tool.run(pf, "--conf", repr(conf), "--iou", iou, "--max-det", max_det, "--max-candidates", K, *flags)
        js_cache[tag] = js
        ref = ultra_nms(pred, conf, iou, max_det, nc, agn, ml, max_nms=K)
        for i in range(len(x)):
            probs, dev = compare(f"{tag} img {i} vs ultralytics", dets(js, i), ref[i])
            ok = record(probs, dev, len(ref[i]))
            check(ok, f"yolov8n {tag} image {i} vs ultralytics.non_max_suppression")
            print(f"  yolov8n {tag} img {i}: {len(dets(js, i))} dets (conf {conf:.4f}), ultralytics "
                  f"{len(ref[i])}, max |dbox| {dev['box']:.2e} |dscore| {dev['score']:.2e}")
        if not ml:
            ref = tv_nms(pred, conf, iou, max_det, nc, agn)
            for i in range(len(x)):
                probs, dev = compare(f"{tag} img {i} vs torchvision", dets(js, i), ref[i])
                record(probs, dev, len(ref[i]))
                check(not probs, f"yolov8n {tag} image {i} vs torchvision.ops.nms per class")
                # the exact reference: identical values, identical order within a class
                if not probs:
                    for c in set(d["cls"] for d in dets(js, i)):
                        a = np.float32([d["box"] for d in dets(js, i) if d["cls"] == c]).tolist()
                        b = ref[i][ref[i][:, 5] == c, :4].astype(np.float32).tolist()
                        check(a == b or agn, f"yolov8n {tag} image {i} class {c}: order or value differs")
    # the exact model of the contract, on the noise outputs and on the
    # saturated frame outputs (ties everywhere), all three modes, K 1024
    predf = run_ort("yolov8n", xf)[0]
    for nm_, pr in (("noise", pred), ("frames", predf)):
        for agn, ml in ((False, False), (True, False), (False, True)):
            flags = (["--agnostic"] if agn else []) + (["--multi-label"] if ml else [])
            js, _ = tool.run(pr, "--conf", 0.25, "--iou", 0.5, "--max-det", 300, "--max-candidates", 1024, *flags)
            ref = contract_ref(pr, 0.25, 0.5, 300, nc, 1024, agn, ml)
            for i in range(len(x)):
                ok = exact(f"{nm_} {flags} img {i}", dets(js, i), ref[i])
                stats["compared"] += len(ref[i])
                check(ok, f"yolov8n {nm_} {flags} image {i} vs the numpy model of the contract")
            ties = int(sum((pr[i, 4:].max(0) == 1.0).sum() for i in range(len(x))))
            print(f"  yolov8n {nm_} {' '.join(flags) or 'class-aware'}: identical to the numpy contract model "
                  f"({[len(r) for r in ref]} dets; {ties} anchors scoring exactly 1.0)")
    # a low threshold with top-k truncation (thousands of candidates, K 1024),
    # against ultralytics with max_nms = 1024
    js, _ = tool.run(pf, "--conf", 0.25, "--iou", 0.5, "--max-det", 100, "--max-candidates", 1024)
    ref = ultra_nms(pred, 0.25, 0.5, 100, nc, max_nms=1024)
    ncand = [(pred[i, 4:].max(0) > 0.25).sum() for i in range(len(x))]
    for i in range(len(x)):
        probs, dev = compare(f"detect top-k img {i}", dets(js, i), ref[i])
        record(probs, dev, len(ref[i]))
        check(not probs, f"yolov8n truncated top-k image {i} vs ultralytics max_nms")
        print(f"  yolov8n conf 0.25, {ncand[i]} candidates -> top 1024: {len(dets(js, i))} dets, "
              f"ultralytics {len(ref[i])}")
    # float16 outputs: same as float32 on the float16-rounded values
    p16 = pred.astype(np.float16)
    js16, _ = tool.run(p16, "--conf", repr(conf), "--iou", iou, "--max-det", max_det, "--max-candidates", K)
    # (float16 rounds the saturated scores into ties: the exact contract model)
    ref = contract_ref(p16.astype(np.float32), conf, iou, max_det, nc, K)
    for i in range(len(x)):
        stats["compared"] += len(ref[i])
        check(exact(f"detect fp16 img {i}", dets(js16, i), ref[i]),
              f"yolov8n float16 image {i} vs the numpy contract model on the same values")
    print(f"  yolov8n float16 outputs: identical to the contract model on the widened values "
          f"({[len(r) for r in ref]} dets)")

    # (c) negative controls on the detect comparison
    ref = ultra_nms(pred, conf, iou, max_det, nc, max_nms=K)[0]
    base = dets(js_cache["detect"], 0)
    check(len(base) > 1, "negative control needs detections")
    moved = json.loads(json.dumps(base))
    moved[len(moved) // 2]["box"][0] += 0.01
    p1, _ = compare("control moved", moved, ref, quiet=True)
    p2, _ = compare("control dropped", base[:-1], ref, quiet=True)
    sc = json.loads(json.dumps(base))
    sc[0]["score"] += 1e-4
    p3, _ = compare("control score", sc, ref, quiet=True)
    check(bool(p1) and bool(p2) and bool(p3), "negative controls: the comparison failed to notice "
          f"a moved box ({len(p1)}), a dropped detection ({len(p2)}) or a changed score ({len(p3)})")
    print(f"  negative controls detected: moved box ({len(p1)} problem(s)), dropped detection ({len(p2)}), "
          f"score +1e-4 ({len(p3)})")

    # --- pose (the generated yolo11n-pose has 80 classes + 17x3 keypoints)
    pose = run_ort("yolo11n-pose", x)[0]
    nk = 17
    pnc = pose.shape[1] - 4 - nk * 3
    pconf = max(0.25, candidate_conf(pose, pnc, K - 1))
    js, _ = tool.run(pose, "--task", "pose", "--nc", pnc, "--conf", repr(pconf), "--iou", iou, "--max-det",
                     max_det, "--max-candidates", K)
    check(js["layout"]["num_keypoints"] == nk and js["layout"]["keypoint_dims"] == 3,
          f"pose layout {js['layout']}")
    ref = ultra_nms(pose, pconf, iou, max_det, pnc, max_nms=K)
    for i in range(len(x)):
        probs, dev = compare(f"pose img {i}", dets(js, i), ref[i], extra_key="keypoints")
        record(probs, dev, len(ref[i]))
        check(not probs, f"yolo11n-pose image {i} vs ultralytics (boxes + keypoints)")
        print(f"  yolo11n-pose img {i}: {len(dets(js, i))} dets, ultralytics {len(ref[i])}, "
              f"max |dkeypoint| {dev['extra']:.2e}")

    # --- segment
    seg, protos = run_ort("yolo11n-seg", x)
    nm = protos.shape[1]
    snc = seg.shape[1] - 4 - nm
    sconf = max(0.25, candidate_conf(seg, snc, K - 1))
    js, masks = tool.run(seg, "--task", "segment", "--conf", repr(sconf), "--iou", iou, "--max-det", max_det,
                         "--max-candidates", K, protos=protos, masks=True, in_size=(640, 640))
    ref = ultra_nms(seg, sconf, iou, max_det, snc, max_nms=K)
    import torch
    from ultralytics.utils import ops as uops

    k0 = 0
    mstat = {"pixels": 0, "skipped": 0, "diff_np": 0, "diff_ul": 0}
    for i in range(len(x)):
        probs, dev = compare(f"segment img {i}", dets(js, i), ref[i], extra_key="coefs")
        record(probs, dev, len(ref[i]))
        check(not probs, f"yolo11n-seg image {i} vs ultralytics (boxes + coefficients)")
        d = dets(js, i)
        m = masks[k0:k0 + len(d)]
        k0 += len(d)
        if not d:
            continue
        coefs = np.array([q["coefs"] for q in d], np.float64)
        boxes = np.array([q["box"] for q in d], np.float32)
        ph, pw = protos.shape[2:]
        logit = np.einsum("nk,khw->nhw", coefs, protos[i].astype(np.float64))
        bs = boxes * np.float32(pw / 640.0)
        cols, rows = np.arange(pw, dtype=np.float32), np.arange(ph, dtype=np.float32)
        inside = ((cols[None, None, :] >= bs[:, None, None, 0]) & (cols[None, None, :] < bs[:, None, None, 2]) &
                  (rows[None, :, None] >= bs[:, None, None, 1]) & (rows[None, :, None] < bs[:, None, None, 3]))
        ref_np = ((1.0 / (1.0 + np.exp(-logit)) > 0.5) & inside).astype(np.uint8)
        ul = uops.process_mask(torch.from_numpy(protos[i]), torch.from_numpy(coefs.astype(np.float32)),
                               torch.from_numpy(boxes), (640, 640), upsample=False).numpy()
        decided = ~(inside & (np.abs(logit) < 1e-4))
        mstat["pixels"] += int(decided.sum())
        mstat["skipped"] += int((~decided).sum())
        mstat["diff_np"] += int(((m != ref_np) & decided).sum())
        mstat["diff_ul"] += int(((m != ul) & decided).sum())
        if i == 0:  # negative control: one flipped pixel inside a box must show
            ctl = m.copy()
            yy, xx = np.argwhere(inside[0])[0]
            ctl[0, yy, xx] ^= 1
            check(int(((ctl != ref_np) & decided).sum()) >= 1 or not decided[0, yy, xx],
                  "mask negative control not detected")
    check(mstat["diff_np"] == 0 and mstat["diff_ul"] == 0,
          f"masks: {mstat['diff_np']} pixels differ from numpy, {mstat['diff_ul']} from process_mask")
    print(f"  yolo11n-seg masks: {k0} masks, {mstat['pixels']} pixels compared ({mstat['skipped']} with "
          f"|logit| < 1e-4 skipped), {mstat['diff_np']} differ from numpy, {mstat['diff_ul']} from "
          f"ultralytics process_mask; one flipped pixel detected")

    # --- semseg (deeplabv3 takes 512x512)
    import cv2

    x512 = np.stack([cv2.resize(im.transpose(1, 2, 0), (512, 512)).transpose(2, 0, 1) for im in x])
    logits = run_ort("deeplabv3", np.ascontiguousarray(x512))[0]
    cls = tool.semseg(logits)
    ref = logits.argmax(1).astype(np.uint8)
    nd = int((cls != ref).sum())
    ctl = cls.copy()
    ctl[0, 0, 0] ^= 1
    check(nd == 0 and int((ctl != ref).sum()) == 1, f"deeplabv3 argmax: {nd} pixels differ")
    print(f"  deeplabv3 argmax: {cls.size} pixels, {len(np.unique(ref))} classes present, {nd} differ")
    cls16 = tool.semseg(logits.astype(np.float16))
    ref16 = logits.astype(np.float16).astype(np.float32).argmax(1).astype(np.uint8)
    check((cls16 == ref16).all(), f"deeplabv3 argmax float16: {int((cls16 != ref16).sum())} pixels differ")
    print(f"(a) {stats['compared']} reference detections matched; max |dbox| {stats['box']:.2e} px, "
          f"|dscore| {stats['score']:.2e}, |dkeypoint/coef| {stats['extra']:.2e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--media", default="")
    ap.add_argument("--hand-only", action="store_true", help="only (b): no models needed")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tool = Tool(a.tool, tmp)
        hand_cases(tool)
        if not a.hand_only:
            real_models(tool, a.models, a.media)
    if FAILS:
        print(f"{len(FAILS)} failure(s)")
        return 1
    print("all post-processing checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
