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
 *   - anything else (other dtypes, leading axes resized) sums the taps'
 *     Cartesian product per output element, in double.
 * Tap rules follow ONNX's reference implementation: a source coordinate x
 * with fractional part r uses neighbours floor(x)-n/2+1 .. floor(x)+n/2 with
 * coefficients of r, except that an integral x counts as r = 1 from the left
 * neighbour; neighbours past the edges are clamped (edge padding) or, with
 * exclude_outside, dropped and the weights renormalised. Antialias widens
 * the linear/cubic filter by 1/scale when downsampling.
 *
 * The tables depend on constant inputs (scales/sizes/roi), which prepare()
 * may not see, so they are built on the first run and kept (constants do not
 * change within a plan); prepare() allocates nothing else.
 */
#include "engine/cpu/misc.h"

#include <stdlib.h>
#include <string.h>

#define PAR_MIN 32768

typedef struct rs_axis {
    int taps;
    int64_t *idx;   /* [out][taps] clamped input index */
    double *wd;     /* [out][taps] weight */
    float *wf;      /* same, float */
    uint8_t *ext;   /* [out] 1 = outside the input (tf_crop_and_resize), or NULL */
    int half;       /* nearest with idx[o] == o / 2 for all o (2x upsampling) */
} rs_axis;

typedef struct rs_state {
    int built;
    vp_resize_params p;
    rs_axis ax[VP_MAX_DIMS];
    void *mem;
} rs_state;

void vp_cpu_resize_release(void *state)
{
    rs_state *s = state;
    if (s)
        free(s->mem);
    free(s);
}

int vp_cpu_resize_prepare(vp_op_ctx *c)
{
    rs_state *s = calloc(1, sizeof *s);
    if (!s)
        return VP_ERR_NOMEM;
    c->state = s;
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
        x = out_f == 1 ? (hi - lo) * (in - 1) / 2 : fy * (hi - lo) * (in - 1) / (out_f - 1);
        x += lo * (in - 1);
        *outside = x < 0 || x > in - 1;
        return x;
    }
    default: /* asymmetric */
        return fy / s;
    }
}

static double cubic_w(double x, double A)
{
    x = fabs(x);
    if (x <= 1)
        return ((A + 2) * x - (A + 3)) * x * x + 1;
    if (x < 2)
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    return 0;
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
        if (p->mode == VP_RS_NEAREST) {
            double f = floor(x);
            int64_t k;
            if (p->nearest == VP_RS_SIMPLE)
                k = s < 1 ? (int64_t)ceil(x) : (int64_t)x;
            else if (x == f)
                k = (int64_t)f;
            else {
                double r = x - f;
                int up = p->nearest == VP_RS_CEIL || (p->nearest == VP_RS_ROUND_PREFER_FLOOR && r > 0.5) ||
                         (p->nearest == VP_RS_ROUND_PREFER_CEIL && r >= 0.5);
                k = (int64_t)f + up;
            }
            ix[0] = clampi(k, in_len - 1);
            w[0] = 1;
            continue;
        }
        /* the left neighbour is floor(x), or x - 1 with ratio 1 when x is integral */
        double f = floor(x), r;
        if (x == f) {
            f -= 1;
            r = 1;
        } else {
            r = x - f;
        }
        int64_t first = (int64_t)f - n / 2 + 1;
        double sum = 0;
        for (int j = 0; j < n; j++) {
            double off = (double)(j - n / 2 + 1) - r; /* tap position relative to x */
            double wj;
            if (p->mode == VP_RS_LINEAR)
                wj = p->antialias ? fmax(0.0, 1 - fabs(off * sc)) : (j == 0 ? 1 - r : r);
            else
                wj = cubic_w(p->antialias ? off * sc : off, p->cubic_a);
            int64_t k = first + j;
            if (p->exclude_outside && (k < 0 || k >= in_len))
                wj = 0;
            w[j] = wj;
            ix[j] = clampi(k, in_len - 1);
            sum += wj;
        }
        /* antialias weights are normalised by construction; exclude_outside
         * renormalises what remains (guarding an all-zero row) */
        if (p->antialias || p->exclude_outside) {
            if (sum == 0)
                sum = 1;
            for (int j = 0; j < n; j++)
                w[j] /= sum;
        }
    }
    for (int64_t o = 0; o < out_len * n; o++)
        a->wf[o] = (float)a->wd[o];
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
        bytes += (size_t)p->out[d] * (size_t)taps[d] * (sizeof(int64_t) + sizeof(double) + sizeof(float)) +
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
        a->wf = (float *)(void *)m;
        m += nt * sizeof(float);
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

