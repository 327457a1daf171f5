#!/usr/bin/env python3
"""Synthetic videos with ground truth for vidpipe's detection and tracking.

Renders (numpy only) textured backgrounds and moving objects of four classes,
writes each video through the ffmpeg CLI and its ground truth as JSON Lines.
Everything is drawn from one seed: the same seed gives byte-identical ground
truth and raw frames (dataset.json records each video's raw-frame SHA-256).
The encoded files come from libx264 and may differ between encoder versions.

Usage:
    tools/gen_dataset.py --out DIR [--seed 0] [--videos 4] [--frames 300]
                         [--size 640x384] [--fps 30] [--objects 3,8]
                         [--crf 20] [--no-video] [--jobs 1]
                         [--yolo-dir DIR [--yolo-every 3] [--val-fraction 0.25]]

Per video NAME (vid000, vid001, ...) in DIR:
    NAME.mp4       H.264 (libx264, yuv420p, no B-frames: decode order is
                   display order), constant frame rate
    NAME.h264      the same stream as Annex-B, for vidpipe's own reader
    NAME.gt.jsonl  one line per frame, frames numbered from 0 as vidpipe's
                   results are:
      {"frame": 0, "pts": 0.0, "width": 640, "height": 384,
       "objects": [{"id": 1, "cls": 2, "label": "triangle",
                    "box": [x0, y0, x1, y1], "visibility": 0.8731,
                    "ignore": false}, ...]}
and DIR/dataset.json (classes, parameters, per-video background, raw-frame
SHA-256, counts).

Ground-truth rules:
  - box: the tight box of the object's whole shape, clipped to the frame,
    in pixel-edge coordinates (a shape covering columns 10..19 has x0=10,
    x1=20). Occlusion does not shrink it (amodal box, as in MOTChallenge).
  - visibility: unoccluded in-frame pixels / in-frame pixels of the shape
    (being cut by the frame edge is not occlusion).
  - ignore: true when the object is more than 70% occluded (visibility < 0.3)
    or its in-frame box is thinner than 4 px. tools/eval.py counts an
    ignored object neither as a miss nor a detection of it as a false
    positive. Objects entirely outside the frame are absent; objects entirely
    hidden behind others stay, with visibility 0 and ignore true.
  - id: from 1 per video, never reused; an object that leaves never returns.
Objects keep a fixed depth (z-order), move at a near-constant velocity with a
small random walk, rotate and breathe slightly; some bounce off the edges,
the others leave, and new ones enter from the edges. Illumination drifts
(gain and tint) and Gaussian noise is added per frame.

--yolo-dir writes a YOLO detection dataset from every K-th frame of the raw
(unencoded) frames: images/{train,val}/NAME_FFFFFF.jpg, labels/... with
"cls cx cy w h" (normalised; ignored objects left out) and data.yaml. Whole
videos go to val (the last round(N * fraction), at least one, when N >= 2) so
near-identical frames never straddle the split; with one video the last
fraction of its frames is val. Needs OpenCV (cv2) for JPEG.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CLASSES = ["disc", "square", "triangle", "cross"]
# base colours (RGB) per class; each object jitters its own
CLASS_RGB = np.array([[215, 60, 45], [45, 90, 215], [50, 185, 70], [230, 200, 40]], np.float32)
IGNORE_VISIBILITY = 0.3
IGNORE_MIN_SIDE = 4
GEN_VERSION = 1


def die(msg: str) -> None:
    print(f"gen_dataset: {msg}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------- backgrounds

def upsample(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of a (gh, gw[, c]) grid to (h, w[, c]), numpy only."""
    gh, gw = a.shape[:2]
    ys = np.linspace(0, gh - 1, h, dtype=np.float32)
    xs = np.linspace(0, gw - 1, w, dtype=np.float32)
    y0 = np.minimum(ys.astype(np.int64), gh - 2)
    x0 = np.minimum(xs.astype(np.int64), gw - 2)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    if a.ndim == 3:
        fy, fx = fy[..., None], fx[..., None]
    a00 = a[y0][:, x0]
    a01 = a[y0][:, x0 + 1]
    a10 = a[y0 + 1][:, x0]
    a11 = a[y0 + 1][:, x0 + 1]
    return (a00 * (1 - fx) + a01 * fx) * (1 - fy) + (a10 * (1 - fx) + a11 * fx) * fy


