/*
 * CPU kernel: Resize (opset 10..19) and Upsample (7..9).
 *
 * Resize is separable: each output coordinate along an axis reads a few
 * input positions ("taps") with weights. The kernel builds one table per
 * axis (clamped input index and weight of every tap of every output
 * position, plus a flag for tf_crop_and_resize positions that fall outside
 * the input), then combines the axes' tables:
 *   - float32 whose leading axes are unchanged (the usual N,C,H,W image
 *     case: YOLO's nearest 2x, DeepLab's bilinear) runs a 2-D loop per
 *     plane, with specialised nearest and bilinear rows, parallel over
 *     planes x rows;
 *   - nearest for any dtype and shape gathers elements bytewise (exact);
 *   - anything else (other dtypes, leading axes resized) resizes one axis
 *     at a time in double, in the reference's axis order, then rounds once.
 * Tap rules follow ONNX's reference implementation, down to its rounding:
 * a source coordinate x with fractional part r uses neighbours
 * floor(x)-n/2+1 .. floor(x)+n/2 with coefficients of r, except that an
 * integral x counts as r = 1 from the left neighbour (the window start is
 * computed on the edge-padded coordinate x + ceil(n/2), as the reference
 * does); neighbours past the edges are clamped (edge padding) or, with
 * exclude_outside, dropped and the weights renormalised. Antialias widens
 * the linear/cubic filter by 1/scale when downsampling. Weights and sums are
 * double, so float32 results equal the reference's float64 ones rounded.
 *
 * The tables depend on constant inputs (scales/sizes/roi), which prepare()
 * may not see, so they are built on the first run and kept (constants do not
 * change within a plan); prepare() allocates nothing else.
 */
#include "engine/cpu/misc.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define PAR_MIN 32768

typedef struct rs_axis {
    int taps;
    int64_t *idx;   /* [out][taps] clamped input index */
    double *wd;     /* [out][taps] weight */
    uint8_t *ext;   /* [out] 1 = outside the input (tf_crop_and_resize), or NULL */
    int half;       /* nearest with idx[o] == o / 2 for all o (2x upsampling) */
} rs_axis;

typedef struct rs_state {
    int built;
    vp_resize_params p;
    rs_axis ax[VP_MAX_DIMS];
    void *mem;
    double *buf[2];  /* generic path: the tensor after each resized axis */
    int n_vrow;      /* bilinear path: threads with a blended-row slot in the scratch */
    int64_t win_vrow;
} rs_state;

void vp_cpu_resize_release(void *state)
{
    rs_state *s = state;
    if (s) {
        free(s->mem);
        free(s->buf[0]);
        free(s->buf[1]);
    }
    free(s);
}

int vp_cpu_resize_prepare(vp_op_ctx *c)
{
    rs_state *s = calloc(1, sizeof *s);
    if (!s)
        return VP_ERR_NOMEM;
    c->state = s;
    /* linear float32 may take the two-step bilinear path: one blended input
     * row (double) per thread, in the plan's shared scratch */
    const vp_shape *xs = &c->in[0]->shape;
    if (c->in[0]->dtype == VP_DT_FLOAT && xs->rank >= 1 && strcmp(vp_attr_s(c->node, "mode", "nearest"), "nearest")) {
        s->n_vrow = omp_get_max_threads();
        s->win_vrow = xs->d[xs->rank - 1];
        c->scratch_bytes = (size_t)s->n_vrow * (size_t)(s->win_vrow > 0 ? s->win_vrow : 1) * sizeof(double);
    }
    return VP_OK;
}

/* Source coordinate of output position y along axis d. */
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

/* Number of taps per output position along an axis with scale s. */
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