/* Float32, leading axes unchanged: planes of [hin, win] -> [hout, wout]. */
static void resize_2d_f32(const float *x, float *y, int64_t planes, int64_t hin, int64_t win, int64_t hout,
                          int64_t wout, const rs_axis *ay, const rs_axis *ax, float ev)
{
    int ty = ay->taps, tx = ax->taps;
#pragma omp parallel for collapse(2) schedule(static) if (planes * hout * wout > PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t oy = 0; oy < hout; oy++) {
            float *orow = y + (pl * hout + oy) * wout;
            const float *src = x + pl * hin * win;
            const int64_t *iy = ay->idx + oy * ty, *ix = ax->idx;
            const float *wy = ay->wf + oy * ty, *wx = ax->wf;
            if (ay->ext && ay->ext[oy]) {
                for (int64_t o = 0; o < wout; o++)
                    orow[o] = ev;
                continue;
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
            } else if (ty == 2 && tx == 2) {
                const float *r0 = src + iy[0] * win, *r1 = src + iy[1] * win;
                float w0 = wy[0], w1 = wy[1];
                for (int64_t o = 0; o < wout; o++) {
                    int64_t i0 = ix[2 * o], i1 = ix[2 * o + 1];
                    float a0 = wx[2 * o], a1 = wx[2 * o + 1];
                    orow[o] = w0 * (a0 * r0[i0] + a1 * r0[i1]) + w1 * (a0 * r1[i0] + a1 * r1[i1]);
                }
            } else if (ty == 1) {
                const float *row = src + iy[0] * win;
                for (int64_t o = 0; o < wout; o++) {
                    float acc = 0;
                    for (int b = 0; b < tx; b++)
                        acc += wx[o * tx + b] * row[ix[o * tx + b]];
                    orow[o] = wy[0] * acc;
                }
            } else {
                for (int64_t o = 0; o < wout; o++) {
                    float acc = 0;
                    for (int a = 0; a < ty; a++) {
                        const float *row = src + iy[a] * win;
                        float ra = 0;
                        for (int b = 0; b < tx; b++)
                            ra += wx[o * tx + b] * row[ix[o * tx + b]];
                        acc += wy[a] * ra;
                    }
                    orow[o] = acc;
                }
            }
            if (ax->ext)
                for (int64_t o = 0; o < wout; o++)
                    if (ax->ext[o])
                        orow[o] = ev;
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

/* Anything: per output element, the Cartesian product of all axes' taps. */
static void resize_any(const void *x, void *y, vp_dtype dt, const vp_shape *xs, const vp_shape *ys,
                       const rs_state *st, double ev)
{
    int r = xs->rank;
    int64_t xst[VP_MAX_DIMS], s = 1, n = vp_shape_numel(ys);
    for (int d = r - 1; d >= 0; d--) {
        xst[d] = s;
        s *= xs->d[d];
    }
#pragma omp parallel for schedule(static) if (n > PAR_MIN / 4)
    for (int64_t e = 0; e < n; e++) {
        int64_t od[VP_MAX_DIMS], rem = e;
        int outside = 0;
        for (int d = r - 1; d >= 0; d--) {
            od[d] = rem % ys->d[d];
            rem /= ys->d[d];
            outside |= st->ax[d].ext && st->ax[d].ext[od[d]];
        }
        if (outside) {
            vp_misc_st(y, dt, e, ev);
            continue;
        }
        int t[VP_MAX_DIMS] = {0};
        double acc = 0;
        for (;;) {
            int64_t off = 0;
            double w = 1;
            for (int d = 0; d < r; d++) {
                const rs_axis *a = &st->ax[d];
                off += a->idx[od[d] * a->taps + t[d]] * xst[d];
                w *= a->wd[od[d] * a->taps + t[d]];
            }
            if (w != 0)
                acc += w * vp_misc_ld(x, dt, off);
            int d = r - 1;
            for (; d >= 0; d--) {
                if (++t[d] < st->ax[d].taps)
                    break;
                t[d] = 0;
            }
            if (d < 0)
                break;
        }
        vp_misc_st(y, dt, e, acc);
    }
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
        static const double one_d = 1;
        static const float one_f = 1;
        rs_axis unit = {1, (int64_t *)&zero, (double *)&one_d, (float *)&one_f, NULL, 0};
        int64_t planes = 1;
        for (int d = 0; d < r - 2; d++)
            planes *= xs->d[d];
        const rs_axis *ay = r >= 2 ? &st->ax[r - 2] : &unit;
        int64_t hin = r >= 2 ? xs->d[r - 2] : 1, hout = r >= 2 ? ys->d[r - 2] : 1;
        resize_2d_f32(xt->data, yt->data, planes, hin, xs->d[r - 1], hout, ys->d[r - 1], ay, &st->ax[r - 1],
                      (float)p->extrapolation);
        return VP_OK;
    }
    if (p->mode == VP_RS_NEAREST) {
        resize_nearest_any(xt->data, yt->data, vp_dtype_size(xt->dtype), xs, ys, st, xt->dtype, p->extrapolation);
        return VP_OK;
    }
    resize_any(xt->data, yt->data, xt->dtype, xs, ys, st, p->extrapolation);
    return VP_OK;
}
