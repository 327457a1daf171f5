/*
 * The CUDA post-processing (vp_cuda_postprocess in libvidpipe_cuda.so)
 * against the CPU implementation (vp_postprocess_cpu) on the same model
 * outputs: the header promises identical results, so the check is exact.
 *
 * Predictions are synthetic and deterministic, with controlled score and
 * box distributions:
 *   - few:     most anchors below the threshold, ~2% with one strong class;
 *   - many:    nearly every anchor passes (more candidates than
 *              max_candidates: the radix-select path);
 *   - ties:    scores from a handful of float16-exact values, so many
 *              candidates tie exactly (order by anchor, then class; the
 *              first maximal class of an anchor wins);
 *   - cluster: boxes around a few centres (heavy overlap, long NMS chains);
 *   - grid:    32x32 boxes on an 8-pixel grid, iou_threshold set to the
 *              exact IoU of two neighbours (vp_post_iou): exact IoU ties at
 *              the threshold (kept: the test is strictly >), plus duplicates;
 *   - zeros:   conf_threshold < 0 and scores of +0, -0 and 0.5 (+0 and -0
 *              compare equal: their order is by anchor);
 *   - special: some +inf scores and non-finite box coordinates.
 * Both layouts (V8 [N, F, A], V5 [N, A, F] with objectness), float32 and
 * float16, detect / pose (keypoints) / segment (mask coefficients),
 * multi_label (including more candidates than the list holds: the
 * recomputing path), class_agnostic, batch 1..32, max_det truncation, small
 * and maximal max_candidates.
 *
 * Checks, per case: count[i] equal for every image, every field of every
 * detection bitwise equal (NaN equal to any NaN: payloads differ between
 * x86 and CUDA), keypoints and coefficients likewise;
 * sentinel bytes after every result array and after the scratch buffer are
 * untouched, and so are the result entries past count[i] (this
 * implementation writes nothing there); the scratch starts as garbage.
 * Some cases are captured into a CUDA graph (after one uncaptured call, as
 * callers do) and replayed twice, the second time on other predictions
 * copied into the same buffer (the graph reads its inputs, it does not bake
 * them). Bad parameters are refused with VP_ERR_INVALID and leave no CUDA
 * error behind.
 *
 *   vp_postprocess_gpu            run the checks
 *   vp_postprocess_gpu --bench    also time YOLOv8n-sized outputs
 *                                 ([B, 84, 8400] float16), batch 1 and 32
 *                                 (printed, never asserted)
 *
 * Exit: 0 pass, 1 fail, 77 when no CUDA device is usable.
 */
#include "vision/postprocess.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK(call)                                                                                  \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) {                                                                  \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorName(e_)); \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)

#define SENT 256 /* sentinel bytes after every device array */

/* ------------------------------------------------------------ generator */

static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static float urand(uint32_t *s)
{
    return (float)rnd(s) / 16777216.0f;
}

/* float -> float16 bits, round to nearest even (inf/NaN kept). */
static uint16_t f2h(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0u));
    if (ax >= 0x477ff000u) /* >= 65520: rounds to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (ax < 0x38800000u) /* below 2^-14: subnormal or zero, in units of 2^-24 (exact scaling) */
        return (uint16_t)(sign | (uint16_t)nearbyintf(fabsf(f) * 16777216.0f));
    uint32_t h = ((((ax >> 23) - 127u + 15u) << 10) | ((ax & 0x7fffffu) >> 13));
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h++;
    return (uint16_t)(sign | h);
}

enum { D_FEW, D_MANY, D_TIES, D_CLUSTER, D_GRID, D_ZEROS, D_SPECIAL };
static const char *const DIST_NAME[] = {"few", "many", "ties", "cluster", "grid", "zeros", "special"};

typedef struct pcase {
    vp_yolo_layout layout;
    int dtype;      /* VP_PRE_FP32 / VP_PRE_FP16 */
    vp_task task;
    int batch, anchors, nc, nk, kd, nm;
    int dist;
    float conf;     /* NAN: the distribution's default */
    int K, max_det, agnostic, multi_label, graph;
} pcase;

/* Grid boxes: IoU of two 32x32 boxes 8 pixels apart, the threshold of the
 * grid cases. */
static float grid_iou(void)
{
    vp_det a = {0, 0, 32, 32, 1, 0, 0}, b = {8, 0, 40, 32, 1, 0, 1};
    return vp_post_iou(&a, &b);
}

/* The value of feature f of anchor a in image img, in float (before any
 * float16 rounding). */
typedef struct gen {
    const pcase *c;
    int F, cls0, extra0;
    uint32_t seed;
} gen;

