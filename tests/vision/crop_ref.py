#!/usr/bin/env python3
"""The CPU crop + resize (src/vision/crop.c, through vp_crop_tool) against
independent implementations:

  - packed RGB/BGR pictures: OpenCV's cv2.resize(INTER_LINEAR) of the same
    integer rectangle (the picture as float32, so OpenCV interpolates in
    float), divided by 255; max difference must be < 1e-4 (units of 1)
    and the rectangles must be numpy's floor/ceil/clip of the boxes.
  - NV12 / YUV420P: a numpy model of the documented sampling (luma at
    the rectangle's half-pixel positions, chroma at (x/2, (y-0.5)/2) in
    its own plane, bilinear, BT.601 limited range), max difference < 1/255.

Boxes: inside, touching and crossing every edge, entirely outside, tiny
(sub-pixel) and larger than the picture, on several picture sizes. A
deliberately shifted reference is checked to fail (the comparison can fail).
Exit 0 pass, 1 fail, 77 when numpy or OpenCV is missing.
"""
import argparse
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import cv2
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)


def rect(b, w, h):
    x0 = min(max(int(np.floor(b[0])), 0), w - 1)
    y0 = min(max(int(np.floor(b[1])), 0), h - 1)
    x1 = min(max(int(np.ceil(b[2])), x0 + 1), w)
    y1 = min(max(int(np.ceil(b[3])), y0 + 1), h)
    return x0, y0, x1 - x0, y1 - y0


def boxes_for(w, h, rng):
    b = [[10.3, 5.7, 40.2, 60.9], [-12, -7, 30, 25], [w - 30.5, h - 20.5, w + 15, h + 9],
         [-50, 10, -5, 40], [w + 3, h + 3, w + 40, h + 40], [5.2, 5.4, 5.6, 5.9], [-20, -20, w + 20, h + 20],
         [0, 0, w, h], [w / 2, 0, w / 2 + 7, h]]
    for _ in range(12):
        x0, y0 = rng.uniform(-20, w), rng.uniform(-20, h)
        b.append([x0, y0, x0 + rng.uniform(1, w / 2), y0 + rng.uniform(1, h / 2)])
    return np.array(b, dtype=np.float32)


def bilin(plane, x, y):
    """plane[y, x] bilinear at float positions (already clamped inside)."""
    h, w = plane.shape
    i0 = np.floor(x).astype(int); j0 = np.floor(y).astype(int)
    i1 = np.minimum(i0 + 1, w - 1); j1 = np.minimum(j0 + 1, h - 1)
    ax = x - i0; ay = y - j0
    p = plane.astype(np.float64)
    top = p[j0[:, None], i0[None, :]] * (1 - ax[None, :]) + p[j0[:, None], i1[None, :]] * ax[None, :]
    bot = p[j1[:, None], i0[None, :]] * (1 - ax[None, :]) + p[j1[:, None], i1[None, :]] * ax[None, :]
    return top * (1 - ay[:, None]) + bot * ay[:, None]


def yuv_ref(Y, U, V, r, dw, dh):
    x0, y0, bw, bh = r
    fx = x0 + np.clip((np.arange(dw) + 0.5) * bw / dw - 0.5, 0, bw - 1)
    fy = y0 + np.clip((np.arange(dh) + 0.5) * bh / dh - 0.5, 0, bh - 1)
    ch, cw = U.shape
    cx = np.clip(fx * 0.5, 0, cw - 1); cy = np.clip((fy - 0.5) * 0.5, 0, ch - 1)
    y = (bilin(Y, fx, fy) - 16) / 219
    u = (bilin(U, cx, cy) - 128) / 224
    v = (bilin(V, cx, cy) - 128) / 224
    kr, kb = 0.299, 0.114
    kg = 1 - kr - kb
    R = y + 2 * (1 - kr) * v
    B = y + 2 * (1 - kb) * u
    G = y - (2 * kb * (1 - kb) * u + 2 * kr * (1 - kr) * v) / kg
    return np.clip(np.stack([R, G, B]), 0, 1)


