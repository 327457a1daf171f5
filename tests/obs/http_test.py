#!/usr/bin/env python3
"""The HTTP endpoint (src/obs/http.c) against a running pipeline.

vp_http_driver runs a pipeline in serve mode (two looping copies of
h264_360p.h264 through yolov8n-video on the CPU engine, batch max 2) behind
the endpoint on 127.0.0.1, a free port, with a token. Then:

  metrics    /metrics parsed by prometheus_client's text parser: every
             family present with HELP and TYPE, every per-stream series for
             both streams, sane values (counters growing, fps > 0, p50 <=
             p99, summaries with _count), label values escaped (a source
             whose id holds a quote and a backslash, and the driver's
             vp_http_hook family whose label also holds a newline, come
             back intact); the hook's /stats member.
  stats      /stats and /sources JSON agree with /metrics.
  auth       POST and DELETE without the token, or with a wrong one: 401,
             nothing changed; GETs need no token.
  control    a third source added over HTTP (201) counts frames while the
             first two keep counting; one removed (200) leaves /sources and
             /metrics while the others keep counting; removing it again 404.
  bad        bad bodies (invalid JSON, wrong types, unknown and repeated
             keys, missing or oversized fields, NUL, duplicate id) -> 400
             with a one-line JSON error; an oversized declared body -> 413.
  routes     unknown paths 404, wrong methods 405 with Allow, JSON errors.
  hostile    garbage bytes, a 100 KB header, a half-sent request held open
             (served around it, then closed by the idle timeout), an
             endless chunked body: answered or cut off, the server lives.
  burst      200 requests from 4 threads, all answered.
  stop       SIGTERM: the driver stops the server and the pipeline, exit 0.
  refuse     a non-loopback listen address without a token: refused at
             start (192.0.2.1, TEST-NET-1, so that nothing is bound even if
             the check failed).
  open       on loopback without a token, changes need none; the NVML
             monitor's hook (vp_http_nvml_hook, on a scripted GPU) adds its
             families to /metrics and "gpus" to /stats, values exact.

Network: 127.0.0.1 only; every loop and wait is bounded.
Exit: 0 pass, 1 fail, 77 skipped (prometheus_client, media, model or the
driver missing).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
TOKEN = "t0k3n-for-the-test"
STREAMS = ("s1", "s2")
ESC_ID = 'we"ird\\id'  # a quote and a backslash: escaped in labels
HOOK_LABEL = 'dev \\ "0"\nnext'  # what the driver's --hook writes


class Fail(Exception):
    @staticmethod
    def throw(msg):
        raise Fail(f"the driver exited: {msg[-2000:]}")


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def req(port, method, path, body=None, headers=None, timeout=15):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def auth(extra=None):
    h = {"Authorization": "Bearer " + TOKEN}
    h.update(extra or {})
    return h


def get_json(port, path):
    st, hd, data = req(port, "GET", path)
    check(st == 200, f"GET {path}: {st} {data[:200]!r}")
    check(hd.get("content-type", "").startswith("application/json"), f"GET {path}: content type {hd}")
    return json.loads(data)


def scrape(port):
    """(families by name, raw text)."""
    from prometheus_client.parser import text_string_to_metric_families
    st, hd, data = req(port, "GET", "/metrics")
    check(st == 200, f"/metrics: {st}")
    check(hd.get("content-type", "").startswith("text/plain; version=0.0.4"), f"/metrics content type {hd}")
    text = data.decode("utf-8")
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    return fams, text


def sample(fams, fam, name=None, **labels):
    """Value of the one sample of family fam (sample name name, default the
    family's) whose labels include labels; None if absent."""
    f = fams.get(fam)
    if f is None:
        return None
    name = name or (fam + "_total" if f.type == "counter" else fam)
    found = [s.value for s in f.samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    check(len(found) <= 1, f"{name}{labels}: {len(found)} samples")
    return found[0] if found else None


def frames(port):
    fams, _ = scrape(port)
    f = fams["vidpipe_frames"]
    return {s.labels["stream"]: s.value for s in f.samples if s.name == "vidpipe_frames_total"}


def wait_for(what, fn, timeout):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    raise Fail(f"timed out after {timeout} s waiting for {what} (last: {last})")


# Families the endpoint must serve: name as the parser reports it -> type.
# The parser drops "_total" from counter family names.
PER_STREAM = {
    "vidpipe_frames": "counter", "vidpipe_frames_decoded": "counter", "vidpipe_frames_dropped": "counter",
    "vidpipe_decode_errors": "counter", "vidpipe_reconnects": "counter", "vidpipe_detections": "counter",
    "vidpipe_stream_up": "gauge", "vidpipe_stream_failed": "gauge", "vidpipe_stream_decoder_info": "gauge",
    "vidpipe_fps": "gauge", "vidpipe_latency_ms": "summary",
}
GLOBAL = {
    "vidpipe_streams": "gauge", "vidpipe_pipeline_frames": "counter", "vidpipe_batches": "counter",
    "vidpipe_batch_mean": "gauge", "vidpipe_engine_errors": "counter", "vidpipe_sink_errors": "counter",
    "vidpipe_copy_bytes": "counter", "vidpipe_stage_ms": "summary", "vidpipe_uptime_seconds": "gauge",
    "vidpipe_cpu_seconds": "counter", "vidpipe_thread_cpu_seconds": "counter",
}
# The GPU path's memory pools, one series per pool (device, host); zeros on
# the CPU path.
POOLS = {
    "vidpipe_pool_allocations": "counter", "vidpipe_pool_fresh_allocations": "counter",
    "vidpipe_pool_reuses": "counter", "vidpipe_pool_returns": "counter", "vidpipe_pool_failures": "counter",
    "vidpipe_pool_bad_frees": "counter", "vidpipe_pool_outstanding_blocks": "gauge",
    "vidpipe_pool_outstanding_bytes": "gauge", "vidpipe_pool_peak_bytes": "gauge",
    "vidpipe_pool_free_blocks": "gauge", "vidpipe_pool_free_bytes": "gauge",
}
GLOBAL.update(POOLS)
POOL_KEYS = ("allocs", "fresh", "reuses", "returns", "failures", "bad_frees", "blocks_out", "bytes_out",
             "peak_bytes_out", "blocks_free", "bytes_free")
STAGES = ("decode", "preprocess", "infer", "postprocess", "sink")


def check_format(text):
    """Each sample line belongs to a family announced by HELP and TYPE lines
    before it, and each family's lines are contiguous."""
    helped, typed, done, cur = set(), {}, set(), None
    for line in text.splitlines():
        check(line.strip() == line and line, f"/metrics: blank or padded line {line!r}")
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            check(name not in helped, f"/metrics: two HELP lines for {name}")
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            check(name in helped, f"/metrics: TYPE before HELP for {name}")
            typed[name] = typ
            if cur:
                done.add(cur)
            cur = name
            continue
        check(not line.startswith("#"), f"/metrics: stray comment {line!r}")
        name = line.split("{", 1)[0].split(" ", 1)[0]
        base = name
        if typed.get(cur) == "summary" and name in (cur + "_sum", cur + "_count"):
            base = cur
        check(base == cur, f"/metrics: sample {name} outside its family (current {cur})")
        check(base not in done, f"/metrics: family {base} split")


def check_metrics(port, streams, escaped=None):
    fams, text = scrape(port)
    check_format(text)
    for name, typ in {**PER_STREAM, **GLOBAL}.items():
        check(name in fams, f"/metrics: family {name} missing (have {sorted(fams)})")
        check(fams[name].type == typ, f"/metrics: {name} is {fams[name].type}, expected {typ}")
        check(fams[name].documentation, f"/metrics: {name} has no HELP text")
    total, moving = 0, False
    for s in streams:
        for name in PER_STREAM:
            if name in ("vidpipe_latency_ms", "vidpipe_stream_decoder_info"):
                continue
            check(sample(fams, name, stream=s) is not None, f"/metrics: {name}{{stream={s}}} missing")
        n = sample(fams, "vidpipe_frames", stream=s)
        total += n
        check(n > 0, f"{s}: no frames yet ({n})")
        check(sample(fams, "vidpipe_frames_decoded", stream=s) >= n, f"{s}: decoded < processed")
        check(sample(fams, "vidpipe_frames_dropped", stream=s) == 0, f"{s}: a file source dropped frames")
        check(sample(fams, "vidpipe_decode_errors", stream=s) == 0, f"{s}: decode errors")
        check(sample(fams, "vidpipe_detections", stream=s) >= 0, f"{s}: detections")
        check(sample(fams, "vidpipe_stream_up", stream=s) == 1, f"{s}: not up")
        check(sample(fams, "vidpipe_stream_failed", stream=s) == 0, f"{s}: failed")
        fps = sample(fams, "vidpipe_fps", stream=s)
        # a stream may see no new frame in a 1 s window on a loaded machine:
        # each rate is checked for range, and one stream at least must move
        check(0 <= fps < 1000, f"{s}: fps {fps}")
        moving = moving or fps > 0
        dec = [x for x in fams["vidpipe_stream_decoder_info"].samples if x.labels.get("stream") == s]
        check(len(dec) == 1 and dec[0].labels.get("decoder") in ("cpu", "nvdec") and dec[0].value == 1,
              f"{s}: decoder info {dec}")
        p50 = sample(fams, "vidpipe_latency_ms", stream=s, quantile="0.5")
        p99 = sample(fams, "vidpipe_latency_ms", stream=s, quantile="0.99")
        cnt = sample(fams, "vidpipe_latency_ms", "vidpipe_latency_ms_count", stream=s)
        tot = sample(fams, "vidpipe_latency_ms", "vidpipe_latency_ms_sum", stream=s)
        check(None not in (p50, p99, cnt, tot), f"{s}: latency summary incomplete")
        check(0 < p50 <= p99 < 600000, f"{s}: latency p50 {p50} p99 {p99}")
        check(cnt > 0 and tot > 0, f"{s}: latency count {cnt} sum {tot}")
    check(moving, f"no stream has an fps above 0 ({streams})")
    for st in STAGES:
        for q in ("0.5", "0.99"):
            v = sample(fams, "vidpipe_stage_ms", stage=st, quantile=q)
            check(v is not None and v >= 0, f"stage {st} quantile {q}: {v}")
        check(sample(fams, "vidpipe_stage_ms", "vidpipe_stage_ms_count", stage=st) > 0, f"stage {st}: no count")
    for d in ("h2d", "d2h"):
        v = sample(fams, "vidpipe_copy_bytes", direction=d)
        check(v is not None and v >= 0, f"copy bytes {d}: {v}")
    for pool in ("device", "host"):
        v = {name: sample(fams, name, pool=pool) for name in POOLS}
        check(None not in v.values() and min(v.values()) >= 0, f"pool {pool}: {v}")
        if None in v.values():
            continue
        check(v["vidpipe_pool_allocations"] == v["vidpipe_pool_fresh_allocations"] + v["vidpipe_pool_reuses"],
              f"pool {pool}: allocations != fresh + reuses ({v})")
        check(v["vidpipe_pool_outstanding_blocks"] == v["vidpipe_pool_allocations"] - v["vidpipe_pool_returns"],
              f"pool {pool}: outstanding != allocations - returns ({v})")
        check(v["vidpipe_pool_peak_bytes"] >= v["vidpipe_pool_outstanding_bytes"], f"pool {pool}: peak ({v})")
        check(v["vidpipe_pool_bad_frees"] == 0 and v["vidpipe_pool_failures"] == 0, f"pool {pool}: errors ({v})")
    check(sample(fams, "vidpipe_pipeline_frames") >= total, "pipeline frames < sum of the streams'")
    check(sample(fams, "vidpipe_batches") > 0, "no batches")
    check(1 <= sample(fams, "vidpipe_batch_mean") <= 2, f"batch mean {sample(fams, 'vidpipe_batch_mean')}")
    check(sample(fams, "vidpipe_engine_errors") == 0, "engine errors")
    check(sample(fams, "vidpipe_sink_errors") == 0, "sink errors")
    check(sample(fams, "vidpipe_uptime_seconds") > 0, "uptime")
    check(sample(fams, "vidpipe_cpu_seconds") > 0, "cpu seconds")
    # by thread: the sources decoded, so their clock moved; the named threads'
    # clocks, read after the process's, may pass it only by that read's time
    th = {k: sample(fams, "vidpipe_thread_cpu_seconds", thread=k) for k in ("sources", "infer", "results", "other")}
    check(None not in th.values() and min(th.values()) >= 0 and th["sources"] > 0, f"thread cpu seconds: {th}")
    if None not in th.values():
        named = th["sources"] + th["infer"] + th["results"]
        check(named <= sample(fams, "vidpipe_cpu_seconds") * 1.01 + 0.01, f"thread cpu seconds {th} over the process's")
    hook = fams.get("vidpipe_test_hook_info")
    check(hook is not None and hook.type == "gauge", "the hook's family is missing")
    check([(x.labels, x.value) for x in hook.samples] == [({"device": HOOK_LABEL}, 1)],
          f"the hook's sample: {hook.samples}")
    want = 'device="' + HOOK_LABEL.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    check(want in text, f"label escaping: {want} not in the raw text")
    if escaped is not None:
        ids = {x.labels["stream"] for x in fams["vidpipe_frames"].samples}
        check(escaped in ids, f"label escaping: {escaped!r} not among {ids}")
        want = 'stream="' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
        check(want in text, f"label escaping: {want} not in the raw text")
    return fams


def test_stats(port):
    s = get_json(port, "/stats")
    for k in ("wall_s", "cpu_s", "frames", "batches", "mean_batch", "h2d_bytes", "d2h_bytes", "engine_errors",
              "sink_errors", "stages_ms", "streams"):
        check(k in s, f"/stats: no {k}")
    check(set(STAGES) <= set(s["stages_ms"]), f"/stats: stages {list(s['stages_ms'])}")
    check(set(s.get("cpu_by_thread_s", {})) == {"sources", "infer", "results", "other"},
          f"/stats: cpu_by_thread_s {s.get('cpu_by_thread_s')}")
    # the steady state: both live streams have results by now, so it is open
    # (and holds what came since, within the run's)
    w = s.get("steady", {})
    check(set(w) == {"wall_s", "frames", "cpu_s", "cpu_by_thread_s"} and 0 <= w["frames"] < s["frames"] and
          0 < w["wall_s"] < s["wall_s"], f"/stats: steady {w}")
    pools = s.get("memory_pools", {})
    for pool in ("device", "host"):
        check(set(POOL_KEYS) <= set(pools.get(pool, {})), f"/stats: memory_pools.{pool} {pools.get(pool)}")
    check(s.get("test_hook") == HOOK_LABEL, f"/stats: the hook's member {s.get('test_hook')!r}")
    ids = [x["id"] for x in s["streams"]]
    check(ids[:2] == list(STREAMS), f"/stats streams {ids}")
    for x in s["streams"]:
        for k in ("state", "frames_decoded", "frames_processed", "frames_dropped", "decode_errors", "reconnects",
                  "detections", "fps", "latency_ms", "decoder", "error"):
            check(k in x, f"/stats stream {x.get('id')}: no {k}")
    src = get_json(port, "/sources")["sources"]
    check([x["id"] for x in src][:2] == list(STREAMS) and all(x["state"] == "running" for x in src[:2]),
          f"/sources: {src}")
    one = get_json(port, "/sources/s2")
    check(one["id"] == "s2" and one["state"] == "running", f"/sources/s2: {one}")
    fr = frames(port)
    check(all(fr[i] >= x["frames_processed"] for i, x in zip(STREAMS, s["streams"])), "metrics behind /stats")


def check_error(st, data, want, what):
    check(st == want, f"{what}: status {st}, expected {want} ({data[:200]!r})")
    text = data.decode("utf-8")
    check(text.endswith("\n") and text.count("\n") == 1, f"{what}: error is not one line: {text!r}")
    j = json.loads(text)
    check(isinstance(j.get("error"), str) and j["error"], f"{what}: no error message: {text!r}")
    return j["error"]


def test_auth(port, media):
    body = json.dumps({"id": "x1", "uri": media})
    st, hd, data = req(port, "POST", "/sources", body)
    check_error(st, data, 401, "POST without a token")
    check(hd.get("www-authenticate", "").startswith("Bearer"), f"401 without WWW-Authenticate: {hd}")
    wrong = "X" * len(TOKEN)
    for h in ({"Authorization": "Bearer " + wrong}, {"Authorization": "Bearer " + TOKEN + "x"},
              {"Authorization": "Bearer " + TOKEN[:-1]}, {"Authorization": "Basic " + TOKEN},
              {"Authorization": TOKEN}, {"Authorization": "Bearer "}):
        st, _, data = req(port, "POST", "/sources", body, h)
        check_error(st, data, 401, f"POST with {h}")
    st, _, data = req(port, "DELETE", "/sources/s1")
    check_error(st, data, 401, "DELETE without a token")
    ids = [x["id"] for x in get_json(port, "/sources")["sources"]]
    check("x1" not in ids and "s1" in ids, f"an unauthorised call changed the sources: {ids}")


def test_bad_bodies(port, media):
    long_id = "i" * 65
    cases = [
        ("", "empty body"),
        ("{", "invalid JSON"),
        ("{\"id\": \"a\", \"uri\": \"b\"} trailing", "trailing garbage"),
        ("[]", "an array"),
        ("\"s\"", "a string"),
        ("{\"id\": \"bad1\"}", "no uri"),
        ("{\"uri\": \"" + media + "\"}", "no id"),
        ("{\"id\": 5, \"uri\": \"x\"}", "id a number"),
        ("{\"id\": \"\", \"uri\": \"x\"}", "empty id"),
        ("{\"id\": \"" + long_id + "\", \"uri\": \"x\"}", "id too long"),
        ("{\"id\": \"a/b\", \"uri\": \"x\"}", "id with a slash"),
        ("{\"id\": \"a\\nb\", \"uri\": \"x\"}", "id with a newline"),
        ("{\"id\": \"a\\u0000b\", \"uri\": \"x\"}", "escaped NUL"),
        ("{\"id\": \"bad2\", \"uri\": null}", "uri null"),
        ("{\"id\": \"bad3\", \"uri\": \"x\", \"loop\": \"2\"}", "loop a string"),
        ("{\"id\": \"bad4\", \"uri\": \"x\", \"loop\": 2.5}", "loop not an integer"),
        ("{\"id\": \"bad5\", \"uri\": \"x\", \"loop\": -2}", "loop out of range"),
        ("{\"id\": \"bad6\", \"uri\": \"x\", \"loop\": 1e400}", "loop infinite"),
        ("{\"id\": \"bad7\", \"uri\": \"x\", \"live\": 3}", "live a number"),
        ("{\"id\": \"bad8\", \"uri\": \"x\", \"live\": \"yes\"}", "live a bad string"),
        ("{\"id\": \"bad9\", \"uri\": \"x\", \"reconnect\": 1}", "reconnect a number"),
        ("{\"id\": \"bad10\", \"uri\": \"x\", \"colour\": 1}", "unknown key"),
        ("{\"id\": \"bad11\", \"uri\": \"x\", \"id\": \"again\"}", "repeated key"),
        ("{\"id\": \"s2\", \"uri\": \"" + media + "\"}", "duplicate id"),
    ]
    for body, what in cases:
        st, _, data = req(port, "POST", "/sources", body, auth({"Content-Type": "application/json"}))
        msg = check_error(st, data, 400, what)
        if what == "duplicate id":
            check("s2" in msg, f"duplicate id: message does not name it: {msg}")
        if what == "unknown key":
            check("colour" in msg, f"unknown key: message does not name it: {msg}")
    st, _, data = req(port, "POST", "/sources", b"a\0b", auth())
    check_error(st, data, 400, "raw NUL byte")
    st, _, data = req(port, "POST", "/sources", "{\"id\": \"" + "x" * 70000 + "\"}", auth())
    check_error(st, data, 413, "body over 64 KiB")
    ids = [x["id"] for x in get_json(port, "/sources")["sources"]]
    check(not any(i.startswith("bad") or i in ("a", "again") for i in ids), f"a bad body added a source: {ids}")


def test_routes(port):
    for path in ("/", "/metricsx", "/metrics/", "/sources/", "/stats/x", "/%00", "/" + "a" * 3000):
        st, _, data = req(port, "GET", path)
        check_error(st, data, 404, f"GET {path[:40]}")
    for method, path, allow in (("PUT", "/metrics", "GET"), ("POST", "/stats", "GET"), ("DELETE", "/sources", "POST"),
                                ("PATCH", "/sources/s2", "DELETE"), ("POST", "/sources/s2", "DELETE")):
        st, hd, data = req(port, method, path, "{}", auth())
        check_error(st, data, 405, f"{method} {path}")
        check(allow in hd.get("allow", ""), f"{method} {path}: Allow {hd.get('allow')!r}")
    st, _, data = req(port, "DELETE", "/sources/nope", None, auth())
    check_error(st, data, 404, "DELETE unknown id")
    st, _, data = req(port, "GET", "/sources/nope")
    check_error(st, data, 404, "GET unknown id")
    st, _, _ = req(port, "HEAD", "/metrics")
    check(st == 200, f"HEAD /metrics: {st}")
    st, _, _ = req(port, "GET", "/metrics?x=1&y")
    check(st == 200, f"GET /metrics with a query: {st}")


def raw(port, payload, timeout=5.0):
    """Sends payload, returns what came back until close or timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        try:
            s.sendall(payload)
        except OSError:
            pass
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            out += b
            if len(out) > 1 << 20:
                break
    finally:
        s.close()
    return out


def alive(port):
    st, _, _ = req(port, "GET", "/sources")
    check(st == 200, f"server not answering after hostile input ({st})")


def test_hostile(port, idle_s):
    for payload in (b"\x00\xff\xfe garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                    b"\r\n" * 1000, b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                    b"POST /sources HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"):
        out = raw(port, payload)
        check(out == b"" or out.startswith(b"HTTP/1."), f"garbage {payload[:20]!r}: answered {out[:60]!r}")
        alive(port)
    out = raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
    check(out == b"" or out.split(b" ", 2)[1][:1] == b"4", f"100 KB header: answered {out[:60]!r}")
    alive(port)

    # Half a request, held open: others are served meanwhile; the server
    # closes it once it has been idle for the timeout.
    slow = socket.create_connection(("127.0.0.1", port), timeout=idle_s + 8)
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    alive(port)
    try:
        got = slow.recv(4096)
    except (socket.timeout, ConnectionResetError) as e:
        got = e
    waited = time.monotonic() - t0
    slow.close()
    check(not isinstance(got, socket.timeout), f"a half-sent request was not closed after {waited:.1f} s")
    check(waited >= idle_s * 0.5, f"a half-sent request closed after {waited:.1f} s (< idle timeout {idle_s} s)")

    # An endless chunked body: cut off at 64 KiB, nothing added.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(("POST /sources HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN +
                   "\r\nTransfer-Encoding: chunked\r\n\r\n").encode())
        chunk = b"%x\r\n%s\r\n" % (8192, b"[" * 8192)
        sent = 0
        try:
            for _ in range(64):  # 512 KiB at most
                s.sendall(chunk)
                sent += 8192
        except OSError:
            pass
        try:
            s.recv(4096)
        except OSError:
            pass
    finally:
        s.close()
    alive(port)


def test_burst(port):
    results, lock = [], threading.Lock()

    def worker(k):
        for i in range(50):
            path = ("/sources", "/metrics", "/stats", "/sources/s2")[(i + k) % 4]
            try:
                st, _, _ = req(port, "GET", path, timeout=20)
            except OSError as e:
                st = repr(e)
            with lock:
                results.append(st)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not any(t.is_alive() for t in threads), "burst: a client thread hung")
    bad = [r for r in results if r != 200]
    check(len(results) == 200 and not bad, f"burst: {len(results)} answers, failures {bad[:5]}")
    print(f"  burst: 200 requests in {time.monotonic() - t0:.2f} s")


def test_control(port, media):
    before = frames(port)
    st, _, data = req(port, "POST", "/sources", json.dumps({"id": "s3", "uri": media, "loop": -1, "live": False}),
                      auth({"Content-Type": "application/json"}))
    check(st == 201, f"POST s3: {st} {data!r}")
    j = json.loads(data)
    check(j["id"] == "s3" and j["uri"] == media and j["loop"] == -1 and j["live"] is False, f"POST s3 answer {j}")

    def grown():
        f = frames(port)
        ok = f.get("s3", 0) >= 2 and all(f[s] > before[s] for s in STREAMS)
        return f if ok else None
    f = wait_for("s3 to count frames while s1, s2 go on", grown, 40)
    print(f"  added s3: frames {f}")

    # A source whose id needs escaping, on a file that does not exist: it
    # fails at once and shows as failed.
    st, _, data = req(port, "POST", "/sources", json.dumps({"id": ESC_ID, "uri": "/nonexistent/x.h264"}), auth())
    check(st == 201, f"POST escaped id: {st} {data!r}")

    def failed():
        fams, _ = scrape(port)
        return sample(fams, "vidpipe_stream_failed", stream=ESC_ID) == 1 and \
            sample(fams, "vidpipe_stream_up", stream=ESC_ID) == 0
    wait_for("the missing file's source to fail", failed, 20)
    check_metrics(port, STREAMS + ("s3",), escaped=ESC_ID)
    one = get_json(port, "/sources/" + ESC_ID.replace("\\", "%5C").replace('"', "%22"))
    check(one["id"] == ESC_ID and one["state"] == "failed" and one["error"], f"escaped id source: {one}")
    st, _, data = req(port, "DELETE", "/sources/" + ESC_ID.replace("\\", "%5C").replace('"', "%22"), None, auth())
    check(st == 200, f"DELETE escaped id: {st} {data!r}")

    before = frames(port)
    st, _, data = req(port, "DELETE", "/sources/s1", None, auth())
    check(st == 200 and json.loads(data).get("id") == "s1", f"DELETE s1: {st} {data!r}")

    def gone():
        src = [x["id"] for x in get_json(port, "/sources")["sources"]]
        f = frames(port)
        ok = "s1" not in src and "s1" not in f and ESC_ID not in f and f["s2"] > before["s2"] and f["s3"] > before["s3"]
        return f if ok else None
    f = wait_for("s1 to leave while s2, s3 go on", gone, 40)
    print(f"  removed s1: frames {f}")
    fams, text = scrape(port)
    check('stream="s1"' not in text, "s1 still in /metrics")
    check(sample(fams, "vidpipe_streams") == 2, f"vidpipe_streams {sample(fams, 'vidpipe_streams')}")
    st, _, data = req(port, "DELETE", "/sources/s1", None, auth())
    check_error(st, data, 404, "DELETE s1 again")


def start_driver(driver, cfg, extra, tmp, name):
    out = open(os.path.join(tmp, name + ".out"), "w+")
    err = open(os.path.join(tmp, name + ".err"), "w+")
    p = subprocess.Popen([driver, "--config", cfg] + extra, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    return p, out, err


def read(f):
    f.flush()
    f.seek(0)
    return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--media", required=True)
    ap.add_argument("--models", required=True)
    a = ap.parse_args()
    try:
        import prometheus_client.parser  # noqa: F401
    except ImportError:
        print("SKIP: prometheus_client is not installed (scripts/setup-python.sh)")
        return SKIP
    media = os.path.abspath(os.path.join(a.media, "h264_360p.h264"))
    model = os.path.abspath(os.path.join(a.models, "yolov8n-video.onnx"))
    for f in (a.driver, media, model):
        if not os.path.exists(f):
            print(f"SKIP: {f} missing (scripts/gen_media.sh, tools/gen_models.py)")
            return SKIP

    with tempfile.TemporaryDirectory(prefix="vp_http_") as tmp:
        cfg = os.path.join(tmp, "cfg.json")
        with open(cfg, "w") as f:
            json.dump({"sources": [{"id": s, "uri": media, "loop": -1} for s in STREAMS],
                       "model": {"path": model, "backend": "cpu", "max_det": 20},
                       "batch": {"max": 2}}, f)
        t0 = time.monotonic()
        idle_s = 2
        p, out, err = start_driver(a.driver, cfg, ["--token", TOKEN, "--timeout", str(idle_s), "--hook", "test"], tmp, "main")
        ok = False
        try:
            port = None
            end = time.monotonic() + 60
            while port is None and time.monotonic() < end and p.poll() is None:
                for line in read(out).splitlines():
                    if line.startswith("port "):
                        port = int(line.split()[1])
                time.sleep(0.1)
            check(port, f"driver gave no port (rc {p.poll()}): {read(err)[-2000:]}")
            wait_for("frames on both streams", lambda: all(frames(port).get(s, 0) > 0 for s in STREAMS), 40)
            steps = [("metrics", lambda: check_metrics(port, STREAMS)), ("stats", lambda: test_stats(port)),
                     ("auth", lambda: test_auth(port, media)), ("bad bodies", lambda: test_bad_bodies(port, media)),
                     ("routes", lambda: test_routes(port)), ("control", lambda: test_control(port, media)),
                     ("hostile", lambda: test_hostile(port, idle_s)), ("burst", lambda: test_burst(port))]
            for name, fn in steps:
                t = time.monotonic()
                fn()
                print(f"ok  {name} ({time.monotonic() - t:.1f} s)")
            ok = True
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                rc = "hung"
            if ok:
                o = read(out)
                check(rc == 0 and "stopped: frames" in o, f"stop: rc {rc}, out {o!r}, err {read(err)[-2000:]}")
                print("ok  stop")
            else:
                print(f"driver rc {rc}; stderr tail:\n{read(err)[-3000:]}")

        # Beyond loopback without a token: refused before anything is bound.
        p, out, err = start_driver(a.driver, cfg, ["--listen", "192.0.2.1"], tmp, "refuse")
        try:
            rc = p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise Fail("refuse: the driver did not exit")
        e = read(err)
        check(rc == 2 and "token" in (e.strip().splitlines() or [""])[-1], f"refuse: rc {rc}, stderr {e!r}")
        check("port" not in read(out), "refuse: the driver served anyway")
        print("ok  refuse")

        # On loopback without a token (the default): changes need none.
        p, out, err = start_driver(a.driver, cfg, ["--hook", "nvml-fake"], tmp, "open")
        try:
            port = wait_for("the second driver's port",
                            lambda: next((int(x.split()[1]) for x in read(out).splitlines() if x.startswith("port ")),
                                         None) if p.poll() is None else Fail.throw(read(err)), 60)
            st, _, data = req(port, "POST", "/sources", json.dumps({"id": "s9", "uri": media}))
            check(st == 201, f"no token: POST {st} {data!r}")
            st, _, data = req(port, "DELETE", "/sources/s9")
            check(st == 200, f"no token: DELETE {st} {data!r}")
            # the NVML monitor's hook: its families (an empty monitor without NVML)
            fams, text = scrape(port)
            check_format(text)
            check(sample(fams, "vidpipe_gpu_nvml_available") == 1, "nvml hook: vidpipe_gpu_nvml_available")
            util = [x for x in fams["vidpipe_gpu_utilization_percent"].samples if x.labels.get("gpu") == "0"]
            check(util and all(x.value == 42 for x in util), f"nvml hook: utilisation {util}")
            gpus = get_json(port, "/stats").get("gpus")
            check(isinstance(gpus, list) and len(gpus) == 1 and gpus[0]["name"] == "Fake GPU" and
                  gpus[0]["now"] == {"gpu_util": 42, "mem_util": 7, "mem_used_bytes": 1 << 30,
                                     "mem_total_bytes": 8 << 30, "temp_c": 50}, f"nvml hook: /stats gpus {gpus}")
            print(f"  nvml hook: {sum(1 for f in fams if f.startswith('vidpipe_gpu_'))} GPU families")
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                rc = "hung"
        check(rc == 0 and "stopped: frames" in read(out), f"no token: stop rc {rc}")
        print("ok  no token on loopback")
        print(f"total {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"FAIL: {e}")
        sys.exit(1)