static void gen_anchor(const gen *g, int img, int a, float *v)
{
    const pcase *c = g->c;
    uint32_t s = g->seed ^ ((uint32_t)img * 2654435761u) ^ ((uint32_t)a * 40503u);
    (void)rnd(&s);
    /* box */
    float cx, cy, w, h;
    if (c->dist == D_CLUSTER) {
        uint32_t cs = g->seed + (uint32_t)img * 7u + (rnd(&s) % 6u);
        float ccx = 50.0f + (float)(rnd(&cs) % 540u), ccy = 50.0f + (float)(rnd(&cs) % 540u);
        cx = ccx + (urand(&s) - 0.5f) * 12.0f;
        cy = ccy + (urand(&s) - 0.5f) * 12.0f;
        w = 60.0f + urand(&s) * 40.0f;
        h = 60.0f + urand(&s) * 40.0f;
    } else if (c->dist == D_GRID) {
        cx = 16.0f + 8.0f * (float)(rnd(&s) % 10u);
        cy = 16.0f + 8.0f * (float)(rnd(&s) % 10u);
        w = h = 32.0f;
    } else {
        cx = urand(&s) * 640.0f;
        cy = urand(&s) * 640.0f;
        w = 4.0f + urand(&s) * 200.0f;
        h = 4.0f + urand(&s) * 200.0f;
    }
    if (c->dist == D_SPECIAL && rnd(&s) % 50u == 0) {
        float *t = rnd(&s) % 2u ? &w : &cx;
        *t = rnd(&s) % 2u ? INFINITY : NAN;
    }
    v[0] = cx;
    v[1] = cy;
    v[2] = w;
    v[3] = h;
    int v5 = c->layout == VP_YOLO_V5;
    /* scores */
    static const float TIE[] = {0.25f, 0.5f, 0.625f, 0.75f, 0.75f, 0.875f};
    float obj = 1.0f;
    if (v5) {
        obj = c->dist == D_TIES ? (rnd(&s) % 2u ? 1.0f : 0.75f) : 0.3f + 0.7f * urand(&s);
        v[4] = obj;
    }
    int strong = rnd(&s) % 50u == 0 ? (int)(rnd(&s) % (uint32_t)c->nc) : -1;
    for (int k = 0; k < c->nc; k++) {
        float x;
        switch (c->dist) {
        case D_FEW: x = k == strong ? 0.3f + 0.7f * urand(&s) : 0.2f * urand(&s); break;
        case D_TIES: x = rnd(&s) % 3u ? 0.125f : TIE[rnd(&s) % 6u]; break;
        case D_ZEROS: {
            uint32_t r = rnd(&s) % 3u;
            x = r == 0 ? 0.0f : r == 1 ? -0.0f : 0.5f;
            break;
        }
        case D_SPECIAL: x = rnd(&s) % 200u == 0 ? INFINITY : urand(&s); break;
        default: x = urand(&s); break; /* many, cluster, grid */
        }
        v[g->cls0 + k] = x;
    }
    /* extras: keypoints (x, y in pixels, visibility) or mask coefficients */
    for (int e = g->extra0; e < g->F; e++) {
        int k = e - g->extra0;
        if (c->task == VP_TASK_POSE)
            v[e] = c->kd == 3 && k % 3 == 2 ? urand(&s) : urand(&s) * 640.0f;
        else
            v[e] = (urand(&s) - 0.5f) * 4.0f;
    }
}

/* Fills the host tensor (layout, dtype of the case) for `seed`. */
static void fill(const gen *g, void *host, float *tmp)
{
    const pcase *c = g->c;
    int A = c->anchors, F = g->F;
    for (int i = 0; i < c->batch; i++)
        for (int a = 0; a < A; a++) {
            gen_anchor(g, i, a, tmp);
            for (int f = 0; f < F; f++) {
                size_t idx = (size_t)i * A * F +
                             (c->layout == VP_YOLO_V5 ? (size_t)a * F + f : (size_t)f * A + a);
                if (c->dtype == VP_PRE_FP16)
                    ((uint16_t *)host)[idx] = f2h(tmp[f]);
                else
                    ((float *)host)[idx] = tmp[f];
            }
        }
}

/* --------------------------------------------------------------- cases */

typedef struct buffers {
    size_t n_det, kp_per, cf_per;
    size_t b_count, b_det, b_kp, b_cf, b_scratch;
    int32_t *h_count;
    vp_det *h_det;
    float *h_kp, *h_cf;
    uint8_t *g_count, *g_det, *g_kp, *g_cf; /* host copies of the device arrays (with sentinels) */
    void *d_count, *d_det, *d_kp, *d_cf, *d_scratch;
    uint8_t *g_scratch_tail;
} buffers;

static void free_buffers(buffers *b)
{
    free(b->h_count);
    free(b->h_det);
    free(b->h_kp);
    free(b->h_cf);
    free(b->g_count);
    free(b->g_det);
    free(b->g_kp);
    free(b->g_cf);
    free(b->g_scratch_tail);
    cudaFree(b->d_count);
    cudaFree(b->d_det);
    cudaFree(b->d_kp);
    cudaFree(b->d_cf);
    cudaFree(b->d_scratch);
    memset(b, 0, sizeof *b);
}

