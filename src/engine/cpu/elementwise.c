/*
 * CPU kernels: elementwise family, broadcasting part, and the family's
 * kernel table.
 *
 * Binary ops (Add ... Xor, Pow, PRelu, BitShift), variadic ops (Max, Min, Sum, Mean)
 * and Where share one broadcast driver. It aligns every input to the output
 * shape with stride 0 on broadcast dimensions, drops size-1 dimensions and
 * merges adjacent dimensions that are contiguous for all inputs. What is left
 * covers the cases that matter for speed without special code:
 *   equal shapes           -> one flat dimension, both steps 1
 *   scalar operand         -> one flat dimension, that operand's step 0
 *   per-channel [1,C,1,1]  -> rows of H*W with a scalar operand per row
 * The innermost dimension is the unit of work: a typed row function (chosen
 * once per call from a per-dtype table) runs over it with steps of 0 or 1,
 * and its loop is specialised on those steps so the compiler vectorises it.
 * Rows are cut into chunks and spread over OpenMP threads when the output is
 * large. Index arithmetic (div/mod over the outer dimensions) happens once
 * per chunk, not per element.
 *
 * Integer semantics: add/sub/mul wrap (computed in unsigned types, see
 * elementwise.h); division and modulo by zero give 0 instead of trapping
 * (ONNX leaves it undefined; a model must never crash the process), and
 * INT_MIN / -1 wraps to INT_MIN. Integer Div truncates toward zero (C, ONNX
 * Runtime); Mod with fmod=0 takes the sign of the divisor (numpy), fmod=1
 * the sign of the dividend (C fmod).
 */
#include "engine/cpu/elementwise.h"

#include <math.h>
#include <string.h>

/* Broadcast driver ---------------------------------------------------- */

#define EW_MAXIN 3

typedef struct ew_bcast {
    int nd;                              /* coalesced rank, >= 1 */
    int nin;
    int64_t n;                           /* output elements */
    int64_t dim[VP_MAX_DIMS];            /* coalesced output dims */
    int64_t str[EW_MAXIN][VP_MAX_DIMS];  /* element strides per input, 0 = broadcast */
} ew_bcast;

/* Segment callback: output element offset, per-input element offsets and
 * steps (0 or 1) along the segment, segment length. */
typedef void (*ew_seg_fn)(void *ctx, int64_t oo, const int64_t *io, const int64_t *step,
                          int64_t n);

