/*
 * CPU kernels: misc family.
 *
 * This file: Softmax, LogSoftmax, Hardmax, the Reduce* ops, ArgMax/ArgMin,
 * TopK and CumSum, and the family's kernel table. Resize/Upsample, Einsum and
 * NonMaxSuppression live in misc_resize.c, misc_einsum.c and misc_nms.c.
 *
 * Every op views its input as [outer, d, inner] (or, for reductions, as a
 * list of kept and reduced dimensions), so one loop nest covers all axes.
 * Float32 has fast paths (8-lane accumulators the compiler vectorises, a
 * vectorisable exp, contiguous-row and strided-row variants); other dtypes
 * take generic paths through double (or int64 for exact integer sums and
 * products), following ONNX's reference results.
 */
#include "engine/cpu/misc.h"

#include <float.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Below this many elements, loops stay single-threaded. */
#define PAR_MIN 32768

/* Softmax / LogSoftmax / Hardmax ---------------------------------------- */

enum { SM_SOFT, SM_LOG, SM_HARD };
#define SM_CHUNK 64 /* inner positions per strided-softmax work item */

/* The float32 row kernels per vector width: AVX-512 (16 floats), AVX2+FMA
 * (8) and baseline (4), the widest the CPU has chosen at run time. GCC notes
 * that wide vectors change the ABI of functions passing them; none is
 * passed by value, and the note comes at the end of the file. */
#pragma GCC diagnostic ignored "-Wpsabi"
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define SM_HAVE_X86 1
#define MV_W 16
#define MV_SUFFIX _avx512
#define MV_TARGET __attribute__((target("avx512f")))
#define MV_FMA(a, b, c) ((__typeof__(a))_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#include "engine/cpu/misc_softmax.h"
#undef MV_W
#undef MV_SUFFIX
#undef MV_TARGET
#undef MV_FMA
#define MV_W 8
#define MV_SUFFIX _avx2
#define MV_TARGET __attribute__((target("avx2,fma")))
#define MV_FMA(a, b, c) ((__typeof__(a))_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#include "engine/cpu/misc_softmax.h"
#undef MV_W
#undef MV_SUFFIX
#undef MV_TARGET
#undef MV_FMA
#endif
#define MV_W 4
#define MV_SUFFIX _base
#define MV_TARGET
#define MV_FMA(a, b, c) ((a) * (b) + (c))
#include "engine/cpu/misc_softmax.h"
#undef MV_W
#undef MV_SUFFIX
#undef MV_TARGET
#undef MV_FMA

enum { SM_ISA_BASE, SM_ISA_AVX2, SM_ISA_AVX512 };

static int sm_isa(void)
{
#ifdef SM_HAVE_X86
    if (__builtin_cpu_supports("avx512f"))
        return SM_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return SM_ISA_AVX2;
#endif
    return SM_ISA_BASE;
}

static void softmax_row_f32(const float *x, float *y, int64_t n, int kind, int isa)
{
    if (kind == SM_HARD) {
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (x[i] > x[best] || (x[i] != x[i] && x[best] == x[best]))
                best = i;
        memset(y, 0, (size_t)n * sizeof *y);
        y[best] = 1.f;
        return;
    }
#ifdef SM_HAVE_X86
    if (isa == SM_ISA_AVX512) {
        softmax_row_avx512(x, y, n, kind);
        return;
    }
    if (isa == SM_ISA_AVX2) {
        softmax_row_avx2(x, y, n, kind);
        return;
    }
#endif
    softmax_row_base(x, y, n, kind);
}

static void softmax_cols_f32(const float *x, float *y, int64_t d, int64_t inner, int64_t w, int kind, int isa)
{
    if (kind == SM_HARD) {
        float m[SM_CHUNK];
        int64_t bi[SM_CHUNK];
        for (int64_t j = 0; j < w; j++) {
            m[j] = x[j];
            bi[j] = 0;
        }
        for (int64_t k = 1; k < d; k++)
            for (int64_t j = 0; j < w; j++) {
                float v = x[k * inner + j];
                if (v > m[j] || (v != v && m[j] == m[j])) {
                    m[j] = v;
                    bi[j] = k;
                }
            }
        for (int64_t k = 0; k < d; k++)
            for (int64_t j = 0; j < w; j++)
                y[k * inner + j] = bi[j] == k ? 1.f : 0.f;
        return;
    }
#ifdef SM_HAVE_X86
    if (isa == SM_ISA_AVX512) {
        softmax_cols_avx512(x, y, d, inner, w, kind);
        return;
    }
    if (isa == SM_ISA_AVX2) {
        softmax_cols_avx2(x, y, d, inner, w, kind);
        return;
    }
#endif
    softmax_cols_base(x, y, d, inner, w, kind);
}

