#!/usr/bin/env python3
"""End-to-end tests of `vidpipe run`.

  reference   the CPU path (libavcodec decode, CPU preprocessing, CPU
              engine, CPU post-processing, JSON Lines sink) against a
              pipeline assembled from independent parts: the ffmpeg CLI
              decodes, vp_pre_tool preprocesses (the one vidpipe part, as
              the same input tensor is needed: a random-weight network turns
              1/255 input differences into different detections; the
              preprocessing has its own independent test), ONNX Runtime,
              ultralytics' non_max_suppression and scale_boxes. The model
              is yolov8n-video (random weights calibrated on picture-like
              images: ~100-200 distinct detections per frame). Engines
              differ in float rounding, so detections are matched, not
              compared bit for bit: a vidpipe
              detection matches a reference one of the same class with IoU
              >= 0.9; every matched box must agree within 1 px; of the
              reference detections whose score is clear of the threshold
              (and of the max_det cut), >= 99 % must be matched, and
              conversely. A negative control (the reference with its boxes
              shifted 3 px) must fail the same check.
  compare A B the check above between two JSON Lines files (the GPU test
              script compares the GPU path with the CPU path with it).
  faults      several streams at once: a good one, a truncated file, garbage
              bytes, a missing file, a corrupted stream; a sink on /dev/full
              next to a good sink: the good stream's results are complete,
              each failure is reported once with its cause, exit status 1.
              --backend cuda runs it on the GPU path (NVDEC, CUDA engine;
              scripts/gpu-test.sh run faults).
  stop        SIGINT during a run over a looping source: every frame counted
              as processed has its complete line in the sink.
  loop        looped files (sources[].loop; H.264 and HEVC with B-frames, so
              each pass ends with pictures still in the decoder, which is
              kept from one pass to the next): every pass gives the same
              frames with the same detections as a run without looping
              (batch 1, so batching cannot change the arithmetic), numbered
              on across the passes.
  usage       bad flags and configs exit 2 with one line naming the problem.
  outputs     tracking, the annotated-video sink and the trace together, two
              streams: every detection carries a track_id, ids are stable
              (a confirmed id keeps its class), each stream's video decodes
              (ffprobe) with one frame per result line at the stream's size,
              the trace passes tests/obs/trace_check.py.
  snapshot    the snapshot sink on synthetic videos with objects (two of
              90 frames rendered by tools/gen_dataset.py, seed 1001, or
              --heldout; the trained detector assets/shapes.onnx), two
              streams, next to a JSON Lines sink of the same run: the
              pictures named by the path template exist for exactly the
              frames the rule selects in the JSON Lines results (>=
              min_detections detections, at most one per `every` frames per
              stream), each decodes (ffmpeg) to the stream's width x height,
              and each shows its boxes: pixels on a detection's box edge
              differ from the same frame decoded by ffmpeg without drawing,
              pixels far from every box and label match it within JPEG
              tolerance (both checks also run against a wrong frame, which
              must fail them); --stats counts the pictures; a directory that
              cannot be created refuses the run (exit 2, named); one that
              fails mid-run (per-stream directory blocked by a file) is
              reported once, the JSON Lines sink stays complete, exit 1.
  live        a live RTSP source (GStreamer rtsp-server on loopback) next to
              a file; the server is killed for good mid-run: the live stream
              reports its failure once (after its reconnect attempts), keeps
              the results it had, and the file stream is processed to its
              end. Exit 1 (a stream failed). 77 without GStreamer's server.
  http        `vidpipe run --http-port P --serve` with one looping source:
              /metrics answers with the stream's series while it runs, a
              second source added over POST /sources gets processed, DELETE
              removes it, SIGINT ends the run with exit 0.

Exit: 0 pass, 1 fail, 77 skipped (a needed module, model or stream missing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77


def load_jsonl(path):
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.endswith("\n"):
                raise AssertionError(f"{path}:{n}: incomplete line")
            rec = json.loads(line)
            out[(rec["stream"], rec["frame"])] = rec
    return out


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def match_frames(got, ref, conf, margin, max_det, px=1.0):
    """Greedy matching per frame: a reference detection is matched by the
    vidpipe detection of its class with the highest IoU when that IoU is at
    least 0.9 and no box side differs by more than px pixels. Returns counts
    (matched, needed_ref, needed_got, unmatched_ref, unmatched_got) and the
    worst box difference of any IoU match (worst_px), within px or not."""
    stats = dict(matched=0, need_ref=0, need_got=0, miss_ref=0, miss_got=0, worst=0.0, over_px=0)
    for key, r in ref.items():
        g = got.get(key)
        if g is None:
            raise AssertionError(f"frame {key}: no result line from vidpipe")
        rd, gd = r["detections"], g["detections"]
        # a detection is 'clear' when a small score change cannot move it
        # across the confidence threshold or the max_det cut
        def cut(dets):
            if len(dets) < max_det:
                return conf
            return sorted(d["score"] for d in dets)[0]
        rc = max(conf, cut(rd)) + margin
        gc = max(conf, cut(gd)) + margin
        used, tight = set(), set()
        for d in sorted(rd, key=lambda d: -d["score"]):
            best, bi = 0.0, -1
            for j, e in enumerate(gd):
                if j in used or e["cls"] != d["cls"]:
                    continue
                v = iou(d["box"], e["box"])
                if v > best:
                    best, bi = v, j
            clear = d["score"] > rc
            stats["need_ref"] += clear
            diff = max(abs(x - y) for x, y in zip(d["box"], gd[bi]["box"])) if best >= 0.9 else None
            if diff is not None:
                used.add(bi)
                stats["worst"] = max(stats["worst"], diff)
            if diff is not None and diff <= px:
                tight.add(bi)
                stats["matched"] += 1
            else:
                stats["over_px"] += diff is not None
                stats["miss_ref"] += clear
        for j, e in enumerate(gd):
            if e["score"] > gc:
                stats["need_got"] += 1
                if j not in tight:
                    stats["miss_got"] += 1
    return stats


def check_match(got, ref, conf, max_det, label, margin=0.02, px=1.0):
    s = match_frames(got, ref, conf, margin, max_det, px)
    frac_ref = 1 - s["miss_ref"] / max(1, s["need_ref"])
    frac_got = 1 - s["miss_got"] / max(1, s["need_got"])
    print(f"{label}: {len(ref)} frames, {s['matched']} matched detections (same class, IoU >= 0.9, box within "
          f"{px:g} px); clear reference detections matched {frac_ref:.4f} of {s['need_ref']}, clear vidpipe "
          f"detections matched {frac_got:.4f} of {s['need_got']}; {s['over_px']} IoU matches off by more than "
          f"{px:g} px, worst box difference {s['worst']:.3f} px")
    ok = frac_ref >= 0.99 and frac_got >= 0.99 and s["need_ref"] > 0
    return ok, s


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ------------------------------------------------------------ reference
def reference(video, model, frames, conf, iou_thr, max_det, matrix, pre_tool, tmp):
    """Frames decoded by the ffmpeg CLI (libavcodec) as raw yuv420p, each
    preprocessed by vp_pre_tool (the CPU preprocessing, itself checked against
    numpy + OpenCV + ultralytics by preprocess_ref), then ONNX Runtime,
    ultralytics' non_max_suppression and scale_boxes. The same input tensors
    as vidpipe's, so what is compared is the pipeline's own work: frame order
    and identity, batching, slots, the engine, post-processing, mapping back
    to the picture and the JSON."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from ultralytics.utils import nms as unms
    from ultralytics.utils.ops import scale_boxes

    probe = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                 "-of", "csv=p=0", video])
    w, h = (int(x) for x in probe.stdout.strip().split(",")[:2])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", video, "-frames:v", str(frames), "-f", "rawvideo",
                          "-pix_fmt", "yuv420p", "-"], capture_output=True, check=True).stdout
    cw, ch = (w + 1) // 2, (h + 1) // 2
    fsize = w * h + 2 * cw * ch
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    out = {}
    for i in range(len(raw) // fsize):
        rawf = os.path.join(tmp, "frame.yuv")
        open(rawf, "wb").write(raw[i * fsize:(i + 1) * fsize])
        npy = os.path.join(tmp, "frame.npy")
        subprocess.run([pre_tool, "run", "--input", rawf, "--format", "yuv420p", "--size", f"{w}x{h}",
                        "--offsets", f"0,{w * h},{w * h + cw * ch}", "--pitches", f"{w},{cw},{cw}",
                        "--matrix", matrix, "--range", "limited", "--dst", "640x640", "--out", npy],
                       check=True, capture_output=True)
        t = np.load(npy)
        pred = sess.run(None, {name: t})[0]
        det = unms.non_max_suppression(torch.from_numpy(pred), conf_thres=conf, iou_thres=iou_thr, max_det=max_det,
                                       max_nms=30000)[0]
        det[:, :4] = scale_boxes((640, 640), det[:, :4], (h, w))
        out[("s0", i)] = {"detections": [{"box": [float(v) for v in d[:4]], "score": float(d[4]), "cls": int(d[5])}
                                         for d in det.numpy()]}
    return out


def test_reference(a, tmp):
    try:
        import numpy  # noqa: F401
        import onnxruntime  # noqa: F401
        import torch  # noqa: F401
        import ultralytics  # noqa: F401
    except ImportError as e:
        print(f"skip: {e}")
        return SKIP
    model = os.path.join(a.models, "yolov8n-video.onnx")
    ok_all = True
    cases = [("h264_360p.h264", "bt601"), ("h264_odd.mp4", "bt709")]
    present = [(v, m) for v, m in cases if os.path.exists(os.path.join(a.media, v))]
    if not os.path.exists(model) or not present:
        print(f"skip: {model} or the test streams are missing")
        return SKIP
    for video, matrix in present:
        src = os.path.join(a.media, video)
        out = os.path.join(tmp, video + ".jsonl")
        conf, iou_thr, max_det = 0.25, 0.45, 300
        r = run([a.vidpipe, "run", "--backend", "cpu", "--model", model, "--source", src, "--sink", out,
                 "--max-frames", str(a.frames), "--batch", "4", "--conf", str(conf), "--iou", str(iou_thr),
                 "--max-det", str(max_det), "--stats", os.path.join(tmp, "stats.json")])
        if r.returncode != 0:
            print(f"FAIL {video}: vidpipe run exited {r.returncode}: {r.stderr[-2000:]}")
            ok_all = False
            continue
        got = load_jsonl(out)
        ref = reference(src, model, a.frames, conf, iou_thr, max_det, matrix, a.pre_tool, tmp)
        if len(got) != len(ref):
            print(f"FAIL {video}: {len(got)} result lines, reference decoded {len(ref)} frames")
            ok_all = False
            continue
        ok, _ = check_match(got, ref, conf, max_det, f"{video} vidpipe cpu vs ffmpeg+ultralytics+ORT")
        if not ok:
            print(f"FAIL {video}: detections do not match the reference")
            ok_all = False
        # negative control: the same check must reject boxes 3 px off
        shifted = {k: {"detections": [dict(d, box=[d["box"][0] + 3, d["box"][1], d["box"][2] + 3, d["box"][3]])
                                      for d in v["detections"]]} for k, v in ref.items()}
        bad, _ = check_match(got, shifted, conf, max_det, f"{video} negative control (reference shifted 3 px)")
        if bad:
            print(f"FAIL {video}: the negative control passed: the check cannot fail")
            ok_all = False
        st = json.load(open(os.path.join(tmp, "stats.json")))
        if st["frames"] != a.frames or st["streams"][0]["processed"] != a.frames:
            print(f"FAIL {video}: stats say {st['frames']} frames, expected {a.frames}")
            ok_all = False
        # host CPU by thread: the source thread decoded (libavcodec) and the
        # inference thread ran the CPU engine, so both used CPU; the three
        # threads' clocks cannot add up to more than the process's time
        th, total = st.get("cpu_ms_per_frame_by_thread", {}), st["cpu_ms_per_frame"]
        named = sum(th.get(k, 0) for k in ("sources", "infer", "results"))
        if set(th) != {"sources", "infer", "results", "other"} or min(th.values()) < 0 or \
                th["sources"] <= 0 or th["infer"] <= 0 or named > total * 1.01 + 0.01:
            print(f"FAIL {video}: CPU by thread {th} against {total:.3f} ms/frame in all")
            ok_all = False
        # the steady-state window of one stream opens at its first result and
        # closes when it ends: every frame but the first, in less than the run
        w = st.get("steady", {})
        if w.get("frames") != a.frames - 1 or not 0 < w.get("wall_s", 0) < st["wall_s"] or \
                not 0 < w.get("cpu_ms_per_frame", 0):
            print(f"FAIL {video}: steady state {w}, expected {a.frames - 1} frames within {st['wall_s']:.3f} s")
            ok_all = False
    return 0 if ok_all else 1


# ---------------------------------------------------------------- faults
def path_args(a):
    """Command-line options of the path under test: the CPU path (default), or
    with --backend cuda the GPU path (NVDEC, GPU pre/post-processing, CUDA)."""
    if a.backend == "cpu":
        return ["--backend", "cpu"]
    return ["--backend", "cuda", "--precision", a.precision, "--hw", "nvdec"]


def test_faults(a, tmp):
    good = os.path.join(a.media, "h264_360p.h264")
    model = os.path.join(a.models, "yolov8n-video.onnx")
    if not os.path.exists(good) or not os.path.exists(model):
        print("skip: test stream or model missing")
        return SKIP
    pa = path_args(a)
    data = open(good, "rb").read()
    corrupt = os.path.join(tmp, "corrupt.h264")
    b = bytearray(data)
    for off in range(len(b) // 3, len(b) // 3 + 4000, 7):  # damage slices a third of the way in
        b[off] ^= 0x5A
    open(corrupt, "wb").write(bytes(b))
    cfg = {
        "sources": [
            {"id": "good", "uri": good},
            {"id": "truncated", "uri": os.path.join(a.media, "truncated.h264")},
            {"id": "garbage", "uri": os.path.join(a.media, "garbage.h264")},
            {"id": "corrupt", "uri": corrupt},
            {"id": "missing", "uri": os.path.join(tmp, "no-such-file.mp4")},
        ],
        "model": {"path": model},
        "batch": {"max": 4, "timeout_ms": 5},
        "sinks": [{"type": "jsonl", "path": os.path.join(tmp, "faults.jsonl")},
                  {"type": "jsonl", "path": "/dev/full"}],
    }
    path = os.path.join(tmp, "faults.json")
    json.dump(cfg, open(path, "w"))
    # the config check rejects the missing file up front; run goes on without it
    r = run([a.vidpipe, "run", "--config", path, "--stats", os.path.join(tmp, "faults-stats.json")] + pa)
    ok = True
    err = r.stderr
    print(err[-3000:])
    if r.returncode not in (1, 2):
        print(f"FAIL faults: exit {r.returncode}, expected 1 (some streams failed) or 2 (config refused)")
        return 1
    if r.returncode == 2:
        if "missing" not in err and "no-such-file" not in err:
            print("FAIL faults: exit 2 without naming the missing file")
            return 1
        cfg["sources"] = [s for s in cfg["sources"] if s["id"] != "missing"]
        json.dump(cfg, open(path, "w"))
        r = run([a.vidpipe, "run", "--config", path, "--stats", os.path.join(tmp, "faults-stats.json")] + pa)
        err = r.stderr
        print(err[-3000:])
    st = json.load(open(os.path.join(tmp, "faults-stats.json")))
    by = {s["id"]: s for s in st["streams"]}
    lines = load_jsonl(os.path.join(tmp, "faults.jsonl"))
    per = {}
    for (sid, _), rec in lines.items():
        per[sid] = per.get(sid, 0) + 1
    if shutil.which("ffprobe"):
        expect_good = int(run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                               "stream=nb_read_frames", "-of", "csv=p=0", good]).stdout.strip())
    else:  # the GPU machine: the good stream run alone on the same path
        solo = os.path.join(tmp, "solo.jsonl")
        run([a.vidpipe, "run", "--model", model, "--source", good, "--sink", solo] + pa)
        expect_good = len(load_jsonl(solo))
        print(f"faults: no ffprobe; the good stream alone gave {expect_good} lines")
    if per.get("good") != expect_good or by["good"]["failed"]:
        print(f"FAIL faults: the good stream has {per.get('good')} lines of {expect_good} frames")
        ok = False
    if by["corrupt"]["processed"] == 0:
        print("FAIL faults: the corrupted stream produced nothing (it must go on past the damage)")
        ok = False
    if not by["garbage"]["failed"] and by["garbage"]["processed"]:
        print("FAIL faults: garbage bytes gave results")
        ok = False
    for sid in by:
        if per.get(sid, 0) != by[sid]["processed"]:
            print(f"FAIL faults: stream {sid}: {per.get(sid, 0)} lines but {by[sid]['processed']} processed")
            ok = False
    if st["sink_errors"] != 1 or err.count("/dev/full") != 1:
        print(f"FAIL faults: the full sink must be reported exactly once (sink_errors {st['sink_errors']}, "
              f"{err.count('/dev/full')} messages)")
        ok = False
    for s in st["streams"]:
        if s["failed"] and err.count(f"stream {s['id']}:") < 1:
            print(f"FAIL faults: stream {s['id']} failed without a message")
            ok = False
    print(f"faults: per-stream lines {per}, exit {r.returncode}")

    # an engine failure on one batch: its frames get a line with the error,
    # the batches after it are processed normally
    out = os.path.join(tmp, "engine-fault.jsonl")
    # a long batch timeout: every batch is 4 frames in a row (a loaded
    # machine's slow reader would otherwise cut batches short, and another
    # set of frames would be batch 2 in each run)
    r = run([a.vidpipe, "run", "--model", model, "--source", good, "--batch", "4",
             "--timeout-ms", "10000", "--sink", out, "--stats", os.path.join(tmp, "ef-stats.json")] + pa,
            env=dict(os.environ, VIDPIPE_FAULT_ENGINE_BATCH="2"))
    lines = load_jsonl(out)
    errs = [k for k, v in lines.items() if "error" in v]
    st = json.load(open(os.path.join(tmp, "ef-stats.json")))
    print(f"engine fault: exit {r.returncode}, {len(lines)} lines, {len(errs)} with the error, "
          f"{st['engine_errors']} engine errors")
    if (r.returncode != 1 or len(lines) != expect_good or not 1 <= len(errs) <= 4 or st["engine_errors"] != 1
            or r.stderr.count("injected failure") != 1):
        print("FAIL faults: an engine failure on one batch must cost only that batch, reported once")
        print(r.stderr[-2000:])
        ok = False

    # the same with one batch at a time and with four in flight (batch.inflight):
    # the same lines, errors on the same frames
    def strip(v):
        return {k: x for k, x in v.items() if k != "latency_ms"}
    for depth in (1, 4):
        out_d = os.path.join(tmp, f"engine-fault-{depth}.jsonl")
        cfg = {"sources": [{"id": "s0", "uri": good}], "model": {"path": model},
               "batch": {"max": 4, "inflight": depth, "timeout_ms": 10000}, "sinks": [{"type": "jsonl", "path": out_d}]}
        cpath = os.path.join(tmp, f"engine-fault-{depth}.json")
        json.dump(cfg, open(cpath, "w"))
        r = run([a.vidpipe, "run", "--config", cpath, "--stats", os.path.join(tmp, f"ef-stats-{depth}.json")] + pa,
                env=dict(os.environ, VIDPIPE_FAULT_ENGINE_BATCH="2"))
        got = load_jsonl(out_d)
        st = json.load(open(os.path.join(tmp, f"ef-stats-{depth}.json")))
        same = got.keys() == lines.keys() and all(strip(got[k]) == strip(lines[k]) for k in lines)
        print(f"engine fault, inflight {depth}: exit {r.returncode}, {len(got)} lines, same as inflight 2: {same}")
        if r.returncode != 1 or not same or st["engine_errors"] != 1 or r.stderr.count("injected failure") != 1:
            print(f"FAIL faults: inflight {depth} must give the lines of inflight 2, one engine error")
            print(r.stderr[-2000:])
            ok = False
    return 0 if ok else 1


