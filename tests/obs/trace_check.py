#!/usr/bin/env python3
"""Validates a Chrome trace event JSON file as Perfetto / chrome://tracing read it.

    trace_check.py --test vp_trace_test [--bench]   run the test, check its trace against its "expect" line
    trace_check.py --trace FILE [--expect JSON]     check a trace (e.g. one from `vidpipe run --trace FILE`)

Structure checked (the JSON Object Format of the Trace Event Format):
  - a JSON object (parsed whole: a truncated file fails) with a "traceEvents" array;
  - every event has "ph" and integer "pid"; "X" events have a string "name", numeric "ts",
    numeric "dur" >= 0, integer "tid", "args" (if any) an object;
  - "M" events: process_name for every pid and thread_name for every (pid, tid) with events;
  - per thread, "X" events in non-decreasing ts order, and properly nested: an event that
    begins inside another ends inside it (stack check; no partial overlap);
  - with an expectation: exact span counts per name, thread counts, the nesting of the named
    children inside their parents, otherData.spans equal to the events written, nothing dropped.
A self-test on hand-made broken traces runs first, so the checker is shown able to fail.
Exit 0 passed, 1 failed.
"""
import argparse
import decimal
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict


def to_ns(v):
    # ts/dur are microseconds with up to three decimals: exact integer ns
    return int(decimal.Decimal(v) * 1000)


def check_trace(text, expect=None):
    """Returns a list of problems (empty: valid)."""
    errs = []
    try:
        doc = json.loads(text, parse_float=decimal.Decimal)
    except ValueError as e:
        return ["not valid JSON (truncated?): %s" % e]
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        return ["top level is not an object with a traceEvents array"]
    proc_named, thread_named = set(), set()
    threads = defaultdict(list)  # (pid, tid) -> [(t0, t1, name)]
    for i, ev in enumerate(doc["traceEvents"]):
        if not isinstance(ev, dict):
            errs.append("event %d is not an object" % i)
            continue
        ph = ev.get("ph")
        pid = ev.get("pid")
        if not isinstance(ph, str) or not isinstance(pid, int):
            errs.append("event %d: ph and integer pid required: %r" % (i, ev))
            continue
        if ph == "M":
            args = ev.get("args")
            if not isinstance(args, dict):
                errs.append("event %d: metadata without args" % i)
            elif ev.get("name") == "process_name":
                if isinstance(args.get("name"), str):
                    proc_named.add(pid)
            elif ev.get("name") == "thread_name":
                if isinstance(args.get("name"), str) and isinstance(ev.get("tid"), int):
                    thread_named.add((pid, ev["tid"]))
            continue
        if ph != "X":
            errs.append("event %d: unexpected ph %r" % (i, ph))
            continue
        name, ts, dur, tid = ev.get("name"), ev.get("ts"), ev.get("dur"), ev.get("tid")
        if not isinstance(name, str) or not name:
            errs.append("event %d: no name" % i)
        if not isinstance(ts, (int, decimal.Decimal)) or isinstance(ts, bool):
            errs.append("event %d: ts not a number" % i)
            continue
        if not isinstance(dur, (int, decimal.Decimal)) or dur < 0:
            errs.append("event %d: dur missing or negative" % i)
            continue
        if not isinstance(tid, int):
            errs.append("event %d: tid not an integer" % i)
            continue
        if "args" in ev and not isinstance(ev["args"], dict):
            errs.append("event %d: args not an object" % i)
        t0 = to_ns(ts)
        threads[(pid, tid)].append((t0, t0 + to_ns(dur), name))

    for key, evs in threads.items():
        if key[0] not in proc_named:
            errs.append("pid %d has no process_name" % key[0])
        if key not in thread_named:
            errs.append("thread %s has no thread_name" % (key,))
        stack = []
        last = None
        for t0, t1, name in evs:
            if last is not None and t0 < last:
                errs.append("thread %s: ts goes back (%d after %d ns)" % (key, t0, last))
                break
            last = t0
            while stack and stack[-1][1] <= t0:
                stack.pop()
            if stack and t1 > stack[-1][1]:
                errs.append("thread %s: %s [%d, %d] overlaps %s [%d, %d] without nesting"
                            % (key, name, t0, t1, stack[-1][2], stack[-1][0], stack[-1][1]))
                break
            stack.append((t0, t1, name))
    if errs or expect is None:
        return errs

    counts = Counter(n for evs in threads.values() for _, _, n in evs)
    total = sum(counts.values())
    if total != expect["spans"]:
        errs.append("%d spans, expected %d" % (total, expect["spans"]))
    for name, n in expect.get("names", {}).items():
        if counts[name] != n:
            errs.append("%s: %d spans, expected %d" % (name, counts[name], n))
    other = doc.get("otherData", {})
    if other.get("spans") != total:
        errs.append("otherData.spans %r, but %d events written" % (other.get("spans"), total))
    if other.get("dropped") != 0:
        errs.append("otherData.dropped %r, expected 0" % other.get("dropped"))
    gpu_writers = {w["tid"] for w in other.get("writers", []) if w.get("track") == "gpu"}
    cats = Counter()
    for ev in doc["traceEvents"]:
        if ev.get("ph") == "X":
            cats[(ev["pid"], ev.get("cat"))] += 1
    pids_cpu = {p for (p, c) in cats if c == "cpu"}
    pids_gpu = {p for (p, c) in cats if c == "gpu"}
    if "gpu_threads" in expect and expect["gpu_threads"] and (not pids_gpu or pids_gpu & pids_cpu):
        errs.append("GPU events not in a process of their own: cpu pids %s, gpu pids %s" % (pids_cpu, pids_gpu))
    if "cpu_threads" in expect:
        n_cpu = sum(1 for (p, t) in threads if p in pids_cpu)
        if n_cpu != expect["cpu_threads"]:
            errs.append("%d CPU threads with events, expected %d" % (n_cpu, expect["cpu_threads"]))
    if "gpu_threads" in expect and len(gpu_writers) != expect["gpu_threads"]:
        errs.append("%d GPU writers, expected %d" % (len(gpu_writers), expect["gpu_threads"]))
    # every named child lies inside a parent span on its thread
    for parent, children in expect.get("nested", {}).items():
        for key, evs in threads.items():
            parents = [(a, b) for a, b, n in evs if n == parent]
            if not parents:
                continue
            pi = 0
            for t0, t1, n in evs:
                if n not in children:
                    continue
                while pi < len(parents) and parents[pi][1] < t0:
                    pi += 1
                if pi == len(parents) or not (parents[pi][0] <= t0 and t1 <= parents[pi][1]):
                    errs.append("thread %s: %s at %d ns is not inside a %s span" % (key, n, t0, parent))
                    break
    return errs