/* Any float dtype, through double: one line of d elements at stride st. */
static void softmax_line_any(const void *x, void *y, vp_dtype dt, int64_t base, int64_t d, int64_t st,
                             int kind)
{
    double m = vp_misc_ld(x, dt, base);
    int64_t bi = 0;
    for (int64_t k = 1; k < d; k++) {
        double v = vp_misc_ld(x, dt, base + k * st);
        if (v > m || (v != v && m == m)) {
            m = v;
            bi = k;
        }
    }
    if (kind == SM_HARD) {
        for (int64_t k = 0; k < d; k++)
            vp_misc_st(y, dt, base + k * st, k == bi ? 1.0 : 0.0);
        return;
    }
    double s = 0;
    for (int64_t k = 0; k < d; k++)
        s += exp(vp_misc_ld(x, dt, base + k * st) - m);
    double ls = log(s);
    for (int64_t k = 0; k < d; k++) {
        double v = vp_misc_ld(x, dt, base + k * st) - m;
        vp_misc_st(y, dt, base + k * st, kind == SM_SOFT ? exp(v) / s : v - ls);
    }
}

static int softmax_common(vp_op_ctx *c, int kind)
{
    int64_t O, D, I;
    int rc = vp_misc_softmax_dims(c, &O, &D, &I);
    if (rc)
        return rc;
    const vp_tensor *xt = c->in[0];
    const void *xv = xt->data;
    void *yv = c->out[0]->data;
    int64_t n = O * D * I;
    if (n == 0)
        return VP_OK;
    if (xt->dtype == VP_DT_FLOAT) {
        const float *x = xv;
        float *y = yv;
        int isa = sm_isa();
        if (I == 1) {
#pragma omp parallel for schedule(static) if (n > PAR_MIN && O > 1)
            for (int64_t o = 0; o < O; o++)
                softmax_row_f32(x + o * D, y + o * D, D, kind, isa);
        } else {
            int64_t nch = (I + SM_CHUNK - 1) / SM_CHUNK;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
            for (int64_t t = 0; t < O * nch; t++) {
                int64_t o = t / nch, i0 = (t % nch) * SM_CHUNK;
                int64_t w = I - i0 < SM_CHUNK ? I - i0 : SM_CHUNK;
                softmax_cols_f32(x + o * D * I + i0, y + o * D * I + i0, D, I, w, kind, isa);
            }
        }
        return VP_OK;
    }
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t t = 0; t < O * I; t++)
        softmax_line_any(xv, yv, xt->dtype, (t / I) * D * I + t % I, D, I, kind);
    return VP_OK;
}

static int run_softmax(vp_op_ctx *c) { return softmax_common(c, SM_SOFT); }
static int run_logsoftmax(vp_op_ctx *c) { return softmax_common(c, SM_LOG); }
static int run_hardmax(vp_op_ctx *c) { return softmax_common(c, SM_HARD); }

/* Reductions ------------------------------------------------------------- */

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LSE, R_SUMSQ };

/* The input as alternating groups of kept / reduced dims (size-1 dims
 * dropped, adjacent dims of the same kind merged), with element strides. */
typedef struct red_geom {
    int nk, nr;
    int64_t ksz[VP_MAX_DIMS], kst[VP_MAX_DIMS];  /* kept dims, outermost first */
    int64_t rsz[VP_MAX_DIMS], rst[VP_MAX_DIMS];  /* reduced dims, outermost first */
    int64_t n_out, n_red;
    /* merged layout, for the fast-path pattern checks */
    int nm;
    int64_t msz[VP_MAX_DIMS];
    uint8_t mred[VP_MAX_DIMS];
} red_geom;

static void red_geometry(const vp_shape *s, const uint8_t *red, red_geom *g)
{
    memset(g, 0, sizeof *g);
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] == 1)
            continue;
        if (g->nm > 0 && g->mred[g->nm - 1] == red[i]) {
            g->msz[g->nm - 1] *= s->d[i];
        } else {
            g->msz[g->nm] = s->d[i];
            g->mred[g->nm++] = red[i];
        }
    }
    int64_t st = 1, mst[VP_MAX_DIMS];
    for (int i = g->nm - 1; i >= 0; i--) {
        mst[i] = st;
        st *= g->msz[i];
    }
    g->n_out = g->n_red = 1;
    for (int i = 0; i < g->nm; i++) {
        if (g->mred[i]) {
            g->rsz[g->nr] = g->msz[i];
            g->rst[g->nr++] = mst[i];
            g->n_red *= g->msz[i];
        } else {
            g->ksz[g->nk] = g->msz[i];
            g->kst[g->nk++] = mst[i];
            g->n_out *= g->msz[i];
        }
    }
}

static int red_kind(const char *op)
{
    static const char *const names[] = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                                        "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                                        "ReduceLogSumExp", "ReduceSumSquare"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(op, names[i]) == 0)
            return i;
    return -1;
}