/* Device results back to the host copies. */
static int fetch(buffers *b)
{
    CK(cudaMemcpy(b->g_count, b->d_count, b->b_count + SENT, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(b->g_det, b->d_det, b->b_det + SENT, cudaMemcpyDeviceToHost));
    if (b->d_kp)
        CK(cudaMemcpy(b->g_kp, b->d_kp, b->b_kp + SENT, cudaMemcpyDeviceToHost));
    if (b->d_cf)
        CK(cudaMemcpy(b->g_cf, b->d_cf, b->b_cf + SENT, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(b->g_scratch_tail, (uint8_t *)b->d_scratch + b->b_scratch, SENT, cudaMemcpyDeviceToHost));
    return 0;
fail:
    return -1;
}

/* Result arrays to sentinel bytes (0xA5) again. */
static int wipe(buffers *b)
{
    CK(cudaMemset(b->d_count, 0xA5, b->b_count + SENT));
    CK(cudaMemset(b->d_det, 0xA5, b->b_det + SENT));
    if (b->d_kp)
        CK(cudaMemset(b->d_kp, 0xA5, b->b_kp + SENT));
    if (b->d_cf)
        CK(cudaMemset(b->d_cf, 0xA5, b->b_cf + SENT));
    return 0;
fail:
    return -1;
}

static int all_a5(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0xA5)
            return 0;
    return 1;
}

/* Equal floats: the same bits, or both NaN (a NaN's payload is not part of
 * the contract: x86 propagates an input's payload, CUDA returns its
 * canonical NaN, e.g. for a box corner computed from a NaN or inf - inf). */
static int same_float(float a, float b)
{
    return !memcmp(&a, &b, sizeof a) || (isnan(a) && isnan(b));
}

static int same_det(const vp_det *a, const vp_det *b)
{
    return same_float(a->x0, b->x0) && same_float(a->y0, b->y0) && same_float(a->x1, b->x1) &&
           same_float(a->y1, b->y1) && same_float(a->score, b->score) && a->cls == b->cls && a->anchor == b->anchor;
}

static int same_floats(const uint8_t *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float x;
        memcpy(&x, a + i * sizeof x, sizeof x);
        if (!same_float(x, b[i]))
            return 0;
    }
    return 1;
}

static void print_det(const char *who, const vp_det *d)
{
    uint32_t bits;
    memcpy(&bits, &d->score, sizeof bits);
    fprintf(stderr, "    %s: box (%.9g, %.9g, %.9g, %.9g) score %.9g (0x%08x) class %d anchor %d\n", who, d->x0, d->y0,
            d->x1, d->y1, d->score, (unsigned)bits, (int)d->cls, (int)d->anchor);
}

/* GPU results (host copies) against the CPU's. Returns 0 if equal. */
static int compare(const pcase *c, const vp_post_params *p, const buffers *b, const char *name, size_t *dets)
{
    int N = c->batch, md = p->max_det;
    if (!all_a5(b->g_count + b->b_count, SENT) || !all_a5(b->g_det + b->b_det, SENT) ||
        (b->d_kp && !all_a5(b->g_kp + b->b_kp, SENT)) || (b->d_cf && !all_a5(b->g_cf + b->b_cf, SENT))) {
        fprintf(stderr, "FAIL %s: a sentinel after a result array was overwritten\n", name);
        return -1;
    }
    if (!all_a5(b->g_scratch_tail, SENT)) {
        fprintf(stderr, "FAIL %s: write past the scratch size (vp_cuda_post_scratch_bytes)\n", name);
        return -1;
    }
    for (int i = 0; i < N; i++) {
        int32_t n;
        memcpy(&n, b->g_count + (size_t)i * sizeof n, sizeof n);
        if (n != b->h_count[i]) {
            fprintf(stderr, "FAIL %s: image %d: gpu %d detections, cpu %d\n", name, i, (int)n, (int)b->h_count[i]);
            return -1;
        }
        if (n < 0 || n > md) {
            fprintf(stderr, "FAIL %s: image %d: count %d outside 0..max_det\n", name, i, n);
            return -1;
        }
        const vp_det *gd = (const vp_det *)(const void *)b->g_det + (size_t)i * md;
        const vp_det *cd = b->h_det + (size_t)i * md;
        for (int k = 0; k < n; k++)
            if (!same_det(&gd[k], &cd[k])) {
                fprintf(stderr, "FAIL %s: image %d detection %d of %d differs\n", name, i, k, n);
                print_det("gpu", &gd[k]);
                print_det("cpu", &cd[k]);
                return -1;
            }
        if (!all_a5((const uint8_t *)(gd + n), (size_t)(md - n) * sizeof(vp_det))) {
            fprintf(stderr, "FAIL %s: image %d: detection entries past count %d written\n", name, i, n);
            return -1;
        }
        const struct {
            const uint8_t *g;
            const float *h;
            size_t per;
            const char *what;
        } ex[2] = {{b->g_kp, b->h_kp, b->kp_per, "keypoints"}, {b->g_cf, b->h_cf, b->cf_per, "mask coefficients"}};
        for (int x = 0; x < 2; x++) {
            if (!ex[x].g || !ex[x].per)
                continue;
            size_t per = ex[x].per * sizeof(float);
            const uint8_t *g0 = ex[x].g + (size_t)i * md * per;
            const float *h0 = ex[x].h + (size_t)i * md * ex[x].per;
            for (int k = 0; k < n; k++)
                if (!same_floats(g0 + k * per, h0 + k * ex[x].per, ex[x].per)) {
                    fprintf(stderr, "FAIL %s: image %d detection %d: %s differ\n", name, i, k, ex[x].what);
                    return -1;
                }
            if (!all_a5(g0 + (size_t)n * per, (size_t)(md - n) * per)) {
                fprintf(stderr, "FAIL %s: image %d: %s past count %d written\n", name, i, ex[x].what, n);
                return -1;
            }
        }
        *dets += (size_t)n;
    }
    return 0;
}

static void case_params(const pcase *c, vp_post_params *p)
{
    vp_post_params_default(p);
    p->task = c->task;
    p->layout = c->layout;
    p->num_classes = c->nc;
    p->num_keypoints = c->task == VP_TASK_POSE ? c->nk : 0;
    p->keypoint_dims = c->task == VP_TASK_POSE ? c->kd : 3;
    p->num_masks = c->task == VP_TASK_SEGMENT ? c->nm : 0;
    p->conf_threshold = !isnan(c->conf) ? c->conf
                        : c->dist == D_MANY ? 0.05f
                        : c->dist == D_TIES ? 0.3f
                        : c->dist == D_ZEROS ? -1.0f
                                             : 0.25f;
    p->iou_threshold = c->dist == D_GRID ? grid_iou() : 0.45f;
    p->max_candidates = c->K;
    p->max_det = c->max_det;
    p->class_agnostic = c->agnostic;
    p->multi_label = c->multi_label;
}