# ------------------------------------------------------------------ stop
def test_stop(a, tmp):
    good = os.path.join(a.media, "h264_360p.h264")
    model = os.path.join(a.models, "yolov8n-video.onnx")
    if not os.path.exists(good) or not os.path.exists(model):
        print("skip: test stream or model missing")
        return SKIP
    cfg = {"sources": [{"id": "loop", "uri": good, "loop": -1}], "model": {"path": model, "backend": "cpu"},
           "batch": {"max": 2}, "sinks": [{"type": "jsonl", "path": os.path.join(tmp, "stop.jsonl")}]}
    path = os.path.join(tmp, "stop.json")
    json.dump(cfg, open(path, "w"))
    p = subprocess.Popen([a.vidpipe, "run", "--config", path, "--stats", os.path.join(tmp, "stop-stats.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        print("FAIL stop: still running 60 s after SIGINT")
        return 1
    st = json.load(open(os.path.join(tmp, "stop-stats.json")))
    lines = load_jsonl(os.path.join(tmp, "stop.jsonl"))
    dec = st["streams"][0]["decoded"]
    print(f"stop: exit {p.returncode}, {len(lines)} lines, {st['frames']} processed, {dec} decoded")
    if p.returncode != 0 or len(lines) != st["frames"] or st["frames"] != dec or st["frames"] == 0:
        print("FAIL stop: after SIGINT every decoded frame must be processed and written")
        print(err[-2000:])
        return 1
    return 0


# ------------------------------------------------------------------ loop
def test_loop(a, tmp):
    model = os.path.join(a.models, "yolov8n-video.onnx")
    streams = {"h264": ("reschange_a.h264", 2), "hevc": ("hevc_odd.h265", 1)}
    paths = {k: os.path.join(a.media, f) for k, (f, _) in streams.items()}
    if not os.path.exists(model) or not all(os.path.exists(p) for p in paths.values()):
        print("skip: test streams or model missing")
        return SKIP

    def run_cfg(name, loops):
        sink = os.path.join(tmp, f"{name}.jsonl")
        cfg = {"sources": [{"id": k, "uri": paths[k], "loop": loops[k]} for k in streams],
               "model": {"path": model, "backend": "cpu"}, "batch": {"max": 1},
               "sinks": [{"type": "jsonl", "path": sink}]}
        path = os.path.join(tmp, f"{name}.json")
        json.dump(cfg, open(path, "w"))
        r = subprocess.run([a.vidpipe, "run", "--config", path, "--quiet"], capture_output=True, text=True)
        if r.returncode:
            print(f"FAIL loop: {name} run exited {r.returncode}: {r.stderr[-1500:]}")
            return None
        by = {k: [] for k in streams}
        for line in open(sink):
            d = json.loads(line)
            by[d["stream"]].append(d)
        return {k: sorted(v, key=lambda d: d["frame"]) for k, v in by.items()}

    once = run_cfg("once", {k: 0 for k in streams})
    looped = run_cfg("looped", {k: n for k, (_, n) in streams.items()})
    if once is None or looped is None:
        return 1
    bad = 0
    for k, (_, n) in streams.items():
        ref, got = once[k], looped[k]
        per = len(ref)
        print(f"loop: {k}: {per} frames per pass, {len(got)} after {n} loop(s)")
        if not per or len(got) != per * (n + 1):
            print(f"FAIL loop: {k}: expected {per * (n + 1)} frames, got {len(got)}")
            bad += 1
            continue
        if [d["frame"] for d in got] != list(range(len(got))):
            print(f"FAIL loop: {k}: frame numbers are not 0..{len(got) - 1}")
            bad += 1
        for i, d in enumerate(got):
            r = ref[i % per]
            if "error" in d or d["detections"] != r["detections"] or (d["width"], d["height"]) != (r["width"], r["height"]):
                print(f"FAIL loop: {k}: pass {i // per} frame {i % per} differs from the run without looping")
                bad += 1
                break
    return 1 if bad else 0


# ----------------------------------------------------------------- usage
def test_usage(a, tmp):
    model = os.path.join(a.models, "yolov8n-video.onnx")
    cases = [
        ([a.vidpipe, "run"], "source"),
        ([a.vidpipe, "run", "--model", model, "--source", "x.h264", "--batch", "0"], "batch.max"),
        ([a.vidpipe, "run", "--model", model, "--source", "x.h264", "--bogus"], "--bogus"),
        ([a.vidpipe, "run", "--model", model, "--source", "x.h264", "--batch", "many"], "many"),
        ([a.vidpipe, "run", "--config", os.path.join(tmp, "nope.json")], "nope.json"),
    ]
    ok = True
    for cmd, needle in cases:
        r = run(cmd)
        if r.returncode != 2 or needle not in r.stderr:
            print(f"FAIL usage: {cmd[2:]}: exit {r.returncode}, stderr {r.stderr.strip()[:300]!r}; expected 2 "
                  f"naming {needle!r}")
            ok = False
    bad_model = os.path.join(tmp, "bad.onnx")
    open(bad_model, "wb").write(b"not a model")
    good = os.path.join(a.media, "h264_360p.h264")
    r = run([a.vidpipe, "run", "--model", bad_model, "--source", good, "--backend", "cpu"])
    if r.returncode != 2 or "bad.onnx" not in r.stderr or len(r.stderr.strip().splitlines()) > 3:
        print(f"FAIL usage: a broken model: exit {r.returncode}, {r.stderr.strip()[:300]!r}")
        ok = False
    print(f"usage: {len(cases) + 1} cases")
    return 0 if ok else 1


# --------------------------------------------------------------- outputs
def test_outputs(a, tmp):
    model = os.path.join(a.models, "yolov8n-video.onnx")
    vids = [os.path.join(a.media, v) for v in ("h264_360p.h264", "h264_odd.mp4")]
    if not os.path.exists(model) or not all(os.path.exists(v) for v in vids):
        print("skip: model or test streams missing")
        return SKIP
    out, video, trace = (os.path.join(tmp, n) for n in ("o.jsonl", "v.mkv", "t.json"))
    cmd = [a.vidpipe, "run", "--backend", "cpu", "--model", model, "--batch", "4", "--max-frames", "12",
           "--sink", out, "--sink", "video:" + video, "--track", "--trace", trace]
    for v in vids:
        cmd += ["--source", v]
    r = run(cmd)
    if r.returncode != 0:
        print(f"FAIL outputs: exit {r.returncode}: {r.stderr[-1500:]}")
        return 1
    ok = True
    lines = load_jsonl(out)
    cls_of = {}
    tracked = 0
    for (sid, _), rec in sorted(lines.items()):
        for d in rec["detections"]:
            if "track_id" not in d or d["track_id"] < 0:
                print(f"FAIL outputs: {sid}: a detection without a track_id: {d}")
                return 1
            if d["track_id"]:
                tracked += 1
                key = (sid, d["track_id"])
                if cls_of.setdefault(key, d["cls"]) != d["cls"]:
                    print(f"FAIL outputs: {key} changed class")
                    ok = False
    print(f"outputs: {len(lines)} lines, {tracked} tracked detections, {len(cls_of)} tracks")
    if tracked == 0:
        print("FAIL outputs: nothing was tracked")
        ok = False
    for i, v in enumerate(vids):
        f = os.path.join(tmp, f"v.s{i}.mkv")
        pr = run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                  "stream=nb_read_frames,width,height", "-of", "csv=p=0", f])
        got = pr.stdout.strip()
        pw = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                  "-of", "csv=p=0", v]).stdout.strip().split(",")
        w, h = int(pw[0]) // 2 * 2, int(pw[1]) // 2 * 2  # the encoder keeps even sizes
        n = sum(1 for (sid, _) in lines if sid == f"s{i}")
        if got != f"{w},{h},{n}":
            print(f"FAIL outputs: {f}: ffprobe says {got!r}, expected {w},{h},{n}")
            ok = False
    # sinks[].encoder "nvenc": H.264 from NVENC where it is usable (probed with
    # the ffmpeg CLI), else that sink fails once with the reason and the
    # JSON Lines sink beside it is complete
    if shutil.which("ffmpeg"):
        nv = run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=s=256x256:d=0.04", "-frames:v", "1",
                  "-c:v", "h264_nvenc", "-f", "null", "-"]).returncode == 0
        vo, jo = os.path.join(tmp, "nv.mkv"), os.path.join(tmp, "nv.jsonl")
        cfg = {"sources": [{"id": "s0", "uri": vids[0]}], "model": {"path": model, "backend": "cpu"},
               "batch": {"max": 4}, "max_frames": 8,
               "sinks": [{"type": "video", "path": vo, "encoder": "nvenc"}, {"type": "jsonl", "path": jo}]}
        cpath = os.path.join(tmp, "nv.json")
        json.dump(cfg, open(cpath, "w"))
        r = run([a.vidpipe, "run", "--config", cpath])
        n = len(load_jsonl(jo)) if os.path.exists(jo) else 0
        if nv:
            codec = run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name",
                         "-of", "csv=p=0", vo]).stdout.strip()
            good = r.returncode == 0 and n == 8 and codec == "h264"
            print(f"outputs: encoder nvenc (NVENC usable): exit {r.returncode}, {n} lines, video codec {codec!r}")
        else:
            good = (r.returncode == 1 and n == 8 and r.stderr.count("NVENC unusable") == 1 and
                    not os.path.exists(vo))
            print(f"outputs: encoder nvenc (NVENC unusable here): exit {r.returncode}, {n} lines, "
                  f"{r.stderr.count('NVENC unusable')} message(s), video file {os.path.exists(vo)}")
        if not good:
            print(f"FAIL outputs: sinks[].encoder nvenc: {r.stderr[-1500:]}")
            ok = False
    chk = run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "obs", "trace_check.py"), "--trace", trace])
    print(chk.stdout.strip().splitlines()[-1] if chk.stdout.strip() else chk.stderr[-500:])
    if chk.returncode != 0:
        print("FAIL outputs: the trace is not a valid Chrome trace")
        ok = False
    return 0 if ok else 1


