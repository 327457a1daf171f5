/*
 * vp_post_tool: command-line access to the CPU post-processing
 * (src/vision/postprocess.c), for the tests that compare it with
 * independent implementations (postprocess_ref.py).
 *
 *   vp_post_tool run --pred P.npy [--protos Q.npy] [--task detect|pose|segment]
 *                    [--layout auto|v8|v5] [--conf F] [--iou F] [--max-det N]
 *                    [--max-candidates N] [--agnostic] [--multi-label]
 *                    [--nc N] [--nk N] [--kd N] [--nm N]
 *                    [--masks OUT.npy --in-size WxH] [--no-scratch]
 *       Runs vp_post_resolve + vp_postprocess_cpu on the predictions
 *       (float32 or float16 .npy, [N,F,A] or [N,A,F]; segment: prototypes
 *       [N,nm,H,W]) and prints one JSON object on stdout:
 *         {"layout": {...resolved counts...},
 *          "images": [[{"box": [x0,y0,x1,y1], "score": s, "cls": c,
 *                       "anchor": a, "keypoints": [...], "coefs": [...]}, ...], ...]}
 *       (floats with 9 significant digits: float32 round-trips exactly).
 *       With --masks, the instance masks of all detections, image by image
 *       in result order, are saved as uint8 [D, H, W] (vp_post_mask_cpu).
 *       The scratch and result arrays are surrounded by sentinel bytes that
 *       must survive the call (exit 1 if not); --no-scratch passes NULL
 *       scratch (the per-call allocation path).
 *
 *   vp_post_tool semseg --logits L.npy --out OUT.npy
 *       vp_post_semseg_cpu for every image: uint8 [N, H, W].
 *
 *   vp_post_tool map < LINES
 *       Each input line "sw sh dw dh x0 y0 x1 y1" (a letterboxed sw x sh
 *       picture in a dw x dh input, a box in input pixels) -> the box in
 *       source pixels by vp_pre_geometry + vp_post_map_box, 9 digits.
 *
 *   vp_post_tool wire
 *       The packed form of detections (vp_det_wire): the units per pixel,
 *       clamping, rounding to nearest even and the way back, against
 *       hand-computed values. Prints one line per failure; exit 0 or 1.
 *
 *   vp_post_tool bench [REPS]
 *       Times YOLOv8n-shaped post-processing ([1, 84, 8400] float32 and
 *       float16, random scores, a few hundred above threshold). Printed,
 *       never asserted.
 *
 * Bad parameters (unknown options, values the library refuses): one line
 * on stderr, exit 2. Unreadable files or a failed run: exit 1.
 */
#include "engine/graph.h" /* vp_tensor_new, vp_float_to_half */
#include "vidpipe/engine.h"
#include "vision/postprocess.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SENTINEL 0xA5
#define GUARD 64 /* sentinel bytes after each buffer */

static int usage(const char *msg)
{
    fprintf(stderr, "vp_post_tool: %s (see the comment at the top of postprocess_tool.c)\n", msg);
    return 2;
}

static int parse_int(const char *s, int *v)
{
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s || *end || x < -2147483647L || x > 2147483647L)
        return -1;
    *v = (int)x;
    return 0;
}

static int parse_float(const char *s, float *v)
{
    char *end;
    *v = strtof(s, &end);
    return end == s || *end ? -1 : 0;
}

/* vp_tensor (from the .npy) -> the view post-processing reads. */
static int to_post(const vp_tensor *t, vp_post_tensor *pt, const char *what)
{
    memset(pt, 0, sizeof *pt);
    if (t->dtype == VP_DT_FLOAT)
        pt->dtype = VP_PRE_FP32;
    else if (t->dtype == VP_DT_FLOAT16)
        pt->dtype = VP_PRE_FP16;
    else {
        fprintf(stderr, "vp_post_tool: %s is %s, expected float32 or float16\n", what, vp_dtype_name(t->dtype));
        return 2;
    }
    if (t->shape.rank < 1 || t->shape.rank > 4) {
        fprintf(stderr, "vp_post_tool: %s has rank %d, expected 1..4\n", what, t->shape.rank);
        return 2;
    }
    pt->rank = t->shape.rank;
    for (int i = 0; i < pt->rank; i++)
        pt->d[i] = t->shape.d[i];
    pt->data = t->data;
    return 0;
}

