/*
 * Resize tap tables, shared by the CPU kernel (cpu/misc_resize.c, which
 * reads them in place) and the CUDA kernel (cuda/misc.c, which narrows the
 * indices and uploads them): one builder, so that both backends read the
 * same input positions with the same weights.
 *
 * Resize is separable: each output coordinate along an axis reads a few
 * input positions ("taps") with weights. Tap rules follow ONNX's reference
 * implementation, down to its rounding: a source coordinate x with
 * fractional part r uses neighbours floor(x)-n/2+1 .. floor(x)+n/2 with
 * coefficients of r, except that an integral x counts as r = 1 from the left
 * neighbour (the window start is computed on the edge-padded coordinate
 * x + ceil(n/2), as the reference does); neighbours past the edges are
 * clamped (edge padding) or, with exclude_outside, dropped and the weights
 * renormalised. Antialias widens the linear/cubic filter by 1/scale when
 * downsampling. Weights are double, so float32 results summed in double
 * equal the reference's float64 ones rounded.
 */
#include "engine/ops/misc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Source coordinate of output position y along axis d (ONNX's coordinate
 * transformation modes). */
static double src_coord(const vp_resize_params *p, int d, int64_t y, int64_t in_len, int *outside)
{
    double s = p->scale[d], fy = (double)y, in = (double)in_len;
    double out_f = s * in; /* the "float output length" of the reference */
    double x;
    *outside = 0;
    switch (p->coord) {
    case VP_RS_HALF_PIXEL:
        return (fy + 0.5) / s - 0.5;
    case VP_RS_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)p->out[d] / out_f, center = in / 2;
        return center * (1 - adj) + (fy + 0.5) / s - 0.5;
    }
    case VP_RS_PYTORCH_HALF_PIXEL:
        return out_f == 1 ? -0.5 : (fy + 0.5) / s - 0.5;
    case VP_RS_ALIGN_CORNERS:
        return out_f == 1 ? 0.0 : fy * (in - 1) / (out_f - 1);
    case VP_RS_TF_HALF_PIXEL_FOR_NN:
        return (fy + 0.5) / s;
    case VP_RS_TF_CROP_AND_RESIZE: {
        double lo = p->roi_lo[d], hi = p->roi_hi[d];
        if (p->roi_f32) {
            /* float32 roi: roi_end - roi_start and roi_start * (in - 1) are
             * float32 operations in the reference (and in ONNX Runtime) */
            float span = (float)hi - (float)lo, in1 = (float)(in_len - 1);
            x = out_f == 1 ? (double)((span * in1) / 2.0f) : fy * (double)span * (in - 1) / (out_f - 1);
            x += (double)((float)lo * in1);
        } else {
            x = out_f == 1 ? (hi - lo) * (in - 1) / 2 : fy * (hi - lo) * (in - 1) / (out_f - 1);
            x += lo * (in - 1);
        }
        *outside = x < 0 || x > in - 1;
        return x;
    }
    default: /* asymmetric */
        return fy / s;
    }
}

/* Cubic coefficients of the 4 taps for ratio r (the reference's expressions,
 * kept term for term so the rounding is the same). */
