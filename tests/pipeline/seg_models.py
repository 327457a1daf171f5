#!/usr/bin/env python3
"""Writes two tiny ONNX models (onnx + numpy only, fixed seed) for checking
the pipeline's segment and semseg paths end to end, e.g. the GPU path against
the CPU path with tests/pipeline/seg_compare.py:

  seg_models.py OUTDIR    -> OUTDIR/tiny_semseg.onnx, OUTDIR/tiny_seg.onnx

tiny_semseg: input [N, 3, 64, 64] -> 1x1 convolution to 5 classes, 2x2
    average pooling -> logits [N, 5, 32, 32].
tiny_seg: input [N, 3, 64, 64] -> YOLOv8-style predictions [N, 4 + 2 + 4,
    64] (anchors on an 8x8 grid of stride 8: centres from the grid, sizes
    about 14 x 12 px plus a small learned-looking part, class scores through
    a sigmoid, 4 mask coefficients) and mask prototypes [N, 4, 16, 16] (a
    stride-4 convolution). Random weights, but boxes of a plausible size and
    scores well spread, so detections are distinct.
"""

import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh


def save(nodes, inits, outs, path):
    g = h.make_graph(nodes, path.stem, [h.make_tensor_value_info("images", T.FLOAT, ["N", 3, 64, 64])], outs,
                     [nh.from_array(a, n) for n, a in inits])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    print(f"wrote {path}")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    w = rng.normal(0, 1, (5, 3, 1, 1)).astype(np.float32)
    b = rng.normal(0, 0.3, (5,)).astype(np.float32)
    save([h.make_node("Conv", ["images", "w", "b"], ["c"]),
          h.make_node("AveragePool", ["c"], ["out"], kernel_shape=[2, 2], strides=[2, 2])],
         [("w", w), ("b", b)], [h.make_tensor_value_info("out", T.FLOAT, ["N", 5, 32, 32])], out / "tiny_semseg.onnx")

    nc, nm = 2, 4
    F = 4 + nc + nm
    wp = rng.normal(0, 1, (nm, 3, 4, 4)).astype(np.float32)
    wa = rng.normal(0, 0.5, (F, 3, 8, 8)).astype(np.float32)
    gy, gx = np.mgrid[0:8, 0:8]
    bias = np.zeros((1, F, 64), np.float32)
    bias[0, 0] = gx.ravel() * 8 + 4
    bias[0, 1] = gy.ravel() * 8 + 4
    bias[0, 2], bias[0, 3] = 14, 12
    scale = np.ones((1, F, 1), np.float32)
    scale[0, :4], scale[0, 4:4 + nc] = 0.3, 0.2
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731
    save([h.make_node("Conv", ["images", "wp", "bp"], ["protos"], strides=[4, 4]),
          h.make_node("Conv", ["images", "wa", "ba"], ["a"], strides=[8, 8]),
          h.make_node("Reshape", ["a", "shape"], ["a2"]),
          h.make_node("Mul", ["a2", "scale"], ["a3"]),
          h.make_node("Add", ["a3", "bias"], ["a4"]),
          h.make_node("Sigmoid", ["a4"], ["sg"]),
          h.make_node("Slice", ["a4", "s0", "s4", "ax"], ["box"]),
          h.make_node("Slice", ["sg", "s4", "s6", "ax"], ["cls"]),
          h.make_node("Slice", ["a4", "s6", "s10", "ax"], ["cf"]),
          h.make_node("Concat", ["box", "cls", "cf"], ["output0"], axis=1)],
         [("wp", wp), ("bp", np.zeros(nm, np.float32)), ("wa", wa), ("ba", np.zeros(F, np.float32)),
          ("shape", i64(0, F, 64)), ("scale", scale), ("bias", bias), ("s0", i64(0)), ("s4", i64(4)),
          ("s6", i64(6)), ("s10", i64(10)), ("ax", i64(1))],
         [h.make_tensor_value_info("output0", T.FLOAT, ["N", F, 64]),
          h.make_tensor_value_info("protos", T.FLOAT, ["N", nm, 16, 16])], out / "tiny_seg.onnx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
