#!/usr/bin/env bash
# GPU test set, in two halves:
#   scripts/gpu-test.sh prepare [MODELS_DIR]
#       here (any machine with nvcc): builds build-gpu/ for sm_75..sm_90 (+PTX)
#       and packs .devcarry/ with the shared libraries the GPU machine lacks
#       (oneDNN, protobuf-c, libgomp) and the ultralytics models (the GPU
#       machine has PyTorch but no ultralytics).
#   scripts/gpu-test.sh run
#       on the GPU machine, in the repository root with .devcarry/ present
#       (binaries in .devcarry/bin): ONNX node tests through the CUDA backend, and
#       CUDA-vs-CPU parity on every model at batch 1 and 16; generates the
#       torchvision models there. Prints "gpu tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}

if [ "$mode" = prepare ]; then
  models=${2:-build/models}
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release >/dev/null || exit 1
  cmake --build build-gpu -j "${VP_JOBS:-2}" || exit 1
  rm -rf .devcarry && mkdir -p .devcarry
  grep -qx '/.devcarry/' .git/info/exclude 2>/dev/null || echo '/.devcarry/' >> .git/info/exclude
  tar -chJf .devcarry/libs.tar.xz -C /lib/x86_64-linux-gnu libdnnl.so.2 libprotobuf-c.so.1 libgomp.so.1 libOpenCL.so.1
  tar -cJf .devcarry/nodetests.tar.xz -C /usr/include/onnx/backend/test/data node
  mkdir -p .devcarry/bin
  cp build-gpu/vidpipe build-gpu/libvidpipe.so build-gpu/libvidpipe_cuda.so build-gpu/tests/vp_node_tests .devcarry/bin/
  for m in ${VP_GPU_MODELS:-yolov8n yolo12n}; do
    [ -f "$models/$m.onnx" ] && cp "$models/$m.onnx" .devcarry/
  done
  du -sh .devcarry
  exit 0
fi

if [ "$mode" != run ]; then
  echo "usage: $0 prepare [MODELS_DIR] | run" >&2
  exit 2
fi

pass=0; fail=0; skip=0
note() { echo "== $*"; }
lib=/tmp/vp-libs; mkdir -p "$lib"; tar -xJf .devcarry/libs.tar.xz -C "$lib"
cudnn=$(find / -xdev -name 'libcudnn.so.9' -not -path '*/proc/*' 2>/dev/null | head -1)
cublas=$(find / -xdev -name 'libcublas.so.13' -not -path '*/proc/*' 2>/dev/null | head -1)
bin=$PWD/.devcarry/bin
export LD_LIBRARY_PATH="$bin:$lib:$(dirname "${cudnn:-/x/x}"):$(dirname "${cublas:-/x/x}"):${LD_LIBRARY_PATH:-}"
export VP_CUDA_PLUGIN="$bin/libvidpipe_cuda.so"
note "cudnn: ${cudnn:-not found}; cublas: ${cublas:-not found}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$bin/vidpipe" info | tail -1

note "ONNX node tests, CUDA backend"
mkdir -p /tmp/vp-onnx && tar -xJf .devcarry/nodetests.tar.xz -C /tmp/vp-onnx
out=$("$bin/vp_node_tests" --backend cuda --dir /tmp/vp-onnx/node 2>&1); rc=$?
echo "$out" | grep -E "^(FAIL|SKIP)" | head -60
echo "$out" | tail -3
if [ $rc = 0 ]; then pass=$((pass+1)); elif [ $rc = 77 ]; then skip=$((skip+1)); else fail=$((fail+1)); fi

models=/tmp/vp-models; mkdir -p "$models"
cp .devcarry/*.onnx "$models/" 2>/dev/null
note "generating torchvision models on this machine"
python3 tools/gen_models.py --outdir "$models" --only resnet50,mobilenetv3,deeplabv3 >/dev/null 2>&1 || echo "model generation failed"
for f in "$models"/*.onnx; do
  m=$(basename "$f" .onnx)
  for b in 1 16; do
    python3 tests/parity_backends.py --vidpipe "$bin/vidpipe" --models "$models" --model "$m" --batch $b --precision fp32
    rc=$?
    if [ $rc = 0 ]; then pass=$((pass+1)); elif [ $rc = 77 ]; then skip=$((skip+1)); else fail=$((fail+1)); fi
  done
done
if [ -f .devcarry/yolov8n.onnx ]; then
  note "CUDA backend benchmark (fp32), YOLOv8n 640"
  "$bin/vidpipe" bench --backend cuda --model .devcarry/yolov8n.onnx --batch 1,8,32 --iters 100
fi
echo "gpu tests: $pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
