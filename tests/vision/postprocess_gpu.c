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
 *
 * Per-pixel post-processing (cuda/segment.cu), also against the CPU:
 *   - vp_cuda_semseg vs vp_post_semseg_cpu: the class map byte for byte and
 *     the counts per class inside each image's window (counted on the host
 *     from the CPU's map, the window clipped as the header says), float32
 *     and float16 logits; random logits, exact ties (first maximum wins),
 *     NaN/inf/-0; full windows, letterbox-like inner windows smaller than
 *     the map, odd ones (beyond the edges, empty, inverted, outside, one
 *     pixel, one column); 1 to 255 classes, one-pixel and DeepLabV3-sized
 *     (512x512) maps, more than 64 images (several launches); counts
 *     without the class map (the pipeline's call); graph capture and
 *     replay on new logits; a hand-computed 2x3 case; negative controls (a
 *     last-maximum rule, a window one column narrower: both must differ).
 *   - vp_cuda_masks vs vp_post_mask_cpu: every mask of every detection,
 *     tolerance 0 (no pixel may differ: the logit is summed with the same
 *     float operations in the same order), float32 and float16 prototypes;
 *     boxes at and beyond every edge, outside, on exact pixel edges and one
 *     ulp off, inside one pixel, empty, inverted, NaN and infinite corners;
 *     an image with max_det detections (up to VP_POST_MAX_CANDIDATES), one
 *     with none; full-map boxes filling the bit arrays' capacity; logits
 *     that cancel to exactly 0 in the CPU's order but not in the reverse
 *     one (negative control: the reversed sum must differ, and a flipped
 *     bit must be caught); NaN/inf prototypes and coefficients; detections
 *     made by vp_cuda_postprocess itself; graph capture and replay on new
 *     boxes; a hand-computed 3x4 case with its compact form (0x3a). The
 *     compact form: rectangles against a copy of vp_post_mask_cpu's loop,
 *     offsets, word counts, zero padding bits, nothing written past
 *     count[i] or past the image's words (sentinels).
 *   - Bad arguments of both: VP_ERR_INVALID, no CUDA error left.
 *
 * Exit: 0 pass, 1 fail, 77 when no CUDA device is usable.
 */
#include "vision/postprocess.h"
#include "engine/graph.h" /* vp_half_to_float */

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

/* The kept detections packed on the GPU (vp_cuda_pack_dets) against
 * vp_det_to_wire of the CPU's, byte for byte, in a 640x384 input (y corners
 * past 384 clamp); nothing past the packed entries written. */
static int pack_check(const buffers *b, const vp_post_results *dres, int N, int md, cudaStream_t st,
                      const char *name)
{
    const int in_w = 640, in_h = 384;
    const float scale = vp_det_wire_scale(in_w, in_h, 1);
    size_t cap = (size_t)N * (size_t)md * sizeof(vp_det_wire), total = 0;
    vp_det_wire *want = malloc(cap ? cap : 1);
    uint8_t *got = malloc(cap + SENT);
    void *d_wire = NULL;
    int ret = -1;
    if (!want || !got)
        goto fail;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < b->h_count[i]; k++)
            vp_det_to_wire(&b->h_det[(size_t)i * md + k], scale, in_w, in_h, &want[total++]);
    CK(cudaMalloc(&d_wire, cap + SENT));
    CK(cudaMemset(d_wire, 0xA5, cap + SENT));
    int rc = vp_cuda_pack_dets(dres, N, md, scale, in_w, in_h, (vp_det_wire *)d_wire, st);
    if (rc) {
        fprintf(stderr, "FAIL %s: vp_cuda_pack_dets: %s\n", name, vp_strerror(rc));
        goto fail;
    }
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(got, d_wire, cap + SENT, cudaMemcpyDeviceToHost));
    for (size_t k = 0; k < total; k++)
        if (memcmp(got + k * sizeof(vp_det_wire), &want[k], sizeof(vp_det_wire))) {
            vp_det_wire g;
            memcpy(&g, got + k * sizeof g, sizeof g);
            fprintf(stderr, "FAIL %s: packed detection %zu of %zu: gpu (%u %u %u %u %.9g %u %u), cpu (%u %u %u %u %.9g "
                    "%u %u)\n", name, k, total, g.x0, g.y0, g.x1, g.y1, (double)g.score, g.cls, g.pad, want[k].x0,
                    want[k].y0, want[k].x1, want[k].y1, (double)want[k].score, want[k].cls, want[k].pad);
            goto fail;
        }
    if (!all_a5(got + total * sizeof(vp_det_wire), cap - total * sizeof(vp_det_wire) + SENT)) {
        fprintf(stderr, "FAIL %s: packing wrote past its %zu entries\n", name, total);
        goto fail;
    }
    /* a scale that does not fit 16 bits is refused before any launch */
    if (vp_cuda_pack_dets(dres, N, md, scale * 2.0f, in_w, in_h, (vp_det_wire *)d_wire, st) != VP_ERR_INVALID) {
        fprintf(stderr, "FAIL %s: vp_cuda_pack_dets took a scale of %g for %dx%d\n", name, (double)(scale * 2.0f),
                in_w, in_h);
        goto fail;
    }
    ret = 0;
fail:
    cudaFree(d_wire);
    free(want);
    free(got);
    return ret;
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
    if (fetch(&b) || compare(c, &p, &b, name, dets) || pack_check(&b, &dres, N, md, st, name))
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

/* ============================================================= semseg */

/* The kernels below run on a non-blocking stream, which does not wait for
 * the legacy default stream's cudaMemset / cudaMemcpy: wait for those
 * before a launch. */
#define SETTLE() CK(cudaDeviceSynchronize())

/* vp_cuda_semseg against vp_post_semseg_cpu: the class map byte for byte
 * (requested as the optional output) and the counts per class against
 * counts taken from the CPU's class map inside the same window, clipped as
 * the header says. Exact: the argmax only compares floats. */

enum { S_RANDOM, S_TIES, S_SPECIAL };
static const char *const SDIST_NAME[] = {"random", "ties", "special"};
enum { W_FULL, W_INNER, W_ODD };
static const char *const WIN_NAME[] = {"full", "inner", "odd"};

typedef struct scase {
    int dtype, batch, C, H, W;
    int dist, win;
    int classes;   /* 1: ask for the class map too */
    int graph;     /* 1: also captured into a graph and replayed */
} scase;

/* Logit of (image, channel, pixel) before any float16 rounding. */
static float slogit(const scase *c, uint32_t seed, int i, int ch, size_t px)
{
    uint32_t s = seed ^ ((uint32_t)i * 2654435761u) ^ ((uint32_t)ch * 40503u) ^ ((uint32_t)px * 2246822519u);
    (void)rnd(&s);
    (void)rnd(&s);
    switch (c->dist) {
    case S_TIES: {
        /* a handful of values: exact ties between channels are common */
        static const float V[] = {0.0f, 0.5f, 1.0f, 1.0f, 1.0f, 2.0f};
        return V[rnd(&s) % 6u];
    }
    case S_SPECIAL: {
        uint32_t r = rnd(&s) % 40u;
        return r == 0 ? NAN : r == 1 ? INFINITY : r == 2 ? -INFINITY : r == 3 ? -0.0f : urand(&s) * 8.0f - 4.0f;
    }
    default:
        return urand(&s) * 8.0f - 4.0f;
    }
}

static void sfill(const scase *c, uint32_t seed, void *host)
{
    size_t plane = (size_t)c->H * c->W;
    for (int i = 0; i < c->batch; i++)
        for (int ch = 0; ch < c->C; ch++)
            for (size_t px = 0; px < plane; px++) {
                size_t at = ((size_t)i * c->C + ch) * plane + px;
                float v = slogit(c, seed, i, ch, px);
                if (c->dtype == VP_PRE_FP16)
                    ((uint16_t *)host)[at] = f2h(v);
                else
                    ((float *)host)[at] = v;
            }
}

/* Window of image i, as the caller passes it (unclipped). */
static void swindow(const scase *c, int i, int32_t w[4])
{
    int W = c->W, H = c->H;
    if (c->win == W_FULL) {
        w[0] = 0, w[1] = 0, w[2] = W, w[3] = H;
    } else if (c->win == W_INNER) {
        /* a letterbox-like window smaller than the map, different per image */
        w[0] = i % 3 < W ? i % 3 : 0;
        w[1] = (2 * i) % 5 < H ? (2 * i) % 5 : 0;
        w[2] = W - i % 4 > w[0] ? W - i % 4 : W;
        w[3] = H - i % 2 > w[1] ? H - i % 2 : H;
    } else {
        /* beyond the map (clipped), empty, inverted, outside, one corner
         * pixel, the last column, negative */
        static const int K = 7;
        switch (i % K) {
        case 0: w[0] = -5, w[1] = -3, w[2] = W + 7, w[3] = H + 2; break;
        case 1: w[0] = W / 2, w[1] = 0, w[2] = W / 2, w[3] = H; break;
        case 2: w[0] = 3, w[1] = 3, w[2] = 1, w[3] = 1; break;
        case 3: w[0] = W, w[1] = H, w[2] = W + 5, w[3] = H + 5; break;
        case 4: w[0] = 0, w[1] = H - 1, w[2] = 1, w[3] = H; break;
        case 5: w[0] = W - 1, w[1] = 0, w[2] = W, w[3] = H; break;
        default: w[0] = -9, w[1] = -9, w[2] = -1, w[3] = 2; break;
        }
    }
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Counts of classes in the clipped window of a class map (the reference). */
static void count_window(const uint8_t *cls, int H, int W, const int32_t w[4], int32_t counts[256])
{
    memset(counts, 0, 256 * sizeof *counts);
    int x0 = clampi(w[0], 0, W), x1 = clampi(w[2], 0, W), y0 = clampi(w[1], 0, H), y1 = clampi(w[3], 0, H);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++)
            counts[cls[(size_t)y * W + x]]++;
}

