/*
 * CPU kernels: elementwise family, one-input part: unary math, activations,
 * Not, IsNaN, IsInf, Shrink, Clip, Cast and CastLike.
 *
 * Every op is a flat loop over the input's elements (output shape = input
 * shape), cut into chunks that vp_ew_parallel spreads over threads when the
 * tensor is large. Per-dtype row functions are generated from the type lists
 * of elementwise.h and picked from a table once per call.
 *
 * Float math is done in the element's own precision (float for float32 and
 * float16, double for float64) with the C library's functions; _Generic
 * picks expf or exp from the compute type. Activation parameters are floats
 * (ONNX attributes), widened to the compute type.
 *
 * Cast: float -> integer truncates toward zero and saturates, NaN -> 0 (ONNX
 * leaves out-of-range undefined; saturation is what CUDA conversions do, so
 * the GPU backend can match). Integer -> integer wraps modulo 2^bits, X -> bool
 * is X != 0, float64 -> float16 is rounded once (not via float32).
 */
#include "engine/cpu/elementwise.h"

#include <math.h>
#include <string.h>

/* Activation parameters (attributes), read once per call. */
typedef struct ew_par {
    float alpha, beta, gamma;
} ew_par;

static const ew_par no_par;

typedef void (*ew_un_fn)(void *o, const void *x, int64_t n, const ew_par *p);

/* A second copy of a function built for AVX2, picked at load time (ifunc)
 * when the CPU has it: the build targets baseline x86-64 (SSE2), and
 * 8-wide vectors halve the time of compute-bound loops such as Sigmoid.
 * Results are bit-identical: ISO C mode (-std=c11) does not contract a*b+c
 * into FMA, and "avx2" does not enable FMA anyway. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define EW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define EW_CLONES
#endif

/* Fast float32 exp for Sigmoid, the hot activation of detection models
 * (SiLU = x * Sigmoid(x) after every convolution when not fused). glibc's
 * expf is a function call per element; this one is branch-free so the loop
 * vectorises. Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, Cephes'
 * degree-6 polynomial for e^r, 2^n built in the exponent bits. Measured
 * against exp() in double over float32 inputs: <= 1 ulp for exp, <= 2.5 ulp
 * for the sigmoid. Inputs are clamped to [-87.34, 88.38] (results stay
 * finite and normal; the sigmoid tails are 0 or 1 to within 1e-38); NaN
 * propagates. */

/* x, or c where m is all ones: a select on bit patterns, which GCC
 * vectorises even under -ftrapping-math (a float ?: that feeds arithmetic
 * it does not). */
static inline float ew_self(float x, float c, int32_t m)
{
    int32_t xb, cb;
    memcpy(&xb, &x, 4);
    memcpy(&cb, &c, 4);
    xb = (xb & ~m) | (cb & m);
    memcpy(&x, &xb, 4);
    return x;
}

static inline float ew_expf(float x)
{
    const float magic = 12582912.f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = ew_self(x, -87.33654f, -(int32_t)(x < -87.33654f));
    x = ew_self(x, 88.37626f, -(int32_t)(x > 88.37626f));
    const float t = x * 1.44269504088896341f + magic;
    const float n = t - magic;
    float r = x - n * 0.693359375f;  /* ln2 split in two: exact product */
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.f;
    uint32_t e;  /* unsigned: NaN bit patterns must wrap, not overflow */
    memcpy(&e, &t, 4);  /* low mantissa bits of t hold n + 0x4b400000 */
    e = (e - 0x4b400000u + 127u) << 23;
    float s;
    memcpy(&s, &e, 4);
    return p * s;
}

static inline float ew_sigmoidf(float x) { return 1.f / (1.f + ew_expf(-x)); }
static inline double ew_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Clamp to [0, 1] and LeakyRelu, with bit selects for float32 so that
 * HardSigmoid, HardSwish and LeakyRelu vectorise; NaN passes through. */
static inline float ew_clamp01f(float v)
{
    v = ew_self(v, 0.f, -(int32_t)(v < 0.f));
    return ew_self(v, 1.f, -(int32_t)(v > 1.f));
}
static inline double ew_clamp01(double v) { return v < 0 ? 0 : v > 1 ? 1 : v; }
static inline float ew_leakyf(float x, float a) { return ew_self(x, a * x, -(int32_t)(x < 0.f)); }
static inline double ew_leaky(double x, double a) { return x < 0 ? a * x : x; }
#define EW_CLAMP01(v) _Generic((v), float: ew_clamp01f, default: ew_clamp01)(v)


