/*
 * YOLO post-processing, CPU implementation (contract: postprocess.h).
 *
 * This is both the CPU pipeline's per-frame path and the reference the CUDA
 * implementation (cuda/postprocess.cu) is tested against, so every float
 * operation is the one the header writes, in its order, and this file is
 * built with -ffp-contract=off (no FMA contraction).
 *
 * Cost per image (YOLOv8n at 640: A = 8400 anchors, nc = 80):
 *   1. candidates: one pass over the nc * A class scores. The V8 layout is
 *      feature-major ([F][A]), so we walk class rows over anchors and keep a
 *      per-anchor running maximum in scratch: contiguous loads, no gather.
 *      The V5 layout is anchor-major, so there we walk each anchor's row.
 *   2. top-k: passing candidates go into an array; once more than K =
 *      max_candidates pass, the array becomes a bounded heap whose root is
 *      the worst kept candidate (O(n log K) overall), then the <= K
 *      survivors are sorted (O(K log K)). The order is total (score desc,
 *      anchor asc, class asc; NaN never passes the strict > test), so
 *      the result never depends on how the selection happened.
 *   3-4. boxes decoded for the sorted candidates only, greedy NMS against
 *      the detections kept so far (at most max_det of them), written straight
 *      into the caller's result arrays.
 * Nothing is allocated when the caller passes scratch.
 */
#include "vision/postprocess.h"

#include "base/log.h"
#include "engine/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- names */

static const char *const task_names[VP_TASK_COUNT] = {"detect", "pose", "segment", "semseg"};

const char *vp_task_name(int t)
{
    return t >= 0 && t < VP_TASK_COUNT ? task_names[t] : "unknown";
}

int vp_task_parse(const char *s)
{
    if (!s)
        return -1;
    for (int t = 0; t < VP_TASK_COUNT; t++)
        if (!strcmp(s, task_names[t]))
            return t;
    return -1;
}

void vp_post_params_default(vp_post_params *p)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->task = VP_TASK_DETECT;
    p->layout = VP_YOLO_AUTO;
    p->keypoint_dims = 3;
    p->conf_threshold = 0.25f;
    p->iou_threshold = 0.45f;
    p->max_candidates = 1024;
    p->max_det = 300;
}

/* ---------------------------------------------------------------- resolve */

static int check_dtype(const vp_post_tensor *t, int idx)
{
    if (t->dtype != VP_PRE_FP32 && t->dtype != VP_PRE_FP16) {
        VP_LOGE("post-processing: output %d has dtype %d, expected float32 (%d) or float16 (%d)", idx, t->dtype,
                VP_PRE_FP32, VP_PRE_FP16);
        return VP_ERR_INVALID;
    }
    return VP_OK;
}

/* Rank must be `rank` and every dimension in 1..INT32_MAX. */
static int check_dims(const vp_post_tensor *t, int idx, int rank, const char *expect)
{
    if (t->rank != rank) {
        VP_LOGE("post-processing: output %d has rank %d, expected %s", idx, t->rank, expect);
        return VP_ERR_INVALID;
    }
    for (int i = 0; i < rank; i++)
        if (t->d[i] < 1 || t->d[i] > INT32_MAX) {
            VP_LOGE("post-processing: output %d dimension %d is %lld, expected %s with positive dimensions", idx,
                    i, (long long)t->d[i], expect);
            return VP_ERR_INVALID;
        }
    return VP_OK;
}

static int check_params(const vp_post_params *p)
{
    if (!isfinite(p->conf_threshold)) {
        VP_LOGE("post-processing: conf_threshold %g is not finite", (double)p->conf_threshold);
        return VP_ERR_INVALID;
    }
    if (!isfinite(p->iou_threshold) || p->iou_threshold < 0.0f || p->iou_threshold > 1.0f) {
        VP_LOGE("post-processing: iou_threshold %g outside [0, 1]", (double)p->iou_threshold);
        return VP_ERR_INVALID;
    }
    if (p->max_candidates < 1 || p->max_candidates > VP_POST_MAX_CANDIDATES) {
        VP_LOGE("post-processing: max_candidates %d outside 1..%d", p->max_candidates, VP_POST_MAX_CANDIDATES);
        return VP_ERR_INVALID;
    }
    if (p->max_det < 1 || p->max_det > p->max_candidates) {
        VP_LOGE("post-processing: max_det %d outside 1..max_candidates (%d)", p->max_det, p->max_candidates);
        return VP_ERR_INVALID;
    }
    if (p->class_agnostic != 0 && p->class_agnostic != 1) {
        VP_LOGE("post-processing: class_agnostic %d is not 0 or 1", p->class_agnostic);
        return VP_ERR_INVALID;
    }
    if (p->multi_label != 0 && p->multi_label != 1) {
        VP_LOGE("post-processing: multi_label %d is not 0 or 1", p->multi_label);
        return VP_ERR_INVALID;
    }
    if (p->num_classes < 0 || p->num_keypoints < 0 || p->num_masks < 0) {
        VP_LOGE("post-processing: num_classes %d, num_keypoints %d, num_masks %d: none may be negative",
                p->num_classes, p->num_keypoints, p->num_masks);
        return VP_ERR_INVALID;
    }
    return VP_OK;
}

