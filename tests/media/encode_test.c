/*
 * vp_encode_test: the encoder, snapshots and drawing, driven by
 * tests/media/encode_ref.py (which checks the files with the ffmpeg CLI and
 * numpy), plus self-contained checks.
 *
 *   vp_encode_test pattern OUT W H N FMT [--codec auto|h264|mpeg4]
 *                  [--hw cpu|nvenc|auto] [--tb NUM/DEN --step K] [--crf Q]
 *                  [--bframes B] [--resize-at I:W2xH2] [--nopts] [--restart-at I]
 *       Encodes N frames of the known pattern (pattern_px below; encode_ref.py
 *       computes the same formula in numpy) in FMT (yuv420p | nv12); frame i
 *       has pts i * K in time base NUM/DEN (default 1/25, K 1). From frame I
 *       on, frames are W2 x H2 (a resolution change). Prints one JSON line.
 *
 *   vp_encode_test draw OUT W H FMT MATRIX RANGE [SNAPSHOT...]
 *       Draws a scene (grey ground, a white box outline, opaque colour
 *       patches, a translucent fill, a label, keypoints, a mask) on frames of
 *       MATRIX (bt601|bt709|bt2020) and RANGE (limited|full), encodes 3 of
 *       them losslessly (libx264 crf 0) and writes each SNAPSHOT (.jpg/.png).
 *       Prints one JSON line with the regions and the requested colours.
 *
 *   vp_encode_test edges
 *       Drawing edge cases on frames with sentinel bytes around every plane
 *       and row (boxes outside, empty, NaN, huge thicknesses and radii, far
 *       lines, masks over huge rectangles, 1x1 .. 1918x1078, NV12 and
 *       YUV420P), fills and outlines against a per-pixel model, colour
 *       conversion against the standards' values, the palette, refusals.
 *       Meant to run under ASan as well.
 *
 *   vp_encode_test errors TMPDIR
 *       Bad paths and arguments: missing directory, unknown extension or
 *       muxer, /dev/full (an error on write or close, logged exactly once),
 *       unsupported frames, NVENC required where it is unusable, snapshot
 *       failures. One-line messages.
 *
 * Exit: 0 pass, 1 failure, 2 usage.
 */
#include "media/encode.h"
#include "media/media_impl.h"
#include "vision/draw.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                                       \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fprintf(stderr, "\n");                                                                                     \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

static vp_pixfmt parse_fmt(const char *s)
{
    return !strcmp(s, "nv12") ? VP_PIX_NV12 : !strcmp(s, "yuv420p") ? VP_PIX_YUV420P : VP_PIX_NONE;
}

/* ---- the known pattern (mirrored in encode_ref.py: keep both in step) */
static void pattern_px(int i, int x, int y, uint8_t *Y)
{
    int v = 40 + (x + 2 * i) % 160 + (y % 64) / 4;
    int sx = 8 + (4 * i) % 64, sy = 16;
    if (x >= sx && x < sx + 32 && y >= sy && y < sy + 32)
        v = 220;
    *Y = (uint8_t)v;
}

static void pattern_chroma(int i, int cx, int cy, uint8_t *U, uint8_t *V)
{
    *U = (uint8_t)(90 + (2 * cy + i) % 80);
    *V = (uint8_t)(160 - (cx + i) % 60);
}

static void fill_pattern(vp_frame *f, int i)
{
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->width; x++)
            pattern_px(i, x, y, f->data[0] + (size_t)y * (size_t)f->pitch[0] + x);
    for (int cy = 0; cy < (f->height + 1) / 2; cy++)
        for (int cx = 0; cx < (f->width + 1) / 2; cx++) {
            uint8_t u, v;
            pattern_chroma(i, cx, cy, &u, &v);
            if (f->format == VP_PIX_NV12) {
                uint8_t *p = f->data[1] + (size_t)cy * (size_t)f->pitch[1] + 2 * (size_t)cx;
                p[0] = u, p[1] = v;
            } else {
                f->data[1][(size_t)cy * (size_t)f->pitch[1] + cx] = u;
                f->data[2][(size_t)cy * (size_t)f->pitch[2] + cx] = v;
            }
        }
}