/* Input offset of output element o's first reduced element. */
static inline int64_t red_base(const red_geom *g, int64_t o)
{
    int64_t off = 0;
    for (int i = g->nk - 1; i >= 0; i--) {
        off += (o % g->ksz[i]) * g->kst[i];
        o /= g->ksz[i];
    }
    return off;
}

/* Lowest (hi = 0) or highest (hi = 1) value of an integer type, as the
 * int64 whose low bits store it. */
static int64_t int_limit(vp_dtype dt, int hi)
{
    switch (dt) {
    case VP_DT_INT8: return hi ? INT8_MAX : INT8_MIN;
    case VP_DT_INT16: return hi ? INT16_MAX : INT16_MIN;
    case VP_DT_INT32: return hi ? INT32_MAX : INT32_MIN;
    case VP_DT_INT64: return hi ? INT64_MAX : INT64_MIN;
    case VP_DT_UINT8: return hi ? UINT8_MAX : 0;
    case VP_DT_UINT16: return hi ? UINT16_MAX : 0;
    case VP_DT_UINT32: return hi ? (int64_t)UINT32_MAX : 0;
    case VP_DT_UINT64: return hi ? -1 : 0; /* all ones */
    default: return hi; /* bool */
    }
}

/* Generic reduction of one output element (any dtype), in double, or in
 * int64 for integer sums/products/extrema (exact, wrapping like numpy). */
static void red_one_any(const red_geom *g, const void *x, vp_dtype dt, void *y, int64_t o, int kind)
{
    int64_t base = red_base(g, o), idx[VP_MAX_DIMS] = {0}, off = base;
    int is_int = vp_misc_is_int(dt);
    int int_path = is_int && (kind == R_SUM || kind == R_PROD || kind == R_MAX || kind == R_MIN ||
                              kind == R_L1 || kind == R_SUMSQ);
    int64_t n = g->n_red;
    if (int_path) {
        uint64_t acc = kind == R_PROD ? 1u : 0u; /* unsigned: wrap-around without UB */
        int64_t ext = 0;
        int unsig = dt == VP_DT_UINT64;
        for (int64_t r = 0; r < n; r++) {
            int64_t v = vp_misc_ldi(x, dt, off);
            switch (kind) {
            case R_SUM: acc += (uint64_t)v; break;
            case R_PROD: acc *= (uint64_t)v; break;
            case R_L1: acc += (uint64_t)(v < 0 ? -(uint64_t)v : (uint64_t)v); break;
            case R_SUMSQ: acc += (uint64_t)v * (uint64_t)v; break;
            case R_MAX:
                if (r == 0 || (unsig ? (uint64_t)v > (uint64_t)ext : v > ext))
                    ext = v;
                break;
            default:
                if (r == 0 || (unsig ? (uint64_t)v < (uint64_t)ext : v < ext))
                    ext = v;
                break;
            }
            /* odometer over the reduced dims */
            for (int i = g->nr - 1; i >= 0; i--) {
                off += g->rst[i];
                if (++idx[i] < g->rsz[i])
                    break;
                off -= g->rst[i] * g->rsz[i];
                idx[i] = 0;
            }
        }
        if (n == 0 && (kind == R_MAX || kind == R_MIN)) {
            /* empty: the type's lowest / highest value, as the reference */
            vp_misc_sti(y, dt, o, int_limit(dt, kind == R_MIN));
            return;
        }
        vp_misc_sti(y, dt, o, kind == R_MAX || kind == R_MIN ? ext : (int64_t)acc);
        return;
    }
    double acc = kind == R_PROD ? 1.0 : kind == R_MAX ? -INFINITY : kind == R_MIN ? INFINITY : 0.0;
    double shift = 0;
    if (kind == R_LSE) {
        /* shift by the largest finite value (infinities excluded, as the reference) */
        double mx = -INFINITY;
        int64_t off2 = base, idx2[VP_MAX_DIMS] = {0};
        for (int64_t r = 0; r < n; r++) {
            double v = vp_misc_ld(x, dt, off2);
            if (isfinite(v) && v > mx)
                mx = v;
            for (int i = g->nr - 1; i >= 0; i--) {
                off2 += g->rst[i];
                if (++idx2[i] < g->rsz[i])
                    break;
                off2 -= g->rst[i] * g->rsz[i];
                idx2[i] = 0;
            }
        }
        shift = isfinite(mx) ? mx : 0.0;
    }
    for (int64_t r = 0; r < n; r++) {
        double v = vp_misc_ld(x, dt, off);
        switch (kind) {
        case R_SUM: case R_MEAN: case R_LOGSUM: acc += v; break;
        case R_PROD: acc *= v; break;
        case R_MAX: acc = v > acc || v != v ? v : acc; break;
        case R_MIN: acc = v < acc || v != v ? v : acc; break;
        case R_L1: acc += fabs(v); break;
        case R_L2: case R_SUMSQ: acc += v * v; break;
        case R_LSE: acc += exp(v - shift); break;
        default: break;
        }
        for (int i = g->nr - 1; i >= 0; i--) {
            off += g->rst[i];
            if (++idx[i] < g->rsz[i])
                break;
            off -= g->rst[i] * g->rsz[i];
            idx[i] = 0;
        }
    }
    switch (kind) {
    case R_MEAN: acc = acc / (double)n; break;
    case R_L2: acc = sqrt(acc); break;
    case R_LOGSUM: acc = log(acc); break;
    case R_LSE: acc = log(acc) + shift; break;
    default: break;
    }
    if (is_int && (kind == R_MEAN || kind == R_L2 || kind == R_LOGSUM || kind == R_LSE))
        acc = trunc(acc); /* the reference computes in float, then casts */
    vp_misc_st(y, dt, o, acc);
}