static int resolve_semseg(const vp_post_params *p, const vp_post_tensor *out, vp_post_layout *lo)
{
    int rc = check_dims(&out[0], 0, 4, "[N, C, H, W] class logits");
    if (rc)
        return rc;
    if (p->layout != VP_YOLO_AUTO) {
        VP_LOGE("post-processing: layout %d given for semseg, which has no YOLO layout (use auto)", (int)p->layout);
        return VP_ERR_INVALID;
    }
    int64_t c = out[0].d[1];
    if (c > 255) {
        VP_LOGE("post-processing: output 0 has %lld classes (dimension 1), semseg allows at most 255",
                (long long)c);
        return VP_ERR_INVALID;
    }
    if (p->num_classes && p->num_classes != c) {
        VP_LOGE("post-processing: num_classes is %d, but output 0 has %lld channels", p->num_classes, (long long)c);
        return VP_ERR_INVALID;
    }
    if (out[0].d[2] * out[0].d[3] > INT32_MAX) {
        VP_LOGE("post-processing: output 0 has %lld x %lld pixels, more than 2^31 - 1", (long long)out[0].d[2],
                (long long)out[0].d[3]);
        return VP_ERR_INVALID;
    }
    lo->layout = VP_YOLO_AUTO;
    lo->batch = (int)out[0].d[0];
    lo->num_classes = (int)c;
    lo->features = (int)c;
    lo->proto_h = (int)out[0].d[2];
    lo->proto_w = (int)out[0].d[3];
    lo->anchors = lo->proto_h * lo->proto_w;
    return VP_OK;
}

