#!/usr/bin/env python3
"""Train the small detector of vidpipe's demo on synthetic data, reproducibly.

    tools/train_detector.py --out assets/shapes [--seed 1] [--videos 40] [--frames 300]
                            [--epochs 100] [--imgsz 384] [--device cpu|0] [--width 0.25]
                            [--hours H] [--workers N] [--jobs N] [--init W.pt]

1. tools/gen_dataset.py renders the training videos (seed S) and writes a
   YOLO image dataset from every 3rd frame (whole videos held out for
   validation).
2. ultralytics trains a YOLOv8-architecture detector from scratch (no
   pretrained weights: nothing is downloaded) on it: the yolov8n layout with
   the width multiplier --width (0.25 = yolov8n's) and depth 0.33, 4 classes,
   fixed seed, deterministic mode, plots off.
3. The best weights are exported to ONNX (opset 17, dynamic batch and size,
   onnxslim) as OUT.onnx with the class names in its metadata, copied as
   OUT.pt (for --init), and OUT.json records the command, versions, dataset
   seed and final metrics.

Held-out evaluation is not done here: run the pipeline on videos of another
seed and score it with tools/eval.py (scripts/demo.sh does).

Runs on a GPU (--device 0: minutes) or the CPU (--device cpu: hours at
the defaults on 2 cores). Measured on this project's 2-core machine: 4
videos (300 training images), width 0.125, imgsz 320, ~17 s per epoch, and
after ~75 epochs from scratch mAP50 on the held-out video was still 0.02:
3 training videos with 2 background kinds do not generalise to a third.
Use many videos (the default 40: every background kind, thousands of
images) and the GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

HERE = Path(__file__).resolve().parent

MODEL_YAML = """# vidpipe demo detector: the YOLOv8 layout at a chosen width
nc: {nc}
scales:
  s: [0.33, {width}, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 3, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 6, C2f, [256, True]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 6, C2f, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 3, C2f, [1024, True]]
  - [-1, 1, SPPF, [1024, 5]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 6], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 4], 1, Concat, [1]]
  - [-1, 3, C2f, [256]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, 12], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, 9], 1, Concat, [1]]
  - [-1, 3, C2f, [1024]]
  - [[15, 18, 21], 1, Detect, [nc]]
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="output path without extension (writes .onnx, .json)")
    ap.add_argument("--seed", type=int, default=1, help="dataset seed (the held-out videos use another one)")
    ap.add_argument("--videos", type=int, default=40)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--every", type=int, default=3, help="every K-th frame becomes a training image")
    ap.add_argument("--val-fraction", type=float, default=0.25, help="share of the videos held for validation")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--imgsz", type=int, default=384)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workdir", type=Path, help="keep the dataset and the training run here")
    ap.add_argument("--init", type=Path, help="start from these weights (a .pt of an earlier run) instead of scratch")
    ap.add_argument("--hours", type=float, help="stop training after this long (ultralytics' time=: the epochs "
                    "and the learning-rate schedule are fitted to it after the first epoch)")
    ap.add_argument("--workers", type=int, default=0, help="data-loader processes (0: in the main process)")
    ap.add_argument("--cache", choices=["ram", "disk"], help="ultralytics' image cache (default none)")
    ap.add_argument("--jobs", type=int, default=1, help="processes rendering the dataset (gen_dataset.py --jobs)")
    a = ap.parse_args()

    import torch
    import ultralytics
    from ultralytics import YOLO
    from ultralytics.utils import SETTINGS

    SETTINGS.update({"sync": False})
    try:
        import polars  # noqa: F401  (ultralytics reads its results.csv with it)
    except ImportError:
        from ultralytics.engine.trainer import BaseTrainer

        def read_results_csv(self):
            """results.csv as {column: [values]} without polars (the lent GPU machine lacks it)."""
            import csv

            try:
                with open(self.csv, newline="") as f:
                    rows = list(csv.DictReader(f))
            except OSError:
                return {}
            return {k.strip(): [float(r[k]) for r in rows] for k in (rows[0] if rows else {})}

        BaseTrainer.read_results_csv = read_results_csv
    work = a.workdir or Path(tempfile.mkdtemp(prefix="vp_train_"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    t0 = time.time()
    subprocess.run([sys.executable, str(HERE / "gen_dataset.py"), "--out", str(data), "--seed", str(a.seed),
                    "--videos", str(a.videos), "--frames", str(a.frames), "--no-video",
                    "--yolo-dir", str(data / "yolo"), "--yolo-every", str(a.every), "--val-fraction", str(a.val_fraction), "--jobs", str(a.jobs)], check=True)
    t_data = time.time() - t0
    meta = json.loads((data / "dataset.json").read_text())
    names = meta["classes"] if isinstance(meta.get("classes"), list) else None
    if not names:
        import yaml

        y = yaml.safe_load((data / "yolo" / "data.yaml").read_text())
        names = [y["names"][i] for i in sorted(y["names"])]
    yaml_path = work / "vp_detector.yaml"
    yaml_path.write_text(MODEL_YAML.format(nc=len(names), width=a.width))

    torch.manual_seed(a.seed)
    model = YOLO(str(a.init) if a.init else str(yaml_path))
    res = model.train(data=str(data / "yolo" / "data.yaml"), epochs=a.epochs, imgsz=a.imgsz, batch=a.batch,
                      device=a.device, workers=a.workers, seed=a.seed, deterministic=True,
                      pretrained=str(a.init) if a.init else False, amp=False,
                      plots=False, project=str(work / "runs"), name="train", exist_ok=True, verbose=False,
                      mosaic=1.0, close_mosaic=max(1, a.epochs // 5), patience=a.epochs,
                      cache=a.cache or False, **({"time": a.hours} if a.hours else {}))
    best = work / "runs" / "train" / "weights" / "best.pt"
    trained = YOLO(str(best))
    f = trained.export(format="onnx", imgsz=a.imgsz, dynamic=True, simplify=True, opset=17, device="cpu")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(f, a.out.with_suffix(".onnx"))
    shutil.copy(best, a.out.with_suffix(".pt"))  # for --init of a later run; not needed by vidpipe
    metrics = {k: float(v) for k, v in (getattr(res, "results_dict", {}) or {}).items()}
    info = {
        "command": " ".join(sys.argv),
        "classes": names,
        "imgsz": a.imgsz,
        "width": a.width,
        "dataset": {"seed": a.seed, "videos": a.videos, "frames": a.frames, "every": a.every,
                    "val_fraction": a.val_fraction},
        "epochs": a.epochs,
        "epochs_run": int(getattr(getattr(model, "trainer", None), "epoch", -1)) + 1,
        "hours": a.hours,
        "init": str(a.init) if a.init else None,
        "device": a.device,
        "versions": {"ultralytics": ultralytics.__version__, "torch": torch.__version__},
        "val_metrics": metrics,
        "seconds": round(time.time() - t0, 1),
        "dataset_seconds": round(t_data, 1),
    }
    a.out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"train_detector: {a.out.with_suffix('.onnx')} ({a.out.with_suffix('.onnx').stat().st_size / 1e6:.2f} MB), "
          f"val {metrics}, {info['seconds']} s")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