#define EW_UN_GEN(ATTR, name, E, T, C, U, LD, ST)                             \
    ATTR static void name(void *o_, const void *x_, int64_t n, const ew_par *p) \
    {                                                                          \
        T *o = o_;                                                             \
        const T *xs = x_;                                                      \
        (void)p;                                                               \
        for (int64_t i = 0; i < n; i++) {                                      \
            const C x = LD(xs[i]);                                             \
            o[i] = ST(E(x, C, U, p));                                          \
        }                                                                      \
    }
#define DEF_UN(op, E, tn, dt, T, C, U, LD, ST) EW_UN_GEN(, op##_##tn, E, T, C, U, LD, ST)
#define DEF_UN_HOT(op, E, tn, dt, T, C, U, LD, ST) EW_UN_GEN(EW_CLONES, op##_##tn, E, T, C, U, LD, ST)
#define ENT(op, E, tn, dt, T, C, U, LD, ST) [dt] = op##_##tn,

/* Float types only. */
#define UN_F(op, EF)                                                           \
    VP_EW_FLT(DEF_UN, op, EF)                                                  \
    static const ew_un_fn op##_tab[VP_EW_NDT] = {VP_EW_FLT(ENT, op, EF)};
/* Float types, compute-bound and hot: also compiled for AVX2 (see EW_CLONES). */
#define UN_F_HOT(op, EF)                                                       \
    VP_EW_FLT(DEF_UN_HOT, op, EF)                                              \
    static const ew_un_fn op##_tab[VP_EW_NDT] = {VP_EW_FLT(ENT, op, EF)};
/* Float and signed integer types. */
#define UN_FS(op, EF, ES)                                                      \
    VP_EW_FLT(DEF_UN, op, EF) VP_EW_SINT(DEF_UN, op, ES)                       \
    static const ew_un_fn op##_tab[VP_EW_NDT] = {VP_EW_FLT(ENT, op, EF)        \
                                                 VP_EW_SINT(ENT, op, ES)};
/* All numeric types. */
#define UN_ALL(op, EF, ES, EU)                                                 \
    VP_EW_FLT(DEF_UN, op, EF) VP_EW_SINT(DEF_UN, op, ES) VP_EW_UINT(DEF_UN, op, EU) \
    static const ew_un_fn op##_tab[VP_EW_NDT] = {                              \
        VP_EW_FLT(ENT, op, EF) VP_EW_SINT(ENT, op, ES) VP_EW_UINT(ENT, op, EU)};

/* fn(x) in x's precision: expf for float, exp for double. */
#define MF(fn, x) _Generic((x), float: fn##f, default: fn)(x)

