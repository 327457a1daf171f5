#!/usr/bin/env bash
# The main job on the embedded default: build, generate YOLOv8n (random
# weights, 640x640, dynamic batch) and benchmark the CPU engine on it against
# ONNX Runtime with the same thread count, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
python3 tools/gen_models.py --outdir build/models --only yolov8n
build/vidpipe info
python3 bench/cpu_vs_ort.py --vidpipe build/vidpipe --model build/models/yolov8n.onnx \
    --batch 1,8 --threads "$(nproc)" --iters "${VP_ITERS:-10}"
