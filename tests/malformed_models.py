#!/usr/bin/env python3
"""Bad models must give one clear line on stderr and exit code 2, never a crash.

Each case writes a broken model (built with onnx.helper, which does not
validate) and runs `vidpipe infer` on it; the expected words in the message
are checked too, so a case that fails for the wrong reason is caught.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_model():
    """A valid 1-node model: the base that each case breaks."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv0", pads=[1, 1, 1, 1])
    g = helper.make_graph([node], "g", [x], [y], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def cases(tmp):
    good = conv_model().SerializeToString()
    yield "truncated file", good[: len(good) // 2], ["protobuf"]
    yield "wrong magic (PNG header)", b"\x89PNG\r\n\x1a\n" + bytes(200), ["not a valid ONNX model"]
    yield "empty file", b"", ["empty"]

    m = conv_model()
    m.graph.initializer[0].dims[0] = -4
    yield "negative initializer dim", m.SerializeToString(), ["negative dimension"]

    m = conv_model()
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_value = -8
    yield "negative input dim", m.SerializeToString(), ["negative dimension"]

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    g = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2"),
         helper.make_node("Relu", ["a"], ["y"], name="n3")], "cyc", [x], [y])
    yield "cyclic graph", helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString(), ["cycle"]

    m = conv_model()
    del m.graph.initializer[:]
    yield "missing initializer", m.SerializeToString(), ["input 'w'", "conv0"]

    m = conv_model()
    m.graph.node[0].op_type = "FancyConv"
    yield "unsupported op", m.SerializeToString(), ["unsupported operator", "FancyConv"]

    m = conv_model()
    m.graph.initializer[0].raw_data = m.graph.initializer[0].raw_data[:50]
    yield "initializer data shorter than its shape", m.SerializeToString(), ["bytes"]

    m = conv_model()
    m.graph.initializer[0].dims[:] = [4, 5, 3, 3]
    m.graph.initializer[0].raw_data = np.ones((4, 5, 3, 3), np.float32).tobytes()
    yield "weights that do not fit the input channels", m.SerializeToString(), ["conv0"]

    m = conv_model()
    m.opset_import[0].version = 99
    yield "opset from the future", m.SerializeToString(), ["opset 99"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vidpipe", required=True)
    args = ap.parse_args()
    failed = 0
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        x = os.path.join(tmp, "x.npy")
        np.save(x, np.zeros((1, 3, 8, 8), np.float32))
        for name, data, words in cases(tmp):
            n += 1
            path = os.path.join(tmp, "model.onnx")
            with open(path, "wb") as f:
                f.write(data)
            r = subprocess.run([args.vidpipe, "infer", "--model", path, "--input", f"x={x}", "--outdir",
                                os.path.join(tmp, "out")], capture_output=True, text=True, timeout=60)
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            ok = r.returncode == 2 and len(lines) == 1 and all(w in lines[0] for w in words)
            print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {r.returncode}: {' | '.join(lines)[:300]}")
            failed += not ok
    print(f"{n - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