/* Expressions E(x, C, U, p): x of compute type C. */
#define E_ABSF(x, C, U, p) MF(fabs, x)
#define E_ABSS(x, C, U, p) ((x) < 0 ? (C)(0 - (U)(x)) : (x))
#define E_ID(x, C, U, p) (x)
#define E_NEGF(x, C, U, p) (-(x))
#define E_NEGS(x, C, U, p) ((C)(0 - (U)(x)))
/* Sign keeps NaN (numpy). */
#define E_SIGNF(x, C, U, p) ((x) > 0 ? (C)1 : (x) < 0 ? (C)-1 : (x))
#define E_SIGNS(x, C, U, p) ((C)((x) > 0 ? 1 : (x) < 0 ? -1 : 0))
#define E_SIGNU(x, C, U, p) ((C)((x) > 0 ? 1 : 0))
#define E_SQRT(x, C, U, p) MF(sqrt, x)
#define E_EXP(x, C, U, p) MF(exp, x)
#define E_LOG(x, C, U, p) MF(log, x)
#define E_TANH(x, C, U, p) MF(tanh, x)
#define E_ERF(x, C, U, p) MF(erf, x)
#define E_FLOOR(x, C, U, p) MF(floor, x)
#define E_CEIL(x, C, U, p) MF(ceil, x)
/* rint rounds half to even in the default rounding mode, as ONNX Round. */
#define E_ROUND(x, C, U, p) MF(rint, x)
#define E_RECIP(x, C, U, p) ((C)1 / (x))
#define E_SIN(x, C, U, p) MF(sin, x)
#define E_COS(x, C, U, p) MF(cos, x)
/* x < 0 ? 0 : x keeps NaN, as max(x, 0) in numpy. */
#define E_RELU(x, C, U, p) ((x) < 0 ? (C)0 : (x))
#define E_SIGMOID(x, C, U, p) _Generic((x), float: ew_sigmoidf, default: ew_sigmoid)(x)
#define E_HARDSIGMOID(x, C, U, p) EW_CLAMP01((C)p->alpha * (x) + (C)p->beta)
#define E_HARDSWISH(x, C, U, p) ((x) * EW_CLAMP01((x) * (C)(1.0 / 6.0) + (C)0.5))
#define E_LEAKY(x, C, U, p) _Generic((x), float: ew_leakyf, default: ew_leaky)((x), (C)p->alpha)
#define E_ELU(x, C, U, p) ((x) < 0 ? (C)p->alpha * MF(expm1, x) : (x))
#define E_SELU(x, C, U, p) ((x) > 0 ? (C)p->gamma * (x) : (C)p->gamma * ((C)p->alpha * MF(expm1, x)))
#define E_CELU(x, C, U, p) ((x) > 0 ? (x) : (C)p->alpha * MF(expm1, (x) / (C)p->alpha))
/* log(1 + e^x) without overflow for large x. */
#define E_SOFTPLUS(x, C, U, p) ((x) > 0 ? (x) + MF(log1p, MF(exp, -(x))) : MF(log1p, MF(exp, x)))
#define E_SOFTSIGN(x, C, U, p) ((x) / ((C)1 + MF(fabs, x)))
#define E_THRELU(x, C, U, p) ((x) > (C)p->alpha ? (x) : (C)0)
#define E_GELU(x, C, U, p) ((C)0.5 * (x) * ((C)1 + MF(erf, (x) * (C)0.70710678118654752440)))
#define E_GELUT(x, C, U, p)                                                    \
    ((C)0.5 * (x) *                                                            \
     ((C)1 + MF(tanh, (C)0.79788456080286535588 * ((x) + (C)0.044715 * (x) * (x) * (x)))))
#define E_MISH(x, C, U, p) ((x) * MF(tanh, E_SOFTPLUS(x, C, U, p)))
#define E_NOT(x, C, U, p) ((C)((x) == 0))
#define E_TAN(x, C, U, p) MF(tan, x)
#define E_ASIN(x, C, U, p) MF(asin, x)
#define E_ACOS(x, C, U, p) MF(acos, x)
#define E_ATAN(x, C, U, p) MF(atan, x)
#define E_SINH(x, C, U, p) MF(sinh, x)
#define E_COSH(x, C, U, p) MF(cosh, x)
#define E_ASINH(x, C, U, p) MF(asinh, x)
#define E_ACOSH(x, C, U, p) MF(acosh, x)
#define E_ATANH(x, C, U, p) MF(atanh, x)
/* Shrink: alpha = lambd, beta = bias. Integers compare and add in double
 * (lambd and bias are float attributes), then convert back. */
#define E_SHRINKF(x, C, U, p)                                                  \
    ((x) < -(C)p->alpha ? (x) + (C)p->beta : (x) > (C)p->alpha ? (x) - (C)p->beta : (C)0)
#define E_SHRINKI(x, C, U, p)                                                  \
    ((double)(x) < -(double)p->alpha   ? (C)((double)(x) + p->beta)            \
     : (double)(x) > (double)p->alpha ? (C)((double)(x) - p->beta)            \
                                       : (C)0)

UN_ALL(abs, E_ABSF, E_ABSS, E_ID)
UN_FS(neg, E_NEGF, E_NEGS)
UN_ALL(sign, E_SIGNF, E_SIGNS, E_SIGNU)
UN_F(sqrt, E_SQRT)
UN_F(exp, E_EXP)
UN_F(log, E_LOG)
UN_F(tanh, E_TANH)
UN_F(erf, E_ERF)
UN_F(floor, E_FLOOR)
UN_F(ceil, E_CEIL)
UN_F(round, E_ROUND)
UN_F(recip, E_RECIP)
UN_F(sin, E_SIN)
UN_F(cos, E_COS)
UN_FS(relu, E_RELU, E_RELU)
UN_F_HOT(sigmoid, E_SIGMOID)
UN_F(hardsigmoid, E_HARDSIGMOID)
UN_F(hardswish, E_HARDSWISH)
UN_F(leaky, E_LEAKY)
UN_F(elu, E_ELU)
UN_F(selu, E_SELU)
UN_F(celu, E_CELU)
UN_F(softplus, E_SOFTPLUS)
UN_F(softsign, E_SOFTSIGN)
UN_F(threlu, E_THRELU)
UN_F(gelu, E_GELU)
UN_F(gelut, E_GELUT)
UN_F(mish, E_MISH)
VP_EW_BOOL(DEF_UN, not, E_NOT)
static const ew_un_fn not_tab[VP_EW_NDT] = {VP_EW_BOOL(ENT, not, E_NOT)};
UN_F(tan, E_TAN)
UN_F(asin, E_ASIN)
UN_F(acos, E_ACOS)
UN_F(atan, E_ATAN)
UN_F(sinh, E_SINH)
UN_F(cosh, E_COSH)
UN_F(asinh, E_ASINH)
UN_F(acosh, E_ACOSH)
UN_F(atanh, E_ATANH)
UN_ALL(shrink, E_SHRINKF, E_SHRINKI, E_SHRINKI)

