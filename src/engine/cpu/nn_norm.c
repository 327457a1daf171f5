/*
 * Normalisations on the CPU in plain C: BatchNormalization (inference and
 * training_mode), LRN, InstanceNormalization, LayerNormalization,
 * GroupNormalization.
 *
 * In the target models BatchNormalization is folded into Conv by the plan,
 * so these kernels are written for exactness (statistics accumulate in
 * double) and run float32 and float64; parameters of any float type are read
 * through vp_tensor_get_f64 once per channel or row, never per element.
 */
#include "engine/cpu/nn.h"

#include <math.h>

/* Float element types the kernels accept for X. */
static int check_xtype(vp_op_ctx *c)
{
    vp_dtype dt = c->in[0]->dtype;
    if (dt != VP_DT_FLOAT && dt != VP_DT_DOUBLE)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CPU %s supports float32 and float64, X is %s",
                          c->node->op_type, vp_dtype_name(dt));
    return VP_OK;
}

/* x[i] as double and y[i] = v for X's type (float or double). */
static inline double ld(const void *p, int dbl, int64_t i)
{
    return dbl ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static inline void st(void *p, int dbl, int64_t i, double v)
{
    if (dbl)
        ((double *)p)[i] = v;
    else
        ((float *)p)[i] = (float)v;
}

/* y = x * a + b over n contiguous elements. */
static void affine(const void *x, void *y, int dbl, int64_t n, double a, double b)
{
    if (dbl) {
        const double *xp = x;
        double *yp = y;
        for (int64_t i = 0; i < n; i++)
            yp[i] = xp[i] * a + b;
    } else {
        const float *xp = x;
        float *yp = y;
        float af = (float)a, bf = (float)b;
        for (int64_t i = 0; i < n; i++)
            yp[i] = xp[i] * af + bf;
    }
}

/* Mean and (biased) variance of n contiguous elements, two passes. */
static void moments(const void *x, int dbl, int64_t n, double *mean, double *var)
{
    double s = 0, q = 0;
    for (int64_t i = 0; i < n; i++)
        s += ld(x, dbl, i);
    double m = n > 0 ? s / (double)n : 0;
    for (int64_t i = 0; i < n; i++) {
        double d = ld(x, dbl, i) - m;
        q += d * d;
    }
    *mean = m;
    *var = n > 0 ? q / (double)n : 0;
}

/* BatchNormalization ------------------------------------------------------ */

int vp_nn_batchnorm_run(vp_op_ctx *c)
{
    int rc;
    if ((rc = check_xtype(c)) != VP_OK)
        return rc;
    const vp_tensor *x = c->in[0];
    int dbl = x->dtype == VP_DT_DOUBLE;
    size_t es = vp_dtype_size(x->dtype);
    int64_t nb = x->shape.d[0], ch = x->shape.d[1], sp = 1;
    for (int i = 2; i < x->shape.rank; i++)
        sp *= x->shape.d[i];
    double eps = vp_attr_f(c->node, "epsilon", 1e-5f);
    int training = c->opset >= 14 && vp_attr_i(c->node, "training_mode", 0) != 0;
    double momentum = vp_attr_f(c->node, "momentum", 0.9f);
    const char *xp = x->data;
    char *yp = c->out[0]->data;

#pragma omp parallel for schedule(static) if (nb * ch * sp > 32768)
    for (int64_t ci = 0; ci < ch; ci++) {
        double mean, var;
        if (training) {
            /* Batch statistics over N and the spatial axes. */
            double s = 0, q = 0;
            for (int64_t n = 0; n < nb; n++)
                for (int64_t i = 0; i < sp; i++)
                    s += ld(xp, dbl, (n * ch + ci) * sp + i);
            mean = s / (double)(nb * sp);
            for (int64_t n = 0; n < nb; n++)
                for (int64_t i = 0; i < sp; i++) {
                    double d = ld(xp, dbl, (n * ch + ci) * sp + i) - mean;
                    q += d * d;
                }
            var = q / (double)(nb * sp);
            /* running = input * momentum + current * (1 - momentum) */
            if (c->n_out > 1 && c->out[1])
                vp_tensor_set_f64(c->out[1], ci, vp_tensor_get_f64(c->in[3], ci) * momentum +
                                                     mean * (1 - momentum));
            if (c->n_out > 2 && c->out[2])
                vp_tensor_set_f64(c->out[2], ci, vp_tensor_get_f64(c->in[4], ci) * momentum +
                                                     var * (1 - momentum));
        } else {
            mean = vp_tensor_get_f64(c->in[3], ci);
            var = vp_tensor_get_f64(c->in[4], ci);
        }
        double a = vp_tensor_get_f64(c->in[1], ci) / sqrt(var + eps);
        double b = vp_tensor_get_f64(c->in[2], ci) - mean * a;
        for (int64_t n = 0; n < nb; n++) {
            size_t off = (size_t)((n * ch + ci) * sp) * es;
            affine(xp + off, yp + off, dbl, sp, a, b);
        }
    }
    return vp_apply_postops(c);
}

/* LRN ----------------------------------------------------------------------- */

int vp_nn_lrn_run(vp_op_ctx *c)
{
    int rc;
    if ((rc = check_xtype(c)) != VP_OK)
        return rc;
    const vp_tensor *x = c->in[0];
    int dbl = x->dtype == VP_DT_DOUBLE;
    int64_t nb = x->shape.d[0], ch = x->shape.d[1], sp = 1;
    for (int i = 2; i < x->shape.rank; i++)
        sp *= x->shape.d[i];
    int64_t size = vp_attr_i(c->node, "size", 1);
    double alpha = vp_attr_f(c->node, "alpha", 1e-4f), beta = vp_attr_f(c->node, "beta", 0.75f);
    double bias = vp_attr_f(c->node, "bias", 1.0f);
    /* Channels c - floor((size-1)/2) .. c + ceil((size-1)/2). */
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    const void *xp = x->data;
    void *yp = c->out[0]->data;
#pragma omp parallel for collapse(2) schedule(static) if (nb * ch * sp > 32768)
    for (int64_t n = 0; n < nb; n++)
        for (int64_t ci = 0; ci < ch; ci++) {
            int64_t c0 = ci - lo < 0 ? 0 : ci - lo, c1 = ci + hi >= ch ? ch - 1 : ci + hi;
            for (int64_t i = 0; i < sp; i++) {
                double sq = 0;
                for (int64_t k = c0; k <= c1; k++) {
                    double v = ld(xp, dbl, (n * ch + k) * sp + i);
                    sq += v * v;
                }
                int64_t o = (n * ch + ci) * sp + i;
                st(yp, dbl, o, ld(xp, dbl, o) / pow(bias + alpha / (double)size * sq, beta));
            }
        }
    return vp_apply_postops(c);
}

/* InstanceNormalization -------------------------------------------------- */

int vp_nn_instancenorm_run(vp_op_ctx *c)
{
    int rc;
    if ((rc = check_xtype(c)) != VP_OK)
        return rc;
    const vp_tensor *x = c->in[0];
    int dbl = x->dtype == VP_DT_DOUBLE;
    size_t es = vp_dtype_size(x->dtype);
    int64_t nb = x->shape.d[0], ch = x->shape.d[1], sp = 1;
    for (int i = 2; i < x->shape.rank; i++)
        sp *= x->shape.d[i];
    double eps = vp_attr_f(c->node, "epsilon", 1e-5f);
    const char *xp = x->data;
    char *yp = c->out[0]->data;
#pragma omp parallel for schedule(static) if (nb * ch * sp > 32768)
    for (int64_t p = 0; p < nb * ch; p++) {
        int64_t ci = p % ch;
        double mean, var;
        moments(xp + (size_t)(p * sp) * es, dbl, sp, &mean, &var);
        double a = vp_tensor_get_f64(c->in[1], ci) / sqrt(var + eps);
        double b = vp_tensor_get_f64(c->in[2], ci) - mean * a;
        affine(xp + (size_t)(p * sp) * es, yp + (size_t)(p * sp) * es, dbl, sp, a, b);
    }
    return vp_apply_postops(c);
}

/* LayerNormalization ------------------------------------------------------ */

/* Element j of a Scale/B tensor broadcast to the inner shape (dims[0..r)). */
static double bcast_get(const vp_tensor *t, const int64_t *dims, int r, int64_t j)
{
    int64_t off = 0, mul = 1;
    for (int i = r - 1, ti = t->shape.rank - 1; i >= 0 && ti >= 0; i--, ti--) {
        int64_t idx = j % dims[i];
        j /= dims[i];
        if (t->shape.d[ti] != 1)
            off += idx * mul;
        mul *= t->shape.d[ti];
    }
    return vp_tensor_get_f64(t, off);
}

int vp_nn_layernorm_run(vp_op_ctx *c)
{
    int rc;
    if ((rc = check_xtype(c)) != VP_OK)
        return rc;
    const vp_tensor *x = c->in[0], *sc = c->in[1], *bi = c->n_in > 2 ? c->in[2] : NULL;
    int dbl = x->dtype == VP_DT_DOUBLE, r = x->shape.rank;
    int axis = vp_norm_axis(vp_attr_i(c->node, "axis", -1), r);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++)
        outer *= x->shape.d[i];
    for (int i = axis; i < r; i++)
        inner *= x->shape.d[i];
    double eps = vp_attr_f(c->node, "epsilon", 1e-5f);
    int sc_full = vp_tensor_numel(sc) == inner, bi_full = !bi || vp_tensor_numel(bi) == inner;
    if (sc->dtype != x->dtype || (bi && bi->dtype != x->dtype))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "Scale/B type differs from X");
    const void *xp = x->data, *sp = sc->data, *bp = bi ? bi->data : NULL;
    void *yp = c->out[0]->data;
    float *mean_out = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    float *inv_out = c->n_out > 2 && c->out[2] ? c->out[2]->data : NULL;
    const int64_t *idims = x->shape.d + axis;