int vp_post_resolve(const vp_post_params *p, const vp_post_tensor *out, int n_out, vp_post_layout *lo)
{
    if (!p || !out || !lo || n_out < 1) {
        VP_LOGE("post-processing: resolve needs params, a layout and at least one output (got %d)", n_out);
        return VP_ERR_INVALID;
    }
    memset(lo, 0, sizeof *lo);
    if ((int)p->task < 0 || p->task >= VP_TASK_COUNT) {
        VP_LOGE("post-processing: unknown task %d", (int)p->task);
        return VP_ERR_INVALID;
    }
    if ((int)p->layout < VP_YOLO_AUTO || p->layout > VP_YOLO_V5) {
        VP_LOGE("post-processing: unknown layout %d", (int)p->layout);
        return VP_ERR_INVALID;
    }
    int rc = check_dtype(&out[0], 0);
    if (rc)
        return rc;
    lo->task = p->task;
    if (p->task == VP_TASK_SEMSEG)
        return resolve_semseg(p, out, lo);
    if ((rc = check_params(p)) || (rc = check_dims(&out[0], 0, 3, "[N, F, A] (v8) or [N, A, F] (v5)")))
        return rc;

    vp_yolo_layout L = p->layout;
    if (L == VP_YOLO_AUTO)
        L = out[0].d[1] < out[0].d[2] ? VP_YOLO_V8 : VP_YOLO_V5;
    int64_t A = L == VP_YOLO_V8 ? out[0].d[2] : out[0].d[1];
    int64_t F = L == VP_YOLO_V8 ? out[0].d[1] : out[0].d[2];
    const char *lname = L == VP_YOLO_V8 ? "v8" : "v5";
    if (A * F > INT32_MAX) {
        VP_LOGE("post-processing: output 0 has %lld anchors x %lld features, more than 2^31 - 1", (long long)A,
                (long long)F);
        return VP_ERR_INVALID;
    }
    int co = L == VP_YOLO_V8 ? 4 : 5;
    const char *head = L == VP_YOLO_V8 ? "4 box" : "4 box + 1 objectness";
    int avail = (int)F - co; /* features left for classes and extra */
    int nc = p->num_classes, nk = 0, kd = 0, nm = 0;
    if (avail < 1) {
        VP_LOGE("post-processing: output 0 has %lld features per anchor (%s layout), fewer than %s + 1 class",
                (long long)F, lname, head);
        return VP_ERR_INVALID;
    }

    switch (p->task) {
    case VP_TASK_DETECT:
        if (!nc)
            nc = avail;
        if (nc < 1 || nc != avail) {
            VP_LOGE("post-processing: output 0 has %lld features per anchor (%s layout), but %s + %d classes = %d",
                    (long long)F, lname, head, nc, co + nc);
            return VP_ERR_INVALID;
        }
        break;
    case VP_TASK_POSE:
        kd = p->keypoint_dims;
        if (kd != 2 && kd != 3) {
            VP_LOGE("post-processing: keypoint_dims %d, expected 2 (x,y) or 3 (x,y,visibility)", kd);
            return VP_ERR_INVALID;
        }
        if (!nc)
            nc = 1;
        nk = p->num_keypoints;
        if (!nk && avail - nc > 0 && (avail - nc) % kd == 0)
            nk = (avail - nc) / kd;
        if (nk < 1 || co + nc + nk * kd != F) {
            if (p->num_keypoints)
                VP_LOGE("post-processing: output 0 has %lld features per anchor (%s layout), but %s + %d classes + "
                        "%dx%d keypoints = %d",
                        (long long)F, lname, head, nc, nk, kd, co + nc + nk * kd);
            else
                VP_LOGE("post-processing: output 0 has %lld features per anchor (%s layout): after %s + %d classes "
                        "the %d left are not a positive multiple of %d keypoint values",
                        (long long)F, lname, head, nc, avail - nc, kd);
            return VP_ERR_INVALID;
        }
        if (nk > VP_POST_MAX_KEYPOINTS) {
            VP_LOGE("post-processing: %d keypoints per box, at most %d", nk, VP_POST_MAX_KEYPOINTS);
            return VP_ERR_INVALID;
        }
        break;
    case VP_TASK_SEGMENT:
        if (n_out < 2) {
            VP_LOGE("post-processing: segment needs the prototypes [N, nm, H, W] as output 1, got %d output(s)",
                    n_out);
            return VP_ERR_INVALID;
        }
        if ((rc = check_dtype(&out[1], 1)) || (rc = check_dims(&out[1], 1, 4, "[N, nm, H, W] mask prototypes")))
            return rc;
        if (out[1].d[0] != out[0].d[0]) {
            VP_LOGE("post-processing: output 1 (prototypes) has batch %lld, output 0 has %lld",
                    (long long)out[1].d[0], (long long)out[0].d[0]);
            return VP_ERR_INVALID;
        }
        if (out[1].d[2] * out[1].d[3] > INT32_MAX) {
            VP_LOGE("post-processing: output 1 (prototypes) has %lld x %lld pixels, more than 2^31 - 1",
                    (long long)out[1].d[2], (long long)out[1].d[3]);
            return VP_ERR_INVALID;
        }
        nm = p->num_masks ? p->num_masks : (int)(out[1].d[1] < INT32_MAX ? out[1].d[1] : INT32_MAX);
        if (nm != out[1].d[1]) {
            VP_LOGE("post-processing: num_masks is %d, but output 1 (prototypes) has %lld channels", nm,
                    (long long)out[1].d[1]);
            return VP_ERR_INVALID;
        }
        if (nm > VP_POST_MAX_MASKS) {
            VP_LOGE("post-processing: %d mask coefficients per box, at most %d", nm, VP_POST_MAX_MASKS);
            return VP_ERR_INVALID;
        }
        if (!nc)
            nc = avail - nm;
        if (nc < 1 || co + nc + nm != F) {
            VP_LOGE("post-processing: output 0 has %lld features per anchor (%s layout), but %s + %d classes + %d "
                    "mask coefficients = %d",
                    (long long)F, lname, head, nc, nm, co + nc + nm);
            return VP_ERR_INVALID;
        }
        lo->proto_h = (int)out[1].d[2];
        lo->proto_w = (int)out[1].d[3];
        break;
    default:
        break;
    }
    lo->layout = L;
    lo->batch = (int)out[0].d[0];
    lo->anchors = (int)A;
    lo->features = (int)F;
    lo->num_classes = nc;
    lo->num_keypoints = nk;
    lo->keypoint_dims = kd;
    lo->num_masks = nm;
    lo->class_offset = co;
    lo->extra_offset = co + nc;
    return VP_OK;
}

/* ---------------------------------------------------------------- geometry */