/* IsNaN / IsInf: float in, bool out. For IsInf, alpha/beta are the
 * detect_negative/detect_positive flags. */
#define EW_UNB_GEN(op, E, tn, dt, T, C, U, LD, ST)                            \
    static void op##_##tn(void *o_, const void *x_, int64_t n, const ew_par *p) \
    {                                                                          \
        uint8_t *o = o_;                                                       \
        const T *xs = x_;                                                      \
        (void)p;                                                               \
        for (int64_t i = 0; i < n; i++) {                                      \
            const C x = LD(xs[i]);                                             \
            o[i] = (uint8_t)(E(x, C, U, p));                                   \
        }                                                                      \
    }
#define E_ISNAN(x, C, U, p) ((x) != (x))
#define E_ISINF(x, C, U, p) ((p->alpha != 0.f && (x) == -(C)INFINITY) || (p->beta != 0.f && (x) == (C)INFINITY))
VP_EW_FLT(EW_UNB_GEN, isnan, E_ISNAN)
VP_EW_FLT(EW_UNB_GEN, isinf, E_ISINF)
static const ew_un_fn isnan_tab[VP_EW_NDT] = {VP_EW_FLT(ENT, isnan, E_ISNAN)};
static const ew_un_fn isinf_tab[VP_EW_NDT] = {VP_EW_FLT(ENT, isinf, E_ISINF)};

void vp_ew_sigmoid_f32(float *o, const float *x, int64_t n) { sigmoid_f32(o, x, n, &no_par); }

EW_CLONES void vp_ew_silu_f32(float *o, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        o[i] = x[i] * ew_sigmoidf(x[i]);
}

typedef struct un_ctx {
    ew_un_fn fn;
    char *o;
    const char *x;
    int64_t es;
    ew_par p;
} un_ctx;

static void un_chunk(void *ctx, int64_t b, int64_t n)
{
    const un_ctx *k = ctx;
    k->fn(k->o + b * k->es, k->x + b * k->es, n, &k->p);
}

static int run_un(vp_op_ctx *c, const ew_un_fn *tab, ew_par p)
{
    const vp_tensor *x = c->in[0];
    vp_dtype dt = x->dtype;
    ew_un_fn fn = dt > 0 && dt < VP_EW_NDT ? tab[dt] : NULL;
    if (!fn)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "dtype %s is not implemented for %s",
                          vp_dtype_name(dt), c->node->op_type);
    un_ctx k = {fn, c->out[0]->data, x->data, (int64_t)vp_dtype_size(dt), p};
    vp_ew_parallel(vp_tensor_numel(x), un_chunk, &k);
    return VP_OK;
}

static ew_par par_alpha(vp_op_ctx *c, float def)
{
    ew_par p = {vp_attr_f(c->node, "alpha", def), 0.f, 0.f};
    return p;
}

