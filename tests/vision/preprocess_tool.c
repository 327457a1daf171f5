/*
 * vp_pre_tool: command-line access to the CPU preprocessing, for the tests
 * that compare it with independent implementations (preprocess_ref.py).
 *
 *   vp_pre_tool run --input RAW --format F --size WxH [--bits N]
 *                   --offsets O0[,O1[,O2]] --pitches P0[,P1[,P2]]
 *                   [--matrix bt601|bt709|bt2020] [--range limited|full]
 *                   [--dst WxH] [--mode letterbox|topleft|stretch] [--order rgb|bgr]
 *                   [--scale S] [--mean a,b,c] [--std a,b,c] [--pad a,b,c]
 *                   [--dtype fp32|fp16] [--layout nchw|nhwc]
 *                   [--batch B] [--slot I] [--threads T] --out OUT.npy
 *       Reads the planes from RAW (plane i at byte offset Oi, rows Pi bytes
 *       apart), preprocesses into slot I of a batch of B (the other slots
 *       are left as filled: every byte 0xA5, so the caller can check that
 *       nothing else was written), saves the whole batch tensor
 *       ([B,3,H,W] or [B,H,W,3], float32 or float16) and prints the
 *       geometry as "geom x0 y0 w h scale_x scale_y gain".
 *
 *   vp_pre_tool geom < LINES
 *       Each input line "sw sh dw dh mode" -> "x0 y0 w h scale_x scale_y gain"
 *       (or "error"), for the letterbox geometry check against ultralytics.
 *
 *   vp_pre_tool bench [THREADS...]
 *       Times the CPU path on 1920x1080 NV12 -> 640x640 FP16 NCHW letterbox
 *       (default: 1 thread and the OpenMP default). Printed, never asserted.
 *
 *   vp_pre_tool errors
 *       Bad parameters must be refused with VP_ERR_INVALID and must not
 *       crash; a good call is the control. Exit 0 when all behave, 1 if not.
 *
 * Exit: 0 ok, 1 failure, 2 bad usage.
 */
#include "vidpipe/engine.h"
#include "vision/preprocess.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse_size(const char *s, int *w, int *h)
{
    return s && sscanf(s, "%dx%d", w, h) == 2 ? 0 : -1;
}

static int parse_floats(const char *s, float *v, int n)
{
    char *end;
    for (int i = 0; i < n; i++) {
        v[i] = strtof(s, &end);
        if (end == s)
            return -1;
        s = end;
        if (i + 1 < n) {
            if (*s != ',')
                return -1;
            s++;
        }
    }
    return *s ? -1 : 0;
}

/* Up to 3 comma-separated sizes; returns the count or -1. */
static int parse_sizes(const char *s, size_t *v)
{
    int n = 0;
    char *end;
    while (n < 3) {
        v[n++] = (size_t)strtoull(s, &end, 10);
        if (end == s)
            return -1;
        if (!*end)
            return n;
        if (*end != ',')
            return -1;
        s = end + 1;
    }
    return -1;
}

static int usage(const char *msg)
{
    fprintf(stderr, "vp_pre_tool: %s (see the comment at the top of preprocess_tool.c)\n", msg);
    return 2;
}

