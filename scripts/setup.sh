#!/usr/bin/env bash
# Installs what vidpipe needs to build and test on Debian 12: compilers and
# libraries from Debian, Python test tooling from PyPI. Idempotent; run as
# root (or with sudo available).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

debs=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata
      libdnnl-dev libcjson-dev libmicrohttpd-dev
      ffmpeg libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libffmpeg-nvenc-dev
      gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
      gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-gi)
if [ "${VP_SETUP_DEMO:-0}" = 1 ]; then
  # the demo (scripts/demo.sh) builds and runs; the test-only packages
  # (clang for the fuzzer, ONNX's test data, GStreamer's RTSP server) wait
  debs=(build-essential cmake pkg-config libprotobuf-c-dev protobuf-c-compiler libonnx-dev
        libdnnl-dev libcjson-dev libmicrohttpd-dev
        ffmpeg libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libffmpeg-nvenc-dev)
fi
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: Debian packages present (${#debs[@]})"

if [ "${VP_SKIP_PYTHON:-0}" != 1 ]; then
  bash "$here/setup-python.sh"
fi