int vp_ew_run_Abs(vp_op_ctx *c) { return run_un(c, abs_tab, no_par); }
int vp_ew_run_Neg(vp_op_ctx *c) { return run_un(c, neg_tab, no_par); }
int vp_ew_run_Sign(vp_op_ctx *c) { return run_un(c, sign_tab, no_par); }
int vp_ew_run_Sqrt(vp_op_ctx *c) { return run_un(c, sqrt_tab, no_par); }
int vp_ew_run_Exp(vp_op_ctx *c) { return run_un(c, exp_tab, no_par); }
int vp_ew_run_Log(vp_op_ctx *c) { return run_un(c, log_tab, no_par); }
int vp_ew_run_Tanh(vp_op_ctx *c) { return run_un(c, tanh_tab, no_par); }
int vp_ew_run_Erf(vp_op_ctx *c) { return run_un(c, erf_tab, no_par); }
int vp_ew_run_Floor(vp_op_ctx *c) { return run_un(c, floor_tab, no_par); }
int vp_ew_run_Ceil(vp_op_ctx *c) { return run_un(c, ceil_tab, no_par); }
int vp_ew_run_Round(vp_op_ctx *c) { return run_un(c, round_tab, no_par); }
int vp_ew_run_Reciprocal(vp_op_ctx *c) { return run_un(c, recip_tab, no_par); }
int vp_ew_run_Sin(vp_op_ctx *c) { return run_un(c, sin_tab, no_par); }
int vp_ew_run_Cos(vp_op_ctx *c) { return run_un(c, cos_tab, no_par); }
int vp_ew_run_Not(vp_op_ctx *c) { return run_un(c, not_tab, no_par); }
int vp_ew_run_Relu(vp_op_ctx *c) { return run_un(c, relu_tab, no_par); }
int vp_ew_run_Sigmoid(vp_op_ctx *c) { return run_un(c, sigmoid_tab, no_par); }
int vp_ew_run_HardSwish(vp_op_ctx *c) { return run_un(c, hardswish_tab, no_par); }
int vp_ew_run_Softplus(vp_op_ctx *c) { return run_un(c, softplus_tab, no_par); }
int vp_ew_run_Softsign(vp_op_ctx *c) { return run_un(c, softsign_tab, no_par); }
int vp_ew_run_Mish(vp_op_ctx *c) { return run_un(c, mish_tab, no_par); }
int vp_ew_run_LeakyRelu(vp_op_ctx *c) { return run_un(c, leaky_tab, par_alpha(c, 0.01f)); }
int vp_ew_run_Elu(vp_op_ctx *c) { return run_un(c, elu_tab, par_alpha(c, 1.f)); }
int vp_ew_run_Celu(vp_op_ctx *c) { return run_un(c, celu_tab, par_alpha(c, 1.f)); }
int vp_ew_run_ThresholdedRelu(vp_op_ctx *c) { return run_un(c, threlu_tab, par_alpha(c, 1.f)); }

int vp_ew_run_Tan(vp_op_ctx *c) { return run_un(c, tan_tab, no_par); }
int vp_ew_run_Asin(vp_op_ctx *c) { return run_un(c, asin_tab, no_par); }
int vp_ew_run_Acos(vp_op_ctx *c) { return run_un(c, acos_tab, no_par); }
int vp_ew_run_Atan(vp_op_ctx *c) { return run_un(c, atan_tab, no_par); }
int vp_ew_run_Sinh(vp_op_ctx *c) { return run_un(c, sinh_tab, no_par); }
int vp_ew_run_Cosh(vp_op_ctx *c) { return run_un(c, cosh_tab, no_par); }
int vp_ew_run_Asinh(vp_op_ctx *c) { return run_un(c, asinh_tab, no_par); }
int vp_ew_run_Acosh(vp_op_ctx *c) { return run_un(c, acosh_tab, no_par); }
int vp_ew_run_Atanh(vp_op_ctx *c) { return run_un(c, atanh_tab, no_par); }
int vp_ew_run_IsNaN(vp_op_ctx *c) { return run_un(c, isnan_tab, no_par); }

int vp_ew_run_IsInf(vp_op_ctx *c)
{
    ew_par p = {(float)vp_attr_i(c->node, "detect_negative", 1),
                (float)vp_attr_i(c->node, "detect_positive", 1), 0.f};
    return run_un(c, isinf_tab, p);
}

int vp_ew_run_Shrink(vp_op_ctx *c)
{
    ew_par p = {vp_attr_f(c->node, "lambd", 0.5f), vp_attr_f(c->node, "bias", 0.f), 0.f};
    return run_un(c, shrink_tab, p);
}

int vp_ew_run_HardSigmoid(vp_op_ctx *c)
{
    ew_par p = {vp_attr_f(c->node, "alpha", 0.2f), vp_attr_f(c->node, "beta", 0.5f), 0.f};
    return run_un(c, hardsigmoid_tab, p);
}

