#!/usr/bin/env bash
# Generates the media of the media tests with the ffmpeg CLI (testsrc2), into
# OUTDIR (default build/media). Not committed: run by scripts/test.sh before
# ctest. A few seconds of video each; idempotent (skips files that exist).
#   h264_1080p.{h264,mp4,mkv,ts,flv}   H.264 High, B-frames, 1920x1080
#   (each stream is encoded once into .mkv, the others are copies of it)
#   h264_odd.{h264,mp4,mkv}              1918x1078 (cropping), B-frames
#   h264_portrait.h264                720x1280
#   h264_360p.h264                     640x360, no B-frames (Baseline)
#   hevc_1080p.{h265,mp4,mkv,ts}      HEVC Main 8-bit, B-frames
#   hevc10_640.{h265,mkv}                HEVC Main10 (yuv420p10le)
#   hevc_odd.{h265,mkv}                   1918x1078
#   reschange.h264                     640x360 then 320x240 (two streams concatenated);
#                                      parts in reschange_a.h264, reschange_b.h264
#   truncated.h264 / truncated.mp4     cut in the middle
#   garbage.h264 / garbage.mp4         random bytes
#   mpeg4.mp4                          MPEG-4 part 2 video (unsupported codec)
#   audio_only.m4a                     AAC audio, no video
# With VP_BENCH_MEDIA=1 also the pipeline benchmark's stream (ANCHORS.md's):
#   bench_1080p30.{h264,mp4}           10 s of testsrc2, 1920x1080 at 30 fps, H.264 ~5.8 Mbit/s
#   bench_1080p30_ipp.h264             the same without B-frames (as cameras send), for latency
set -euo pipefail
out=${1:-build/media}
mkdir -p "$out"
cd "$out"
ff() { ffmpeg -hide_banner -loglevel error -nostdin -y "$@"; }
src() { # WxH seconds
  echo "-f lavfi -i testsrc2=size=$1:rate=25:duration=$2"
}
# encode once into Matroska (keeps pts with B-frames), derive the others by copying
enc() { # name WxH seconds codec-args...
  local name=$1 size=$2 dur=$3; shift 3
  [ -f "$name.mkv" ] || ff $(src "$size" "$dur") "$@" "$name.mkv"
}
derive() { # name ext...
  local name=$1; shift
  for e in "$@"; do
    case $e in
      h264) [ -f "$name.h264" ] || ff -i "$name.mkv" -c copy -bsf:v h264_mp4toannexb -f h264 "$name.h264" ;;
      h265) [ -f "$name.h265" ] || ff -i "$name.mkv" -c copy -bsf:v hevc_mp4toannexb -f hevc "$name.h265" ;;
      mp4) [ -f "$name.mp4" ] || ff -i "$name.mkv" -c copy $( [[ $name == hevc* ]] && echo -tag:v hvc1 ) "$name.mp4" ;;
      *) [ -f "$name.$e" ] || ff -i "$name.mkv" -c copy "$name.$e" ;;
    esac
  done
}
x264="-c:v libx264 -preset veryfast -pix_fmt yuv420p"
x265="-c:v libx265 -preset ultrafast -x265-params log-level=error:bframes=2:keyint=25"

enc h264_1080p 1920x1080 2 $x264 -bf 2 -g 25;          derive h264_1080p h264 mp4 ts flv
enc h264_odd 1918x1078 1 $x264 -bf 3 -g 12;            derive h264_odd h264 mp4
enc h264_portrait 720x1280 1 $x264 -bf 2 -g 25;        derive h264_portrait h264
enc h264_360p 640x360 2 $x264 -profile:v baseline -g 30; derive h264_360p h264
enc hevc_1080p 1920x1080 1 $x265 -pix_fmt yuv420p;     derive hevc_1080p h265 mp4 ts
enc hevc10_640 640x360 1 $x265 -pix_fmt yuv420p10le;   derive hevc10_640 h265
enc hevc_odd 1918x1078 1 $x265 -pix_fmt yuv420p;       derive hevc_odd h265
[ -f reschange_a.h264 ] || ff $(src 640x360 1) $x264 -bf 2 -g 25 -f h264 reschange_a.h264
[ -f reschange_b.h264 ] || ff $(src 320x240 1) $x264 -bf 2 -g 25 -f h264 reschange_b.h264
[ -f reschange.h264 ] || cat reschange_a.h264 reschange_b.h264 > reschange.h264
[ -f truncated.h264 ] || head -c $(( $(stat -c %s h264_1080p.h264) * 6 / 10 + 1234 )) h264_1080p.h264 > truncated.h264
[ -f truncated.mp4 ] || head -c $(( $(stat -c %s h264_1080p.mp4) / 2 )) h264_1080p.mp4 > truncated.mp4
[ -f garbage.h264 ] || head -c 300000 /dev/urandom | tr -d '\000' > garbage.h264
[ -f garbage.mp4 ] || head -c 300000 /dev/urandom > garbage.mp4
[ -f mpeg4.mp4 ] || ff $(src 320x240 1) -c:v mpeg4 mpeg4.mp4
[ -f audio_only.m4a ] || ff -f lavfi -i sine=frequency=440:duration=1 -c:a aac audio_only.m4a
if [ "${VP_BENCH_MEDIA:-0}" = 1 ]; then
  [ -f bench_1080p30.mkv ] || ff -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=10 \
      -c:v libx264 -preset veryfast -pix_fmt yuv420p -b:v 5800k -maxrate 6000k -bufsize 12000k -bf 2 -g 30 bench_1080p30.mkv
  derive bench_1080p30 h264 mp4
  # as cameras send it: no B-frames (IPPP), for the latency measurement
  [ -f bench_1080p30_ipp.h264 ] || ff -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=10 \
      -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p -b:v 5800k -bf 0 -g 30 -f h264 bench_1080p30_ipp.h264
fi
echo "gen_media: $(ls | wc -l) files in $PWD"