static int load(const char *path, vp_tensor **t)
{
    char err[512];
    if (vp_tensor_load(path, t, err, sizeof err)) {
        fprintf(stderr, "vp_post_tool: %s\n", err);
        return 1;
    }
    return 0;
}

/* malloc(n + GUARD), the guard filled with SENTINEL. */
static void *guarded(size_t n)
{
    unsigned char *p = malloc(n + GUARD);
    if (p)
        memset(p, SENTINEL, n + GUARD);
    return p;
}

static int guard_ok(const void *p, size_t n)
{
    const unsigned char *g = (const unsigned char *)p + n;
    for (int i = 0; i < GUARD; i++)
        if (g[i] != SENTINEL)
            return 0;
    return 1;
}

static void print_floats(const float *v, int n)
{
    putchar('[');
    for (int i = 0; i < n; i++)
        printf("%s%.9g", i ? ", " : "", (double)v[i]);
    putchar(']');
}

static int cmd_run(int argc, char **argv)
{
    vp_post_params p;
    vp_post_params_default(&p);
    const char *pred_path = NULL, *proto_path = NULL, *mask_path = NULL;
    int in_w = 0, in_h = 0, no_scratch = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--agnostic")) {
            p.class_agnostic = 1;
            continue;
        }
        if (!strcmp(a, "--multi-label")) {
            p.multi_label = 1;
            continue;
        }
        if (!strcmp(a, "--no-scratch")) {
            no_scratch = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v)
            return usage("option without value");
        int bad = 0;
        if (!strcmp(a, "--pred")) pred_path = v;
        else if (!strcmp(a, "--protos")) proto_path = v;
        else if (!strcmp(a, "--masks")) mask_path = v;
        else if (!strcmp(a, "--in-size")) bad = sscanf(v, "%dx%d", &in_w, &in_h) != 2;
        else if (!strcmp(a, "--task")) {
            int t = vp_task_parse(v);
            bad = t < 0 || t == VP_TASK_SEMSEG;
            p.task = (vp_task)(t < 0 ? 0 : t);
        } else if (!strcmp(a, "--layout")) {
            if (!strcmp(v, "auto")) p.layout = VP_YOLO_AUTO;
            else if (!strcmp(v, "v8")) p.layout = VP_YOLO_V8;
            else if (!strcmp(v, "v5")) p.layout = VP_YOLO_V5;
            else bad = 1;
        } else if (!strcmp(a, "--conf")) bad = parse_float(v, &p.conf_threshold);
        else if (!strcmp(a, "--iou")) bad = parse_float(v, &p.iou_threshold);
        else if (!strcmp(a, "--max-det")) bad = parse_int(v, &p.max_det);
        else if (!strcmp(a, "--max-candidates")) bad = parse_int(v, &p.max_candidates);
        else if (!strcmp(a, "--nc")) bad = parse_int(v, &p.num_classes);
        else if (!strcmp(a, "--nk")) bad = parse_int(v, &p.num_keypoints);
        else if (!strcmp(a, "--kd")) bad = parse_int(v, &p.keypoint_dims);
        else if (!strcmp(a, "--nm")) bad = parse_int(v, &p.num_masks);
        else {
            fprintf(stderr, "vp_post_tool: unknown option %s\n", a);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "vp_post_tool: bad value '%s' for %s\n", v, a);
            return 2;
        }
    }
    if (!pred_path)
        return usage("run needs --pred");
    if (mask_path && (in_w < 1 || in_h < 1))
        return usage("--masks needs --in-size WxH");

    int rc = 1;
    vp_tensor *tp = NULL, *tq = NULL;
    vp_post_tensor out[2];
    int n_out = 1;
    void *scratch = NULL;
    vp_post_results res = {0};
    vp_tensor *mt = NULL;
    if (load(pred_path, &tp) || (proto_path && load(proto_path, &tq)))
        goto done;
    if ((rc = to_post(tp, &out[0], "--pred")))
        goto done;
    if (tq) {
        if ((rc = to_post(tq, &out[1], "--protos")))
            goto done;
        n_out = 2;
    }
    vp_post_layout lo;
    if (vp_post_resolve(&p, out, n_out, &lo)) {
        rc = 2; /* the library logged the one-line reason */
        goto done;
    }
    rc = 1;
    size_t nres = (size_t)lo.batch * (size_t)p.max_det;
    size_t nkv = (size_t)lo.num_keypoints * (size_t)lo.keypoint_dims, nm = (size_t)lo.num_masks;
    size_t sbytes = vp_post_scratch_bytes(&p, &lo);
    res.count = guarded((size_t)lo.batch * sizeof(int32_t));
    res.det = guarded(nres * sizeof(vp_det));
    res.keypoints = nkv ? guarded(nres * nkv * sizeof(float)) : NULL;
    res.coefs = nm ? guarded(nres * nm * sizeof(float)) : NULL;
    scratch = no_scratch ? NULL : guarded(sbytes);
    if (!res.count || !res.det || (nkv && !res.keypoints) || (nm && !res.coefs) || (!no_scratch && !scratch)) {
        fprintf(stderr, "vp_post_tool: out of memory\n");
        goto done;
    }
    int r = vp_postprocess_cpu(&p, &lo, out, &res, scratch);
    if (r) {
        fprintf(stderr, "vp_post_tool: vp_postprocess_cpu: %s\n", vp_strerror(r));
        goto done;
    }
    if (!guard_ok(res.count, (size_t)lo.batch * sizeof(int32_t)) || !guard_ok(res.det, nres * sizeof(vp_det)) ||
        (nkv && !guard_ok(res.keypoints, nres * nkv * sizeof(float))) ||
        (nm && !guard_ok(res.coefs, nres * nm * sizeof(float))) || (scratch && !guard_ok(scratch, sbytes))) {
        fprintf(stderr, "vp_post_tool: a write past the end of a result or scratch array\n");
        goto done;
    }
    int total = 0;
    for (int i = 0; i < lo.batch; i++) {
        if (res.count[i] < 0 || res.count[i] > p.max_det) {
            fprintf(stderr, "vp_post_tool: image %d: count %d outside 0..max_det\n", i, (int)res.count[i]);
            goto done;
        }
        total += res.count[i];
    }

    printf("{\"layout\": {\"task\": \"%s\", \"layout\": \"%s\", \"batch\": %d, \"anchors\": %d, \"features\": %d, "
           "\"num_classes\": %d, \"num_keypoints\": %d, \"keypoint_dims\": %d, \"num_masks\": %d, "
           "\"proto_h\": %d, \"proto_w\": %d, \"class_offset\": %d, \"extra_offset\": %d, \"scratch_bytes\": %zu},\n",
           vp_task_name(lo.task), lo.layout == VP_YOLO_V8 ? "v8" : "v5", lo.batch, lo.anchors, lo.features,
           lo.num_classes, lo.num_keypoints, lo.keypoint_dims, lo.num_masks, lo.proto_h, lo.proto_w,
           lo.class_offset, lo.extra_offset, sbytes);
    printf(" \"images\": [");
    for (int i = 0; i < lo.batch; i++) {
        printf("%s\n  [", i ? "," : "");
        for (int j = 0; j < res.count[i]; j++) {
            size_t s = (size_t)i * (size_t)p.max_det + (size_t)j;
            const vp_det *d = &res.det[s];
            float box[4] = {d->x0, d->y0, d->x1, d->y1};
            printf("%s\n   {\"box\": ", j ? "," : "");
            print_floats(box, 4);
            printf(", \"score\": %.9g, \"cls\": %d, \"anchor\": %d", (double)d->score, (int)d->cls, (int)d->anchor);
            if (nkv) {
                printf(", \"keypoints\": ");
                print_floats(res.keypoints + s * nkv, (int)nkv);
            }
            if (nm) {
                printf(", \"coefs\": ");
                print_floats(res.coefs + s * nm, (int)nm);
            }
            putchar('}');
        }
        printf("]");
    }
    printf("]}\n");

    if (mask_path) {
        if (lo.task != VP_TASK_SEGMENT) {
            rc = usage("--masks needs --task segment");
            goto done;
        }
        vp_shape ms = {3, {total, lo.proto_h, lo.proto_w}};
        mt = vp_tensor_new(VP_DT_UINT8, &ms);
        if (!mt) {
            fprintf(stderr, "vp_post_tool: out of memory for the masks\n");
            goto done;
        }
        size_t plane = (size_t)lo.proto_h * (size_t)lo.proto_w;
        int k = 0;
        for (int i = 0; i < lo.batch; i++)
            for (int j = 0; j < res.count[i]; j++, k++) {
                size_t s = (size_t)i * (size_t)p.max_det + (size_t)j;
                if (vp_post_mask_cpu(&lo, &out[1], i, res.coefs + s * nm, &res.det[s], in_w, in_h,
                                     (uint8_t *)mt->data + (size_t)k * plane)) {
                    fprintf(stderr, "vp_post_tool: vp_post_mask_cpu failed\n");
                    goto done;
                }
            }
        char err[512];
        if (vp_tensor_save_npy(mask_path, mt, err, sizeof err)) {
            fprintf(stderr, "vp_post_tool: %s\n", err);
            goto done;
        }
    }
    rc = 0;