float vp_post_iou(const vp_det *a, const vp_det *b)
{
    /* The CUDA kernel's iou() does these operations in this order; fminf /
     * fmaxf (not ternaries) so that a NaN coordinate behaves the same on
     * both sides. */
    float iw = fminf(a->x1, b->x1) - fmaxf(a->x0, b->x0);
    float ih = fminf(a->y1, b->y1) - fmaxf(a->y0, b->y0);
    iw = iw > 0.0f ? iw : 0.0f;
    ih = ih > 0.0f ? ih : 0.0f;
    float inter = iw * ih;
    float aw = a->x1 - a->x0, ah = a->y1 - a->y0;
    float bw = b->x1 - b->x0, bh = b->y1 - b->y0;
    aw = aw > 0.0f ? aw : 0.0f;
    ah = ah > 0.0f ? ah : 0.0f;
    bw = bw > 0.0f ? bw : 0.0f;
    bh = bh > 0.0f ? bh : 0.0f;
    float uni = (aw * ah + bw * bh) - inter;
    return uni > 0.0f ? inter / uni : 0.0f;
}

static float clampf(float v, float hi)
{
    /* NaN goes to 0: a mapped coordinate is always inside the picture */
    return v > 0.0f ? (v < hi ? v : hi) : 0.0f;
}

void vp_post_map_point(const vp_pre_geom *g, int src_w, int src_h, float *x, float *y)
{
    if (!g || !x || !y)
        return;
    *x = clampf((float)(((double)*x - (double)g->x0) * g->scale_x), (float)src_w);
    *y = clampf((float)(((double)*y - (double)g->y0) * g->scale_y), (float)src_h);
}

float vp_det_wire_scale(int in_w, int in_h, int num_classes)
{
    int side = in_w > in_h ? in_w : in_h;
    if (in_w < 1 || in_h < 1 || side > 65535 || num_classes < 1 || num_classes > 65536)
        return 0.0f;
    return (float)(65535 / side);
}

/* x clamped to [0, hi] (NaN to 0), times scale, rounded to nearest even: as
 * the CUDA packing does it (__fmul_rn, __float2uint_rn) */
static uint16_t wire_coord(float x, float hi, float scale)
{
    float c = x > 0.0f ? (x < hi ? x : hi) : 0.0f;
    volatile float t = c * scale; /* one rounded product, never contracted */
    return (uint16_t)lrintf(t);
}

void vp_det_to_wire(const vp_det *d, float scale, int in_w, int in_h, vp_det_wire *w)
{
    float fw = (float)in_w, fh = (float)in_h;
    w->x0 = wire_coord(d->x0, fw, scale), w->y0 = wire_coord(d->y0, fh, scale);
    w->x1 = wire_coord(d->x1, fw, scale), w->y1 = wire_coord(d->y1, fh, scale);
    w->score = d->score;
    w->cls = (uint16_t)d->cls;
    w->pad = 0;
}

void vp_det_from_wire(const vp_det_wire *w, float scale, vp_det *d)
{
    d->x0 = (float)w->x0 / scale, d->y0 = (float)w->y0 / scale;
    d->x1 = (float)w->x1 / scale, d->y1 = (float)w->y1 / scale;
    d->score = w->score;
    d->cls = w->cls;
    d->anchor = -1;
}

void vp_post_map_box(const vp_pre_geom *g, int src_w, int src_h, vp_det *d)
{
    if (!g || !d)
        return;
    vp_post_map_point(g, src_w, src_h, &d->x0, &d->y0);
    vp_post_map_point(g, src_w, src_h, &d->x1, &d->y1);
}

/* ---------------------------------------------------------------- top-k */

typedef struct cand {
    float s;
    int32_t a, c;
} cand;

/* The total order of the contract: x before y. Scores are never NaN here
 * (they passed s > conf). -0 and +0 compare equal, as on the GPU. */
static inline int before(const cand *x, const cand *y)
{
    if (x->s != y->s)
        return x->s > y->s;
    if (x->a != y->a)
        return x->a < y->a;
    return x->c < y->c;
}

static int cand_cmp(const void *pa, const void *pb)
{
    const cand *x = pa, *y = pb;
    return before(x, y) ? -1 : before(y, x) ? 1 : 0;
}

/* Heap whose root is the last candidate in the order (the "worst" kept):
 * no child comes after its parent. */
static void sift_down(cand *h, int n, int i)
{
    cand v = h[i];
    for (;;) {
        int l = 2 * i + 1;
        if (l >= n)
            break;
        int w = l;
        if (l + 1 < n && before(&h[l], &h[l + 1]))
            w = l + 1; /* the later of the two children */
        if (!before(&v, &h[w]))
            break;
        h[i] = h[w];
        i = w;
    }
    h[i] = v;
}

