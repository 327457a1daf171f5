#!/usr/bin/env python3
"""Compares two `vidpipe run` JSON Lines results of a segment or semseg model,
typically the GPU path (masks and class counts made on the GPU) against the
CPU path on the same video:

  seg_compare.py GOT.jsonl REF.jsonl [--conf 0.25] [--max-det 300]
                 [--semseg-l1 0.02] [--mask-iou 0.9]

Both files must have the same frames, none with an "error".
  semseg  (lines with "classes"): per frame, the L1 distance between the two
          class-fraction vectors (sum over classes of |a - b|, each fraction
          as written, 5 decimals) must be at most --semseg-l1. The engines
          differ in float rounding, which moves pixels whose top two logits
          nearly tie; identical engine outputs give identical fractions (the
          GPU counts what the CPU counts: tests/vision/postprocess_gpu.c).
  segment (lines with "detections"): detections are paired much as
          tests/pipeline/run_e2e.py compare matches them (same class, every
          box coordinate within 1 px, IoU >= 0.9 where the boxes have an
          area; >= 99 % of the clear detections paired both ways; see
          segment_check); every pair must carry a mask in both files, of the
          same size, and >= 99 % of the pairs must have mask IoU >=
          --mask-iou (masks decoded from their run lengths).
Negative control: the same check against a corrupted reference must fail:
semseg with a share of 2 x --semseg-l1 added to a class that does not exist
(256) in every frame, segment with every mask replaced by its complement.

Exit: 0 pass, 1 fail.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_e2e import iou, load_jsonl  # noqa: E402


def mask_bits(m):
    """A mask {"w", "h", "rle"} as an integer bit set, and its size."""
    bits, at, one = 0, 0, False
    for run in m["rle"]:
        if one and run:
            bits |= ((1 << run) - 1) << at
        at += run
        one = not one
    if at != m["w"] * m["h"]:
        raise AssertionError(f"run lengths add up to {at}, not {m['w']} x {m['h']}")
    return bits, (m["w"], m["h"])


def mask_iou(a, b):
    (x, sa), (y, sb) = mask_bits(a), mask_bits(b)
    if sa != sb:
        return -1.0
    u = bin(x | y).count("1")
    return bin(x & y).count("1") / u if u else 1.0


def semseg_check(got, ref, tol):
    worst, bad = 0.0, 0
    for key, r in ref.items():
        a = {c["cls"]: c["fraction"] for c in got[key]["classes"]}
        b = {c["cls"]: c["fraction"] for c in r["classes"]}
        d = sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))
        worst = max(worst, d)
        bad += d > tol
    return bad == 0, f"{len(ref)} frames, worst L1 distance of the class fractions {worst:.5f} (at most {tol:g}), " \
                     f"{bad} frames over"


def segment_check(got, ref, conf, max_det, min_iou, margin=0.02, px=1.0):
    """Pairs: greedy in the reference's score order, each reference detection
    with the unused detection of its class whose box is closest (largest
    coordinate difference); a pair when that is within px and the IoU is >=
    0.9 (boxes of zero area, clamped to the picture's edge, by coordinates
    alone). A detection is clear when its score is above the threshold (or the
    max_det cut) by margin: those must be paired, >= 99 % both ways."""
    need_ref = miss_ref = need_got = miss_got = pairs = low = missing = 0
    worst = 1.0

    def cut(dets):
        return conf if len(dets) < max_det else max(conf, min(d["score"] for d in dets))

    for key, r in ref.items():
        rd, gd, used = r["detections"], got[key]["detections"], set()
        rc, gc = cut(rd) + margin, cut(gd) + margin
        for d in sorted(rd, key=lambda d: -d["score"]):
            best, bi = None, -1
            for j, e in enumerate(gd):
                if j in used or e["cls"] != d["cls"]:
                    continue
                diff = max(abs(x - y) for x, y in zip(d["box"], e["box"]))
                if best is None or diff < best:
                    best, bi = diff, j
            area = min((b[2] - b[0]) * (b[3] - b[1]) for b in (d["box"], gd[bi]["box"])) if bi >= 0 else 0
            ok = best is not None and best <= px and (area <= 0 or iou(d["box"], gd[bi]["box"]) >= 0.9)
            need_ref += d["score"] > rc
            if not ok:
                miss_ref += d["score"] > rc
                continue
            used.add(bi)
            pairs += 1
            if "mask" not in d or "mask" not in gd[bi]:
                missing += 1
                continue
            v = mask_iou(gd[bi]["mask"], d["mask"])
            worst = min(worst, v)
            low += v < min_iou
        for j, e in enumerate(gd):
            need_got += e["score"] > gc
            miss_got += e["score"] > gc and j not in used
    frac_ref = 1 - miss_ref / max(1, need_ref)
    frac_got = 1 - miss_got / max(1, need_got)
    ok = frac_ref >= 0.99 and frac_got >= 0.99 and need_ref > 0 and pairs > 0 and missing == 0 and \
        low <= 0.01 * pairs
    return ok, (f"{len(ref)} frames; boxes: clear reference detections paired {frac_ref:.4f} of {need_ref}, "
                f"clear detections paired {frac_got:.4f} of {need_got}; masks: {pairs} pairs, {missing} without a "
                f"mask, {low} with mask IoU < {min_iou:g}, worst {worst:.4f}")


def corrupted(ref, semseg, tol):
    """The negative control's reference (see the file comment)."""
    out = {}
    for key, r in ref.items():
        r = dict(r)
        if semseg:
            r["classes"] = r["classes"] + [{"cls": 256, "fraction": 2 * tol}]
        else:
            dets = []
            for d in r["detections"]:
                d = dict(d)
                if "mask" in d:
                    m = d["mask"]
                    # the complement: the same runs, starting with the 1s
                    d["mask"] = {"w": m["w"], "h": m["h"], "rle": [0] + m["rle"]}
                dets.append(d)
            r["detections"] = dets
        out[key] = r
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("got")
    ap.add_argument("ref")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--max-det", type=int, default=300)
    ap.add_argument("--semseg-l1", type=float, default=0.02)
    ap.add_argument("--mask-iou", type=float, default=0.9)
    a = ap.parse_args()
    got, ref = load_jsonl(a.got), load_jsonl(a.ref)
    if set(got) != set(ref):
        print(f"FAIL seg_compare: {len(got)} vs {len(ref)} frames, {len(set(got) ^ set(ref))} differ")
        return 1
    errors = [k for k in ref if "error" in ref[k] or "error" in got[k]]
    if errors:
        print(f"FAIL seg_compare: {len(errors)} frames with an error, e.g. {errors[0]}")
        return 1
    semseg = all("classes" in r for r in ref.values())

    def check(r):
        if semseg:
            return semseg_check(got, r, a.semseg_l1)
        return segment_check(got, r, a.conf, a.max_det, a.mask_iou)

    ok, msg = check(ref)
    print(f"{'ok' if ok else 'FAIL'} seg_compare ({'semseg' if semseg else 'segment'}) {a.got} vs {a.ref}: {msg}")
    cok, cmsg = check(corrupted(ref, semseg, a.semseg_l1))
    print(f"{'FAIL' if cok else 'ok'} negative control (corrupted reference): "
          f"{'passed, it should not' if cok else 'failed, as it should'}: {cmsg}")
    ok = ok and not cok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