static int features_of(const pcase *c)
{
    return 4 + (c->layout == VP_YOLO_V5) + c->nc + (c->task == VP_TASK_POSE ? c->nk * c->kd : 0) +
           (c->task == VP_TASK_SEGMENT ? c->nm : 0);
}

static void case_tensors(const pcase *c, const void *data, vp_post_tensor out[2])
{
    int F = features_of(c);
    memset(out, 0, 2 * sizeof *out);
    out[0].data = data;
    out[0].dtype = c->dtype;
    out[0].rank = 3;
    out[0].d[0] = c->batch;
    out[0].d[1] = c->layout == VP_YOLO_V5 ? c->anchors : F;
    out[0].d[2] = c->layout == VP_YOLO_V5 ? F : c->anchors;
    /* prototypes (segment): only their shape matters here, masks are not computed */
    static float proto_dummy[16];
    out[1].data = proto_dummy;
    out[1].dtype = VP_PRE_FP32;
    out[1].rank = 4;
    out[1].d[0] = c->batch;
    out[1].d[1] = c->nm;
    out[1].d[2] = 8;
    out[1].d[3] = 8;
}

static int run_case(const pcase *c, int idx, cudaStream_t st, size_t *dets, int verbose)
{
    char name[200];
    snprintf(name, sizeof name, "#%d %s %s %s %s b%d A%d nc%d%s K%d det%d%s%s%s", idx,
             c->layout == VP_YOLO_V5 ? "v5" : "v8", c->dtype == VP_PRE_FP16 ? "fp16" : "fp32",
             c->task == VP_TASK_POSE ? "pose" : c->task == VP_TASK_SEGMENT ? "seg" : "det", DIST_NAME[c->dist],
             c->batch, c->anchors, c->nc, c->task == VP_TASK_POSE ? (c->kd == 2 ? " kp2" : " kp3") : "", c->K,
             c->max_det, c->multi_label ? " multi" : "", c->agnostic ? " agnostic" : "", c->graph ? " graph" : "");
    vp_post_params p;
    case_params(c, &p);
    int F = features_of(c), ret = -1, rc;
    size_t esz = c->dtype == VP_PRE_FP16 ? 2 : 4, elems = (size_t)c->batch * c->anchors * F;
    void *host = malloc(elems * esz), *dev = NULL;
    float *tmp = malloc((size_t)F * sizeof(float));
    buffers b;
    memset(&b, 0, sizeof b);
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    if (!host || !tmp)
        goto fail;
    vp_post_tensor out[2], dout[2];
    case_tensors(c, host, out);
    vp_post_layout lo;
    rc = vp_post_resolve(&p, out, c->task == VP_TASK_SEGMENT ? 2 : 1, &lo);
    if (rc) {
        fprintf(stderr, "FAIL %s: vp_post_resolve: %s\n", name, vp_strerror(rc));
        goto fail;
    }
    gen g = {c, F, 4 + (c->layout == VP_YOLO_V5), 4 + (c->layout == VP_YOLO_V5) + c->nc, 0x9e3779b9u * (uint32_t)(idx + 1)};
    if (lo.class_offset != g.cls0 || lo.num_classes != c->nc || lo.anchors != c->anchors || lo.features != F ||
        (c->task != VP_TASK_DETECT && lo.extra_offset != g.extra0)) {
        fprintf(stderr, "FAIL %s: vp_post_resolve gave classes %d at %d, extra at %d, A %d, F %d (expected %d at %d, "
                "%d, %d, %d)\n", name, lo.num_classes, lo.class_offset, lo.extra_offset, lo.anchors, lo.features,
                c->nc, g.cls0, g.extra0, c->anchors, F);
        goto fail;
    }
    fill(&g, host, tmp);

    /* buffers: CPU results, device results with sentinels, scratch with a tail */
    int N = c->batch, md = p.max_det;
    b.n_det = (size_t)N * md;
    b.kp_per = c->task == VP_TASK_POSE ? (size_t)c->nk * c->kd : 0;
    b.cf_per = c->task == VP_TASK_SEGMENT ? (size_t)c->nm : 0;
    b.b_count = (size_t)N * sizeof(int32_t);
    b.b_det = b.n_det * sizeof(vp_det);
    b.b_kp = b.n_det * b.kp_per * sizeof(float);
    b.b_cf = b.n_det * b.cf_per * sizeof(float);
    b.b_scratch = vp_cuda_post_scratch_bytes(&p, &lo);
    if (!b.b_scratch) {
        fprintf(stderr, "FAIL %s: vp_cuda_post_scratch_bytes returned 0\n", name);
        goto fail;
    }
    b.h_count = malloc(b.b_count);
    b.h_det = malloc(b.b_det);
    b.g_count = malloc(b.b_count + SENT);
    b.g_det = malloc(b.b_det + SENT);
    b.g_scratch_tail = malloc(SENT);
    if (!b.h_count || !b.h_det || !b.g_count || !b.g_det || !b.g_scratch_tail)
        goto fail;
    if (b.kp_per && (!(b.h_kp = malloc(b.b_kp)) || !(b.g_kp = malloc(b.b_kp + SENT))))
        goto fail;
    if (b.cf_per && (!(b.h_cf = malloc(b.b_cf)) || !(b.g_cf = malloc(b.b_cf + SENT))))
        goto fail;
    CK(cudaMalloc(&dev, elems * esz));
    CK(cudaMemcpy(dev, host, elems * esz, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&b.d_count, b.b_count + SENT));
    CK(cudaMalloc(&b.d_det, b.b_det + SENT));
    if (b.kp_per)
        CK(cudaMalloc(&b.d_kp, b.b_kp + SENT));
    if (b.cf_per)
        CK(cudaMalloc(&b.d_cf, b.b_cf + SENT));
    CK(cudaMalloc(&b.d_scratch, b.b_scratch + SENT));
    CK(cudaMemset(b.d_scratch, 0xA5, b.b_scratch + SENT)); /* garbage: nothing may rely on its contents */
    if (wipe(&b))
        goto fail;

    vp_post_results hres = {b.h_count, b.h_det, b.h_kp, b.h_cf};
    vp_post_results dres = {(int32_t *)b.d_count, (vp_det *)b.d_det, (float *)b.d_kp, (float *)b.d_cf};
    case_tensors(c, dev, dout);
    rc = vp_postprocess_cpu(&p, &lo, out, &hres, NULL);
    if (rc) {
        fprintf(stderr, "FAIL %s: vp_postprocess_cpu: %s\n", name, vp_strerror(rc));
        goto fail;
    }
    rc = vp_cuda_postprocess(&p, &lo, dout, &dres, b.d_scratch, st);
    if (rc) {
        fprintf(stderr, "FAIL %s: vp_cuda_postprocess: %s\n", name, vp_strerror(rc));
        goto fail;
    }
    CK(cudaStreamSynchronize(st));
    if (fetch(&b) || compare(c, &p, &b, name, dets))
        goto fail;
    if (c->graph) {
        /* capture, replay on the same predictions, then on others */
        if (wipe(&b))
            goto fail;
        CK(cudaStreamSynchronize(st));
        CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
        rc = vp_cuda_postprocess(&p, &lo, dout, &dres, b.d_scratch, st);
        cudaError_t ce = cudaStreamEndCapture(st, &graph);
        if (rc || ce != cudaSuccess) {
            fprintf(stderr, "FAIL %s: capture: vp_cuda_postprocess %s, end capture %s\n", name, vp_strerror(rc),
                    cudaGetErrorName(ce));
            goto fail;
        }
        CK(cudaGraphInstantiate(&exec, graph, 0));
        CK(cudaGraphLaunch(exec, st));
        CK(cudaStreamSynchronize(st));
        if (fetch(&b) || compare(c, &p, &b, name, dets))
            goto fail;
        g.seed ^= 0x5bd1e995u;
        fill(&g, host, tmp);
        rc = vp_postprocess_cpu(&p, &lo, out, &hres, NULL);
        if (rc) {
            fprintf(stderr, "FAIL %s: vp_postprocess_cpu (second predictions): %s\n", name, vp_strerror(rc));
            goto fail;
        }
        if (wipe(&b))
            goto fail;
        CK(cudaMemcpy(dev, host, elems * esz, cudaMemcpyHostToDevice));
        CK(cudaGraphLaunch(exec, st));
        CK(cudaStreamSynchronize(st));
        if (fetch(&b) || compare(c, &p, &b, name, dets)) {
            fprintf(stderr, "     (graph replay on new predictions)\n");
            goto fail;
        }
    }
    if (verbose) {
        long tot = 0;
        for (int i = 0; i < N; i++)
            tot += b.h_count[i];
        printf("ok   %-78s %ld detections\n", name, tot);
    }
    ret = 0;
fail:
    if (exec)
        cudaGraphExecDestroy(exec);
    if (graph)
        cudaGraphDestroy(graph);
    cudaFree(dev);
    free_buffers(&b);
    free(host);
    free(tmp);
    return ret;
}