/* Float32: reduce a contiguous row. */
VP_MISC_CLONES
static float red_row_f32(const float *x, int64_t n, int kind)
{
    float a[8];
    int64_t i = 0;
    if (kind == R_MAX || kind == R_MIN) {
        float e = x[0];
        for (int j = 0; j < 8; j++)
            a[j] = e;
        if (kind == R_MAX) {
            for (; i + 8 <= n; i += 8)
                for (int j = 0; j < 8; j++)
                    a[j] = x[i + j] > a[j] || x[i + j] != x[i + j] ? x[i + j] : a[j];
            for (; i < n; i++)
                a[0] = x[i] > a[0] || x[i] != x[i] ? x[i] : a[0];
            for (int j = 1; j < 8; j++)
                a[0] = a[j] > a[0] || a[j] != a[j] ? a[j] : a[0];
        } else {
            for (; i + 8 <= n; i += 8)
                for (int j = 0; j < 8; j++)
                    a[j] = x[i + j] < a[j] || x[i + j] != x[i + j] ? x[i + j] : a[j];
            for (; i < n; i++)
                a[0] = x[i] < a[0] || x[i] != x[i] ? x[i] : a[0];
            for (int j = 1; j < 8; j++)
                a[0] = a[j] < a[0] || a[j] != a[j] ? a[j] : a[0];
        }
        return a[0];
    }
    if (kind == R_PROD) {
        for (int j = 0; j < 8; j++)
            a[j] = 1.f;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++)
                a[j] *= x[i + j];
        for (; i < n; i++)
            a[0] *= x[i];
        return ((a[0] * a[1]) * (a[2] * a[3])) * ((a[4] * a[5]) * (a[6] * a[7]));
    }
    for (int j = 0; j < 8; j++)
        a[j] = 0.f;
    if (kind == R_L1) {
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++)
                a[j] += fabsf(x[i + j]);
        for (; i < n; i++)
            a[0] += fabsf(x[i]);
    } else if (kind == R_L2 || kind == R_SUMSQ) {
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++)
                a[j] += x[i + j] * x[i + j];
        for (; i < n; i++)
            a[0] += x[i] * x[i];
    } else {
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++)
                a[j] += x[i + j];
        for (; i < n; i++)
            a[0] += x[i];
    }
    float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    return kind == R_MEAN ? s / (float)n : kind == R_L2 ? sqrtf(s) : s;
}

/* Float32: y[0..w) = reduce over r of x[r * st + (0..w)] (strided rows). */
VP_MISC_CLONES
static void red_cols_f32(const float *x, float *y, int64_t nr, int64_t st, int64_t w, int kind)
{
    switch (kind) {
    case R_MAX:
        memcpy(y, x, (size_t)w * sizeof *y);
        for (int64_t r = 1; r < nr; r++)
            for (int64_t j = 0; j < w; j++) {
                float v = x[r * st + j];
                y[j] = v > y[j] || v != v ? v : y[j];
            }
        return;
    case R_MIN:
        memcpy(y, x, (size_t)w * sizeof *y);
        for (int64_t r = 1; r < nr; r++)
            for (int64_t j = 0; j < w; j++) {
                float v = x[r * st + j];
                y[j] = v < y[j] || v != v ? v : y[j];
            }
        return;
    case R_PROD:
        for (int64_t j = 0; j < w; j++)
            y[j] = 1.f;
        for (int64_t r = 0; r < nr; r++)
            for (int64_t j = 0; j < w; j++)
                y[j] *= x[r * st + j];
        return;
    default:
        break;
    }
    for (int64_t j = 0; j < w; j++)
        y[j] = 0.f;
    /* four input rows per pass over y: a quarter of the accumulator traffic */
    int64_t r = 0;
    for (; r + 4 <= nr; r += 4) {
        const float *x0 = x + r * st, *x1 = x0 + st, *x2 = x1 + st, *x3 = x2 + st;
        if (kind == R_L1)
            for (int64_t j = 0; j < w; j++)
                y[j] += (fabsf(x0[j]) + fabsf(x1[j])) + (fabsf(x2[j]) + fabsf(x3[j]));
        else if (kind == R_L2 || kind == R_SUMSQ)
            for (int64_t j = 0; j < w; j++)
                y[j] += (x0[j] * x0[j] + x1[j] * x1[j]) + (x2[j] * x2[j] + x3[j] * x3[j]);
        else
            for (int64_t j = 0; j < w; j++)
                y[j] += (x0[j] + x1[j]) + (x2[j] + x3[j]);
    }
    for (; r < nr; r++) {
        const float *xr = x + r * st;
        if (kind == R_L1)
            for (int64_t j = 0; j < w; j++)
                y[j] += fabsf(xr[j]);
        else if (kind == R_L2 || kind == R_SUMSQ)
            for (int64_t j = 0; j < w; j++)
                y[j] += xr[j] * xr[j];
        else
            for (int64_t j = 0; j < w; j++)
                y[j] += xr[j];
    }
    if (kind == R_MEAN) {
        float inv = 1.f / (float)nr;
        for (int64_t j = 0; j < w; j++)
            y[j] *= inv;
    } else if (kind == R_L2) {
        for (int64_t j = 0; j < w; j++)
            y[j] = sqrtf(y[j]);
    }
}