def run_tool(tool, tmp, raw, fmt, w, h, dw, dh, boxes):
    rp, bp, op = (os.path.join(tmp, n) for n in ("pic.raw", "boxes.txt", "out.npy"))
    raw.tofile(rp)
    np.savetxt(bp, boxes, fmt="%.9g")
    r = subprocess.run([tool, rp, fmt, str(w), str(h), str(dw), str(dh), bp, op], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"vp_crop_tool failed: {r.stderr}")
    rects = [tuple(int(v) for v in l.split()[1:]) for l in r.stdout.splitlines() if l.startswith("rect")]
    return np.load(op), rects


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(5)
    fails = 0
    worst = {}
    with tempfile.TemporaryDirectory() as tmp:
        for (w, h) in [(640, 384), (97, 61), (1920, 1080), (33, 17)]:
            boxes = boxes_for(w, h, rng)
            for dw, dh in [(64, 64), (32, 64), (7, 5)]:
                # smooth-ish content plus noise, so that interpolation errors show
                yy, xx = np.mgrid[0:h, 0:w]
                base = (127 + 100 * np.sin(xx / 7.0)[..., None] * np.cos(yy / 5.0)[..., None]
                        + rng.normal(0, 20, (h, w, 3)))
                rgb = np.clip(base, 0, 255).astype(np.uint8)
                for fmt in ("rgb24", "bgr24"):
                    pic = rgb if fmt == "rgb24" else rgb[..., ::-1].copy()
                    out, rects = run_tool(a.tool, tmp, pic, fmt, w, h, dw, dh, boxes)
                    for i, b in enumerate(boxes):
                        r = rect(b, w, h)
                        if rects[i] != r:
                            print(f"FAIL {w}x{h} box {b.tolist()}: rect {rects[i]}, numpy {r}")
                            fails += 1
                            continue
                        x0, y0, bw, bh = r
                        ref = cv2.resize(rgb[y0:y0 + bh, x0:x0 + bw].astype(np.float32), (dw, dh),
                                         interpolation=cv2.INTER_LINEAR) / 255.0
                        ref = ref.reshape(dh, dw, 3).transpose(2, 0, 1)
                        d = float(np.abs(out[i] - ref).max())
                        worst[fmt] = max(worst.get(fmt, 0), d)
                        if d >= 1e-4:
                            print(f"FAIL {fmt} {w}x{h} -> {dw}x{dh} box {b.tolist()} rect {r}: max diff {d}")
                            fails += 1
                        if i == 0 and fmt == "rgb24":  # the comparison can fail: a one-pixel shift must show
                            sh = cv2.resize(rgb[y0:y0 + bh, x0 + 1:x0 + 1 + bw].astype(np.float32), (dw, dh),
                                            interpolation=cv2.INTER_LINEAR).reshape(dh, dw, 3).transpose(2, 0, 1) / 255
                            if float(np.abs(out[i] - sh).max()) < 1e-4:
                                print("FAIL: a shifted reference was not told apart")
                                fails += 1
                cw, ch = (w + 1) // 2, (h + 1) // 2
                Y = rng.integers(16, 236, (h, w)).astype(np.uint8)
                Y = cv2.GaussianBlur(Y, (5, 5), 1.5)
                U = rng.integers(16, 241, (ch, cw)).astype(np.uint8)
                V = rng.integers(16, 241, (ch, cw)).astype(np.uint8)
                for fmt in ("yuv420p", "nv12"):
                    if fmt == "yuv420p":
                        raw = np.concatenate([Y.ravel(), U.ravel(), V.ravel()])
                    else:
                        raw = np.concatenate([Y.ravel(), np.stack([U, V], -1).ravel()])
                    out, rects = run_tool(a.tool, tmp, raw, fmt, w, h, dw, dh, boxes)
                    for i, b in enumerate(boxes):
                        ref = yuv_ref(Y, U, V, rect(b, w, h), dw, dh)
                        d = float(np.abs(out[i] - ref).max())
                        worst[fmt] = max(worst.get(fmt, 0), d)
                        if d >= 1 / 255:
                            print(f"FAIL {fmt} {w}x{h} -> {dw}x{dh} box {b.tolist()}: max diff {d * 255:.3f}/255")
                            fails += 1
    print("crop_ref: worst difference per format: " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    print("crop_ref: " + ("all checks passed" if not fails else f"{fails} checks FAILED"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