# -------------------------------------------------------------- snapshot
def decode_rgb(path, w, h, frame=None):
    """RGB of a picture (or of frame `frame` of a video) via the ffmpeg CLI, as a numpy array."""
    import numpy as np
    cmd = ["ffmpeg", "-v", "error", "-i", path]
    if frame is not None:
        cmd += ["-vf", f"select=eq(n\\,{frame})", "-vsync", "0", "-frames:v", "1"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0 or len(r.stdout) != w * h * 3:
        raise AssertionError(f"{path}: ffmpeg gave {len(r.stdout)} bytes, want {w}x{h}x3: {r.stderr[-300:]!r}")
    return np.frombuffer(r.stdout, np.uint8).reshape(h, w, 3).astype(np.int16)


def box_masks(dets, w, h):
    """Pixels on the drawn box edges (1 px inside each box side, where the 2 px outline is) and pixels far
    (> 24 px) from every box and its label band above."""
    import numpy as np
    edge = np.zeros((h, w), bool)
    near = np.zeros((h, w), bool)
    for d in dets:
        x0, y0, x1, y1 = (int(round(v)) for v in d["box"])
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        edge[y0, x0 + 2:x1 - 2] = edge[y1 - 1, x0 + 2:x1 - 2] = True
        edge[y0 + 2:y1 - 2, x0] = edge[y0 + 2:y1 - 2, x1 - 1] = True
        near[max(y0 - 40, 0):min(y1 + 24, h), max(x0 - 24, 0):min(x1 + 200, w)] = True
    return edge, ~near


def test_snapshot(a, tmp):
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("skip: numpy missing")
        return SKIP
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    model = os.path.join(root, "assets", "shapes.onnx")
    frames, every, min_det = 90, 7, 6
    held = a.heldout
    if not held:  # two short held-out videos (seed 1001, as docs/ACCURACY.md's), rendered here
        held = os.path.join(tmp, "heldout")
        g = subprocess.run([sys.executable, os.path.join(root, "tools", "gen_dataset.py"), "--out", held, "--seed", "1001",
                            "--videos", "2", "--frames", str(frames), "--prefix", "ho"], capture_output=True, text=True)
        if g.returncode:
            print(f"skip: tools/gen_dataset.py could not render the test videos: {g.stderr.strip()[-300:]}")
            return SKIP
    vids = [os.path.join(held, v) for v in ("ho000.mp4", "ho001.h264")]
    if not os.path.exists(model) or not all(os.path.exists(v) for v in vids):
        print(f"skip: {model} or the held-out videos in {held} missing")
        return SKIP
    cfg = json.loads(run([sys.executable, os.path.join(root, "tools", "demo_config.py"), "--model", model,
                          "--source", vids[0], "--sink", os.path.join(tmp, "r.jsonl")]).stdout)
    cfg["sources"] = [{"id": "a", "uri": vids[0]}, {"id": "b", "uri": vids[1]}]
    tpl = os.path.join(tmp, "snaps", "sub", "{stream}-{frame}.jpg")  # the directories do not exist yet
    cfg["sinks"].append({"type": "snapshot", "path": tpl, "every": every, "min_detections": min_det})
    # an annotated-video sink beside it: both are served by one drawing of each frame
    cfg["sinks"].append({"type": "video", "path": os.path.join(tmp, "v.mkv")})
    cfg["max_frames"] = frames
    cpath = os.path.join(tmp, "snap.json")
    json.dump(cfg, open(cpath, "w"))
    r = run([a.vidpipe, "run", "--config", cpath, "--stats", os.path.join(tmp, "st.json")])
    if r.returncode != 0:
        print(f"FAIL snapshot: exit {r.returncode}: {r.stderr[-1500:]}")
        return 1
    lines = load_jsonl(os.path.join(tmp, "r.jsonl"))
    ok = True
    for sid in ("a", "b"):
        got = run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                   "stream=nb_read_frames", "-of", "csv=p=0", os.path.join(tmp, f"v.{sid}.mkv")]).stdout.strip()
        if got != str(frames):
            print(f"FAIL snapshot: the video sink beside it wrote {got!r} frames of stream {sid}, expected {frames}")
            ok = False
    # the rule, from the JSON Lines results of the same run
    want = set()
    for sid in ("a", "b"):
        nxt = 0
        for n in range(frames):
            if len(lines[(sid, n)]["detections"]) >= min_det and n >= nxt:
                want.add((sid, n))
                nxt = n + every
    got = set()
    for name in os.listdir(os.path.join(tmp, "snaps", "sub")):
        sid, _, n = name[:-4].partition("-")
        got.add((sid, int(n)))
    skipped = sum(1 for (sid, n), rec in lines.items() if len(rec["detections"]) >= min_det and (sid, n) not in want)
    print(f"snapshot: {len(got)} pictures, {len(want)} selected by the rule ({skipped} qualifying frames skipped "
          f"by every={every}, {sum(1 for r in lines.values() if len(r['detections']) < min_det)} frames with < "
          f"{min_det} detections)")
    if got != want:
        print(f"FAIL snapshot: pictures not the selected frames: extra {sorted(got - want)[:5]}, "
              f"missing {sorted(want - got)[:5]}")
        ok = False
    below = sum(1 for r in lines.values() if len(r["detections"]) < min_det)
    if len(want) < 6 or skipped == 0 or below == 0:
        print("FAIL snapshot: the run does not exercise the rule (too few pictures, or no frame skipped by every "
              "or by min_detections)")
        ok = False
    st = json.load(open(os.path.join(tmp, "st.json")))
    if st.get("snapshots") != [{"sink": 1, "path": tpl, "pictures": len(got)}]:
        print(f"FAIL snapshot: --stats snapshots {st.get('snapshots')}, expected {len(got)} pictures for sink 1")
        ok = False
    # each picture: the stream's size; boxes drawn where the results say, the rest the decoded frame
    src = {"a": vids[0], "b": vids[1]}
    worst_far, checked = 0.0, 0
    for sid, n in sorted(got & want):
        rec = lines[(sid, n)]
        w, h = rec["width"], rec["height"]
        pic = os.path.join(tmp, "snaps", "sub", f"{sid}-{n}.jpg")
        pr = run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height,codec_name", "-of", "csv=p=0", pic])
        if pr.stdout.strip() != f"mjpeg,{w},{h}":
            print(f"FAIL snapshot: {pic}: ffprobe {pr.stdout.strip()!r}, expected mjpeg,{w},{h}")
            ok = False
            continue
        img = decode_rgb(pic, w, h)
        ref = decode_rgb(src[sid], w, h, frame=n)
        d = abs(img - ref).max(axis=2)
        edge, far = box_masks(rec["detections"], w, h)
        moved = [dict(x, box=[x["box"][0] + 40, x["box"][1] + 40, x["box"][2] + 40, x["box"][3] + 40])
                 for x in rec["detections"]]
        wrong_edge, _ = box_masks(moved, w, h)
        wrong_edge &= ~edge
        def changed(mask, diff):
            return float((diff[mask] > 40).mean()) if mask.any() else 0.0
        edge_changed, far_mean = changed(edge, d), float(d[far].mean())
        checked += 1
        worst_far = max(worst_far, far_mean)
        if edge_changed < 0.5 or far_mean > 3.0:
            print(f"FAIL snapshot: {pic}: {edge_changed:.2f} of the box edge pixels changed (want >= 0.5), mean "
                  f"difference away from boxes {far_mean:.2f} (want <= 3)")
            ok = False
        # negative controls: the undrawn frame has no box edges; boxes moved by 40 px are mostly not drawn
        raw_changed = changed(edge, abs(ref - decode_rgb(src[sid], w, h, frame=n)).max(axis=2))
        if raw_changed >= 0.5 or changed(wrong_edge, d) >= 0.5:
            print(f"FAIL snapshot: {pic}: the edge check passes where nothing was drawn ({raw_changed:.2f}, moved "
                  f"boxes {changed(wrong_edge, d):.2f})")
            ok = False
    print(f"snapshot: {checked} pictures checked against ffmpeg's frames, worst mean difference away from boxes "
          f"{worst_far:.2f}")

    # a directory that cannot be created: refused at start, named
    blocker = os.path.join(tmp, "file")
    open(blocker, "w").write("x")
    r = run([a.vidpipe, "run", "--backend", "cpu", "--model", model, "--source", vids[0], "--max-frames", "4",
             "--sink", "snapshot:" + os.path.join(blocker, "d", "{frame}.jpg")])
    if r.returncode != 2 or "cannot create the directory" not in r.stderr or blocker not in r.stderr:
        print(f"FAIL snapshot: an impossible directory: exit {r.returncode}, {r.stderr.strip()[-400:]!r}")
        ok = False
    # a per-stream directory blocked by a file: reported once at run time, the sink closed, JSON Lines complete
    os.makedirs(os.path.join(tmp, "ps"))
    open(os.path.join(tmp, "ps", "b"), "w").write("x")
    out2 = os.path.join(tmp, "r2.jsonl")
    cfg["sinks"] = [{"type": "jsonl", "path": out2},
                    {"type": "snapshot", "path": os.path.join(tmp, "ps", "{stream}", "{frame}.jpg"), "every": 1,
                     "min_detections": 0}]
    cfg["max_frames"] = 20
    json.dump(cfg, open(cpath, "w"))
    r = run([a.vidpipe, "run", "--config", cpath, "--stats", os.path.join(tmp, "st2.json")])
    st = json.load(open(os.path.join(tmp, "st2.json")))
    n2 = len(load_jsonl(out2))
    msgs = r.stderr.count("cannot create the directory")
    if r.returncode != 1 or msgs != 1 or st["sink_errors"] != 1 or n2 != 40:
        print(f"FAIL snapshot: a failing snapshot sink: exit {r.returncode} (want 1), {msgs} messages (want 1), "
              f"sink_errors {st['sink_errors']}, {n2} JSON lines (want 40): {r.stderr[-600:]}")
        ok = False
    else:
        print(f"snapshot: a failing sink reported once, {n2} JSON lines, {st['snapshots'][0]['pictures']} pictures "
              f"before it failed")
    return 0 if ok else 1