/* The best K candidates seen so far. */
typedef struct topk {
    cand *v;
    int n, K;
    int heaped; /* 1 once n == K and v[] is a heap */
} topk;

static inline void topk_push(topk *t, float s, int32_t a, int32_t c)
{
    if (t->n < t->K) {
        t->v[t->n].s = s;
        t->v[t->n].a = a;
        t->v[t->n].c = c;
        t->n++;
        return;
    }
    if (!t->heaped) {
        for (int i = t->K / 2 - 1; i >= 0; i--)
            sift_down(t->v, t->K, i);
        t->heaped = 1;
    }
    cand x = {s, a, c};
    if (before(&x, &t->v[0])) {
        t->v[0] = x;
        sift_down(t->v, t->K, 0);
    }
}

/* ---------------------------------------------------------------- decode */

#define ALIGN_UP(x) (((x) + 63u) & ~(size_t)63u)

size_t vp_post_scratch_bytes(const vp_post_params *p, const vp_post_layout *lo)
{
    if (!p || !lo || lo->task == VP_TASK_SEMSEG || lo->anchors < 1 || p->max_candidates < 1)
        return 0;
    size_t A = (size_t)lo->anchors;
    return ALIGN_UP(A * sizeof(float)) + ALIGN_UP(A * sizeof(int32_t)) +
           ALIGN_UP((size_t)p->max_candidates * sizeof(cand)) + 64;
}

static inline float ld(const void *base, int dtype, size_t i)
{
    return dtype == VP_PRE_FP16 ? vp_half_to_float(((const uint16_t *)base)[i]) : ((const float *)base)[i];
}

/* One class row over the anchors' running maxima (strict >: a NaN never
 * replaces, and a NaN maximum is never replaced). This loop is most of the
 * cost (nc * A compares per image): restrict pointers and the class chosen
 * with a mask rather than ?: are what lets GCC vectorise it (it turns a
 * second ?: on the same compare back into a branch). */
static void row_max(const float *restrict r, float *restrict best, int32_t *restrict bcls, int A, int32_t c)
{
    for (int a = 0; a < A; a++) {
        float v = r[a], b = best[a];
        int32_t m = -(int32_t)(v > b);
        bcls[a] = (bcls[a] & ~m) | (c & m);
        best[a] = v > b ? v : b;
    }
}

/* Step 1 and 2 for one image: fills t with the best candidates. V8 layout:
 * feature f of anchor a at f * A + a; V5: at a * F + f. */
static void collect(const vp_post_params *p, const vp_post_layout *lo, const void *pred, int dt, float *best,
                    int32_t *bcls, topk *t)
{
    const int A = lo->anchors, F = lo->features, nc = lo->num_classes, co = lo->class_offset;
    const float conf = p->conf_threshold;
    if (lo->layout == VP_YOLO_V8) {
        if (p->multi_label) {
            for (int c = 0; c < nc; c++) {
                size_t row = (size_t)(co + c) * (size_t)A;
                for (int a = 0; a < A; a++) {
                    float s = ld(pred, dt, row + (size_t)a);
                    if (s > conf)
                        topk_push(t, s, a, c);
                }
            }
            return;
        }
        /* class rows over anchors: the first maximal class wins (strict >);
         * class 0 seeds the maximum, as in the header */
        if (dt == VP_PRE_FP32) {
            const float *f = (const float *)pred;
            memcpy(best, f + (size_t)co * (size_t)A, (size_t)A * sizeof(float));
            memset(bcls, 0, (size_t)A * sizeof(int32_t));
            for (int c = 1; c < nc; c++) {
                row_max(f + (size_t)(co + c) * (size_t)A, best, bcls, A, c);
            }
        } else {
            const uint16_t *h = (const uint16_t *)pred;
            for (int a = 0; a < A; a++) {
                best[a] = vp_half_to_float(h[(size_t)co * (size_t)A + (size_t)a]);
                bcls[a] = 0;
            }
            for (int c = 1; c < nc; c++) {
                const uint16_t *r = h + (size_t)(co + c) * (size_t)A;
                for (int a = 0; a < A; a++) {
                    float s = vp_half_to_float(r[a]);
                    if (s > best[a]) {
                        best[a] = s;
                        bcls[a] = c;
                    }
                }
            }
        }
        for (int a = 0; a < A; a++)
            if (best[a] > conf)
                topk_push(t, best[a], a, bcls[a]);
        return;
    }
    /* V5: anchor rows, score = objectness * class score (one float multiply) */
    for (int a = 0; a < A; a++) {
        size_t row = (size_t)a * (size_t)F;
        float o = ld(pred, dt, row + 4);
        if (p->multi_label) {
            for (int c = 0; c < nc; c++) {
                float s = o * ld(pred, dt, row + (size_t)(co + c));
                if (s > conf)
                    topk_push(t, s, a, c);
            }
            continue;
        }
        float b = o * ld(pred, dt, row + (size_t)co);
        int bc = 0;
        for (int c = 1; c < nc; c++) {
            float s = o * ld(pred, dt, row + (size_t)(co + c));
            if (s > b) {
                b = s;
                bc = c;
            }
        }
        if (b > conf)
            topk_push(t, b, a, bc);
    }
}

