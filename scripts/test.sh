#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
#   1. install dependencies (Debian packages, PyPI test tooling)
#   2. release build; generate the test models (tools/gen_models.py) and
#      the test media (scripts/gen_media.sh)
#   3. ctest: ONNX node tests, malformed models, parity with ONNX Runtime,
#      media (decode against ffmpeg, bad media, RTSP reconnect)
#   4. ASan+UBSan build: the same tests minus whole-model parity
#   5. libFuzzer build: the loader fuzzed for 60 s
# Prints one summary line at the end; exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export VP_JOBS=${VP_JOBS:-2}
# CI has no GPU: compile the CUDA plugin for one architecture only, to prove it
# builds (scripts/gpu-test.sh builds all of them for the GPU machine).
export VP_CUDA_ARCHS=${VP_CUDA_ARCHS:-90}
scripts/setup.sh || { echo "setup failed"; exit 1; }

total_pass=0; total_fail=0; total_skip=0
run_ctest() { # dir, extra args...
  local dir=$1; shift
  local log; log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$log"
  local p f s
  p=$(grep -cE "^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed" "$log")
  f=$(grep -cE "^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*(Failed|Exception|Timeout)" "$log")
  s=$(grep -cE "^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped" "$log")
  # a ctest that could not even start (configuration error) counts as a failure
  grep -q "No tests were found" "$log" && f=$((f + 1))
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f)); total_skip=$((total_skip + s))
  rm -f "$log"
}

scripts/build.sh release || { echo "release build failed"; echo "0 passed, 1 failed"; exit 1; }
if ! python3 tools/gen_models.py --outdir build/models \
       --only yolov8n,yolov8n-video,yolo11n,yolo11n-pose,yolo11n-seg,yolo12n,resnet50,mobilenetv3,deeplabv3; then
  echo "model generation failed: the parity tests cannot run"; total_fail=$((total_fail + 1))
fi
if ! scripts/gen_media.sh build/media; then
  echo "media generation failed: the media tests cannot run"; total_fail=$((total_fail + 1))
fi
run_ctest build

if [ "${VP_SKIP_SANITIZERS:-0}" != 1 ]; then
  if scripts/build.sh asan; then
    # the media tests read build/media (generated above)
    cmake -S . -B build-asan -DVP_MEDIA_DIR="$PWD/build/media" -DVP_MODELS_DIR="$PWD/build/models" >/dev/null
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest build-asan -LE parity
  else
    echo "asan build failed"; total_fail=$((total_fail + 1))
  fi
  if scripts/build.sh fuzz; then
    run_ctest build-fuzz -R fuzz
  else
    echo "fuzz build failed"; total_fail=$((total_fail + 1))
  fi
fi

echo "tests: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ]
