#!/usr/bin/env python3
"""NVDEC against libavcodec: `vidpipe decode --hw nvdec --md5` must print the
same frames (index, pts, size, MD5 of Y and of UV) as the CPU decoder, for
H.264 (B-frames, odd size, portrait), HEVC 8-bit, HEVC 10-bit and a
resolution change. The CPU side comes from `--hw cpu` when this vidpipe has
FFmpeg, else from FILE.md5 lists written beforehand with --write-expected on
a machine that has it (the GPU machine has no FFmpeg; see README).
Exit 0 pass, 1 fail, 77 skipped (no usable NVDEC, or no reference)."""
import argparse
import os
import subprocess
import sys

FILES = ["h264_1080p.h264", "h264_odd.h264", "h264_portrait.h264", "h264_360p.h264", "hevc_1080p.h265",
         "hevc10_640.h265", "hevc_odd.h265", "reschange.h264"]


def decode(vidpipe, hw, path):
    r = subprocess.run([vidpipe, "decode", "--hw", hw, "--md5", path], capture_output=True, text=True, timeout=600)
    lines = [l.split() for l in r.stdout.splitlines() if l.startswith("frame ")]
    # drop the format column: nv12 (NVDEC) and yuv420p (CPU) have the same canonical MD5s
    return r.returncode, r.stderr.strip(), [l[1:5] + l[6:8] for l in lines]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    ap.add_argument("--media", required=True)
    ap.add_argument("--write-expected", action="store_true", help="write FILE.md5 with the CPU decoder and exit")
    a = ap.parse_args()
    paths = [os.path.join(a.media, f) for f in FILES]
    if not all(os.path.exists(p) for p in paths):
        print(f"SKIP: media missing in {a.media} (scripts/gen_media.sh)")
        return 77
    if a.write_expected:
        for p in paths:
            rc, err, _ = decode(a.vidpipe, "cpu", p)
            if rc:
                print(f"cannot decode {p} on the CPU: {err}")
                return 1
            with open(p + ".md5", "w") as f:
                f.write(subprocess.run([a.vidpipe, "decode", "--hw", "cpu", "--md5", p], capture_output=True,
                                       text=True, check=True).stdout)
        print(f"wrote {len(paths)} .md5 lists")
        return 0
    rc, err, _ = decode(a.vidpipe, "nvdec", paths[3])
    if rc != 0 and "NVDEC" in err and ("not found" in err or "no CUDA device" in err or "cuInit" in err
                                      or "not built in" in err):
        print(f"SKIP: {err}")
        return 77
    fails = 0
    for p in paths:
        name = os.path.basename(p)
        rc, err, ref = decode(a.vidpipe, "cpu", p)
        if rc != 0:
            if not os.path.exists(p + ".md5"):
                print(f"SKIP: no CPU decoder here and no {name}.md5 ({err})")
                return 77
            with open(p + ".md5") as f:
                ref = [l.split()[1:5] + l.split()[6:8] for l in f if l.startswith("frame ")]
        rc, err, got = decode(a.vidpipe, "nvdec", p)
        problems = []
        if rc != 0:
            problems.append(f"exit {rc}: {err}")
        if len(got) != len(ref):
            problems.append(f"{len(got)} frames, CPU {len(ref)}")
        diff = [i for i, (g, r) in enumerate(zip(got, ref)) if g != r]
        if diff:
            i = diff[0]
            problems.append(f"{len(diff)} frames differ, first {i}: nvdec {got[i]} cpu {ref[i]}")
        if problems:
            fails += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            print(f"ok   {name}: {len(got)} frames bit-identical")
    print(f"nvdec_vs_cpu: {len(FILES) - fails} passed, {fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