int vp_postprocess_cpu(const vp_post_params *p, const vp_post_layout *lo, const vp_post_tensor *out,
                       vp_post_results *res, void *scratch)
{
    if (!p || !lo || !out || !res || !out[0].data || !res->count || !res->det) {
        VP_LOGE("post-processing: NULL params, layout, output data or result arrays");
        return VP_ERR_INVALID;
    }
    if (lo->task == VP_TASK_SEMSEG || (lo->layout != VP_YOLO_V8 && lo->layout != VP_YOLO_V5)) {
        VP_LOGE("post-processing: layout not resolved for a YOLO task (task %s, layout %d; semseg uses "
                "vp_post_semseg_cpu)",
                vp_task_name(lo->task), (int)lo->layout);
        return VP_ERR_INVALID;
    }
    int rc = check_params(p);
    if (rc)
        return rc;
    /* the layout must describe this output (vp_post_resolve on these shapes) */
    const vp_post_tensor *o = &out[0];
    int64_t dA = lo->layout == VP_YOLO_V8 ? o->d[2] : o->d[1], dF = lo->layout == VP_YOLO_V8 ? o->d[1] : o->d[2];
    if (o->rank != 3 || o->d[0] != lo->batch || dA != lo->anchors || dF != lo->features ||
        (o->dtype != VP_PRE_FP32 && o->dtype != VP_PRE_FP16) || lo->num_classes < 1 ||
        lo->extra_offset + lo->num_keypoints * lo->keypoint_dims + lo->num_masks > lo->features) {
        VP_LOGE("post-processing: output 0 does not match the resolved layout (call vp_post_resolve)");
        return VP_ERR_INVALID;
    }

    void *mem = NULL;
    if (!scratch) {
        mem = malloc(vp_post_scratch_bytes(p, lo));
        if (!mem) {
            VP_LOGE("post-processing: out of memory for %zu bytes of scratch", vp_post_scratch_bytes(p, lo));
            return VP_ERR_NOMEM;
        }
        scratch = mem;
    }
    /* carve the scratch: 64-byte aligned regions from an aligned start */
    uintptr_t base = ((uintptr_t)scratch + 63u) & ~(uintptr_t)63u;
    float *best = (float *)base;
    int32_t *bcls = (int32_t *)(base + ALIGN_UP((size_t)lo->anchors * sizeof(float)));
    cand *cv = (cand *)((uintptr_t)bcls + ALIGN_UP((size_t)lo->anchors * sizeof(int32_t)));

    const int dt = o->dtype;
    const size_t esz = dt == VP_PRE_FP16 ? 2 : 4;
    const size_t per_img = (size_t)lo->anchors * (size_t)lo->features;
    const int A = lo->anchors, F = lo->features, max_det = p->max_det;
    const int nkv = lo->task == VP_TASK_POSE ? lo->num_keypoints * lo->keypoint_dims : 0;
    const int nm = lo->task == VP_TASK_SEGMENT ? lo->num_masks : 0;
    const float iou_thr = p->iou_threshold;

    for (int img = 0; img < lo->batch; img++) {
        const void *pred = (const char *)o->data + (size_t)img * per_img * esz;
        topk t = {cv, 0, p->max_candidates, 0};
        collect(p, lo, pred, dt, best, bcls, &t);
        qsort(t.v, (size_t)t.n, sizeof(cand), cand_cmp);

        vp_det *kept = res->det + (size_t)img * (size_t)max_det;
        int n = 0;
        for (int i = 0; i < t.n && n < max_det; i++) {
            const cand *c = &t.v[i];
            size_t a = (size_t)c->a;
#define FEAT(f) ld(pred, dt, lo->layout == VP_YOLO_V8 ? (size_t)(f) * (size_t)A + a : a * (size_t)F + (size_t)(f))
            float cx = FEAT(0), cy = FEAT(1), w = FEAT(2), h = FEAT(3);
            vp_det d;
            d.x0 = cx - w / 2.0f;
            d.y0 = cy - h / 2.0f;
            d.x1 = cx + w / 2.0f;
            d.y1 = cy + h / 2.0f;
            d.score = c->s;
            d.cls = c->c;
            d.anchor = c->a;
            int drop = 0;
            for (int j = 0; j < n && !drop; j++)
                if ((p->class_agnostic || kept[j].cls == d.cls) && vp_post_iou(&kept[j], &d) > iou_thr)
                    drop = 1;
            if (drop)
                continue;
            size_t slot = (size_t)img * (size_t)max_det + (size_t)n;
            if (nkv && res->keypoints)
                for (int k = 0; k < nkv; k++)
                    res->keypoints[slot * (size_t)nkv + (size_t)k] = FEAT(lo->extra_offset + k);
            if (nm && res->coefs)
                for (int k = 0; k < nm; k++)
                    res->coefs[slot * (size_t)nm + (size_t)k] = FEAT(lo->extra_offset + k);
#undef FEAT
            kept[n++] = d;
        }
        res->count[img] = n;
    }
    free(mem);
    return VP_OK;
}