static int run_reduce(vp_op_ctx *c)
{
    uint8_t red[VP_MAX_DIMS];
    red_geom g;
    int kind = red_kind(c->node->op_type);
    if (kind < 0)
        return vp_op_fail(c, VP_ERR_INTERNAL, "not a reduction");
    int rc = vp_misc_reduce_axes(c, red);
    if (rc)
        return rc;
    const vp_tensor *xt = c->in[0];
    vp_tensor *yt = c->out[0];
    int64_t n_in = vp_tensor_numel(xt), n_out = vp_tensor_numel(yt);
    if (n_out == 0)
        return VP_OK;
    red_geometry(&xt->shape, red, &g);
    if (n_in == 0) {
        /* reducing empty axes: every output is the reduction's identity */
        g.n_red = 0;
        g.nk = 0;
        g.nr = 0;
        for (int64_t o = 0; o < n_out; o++)
            red_one_any(&g, xt->data, xt->dtype, yt->data, o, kind);
        return VP_OK;
    }
    int fast = xt->dtype == VP_DT_FLOAT && kind != R_LOGSUM && kind != R_LSE;
    if (fast && g.nr <= 1) {
        const float *x = xt->data;
        float *y = yt->data;
        /* [outer, R] (R innermost, contiguous) or [outer, R, inner] or no reduction */
        int last_red = g.nm > 0 && g.mred[g.nm - 1];
        if (g.nr == 0) {
#pragma omp parallel for schedule(static) if (n_out > PAR_MIN)
            for (int64_t o = 0; o < n_out; o++)
                y[o] = red_row_f32(x + o, 1, kind);
            return VP_OK;
        }
        if (last_red) {
            int64_t R = g.n_red;
#pragma omp parallel for schedule(static) if (n_in > PAR_MIN && n_out > 1)
            for (int64_t o = 0; o < n_out; o++)
                y[o] = red_row_f32(x + o * R, R, kind);
            return VP_OK;
        }
        if (g.nk <= 2) {
            /* [outer?, R, inner]: accumulate whole rows of `inner` */
            int64_t R = g.n_red, inner = g.kst[0] == 1 ? g.ksz[0] : g.ksz[g.nk - 1];
            int64_t outer = n_out / inner;
            const int64_t CH = 1024;
            int64_t nch = (inner + CH - 1) / CH;
#pragma omp parallel for schedule(static) if (n_in > PAR_MIN && outer * nch > 1)
            for (int64_t t = 0; t < outer * nch; t++) {
                int64_t o = t / nch, j0 = (t % nch) * CH, w = inner - j0 < CH ? inner - j0 : CH;
                red_cols_f32(x + o * R * inner + j0, y + o * inner + j0, R, inner, w, kind);
            }
            return VP_OK;
        }
    }
#pragma omp parallel for schedule(static) if (n_in > PAR_MIN && n_out > 1)
    for (int64_t o = 0; o < n_out; o++)
        red_one_any(&g, xt->data, xt->dtype, yt->data, o, kind);
    return VP_OK;
}

/* ArgMax / ArgMin -------------------------------------------------------- */

static void arg_dims(const vp_op_ctx *c, int64_t *O, int64_t *D, int64_t *I)
{
    const vp_shape *s = &c->in[0]->shape;
    int ax = vp_norm_axis(vp_attr_i(c->node, "axis", 0), s->rank);
    *O = 1;
    *I = 1;
    for (int i = 0; i < ax; i++)
        *O *= s->d[i];
    *D = s->d[ax];
    for (int i = ax + 1; i < s->rank; i++)
        *I *= s->d[i];
}

/* NaN counts as the extreme (numpy's argmax/argmin pick the first NaN);
 * with select_last_index ties and NaNs go to the later index. */