# ------------------------------------------------------------------ live
def test_live(a, tmp):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "media"))
    import rtsp_reconnect as rr

    model = os.path.join(a.models, "yolov8n-video.onnx")
    good = os.path.join(a.media, "h264_360p.h264")
    py = rr.gi_python()
    if not py or not os.path.exists(model) or not os.path.exists(good):
        print("skip: no GStreamer RTSP server, model or test stream")
        return SKIP
    port = rr.free_port()
    server = rr.start_server(py, port)
    out = os.path.join(tmp, "live.jsonl")
    cfg = {"sources": [{"id": "cam", "uri": f"rtsp://127.0.0.1:{port}/test", "max_reconnects": 2},
                       {"id": "file", "uri": good, "loop": 2}],
           "model": {"path": model, "backend": "cpu"}, "batch": {"max": 2, "timeout_ms": 5},
           "sinks": [{"type": "jsonl", "path": out}]}
    path = os.path.join(tmp, "live.json")
    json.dump(cfg, open(path, "w"))
    p = subprocess.Popen([a.vidpipe, "run", "--config", path, "--stats", os.path.join(tmp, "live-stats.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = False
    try:
        deadline = time.time() + 90
        while time.time() < deadline and p.poll() is None:
            n = sum(1 for l in open(out) if '"stream":"cam"' in l) if os.path.exists(out) else 0
            if n >= 10:
                server.send_signal(signal.SIGKILL)
                server.wait()
                killed = True
                break
            time.sleep(0.3)
        _, err = p.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        print("FAIL live: the run did not end after the server went away")
        return 1
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    ok = True
    lines = load_jsonl(out)
    cam = sum(1 for (sid, _) in lines if sid == "cam")
    fil = sum(1 for (sid, _) in lines if sid == "file")
    st = json.load(open(os.path.join(tmp, "live-stats.json")))
    by = {x["id"]: x for x in st["streams"]}
    print(f"live: server killed {killed}, exit {p.returncode}, cam {cam} lines ({by['cam']['processed']} processed, "
          f"failed {by['cam']['failed']}: {by['cam']['error']!r}), file {fil} lines")
    if not killed or cam < 10 or cam != by["cam"]["processed"]:
        print("FAIL live: the live stream's results before the drop must all be there")
        ok = False
    if fil != 150:
        print(f"FAIL live: the file stream has {fil} lines, expected 150 (3 passes of 50 frames)")
        ok = False
    if not by["cam"]["failed"] or err.count("stream cam:") != 1 or p.returncode != 1:
        print(f"FAIL live: the dead live stream must be reported once, with exit 1: {err[-1500:]}")
        ok = False
    return 0 if ok else 1


# ------------------------------------------------------------------ http
def test_http(a, tmp):
    import socket
    import urllib.error
    import urllib.request

    model = os.path.join(a.models, "yolov8n-video.onnx")
    good = os.path.join(a.media, "h264_360p.h264")
    if not os.path.exists(model) or not os.path.exists(good):
        print("skip: model or test stream missing")
        return SKIP
    with socket.socket() as sk:  # a free port on loopback
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    cfg = {"sources": [{"id": "cam1", "uri": good, "loop": -1}], "model": {"path": model, "backend": "cpu"},
           "batch": {"max": 2}, "monitor": {"port": port, "serve": True}}
    path = os.path.join(tmp, "http.json")
    json.dump(cfg, open(path, "w"))
    env = dict(os.environ, VIDPIPE_TOKEN="secret-token")
    p = subprocess.Popen([a.vidpipe, "run", "--config", path, "--stats", os.path.join(tmp, "http-stats.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    base = f"http://127.0.0.1:{port}"

    def get(route):
        with urllib.request.urlopen(base + route, timeout=5) as r:
            return r.status, r.read().decode()

    def call(method, route, body=None, token="secret-token"):
        req = urllib.request.Request(base + route, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def frames(metrics, sid):
        for line in metrics.splitlines():
            if line.startswith("vidpipe_frames_total{") and f'stream="{sid}"' in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    ok = True
    try:
        deadline = time.time() + 60
        metrics = ""
        while time.time() < deadline:  # bounded: until the endpoint answers and cam1 has frames
            try:
                _, metrics = get("/metrics")
                if (frames(metrics, "cam1") or 0) > 0:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.5)
        if not frames(metrics, "cam1"):
            print(f"FAIL http: no frames counted for cam1 on /metrics within 60 s: {metrics[:500]!r}")
            ok = False
        st, body = call("POST", "/sources", {"id": "cam2", "uri": good, "loop": -1})
        if st != 201:
            print(f"FAIL http: POST /sources answered {st}: {body[:300]}")
            ok = False
        deadline = time.time() + 60
        while ok and time.time() < deadline:
            _, metrics = get("/metrics")
            if (frames(metrics, "cam2") or 0) > 0:
                break
            time.sleep(0.5)
        if ok and not frames(metrics, "cam2"):
            print("FAIL http: the source added over HTTP produced no frames within 60 s")
            ok = False
        before = frames(metrics, "cam1") or 0
        st, _ = call("DELETE", "/sources/cam2")
        if st != 200:
            print(f"FAIL http: DELETE /sources/cam2 answered {st}")
            ok = False
        deadline = time.time() + 30
        while time.time() < deadline:
            _, metrics = get("/metrics")
            if frames(metrics, "cam2") is None and (frames(metrics, "cam1") or 0) > before:
                break
            time.sleep(0.5)
        if frames(metrics, "cam2") is not None or (frames(metrics, "cam1") or 0) <= before:
            print("FAIL http: after DELETE cam2 must leave /metrics while cam1 keeps counting")
            ok = False
        st, _ = call("POST", "/sources", {"id": "cam3", "uri": good}, token=None)
        if st != 401:
            print(f"FAIL http: POST without the token answered {st}, expected 401")
            ok = False
    finally:
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            print("FAIL http: still running 60 s after SIGINT")
            ok = False
    if p.returncode != 0:
        print(f"FAIL http: exit {p.returncode}: {err[-1500:]}")
        ok = False
    print(f"http: endpoint on port {port}, cam1 counted {before:.0f}+ frames, cam2 added and removed, exit {p.returncode}")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["reference", "compare", "faults", "stop", "loop", "usage", "outputs", "http", "live",
                                       "snapshot"])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--vidpipe")
    ap.add_argument("--models", default="build/models")
    ap.add_argument("--media", default="build/media")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--pre-tool", default="build/tests/vision/vp_pre_tool")
    ap.add_argument("--heldout", help="ho000.mp4 and ho001.h264 of tools/gen_dataset.py --prefix ho (default: rendered in a temporary folder)")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--max-det", type=int, default=300)
    ap.add_argument("--backend", choices=["cpu", "cuda"], default="cpu",
                    help="faults: the path under test (cuda: NVDEC, GPU pre/post-processing, CUDA engine)")
    ap.add_argument("--precision", choices=["fp32", "fp16"], default="fp32", help="faults with --backend cuda")
    a = ap.parse_args()
    if a.mode == "compare":
        got, ref = load_jsonl(a.files[0]), load_jsonl(a.files[1])
        if set(got) != set(ref):
            print(f"FAIL compare: {len(got)} vs {len(ref)} frames, {len(set(got) ^ set(ref))} differ")
            return 1
        ok, _ = check_match(got, ref, a.conf, a.max_det, f"{a.files[0]} vs {a.files[1]}")
        return 0 if ok else 1
    with tempfile.TemporaryDirectory() as tmp:
        return {"reference": test_reference, "faults": test_faults, "stop": test_stop, "loop": test_loop,
                "usage": test_usage, "outputs": test_outputs, "http": test_http,
                "live": test_live, "snapshot": test_snapshot}[a.mode](a, tmp)


if __name__ == "__main__":
    sys.exit(main())
