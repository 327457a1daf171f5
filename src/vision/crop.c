/*
 * Batched crop + resize, CPU implementation and reference (vision/crop.h
 * states the arithmetic; the CUDA kernel, cuda/crop.cu, repeats it
 * operation for operation).
 *
 * Expected load: tens of crops per frame of 64 x 64 or so, i.e. a few
 * hundred thousand output values per batch: one plain loop per output
 * pixel, with the row taps hoisted, is enough next to the secondary
 * model's own cost. Built with -ffp-contract=off, like preprocess.c, so
 * that no multiply-add is fused differently from the kernel's __fmul_rn /
 * __fadd_rn.
 */
#include "vision/crop.h"

#include "base/log.h"
#include "engine/graph.h" /* vp_float_to_half */

#include <math.h>
#include <string.h>

void vp_crop_rect_of(float x0, float y0, float x1, float y1, int sw, int sh, vp_crop_rect *r)
{
    if (!(isfinite(x0) && isfinite(y0) && isfinite(x1) && isfinite(y1))) {
        *r = (vp_crop_rect){0, 0, 1, 1};
        return;
    }
    /* in double, clamped before the conversion to int (no overflow) */
    double bx = floor((double)x0), by = floor((double)y0), ex = ceil((double)x1), ey = ceil((double)y1);
    bx = bx < 0 ? 0 : bx > sw - 1 ? sw - 1 : bx;
    by = by < 0 ? 0 : by > sh - 1 ? sh - 1 : by;
    ex = ex < bx + 1 ? bx + 1 : ex > sw ? sw : ex;
    ey = ey < by + 1 ? by + 1 : ey > sh ? sh : ey;
    r->x = (int)bx, r->y = (int)by, r->w = (int)(ex - bx), r->h = (int)(ey - by);
}

static inline float clampf(float x, float lo, float hi)
{
    x = x > lo ? x : lo;
    return x < hi ? x : hi;
}

static inline float lerp(float p, float q, float t) { return p + t * (q - p); }

static inline float rd(const uint8_t *row, int off, int wide)
{
    if (wide) {
        uint16_t v;
        memcpy(&v, row + off, 2);
        return (float)v;
    }
    return (float)row[off];
}

typedef struct tap {
    int i0, i1; /* byte offsets in the row */
    float a;
} tap;

static inline tap make_tap(float pos, int size, int stride)
{
    int i0 = (int)pos; /* pos >= 0 */
    int i1 = i0 + 1 < size ? i0 + 1 : size - 1;
    return (tap){i0 * stride, i1 * stride, pos - (float)i0};
}

static inline float bilin(const uint8_t *r0, const uint8_t *r1, tap tx, float ay, int wide)
{
    float t = lerp(rd(r0, tx.i0, wide), rd(r0, tx.i1, wide), tx.a);
    float b = lerp(rd(r1, tx.i0, wide), rd(r1, tx.i1, wide), tx.a);
    return lerp(t, b, ay);
}

/* Source position of crop pixel u (step 2): origin + clamped local position. */
static inline float crop_pos(int u, float s, int origin, int size)
{
    return (float)origin + clampf(fmaf((float)u + 0.5f, s, -0.5f), 0.0f, (float)(size - 1));
}

static void put(const vp_pre_plan *pl, void *slot, int dy, int dx, const float r[3])
{
    const size_t plane = (size_t)pl->dw * (size_t)pl->dh, pix = (size_t)dy * (size_t)pl->dw + (size_t)dx;
    for (int c = 0; c < 3; c++) {
        const size_t i = pl->layout == VP_PRE_NHWC ? pix * 3 + (size_t)c : (size_t)c * plane + pix;
        if (pl->dtype == VP_PRE_FP16)
            ((uint16_t *)slot)[i] = vp_float_to_half(r[c]);
        else
            ((float *)slot)[i] = r[c];
    }
}