static void fill_axis(const vp_resize_params *p, int d, int64_t in_len, rs_axis *a)
{
    int64_t out_len = p->out[d];
    int n = a->taps;
    double s = p->scale[d], sc = s < 1 ? s : 1;
    for (int64_t o = 0; o < out_len; o++) {
        int64_t *ix = a->idx + o * n;
        double *w = a->wd + o * n;
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
    a->half = n == 1 && out_len == 2 * in_len && !a->ext;
    for (int64_t o = 0; a->half && o < out_len; o++)
        a->half = a->idx[o] == o / 2;
}

static int build(vp_op_ctx *c, rs_state *st)
{
    const vp_shape *xs = &c->in[0]->shape;
    vp_resize_params *p = &st->p;
    int rc = vp_misc_resize_params(c, p);
    if (rc)
        return rc;
    size_t bytes = 0;
    int taps[VP_MAX_DIMS];
    for (int d = 0; d < p->rank; d++) {
        if (xs->d[d] == 0 && p->out[d] > 0)
            return vp_op_fail(c, VP_ERR_SHAPE, "cannot resize empty axis %d to %lld", d, (long long)p->out[d]);
        taps[d] = p->identity[d] ? 1 : axis_taps(p, p->scale[d]);
        if (taps[d] < 1 || taps[d] > 4096)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "filter of %d taps along axis %d", taps[d], d);
        bytes += (size_t)p->out[d] * (size_t)taps[d] * (sizeof(int64_t) + sizeof(double)) +
                 (size_t)p->out[d] + 64;
    }
    free(st->mem);
    st->mem = malloc(bytes ? bytes : 1);
    if (!st->mem)
        return VP_ERR_NOMEM;
    char *m = st->mem;
    for (int d = 0; d < p->rank; d++) {
        rs_axis *a = &st->ax[d];
        size_t nt = (size_t)p->out[d] * (size_t)taps[d];
        a->taps = taps[d];
        a->idx = (int64_t *)(void *)m;
        m += nt * sizeof(int64_t);
        a->wd = (double *)(void *)m;
        m += nt * sizeof(double);
        a->ext = NULL;
        if (p->coord == VP_RS_TF_CROP_AND_RESIZE && !p->identity[d]) {
            a->ext = (uint8_t *)m;
            memset(a->ext, 0, (size_t)p->out[d]);
        }
        m += (size_t)p->out[d];
        m += (8 - ((uintptr_t)m & 7)) & 7; /* keep the next arrays aligned */
        fill_axis(p, d, xs->d[d], a);
    }
    st->built = 1;
    return VP_OK;
}

/* One output row of the float32 2-D path. */
VP_MISC_CLONES
static void resize_row_f32(const float *src, float *orow, int64_t oy, int64_t win, int64_t wout,
                           const rs_axis *ay, const rs_axis *ax, float ev, double *vrow)
{
    int ty = ay->taps, tx = ax->taps;
    const int64_t *iy = ay->idx + oy * ty, *ix = ax->idx;
    const double *wyd = ay->wd + oy * ty, *wxd = ax->wd;
    if (ay->ext && ay->ext[oy]) {
        for (int64_t o = 0; o < wout; o++)
            orow[o] = ev;
        return;
    }
    if (ty == 1 && tx == 1) {
        const float *row = src + iy[0] * win;
        if (ax->half) {
            for (int64_t i = 0; i < win; i++) {
                orow[2 * i] = row[i];
                orow[2 * i + 1] = row[i];
            }
        } else {
            for (int64_t o = 0; o < wout; o++)
                orow[o] = row[ix[o]];
        }
    } else if (ty == 2 && tx == 2 && vrow) {
        /* bilinear in two steps: blend the two source rows once (vectorised),
         * then interpolate along the row from the blend; double keeps the
         * result the reference's, rounded once (same operations, same order) */
        const float *r0 = src + iy[0] * win, *r1 = src + iy[1] * win;
        double w0 = wyd[0], w1 = wyd[1];
        for (int64_t i = 0; i < win; i++)
            vrow[i] = w0 * r0[i] + w1 * r1[i];
        for (int64_t o = 0; o < wout; o++)
            orow[o] = (float)(wxd[2 * o] * vrow[ix[2 * o]] + wxd[2 * o + 1] * vrow[ix[2 * o + 1]]);
    } else if (ty == 2 && tx == 2) {
        const float *r0 = src + iy[0] * win, *r1 = src + iy[1] * win;
        double w0 = wyd[0], w1 = wyd[1];
        for (int64_t o = 0; o < wout; o++) {
            int64_t i0 = ix[2 * o], i1 = ix[2 * o + 1];
            double a0 = wxd[2 * o], a1 = wxd[2 * o + 1];
            orow[o] = (float)(a0 * (w0 * r0[i0] + w1 * r1[i0]) + a1 * (w0 * r0[i1] + w1 * r1[i1]));
        }
    } else {
        for (int64_t o = 0; o < wout; o++) {
            double acc = 0;
            for (int b = 0; b < tx; b++) {
                const float *col = src + ix[o * tx + b];
                double cb = 0;
                for (int a = 0; a < ty; a++)
                    cb += wyd[a] * col[iy[a] * win];
                acc += wxd[o * tx + b] * cb;
            }
            orow[o] = (float)acc;
        }
    }
    if (ax->ext)
        for (int64_t o = 0; o < wout; o++)
            if (ax->ext[o])
                orow[o] = ev;
}

