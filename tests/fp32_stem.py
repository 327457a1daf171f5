#!/usr/bin/env python3
"""The FP32 first layer of FP16 plans (vp_plan_precision, nn_conv_direct.cu)
against ONNX Runtime in FP32.

In an FP16 plan on the CUDA backend, a Conv that reads a float32 model input
with at most 4 channels keeps X, W and B in float32 and rounds only its
output to float16. So every output element of these one-layer models must be
the FP32 result rounded once: |y - ref| <= 2^-10 |ref| + 1e-5 rms(ref)
(one half-precision ulp, plus room for summation order). Cases: the stems of
DeepLabV3 (7x7/2, 64 channels, ReLU) and YOLO (3x3/2, SiLU), odd sizes, 1 to
4 channels, channel counts that are not multiples of 16, no bias, a post-op
the kernel does not fuse (HardSwish), a kernel the templates do not cover,
non-square kernels and strides, and two first layers written into one Concat
(channel slices).

Negative control: the same models with VIDPIPE_FP32_STEM=0 (X and W rounded
to FP16, cuDNN) must break that bound, so the check can fail.
Exit 0 pass, 1 fail, 77 when the CUDA backend or a module is missing.

    python3 tests/fp32_stem.py --vidpipe build/vidpipe
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
except ImportError as e:
    print(f"skip: {e}")
    sys.exit(77)

# name, N, C, H, W, O, kernel, strides, pads, act, bias
CASES = [
    ("deeplab_stem", 2, 3, 67, 67, 64, (7, 7), (2, 2), 3, "Relu", True),
    ("yolo_stem", 2, 3, 65, 97, 16, (3, 3), (2, 2), 1, "SiLU", True),
    ("yolov5_stem", 1, 3, 64, 70, 32, (6, 6), (2, 2), 2, "SiLU", True),
    ("c1_k5_runtime", 1, 1, 33, 41, 24, (5, 5), (1, 1), 2, None, True),
    ("c4_k3_s1_hardswish", 2, 4, 30, 31, 8, (3, 3), (1, 1), 1, "HardSwish", True),
    ("c2_k6_o40_nobias", 1, 2, 40, 37, 40, (6, 6), (2, 2), 2, "Relu", False),
    ("c3_k3x5_s2x1", 1, 3, 29, 35, 20, (3, 5), (2, 1), (1, 2), None, True),
    ("c3_k7x3_s4x3", 1, 3, 63, 59, 48, (7, 3), (4, 3), (3, 1), "Relu", True),
]


def conv_model(name, n, c, h, w, o, k, s, p, act, bias, rng, concat=False):
    pads = [p, p, p, p] if isinstance(p, int) else [p[0], p[1], p[0], p[1]]
    inits, nodes = [], []
    outs = []
    for j in range(2 if concat else 1):
        wt = (rng.standard_normal((o, c, *k)) / np.sqrt(c * k[0] * k[1])).astype(np.float32)
        inits.append(numpy_helper.from_array(wt, f"w{j}"))
        ins = ["x", f"w{j}"]
        if bias:
            inits.append(numpy_helper.from_array(rng.standard_normal(o).astype(np.float32) * 0.1, f"b{j}"))
            ins.append(f"b{j}")
        y = f"conv{j}"
        nodes.append(helper.make_node("Conv", ins, [y], kernel_shape=list(k), strides=list(s), pads=pads))
        if act == "Relu":
            nodes.append(helper.make_node("Relu", [y], [y + "_a"]))
            y += "_a"
        elif act == "SiLU":
            nodes.append(helper.make_node("Sigmoid", [y], [y + "_s"]))
            nodes.append(helper.make_node("Mul", [y, y + "_s"], [y + "_a"]))
            y += "_a"
        elif act == "HardSwish":
            nodes.append(helper.make_node("HardSwish", [y], [y + "_a"]))
            y += "_a"
        outs.append(y)
    if concat:
        nodes.append(helper.make_node("Concat", outs, ["y"], axis=1))
    else:
        nodes[-1].output[0] = "y"
    ho = (h + pads[0] + pads[2] - k[0]) // s[0] + 1
    wo = (w + pads[1] + pads[3] - k[1]) // s[1] + 1
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, c, h, w])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, o * len(outs), ho, wo])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def vidpipe(args, path, xfile, outdir, env):
    r = subprocess.run([args.vidpipe, "-v", "infer", "--model", path, "--backend", "cuda", "--precision", "fp16",
                        "--input", f"x={xfile}", "--outdir", outdir], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return None, r.stderr.strip()[-400:]
    return np.load(os.path.join(outdir, "y.npy")).astype(np.float64), r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    args = ap.parse_args()
    info = subprocess.run([args.vidpipe, "info", "--json"], capture_output=True, text=True)
    if '"cuda":"NVIDIA' not in info.stdout.replace(" ", "").replace("\n", ""):
        print("skip: CUDA backend not usable here")
        return 77
    rng = np.random.default_rng(7)
    fails = 0
    cases = [c + (False,) for c in CASES] + [("two_stems_concat",) + CASES[0][1:] + (True,)]
    with tempfile.TemporaryDirectory() as tmp:
        for name, n, c, h, w, o, k, s, p, act, bias, concat in cases:
            m = conv_model(name, n, c, h, w, o, k, s, p, act, bias, rng, concat)
            path = os.path.join(tmp, name + ".onnx")
            onnx.save(m, path)
            x = rng.random((n, c, h, w), dtype=np.float32)
            xfile = os.path.join(tmp, name + "_x.npy")
            np.save(xfile, x)
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            ref = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            ref = ref.astype(np.float64)
            bound = 2.0 ** -10 * np.abs(ref) + 1e-5 * np.sqrt(np.mean(ref * ref))
            for stem in ("1", "0"):
                env = dict(os.environ, VIDPIPE_FP32_STEM=stem)
                y, log = vidpipe(args, path, xfile, os.path.join(tmp, f"{name}_{stem}"), env)
                if y is None:
                    print(f"{name} VIDPIPE_FP32_STEM={stem}: FAIL vidpipe: {log}")
                    fails += 1
                    continue
                if y.shape != ref.shape:
                    print(f"{name} VIDPIPE_FP32_STEM={stem}: FAIL shape {y.shape} != {ref.shape}")
                    fails += 1
                    continue
                over = int(np.count_nonzero(np.abs(y - ref) > bound))
                rel = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
                kept = any(int(k) > 0 for k in re.findall(r"(\d+) first layers? kept FP32", log))
                # FP32 first layer: within the bound everywhere, and the plan says so; without it: outside
                ok = (over == 0 and kept) if stem == "1" else over > 0
                fails += not ok
                print(f"{name} VIDPIPE_FP32_STEM={stem}: {over} of {y.size} elements over the one-rounding bound, "
                      f"rel {rel:.2e}, plan {'keeps' if kept else 'does not keep'} it FP32: "
                      f"{'OK' if ok else 'FAIL'}{'' if stem == '1' else ' (negative control)'}")
    print(f"fp32_stem: {len(cases)} models, {fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
