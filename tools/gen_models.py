#!/usr/bin/env python3
"""Generate ONNX test models with random (seeded) weights for vidpipe.

Nothing is downloaded: YOLO models are built from the yaml files that ship
inside the ultralytics package, torchvision models are built with
weights=None. BatchNorm statistics are randomised before export so that the
engine's BN folding is exercised with non-trivial values.

Usage:
    tools/gen_models.py --outdir DIR [--only yolov8n,resnet50] [--seed 0]
                        [--opset 17] [--no-check]

--opset applies to every model (default 17; ultralytics would pick 18 by
itself with torch >= 2.4). YOLO models are exported by ultralytics
(dynamic=True: batch, height and width are symbolic; simplify=True: onnxslim);
torchvision models by torch.onnx.export(dynamo=False) with a symbolic batch.

Writes DIR/<name>.onnx for each model and DIR/ops.txt (union of op types and
the per-model op lists). Needs: numpy onnx onnxruntime torch torchvision
ultralytics onnxslim (scripts/setup-python.sh installs them).
"""

from __future__ import annotations

import argparse
import collections
import inspect
import os
import shutil
import sys
import tempfile
import time
import warnings
import zlib
from pathlib import Path

# ultralytics must never touch the network: set before it is imported.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

DEFAULT_OPSET = 17

# name -> (kind, builder argument, input spatial size)
MODELS: dict[str, tuple[str, str, int]] = {
    "yolov8n": ("yolo", "yolov8n.yaml", 640),
    # the same network calibrated on picture-like images (video-calibration):
    # sparse, distinct detections on real video, for the pipeline tests
    "yolov8n-video": ("yolo-video", "yolov8n.yaml", 640),
    "yolov8s": ("yolo", "yolov8s.yaml", 640),
    "yolo11n": ("yolo", "yolo11n.yaml", 640),
    "yolo11n-pose": ("yolo", "yolo11n-pose.yaml", 640),
    "yolo11n-seg": ("yolo", "yolo11n-seg.yaml", 640),
    "yolo12n": ("yolo", "yolo12n.yaml", 640),
    "resnet50": ("tv", "resnet50", 224),
    "mobilenetv3": ("tv", "mobilenet_v3_large", 224),
    "deeplabv3": ("tv", "deeplabv3_resnet50", 512),
}


def model_seed(base: int, name: str) -> int:
    """Per-model seed, stable across runs and independent of --only."""
    return (base * 1000003 + zlib.crc32(name.encode())) & 0x7FFFFFFF


