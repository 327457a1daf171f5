#!/usr/bin/env python3
"""The encoder, snapshots and drawing against independent references.

vp_encode_test (encode_test.c) writes the files; this script reads them back
only with the ffmpeg/ffprobe CLI and numpy:

  * pattern streams (libx264, MPEG-4 part 2, NVENC-or-fallback; mp4, mkv,
    ts; YUV420P and NV12 input; odd sizes; B-frames; 1/25, 1/90000 and
    1/1000 time bases; frames without pts; a resolution change): frame count,
    size, codec, the pts sequence (ffprobe), and the pictures against the
    pattern computed here in numpy (PSNR);
  * a drawn scene encoded losslessly for BT.601/BT.709 x limited/full, NV12
    and YUV420P: the white box outline is where it was drawn (mean luma of
    the outline band against the ground around it), opaque patches and a
    translucent fill converted back to RGB with numpy match the requested
    colours, and the stream's colour tags say the matrix and range;
  * snapshots (.png, .jpg) of that scene and of an odd-sized frame decode
    (ffprobe) at the right size, the PNG's colours match;
  * the error paths (encode_test.c errors).

Exit 0 pass, 1 fail, 77 skipped (no ffmpeg/ffprobe or numpy).
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    np = None

FAILS = []


def check(cond, msg):
    print(("ok    " if cond else "FAIL  ") + msg)
    if not cond:
        FAILS.append(msg)


def run_tool(tool, *args):
    r = subprocess.run([tool, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{os.path.basename(tool)} {' '.join(map(str, args))}: exit {r.returncode}\n"
                           f"{r.stdout}{r.stderr}")
    return r.stdout


def probe_stream(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
                          "stream=codec_name,width,height,pix_fmt,nb_read_frames,color_space,color_range",
                          "-of", "json", path], capture_output=True, text=True, check=True).stdout
    return json.loads(out)["streams"][0]


def probe_times(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "frame=best_effort_timestamp_time", "-of", "csv=p=0", path],
                         capture_output=True, text=True, check=True).stdout
    times = []
    for line in out.splitlines():
        t = line.split(",")[0].strip()
        if t and t != "N/A":
            times.append(float(t))
    return times


def decode_yuv(path, w, h, pix_fmt):
    """Frames as (Y, U, V) uint8 arrays. The stream's own 4:2:0 layout is
    asked for (yuv420p or yuvj420p), so ffmpeg converts nothing."""
    fmt = pix_fmt if pix_fmt in ("yuv420p", "yuvj420p") else "yuv420p"
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-fps_mode", "passthrough", "-f", "rawvideo",
                          "-pix_fmt", fmt, "-"], capture_output=True, check=True).stdout
    cw, ch = (w + 1) // 2, (h + 1) // 2
    size = w * h + 2 * cw * ch
    frames = []
    for k in range(len(raw) // size):
        b = np.frombuffer(raw, np.uint8, size, k * size)
        frames.append((b[:w * h].reshape(h, w), b[w * h:w * h + cw * ch].reshape(ch, cw),
                       b[w * h + cw * ch:].reshape(ch, cw)))
    return frames


# ---- the pattern of encode_test.c (pattern_px, pattern_chroma), in numpy
def pattern(i, w, h):
    y, x = np.mgrid[0:h, 0:w]
    Y = 40 + (x + 2 * i) % 160 + (y % 64) // 4
    sx, sy = 8 + (4 * i) % 64, 16
    Y[(x >= sx) & (x < sx + 32) & (y >= sy) & (y < sy + 32)] = 220
    cy, cx = np.mgrid[0:(h + 1) // 2, 0:(w + 1) // 2]
    U = 90 + (2 * cy + i) % 80
    V = 160 - (cx + i) % 60
    return Y.astype(np.uint8), U.astype(np.uint8), V.astype(np.uint8)


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def resize_bilinear(a, w, h):
    """Plain bilinear resampling with pixel centres aligned (what libswscale's
    bilinear approximates); only for a loose check after a size change."""
    sh, sw = a.shape
    ys = np.clip((np.arange(h) + 0.5) * sh / h - 0.5, 0, sh - 1)
    xs = np.clip((np.arange(w) + 0.5) * sw / w - 0.5, 0, sw - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, sh - 1), np.minimum(x0 + 1, sw - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = a.astype(np.float64)
    top = a[y0][:, x0] * (1 - fx) + a[y0][:, x1] * fx
    bot = a[y1][:, x0] * (1 - fx) + a[y1][:, x1] * fx
    return np.round(top * (1 - fy) + bot * fy).astype(np.uint8)


PATTERN_CASES = [
    # name, file, w, h, n, fmt, extra args, expected codec, frame duration (s), min PSNR (Y)
    ("x264 yuv420p mp4", "a.mp4", 320, 240, 30, "yuv420p", [], "h264", 1 / 25, 35.0),
    ("x264 nv12 odd size mkv 1/90000", "b.mkv", 321, 241, 20, "nv12", ["--tb", "1/90000", "--step", 3600],
     "h264", 0.04, 35.0),
    ("x264 nv12 ts b-frames 1/1000", "c.ts", 256, 144, 24, "nv12",
     ["--tb", "1/1000", "--step", 40, "--bframes", 3], "h264", 0.04, 35.0),
    ("mpeg4 mp4 1/90000", "d.mp4", 320, 240, 20, "yuv420p", ["--codec", "mpeg4", "--tb", "1/90000", "--step", 3600],
     "mpeg4", 0.04, 30.0),
    ("nvenc asked (fallback without a GPU)", "e.mp4", 320, 240, 10, "nv12", ["--hw", "nvenc"], "h264", 1 / 25, 35.0),
    ("frames without pts", "f.mkv", 160, 120, 12, "yuv420p", ["--nopts"], "h264", 1 / 25, 35.0),
    ("pts restarting from 0 at frame 8", "h.mp4", 160, 120, 16, "nv12", ["--restart-at", 8, "--bframes", 2],
     "h264", 1 / 25, 35.0),
    ("resolution change 320x240 -> 160x120", "g.mp4", 320, 240, 20, "yuv420p", ["--resize-at", "10:160x120"],
     "h264", 1 / 25, 35.0),
]


def pattern_tests(tool, tmp):
    for name, fn, w, h, n, fmt, extra, codec, dur, min_psnr in PATTERN_CASES:
        path = os.path.join(tmp, fn)
        info = json.loads(run_tool(tool, "pattern", path, w, h, n, fmt, *extra))
        st = probe_stream(path)
        ew, eh = w & ~1, h & ~1
        check(st["codec_name"] == codec and st["width"] == ew and st["height"] == eh,
              f"{name}: {st['codec_name']} {st['width']}x{st['height']} (encoder {info['codec']}), want {codec} {ew}x{eh}")
        check(int(st["nb_read_frames"]) == n, f"{name}: {st['nb_read_frames']} frames decoded, {n} written")
        times = probe_times(path)
        rel = [t - times[0] for t in times] if times else []
        worst = max((abs(t - k * dur) for k, t in enumerate(rel)), default=1e9)
        check(len(times) == n and worst < 1.5e-3,
              f"{name}: pts sequence {len(times)} frames, worst deviation from k*{dur:.4f}s {worst * 1e3:.2f} ms")
        frames = decode_yuv(path, ew, eh, st["pix_fmt"])
        change = int(extra[extra.index("--resize-at") + 1].split(":")[0]) if "--resize-at" in extra else n
        py, pc, low = [], [], []
        for k, (Y, U, V) in enumerate(frames[:n]):
            if k < change:
                rY, rU, rV = pattern(k, w, h)
                rY, rU, rV = rY[:eh, :ew], rU[:eh // 2, :ew // 2], rV[:eh // 2, :ew // 2]
                py.append(psnr(Y, rY))
                pc.append(min(psnr(U, rU), psnr(V, rV)))
            else:
                sY, _, _ = pattern(k, 160, 120)
                low.append(psnr(Y, resize_bilinear(sY, ew, eh)))
        check(len(py) > 0 and min(py) > min_psnr and min(pc) > min_psnr,
              f"{name}: PSNR against the numpy pattern: luma min {min(py):.1f} dB, chroma min {min(pc):.1f} dB "
              f"(> {min_psnr})")
        # negative control: the checker must see the wrong frame
        rY, _, _ = pattern(1, w, h)
        wrong = psnr(frames[0][0], rY[:eh, :ew])
        check(wrong < 30.0, f"{name}: control: frame 0 against pattern 1 gives {wrong:.1f} dB (< 30)")
        if low:
            check(min(low) > 25.0, f"{name}: scaled frames against numpy bilinear: min {min(low):.1f} dB (> 25)")


# ---- the drawn scene
KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
TAGS = {"bt601": ("smpte170m", "bt470bg"), "bt709": ("bt709",)}


def to_rgb(Y, U, V, matrix, rng):
    kr, kb = KR_KB[matrix]
    Y, U, V = (np.asarray(a, np.float64) for a in (Y, U, V))
    if rng == "full":
        y, pb, pr = Y / 255.0, (U - 128) / 255.0, (V - 128) / 255.0
    else:
        y, pb, pr = (Y - 16) / 219.0, (U - 128) / 224.0, (V - 128) / 224.0
    r = y + 2 * (1 - kr) * pr
    b = y + 2 * (1 - kb) * pb
    g = (y - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b]) * 255.0, 0, 255)


def region_rgb(Y, U, V, x0, y0, x1, y1, matrix, rng):
    """Mean RGB of luma region [x0, x1) x [y0, y1) (even corners), from the
    chroma samples wholly inside it."""
    ys, us, vs = Y[y0:y1, x0:x1], U[y0 // 2:y1 // 2, x0 // 2:x1 // 2], V[y0 // 2:y1 // 2, x0 // 2:x1 // 2]
    yd = ys.reshape(ys.shape[0] // 2, 2, ys.shape[1] // 2, 2).mean(axis=(1, 3))
    return to_rgb(yd, us, vs, matrix, rng).reshape(3, -1).mean(axis=1)


def draw_tests(tool, tmp):
    w, h = 352, 288
    cases = [("bt601", "limited", "yuv420p"), ("bt601", "full", "nv12"), ("bt709", "limited", "nv12"),
             ("bt709", "full", "yuv420p")]
    for matrix, rng, fmt in cases:
        tag = f"draw {matrix} {rng} {fmt}"
        path = os.path.join(tmp, f"draw_{matrix}_{rng}.mkv")
        png, jpg = path[:-4] + ".png", path[:-4] + ".jpg"
        scene = json.loads(run_tool(tool, "draw", path, w, h, fmt, matrix, rng, png, jpg))
        st = probe_stream(path)
        check(st["width"] == w and st["height"] == h and int(st["nb_read_frames"]) == 3,
              f"{tag}: {st['width']}x{st['height']}, {st['nb_read_frames']} frames")
        want_range = "pc" if rng == "full" else "tv"
        check(st.get("color_space") in TAGS[matrix] and st.get("color_range") == want_range,
              f"{tag}: stream tagged {st.get('color_space')}/{st.get('color_range')}")
        Y, U, V = decode_yuv(path, w, h, st["pix_fmt"])[0]
        yw = 255 if rng == "full" else 235
        yg = int(round((0 if rng == "full" else 16) + (255 if rng == "full" else 219) * 128 / 255))
        x0, y0, x1, y1, t = scene["box"]
        band = np.zeros((h, w), bool)
        band[y0:y1, x0:x1] = True
        band[y0 + t:y1 - t, x0 + t:x1 - t] = False
        ring = np.zeros((h, w), bool)
        ring[y0 - 4:y1 + 4, x0 - 4:x1 + 4] = True
        ring[y0:y1, x0:x1] = False
        inner = np.zeros((h, w), bool)
        inner[y0 + t + 2:y1 - t - 2, x0 + t + 2:x1 - t - 2] = True
        m_band, m_ring = Y[band].mean(), Y[ring].mean()
        # the label sits inside the ring above the box; leave its rows out of "inside"
        m_inner = np.median(Y[inner])
        check(abs(m_band - yw) < 0.5 and abs(m_ring - yg) < 3 and abs(m_inner - yg) < 0.5,
              f"{tag}: box outline mean luma {m_band:.1f} (white {yw}), around it {m_ring:.1f}, inside "
              f"{m_inner:.1f} (grey {yg})")
        p = scene["patch"]
        worst = 0.0
        for px, py, r, g, b in scene["patches"]:
            got = region_rgb(Y, U, V, px + 2, py + 2, px + p - 2, py + p - 2, matrix, rng)
            worst = max(worst, float(np.max(np.abs(got - np.array([r, g, b])))))
        check(worst <= 3.0, f"{tag}: {len(scene['patches'])} opaque patches back to RGB, worst channel error "
              f"{worst:.2f} (<= 3)")
        # negative control: the other matrix must not pass
        other = "bt709" if matrix == "bt601" else "bt601"
        px, py, r, g, b = scene["patches"][0]
        bad = region_rgb(Y, U, V, px + 2, py + 2, px + p - 2, py + p - 2, other, rng)
        check(float(np.max(np.abs(bad - np.array([r, g, b])))) > 10,
              f"{tag}: control: red patch read with {other} is off by {float(np.max(np.abs(bad - [r, g, b]))):.1f}")
        tx0, ty0, tx1, ty1, r, g, b, a = scene["translucent"]
        want = np.array([128.0] * 3) * (1 - a / 255) + np.array([r, g, b], float) * (a / 255)
        got = region_rgb(Y, U, V, tx0 + 2, ty0 + 2, tx1 - 2, ty1 - 2, matrix, rng)
        err = float(np.max(np.abs(got - want)))
        check(err <= 3.0, f"{tag}: translucent fill {np.round(got, 1).tolist()} vs {np.round(want, 1).tolist()} "
              f"(error {err:.2f})")
        # snapshots of the same frame
        for snap, codec in ((png, "png"), (jpg, "mjpeg")):
            sp = probe_stream(snap)
            check(sp["codec_name"] == codec and sp["width"] == w and sp["height"] == h,
                  f"{tag}: snapshot {os.path.basename(snap)}: {sp['codec_name']} {sp['width']}x{sp['height']}")
        rgb = np.frombuffer(subprocess.run(["ffmpeg", "-v", "error", "-i", png, "-f", "rawvideo", "-pix_fmt",
                                            "rgb24", "-"], capture_output=True, check=True).stdout,
                            np.uint8).reshape(h, w, 3)
        worst = 0.0
        for px, py, r, g, b in scene["patches"]:
            got = rgb[py + 2:py + p - 2, px + 2:px + p - 2].reshape(-1, 3).mean(axis=0)
            worst = max(worst, float(np.max(np.abs(got - np.array([r, g, b])))))
        check(worst <= 4.0, f"{tag}: PNG snapshot patches, worst channel error {worst:.2f} (<= 4)")


def error_tests(tool, tmp):
    d = os.path.join(tmp, "errors")
    os.makedirs(d, exist_ok=True)
    r = subprocess.run([tool, "errors", d], capture_output=True, text=True)
    print("\n".join("      " + l for l in r.stdout.splitlines()))
    check(r.returncode == 0, f"error paths (encode_test errors): exit {r.returncode}\n{r.stderr}")
    for fn, codec in (("odd.jpg", "mjpeg"), ("odd.png", "png")):
        p = os.path.join(d, fn)
        sp = probe_stream(p) if os.path.exists(p) else {}
        check(sp.get("codec_name") == codec and sp.get("width") == 33 and sp.get("height") == 17,
              f"odd-sized snapshot {fn}: {sp.get('codec_name')} {sp.get('width')}x{sp.get('height')} (want 33x17)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--keep", help="write the files here and keep them")
    a = ap.parse_args()
    if np is None or not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        print("skip: needs numpy, ffmpeg and ffprobe")
        return 77
    tmp = a.keep or tempfile.mkdtemp(prefix="vp_encode_")
    os.makedirs(tmp, exist_ok=True)
    try:
        for part in (pattern_tests, draw_tests, error_tests):
            try:
                part(a.tool, tmp)
            except (RuntimeError, subprocess.CalledProcessError, KeyError, IndexError, ValueError) as e:
                check(False, f"{part.__name__}: {e}")
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"encode_ref: {len(FAILS)} failed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