done:
    vp_tensor_free(&mt);
    free(scratch);
    free(res.count);
    free(res.det);
    free(res.keypoints);
    free(res.coefs);
    vp_tensor_destroy(&tp);
    vp_tensor_destroy(&tq);
    return rc;
}

static int cmd_semseg(int argc, char **argv)
{
    const char *in = NULL, *outp = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v)
            return usage("option without value");
        if (!strcmp(a, "--logits")) in = v;
        else if (!strcmp(a, "--out")) outp = v;
        else {
            fprintf(stderr, "vp_post_tool: unknown option %s\n", a);
            return 2;
        }
    }
    if (!in || !outp)
        return usage("semseg needs --logits and --out");
    int rc = 1;
    vp_tensor *t = NULL, *ct = NULL;
    vp_post_tensor pt;
    vp_post_params p;
    vp_post_layout lo;
    vp_post_params_default(&p);
    p.task = VP_TASK_SEMSEG;
    if (load(in, &t))
        goto done;
    if ((rc = to_post(t, &pt, "--logits")))
        goto done;
    if (vp_post_resolve(&p, &pt, 1, &lo)) {
        rc = 2;
        goto done;
    }
    rc = 1;
    vp_shape cs = {3, {lo.batch, lo.proto_h, lo.proto_w}};
    if (!(ct = vp_tensor_new(VP_DT_UINT8, &cs))) {
        fprintf(stderr, "vp_post_tool: out of memory\n");
        goto done;
    }
    for (int i = 0; i < lo.batch; i++)
        if (vp_post_semseg_cpu(&lo, &pt, i, (uint8_t *)ct->data + (size_t)i * (size_t)lo.anchors)) {
            fprintf(stderr, "vp_post_tool: vp_post_semseg_cpu failed\n");
            goto done;
        }
    char err[512];
    if (vp_tensor_save_npy(outp, ct, err, sizeof err)) {
        fprintf(stderr, "vp_post_tool: %s\n", err);
        goto done;
    }
    rc = 0;