#pragma omp parallel for schedule(static) if (outer * inner > 32768)
    for (int64_t o = 0; o < outer; o++) {
        double mean, var;
        int64_t base = o * inner;
        moments(dbl ? (const void *)((const double *)xp + base)
                    : (const void *)((const float *)xp + base),
                dbl, inner, &mean, &var);
        double inv = 1.0 / sqrt(var + eps);
        for (int64_t j = 0; j < inner; j++) {
            double s = sc_full ? ld(sp, dbl, j) : bcast_get(sc, idims, r - axis, j);
            double b = !bp ? 0 : bi_full ? ld(bp, dbl, j) : bcast_get(bi, idims, r - axis, j);
            st(yp, dbl, base + j, (ld(xp, dbl, base + j) - mean) * inv * s + b);
        }
        if (mean_out)
            mean_out[o] = (float)mean;
        if (inv_out)
            inv_out[o] = (float)inv;
    }
    return vp_apply_postops(c);
}

/* GroupNormalization ------------------------------------------------------- */

int vp_nn_groupnorm_run(vp_op_ctx *c)
{
    int rc;
    if ((rc = check_xtype(c)) != VP_OK)
        return rc;
    const vp_tensor *x = c->in[0];
    int dbl = x->dtype == VP_DT_DOUBLE;
    size_t es = vp_dtype_size(x->dtype);
    int64_t nb = x->shape.d[0], ch = x->shape.d[1], sp = 1;
    for (int i = 2; i < x->shape.rank; i++)
        sp *= x->shape.d[i];
    int64_t ng = vp_attr_i(c->node, "num_groups", 1), cpg = ch / ng;
    double eps = vp_attr_f(c->node, "epsilon", 1e-5f);
    int per_channel = c->opset >= 21;
    const char *xp = x->data;
    char *yp = c->out[0]->data;
#pragma omp parallel for schedule(static) if (nb * ch * sp > 32768)
    for (int64_t p = 0; p < nb * ng; p++) {
        int64_t gi = p % ng, len = cpg * sp;
        double mean, var;
        moments(xp + (size_t)(p * len) * es, dbl, len, &mean, &var);
        double inv = 1.0 / sqrt(var + eps);
        for (int64_t k = 0; k < cpg; k++) {
            int64_t pi = per_channel ? gi * cpg + k : gi;
            double a = vp_tensor_get_f64(c->in[1], pi) * inv;
            double b = vp_tensor_get_f64(c->in[2], pi) - mean * a;
            size_t off = (size_t)(p * len + k * sp) * es;
            affine(xp + off, yp + off, dbl, sp, a, b);
        }
    }
    return vp_apply_postops(c);
}
