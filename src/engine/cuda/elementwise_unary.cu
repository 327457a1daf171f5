/*
 * CUDA kernels: elementwise family, one-input part: unary math,
 * activations, Not, IsNaN, IsInf, Clip and Cast.
 *
 * Every op is a flat grid-stride loop over the elements (vp_cuew_flat):
 * output shape = input shape, element i from element i. The element
 * operations are functors instantiated per dtype from one switch per op
 * class.
 *
 * Numerics follow the CPU kernels (src/engine/cpu/elementwise_unary.c)
 * formula for formula, in float for float32: CUDA's expf/logf/tanhf/erff/
 * expm1f/log1pf are within 1-2 ulp of glibc's, and sqrtf and division are
 * correctly rounded (the build does not use --use_fast_math). Where the CPU
 * computes a*x+b as a product then a sum, __fmul_rn/__fadd_rn keep nvcc from
 * contracting it into one FMA, so those results round the same way.
 * NaN handling is the CPU's: Relu, HardSigmoid, HardSwish, Clip keep NaN.
 *
 * Cast: float -> integer truncates toward zero and saturates, NaN -> 0;
 * integer -> integer wraps; X -> bool is X != 0; float64 -> float16 rounds
 * once (__double2half), as the CPU kernel's round-to-odd path does.
 *
 * Float16 inputs are loaded as float and every op computes in float, the
 * result rounded once to half on store (half.cuh). Ops whose output has
 * the input's float type (float32 or float16), Clip, and Cast between
 * float32 and float16 take a packed path when both pointers are 16-byte
 * aligned (16 bytes per thread and access; the tail element by element).
 */
#include "engine/cuda/elementwise.h"
#include "engine/cuda/half.cuh"

#include <cuda_fp16.h>
#include <limits>
#include <math.h>
#include <stdint.h>
#include <type_traits>

template <class T> constexpr bool ew_is_flt = std::is_floating_point<T>::value;

/* Unsigned type for wrapping integer negation. */
template <class T> using ew_u = typename std::make_unsigned<T>::type;

/* Element operations ------------------------------------------------------ */
/* f(x, p) -> output element. Ops marked "any" are templates over float and
 * signed integers; the rest are float-only. */

/* Clamp to [0, 1] keeping NaN (the CPU's bit-select clamp). */
static __device__ float ew_clamp01(float v)
{
    v = v < 0.f ? 0.f : v;
    return v > 1.f ? 1.f : v;
}

static __device__ float ew_softplus(float x) { return x > 0.f ? x + log1pf(expf(-x)) : log1pf(expf(x)); }

struct op_abs { /* any */
    template <class T> static __device__ T f(T x, const vp_cuew_par &)
    {
        if constexpr (ew_is_flt<T>)
            return fabsf(x);
        else
            return x < 0 ? (T)((ew_u<T>)0 - (ew_u<T>)x) : x;
    }
};
struct op_neg { /* any */
    template <class T> static __device__ T f(T x, const vp_cuew_par &)
    {
        if constexpr (ew_is_flt<T>)
            return -x;
        else
            return (T)((ew_u<T>)0 - (ew_u<T>)x);
    }
};
struct op_sign { /* any; keeps NaN */
    template <class T> static __device__ T f(T x, const vp_cuew_par &)
    {
        if constexpr (ew_is_flt<T>)
            return x > 0 ? (T)1 : x < 0 ? (T)-1 : x;
        else
            return (T)(x > 0 ? 1 : x < 0 ? -1 : 0);
    }
};
struct op_relu { /* any; x < 0 ? 0 : x keeps NaN */
    template <class T> static __device__ T f(T x, const vp_cuew_par &) { return x < 0 ? (T)0 : x; }
};

#define EW_FOP(name, expr)                                                                                        \
    struct name {                                                                                                 \
        static __device__ float f(float x, const vp_cuew_par &p)                                                  \
        {                                                                                                         \
            (void)p;                                                                                              \
            return expr;                                                                                          \
        }                                                                                                         \
    };