static int cmd_run(int argc, char **argv)
{
    vp_pre_src src;
    vp_pre_params p;
    memset(&src, 0, sizeof src);
    vp_pre_params_default(&p);
    const char *input = NULL, *out = NULL;
    size_t offs[3] = {0}, pitches[3] = {0};
    int noffs = 0, npitch = 0, batch = 1, slot = 0, threads = 0;
    src.format = VP_PRE_FORMAT_COUNT;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage("option without value");
        i++;
        if (!strcmp(a, "--input")) input = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--format")) {
            int f = vp_pre_format_parse(v);
            if (f < 0)
                return usage("unknown --format");
            src.format = (vp_pre_format)f;
        } else if (!strcmp(a, "--size")) {
            if (parse_size(v, &src.width, &src.height))
                return usage("bad --size");
        } else if (!strcmp(a, "--bits")) src.bit_depth = atoi(v);
        else if (!strcmp(a, "--offsets")) {
            if ((noffs = parse_sizes(v, offs)) < 0)
                return usage("bad --offsets");
        } else if (!strcmp(a, "--pitches")) {
            if ((npitch = parse_sizes(v, pitches)) < 0)
                return usage("bad --pitches");
        } else if (!strcmp(a, "--matrix")) {
            int m = vp_pre_matrix_parse(v);
            if (m < 0)
                return usage("unknown --matrix");
            src.matrix = (vp_pre_matrix)m;
        } else if (!strcmp(a, "--range")) {
            if (!strcmp(v, "limited")) src.range = VP_PRE_RANGE_LIMITED;
            else if (!strcmp(v, "full")) src.range = VP_PRE_RANGE_FULL;
            else return usage("unknown --range");
        } else if (!strcmp(a, "--dst")) {
            if (parse_size(v, &p.dst_width, &p.dst_height))
                return usage("bad --dst");
        } else if (!strcmp(a, "--mode")) {
            if (!strcmp(v, "letterbox")) p.mode = VP_PRE_LETTERBOX;
            else if (!strcmp(v, "topleft")) p.mode = VP_PRE_LETTERBOX_TOPLEFT;
            else if (!strcmp(v, "stretch")) p.mode = VP_PRE_STRETCH;
            else return usage("unknown --mode");
        } else if (!strcmp(a, "--order")) {
            if (!strcmp(v, "rgb")) p.order = VP_PRE_RGB;
            else if (!strcmp(v, "bgr")) p.order = VP_PRE_BGR;
            else return usage("unknown --order");
        } else if (!strcmp(a, "--scale")) {
            if (parse_floats(v, &p.scale, 1))
                return usage("bad --scale");
        } else if (!strcmp(a, "--mean")) {
            if (parse_floats(v, p.mean, 3))
                return usage("bad --mean");
        } else if (!strcmp(a, "--std")) {
            if (parse_floats(v, p.std, 3))
                return usage("bad --std");
        } else if (!strcmp(a, "--pad")) {
            if (parse_floats(v, p.pad, 3))
                return usage("bad --pad");
        } else if (!strcmp(a, "--dtype")) {
            if (!strcmp(v, "fp32")) p.dtype = VP_PRE_FP32;
            else if (!strcmp(v, "fp16")) p.dtype = VP_PRE_FP16;
            else return usage("unknown --dtype");
        } else if (!strcmp(a, "--layout")) {
            if (!strcmp(v, "nchw")) p.layout = VP_PRE_NCHW;
            else if (!strcmp(v, "nhwc")) p.layout = VP_PRE_NHWC;
            else return usage("unknown --layout");
        } else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--slot")) slot = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else
            return usage("unknown option");
    }
    if (!input || !out || src.format == VP_PRE_FORMAT_COUNT || noffs < 1 || npitch != noffs)
        return usage("need --input, --out, --format, and as many --offsets as --pitches");
    if (batch < 1 || slot < 0 || slot >= batch)
        return usage("need 0 <= --slot < --batch");

    FILE *fp = fopen(input, "rb");
    if (!fp) {
        perror(input);
        return 1;
    }
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *raw = malloc(size > 0 ? (size_t)size : 1);
    if (!raw || (size > 0 && fread(raw, 1, (size_t)size, fp) != (size_t)size)) {
        fprintf(stderr, "%s: read failed\n", input);
        fclose(fp);
        free(raw);
        return 1;
    }
    fclose(fp);
    for (int i = 0; i < noffs; i++) {
        if (offs[i] > (size_t)size) {
            free(raw);
            return usage("offset beyond the input file");
        }
        src.plane[i] = raw + offs[i];
        src.pitch[i] = pitches[i];
    }
    /* Refuse planes that would read past the end of the file (the library
     * trusts its caller for that). */
    int chroma_h = (src.height + 1) / 2;
    for (int i = 0; i < noffs; i++) {
        size_t rows = i == 0 ? (size_t)src.height : (size_t)chroma_h;
        if (offs[i] + rows * pitches[i] > (size_t)size) {
            free(raw);
            return usage("plane extends past the end of the input file");
        }
    }

    size_t esz = p.dtype == VP_PRE_FP16 ? 2 : 4, slot_elems = vp_pre_slot_elems(&p);
    void *dst = malloc(slot_elems * esz * (size_t)batch);
    if (!dst) {
        free(raw);
        return 1;
    }
    memset(dst, 0xA5, slot_elems * esz * (size_t)batch);
    int rc = vp_preprocess_cpu(&src, &p, dst, slot, threads);
    if (rc) {
        fprintf(stderr, "vp_preprocess_cpu: %s\n", vp_strerror(rc));
        free(raw);
        free(dst);
        return 1;
    }
    vp_pre_geom g;
    vp_pre_geometry(src.width, src.height, &p, &g);
    printf("geom %d %d %d %d %.17g %.17g %.17g\n", g.x0, g.y0, g.w, g.h, g.scale_x, g.scale_y, g.gain);

    vp_tensor t;
    t.dtype = p.dtype == VP_PRE_FP16 ? VP_DT_FLOAT16 : VP_DT_FLOAT;
    t.shape.rank = 4;
    t.shape.d[0] = batch;
    if (p.layout == VP_PRE_NCHW) {
        t.shape.d[1] = 3;
        t.shape.d[2] = p.dst_height;
        t.shape.d[3] = p.dst_width;
    } else {
        t.shape.d[1] = p.dst_height;
        t.shape.d[2] = p.dst_width;
        t.shape.d[3] = 3;
    }
    t.data = dst;
    char err[512];
    rc = vp_tensor_save_npy(out, &t, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    free(raw);
    free(dst);
    return rc ? 1 : 0;
}