/* GPU class map and counts (host copies with their sentinels) against the
 * CPU's. ref_cls: the CPU class maps of the batch. 0 if equal. */
static int semseg_compare(const scase *c, const char *name, const uint8_t *ref_cls, const uint8_t *g_cls,
                          const uint8_t *g_counts, const int32_t *win)
{
    size_t plane = (size_t)c->H * c->W, b_counts = (size_t)c->batch * 256 * sizeof(int32_t);
    if (!all_a5(g_counts + b_counts, SENT)) {
        fprintf(stderr, "FAIL %s: a sentinel after the count array was overwritten\n", name);
        return -1;
    }
    if (c->classes && !all_a5(g_cls + (size_t)c->batch * plane, SENT)) {
        fprintf(stderr, "FAIL %s: a sentinel after the class map was overwritten\n", name);
        return -1;
    }
    for (int i = 0; i < c->batch; i++) {
        const uint8_t *r = ref_cls + (size_t)i * plane;
        if (c->classes) {
            const uint8_t *g = g_cls + (size_t)i * plane;
            for (size_t px = 0; px < plane; px++)
                if (g[px] != r[px]) {
                    fprintf(stderr, "FAIL %s: image %d pixel (%zu, %zu): gpu class %d, cpu %d\n", name, i,
                            px % (size_t)c->W, px / (size_t)c->W, g[px], r[px]);
                    return -1;
                }
        }
        int32_t want[256], got[256];
        count_window(r, c->H, c->W, win + 4 * i, want);
        memcpy(got, g_counts + (size_t)i * 256 * sizeof(int32_t), sizeof got);
        for (int k = 0; k < 256; k++)
            if (got[k] != want[k]) {
                fprintf(stderr, "FAIL %s: image %d window (%d,%d)-(%d,%d): class %d counted %d, expected %d\n", name,
                        i, win[4 * i], win[4 * i + 1], win[4 * i + 2], win[4 * i + 3], k, got[k], want[k]);
                return -1;
            }
    }
    return 0;
}

static int run_semseg(const scase *c, int idx, cudaStream_t st, size_t *pixels, int verbose)
{
    char name[160];
    snprintf(name, sizeof name, "semseg #%d %s b%d C%d %dx%d %s window %s%s%s", idx,
             c->dtype == VP_PRE_FP16 ? "fp16" : "fp32", c->batch, c->C, c->W, c->H, SDIST_NAME[c->dist],
             WIN_NAME[c->win], c->classes ? " +map" : "", c->graph ? " graph" : "");
    int ret = -1, rc;
    size_t plane = (size_t)c->H * c->W, elems = (size_t)c->batch * c->C * plane;
    size_t esz = c->dtype == VP_PRE_FP16 ? 2 : 4, b_counts = (size_t)c->batch * 256 * sizeof(int32_t);
    size_t b_cls = (size_t)c->batch * plane;
    void *host = malloc(elems * esz), *dev = NULL, *d_counts = NULL, *d_cls = NULL;
    uint8_t *ref = malloc(b_cls), *g_cls = malloc(b_cls + SENT), *g_counts = malloc(b_counts + SENT);
    int32_t *win = malloc((size_t)c->batch * 4 * sizeof(int32_t));
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    if (!host || !ref || !g_cls || !g_counts || !win)
        goto fail;
    uint32_t seed = 0x85ebca6bu * (uint32_t)(idx + 7);
    sfill(c, seed, host);
    for (int i = 0; i < c->batch; i++)
        swindow(c, i, win + 4 * i);
    vp_post_params p;
    vp_post_params_default(&p);
    p.task = VP_TASK_SEMSEG;
    vp_post_tensor t = {host, c->dtype, 4, {c->batch, c->C, c->H, c->W}}, dt;
    vp_post_layout lo;
    if ((rc = vp_post_resolve(&p, &t, 1, &lo))) {
        fprintf(stderr, "FAIL %s: vp_post_resolve: %s\n", name, vp_strerror(rc));
        goto fail;
    }
    for (int i = 0; i < c->batch; i++)
        if ((rc = vp_post_semseg_cpu(&lo, &t, i, ref + (size_t)i * plane))) {
            fprintf(stderr, "FAIL %s: vp_post_semseg_cpu: %s\n", name, vp_strerror(rc));
            goto fail;
        }
    CK(cudaMalloc(&dev, elems * esz));
    CK(cudaMemcpy(dev, host, elems * esz, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&d_counts, b_counts + SENT));
    CK(cudaMemset(d_counts, 0xA5, b_counts + SENT)); /* garbage: the counts must be overwritten, bins >= C too */
    if (c->classes) {
        CK(cudaMalloc(&d_cls, b_cls + SENT));
        CK(cudaMemset(d_cls, 0xA5, b_cls + SENT));
    }
    dt = t;
    dt.data = dev;
    SETTLE();
    if ((rc = vp_cuda_semseg(&lo, &dt, win, (int32_t *)d_counts, (uint8_t *)d_cls, st))) {
        fprintf(stderr, "FAIL %s: vp_cuda_semseg: %s\n", name, vp_strerror(rc));
        goto fail;
    }
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(g_counts, d_counts, b_counts + SENT, cudaMemcpyDeviceToHost));
    if (c->classes)
        CK(cudaMemcpy(g_cls, d_cls, b_cls + SENT, cudaMemcpyDeviceToHost));
    if (semseg_compare(c, name, ref, g_cls, g_counts, win))
        goto fail;
    if (c->graph) {
        /* capture (the windows are kernel arguments: baked in), replay on
         * the same logits, then on others copied into the same buffer */
        CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
        rc = vp_cuda_semseg(&lo, &dt, win, (int32_t *)d_counts, (uint8_t *)d_cls, st);
        cudaError_t ce = cudaStreamEndCapture(st, &graph);
        if (rc || ce != cudaSuccess) {
            fprintf(stderr, "FAIL %s: capture: vp_cuda_semseg %s, end capture %s\n", name, vp_strerror(rc),
                    cudaGetErrorName(ce));
            goto fail;
        }
        CK(cudaGraphInstantiate(&exec, graph, 0));
        for (int r = 0; r < 2; r++) {
            if (r) {
                sfill(c, seed ^ 0x5bd1e995u, host);
                for (int i = 0; i < c->batch; i++)
                    if (vp_post_semseg_cpu(&lo, &t, i, ref + (size_t)i * plane))
                        goto fail;
                CK(cudaMemcpy(dev, host, elems * esz, cudaMemcpyHostToDevice));
            }
            CK(cudaMemset(d_counts, 0xA5, b_counts + SENT));
            if (d_cls)
                CK(cudaMemset(d_cls, 0xA5, b_cls + SENT));
            SETTLE();
            CK(cudaGraphLaunch(exec, st));
            CK(cudaStreamSynchronize(st));
            CK(cudaMemcpy(g_counts, d_counts, b_counts + SENT, cudaMemcpyDeviceToHost));
            if (c->classes)
                CK(cudaMemcpy(g_cls, d_cls, b_cls + SENT, cudaMemcpyDeviceToHost));
            if (semseg_compare(c, name, ref, g_cls, g_counts, win)) {
                fprintf(stderr, "     (graph replay %d)\n", r);
                goto fail;
            }
        }
    }
    *pixels += b_cls;
    if (verbose)
        printf("ok   %s\n", name);
    ret = 0;
fail:
    if (exec)
        cudaGraphExecDestroy(exec);
    if (graph)
        cudaGraphDestroy(graph);
    cudaFree(dev);
    cudaFree(d_counts);
    cudaFree(d_cls);
    free(host);
    free(ref);
    free(g_cls);
    free(g_counts);
    free(win);
    return ret;
}

/* Hand-computed: 1 image, 3 classes, 2x3 pixels, float32.
 *   channel 0: 1  5  0 / 2  2  -inf
 *   channel 1: 1  4  3 / 2  7  -inf
 *   channel 2: 0  5  3 / 9  7  NaN
 * argmax, first maximum winning (strict >, NaN never wins):
 *   0 0 1 / 2 1 0
 * window x 1..3, y 0..2 (columns 1 and 2): class 0: 2, class 1: 2, class 2: 0.
 * A "last maximum wins" rule (>=) would give 1 2 2 / 2 2 1 (negative
 * control: it must not match what the GPU gives). */
