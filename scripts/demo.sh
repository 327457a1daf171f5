#!/usr/bin/env bash
# The main job on the embedded default, on a machine with or without a GPU:
#   1. install what is missing, build (without the CUDA plugin when no
#      NVIDIA GPU is present, for speed: VP_CUDA_ARCHS overrides);
#   2. render a held-out synthetic video with ground truth
#      (tools/gen_dataset.py, seed 1000: the detector was trained on seed 1);
#   3. run the whole pipeline on it with the committed detector
#      (assets/shapes.onnx, trained by tools/train_detector.py; until one is
#      committed, YOLOv8n with random weights from tools/gen_models.py): decode,
#      batching, preprocessing, engine, post-processing, ByteTrack, JSON Lines
#      and an annotated video, a Chrome trace;
#   4. score the results against the ground truth (tools/eval.py): mAP@0.5,
#      mAP@0.5:0.95, MOTA, IDF1, ID switches.
# Outputs in build/demo/: results.jsonl, annotated.mkv, trace.json, eval.json.
# VP_BACKEND=cuda runs the GPU path instead; VP_DEMO_BENCH=1 also benchmarks
# the CPU engine against ONNX Runtime on YOLOv8n.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
VP_SKIP_PYTHON=1 VP_SETUP_DEMO=1 scripts/setup.sh
python3 -c 'import numpy, scipy' 2>/dev/null || python3 -m pip install --quiet --root-user-action=ignore numpy scipy
if [ -z "${VP_CUDA_ARCHS:-}" ] && ! command -v nvidia-smi >/dev/null 2>&1; then
  export VP_CUDA_ARCHS=none
fi
scripts/build.sh release
out=build/demo
mkdir -p "$out"
python3 tools/gen_dataset.py --out "$out/video" --seed 1000 --videos 1 --frames 300 --size 640x384
if [ -f assets/shapes.onnx ]; then
  model=assets/shapes.onnx
else
  # no trained detector in this checkout yet: the YOLOv8n architecture with
  # random weights (every stage runs; the accuracy table then shows ~0)
  echo "demo: assets/shapes.onnx is not there: using yolov8n-video (random weights)"
  bash scripts/setup-python.sh
  python3 tools/gen_models.py --outdir build/models --only yolov8n-video --no-check
  model=build/models/yolov8n-video.onnx
fi
python3 tools/demo_config.py --model "$model" --source "$out/video/vid000.mp4" --backend "${VP_BACKEND:-cpu}" \
  --sink "$out/results.jsonl" --video "$out/annotated.mkv" --trace "$out/trace.json" > "$out/config.json"
build/vidpipe check "$out/config.json"
build/vidpipe run --config "$out/config.json" --stats "$out/stats.json"
python3 tools/eval.py --results "$out/results.jsonl" --gt "$out/video/vid000.gt.jsonl"
python3 tools/eval.py --results "$out/results.jsonl" --gt "$out/video/vid000.gt.jsonl" --json > "$out/eval.json"
echo "demo: done in $(( $(date +%s) - start )) s; results in $out/ (results.jsonl, annotated.mkv, trace.json, eval.json)"
if [ "${VP_DEMO_BENCH:-0}" = 1 ]; then
  bash scripts/setup-python.sh
  python3 tools/gen_models.py --outdir build/models --only yolov8n
  python3 bench/cpu_vs_ort.py --vidpipe build/vidpipe --model build/models/yolov8n.onnx \
      --batch 1,8 --threads "$(nproc)" --iters "${VP_ITERS:-10}"
fi
