#!/usr/bin/env python3
"""The demo's pipeline config (docs/CONFIG.md) for one video, on stdout.

    tools/demo_config.py --model M.onnx --source VIDEO --sink OUT.jsonl
                         [--video OUT.mkv] [--trace OUT.json] [--backend cpu|cuda]
                         [--reid REID.onnx]

The input size and class names come from M.json beside the model when it is
there (tools/train_detector.py writes it); otherwise 640x640 and the model's
own metadata. The tracker is on; conf 0.25, IoU 0.5, batch 4: the same
settings for scripts/demo.sh (CPU) and scripts/gpu-test.sh run train (GPU),
so their scores can be compared.
"""

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path)
    ap.add_argument("--source", required=True)
    ap.add_argument("--sink", required=True, help="JSON Lines results")
    ap.add_argument("--video", help="annotated video")
    ap.add_argument("--trace", help="Chrome trace")
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--reid", help="appearance model for the tracker (assets/reid.onnx)")
    a = ap.parse_args()
    model = {"path": str(a.model), "backend": a.backend, "conf_threshold": 0.25, "iou_threshold": 0.5}
    side = a.model.with_suffix(".json")
    if side.is_file():
        try:
            info = json.loads(side.read_text())
            model["input"] = {"width": int(info["imgsz"]), "height": int(info["imgsz"])}
            model["classes"] = list(info["classes"])
        except (ValueError, KeyError, TypeError) as e:
            print(f"demo_config: {side}: not a train_detector.py record ({e})", file=sys.stderr)
            return 2
    else:
        model["input"] = {"width": 640, "height": 640}
    sinks = [{"type": "jsonl", "path": a.sink}]
    if a.video:
        sinks.append({"type": "video", "path": a.video})
    cfg = {"sources": [{"id": "s0", "uri": a.source}], "model": model, "batch": {"max": 4},
           "tracker": {"enabled": True}, "sinks": sinks}
    if a.reid:
        cfg["tracker"]["reid"] = {"model": a.reid}
    if a.trace:
        cfg["profile"] = {"trace": a.trace}
    json.dump(cfg, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