EW_FOP(op_sqrt, sqrtf(x))
EW_FOP(op_exp, expf(x))
EW_FOP(op_log, logf(x))
EW_FOP(op_tanh, tanhf(x))
EW_FOP(op_erf, erff(x))
EW_FOP(op_floor, floorf(x))
EW_FOP(op_ceil, ceilf(x))
EW_FOP(op_round, rintf(x)) /* half to even, as ONNX Round */
EW_FOP(op_recip, 1.f / x)
EW_FOP(op_sin, sinf(x))
EW_FOP(op_cos, cosf(x))
EW_FOP(op_sigmoid, vp_cuew_sigmoid(x))
EW_FOP(op_hardsigmoid, ew_clamp01(__fadd_rn(__fmul_rn(p.alpha, x), p.beta)))
EW_FOP(op_hardswish, x * ew_clamp01(__fadd_rn(__fmul_rn(x, (float)(1.0 / 6.0)), 0.5f)))
EW_FOP(op_leakyrelu, x < 0.f ? p.alpha * x : x)
EW_FOP(op_elu, x < 0.f ? p.alpha * expm1f(x) : x)
EW_FOP(op_selu, x > 0.f ? p.gamma * x : p.gamma * (p.alpha * expm1f(x)))
EW_FOP(op_celu, x > 0.f ? x : p.alpha * expm1f(x / p.alpha))
EW_FOP(op_softplus, ew_softplus(x))
EW_FOP(op_softsign, x / (1.f + fabsf(x)))
EW_FOP(op_threlu, x > p.alpha ? x : 0.f)
EW_FOP(op_gelu, 0.5f * x * (1.f + erff(x * 0.70710678118654752440f)))
EW_FOP(op_gelu_tanh,
       0.5f * x *
           (1.f + tanhf(0.79788456080286535588f * __fadd_rn(x, __fmul_rn(__fmul_rn(__fmul_rn(0.044715f, x), x), x)))))
EW_FOP(op_mish, x * tanhf(ew_softplus(x)))
EW_FOP(op_divc, x / p.alpha)
#undef EW_FOP

/* bool -> bool */
struct op_not {
    static __device__ uint8_t f(uint8_t x, const vp_cuew_par &) { return x == 0; }
};
/* float -> bool */
struct op_isnan {
    static __device__ bool f(float x, const vp_cuew_par &) { return x != x; }
};
struct op_isinf {
    static __device__ bool f(float x, const vp_cuew_par &p)
    {
        return (p.alpha != 0.f && x == -INFINITY) || (p.beta != 0.f && x == INFINITY);
    }
};

template <class Op, class T, class O> struct ew_un_f {
    O *o;
    const T *x;
    vp_cuew_par p;
    __device__ void operator()(int64_t i) const { o[i] = vp_st<O>(Op::f(vp_ld(x[i]), p)); }
    /* elements [k * N, k * N + N), output of the input's type */
    __device__ void pack(uint32_t k) const
    {
        constexpr int N = vp_pack_n<T>;
        vp_ct<T> v[N];
        vp_ldv<T, N>(x + (size_t)k * N, v);
#pragma unroll
        for (int j = 0; j < N; j++)
            v[j] = Op::f(v[j], p);
        vp_stv<T, N>(o + (size_t)k * N, v);
    }
};

template <class T> constexpr bool ew_packable = std::is_same<T, float>::value || vp_is_half<T>;

/* f over n elements, packed when T (the type of o and x) allows it and
 * both pointers are 16-byte aligned. */
template <class T, class F> static int ew_un_launch(cudaStream_t s, int64_t n, const void *o, const void *x, const F &f)
{
    if constexpr (ew_packable<T>) {
        if (n <= INT32_MAX && vp_aligned(o, 16) && vp_aligned(x, 16))
            return vp_cuew_vec<vp_pack_n<T>>(s, n, f);
    }
    return vp_cuew_flat(s, n, f);
}

/* Dtypes per op class: the one place to extend. */
#define EW_UN_FLT_TYPES(X) X(VP_DT_FLOAT, float) X(VP_DT_FLOAT16, __half)
#define EW_UN_ANY_TYPES(X) X(VP_DT_FLOAT, float) X(VP_DT_FLOAT16, __half) X(VP_DT_INT32, int32_t) X(VP_DT_INT64, int64_t)
#define EW_CLIP_TYPES(X)                                                                                          \
    X(VP_DT_FLOAT, float) X(VP_DT_FLOAT16, __half) X(VP_DT_INT32, int32_t) X(VP_DT_INT64, int64_t) X(VP_DT_UINT8, uint8_t)

