/* vidpipe decode / decode-bench (tools/vidpipe/cmd_media.c). */
#ifndef VP_TOOLS_CMD_MEDIA_H
#define VP_TOOLS_CMD_MEDIA_H

#define VP_MEDIA_USAGE                                                                              \
    "  decode [--hw auto|nvdec|cpu] [--md5] [--frames N] [--threads N] [--device N]\n"              \
    "         [--gpu-only] [--rtsp-transport tcp|udp] [--live] [--max-reconnects N] INPUT\n"        \
    "                                      decode a file or URL; --md5 prints one line per\n"         \
    "                                      frame: frame N pts W H fmt md5(Y) md5(UV)\n"              \
    "  decode-bench [--hw nvdec|cpu] [--streams 1,4,8,16] [--seconds S] [--threads N]\n"           \
    "         [--json] INPUT                N threads each decode their own copy of INPUT in\n"     \
    "                                      a loop: frames/s and host CPU ms per frame of\n"          \
    "                                      steady-state decoding (decoder start excluded)\n"

int vp_cmd_decode(int argc, char **argv);
int vp_cmd_decode_bench(int argc, char **argv);

#endif