/* Shapes are validated by infer (each input broadcasts to out). */
static void bcast_init(ew_bcast *b, const vp_shape *out, const vp_shape *const *in, int nin)
{
    int r = out->rank, nd = 0;
    int64_t str[EW_MAXIN][VP_MAX_DIMS];
    b->nin = nin;
    b->n = vp_shape_numel(out);
    for (int k = 0; k < nin; k++) {
        int64_t s = 1;
        for (int i = r - 1; i >= 0; i--) {
            int j = i - (r - in[k]->rank);
            int64_t d = j >= 0 ? in[k]->d[j] : 1;
            str[k][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    for (int i = 0; i < r; i++) {
        int64_t d = out->d[i];
        if (d == 1)
            continue;
        int merge = nd > 0;
        for (int k = 0; k < nin && merge; k++)
            merge = b->str[k][nd - 1] == str[k][i] * d;
        if (merge) {
            b->dim[nd - 1] *= d;
            for (int k = 0; k < nin; k++)
                b->str[k][nd - 1] = str[k][i];
        } else {
            b->dim[nd] = d;
            for (int k = 0; k < nin; k++)
                b->str[k][nd] = str[k][i];
            nd++;
        }
    }
    if (nd == 0) {
        b->dim[0] = 1;
        for (int k = 0; k < nin; k++)
            b->str[k][0] = 0;
        nd = 1;
    }
    b->nd = nd;
}

static void bcast_run(const ew_bcast *b, ew_seg_fn fn, void *ctx)
{
    const int nd = b->nd, nin = b->nin;
    const int64_t inner = b->dim[nd - 1];
    if (b->n <= 0)
        return;
    int64_t step[EW_MAXIN];
    for (int k = 0; k < nin; k++)
        step[k] = b->str[k][nd - 1];
    const int64_t nch = (inner + VP_EW_CHUNK - 1) / VP_EW_CHUNK;
    const int64_t chunk = (inner + nch - 1) / nch;
    const int64_t tasks = b->n / inner * nch;
#pragma omp parallel for schedule(static) if (b->n > VP_EW_PAR_MIN && tasks > 1)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t r = t / nch, c0 = t % nch * chunk;
        int64_t len = inner - c0 < chunk ? inner - c0 : chunk;
        int64_t io[EW_MAXIN];
        for (int k = 0; k < nin; k++)
            io[k] = c0 * step[k];
        int64_t q = r;
        for (int d = nd - 2; d >= 0 && q; d--) {
            int64_t id = q % b->dim[d];
            q /= b->dim[d];
            for (int k = 0; k < nin; k++)
                io[k] += id * b->str[k][d];
        }
        fn(ctx, r * inner + c0, io, step, len);
    }
}

void vp_ew_parallel(int64_t n, void (*fn)(void *ctx, int64_t begin, int64_t count), void *ctx)
{
    const int64_t nch = (n + VP_EW_CHUNK - 1) / VP_EW_CHUNK;
    if (n <= 0)
        return;
    if (n <= VP_EW_PAR_MIN || nch < 2) {
        fn(ctx, 0, n);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < nch; t++) {
        int64_t b = t * VP_EW_CHUNK;
        fn(ctx, b, n - b < VP_EW_CHUNK ? n - b : VP_EW_CHUNK);
    }
}

/* Typed binary row functions ------------------------------------------- */

/* o[i] = f(a[i*sa], b[i*sb]) for i < n, sa and sb in {0, 1}. */
typedef void (*ew_bin_fn)(void *o, const void *a, int64_t sa, const void *b, int64_t sb,
                          int64_t n);

/* One generator for all binary row functions: OT/OST are the output type and
 * store (the input's for arithmetic, uint8_t for comparisons). The four loops
 * differ only in which operand is loop-invariant, so each vectorises. */
#define EW_BIN_GEN(name, E, T, C, U, LD, OT, OST)                              \
    static void name(void *o_, const void *a_, int64_t sa, const void *b_,     \
                     int64_t sb, int64_t n)                                    \
    {                                                                          \
        OT *o = o_;                                                            \
        const T *a = a_, *b = b_;                                              \
        if (sa && sb) {                                                        \
            for (int64_t i = 0; i < n; i++) {                                  \
                const C x = LD(a[i]), y = LD(b[i]);                            \
                o[i] = OST(E(x, y, C, U));                                     \
            }                                                                  \
        } else if (sa) {                                                       \
            const C y = LD(b[0]);                                              \
            for (int64_t i = 0; i < n; i++) {                                  \
                const C x = LD(a[i]);                                          \
                o[i] = OST(E(x, y, C, U));                                     \
            }                                                                  \
        } else if (sb) {                                                       \
            const C x = LD(a[0]);                                              \
            for (int64_t i = 0; i < n; i++) {                                  \
                const C y = LD(b[i]);                                          \
                o[i] = OST(E(x, y, C, U));                                     \
            }                                                                  \
        } else {                                                               \
            const C x = LD(a[0]), y = LD(b[0]);                                \
            const OT v = OST(E(x, y, C, U));                                   \
            for (int64_t i = 0; i < n; i++)                                    \
                o[i] = v;                                                      \
        }                                                                      \
    }

#define EW_TO_BOOL(v) ((uint8_t)((v) ? 1 : 0))
#define DEF_BIN(op, E, tn, dt, T, C, U, LD, ST) EW_BIN_GEN(op##_##tn, E, T, C, U, LD, T, ST)
#define DEF_CMP(op, E, tn, dt, T, C, U, LD, ST) EW_BIN_GEN(op##_##tn, E, T, C, U, LD, uint8_t, EW_TO_BOOL)
#define ENT(op, E, tn, dt, T, C, U, LD, ST) [dt] = op##_##tn,

/* An op over float, signed and unsigned types with one expression each. */
#define BIN_OP(op, EF, ES, EU)                                                 \
    VP_EW_FLT(DEF_BIN, op, EF) VP_EW_SINT(DEF_BIN, op, ES) VP_EW_UINT(DEF_BIN, op, EU) \
    static const ew_bin_fn op##_tab[VP_EW_NDT] = {                             \
        VP_EW_FLT(ENT, op, EF) VP_EW_SINT(ENT, op, ES) VP_EW_UINT(ENT, op, EU)};
/* A comparison over all numeric types and bool (infer allows bool for Equal only). */
#define CMP_OP(op, E)                                                          \
    VP_EW_FLT(DEF_CMP, op, E) VP_EW_SINT(DEF_CMP, op, E) VP_EW_UINT(DEF_CMP, op, E) \
    VP_EW_BOOL(DEF_CMP, op, E)                                                 \
    static const ew_bin_fn op##_tab[VP_EW_NDT] = {                             \
        VP_EW_FLT(ENT, op, E) VP_EW_SINT(ENT, op, E) VP_EW_UINT(ENT, op, E)    \
        VP_EW_BOOL(ENT, op, E)};