static int cmd_pattern(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    const char *out = argv[0];
    int w = atoi(argv[1]), h = atoi(argv[2]), n = atoi(argv[3]);
    vp_pixfmt fmt = parse_fmt(argv[4]);
    vp_encoder_options o;
    vp_encoder_options_default(&o);
    int step = 1, resize_at = -1, w2 = 0, h2 = 0, nopts = 0, restart_at = -1;
    for (int a = 5; a < argc; a++) {
        const char *k = argv[a], *v = a + 1 < argc ? argv[a + 1] : NULL;
        if (!strcmp(k, "--nopts")) {
            nopts = 1;
            continue;
        }
        if (!v)
            return 2;
        a++;
        if (!strcmp(k, "--codec"))
            o.codec = !strcmp(v, "h264") ? VP_ENC_CODEC_H264 : !strcmp(v, "mpeg4") ? VP_ENC_CODEC_MPEG4 : VP_ENC_CODEC_AUTO;
        else if (!strcmp(k, "--hw"))
            o.hw = !strcmp(v, "nvenc") ? VP_ENC_HW_NVENC : !strcmp(v, "auto") ? VP_ENC_HW_AUTO : VP_ENC_HW_CPU;
        else if (!strcmp(k, "--tb")) {
            if (sscanf(v, "%d/%d", &o.time_base.num, &o.time_base.den) != 2)
                return 2;
        } else if (!strcmp(k, "--step"))
            step = atoi(v);
        else if (!strcmp(k, "--crf"))
            o.crf = atoi(v);
        else if (!strcmp(k, "--restart-at"))
            restart_at = atoi(v);
        else if (!strcmp(k, "--bframes"))
            o.max_b_frames = atoi(v);
        else if (!strcmp(k, "--resize-at")) {
            if (sscanf(v, "%d:%dx%d", &resize_at, &w2, &h2) != 3)
                return 2;
        } else
            return 2;
    }
    if (fmt == VP_PIX_NONE)
        return 2;
    char err[512];
    vp_encoder *enc;
    int rc = vp_encoder_open(out, w, h, (vp_rational){25, 1}, &o, &enc, err, sizeof err);
    if (rc) {
        fprintf(stderr, "open: %s (%s)\n", err, vp_strerror(rc));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        int fw = resize_at >= 0 && i >= resize_at ? w2 : w, fh = resize_at >= 0 && i >= resize_at ? h2 : h;
        vp_frame *f;
        if (vp_frame_alloc_host(fmt, fw, fh, &f))
            return 1;
        fill_pattern(f, i);
        /* --restart-at I: pts start again from 0 at frame I (a live
         * source's discontinuity) */
        f->pts = nopts ? VP_NOPTS : (int64_t)(restart_at >= 0 && i >= restart_at ? i - restart_at : i) * step;
        rc = vp_encoder_write(enc, f);
        vp_frame_unref(&f);
        if (rc) {
            fprintf(stderr, "write %d: %s\n", i, vp_encoder_last_error(enc));
            vp_encoder_close(&enc);
            return 1;
        }
    }
    int ew, eh;
    vp_encoder_size(enc, &ew, &eh);
    printf("{\"codec\": \"%s\", \"width\": %d, \"height\": %d, \"frames\": %ld}\n", vp_encoder_codec(enc), ew, eh,
           vp_encoder_frames(enc));
    rc = vp_encoder_close(&enc);
    if (rc) {
        fprintf(stderr, "close: %s\n", vp_strerror(rc));
        return 1;
    }
    return 0;
}

/* ---- the drawn scene */
static const struct {
    int x, y;
    vp_rgb c;
} patches[] = {
    {20, 180, {255, 0, 0}},   {70, 180, {0, 255, 0}},    {120, 180, {0, 0, 255}},   {170, 180, {230, 200, 40}},
    {220, 180, {40, 180, 200}}, {270, 180, {255, 255, 255}}, {20, 230, {10, 10, 10}}, {70, 230, {200, 60, 150}},
};
#define PATCH 32

