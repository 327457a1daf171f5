#!/usr/bin/env bash
# Configure and build one flavour of vidpipe.
#   scripts/build.sh [release|asan|fuzz]   (default release)
# Build folders: build/ (release), build-asan/, build-fuzz/ (clang, libFuzzer).
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
jobs=${VP_JOBS:-$(nproc)}
# VP_CUDA_ARCHS: GPU architectures of the CUDA plugin (CMake list); the
# default covers sm_75..sm_90 plus PTX. Sanitizer builds skip the plugin.
# VP_CUDA_ARCHS=none: no CUDA plugin at all (a CPU-only machine that wants a
# quick build).
cuda_args=()
if [ "${VP_CUDA_ARCHS:-}" = none ]; then
  cuda_args=(-DVP_CUDA=OFF)
elif [ -n "${VP_CUDA_ARCHS:-}" ]; then
  cuda_args=(-DVP_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$VP_CUDA_ARCHS")
fi
case "$flavour" in
  release) dir=build;      args=(-DCMAKE_BUILD_TYPE=Release "${cuda_args[@]}") ;;
  asan)    dir=build-asan; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVP_SANITIZE=ON -DVP_CUDA=OFF) ;;
  fuzz)    dir=build-fuzz; args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVP_FUZZ=ON -DCMAKE_C_COMPILER=clang) ;;
  *) echo "usage: $0 [release|asan|fuzz]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