/* ---------------------------------------------------------- bad params */

static int check_errors(cudaStream_t st)
{
    int fails = 0;
    pcase c = {VP_YOLO_V8, VP_PRE_FP32, VP_TASK_DETECT, 2, 100, 3, 0, 0, 0, D_FEW, NAN, 64, 10, 0, 0, 0};
    vp_post_params p;
    case_params(&c, &p);
    void *dev = NULL, *scratch = NULL, *dcount = NULL, *ddet = NULL;
    static float host_pred[2 * 7 * 100];
    static vp_det host_det[20];
    vp_post_tensor out[2];
    vp_post_layout lo;
    case_tensors(&c, host_pred, out);
    if (vp_post_resolve(&p, out, 1, &lo)) {
        fprintf(stderr, "FAIL error cases: vp_post_resolve refused a good configuration\n");
        return -1;
    }
    size_t sb = vp_cuda_post_scratch_bytes(&p, &lo);
    CK(cudaMalloc(&dev, sizeof host_pred));
    CK(cudaMemset(dev, 0, sizeof host_pred));
    CK(cudaMalloc(&scratch, sb ? sb : 1));
    CK(cudaMalloc(&dcount, 2 * sizeof(int32_t)));
    CK(cudaMalloc(&ddet, 20 * sizeof(vp_det)));
    vp_post_tensor dout[2];
    case_tensors(&c, dev, dout);
    vp_post_results res = {(int32_t *)dcount, (vp_det *)ddet, NULL, NULL};

#define EXPECT_INVALID(what, P, LO, OUT, RES, SCR)                                          \
    do {                                                                                    \
        int rc_ = vp_cuda_postprocess(P, LO, OUT, RES, SCR, st);                            \
        if (rc_ != VP_ERR_INVALID) {                                                        \
            fprintf(stderr, "FAIL %s: not refused (%s)\n", what, vp_strerror(rc_));         \
            fails++;                                                                        \
        }                                                                                   \
    } while (0)

    vp_post_params q = p;
    vp_post_layout l2 = lo;
    vp_post_tensor o2 = dout[0];
    vp_post_results r2 = res;
    l2.task = VP_TASK_SEMSEG;
    EXPECT_INVALID("semseg layout", &p, &l2, dout, &res, scratch);
    l2 = lo;
    l2.layout = VP_YOLO_AUTO;
    EXPECT_INVALID("unresolved layout", &p, &l2, dout, &res, scratch);
    q.max_candidates = 0;
    EXPECT_INVALID("max_candidates 0", &q, &lo, dout, &res, scratch);
    if (vp_cuda_post_scratch_bytes(&q, &lo) != 0) {
        fprintf(stderr, "FAIL scratch size for max_candidates 0 is not 0\n");
        fails++;
    }
    q = p;
    q.max_candidates = VP_POST_MAX_CANDIDATES + 1;
    EXPECT_INVALID("max_candidates above the maximum", &q, &lo, dout, &res, scratch);
    q = p;
    q.max_det = q.max_candidates + 1;
    EXPECT_INVALID("max_det above max_candidates", &q, &lo, dout, &res, scratch);
    q.max_det = 0;
    EXPECT_INVALID("max_det 0", &q, &lo, dout, &res, scratch);
    o2.dtype = 7;
    EXPECT_INVALID("bad dtype", &p, &lo, &o2, &res, scratch);
    o2 = dout[0];
    o2.d[2] = 99;
    EXPECT_INVALID("shape not matching the layout", &p, &lo, &o2, &res, scratch);
    o2 = dout[0];
    o2.data = NULL;
    EXPECT_INVALID("NULL predictions", &p, &lo, &o2, &res, scratch);
    EXPECT_INVALID("plain host predictions", &p, &lo, out, &res, scratch);
    r2.det = NULL;
    EXPECT_INVALID("NULL detection array", &p, &lo, dout, &r2, scratch);
    r2 = res;
    r2.det = host_det;
    EXPECT_INVALID("plain host detection array", &p, &lo, dout, &r2, scratch);
    EXPECT_INVALID("NULL scratch", &p, &lo, dout, &res, NULL);
    EXPECT_INVALID("misaligned scratch", &p, &lo, dout, &res, (uint8_t *)scratch + 4);
    EXPECT_INVALID("NULL params", NULL, &lo, dout, &res, scratch);
    EXPECT_INVALID("NULL layout", &p, NULL, dout, &res, scratch);
    if (vp_cuda_postprocess(&p, &lo, dout, &res, scratch, st) != VP_OK) { /* control */
        fprintf(stderr, "FAIL good call after refused ones failed\n");
        fails++;
    }
#undef EXPECT_INVALID
    CK(cudaStreamSynchronize(st));
    CK(cudaGetLastError());
    int32_t cnt[2];
    CK(cudaMemcpy(cnt, dcount, sizeof cnt, cudaMemcpyDeviceToHost));
    if (cnt[0] != 0 || cnt[1] != 0) { /* all-zero predictions: nothing above 0.25 */
        fprintf(stderr, "FAIL all-zero predictions gave %d, %d detections\n", (int)cnt[0], (int)cnt[1]);
        fails++;
    }
    cudaFree(dev);
    cudaFree(scratch);
    cudaFree(dcount);
    cudaFree(ddet);
    printf("error cases: %d failed\n", fails);
    return fails ? -1 : 0;
fail:
    cudaFree(dev);
    cudaFree(scratch);
    cudaFree(dcount);
    cudaFree(ddet);
    return -1;
}