static int cmd_draw(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    const char *out = argv[0];
    int w = atoi(argv[1]), h = atoi(argv[2]);
    vp_pixfmt fmt = parse_fmt(argv[3]);
    vp_color_matrix m = !strcmp(argv[4], "bt709") ? VP_MATRIX_BT709 : !strcmp(argv[4], "bt2020") ? VP_MATRIX_BT2020
                                                                                                : VP_MATRIX_BT601;
    vp_color_range r = !strcmp(argv[5], "full") ? VP_RANGE_FULL : VP_RANGE_LIMITED;
    if (fmt == VP_PIX_NONE || w < 330 || h < 280)
        return 2;
    vp_frame *f;
    if (vp_frame_alloc_host(fmt, w, h, &f))
        return 1;
    f->matrix = m, f->range = r;
    const vp_rgb grey = {128, 128, 128}, white = {255, 255, 255};
    int rc = vp_draw_fill(f, 0, 0, w, h, grey, 255);
    /* the white outline, thickness 4, and a label above it */
    rc |= vp_draw_rect(f, 40, 30, 200, 150, 4, white);
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++)
        rc |= vp_draw_fill(f, patches[i].x, patches[i].y, patches[i].x + PATCH, patches[i].y + PATCH, patches[i].c,
                           255);
    /* a translucent fill: alpha 128 of pure blue over grey */
    rc |= vp_draw_fill(f, 240, 30, 300, 90, (vp_rgb){0, 0, 255}, 128);
    /* detections through the high-level call: label, keypoints, mask */
    /* a pose at x 306..354, y 106..190, right of the patches */
    float kp[17 * 3] = {
        250, 110, 1, 246, 106, 1, 254, 106, 1, 242, 108, 1, 258, 108, 1, 236, 120, 1, 264, 120, 1, 230, 135, 1, 270,
        135, 1, 226, 150, 1, 274, 150, 1, 240, 150, 1, 260, 150, 1, 238, 170, 0.2f, 262, 170, 1, 236, 190, 1, 264, 190, 1,
    };
    for (int k = 0; k < 17; k++)
        kp[3 * k] += 80;
    uint8_t mask[16 * 16];
    for (int i = 0; i < 256; i++)
        mask[i] = (uint8_t)(((i / 16) - 8) * ((i / 16) - 8) + ((i % 16) - 8) * ((i % 16) - 8) < 40);
    vp_draw_det dets[2] = {
        {.x0 = 310, .y0 = 200, .x1 = 345, .y1 = 270, .score = 0.91f, .cls = 0, .track_id = 12, .label = "person",
         .mask = mask, .mask_w = 16, .mask_h = 16, .mask_space = VP_DRAW_MASK_BOX},
        {.x0 = 305, .y0 = 100, .x1 = 350, .y1 = 180, .score = 0.5f, .cls = 3, .track_id = -1, .keypoints = kp,
         .num_keypoints = 17, .keypoint_dims = 3},
    };
    vp_draw_style st;
    vp_draw_style_default(&st);
    rc |= vp_draw_detections(f, dets, 2, &st);
    rc |= vp_draw_text(f, 44, 12, "person 0.91 #12", 1, white, NULL);
    if (rc) {
        fprintf(stderr, "drawing failed\n");
        return 1;
    }
    vp_encoder_options o;
    vp_encoder_options_default(&o);
    o.crf = 0; /* lossless: what ffmpeg decodes is what was drawn */
    o.matrix = (int)m, o.range = (int)r;
    o.codec = VP_ENC_CODEC_H264;
    char err[512];
    vp_encoder *enc;
    if ((rc = vp_encoder_open(out, w, h, (vp_rational){25, 1}, &o, &enc, err, sizeof err))) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    for (int i = 0; i < 3 && !rc; i++) {
        f->pts = i;
        rc = vp_encoder_write(enc, f);
    }
    if (rc || (rc = vp_encoder_close(&enc))) {
        fprintf(stderr, "encode: %s\n", vp_strerror(rc));
        vp_encoder_close(&enc);
        return 1;
    }
    for (int a = 6; a < argc; a++)
        if ((rc = vp_snapshot_write(argv[a], f, err, sizeof err))) {
            fprintf(stderr, "snapshot: %s\n", err);
            return 1;
        }
    printf("{\"box\": [40, 30, 200, 150, 4], \"translucent\": [240, 30, 300, 90, 0, 0, 255, 128], \"patch\": %d, "
           "\"patches\": [",
           PATCH);
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++)
        printf("%s[%d, %d, %d, %d, %d]", i ? ", " : "", patches[i].x, patches[i].y, patches[i].c.r, patches[i].c.g,
               patches[i].c.b);
    printf("]}\n");
    vp_frame_unref(&f);
    return 0;
}

/* ---- edge cases on frames with sentinels */

#define GUARD 64
#define SENT 0xA5

typedef struct test_frame {
    vp_frame_impl base;
    uint8_t *mem[3];
    size_t size[3];
} test_frame;

static void test_release(vp_frame_impl *f)
{
    test_frame *t = (test_frame *)f;
    for (int i = 0; i < 3; i++)
        free(t->mem[i]);
    free(t);
}

static const vp_frame_ops test_ops = {.release = test_release};

/* Planes in separate allocations, each row padded by pad bytes, GUARD bytes
 * before and after; padding and guards hold SENT, the picture 0x40. */
static vp_frame *make_frame(vp_pixfmt fmt, int w, int h, int pad)
{
    test_frame *t = calloc(1, sizeof *t);
    vp_frame_impl_init(&t->base, &test_ops);
    vp_frame *f = &t->base.pub;
    int cw = (w + 1) / 2, ch = (h + 1) / 2, np = fmt == VP_PIX_NV12 ? 2 : 3;
    f->format = fmt, f->width = w, f->height = h, f->bit_depth = 8, f->num_planes = np;
    f->memory = VP_MEM_HOST, f->matrix = VP_MATRIX_BT601, f->range = VP_RANGE_LIMITED;
    for (int p = 0; p < np; p++) {
        int rowb = p == 0 ? w : np == 2 ? 2 * cw : cw, rows = p == 0 ? h : ch;
        f->pitch[p] = rowb + pad;
        t->size[p] = (size_t)f->pitch[p] * (size_t)rows + 2 * GUARD;
        t->mem[p] = malloc(t->size[p]);
        memset(t->mem[p], SENT, t->size[p]);
        f->data[p] = t->mem[p] + GUARD;
        for (int y = 0; y < rows; y++)
            memset(f->data[p] + (size_t)y * (size_t)f->pitch[p], 0x40, (size_t)rowb);
    }
    return f;
}