def picture_like(seed: int, n: int, size: int):
    """n synthetic pictures (float [0,1], N x 3 x size x size), letterboxed
    16:9 scenes with the statistics of video rather than noise: smooth
    gradients, flat rectangles of saturated colours with sharp edges, a few
    striped patches, grey padding (114/255) above and below as the pipeline's
    letterbox leaves it. Deterministic from seed; needs only torch."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    h = size * 9 // 16
    top = (size - h) // 2
    out = torch.full((n, 3, size, size), 114 / 255.0)
    yy = torch.linspace(0, 1, h).view(h, 1)
    xx = torch.linspace(0, 1, size).view(1, size)
    for i in range(n):
        c0, c1 = torch.rand(3, 1, 1, generator=gen), torch.rand(3, 1, 1, generator=gen)
        t = (xx * float(torch.rand(1, generator=gen)) + yy * float(torch.rand(1, generator=gen))).clamp(0, 1)
        img = c0 * (1 - t) + c1 * t
        for _ in range(12):
            x0, y0 = int(torch.randint(0, size - 16, (1,), generator=gen)), int(torch.randint(0, h - 16, (1,), generator=gen))
            w, hh = int(torch.randint(16, size // 3, (1,), generator=gen)), int(torch.randint(16, h // 2, (1,), generator=gen))
            img[:, y0:y0 + hh, x0:x0 + w] = torch.rand(3, 1, 1, generator=gen).round() * 0.9 + 0.05
        for _ in range(3):
            x0, y0 = int(torch.randint(0, size - 64, (1,), generator=gen)), int(torch.randint(0, h - 64, (1,), generator=gen))
            period = int(torch.randint(2, 9, (1,), generator=gen))
            stripe = ((torch.arange(64) // period) % 2).float().view(1, 1, 64)
            img[:, y0:y0 + 64, x0:x0 + 64] = stripe.expand(3, 64, 64)
        out[i, :, top:top + h, :] = img
    return out


def randomize_batchnorm(model, seed: int, size: int, passes: int = 1, batch: int = 4, images=None) -> int:
    """Give every BatchNorm random, non-trivial parameters and running stats.

    Purely random running stats (e.g. var ~ U(0.5, 2)) that ignore the real
    activation statistics make a randomly initialised deep network forget its
    input: after a few dozen layers the output is a constant set by the BN
    biases (measured: outputs for two different random images differed by
    1e-7 relative), and a parity test could not see a broken convolution.
    So: random gamma ~ U(0.5, 1.5) and beta ~ U(-0.2, 0.2); running stats
    measured in training mode on seeded random images (as training would),
    then perturbed per channel (var x U(0.8, 1.25), mean + U(-0.1, 0.1)*std).
    The result is far from the identity (mean != 0, var != 1, gamma != 1,
    beta != 0) so BN folding is exercised, and the output depends on the input.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)

    def uniform(shape, lo, hi):
        return torch.rand(shape, generator=gen) * (hi - lo) + lo

    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    was_training = model.training
    momenta = [m.momentum for m in bns]
    with torch.no_grad():
        for m in bns:
            if m.affine:
                m.weight.copy_(uniform(m.num_features, 0.5, 1.5))
                m.bias.copy_(uniform(m.num_features, -0.2, 0.2))
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration passes
        # ResNet blocks: a smaller gamma on the last BN of the residual branch (as
        # in trained ResNets, cf. zero_init_residual). With gamma ~ U(0.5, 1.5)
        # there, the float32 rounding error grows ~1.25x per block: deeplabv3's
        # output was 8.5e-5 relative off a float64 run, too close to the 1e-4
        # parity tolerance; with x0.3 it is 7.5e-6 (resnet50: 1.4e-5 -> 1.1e-6).
        for blk in model.modules():
            last = {"Bottleneck": "bn3", "BasicBlock": "bn2"}.get(type(blk).__name__)
            if last and isinstance(getattr(blk, last, None), torch.nn.BatchNorm2d):
                getattr(blk, last).weight.mul_(0.3)
        model.train()
        for _ in range(passes if images is None else 0):
            # uniform noise as in the tests (mean 0.5), with a random offset per
            # image and channel and a random contrast per image around it: images
            # must differ globally, or a BN after global pooling (deeplabv3's
            # ASPP) measures a near-zero variance and then amplifies rounding
            # errors by orders of magnitude. The test distribution (plain
            # uniform 0..1) stays at the centre of the calibration one.
            offset = (torch.rand(batch, 3, 1, 1, generator=gen) - 0.5) * 0.3
            contrast = torch.rand(batch, 1, 1, 1, generator=gen) * 0.6 + 0.7
            noise = torch.rand(batch, 3, size, size, generator=gen) - 0.5
            model(0.5 + offset + contrast * noise)
        if images is not None:
            model(images)
        for m, mom in zip(bns, momenta):
            m.momentum = mom
            c = m.num_features
            # a channel that hardly varies around a large mean (a BN after global
            # pooling) would amplify rounding errors by |mean|/std: bound that at 30
            floor = (m.running_mean / 30.0) ** 2
            m.running_var.copy_(torch.maximum(m.running_var, floor))
            m.running_var.mul_(uniform(c, 0.8, 1.25)).clamp_(min=1e-3)
            m.running_mean.add_(uniform(c, -0.1, 0.1) * m.running_var.sqrt())
    model.train(was_training)
    return len(bns)


def calibrate_yolo_head(model, seed: int, images=None) -> int:
    """Make the YOLO head's outputs depend on the network.

    ultralytics initialises the last convolution of each head branch with
    small weights and constant biases (box DFL logits 2.0, class logits about
    -10): on a randomly initialised network the decoded boxes are then nearly
    the anchors and every class score is ~1e-5, whatever the input, which
    would let a parity test pass on a broken backbone. Rescale those last
    convolutions so their outputs have a std of about 1-2 on a random input,
    and give them random biases.

    With images (picture-like calibration), the statistics are measured on
    them and the class logits get a std of 1.5 around -6.5: about 1 in 6000
    anchor-class pairs passes a 0.25 threshold, as with a trained detector,
    instead of half of them.
    """
    import torch

    head = model.model[-1]
    finals = [
        (n, m)
        for n, m in head.named_modules()
        if isinstance(m, torch.nn.Conv2d) and m.bias is not None and n.split(".")[0] in ("cv2", "cv3", "cv4")
    ]
    stds: dict[str, float] = {}

    def hook_for(name):
        def hook(mod, inputs, output):
            stds[name] = float((output - mod.bias.view(1, -1, 1, 1)).std())

        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in finals]
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.rand(1, 3, 640, 640, generator=gen) if images is None else images)
        for n, m in finals:
            target, bias_range = {"cv3": (2.0, 1.0)}.get(n.split(".")[0], (1.0, 0.5))
            centre = 0.0
            if images is not None and n.split(".")[0] == "cv3":
                target, bias_range, centre = 1.5, 0.5, -6.5
            m.weight.mul_(target / max(stds[n], 1e-6))
            m.bias.copy_((torch.rand(m.bias.shape, generator=gen) * 2 - 1) * bias_range + centre)
    for h in handles:
        h.remove()
    model.train(was_training)
    return len(finals)