int vp_ew_run_Selu(vp_op_ctx *c)
{
    /* Defaults are the float32 values ONNX specifies. */
    ew_par p = {vp_attr_f(c->node, "alpha", 1.67326319217681884765625f), 0.f,
                vp_attr_f(c->node, "gamma", 1.05070102214813232421875f)};
    return run_un(c, selu_tab, p);
}

int vp_ew_run_Gelu(vp_op_ctx *c)
{
    const char *ap = vp_attr_s(c->node, "approximate", "none");
    return run_un(c, strcmp(ap, "tanh") == 0 ? gelut_tab : gelu_tab, no_par);
}

/* Clip ------------------------------------------------------------------ */
/* Bounds are given as pointers to one element of the input's type, NULL when
 * absent. min > max gives max everywhere (ONNX). Written as comparisons, not
 * fmin/fmax, so NaN inputs stay NaN. */

typedef void (*ew_clip_fn)(void *o, const void *x, int64_t n, const void *lo, const void *hi);

#define DEF_CLIP(op, E, tn, dt, T, C, U, LD, ST)                               \
    static void clip_##tn(void *o_, const void *x_, int64_t n, const void *lo_, \
                          const void *hi_)                                     \
    {                                                                          \
        T *o = o_;                                                             \
        const T *x = x_;                                                       \
        const C lo = lo_ ? LD(*(const T *)lo_) : (C)0;                         \
        const C hi = hi_ ? LD(*(const T *)hi_) : (C)0;                         \
        if (lo_ && hi_) {                                                      \
            for (int64_t i = 0; i < n; i++) {                                  \
                C v = LD(x[i]);                                                \
                v = v < lo ? lo : v;                                           \
                o[i] = ST(v > hi ? hi : v);                                    \
            }                                                                  \
        } else if (lo_) {                                                      \
            for (int64_t i = 0; i < n; i++) {                                  \
                const C v = LD(x[i]);                                          \
                o[i] = ST(v < lo ? lo : v);                                    \
            }                                                                  \
        } else if (hi_) {                                                      \
            for (int64_t i = 0; i < n; i++) {                                  \
                const C v = LD(x[i]);                                          \
                o[i] = ST(v > hi ? hi : v);                                    \
            }                                                                  \
        } else if (o != x) {                                                   \
            memcpy(o, x, (size_t)n * sizeof(T));                               \
        }                                                                      \
    }
VP_EW_FLT(DEF_CLIP, 0, 0) VP_EW_SINT(DEF_CLIP, 0, 0) VP_EW_UINT(DEF_CLIP, 0, 0)
#define CLIP_ENT(op, E, tn, dt, T, C, U, LD, ST) [dt] = clip_##tn,
static const ew_clip_fn clip_tab[VP_EW_NDT] = {
    VP_EW_FLT(CLIP_ENT, 0, 0) VP_EW_SINT(CLIP_ENT, 0, 0) VP_EW_UINT(CLIP_ENT, 0, 0)};

typedef struct clip_ctx {
    ew_clip_fn fn;
    char *o;
    const char *x;
    int64_t es;
    const void *lo, *hi;
} clip_ctx;

static void clip_chunk(void *ctx, int64_t b, int64_t n)
{
    const clip_ctx *k = ctx;
    k->fn(k->o + b * k->es, k->x + b * k->es, n, k->lo, k->hi);
}

int vp_ew_run_Clip(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_dtype dt = x->dtype;
    ew_clip_fn fn = dt > 0 && dt < VP_EW_NDT ? clip_tab[dt] : NULL;
    /* Opset < 11: bounds are float attributes, converted to x's type. */
    union {
        double d;
        float f;
        uint16_t h;
    } lo_buf, hi_buf;
    const void *lo = NULL, *hi = NULL;
    if (!fn)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "Clip on dtype %s", vp_dtype_name(dt));
    if (c->opset < 11) {
        const vp_attr *amin = vp_attr_find(c->node, "min"), *amax = vp_attr_find(c->node, "max");
        vp_tensor t = {dt, {0, {0}}, NULL};
        if (amin) {
            t.data = &lo_buf;
            vp_tensor_set_f64(&t, 0, amin->f);
            lo = &lo_buf;
        }
        if (amax) {
            t.data = &hi_buf;
            vp_tensor_set_f64(&t, 0, amax->f);
            hi = &hi_buf;
        }
    } else {
        if (c->n_in > 1 && c->in[1])
            lo = c->in[1]->data;
        if (c->n_in > 2 && c->in[2])
            hi = c->in[2]->data;
    }
    clip_ctx k = {fn, c->out[0]->data, x->data, (int64_t)vp_dtype_size(dt), lo, hi};
    vp_ew_parallel(vp_tensor_numel(x), clip_chunk, &k);
    return VP_OK;
}