#define LOGIC_OP(op, E)                                                        \
    VP_EW_BOOL(DEF_CMP, op, E)                                                 \
    static const ew_bin_fn op##_tab[VP_EW_NDT] = {VP_EW_BOOL(ENT, op, E)};

static inline int64_t ew_smod(int64_t x, int64_t y, int floor_mod)
{
    if (y == 0 || y == -1)
        return 0;
    int64_t r = x % y;
    if (floor_mod && r != 0 && ((r < 0) != (y < 0)))
        r += y;
    return r;
}

static inline float ew_pymodf(float x, float y)
{
    float r = fmodf(x, y);
    if (r != 0.f && ((r < 0.f) != (y < 0.f)))
        r += y;
    return r;
}

static inline double ew_pymod(double x, double y)
{
    double r = fmod(x, y);
    if (r != 0.0 && ((r < 0.0) != (y < 0.0)))
        r += y;
    return r;
}

/* Integer power by squaring, wrapping like repeated multiplication. A
 * negative exponent gives what C's trunc(pow()) gives: 0 unless |base| = 1. */
static inline int64_t ew_ipow(int64_t b, int64_t e)
{
    if (e < 0)
        return b == 1 ? 1 : b == -1 ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, x = (uint64_t)b;
    while (e) {
        if (e & 1)
            r *= x;
        x *= x;
        e >>= 1;
    }
    return (int64_t)r;
}

