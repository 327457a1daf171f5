#!/usr/bin/env bash
# The main job on the embedded default: build, generate the test models
# (random weights) and a test video, then run the whole pipeline on it
# (decode, batching, preprocessing, engine, post-processing, ByteTrack,
# JSON Lines and an annotated video), and benchmark the CPU engine against
# ONNX Runtime with the same thread count, in one run. The detector has
# random weights (a trained one is the tracking issue's work): its boxes
# show that every stage runs, not what is in the picture.
# Outputs: build/demo/results.jsonl, build/demo/annotated.mkv, build/demo/trace.json
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
python3 tools/gen_models.py --outdir build/models --only yolov8n,yolov8n-video
scripts/gen_media.sh build/media >/dev/null
build/vidpipe info
mkdir -p build/demo
build/vidpipe run --backend "${VP_BACKEND:-cpu}" --model build/models/yolov8n-video.onnx \
    --source build/media/h264_1080p.mp4 --batch 4 --track \
    --sink build/demo/results.jsonl --sink video:build/demo/annotated.mkv --trace build/demo/trace.json
echo "demo: results in build/demo/ (results.jsonl, annotated.mkv, trace.json)"
python3 bench/cpu_vs_ort.py --vidpipe build/vidpipe --model build/models/yolov8n.onnx \
    --batch 1,8 --threads "$(nproc)" --iters "${VP_ITERS:-10}"
