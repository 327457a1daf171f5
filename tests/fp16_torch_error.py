#!/usr/bin/env python3
"""PyTorch's own FP16 error on a torchvision model of tools/gen_models.py.

The CUDA-vs-CPU parity test (tests/parity_backends.py) bounds vidpipe's FP16
error by rel = ||fp16 - fp32|| / ||fp32|| <= 1e-2. This script measures the
same quantity for PyTorch on the GPU: the model built exactly as
gen_models.py builds it (same seed, same randomised BatchNorm), run in
float32 and in float16 channels-last on the same uniform [0, 1) inputs, so a
parity figure can be read against what FP16 itself costs on that model.

    python3 tests/fp16_torch_error.py --model deeplabv3 [--batch 1] [--seed 0]
"""
import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tools"))
import gen_models  # noqa: E402


def build(name: str, seed: int):
    import torch
    import torchvision

    kind, ctor, size = gen_models.MODELS[name]
    if kind != "tv":
        raise SystemExit(f"{name}: only the torchvision models are rebuilt here")
    s = gen_models.model_seed(seed, name)
    torch.manual_seed(s)
    if ctor == "deeplabv3_resnet50":
        model = torchvision.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None,
                                                                   aux_loss=False)
    else:
        model = getattr(torchvision.models, ctor)(weights=None)
    calib = 256 if ctor.startswith("deeplab") else size
    gen_models.randomize_batchnorm(model, s + 1, calib)
    return model.eval(), size, ctor.startswith("deeplab")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("fp16_torch_error: no CUDA device")
        return 77
    model, size, seg = build(args.model, args.seed)
    x = torch.rand(args.batch, 3, size, size, generator=torch.Generator().manual_seed(1)).cuda()
    with torch.no_grad():
        m32 = model.cuda().float()
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        y32 = m32(x)
        y32 = (y32["out"] if seg else y32).double()
        m16 = model.half().to(memory_format=torch.channels_last)
        y16 = m16(x.half().to(memory_format=torch.channels_last))
        y16 = (y16["out"] if seg else y16).double()
    rel = (torch.linalg.vector_norm(y16 - y32) / torch.linalg.vector_norm(y32)).item()
    print(f"model={args.model} batch={args.batch} torch={torch.__version__} fp16 vs fp32 rel={rel:.3e} "
          f"finite={bool(torch.isfinite(y16).all())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