static int semseg_by_hand(cudaStream_t st)
{
    static const float L[3][6] = {{1, 5, 0, 2, 2, -INFINITY}, {1, 4, 3, 2, 7, -INFINITY}, {0, 5, 3, 9, 7, NAN}};
    static const uint8_t WANT[6] = {0, 0, 1, 2, 1, 0}, LAST_MAX[6] = {1, 2, 2, 2, 2, 1};
    const int32_t win[4] = {1, 0, 3, 2};
    int fails = 0;
    void *dev = NULL, *d_counts = NULL, *d_cls = NULL;
    uint8_t cpu[6], gpu[6];
    int32_t counts[256];
    vp_post_params p;
    vp_post_params_default(&p);
    p.task = VP_TASK_SEMSEG;
    vp_post_tensor t = {L, VP_PRE_FP32, 4, {1, 3, 2, 3}}, dt;
    vp_post_layout lo;
    if (vp_post_resolve(&p, &t, 1, &lo) || vp_post_semseg_cpu(&lo, &t, 0, cpu)) {
        fprintf(stderr, "FAIL semseg by hand: the CPU refused it\n");
        return -1;
    }
    CK(cudaMalloc(&dev, sizeof L));
    CK(cudaMemcpy(dev, L, sizeof L, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&d_counts, sizeof counts));
    CK(cudaMalloc(&d_cls, sizeof gpu));
    dt = t;
    dt.data = dev;
    SETTLE();
    if (vp_cuda_semseg(&lo, &dt, win, (int32_t *)d_counts, (uint8_t *)d_cls, st) != VP_OK) {
        fprintf(stderr, "FAIL semseg by hand: vp_cuda_semseg refused it\n");
        fails++;
        goto done;
    }
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(counts, d_counts, sizeof counts, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(gpu, d_cls, sizeof gpu, cudaMemcpyDeviceToHost));
    if (memcmp(cpu, WANT, 6)) {
        fprintf(stderr, "FAIL semseg by hand: the CPU's classes are not the hand-computed ones\n");
        fails++;
    }
    if (memcmp(gpu, WANT, 6)) {
        fprintf(stderr, "FAIL semseg by hand: the GPU's classes are not the hand-computed ones\n");
        fails++;
    }
    if (!memcmp(gpu, LAST_MAX, 6)) {
        fprintf(stderr, "FAIL semseg by hand: negative control: the GPU matches the last-maximum rule\n");
        fails++;
    }
    for (int k = 0; k < 256; k++)
        if (counts[k] != (k == 0 ? 2 : k == 1 ? 2 : 0)) {
            fprintf(stderr, "FAIL semseg by hand: class %d counted %d\n", k, counts[k]);
            fails++;
            break;
        }
done:
    cudaFree(dev);
    cudaFree(d_counts);
    cudaFree(d_cls);
    printf("semseg by hand: %d failed\n", fails);
    return fails ? -1 : 0;
fail:
    cudaFree(dev);
    cudaFree(d_counts);
    cudaFree(d_cls);
    return -1;
}

/* Negative controls of the semseg comparison on a tie-heavy batch: a
 * reference that lets the last maximum win, and counts of a window one
 * column narrower, must both disagree with the GPU's results. */
static int semseg_controls(cudaStream_t st)
{
    const scase c = {VP_PRE_FP32, 2, 5, 24, 20, S_TIES, W_FULL, 1, 0};
    size_t plane = (size_t)c.H * c.W, elems = (size_t)c.batch * c.C * plane;
    float *host = malloc(elems * sizeof(float));
    uint8_t *last = malloc((size_t)c.batch * plane), *gcls = malloc((size_t)c.batch * plane);
    int32_t win[8], counts[2 * 256], narrow[256];
    void *dev = NULL, *d_counts = NULL, *d_cls = NULL;
    int ret = -1;
    if (!host || !last || !gcls)
        goto fail;
    sfill(&c, 4242u, host);
    for (int i = 0; i < c.batch; i++)
        swindow(&c, i, win + 4 * i);
    /* last maximum wins (>=) */
    for (int i = 0; i < c.batch; i++)
        for (size_t px = 0; px < plane; px++) {
            int best = 0;
            for (int ch = 1; ch < c.C; ch++)
                if (host[((size_t)i * c.C + ch) * plane + px] >= host[((size_t)i * c.C + best) * plane + px])
                    best = ch;
            last[(size_t)i * plane + px] = (uint8_t)best;
        }
    vp_post_params p;
    vp_post_params_default(&p);
    p.task = VP_TASK_SEMSEG;
    vp_post_tensor t = {NULL, VP_PRE_FP32, 4, {c.batch, c.C, c.H, c.W}};
    vp_post_layout lo;
    t.data = host;
    if (vp_post_resolve(&p, &t, 1, &lo))
        goto fail;
    CK(cudaMalloc(&dev, elems * sizeof(float)));
    CK(cudaMemcpy(dev, host, elems * sizeof(float), cudaMemcpyHostToDevice));
    CK(cudaMalloc(&d_counts, sizeof counts));
    CK(cudaMalloc(&d_cls, (size_t)c.batch * plane));
    t.data = dev;
    SETTLE();
    if (vp_cuda_semseg(&lo, &t, win, (int32_t *)d_counts, (uint8_t *)d_cls, st))
        goto fail;
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(counts, d_counts, sizeof counts, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(gcls, d_cls, (size_t)c.batch * plane, cudaMemcpyDeviceToHost));
    if (!memcmp(last, gcls, (size_t)c.batch * plane)) {
        fprintf(stderr, "FAIL semseg control: the GPU's classes equal the last-maximum rule's (no ties tested?)\n");
        goto fail;
    }
    const int32_t w1[4] = {win[0], win[1], win[2] - 1, win[3]};
    count_window(gcls, c.H, c.W, w1, narrow);
    if (!memcmp(narrow, counts, sizeof narrow)) {
        fprintf(stderr, "FAIL semseg control: counts of a narrower window equal the GPU's\n");
        goto fail;
    }
    printf("semseg negative controls: both detected\n");
    ret = 0;
fail:
    cudaFree(dev);
    cudaFree(d_counts);
    cudaFree(d_cls);
    free(host);
    free(last);
    free(gcls);
    return ret;
}

/* ============================================================= masks */

/* vp_cuda_masks against vp_post_mask_cpu: every mask of every kept
 * detection, expanded from the compact form with vp_post_mask_expand,
 * compared pixel for pixel with tolerance 0 (no pixel may differ): both sum
 * the logit with the same float operations in the same order (the header's
 * promise), which the "cancel" prototypes check (their logits are 0 or not
 * depending on the order of the additions: a reversed order is caught, see
 * the negative control). The compact form itself is checked too: each
 * rectangle against a copy of vp_post_mask_cpu's loop, offsets contiguous
 * from 0, the image's word count their total, unused bits 0, nothing
 * written past count[i] or past the image's words. */

enum { B_RANDOM, B_EDGES, B_FULL };
static const char *const BOX_NAME[] = {"random", "edges", "full"};
enum { P_RANDOM, P_CANCEL, P_SPECIAL };
static const char *const PROTO_NAME[] = {"random", "cancel", "special"};

typedef struct mcase {
    int dtype, batch, nm, ph, pw, in_w, in_h, max_det;
    int boxes, protos;
    int graph;
} mcase;

static float proto_val(const mcase *c, uint32_t seed, int i, int k, size_t px)
{
    uint32_t s = seed ^ ((uint32_t)i * 2654435761u) ^ ((uint32_t)px * 2246822519u);
    (void)rnd(&s);
    if (c->protos == P_CANCEL) {
        /* channels 0..2: a, B, -B with a in {+-1, +-3, +-0.5} and B = 1024
         * (coefficients 1, 65536, 65536: products a, +-2^26, -+2^26), so
         * (a + B) - B = 0 in float while (-B + B) + a = a: the order of the
         * additions decides the mask bit. Channel 3 (when present): an
         * exact 0 or a small value; the rest 0. */
        static const float A[] = {1.0f, -1.0f, 3.0f, -3.0f, 0.5f, -0.5f};
        float a = A[rnd(&s) % 6u], B = rnd(&s) % 2u ? 1024.0f : -1024.0f;
        float small = rnd(&s) % 2u ? 0.0f : 0.25f;
        return k == 0 ? a : k == 1 ? B : k == 2 ? -B : k == 3 ? small : 0.0f;
    }
    for (int j = 0; j <= k; j++)
        (void)rnd(&s);
    if (c->protos == P_SPECIAL) {
        uint32_t r = rnd(&s) % 60u;
        if (r == 0)
            return NAN;
        if (r == 1)
            return INFINITY;
        if (r == 2)
            return -INFINITY;
        if (r == 3)
            return 0.0f;
    }
    return urand(&s) * 2.0f - 1.0f;
}