#define ARG_KERNEL(NAME, T, LD)                                                                   \
    static void NAME(const void *xv, int64_t *y, int64_t O, int64_t D, int64_t I, int is_min,      \
                     int last)                                                                    \
    {                                                                                             \
        const T *x = xv;                                                                          \
        _Pragma("omp parallel for schedule(static) if (O * D * I > PAR_MIN)")                     \
        for (int64_t t = 0; t < O * I; t++) {                                                     \
            int64_t o = t / I, i = t % I, bi = 0;                                                 \
            const T *p = x + o * D * I + i;                                                       \
            double b = (double)LD(p, 0);                                                          \
            for (int64_t k = 1; k < D; k++) {                                                     \
                double v = (double)LD(p, k * I);                                                  \
                int better = is_min ? (last ? v <= b : v < b) : (last ? v >= b : v > b);          \
                if (better || (v != v && (b == b || last))) {                                     \
                    b = v;                                                                        \
                    bi = k;                                                                       \
                }                                                                                 \
            }                                                                                     \
            y[t] = bi;                                                                            \
        }                                                                                         \
    }
#define LD_PLAIN(p, i) ((p)[i])
#define LD_HALF(p, i) vp_half_to_float((p)[i])
ARG_KERNEL(arg_f32, float, LD_PLAIN)
ARG_KERNEL(arg_f64, double, LD_PLAIN)
ARG_KERNEL(arg_f16, uint16_t, LD_HALF)
ARG_KERNEL(arg_i8, int8_t, LD_PLAIN)
ARG_KERNEL(arg_u8, uint8_t, LD_PLAIN)
ARG_KERNEL(arg_i16, int16_t, LD_PLAIN)
ARG_KERNEL(arg_u16, uint16_t, LD_PLAIN)
ARG_KERNEL(arg_i32, int32_t, LD_PLAIN)
ARG_KERNEL(arg_u32, uint32_t, LD_PLAIN)

/* 64-bit integers compare exactly (not through double). */
#define ARG_KERNEL_I(NAME, T)                                                                     \
    static void NAME(const void *xv, int64_t *y, int64_t O, int64_t D, int64_t I, int is_min,      \
                     int last)                                                                    \
    {                                                                                             \
        const T *x = xv;                                                                          \
        for (int64_t t = 0; t < O * I; t++) {                                                     \
            int64_t o = t / I, i = t % I, bi = 0;                                                 \
            const T *p = x + o * D * I + i;                                                       \
            T b = p[0];                                                                           \
            for (int64_t k = 1; k < D; k++) {                                                     \
                T v = p[k * I];                                                                   \
                if (is_min ? (last ? v <= b : v < b) : (last ? v >= b : v > b)) {                 \
                    b = v;                                                                        \
                    bi = k;                                                                       \
                }                                                                                 \
            }                                                                                     \
            y[t] = bi;                                                                            \
        }                                                                                         \
    }
ARG_KERNEL_I(arg_i64, int64_t)
ARG_KERNEL_I(arg_u64, uint64_t)

static int run_arg(vp_op_ctx *c)
{
    int64_t O, D, I;
    arg_dims(c, &O, &D, &I);
    int is_min = strcmp(c->node->op_type, "ArgMin") == 0;
    int last = vp_attr_i(c->node, "select_last_index", 0) != 0;
    const void *x = c->in[0]->data;
    int64_t *y = c->out[0]->data;
    if (O * I == 0)
        return VP_OK;
    switch (c->in[0]->dtype) {
    case VP_DT_FLOAT: arg_f32(x, y, O, D, I, is_min, last); break;
    case VP_DT_DOUBLE: arg_f64(x, y, O, D, I, is_min, last); break;
    case VP_DT_FLOAT16: arg_f16(x, y, O, D, I, is_min, last); break;
    case VP_DT_INT8: arg_i8(x, y, O, D, I, is_min, last); break;
    case VP_DT_UINT8: arg_u8(x, y, O, D, I, is_min, last); break;
    case VP_DT_INT16: arg_i16(x, y, O, D, I, is_min, last); break;
    case VP_DT_UINT16: arg_u16(x, y, O, D, I, is_min, last); break;
    case VP_DT_INT32: arg_i32(x, y, O, D, I, is_min, last); break;
    case VP_DT_UINT32: arg_u32(x, y, O, D, I, is_min, last); break;
    case VP_DT_INT64: arg_i64(x, y, O, D, I, is_min, last); break;
    case VP_DT_UINT64: arg_u64(x, y, O, D, I, is_min, last); break;
    default:
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input type %s", vp_dtype_name(c->in[0]->dtype));
    }
    return VP_OK;
}

/* TopK ------------------------------------------------------------------- */

/* Sort keys: long double holds every float and every 64-bit integer exactly. */
typedef struct topk_item {
    long double v;
    int64_t i;
} topk_item;

/* TopK's state: how many threads share the plan's scratch, which holds d
 * sort items per thread. */