done:
    vp_tensor_free(&ct);
    vp_tensor_destroy(&t);
    return rc;
}

static int cmd_map(void)
{
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        int sw, sh, dw, dh;
        vp_det d = {0};
        if (sscanf(line, "%d %d %d %d %f %f %f %f", &sw, &sh, &dw, &dh, &d.x0, &d.y0, &d.x1, &d.y1) != 8)
            return usage("map: lines of 'sw sh dw dh x0 y0 x1 y1'");
        vp_pre_params pp;
        vp_pre_geom g;
        vp_pre_params_default(&pp);
        pp.dst_width = dw;
        pp.dst_height = dh;
        if (vp_pre_geometry(sw, sh, &pp, &g))
            return 2;
        vp_post_map_box(&g, sw, sh, &d);
        printf("%.9g %.9g %.9g %.9g\n", (double)d.x0, (double)d.y0, (double)d.x1, (double)d.y1);
    }
    return 0;
}

static float rnd(uint32_t *s);

static int wire_fail(const char *what, double got, double want)
{
    fprintf(stderr, "FAIL wire: %s: got %.9g, expected %.9g\n", what, got, want);
    return 1;
}

static int cmd_wire(void)
{
    int bad = 0;
    /* units per pixel: floor(65535 / the longer side); 0 where 16 bits cannot carry it */
    static const struct {
        int w, h, nc;
        float want;
    } sc[] = {{640, 640, 80, 102.0f}, {640, 384, 80, 102.0f}, {384, 640, 1, 102.0f}, {1280, 720, 80, 51.0f},
              {65535, 1, 1, 1.0f},    {65536, 1, 1, 0.0f},    {0, 640, 80, 0.0f},    {640, 640, 65536, 102.0f},
              {640, 640, 65537, 0.0f}, {640, 640, 0, 0.0f}};
    for (size_t i = 0; i < sizeof sc / sizeof sc[0]; i++) {
        float got = vp_det_wire_scale(sc[i].w, sc[i].h, sc[i].nc);
        if (got != sc[i].want) {
            char what[96];
            snprintf(what, sizeof what, "scale of %dx%d, %d classes", sc[i].w, sc[i].h, sc[i].nc);
            bad |= wire_fail(what, got, sc[i].want);
        }
    }
    /* corners: x clamped to [0, side], times the scale, nearest even */
    static const struct {
        float x;
        int side;
        float scale;
        unsigned want;
    } cc[] = {{10.0f, 640, 102.0f, 1020},  {-3.0f, 640, 102.0f, 0},      {700.0f, 640, 102.0f, 65280},
              {640.0f, 640, 102.0f, 65280}, {0.0049f, 640, 102.0f, 0},    {0.0050f, 640, 102.0f, 1},
              {2.5f, 65535, 1.0f, 2},       {3.5f, 65535, 1.0f, 4},       {65535.0f, 65535, 1.0f, 65535},
              {1e30f, 65535, 1.0f, 65535},  {-1e30f, 640, 102.0f, 0},     {NAN, 640, 102.0f, 0},
              {INFINITY, 384, 102.0f, 39168}};
    for (size_t i = 0; i < sizeof cc / sizeof cc[0]; i++) {
        vp_det d = {cc[i].x, cc[i].x, cc[i].x, cc[i].x, 0.5f, 7, 3};
        vp_det_wire w;
        memset(&w, 0xA5, sizeof w);
        vp_det_to_wire(&d, cc[i].scale, cc[i].side, cc[i].side, &w);
        char what[96];
        snprintf(what, sizeof what, "corner %.9g in %d px at %g units/px", (double)cc[i].x, cc[i].side,
                 (double)cc[i].scale);
        if (w.x0 != cc[i].want || w.y0 != cc[i].want || w.x1 != cc[i].want || w.y1 != cc[i].want)
            bad |= wire_fail(what, w.x0 != cc[i].want ? w.x0 : w.x0 == w.y0 ? w.x1 : w.y0, cc[i].want);
        if (w.pad != 0)
            bad |= wire_fail("pad", w.pad, 0);
    }
    /* each side clamps to its own extent; score and class as they are; back */
    vp_det d = {-5.0f, 100.25f, 639.5f, 500.0f, 0.123456789f, 65535, 42};
    vp_det_wire w;
    vp_det_to_wire(&d, 102.0f, 640, 384, &w);
    const unsigned want[4] = {0, 10226 /* 100.25 * 102 = 10225.5 -> even */, 65229, 39168};
    const uint16_t got[4] = {w.x0, w.y0, w.x1, w.y1};
    for (int k = 0; k < 4; k++)
        if (got[k] != want[k])
            bad |= wire_fail("640x384 box corner", got[k], want[k]);
    if (w.score != d.score || w.cls != 65535)
        bad |= wire_fail("score / class", w.score, d.score);
    vp_det back;
    vp_det_from_wire(&w, 102.0f, &back);
    const float bwant[4] = {0.0f, 10226.0f / 102.0f, 65229.0f / 102.0f, 384.0f};
    const float bgot[4] = {back.x0, back.y0, back.x1, back.y1};
    for (int k = 0; k < 4; k++)
        if (bgot[k] != bwant[k])
            bad |= wire_fail("corner back", bgot[k], bwant[k]);
    if (back.score != d.score || back.cls != 65535 || back.anchor != -1)
        bad |= wire_fail("score / class / anchor back", back.anchor, -1);
    /* the way back is within half a unit of the clamped corner */
    uint32_t seed = 99;
    for (int i = 0; i < 100000; i++) {
        float x = rnd(&seed) * 700.0f - 30.0f, c = x < 0.0f ? 0.0f : x > 640.0f ? 640.0f : x;
        vp_det a = {x, x, x, x, 0.0f, 0, 0}, b;
        vp_det_to_wire(&a, 102.0f, 640, 640, &w);
        vp_det_from_wire(&w, 102.0f, &b);
        if (fabsf(b.x0 - c) > 0.5f / 102.0f + 1e-4f) {
            bad |= wire_fail("round trip", b.x0, c);
            break;
        }
    }
    if (!bad)
        printf("wire: ok\n");
    return bad;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Deterministic pseudo-random numbers in [0, 1) (xorshift32). */
static float rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return (float)(*s >> 8) * (1.0f / 16777216.0f);
}

