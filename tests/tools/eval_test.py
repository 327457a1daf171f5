#!/usr/bin/env python3
"""Tests of tools/eval.py and tools/gen_dataset.py.

Parts (--part, default all):
  coco      mAP@0.5 and mAP@0.5:0.95 of random detections against random
            ground truth (crowd/ignored boxes, empty frames, a class without
            detections, detections of a class without ground truth, > 100
            detections in a frame) equal pycocotools' within 1e-6.
  mot       MOTA, IDF1, IDP, IDR, ID switches, FP, FN, MOTP, fragmentations
            and MT/PT/ML equal motmetrics' on scripted tracks (a swap, a
            fragmented track resumed under a new id, a never-tracked object,
            false positives, jitter) and on random ones.
  controls  hand-computed cases (perfect tracking, one swap, a known AP,
            ignored objects, missing and error frames, no track_id, empty
            results, malformed lines -> FILE:LINE and exit 2) and negative
            controls on generated ground truth: each perturbation (jitter,
            dropped detections, wrong classes, shuffled scores, off-by-one
            frames, swapped ids) must score lower.
  gen       gen_dataset: same seed -> byte-identical ground truth and raw
            frames, another seed -> different; ground-truth sanity (boxes in
            the frame, ids persist with one class, objects enter, leave and
            are occluded); the mp4 and the Annex-B file decode to as many
            frames as ground-truth lines, at the right size, and their frames
            match the raw frames (PSNR against the YOLO images).
A missing module (pycocotools, motmetrics, scipy) or ffmpeg exits 77 (skip).
motmetrics 1.4.0 calls np.asfarray, gone in NumPy 2: the test supplies it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "tools" / "eval.py"
GEN = ROOT / "tools" / "gen_dataset.py"
SKIP = 77
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}")
    return cond


def need(mod):
    try:
        return __import__(mod)
    except ImportError:
        print(f"skip: python module {mod} missing (scripts/setup-python.sh installs it)")
        sys.exit(SKIP)


def load_eval():
    need("scipy")
    spec = importlib.util.spec_from_file_location("vp_eval", EVAL)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def gt_row(fr, objs):
    return {"frame": fr, "objects": [{"id": i, "cls": c, "box": list(map(float, b)), "ignore": bool(ig)}
                                     for b, c, i, ig in objs]}


def res_row(fr, dets, stream="s0"):
    out = []
    for d in dets:
        e = {"box": list(map(float, d[0])), "cls": int(d[1]), "score": float(d[2])}
        if len(d) > 3 and d[3] is not None:
            e["track_id"] = int(d[3])
        out.append(e)
    return {"stream": stream, "frame": fr, "pts": None, "width": 640, "height": 480, "detections": out}


def run_eval(ev, tmp, gt_rows, res_rows, **kw):
    g, r = os.path.join(tmp, "g.gt.jsonl"), os.path.join(tmp, "r.jsonl")
    write_jsonl(g, gt_rows)
    write_jsonl(r, res_rows)
    return ev.evaluate(r, [g], **kw)


def rand_box(rng, w=640, h=480, smin=8, smax=160):
    bw, bh = rng.uniform(smin, smax, 2)
    x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    return [x0, y0, x0 + bw, y0 + bh]


def jitter(rng, b, s):
    w, h = b[2] - b[0], b[3] - b[1]
    d = rng.normal(0, s, 4) * np.array([w, h, w, h])
    return [b[0] + d[0], b[1] + d[1], max(b[0] + d[0] + 1, b[2] + d[2]), max(b[1] + d[1] + 1, b[3] + d[3])]


# ------------------------------------------------------------------ coco

def part_coco(tmp):
    need("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    ev = load_eval()
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        ncls = 4
        gt_rows, res_rows, anns, dets = [], [], [], []
        for img in range(60):
            objs, dd = [], []
            for k in range(int(rng.integers(0, 7))):
                c = int(rng.integers(0, ncls - 1))          # class 3 never in the ground truth
                b = rand_box(rng)
                ig = rng.random() < 0.1
                objs.append((b, c, k + 1, ig))
                if c != 2 and rng.random() < 0.85:           # class 2: ground truth, no detections
                    for _ in range(int(rng.integers(1, 3))):
                        cc = c if rng.random() < 0.9 else int(rng.integers(0, ncls))
                        if cc != 2:
                            dd.append((jitter(rng, b, rng.uniform(0.01, 0.25)), cc, rng.random()))
            for _ in range(int(rng.integers(0, 4))):          # false positives
                cc = int(rng.choice([0, 1, 3]))
                dd.append((rand_box(rng), cc, rng.random() * 0.8))
            if img == 5:                                      # more than 100 in one frame and class
                dd += [(jitter(rng, rand_box(rng), 0.05), 0, rng.random()) for _ in range(130)]
            gt_rows.append(gt_row(img, objs))
            res_rows.append(res_row(img, dd))
            for b, c, _, ig in objs:
                anns.append({"id": len(anns) + 1, "image_id": img + 1, "category_id": c + 1,
                             "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                             "area": (b[2] - b[0]) * (b[3] - b[1]), "iscrowd": int(ig)})
            for b, c, s in dd:
                dets.append({"image_id": img + 1, "category_id": c + 1,
                             "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": s})
        with contextlib.redirect_stdout(io.StringIO()):
            cg = COCO()
            cg.dataset = {"images": [{"id": i + 1} for i in range(60)], "annotations": anns,
                          "categories": [{"id": c + 1} for c in range(ncls)]}
            cg.createIndex()
            cd = cg.loadRes(dets)
            E = COCOeval(cg, cd, "bbox")
            E.evaluate()
            E.accumulate()
            E.summarize()
        ref50_95, ref50 = float(E.stats[0]), float(E.stats[1])
        r = run_eval(ev, tmp, gt_rows, res_rows)
        d = r["detection"]
        print(f"coco seed {seed}: mAP@0.5 {d['mAP50']:.6f} (pycocotools {ref50:.6f}), "
              f"mAP@0.5:0.95 {d['mAP50_95']:.6f} (pycocotools {ref50_95:.6f}); "
              f"{len(anns)} gt, {len(dets)} dets")
        check(abs(d["mAP50"] - ref50) < 1e-6, f"coco seed {seed}: mAP@0.5 {d['mAP50']} != {ref50}")
        check(abs(d["mAP50_95"] - ref50_95) < 1e-6, f"coco seed {seed}: mAP@0.5:0.95 {d['mAP50_95']} != {ref50_95}")
        check(0.05 < ref50 < 0.95 and ref50_95 < ref50, f"coco seed {seed}: scores not in a telling range")
        # per-class AP too: pycocotools' precision array, area all, maxDets 100
        p = E.eval["precision"][:, :, :, 0, -1]
        for c in d["classes"]:
            ref = p[:, :, c["cls"]]
            check(abs(c["AP50"] - ref[0].mean()) < 1e-6 and abs(c["AP50_95"] - ref.mean()) < 1e-6,
                  f"coco seed {seed}: class {c['cls']} AP {c['AP50']}/{c['AP50_95']} != {ref[0].mean()}/{ref.mean()}")


# ------------------------------------------------------------------- mot

def mm_reference(frames):
    """frames: [(gts [(box, id)], hyps [(box, id)])] -> motmetrics summary."""
    if not hasattr(np, "asfarray"):
        np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)
    import motmetrics as mm
    acc = mm.MOTAccumulator(auto_id=True)
    xywh = lambda b: [b[0], b[1], b[2] - b[0], b[3] - b[1]]
    for gts, hyps in frames:
        d = mm.distances.iou_matrix([xywh(g[0]) for g in gts], [xywh(h[0]) for h in hyps], max_iou=0.5)
        acc.update([g[1] for g in gts], [h[1] for h in hyps], d)
    mh = mm.metrics.create()
    names = ["mota", "idf1", "idp", "idr", "num_switches", "num_false_positives", "num_misses", "motp",
             "num_fragmentations", "mostly_tracked", "partially_tracked", "mostly_lost"]
    s = mh.compute(acc, metrics=names, name="x")
    return {n: float(s[n].iloc[0]) for n in names}


def compare_mot(ev, tmp, name, frames):
    gt_rows = [gt_row(f, [(b, 0, i, False) for b, i in g]) for f, (g, _) in enumerate(frames)]
    res_rows = [res_row(f, [(b, 0, 0.9, i) for b, i in h]) for f, (_, h) in enumerate(frames)]
    t = run_eval(ev, tmp, gt_rows, res_rows)["tracking"]
    ref = mm_reference(frames)
    pairs = [("MOTA", "mota"), ("IDF1", "idf1"), ("IDP", "idp"), ("IDR", "idr"), ("IDSW", "num_switches"),
             ("FP", "num_false_positives"), ("FN", "num_misses"), ("frag", "num_fragmentations"),
             ("MT", "mostly_tracked"), ("PT", "partially_tracked"), ("ML", "mostly_lost")]
    bad = [f"{a} {t[a]} != {ref[b]}" for a, b in pairs if abs(t[a] - ref[b]) > 1e-9]
    if abs((1 - t["MOTP"]) - ref["motp"]) > 1e-9:
        bad.append(f"MOTP {t['MOTP']} != 1 - {ref['motp']}")
    print(f"mot {name}: MOTA {t['MOTA']:.6f} IDF1 {t['IDF1']:.6f} IDSW {t['IDSW']} FP {t['FP']} FN {t['FN']} "
          f"frag {t['frag']} MT/PT/ML {t['MT']}/{t['PT']}/{t['ML']} (motmetrics: MOTA {ref['mota']:.6f} "
          f"IDF1 {ref['idf1']:.6f} IDSW {ref['num_switches']:.0f})")
    check(not bad, f"mot {name}: " + "; ".join(bad))
    return t


def scripted_tracks(rng, nf=80):
    """Five objects moving in lines; trackers: a follows 1; b/c swap 2 and 3
    at frame 40; 4 is lost at 20-29 and resumes as e; 5 is never tracked;
    f is a short false track; sporadic false positives; jitter throughout."""
    starts = {1: (20, 20, 3, 1), 2: (100, 300, 2, -1), 3: (500, 300, -2, -1), 4: (300, 40, 0, 3), 5: (50, 400, 4, 0)}
    sizes = {1: 60, 2: 80, 3: 70, 4: 50, 5: 40}
    frames = []
    for f in range(nf):
        gts = []
        for o, (x, y, vx, vy) in starts.items():
            s = sizes[o]
            gts.append(([x + vx * f, y + vy * f, x + vx * f + s, y + vy * f + s], o))
        box = {o: b for b, o in gts}
        j = lambda o: jitter(rng, box[o], 0.04)
        hyps = [(j(1), 101)]
        hyps += [(j(2), 102), (j(3), 103)] if f < 40 else [(j(3), 102), (j(2), 103)]
        if f < 20:
            hyps.append((j(4), 104))
        elif f >= 30:
            hyps.append((j(4), 105))
        if 50 <= f < 60:
            hyps.append(([600, 10, 630, 40], 106))
        if rng.random() < 0.15:
            hyps.append((rand_box(rng), 200 + f))
        frames.append((gts, hyps))
    return frames


def random_tracks(rng, nf=60, nobj=8):
    objs = {}
    for o in range(1, nobj + 1):
        a, b = sorted(rng.integers(0, nf, 2))
        x, y = rng.uniform(0, 500), rng.uniform(0, 360)
        vx, vy = rng.normal(0, 3, 2)
        s = rng.uniform(30, 120)
        objs[o] = (a, b + 1, x, y, vx, vy, s)
    tid = {o: o * 10 for o in objs}
    next_id = 1000
    frames = []
    for f in range(nf):
        gts, hyps = [], []
        for o, (a, b, x, y, vx, vy, s) in objs.items():
            if not a <= f < b:
                continue
            bx = [x + vx * f, y + vy * f, x + vx * f + s, y + vy * f + s]
            gts.append((bx, o))
            if rng.random() < 0.04:     # the tracker starts a new id
                tid[o] = next_id
                next_id += 1
            if rng.random() < 0.85:     # detected this frame
                hyps.append((jitter(rng, bx, rng.uniform(0.02, 0.15)), tid[o]))
        if len(gts) >= 2 and rng.random() < 0.1:   # two ids exchanged
            i, k = rng.choice(len(gts), 2, replace=False)
            oi, ok = gts[i][1], gts[k][1]
            tid[oi], tid[ok] = tid[ok], tid[oi]
        for k in range(int(rng.poisson(0.5))):      # false positives, short-lived ids
            hyps.append((rand_box(rng), 5000 + 10 * (f // 4) + k))
        frames.append((gts, hyps))
    return frames


def part_mot(tmp):
    need("motmetrics")
    ev = load_eval()
    t = compare_mot(ev, tmp, "scripted", scripted_tracks(np.random.default_rng(5)))
    check(t["IDSW"] >= 3 and t["FP"] > 0 and t["FN"] >= 80 and t["frag"] >= 1,
          f"mot scripted: the scenario lost its switches/FP/FN/fragments ({t})")
    for seed in range(10, 16):
        compare_mot(ev, tmp, f"random seed {seed}", random_tracks(np.random.default_rng(seed)))


# -------------------------------------------------------------- controls

def part_controls(tmp):
    ev = load_eval()
    b1, b2 = [10, 10, 60, 60], [200, 100, 280, 180]
    # perfect tracking, then one swap half way: hand-computed numbers
    gts = [gt_row(f, [(b1, 0, 1, False), (b2, 0, 2, False)]) for f in range(10)]
    perfect = [res_row(f, [(b1, 0, 0.9, 7), (b2, 0, 0.8, 8)]) for f in range(10)]
    r = run_eval(ev, tmp, gts, perfect)
    t = r["tracking"]
    check(t["MOTA"] == 1 and t["IDF1"] == 1 and t["IDSW"] == 0 and r["detection"]["mAP50_95"] == 1,
          f"perfect: {t}")
    swap = [res_row(f, [(b1, 0, 0.9, 7 if f < 5 else 8), (b2, 0, 0.8, 8 if f < 5 else 7)]) for f in range(10)]
    t = run_eval(ev, tmp, gts, swap)["tracking"]
    print(f"controls: one swap: MOTA {t['MOTA']} IDF1 {t['IDF1']} IDSW {t['IDSW']} (expected 0.9, 0.5, 2)")
    check(t["IDSW"] == 2 and abs(t["MOTA"] - 0.9) < 1e-12 and abs(t["IDF1"] - 0.5) < 1e-12, f"swap: {t}")
    # a known AP: TP .9, FP .8, TP .7 on two objects -> (51 * 1 + 50 * 2/3) / 101
    g = [gt_row(0, [(b1, 0, 1, False)]), gt_row(1, [(b2, 0, 2, False)])]
    rr = [res_row(0, [(b1, 0, 0.9), ([400, 400, 450, 450], 0, 0.8)]), res_row(1, [(b2, 0, 0.7)])]
    d = run_eval(ev, tmp, g, rr)["detection"]
    exp = (51 + 50 * 2 / 3) / 101
    check(abs(d["mAP50"] - exp) < 1e-12 and abs(d["mAP50_95"] - exp) < 1e-12, f"known AP {d['mAP50']} != {exp}")
    # ignored object: a detection/hypothesis on it is neither FP nor is it a miss
    g = [gt_row(f, [(b1, 0, 1, False), (b2, 0, 2, True)]) for f in range(4)]
    rr = [res_row(f, [(b1, 0, 0.9, 1), ([210, 110, 250, 150], 0, 0.95, 2)]) for f in range(4)]
    r = run_eval(ev, tmp, g, rr)
    check(r["detection"]["mAP50_95"] == 1 and r["tracking"]["FP"] == 0 and r["tracking"]["FN"] == 0
          and r["tracking"]["MOTA"] == 1, f"ignored object: {r['detection']['mAP50_95']} {r['tracking']}")
    # ... but an occluder in front of an ignored object, inside its box, still counts
    big, front = [100, 100, 300, 300], [150, 150, 200, 200]
    g = [gt_row(f, [(big, 0, 1, True), (front, 0, 2, False)]) for f in range(4)]
    r = run_eval(ev, tmp, g, [res_row(f, [(front, 0, 0.9, 5)]) for f in range(4)])
    check(r["tracking"]["matches"] == 4 and r["tracking"]["MOTA"] == 1 and r["detection"]["mAP50_95"] == 1,
          f"occluder of an ignored object: {r['tracking']}")
    r = run_eval(ev, tmp, g, [])
    check(r["tracking"] is None and r["detection"]["mAP50"] == 0, "occluder missed")
    g2 = [gt_row(f, [(b1, 0, 1, False), (b2, 0, 2, False)]) for f in range(4)]   # same, not ignored
    r2 = run_eval(ev, tmp, g2, rr)
    check(r2["detection"]["mAP50"] < 1 and r2["tracking"]["FP"] == 4 and r2["tracking"]["FN"] == 4,
          f"ignore flag has no effect: {r2['tracking']}")
    # missing frames and error lines: every object there is a miss
    part = [perfect[f] for f in range(10) if f % 2 == 0]
    part[1] = {"stream": "s0", "frame": 2, "pts": None, "width": 640, "height": 480, "error": "decode failed"}
    r = run_eval(ev, tmp, gts, part)
    t = r["tracking"]
    check(r["missing_frames"] == 5 and r["error_frames"] == 1 and t["FN"] == 12 and t["FP"] == 0
          and abs(t["MOTA"] - 8 / 20) < 1e-12, f"missing/error frames: {r['missing_frames']} {t}")
    # frames beyond the ground truth are counted, not scored
    r = run_eval(ev, tmp, gts, perfect + [res_row(10, [(b1, 0, 0.9, 7)])])
    check(r["results_without_gt"] == 1 and r["tracking"]["MOTA"] == 1, "result frames without GT")
    # no track_id: tracking n/a; detection still scored
    r = run_eval(ev, tmp, gts, [res_row(f, [(b1, 0, 0.9), (b2, 0, 0.8)]) for f in range(10)])
    check(r["tracking"] is None and r["detection"]["mAP50"] == 1, "no track_id")
    # empty results file
    r = run_eval(ev, tmp, gts, [])
    check(r["tracking"] is None and r["detection"]["mAP50"] == 0 and r["missing_frames"] == 10, "empty results")
    # CLI: table, --json, malformed lines
    gpath, rpath = os.path.join(tmp, "g.gt.jsonl"), os.path.join(tmp, "r.jsonl")
    write_jsonl(gpath, gts)
    write_jsonl(rpath, swap)
    p = subprocess.run([sys.executable, str(EVAL), "--results", rpath, "--gt", gpath, "--json"],
                       capture_output=True, text=True)
    check(p.returncode == 0 and json.loads(p.stdout)["tracking"]["IDSW"] == 2, f"--json: {p.returncode} {p.stderr}")
    p = subprocess.run([sys.executable, str(EVAL), "--results", rpath, "--gt", gpath], capture_output=True, text=True)
    check(p.returncode == 0 and "MOTA 0.9000" in p.stdout and "IDF1 0.5000" in p.stdout, f"table: {p.stdout}")
    bad_cases = [
        (2, '{"stream": "s0", "frame": 1, "detections": [}'),
        (3, '{"stream": "s0", "frame": 2, "detections": [{"box": [1, 2, 3], "cls": 0, "score": 0.5}]}'),
        (2, '{"stream": "s0", "frame": 0, "detections": []}'),                 # frame twice
        (2, '{"stream": "s0", "detections": []}'),                             # no frame
        (2, '{"stream": "s0", "frame": 1, "classes": []}'),                    # neither detections nor error
        (2, '{"stream": "s0", "frame": 1, "detections": [{"box": [0, 0, 1, 1], "cls": 0, "score": "x"}]}'),
        (2, '[1, 2]'),
    ]
    for line_no, bad in bad_cases:
        lines = ['{"stream": "s0", "frame": 0, "detections": []}']
        if line_no == 3:
            lines.append('{"stream": "s0", "frame": 1, "detections": []}')
        lines.append(bad)
        Path(rpath).write_text("\n".join(lines) + "\n")
        p = subprocess.run([sys.executable, str(EVAL), "--results", rpath, "--gt", gpath],
                           capture_output=True, text=True)
        check(p.returncode == 2 and p.stderr.startswith(f"eval: {rpath}:{line_no}:") and p.stderr.count("\n") == 1,
              f"malformed {bad!r}: rc {p.returncode}, stderr {p.stderr!r}")
    Path(rpath).write_text('{"stream": "a", "frame": 0, "detections": []}\n{"stream": "b", "frame": 0, "detections": []}\n')
    p = subprocess.run([sys.executable, str(EVAL), "--results", rpath, "--gt", gpath], capture_output=True, text=True)
    check(p.returncode == 2 and "name the stream" in p.stderr, f"two streams, unnamed gt: {p.stderr!r}")
    p = subprocess.run([sys.executable, str(EVAL), "--results", rpath, "--gt", f"b={gpath}"], capture_output=True, text=True)
    check(p.returncode == 0 and "missing" in p.stdout, f"named stream: {p.returncode} {p.stderr!r}")

    # negative controls on generated ground truth
    gdir = Path(tmp) / "neg"
    subprocess.run([sys.executable, str(GEN), "--out", str(gdir), "--seed", "3", "--videos", "1",
                    "--frames", "90", "--no-video"], check=True, capture_output=True)
    gt = [json.loads(l) for l in (gdir / "vid000.gt.jsonl").read_text().splitlines()]

    def results(fn):
        rng = np.random.default_rng(0)
        rows = []
        for g in gt:
            dets = []
            for o in g["objects"]:
                d = fn(rng, g["frame"], o)
                if d is not None:
                    dets.append(d)
            rows.append(res_row(g["frame"], dets))
        return rows

    def score(rows):
        rp = os.path.join(tmp, "neg.jsonl")
        write_jsonl(rp, rows)
        r = ev.evaluate(rp, [str(gdir / "vid000.gt.jsonl")])
        return r["detection"]["mAP50"], r["detection"]["mAP50_95"], r["tracking"]["MOTA"], r["tracking"]["IDF1"]

    base = lambda rng, f, o: (o["box"], o["cls"], 0.5 + 0.5 * rng.random(), o["id"])
    ref = score(results(base))
    check(ref == (1.0, 1.0, 1.0, 1.0), f"negative controls: unperturbed results score {ref}")
    by_frame = {g["frame"]: g for g in gt}
    perturbed = {
        "jitter 3%": lambda rng, f, o: (jitter(rng, o["box"], 0.03), o["cls"], rng.random(), o["id"]),
        "drop 20%": lambda rng, f, o: None if rng.random() < 0.2 else base(rng, f, o),
        "wrong class 20%": lambda rng, f, o: (o["box"], (o["cls"] + 1) % 4 if rng.random() < 0.2 else o["cls"],
                                              rng.random(), o["id"]),
        "ids renumbered every 30 frames": lambda rng, f, o: (o["box"], o["cls"], rng.random(), o["id"] + 100 * (f // 30)),
        "boxes of the previous frame": lambda rng, f, o: (
            next((p["box"] for p in by_frame.get(f - 3, {"objects": []})["objects"] if p["id"] == o["id"]), o["box"]),
            o["cls"], rng.random(), o["id"]),
    }
    for name, fn in perturbed.items():
        s = score(results(fn))
        print(f"controls: {name}: mAP@0.5 {s[0]:.4f} mAP@0.5:0.95 {s[1]:.4f} MOTA {s[2]:.4f} IDF1 {s[3]:.4f}")
        check(min(x for x in s) < 1.0 and all(x <= 1.0 for x in s), f"negative control {name} scores {s}")
    s = score(results(perturbed["jitter 3%"]))
    check(s[1] < 0.95 and s[2] > 0.9, f"jitter hits mAP@0.5:0.95, hardly MOTA: {s}")
    s = score(results(perturbed["ids renumbered every 30 frames"]))
    check(s[0] == 1 and s[3] < 0.9, f"renumbered ids hit IDF1 only: {s}")
    # false positives ranked above the true ones lower AP but not MOTA's FP count
    def fp_high(rng, f, o):
        return base(rng, f, o)
    rows = results(fp_high)
    rows_lo, rows_hi = json.loads(json.dumps(rows)), json.loads(json.dumps(rows))
    for rl, rh in zip(rows_lo, rows_hi):
        rl["detections"].append({"box": [0, 0, 30, 30], "cls": 0, "score": 0.01})
        rh["detections"].append({"box": [0, 0, 30, 30], "cls": 0, "score": 0.99})
    lo, hi = score(rows_lo), score(rows_hi)
    check(lo[0] == 1 and hi[0] < lo[0], f"score order ignored: FP at 0.01 {lo}, at 0.99 {hi}")


# ------------------------------------------------------------------- gen

def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / max(mse, 1e-9))


def part_gen(tmp):
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            print(f"skip: {tool} missing")
            sys.exit(SKIP)
    cv2 = need("cv2")
    W, H, NF = 480, 272, 150
    common = ["--videos", "2", "--frames", str(NF), "--size", f"{W}x{H}", "--objects", "4,8"]
    a, b, c = Path(tmp, "a"), Path(tmp, "b"), Path(tmp, "c")
    t0 = time.time()
    subprocess.run([sys.executable, str(GEN), "--out", str(a), "--seed", "11", *common,
                    "--yolo-dir", str(a / "yolo"), "--yolo-every", "25"], check=True, capture_output=True)
    t1 = time.time()
    subprocess.run([sys.executable, str(GEN), "--out", str(b), "--seed", "11", *common, "--no-video"],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, str(GEN), "--out", str(c), "--seed", "12", *common, "--no-video"],
                   check=True, capture_output=True)
    print(f"gen: 2 videos x {NF} frames at {W}x{H} with video + YOLO in {t1 - t0:.1f} s")
    meta = {d: json.loads((d / "dataset.json").read_text()) for d in (a, b, c)}
    for v in ("vid000", "vid001"):
        ga, gb, gc = ((d / f"{v}.gt.jsonl").read_bytes() for d in (a, b, c))
        check(ga == gb, f"gen: {v} ground truth differs between two runs with one seed")
        check(ga != gc, f"gen: {v} ground truth identical for seeds 11 and 12")
    sha = lambda m: [x["raw_rgb24_sha256"] for x in m["videos"]]
    check(sha(meta[a]) == sha(meta[b]), "gen: raw frames differ between two runs with one seed")
    check(sha(meta[a]) != sha(meta[c]), "gen: raw frames identical for two seeds")

    # ground-truth sanity over both seeds
    entered = left = occluded = ignored = 0
    classes, sides = set(), []
    for d in (a, c):
        for v in ("vid000", "vid001"):
            rows = [json.loads(l) for l in (d / f"{v}.gt.jsonl").read_text().splitlines()]
            check([r["frame"] for r in rows] == list(range(NF)), f"gen: {d.name}/{v} frames not 0..{NF - 1}")
            seen = {}
            for r in rows:
                check(r["width"] == W and r["height"] == H, "gen: frame size in GT")
                for o in r["objects"]:
                    x0, y0, x1, y1 = o["box"]
                    check(0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H, f"gen: box {o['box']} outside {W}x{H}")
                    check(0 <= o["visibility"] <= 1, "gen: visibility range")
                    check(o["ignore"] == (o["visibility"] < 0.3 or min(x1 - x0, y1 - y0) < 4),
                          f"gen: ignore rule broken for {o}")
                    s = seen.setdefault(o["id"], {"cls": o["cls"], "frames": []})
                    check(s["cls"] == o["cls"], f"gen: id {o['id']} changes class")
                    s["frames"].append(r["frame"])
                    occluded += o["visibility"] < 0.7
                    ignored += o["ignore"]
                    classes.add(o["cls"])
                    sides.append(max(x1 - x0, y1 - y0))
            for oid, s in seen.items():
                fr = s["frames"]
                check(fr == list(range(fr[0], fr[-1] + 1)), f"gen: id {oid} has gaps (ids must persist)")
                entered += fr[0] > 0
                left += fr[-1] < NF - 1
    print(f"gen: {entered} objects entered, {left} left, {occluded} boxes > 30% occluded, {ignored} ignored, "
          f"classes {sorted(classes)}, box sides {min(sides)}..{max(sides)} px")
    check(entered >= 2 and left >= 2 and occluded >= 10 and ignored >= 1, "gen: too little entering/leaving/occlusion")
    check(len(classes) >= 3 and min(sides) <= 30 and max(sides) >= 100, "gen: classes or sizes too uniform")

    # the encoded files decode to the right frames
    for v in ("vid000", "vid001"):
        for ext in ("mp4", "h264"):
            p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                                "-show_entries", "stream=nb_read_frames,width,height", "-of", "json",
                                str(a / f"{v}.{ext}")], capture_output=True, text=True)
            st = json.loads(p.stdout)["streams"][0] if p.returncode == 0 else {}
            check(st.get("width") == W and st.get("height") == H and int(st.get("nb_read_frames", -1)) == NF,
                  f"gen: {v}.{ext} probes as {st} (want {W}x{H}, {NF} frames)")
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(a / f"{v}.mp4"), "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
        dec = np.frombuffer(raw, np.uint8).reshape(NF, H, W, 3)
        split = "val" if v == "vid001" else "train"
        for k in (0, 75):
            img = cv2.imread(str(a / "yolo" / "images" / split / f"{v}_{k:06d}.jpg"))[..., ::-1]
            same, other = psnr(dec[k], img), psnr(dec[k + 25], img)
            check(same > 28 and same > other + 3, f"gen: {v} decoded frame {k} PSNR {same:.1f} dB vs "
                                                  f"frame {k + 25} {other:.1f} dB")
        lab = (a / "yolo" / "labels" / split / f"{v}_000075.txt").read_text().split()
        check(len(lab) % 5 == 0 and all(0 <= float(x) <= 1 for i, x in enumerate(lab) if i % 5), "gen: YOLO labels")
    check((a / "yolo" / "data.yaml").read_text().count(": disc") == 1, "gen: data.yaml names")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["coco", "mot", "controls", "gen", "all"], default="all")
    a = ap.parse_args()
    parts = ["coco", "mot", "controls", "gen"] if a.part == "all" else [a.part]
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="vp_eval_test_") as tmp:
        for p in parts:
            globals()[f"part_{p}"](tmp)
    if failures:
        print(f"eval_test: {len(failures)} failure(s)")
        return 1
    print(f"eval_test: {', '.join(parts)} passed in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