def _drop_date(path: Path) -> None:
    import onnx

    m = onnx.load(str(path))
    keep = [(p.key, p.value) for p in m.metadata_props if p.key != "date"]
    del m.metadata_props[:]
    for k, v in keep:
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))


def export_yolo(name: str, yaml_name: str, imgsz: int, out: Path, seed: int, opset: int,
                video: bool = False) -> dict:
    import torch
    from ultralytics import YOLO

    torch.manual_seed(seed)
    yolo = YOLO(yaml_name)  # builds the model from the packaged yaml: random init
    images = picture_like(seed + 3, 8, imgsz) if video else None
    nbn = randomize_batchnorm(yolo.model, seed + 1, imgsz, images=images)
    nhead = calibrate_yolo_head(yolo.model, seed + 2, images=images)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="vp_gen_") as tmp:
        os.chdir(tmp)  # ultralytics writes <yaml stem>.onnx into the current directory
        try:
            f = yolo.export(
                format="onnx",
                imgsz=imgsz,
                dynamic=True,
                simplify=True,
                opset=opset,
                device="cpu",
                batch=1,
            )
        finally:
            os.chdir(cwd)
        if not f or not Path(f).is_absolute():
            f = Path(tmp) / (f or Path(yaml_name).with_suffix(".onnx").name)
        _drop_date(Path(f))  # weights and nodes are seeded; keep the timestamp out too
        shutil.move(str(f), out)
    return {"bn": nbn, "exporter": "ultralytics", "head_convs": nhead}


