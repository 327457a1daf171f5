#!/usr/bin/env python3
"""Score vidpipe JSON Lines results against ground truth (tools/gen_dataset.py).

Usage:
    tools/eval.py --results R.jsonl --gt [STREAM=]G.gt.jsonl [--gt ...]
                  [--max-dets 100] [--track-min-score 0] [--json]

Results are `vidpipe run` lines ({"stream", "frame", "detections": [{"box",
"cls", "score", "track_id"?}]} or {"stream", "frame", "error"}); ground truth
is one line per frame ({"frame", "objects": [{"id", "cls", "box", "ignore"?}]}).
Lines are matched by (stream, frame); a --gt without STREAM= takes the one
stream of the results (naming it is required when the results hold several).

Detection (COCO rules, class by class, then averaged over the classes that
have non-ignored ground truth): per frame and class the best --max-dets
detections by score are matched greedily, highest score first, each to the
unmatched ground-truth box of highest IoU >= t, non-ignored boxes preferred;
AP is the 101-point interpolated precision over recall; mAP@0.5 uses t = 0.5,
mAP@0.5:0.95 the mean over t = 0.50, 0.55, ..., 0.95. An ignored box
(heavily occluded object) behaves as a COCO "crowd" region: overlap is
intersection over the detection's area, it may absorb several detections, and
detections matched to it count neither way.

Tracking (CLEAR-MOT and identity measures, class-agnostic, IoU >= 0.5): only
detections with a track_id (and score >= --track-min-score) are hypotheses;
when no detection has one, tracking is reported as n/a. Per frame, ignored
objects are dropped, and with them the hypotheses that no other object takes
(Hungarian, IoU >= 0.5) and that lie at least half inside an ignored box. A
correspondence from an earlier frame is kept while its IoU stays >= 0.5; the
rest are matched by Hungarian assignment on 1 - IoU; a ground-truth object
matched to another hypothesis than its last one is an ID switch.
MOTA = 1 - (FN + FP + IDSW) / GT. IDF1 = 2 IDTP / (GT + hypotheses) with the
one-to-one trajectory assignment that maximises IDTP. MOTP is the mean IoU of
the matches (motmetrics reports 1 - this). Frag counts tracked -> lost
transitions within each object's tracked span; MT / PT / ML count objects
tracked >= 80%, 20-80%, < 20% of their frames.

Frames of the ground truth that the results lack, or where they hold an
error, have no detections: every object there is a miss. Result frames
without ground truth (e.g. a looped source) are counted and left out.
A malformed line stops with "eval: FILE:LINE: why" and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict

import numpy as np

try:
    from scipy.optimize import linear_sum_assignment
except ImportError:  # pragma: no cover
    linear_sum_assignment = None

IOU_THRS = np.round(np.linspace(0.5, 0.95, 10), 2)
REC_THRS = np.linspace(0.0, 1.0, 101)


class EvalError(Exception):
    pass


def fail(where: str, msg: str):
    raise EvalError(f"{where}: {msg}")


# ------------------------------------------------------------------ reading

def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _box(v, where: str) -> list:
    if not isinstance(v, list) or len(v) != 4 or not all(_num(x) for x in v):
        fail(where, "box must be [x0, y0, x1, y1] of 4 finite numbers")
    if v[2] < v[0] or v[3] < v[1]:
        fail(where, f"box {v} has x1 < x0 or y1 < y0")
    return [float(x) for x in v]


def read_lines(path: str):
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise EvalError(f"{path}: cannot read: {e}")
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            fail(where, f"not JSON ({e.msg} at column {e.colno})")
        if not isinstance(obj, dict):
            fail(where, "not a JSON object")
        if not _int(obj.get("frame")) or obj["frame"] < 0:
            fail(where, "missing or bad \"frame\" (an integer >= 0)")
        yield where, obj


def load_gt(path: str) -> dict:
    """frame -> list of (box, cls, id, ignore, label)."""
    frames = {}
    for where, obj in read_lines(path):
        fr = obj["frame"]
        if fr in frames:
            fail(where, f"frame {fr} appears twice")
        objs = obj.get("objects")
        if not isinstance(objs, list):
            fail(where, "missing \"objects\" list")
        out, ids = [], set()
        for k, o in enumerate(objs):
            w = f"{where}: objects[{k}]"
            if not isinstance(o, dict):
                fail(w, "not an object")
            box = _box(o.get("box"), w)
            if not _int(o.get("cls")) or not _int(o.get("id")):
                fail(w, "needs integer \"cls\" and \"id\"")
            if o["id"] in ids:
                fail(w, f"id {o['id']} twice in one frame")
            ids.add(o["id"])
            ign = o.get("ignore", False)
            if not isinstance(ign, bool):
                fail(w, "\"ignore\" must be true or false")
            label = o.get("label")
            out.append((box, o["cls"], o["id"], ign, label if isinstance(label, str) else None))
        frames[fr] = out
    return frames


def load_results(path: str) -> tuple[dict, set]:
    """(stream, frame) -> list of (box, cls, score, track_id|None) or None (error line)."""
    res, streams = {}, set()
    for where, obj in read_lines(path):
        st = obj.get("stream")
        if st is not None and not isinstance(st, str):
            fail(where, "\"stream\" must be a string")
        key = (st, obj["frame"])
        if key in res:
            fail(where, f"stream {st} frame {obj['frame']} appears twice")
        streams.add(st)
        if "error" in obj:
            res[key] = None
            continue
        dets = obj.get("detections")
        if not isinstance(dets, list):
            fail(where, "neither \"detections\" (a list) nor \"error\"")
        out = []
        for k, d in enumerate(dets):
            w = f"{where}: detections[{k}]"
            if not isinstance(d, dict):
                fail(w, "not an object")
            box = _box(d.get("box"), w)
            if not _int(d.get("cls")):
                fail(w, "needs an integer \"cls\"")
            if not _num(d.get("score")):
                fail(w, "needs a numeric \"score\"")
            tid = d.get("track_id")
            if tid is not None and not _int(tid):
                fail(w, "\"track_id\" must be an integer")
            out.append((box, d["cls"], float(d["score"]), tid))
        res[key] = out
    return res, streams


# ------------------------------------------------------------------ geometry

def iou_matrix(a: np.ndarray, b: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of boxes a (N,4) against b (M,4); columns flagged in crowd use
    intersection over the area of a's box instead."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    aa = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
    ab = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :]
    union = aa + ab - inter
    if crowd is not None and np.any(crowd):
        union = np.where(np.asarray(crowd, bool)[None, :], aa, union)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out


# ----------------------------------------------------------------- detection

def match_image(ious: np.ndarray, ign: np.ndarray, thr: float):
    """Greedy COCO matching of detections (rows, best score first) to ground
    truth (columns, non-ignored first). Returns per detection: 1 true
    positive, 0 false positive, -1 ignored."""
    nd, ng = ious.shape
    taken = np.zeros(ng, bool)
    out = np.zeros(nd, np.int8)
    for d in range(nd):
        best, best_iou = -1, min(thr, 1 - 1e-10)
        for g in range(ng):
            if taken[g] and not ign[g]:
                continue
            if best > -1 and not ign[best] and ign[g]:
                break  # ground truth is sorted: only ignored boxes remain
            if ious[d, g] < best_iou:
                continue
            best, best_iou = g, ious[d, g]
        if best >= 0:
            taken[best] = True
            out[d] = -1 if ign[best] else 1
    return out


def average_precision(scores: np.ndarray, flags: np.ndarray, npos: int) -> float:
    """101-point interpolated AP; scores in image order, flags 1/0/-1."""
    keep = flags >= 0
    scores, flags = scores[keep], flags[keep]
    order = np.argsort(-scores, kind="mergesort")
    tp = np.cumsum(flags[order] == 1)
    fp = np.cumsum(flags[order] == 0)
    if len(tp) == 0:
        return 0.0
    rec = tp / npos
    prec = tp / (tp + fp)
    prec = np.maximum.accumulate(prec[::-1])[::-1]
    idx = np.searchsorted(rec, REC_THRS, side="left")
    sampled = np.where(idx < len(prec), prec[np.minimum(idx, len(prec) - 1)], 0.0)
    return float(np.mean(sampled))


def eval_detection(images: list, max_dets: int, labels: dict) -> dict:
    """images: list of (gt list, det list) in a fixed order."""
    classes = sorted({g[1] for gts, _ in images for g in gts})
    per_class = {}
    for c in classes:
        npos = 0
        scores = []
        flags = [[] for _ in IOU_THRS]
        ndet = 0
        for gts, dets in images:
            g = [x for x in gts if x[1] == c]
            g.sort(key=lambda x: x[3])  # non-ignored first, stable
            d = [x for x in dets if x[1] == c]
            order = np.argsort([-x[2] for x in d], kind="mergesort")[:max_dets]
            d = [d[i] for i in order]
            npos += sum(not x[3] for x in g)
            ndet += len(d)
            if not d:
                continue
            ign = np.array([x[3] for x in g], bool)
            ious = iou_matrix([x[0] for x in d], [x[0] for x in g], ign).reshape(len(d), len(g))
            scores.extend(x[2] for x in d)
            for k, t in enumerate(IOU_THRS):
                flags[k].extend(match_image(ious, ign, float(t)))
        if npos == 0:
            continue  # no ground truth of this class: left out, as COCO does
        sc = np.array(scores, np.float64)
        aps = [average_precision(sc, np.array(f, np.int8), npos) for f in flags]
        per_class[c] = {"cls": c, "label": labels.get(c, f"cls{c}"), "gt": npos, "dets": ndet,
                        "AP50": aps[0], "AP50_95": float(np.mean(aps))}
    if not per_class:
        return {"mAP50": None, "mAP50_95": None, "classes": []}
    return {"mAP50": float(np.mean([v["AP50"] for v in per_class.values()])),
            "mAP50_95": float(np.mean([v["AP50_95"] for v in per_class.values()])),
            "classes": list(per_class.values())}


# ------------------------------------------------------------------ tracking

BIG = 1e9


def assign(cost_valid: np.ndarray, valid: np.ndarray):
    """Hungarian assignment maximising the number of valid pairs, then
    minimising their cost; returns the valid (row, col) pairs."""
    if valid.size == 0 or not valid.any():
        return []
    cost = np.where(valid, cost_valid, BIG)
    r, c = linear_sum_assignment(cost)
    return [(i, j) for i, j in zip(r, c) if valid[i, j]]


def eval_tracking_stream(frames: list, min_iou: float = 0.5) -> dict:
    """frames: list (in frame order) of (gts, hyps): gts [(box, id, ignore)],
    hyps [(box, track_id)]."""
    last = {}          # object -> hypothesis of its last match
    fn = fp = idsw = matches = 0
    dist_sum = 0.0
    num_gt = 0
    present = defaultdict(list)  # object -> [tracked?] over its frames
    gt_count = defaultdict(int)
    hyp_count = defaultdict(int)
    pair = defaultdict(int)
    for gts, hyps in frames:
        # drop ignored objects, and the hypotheses on them: those that no
        # other object takes (Hungarian, IoU >= 0.5) and that lie at least
        # half inside an ignored box (intersection over their own area)
        ign = [g for g in gts if g[2]]
        if ign and hyps:
            keep = [g for g in gts if not g[2]]
            iou = iou_matrix([h[0] for h in hyps], [g[0] for g in keep]).reshape(len(hyps), len(keep))
            taken = {i for i, _ in assign(1 - iou, iou >= min_iou)}
            ioa = iou_matrix([h[0] for h in hyps], [g[0] for g in ign], np.ones(len(ign), bool))
            hyps = [h for i, h in enumerate(hyps) if i in taken or not (ioa[i] >= min_iou).any()]
        gts = [g for g in gts if not g[2]]
        oids = [g[1] for g in gts]
        hids = [h[1] for h in hyps]
        num_gt += len(gts)
        for o in oids:
            gt_count[o] += 1
        for h in hids:
            hyp_count[h] += 1
        iou = iou_matrix([g[0] for g in gts], [h[0] for h in hyps]).reshape(len(gts), len(hyps))
        valid = (1 - iou) <= (1 - min_iou)
        for i, j in zip(*np.nonzero(valid)):
            pair[(oids[i], hids[j])] += 1
        mo = np.zeros(len(gts), bool)
        mh = np.zeros(len(hyps), bool)
        for i, o in enumerate(oids):      # keep earlier correspondences
            if o in last:
                for j, h in enumerate(hids):
                    if h == last[o] and not mh[j]:
                        if valid[i, j]:
                            mo[i] = mh[j] = True
                            matches += 1
                            dist_sum += 1 - iou[i, j]
                        break
        sub = valid & ~mo[:, None] & ~mh[None, :]
        for i, j in assign(1 - iou, sub):
            o, h = oids[i], hids[j]
            if o in last and last[o] != h:
                idsw += 1
            last[o] = h
            mo[i] = mh[j] = True
            matches += 1
            dist_sum += 1 - iou[i, j]
        fn += int((~mo).sum())
        fp += int((~mh).sum())
        for i, o in enumerate(oids):
            present[o].append(bool(mo[i]))
    # identity measures: one-to-one trajectory assignment maximising IDTP
    idtp = 0
    if pair:
        ol = sorted(gt_count)
        hl = sorted(hyp_count)
        oi = {o: k for k, o in enumerate(ol)}
        hi = {h: k for k, h in enumerate(hl)}
        m = np.zeros((len(ol), len(hl)))
        for (o, h), n in pair.items():
            m[oi[o], hi[h]] = n
        r, c = linear_sum_assignment(-m)
        idtp = int(m[r, c].sum())
    frag = mt = pt = ml = 0
    for o, tr in present.items():
        tr = np.array(tr)
        ratio = tr.mean()
        mt += ratio >= 0.8
        pt += 0.2 <= ratio < 0.8
        ml += ratio < 0.2
        on = np.flatnonzero(tr)
        if len(on):
            seg = tr[on[0]:on[-1] + 1]
            frag += int(np.sum(seg[:-1] & ~seg[1:]))
    return {"num_gt": num_gt, "num_hyp": sum(hyp_count.values()), "FN": fn, "FP": fp, "IDSW": idsw,
            "matches": matches, "dist_sum": dist_sum, "IDTP": idtp, "frag": frag,
            "MT": int(mt), "PT": int(pt), "ML": int(ml), "gt_tracks": len(gt_count), "hyp_tracks": len(hyp_count)}


def summarise_tracking(parts: list) -> dict:
    s = {k: sum(p[k] for p in parts) for k in parts[0]}
    ng, nh = s["num_gt"], s["num_hyp"]
    out = {"MOTA": 1 - (s["FN"] + s["FP"] + s["IDSW"]) / ng if ng else None,
           "IDF1": 2 * s["IDTP"] / (ng + nh) if ng + nh else None,
           "IDP": s["IDTP"] / nh if nh else None,
           "IDR": s["IDTP"] / ng if ng else None,
           "MOTP": 1 - s["dist_sum"] / s["matches"] if s["matches"] else None}
    for k in ("IDSW", "FP", "FN", "matches", "IDTP", "frag", "MT", "PT", "ML", "num_gt", "num_hyp",
              "gt_tracks", "hyp_tracks"):
        out[k] = int(s[k])
    return out


# ---------------------------------------------------------------------- main

def evaluate(results_path: str, gt_specs: list, max_dets: int = 100, track_min_score: float = 0.0) -> dict:
    res, streams = load_results(results_path)
    named = [s for s in streams if s is not None]
    gts = []
    for spec in gt_specs:
        st, sep, path = spec.partition("=")
        if not sep:
            st, path = None, spec
        gts.append((st, path, load_gt(path)))
    if any(st is None for st, _, _ in gts):
        if len(gts) > 1:
            raise EvalError("several --gt: name each one's stream (--gt STREAM=PATH)")
        if len(named) > 1:
            raise EvalError(f"{results_path} holds streams {', '.join(sorted(named))}: "
                            "name the stream (--gt STREAM=PATH)")
        gts = [(named[0] if named else None, gts[0][1], gts[0][2])]
    if len({st for st, _, _ in gts}) != len(gts):
        raise EvalError("two --gt for one stream")

    def stream_of(st):  # a results line without "stream" matches an unnamed GT
        return st

    labels = {}
    images = []
    track_frames = []
    info = {"gt_frames": 0, "result_frames": 0, "error_frames": 0, "missing_frames": 0,
            "gt_objects": 0, "gt_ignored": 0, "detections": 0}
    used = set()
    have_tracks = any(d[3] is not None for v in res.values() if v for d in v)
    for st, path, frames in gts:
        tf = []
        for fr in sorted(frames):
            g = frames[fr]
            for box, c, oid, ign, lab in g:
                if lab and c not in labels:
                    labels[c] = lab
            key = (stream_of(st), fr)
            d = res.get(key, [])
            if key in res:
                used.add(key)
                info["result_frames"] += 1
                if d is None:
                    info["error_frames"] += 1
                    d = []
            else:
                info["missing_frames"] += 1
            info["gt_frames"] += 1
            info["gt_objects"] += sum(not x[3] for x in g)
            info["gt_ignored"] += sum(x[3] for x in g)
            info["detections"] += len(d)
            images.append(([(b, c, i, ig) for b, c, i, ig, _ in g], d))
            tf.append(([(b, i, ig) for b, _, i, ig, _ in g],
                       [(b, t) for b, _, s, t in d if t is not None and s >= track_min_score]))
        track_frames.append(tf)
    info["results_without_gt"] = len(res) - len(used)
    out = {"results": results_path, "gt": [p for _, p, _ in gts], **info,
           "detection": eval_detection(images, max_dets, labels)}
    out["tracking"] = summarise_tracking([eval_tracking_stream(tf) for tf in track_frames]) if have_tracks else None
    return out


def fmt(v, pct=False):
    if v is None:
        return "n/a"
    return f"{100 * v:.2f}" if pct else f"{v:.4f}"


def print_table(r: dict) -> None:
    print(f"frames: {r['gt_frames']} in ground truth, {r['result_frames']} with results "
          f"({r['error_frames']} errors), {r['missing_frames']} missing; "
          f"{r['results_without_gt']} result frames without ground truth")
    print(f"objects: {r['gt_objects']} ({r['gt_ignored']} more ignored); detections: {r['detections']}")
    d = r["detection"]
    print(f"detection: mAP@0.5 {fmt(d['mAP50'])}  mAP@0.5:0.95 {fmt(d['mAP50_95'])}")
    if d["classes"]:
        print(f"  {'class':<12}{'gt':>7}{'dets':>8}{'AP50':>9}{'AP50:95':>9}")
        for c in d["classes"]:
            print(f"  {c['label']:<12}{c['gt']:>7}{c['dets']:>8}{c['AP50']:>9.4f}{c['AP50_95']:>9.4f}")
    t = r["tracking"]
    if t is None:
        print("tracking: n/a (no detection has a track_id)")
    else:
        print(f"tracking: MOTA {fmt(t['MOTA'])}  IDF1 {fmt(t['IDF1'])}  IDP {fmt(t['IDP'])}  "
              f"IDR {fmt(t['IDR'])}  MOTP(IoU) {fmt(t['MOTP'])}")
        print(f"  IDSW {t['IDSW']}  FP {t['FP']}  FN {t['FN']}  frag {t['frag']}  "
              f"MT/PT/ML {t['MT']}/{t['PT']}/{t['ML']} of {t['gt_tracks']} objects, {t['hyp_tracks']} tracks")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Score vidpipe JSON Lines results against ground truth.")
    ap.add_argument("--results", required=True, help="vidpipe run output (JSON Lines)")
    ap.add_argument("--gt", required=True, action="append", help="[STREAM=]ground truth .gt.jsonl (repeatable)")
    ap.add_argument("--max-dets", type=int, default=100, help="detections per frame and class (COCO: 100)")
    ap.add_argument("--track-min-score", type=float, default=0.0,
                    help="hypotheses for tracking need this score (default 0)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    a = ap.parse_args(argv)
    if linear_sum_assignment is None:
        print("eval: scipy is needed (scripts/setup-python.sh installs it)", file=sys.stderr)
        return 2
    try:
        r = evaluate(a.results, a.gt, a.max_dets, a.track_min_score)
    except EvalError as e:
        print(f"eval: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(r, indent=1))
    else:
        print_table(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