/* Number of sentinel bytes that changed. */
static long sentinels_broken(const vp_frame *f)
{
    const test_frame *t = (const test_frame *)f;
    int cw = (f->width + 1) / 2, ch = (f->height + 1) / 2;
    long bad = 0;
    for (int p = 0; p < f->num_planes; p++) {
        int rowb = p == 0 ? f->width : f->num_planes == 2 ? 2 * cw : cw, rows = p == 0 ? f->height : ch;
        for (size_t i = 0; i < t->size[p]; i++) {
            size_t off = i < GUARD ? 0 : i - GUARD;
            int inside = i >= GUARD && off < (size_t)f->pitch[p] * (size_t)rows && (int)(off % (size_t)f->pitch[p]) < rowb;
            if (!inside && t->mem[p][i] != SENT)
                bad++;
        }
    }
    return bad;
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static int rnd(uint32_t *s, int lo, int hi) { return lo + (int)(lcg(s) % (uint32_t)(hi - lo + 1)); }

/* Hammers one frame with hostile calls; every call must succeed (0). */
static void hostile(vp_frame *f, uint32_t seed)
{
    int w = f->width, h = f->height, rc = 0;
    const vp_rgb c = {200, 30, 90};
    uint32_t s = seed;
    for (int k = 0; k < 60; k++) {
        int x0 = rnd(&s, -2 * w - 5, 3 * w + 5), y0 = rnd(&s, -2 * h - 5, 3 * h + 5);
        int x1 = rnd(&s, -2 * w - 5, 3 * w + 5), y1 = rnd(&s, -2 * h - 5, 3 * h + 5);
        rc |= vp_draw_fill(f, x0, y0, x1, y1, c, rnd(&s, -10, 300));
        rc |= vp_draw_rect(f, x0, y0, x1, y1, rnd(&s, -3, 2 * (w + h)), c);
        rc |= vp_draw_line(f, x0, y0, x1, y1, rnd(&s, -2, 100), c);
        rc |= vp_draw_dot(f, x0, y0, rnd(&s, -2, 40), c);
        rc |= vp_draw_text(f, x0, y0, "Az09 ~#\x7f\x80\xff", rnd(&s, -1, 5), c, k & 1 ? &c : NULL);
    }
    rc |= vp_draw_rect(f, INT32_MIN, INT32_MIN, INT32_MAX, INT32_MAX, INT32_MAX, c);
    rc |= vp_draw_rect(f, -5, -5, 3, 3, INT32_MAX, c);
    rc |= vp_draw_fill(f, INT32_MIN, INT32_MIN, INT32_MAX, INT32_MAX, c, 255);
    rc |= vp_draw_fill(f, 0, 0, 0, 0, c, 255);
    rc |= vp_draw_line(f, INT32_MIN, INT32_MIN, INT32_MAX, INT32_MAX, INT32_MAX, c);
    rc |= vp_draw_line(f, -1000000000, 5, 1000000000, 6, 3, c);
    rc |= vp_draw_line(f, w / 2, h / 2, w / 2, h / 2, 1, c);
    rc |= vp_draw_dot(f, w / 2, h / 2, INT32_MAX, c);
    rc |= vp_draw_dot(f, INT32_MAX, INT32_MIN, 5, c);
    rc |= vp_draw_text(f, INT32_MAX - 3, INT32_MAX - 3, "overflow", 64, c, &c);
    rc |= vp_draw_text(f, INT32_MIN, 0, "overflow", INT32_MAX, c, &c);
    rc |= vp_draw_text(f, -3, -3, "", 1, c, &c);
    uint8_t m[3 * 5] = {1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
    rc |= vp_draw_mask(f, m, 3, 5, -1e30f, -1e30f, 1e30f, 1e30f, c, 128);
    rc |= vp_draw_mask(f, m, 3, 5, NAN, 0, 10, 10, c, 128);
    rc |= vp_draw_mask(f, m, 3, 5, -0.4f, -0.4f, (float)w + 0.3f, (float)h + 0.7f, c, 255);
    rc |= vp_draw_mask(f, m, 3, 5, (float)w - 0.5f, (float)h - 0.5f, (float)w + 40, (float)h + 40, c, 255);
    rc |= vp_draw_mask(f, m, 3, 5, 5, 5, 5, 9, c, 255); /* empty */
    char longlabel[1100];
    memset(longlabel, 'W', sizeof longlabel - 1);
    longlabel[sizeof longlabel - 1] = 0;
    float kp[6 * 3] = {-1e30f, 5, 1, (float)w / 2, (float)h / 2, 1, NAN, 1, 1, INFINITY, -INFINITY, 1,
                       1e9f, -1e9f, 1, 3, 3, NAN};
    const int skel[5][2] = {{0, 1}, {1, 2}, {3, 4}, {4, 5}, {-1, 99}};
    vp_draw_det d[6] = {
        {.x0 = -1e30f, .y0 = -1e30f, .x1 = 1e30f, .y1 = 1e30f, .score = 0.5f, .cls = 1, .track_id = 7,
         .label = longlabel, .keypoints = kp, .num_keypoints = 6, .keypoint_dims = 3, .mask = m, .mask_w = 3,
         .mask_h = 5},
        {.x0 = NAN, .y0 = 0, .x1 = 5, .y1 = 5, .cls = -5, .track_id = -1, .mask = m, .mask_w = 3, .mask_h = 5},
        {.x0 = (float)w - 1, .y0 = (float)h - 1, .x1 = (float)w + 100, .y1 = (float)h + 100, .score = NAN,
         .cls = INT32_MIN, .mask = m, .mask_w = 3, .mask_h = 5, .mask_space = VP_DRAW_MASK_FRAME},
        {.x0 = 3, .y0 = 3, .x1 = 3, .y1 = 3, .cls = 2, .label = "", .keypoints = kp, .num_keypoints = 6,
         .keypoint_dims = 2, .mask = m, .mask_w = 3, .mask_h = 5, .mask_space = VP_DRAW_MASK_RECT,
         .mask_rect = {-10, -10, 1e9f, 1e9f}},
        {.x0 = 1, .y0 = 1, .x1 = (float)w - 1, .y1 = (float)h - 1, .score = 0.99f, .cls = 79, .track_id = 123456},
        {.x0 = -50, .y0 = -50, .x1 = -10, .y1 = -10, .cls = 0, .label = "outside"},
    };
    vp_draw_style st;
    vp_draw_style_default(&st);
    st.fill_alpha = 60;
    st.font_scale = 3;
    st.skeleton = skel;
    st.skeleton_len = 5;
    st.keypoint_radius = 1000;
    st.line_thickness = 1000;
    st.box_thickness = 1 << 30;
    rc |= vp_draw_detections(f, d, 6, &st);
    rc |= vp_draw_detections(f, d, 6, NULL);
    rc |= vp_draw_detections(f, NULL, 0, NULL);
    CHECK(rc == 0, "%dx%d %s: a hostile call failed", w, h, vp_pixfmt_name(f->format));
    long bad = sentinels_broken(f);
    CHECK(bad == 0, "%dx%d %s: %ld sentinel bytes changed", w, h, vp_pixfmt_name(f->format), bad);
}

static uint8_t *luma_at(const vp_frame *f, int x, int y) { return f->data[0] + (size_t)y * (size_t)f->pitch[0] + x; }
static uint8_t *cb_at(const vp_frame *f, int i, int j)
{
    return f->format == VP_PIX_NV12 ? f->data[1] + (size_t)j * (size_t)f->pitch[1] + 2 * (size_t)i
                                    : f->data[1] + (size_t)j * (size_t)f->pitch[1] + i;
}
static uint8_t *cr_at(const vp_frame *f, int i, int j)
{
    return f->format == VP_PIX_NV12 ? f->data[1] + (size_t)j * (size_t)f->pitch[1] + 2 * (size_t)i + 1
                                    : f->data[2] + (size_t)j * (size_t)f->pitch[2] + i;
}

/* Trivially correct model of a filled rectangle or an outline: per luma
 * pixel "painted?", chroma painted when any pixel of its block is. */
static int model_painted(int x, int y, int x0, int y0, int x1, int y1, int t)
{
    if (x < x0 || x >= x1 || y < y0 || y >= y1)
        return 0;
    if (t <= 0)
        return 1; /* fill */
    return x < x0 + t || x >= x1 - t || y < y0 + t || y >= y1 - t;
}

static void model_check(vp_pixfmt fmt, int w, int h, uint32_t seed)
{
    uint32_t s = seed;
    for (int k = 0; k < 40; k++) {
        vp_frame *f = make_frame(fmt, w, h, 3);
        int x0 = rnd(&s, -4, w + 2), y0 = rnd(&s, -4, h + 2), x1 = rnd(&s, -4, w + 4), y1 = rnd(&s, -4, h + 4);
        int t = k % 3 == 0 ? 0 : rnd(&s, 1, 6), alpha = k % 4 == 1 ? 100 : 255;
        if (t > 0)
            alpha = 255;
        vp_rgb c = {250, 10, 120};
        vp_ycc yc = vp_draw_color(c, f->matrix, f->range);
        int rc = t > 0 ? vp_draw_rect(f, x0, y0, x1, y1, t, c) : vp_draw_fill(f, x0, y0, x1, y1, c, alpha);
        CHECK(rc == 0, "model draw rc %d", rc);
        /* outlines too thin to have a hole are filled */
        int tt = t > 0 && (2 * t >= x1 - x0 || 2 * t >= y1 - y0) ? 0 : t;
        uint8_t ey = (uint8_t)((0x40 * (255 - alpha) + yc.y * alpha + 127) / 255);
        uint8_t eu = (uint8_t)((0x40 * (255 - alpha) + yc.cb * alpha + 127) / 255);
        uint8_t ev = (uint8_t)((0x40 * (255 - alpha) + yc.cr * alpha + 127) / 255);
        long bad = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                bad += *luma_at(f, x, y) != (model_painted(x, y, x0, y0, x1, y1, tt) ? ey : 0x40);
        for (int j = 0; j < (h + 1) / 2; j++)
            for (int i = 0; i < (w + 1) / 2; i++) {
                int any = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++)
                        if (2 * i + dx < w && 2 * j + dy < h)
                            any |= model_painted(2 * i + dx, 2 * j + dy, x0, y0, x1, y1, tt);
                bad += *cb_at(f, i, j) != (any ? eu : 0x40);
                bad += *cr_at(f, i, j) != (any ? ev : 0x40);
            }
        CHECK(bad == 0, "%dx%d %s rect (%d,%d)-(%d,%d) t=%d a=%d: %ld samples differ from the model", w, h,
              vp_pixfmt_name(fmt), x0, y0, x1, y1, t, alpha, bad);
        CHECK(sentinels_broken(f) == 0, "model case wrote outside");
        vp_frame_unref(&f);
    }
}

static int cmd_edges(void)
{
    static const int sizes[][2] = {{1, 1}, {1, 2}, {2, 1}, {2, 2}, {3, 3}, {5, 7}, {17, 9}, {64, 48}, {1918, 1078}, {1919, 1079}};
    const vp_pixfmt fmts[2] = {VP_PIX_YUV420P, VP_PIX_NV12};
    int cases = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int fi = 0; fi < 2; fi++)
            for (int pad = 0; pad <= 5; pad += 5) {
                vp_frame *f = make_frame(fmts[fi], sizes[si][0], sizes[si][1], pad);
                hostile(f, (uint32_t)(si * 31 + (size_t)fi * 7 + (size_t)pad));
                vp_frame_unref(&f);
                cases++;
            }
    static const int msizes[][2] = {{1, 1}, {2, 3}, {7, 5}, {16, 9}, {33, 31}};
    for (size_t si = 0; si < sizeof msizes / sizeof msizes[0]; si++)
        for (int fi = 0; fi < 2; fi++) {
            model_check(fmts[fi], msizes[si][0], msizes[si][1], (uint32_t)(100 + si * 3 + (size_t)fi));
            cases += 40;
        }

    /* colour conversion against the standards' published values */
    vp_ycc c;
    c = vp_draw_color((vp_rgb){255, 255, 255}, VP_MATRIX_BT601, VP_RANGE_LIMITED);
    CHECK(c.y == 235 && c.cb == 128 && c.cr == 128, "white limited %d %d %d", c.y, c.cb, c.cr);
    c = vp_draw_color((vp_rgb){0, 0, 0}, VP_MATRIX_BT709, VP_RANGE_LIMITED);
    CHECK(c.y == 16 && c.cb == 128 && c.cr == 128, "black limited %d %d %d", c.y, c.cb, c.cr);
    c = vp_draw_color((vp_rgb){255, 255, 255}, VP_MATRIX_BT2020, VP_RANGE_FULL);
    CHECK(c.y == 255 && c.cb == 128 && c.cr == 128, "white full %d %d %d", c.y, c.cb, c.cr);
    c = vp_draw_color((vp_rgb){255, 0, 0}, VP_MATRIX_BT601, VP_RANGE_LIMITED); /* BT.601: 81, 90, 240 */
    CHECK(c.y == 81 && c.cb == 90 && c.cr == 240, "601 red %d %d %d", c.y, c.cb, c.cr);
    c = vp_draw_color((vp_rgb){255, 0, 0}, VP_MATRIX_BT709, VP_RANGE_LIMITED); /* BT.709: 63, 102, 240 */
    CHECK(c.y == 63 && c.cb == 102 && c.cr == 240, "709 red %d %d %d", c.y, c.cb, c.cr);
    c = vp_draw_color((vp_rgb){0, 0, 255}, VP_MATRIX_BT601, VP_RANGE_FULL); /* JFIF: 29, 255, 107 */
    CHECK(c.y == 29 && c.cb == 255 && c.cr == 107, "601 full blue %d %d %d", c.y, c.cb, c.cr);

    /* palette: deterministic, and neighbours clearly apart */
    for (int k = 0; k < 80; k++) {
        vp_rgb a = vp_draw_palette(k), b = vp_draw_palette(k + 1), a2 = vp_draw_palette(k);
        int d = abs(a.r - b.r) + abs(a.g - b.g) + abs(a.b - b.b);
        CHECK(a.r == a2.r && a.g == a2.g && a.b == a2.b, "palette not deterministic");
        CHECK(d >= 90, "palette %d and %d too close (%d)", k, k + 1, d);
    }
    vp_rgb pm = vp_draw_palette(-3), pp = vp_draw_palette(3);
    CHECK(pm.r == pp.r && pm.g == pp.g && pm.b == pp.b, "palette(-3) != palette(3)");

    /* refusals: shared frames, other formats, NULL */
    vp_frame *f = make_frame(VP_PIX_NV12, 8, 8, 0), *ref = vp_frame_ref(f);
    CHECK(vp_draw_fill(f, 0, 0, 4, 4, (vp_rgb){0, 0, 0}, 255) == VP_ERR_INVALID, "shared frame drawn on");
    vp_frame_unref(&ref);
    CHECK(vp_draw_fill(f, 0, 0, 4, 4, (vp_rgb){0, 0, 0}, 255) == 0, "private frame refused");
    CHECK(vp_draw_detections(f, NULL, 1, NULL) == VP_ERR_INVALID, "NULL detections accepted");
    CHECK(vp_draw_detections(f, NULL, -1, NULL) == VP_ERR_INVALID, "n < 0 accepted");
    CHECK(vp_draw_mask(f, NULL, 3, 3, 0, 0, 4, 4, (vp_rgb){0, 0, 0}, 9) == VP_ERR_INVALID, "NULL mask accepted");
    CHECK(vp_draw_text(f, 0, 0, NULL, 1, (vp_rgb){0, 0, 0}, NULL) == VP_ERR_INVALID, "NULL text accepted");
    vp_frame_unref(&f);
    CHECK(vp_draw_fill(NULL, 0, 0, 4, 4, (vp_rgb){0, 0, 0}, 255) == VP_ERR_INVALID, "NULL frame accepted");
    vp_frame *p16;
    if (vp_frame_alloc_host(VP_PIX_P016, 8, 8, &p16) == 0) {
        CHECK(vp_draw_rect(p16, 0, 0, 4, 4, 1, (vp_rgb){0, 0, 0}) == VP_ERR_UNSUPPORTED, "P016 accepted");
        vp_frame_unref(&p16);
    }
    CHECK(vp_draw_text_width("person 0.91 #12", 2) == 15 * 12, "text width");

    printf("edges: %d cases, %d failures\n", cases, failures);
    return failures ? 1 : 0;
}