def value_noise(rng: np.random.Generator, h: int, w: int, octaves: int) -> np.ndarray:
    out = np.zeros((h, w), np.float32)
    amp, tot = 1.0, 0.0
    for o in range(octaves):
        cell = max(4, 96 >> o)
        g = rng.random((h // cell + 2, w // cell + 2), dtype=np.float32)
        out += amp * upsample(g, h, w)
        tot += amp
        amp *= 0.5
    return out / tot


def background(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, str]:
    kind = ["noise", "gradient", "tiles", "mixed"][int(rng.integers(4))]
    c0 = rng.uniform(30, 200, 3).astype(np.float32)
    c1 = rng.uniform(30, 200, 3).astype(np.float32)
    if kind in ("noise", "mixed"):
        n = value_noise(rng, h, w, int(rng.integers(3, 6)))[..., None]
        bg = c0 * (1 - n) + c1 * n
    if kind in ("gradient", "mixed"):
        ang = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = xx * math.cos(ang) + yy * math.sin(ang)
        t = ((t - t.min()) / (t.max() - t.min() + 1e-6))[..., None]
        g = rng.uniform(30, 220, 3).astype(np.float32) * (1 - t) + rng.uniform(30, 220, 3).astype(np.float32) * t
        bg = g if kind == "gradient" else 0.5 * bg + 0.5 * g
        if kind == "gradient":
            bg = bg + 12 * (value_noise(rng, h, w, 2)[..., None] - 0.5)
    if kind == "tiles":
        tw, th = int(rng.integers(24, 96)), int(rng.integers(24, 96))
        nty, ntx = h // th + 2, w // tw + 2
        cols = c0 + rng.uniform(-40, 40, (nty, ntx, 3)).astype(np.float32)
        yy, xx = np.mgrid[0:h, 0:w]
        oy, ox = int(rng.integers(th)), int(rng.integers(tw))
        ty, tx = (yy + oy) // th, (xx + ox) // tw
        bg = cols[ty, tx]
        grout = (((yy + oy) % th) < 2) | (((xx + ox) % tw) < 2)
        bg[grout] = c1 * 0.5
        bg = bg + 10 * (value_noise(rng, h, w, 3)[..., None] - 0.5)
    return np.clip(bg, 0, 255).astype(np.float32), kind


# ------------------------------------------------------------------- objects

class Obj:
    """One object: class, depth, size, motion and its own texture."""

    def __init__(self, rng: np.random.Generator, oid: int, w: int, h: int, smin: int, smax: int,
                 entering: bool, frame: int):
        self.id = oid
        self.cls = int(rng.integers(len(CLASSES)))
        self.z = float(rng.random())
        self.size0 = float(np.exp(rng.uniform(math.log(smin), math.log(smax))))
        self.breath_amp = float(rng.uniform(0, 0.12))
        self.breath_per = float(rng.uniform(60, 240))
        self.breath_ph = float(rng.uniform(0, 2 * math.pi))
        self.angle = float(rng.uniform(0, 2 * math.pi))
        self.spin = float(rng.normal(0, 0.012)) if self.cls != 0 else 0.0
        self.bounce = bool(rng.random() < 0.5)
        self.inside = False  # the whole shape has been inside the frame once
        self.born = frame
        jit = rng.uniform(-35, 35, 3).astype(np.float32)
        self.rgb = np.clip(CLASS_RGB[self.cls] + jit, 0, 255)
        self.rgb2 = np.clip(self.rgb * rng.uniform(0.45, 0.75), 0, 255)
        self.tex_freq = float(rng.uniform(0.12, 0.3))
        self.tex_ph = float(rng.uniform(0, 2 * math.pi))
        speed = float(rng.uniform(0.6, 3.5))
        r = self.half_extent()
        if not entering:
            self.x = float(rng.uniform(r, max(r + 1, w - r)))
            self.y = float(rng.uniform(r, max(r + 1, h - r)))
            a = rng.uniform(0, 2 * math.pi)
            self.vx, self.vy = speed * math.cos(a), speed * math.sin(a)
        else:
            edge = int(rng.integers(4))
            spread = rng.uniform(-0.6, 0.6)
            if edge == 0:   # left
                self.x, self.y = -r + 1, rng.uniform(0.1, 0.9) * h
                a = spread
            elif edge == 1:  # right
                self.x, self.y = w + r - 1, rng.uniform(0.1, 0.9) * h
                a = math.pi + spread
            elif edge == 2:  # top
                self.x, self.y = rng.uniform(0.1, 0.9) * w, -r + 1
                a = math.pi / 2 + spread
            else:            # bottom
                self.x, self.y = rng.uniform(0.1, 0.9) * w, h + r - 1
                a = -math.pi / 2 + spread
            self.x, self.y = float(self.x), float(self.y)
            self.vx, self.vy = speed * math.cos(a), speed * math.sin(a)

    def size(self, t: int) -> float:
        return self.size0 * (1 + self.breath_amp * math.sin(2 * math.pi * t / self.breath_per + self.breath_ph))

    def half_extent(self, t: int | None = None) -> float:
        s = self.size0 * 1.15 if t is None else self.size(t)
        return s * (0.71 if self.cls == 1 else 0.5) + 1

    def step(self, rng: np.random.Generator, w: int, h: int, t: int) -> None:
        self.vx += float(rng.normal(0, 0.06))
        self.vy += float(rng.normal(0, 0.06))
        sp = math.hypot(self.vx, self.vy)
        if sp > 4.5 or sp < 0.3:
            k = min(max(sp, 0.3), 4.5) / max(sp, 1e-6)
            self.vx, self.vy = self.vx * k, self.vy * k
        self.x += self.vx
        self.y += self.vy
        self.angle += self.spin
        r = self.half_extent(t)
        if not self.inside and r <= self.x <= w - r and r <= self.y <= h - r:
            self.inside = True
        if self.bounce and self.inside:
            if self.x < r and self.vx < 0 or self.x > w - r and self.vx > 0:
                self.vx = -self.vx
            if self.y < r and self.vy < 0 or self.y > h - r and self.vy > 0:
                self.vy = -self.vy

    def gone(self, w: int, h: int, t: int) -> bool:
        r = self.half_extent(t)
        return self.x + r < 0 or self.x - r > w or self.y + r < 0 or self.y - r > h

    def render(self, w: int, h: int, t: int):
        """(y0, x0, mask, rgb) of the shape's pixels inside the frame, or None."""
        s = self.size(t)
        r = self.half_extent(t)
        X0, X1 = max(0, int(math.floor(self.x - r))), min(w, int(math.ceil(self.x + r)) + 1)
        Y0, Y1 = max(0, int(math.floor(self.y - r))), min(h, int(math.ceil(self.y + r)) + 1)
        if X0 >= X1 or Y0 >= Y1:
            return None
        yy, xx = np.mgrid[Y0:Y1, X0:X1].astype(np.float32)
        dx, dy = xx + 0.5 - self.x, yy + 0.5 - self.y
        ca, sa = math.cos(self.angle), math.sin(self.angle)
        u, v = dx * ca + dy * sa, -dx * sa + dy * ca
        half = s / 2
        c = self.cls
        if c == 0:    # disc, shaded like a ball, faint rings
            rr = np.sqrt(dx * dx + dy * dy)
            m = rr <= half
            k = np.clip(1 - 0.55 * (np.hypot(dx + 0.3 * half, dy + 0.3 * half) / max(half, 1)), 0.25, 1)
            k = k * (0.85 + 0.15 * np.cos(rr * self.tex_freq * 2 + self.tex_ph))
            tex = k[..., None] * self.rgb
        elif c == 1:  # square, checkerboard
            m = (np.abs(u) <= half) & (np.abs(v) <= half)
            cell = max(3.0, s / 5)
            chk = ((np.floor(u / cell) + np.floor(v / cell)) % 2)[..., None]
            tex = self.rgb * (1 - chk) + self.rgb2 * chk
        elif c == 2:  # equilateral triangle (circumradius half), stripes
            m = v <= half * 0.5
            for a in (2 * math.pi / 3, 4 * math.pi / 3):
                m &= (-u * math.sin(a) + v * math.cos(a)) <= half * 0.5
            st = (0.5 + 0.5 * np.sin(u * self.tex_freq * 2 + self.tex_ph))[..., None]
            tex = self.rgb * (1 - st) + self.rgb2 * st
        else:         # plus-shaped cross, dots
            bar = s / 6
            m = ((np.abs(u) <= half) & (np.abs(v) <= bar)) | ((np.abs(v) <= half) & (np.abs(u) <= bar))
            d = (np.sin(u * self.tex_freq * 3) * np.sin(v * self.tex_freq * 3) > 0.6)[..., None]
            tex = np.where(d, self.rgb2, self.rgb)
        if not m.any():
            return None
        return Y0, X0, m, tex


# -------------------------------------------------------------------- video

def encode_cmd(path: Path, w: int, h: int, fps: float, crf: int) -> list[str]:
    return ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-bf", "0",
            "-g", str(max(1, int(round(2 * fps)))), "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", str(path)]


def gen_video(name: str, vseed: int, args, out: Path, yolo) -> dict:
    rng = np.random.default_rng(vseed)
    w, h = args.width, args.height
    bg, bg_kind = background(rng, h, w)
    smin, smax = 20, max(21, min(200, int(0.6 * min(w, h))))
    omin, omax = args.objects
    gain_amp, gain_per, gain_ph = rng.uniform(0.04, 0.18), rng.uniform(90, 400), rng.uniform(0, 2 * math.pi)
    tint = rng.normal(0, 0.04, 3)
    tint_per = rng.uniform(150, 600)
    noise_sigma = float(rng.uniform(1.0, 4.0))

    objs: list[Obj] = []
    next_id = 1
    for _ in range(int(rng.integers(omin, omax + 1))):
        objs.append(Obj(rng, next_id, w, h, smin, smax, False, 0))
        next_id += 1

    enc = None
    if not args.no_video:
        enc = subprocess.Popen(encode_cmd(out / f"{name}.mp4", w, h, args.fps, args.crf), stdin=subprocess.PIPE)
    sha = hashlib.sha256()
    gt_lines = []
    stats = {"objects": 0, "entered": 0, "left": 0, "occluded": 0, "ignored": 0, "boxes": 0}
    owner = np.empty((h, w), np.int32)
    try:
        for t in range(args.frames):
            if t > 0:
                for o in objs:
                    o.step(rng, w, h, t)
                left = [o for o in objs if o.gone(w, h, t)]
                stats["left"] += len(left)
                objs = [o for o in objs if not o.gone(w, h, t)]
                p = 0.15 if len(objs) < omin else (0.025 if len(objs) < omax else 0.0)
                if rng.random() < p:
                    objs.append(Obj(rng, next_id, w, h, smin, smax, True, t))
                    next_id += 1
                    stats["entered"] += 1
            frame = bg.copy()
            owner.fill(0)
            drawn = []
            for o in sorted(objs, key=lambda o: o.z):  # back to front
                rnd = o.render(w, h, t)
                if rnd is None:
                    continue
                y0, x0, m, tex = rnd
                mh, mw = m.shape
                sub = frame[y0:y0 + mh, x0:x0 + mw]
                sub[m] = tex[m]
                owner[y0:y0 + mh, x0:x0 + mw][m] = o.id
                rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
                box = [x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1]
                drawn.append((o, box, int(m.sum()), (y0, x0, m)))
            g = 1 + gain_amp * math.sin(2 * math.pi * t / gain_per + gain_ph)
            col = (g * (1 + tint * math.sin(2 * math.pi * t / tint_per))).astype(np.float32)
            frame *= col
            frame += noise_sigma * rng.standard_normal(frame.shape, dtype=np.float32)
            img = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
            raw = img.tobytes()
            sha.update(raw)
            if enc is not None:
                enc.stdin.write(raw)
            ids_visible = np.bincount(owner.ravel(), minlength=next_id + 1)
            objects = []
            for o, box, npx, _ in sorted(drawn, key=lambda d: d[0].id):
                vis = float(ids_visible[o.id]) / npx
                ign = vis < IGNORE_VISIBILITY or min(box[2] - box[0], box[3] - box[1]) < IGNORE_MIN_SIDE
                objects.append({"id": o.id, "cls": o.cls, "label": CLASSES[o.cls], "box": box,
                                "visibility": round(vis, 4), "ignore": bool(ign)})
                stats["boxes"] += 1
                stats["occluded"] += vis < 0.999
                stats["ignored"] += ign
            gt_lines.append(json.dumps({"frame": t, "pts": round(t / args.fps, 6), "width": w, "height": h,
                                        "objects": objects}, separators=(", ", ": ")))
            if yolo is not None:
                yolo.add(name, t, img, objects)
    finally:
        if enc is not None:
            enc.stdin.close()
            rc = enc.wait()
            if rc != 0:
                die(f"ffmpeg failed ({rc}) encoding {name}.mp4")
    stats["objects"] = next_id - 1
    (out / f"{name}.gt.jsonl").write_text("\n".join(gt_lines) + "\n")
    if enc is not None:
        r = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(out / f"{name}.mp4"),
                            "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(out / f"{name}.h264")])
        if r.returncode != 0:
            die(f"ffmpeg failed ({r.returncode}) writing {name}.h264")
    return {"name": name, "seed": vseed, "background": bg_kind, "noise_sigma": round(noise_sigma, 4),
            "raw_rgb24_sha256": sha.hexdigest(), **stats}


# --------------------------------------------------------------------- YOLO

class YoloWriter:
    def __init__(self, root: Path, names: list[str], every: int, val_fraction: float, frames: int):
        try:
            import cv2  # noqa: F401
        except ImportError:
            die("--yolo-dir needs OpenCV (cv2) to write JPEG images")
        import cv2
        self.cv2 = cv2
        self.root, self.every, self.frames = root, every, frames
        n = len(names)
        if n >= 2:
            nval = min(n - 1, max(1, int(round(n * val_fraction))))
            self.val_videos = set(names[n - nval:])
            self.val_from = None
        else:
            self.val_videos = set()
            self.val_from = int(frames * (1 - val_fraction))
        for s in ("train", "val"):
            (root / "images" / s).mkdir(parents=True, exist_ok=True)
            (root / "labels" / s).mkdir(parents=True, exist_ok=True)
        self.count = {"train": 0, "val": 0}

    def add(self, name: str, t: int, img: np.ndarray, objects: list) -> None:
        if t % self.every:
            return
        val = name in self.val_videos or (self.val_from is not None and t >= self.val_from)
        split = "val" if val else "train"
        h, w = img.shape[:2]
        stem = f"{name}_{t:06d}"
        self.cv2.imwrite(str(self.root / "images" / split / f"{stem}.jpg"), img[..., ::-1],
                         [self.cv2.IMWRITE_JPEG_QUALITY, 95])
        lines = []
        for o in objects:
            if o["ignore"]:
                continue
            x0, y0, x1, y1 = o["box"]
            lines.append(f"{o['cls']} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} "
                         f"{(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}")
        (self.root / "labels" / split / f"{stem}.txt").write_text("".join(l + "\n" for l in lines))
        self.count[split] += 1

    def finish(self) -> None:
        names = "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASSES))
        (self.root / "data.yaml").write_text(
            f"# written by vidpipe tools/gen_dataset.py\npath: {self.root.resolve()}\n"
            f"train: images/train\nval: images/val\nnc: {len(CLASSES)}\nnames:\n{names}")


# --------------------------------------------------------------------- main

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="Synthetic videos with ground truth (see the module docstring).")
    ap.add_argument("--out", required=True, type=Path, help="output folder (created)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="640x384", help="WxH, both even (default 640x384)")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--objects", default="3,8", help="min,max objects in view (default 3,8)")
    ap.add_argument("--crf", type=int, default=20, help="libx264 quality (default 20)")
    ap.add_argument("--prefix", default="vid", help="video name prefix (default vid)")
    ap.add_argument("--no-video", action="store_true", help="ground truth only, no ffmpeg")
    ap.add_argument("--yolo-dir", type=Path, help="also write a YOLO image dataset here")
    ap.add_argument("--yolo-every", type=int, default=3, help="every K-th frame to the YOLO set (default 3)")
    ap.add_argument("--val-fraction", type=float, default=0.25)
    ap.add_argument("--jobs", type=int, default=1, help="videos rendered in parallel processes (default 1; "
                    "the output does not depend on it)")
    a = ap.parse_args(argv)
    try:
        a.width, a.height = (int(v) for v in a.size.lower().split("x"))
    except ValueError:
        die(f"--size {a.size}: expected WxH")
    if a.width < 64 or a.height < 64 or a.width % 2 or a.height % 2:
        die(f"--size {a.size}: both sides must be even and >= 64")
    try:
        a.objects = tuple(int(v) for v in a.objects.split(","))
        assert len(a.objects) == 2 and 0 <= a.objects[0] <= a.objects[1]
    except (ValueError, AssertionError):
        die(f"--objects {a.objects}: expected min,max with 0 <= min <= max")
    if a.videos < 1 or a.frames < 1 or a.fps <= 0 or a.yolo_every < 1 or a.jobs < 1 or not 0 < a.val_fraction < 1:
        die("--videos, --frames, --fps, --yolo-every, --jobs must be positive and --val-fraction in (0, 1)")
    if not a.no_video and shutil.which("ffmpeg") is None:
        die("ffmpeg not found (use --no-video for ground truth only)")
    return a