/* Expressions E(x, y, C, U): x and y are of compute type C. */
#define E_ADDF(x, y, C, U) ((x) + (y))
#define E_ADDI(x, y, C, U) ((C)((U)(x) + (U)(y)))
#define E_SUBF(x, y, C, U) ((x) - (y))
#define E_SUBI(x, y, C, U) ((C)((U)(x) - (U)(y)))
#define E_MULF(x, y, C, U) ((x) * (y))
#define E_MULI(x, y, C, U) ((C)((U)(x) * (U)(y)))
#define E_DIVF(x, y, C, U) ((x) / (y))
#define E_DIVS(x, y, C, U) ((y) == 0 ? (C)0 : (y) == -1 ? (C)(0 - (U)(x)) : (C)((x) / (y)))
#define E_DIVU(x, y, C, U) ((y) == 0 ? (C)0 : (C)((x) / (y)))
/* Max/Min propagate NaN like numpy's maximum/minimum. */
#define E_MAXF(x, y, C, U) ((x) > (y) || (x) != (x) ? (x) : (y))
#define E_MINF(x, y, C, U) ((x) < (y) || (x) != (x) ? (x) : (y))
#define E_MAXI(x, y, C, U) ((x) > (y) ? (x) : (y))
#define E_MINI(x, y, C, U) ((x) < (y) ? (x) : (y))
#define E_PMODF(x, y, C, U) _Generic((x), float: ew_pymodf, default: ew_pymod)((x), (y))
#define E_PMODS(x, y, C, U) ((C)ew_smod((x), (y), 1))
#define E_FMODF(x, y, C, U) _Generic((x), float: fmodf, default: fmod)((x), (y))
#define E_FMODS(x, y, C, U) ((C)ew_smod((x), (y), 0))
#define E_MODU(x, y, C, U) ((y) == 0 ? (C)0 : (C)((x) % (y)))
#define E_POWF(x, y, C, U) _Generic((x), float: powf, default: pow)((x), (y))
#define E_POWI(x, y, C, U) ((C)ew_ipow((x), (y)))
#define E_PRELUF(x, y, C, U) ((x) < 0 ? (x) * (y) : (x))
#define E_PRELUS(x, y, C, U) ((x) < 0 ? (C)((U)(x) * (U)(y)) : (x))
#define E_FIRST(x, y, C, U) ((void)(y), (x))
#define E_EQ(x, y, C, U) ((x) == (y))
#define E_LT(x, y, C, U) ((x) < (y))
#define E_GT(x, y, C, U) ((x) > (y))
#define E_LE(x, y, C, U) ((x) <= (y))
#define E_GE(x, y, C, U) ((x) >= (y))
#define E_AND(x, y, C, U) (((x) != 0) & ((y) != 0))
#define E_OR(x, y, C, U) (((x) != 0) | ((y) != 0))
#define E_XOR(x, y, C, U) (((x) != 0) ^ ((y) != 0))

BIN_OP(add, E_ADDF, E_ADDI, E_ADDI)
BIN_OP(sub, E_SUBF, E_SUBI, E_SUBI)
BIN_OP(mul, E_MULF, E_MULI, E_MULI)
BIN_OP(div, E_DIVF, E_DIVS, E_DIVU)
BIN_OP(max, E_MAXF, E_MAXI, E_MAXI)
BIN_OP(min, E_MINF, E_MINI, E_MINI)
BIN_OP(pmod, E_PMODF, E_PMODS, E_MODU)
BIN_OP(fmod, E_FMODF, E_FMODS, E_MODU)
BIN_OP(prelu, E_PRELUF, E_PRELUS, E_FIRST)
CMP_OP(eq, E_EQ)
CMP_OP(lt, E_LT)
CMP_OP(gt, E_GT)
CMP_OP(le, E_LE)
CMP_OP(ge, E_GE)
LOGIC_OP(and, E_AND)
LOGIC_OP(or, E_OR)
LOGIC_OP(xor, E_XOR)

/* BitShift (unsigned types only): shifting by the width or more gives 0
 * (C leaves it undefined). U is at least as wide as int, so x << y
 * cannot overflow before the conversion back to C truncates. */
#define E_SHL(x, y, C, U) ((y) >= sizeof(C) * 8 ? (C)0 : (C)((U)(x) << (y)))
#define E_SHR(x, y, C, U) ((y) >= sizeof(C) * 8 ? (C)0 : (C)((x) >> (y)))
VP_EW_UINT(DEF_BIN, shl, E_SHL)
VP_EW_UINT(DEF_BIN, shr, E_SHR)
static const ew_bin_fn shl_tab[VP_EW_NDT] = {VP_EW_UINT(ENT, shl, E_SHL)};
static const ew_bin_fn shr_tab[VP_EW_NDT] = {VP_EW_UINT(ENT, shr, E_SHR)};