typedef struct topk_state {
    int64_t d;
    int nthreads;
} topk_state;

/* NaN ranks above everything (numpy's sort order, flipped for largest);
 * equal values keep the lower index first. */
static int topk_cmp_largest(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    int an = a->v != a->v, bn = b->v != b->v;
    if (an != bn)
        return an ? -1 : 1;
    if (!an && a->v != b->v)
        return a->v > b->v ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static int topk_cmp_smallest(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    int an = a->v != a->v, bn = b->v != b->v;
    if (an != bn)
        return an ? 1 : -1;
    if (!an && a->v != b->v)
        return a->v < b->v ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static void topk_release(void *st)
{
    free(st);
}

static int topk_prepare(vp_op_ctx *c)
{
    const vp_shape *s = &c->in[0]->shape;
    int ax = vp_norm_axis(vp_attr_i(c->node, "axis", -1), s->rank);
    topk_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    st->d = ax >= 0 ? s->d[ax] : 0;
    st->nthreads = omp_get_max_threads();
    c->scratch_bytes = (size_t)(st->d > 0 ? st->d : 1) * (size_t)st->nthreads * sizeof(topk_item);
    c->state = st;
    return VP_OK;
}

static int run_topk(vp_op_ctx *c)
{
    topk_state *st = c->state;
    const vp_tensor *xt = c->in[0];
    vp_tensor *vt = c->out[0], *it = c->n_out > 1 ? c->out[1] : NULL;
    const vp_shape *s = &xt->shape;
    int ax = vp_norm_axis(vp_attr_i(c->node, "axis", -1), s->rank);
    int largest = vp_attr_i(c->node, "largest", 1) != 0;
    if (!st || ax < 0 || st->d != s->d[ax] || !c->scratch)
        return vp_op_fail(c, VP_ERR_INTERNAL, "TopK kernel not prepared");
    int64_t O = 1, D = s->d[ax], I = 1, K = vt ? vt->shape.d[ax] : it->shape.d[ax];
    for (int i = 0; i < ax; i++)
        O *= s->d[i];
    for (int i = ax + 1; i < s->rank; i++)
        I *= s->d[i];
    size_t es = vp_dtype_size(xt->dtype);
    const char *x = xt->data;
    int is_int = vp_misc_is_int(xt->dtype);
    if (K == 0 || (!vt && !it))
        return VP_OK;
#pragma omp parallel for schedule(dynamic, 1) if (O * I > 1 && O * D * I > PAR_MIN) num_threads(st->nthreads)
    for (int64_t t = 0; t < O * I; t++) {
        int64_t o = t / I, i = t % I, base = o * D * I + i, obase = o * K * I + i;
        topk_item *items = (topk_item *)c->scratch + (int64_t)omp_get_thread_num() * D;
        for (int64_t k = 0; k < D; k++) {
            int64_t e = base + k * I;
            if (!is_int)
                items[k].v = vp_misc_ld(x, xt->dtype, e);
            else if (xt->dtype == VP_DT_UINT64)
                items[k].v = (long double)((const uint64_t *)(const void *)x)[e];
            else
                items[k].v = (long double)vp_misc_ldi(x, xt->dtype, e);
            items[k].i = k;
        }
        qsort(items, (size_t)D, sizeof *items, largest ? topk_cmp_largest : topk_cmp_smallest);
        for (int64_t k = 0; k < K; k++) {
            int64_t src = base + items[k].i * I, dst = obase + k * I;
            if (vt)
                memcpy((char *)vt->data + dst * (int64_t)es, x + src * (int64_t)es, es);
            if (it)
                ((int64_t *)it->data)[dst] = items[k].i;
        }
    }
    return VP_OK;
}

/* CumSum ----------------------------------------------------------------- */

/* y[k] = sum of x over [0, k] (inclusive) or [0, k) (exclusive), along the
 * axis, in that direction or reversed. Accumulates in the element type, as
 * numpy's cumsum does (integers wrap: unsigned arithmetic avoids UB). */
#define CUMSUM_KERNEL(NAME, T, A, TO_A, FROM_A)                                                   \
    static void NAME(const void *xv, void *yv, int64_t O, int64_t D, int64_t I, int excl, int rev)  \
    {                                                                                             \
        const T *x = xv;                                                                          \
        T *y = yv;                                                                                \
        _Pragma("omp parallel for schedule(static) if (O * D * I > PAR_MIN && O > 1)")            \
        for (int64_t o = 0; o < O; o++) {                                                         \
            for (int64_t s = 0; s < D; s++) {                                                     \
                int64_t k = rev ? D - 1 - s : s, kp = rev ? k + 1 : k - 1;                        \
                T *yr = y + (o * D + k) * I;                                                      \
                const T *xr = x + (o * D + k) * I;                                                \
                if (s == 0) {                                                                     \
                    for (int64_t i = 0; i < I; i++)                                               \
                        yr[i] = excl ? FROM_A((A)0) : xr[i];                                      \
                    continue;                                                                     \
                }                                                                                 \
                const T *yp = y + (o * D + kp) * I;                                               \
                const T *xa = excl ? x + (o * D + kp) * I : xr;                                   \
                for (int64_t i = 0; i < I; i++)                                                   \
                    yr[i] = FROM_A((A)(TO_A(yp[i]) + TO_A(xa[i])));                               \
            }                                                                                     \
        }                                                                                         \
    }
#define ID(v) (v)
#define TO_U32(v) ((uint32_t)(v))
#define TO_U64(v) ((uint64_t)(v))
#define FROM_I32(v) ((int32_t)(v))
#define FROM_I64(v) ((int64_t)(v))
#define HALF_IN(v) vp_half_to_float(v)
#define HALF_OUT(v) vp_float_to_half(v)
CUMSUM_KERNEL(cumsum_f32, float, float, ID, ID)
CUMSUM_KERNEL(cumsum_f64, double, double, ID, ID)
CUMSUM_KERNEL(cumsum_f16, uint16_t, float, HALF_IN, HALF_OUT)
CUMSUM_KERNEL(cumsum_i32, int32_t, uint32_t, TO_U32, FROM_I32)
CUMSUM_KERNEL(cumsum_u32, uint32_t, uint32_t, ID, ID)
CUMSUM_KERNEL(cumsum_i64, int64_t, uint64_t, TO_U64, FROM_I64)
CUMSUM_KERNEL(cumsum_u64, uint64_t, uint64_t, ID, ID)

static int run_cumsum(vp_op_ctx *c)
{
    const vp_tensor *xt = c->in[0];
    const vp_shape *s = &xt->shape;
    int64_t a = vp_tensor_get_i64(c->in[1], 0);
    int ax = vp_norm_axis(a, s->rank);
    if (ax < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "axis=%lld out of range for rank %d", (long long)a, s->rank);
    int excl = vp_attr_i(c->node, "exclusive", 0) != 0, rev = vp_attr_i(c->node, "reverse", 0) != 0;
    int64_t O = 1, D = s->d[ax], I = 1;
    for (int i = 0; i < ax; i++)
        O *= s->d[i];
    for (int i = ax + 1; i < s->rank; i++)
        I *= s->d[i];
    const void *x = xt->data;
    void *y = c->out[0]->data;
    if (O * D * I == 0)
        return VP_OK;
    switch (xt->dtype) {
    case VP_DT_FLOAT: cumsum_f32(x, y, O, D, I, excl, rev); break;
    case VP_DT_DOUBLE: cumsum_f64(x, y, O, D, I, excl, rev); break;
    case VP_DT_FLOAT16: cumsum_f16(x, y, O, D, I, excl, rev); break;
    case VP_DT_INT32: cumsum_i32(x, y, O, D, I, excl, rev); break;
    case VP_DT_UINT32: cumsum_u32(x, y, O, D, I, excl, rev); break;
    case VP_DT_INT64: cumsum_i64(x, y, O, D, I, excl, rev); break;
    case VP_DT_UINT64: cumsum_u64(x, y, O, D, I, excl, rev); break;
    default:
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input type %s", vp_dtype_name(xt->dtype));
    }
    return VP_OK;
}

const vp_kernel vp_cpu_misc[] = {
    {.name = "Softmax", .run = run_softmax},
    {.name = "LogSoftmax", .run = run_logsoftmax},
    {.name = "Hardmax", .run = run_hardmax},
    {.name = "ReduceMean", .run = run_reduce},
    {.name = "ReduceMax", .run = run_reduce},
    {.name = "ReduceMin", .run = run_reduce},
    {.name = "ReduceSum", .run = run_reduce},
    {.name = "ReduceProd", .run = run_reduce},
    {.name = "ReduceL1", .run = run_reduce},
    {.name = "ReduceL2", .run = run_reduce},
    {.name = "ReduceLogSum", .run = run_reduce},
    {.name = "ReduceLogSumExp", .run = run_reduce},
    {.name = "ReduceSumSquare", .run = run_reduce},
    {.name = "ArgMax", .run = run_arg},
    {.name = "ArgMin", .run = run_arg},
    {.name = "TopK", .prepare = topk_prepare, .run = run_topk, .release = topk_release},
    {.name = "CumSum", .run = run_cumsum},
    {.name = "Einsum", .run = vp_cpu_einsum_run},
    {.name = "NonMaxSuppression", .prepare = vp_cpu_nms_prepare, .run = vp_cpu_nms_run},
    {.name = "Resize", .prepare = vp_cpu_resize_prepare, .run = vp_cpu_resize_run, .release = vp_cpu_resize_release},
    {.name = "Upsample", .prepare = vp_cpu_resize_prepare, .run = vp_cpu_resize_run, .release = vp_cpu_resize_release},
    {0},
};
