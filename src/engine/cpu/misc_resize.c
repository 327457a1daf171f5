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
 * The tables, and the tap rules (ONNX's reference implementation, down to
 * its rounding), are the shared builder's (ops/misc_resize_table.c); the
 * CUDA kernel uses the same tables. Weights and sums are double, so float32
 * results equal the reference's float64 ones rounded.
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
    const int64_t *idx;  /* [out][taps] clamped input index */
    const double *wd;    /* [out][taps] weight */
    const uint8_t *ext;  /* [out] 1 = outside the input (tf_crop_and_resize), or NULL */
    int half;       /* nearest with idx[o] == o / 2 for all o (2x upsampling) */
} rs_axis;

typedef struct rs_state {
    int built;
    vp_resize_params p;
    rs_axis ax[VP_MAX_DIMS];
    vp_resize_tables tab; /* what ax points into */
    double *buf[2];  /* generic path: the tensor after each resized axis */
    int n_vrow;      /* bilinear path: threads with a blended-row slot in the scratch */
    int64_t win_vrow;
} rs_state;

void vp_cpu_resize_release(void *state)
{
    rs_state *s = state;
    if (s) {
        vp_misc_resize_tables_free(&s->tab);
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

/* The tables come from the shared builder (ops/misc_resize_table.c, which
 * the CUDA kernel uses too); this kernel reads them in place and adds the
 * 2x-nearest flag its row loops specialise on. */
static int build(vp_op_ctx *c, rs_state *st)
{
    const vp_shape *xs = &c->in[0]->shape;
    vp_resize_params *p = &st->p;
    int rc = vp_misc_resize_params(c, p);
    if (rc)
        return rc;
    vp_misc_resize_tables_free(&st->tab);
    rc = vp_misc_resize_tables(c, p, xs, &st->tab);
    if (rc)
        return rc;
    for (int d = 0; d < p->rank; d++) {
        const vp_resize_axis *t = &st->tab.ax[d];
        rs_axis *a = &st->ax[d];
        a->taps = t->taps;
        a->idx = t->idx;
        a->wd = t->w;
        a->ext = t->ext;
        a->half = a->taps == 1 && t->n == 2 * xs->d[d] && !a->ext;
        for (int64_t o = 0; a->half && o < t->n; o++)
            a->half = a->idx[o] == o / 2;
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