/* Pow with base and exponent of one type (the common case). */
#define POW_I32(M, a, b) M(a, b, i32, VP_DT_INT32, int32_t, int32_t, uint32_t, VP_EW_LD, VP_EW_ST)
#define POW_I64(M, a, b) M(a, b, i64, VP_DT_INT64, int64_t, int64_t, uint64_t, VP_EW_LD, VP_EW_ST)
VP_EW_FLT(DEF_BIN, pow, E_POWF)
POW_I32(DEF_BIN, pow, E_POWI)
POW_I64(DEF_BIN, pow, E_POWI)
static const ew_bin_fn pow_tab[VP_EW_NDT] = {
    VP_EW_FLT(ENT, pow, E_POWF) POW_I32(ENT, pow, E_POWI) POW_I64(ENT, pow, E_POWI)};

/* Applying a row function ---------------------------------------------- */

typedef struct bin_ctx {
    ew_bin_fn fn;
    char *o;
    const char *a, *b;
    size_t so, sa, sb;  /* element sizes */
} bin_ctx;

static void bin_seg(void *ctx, int64_t oo, const int64_t *io, const int64_t *step, int64_t n)
{
    const bin_ctx *k = ctx;
    k->fn(k->o + oo * (int64_t)k->so, k->a + io[0] * (int64_t)k->sa, step[0],
          k->b + io[1] * (int64_t)k->sb, step[1], n);
}

/* o = fn(a, b), a and b broadcast to o's shape. o may be a (same shape). */
static void bin_apply(ew_bin_fn fn, const vp_tensor *a, const vp_tensor *b, vp_tensor *o)
{
    const vp_shape *sh[2] = {&a->shape, &b->shape};
    ew_bcast bc;
    bcast_init(&bc, &o->shape, sh, 2);
    bin_ctx k = {fn, o->data, a->data, b->data, vp_dtype_size(o->dtype),
                 vp_dtype_size(a->dtype), vp_dtype_size(b->dtype)};
    bcast_run(&bc, bin_seg, &k);
}

static ew_bin_fn tab_get(vp_op_ctx *c, const ew_bin_fn *tab, vp_dtype dt)
{
    ew_bin_fn fn = dt > 0 && dt < VP_EW_NDT ? tab[dt] : NULL;
    if (!fn)
        vp_op_fail(c, VP_ERR_UNSUPPORTED, "dtype %s is not implemented for %s", vp_dtype_name(dt),
                   c->node->op_type);
    return fn;
}

static int run_bin(vp_op_ctx *c, const ew_bin_fn *tab)
{
    ew_bin_fn fn = tab_get(c, tab, c->in[0]->dtype);
    if (!fn)
        return VP_ERR_UNSUPPORTED;
    bin_apply(fn, c->in[0], c->in[1], c->out[0]);
    return VP_OK;
}

static int run_Add(vp_op_ctx *c) { return run_bin(c, add_tab); }
static int run_Sub(vp_op_ctx *c) { return run_bin(c, sub_tab); }
static int run_Mul(vp_op_ctx *c) { return run_bin(c, mul_tab); }
static int run_Div(vp_op_ctx *c) { return run_bin(c, div_tab); }
static int run_PRelu(vp_op_ctx *c) { return run_bin(c, prelu_tab); }
static int run_Equal(vp_op_ctx *c) { return run_bin(c, eq_tab); }
static int run_Less(vp_op_ctx *c) { return run_bin(c, lt_tab); }
static int run_Greater(vp_op_ctx *c) { return run_bin(c, gt_tab); }
static int run_LessOrEqual(vp_op_ctx *c) { return run_bin(c, le_tab); }
static int run_GreaterOrEqual(vp_op_ctx *c) { return run_bin(c, ge_tab); }
static int run_And(vp_op_ctx *c) { return run_bin(c, and_tab); }
static int run_Or(vp_op_ctx *c) { return run_bin(c, or_tab); }
static int run_Xor(vp_op_ctx *c) { return run_bin(c, xor_tab); }

static int run_BitShift(vp_op_ctx *c)
{
    const char *dir = vp_attr_s(c->node, "direction", "");
    return run_bin(c, strcmp(dir, "LEFT") == 0 ? shl_tab : shr_tab);
}

static int run_Mod(vp_op_ctx *c)
{
    return run_bin(c, vp_attr_i(c->node, "fmod", 0) ? fmod_tab : pmod_tab);
}

