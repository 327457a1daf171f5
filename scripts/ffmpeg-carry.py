#!/usr/bin/env python3
"""Pack a vidpipe built with FFmpeg, and the FFmpeg libraries it loads, for the
lent GPU machine (which has no FFmpeg) within the device tool's carry limit.

Debian's libavcodec and libavformat pull in ~125 libraries (~160 MB): every
codec library FFmpeg was configured with (x265, SVT-AV1, aom, codec2, rsvg,
ICU's data ...). The CPU decode benchmark only ever opens the H.264 and HEVC
decoders, which are FFmpeg's own. So the libraries in --stub are replaced by
stubs: a shared object with the same SONAME and the same exported symbols
(functions that return 0, zero-filled data in .bss), so that the dynamic
linker (libavcodec is linked BIND_NOW) resolves everything, but nothing of
theirs is shipped. A stub that is called does nothing useful: only use this
for decoding with FFmpeg's built-in decoders.

    scripts/ffmpeg-carry.py --build build --out .devcarry/ff.tar.xz

`scripts/gpu-test.sh run decodebench` unpacks it to /tmp/vp-ff there and
runs /tmp/vp-ff/vidpipe with LD_LIBRARY_PATH=/tmp/vp-ff first (the libraries
already in .devcarry/libs.tar.xz and the C runtime are left out: see SKIP).
With .devcarry/ near the carry limit, carry a smaller folder instead (the
bin, libs and py tarballs, ff.tar.xz and the test streams) and copy it to
.devcarry/ on the GPU machine before gpu-test.sh runs.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# never packed: the C runtime (the GPU machine has its own) and the libraries
# .devcarry/libs.tar.xz already carries
SKIP = re.compile(r"^(libc|libm|libdl|libpthread|librt|libresolv|libutil|ld-linux-x86-64|libgcc_s|libstdc\+\+|libz"
                  r"|libdnnl|libprotobuf-c|libgomp|libOpenCL|libcjson|libmicrohttpd)\.so")
# codec and format libraries the H.264/HEVC decode path never calls
DEFAULT_STUBS = ("libcodec2 libicudata librsvg-2 libSvtAv1Enc libaom libx265 libx264 libjxl librav1e libvpx "
                 "libopenmpt libzvbi libshine libtwolame libmp3lame libtheoraenc libtheoradec libvorbisenc "
                 "libspeex libgsm libopus libsnappy libwebp libwebpmux libdav1d libopenjp2 libvorbis")


def needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def resolve(binaries: list[Path]) -> dict[str, Path]:
    """SONAME -> path, as ldd resolves it for the given binaries."""
    found = {}
    for b in binaries:
        out = subprocess.run(["ldd", str(b)], capture_output=True, text=True, check=True,
                             env={**os.environ, "LD_LIBRARY_PATH": str(b.parent)}).stdout
        for m in re.finditer(r"^\s*(\S+) => (/\S+)", out, re.M):
            found[m.group(1)] = Path(m.group(2))
    return found


def dynsyms(path: Path) -> list[tuple[str, str, int, str]]:
    """Defined, exported symbols: (name, FUNC|OBJECT, size, version or '')."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", str(path)], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].endswith(":") or f[6] in ("UND", "ABS"):  # ABS: version nodes
            continue
        if f[3] not in ("FUNC", "OBJECT", "IFUNC") or f[4] not in ("GLOBAL", "WEAK") or f[5] != "DEFAULT":
            continue
        name, ver = f[7], ""
        if "@" in name:
            name, _, ver = name.partition("@")
            ver = ver.lstrip("@")
        size = int(f[2], 0) if f[2].startswith("0x") else int(f[2])
        syms.append((name, "FUNC" if f[3] != "OBJECT" else "OBJECT", size, ver))
    return syms


def make_stub(real: Path, soname: str, outdir: Path, tmp: Path) -> Path:
    syms = dynsyms(real)
    c = ["/* stub of %s: same SONAME and symbols, no code */" % soname]
    versions: dict[str, list[str]] = {}
    for name, kind, size, ver in syms:
        if kind == "FUNC":
            c.append("long %s(void) { return 0; }" % name)
        else:
            c.append("char %s[%d];" % (name, max(size, 1)))
        versions.setdefault(ver, []).append(name)
    src = tmp / (soname + ".c")
    src.write_text("\n".join(c) + "\n")
    cmd = ["gcc", "-shared", "-fPIC", "-w", "-fno-builtin", "-o", str(outdir / soname), str(src),
           "-Wl,-soname," + soname]
    named = [v for v in versions if v]
    if named:
        vs = tmp / (soname + ".map")
        vs.write_text("".join("%s { global: %s; };\n" % (v, "; ".join(versions[v])) for v in named)
                      + ("VP_STUB_BASE { global: *; };\n" if "" in versions else ""))
        cmd.append("-Wl,--version-script=" + str(vs))
    subprocess.run(cmd, check=True)
    return outdir / soname


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", type=Path, default=Path("build"), help="a build with VP_FFMPEG=ON")
    ap.add_argument("--out", type=Path, default=Path(".devcarry/ff.tar.xz"))
    ap.add_argument("--stub", default=DEFAULT_STUBS, help="library name prefixes to replace by stubs")
    args = ap.parse_args()

    bins = [args.build / "vidpipe", args.build / "libvidpipe.so"]
    for b in bins:
        if not b.is_file():
            print(f"ffmpeg-carry: {b} not found (build with -DVP_FFMPEG=ON first)", file=sys.stderr)
            return 1
    if not any(n.startswith("libavcodec") for n in needed(bins[1])):
        print(f"ffmpeg-carry: {bins[1]} does not link libavcodec (VP_FFMPEG=OFF?)", file=sys.stderr)
        return 1
    paths = resolve(bins)
    stubs = set(args.stub.split())
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        root = tmp / "vp-ff"
        root.mkdir()
        for b in bins:
            shutil.copy2(b, root / b.name)
        # walk NEEDED from the binaries; a stub has no NEEDED of its own, so
        # what only the stubbed libraries load is left out
        todo, seen, nstub, real_bytes = [n for b in bins for n in needed(b)], set(), 0, 0
        while todo:
            so = todo.pop()
            if so in seen or SKIP.match(so) or so == "libvidpipe.so":
                continue
            seen.add(so)
            if so not in paths:
                print(f"ffmpeg-carry: {so} not resolved", file=sys.stderr)
                return 1
            if so.split(".so")[0] in stubs:
                make_stub(paths[so], so, root, tmp)
                nstub += 1
                continue
            shutil.copy2(paths[so].resolve(), root / so)
            real_bytes += (root / so).stat().st_size
            todo.extend(needed(paths[so]))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["tar", "-cJf", str(args.out), "-C", str(tmp), "vp-ff"], check=True,
                       env={**os.environ, "XZ_OPT": "-9 -T2"})
    print(f"ffmpeg-carry: {len(seen) - nstub} libraries ({real_bytes / 1e6:.1f} MB), {nstub} stubs -> "
          f"{args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