/* ---- errors */

typedef struct log_count {
    int errors, warnings;
    char last[512];
} log_count;

static void count_log(void *user, vp_log_level level, const char *line)
{
    log_count *lc = user;
    if (level == VP_LOG_ERROR)
        lc->errors++, snprintf(lc->last, sizeof lc->last, "%s", line);
    else if (level == VP_LOG_WARN)
        lc->warnings++;
}

static int one_line(const char *s) { return s && *s && !strchr(s, '\n'); }

static int cmd_errors(const char *tmp)
{
    log_count lc = {0};
    vp_log_set_sink(count_log, &lc);
    char err[512], path[1024];
    vp_encoder *enc = NULL;
    vp_frame *f;
    vp_rational fps = {25, 1};
    int rc;

    rc = vp_encoder_open("/nonexistent-dir-vp/out.mp4", 64, 48, fps, NULL, &enc, err, sizeof err);
    CHECK(rc == VP_ERR_IO && !enc && one_line(err) && strstr(err, "No such file"), "missing dir: %d '%s'", rc, err);
    printf("missing directory: %s\n", err);
    snprintf(path, sizeof path, "%s/out.xyz", tmp);
    rc = vp_encoder_open(path, 64, 48, fps, NULL, &enc, err, sizeof err);
    CHECK(rc == VP_ERR_INVALID && one_line(err) && access(path, F_OK) != 0, "unknown extension: %d '%s'", rc, err);
    printf("unknown extension: %s\n", err);
    vp_encoder_options o;
    vp_encoder_options_default(&o);
    o.format = "no-such-muxer";
    rc = vp_encoder_open(path, 64, 48, fps, &o, &enc, err, sizeof err);
    CHECK(rc == VP_ERR_INVALID && one_line(err), "unknown muxer: %d '%s'", rc, err);
    snprintf(path, sizeof path, "%s/a.mp4", tmp);
    rc = vp_encoder_open(path, 1, 48, fps, NULL, &enc, err, sizeof err);
    CHECK(rc == VP_ERR_INVALID && one_line(err), "width 1: %d '%s'", rc, err);
    rc = vp_encoder_open(path, 64, 48, (vp_rational){0, 1}, NULL, &enc, err, sizeof err);
    CHECK(rc == VP_ERR_INVALID && one_line(err), "fps 0: %d '%s'", rc, err);
    CHECK(vp_encoder_close(&enc) == 0 && vp_encoder_close(NULL) == 0, "close of nothing");

    /* NVENC: required -> error here (no GPU on this machine: also fine if it
     * works); asked -> software fallback with one warning */
    vp_encoder_options_default(&o);
    o.hw = VP_ENC_HW_NVENC, o.require_hw = 1;
    rc = vp_encoder_open(path, 64, 48, fps, &o, &enc, err, sizeof err);
    if (rc == 0) {
        printf("nvenc: usable here (%s)\n", vp_encoder_codec(enc));
        vp_encoder_close(&enc);
    } else {
        CHECK(rc == VP_ERR_NOT_FOUND && one_line(err) && strstr(err, "NVENC"), "nvenc required: %d '%s'", rc, err);
        printf("nvenc required: %s\n", err);
        o.require_hw = 0;
        int w0 = lc.warnings;
        rc = vp_encoder_open(path, 64, 48, fps, &o, &enc, err, sizeof err);
        CHECK(rc == 0 && strcmp(vp_encoder_codec(enc), "h264_nvenc") && lc.warnings == w0 + 1,
              "nvenc fallback: %d codec %s warnings %d", rc, vp_encoder_codec(enc), lc.warnings - w0);
        printf("nvenc fallback: %s\n", vp_encoder_codec(enc));
        /* unsupported frames are refused without failing the encoder */
        vp_frame_alloc_host(VP_PIX_P016, 64, 48, &f);
        rc = vp_encoder_write(enc, f);
        CHECK(rc == VP_ERR_UNSUPPORTED && one_line(vp_encoder_last_error(enc)), "p016 write: %d", rc);
        printf("p016 frame: %s\n", vp_encoder_last_error(enc));
        vp_frame_unref(&f);
        CHECK(vp_encoder_write(enc, NULL) == VP_ERR_INVALID, "NULL frame accepted");
        vp_frame_alloc_host(VP_PIX_NV12, 64, 48, &f);
        fill_pattern(f, 0);
        f->pts = 0;
        CHECK(vp_encoder_write(enc, f) == 0, "good write after refusals: %s", vp_encoder_last_error(enc));
        vp_frame_unref(&f);
        CHECK(vp_encoder_close(&enc) == 0, "close after refusals");
    }

    /* /dev/full: the failure is reported by open (a muxer that flushes its
     * header) or on write or close (logged exactly once), always VP_ERR_IO */
    static const char *const full_fmts[] = {"mp4", "matroska", "mpegts"};
    int late = 0;
    for (int k = 0; k < 3; k++) {
        vp_encoder_options_default(&o);
        o.format = full_fmts[k];
        int e0 = lc.errors, write_rc = 0, same_after = 0, writes = 0, first_bad = -1;
        rc = vp_encoder_open("/dev/full", 320, 240, fps, &o, &enc, err, sizeof err);
        if (rc) {
            CHECK(rc == VP_ERR_IO && one_line(err), "/dev/full %s: open %d '%s'", o.format, rc, err);
            printf("/dev/full (%s): open: %s\n", o.format, err);
            continue;
        }
        uint32_t seed = 1;
        for (int i = 0; i < 100; i++, writes++) {
            vp_frame_alloc_host(VP_PIX_YUV420P, 320, 240, &f);
            /* noise: tens of kB per frame, so the muxer's buffer overflows
             * while writing (k odd) rather than only at the trailer */
            fill_pattern(f, i);
            if (k & 1)
                for (int y = 0; y < 240; y++)
                    for (int x = 0; x < 320; x++)
                        f->data[0][y * f->pitch[0] + x] = (uint8_t)lcg(&seed);
            f->pts = i;
            int r = vp_encoder_write(enc, f);
            vp_frame_unref(&f);
            if (r && !write_rc)
                write_rc = r, first_bad = i;
            else if (r)
                same_after += r == write_rc;
        }
        rc = vp_encoder_close(&enc);
        late++;
        CHECK(rc == VP_ERR_IO && (!write_rc || write_rc == rc), "/dev/full %s: close %d (write %d)", o.format, rc,
              write_rc);
        CHECK(lc.errors == e0 + 1, "/dev/full %s: %d error lines logged, want 1", o.format, lc.errors - e0);
        CHECK(!write_rc || same_after == 99 - first_bad, "/dev/full %s: later writes did not repeat the error",
              o.format);
        printf("/dev/full (%s): first write error %s (frame %d), close %s, %d error line: %s\n", o.format,
               vp_strerror(write_rc), write_rc ? first_bad : -1, vp_strerror(rc), lc.errors - e0, lc.last);
    }
    CHECK(late > 0, "no container reached the write path on /dev/full");

    /* snapshots */
    vp_frame_alloc_host(VP_PIX_YUV420P, 33, 17, &f);
    fill_pattern(f, 0);
    rc = vp_snapshot_write("/nonexistent-dir-vp/x.jpg", f, err, sizeof err);
    CHECK(rc == VP_ERR_IO && one_line(err), "snapshot missing dir: %d '%s'", rc, err);
    printf("snapshot missing dir: %s\n", err);
    snprintf(path, sizeof path, "%s/x.bmp", tmp);
    rc = vp_snapshot_write(path, f, err, sizeof err);
    CHECK(rc == VP_ERR_INVALID && one_line(err), "snapshot .bmp: %d '%s'", rc, err);
    snprintf(path, sizeof path, "%s/full.png", tmp);
    unlink(path);
    if (symlink("/dev/full", path) == 0) {
        rc = vp_snapshot_write(path, f, err, sizeof err);
        CHECK(rc == VP_ERR_IO && one_line(err), "snapshot to /dev/full: %d '%s'", rc, err);
        printf("snapshot /dev/full: %s\n", err);
        unlink(path);
    }
    vp_frame_unref(&f);
    /* odd sizes decode back at their size (encode_ref.py probes them) */
    vp_frame_alloc_host(VP_PIX_NV12, 33, 17, &f);
    fill_pattern(f, 3);
    snprintf(path, sizeof path, "%s/odd.jpg", tmp);
    CHECK((rc = vp_snapshot_write(path, f, err, sizeof err)) == 0, "odd jpg: %s", err);
    snprintf(path, sizeof path, "%s/odd.png", tmp);
    CHECK((rc = vp_snapshot_write(path, f, err, sizeof err)) == 0, "odd png: %s", err);
    vp_frame_unref(&f);
    vp_frame_alloc_host(VP_PIX_YUV420P, 1, 1, &f);
    fill_pattern(f, 0);
    snprintf(path, sizeof path, "%s/one.jpg", tmp);
    CHECK((rc = vp_snapshot_write(path, f, err, sizeof err)) == 0, "1x1 jpg: %s", err);
    vp_frame_unref(&f);
    vp_frame_alloc_host(VP_PIX_P016, 8, 8, &f);
    snprintf(path, sizeof path, "%s/p.png", tmp);
    CHECK(vp_snapshot_write(path, f, err, sizeof err) == VP_ERR_UNSUPPORTED, "p016 snapshot");
    vp_frame_unref(&f);
    vp_log_set_sink(NULL, NULL);
    printf("errors: %d failures\n", failures);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vp_encode_test pattern|draw|edges|errors ...\n");
        return 2;
    }
    int rc;
    if (!strcmp(argv[1], "pattern"))
        rc = cmd_pattern(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "draw"))
        rc = cmd_draw(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "edges"))
        rc = cmd_edges();
    else if (!strcmp(argv[1], "errors") && argc >= 3)
        rc = cmd_errors(argv[2]);
    else
        rc = 2;
    if (rc == 2)
        fprintf(stderr, "vp_encode_test: bad usage\n");
    return rc;
}