/* Variadic: o = in0 op in1, then o = o op in_k. Mean divides by the count
 * at the end, as (x1 + ... + xn) / n. */
static int run_variadic(vp_op_ctx *c, const ew_bin_fn *tab, int mean)
{
    vp_tensor *o = c->out[0];
    ew_bin_fn fn = tab_get(c, tab, o->dtype);
    if (!fn)
        return VP_ERR_UNSUPPORTED;
    if (c->n_in == 1) {
        if (o->data != c->in[0]->data)
            memcpy(o->data, c->in[0]->data, vp_tensor_bytes(o));
        return VP_OK;
    }
    bin_apply(fn, c->in[0], c->in[1], o);
    for (int k = 2; k < c->n_in; k++)
        bin_apply(fn, o, c->in[k], o);
    if (mean) {
        union {
            float f;
            double d;
            uint16_t h;
        } cnt;
        vp_tensor s = {o->dtype, {0, {0}}, &cnt};
        if (o->dtype == VP_DT_FLOAT)
            cnt.f = (float)c->n_in;
        else if (o->dtype == VP_DT_DOUBLE)
            cnt.d = c->n_in;
        else if (o->dtype == VP_DT_FLOAT16)
            cnt.h = vp_float_to_half((float)c->n_in);
        else
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "Mean of %s", vp_dtype_name(o->dtype));
        bin_apply(div_tab[o->dtype], o, &s, o);
    }
    return VP_OK;
}

static int run_Max(vp_op_ctx *c) { return run_variadic(c, max_tab, 0); }
static int run_Min(vp_op_ctx *c) { return run_variadic(c, min_tab, 0); }
static int run_Sum(vp_op_ctx *c) { return run_variadic(c, add_tab, 0); }
static int run_Mean(vp_op_ctx *c) { return run_variadic(c, add_tab, 1); }

/* Pow with mixed types ------------------------------------------------- */
/* Base and exponent of different dtypes (opset >= 12): rare, so elements go
 * through small blocks of int64 (integer base and exponent: exact) or double
 * (otherwise: pow in double, then rounded once to the output type). The
 * dtype switch is per block. */

#define POW_BLK 256

static void load_f64(const char *p, vp_dtype dt, int64_t st, int64_t n, double *d)
{
    switch (dt) {
#define L(tn, T, CV)                                                           \
    case tn:                                                                   \
        for (int64_t i = 0; i < n; i++)                                        \
            d[i] = (double)CV(((const T *)p)[i * st]);                         \
        break;
        L(VP_DT_FLOAT, float, VP_EW_LD)
        L(VP_DT_DOUBLE, double, VP_EW_LD)
        L(VP_DT_FLOAT16, uint16_t, VP_EW_LDH)
        L(VP_DT_INT8, int8_t, VP_EW_LD)
        L(VP_DT_INT16, int16_t, VP_EW_LD)
        L(VP_DT_INT32, int32_t, VP_EW_LD)
        L(VP_DT_INT64, int64_t, VP_EW_LD)
        L(VP_DT_UINT8, uint8_t, VP_EW_LD)
        L(VP_DT_UINT16, uint16_t, VP_EW_LD)
        L(VP_DT_UINT32, uint32_t, VP_EW_LD)
        L(VP_DT_UINT64, uint64_t, VP_EW_LD)
#undef L
    default:
        for (int64_t i = 0; i < n; i++)
            d[i] = 0;
    }
}

static void load_i64(const char *p, vp_dtype dt, int64_t st, int64_t n, int64_t *d)
{
    switch (dt) {
#define L(tn, T)                                                               \
    case tn:                                                                   \
        for (int64_t i = 0; i < n; i++)                                        \
            d[i] = (int64_t)((const T *)p)[i * st];                            \
        break;
        L(VP_DT_INT8, int8_t)
        L(VP_DT_INT16, int16_t)
        L(VP_DT_INT32, int32_t)
        L(VP_DT_INT64, int64_t)
        L(VP_DT_UINT8, uint8_t)
        L(VP_DT_UINT16, uint16_t)
        L(VP_DT_UINT32, uint32_t)
        L(VP_DT_UINT64, uint64_t)
#undef L
    default:
        for (int64_t i = 0; i < n; i++)
            d[i] = 0;
    }
}

