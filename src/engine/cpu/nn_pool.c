/*
 * Pooling on the CPU in plain C: MaxPool (with the optional Indices output),
 * AveragePool, GlobalAveragePool, GlobalMaxPool.
 *
 * Pools are a small share of the time in the target models (ResNet's stem
 * max pool, YOLO's SPPF, global average pools), so one direct loop over
 * 1..3 spatial axes, parallel over (N, C) planes, is enough and exact in
 * every corner of the ONNX spec (dilations, ceil_mode, count_include_pad,
 * storage_order) without mapping each case onto a library.
 */
#include "engine/cpu/nn.h"
#include "engine/ops/nn.h"

#include <float.h>
#include <math.h>
#include <stdint.h>

/* Spatial geometry padded to 3 axes (leading unit axes). */
typedef struct pool3 {
    int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
    int64_t isz, osz;
} pool3;

static void to_pool3(const vp_nn_geom *g, pool3 *t)
{
    int off = 3 - g->nsp;
    for (int i = 0; i < 3; i++) {
        t->in[i] = t->out[i] = t->k[i] = t->s[i] = t->d[i] = 1;
        t->pb[i] = t->pe[i] = 0;
    }
    for (int i = 0; i < g->nsp; i++) {
        t->in[off + i] = g->in[i];
        t->out[off + i] = g->out[i];
        t->k[off + i] = g->k[i];
        t->s[off + i] = g->stride[i];
        t->d[off + i] = g->dil[i];
        t->pb[off + i] = g->pad_b[i];
        t->pe[off + i] = g->pad_e[i];
    }
    t->isz = t->in[0] * t->in[1] * t->in[2];
    t->osz = t->out[0] * t->out[1] * t->out[2];
}

/* Kernel taps of output o along axis a that fall inside [lo, hi): first tap
 * index and count (taps are o*s - pb + k*d). */
static void taps(const pool3 *t, int a, int64_t o, int64_t lo, int64_t hi, int64_t *k0,
                 int64_t *kn)
{
    int64_t start = o * t->s[a] - t->pb[a], d = t->d[a];
    int64_t first = 0, last = t->k[a]; /* [first, last) */
    if (start < lo)
        first = (lo - start + d - 1) / d;
    if (start + (last - 1) * d >= hi)
        last = hi - start <= 0 ? 0 : (hi - start + d - 1) / d;
    if (last < first)
        last = first;
    *k0 = first;
    *kn = last - first;
}

/* MaxPool for one element type; idx (may be NULL) gets flat indices into X,
 * spatial part row-major (storage_order 0) or column-major (1). */