static int cmd_geom(void)
{
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        int sw, sh, dw, dh;
        char mode[32];
        if (sscanf(line, "%d %d %d %d %31s", &sw, &sh, &dw, &dh, mode) != 5)
            return usage("geom: bad line");
        vp_pre_params p;
        vp_pre_params_default(&p);
        p.dst_width = dw;
        p.dst_height = dh;
        p.mode = !strcmp(mode, "topleft") ? VP_PRE_LETTERBOX_TOPLEFT
                 : !strcmp(mode, "stretch") ? VP_PRE_STRETCH : VP_PRE_LETTERBOX;
        vp_pre_geom g;
        if (vp_pre_geometry(sw, sh, &p, &g))
            printf("error\n");
        else
            printf("%d %d %d %d %.17g %.17g %.17g\n", g.x0, g.y0, g.w, g.h, g.scale_x, g.scale_y, g.gain);
    }
    return 0;
}

/* ------------------------------------------------------------------ errors */

typedef struct fixture {
    uint8_t y[64 * 48], uv[64 * 24], u[32 * 24], v[32 * 24];
    uint16_t y16[64 * 48], uv16[64 * 24];
    float out[2 * 3 * 16 * 16];
} fixture;

static void good(fixture *fx, vp_pre_src *s, vp_pre_params *p)
{
    memset(s, 0, sizeof *s);
    s->format = VP_PRE_NV12;
    s->width = 64;
    s->height = 48;
    s->plane[0] = fx->y;
    s->plane[1] = fx->uv;
    s->pitch[0] = 64;
    s->pitch[1] = 64;
    s->matrix = VP_PRE_BT709;
    vp_pre_params_default(p);
    p->dst_width = p->dst_height = 16;
}