/* Float32, leading axes unchanged: planes of [hin, win] -> [hout, wout].
 * Each thread takes a contiguous range of output rows, so that a nearest
 * row equal to the one before it (integer upscaling) is a memcpy. */
static void resize_2d_f32(const float *x, float *y, int64_t planes, int64_t hin, int64_t win, int64_t hout,
                          int64_t wout, const rs_axis *ay, const rs_axis *ax, float ev, const rs_state *st,
                          double *scratch)
{
    int64_t rows = planes * hout;
    int nearest = ay->taps == 1 && ax->taps == 1 && !ay->ext;
#pragma omp parallel if (rows * wout > PAR_MIN)
    {
        int nt = omp_get_num_threads(), me = omp_get_thread_num();
        /* no slot (no scratch, more threads than planned): the one-step loop */
        double *vrow = scratch && me < st->n_vrow && st->win_vrow == win ? scratch + (int64_t)me * win : NULL;
        int64_t t0 = rows * me / nt, t1 = rows * (me + 1) / nt;
        for (int64_t t = t0; t < t1; t++) {
            int64_t pl = t / hout, oy = t % hout;
            float *orow = y + t * wout;
            if (nearest && t > t0 && oy > 0 && ay->idx[oy] == ay->idx[oy - 1]) {
                memcpy(orow, orow - wout, (size_t)wout * sizeof *orow);
                continue;
            }
            resize_row_f32(x + pl * hin * win, orow, oy, win, wout, ay, ax, ev, vrow);
        }
    }
}

/* Nearest, any dtype and rank: a bytewise gather, row by row. */
static void resize_nearest_any(const void *x, void *y, size_t es, const vp_shape *xs, const vp_shape *ys,
                               const rs_state *st, int fill_dt, double ev)
{
    int r = xs->rank;
    int64_t xst[VP_MAX_DIMS], st_ = 1;
    for (int d = r - 1; d >= 0; d--) {
        xst[d] = st_;
        st_ *= xs->d[d];
    }
    int64_t wout = ys->d[r - 1], rows = vp_shape_numel(ys) / (wout ? wout : 1);
    const rs_axis *al = &st->ax[r - 1];
#pragma omp parallel for schedule(static) if (rows * wout > PAR_MIN)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row, base = 0;
        int outside = 0;
        for (int d = r - 2; d >= 0; d--) {
            int64_t od = rem % ys->d[d];
            rem /= ys->d[d];
            base += st->ax[d].idx[od] * xst[d];
            outside |= st->ax[d].ext && st->ax[d].ext[od];
        }
        char *orow = (char *)y + row * wout * (int64_t)es;
        const char *src = (const char *)x + base * (int64_t)es;
        for (int64_t o = 0; o < wout; o++) {
            if (outside || (al->ext && al->ext[o]))
                vp_misc_st(y, fill_dt, row * wout + o, ev);
            else
                switch (es) {
                case 1: orow[o] = src[al->idx[o]]; break;
                case 2: ((uint16_t *)(void *)orow)[o] = ((const uint16_t *)(const void *)src)[al->idx[o]]; break;
                case 4: ((uint32_t *)(void *)orow)[o] = ((const uint32_t *)(const void *)src)[al->idx[o]]; break;
                default: memcpy(orow + o * 8, src + al->idx[o] * 8, 8); break;
                }
        }
    }
}

/* Anything else: one axis at a time in double, in the reference's order
 * (so even integer rounding matches it), then one conversion to the output
 * type. buf[0] / buf[1] hold the tensor before / after each axis. */