static float coef_val(const mcase *c, uint32_t seed, int i, int d, int k)
{
    if (c->protos == P_CANCEL)
        return k == 0 ? 1.0f : k < 3 ? 65536.0f : 1.0f;
    uint32_t s = seed ^ ((uint32_t)i * 0x27d4eb2fu) ^ ((uint32_t)d * 0x165667b1u) ^ ((uint32_t)k * 0x9e3779b9u);
    (void)rnd(&s);
    (void)rnd(&s);
    if (c->protos == P_SPECIAL && d % 17 == 5 && k == 0)
        return NAN;
    return urand(&s) * 4.0f - 2.0f;
}

/* Detection d of image i, model-input pixels. */
static vp_det mbox(const mcase *c, uint32_t seed, int i, int d)
{
    const float W = (float)c->in_w, H = (float)c->in_h;
    const float ux = W / (float)c->pw, uy = H / (float)c->ph; /* input pixels per prototype pixel */
    vp_det b = {0, 0, W, H, 0.5f, 0, d};
    if (c->boxes == B_FULL)
        return b;
    uint32_t s = seed ^ ((uint32_t)i * 0x85ebca6bu) ^ ((uint32_t)d * 0xc2b2ae35u);
    (void)rnd(&s);
    if (c->boxes == B_RANDOM || d >= 20) {
        float cx = urand(&s) * W * 1.2f - 0.1f * W, cy = urand(&s) * H * 1.2f - 0.1f * H;
        float w = 1.0f + urand(&s) * W * 0.6f, h = 1.0f + urand(&s) * H * 0.6f;
        b.x0 = cx - w / 2.0f, b.y0 = cy - h / 2.0f, b.x1 = cx + w / 2.0f, b.y1 = cy + h / 2.0f;
        return b;
    }
    switch (d) {
    case 0: break;                                                            /* the whole input */
    case 1: b.x0 = -50, b.y0 = -50, b.x1 = W + 50, b.y1 = H + 50; break;      /* beyond every edge */
    case 2: b.x0 = W + 1, b.y0 = 0, b.x1 = W + 40, b.y1 = 10; break;          /* right of the input */
    case 3: b.x0 = -40, b.y0 = -30, b.x1 = -1, b.y1 = -2; break;              /* above left */
    case 4: b.x0 = 3 * ux, b.y0 = 2 * uy, b.x1 = 7 * ux, b.y1 = 5 * uy; break; /* exact pixel edges */
    case 5: /* just below / above those edges */
        b.x0 = nextafterf(3 * ux, -INFINITY), b.y0 = nextafterf(2 * uy, INFINITY);
        b.x1 = nextafterf(7 * ux, INFINITY), b.y1 = nextafterf(5 * uy, -INFINITY);
        break;
    case 6: b.x0 = 1.2f * ux, b.y0 = 1.2f * uy, b.x1 = 1.4f * ux, b.y1 = 1.4f * uy; break; /* inside one pixel */
    case 7: b.x0 = b.x1 = 2 * ux, b.y0 = b.y1 = 2 * uy; break;                /* zero size on a pixel edge */
    case 8: b.x0 = 0.6f * W, b.y0 = 0.6f * H, b.x1 = 0.3f * W, b.y1 = 0.3f * H; break; /* inverted */
    case 9: b.x0 = NAN; break;
    case 10: b.y1 = NAN; break;
    case 11: b.x0 = -INFINITY, b.x1 = INFINITY, b.y0 = 0.5f * H, b.y1 = INFINITY; break;
    case 12: b.x0 = INFINITY, b.x1 = INFINITY; break;
    case 13: b.x0 = W - 1, b.y0 = H - 1; break;                               /* the last input pixel */
    case 14: b.x0 = W - ux, b.y0 = H - uy; break;                             /* the last prototype pixel */
    case 15: b.x1 = ux, b.y1 = uy; break;                                     /* the first prototype pixel */
    case 16: b.x0 = -0.0f, b.y0 = -1e-30f, b.x1 = 1e-30f, b.y1 = H; break;
    case 17: b.x0 = 0.5f * W, b.x1 = W * 2, b.y0 = -H, b.y1 = 0.5f * H; break;  /* two edges outside */
    case 18: b.x0 = 1e30f, b.x1 = 2e30f; break;
    default: b.x0 = -1e30f, b.x1 = 1e30f, b.y0 = -1e30f, b.y1 = 1e30f; break;
    }
    return b;
}

/* Detections per image: image 0 the maximum, 1 none, then others. */
static int mcount(const mcase *c, int i)
{
    return i % 3 == 0 ? c->max_det : i % 3 == 1 ? 0 : 1 + (int)((7u * (unsigned)i + 3u) % (unsigned)c->max_det);
}

/* vp_post_mask_cpu's range loop, copied: the first index >= b0, then on
 * while < b1. */
static void ref_range(float b0, float b1, int n, int *s, int *e)
{
    int a = 0;
    while (a < n && !((float)a >= b0))
        a++;
    int z = a;
    while (z < n && (float)z < b1)
        z++;
    *s = a, *e = z;
}

typedef struct mbufs {
    size_t cap, b_box, b_words, b_bits;
    uint8_t *g_box, *g_words, *g_bits; /* host copies with sentinels */
    void *d_box, *d_words, *d_bits;
} mbufs;

