#!/usr/bin/env python3
"""The NVML monitor's readings against nvidia-smi's, in the same run.

    nvml_vs_smi.py --test build/tests/obs/vp_nvml_test

Runs nvidia-smi, then vp_nvml_test (one reading per GPU, "nvml gpu=N ..." lines), then
nvidia-smi again, and compares every GPU's fields with the range of the two nvidia-smi
readings widened by a tolerance (values move between the calls):
  memory.total, memory.used   within 1% (of nvidia-smi's value; at least 2 MiB for used)
  temperature.gpu             +-3 C
  clocks.sm                   +-5% (equal on an idle, clock-locked GPU)
  power.draw                  +-15% (nvidia-smi may average over a second, NVML reads now)
  utilization.gpu / .decoder  +-20 points (sampled over different periods; tolerance ours)
A field nvidia-smi reports as [N/A] / [Not Supported] must be NA on our side too, or is
reported and skipped when only ours has it.
Exit 77 when nvidia-smi or NVML is missing (vp_nvml_test exits 77), 1 on a mismatch.
"""
import argparse
import re
import shutil
import subprocess
import sys

FIELDS = ["index", "utilization.gpu", "memory.used", "memory.total", "temperature.gpu",
          "power.draw", "clocks.sm", "utilization.decoder"]
# nvidia-smi field -> (our key, kind, tolerance)
COMPARE = {
    "memory.total": ("mem.total_mib", "rel", 0.01),
    "memory.used": ("mem.used_mib", "rel_min", (0.01, 2.0)),
    "temperature.gpu": ("temp.c", "abs", 3.0),
    "clocks.sm": ("clocks.sm_mhz", "rel", 0.05),
    "power.draw": ("power.w", "rel", 0.15),
    "utilization.gpu": ("util.gpu", "abs", 20.0),
    "utilization.decoder": ("util.dec", "abs", 20.0),
}


def num(v):
    try:
        return float(v)
    except ValueError:
        return None  # [N/A], [Not Supported]


def smi(fields):
    p = subprocess.run(["nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    if p.returncode != 0:
        return None, (p.stdout + p.stderr).strip()
    rows = {}
    for line in p.stdout.strip().splitlines():
        vals = [v.strip() for v in line.split(",")]
        if len(vals) != len(fields):
            return None, "unexpected nvidia-smi line: %r" % line
        row = dict(zip(fields, vals))
        rows[int(row["index"])] = row
    return rows, ""


def parse_ours(text):
    gpus = {}
    for line in text.splitlines():
        if not line.startswith("nvml gpu=") or " util.gpu=" not in line:
            continue
        kv = dict(re.findall(r'(\S+?)=("[^"]*"|\S+)', line[5:]))
        g = int(kv["gpu"])
        if g not in gpus:  # the first reading (the one between the two nvidia-smi calls)
            gpus[g] = kv
    return gpus


def within(ours, lo, hi, kind, tol):
    if kind == "abs":
        return lo - tol <= ours <= hi + tol, "+-%g" % tol
    if kind == "rel":
        return lo * (1 - tol) - 1e-9 <= ours <= hi * (1 + tol) + 1e-9, "+-%g%%" % (tol * 100)
    rel, floor = tol
    return (min(lo * (1 - rel), lo - floor) <= ours <= max(hi * (1 + rel), hi + floor),
            "+-%g%% (>= %g)" % (rel * 100, floor))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test", required=True, help="vp_nvml_test binary")
    a = ap.parse_args()
    if not shutil.which("nvidia-smi"):
        print("nvidia-smi not found: skipped")
        return 77
    fields = list(FIELDS)
    before, err = smi(fields)
    if before is None and "utilization.decoder" in err:
        fields.remove("utilization.decoder")  # older nvidia-smi
        before, err = smi(fields)
    if before is None:
        print("nvidia-smi failed (%s): skipped" % err)
        return 77
    p = subprocess.run([a.test], stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                       timeout=60)
    after, err = smi(fields)
    sys.stdout.write(p.stdout)
    if p.returncode == 77:
        print("NVML not available to vp_nvml_test: skipped")
        return 77
    if p.returncode != 0:
        sys.stdout.write(p.stderr)
        print("FAIL: vp_nvml_test exited %d" % p.returncode)
        return 1
    if after is None:
        print("FAIL: second nvidia-smi call failed: %s" % err)
        return 1
    ours = parse_ours(p.stdout)
    if not ours:
        print("FAIL: no 'nvml gpu=' readings in vp_nvml_test's output")
        return 1
    if set(ours) != set(before):
        print("FAIL: GPUs differ: nvidia-smi %s, vp_nvml_test %s" % (sorted(before), sorted(ours)))
        return 1
    bad = 0
    for g in sorted(ours):
        print("gpu %d %s" % (g, ours[g].get("name", "")))
        for f in fields:
            if f == "index":
                continue
            key, kind, tol = COMPARE[f]
            b, af, o = num(before[g][f]), num(after[g][f]), ours[g].get(key, "NA")
            if b is None or af is None:
                state = "ok (both NA)" if o == "NA" else "skipped (nvidia-smi: %s, ours %s)" % (before[g][f], o)
                print("  %-20s %s" % (f, state))
                continue
            if o == "NA":
                print("  %-20s FAIL: nvidia-smi %s, ours NA" % (f, before[g][f]))
                bad += 1
                continue
            ov = float(o)
            lo, hi = min(b, af), max(b, af)
            ok, tol_s = within(ov, lo, hi, kind, tol)
            print("  %-20s %s nvidia-smi %g..%g ours %g (%s)" % (f, "ok  " if ok else "FAIL", lo, hi, ov, tol_s))
            bad += not ok
    if bad:
        print("FAIL: %d field(s) outside tolerance" % bad)
        return 1
    print("NVML monitor matches nvidia-smi on %d GPU(s)" % len(ours))
    return 0


if __name__ == "__main__":
    sys.exit(main())
