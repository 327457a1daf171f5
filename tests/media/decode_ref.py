#!/usr/bin/env python3
"""Decoded frames against ffmpeg's own decode.

For every generated stream and container, `vidpipe decode --hw cpu --md5`
(our Annex-B reader or our libavformat source, our frame read-out and MD5)
must print the same frames as the ffmpeg CLI decoding the same file to raw
video: same count, same size, same per-plane MD5 (luma; chroma as interleaved
U,V, computed here from ffmpeg's planar output), and the same pts sequence
(ffprobe's frame pts for containers; 0, 1, 2 ... for elementary streams,
whose pts vidpipe synthesises). The stream whose resolution changes mid-way
is compared with its two halves decoded separately.

Exit 0 pass, 1 fail, 77 skipped (no media, no ffmpeg, no FFmpeg in vidpipe).
"""
import argparse
import array
import hashlib
import os
import shutil
import subprocess
import sys

# file -> list of (reference file, is elementary stream)
CASES = {
    "h264_1080p.h264": None, "h264_1080p.mp4": None, "h264_1080p.mkv": None, "h264_1080p.ts": None,
    "h264_1080p.flv": None, "h264_odd.h264": None, "h264_odd.mp4": None, "h264_portrait.h264": None,
    "h264_360p.h264": None, "hevc_1080p.h265": None, "hevc_1080p.mp4": None, "hevc_1080p.mkv": None,
    "hevc_1080p.ts": None, "hevc10_640.h265": None, "hevc10_640.mkv": None, "hevc_odd.h265": None,
    "reschange.h264": ["reschange_a.h264", "reschange_b.h264"],
}
ELEMENTARY = (".h264", ".h265")


def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=width,height,pix_fmt", "-of", "default=nw=1", path],
                         capture_output=True, text=True, check=True).stdout
    kv = dict(line.split("=", 1) for line in out.split())
    return int(kv["width"]), int(kv["height"]), kv["pix_fmt"]


def ffmpeg_frames(path):
    """[(w, h, md5_y, md5_uv)] from ffmpeg's decode of path."""
    w, h, pix = probe(path)
    if pix in ("yuv420p", "yuvj420p"):
        bps, fmt = 1, "yuv420p"
    elif pix == "yuv420p10le":
        bps, fmt = 2, "yuv420p10le"
    else:
        raise RuntimeError(f"{path}: unexpected pixel format {pix}")
    cw, ch = (w + 1) // 2, (h + 1) // 2
    ysz, csz = w * h * bps, cw * ch * bps
    p = subprocess.Popen(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough",
                          "-f", "rawvideo", "-pix_fmt", fmt, "-"], stdout=subprocess.PIPE)
    frames = []
    while True:
        buf = p.stdout.read(ysz + 2 * csz)
        if not buf:
            break
        if len(buf) != ysz + 2 * csz:
            raise RuntimeError(f"{path}: short frame from ffmpeg")
        u, v = buf[ysz:ysz + csz], buf[ysz + csz:]
        if bps == 1:
            uv = bytearray(2 * csz)
            uv[0::2], uv[1::2] = u, v
        else:
            au, av = array.array("H", u), array.array("H", v)
            uva = array.array("H", bytes(4 * cw * ch))
            uva[0::2], uva[1::2] = au, av
            uv = uva.tobytes()
        frames.append((w, h, hashlib.md5(buf[:ysz]).hexdigest(), hashlib.md5(uv).hexdigest()))
    if p.wait() != 0:
        raise RuntimeError(f"{path}: ffmpeg failed")
    return frames


def ffprobe_pts(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts",
                          "-of", "csv=p=0", path], capture_output=True, text=True, check=True).stdout
    return [int(x.strip().rstrip(",")) for x in out.split() if x.strip().rstrip(",") not in ("", "N/A")]


def vidpipe_frames(vidpipe, path, hw):
    r = subprocess.run([vidpipe, "decode", "--hw", hw, "--md5", path], capture_output=True, text=True)
    frames = []
    for line in r.stdout.splitlines():
        f = line.split()
        if f[0] == "frame":
            frames.append((int(f[1]), int(f[2]), int(f[3]), int(f[4]), f[5], f[6], f[7]))
    return r.returncode, r.stderr, frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    ap.add_argument("--media", required=True)
    ap.add_argument("--hw", default="cpu")
    a = ap.parse_args()
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        print("SKIP: no ffmpeg/ffprobe")
        return 77
    if not os.path.exists(os.path.join(a.media, "h264_1080p.h264")):
        print(f"SKIP: no generated media in {a.media} (scripts/gen_media.sh)")
        return 77
    rc, err, _ = vidpipe_frames(a.vidpipe, os.path.join(a.media, "h264_360p.h264"), a.hw)
    if rc != 0 and ("no CPU decoder" in err or "NVDEC" in err):
        print(f"SKIP: {err.strip()}")
        return 77
    fails = 0
    for name, parts in CASES.items():
        path = os.path.join(a.media, name)
        if not os.path.exists(path):
            print(f"FAIL {name}: missing (gen_media.sh out of date?)")
            fails += 1
            continue
        ref = []
        for part in parts or [name]:
            ref += ffmpeg_frames(os.path.join(a.media, part))
        if name.endswith(ELEMENTARY):
            ref_pts = list(range(len(ref)))
        else:
            ref_pts = ffprobe_pts(path)
        rc, err, got = vidpipe_frames(a.vidpipe, path, a.hw)
        problems = []
        if rc != 0:
            problems.append(f"exit {rc}: {err.strip()}")
        if len(got) != len(ref):
            problems.append(f"{len(got)} frames, ffmpeg decodes {len(ref)}")
        for i, (g, r) in enumerate(zip(got, ref)):
            if g[0] != i:
                problems.append(f"frame {i}: index {g[0]}")
            if (g[2], g[3]) != (r[0], r[1]):
                problems.append(f"frame {i}: {g[2]}x{g[3]}, ffmpeg {r[0]}x{r[1]}")
            elif (g[5], g[6]) != (r[2], r[3]):
                problems.append(f"frame {i}: md5 Y/UV {g[5]}/{g[6]}, ffmpeg {r[2]}/{r[3]}")
            if len(problems) > 5:
                break
        got_pts = [g[1] for g in got]
        if len(ref_pts) == len(got) and got_pts != ref_pts:
            problems.append(f"pts {got_pts[:8]}..., reference {ref_pts[:8]}...")
        elif len(ref_pts) != len(got):
            problems.append(f"{len(ref_pts)} pts from ffprobe for {len(got)} frames")
        if problems:
            fails += 1
            print(f"FAIL {name}: " + "; ".join(problems[:6]))
        else:
            print(f"ok   {name}: {len(got)} frames {got[0][2]}x{got[0][3]} {got[0][4]}, pts {got_pts[0]}..{got_pts[-1]}")
    print(f"decode_ref ({a.hw}): {len(CASES) - fails} passed, {fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
