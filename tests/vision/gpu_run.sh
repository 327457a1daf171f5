#!/usr/bin/env bash
# GPU check of the preprocessing kernel (tests/vision/preprocess_gpu.c), in
# two halves, as scripts/gpu-test.sh does for the engine:
#   tests/vision/gpu_run.sh prepare [BUILD_DIR]
#       here (nvcc, no GPU needed): builds vp_preprocess_gpu in BUILD_DIR
#       (default build/, configured with the CUDA plugin) and packs
#       BUILD_DIR/gpu-prep/: the test, libvidpipe.so, libvidpipe_cuda.so and
#       the shared libraries a bare GPU machine lacks (oneDNN, protobuf-c,
#       libgomp, OpenCL loader). Carry that folder to the GPU machine.
#   tests/vision/gpu_run.sh run [BUILD_DIR]
#       on the GPU machine, repository root: GPU vs CPU on every case, then
#       the benchmark (--bench). Exit 0 pass, 1 fail, 77 no usable GPU.
set -uo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-}
b=${2:-build}
out=$b/gpu-prep

if [ "$mode" = prepare ]; then
  cmake --build "$b" -j "${VP_JOBS:-2}" --target vp_preprocess_gpu || exit 1
  rm -rf "$out" && mkdir -p "$out/bin"
  cp "$b/tests/vision/vp_preprocess_gpu" "$b/libvidpipe.so" "$b/libvidpipe_cuda.so" "$out/bin/" || exit 1
  tar -chJf "$out/libs.tar.xz" -C /lib/x86_64-linux-gnu libdnnl.so.2 libprotobuf-c.so.1 libgomp.so.1 libOpenCL.so.1 || exit 1
  du -sh "$out"
  echo "carry: $out"
  exit 0
fi
if [ "$mode" != run ]; then
  echo "usage: $0 prepare [BUILD_DIR] | run [BUILD_DIR]" >&2
  exit 2
fi
lib=/tmp/vp-prep-libs; mkdir -p "$lib"; tar -xJf "$out/libs.tar.xz" -C "$lib" || exit 1
cudnn=$(find / -xdev -name 'libcudnn.so.9' -not -path '*/proc/*' 2>/dev/null | head -1)
cublas=$(find / -xdev -name 'libcublas.so.13' -not -path '*/proc/*' 2>/dev/null | head -1)
bin=$PWD/$out/bin
export LD_LIBRARY_PATH="$bin:$lib:$(dirname "${cudnn:-/x/x}"):$(dirname "${cublas:-/x/x}"):${LD_LIBRARY_PATH:-}"
echo "== cudnn: ${cudnn:-not found}; cublas: ${cublas:-not found}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
"$bin/vp_preprocess_gpu" --bench