/* Cast ------------------------------------------------------------------ */
/* One function per (source, destination) pair. A source element is loaded
 * as one of four kinds: s (float, for float32/float16), f (double, float64),
 * i (int64, signed ints), u (uint64, unsigned ints and bool); each
 * destination has a converter per kind. */

/* float64 -> float16 rounded once: round to float32 toward zero and set the
 * last bit if inexact ("round to odd"); float32 keeps 13 more bits than
 * float16, so the final rounding to float16 is then correct. */
static uint16_t ew_d2h(double d)
{
    float f = (float)d;
    if ((double)f != d && d == d) {
        if (fabs((double)f) > fabs(d))
            f = nextafterf(f, 0.f);
        uint32_t bits;
        memcpy(&bits, &f, 4);
        bits |= 1;
        memcpy(&f, &bits, 4);
    }
    return vp_float_to_half(f);
}

#define CV_FLT(tag, T)                                                         \
    static inline T cv_##tag##_s(float v) { return (T)v; }                     \
    static inline T cv_##tag##_f(double v) { return (T)v; }                    \
    static inline T cv_##tag##_i(int64_t v) { return (T)v; }                   \
    static inline T cv_##tag##_u(uint64_t v) { return (T)v; }
CV_FLT(f32, float)
CV_FLT(f64, double)

static inline uint16_t cv_f16_s(float v) { return vp_float_to_half(v); }
static inline uint16_t cv_f16_f(double v) { return ew_d2h(v); }
/* Integers of float16 magnitude are exact in float32. */
static inline uint16_t cv_f16_i(int64_t v) { return vp_float_to_half((float)v); }
static inline uint16_t cv_f16_u(uint64_t v) { return vp_float_to_half((float)v); }

/* (double)MAX may round up to 2^bits (64-bit types): the >= test is still
 * the exact "does not fit" test then. */
#define CV_INT(tag, T, MIN, MAX)                                               \
    static inline T cv_##tag##_f(double v)                                     \
    {                                                                          \
        return v != v ? (T)0 : v <= (double)(MIN) ? (T)(MIN) : v >= (double)(MAX) ? (T)(MAX) : (T)v; \
    }                                                                          \
    static inline T cv_##tag##_s(float v) { return cv_##tag##_f(v); }          \
    static inline T cv_##tag##_i(int64_t v) { return (T)v; }                   \
    static inline T cv_##tag##_u(uint64_t v) { return (T)v; }
CV_INT(i8, int8_t, INT8_MIN, INT8_MAX)
CV_INT(i16, int16_t, INT16_MIN, INT16_MAX)
CV_INT(i32, int32_t, INT32_MIN, INT32_MAX)
CV_INT(i64, int64_t, INT64_MIN, INT64_MAX)
CV_INT(u8, uint8_t, 0, UINT8_MAX)
CV_INT(u16, uint16_t, 0, UINT16_MAX)
CV_INT(u32, uint32_t, 0, UINT32_MAX)
CV_INT(u64, uint64_t, 0, UINT64_MAX)

static inline uint8_t cv_b8_s(float v) { return v != 0; }
static inline uint8_t cv_b8_f(double v) { return v != 0; }
static inline uint8_t cv_b8_i(int64_t v) { return v != 0; }
static inline uint8_t cv_b8_u(uint64_t v) { return v != 0; }

#define SL_S(x) ((float)(x))
#define SL_H(x) vp_half_to_float(x)
#define SL_F(x) ((double)(x))
#define SL_I(x) ((int64_t)(x))
#define SL_U(x) ((uint64_t)(x))
#define SL_B(x) ((uint64_t)((x) != 0))

