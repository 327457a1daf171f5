#!/usr/bin/env python3
"""The CPU preprocessing (src/vision/preprocess.c, through vp_pre_tool)
against an independent implementation: numpy + OpenCV + ultralytics' LetterBox.

Reference pipeline, written from the standards and the libraries, not from
preprocess.c:
  1. code values -> Y' in [0,1], Cb/Cr in [-0.5,0.5] (H.273 range equations);
  2. chroma up-sampled to the luma grid with the polyphase filter of the
     MPEG-2 'left' siting (horizontal: even columns copy, odd ones average
     their two neighbours; vertical: 3/4 + 1/4 of the nearest two rows);
  3. R'G'B' = inverse of the RGB->YCbCr matrix built from Kr, Kb
     (numpy.linalg.inv), x255, unclamped, float32 at full resolution;
  4. ultralytics LetterBox (cv2.resize INTER_LINEAR + copyMakeBorder) on that
     image, padding with NaN to mark where padding went;
  5. clamp to [0,255], pad value into the NaN pixels, (x*scale - mean)/std.

Tolerance, per output element, in units of the [0,1] colour value
(|out - ref| * |std| / (255*|scale|)); derived, not fitted:
  * The vidpipe pipeline interpolates Y, U, V at the sample point, then
    converts and clamps. Colour conversion is affine and the bilinear weights
    sum to 1, so converting before resizing (the reference) commutes with it
    for luma, and clamping (1-Lipschitz) after both cannot enlarge a
    difference. What does not commute is the chroma: the reference
    interpolates chroma twice (up-sampling, then the resize). Horizontally
    the left siting puts chroma knots on even luma columns, so linear
    interpolation between luma columns of the piecewise-linear up-sampled
    chroma reproduces it exactly. Vertically the knots sit at luma rows
    2i+0.5, between luma rows, and re-interpolating between integer rows
    cuts the corner of each kink: the error is at most |slope change| x
    (1/2)(1/2) = |C[i+1] - 2C[i] + C[i-1]| / 8 (slope per luma row is
    dC/2). So chroma contributes sum_k |M[c,k]| * D2_k / 8, with D2_k the
    largest vertical second difference of plane k around the sample point
    (dilated 5x5 over chroma samples to be conservative). Smooth chroma gives
    ~0; a full-swing chroma edge up to ~0.5 (at such edges the two methods
    really differ that much; neither is wrong).
  * Float32 sample positions: each side rounds the source coordinate once
    or twice (OpenCV: double -> float; vidpipe: sx to float, one fmaf), at
    most 4 ulp together: delta <= 4 * max(W,H) * 2^-24 source pixels, times
    the local slope of the channel (max neighbour difference in a 3x3
    window of the full-resolution reference, per axis, two axes).
  * Float32 arithmetic on values <= 255 (a few roundings of 2^-24 relative,
    matrix coefficients rounded to float): 1e-5.
FP16 outputs must equal numpy's float16 cast of the FP32 output bit for bit.
A negative control (a reference with centre chroma siting) must FAIL the
same tolerance, showing the check can catch a siting error.

The letterbox geometry (content size and offsets, both placements, and
stretch) must equal LetterBox.get_params() exactly for thousands of sizes,
including round-half-even ties and 1-pixel-thin pictures.

Exit: 0 pass, 1 fail, 77 skipped (numpy, cv2 or ultralytics missing).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

try:
    import cv2
    import numpy as np
    from ultralytics.data.augment import LetterBox
except ImportError as e:  # pragma: no cover
    print(f"SKIP: {e}")
    sys.exit(77)

KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593)}
PACKED = ("rgb24", "bgr24")
WIDE = ("p016", "yuv420p10")


def ycbcr_to_rgb(matrix: str) -> np.ndarray:
    kr, kb = KR_KB[matrix]
    kg = 1.0 - kr - kb
    fwd = np.array(
        [
            [kr, kg, kb],
            [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
            [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
        ]
    )
    return np.linalg.inv(fwd)


# ------------------------------------------------------------------ pictures
def synth(rng, h, w, maxcode):
    """Gradients + sinusoid + sharp rectangles + a checkerboard + noise,
    over the whole code range (out-of-gamut colours exercise the clamp)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    a = rng.uniform(0.2, 1.0)
    v = 0.5 + 0.35 * np.sin(xx * a * 0.7 + yy * 0.13 * rng.uniform(0.5, 2)) * np.cos(yy * 0.05)
    v += 0.3 * (xx / max(w, 1) - yy / max(h, 1))
    for _ in range(4):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = x0 + rng.integers(1, max(2, w // 3)), y0 + rng.integers(1, max(2, h // 3))
        v[y0:y1, x0:x1] = rng.uniform(0, 1)
    s = int(rng.integers(1, 5))
    cx, cy = rng.integers(0, w), rng.integers(0, h)
    region = (xx >= cx) & (xx < cx + w // 4 + 1) & (yy >= cy) & (yy < cy + h // 4 + 1)
    checker = ((xx // s + yy // s) % 2).astype(np.float64)
    v = np.where(region, checker, v)
    v += rng.normal(0, 0.03, size=v.shape)
    return np.clip(np.rint(v * maxcode), 0, maxcode).astype(np.int64)


def pack(rng, arrays, bps):
    """Planes into one buffer with random garbage around and between rows:
    returns (bytes, offsets, pitches)."""
    parts, offsets, pitches = [], [], []
    pos = 2 * int(rng.integers(0, 24))
    parts.append(rng.integers(0, 256, pos, dtype=np.uint8).tobytes())
    for a in arrays:
        rows = a.shape[0]
        flat = a.reshape(rows, -1)
        rowbytes = flat.shape[1] * bps
        pitch = rowbytes + 2 * int(rng.integers(0, 20))
        mat = rng.integers(0, 256, (rows, pitch), dtype=np.uint8)
        data = flat.astype("<u2" if bps == 2 else np.uint8)
        mat[:, :rowbytes] = data.view(np.uint8).reshape(rows, rowbytes)
        offsets.append(pos)
        pitches.append(pitch)
        parts.append(mat.tobytes())
        pos += rows * pitch
        gap = 2 * int(rng.integers(0, 8))
        parts.append(rng.integers(0, 256, gap, dtype=np.uint8).tobytes())
        pos += gap
    return b"".join(parts), offsets, pitches


def make_source(rng, fmt, w, h, bits):
    """Returns (arrays to pack, bytes per sample, dict of code planes)."""
    cw, ch = (w + 1) // 2, (h + 1) // 2
    if fmt in PACKED:
        img = np.stack([synth(rng, h, w, 255) for _ in range(3)], axis=-1)
        return [img], 1, {"img": img}
    maxcode = (1 << bits) - 1
    y, u, v = synth(rng, h, w, maxcode), synth(rng, ch, cw, maxcode), synth(rng, ch, cw, maxcode)
    codes = {"y": y, "u": u, "v": v}
    if fmt == "p016":
        sh = 16 - bits
        y, u, v = y << sh, u << sh, v << sh
    if fmt in ("nv12", "p016"):
        uv = np.stack([u, v], axis=-1).reshape(ch, 2 * cw)
        return [y, uv], (2 if fmt in WIDE else 1), codes
    return [y, u, v], (2 if fmt in WIDE else 1), codes


def up2(c, w, h, siting="left"):
    """Chroma plane (ch, cw) -> luma grid (h, w), polyphase bilinear."""
    ch, cw = c.shape
    nxt = np.concatenate([c[:, 1:], c[:, -1:]], axis=1)
    hz = np.empty((ch, 2 * cw))
    if siting == "left":
        hz[:, 0::2] = c
        hz[:, 1::2] = 0.5 * (c + nxt)
    else:  # centre siting (negative control): chroma at luma 2j+0.5
        prv = np.concatenate([c[:, :1], c[:, :-1]], axis=1)
        hz[:, 0::2] = 0.75 * c + 0.25 * prv
        hz[:, 1::2] = 0.75 * c + 0.25 * nxt
    hz = hz[:, :w]
    prv = np.concatenate([hz[:1], hz[:-1]], axis=0)
    nxt = np.concatenate([hz[1:], hz[-1:]], axis=0)
    vt = np.empty((2 * ch, w))
    vt[0::2] = 0.75 * hz + 0.25 * prv
    vt[1::2] = 0.75 * hz + 0.25 * nxt
    return vt[:h]


# ----------------------------------------------------------------- reference
def reference(case, codes, siting="left"):
    """Returns (out float64 [3, dh, dw] in output channel order, tol01 [3, dh, dw])."""
    fmt, w, h, bits = case["format"], case["w"], case["h"], case["bits"]
    dw, dh = case["dst"]
    if fmt in PACKED:
        img = codes["img"].astype(np.float64)
        rgb = img if fmt == "rgb24" else img[..., ::-1]
        M = np.eye(3)
        dplanes = None
        yuv_scale = None
    else:
        n = bits
        if case["range"] == "limited":
            s8 = 2.0 ** (n - 8)
            Y = (codes["y"] / s8 - 16) / 219
            U = (codes["u"] / s8 - 128) / 224
            V = (codes["v"] / s8 - 128) / 224
        else:
            mx = 2.0**n - 1
            Y = codes["y"] / mx
            U = (codes["u"] - 2.0 ** (n - 1)) / mx
            V = (codes["v"] - 2.0 ** (n - 1)) / mx
        M = ycbcr_to_rgb(case["matrix"])
        yuv = np.stack([Y, up2(U, w, h, siting), up2(V, w, h, siting)], axis=-1)
        rgb = 255.0 * (yuv @ M.T)
        dplanes = (U, V)
    rgb32 = np.ascontiguousarray(rgb.astype(np.float32))
    mode = case["mode"]
    lb = LetterBox(
        new_shape=(dh, dw),
        auto=False,
        scale_fill=(mode == "stretch"),
        center=(mode != "topleft"),
        padding_value=float("nan"),
    )
    params = lb.get_params({"img": rgb32})
    out = lb(image=rgb32).astype(np.float64)
    assert out.shape == (dh, dw, 3), out.shape
    pad = np.isnan(out[..., 0])

    # ---- tolerance (see the module docstring), per RGB channel
    nw, nh = params["new_unpad"]
    top, left = params["top"], params["left"]
    ys, xs = np.mgrid[0:dh, 0:dw].astype(np.float64)
    fx = np.clip((xs - left + 0.5) * (w / nw) - 0.5, 0, w - 1)
    fy = np.clip((ys - top + 0.5) * (h / nh) - 0.5, 0, h - 1)
    delta = 4.0 * max(w, h) * 2.0**-24
    k3 = np.ones((3, 3), np.uint8)
    tol = np.full((3, dh, dw), 1e-5)
    ix, iy = np.rint(fx).astype(int), np.rint(fy).astype(int)
    for c in range(3):
        ch01 = rgb[..., c] / 255.0
        gx = np.abs(np.diff(ch01, axis=1, append=ch01[:, -1:]))
        gy = np.abs(np.diff(ch01, axis=0, append=ch01[-1:, :]))
        g = np.maximum(gx, gy)
        g = np.maximum(g, np.roll(g, 1, axis=1))
        g = np.maximum(g, np.roll(g, 1, axis=0))
        g = cv2.dilate(g.astype(np.float32), k3).astype(np.float64)
        tol[c] += 2.0 * delta * g[iy, ix]
    if dplanes is not None:
        cxi = np.clip(np.floor(fx * 0.5), 0, dplanes[0].shape[1] - 1).astype(int)
        cyi = np.clip(np.floor((fy - 0.5) * 0.5), 0, dplanes[0].shape[0] - 1).astype(int)
        k5 = np.ones((5, 5), np.uint8)
        for k, C in enumerate(dplanes):
            prv = np.concatenate([C[:1], C[:-1]], axis=0)
            nxt = np.concatenate([C[1:], C[-1:]], axis=0)
            d2 = cv2.dilate(np.abs(nxt - 2 * C + prv).astype(np.float32), k5).astype(np.float64)
            for c in range(3):
                tol[c] += np.abs(M[c, k + 1]) * d2[cyi, cxi] / 8.0
    for c in range(3):
        tol[c][pad] = 1e-5

    # ---- clamp, pad, normalise, in output channel order
    x = np.clip(out, 0, 255)
    res = np.empty((3, dh, dw))
    tols = np.empty((3, dh, dw))
    for c in range(3):
        src = c if case["order"] == "rgb" else 2 - c
        xc = x[..., src].copy()
        xc[pad] = min(max(case["pad"][c], 0.0), 255.0)
        res[c] = (xc * case["scale"] - case["mean"][c]) / case["std"][c]
        tols[c] = tol[src]
    return res, tols, params


# ---------------------------------------------------------------- vp_pre_tool
def fl(v):
    return ",".join(repr(float(x)) for x in v)


def run_tool(tool, tmp, case, raw, offsets, pitches, dtype, layout):
    path_in = os.path.join(tmp, "in.raw")
    path_out = os.path.join(tmp, f"out_{dtype}_{layout}.npy")
    with open(path_in, "wb") as f:
        f.write(raw)
    cmd = [
        tool, "run", "--input", path_in, "--format", case["format"],
        "--size", f"{case['w']}x{case['h']}", "--bits", str(case["bits"] if case["format"] in WIDE else 0),
        "--offsets", ",".join(map(str, offsets)), "--pitches", ",".join(map(str, pitches)),
        "--matrix", case.get("matrix", "bt709"), "--range", case.get("range", "limited"),
        "--dst", f"{case['dst'][0]}x{case['dst'][1]}", "--mode", case["mode"], "--order", case["order"],
        "--scale", repr(float(case["scale"])), "--mean", fl(case["mean"]), "--std", fl(case["std"]),
        "--pad", fl(case["pad"]), "--dtype", dtype, "--layout", layout,
        "--batch", str(case["batch"]), "--slot", str(case["slot"]), "--threads", str(case["threads"]),
        "--out", path_out,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"vp_pre_tool failed ({r.returncode}): {r.stderr.strip()}\n{' '.join(cmd)}")
    geom = [ln for ln in r.stdout.splitlines() if ln.startswith("geom ")][0].split()[1:]
    return np.load(path_out), geom


def slot_view(t, case, layout):
    """Check untouched slots (0xA5 bytes) and return slot as [3, H, W] float64."""
    for b in range(case["batch"]):
        if b != case["slot"]:
            raw = t[b].view(np.uint8)
            if not np.all(raw == 0xA5):
                raise AssertionError(f"slot {b} was written (only slot {case['slot']} may be)")
    s = t[case["slot"]]
    if layout == "nhwc":
        s = np.transpose(s, (2, 0, 1))
    return s


# ---------------------------------------------------------------------- cases
NORMS = [
    (1 / 255, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # YOLO
    (1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet
    (1.0, (127.5, 100.0, 20.0), (-2.0, 64.0, 1.5)),  # 0..255 units, a negative std
]
PADS = [(114.0, 114.0, 114.0), (0.0, 50.5, 255.0), (300.0, -5.0, 114.0)]
SIZES = [  # (src w, h, dst w, h)
    (1918, 1078, 640, 640),
    (1920, 1080, 640, 640),
    (720, 1280, 640, 640),
    (1, 1, 640, 640),
    (2, 3, 17, 13),
    (3, 2, 64, 64),
    (640, 480, 640, 640),
    (320, 240, 640, 640),
    (1280, 720, 640, 384),
    (17, 9, 640, 384),
    (333, 777, 416, 256),
    (101, 57, 101, 57),
    (3840, 2160, 1280, 1280),
]
FORMATS = ["nv12", "p016", "yuv420p", "yuv420p10", "rgb24", "bgr24"]
MATRICES = ["bt601", "bt709", "bt2020"]


def cases():
    i = 0
    for si, (w, h, dw, dh) in enumerate(SIZES):
        for fi, fmt in enumerate(FORMATS):
            bits = 8
            if fmt == "p016":
                bits = (10, 12, 16)[(si + fi) % 3]
            elif fmt == "yuv420p10":
                bits = (10, 10, 12)[(si + fi) % 3]
            norm = NORMS[i % 3]
            yield {
                "name": f"{fmt}{'' if bits == 8 else bits} {w}x{h}->{dw}x{dh}",
                "format": fmt, "w": w, "h": h, "bits": bits, "dst": (dw, dh),
                "matrix": MATRICES[(si + 2 * fi) % 3], "range": ("limited", "full")[(si + fi) % 2],
                "mode": ("letterbox", "letterbox", "topleft", "stretch")[(i + si) % 4],
                "order": ("rgb", "bgr")[(i // 2) % 2],
                "scale": norm[0], "mean": norm[1], "std": norm[2], "pad": PADS[(i // 3) % 3],
                "layout": ("nchw", "nhwc")[(i // 5) % 2],
                "fp16": i % 3 == 0,
                "batch": 3 if i % 4 == 1 else 1, "slot": 1 if i % 4 == 1 else 0,
                "threads": (0, 1, 2)[i % 3],
                "seed": 1000 + i,
            }
            i += 1


def check_image(tool, tmp, case, report, siting="left"):
    rng = np.random.default_rng(case["seed"])
    arrays, bps, codes = make_source(rng, case["format"], case["w"], case["h"], case["bits"])
    raw, offs, pitches = pack(rng, arrays, bps)
    t32, geom = run_tool(tool, tmp, case, raw, offs, pitches, "fp32", case["layout"])
    got = slot_view(t32, case, case["layout"]).astype(np.float64)
    ref, tol, params = reference(case, codes, siting)
    if siting == "left":
        want = [params["left"], params["top"], *params["new_unpad"]]
        if [int(g) for g in geom[:4]] != want:
            raise AssertionError(f"geometry {geom[:4]} != ultralytics {want}")
    if not np.all(np.isfinite(got)):
        raise AssertionError("non-finite output")
    unit = np.array([abs(s) / (255.0 * abs(case["scale"])) for s in case["std"]])[:, None, None]
    err = np.abs(got - ref) * unit
    bad = err > tol
    res = {
        "max_err": float(err.max()),
        "max_err_smooth": float(err[tol <= 2e-5].max()) if np.any(tol <= 2e-5) else 0.0,
        "max_tol": float(tol.max()),
        "ratio": float((err / tol).max()),
        "bad": int(bad.sum()),
    }
    if siting != "left":
        return res
    if bad.any():
        c, yy, xx = np.argwhere(bad)[0]
        raise AssertionError(
            f"{int(bad.sum())} elements over tolerance; first at c={c} y={yy} x={xx}: "
            f"got {got[c, yy, xx]:.6f} want {ref[c, yy, xx]:.6f} err01 {err[c, yy, xx]:.3g} tol {tol[c, yy, xx]:.3g}"
        )
    if case["fp16"]:
        t16, _ = run_tool(tool, tmp, case, raw, offs, pitches, "fp16", case["layout"])
        s16 = slot_view(t16, case, case["layout"])
        s32 = slot_view(t32, case, case["layout"]).astype(np.float32)
        if s16.dtype != np.float16 or not np.array_equal(s16.view(np.uint16), s32.astype(np.float16).view(np.uint16)):
            raise AssertionError("fp16 output is not the float16 rounding of the fp32 output")
        other = "nhwc" if case["layout"] == "nchw" else "nchw"
        t_o, _ = run_tool(tool, tmp, case, raw, offs, pitches, "fp32", other)
        if not np.array_equal(slot_view(t_o, case, other), slot_view(t32, case, case["layout"])):
            raise AssertionError(f"{other} output differs from {case['layout']} output")
    report.append((case["name"], res))
    return res


def check_geometry(tool):
    rng = np.random.default_rng(7)
    pairs = []
    for _ in range(3000):
        sw, sh = int(rng.integers(1, 4000)), int(rng.integers(1, 4000))
        dw, dh = int(rng.integers(1, 2048)), int(rng.integers(1, 2048))
        pairs.append((sw, sh, dw, dh))
    for dw, dh in [(640, 640), (640, 384), (320, 320), (1280, 1280), (3, 3), (1, 1), (17, 5)]:
        for sw, sh in [(1920, 1080), (1918, 1078), (720, 1280), (1, 3000), (3000, 1), (5, 3), (1, 1), (7, 2),
                       (2 * dw + 1, 4 * dh), (3, 2 * dh), (2 * dw, 3), (1279, 719), (3, 5)]:
            pairs.append((sw, sh, dw, dh))
    # round-half-even ties: r = 1/2 with an odd side
    for k in range(1, 200, 2):
        pairs.append((k, 2 * 100, 1000, 100))
        pairs.append((2 * 100, k, 100, 1000))
    lines, want = [], []
    for sw, sh, dw, dh in pairs:
        for mode in ("letterbox", "topleft", "stretch"):
            lines.append(f"{sw} {sh} {dw} {dh} {mode}")
            lb = LetterBox(new_shape=(dh, dw), auto=False, scale_fill=(mode == "stretch"), center=(mode != "topleft"))
            p = lb.get_params({"img": np.empty((sh, sw, 3), np.uint8)})
            nw, nh = p["new_unpad"]
            assert p["left"] + nw + p["right"] == dw and p["top"] + nh + p["bottom"] == dh
            gain = 0.0 if mode == "stretch" else p["ratio"][0]
            want.append((p["left"], p["top"], nw, nh, sw / nw, sh / nh, gain))
    r = subprocess.run([tool, "geom"], input="\n".join(lines) + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"vp_pre_tool geom failed: {r.stderr}")
    got = r.stdout.splitlines()
    assert len(got) == len(want)
    bad = 0
    for line, g, wv in zip(lines, got, want):
        f = g.split()
        ok = len(f) == 7 and [int(x) for x in f[:4]] == list(wv[:4]) and all(
            float(a) == b for a, b in zip(f[4:], wv[4:]))
        if not ok:
            bad += 1
            if bad <= 5:
                print(f"  geometry mismatch for '{line}': got '{g}', ultralytics {wv}")
    print(f"geometry: {len(lines)} size/mode combinations vs ultralytics LetterBox: {bad} mismatches")
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tool", required=True)
    ap.add_argument("--only", default="", help="substring of case names to run")
    a = ap.parse_args()
    ok = check_geometry(a.tool)
    report = []
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases():
            if a.only and a.only not in case["name"]:
                continue
            try:
                res = check_image(a.tool, tmp, case, report)
                print(f"ok   {case['name']:<32} {case['mode']:<9} {case['order']} {case['layout']} "
                      f"{case.get('matrix', '')}/{case.get('range', '')}: max err {res['max_err']:.2e} "
                      f"(smooth {res['max_err_smooth']:.1e}), worst err/tol {res['ratio']:.2f}, max tol {res['max_tol']:.2e}")
            except (AssertionError, RuntimeError) as e:
                failed += 1
                print(f"FAIL {case['name']} {case['mode']} {case['order']} {case['layout']}: {e}")
        # Negative control: a reference with centre chroma siting must not pass.
        ctl = next(c for c in cases() if c["format"] == "nv12" and c["w"] == 1918)
        res = check_image(a.tool, tmp, ctl, [], siting="centre")
        print(f"negative control (centre siting reference): {res['bad']} elements over tolerance "
              f"(max err {res['max_err']:.3f})")
        if res["bad"] == 0:
            print("FAIL negative control: a wrong chroma siting passed the tolerance")
            failed += 1
    if report:
        print(f"summary: {len(report)} pictures, max err {max(r['max_err'] for _, r in report):.3e} "
              f"(in [0,1] colour units; 1/255 = {1/255:.3e}), max err where the bound is float-only "
              f"{max(r['max_err_smooth'] for _, r in report):.1e}, worst err/tol {max(r['ratio'] for _, r in report):.2f}")
    if failed or not ok:
        print(f"preprocess_ref: {failed} image case(s) failed, geometry {'ok' if ok else 'FAILED'}")
        return 1
    print("preprocess_ref: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
