/* vidpipe run (tools/vidpipe/cmd_run.c). */
#ifndef VP_TOOLS_CMD_RUN_H
#define VP_TOOLS_CMD_RUN_H

#define VP_RUN_USAGE                                                                                \
    "  run   [--config CONFIG] [--model M.onnx] [--task detect|pose|segment|semseg]\n"              \
    "        [--source URI ...] [--sink [jsonl:|video:|snapshot:]PATH ...] [--backend cpu|cuda]\n" \
    "        [--precision fp32|fp16] [--batch N] [--timeout-ms T] [--mode throughput|latency]\n"   \
    "        [--hw auto|nvdec|cpu] [--gpu N] [--gpu-only] [--conf C] [--iou I] [--max-det N]\n"    \
    "        [--threads N] [--max-frames N] [--track] [--trace FILE] [--http-port P] [--serve]\n"    \
    "        [--stats FILE|-] [--quiet]\n"                                                           \
    "                                      the multi-stream pipeline: decode, batch,\n"             \
    "                                      preprocess, infer, post-process, write results\n"       \
    "                                      (JSON Lines; video: annotated video per stream;\n"    \
    "                                      snapshot: annotated pictures, PATH a template\n"      \
    "                                      like snaps/{stream}-{frame}.jpg, at most one\n"       \
    "                                      per 30 frames of a frame with detections;\n"          \
    "                                      sinks[].every / min_detections in a config);\n"      \
    "                                      each flag sets the config key of\n"                   \
    "                                      the same meaning (docs/CONFIG.md), over --config;\n"    \
    "                                      prints per-stream and per-stage statistics;\n"         \
    "                                      --track: ByteTrack ids; --trace: Chrome trace;\n"      \
    "                                      --http-port: /metrics, /stats, /sources (token\n"      \
    "                                      from $VIDPIPE_TOKEN); --serve: wait for sources\n"     \
    "                                      SIGINT/SIGTERM stop and flush\n"

int vp_cmd_run(int argc, char **argv);

#endif