/* One dispatch function per op class; OUT is SAME (output of the input's
 * dtype) or BOOL. */
#define EW_UN_DISPATCH(name, TYPES, OUT)                                                                          \
    template <class Op>                                                                                           \
    static int name(cudaStream_t s, vp_dtype t, int64_t n, void *o, const void *x, const vp_cuew_par &p)          \
    {                                                                                                             \
        switch (t) {                                                                                              \
            TYPES(EW_UN_CASE_##OUT)                                                                               \
        default:                                                                                                  \
            return VP_ERR_UNSUPPORTED;                                                                            \
        }                                                                                                         \
    }
#define EW_UN_CASE_SAME(dt, T)                                                                                    \
    case dt:                                                                                                      \
        return ew_un_launch<T>(s, n, o, x, ew_un_f<Op, T, T>{(T *)o, (const T *)x, p});
#define EW_UN_CASE_BOOL(dt, T)                                                                                    \
    case dt:                                                                                                      \
        return vp_cuew_flat(s, n, ew_un_f<Op, T, uint8_t>{(uint8_t *)o, (const T *)x, p});
#define EW_UN_BOOL_TYPES(X) X(VP_DT_BOOL, uint8_t)
EW_UN_DISPATCH(ew_un_flt, EW_UN_FLT_TYPES, SAME)
EW_UN_DISPATCH(ew_un_any, EW_UN_ANY_TYPES, SAME)
EW_UN_DISPATCH(ew_un_bool, EW_UN_BOOL_TYPES, SAME)
EW_UN_DISPATCH(ew_un_flt2bool, EW_UN_FLT_TYPES, BOOL)

int vp_cuew_unary(cudaStream_t s, vp_cuew_unop op, vp_dtype t, int64_t n, void *o, const void *x,
                  const vp_cuew_par *par)
{
    const vp_cuew_par p = par ? *par : vp_cuew_par{0.f, 0.f, 0.f};
    if (!o)
        n = 0; /* support check only */
    switch (op) {
    case VP_CUEW_ABS: return ew_un_any<op_abs>(s, t, n, o, x, p);
    case VP_CUEW_NEG: return ew_un_any<op_neg>(s, t, n, o, x, p);
    case VP_CUEW_SIGN: return ew_un_any<op_sign>(s, t, n, o, x, p);
    case VP_CUEW_RELU: return ew_un_any<op_relu>(s, t, n, o, x, p);
    case VP_CUEW_SQRT: return ew_un_flt<op_sqrt>(s, t, n, o, x, p);
    case VP_CUEW_EXP: return ew_un_flt<op_exp>(s, t, n, o, x, p);
    case VP_CUEW_LOG: return ew_un_flt<op_log>(s, t, n, o, x, p);
    case VP_CUEW_TANH: return ew_un_flt<op_tanh>(s, t, n, o, x, p);
    case VP_CUEW_ERF: return ew_un_flt<op_erf>(s, t, n, o, x, p);
    case VP_CUEW_FLOOR: return ew_un_flt<op_floor>(s, t, n, o, x, p);
    case VP_CUEW_CEIL: return ew_un_flt<op_ceil>(s, t, n, o, x, p);
    case VP_CUEW_ROUND: return ew_un_flt<op_round>(s, t, n, o, x, p);
    case VP_CUEW_RECIP: return ew_un_flt<op_recip>(s, t, n, o, x, p);
    case VP_CUEW_SIN: return ew_un_flt<op_sin>(s, t, n, o, x, p);
    case VP_CUEW_COS: return ew_un_flt<op_cos>(s, t, n, o, x, p);
    case VP_CUEW_SIGMOID: return ew_un_flt<op_sigmoid>(s, t, n, o, x, p);
    case VP_CUEW_HARDSIGMOID: return ew_un_flt<op_hardsigmoid>(s, t, n, o, x, p);
    case VP_CUEW_HARDSWISH: return ew_un_flt<op_hardswish>(s, t, n, o, x, p);
    case VP_CUEW_LEAKYRELU: return ew_un_flt<op_leakyrelu>(s, t, n, o, x, p);
    case VP_CUEW_ELU: return ew_un_flt<op_elu>(s, t, n, o, x, p);
    case VP_CUEW_SELU: return ew_un_flt<op_selu>(s, t, n, o, x, p);
    case VP_CUEW_CELU: return ew_un_flt<op_celu>(s, t, n, o, x, p);
    case VP_CUEW_SOFTPLUS: return ew_un_flt<op_softplus>(s, t, n, o, x, p);
    case VP_CUEW_SOFTSIGN: return ew_un_flt<op_softsign>(s, t, n, o, x, p);
    case VP_CUEW_THRELU: return ew_un_flt<op_threlu>(s, t, n, o, x, p);
    case VP_CUEW_GELU: return ew_un_flt<op_gelu>(s, t, n, o, x, p);
    case VP_CUEW_GELU_TANH: return ew_un_flt<op_gelu_tanh>(s, t, n, o, x, p);
    case VP_CUEW_MISH: return ew_un_flt<op_mish>(s, t, n, o, x, p);
    case VP_CUEW_DIVC: return ew_un_flt<op_divc>(s, t, n, o, x, p);
    case VP_CUEW_NOT: return ew_un_bool<op_not>(s, t, n, o, x, p);
    case VP_CUEW_ISNAN: return ew_un_flt2bool<op_isnan>(s, t, n, o, x, p);
    case VP_CUEW_ISINF: return ew_un_flt2bool<op_isinf>(s, t, n, o, x, p);
    default: return VP_ERR_UNSUPPORTED;
    }
}

/* Clip -------------------------------------------------------------------- */
/* Lower bound first, then upper (min > max gives max), with comparisons so
 * that NaN stays NaN. A device bound is read by every thread: the same
 * address across a warp, one cached load. */

template <class T> struct ew_clip_f {
    typedef vp_ct<T> V;
    T *o;
    const T *x;
    const T *lo_p, *hi_p; /* device bounds, or NULL */
    V lo_v, hi_v;         /* host bounds, when the pointer is NULL */
    int has_lo, has_hi;
    __device__ V clip(V v, V lo, V hi) const
    {
        if (has_lo)
            v = v < lo ? lo : v;
        if (has_hi)
            v = v > hi ? hi : v;
        return v;
    }
    __device__ V lo() const { return lo_p ? vp_ld(*lo_p) : lo_v; }
    __device__ V hi() const { return hi_p ? vp_ld(*hi_p) : hi_v; }
    __device__ void operator()(int64_t i) const
    {
        o[i] = vp_st<T>(clip(vp_ld(x[i]), has_lo ? lo() : V(), has_hi ? hi() : V()));
    }
    __device__ void pack(uint32_t k) const
    {
        constexpr int N = vp_pack_n<T>;
        const V l = has_lo ? lo() : V(), h = has_hi ? hi() : V();
        V v[N];
        vp_ldv<T, N>(x + (size_t)k * N, v);
#pragma unroll
        for (int j = 0; j < N; j++)
            v[j] = clip(v[j], l, h);
        vp_stv<T, N>(o + (size_t)k * N, v);
    }
};

int vp_cuew_clip(cudaStream_t s, vp_dtype t, int64_t n, void *o, const void *x, const void *lo_dev,
                 const void *hi_dev, const float *lo_val, const float *hi_val)
{
    if (!o)
        n = 0; /* support check only */
    if ((lo_val || hi_val) && t != VP_DT_FLOAT && t != VP_DT_FLOAT16)
        return VP_ERR_UNSUPPORTED;
    switch (t) {
#define C(dt, T)                                                                                                  \
    case dt: {                                                                                                    \
        typedef vp_ct<T> V;                                                                                       \
        ew_clip_f<T> f = {(T *)o,           (const T *)x,        (const T *)lo_dev, (const T *)hi_dev,           \
                          (V)(lo_val ? *lo_val : 0), (V)(hi_val ? *hi_val : 0), lo_dev || lo_val, hi_dev || hi_val}; \
        return ew_un_launch<T>(s, n, o, x, f);                                                                    \
    }
        EW_CLIP_TYPES(C)
#undef C
    default:
        return VP_ERR_UNSUPPORTED;
    }
}

/* Cast -------------------------------------------------------------------- */
/* A source element is loaded as one of four kinds: float (float32,
 * float16), double, int64 (signed) or uint64 (unsigned, bool); each
 * destination converts from each kind. */

struct ew_bool { /* VP_DT_BOOL storage, distinct from uint8 */
    uint8_t v;
};

template <class S> static __device__ auto ew_load(S v)
{
    if constexpr (std::is_same<S, __half>::value)
        return __half2float(v);
    else if constexpr (std::is_same<S, ew_bool>::value)
        return (uint64_t)(v.v != 0);
    else if constexpr (ew_is_flt<S>)
        return v;
    else if constexpr (std::is_signed<S>::value)
        return (int64_t)v;
    else
        return (uint64_t)v;
}

/* (double)max may round up to 2^bits (64-bit types): >= is still the exact
 * "does not fit" test then. */
template <class D> static __device__ D ew_sat(double v)
{
    const double lo = (double)std::numeric_limits<D>::min(), hi = (double)std::numeric_limits<D>::max();
    return v != v ? (D)0 : v <= lo ? std::numeric_limits<D>::min() : v >= hi ? std::numeric_limits<D>::max() : (D)v;
}

template <class D, class K> static __device__ D ew_convert(K v)
{
    if constexpr (std::is_same<D, ew_bool>::value)
        return ew_bool{(uint8_t)(v != 0)};
    else if constexpr (std::is_same<D, __half>::value) {
        if constexpr (std::is_same<K, double>::value)
            return __double2half(v);
        else
            return __float2half_rn((float)v); /* integers of float16 range are exact in float */
    } else if constexpr (ew_is_flt<D>)
        return (D)v;
    else if constexpr (ew_is_flt<K>)
        return ew_sat<D>((double)v);
    else
        return (D)v;
}

template <class S, class D> struct ew_cast_f {
    D *o;
    const S *x;
    __device__ void operator()(int64_t i) const { o[i] = ew_convert<D>(ew_load(x[i])); }
    /* float32 <-> float16 only: 4 elements, the same conversions */
    __device__ void pack(uint32_t k) const
    {
        float v[4];
        vp_ldv<S, 4>(x + (size_t)k * 4, v);
        vp_stv<D, 4>(o + (size_t)k * 4, v);
    }
};

template <class S, class D> static int ew_cast_launch(cudaStream_t s, int64_t n, void *o, const void *x)
{
    ew_cast_f<S, D> f = {(D *)o, (const S *)x};
    if constexpr ((std::is_same<S, float>::value && vp_is_half<D>) || (vp_is_half<S> && std::is_same<D, float>::value)) {
        if (n <= INT32_MAX && vp_aligned(o, 4 * sizeof(D)) && vp_aligned(x, 4 * sizeof(S)))
            return vp_cuew_vec<4>(s, n, f);
    }
    return vp_cuew_flat(s, n, f);
}

#define EW_CAST_TYPES(X)                                                                                          \
    X(VP_DT_FLOAT, float)                                                                                         \
    X(VP_DT_DOUBLE, double)                                                                                       \
    X(VP_DT_FLOAT16, __half)                                                                                      \
    X(VP_DT_INT8, int8_t)                                                                                         \
    X(VP_DT_INT16, int16_t)                                                                                       \
    X(VP_DT_INT32, int32_t)                                                                                       \
    X(VP_DT_INT64, int64_t)                                                                                       \
    X(VP_DT_UINT8, uint8_t)                                                                                       \
    X(VP_DT_UINT16, uint16_t)                                                                                     \
    X(VP_DT_UINT32, uint32_t)                                                                                     \
    X(VP_DT_UINT64, uint64_t)                                                                                     \
    X(VP_DT_BOOL, ew_bool)

template <class S> static int ew_cast_from(cudaStream_t s, vp_dtype to, int64_t n, void *o, const void *x)
{
    switch (to) {
#define C(dt, D)                                                                                                  \
    case dt:                                                                                                      \
        return ew_cast_launch<S, D>(s, n, o, x);
        EW_CAST_TYPES(C)
#undef C
    default:
        return VP_ERR_UNSUPPORTED;
    }
}

int vp_cuew_cast(cudaStream_t s, vp_dtype from, vp_dtype to, int64_t n, void *o, const void *x)
{
    if (!o)
        n = 0; /* support check only */
    switch (from) {
#define C(dt, S)                                                                                                  \
    case dt:                                                                                                      \
        return ew_cast_from<S>(s, to, n, o, x);
        EW_CAST_TYPES(C)
#undef C
    default:
        return VP_ERR_UNSUPPORTED;
    }
}
