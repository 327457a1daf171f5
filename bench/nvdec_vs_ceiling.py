#!/usr/bin/env python3
"""vidpipe's NVDEC decode throughput against the decode-only ceiling, same run.

Usage:
    bench/nvdec_vs_ceiling.py --ceiling BIN --vidpipe BIN [--streams 1,4,8,16]
                              [--seconds 4] [--variants chunk:1,au:0[,au:0:blocking]]
                              [--cpu-vidpipe BIN] [--json OUT] FILE.h264|FILE.h265 ...

For each FILE it runs, one after the other,
    CEILING --streams S --seconds T --json --feed F --display-delay D FILE
for each variant F:D of the peer loop (bench/nvdec_ceiling.c: NVIDIA's
parser and decoder, N threads, one shared context; "chunk:1" is the way
NVIDIA's samples drive it, "au:0" is the way vidpipe drives it: one access
unit per call with CUVID_PKT_ENDOFPICTURE and no display delay; a third
field sets the context's scheduling flags: spin, yield, blocking), then
    VIDPIPE decode-bench --hw nvdec --streams S --seconds T --json FILE
and prints, per stream count, the ceiling (the best variant), vidpipe's
frames/s and the ratio vidpipe/ceiling (the issue's goal: >= 0.95), then the
host CPU per frame of each, with the ceiling's breakdown by driver call
(thread CPU ms per frame inside NVIDIA's parser without the callbacks,
cuvidDecodePicture, map, unmap, the rest of the workers, and the driver's
own threads). vidpipe's goal there is < 0.1 ms per frame.

With --cpu-vidpipe BIN (a vidpipe built with FFmpeg; the NVDEC one may be
built without), it also runs
    BIN decode-bench --hw cpu --streams S --seconds T --json FILE
(libavcodec, frame and slice threads, thread count chosen by libavcodec) and
adds its frames/s and host CPU per frame to the table: NVDEC and CPU decode
of the same file on the same machine in one run.

Both time steady-state decoding: the window (and its CPU time) opens once
every thread has its decoder and a first frame and closes before the
threads stop, so thread start, decoder creation and teardown stay out of
frames/s and CPU per frame (reported as "setup s"; the ceiling creates the
primary context once per process and prints its time).

Exit status: 0; 1 when a run failed; 77 when the ceiling reports no usable
NVIDIA driver or GPU (nothing measured).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

SKIP = 77


def run_json(cmd: list[str], timeout: float) -> tuple[int, list[dict], str]:
    """Runs cmd; returns (exit status, JSON objects of stdout, last stderr lines)."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (FileNotFoundError, PermissionError) as e:
        return 1, [], f"cannot run {cmd[0]}: {e.strerror or e}"
    except subprocess.TimeoutExpired:
        return 1, [], f"timed out after {timeout:.0f} s"
    rows = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    tail = " / ".join((p.stderr or "").strip().splitlines()[-3:])
    return p.returncode, rows, tail


