/*
 * NonMaxSuppression (opset 10/11), float32.
 *
 * Per batch and class: candidates above score_threshold (when given) in
 * order of decreasing score, equal scores by increasing box index; a
 * candidate is kept unless its IoU with an already kept box of that class
 * exceeds iou_threshold; at most max_output_boxes_per_class are kept. The
 * arithmetic is float32 with the reference's edge rules (corners in any
 * order, degenerate boxes never suppress), so selections match ONNX's
 * reference and ONNX Runtime exactly.
 *
 * The output's row count depends on the data, so shape inference runs this
 * same function (ops/misc.c) and only succeeds for constant inputs.
 */
#include "engine/cpu/misc.h"

#include <stdlib.h>
#include <string.h>

typedef struct nms_cand {
    float s;
    int64_t i;
} nms_cand;

size_t vp_misc_nms_scratch(int64_t n)
{
    if (n < 1)
        n = 1;
    return (size_t)n * (sizeof(nms_cand) + sizeof(int64_t));
}

static int cand_cmp(const void *pa, const void *pb)
{
    const nms_cand *a = pa, *b = pb;
    if (a->s != b->s)
        return a->s > b->s ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static void box_extent(const float *b, int center, float *x0, float *x1, float *y0, float *y1)
{
    if (center) {
        float hw = b[2] / 2, hh = b[3] / 2;
        *x0 = b[0] - hw;
        *x1 = b[0] + hw;
        *y0 = b[1] - hh;
        *y1 = b[1] + hh;
    } else {
        /* [y1, x1, y2, x2], corners in either order */
        *y0 = fminf(b[0], b[2]);
        *y1 = fmaxf(b[0], b[2]);
        *x0 = fminf(b[1], b[3]);
        *x1 = fmaxf(b[1], b[3]);
    }
}

static int suppresses(const float *a, const float *b, int center, float thr)
{
    float ax0, ax1, ay0, ay1, bx0, bx1, by0, by1;
    box_extent(a, center, &ax0, &ax1, &ay0, &ay1);
    box_extent(b, center, &bx0, &bx1, &by0, &by1);
    float ix0 = fmaxf(ax0, bx0), ix1 = fminf(ax1, bx1);
    if (ix1 <= ix0)
        return 0;
    float iy0 = fmaxf(ay0, by0), iy1 = fminf(ay1, by1);
    if (iy1 <= iy0)
        return 0;
    float inter = (ix1 - ix0) * (iy1 - iy0);
    if (inter <= 0)
        return 0;
    float area_a = (ax1 - ax0) * (ay1 - ay0), area_b = (bx1 - bx0) * (by1 - by0);
    float uni = area_a + area_b - inter;
    if (area_a <= 0 || area_b <= 0 || uni <= 0)
        return 0;
    return inter / uni > thr;
}

int64_t vp_misc_nms(const float *boxes, const float *scores, int64_t nb, int64_t nc, int64_t n,
                    int64_t max_out, float iou_thr, int has_score_thr, float score_thr, int center_box,
                    int64_t *sel, int64_t cap, void *scratch)
{
    nms_cand *cand = scratch;
    int64_t *kept = (int64_t *)(void *)(cand + (n > 0 ? n : 1));
    int64_t count = 0;
    for (int64_t b = 0; b < nb; b++) {
        const float *bb = boxes + b * n * 4;
        for (int64_t cl = 0; cl < nc; cl++) {
            const float *sc = scores + (b * nc + cl) * n;
            int64_t nc_ = 0, nk = 0;
            for (int64_t i = 0; i < n; i++)
                if (!has_score_thr || sc[i] > score_thr) {
                    cand[nc_].s = sc[i];
                    cand[nc_++].i = i;
                }
            qsort(cand, (size_t)nc_, sizeof *cand, cand_cmp);
            for (int64_t k = 0; k < nc_ && nk < max_out; k++) {
                const float *box = bb + cand[k].i * 4;
                int keep = 1;
                for (int64_t j = 0; j < nk && keep; j++)
                    keep = !suppresses(box, bb + kept[j] * 4, center_box, iou_thr);
                if (!keep)
                    continue;
                kept[nk++] = cand[k].i;
                if (sel && count < cap) {
                    sel[count * 3] = b;
                    sel[count * 3 + 1] = cl;
                    sel[count * 3 + 2] = cand[k].i;
                }
                count++;
            }
        }
    }
    return count;
}

/* An optional scalar input: absent or empty leaves *has = 0. */
static int scalar_in(vp_op_ctx *c, int i, double *v, int *has)
{
    const vp_tensor *t = i < c->n_in ? c->in[i] : NULL;
    *has = 0;
    if (!t || vp_tensor_numel(t) == 0)
        return VP_OK;
    if (!t->data)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input %d must be constant", i);
    *v = vp_tensor_get_f64(t, 0);
    *has = 1;
    return VP_OK;
}

int vp_misc_nms_args(vp_op_ctx *c, int64_t *max_out, float *iou_thr, int *has_score_thr, float *score_thr)
{
    double v = 0;
    int has, rc;
    if ((rc = scalar_in(c, 2, &v, &has)))
        return rc;
    if (has && c->in[2]->dtype != VP_DT_INT64)
        return vp_op_fail(c, VP_ERR_INVALID, "input 2 (max_output_boxes_per_class) must be int64");
    *max_out = has && v > 0 ? vp_tensor_get_i64(c->in[2], 0) : 0;
    if ((rc = scalar_in(c, 3, &v, &has)))
        return rc;
    *iou_thr = has ? (float)v : 0.f;
    if ((rc = scalar_in(c, 4, &v, has_score_thr)))
        return rc;
    *score_thr = *has_score_thr ? (float)v : 0.f;
    if (*iou_thr < 0.f || *iou_thr > 1.f)
        return vp_op_fail(c, VP_ERR_INVALID, "iou_threshold=%g not in [0, 1]", (double)*iou_thr);
    return VP_OK;
}

/* The candidate lists live in the plan's shared scratch. */
int vp_cpu_nms_prepare(vp_op_ctx *c)
{
    c->scratch_bytes = vp_misc_nms_scratch(c->in[0]->shape.d[1]);
    return VP_OK;
}

int vp_cpu_nms_run(vp_op_ctx *c)
{
    const vp_tensor *b = c->in[0], *sc = c->in[1];
    vp_tensor *y = c->out[0];
    int64_t max_out;
    float iou, sthr;
    int has_s, rc;
    if (!c->scratch || c->scratch_bytes < vp_misc_nms_scratch(b->shape.d[1]))
        return vp_op_fail(c, VP_ERR_INTERNAL, "NonMaxSuppression kernel not prepared");
    if ((rc = vp_misc_nms_args(c, &max_out, &iou, &has_s, &sthr)))
        return rc;
    int64_t cnt = vp_misc_nms(b->data, sc->data, b->shape.d[0], sc->shape.d[1], b->shape.d[1], max_out, iou,
                              has_s, sthr, (int)vp_attr_i(c->node, "center_point_box", 0), y->data, y->shape.d[0],
                              c->scratch);
    if (cnt != y->shape.d[0])
        return vp_op_fail(c, VP_ERR_INTERNAL, "selected %lld boxes, shape inference said %lld", (long long)cnt,
                          (long long)y->shape.d[0]);
    return VP_OK;
}