static int resize_separable(vp_op_ctx *c, rs_state *st)
{
    const vp_tensor *xt = c->in[0];
    vp_tensor *yt = c->out[0];
    const vp_resize_params *p = &st->p;
    int r = xt->shape.rank;
    vp_shape cur = xt->shape;
    if (!st->buf[0]) {
        /* sized for the largest intermediate (first run only) */
        int64_t mx = vp_shape_numel(&cur);
        vp_shape s = cur;
        for (int k = 0; k < r; k++) {
            s.d[p->order[k]] = p->out[p->order[k]];
            int64_t n = vp_shape_numel(&s);
            mx = n > mx ? n : mx;
        }
        st->buf[0] = malloc((size_t)(mx > 0 ? mx : 1) * sizeof(double));
        st->buf[1] = malloc((size_t)(mx > 0 ? mx : 1) * sizeof(double));
        if (!st->buf[0] || !st->buf[1])
            return VP_ERR_NOMEM;
    }
    double *src = st->buf[0], *dst = st->buf[1];
    int64_t n_in = vp_shape_numel(&cur);
    for (int64_t e = 0; e < n_in; e++)
        src[e] = vp_misc_ld(xt->data, xt->dtype, e);
    for (int k = 0; k < r; k++) {
        int d = p->order[k];
        if (p->identity[d])
            continue;
        const rs_axis *a = &st->ax[d];
        int64_t outer = 1, inner = 1, in_len = cur.d[d], out_len = p->out[d];
        for (int i = 0; i < d; i++)
            outer *= cur.d[i];
        for (int i = d + 1; i < r; i++)
            inner *= cur.d[i];
#pragma omp parallel for collapse(2) schedule(static) if (outer * out_len * inner * a->taps > PAR_MIN)
        for (int64_t oo = 0; oo < outer; oo++)
            for (int64_t o = 0; o < out_len; o++) {
                double *drow = dst + (oo * out_len + o) * inner;
                const int64_t *ix = a->idx + o * a->taps;
                const double *w = a->wd + o * a->taps;
                if (a->ext && a->ext[o]) {
                    for (int64_t i = 0; i < inner; i++)
                        drow[i] = p->extrapolation;
                    continue;
                }
                for (int64_t i = 0; i < inner; i++) {
                    double acc = 0;
                    for (int j = 0; j < a->taps; j++)
                        acc += w[j] * src[(oo * in_len + ix[j]) * inner + i];
                    drow[i] = acc;
                }
            }
        cur.d[d] = out_len;
        double *t = src;
        src = dst;
        dst = t;
    }
    int64_t n = vp_shape_numel(&cur);
    for (int64_t e = 0; e < n; e++)
        vp_misc_st(yt->data, yt->dtype, e, src[e]);
    return VP_OK;
}

int vp_cpu_resize_run(vp_op_ctx *c)
{
    rs_state *st = c->state;
    const vp_tensor *xt = c->in[0];
    vp_tensor *yt = c->out[0];
    if (!st)
        return vp_op_fail(c, VP_ERR_INTERNAL, "Resize kernel not prepared");
    if (!st->built) {
        int rc = build(c, st);
        if (rc)
            return rc;
    }
    const vp_resize_params *p = &st->p;
    const vp_shape *xs = &xt->shape, *ys = &yt->shape;
    int r = xs->rank;
    for (int d = 0; d < r; d++)
        if (ys->d[d] != p->out[d])
            return vp_op_fail(c, VP_ERR_INTERNAL, "output shape differs from the inferred one");
    if (vp_shape_numel(ys) == 0)
        return VP_OK;
    int lead_same = 1;
    for (int d = 0; d < r - 2; d++)
        lead_same &= p->identity[d];
    if (xt->dtype == VP_DT_FLOAT && lead_same) {
        static const int64_t zero = 0;
        static const double one = 1;
        rs_axis unit = {1, (int64_t *)&zero, (double *)&one, NULL, 0};
        int64_t planes = 1;
        for (int d = 0; d < r - 2; d++)
            planes *= xs->d[d];
        const rs_axis *ay = r >= 2 ? &st->ax[r - 2] : &unit;
        int64_t hin = r >= 2 ? xs->d[r - 2] : 1, hout = r >= 2 ? ys->d[r - 2] : 1;
        resize_2d_f32(xt->data, yt->data, planes, hin, xs->d[r - 1], hout, ys->d[r - 1], ay, &st->ax[r - 1],
                      (float)p->extrapolation, st, c->scratch);
        return VP_OK;
    }
    if (p->mode == VP_RS_NEAREST) {
        resize_nearest_any(xt->data, yt->data, vp_dtype_size(xt->dtype), xs, ys, st, xt->dtype, p->extrapolation);
        return VP_OK;
    }
    return resize_separable(c, st);
}