static void crop_one(const vp_pre_plan *pl, const vp_crop_rect *rc, void *slot)
{
    const int f = pl->format;
    const int packed = f == VP_PRE_RGB24 || f == VP_PRE_BGR24;
    const int wide = f == VP_PRE_P016 || f == VP_PRE_YUV420P10;
    const int bps = wide ? 2 : 1;
    const int inter = f == VP_PRE_NV12 || f == VP_PRE_P016;
    const float sx = (float)((double)rc->w / pl->dw), sy = (float)((double)rc->h / pl->dh);
    const uint8_t *p0 = pl->plane[0], *pu = pl->plane[1], *pv = pl->plane[2];
    for (int dy = 0; dy < pl->dh; dy++) {
        const float fy = crop_pos(dy, sy, rc->y, rc->h);
        const tap ty = make_tap(fy, pl->sh, 1);
        const uint8_t *l0 = p0 + (size_t)ty.i0 * pl->pitch[0], *l1 = p0 + (size_t)ty.i1 * pl->pitch[0];
        tap tcy = {0, 0, 0.0f};
        const uint8_t *u0r = NULL, *u1r = NULL, *v0r = NULL, *v1r = NULL;
        if (!packed) {
            tcy = make_tap(clampf((fy - 0.5f) * 0.5f, 0.0f, (float)(pl->ch - 1)), pl->ch, 1);
            u0r = pu + (size_t)tcy.i0 * pl->pitch[1];
            u1r = pu + (size_t)tcy.i1 * pl->pitch[1];
            if (inter) {
                v0r = u0r + bps;
                v1r = u1r + bps;
            } else {
                v0r = pv + (size_t)tcy.i0 * pl->pitch[2];
                v1r = pv + (size_t)tcy.i1 * pl->pitch[2];
            }
        }
        for (int dx = 0; dx < pl->dw; dx++) {
            const float fx = crop_pos(dx, sx, rc->x, rc->w);
            float s[3];
            if (packed) {
                const tap tx = make_tap(fx, pl->sw, 3);
                for (int c = 0; c < 3; c++)
                    s[c] = bilin(l0, l1, (tap){tx.i0 + c, tx.i1 + c, tx.a}, ty.a, 0);
            } else {
                const tap tx = make_tap(fx, pl->sw, bps);
                const tap tc = make_tap(clampf(fx * 0.5f, 0.0f, (float)(pl->cw - 1)), pl->cw, inter ? 2 * bps : bps);
                s[0] = bilin(l0, l1, tx, ty.a, wide);
                s[1] = bilin(u0r, u1r, tc, tcy.a, wide);
                s[2] = bilin(v0r, v1r, tc, tcy.a, wide);
            }
            float r[3];
            for (int c = 0; c < 3; c++) { /* preprocess.c step 5, 6, same order */
                float x = pl->m[c][0] * s[0] + pl->m[c][1] * s[1];
                x = x + pl->m[c][2] * s[2];
                x = x + pl->off[c];
                x = clampf(x, 0.0f, 1.0f);
                r[c] = x * pl->na[c] + pl->nb[c];
            }
            put(pl, slot, dy, dx, r);
        }
    }
}

int vp_crop_cpu(const vp_pre_src *srcs, int nsrc, const vp_crop *crops, int n, const vp_pre_params *p,
                void *dst_batch, int first_slot)
{
    if (n == 0)
        return VP_OK;
    if (!srcs || nsrc < 1 || nsrc > VP_CROP_MAX_SOURCES || !crops || n < 0 || !p || !dst_batch || first_slot < 0) {
        VP_LOGE("crop: bad arguments (%d pictures, %d crops, destination %p, first slot %d)", nsrc, n, dst_batch,
                first_slot);
        return VP_ERR_INVALID;
    }
    vp_pre_plan plans[VP_CROP_MAX_SOURCES];
    for (int i = 0; i < nsrc; i++) {
        int rc = vp_pre_prepare(&srcs[i], p, &plans[i]);
        if (rc)
            return rc;
    }
    const size_t esz = p->dtype == VP_PRE_FP16 ? 2 : 4, slot_bytes = vp_pre_slot_elems(p) * esz;
    for (int j = 0; j < n; j++) {
        const vp_crop *c = &crops[j];
        if (c->src < 0 || c->src >= nsrc) {
            VP_LOGE("crop %d: picture %d, the call has %d", j, c->src, nsrc);
            return VP_ERR_INVALID;
        }
        const vp_pre_plan *pl = &plans[c->src];
        vp_crop_rect r;
        vp_crop_rect_of(c->x0, c->y0, c->x1, c->y1, pl->sw, pl->sh, &r);
        crop_one(pl, &r, (uint8_t *)dst_batch + (size_t)(first_slot + j) * slot_bytes);
    }
    return VP_OK;
}