/* ---------------------------------------------------------------- masks */

/* Pixels handled per pass: a small accumulator on the stack instead of
 * scratch, k outer within the tile so the prototype planes stream. */
#define TILE 256

int vp_post_mask_cpu(const vp_post_layout *lo, const vp_post_tensor *proto, int image, const float *coefs,
                     const vp_det *d, int in_w, int in_h, uint8_t *mask)
{
    if (!lo || !proto || !proto->data || !coefs || !d || !mask || lo->task != VP_TASK_SEGMENT) {
        VP_LOGE("post-processing: mask needs a segment layout, prototypes, coefficients, a box and a mask buffer");
        return VP_ERR_INVALID;
    }
    const int nm = lo->num_masks, ph = lo->proto_h, pw = lo->proto_w;
    if (proto->rank != 4 || proto->d[0] != lo->batch || proto->d[1] != nm || proto->d[2] != ph ||
        proto->d[3] != pw || (proto->dtype != VP_PRE_FP32 && proto->dtype != VP_PRE_FP16)) {
        VP_LOGE("post-processing: prototypes do not match the resolved layout ([%d, %d, %d, %d] float)", lo->batch,
                nm, ph, pw);
        return VP_ERR_INVALID;
    }
    if (image < 0 || image >= lo->batch || in_w < 1 || in_h < 1) {
        VP_LOGE("post-processing: mask of image %d (batch %d), input size %dx%d", image, lo->batch, in_w, in_h);
        return VP_ERR_INVALID;
    }
    const size_t plane = (size_t)ph * (size_t)pw;
    const int dt = proto->dtype;
    const size_t off = (size_t)image * (size_t)nm * plane;
    /* box in prototype pixels; pixel (x, y) is inside when x0 <= x < x1 and
     * y0 <= y < y1 (integer pixel indices, as ultralytics' crop_mask) */
    const float sx = (float)pw / (float)in_w, sy = (float)ph / (float)in_h;
    const float bx0 = d->x0 * sx, bx1 = d->x1 * sx, by0 = d->y0 * sy, by1 = d->y1 * sy;
    int xs = 0, xe = 0;
    while (xs < pw && !((float)xs >= bx0))
        xs++;
    xe = xs;
    while (xe < pw && (float)xe < bx1)
        xe++;
    float acc[TILE];
    for (int y = 0; y < ph; y++) {
        uint8_t *mrow = mask + (size_t)y * (size_t)pw;
        memset(mrow, 0, (size_t)pw);
        if (!((float)y >= by0 && (float)y < by1))
            continue;
        for (int x0 = xs; x0 < xe; x0 += TILE) {
            int nx = xe - x0 < TILE ? xe - x0 : TILE;
            for (int i = 0; i < nx; i++)
                acc[i] = 0.0f;
            for (int k = 0; k < nm; k++) {
                const float ck = coefs[k];
                size_t at = off + (size_t)k * plane + (size_t)y * (size_t)pw + (size_t)x0;
                if (dt == VP_PRE_FP32) {
                    const float *pr = (const float *)proto->data + at;
                    for (int i = 0; i < nx; i++)
                        acc[i] = acc[i] + ck * pr[i];
                } else {
                    const uint16_t *pr = (const uint16_t *)proto->data + at;
                    for (int i = 0; i < nx; i++)
                        acc[i] = acc[i] + ck * vp_half_to_float(pr[i]);
                }
            }
            for (int i = 0; i < nx; i++)
                mrow[x0 + i] = acc[i] > 0.0f;
        }
    }
    return VP_OK;
}