def export_torchvision(name: str, ctor: str, size: int, out: Path, seed: int, opset: int) -> dict:
    import torch
    import torchvision

    torch.manual_seed(seed)
    if ctor == "deeplabv3_resnet50":
        model = torchvision.models.segmentation.deeplabv3_resnet50(
            weights=None, weights_backbone=None, aux_loss=False
        )
        class OutOnly(torch.nn.Module):  # the model returns a dict; keep only "out"
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x):
                return self.m(x)["out"]

        model = OutOnly(model)
        out_name = "out"
    else:
        model = getattr(torchvision.models, ctor)(weights=None)
        out_name = "output"
    # BN statistics of a conv net on noise images barely depend on the image
    # size; deeplabv3 at 512x512 is too slow for the calibration passes on 2 cores.
    calib = 256 if ctor.startswith("deeplab") else size
    nbn = randomize_batchnorm(model, seed + 1, calib)
    model.eval()
    x = torch.rand(1, 3, size, size)
    kwargs = {}
    exporter = "torch.onnx.export (TorchScript)"
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # classic TorchScript-based exporter, not the dynamo one
        exporter = "torch.onnx.export(dynamo=False)"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "legacy TorchScript-based ONNX export"
        torch.onnx.export(
            model,
            (x,),
            str(out),
            input_names=["input"],
            output_names=[out_name],
            dynamic_axes={"input": {0: "batch"}, out_name: {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
            **kwargs,
        )
    return {"bn": nbn, "exporter": exporter}


def _dims(value_info) -> list:
    t = value_info.type.tensor_type
    dims = []
    for d in t.shape.dim:
        if d.HasField("dim_value"):
            dims.append(d.dim_value)
        elif d.HasField("dim_param"):
            dims.append(d.dim_param)
        else:
            dims.append("?")
    return dims


def _collect_ops(graph, counter: collections.Counter) -> None:
    for node in graph.node:
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
        counter[key] += 1
        for attr in node.attribute:  # If/Loop/Scan subgraphs
            if attr.HasField("g"):
                _collect_ops(attr.g, counter)
            for g in attr.graphs:
                _collect_ops(g, counter)


def describe(path: Path) -> dict:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    opset = {(o.domain or "ai.onnx"): o.version for o in m.opset_import}
    inits = {i.name for i in m.graph.initializer}
    ops: collections.Counter = collections.Counter()
    _collect_ops(m.graph, ops)
    return {
        "size": path.stat().st_size,
        "opset": opset.get("ai.onnx"),
        "opsets": opset,
        "ir_version": m.ir_version,
        "inputs": [(i.name, _dims(i)) for i in m.graph.input if i.name not in inits],
        "outputs": [(o.name, _dims(o)) for o in m.graph.output],
        "ops": ops,
        "nodes": sum(ops.values()),
        "producer": f"{m.producer_name} {m.producer_version}".strip(),
    }


def ort_check(path: Path, size: int, batch: int = 2) -> list[str]:
    """Run the model in ONNX Runtime with batch>1; return one summary per output."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [batch, 3, size, size]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    outs = sess.run(None, {inp.name: x})
    lines = []
    for meta, y in zip(sess.get_outputs(), outs):
        finite = bool(np.isfinite(y).all())
        lines.append(
            f"{meta.name}{list(y.shape)} finite={finite} mean={float(y.mean()):.4g} "
            f"std={float(y.std()):.4g} min={float(y.min()):.4g} max={float(y.max()):.4g}"
        )
        if not finite or y.shape[0] != batch:
            raise RuntimeError(f"{path.name}: bad output {lines[-1]}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outdir", required=True, type=Path)
    ap.add_argument("--only", default="", help="comma-separated subset of: " + ",".join(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    ap.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime batch-2 run of each model")
    args = ap.parse_args()

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {', '.join(MODELS)}")

    args.outdir.mkdir(parents=True, exist_ok=True)
    outdir = args.outdir.resolve()
    # Keep ultralytics' settings file out of $HOME and analytics off.
    cfg_tmp = tempfile.mkdtemp(prefix="vp_ultra_cfg_")
    os.environ.setdefault("YOLO_CONFIG_DIR", cfg_tmp)

    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if any(MODELS[n][0].startswith("yolo") for n in names):
        from ultralytics.utils import SETTINGS

        SETTINGS.update({"sync": False})

    results = {}
    t_all = time.perf_counter()
    for name in names:
        kind, arg, size = MODELS[name]
        out = outdir / f"{name}.onnx"
        seed = model_seed(args.seed, name)
        t0 = time.perf_counter()
        if kind in ("yolo", "yolo-video"):
            info = export_yolo(name, arg, size, out, seed, args.opset, video=kind == "yolo-video")
        else:
            info = export_torchvision(name, arg, size, out, seed, args.opset)
        t_export = time.perf_counter() - t0
        d = describe(out)
        d.update(info)
        d["seconds"] = t_export
        results[name] = d
        print(f"== {name}: {out}")
        print(f"   size={d['size'] / 1e6:.2f} MB opset={d['opset']} ir={d['ir_version']} "
              f"nodes={d['nodes']} bn_randomized={d['bn']} exporter={d['exporter']} "
              f"seed={seed} export_s={t_export:.1f}")
        for n_, s in d["inputs"]:
            print(f"   input  {n_} {s}")
        for n_, s in d["outputs"]:
            print(f"   output {n_} {s}")
        print(f"   ops ({len(d['ops'])}): {' '.join(sorted(d['ops']))}")
        if not args.no_check:
            t1 = time.perf_counter()
            for line in ort_check(out, size):
                print(f"   ort batch=2: {line}")
            print(f"   ort_check_s={time.perf_counter() - t1:.1f}")
        sys.stdout.flush()

    # ops.txt describes every known model now in outdir (not only this run's),
    # so that a run with --only does not drop the other models from it.
    listed = {}
    for name in MODELS:
        if name in results:
            listed[name] = results[name]
        elif (outdir / f"{name}.onnx").is_file():
            listed[name] = describe(outdir / f"{name}.onnx")
    union: collections.Counter = collections.Counter()
    for d in listed.values():
        for op in d["ops"]:
            union[op] += 1
    lines = ["# ONNX op types used by the vidpipe test models (tools/gen_models.py)",
             f"# models: {' '.join(listed)}",
             f"union ({len(union)}): " + " ".join(sorted(union)), ""]
    for name, d in listed.items():
        lines.append(f"{name} (opset {d['opset']}, {d['nodes']} nodes, {len(d['ops'])} op types):")
        lines.append("  " + " ".join(f"{op}x{c}" for op, c in sorted(d["ops"].items())))
    (outdir / "ops.txt").write_text("\n".join(lines) + "\n")
    print(f"wrote {outdir / 'ops.txt'}; {len(results)} model(s) in {time.perf_counter() - t_all:.1f} s")
    shutil.rmtree(cfg_tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