/* double -> integer truncating toward zero, saturating, NaN -> 0 (what CUDA's
 * conversions do; C leaves out-of-range conversion undefined). */
static inline int64_t sat_i64(double v, double lo, double hi, int64_t ilo, int64_t ihi)
{
    if (v != v)
        return 0;
    if (v <= lo)
        return ilo;
    if (v >= hi)
        return ihi;
    return (int64_t)v;
}

typedef struct pow_ctx {
    const vp_tensor *a, *b;
    vp_tensor *o;
    int ints;  /* base and exponent are both integers */
} pow_ctx;

static void pow_seg(void *ctx, int64_t oo, const int64_t *io, const int64_t *step, int64_t n)
{
    const pow_ctx *k = ctx;
    const vp_dtype da = k->a->dtype, db = k->b->dtype, dout = k->o->dtype;
    const char *pa = (const char *)k->a->data + io[0] * (int64_t)vp_dtype_size(da);
    const char *pb = (const char *)k->b->data + io[1] * (int64_t)vp_dtype_size(db);
    for (int64_t i0 = 0; i0 < n; i0 += POW_BLK) {
        int64_t m = n - i0 < POW_BLK ? n - i0 : POW_BLK, o = oo + i0;
        const char *qa = pa + i0 * step[0] * (int64_t)vp_dtype_size(da);
        const char *qb = pb + i0 * step[1] * (int64_t)vp_dtype_size(db);
        if (k->ints) {
            int64_t x[POW_BLK], y[POW_BLK];
            load_i64(qa, da, step[0], m, x);
            load_i64(qb, db, step[1], m, y);
            for (int64_t i = 0; i < m; i++) {
                int64_t r = ew_ipow(x[i], y[i]);
                if (dout == VP_DT_INT32)
                    ((int32_t *)k->o->data)[o + i] = (int32_t)r;
                else
                    ((int64_t *)k->o->data)[o + i] = r;
            }
            continue;
        }
        double x[POW_BLK], y[POW_BLK];
        load_f64(qa, da, step[0], m, x);
        load_f64(qb, db, step[1], m, y);
        for (int64_t i = 0; i < m; i++)
            x[i] = pow(x[i], y[i]);
        switch (dout) {
        case VP_DT_FLOAT:
            for (int64_t i = 0; i < m; i++)
                ((float *)k->o->data)[o + i] = (float)x[i];
            break;
        case VP_DT_DOUBLE:
            memcpy((double *)k->o->data + o, x, (size_t)m * sizeof(double));
            break;
        case VP_DT_FLOAT16:
            /* pow of a float16 base is float16-precision anyway; the float
             * step cannot change the rounding in any meaningful way. */
            for (int64_t i = 0; i < m; i++)
                ((uint16_t *)k->o->data)[o + i] = vp_float_to_half((float)x[i]);
            break;
        case VP_DT_INT32:
            for (int64_t i = 0; i < m; i++)
                ((int32_t *)k->o->data)[o + i] =
                    (int32_t)sat_i64(x[i], INT32_MIN, INT32_MAX, INT32_MIN, INT32_MAX);
            break;
        default: /* int64 */
            for (int64_t i = 0; i < m; i++)
                ((int64_t *)k->o->data)[o + i] =
                    sat_i64(x[i], -0x1p63, 0x1p63, INT64_MIN, INT64_MAX);
            break;
        }
    }
}

static int is_int_dt(vp_dtype dt)
{
    return dt != VP_DT_FLOAT && dt != VP_DT_DOUBLE && dt != VP_DT_FLOAT16 && dt != VP_DT_BOOL;
}