def self_test():
    """The checker must reject broken traces (and accept a minimal good one)."""
    meta = [{"name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": "p"}},
            {"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "t"}}]

    def doc(evs):
        return json.dumps({"traceEvents": meta + evs})

    def x(name, ts, dur, tid=1):
        return {"name": name, "ph": "X", "ts": ts, "dur": dur, "pid": 1, "tid": tid}

    good = doc([x("a", 1.0, 10.0), x("b", 2.0, 3.0), x("c", 5.0, 0.0), x("d", 20.5, 1.25)])
    bad = {
        "partial overlap": doc([x("a", 1.0, 10.0), x("b", 5.0, 10.0)]),
        "ts going back": doc([x("a", 5.0, 1.0), x("b", 1.0, 1.0)]),
        "negative dur": doc([x("a", 1.0, -1.0)]),
        "no thread_name": doc([x("a", 1.0, 1.0, tid=2)]),
        "truncated": good[: len(good) // 2],
        "no traceEvents": json.dumps({"events": []}),
        "ts a string": doc([x("a", "1.0", 1.0)]),
    }
    ok = True
    if check_trace(good):
        print("self-test: a valid trace was rejected: %s" % check_trace(good))
        ok = False
    for what, text in bad.items():
        if not check_trace(text):
            print("self-test: %s was accepted" % what)
            ok = False
    counted = check_trace(good, {"spans": 5, "names": {"a": 1}})
    if not any("spans" in e for e in counted):
        print("self-test: a wrong span count was accepted")
        ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", help="vp_trace_test binary: run it and check its trace")
    ap.add_argument("--trace", help="a trace file to check")
    ap.add_argument("--expect", help="JSON expectation for --trace")
    ap.add_argument("--bench", action="store_true", help="also run the test's --bench and show the cost per span")
    a = ap.parse_args()
    if not self_test():
        return 1
    print("self-test: broken traces rejected")
    expect = json.loads(a.expect) if a.expect else None
    if a.test:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "trace.json")
            cmd = [a.test, "--out", path] + (["--bench"] if a.bench else [])
            p = subprocess.run(cmd, stdout=subprocess.PIPE, universal_newlines=True)
            sys.stdout.write(p.stdout)
            if p.returncode != 0:
                print("FAIL: %s exited %d" % (a.test, p.returncode))
                return 1
            lines = [l for l in p.stdout.splitlines() if l.startswith("expect ")]
            if len(lines) != 1:
                print("FAIL: no expect line from %s" % a.test)
                return 1
            expect = json.loads(lines[0][len("expect "):])
            with open(path) as f:
                text = f.read()
    elif a.trace:
        with open(a.trace) as f:
            text = f.read()
    else:
        ap.error("--test or --trace")
    errs = check_trace(text, expect)
    for e in errs[:20]:
        print("FAIL: %s" % e)
    if errs:
        return 1
    n = sum(1 for e in json.loads(text)["traceEvents"] if e.get("ph") == "X")
    print("trace: %d complete events, %d bytes: valid Chrome trace JSON%s"
          % (n, len(text), " matching the expectation" if expect else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