static int cmd_bench(int argc, char **argv)
{
    int reps = argc > 2 ? atoi(argv[2]) : 50;
    if (reps < 1)
        return usage("bench REPS must be positive");
    enum { F = 84, A = 8400 };
    float *pf = malloc(sizeof(float) * F * A);
    uint16_t *ph = malloc(sizeof(uint16_t) * F * A);
    vp_post_params p;
    vp_post_params_default(&p);
    vp_det *det = malloc(sizeof(vp_det) * (size_t)p.max_det);
    int32_t count = 0;
    uint32_t seed = 12345;
    int rc = 1;
    void *scratch = NULL;
    if (!pf || !ph || !det)
        goto done;
    for (int f = 0; f < F; f++)
        for (int a = 0; a < A; a++) {
            float r = rnd(&seed);
            /* boxes across the picture; scores mostly tiny, ~1 in 2000 high */
            float v = f < 2 ? r * 640.0f : f < 4 ? 10.0f + r * 100.0f : (r > 0.9995f ? 0.3f + r * 0.6f : r * 0.05f);
            pf[(size_t)f * A + (size_t)a] = v;
            ph[(size_t)f * A + (size_t)a] = vp_float_to_half(v);
        }
    for (int dt = 0; dt < 2; dt++) {
        vp_post_tensor t = {dt ? (const void *)ph : (const void *)pf, dt ? VP_PRE_FP16 : VP_PRE_FP32, 3, {1, F, A, 0}};
        vp_post_layout lo;
        if (vp_post_resolve(&p, &t, 1, &lo))
            goto done;
        free(scratch);
        if (!(scratch = malloc(vp_post_scratch_bytes(&p, &lo))))
            goto done;
        vp_post_results res = {&count, det, NULL, NULL};
        double t0 = now_s();
        for (int r = 0; r < reps; r++)
            if (vp_postprocess_cpu(&p, &lo, &t, &res, scratch))
                goto done;
        double ms = (now_s() - t0) * 1e3 / reps;
        printf("post-processing [1,84,8400] %s: %.3f ms per image, %d detections\n", dt ? "fp16" : "fp32", ms,
               (int)count);
    }
    rc = 0;
done:
    if (rc)
        fprintf(stderr, "vp_post_tool: bench failed\n");
    free(scratch);
    free(pf);
    free(ph);
    free(det);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage("need a command: run, semseg, map, wire or bench");
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc, argv);
    if (!strcmp(argv[1], "semseg"))
        return cmd_semseg(argc, argv);
    if (!strcmp(argv[1], "map"))
        return cmd_map();
    if (!strcmp(argv[1], "bench"))
        return cmd_bench(argc, argv);
    if (!strcmp(argv[1], "wire"))
        return cmd_wire();
    return usage("unknown command");
}
