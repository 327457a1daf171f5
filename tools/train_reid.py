#!/usr/bin/env python3
"""Train vidpipe's small appearance (ReID) model on the synthetic dataset.

The tracker's optional appearance features (tracker.reid in the config)
come from a secondary model run on crops of the detections. This script
trains one for tools/gen_dataset.py's videos: a tiny CNN (4 conv blocks,
global average pool, a linear layer to D, L2 normalisation inside the
model, so the ONNX output is already unit-length) on crops of the ground
truth boxes; the same object id in the same video is one identity. Loss:
softmax over identities with a cosine classifier (normalised weights,
scale s, additive margin m: CosFace), which trains the embedding for the
cosine distance the tracker uses.

Crops are made as vidpipe makes them (src/vision/crop.h): the box rounded
outward to whole pixels, clipped to the frame, resized to the model input
with bilinear interpolation (cv2.resize INTER_LINEAR), RGB, x / 255. During
training the box is jittered (+-8% of its size) and the colours are scaled
slightly, so the model tolerates detector boxes and lighting.

Deterministic from --seed on the CPU (torch.use_deterministic_algorithms,
one thread per op order; the dataset is regenerated from fixed seeds).

    tools/train_reid.py --out assets/reid.onnx [--seed 0] [--videos 8]
                        [--frames 200] [--epochs 12] [--dim 64]
                        [--input 64x64] [--work DIR]

Writes OUT (ONNX, opset 17, input "images" [N,3,H,W] float, dynamic N;
output "embeddings" [N,D]) and OUT with .json (command, versions, metrics:
on a held-out video, rank-1 accuracy of each crop's nearest crop at least
30 frames away, and mean cosine similarity of same/different identities).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def crop_box(box, w, h):
    """vidpipe's integer crop rectangle: outward rounding, clipped, >= 1 px."""
    x0 = int(np.floor(box[0])); y0 = int(np.floor(box[1]))
    x1 = int(np.ceil(box[2])); y1 = int(np.ceil(box[3]))
    x0 = min(max(x0, 0), w - 1); y0 = min(max(y0, 0), h - 1)
    x1 = min(max(x1, x0 + 1), w); y1 = min(max(y1, y0 + 1), h)
    return x0, y0, x1, y1


def crop(cv2, rgb, box, iw, ih):
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = crop_box(box, w, h)
    return cv2.resize(rgb[y0:y1, x0:x1], (iw, ih), interpolation=cv2.INTER_LINEAR)


def gen_videos(work: Path, seed0: int, n: int, frames: int):
    out = work / f"data_{seed0}_{n}_{frames}"
    if not (out / "dataset.json").exists():
        subprocess.run([sys.executable, str(ROOT / "tools" / "gen_dataset.py"), "--out", str(out), "--seed",
                        str(seed0), "--videos", str(n), "--frames", str(frames), "--jobs", str(min(n, 4))],
                       check=True, stdout=subprocess.DEVNULL)
    return out, sorted(p.name[:-len(".gt.jsonl")] for p in out.glob("*.gt.jsonl"))


def load_crops(cv2, folder: Path, names, iw, ih, min_vis, every, jitter_rng=None, per_box=1):
    """Crops (uint8 [K,H,W,3] RGB), identity labels, frame numbers, video index."""
    xs, ys, fs, vs = [], [], [], []
    ids = {}
    for vi, name in enumerate(names):
        cap = cv2.VideoCapture(str(folder / f"{name}.mp4"))
        gts = [json.loads(l) for l in open(folder / f"{name}.gt.jsonl")]
        for g in gts:
            ok, bgr = cap.read()
            if not ok:
                break
            if g["frame"] % every:
                continue
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            h, w = rgb.shape[:2]
            for o in g["objects"]:
                if o["ignore"] or o["visibility"] < min_vis:
                    continue
                key = (vi, o["id"])
                lab = ids.setdefault(key, len(ids))
                b = np.array(o["box"], dtype=np.float64)
                for k in range(per_box):
                    bb = b
                    if jitter_rng is not None and k > 0:
                        bw, bh = b[2] - b[0], b[3] - b[1]
                        bb = b + jitter_rng.uniform(-0.08, 0.08, 4) * np.array([bw, bh, bw, bh])
                    xs.append(crop(cv2, rgb, bb, iw, ih))
                    ys.append(lab)
                    fs.append(g["frame"])
                    vs.append(vi)
        cap.release()
    return np.stack(xs), np.array(ys), np.array(fs), np.array(vs), len(ids)