#define DEFINE_MAXPOOL(NAME, T, LOWEST)                                                      \
    static void NAME(const pool3 *t, int64_t planes, const T *x, T *y, int64_t *idx,        \
                     int colmajor)                                                           \
    {                                                                                        \
        _Pragma("omp parallel for schedule(static) if (planes * t->osz > 32768)")            \
        for (int64_t p = 0; p < planes; p++) {                                               \
            const T *xp = x + p * t->isz;                                                    \
            for (int64_t o0 = 0; o0 < t->out[0]; o0++) {                                     \
                int64_t a0, n0;                                                              \
                taps(t, 0, o0, 0, t->in[0], &a0, &n0);                                       \
                for (int64_t o1 = 0; o1 < t->out[1]; o1++) {                                 \
                    int64_t a1, n1;                                                          \
                    taps(t, 1, o1, 0, t->in[1], &a1, &n1);                                   \
                    for (int64_t o2 = 0; o2 < t->out[2]; o2++) {                             \
                        int64_t a2, n2, best_i = -1;                                         \
                        taps(t, 2, o2, 0, t->in[2], &a2, &n2);                               \
                        T best = LOWEST;                                                     \
                        for (int64_t k0 = a0; k0 < a0 + n0; k0++) {                          \
                            int64_t i0 = o0 * t->s[0] - t->pb[0] + k0 * t->d[0];             \
                            for (int64_t k1 = a1; k1 < a1 + n1; k1++) {                      \
                                int64_t i1 = o1 * t->s[1] - t->pb[1] + k1 * t->d[1];         \
                                for (int64_t k2 = a2; k2 < a2 + n2; k2++) {                  \
                                    int64_t i2 = o2 * t->s[2] - t->pb[2] + k2 * t->d[2];     \
                                    int64_t off = (i0 * t->in[1] + i1) * t->in[2] + i2;      \
                                    if (best_i < 0 || xp[off] > best) {                      \
                                        best = xp[off];                                      \
                                        best_i = colmajor                                    \
                                            ? i0 + t->in[0] * (i1 + t->in[1] * i2)           \
                                            : off;                                           \
                                    }                                                        \
                                }                                                            \
                            }                                                                \
                        }                                                                    \
                        int64_t oo = (o0 * t->out[1] + o1) * t->out[2] + o2;                 \
                        y[p * t->osz + oo] = best;                                           \
                        if (idx)                                                             \
                            idx[p * t->osz + oo] = best_i < 0 ? -1 : p * t->isz + best_i;    \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

DEFINE_MAXPOOL(maxpool_f32, float, -INFINITY)
DEFINE_MAXPOOL(maxpool_f64, double, -INFINITY)
DEFINE_MAXPOOL(maxpool_i8, int8_t, INT8_MIN)
DEFINE_MAXPOOL(maxpool_u8, uint8_t, 0)

int vp_nn_maxpool_run(vp_op_ctx *c)
{
    vp_nn_geom g;
    pool3 t;
    int rc;
    if ((rc = vp_nn_pool_geom(c, &g)) != VP_OK)
        return rc;
    to_pool3(&g, &t);
    int64_t planes = g.n * g.cin;
    int64_t *idx = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    int colmajor = vp_attr_i(c->node, "storage_order", 0) == 1;
    /* Column-major indices: the padded leading axes have size 1, so the
     * 3-axis formula in the loop equals the one over the real axes. */
    const void *x = c->in[0]->data;
    void *y = c->out[0]->data;
    switch (c->in[0]->dtype) {
    case VP_DT_FLOAT: maxpool_f32(&t, planes, x, y, idx, colmajor); break;
    case VP_DT_DOUBLE: maxpool_f64(&t, planes, x, y, idx, colmajor); break;
    case VP_DT_INT8: maxpool_i8(&t, planes, x, y, idx, colmajor); break;
    case VP_DT_UINT8: maxpool_u8(&t, planes, x, y, idx, colmajor); break;
    default:
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CPU MaxPool does not support %s",
                          vp_dtype_name(c->in[0]->dtype));
    }
    return vp_apply_postops(c);
}

/* AveragePool: sum over the taps inside X, divided by their count, or with
 * count_include_pad by the taps inside the padded extent [-pb, in + pe). */
#define DEFINE_AVGPOOL(NAME, T)                                                              \
    static void NAME(const pool3 *t, int64_t planes, const T *x, T *y, int incl)             \
    {                                                                                        \
        _Pragma("omp parallel for schedule(static) if (planes * t->osz > 32768)")            \
        for (int64_t p = 0; p < planes; p++) {                                               \
            const T *xp = x + p * t->isz;                                                    \
            for (int64_t o0 = 0; o0 < t->out[0]; o0++) {                                     \
                int64_t a0, n0, b0, m0;                                                      \
                taps(t, 0, o0, 0, t->in[0], &a0, &n0);                                       \
                taps(t, 0, o0, -t->pb[0], t->in[0] + t->pe[0], &b0, &m0);                    \
                for (int64_t o1 = 0; o1 < t->out[1]; o1++) {                                 \
                    int64_t a1, n1, b1, m1;                                                  \
                    taps(t, 1, o1, 0, t->in[1], &a1, &n1);                                   \
                    taps(t, 1, o1, -t->pb[1], t->in[1] + t->pe[1], &b1, &m1);                \
                    for (int64_t o2 = 0; o2 < t->out[2]; o2++) {                             \
                        int64_t a2, n2, b2, m2;                                              \
                        taps(t, 2, o2, 0, t->in[2], &a2, &n2);                               \
                        taps(t, 2, o2, -t->pb[2], t->in[2] + t->pe[2], &b2, &m2);            \
                        double sum = 0;                                                      \
                        for (int64_t k0 = a0; k0 < a0 + n0; k0++) {                          \
                            int64_t i0 = o0 * t->s[0] - t->pb[0] + k0 * t->d[0];             \
                            for (int64_t k1 = a1; k1 < a1 + n1; k1++) {                      \
                                int64_t i1 = o1 * t->s[1] - t->pb[1] + k1 * t->d[1];         \
                                const T *row = xp + (i0 * t->in[1] + i1) * t->in[2];         \
                                for (int64_t k2 = a2; k2 < a2 + n2; k2++)                    \
                                    sum += row[o2 * t->s[2] - t->pb[2] + k2 * t->d[2]];      \
                            }                                                                \
                        }                                                                    \
                        int64_t cnt = incl ? m0 * m1 * m2 : n0 * n1 * n2;                    \
                        y[p * t->osz + (o0 * t->out[1] + o1) * t->out[2] + o2] =             \
                            cnt > 0 ? (T)(sum / (double)cnt) : (T)0;                         \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

DEFINE_AVGPOOL(avgpool_f32, float)
DEFINE_AVGPOOL(avgpool_f64, double)

int vp_nn_avgpool_run(vp_op_ctx *c)
{
    vp_nn_geom g;
    pool3 t;
    int rc;
    if ((rc = vp_nn_pool_geom(c, &g)) != VP_OK)
        return rc;
    to_pool3(&g, &t);
    int64_t planes = g.n * g.cin;
    int incl = vp_attr_i(c->node, "count_include_pad", 0) != 0;
    switch (c->in[0]->dtype) {
    case VP_DT_FLOAT: avgpool_f32(&t, planes, c->in[0]->data, c->out[0]->data, incl); break;
    case VP_DT_DOUBLE: avgpool_f64(&t, planes, c->in[0]->data, c->out[0]->data, incl); break;
    default:
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CPU AveragePool does not support %s",
                          vp_dtype_name(c->in[0]->dtype));
    }
    return vp_apply_postops(c);
}

/* Global pools: one reduction per (N, C) plane. */
static int global_pool(vp_op_ctx *c, int is_max)
{
    const vp_tensor *x = c->in[0];
    int64_t planes = x->shape.d[0] * x->shape.d[1], sz = 1;
    for (int i = 2; i < x->shape.rank; i++)
        sz *= x->shape.d[i];
    if (x->dtype == VP_DT_FLOAT) {
        const float *xp = x->data;
        float *y = c->out[0]->data;
#pragma omp parallel for schedule(static) if (planes * sz > 65536)
        for (int64_t p = 0; p < planes; p++) {
            const float *v = xp + p * sz;
            if (is_max) {
                float m = -INFINITY;
                for (int64_t i = 0; i < sz; i++)
                    m = v[i] > m ? v[i] : m;
                y[p] = m;
            } else {
                double s = 0;
                for (int64_t i = 0; i < sz; i++)
                    s += v[i];
                y[p] = (float)(s / (double)sz);
            }
        }
    } else if (x->dtype == VP_DT_DOUBLE) {
        const double *xp = x->data;
        double *y = c->out[0]->data;
#pragma omp parallel for schedule(static) if (planes * sz > 65536)
        for (int64_t p = 0; p < planes; p++) {
            const double *v = xp + p * sz;
            double s = is_max ? -INFINITY : 0;
            for (int64_t i = 0; i < sz; i++)
                s = is_max ? (v[i] > s ? v[i] : s) : s + v[i];
            y[p] = is_max ? s : s / (double)sz;
        }
    } else {
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CPU %s does not support %s",
                          c->node->op_type, vp_dtype_name(x->dtype));
    }
    return vp_apply_postops(c);
}

int vp_nn_global_avgpool_run(vp_op_ctx *c) { return global_pool(c, 0); }
int vp_nn_global_maxpool_run(vp_op_ctx *c) { return global_pool(c, 1); }