static int mfetch(mbufs *m)
{
    CK(cudaMemcpy(m->g_box, m->d_box, m->b_box + SENT, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(m->g_words, m->d_words, m->b_words + SENT, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(m->g_bits, m->d_bits, m->b_bits + SENT, cudaMemcpyDeviceToHost));
    return 0;
fail:
    return -1;
}

static int mwipe(mbufs *m)
{
    CK(cudaMemset(m->d_box, 0xA5, m->b_box + SENT));
    CK(cudaMemset(m->d_words, 0xA5, m->b_words + SENT));
    CK(cudaMemset(m->d_bits, 0xA5, m->b_bits + SENT));
    return 0;
fail:
    return -1;
}

/* GPU masks (host copies in m) against vp_post_mask_cpu on the same
 * prototypes (host tensor proto), counts, boxes and coefficients (host).
 * *pixels: mask pixels compared; *ones: of them set. 0 if equal. */
static int mask_compare(const mcase *c, const char *name, const vp_post_layout *lo, const vp_post_tensor *proto,
                        const int32_t *count, const vp_det *det, const float *coefs, const mbufs *m, size_t *pixels,
                        size_t *ones, int quiet)
{
#define MFAIL(...)                             \
    do {                                       \
        if (!quiet)                            \
            fprintf(stderr, __VA_ARGS__);      \
        goto out;                              \
    } while (0)
    const int md = c->max_det;
    const size_t plane = (size_t)c->ph * c->pw;
    const float sx = (float)c->pw / (float)c->in_w, sy = (float)c->ph / (float)c->in_h;
    uint8_t *want = malloc(plane), *got = malloc(plane);
    int ret = -1;
    if (!want || !got)
        goto out;
    if (!all_a5(m->g_box + m->b_box, SENT) || !all_a5(m->g_words + m->b_words, SENT) ||
        !all_a5(m->g_bits + m->b_bits, SENT))
        MFAIL("FAIL %s: a sentinel after a mask array was overwritten\n", name);
    for (int i = 0; i < c->batch; i++) {
        const vp_mask_box *bx = (const vp_mask_box *)(const void *)m->g_box + (size_t)i * md;
        const uint32_t *bits = (const uint32_t *)(const void *)m->g_bits + (size_t)i * m->cap;
        uint32_t words;
        memcpy(&words, m->g_words + (size_t)i * sizeof words, sizeof words);
        const int n = count[i];
        uint64_t run = 0;
        for (int k = 0; k < n; k++) {
            const vp_det *d = &det[(size_t)i * md + k];
            int x0, x1, y0, y1;
            ref_range(d->x0 * sx, d->x1 * sx, c->pw, &x0, &x1);
            ref_range(d->y0 * sy, d->y1 * sy, c->ph, &y0, &y1);
            const vp_mask_box *b = &bx[k];
            uint64_t area = (uint64_t)(x1 - x0) * (uint64_t)(y1 - y0);
            if (b->x0 != x0 || b->x1 != x1 || b->y0 != y0 || b->y1 != y1 || b->words != (area + 31) / 32 ||
                b->offset != run) {
                MFAIL("FAIL %s: image %d detection %d: box x %d..%d y %d..%d, %u words at %u; expected x %d..%d y "
                      "%d..%d, %u words at %llu (box %.9g %.9g %.9g %.9g)\n", name, i, k, b->x0, b->x1, b->y0, b->y1,
                      b->words, b->offset, x0, x1, y0, y1, (unsigned)((area + 31) / 32), (unsigned long long)run,
                      (double)d->x0, (double)d->y0, (double)d->x1, (double)d->y1);
            }
            run += b->words;
            if (area % 32 && (bits[b->offset + b->words - 1] >> (area % 32)) != 0)
                MFAIL("FAIL %s: image %d detection %d: bits past the rectangle set\n", name, i, k);
        }
        if (words != run || words > m->cap)
            MFAIL("FAIL %s: image %d: %u words, the boxes add up to %llu (capacity %zu)\n", name, i, words,
                  (unsigned long long)run, m->cap);
        if (!all_a5((const uint8_t *)(bx + n), (size_t)(md - n) * sizeof(vp_mask_box)) ||
            !all_a5((const uint8_t *)(bits + words), (m->cap - words) * sizeof(uint32_t)))
            MFAIL("FAIL %s: image %d: mask boxes past count %d or bits past %u words written\n", name, i, n, words);
        for (int k = 0; k < n; k++) {
            const size_t slot = (size_t)i * md + k;
            if (vp_post_mask_cpu(lo, proto, i, coefs + slot * c->nm, &det[slot], c->in_w, c->in_h, want) ||
                vp_post_mask_expand(lo, &bx[k], bits, words, got))
                MFAIL("FAIL %s: image %d detection %d: vp_post_mask_cpu or vp_post_mask_expand refused\n", name, i,
                      k);
            for (size_t px = 0; px < plane; px++)
                if (want[px] != got[px])
                    MFAIL("FAIL %s: image %d detection %d pixel (%zu, %zu): gpu %d, cpu %d\n", name, i, k,
                          px % (size_t)c->pw, px / (size_t)c->pw, got[px], want[px]);
            for (size_t px = 0; px < plane; px++)
                *ones += want[px];
            *pixels += plane;
        }
    }
    ret = 0;
out:
#undef MFAIL
    free(want);
    free(got);
    return ret;
}

/* The same mask summed in the reverse order (k descending): the negative
 * control of the "cancel" prototypes. */
static void mask_reversed(const mcase *c, const float *proto, int i, const float *cf, int x0, int x1, int y0, int y1,
                          uint8_t *mask)
{
    const size_t plane = (size_t)c->ph * c->pw;
    memset(mask, 0, plane);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            float acc = 0.0f;
            for (int k = c->nm - 1; k >= 0; k--) {
                float prod = cf[k] * proto[((size_t)i * c->nm + k) * plane + (size_t)y * c->pw + x];
                acc = acc + prod;
            }
            mask[(size_t)y * c->pw + x] = acc > 0.0f;
        }
}

/* from_post: the detections come from vp_cuda_postprocess /
 * vp_postprocess_cpu on generated segment predictions (pcase pc) instead of
 * the case's synthetic boxes; the device results are copied back and fed to
 * vp_post_mask_cpu, so the masks are compared on identical inputs. */
static int run_masks(const mcase *c, int idx, cudaStream_t st, const pcase *pc, size_t *pixels, size_t *ones,
                     int verbose)
{
    char name[200];
    snprintf(name, sizeof name, "masks #%d %s b%d nm%d %dx%d in %dx%d det%d boxes %s protos %s%s", idx,
             c->dtype == VP_PRE_FP16 ? "fp16" : "fp32", c->batch, c->nm, c->pw, c->ph, c->in_w, c->in_h,
             c->max_det, pc ? "from postprocess" : BOX_NAME[c->boxes], PROTO_NAME[c->protos],
             c->graph ? " graph" : "");
    const int N = c->batch, md = c->max_det, nm = c->nm;
    const size_t plane = (size_t)c->ph * c->pw, pelems = (size_t)N * nm * plane, esz = c->dtype == VP_PRE_FP16 ? 2 : 4;
    const size_t nd = (size_t)N * md;
    int ret = -1, rc;
    uint32_t seed = 0xcc9e2d51u * (uint32_t)(idx + 3);
    void *hproto = malloc(pelems * esz), *d_proto = NULL, *d_count = NULL, *d_det = NULL, *d_cf = NULL;
    float *fproto = malloc(pelems * sizeof(float)); /* float values (for the reversed control) */
    int32_t *count = malloc((size_t)N * sizeof(int32_t));
    vp_det *det = calloc(nd, sizeof(vp_det));
    float *coefs = calloc(nd * (size_t)nm, sizeof(float));
    uint8_t *rev = malloc(plane);
    void *pred = NULL, *d_pred = NULL, *d_scratch = NULL;
    mbufs m;
    memset(&m, 0, sizeof m);
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    if (!hproto || !fproto || !count || !det || !coefs || !rev)
        goto fail;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < nm; k++)
            for (size_t px = 0; px < plane; px++) {
                size_t at = ((size_t)i * nm + k) * plane + px;
                float v = proto_val(c, seed, i, k, px);
                if (c->dtype == VP_PRE_FP16) {
                    uint16_t h = f2h(v);
                    ((uint16_t *)hproto)[at] = h;
                    fproto[at] = vp_half_to_float(h);
                } else {
                    ((float *)hproto)[at] = v;
                    fproto[at] = v;
                }
            }
    vp_post_layout lo;
    memset(&lo, 0, sizeof lo);
    lo.task = VP_TASK_SEGMENT;
    lo.batch = N;
    lo.num_masks = nm;
    lo.proto_h = c->ph;
    lo.proto_w = c->pw;
    vp_post_tensor proto = {hproto, c->dtype, 4, {N, nm, c->ph, c->pw}}, dproto;
    m.cap = vp_post_mask_words(&lo, md);
    if (!m.cap) {
        fprintf(stderr, "FAIL %s: vp_post_mask_words is 0\n", name);
        goto fail;
    }
    m.b_box = nd * sizeof(vp_mask_box);
    m.b_words = (size_t)N * sizeof(uint32_t);
    m.b_bits = (size_t)N * m.cap * sizeof(uint32_t);
    m.g_box = malloc(m.b_box + SENT);
    m.g_words = malloc(m.b_words + SENT);
    m.g_bits = malloc(m.b_bits + SENT);
    if (!m.g_box || !m.g_words || !m.g_bits)
        goto fail;
    CK(cudaMalloc(&m.d_box, m.b_box + SENT));
    CK(cudaMalloc(&m.d_words, m.b_words + SENT));
    CK(cudaMalloc(&m.d_bits, m.b_bits + SENT));
    CK(cudaMalloc(&d_proto, pelems * esz));
    CK(cudaMemcpy(d_proto, hproto, pelems * esz, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&d_count, (size_t)N * sizeof(int32_t)));
    CK(cudaMalloc(&d_det, nd * sizeof(vp_det)));
    CK(cudaMalloc(&d_cf, nd * (size_t)nm * sizeof(float)));
    if (!pc) {
        for (int i = 0; i < N; i++) {
            count[i] = mcount(c, i);
            for (int d = 0; d < md; d++) {
                det[(size_t)i * md + d] = mbox(c, seed, i, d);
                for (int k = 0; k < nm; k++)
                    coefs[((size_t)i * md + d) * nm + k] = coef_val(c, seed, i, d, k);
            }
        }
        /* garbage past the counts: must not matter */
        for (int i = 0; i < N; i++)
            for (int d = count[i]; d < md; d++)
                det[(size_t)i * md + d].x0 = NAN;
        CK(cudaMemcpy(d_count, count, (size_t)N * sizeof(int32_t), cudaMemcpyHostToDevice));
        CK(cudaMemcpy(d_det, det, nd * sizeof(vp_det), cudaMemcpyHostToDevice));
        CK(cudaMemcpy(d_cf, coefs, nd * (size_t)nm * sizeof(float), cudaMemcpyHostToDevice));
    } else {
        /* predictions -> vp_cuda_postprocess -> its device results */
        vp_post_params p;
        case_params(pc, &p);
        int F = features_of(pc);
        size_t pe = (size_t)pc->batch * pc->anchors * F, pesz = pc->dtype == VP_PRE_FP16 ? 2 : 4;
        float *tmp = malloc((size_t)F * sizeof(float));
        pred = malloc(pe * pesz);
        if (!tmp || !pred || pc->batch != N || pc->nm != nm || pc->max_det != md) {
            free(tmp);
            goto fail;
        }
        vp_post_tensor out[2];
        case_tensors(pc, pred, out);
        out[1].d[2] = c->ph, out[1].d[3] = c->pw;
        vp_post_layout plo;
        if (vp_post_resolve(&p, out, 2, &plo)) {
            free(tmp);
            fprintf(stderr, "FAIL %s: vp_post_resolve\n", name);
            goto fail;
        }
        gen g = {pc, F, 4 + (pc->layout == VP_YOLO_V5), 4 + (pc->layout == VP_YOLO_V5) + pc->nc, seed};
        fill(&g, pred, tmp);
        free(tmp);
        size_t sb = vp_cuda_post_scratch_bytes(&p, &plo);
        CK(cudaMalloc(&d_pred, pe * pesz));
        CK(cudaMemcpy(d_pred, pred, pe * pesz, cudaMemcpyHostToDevice));
        CK(cudaMalloc(&d_scratch, sb ? sb : 1));
        vp_post_tensor dout[2];
        case_tensors(pc, d_pred, dout);
        vp_post_results dres = {(int32_t *)d_count, (vp_det *)d_det, NULL, (float *)d_cf};
        SETTLE();
        if ((rc = vp_cuda_postprocess(&p, &plo, dout, &dres, d_scratch, st))) {
            fprintf(stderr, "FAIL %s: vp_cuda_postprocess: %s\n", name, vp_strerror(rc));
            goto fail;
        }
        CK(cudaStreamSynchronize(st));
        CK(cudaMemcpy(count, d_count, (size_t)N * sizeof(int32_t), cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(det, d_det, nd * sizeof(vp_det), cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(coefs, d_cf, nd * (size_t)nm * sizeof(float), cudaMemcpyDeviceToHost));
    }
    if (mwipe(&m))
        goto fail;
    dproto = proto;
    dproto.data = d_proto;
    vp_post_results dres = {(int32_t *)d_count, (vp_det *)d_det, NULL, (float *)d_cf};
    vp_mask_results mres = {(vp_mask_box *)m.d_box, (uint32_t *)m.d_words, (uint32_t *)m.d_bits};
    SETTLE();
    if ((rc = vp_cuda_masks(&lo, &dproto, &dres, md, c->in_w, c->in_h, &mres, st))) {
        fprintf(stderr, "FAIL %s: vp_cuda_masks: %s\n", name, vp_strerror(rc));
        goto fail;
    }
    CK(cudaStreamSynchronize(st));
    if (mfetch(&m) || mask_compare(c, name, &lo, &proto, count, det, coefs, &m, pixels, ones, 0))
        goto fail;
    if (c->protos == P_CANCEL && !pc && count[0] > 0) {
        /* negative control (the case's own coefficients 1, 65536, 65536,
         * ...): the reversed order must give another mask for the first
         * detection with a non-empty box (image 0) */
        const vp_mask_box *bx = (const vp_mask_box *)(const void *)m.g_box;
        int k = 0;
        while (k < count[0] && (bx[k].x1 == bx[k].x0 || bx[k].y1 == bx[k].y0))
            k++;
        uint8_t *got = malloc(plane);
        uint32_t words;
        memcpy(&words, m.g_words, sizeof words);
        int differ = 0;
        if (got && k < count[0] &&
            !vp_post_mask_expand(&lo, &bx[k], (const uint32_t *)(const void *)m.g_bits, words, got)) {
            mask_reversed(c, fproto, 0, coefs + (size_t)k * nm, bx[k].x0, bx[k].x1, bx[k].y0, bx[k].y1, rev);
            for (size_t px = 0; px < plane; px++)
                differ += rev[px] != got[px];
        }
        free(got);
        if (!differ) {
            fprintf(stderr, "FAIL %s: negative control: the reversed summation gives the GPU's mask\n", name);
            goto fail;
        }
        /* and a flipped bit in the GPU's result is caught by the comparison */
        size_t dummy_px = 0, dummy_ones = 0;
        ((uint32_t *)(void *)m.g_bits)[bx[k].offset] ^= 1u;
        if (!mask_compare(c, name, &lo, &proto, count, det, coefs, &m, &dummy_px, &dummy_ones, 1)) {
            fprintf(stderr, "FAIL %s: negative control: a flipped mask bit was not noticed\n", name);
            goto fail;
        }
        if (verbose)
            printf("     %s: negative controls detected (%d pixels differ in reversed order)\n", name, differ);
    }
    if (c->graph) {
        /* capture, replay on the same inputs, then on other boxes and
         * counts copied into the same buffers */
        CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
        rc = vp_cuda_masks(&lo, &dproto, &dres, md, c->in_w, c->in_h, &mres, st);
        cudaError_t ce = cudaStreamEndCapture(st, &graph);
        if (rc || ce != cudaSuccess) {
            fprintf(stderr, "FAIL %s: capture: vp_cuda_masks %s, end capture %s\n", name, vp_strerror(rc),
                    cudaGetErrorName(ce));
            goto fail;
        }
        CK(cudaGraphInstantiate(&exec, graph, 0));
        for (int r = 0; r < 2; r++) {
            if (r) {
                for (int i = 0; i < N; i++) {
                    count[i] = mcount(c, i + 1);
                    for (int d = 0; d < count[i]; d++)
                        det[(size_t)i * md + d] = mbox(c, seed ^ 0x5bd1e995u, i, d + 3);
                }
                CK(cudaMemcpy(d_count, count, (size_t)N * sizeof(int32_t), cudaMemcpyHostToDevice));
                CK(cudaMemcpy(d_det, det, nd * sizeof(vp_det), cudaMemcpyHostToDevice));
            }
            if (mwipe(&m))
                goto fail;
            SETTLE();
            CK(cudaGraphLaunch(exec, st));
            CK(cudaStreamSynchronize(st));
            if (mfetch(&m) || mask_compare(c, name, &lo, &proto, count, det, coefs, &m, pixels, ones, 0)) {
                fprintf(stderr, "     (graph replay %d)\n", r);
                goto fail;
            }
        }
    }
    if (verbose) {
        long tot = 0;
        for (int i = 0; i < N; i++)
            tot += count[i];
        printf("ok   %s: %ld masks\n", name, tot);
    }
    ret = 0;
fail:
    if (exec)
        cudaGraphExecDestroy(exec);
    if (graph)
        cudaGraphDestroy(graph);
    cudaFree(m.d_box);
    cudaFree(m.d_words);
    cudaFree(m.d_bits);
    cudaFree(d_proto);
    cudaFree(d_count);
    cudaFree(d_det);
    cudaFree(d_cf);
    cudaFree(d_pred);
    cudaFree(d_scratch);
    free(m.g_box);
    free(m.g_words);
    free(m.g_bits);
    free(hproto);
    free(fproto);
    free(count);
    free(det);
    free(coefs);
    free(rev);
    free(pred);
    return ret;
}

/* Hand-computed: prototypes 2 x 3 x 4 (nm 2, ph 3, pw 4), input 8 x 6 (so
 * sx = 0.5, sy = 0.5), float32.
 *   proto 0:  1  1  1  1 / 1  2  3  4 / 0 0 0 0
 *   proto 1:  0  2  0  2 / 1  1  1  1 / 0 0 5 0
 * coefficients (1, -1): logit = p0 - p1:
 *    1 -1  1 -1 / 0  1  2  3 / 0 0 -5 0
 * box (2, 0)-(8, 4) in input pixels = x 1..4, y 0..2 in prototype pixels;
 * mask = logit > 0 inside:
 *    0 0 1 0 / 0 1 1 1 / 0 0 0 0
 * compact: rectangle x 1..4, y 0..2, 6 bits (row-major 0 1 0 / 1 1 1) =
 * 0b111010 = 0x3a in one word. Also the same with vp_post_mask_expand on
 * that word, and its refusals (rectangle outside the map, wrong word count,
 * words past the array). */
static int masks_by_hand(cudaStream_t st)
{
    static const float P[2][12] = {{1, 1, 1, 1, 1, 2, 3, 4, 0, 0, 0, 0}, {0, 2, 0, 2, 1, 1, 1, 1, 0, 0, 5, 0}};
    static const uint8_t WANT[12] = {0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0};
    const float cf[2] = {1.0f, -1.0f};
    const vp_det d = {2, 0, 8, 4, 0.9f, 0, 0};
    const int32_t one = 1;
    int fails = 0;
    void *dp = NULL, *dc = NULL, *dd = NULL, *dcf = NULL, *db = NULL, *dw = NULL, *dbits = NULL;
    uint8_t cpu[12], ex[12];
    vp_mask_box box;
    uint32_t words = 0, bits[2] = {0, 0};
    vp_post_layout lo;
    memset(&lo, 0, sizeof lo);
    lo.task = VP_TASK_SEGMENT, lo.batch = 1, lo.num_masks = 2, lo.proto_h = 3, lo.proto_w = 4;
    vp_post_tensor t = {P, VP_PRE_FP32, 4, {1, 2, 3, 4}}, dt;
    if (vp_post_mask_cpu(&lo, &t, 0, cf, &d, 8, 6, cpu) || memcmp(cpu, WANT, 12)) {
        fprintf(stderr, "FAIL masks by hand: the CPU's mask is not the hand-computed one\n");
        fails++;
    }
    CK(cudaMalloc(&dp, sizeof P));
    CK(cudaMemcpy(dp, P, sizeof P, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dc, sizeof one));
    CK(cudaMemcpy(dc, &one, sizeof one, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dd, sizeof d));
    CK(cudaMemcpy(dd, &d, sizeof d, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dcf, sizeof cf));
    CK(cudaMemcpy(dcf, cf, sizeof cf, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&db, sizeof box));
    CK(cudaMalloc(&dw, sizeof words));
    CK(cudaMalloc(&dbits, vp_post_mask_words(&lo, 1) * sizeof(uint32_t)));
    dt = t;
    dt.data = dp;
    vp_post_results res = {(int32_t *)dc, (vp_det *)dd, NULL, (float *)dcf};
    vp_mask_results mr = {(vp_mask_box *)db, (uint32_t *)dw, (uint32_t *)dbits};
    if (vp_post_mask_words(&lo, 1) != 1) {
        fprintf(stderr, "FAIL masks by hand: vp_post_mask_words is %zu, expected 1\n", vp_post_mask_words(&lo, 1));
        fails++;
    }
    SETTLE();
    if (vp_cuda_masks(&lo, &dt, &res, 1, 8, 6, &mr, st) != VP_OK) {
        fprintf(stderr, "FAIL masks by hand: vp_cuda_masks refused it\n");
        fails++;
        goto done;
    }
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(&box, db, sizeof box, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(&words, dw, sizeof words, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(bits, dbits, sizeof(uint32_t), cudaMemcpyDeviceToHost));
    if (box.x0 != 1 || box.x1 != 4 || box.y0 != 0 || box.y1 != 2 || box.offset != 0 || box.words != 1 ||
        words != 1 || bits[0] != 0x3au) {
        fprintf(stderr, "FAIL masks by hand: GPU box x %d..%d y %d..%d, %u words at %u, image %u words, bits 0x%x; "
                "expected x 1..4 y 0..2, 1 word at 0, 1, 0x3a\n", box.x0, box.x1, box.y0, box.y1, box.words,
                box.offset, words, bits[0]);
        fails++;
    } else if (vp_post_mask_expand(&lo, &box, bits, 1, ex) || memcmp(ex, WANT, 12)) {
        fprintf(stderr, "FAIL masks by hand: the expanded GPU mask is not the hand-computed one\n");
        fails++;
    }
    /* vp_post_mask_expand's refusals (each logs one line) */
    const vp_mask_box outside = {1, 0, 5, 2, 0, 1}, wrong_words = {1, 0, 4, 2, 0, 2}, past = {1, 0, 4, 2, 1, 1};
    if (vp_post_mask_expand(&lo, &outside, bits, 2, ex) != VP_ERR_INVALID ||
        vp_post_mask_expand(&lo, &wrong_words, bits, 2, ex) != VP_ERR_INVALID ||
        vp_post_mask_expand(&lo, &past, bits, 1, ex) != VP_ERR_INVALID) {
        fprintf(stderr, "FAIL masks by hand: vp_post_mask_expand accepted a bad box\n");
        fails++;
    }
done:
    cudaFree(dp), cudaFree(dc), cudaFree(dd), cudaFree(dcf), cudaFree(db), cudaFree(dw), cudaFree(dbits);
    printf("masks by hand: %d failed\n", fails);
    return fails ? -1 : 0;
fail:
    cudaFree(dp), cudaFree(dc), cudaFree(dd), cudaFree(dcf), cudaFree(db), cudaFree(dw), cudaFree(dbits);
    return -1;
}

/* Bad arguments of vp_cuda_semseg and vp_cuda_masks: VP_ERR_INVALID, no
 * CUDA error left behind; a good call after them works. */
static int seg_errors(cudaStream_t st)
{
    int fails = 0;
    static float host_logits[2 * 3 * 4 * 5];
    static int32_t host_counts[2 * 256];
    void *dl = NULL, *dcounts = NULL, *dp = NULL, *dc = NULL, *dd = NULL, *dcf = NULL, *db = NULL, *dw = NULL,
         *dbits = NULL;
    const int32_t win[8] = {0, 0, 5, 4, 0, 0, 5, 4};
    vp_post_params p;
    vp_post_params_default(&p);
    p.task = VP_TASK_SEMSEG;
    vp_post_tensor lt = {host_logits, VP_PRE_FP32, 4, {2, 3, 4, 5}};
    vp_post_layout slo;
    if (vp_post_resolve(&p, &lt, 1, &slo)) {
        fprintf(stderr, "FAIL seg errors: vp_post_resolve refused good logits\n");
        return -1;
    }
    CK(cudaMalloc(&dl, sizeof host_logits));
    CK(cudaMemset(dl, 0, sizeof host_logits));
    CK(cudaMalloc(&dcounts, sizeof host_counts));
    SETTLE();
    vp_post_tensor dlt = lt, bad = lt;
    dlt.data = dl;
    vp_post_layout l2 = slo;
#define EXPECT_INVALID(what, call)                                                  \
    do {                                                                            \
        int rc_ = (call);                                                           \
        if (rc_ != VP_ERR_INVALID) {                                                \
            fprintf(stderr, "FAIL %s: not refused (%s)\n", what, vp_strerror(rc_)); \
            fails++;                                                                \
        }                                                                           \
    } while (0)
    EXPECT_INVALID("semseg: NULL windows", vp_cuda_semseg(&slo, &dlt, NULL, (int32_t *)dcounts, NULL, st));
    EXPECT_INVALID("semseg: NULL counts", vp_cuda_semseg(&slo, &dlt, win, NULL, NULL, st));
    EXPECT_INVALID("semseg: NULL layout", vp_cuda_semseg(NULL, &dlt, win, (int32_t *)dcounts, NULL, st));
    l2.task = VP_TASK_DETECT;
    EXPECT_INVALID("semseg: detect layout", vp_cuda_semseg(&l2, &dlt, win, (int32_t *)dcounts, NULL, st));
    l2 = slo;
    l2.num_classes = 256;
    EXPECT_INVALID("semseg: 256 classes", vp_cuda_semseg(&l2, &dlt, win, (int32_t *)dcounts, NULL, st));
    bad = dlt;
    bad.d[3] = 6;
    EXPECT_INVALID("semseg: shape not matching", vp_cuda_semseg(&slo, &bad, win, (int32_t *)dcounts, NULL, st));
    bad = dlt;
    bad.dtype = 7;
    EXPECT_INVALID("semseg: bad dtype", vp_cuda_semseg(&slo, &bad, win, (int32_t *)dcounts, NULL, st));
    EXPECT_INVALID("semseg: plain host logits", vp_cuda_semseg(&slo, &lt, win, (int32_t *)dcounts, NULL, st));
    EXPECT_INVALID("semseg: plain host counts", vp_cuda_semseg(&slo, &dlt, win, host_counts, NULL, st));
    EXPECT_INVALID("semseg: plain host class map",
                   vp_cuda_semseg(&slo, &dlt, win, (int32_t *)dcounts, (uint8_t *)host_counts, st));
    if (vp_cuda_semseg(&slo, &dlt, win, (int32_t *)dcounts, NULL, st) != VP_OK) {
        fprintf(stderr, "FAIL semseg: good call after refused ones failed\n");
        fails++;
    }
    CK(cudaStreamSynchronize(st));
    CK(cudaGetLastError());
    int32_t cnt[2 * 256];
    CK(cudaMemcpy(cnt, dcounts, sizeof cnt, cudaMemcpyDeviceToHost));
    for (int i = 0; i < 2 * 256; i++)
        if (cnt[i] != (i % 256 == 0 ? 20 : 0)) { /* all-zero logits: class 0 everywhere, 20 pixels */
            fprintf(stderr, "FAIL semseg: all-zero logits counted %d for bin %d\n", cnt[i], i);
            fails++;
            break;
        }

    /* masks */
    vp_post_layout mlo;
    memset(&mlo, 0, sizeof mlo);
    mlo.task = VP_TASK_SEGMENT, mlo.batch = 1, mlo.num_masks = 2, mlo.proto_h = 4, mlo.proto_w = 5;
    static float host_proto[2 * 4 * 5];
    const int32_t zero = 0;
    size_t cw = vp_post_mask_words(&mlo, 3);
    CK(cudaMalloc(&dp, sizeof host_proto));
    CK(cudaMemset(dp, 0, sizeof host_proto));
    CK(cudaMalloc(&dc, sizeof zero));
    CK(cudaMemcpy(dc, &zero, sizeof zero, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&dd, 3 * sizeof(vp_det)));
    CK(cudaMalloc(&dcf, 3 * 2 * sizeof(float)));
    CK(cudaMalloc(&db, 3 * sizeof(vp_mask_box)));
    CK(cudaMalloc(&dw, sizeof(uint32_t)));
    CK(cudaMemset(dw, 0xA5, sizeof(uint32_t)));
    CK(cudaMalloc(&dbits, cw * sizeof(uint32_t)));
    SETTLE();
    vp_post_tensor pt = {dp, VP_PRE_FP32, 4, {1, 2, 4, 5}}, hpt = pt, bpt = pt;
    hpt.data = host_proto;
    vp_post_results res = {(int32_t *)dc, (vp_det *)dd, NULL, (float *)dcf}, r2 = res;
    vp_mask_results mr = {(vp_mask_box *)db, (uint32_t *)dw, (uint32_t *)dbits}, m2 = mr;
    vp_post_layout ml2 = mlo;
    if (cw != 3 || vp_post_mask_words(&slo, 3) != 0 || vp_post_mask_words(&mlo, 0) != 0) {
        fprintf(stderr, "FAIL vp_post_mask_words: %zu for 3 masks of 5x4 (expected 3), or not 0 when invalid\n", cw);
        fails++;
    }
    ml2.proto_h = 1 << 20, ml2.proto_w = 1 << 20;
    if (vp_post_mask_words(&ml2, 4096) != 0) {
        fprintf(stderr, "FAIL vp_post_mask_words: no 0 above 2^32 words\n");
        fails++;
    }
    ml2 = mlo;
    EXPECT_INVALID("masks: NULL layout", vp_cuda_masks(NULL, &pt, &res, 3, 10, 8, &mr, st));
    EXPECT_INVALID("masks: NULL results", vp_cuda_masks(&mlo, &pt, NULL, 3, 10, 8, &mr, st));
    r2.coefs = NULL;
    EXPECT_INVALID("masks: NULL coefficients", vp_cuda_masks(&mlo, &pt, &r2, 3, 10, 8, &mr, st));
    m2.bits = NULL;
    EXPECT_INVALID("masks: NULL bit array", vp_cuda_masks(&mlo, &pt, &res, 3, 10, 8, &m2, st));
    ml2.task = VP_TASK_SEMSEG;
    EXPECT_INVALID("masks: semseg layout", vp_cuda_masks(&ml2, &pt, &res, 3, 10, 8, &mr, st));
    ml2 = mlo;
    ml2.num_masks = VP_POST_MAX_MASKS + 1;
    EXPECT_INVALID("masks: too many coefficients", vp_cuda_masks(&ml2, &pt, &res, 3, 10, 8, &mr, st));
    bpt.d[2] = 5;
    EXPECT_INVALID("masks: prototypes not matching", vp_cuda_masks(&mlo, &bpt, &res, 3, 10, 8, &mr, st));
    EXPECT_INVALID("masks: max_det 0", vp_cuda_masks(&mlo, &pt, &res, 0, 10, 8, &mr, st));
    EXPECT_INVALID("masks: max_det above the maximum",
                   vp_cuda_masks(&mlo, &pt, &res, VP_POST_MAX_CANDIDATES + 1, 10, 8, &mr, st));
    EXPECT_INVALID("masks: input width 0", vp_cuda_masks(&mlo, &pt, &res, 3, 0, 8, &mr, st));
    EXPECT_INVALID("masks: plain host prototypes", vp_cuda_masks(&mlo, &hpt, &res, 3, 10, 8, &mr, st));
    m2 = mr;
    m2.box = (vp_mask_box *)(void *)host_counts;
    EXPECT_INVALID("masks: plain host box array", vp_cuda_masks(&mlo, &pt, &res, 3, 10, 8, &m2, st));
#undef EXPECT_INVALID
    if (vp_cuda_masks(&mlo, &pt, &res, 3, 10, 8, &mr, st) != VP_OK) {
        fprintf(stderr, "FAIL masks: good call after refused ones failed\n");
        fails++;
    }
    CK(cudaStreamSynchronize(st));
    CK(cudaGetLastError());
    uint32_t w;
    CK(cudaMemcpy(&w, dw, sizeof w, cudaMemcpyDeviceToHost));
    if (w != 0) { /* no detections: no words */
        fprintf(stderr, "FAIL masks: zero detections gave %u words\n", w);
        fails++;
    }
    printf("semseg and mask error cases: %d failed\n", fails);
    cudaFree(dl), cudaFree(dcounts), cudaFree(dp), cudaFree(dc), cudaFree(dd), cudaFree(dcf), cudaFree(db),
        cudaFree(dw), cudaFree(dbits);
    return fails ? -1 : 0;
fail:
    cudaFree(dl), cudaFree(dcounts), cudaFree(dp), cudaFree(dc), cudaFree(dd), cudaFree(dcf), cudaFree(db),
        cudaFree(dw), cudaFree(dbits);
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
    printf("postprocess_gpu: %d cases, %d failed; %zu detections compared bit for bit, also packed (vp_cuda_pack_dets)\n",
           ncases, fails, dets);

    /* semantic segmentation: dtype batch C H W dist window map graph */
    const scase scases[] = {
        {F32, 2, 21, 65, 65, S_RANDOM, W_INNER, 1, 0},
        {F16, 2, 21, 65, 65, S_RANDOM, W_INNER, 1, 0},
        {F16, 2, 21, 512, 512, S_RANDOM, W_INNER, 0, 0}, /* DeepLabV3 at 512, counts only (the pipeline's call) */
        {F32, 1, 21, 512, 512, S_TIES, W_FULL, 1, 1},
        {F32, 3, 7, 33, 47, S_TIES, W_ODD, 1, 0},
        {F16, 7, 7, 33, 47, S_TIES, W_ODD, 1, 0},        /* every odd window */
        {F32, 4, 5, 40, 30, S_SPECIAL, W_INNER, 1, 0},
        {F16, 7, 5, 40, 30, S_SPECIAL, W_ODD, 1, 1},
        {F32, 2, 255, 33, 31, S_RANDOM, W_FULL, 1, 0},   /* the most classes */
        {F16, 2, 255, 17, 19, S_TIES, W_INNER, 1, 0},
        {F32, 3, 1, 17, 5, S_RANDOM, W_ODD, 1, 0},       /* one class */
        {F32, 5, 7, 1, 1, S_RANDOM, W_INNER, 1, 0},      /* one pixel */
        {F16, 70, 4, 9, 11, S_RANDOM, W_ODD, 1, 0},      /* more images than one launch takes (64) */
        {F32, 130, 3, 5, 3, S_TIES, W_INNER, 0, 1},
        {F32, 2, 2, 3, 1000, S_RANDOM, W_INNER, 1, 0},
        {F16, 1, 21, 2049, 3, S_RANDOM, W_FULL, 1, 0},
    };
    const int nscases = (int)(sizeof scases / sizeof scases[0]);
    int sfails = 0;
    size_t spixels = 0;
    for (int i = 0; i < nscases; i++)
        sfails += run_semseg(&scases[i], i, st, &spixels, 1) != 0;
    sfails += semseg_by_hand(st) != 0;
    sfails += semseg_controls(st) != 0;
    printf("semseg_gpu: %d cases, %d failed; %zu pixels' classes compared exactly\n", nscases, sfails, spixels);

    /* instance masks: dtype batch nm ph pw in_w in_h max_det boxes protos graph */
    const mcase mcases[] = {
        {F32, 2, 32, 160, 160, 640, 640, 300, B_EDGES, P_RANDOM, 0}, /* YOLO-seg sized */
        {F16, 2, 32, 160, 160, 640, 640, 300, B_RANDOM, P_RANDOM, 0},
        {F32, 3, 32, 160, 160, 640, 640, 300, B_FULL, P_CANCEL, 0},  /* the capacity filled; order-sensitive logits */
        {F16, 2, 4, 96, 160, 640, 384, 100, B_EDGES, P_CANCEL, 1},
        {F32, 4, 7, 7, 13, 100, 50, 40, B_EDGES, P_SPECIAL, 0},      /* scales not exact in float */
        {F16, 4, 64, 20, 20, 80, 80, 60, B_RANDOM, P_SPECIAL, 1},    /* the most coefficients */
        {F32, 1, 1, 33, 31, 321, 255, 25, B_EDGES, P_RANDOM, 0},
        {F32, 1, 4, 20, 20, 640, 640, VP_POST_MAX_CANDIDATES, B_RANDOM, P_RANDOM, 0}, /* the most detections */
        {F32, 6, 3, 1, 1, 8, 8, 20, B_EDGES, P_RANDOM, 0},           /* one prototype pixel */
    };
    /* detections from the post-processing itself (vp_cuda_postprocess): masks case and predictions */
    const struct {
        mcase m;
        pcase p;
    } mpost[] = {
        {{F32, 2, 32, 160, 160, 640, 640, 300, B_RANDOM, P_RANDOM, 0},
         {V8, F32, SEG, 2, 8400, 80, 0, 0, 32, D_CLUSTER, NAN, 1024, 300, 0, 0, 0}},
        {{F16, 2, 32, 160, 160, 640, 640, 300, B_RANDOM, P_RANDOM, 0},
         {V8, F16, SEG, 2, 8400, 80, 0, 0, 32, D_FEW, NAN, 1024, 300, 0, 0, 0}},
        {{F16, 2, 64, 40, 40, 640, 640, 500, B_RANDOM, P_SPECIAL, 0},
         {V5, F16, SEG, 2, 3000, 3, 0, 0, 64, D_MANY, NAN, 2048, 500, 1, 0, 0}},
    };
    const int nmcases = (int)(sizeof mcases / sizeof mcases[0]), nmpost = (int)(sizeof mpost / sizeof mpost[0]);
    int mfails = 0;
    size_t mpixels = 0, mones = 0;
    for (int i = 0; i < nmcases; i++)
        mfails += run_masks(&mcases[i], i, st, NULL, &mpixels, &mones, 1) != 0;
    for (int i = 0; i < nmpost; i++)
        mfails += run_masks(&mpost[i].m, nmcases + i, st, &mpost[i].p, &mpixels, &mones, 1) != 0;
    mfails += masks_by_hand(st) != 0;
    mfails += seg_errors(st) != 0;
    printf("masks_gpu: %d cases, %d failed; %zu mask pixels (%zu set) compared with tolerance 0\n",
           nmcases + nmpost, mfails, mpixels, mones);
    fails += sfails + mfails;
    if (!fails && do_bench && bench(st))
        fails++;
    cudaStreamDestroy(st);
    return fails ? 1 : 0;
}