def build_model(torch, dim):
    nn = torch.nn

    def block(ci, co):
        return [nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True)]

    class ReID(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*block(3, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2),
                                          *block(32, 64), nn.MaxPool2d(2), *block(64, 96),
                                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.fc = nn.Linear(96, dim)

        def forward(self, x):
            e = self.fc(self.features(x))
            return torch.nn.functional.normalize(e, dim=1)

    return ReID()


def metrics(emb: np.ndarray, ys: np.ndarray, fs: np.ndarray):
    """Rank-1 (the nearest crop at least 30 frames away has the same id), mean cos same/different."""
    sim = emb @ emb.T
    same = ys[:, None] == ys[None, :]
    other_frame = np.abs(fs[:, None] - fs[None, :]) >= 30
    s = np.where(other_frame, sim, -np.inf)
    nn_idx = s.argmax(1)
    valid = np.isfinite(s.max(1))
    rank1 = float((ys[nn_idx] == ys)[valid].mean())
    off = ~np.eye(len(ys), dtype=bool)
    return {"rank1": round(rank1, 4), "cos_same": round(float(sim[same & off].mean()), 4),
            "cos_diff": round(float(sim[~same].mean()), 4),
            "frac_diff_dist_over_0.25": round(float(((1 - sim[~same]) / 2 > 0.25).mean()), 4),
            "frac_same_dist_under_0.25": round(float(((1 - sim[same & off]) / 2 <= 0.25).mean()), 4),
            "crops": int(len(ys)), "identities": int(len(set(ys.tolist())))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "assets" / "reid.onnx")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--input", default="64x64", help="WxH of the model input (default 64x64)")
    ap.add_argument("--work", type=Path, default=None, help="dataset cache folder (default: a temporary one)")
    args = ap.parse_args(argv)
    import cv2
    import onnx
    import torch

    iw, ih = (int(v) for v in args.input.lower().split("x"))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(min(4, os.cpu_count() or 1))
    work = args.work or Path(tempfile.mkdtemp(prefix="train_reid_"))
    t0 = time.time()
    # training videos: seeds from 500 (the held-out demo/eval videos use 1000+)
    tr_dir, tr_names = gen_videos(work, 500 + args.seed, args.videos, args.frames)
    va_dir, va_names = gen_videos(work, 900 + args.seed, 1, args.frames)
    rng = np.random.default_rng(args.seed)
    x, y, _, _, n_ids = load_crops(cv2, tr_dir, tr_names, iw, ih, 0.6, 2, rng, per_box=2)
    xv, yv, fv, _, _ = load_crops(cv2, va_dir, va_names, iw, ih, 0.6, 3)
    print(f"train_reid: {len(y)} training crops of {n_ids} identities, {len(yv)} validation crops "
          f"({time.time() - t0:.0f} s)", flush=True)

    model = build_model(torch, args.dim)
    weight = torch.nn.Parameter(torch.randn(n_ids, args.dim) * 0.01)
    opt = torch.optim.AdamW(list(model.parameters()) + [weight], lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * ((len(y) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    yt = torch.from_numpy(y).long()
    s_scale, margin = 16.0, 0.2
    g = torch.Generator().manual_seed(args.seed)
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(len(y), generator=g)
        tot, cnt = 0.0, 0
        for i in range(0, len(y), 128):
            idx = perm[i:i + 128]
            xb = xt[idx].float() / 255.0
            # colour gain per crop and channel (lighting drift, codec)
            xb = (xb * (1 + 0.1 * (torch.rand(len(idx), 3, 1, 1, generator=g) - 0.5))).clamp(0, 1)
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb[flip] = xb[flip].flip(3)
            e = model(xb)
            logits = e @ torch.nn.functional.normalize(weight, dim=1).T
            logits = logits - margin * torch.nn.functional.one_hot(yt[idx], n_ids)
            loss = torch.nn.functional.cross_entropy(s_scale * logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(idx)
            cnt += len(idx)
        model.eval()
        with torch.no_grad():
            ev = model(torch.from_numpy(xv).permute(0, 3, 1, 2).float() / 255.0).numpy()
        m = metrics(ev, yv, fv)
        print(f"train_reid: epoch {ep + 1}/{args.epochs} loss {tot / cnt:.3f} val rank1 {m['rank1']:.3f} "
              f"cos same {m['cos_same']:.3f} diff {m['cos_diff']:.3f} ({time.time() - t0:.0f} s)", flush=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    dummy = torch.zeros(2, 3, ih, iw)
    torch.onnx.export(model, dummy, str(args.out), opset_version=17, input_names=["images"],
                      output_names=["embeddings"], dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}},
                      do_constant_folding=True, dynamo=False)
    mo = onnx.load(str(args.out))
    for k, v in {"vidpipe_task": "reid", "embedding_dim": str(args.dim), "input": f"{iw}x{ih}",
                 "normalisation": "rgb, x / 255"}.items():
        p = mo.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(mo, str(args.out))
    info = {"command": "tools/train_reid.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "seed": args.seed, "train": {"videos": args.videos, "frames": args.frames, "dataset_seed": 500 + args.seed,
                                         "crops": int(len(y)), "identities": n_ids, "epochs": args.epochs},
            "validation": {"dataset_seed": 900 + args.seed, **m},
            "input": {"width": iw, "height": ih, "layout": "NCHW", "channels": "rgb", "scale": 1 / 255},
            "embedding_dim": args.dim, "onnx_opset": 17, "bytes": args.out.stat().st_size,
            "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
                         "onnx": onnx.__version__, "opencv": cv2.__version__},
            "seconds": round(time.time() - t0, 1)}
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"train_reid: wrote {args.out} ({info['bytes']} bytes) and {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