int vp_post_semseg_cpu(const vp_post_layout *lo, const vp_post_tensor *logits, int image, uint8_t *classes)
{
    if (!lo || !logits || !logits->data || !classes || lo->task != VP_TASK_SEMSEG) {
        VP_LOGE("post-processing: semseg needs a semseg layout, logits and a class buffer");
        return VP_ERR_INVALID;
    }
    const int C = lo->num_classes, H = lo->proto_h, W = lo->proto_w;
    if (logits->rank != 4 || logits->d[0] != lo->batch || logits->d[1] != C || logits->d[2] != H ||
        logits->d[3] != W || (logits->dtype != VP_PRE_FP32 && logits->dtype != VP_PRE_FP16) || C < 1 || C > 255) {
        VP_LOGE("post-processing: semseg logits do not match the resolved layout ([%d, %d, %d, %d] float)",
                lo->batch, C, H, W);
        return VP_ERR_INVALID;
    }
    if (image < 0 || image >= lo->batch) {
        VP_LOGE("post-processing: semseg of image %d, batch %d", image, lo->batch);
        return VP_ERR_INVALID;
    }
    const size_t plane = (size_t)H * (size_t)W, off = (size_t)image * (size_t)C * plane;
    const int dt = logits->dtype;
    float best[TILE];
    /* tiles of pixels, channels outer within a tile: each channel plane is
     * read contiguously; channel 0 seeds, strict > keeps the first maximum */
    for (size_t p0 = 0; p0 < plane; p0 += TILE) {
        int n = plane - p0 < TILE ? (int)(plane - p0) : TILE;
        for (int i = 0; i < n; i++) {
            best[i] = ld(logits->data, dt, off + p0 + (size_t)i);
            classes[p0 + (size_t)i] = 0;
        }
        for (int c = 1; c < C; c++) {
            size_t at = off + (size_t)c * plane + p0;
            for (int i = 0; i < n; i++) {
                float v = ld(logits->data, dt, at + (size_t)i);
                if (v > best[i]) {
                    best[i] = v;
                    classes[p0 + (size_t)i] = (uint8_t)c;
                }
            }
        }
    }
    return VP_OK;
}

/* ---------------------------------------------------------------- compact masks (GPU results) */

size_t vp_post_mask_words(const vp_post_layout *lo, int max_det)
{
    if (!lo || lo->task != VP_TASK_SEGMENT || max_det < 1 || lo->proto_h < 1 || lo->proto_w < 1)
        return 0;
    uint64_t per = ((uint64_t)lo->proto_h * (uint64_t)lo->proto_w + 31u) / 32u;
    uint64_t all = per * (uint64_t)max_det;
    return all > UINT32_MAX ? 0 : (size_t)all;
}

int vp_post_mask_expand(const vp_post_layout *lo, const vp_mask_box *b, const uint32_t *bits, size_t nwords,
                        uint8_t *mask)
{
    if (!lo || !b || !mask || lo->task != VP_TASK_SEGMENT || lo->proto_h < 1 || lo->proto_w < 1) {
        VP_LOGE("post-processing: mask expansion needs a segment layout, a box and a mask buffer");
        return VP_ERR_INVALID;
    }
    const int ph = lo->proto_h, pw = lo->proto_w;
    if (b->x0 < 0 || b->x0 > b->x1 || b->x1 > pw || b->y0 < 0 || b->y0 > b->y1 || b->y1 > ph) {
        VP_LOGE("post-processing: mask rectangle x %d..%d, y %d..%d is not inside the %dx%d prototypes", b->x0,
                b->x1, b->y0, b->y1, pw, ph);
        return VP_ERR_INVALID;
    }
    const size_t bw = (size_t)(b->x1 - b->x0), area = bw * (size_t)(b->y1 - b->y0);
    if ((size_t)b->words != (area + 31) / 32 || (size_t)b->offset + b->words > nwords || (b->words && !bits)) {
        VP_LOGE("post-processing: mask of %zu pixels has %u words at %u, the bit array %zu", area, b->words,
                b->offset, nwords);
        return VP_ERR_INVALID;
    }
    memset(mask, 0, (size_t)ph * (size_t)pw);
    const uint32_t *w = bits ? bits + b->offset : NULL; /* NULL only when there are no words to read */
    size_t j = 0;
    for (int y = b->y0; y < b->y1; y++) {
        uint8_t *row = mask + (size_t)y * (size_t)pw;
        for (int x = b->x0; x < b->x1; x++, j++)
            row[x] = (uint8_t)((w[j >> 5] >> (j & 31u)) & 1u);
    }
    return VP_OK;
}
