#!/usr/bin/env bash
# Install the Python packages used by tools/gen_models.py, tests/parity_ort.py,
# tools/eval.py (scipy), tests/tools/eval_test.py (pycocotools, motmetrics)
# and bench/cpu_vs_ort.py. Idempotent: when everything already imports it only
# prints the summary line. Options: --force (run pip even so).
# Environment: PYTHON (default python3).
#
# Note on size: PyPI has no CPU-only torch for Linux x86_64. Its torch wheel is
# the CUDA build (libtorch_cuda.so links libcudart, cuBLAS, cuDNN, NCCL, ...),
# so pip pulls the nvidia-* / cuda-toolkit wheels and triton: about 5.6 GB
# installed, ~2 minutes on the project's machines. CPU-only wheels exist only
# on the PyTorch package index, which is not reachable here; `pip install
# --no-deps torch` without the CUDA wheels gives a torch that cannot import.
set -euo pipefail

PY=${PYTHON:-python3}
PKGS=(numpy onnx onnxruntime torch torchvision ultralytics onnxslim prometheus-client filterpy scipy pycocotools motmetrics)
force=0
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "setup-python: unknown option $a" >&2; exit 2 ;;
  esac
done

# Prints "numpy 2.x, onnx 1.x, ..." or fails when something does not import.
versions() {
  YOLO_OFFLINE=1 YOLO_VERBOSE=False YOLO_CONFIG_DIR="${TMPDIR:-/tmp}/vp_setup_ultra_cfg" "$PY" - <<'EOF' | tail -n 1
import importlib
names = ["numpy", "onnx", "onnxruntime", "torch", "torchvision", "ultralytics", "onnxslim", "cv2", "prometheus_client", "filterpy", "scipy", "pycocotools", "motmetrics"]
out = []
for n in names:
    m = importlib.import_module(n)
    out.append(f"{'opencv' if n == 'cv2' else n} {getattr(m, '__version__', '?')}")
print(", ".join(out))
EOF
}

if [ "$force" = 0 ] && summary=$(versions 2>/dev/null); then
  echo "setup-python: already installed ($("$PY" -c 'import sys; print(sys.executable)')): $summary"
  exit 0
fi

start=$(date +%s)
"$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "${PKGS[@]}"

# ultralytics imports cv2 (opencv-python), whose bundled Qt needs libGL/glib.
if ! err=$(YOLO_OFFLINE=1 "$PY" -c 'import cv2' 2>&1); then
  if echo "$err" | grep -q 'lib.*\.so'; then
    echo "setup-python: cv2 import failed ($err); installing libgl1 libglib2.0-0" >&2
    if [ "$(id -u)" = 0 ]; then
      apt-get install -y -q libgl1 libglib2.0-0 >/dev/null || \
        { apt-get update -q >/dev/null && apt-get install -y -q libgl1 libglib2.0-0 >/dev/null; }
    else
      sudo apt-get install -y -q libgl1 libglib2.0-0 >/dev/null
    fi
  fi
fi

summary=$(versions)
site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
size=$(du -sh "$site" 2>/dev/null | cut -f1)
echo "setup-python: installed in $(( $(date +%s) - start )) s into $site ($size): $summary"
