/*
 * vp_crop_tool: command-line access to the CPU crop + resize
 * (vision/crop.h), for crop_ref.py, which compares it with OpenCV's
 * cv2.resize on the same rectangles and with a numpy model of the YUV
 * sampling.
 *
 *   vp_crop_tool RAW FORMAT W H DW DH BOXES OUT.npy
 *       RAW: the picture's planes back to back, rows without padding
 *       (FORMAT nv12: Y then UV; yuv420p: Y, U, V; rgb24/bgr24: packed),
 *       BT.601 limited range for YUV. BOXES: a text file, one box
 *       "x0 y0 x1 y1" per line. Writes all crops as float32
 *       [N,3,DH,DW] (RGB, x / 255) and prints one line per box with its
 *       integer rectangle "rect x y w h".
 *
 * Exit: 0 ok, 1 failure, 2 bad usage.
 */
#include "vision/crop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BOXES 4096

static int write_npy(const char *path, const float *d, int n, int h, int w)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    char hdr[128];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 3, %d, %d), }", n, h, w);
    int pad = 64 - (10 + len + 1) % 64;
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    unsigned short hl = (unsigned short)(len + pad + 1);
    fputc(hl & 0xff, f);
    fputc(hl >> 8, f);
    fwrite(hdr, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    size_t cnt = (size_t)n * 3 * (size_t)h * (size_t)w;
    int bad = fwrite(d, sizeof *d, cnt, f) != cnt;
    return fclose(f) != 0 || bad;
}

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: vp_crop_tool RAW nv12|yuv420p|rgb24|bgr24 W H DW DH BOXES OUT.npy\n");
        return 2;
    }
    const int fmt = vp_pre_format_parse(argv[2]);
    const int w = atoi(argv[3]), h = atoi(argv[4]), dw = atoi(argv[5]), dh = atoi(argv[6]);
    if (fmt < 0 || w < 1 || h < 1 || dw < 1 || dh < 1) {
        fprintf(stderr, "vp_crop_tool: bad format or size\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *raw = malloc((size_t)bytes + 1);
    if (!raw || fread(raw, 1, (size_t)bytes, f) != (size_t)bytes) {
        fprintf(stderr, "vp_crop_tool: cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    const int cw = (w + 1) / 2, ch = (h + 1) / 2;
    vp_pre_src src = {.format = (vp_pre_format)fmt, .width = w, .height = h, .matrix = VP_PRE_BT601,
                      .range = VP_PRE_RANGE_LIMITED};
    src.plane[0] = raw;
    if (fmt == VP_PRE_NV12) {
        src.pitch[0] = (size_t)w, src.plane[1] = raw + (size_t)w * h, src.pitch[1] = (size_t)cw * 2;
    } else if (fmt == VP_PRE_YUV420P) {
        src.pitch[0] = (size_t)w;
        src.plane[1] = raw + (size_t)w * h, src.pitch[1] = (size_t)cw;
        src.plane[2] = raw + (size_t)w * h + (size_t)cw * ch, src.pitch[2] = (size_t)cw;
    } else {
        src.pitch[0] = (size_t)w * 3;
    }
    static vp_crop crops[MAX_BOXES];
    int n = 0;
    FILE *bf = fopen(argv[7], "r");
    if (!bf) {
        perror(argv[7]);
        return 1;
    }
    while (n < MAX_BOXES && fscanf(bf, "%f %f %f %f", &crops[n].x0, &crops[n].y0, &crops[n].x1, &crops[n].y1) == 4)
        crops[n++].src = 0;
    fclose(bf);
    vp_pre_params p;
    vp_pre_params_default(&p);
    p.dst_width = dw, p.dst_height = dh;
    float *out = malloc((size_t)(n ? n : 1) * vp_pre_slot_elems(&p) * sizeof(float));
    if (!out || vp_crop_cpu(&src, 1, crops, n, &p, out, 0) != VP_OK) {
        fprintf(stderr, "vp_crop_tool: crop failed\n");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        vp_crop_rect r;
        vp_crop_rect_of(crops[i].x0, crops[i].y0, crops[i].x1, crops[i].y1, w, h, &r);
        printf("rect %d %d %d %d\n", r.x, r.y, r.w, r.h);
    }
    int rc = write_npy(argv[8], out, n, dh, dw);
    free(out);
    free(raw);
    return rc;
}