/* Sources: M(tag, dtype, T, load, kind). */
#define CAST_SRC(M, X)                                                         \
    M(X, f32, VP_DT_FLOAT, float, SL_S, s)                                     \
    M(X, f64, VP_DT_DOUBLE, double, SL_F, f)                                   \
    M(X, f16, VP_DT_FLOAT16, uint16_t, SL_H, s)                                \
    M(X, i8, VP_DT_INT8, int8_t, SL_I, i)                                      \
    M(X, i16, VP_DT_INT16, int16_t, SL_I, i)                                   \
    M(X, i32, VP_DT_INT32, int32_t, SL_I, i)                                   \
    M(X, i64, VP_DT_INT64, int64_t, SL_I, i)                                   \
    M(X, u8, VP_DT_UINT8, uint8_t, SL_U, u)                                    \
    M(X, u16, VP_DT_UINT16, uint16_t, SL_U, u)                                 \
    M(X, u32, VP_DT_UINT32, uint32_t, SL_U, u)                                 \
    M(X, u64, VP_DT_UINT64, uint64_t, SL_U, u)                                 \
    M(X, b8, VP_DT_BOOL, uint8_t, SL_B, u)
/* Destinations for one source: M(source..., tag, dtype, T). */
#define CAST_DST(M, s, sdt, ST, SL, sk)                                        \
    M(s, sdt, ST, SL, sk, f32, VP_DT_FLOAT, float)                             \
    M(s, sdt, ST, SL, sk, f64, VP_DT_DOUBLE, double)                           \
    M(s, sdt, ST, SL, sk, f16, VP_DT_FLOAT16, uint16_t)                        \
    M(s, sdt, ST, SL, sk, i8, VP_DT_INT8, int8_t)                              \
    M(s, sdt, ST, SL, sk, i16, VP_DT_INT16, int16_t)                           \
    M(s, sdt, ST, SL, sk, i32, VP_DT_INT32, int32_t)                           \
    M(s, sdt, ST, SL, sk, i64, VP_DT_INT64, int64_t)                           \
    M(s, sdt, ST, SL, sk, u8, VP_DT_UINT8, uint8_t)                            \
    M(s, sdt, ST, SL, sk, u16, VP_DT_UINT16, uint16_t)                         \
    M(s, sdt, ST, SL, sk, u32, VP_DT_UINT32, uint32_t)                         \
    M(s, sdt, ST, SL, sk, u64, VP_DT_UINT64, uint64_t)                         \
    M(s, sdt, ST, SL, sk, b8, VP_DT_BOOL, uint8_t)

typedef void (*ew_cast_fn)(void *o, const void *x, int64_t n);

#define DEF_CAST_PAIR(s, sdt, ST, SL, sk, d, ddt, DT)                          \
    static void cast_##s##_##d(void *o_, const void *x_, int64_t n)            \
    {                                                                          \
        DT *o = o_;                                                            \
        const ST *x = x_;                                                      \
        for (int64_t i = 0; i < n; i++)                                        \
            o[i] = cv_##d##_##sk(SL(x[i]));                                    \
    }
#define CAST_ENT_PAIR(s, sdt, ST, SL, sk, d, ddt, DT) [sdt][ddt] = cast_##s##_##d,
#define CAST_FOR_SRC(M, s, sdt, ST, SL, sk) CAST_DST(M, s, sdt, ST, SL, sk)

CAST_SRC(CAST_FOR_SRC, DEF_CAST_PAIR)
static const ew_cast_fn cast_tab[VP_EW_NDT][VP_EW_NDT] = {CAST_SRC(CAST_FOR_SRC, CAST_ENT_PAIR)};

typedef struct cast_ctx {
    ew_cast_fn fn;
    char *o;
    const char *x;
    int64_t so, sx;
} cast_ctx;

static void cast_chunk(void *ctx, int64_t b, int64_t n)
{
    const cast_ctx *k = ctx;
    k->fn(k->o + b * k->so, k->x + b * k->sx, n);
}

/* Cast and CastLike: the destination type is the output's. */
static int run_cast(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_tensor *o = c->out[0];
    vp_dtype s = x->dtype, d = o->dtype;
    if (s == d) {
        if (o->data != x->data)
            memcpy(o->data, x->data, vp_tensor_bytes(x));
        return VP_OK;
    }
    ew_cast_fn fn = s > 0 && s < VP_EW_NDT && d > 0 && d < VP_EW_NDT ? cast_tab[s][d] : NULL;
    if (!fn)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "cast from %s to %s", vp_dtype_name(s),
                          vp_dtype_name(d));
    cast_ctx k = {fn, o->data, x->data, (int64_t)vp_dtype_size(d), (int64_t)vp_dtype_size(s)};
    vp_ew_parallel(vp_tensor_numel(x), cast_chunk, &k);
    return VP_OK;
}

int vp_ew_run_Cast(vp_op_ctx *c) { return run_cast(c); }
int vp_ew_run_CastLike(vp_op_ctx *c) { return run_cast(c); }
