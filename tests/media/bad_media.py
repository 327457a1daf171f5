#!/usr/bin/env python3
"""Bad media: every case ends with clear messages and a defined exit status,
never a crash or a sanitizer report (this runs under the ASan build too).

  truncated.h264   decodes what is there: exit 0, fewer frames than the full
                   file, and those frames equal the full file's (the last may differ)
  truncated.mp4    (moov at the end is lost) one line, exit 2
  garbage.h264     no start code: one line, exit 2
  random NALs      start codes followed by noise: exit 2 "no decodable video", a few lines
  garbage.mp4      one line, exit 2
  mpeg4.mp4        unsupported codec: one line naming it, exit 2
  audio_only.m4a   no video stream: one line, exit 2
  missing file     one line, exit 2
  reschange.h264   decoding goes on at the new size
  --hw nvdec       on a machine without NVDEC: one line naming NVDEC, exit 1; auto falls back
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile


def run(vidpipe, *args):
    r = subprocess.run([vidpipe, "decode", *args], capture_output=True, text=True, timeout=300)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    frames = [l.split() for l in r.stdout.splitlines() if l.startswith("frame ")]
    return r.returncode, lines, frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    ap.add_argument("--media", required=True)
    a = ap.parse_args()
    m = lambda n: os.path.join(a.media, n)
    if not os.path.exists(m("truncated.h264")):
        print(f"SKIP: no generated media in {a.media}")
        return 77
    fails = []

    def check(name, cond, detail):
        print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + detail))
        if not cond:
            fails.append(name)

    def clean(name, rc, lines):
        bad = [l for l in lines if "Sanitizer" in l or "runtime error" in l]
        check(name + " (no crash, no sanitizer report)", rc >= 0 and rc in (0, 1, 2) and not bad,
              f"exit {rc}: {(bad or lines)[:3]}")

    def one_line(name, rc, lines, code, words):
        clean(name, rc, lines)
        ok = rc == code and len(lines) == 1 and all(w.lower() in lines[0].lower() for w in words)
        check(name + f" (exit {code}, one line with {words})", ok, f"exit {rc}, stderr {lines[:4]}")

    have_cpu = True
    rc, lines, full = run(a.vidpipe, "--hw", "cpu", "--md5", m("h264_1080p.h264"))
    if rc != 0:
        have_cpu = False
        print(f"note: no CPU decoder ({lines[:1]}); CPU cases skipped")

    if have_cpu:
        rc, lines, got = run(a.vidpipe, "--hw", "cpu", "--md5", m("truncated.h264"))
        clean("truncated.h264", rc, lines)
        # the last decoded picture is partial, and B-frames before it in display order refer to it
        same = all(g[5:7] == f[5:7] for g, f in zip(got[:-4], full))
        check("truncated.h264 (decodes the frames present, all but the last 4 equal to the full file's)",
              rc == 0 and 0 < len(got) < len(full) and same and len(lines) <= 5,
              f"exit {rc}, {len(got)} of {len(full)} frames, prefix equal {same}, stderr {lines[:5]}")

        rc, lines, got = run(a.vidpipe, "--hw", "cpu", m("truncated.mp4"))
        clean("truncated.mp4", rc, lines)
        check("truncated.mp4 (exit 2 with one line, or decodes a prefix)",
              (rc == 2 and len(lines) == 1 and "truncated.mp4" in lines[0]) or rc == 0, f"exit {rc}, {lines[:4]}")

        # random bytes with start codes: NAL headers of every type, garbage payloads
        rnd = random.Random(1234)
        with tempfile.NamedTemporaryFile(suffix=".h264", delete=False) as t:
            for _ in range(400):
                t.write(b"\x00\x00\x00\x01" + bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 600))))
            noise = t.name
        rc, lines, got = run(a.vidpipe, "--hw", "cpu", noise)
        os.unlink(noise)
        clean("random NALs", rc, lines)
        check("random NALs (exit 0 or 2, at most 5 lines)", rc in (0, 2) and len(lines) <= 5, f"exit {rc}, {lines[:6]}")

        rc, lines, got = run(a.vidpipe, "--hw", "cpu", "--md5", m("reschange.h264"))
        clean("reschange.h264", rc, lines)
        sizes = []
        for f in got:
            if not sizes or sizes[-1] != (f[3], f[4]):
                sizes.append((f[3], f[4]))
        check("reschange.h264 (640x360 then 320x240, 50 frames)",
              rc == 0 and sizes == [("640", "360"), ("320", "240")] and len(got) == 50, f"exit {rc}, sizes {sizes}, {len(got)} frames")

        rc, lines, got = run(a.vidpipe, "--hw", "auto", "--frames", "3", m("h264_360p.h264"))
        check("--hw auto decodes (NVDEC or the CPU fallback)", rc == 0, f"exit {rc}, {lines[:3]}")

    rc, lines, _ = run(a.vidpipe, m("garbage.h264"))
    one_line("garbage.h264", rc, lines, 2, ["garbage.h264", "start code"])
    if have_cpu:
        rc, lines, _ = run(a.vidpipe, m("garbage.mp4"))
        one_line("garbage.mp4", rc, lines, 2, ["garbage.mp4"])
        rc, lines, _ = run(a.vidpipe, m("mpeg4.mp4"))
        one_line("mpeg4.mp4", rc, lines, 2, ["mpeg4.mp4", "mpeg4", "not supported"])
        rc, lines, _ = run(a.vidpipe, m("audio_only.m4a"))
        one_line("audio_only.m4a", rc, lines, 2, ["audio_only.m4a", "no video stream"])
        rc, lines, _ = run(a.vidpipe, m("does_not_exist.mp4"))
        one_line("missing .mp4", rc, lines, 2, ["does_not_exist.mp4", "no such file"])
    rc, lines, _ = run(a.vidpipe, m("does_not_exist.h264"))
    one_line("missing .h264", rc, lines, 2, ["does_not_exist.h264", "no such file"])

    rc, lines, _ = run(a.vidpipe, "--hw", "nvdec", "--frames", "3", m("h264_360p.h264"))
    if rc == 0:
        print("note: NVDEC usable here; the no-GPU message is not checked")
    else:
        one_line("--hw nvdec without NVDEC", rc, lines, 1, ["NVDEC"])

    print(f"bad_media: {len(fails)} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