/* --------------------------------------------------------------- bench */

/* YOLOv8n at 640: [B, 84, 8400] float16; timings printed, never asserted. */
static int bench_one(cudaStream_t st, int batch, float conf, int multi)
{
    pcase c = {VP_YOLO_V8, VP_PRE_FP16, VP_TASK_DETECT, batch, 8400, 80, 0, 0, 0, D_FEW, conf, 1024, 300, 0, multi, 0};
    vp_post_params p;
    case_params(&c, &p);
    int F = features_of(&c), ret = -1, iters = 200;
    size_t elems = (size_t)batch * c.anchors * F;
    uint16_t *host = malloc(elems * 2);
    float tmp[84];
    void *dev = NULL, *scratch = NULL, *dcount = NULL, *ddet = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    if (!host)
        goto fail;
    vp_post_tensor out[2];
    vp_post_layout lo;
    case_tensors(&c, host, out);
    if (vp_post_resolve(&p, out, 1, &lo))
        goto fail;
    gen g = {&c, F, 4, 84, 12345u};
    fill(&g, host, tmp);
    size_t sb = vp_cuda_post_scratch_bytes(&p, &lo);
    CK(cudaMalloc(&dev, elems * 2));
    CK(cudaMemcpy(dev, host, elems * 2, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&scratch, sb));
    CK(cudaMalloc(&dcount, (size_t)batch * sizeof(int32_t)));
    CK(cudaMalloc(&ddet, (size_t)batch * p.max_det * sizeof(vp_det)));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    vp_post_tensor dout[2];
    case_tensors(&c, dev, dout);
    vp_post_results res = {(int32_t *)dcount, (vp_det *)ddet, NULL, NULL};
    for (int i = 0; i < 10; i++)
        if (vp_cuda_postprocess(&p, &lo, dout, &res, scratch, st))
            goto fail;
    CK(cudaEventRecord(e0, st));
    for (int i = 0; i < iters; i++)
        if (vp_cuda_postprocess(&p, &lo, dout, &res, scratch, st))
            goto fail;
    CK(cudaEventRecord(e1, st));
    CK(cudaEventSynchronize(e1));
    float ms, ms_graph;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
    if (vp_cuda_postprocess(&p, &lo, dout, &res, scratch, st)) {
        cudaStreamEndCapture(st, &graph);
        goto fail;
    }
    CK(cudaStreamEndCapture(st, &graph));
    CK(cudaGraphInstantiate(&exec, graph, 0));
    CK(cudaGraphLaunch(exec, st));
    CK(cudaEventRecord(e0, st));
    for (int i = 0; i < iters; i++)
        CK(cudaGraphLaunch(exec, st));
    CK(cudaEventRecord(e1, st));
    CK(cudaEventSynchronize(e1));
    CK(cudaEventElapsedTime(&ms_graph, e0, e1));
    int32_t cnt[32];
    long tot = 0;
    CK(cudaMemcpy(cnt, dcount, (size_t)batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    for (int i = 0; i < batch; i++)
        tot += cnt[i];
    printf("bench GPU: [%d, 84, 8400] fp16, conf %.3g%s, K %d, max_det %d: %.1f us per batch (stream), %.1f us "
           "(graph); %.1f detections per image\n",
           batch, conf, multi ? " multi_label" : "", p.max_candidates, p.max_det, 1e3 * ms / iters,
           1e3 * ms_graph / iters, (double)tot / batch);
    ret = 0;
fail:
    if (exec)
        cudaGraphExecDestroy(exec);
    if (graph)
        cudaGraphDestroy(graph);
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    cudaFree(dev);
    cudaFree(scratch);
    cudaFree(dcount);
    cudaFree(ddet);
    free(host);
    return ret;
}

static int bench(cudaStream_t st)
{
    /* conf 0.25: a few hundred candidates per image (deployment);
     * 0.001: every anchor passes, top-k by radix select (evaluation);
     * 0.001 multi_label: ~670k candidates per image, more than the list
     * holds, so the select kernel recomputes them (the slow, exact path) */
    static const float confs[3] = {0.25f, 0.001f, 0.001f};
    for (int k = 0; k < 3; k++)
        if (bench_one(st, 1, confs[k], k == 2) || bench_one(st, 32, confs[k], k == 2))
            return -1;
    return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    int do_bench = argc > 1 && !strcmp(argv[1], "--bench");
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        printf("SKIP: no usable CUDA device (cudaGetDeviceCount: %s, %d devices)\n",
               e != cudaSuccess ? cudaGetErrorName(e) : "ok", ndev);
        return 77;
    }
    cudaStream_t st = NULL;
    if (cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) != cudaSuccess) {
        fprintf(stderr, "FAIL cudaStreamCreate\n");
        return 1;
    }
    const vp_yolo_layout V8 = VP_YOLO_V8, V5 = VP_YOLO_V5;
    const int F32 = VP_PRE_FP32, F16 = VP_PRE_FP16;
    const vp_task DET = VP_TASK_DETECT, POSE = VP_TASK_POSE, SEG = VP_TASK_SEGMENT;
    /* layout dtype task batch A nc nk kd nm dist conf K max_det agnostic multi graph */
    const pcase cases[] = {
        /* YOLOv8n-sized */
        {V8, F16, DET, 2, 8400, 80, 0, 0, 0, D_FEW, NAN, 1024, 300, 0, 0, 0},
        {V8, F32, DET, 1, 8400, 80, 0, 0, 0, D_FEW, NAN, 1024, 300, 0, 0, 1},
        {V8, F16, DET, 32, 8400, 80, 0, 0, 0, D_FEW, NAN, 1024, 300, 0, 0, 0},
        {V8, F16, DET, 16, 8400, 80, 0, 0, 0, D_MANY, NAN, 1024, 300, 0, 0, 0},
        {V8, F16, DET, 2, 8400, 80, 0, 0, 0, D_MANY, 0.001f, 4096, 300, 0, 0, 1},
        /* many candidates > max_candidates, radix-select path */
        {V8, F32, DET, 2, 2000, 5, 0, 0, 0, D_MANY, NAN, 100, 50, 0, 0, 0},
        {V8, F32, DET, 2, 5000, 3, 0, 0, 0, D_MANY, NAN, 4096, 4096, 0, 0, 0},
        {V5, F32, DET, 2, 6300, 80, 0, 0, 0, D_MANY, NAN, 1024, 300, 0, 0, 0},
        {V5, F16, DET, 16, 6300, 80, 0, 0, 0, D_FEW, NAN, 1024, 300, 0, 0, 0},
        /* exact score ties */
        {V8, F16, DET, 2, 3000, 7, 0, 0, 0, D_TIES, NAN, 1024, 300, 0, 0, 0},
        {V8, F32, DET, 2, 3000, 7, 0, 0, 0, D_TIES, NAN, 200, 100, 0, 0, 0},
        {V5, F16, DET, 2, 3000, 7, 0, 0, 0, D_TIES, NAN, 500, 100, 0, 0, 0},
        {V8, F32, DET, 2, 3000, 7, 0, 0, 0, D_TIES, NAN, 300, 300, 0, 1, 0},
        {V5, F32, DET, 1, 3000, 7, 0, 0, 0, D_TIES, NAN, 4096, 1000, 1, 1, 1},
        {V8, F32, DET, 2, 500, 4, 0, 0, 0, D_ZEROS, NAN, 1024, 300, 0, 0, 0},
        {V8, F16, DET, 2, 500, 4, 0, 0, 0, D_ZEROS, NAN, 1024, 300, 1, 1, 0},
        /* heavy overlap, exact IoU ties */
        {V8, F32, DET, 2, 4000, 3, 0, 0, 0, D_CLUSTER, NAN, 1024, 300, 0, 0, 0},
        {V8, F16, DET, 4, 4000, 3, 0, 0, 0, D_CLUSTER, NAN, 4096, 4096, 1, 0, 0},
        {V5, F32, DET, 2, 4000, 3, 0, 0, 0, D_CLUSTER, NAN, 2048, 100, 0, 1, 0},
        {V8, F32, DET, 2, 2000, 3, 0, 0, 0, D_GRID, NAN, 1024, 300, 0, 0, 0},
        {V8, F16, DET, 2, 2000, 3, 0, 0, 0, D_GRID, NAN, 2048, 2048, 1, 0, 1},
        {V5, F32, DET, 2, 2000, 3, 0, 0, 0, D_GRID, 0.1f, 4096, 4096, 0, 1, 0},
        /* multi_label with more candidates than the list holds (recomputed) */
        {V8, F32, DET, 2, 1000, 20, 0, 0, 0, D_MANY, NAN, 1024, 300, 0, 1, 0},
        {V8, F16, DET, 2, 1000, 20, 0, 0, 0, D_MANY, NAN, 4096, 4096, 0, 1, 0},
        {V5, F16, DET, 2, 1000, 20, 0, 0, 0, D_MANY, NAN, 700, 300, 1, 1, 1},
        {V8, F16, DET, 1, 8400, 80, 0, 0, 0, D_MANY, 0.001f, 1024, 300, 0, 1, 0},
        {V8, F32, DET, 2, 100, 20, 0, 0, 0, D_MANY, 0.7f, 4096, 4096, 0, 1, 0}, /* > list, < K */
        /* max_det truncation, tiny K, tiny A */
        {V8, F32, DET, 2, 3000, 4, 0, 0, 0, D_CLUSTER, NAN, 1024, 1, 0, 0, 0},
        {V8, F32, DET, 2, 3000, 4, 0, 0, 0, D_FEW, 0.01f, 10, 3, 0, 0, 0},
        {V8, F32, DET, 2, 3000, 4, 0, 0, 0, D_MANY, NAN, 1, 1, 0, 0, 0},
        {V5, F16, DET, 3, 1, 1, 0, 0, 0, D_MANY, NAN, 64, 5, 0, 0, 0},
        {V8, F32, DET, 2, 65, 1, 0, 0, 0, D_MANY, NAN, 64, 64, 0, 0, 0},
        {V8, F32, DET, 2, 130, 2, 0, 0, 0, D_CLUSTER, NAN, 129, 129, 0, 1, 0},
        /* non-finite inputs */
        {V8, F32, DET, 2, 3000, 5, 0, 0, 0, D_SPECIAL, NAN, 1024, 300, 0, 0, 0},
        {V5, F16, DET, 2, 3000, 5, 0, 0, 0, D_SPECIAL, NAN, 1024, 300, 1, 1, 0},
        /* pose */
        {V8, F16, POSE, 2, 8400, 1, 17, 3, 0, D_FEW, NAN, 1024, 300, 0, 0, 0},
        {V8, F32, POSE, 16, 8400, 1, 17, 3, 0, D_CLUSTER, NAN, 1024, 300, 0, 0, 1},
        {V5, F32, POSE, 2, 3000, 2, 5, 2, 0, D_MANY, NAN, 512, 100, 0, 1, 0},
        {V8, F16, POSE, 2, 3000, 1, 64, 3, 0, D_TIES, NAN, 1024, 300, 0, 0, 0},
        /* segment */
        {V8, F16, SEG, 2, 8400, 80, 0, 0, 32, D_FEW, NAN, 1024, 300, 0, 0, 0},
        {V8, F32, SEG, 4, 8400, 80, 0, 0, 32, D_CLUSTER, NAN, 1024, 300, 0, 0, 1},
        {V5, F16, SEG, 2, 3000, 3, 0, 0, 64, D_MANY, NAN, 2048, 500, 1, 0, 0},
        {V8, F32, SEG, 32, 2000, 3, 0, 0, 1, D_TIES, NAN, 300, 200, 0, 1, 0},
    };
    const int ncases = (int)(sizeof cases / sizeof cases[0]);
    int fails = 0;
    size_t dets = 0;
    for (int i = 0; i < ncases; i++)
        fails += run_case(&cases[i], i, st, &dets, 1) != 0;
    fails += check_errors(st) != 0;
    printf("postprocess_gpu: %d cases, %d failed; %zu detections compared bit for bit\n", ncases, fails, dets);
    if (!fails && do_bench && bench(st))
        fails++;
    cudaStreamDestroy(st);
    return fails ? 1 : 0;
}