def render_one(job):
    """One video (a process of its own with --jobs): its summary and YOLO image counts."""
    name, seed, a, names = job
    yolo = YoloWriter(a.yolo_dir, names, a.yolo_every, a.val_fraction, a.frames) if a.yolo_dir else None
    v = gen_video(name, seed, a, a.out, yolo)
    return v, (yolo.count if yolo else None)


def main(argv=None) -> int:
    a = parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    names = [f"{a.prefix}{i:03d}" for i in range(a.videos)]
    seeds = np.random.SeedSequence(a.seed).generate_state(a.videos, dtype=np.uint32)
    yolo = YoloWriter(a.yolo_dir, names, a.yolo_every, a.val_fraction, a.frames) if a.yolo_dir else None
    t0 = time.time()
    jobs = [(name, int(s), a, names) for name, s in zip(names, seeds)]
    if a.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(a.jobs, a.videos)) as ex:
            done = list(ex.map(render_one, jobs))
    else:
        done = map(render_one, jobs)
    videos = []
    for v, count in done:
        videos.append(v)
        if yolo is not None:
            for k in yolo.count:
                yolo.count[k] += count[k]
        print(f"gen_dataset: {v['name']}: {a.frames} frames, {v['objects']} objects ({v['entered']} entered, "
              f"{v['left']} left), {v['boxes']} boxes ({v['occluded']} occluded, {v['ignored']} ignored), "
              f"background {v['background']}", file=sys.stderr)
    if yolo is not None:
        yolo.finish()
    meta = {"generator": "vidpipe tools/gen_dataset.py", "version": GEN_VERSION, "seed": a.seed,
            "classes": CLASSES, "width": a.width, "height": a.height, "fps": a.fps, "frames": a.frames,
            "objects": list(a.objects),
            "ignore_rule": f"visibility < {IGNORE_VISIBILITY} or in-frame box side < {IGNORE_MIN_SIDE} px",
            "encoder": None if a.no_video else {"codec": "libx264", "crf": a.crf, "preset": "veryfast",
                                                "bframes": 0, "gop": max(1, int(round(2 * a.fps)))},
            "videos": videos}
    (a.out / "dataset.json").write_text(json.dumps(meta, indent=1) + "\n")
    extra = f", YOLO {yolo.count['train']} train / {yolo.count['val']} val images" if yolo else ""
    print(f"gen_dataset: {a.videos} videos in {time.time() - t0:.1f} s -> {a.out}{extra}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