static int cmd_errors(void)
{
    static fixture fx; /* zero pictures */
    int fails = 0, n = 0;
    vp_pre_src s;
    vp_pre_params p;
#define EXPECT(desc, want, mutate)                                                         \
    do {                                                                                   \
        good(&fx, &s, &p);                                                                 \
        mutate;                                                                            \
        int got_ = vp_preprocess_cpu(&s, &p, fx.out, 1, 1);                                \
        n++;                                                                               \
        if (got_ != (want)) {                                                              \
            fprintf(stderr, "FAIL %s: got %d (%s), want %d\n", desc, got_, vp_strerror(got_), want); \
            fails++;                                                                       \
        }                                                                                  \
    } while (0)
    EXPECT("good NV12 call (control)", VP_OK, (void)0);
    EXPECT("good planar call (control)", VP_OK,
           (s.format = VP_PRE_YUV420P, s.plane[1] = fx.u, s.plane[2] = fx.v, s.pitch[1] = s.pitch[2] = 32));
    EXPECT("good P016 call (control)", VP_OK,
           (s.format = VP_PRE_P016, s.plane[0] = fx.y16, s.plane[1] = fx.uv16, s.pitch[0] = s.pitch[1] = 128));
    /* NULL arguments and a negative slot, on otherwise good input */
    good(&fx, &s, &p);
    const struct { const char *desc; int got; } nulls[] = {
        {"NULL source", vp_preprocess_cpu(NULL, &p, fx.out, 0, 1)},
        {"NULL params", vp_preprocess_cpu(&s, NULL, fx.out, 0, 1)},
        {"NULL destination", vp_preprocess_cpu(&s, &p, NULL, 0, 1)},
        {"negative slot", vp_preprocess_cpu(&s, &p, fx.out, -1, 1)},
    };
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++, n++)
        if (nulls[i].got != VP_ERR_INVALID) {
            fprintf(stderr, "FAIL %s: got %d, want %d\n", nulls[i].desc, nulls[i].got, VP_ERR_INVALID);
            fails++;
        }
    EXPECT("zero width", VP_ERR_INVALID, s.width = 0);
    EXPECT("negative height", VP_ERR_INVALID, s.height = -4);
    EXPECT("huge width", VP_ERR_INVALID, s.width = VP_PRE_MAX_DIM + 1);
    EXPECT("zero dst width", VP_ERR_INVALID, p.dst_width = 0);
    EXPECT("zero dst height", VP_ERR_INVALID, p.dst_height = 0);
    EXPECT("unknown format", VP_ERR_INVALID, s.format = (vp_pre_format)99);
    EXPECT("negative format", VP_ERR_INVALID, s.format = (vp_pre_format)-1);
    EXPECT("unknown matrix", VP_ERR_INVALID, s.matrix = (vp_pre_matrix)7);
    EXPECT("unknown range", VP_ERR_INVALID, s.range = (vp_pre_range)3);
    EXPECT("unknown mode", VP_ERR_INVALID, p.mode = (vp_pre_resize)9);
    EXPECT("unknown order", VP_ERR_INVALID, p.order = (vp_pre_order)2);
    EXPECT("unknown dtype", VP_ERR_INVALID, p.dtype = (vp_pre_dtype)5);
    EXPECT("unknown layout", VP_ERR_INVALID, p.layout = (vp_pre_layout)5);
    EXPECT("NULL luma plane", VP_ERR_INVALID, s.plane[0] = NULL);
    EXPECT("NULL chroma plane", VP_ERR_INVALID, s.plane[1] = NULL);
    EXPECT("NULL V plane (planar)", VP_ERR_INVALID,
           (s.format = VP_PRE_YUV420P, s.plane[1] = fx.u, s.pitch[1] = s.pitch[2] = 32));
    EXPECT("short luma pitch", VP_ERR_INVALID, s.pitch[0] = 63);
    EXPECT("short NV12 chroma pitch", VP_ERR_INVALID, s.pitch[1] = 62);
    EXPECT("P016 pitch too short for 16-bit", VP_ERR_INVALID,
           (s.format = VP_PRE_P016, s.plane[0] = fx.y16, s.plane[1] = fx.uv16));
    EXPECT("P016 odd pitch", VP_ERR_INVALID,
           (s.format = VP_PRE_P016, s.plane[0] = fx.y16, s.plane[1] = fx.uv16, s.pitch[0] = 129, s.pitch[1] = 128));
    EXPECT("RGB24 pitch of one byte per pixel", VP_ERR_INVALID, s.format = VP_PRE_RGB24);
    EXPECT("bit depth 10 for NV12", VP_ERR_INVALID, s.bit_depth = 10);
    EXPECT("bit depth 17 for P016", VP_ERR_INVALID,
           (s.format = VP_PRE_P016, s.plane[0] = fx.y16, s.plane[1] = fx.uv16, s.pitch[0] = s.pitch[1] = 128, s.bit_depth = 17));
    EXPECT("std 0", VP_ERR_INVALID, p.std[1] = 0.0f);
    EXPECT("NaN mean", VP_ERR_INVALID, p.mean[2] = 0.0f / 0.0f);
    EXPECT("infinite scale", VP_ERR_INVALID, p.scale = 1.0f / 0.0f);
    EXPECT("NaN pad", VP_ERR_INVALID, p.pad[0] = 0.0f / 0.0f);