static int run_Pow(vp_op_ctx *c)
{
    const vp_tensor *a = c->in[0], *b = c->in[1];
    vp_tensor *o = c->out[0];
    if (a->dtype == b->dtype)
        return run_bin(c, pow_tab);
    if (o->dtype != VP_DT_FLOAT && o->dtype != VP_DT_DOUBLE && o->dtype != VP_DT_FLOAT16 &&
        o->dtype != VP_DT_INT32 && o->dtype != VP_DT_INT64)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "Pow base of dtype %s", vp_dtype_name(o->dtype));
    const vp_shape *sh[2] = {&a->shape, &b->shape};
    ew_bcast bc;
    bcast_init(&bc, &o->shape, sh, 2);
    pow_ctx k = {a, b, o, is_int_dt(a->dtype) && is_int_dt(b->dtype)};
    bcast_run(&bc, pow_seg, &k);
    return VP_OK;
}

/* Where ----------------------------------------------------------------- */
/* Selection moves bytes, so the row function depends only on element size. */

typedef void (*ew_where_fn)(void *o, const uint8_t *cnd, int64_t sc, const void *x, int64_t sx,
                            const void *y, int64_t sy, int64_t n);

#define DEF_WHERE(bits)                                                        \
    static void where_##bits(void *o_, const uint8_t *cnd, int64_t sc, const void *x_, \
                             int64_t sx, const void *y_, int64_t sy, int64_t n) \
    {                                                                          \
        uint##bits##_t *o = o_;                                                \
        const uint##bits##_t *x = x_, *y = y_;                                 \
        if (sc && sx && sy) {                                                  \
            for (int64_t i = 0; i < n; i++)                                    \
                o[i] = cnd[i] ? x[i] : y[i];                                   \
        } else {                                                               \
            for (int64_t i = 0; i < n; i++)                                    \
                o[i] = cnd[i * sc] ? x[i * sx] : y[i * sy];                    \
        }                                                                      \
    }
DEF_WHERE(8)
DEF_WHERE(16)
DEF_WHERE(32)
DEF_WHERE(64)

typedef struct where_ctx {
    ew_where_fn fn;
    char *o;
    const uint8_t *cnd;
    const char *x, *y;
    int64_t es;  /* element size of x, y, o */
} where_ctx;

static void where_seg(void *ctx, int64_t oo, const int64_t *io, const int64_t *step, int64_t n)
{
    const where_ctx *k = ctx;
    k->fn(k->o + oo * k->es, k->cnd + io[0], step[0], k->x + io[1] * k->es, step[1],
          k->y + io[2] * k->es, step[2], n);
}

static int run_Where(vp_op_ctx *c)
{
    const vp_tensor *cnd = c->in[0], *x = c->in[1], *y = c->in[2];
    vp_tensor *o = c->out[0];
    size_t es = vp_dtype_size(o->dtype);
    ew_where_fn fn = es == 1 ? where_8 : es == 2 ? where_16 : es == 4 ? where_32 : es == 8 ? where_64 : NULL;
    if (!fn)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "Where on dtype %s", vp_dtype_name(o->dtype));
    const vp_shape *sh[3] = {&cnd->shape, &x->shape, &y->shape};
    ew_bcast bc;
    bcast_init(&bc, &o->shape, sh, 3);
    where_ctx k = {fn, o->data, cnd->data, x->data, y->data, (int64_t)es};
    bcast_run(&bc, where_seg, &k);
    return VP_OK;
}

/* Kernel table ----------------------------------------------------------- */

#define K(op) {#op, NULL, run_##op, NULL, 0},
#define KU(op) {#op, NULL, vp_ew_run_##op, NULL, 0},
const vp_kernel vp_cpu_elementwise[] = {
    K(Add) K(Sub) K(Mul) K(Div) K(Mod) K(Pow) K(PRelu)
    K(Max) K(Min) K(Sum) K(Mean)
    K(Equal) K(Less) K(Greater) K(LessOrEqual) K(GreaterOrEqual)
    K(And) K(Or) K(Xor) K(Where) K(BitShift)
    VP_EW_UNARY_OPS(KU)
    {0},
};