def fmt(v, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ceiling", required=True, help="vp_nvdec_ceiling binary")
    ap.add_argument("--vidpipe", required=True, help="vidpipe binary")
    ap.add_argument("--streams", default="1,4,8,16")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--variants", default="chunk:1,au:0",
                    help="ceiling loops as FEED:DISPLAY_DELAY[:SCHED], comma-separated (FEED: chunk or au; "
                         "SCHED: auto, spin, yield or blocking)")
    ap.add_argument("--ceiling-args", default="", help="more arguments for every ceiling run (e.g. '--sched blocking')")
    ap.add_argument("--cpu-vidpipe", help="a vidpipe with FFmpeg: adds decode-bench --hw cpu rows")
    ap.add_argument("--json", help="write every row here")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()

    variants = []
    for v in a.variants.split(","):
        parts = v.strip().split(":")
        if (len(parts) not in (2, 3) or parts[0] not in ("chunk", "au") or not parts[1].isdigit() or
                (len(parts) == 3 and parts[2] not in ("auto", "spin", "yield", "blocking"))):
            ap.error(f"--variants: expected FEED:DELAY[:SCHED] like chunk:1 or au:0:blocking, got '{v}'")
        variants.append(parts)
    nrows = len(a.streams.split(","))
    timeout = nrows * (a.seconds + 60) + 60
    status = 0
    skipped = 0
    everything = []
    for f in a.files:
        if not Path(f).is_file():
            print(f"== {f}: missing, skipped")
            continue
        print(f"== {f}")
        ceil: dict[str, dict[int, dict]] = {}
        for parts in variants:
            name = ":".join(parts)
            cmd = [a.ceiling, "--streams", a.streams, "--seconds", str(a.seconds), "--json",
                   "--feed", parts[0], "--display-delay", parts[1], *a.ceiling_args.split(), f]
            if len(parts) == 3:
                cmd[-1:-1] = ["--sched", parts[2]]
            rc, rows, tail = run_json(cmd, timeout)
            if rows and len(ceil) == 0:
                print(f"{rows[0].get('device')}; the ceiling created the primary context in "
                      f"{rows[0].get('context_create_ms', 0):.0f} ms (once per process; decode-bench: once per row)")
            if rc == SKIP:
                print(f"ceiling {name}: skipped: {tail}")
                skipped += 1
                continue
            if rc != 0:
                print(f"ceiling {name}: FAILED (exit {rc}): {tail}")
                status = 1
            ceil[name] = {int(r["streams"]): r for r in rows}
            everything += [{"file": f, "program": "ceiling", "variant": name, **r} for r in rows]
        if not ceil:
            continue
        def decode_bench(binary: str, hw: str, program: str) -> dict[int, dict]:
            nonlocal status, everything
            rc, rows, tail = run_json([binary, "decode-bench", "--hw", hw, "--streams", a.streams, "--seconds",
                                       str(a.seconds), "--json", f], timeout)
            if rc != 0:
                print(f"vidpipe decode-bench --hw {hw}: FAILED (exit {rc}): {tail}")
                status = 1
            everything += [{"file": f, "program": program, **r} for r in rows]
            return {int(r["streams"]): r for r in rows}

        vp = decode_bench(a.vidpipe, "nvdec", "vidpipe")
        cpu = decode_bench(a.cpu_vidpipe, "cpu", "vidpipe-cpu") if a.cpu_vidpipe else {}

        names = list(ceil)
        same = "au:0" if "au:0" in names and len(names) > 1 else None  # vidpipe's way of driving NVDEC
        print("\n| streams | " + " | ".join(f"ceiling {n} fps" for n in names) +
              " | vidpipe fps | vidpipe / ceiling" + (" | vidpipe / au:0" if same else "") +
              " | ceiling setup s | vidpipe cpu ms/f | ceiling cpu ms/f |" +
              (" CPU decode fps | CPU decode cpu ms/f | NVDEC / CPU decode |" if a.cpu_vidpipe else ""))
        print("|---:" * (len(names) + 6 + (1 if same else 0) + (3 if a.cpu_vidpipe else 0)) + "|")
        for s in (int(x) for x in a.streams.split(",")):
            fps = {n: ceil[n][s]["fps"] for n in names if s in ceil[n]}
            best = max(fps, key=fps.get) if fps else None
            v = vp.get(s)
            ratio = v["fps"] / fps[best] if v and best else None
            cells = [fmt(fps.get(n)) + (" *" if n == best and len(names) > 1 else "") for n in names]
            print(f"| {s} | " + " | ".join(cells) +
                  f" | {fmt(v and v['fps'])} | {fmt(ratio, '.3f')}" +
                  (f" | {fmt(v['fps'] / fps[same] if v and same in fps else None, '.3f')}" if same else "") +
                  f" | {fmt(best and ceil[best][s]['setup_s'], '.3f')}"
                  f" | {fmt(v and v['cpu_ms_per_frame'], '.4f')}"
                  f" | {fmt(best and ceil[best][s]['cpu_ms_per_frame'], '.4f')} |" +
                  (f" {fmt(c and c['fps'])} | {fmt(c and c['cpu_ms_per_frame'], '.3f')}"
                   f" | {fmt(v['fps'] / c['fps'] if v and c and c['fps'] else None, '.2f')} |"
                   if (c := cpu.get(s)) is not None or a.cpu_vidpipe else ""))
        if len(names) > 1:
            print("(* the best variant: the ceiling)")

        print("\nceiling host CPU, ms per frame (thread CPU inside each call; other = the driver's own threads):")
        print("| variant | streams | cpu ms/f | parser | decode | map | unmap | worker rest | other threads"
              " | wall in map |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in names:
            for s, r in sorted(ceil[n].items()):
                b = r.get("cpu_breakdown_ms_per_frame") or {}
                w = r.get("wall_ms_per_frame") or {}
                print(f"| {n} | {s} | {r['cpu_ms_per_frame']:.4f} | {fmt(b.get('parser'), '.4f')}"
                      f" | {fmt(b.get('decode'), '.4f')} | {fmt(b.get('map'), '.4f')} | {fmt(b.get('unmap'), '.4f')}"
                      f" | {fmt(b.get('worker_rest'), '.4f')} | {fmt(b.get('other_threads'), '.4f')}"
                      f" | {fmt(w.get('map'), '.4f')} |")
        print()
    if a.json:
        Path(a.json).write_text(json.dumps(everything, indent=1) + "\n")
    if status == 0 and skipped and not everything:
        return SKIP
    return status


if __name__ == "__main__":
    sys.exit(main())