#undef EXPECT
    /* The good calls wrote slot 1 only; slot 0 must still be all zero bits
     * (static storage) — a check that the slot offset is honoured. */
    for (size_t i = 0; i < 3 * 16 * 16; i++)
        if (fx.out[i] != 0.0f) {
            fprintf(stderr, "FAIL slot 0 written at element %zu\n", i);
            fails++;
            break;
        }
    printf("preprocess errors: %d cases, %d failed\n", n, fails);
    return fails ? 1 : 0;
}

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmd_bench(int argc, char **argv)
{
    const int w = 1920, h = 1080;
    uint8_t *y = malloc((size_t)w * h), *uv = malloc((size_t)w * h / 2);
    vp_pre_params p;
    vp_pre_params_default(&p);
    p.dtype = VP_PRE_FP16;
    uint16_t *out = malloc(vp_pre_slot_elems(&p) * 2);
    if (!y || !uv || !out)
        return 1;
    for (int i = 0; i < w * h; i++)
        y[i] = (uint8_t)(i * 7 + i / w);
    for (int i = 0; i < w * h / 2; i++)
        uv[i] = (uint8_t)(i * 3 + i / w);
    vp_pre_src src = {VP_PRE_NV12, w, h, 0, {y, uv, NULL}, {(size_t)w, (size_t)w, 0}, VP_PRE_BT709,
                      VP_PRE_RANGE_LIMITED};
    int def[2] = {1, 0}, n = argc > 2 ? argc - 2 : 2;
    for (int k = 0; k < n; k++) {
        int t = argc > 2 ? atoi(argv[2 + k]) : def[k];
        int it = 0;
        double t0 = now_s(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), el;
        do {
            if (vp_preprocess_cpu(&src, &p, out, 0, t))
                return 1;
            it++;
            el = now_s() - t0;
        } while (el < 1.0 || it < 3);
        double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        printf("CPU 1920x1080 NV12 -> 640x640 FP16 NCHW letterbox, threads %d%s: %.2f ms/frame wall (%.0f frames/s), "
               "%.2f ms CPU time/frame\n",
               t, t ? "" : " (OpenMP default)", 1e3 * el / it, it / el, 1e3 * cpu / it);
    }
    free(y);
    free(uv);
    free(out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage("need a command: run, geom, bench or errors");
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc, argv);
    if (!strcmp(argv[1], "geom"))
        return cmd_geom();
    if (!strcmp(argv[1], "bench"))
        return cmd_bench(argc, argv);
    if (!strcmp(argv[1], "errors"))
        return cmd_errors();
    return usage("unknown command");
}