static void cubic_coeffs(double r, double A, double *c)
{
    double r1 = r + 1, q = 1 - r, q1 = (1 - r) + 1;
    c[0] = ((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A;
    c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
    c[2] = ((A + 2) * q - (A + 3)) * q * q + 1;
    c[3] = ((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A;
}

/* Antialiased cubic kernel at distance x (reference's form). */
static double cubic_aa(double x, double A)
{
    x = fabs(x);
    double x2 = x * x, x3 = x * x2;
    if (x <= 1)
        return (A + 2) * x3 - (A + 3) * x2 + 1;
    if (x < 2)
        return A * x3 - 5 * A * x2 + 8 * A * x - 4 * A;
    return 0;
}

/* First of the n taps around x: the n nearest positions, ties to the lower,
 * found on the edge-padded coordinate like the reference (this decides the
 * window when x is within an ulp of an integer). n is even. */
static int64_t window_start(double x, int n)
{
    int pad = (n + 1) / 2;
    double xp = x + pad, pf = floor(xp);
    return (int64_t)pf + (xp - pf == 0 ? -(n / 2) : -(n / 2) + 1) - pad;
}

/* Number of taps per output position along a resized axis with scale s. */
static int axis_taps(const vp_resize_params *p, double s)
{
    if (p->mode == VP_RS_NEAREST)
        return 1;
    if (!p->antialias)
        return p->mode == VP_RS_LINEAR ? 2 : 4;
    double sc = s < 1 ? s : 1;
    int64_t start = (int64_t)floor((p->mode == VP_RS_LINEAR ? -1.0 : -2.0) / sc) + 1;
    return (int)(2 - 2 * start);
}

static int64_t clampi(int64_t v, int64_t hi)
{
    return v < 0 ? 0 : v > hi ? hi : v;
}

static void fill_axis(const vp_resize_params *p, int d, int64_t in_len, vp_resize_axis *a)
{
    int n = a->taps;
    double s = p->scale[d], sc = s < 1 ? s : 1;
    for (int64_t o = 0; o < a->n; o++) {
        int64_t *ix = a->idx + o * n;
        double *w = a->w + o * n;
        int outside = 0;
        if (p->identity[d]) {
            ix[0] = o;
            w[0] = 1;
            continue;
        }
        double x = src_coord(p, d, o, in_len, &outside);
        if (a->ext)
            a->ext[o] = (uint8_t)outside;
        /* ratio in (0, 1]: an integral x is ratio 1 from the left neighbour */
        double f = floor(x), r = x == f ? 1.0 : x - f;
        if (p->mode == VP_RS_NEAREST) {
            int64_t k;
            if (p->nearest == VP_RS_SIMPLE) {
                k = s < 1 ? (int64_t)ceil(x) : (int64_t)x;
            } else {
                /* the reference picks one of 2 taps by the rounding rule */
                int up = r == 1.0 || p->nearest == VP_RS_CEIL ||
                         (p->nearest == VP_RS_ROUND_PREFER_FLOOR && r > 0.5) ||
                         (p->nearest == VP_RS_ROUND_PREFER_CEIL && r >= 0.5);
                k = window_start(x, 2) + up;
            }
            ix[0] = clampi(k, in_len - 1);
            w[0] = 1;
            continue;
        }
        int64_t first = window_start(x, n);
        double cc[4], sum = 0;
        if (p->mode == VP_RS_CUBIC && !p->antialias)
            cubic_coeffs(r, p->cubic_a, cc);
        for (int j = 0; j < n; j++) {
            double off = (double)(j - n / 2 + 1) - r; /* tap position relative to x */
            double wj;
            if (p->mode == VP_RS_LINEAR)
                wj = p->antialias ? fmax(0.0, 1 - fabs(off * sc)) : (j == 0 ? 1 - r : r);
            else
                wj = p->antialias ? cubic_aa(sc * off, p->cubic_a) : cc[j];
            w[j] = wj;
            ix[j] = clampi(first + j, in_len - 1);
            sum += wj;
        }
        /* antialias weights are normalised; then exclude_outside drops taps
         * past the edges and renormalises what remains (an all-zero row is
         * left as is), in two steps like the reference */
        if (p->antialias)
            for (int j = 0; j < n; j++)
                w[j] /= sum;
        if (p->exclude_outside) {
            sum = 0;
            for (int j = 0; j < n; j++) {
                int64_t k = first + j;
                if (k < 0 || k >= in_len)
                    w[j] = 0;
                sum += w[j];
            }
            if (sum == 0)
                sum = 1;
            for (int j = 0; j < n; j++)
                w[j] /= sum;
        }
    }
}

void vp_misc_resize_tables_free(vp_resize_tables *t)
{
    free(t->mem);
    memset(t, 0, sizeof *t);
}

int vp_misc_resize_tables(vp_op_ctx *c, const vp_resize_params *p, const vp_shape *in, vp_resize_tables *t)
{
    memset(t, 0, sizeof *t);
    size_t bytes = 0;
    for (int d = 0; d < p->rank; d++) {
        vp_resize_axis *a = &t->ax[d];
        if (in->d[d] == 0 && p->out[d] > 0)
            return vp_op_fail(c, VP_ERR_SHAPE, "cannot resize empty axis %d to %lld", d, (long long)p->out[d]);
        a->taps = p->identity[d] ? 1 : axis_taps(p, p->scale[d]);
        if (a->taps < 1 || a->taps > 4096)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "filter of %d taps along axis %d", a->taps, d);
        a->n = p->out[d];
        bytes += (size_t)a->n * (size_t)a->taps * (sizeof(int64_t) + sizeof(double)) + (size_t)a->n + 64;
    }
    /* one allocation for every axis; each axis's arrays start 8-aligned */
    t->mem = malloc(bytes ? bytes : 1);
    if (!t->mem)
        return VP_ERR_NOMEM;
    char *m = t->mem;
    for (int d = 0; d < p->rank; d++) {
        vp_resize_axis *a = &t->ax[d];
        size_t nt = (size_t)a->n * (size_t)a->taps;
        a->idx = (int64_t *)(void *)m;
        m += nt * sizeof(int64_t);
        a->w = (double *)(void *)m;
        m += nt * sizeof(double);
        a->ext = NULL;
        if (p->coord == VP_RS_TF_CROP_AND_RESIZE && !p->identity[d]) {
            a->ext = (uint8_t *)m;
            memset(a->ext, 0, (size_t)a->n);
        }
        m += (size_t)a->n;
        m += (8 - ((uintptr_t)m & 7)) & 7; /* keep the next arrays aligned */
        fill_axis(p, d, in->d[d], a);
    }
    return VP_OK;
}
