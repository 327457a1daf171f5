#!/usr/bin/env python3
"""`vidpipe check` against configs written to a temporary directory.

Every case states the exact JSON path the message must carry and the exit
status (0 valid, 2 invalid). What is covered:

  valid configs        full and minimal: exit 0 and the resolved summary
                       (default ids, latency-mode defaults, gpu_only fallback)
  each error kind      types, integers, ranges, choices, number triples, null,
                       unknown keys (with and without a suggestion), duplicate
                       keys, reserved keys, every conflict of docs/CONFIG.md,
                       missing and empty required values, duplicate ids and
                       sink paths, too many items, files that do not exist
  several at once      all reported, one per line, each with the file name
  hostile input        malformed JSON (line and column), empty file, binary
                       garbage, invalid UTF-8, a 20 MiB file, 100000 nested
                       arrays, huge numbers, a directory, a missing file
  docs                 `check --keys` and the key table of docs/CONFIG.md list
                       the same keys with the same type, default and range

Runs under the ASan build too: any sanitizer report or a signal is a failure.
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "CONFIG.md")

fails = []


def report(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + detail))
    if not cond:
        fails.append(name)


class Checker:
    def __init__(self, vidpipe, tmp):
        self.vidpipe = vidpipe
        self.tmp = tmp
        self.n = 0

    def run(self, *args, cwd=None):
        r = subprocess.run([self.vidpipe, "check", *args], capture_output=True, timeout=120, cwd=cwd or self.tmp)
        out = r.stdout.decode("utf-8", "replace")
        err = r.stderr.decode("utf-8", "replace")
        return r.returncode, out, [l for l in err.splitlines() if l.strip()]

    def write(self, content, name=None):
        self.n += 1
        path = os.path.join(self.tmp, name or f"cfg{self.n}.json")
        data = content if isinstance(content, bytes) else (
            content if isinstance(content, str) else json.dumps(content, indent=2)).encode()
        with open(path, "wb") as f:
            f.write(data)
        return path

    def clean(self, name, rc, lines):
        bad = [l for l in lines if "Sanitizer" in l or "runtime error" in l or "LeakSanitizer" in l]
        report(name + " (no crash, no sanitizer report)", rc in (0, 1, 2) and not bad, f"exit {rc}: {(bad or lines)[:3]}")

    def check(self, name, content, code, expect=(), forbid=(), nlines=None, cwd=None):
        """Writes content, runs check; expects exit code and, for each string
        of expect, a stderr line containing it. Returns (stdout, lines)."""
        path = self.write(content)
        rc, out, lines = self.run(path, cwd=cwd)
        self.clean(name, rc, lines)
        missing = [e for e in expect if not any(e in l for l in lines)]
        present = [f for f in forbid if any(f in l for l in lines)]
        prefixed = all(l.startswith(path + ": ") for l in lines)
        ok = rc == code and not missing and not present and prefixed and (nlines is None or len(lines) == nlines)
        report(name, ok, f"exit {rc} (want {code}), missing {missing}, unexpected {present}, "
                         f"{len(lines)} lines (want {nlines}), prefixed {prefixed}: {lines[:8]}")
        return out, lines


def base_config(tmp):
    """A full valid config: every section, files that exist."""
    return {
        "device": {"gpu": 0, "gpu_only": False},
        "decode": {"hw": "auto", "cpu_fallback": True, "threads": 2},
        "sources": [
            {"id": "cam1", "uri": os.path.join(tmp, "a.mp4"), "live": False, "loop": 2, "realtime": True},
            {"id": "cam2", "uri": "rtsp://127.0.0.1:8554/cam", "live": "auto", "reconnect": True,
             "max_reconnects": 5},
        ],
        "model": {"path": os.path.join(tmp, "m.onnx"), "task": "detect", "backend": "cuda", "precision": "fp16",
                  "threads": 4,
                  "input": {"width": 640, "height": 384, "resize": "letterbox", "pad": 114, "channels": "rgb",
                            "scale": 0.00392156862745098, "mean": [0, 0, 0], "std": [1, 1, 1]},
                  "classes": ["person", "bicycle", "car"],
                  "conf_threshold": 0.3, "iou_threshold": 0.5, "max_det": 100, "class_agnostic": True},
        "batch": {"max": 16, "timeout_ms": 5.5, "mode": "throughput", "queue_frames": 6},
        "sinks": [{"type": "jsonl", "path": os.path.join(tmp, "out.jsonl")}],
        "max_frames": 1000,
    }


def mutate(cfg, path, value, delete=False):
    """Copy of cfg with the value at a dotted path ("sources.1.uri") set or deleted."""
    c = json.loads(json.dumps(cfg))
    node = c
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    last = parts[-1]
    key = int(last) if isinstance(node, list) else last
    if delete:
        del node[key]
    else:
        node[key] = value
    return c


def doc_table():
    rows = {}
    with open(DOC, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$", line)
            if not m:
                continue
            cells = [c.strip() for c in m.group(2).split("|")]
            if len(cells) >= 4 and re.match(r"^[a-z_]+(\[\])?(\.[a-z_]+(\[\])?)*$", m.group(1)) and \
                    cells[0] in TYPES:
                rows[m.group(1)] = tuple(cells[:3])
    return rows


TYPES = {"integer", "number", "boolean", "string", "choice", "bool/auto", "number[3]", "classes", "object",
         "object[]", "reserved"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    a = ap.parse_args()
    a.vidpipe = os.path.abspath(a.vidpipe)
    with tempfile.TemporaryDirectory(prefix="vp_cfg_") as tmp:
        for f in ("a.mp4", "b.mp4", "m.onnx"):
            open(os.path.join(tmp, f), "wb").close()
        os.mkdir(os.path.join(tmp, "adir"))
        t = Checker(a.vidpipe, tmp)
        base = base_config(tmp)
        P = lambda *p: os.path.join(tmp, *p)

        # ---- valid configs -------------------------------------------------
        out, lines = t.check("full valid config", base, 0, nlines=0)
        want = ["valid", "sources: 2", "cam1", "cam2", "rtsp://127.0.0.1:8554/cam", "model: " + P("m.onnx"),
                "task detect", "backend cuda", "precision fp16", "input 640x384", "3 classes",
                "batch: max 16, timeout 5.5 ms, mode throughput, queue 6 frames", "sinks: 1",
                "jsonl " + P("out.jsonl"), "max_frames: 1000"]
        miss = [w for w in want if w not in out]
        report("full valid config: summary", not miss, f"missing {miss} in:\n{out}")

        minimal = {"sources": [{"uri": P("a.mp4")}, {"uri": P("b.mp4")}], "model": {"path": P("m.onnx")},
                   "sinks": [{"type": "jsonl", "path": "-"}]}
        out, _ = t.check("minimal config", minimal, 0, nlines=0)
        miss = [w for w in ["s0 ", "s1 ", "task auto", "backend auto", "precision auto", "input from the model",
                            "batch: max 8, timeout 10 ms, mode throughput, queue 4 frames", "cpu fallback"]
                if w not in out]
        report("minimal config: defaults in the summary", not miss, f"missing {miss} in:\n{out}")

        out, _ = t.check("latency mode without max", mutate(minimal, "batch", {"mode": "latency"}), 0)
        report("latency mode: max and timeout default to 2", "batch: max 2, timeout 2 ms, mode latency" in out, out)
        out, _ = t.check("latency mode with max 2 and a timeout",
                         mutate(minimal, "batch", {"mode": "latency", "max": 2, "timeout_ms": 1}), 0)
        report("latency mode: explicit values kept", "batch: max 2, timeout 1 ms, mode latency" in out, out)
        out, _ = t.check("snapshot sink with every and min_detections",
                         mutate(base, "sinks", [{"type": "snapshot", "path": "snaps/{stream}-{frame}.JPG", "every": 1,
                                                 "min_detections": 0}, {"type": "jsonl", "path": "-"}]), 0)
        report("snapshot sink listed", "snapshot snaps/{stream}-{frame}.JPG" in out, out)
        out, _ = t.check("video sink with an encoder",
                         mutate(base, "sinks", [{"type": "video", "path": "v.mkv", "encoder": "cpu"}]), 0)
        report("video sink with encoder cpu accepted", "video v.mkv (encoder cpu)" in out, out)
        out, _ = t.check("gpu_only without cpu_fallback", mutate(minimal, "device", {"gpu_only": True}), 0)
        report("gpu_only: no cpu fallback", "no cpu fallback" in out and "gpu_only" in out, out)
        out, _ = t.check("no sinks, BOM, classes as a count",
                         b"\xef\xbb\xbf" + json.dumps(mutate(mutate(minimal, "sinks", []), "model.classes", 80)).encode(),
                         0)
        report("classes as a count", "80 classes" in out, out)
        rel = mutate(minimal, "sources", [{"uri": "a.mp4"}])
        t.check("relative uri, relative to the current directory", rel, 0, cwd=tmp)
        t.check("relative uri from another directory", rel, 2, ["$.sources[0].uri: no such file 'a.mp4'"],
                cwd=P("adir"))

        # ---- one error each: (name, config, exact expected message part) ----
        cases = [
            # types
            ("string expected", mutate(base, "sources.1.uri", 5), "$.sources[1].uri: expected a string, got number"),
            ("integer expected, got 2.5", mutate(base, "batch.max", 2.5), "$.batch.max: expected an integer, got 2.5"),
            ("integer expected, got string", mutate(base, "device.gpu", "0"), "$.device.gpu: expected an integer, got string"),
            ("boolean expected", mutate(base, "device.gpu_only", 1), "$.device.gpu_only: expected true or false, got number"),
            ("object expected", mutate(base, "model.input", [640]), "$.model.input: expected an object, got array"),
            ("array expected", mutate(base, "sinks", {"type": "jsonl"}), "$.sinks: expected an array of objects, got object"),
            ("item object expected", mutate(base, "sources.0", "a.mp4"), "$.sources[0]: expected an object, got string"),
            ("bool/auto", mutate(base, "sources.0.live", "yes"), "$.sources[0].live: expected true, false or \"auto\", got \"yes\""),
            ("root must be an object", [1, 2], "$: expected an object, got array"),
            # ranges
            ("range low", mutate(base, "batch.max", 0), "$.batch.max: 0 is out of range 1..256"),
            ("range high", mutate(base, "batch.max", 257), "$.batch.max: 257 is out of range 1..256"),
            ("float range", mutate(base, "model.conf_threshold", 1.5), "$.model.conf_threshold: 1.5 is out of range 0..1"),
            ("negative", mutate(base, "sources.0.loop", -2), "$.sources[0].loop: -2 is out of range -1..1000000"),
            ("std element range", mutate(base, "model.input.std", [1, 0, 1]), "$.model.input.std[1]: 0 is out of range 1e-06..1000"),
            # choices
            ("choice", mutate(base, "decode.hw", "gpu"), "$.decode.hw: expected one of auto, nvdec, cpu, got \"gpu\""),
            ("choice suggestion", mutate(base, "model.task", "detekt"), "(did you mean \"detect\"?)"),
            ("choice type", mutate(base, "batch.mode", 1), "$.batch.mode: expected one of throughput, latency, got number"),
            # triples and classes
            ("3 numbers, 2 given", mutate(base, "model.input.mean", [0, 0]), "$.model.input.mean: expected 3 numbers, got an array of 2"),
            ("3 numbers, string", mutate(base, "model.input.mean", "0,0,0"), "$.model.input.mean: expected 3 numbers, got string"),
            ("3 numbers, element type", mutate(base, "model.input.mean", [0, "0", 0]), "$.model.input.mean[1]: expected a number, got string"),
            ("class name type", mutate(base, "model.classes", ["a", 2]), "$.model.classes[1]: expected a string, got number"),
            ("empty class list", mutate(base, "model.classes", []), "$.model.classes: expected 1..65535 class names, got 0"),
            ("classes count range", mutate(base, "model.classes", -1), "$.model.classes: -1 is out of range 0..65535"),
            ("classes type", mutate(base, "model.classes", "coco"), "$.model.classes: expected a class count or an array of class names, got string"),
            # null
            ("null value", mutate(base, "model.path", None), "$.model.path: expected a string, got null"),
            ("null section", mutate(base, "batch", None), "$.batch: expected an object, got null"),
            ("null number", mutate(base, "batch.timeout_ms", None), "$.batch.timeout_ms: expected a number, got null"),
            # keys
            ("unknown key suggestion", mutate(base, "model.precison", "fp16"), "$.model.precison: unknown key (did you mean \"precision\"?)"),
            ("unknown key suggestion (swap)", mutate(base, "batch.mxa", 4), "$.batch.mxa: unknown key (did you mean \"max\"?)"),
            ("unknown key without suggestion", mutate(base, "model.colour", 1), "$.model.colour: unknown key (known here: path, task,"),
            ("unknown top-level key", mutate(base, "sourcez", []), "$.sourcez: unknown key (did you mean \"sources\"?)"),
            ("unknown key in a list item", mutate(base, "sources.0.url", "x"), "$.sources[0].url: unknown key (did you mean \"uri\"?)"),
            ("odd key quoted", mutate(base, "model.a b", 1), "$.model[\"a b\"]: unknown key"),
            ("tracker unknown key", mutate(base, "tracker", {"type": "bytetrack"}), "$.tracker.type: unknown key"),
            ("tracker threshold range", mutate(base, "tracker", {"high_thresh": 1.5}), "$.tracker.high_thresh: 1.5 is out of range"),
            ("monitor port range", mutate(base, "monitor", {"port": 70000}), "$.monitor.port: 70000 is out of range"),
            ("monitor serve without port", mutate(base, "monitor", {"serve": True}), "$.monitor.serve: true needs $.monitor.port"),
            ("profile trace type", mutate(base, "profile", {"trace": 5}), "$.profile.trace: expected a string, got number"),
            ("video sink with gpu_only",
             mutate(mutate(mutate(base, "sinks.0.type", "video"), "device.gpu_only", True), "decode", {"hw": "auto"}),
             "$.sinks[0].type: \"video\" conflicts with $.device.gpu_only true"),
            # required and empty
            ("no sources", mutate(base, "sources", []), "$.sources: at least one source is required"),
            ("sources missing", mutate(base, "sources", None, delete=True), "$.sources: at least one source is required"),
            ("missing uri", mutate(base, "sources.0.uri", None, delete=True), "$.sources[0].uri: missing (required)"),
            ("empty uri", mutate(base, "sources.0.uri", ""), "$.sources[0].uri: empty string"),
            ("empty id", mutate(base, "sources.0.id", ""), "$.sources[0].id: empty string"),
            ("missing model path", mutate(base, "model.path", None, delete=True), "$.model.path: missing (required)"),
            ("no model", mutate(base, "model", None, delete=True), "$.model.path: missing (required)"),
            ("missing sink type", mutate(base, "sinks.0.type", None, delete=True), "$.sinks[0].type: missing (required: one of jsonl, video, snapshot)"),
            ("missing sink path", mutate(base, "sinks.0.path", None, delete=True), "$.sinks[0].path: missing (required)"),
            ("snapshot sink with a .jsonl path", mutate(base, "sinks.0.type", "snapshot"),
             "$.sinks[0].path: \"" + P("out.jsonl") + "\": a snapshot path ends in .jpg, .jpeg or .png"),
            ("snapshot path without {frame}", mutate(base, "sinks.0", {"type": "snapshot", "path": "snaps/{stream}.jpg"}),
             "$.sinks[0].path: \"snaps/{stream}.jpg\" has no {frame}"),
            ("snapshot path, unknown picture type", mutate(base, "sinks.0", {"type": "snapshot", "path": "s/{frame}.gif"}),
             "$.sinks[0].path: \"s/{frame}.gif\": a snapshot path ends in .jpg, .jpeg or .png"),
            ("snapshot path, placeholder in the extension", mutate(base, "sinks.0", {"type": "snapshot", "path": "s/a.{frame}"}),
             "$.sinks[0].path: \"s/a.{frame}\": a snapshot path ends in .jpg"),
            ("snapshot every 0", mutate(base, "sinks.0", {"type": "snapshot", "path": "s/{frame}.jpg", "every": 0}),
             "$.sinks[0].every: 0 is out of range 1..1000000"),
            ("snapshot every not an integer", mutate(base, "sinks.0", {"type": "snapshot", "path": "s/{frame}.jpg", "every": 2.5}),
             "$.sinks[0].every: expected an integer, got 2.5"),
            ("snapshot min_detections negative",
             mutate(base, "sinks.0", {"type": "snapshot", "path": "s/{frame}.png", "min_detections": -1}),
             "$.sinks[0].min_detections: -1 is out of range 0..100000"),
            ("every on a jsonl sink", mutate(base, "sinks.0.every", 5),
             "$.sinks[0].every: given for a \"jsonl\" sink (every applies to \"snapshot\" sinks"),
            ("min_detections on a video sink", mutate(base, "sinks.0", {"type": "video", "path": "v.mkv", "min_detections": 2}),
             "$.sinks[0].min_detections: given for a \"video\" sink"),
            ("encoder on a jsonl sink", mutate(base, "sinks.0.encoder", "nvenc"),
             "$.sinks[0].encoder: given for a \"jsonl\" sink (encoder applies to \"video\" sinks"),
            ("video encoder unknown", mutate(base, "sinks.0", {"type": "video", "path": "v.mkv", "encoder": "x264"}),
             "$.sinks[0].encoder: expected one of auto, cpu, nvenc, got \"x264\""),
            ("snapshot sink with gpu_only",
             mutate(mutate(mutate(base, "sinks.0", {"type": "snapshot", "path": "s/{frame}.jpg"}), "device.gpu_only", True),
                    "decode", {"hw": "auto"}),
             "$.sinks[0].type: \"snapshot\" conflicts with $.device.gpu_only true"),
            ("string too long", mutate(base, "sources.0.id", "x" * 65), "$.sources[0].id: expected at most 64 bytes, got 65"),
            # duplicates
            ("duplicate source ids", mutate(base, "sources.1.id", "cam1"), "$.sources[1].id: duplicate id \"cam1\" (also $.sources[0].id)"),
            ("duplicate default id", mutate(mutate(base, "sources.1.id", None, delete=True), "sources.0.id", "s1"),
             "$.sources[1].id: duplicate id \"s1\" (also $.sources[0].id)"),
            ("duplicate sink paths", mutate(base, "sinks", [{"type": "jsonl", "path": "-"}, {"type": "jsonl", "path": "-"}]),
             "$.sinks[1].path: duplicate path \"-\" (also $.sinks[0].path)"),
            ("too many sources", mutate(base, "sources", [{"uri": P("a.mp4")}] * 257), "$.sources: 257 items, at most 256"),
            ("too many sinks", mutate(base, "sinks", [{"type": "jsonl", "path": f"o{i}"} for i in range(9)]), "$.sinks: 9 items, at most 8"),
            # conflicts
            ("gpu_only with decode cpu", mutate(mutate(base, "device.gpu_only", True), "decode", {"hw": "cpu"}),
             "$.decode.hw: \"cpu\" conflicts with $.device.gpu_only true"),
            ("gpu_only with backend cpu", mutate(mutate(mutate(mutate(base, "device.gpu_only", True), "model.backend", "cpu"),
                                                        "model.precision", "fp32"), "decode.cpu_fallback", None, delete=True),
             "$.model.backend: \"cpu\" conflicts with $.device.gpu_only true"),
            ("gpu_only with cpu_fallback true", mutate(base, "device.gpu_only", True),
             "$.decode.cpu_fallback: true conflicts with $.device.gpu_only true"),
            ("cpu_fallback with hw nvdec", mutate(base, "decode.hw", "nvdec"),
             "$.decode.cpu_fallback: given with $.decode.hw \"nvdec\""),
            ("fp16 with backend cpu", mutate(base, "model.backend", "cpu"),
             "$.model.precision: \"fp16\" conflicts with $.model.backend \"cpu\""),
            ("latency with max 16", mutate(base, "batch.mode", "latency"),
             "$.batch.max: 16 conflicts with $.batch.mode \"latency\" (latency mode runs batches of at most 2 frames"),
            ("loop on a live source", mutate(base, "sources.1.loop", 1), "$.sources[1].loop: 1 for a live source"),
            ("realtime on a live source", mutate(base, "sources.1.realtime", True), "$.sources[1].realtime: true for a live source"),
            ("max_reconnects without reconnect", mutate(base, "sources.1.reconnect", False),
             "$.sources[1].max_reconnects: 5 with reconnect false"),
            ("width without height", mutate(base, "model.input.height", None, delete=True),
             "$.model.input.height: missing: model.input.width is 640"),
            # files
            ("source file missing", mutate(base, "sources.0.uri", P("nope.mp4")), f"$.sources[0].uri: no such file '{P('nope.mp4')}'"),
            ("source is a directory", mutate(base, "sources.0.uri", P("adir")), f"$.sources[0].uri: '{P('adir')}' is a directory"),
            ("model file missing", mutate(base, "model.path", P("nope.onnx")), f"$.model.path: no such file '{P('nope.onnx')}'"),
            # numbers
            ("huge number", mutate(base, "max_frames", 10 ** 20), "$.max_frames: 1e+20 is out of range 0..1000000000000"),
            ("negative huge number", mutate(base, "batch.timeout_ms", -1e308), "$.batch.timeout_ms: -1e+308 is out of range 0..10000"),
        ]
        for name, cfg, msg in cases:
            t.check(name, cfg, 2, [msg], nlines=1)

        # text-level number cases json.dumps cannot write
        num = json.dumps(base)
        t.check("number too large for a double", num.replace('"conf_threshold": 0.3', '"conf_threshold": 1e999'), 2,
                ["$.model.conf_threshold: expected a number, got a number too large to represent"], nlines=1)
        t.check("integer given as 4.0e0", num.replace('"max": 16', '"max": 4.0e0'), 0)
        t.check("integer given as 1e400", num.replace('"max": 16', '"max": 1e400'), 2,
                ["$.batch.max: expected an integer, got a number too large to represent"], nlines=1)
        t.check("duplicate key", num.replace('"max": 16', '"max": 16, "max": 4'), 2,
                ["$.batch.max: duplicate key (each key may appear once)"], nlines=1)
        t.check("duplicate section", num.replace('"batch": {', '"batch": {"max": 2}, "batch": {'), 2,
                ["$.batch: duplicate key"], nlines=1)
        t.check("NaN literal", num.replace('"max": 16', '"max": NaN'), 2, ["$: not valid JSON at line 1, column"],
                nlines=1)

        # ---- several errors at once -------------------------------------
        many = mutate(base, "batch.max", 0)
        many = mutate(many, "sources.1.uri", 7)
        many = mutate(many, "model.precison", "fp16")
        many = mutate(many, "decode.hw", "gpu")
        many = mutate(many, "sinks.0.type", "snapshot")
        many = mutate(many, "model.path", P("nope.onnx"))
        many = mutate(many, "tracker", {"max_lost": -1})
        t.check("seven errors, all reported", many, 2,
                ["$.batch.max: 0 is out of range", "$.sources[1].uri: expected a string, got number",
                 "$.model.precison: unknown key", "$.decode.hw: expected one of", "$.sinks[0].path: ",
                 "$.model.path: no such file", "$.tracker.max_lost: -1 is out of range"], nlines=7)
        # 300 bad sources entries: every one reported, nothing lost at the buffer
        lots = mutate(base, "sources", [{"uri": 1} for _ in range(200)])
        _, lines = t.check("200 bad items", lots, 2, ["$.sources[0].uri", "$.sources[199].uri: expected a string"],
                           nlines=200)

        # ---- malformed and hostile input ---------------------------------
        t.check("malformed JSON: missing comma", '{\n  "sources": [\n    {"uri": "a.mp4"}\n    {"uri": "b"}\n]}', 2,
                ["$: not valid JSON at line 4, column 5"], nlines=1)
        t.check("malformed JSON: bad value", '{"batch": {\n  "max": 8,\n  "mode": throughput}}', 2,
                ["$: not valid JSON at line 3, column 11"], nlines=1)
        t.check("malformed JSON: trailing garbage", '{"sources": []} {}', 2,
                ["$: not valid JSON at line 1, column 17"], nlines=1)
        t.check("malformed JSON: truncated in a string", '{"sources": [{"uri": "a', 2,
                ["$: not valid JSON at line 1, column"], nlines=1)
        t.check("malformed JSON: truncated", '{"sources": [\n', 2,
                ["$: not valid JSON at line 2, column 1 (unexpected end of text)"], nlines=1)
        t.check("malformed JSON: trailing comma", '{"batch": {"max": 8,}}', 2, ["$: not valid JSON at line 1, column"],
                nlines=1)
        t.check("empty file", b"", 2, ["$: empty (expected a JSON object)"], nlines=1)
        t.check("whitespace only", b" \n\t\n", 2, ["$: empty (expected a JSON object)"], nlines=1)
        rnd = random.Random(7)
        garbage = bytes(rnd.randrange(256) for _ in range(4096))
        t.check("binary garbage", garbage, 2, ["$: not "], nlines=1)
        t.check("invalid UTF-8", b'{"sources": [{"uri": "a\xff.mp4"}]}', 2,
                ["$: not UTF-8 text (byte 0xff at line 1, column 24)"], nlines=1)
        t.check("overlong UTF-8", b'{"x": "\xc0\xaf"}', 2, ["$: not UTF-8 text (byte 0xc0"], nlines=1)
        t.check("UTF-8 surrogate", b'{"x": "\xed\xa0\x80"}', 2, ["$: not UTF-8 text (byte 0xed"], nlines=1)
        t.check("NUL byte", b'{"sources": []}\0', 2, ["$: not text (NUL byte at line 1, column 16)"], nlines=1)
        t.check("non-ASCII unknown key", json.dumps(base, ensure_ascii=False).replace('"model"', '"módel"'), 2,
                ["$[\"módel\"]: unknown key (did you mean \"model\"?)", "$.model.path: missing (required)"], nlines=2)
        t.check("deeply nested arrays", "[" * 100000, 2, ["$: nested deeper than 32 levels at line 1, column 33"],
                nlines=1)
        t.check("deeply nested inside a key", '{"model": {"classes": ' + "[" * 40 + "]" * 40 + "}}", 2,
                ["$: nested deeper than 32 levels"], nlines=1)
        t.check("brackets inside a string", mutate(base, "sources.0.id", "[{" * 20), 0)
        big = t.write(b'{"x": "' + b"a" * (20 << 20) + b'"}', "big.json")
        rc, _, lines = t.run(big)
        t.clean("20 MiB file", rc, lines)
        report("20 MiB file: one line, too large", rc == 2 and len(lines) == 1 and "too large" in lines[0]
               and lines[0].startswith(big + ": "), f"exit {rc}: {lines[:3]}")
        ok_big = t.write(b'{"sources": [{"uri": "' + P("a.mp4").encode() + b'"}], "model": {"path": "' +
                         P("m.onnx").encode() + b'"}, "sinks": []}' + b" " * (15 << 20), "big_ok.json")
        rc, _, lines = t.run(ok_big)
        report("15 MiB file (mostly spaces) is read", rc == 0, f"exit {rc}: {lines[:3]}")
        rc, _, lines = t.run(P("missing.json"))
        report("missing config: one line", rc == 2 and len(lines) == 1 and "cannot open" in lines[0]
               and "No such file" in lines[0], f"exit {rc}: {lines}")
        rc, _, lines = t.run(P("adir"))
        report("config is a directory: one line", rc == 2 and len(lines) == 1 and "directory" in lines[0],
               f"exit {rc}: {lines}")
        rc, _, lines = t.run()
        report("no CONFIG: usage, exit 2", rc == 2 and lines, f"exit {rc}: {lines}")
        rc, _, lines = t.run("--bogus")
        report("unknown option: exit 2", rc == 2 and "--bogus" in lines[0], f"exit {rc}: {lines}")

        # random mutations of a valid config's text: exit 0 or 2, every line prefixed, never a crash
        text = json.dumps(base).encode()
        bad = []
        for i in range(100):
            s = bytearray(text)
            for _ in range(rnd.randint(1, 6)):
                op, p = rnd.randrange(4), rnd.randrange(len(s) + 1)
                if op == 0 and s:
                    s[p % len(s)] = rnd.randrange(256)
                elif op == 1:
                    s[p:p] = bytes([rnd.choice(b'{}[]",:0123456789.e-tnx ')])
                elif op == 2:
                    del s[p:p + rnd.randint(1, 5)]
                else:
                    s[p:p] = s[rnd.randrange(len(s)):][:rnd.randint(1, 30)]
            path = t.write(bytes(s), "mutant.json")
            rc, _, lines = t.run(path)
            if rc not in (0, 2) or any("Sanitizer" in l or "runtime error" in l or not l.startswith(path + ": ")
                                       for l in lines):
                bad.append((i, rc, lines[:2]))
        report("100 random mutations: exit 0 or 2, prefixed lines, no crash", not bad, str(bad[:3]))

        # ---- --keys and docs/CONFIG.md -------------------------------------
        rc, out, lines = t.run("--keys")
        keys = {}
        for line in out.splitlines()[1:]:
            cells = re.split(r"\s{2,}", line.strip(), maxsplit=4)
            if len(cells) == 5:
                keys[cells[0]] = tuple(cells[1:4])
        report("--keys: exit 0, rows", rc == 0 and len(keys) > 40, f"exit {rc}, {len(keys)} keys")
        for k in ["device.gpu", "decode.hw", "sources[].uri", "sources[].live", "model.input.mean", "model.classes",
                  "batch.max", "sinks[].type", "max_frames", "tracker"]:
            report(f"--keys lists {k}", k in keys, "")
        report("--keys: batch.max integer, default 8, 1..256", keys.get("batch.max") == ("integer", "8", "1..256"),
               str(keys.get("batch.max")))
        doc = doc_table()
        only_keys = sorted(set(keys) - set(doc))
        only_doc = sorted(set(doc) - set(keys))
        report("docs/CONFIG.md documents every key of --keys", not only_keys, f"undocumented: {only_keys}")
        report("docs/CONFIG.md documents no key --keys lacks", not only_doc, f"not in --keys: {only_doc}")
        diff = [(k, keys[k], doc[k]) for k in sorted(set(keys) & set(doc)) if keys[k] != doc[k]]
        report("docs/CONFIG.md: same type, default and range as --keys", not diff, f"{diff[:5]}")

    if fails:
        print(f"{len(fails)} FAILED: {fails}")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
