/*
 * CUDA kernels: elementwise family, broadcasting part (binary ops,
 * comparisons, logic, Pow, Where) and the post-op pass that kernels which
 * cannot fuse their post-ops (Conv without a cuDNN fusion) call.
 *
 * Broadcasting works on the geometry elementwise.c computes in prepare()
 * (vp_cuew_geom: size-1 dimensions dropped, adjacent dimensions merged
 * where every input allows it). Two kernels walk it, each in a grid-stride
 * loop over the output:
 *   - fast: every input is indexed directly from the output index: a
 *     same-shape input reads element i, a scalar element 0, a per-channel
 *     input ([1,C,1,1] against [N,C,H,W], a bias along the last axis)
 *     element (i / inner) % C. Covers the element-wise adds, scales and
 *     biases of CNNs;
 *   - nd: anything else, one division per coalesced dimension (at most 8).
 * Both use 32-bit indices when the output has fewer than 2^31 elements
 * (integer division is several times cheaper) and 64-bit ones otherwise.
 * The geometry travels by value as a __grid_constant__ kernel parameter, so
 * a launch reads no host memory and can be captured in a CUDA graph.
 *
 * The element operations are small functors (op_*), instantiated per dtype
 * from one switch per op class. Their semantics are the CPU kernels'
 * (src/engine/cpu/elementwise.c): integer add/sub/mul wrap (computed in
 * unsigned types), integer division by zero gives 0 and INT_MIN / -1 wraps,
 * float Max/Min propagate NaN, Pow goes through double (exact integer
 * power by squaring when both are integers).
 *
 * Float16 (__half) elements are loaded as float, the functor computes in
 * float, the result is rounded once to half on store (half.cuh). The
 * arithmetic ops on float and float16 take a packed path when the
 * geometry is "fast" and the pointers are 16-byte aligned: each thread
 * moves 16 bytes (4 floats, 8 halves) per input and output, a per-channel
 * input is read once per pack (channel constant over the pack) or as a
 * vector (a bias along the innermost axis, as channels-last plans have);
 * anything else falls back to the element kernels.
 */
#include "engine/cuda/elementwise.h"
#include "engine/cuda/half.cuh"

#include <math.h>
#include <stdint.h>
#include <type_traits>

/* Types ----------------------------------------------------------------- */

/* Unsigned type in which integer add/sub/mul/neg wrap without undefined
 * behaviour (at least as wide as int). Float types map to themselves. */
template <class T> struct ew_wrap { typedef T type; };
template <> struct ew_wrap<int32_t> { typedef uint32_t type; };
template <> struct ew_wrap<int64_t> { typedef uint64_t type; };
template <> struct ew_wrap<uint8_t> { typedef uint32_t type; };
template <class T> using ew_w = typename ew_wrap<T>::type;

template <class T> constexpr bool ew_is_flt = std::is_floating_point<T>::value;

/* Integer power by squaring, wrapping; negative exponent as trunc(pow()):
 * 0 unless |base| = 1 (the CPU's ew_ipow). */
static __device__ int64_t ew_ipow(int64_t b, int64_t e)
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

/* double -> int32/int64 truncating toward zero, saturating, NaN -> 0. */
template <class T> static __device__ T ew_sat(double v)
{
    const double lo = std::is_same<T, int32_t>::value ? -2147483648.0 : -9223372036854775808.0;
    const double hi = std::is_same<T, int32_t>::value ? 2147483647.0 : 9223372036854775808.0;
    const T ilo = std::is_same<T, int32_t>::value ? (T)INT32_MIN : (T)INT64_MIN;
    const T ihi = std::is_same<T, int32_t>::value ? (T)INT32_MAX : (T)INT64_MAX;
    return v != v ? (T)0 : v <= lo ? ilo : v >= hi ? ihi : (T)v;
}

/* Element operations ------------------------------------------------------ */

struct op_add {
    template <class T> static __device__ T f(T x, T y)
    {
        if constexpr (ew_is_flt<T>)
            return x + y;
        else
            return (T)((ew_w<T>)x + (ew_w<T>)y);
    }
};
struct op_sub {
    template <class T> static __device__ T f(T x, T y)
    {
        if constexpr (ew_is_flt<T>)
            return x - y;
        else
            return (T)((ew_w<T>)x - (ew_w<T>)y);
    }
};
struct op_mul {
    template <class T> static __device__ T f(T x, T y)
    {
        if constexpr (ew_is_flt<T>)
            return x * y;
        else
            return (T)((ew_w<T>)x * (ew_w<T>)y);
    }
};
struct op_div {
    template <class T> static __device__ T f(T x, T y)
    {
        if constexpr (ew_is_flt<T>)
            return x / y;
        else if constexpr (std::is_signed<T>::value)
            return y == 0 ? (T)0 : y == -1 ? (T)((ew_w<T>)0 - (ew_w<T>)x) : (T)(x / y);
        else
            return y == 0 ? (T)0 : (T)(x / y);
    }
};
/* x != x is false for integers: one expression for all types. */
struct op_max {
    template <class T> static __device__ T f(T x, T y) { return x > y || x != x ? x : y; }
};
struct op_min {
    template <class T> static __device__ T f(T x, T y) { return x < y || x != x ? x : y; }
};
struct op_prelu {
    template <class T> static __device__ T f(T x, T y)
    {
        if constexpr (ew_is_flt<T>)
            return x < 0 ? x * y : x;
        else if constexpr (std::is_signed<T>::value)
            return x < 0 ? (T)((ew_w<T>)x * (ew_w<T>)y) : x;
        else
            return x; /* never negative */
    }
};
struct op_eq {
    template <class T> static __device__ bool f(T x, T y) { return x == y; }
};
struct op_lt {
    template <class T> static __device__ bool f(T x, T y) { return x < y; }
};
struct op_gt {
    template <class T> static __device__ bool f(T x, T y) { return x > y; }
};
struct op_le {
    template <class T> static __device__ bool f(T x, T y) { return x <= y; }
};
struct op_ge {
    template <class T> static __device__ bool f(T x, T y) { return x >= y; }
};
struct op_and {
    template <class T> static __device__ bool f(T x, T y) { return (x != 0) & (y != 0); }
};
struct op_or {
    template <class T> static __device__ bool f(T x, T y) { return (x != 0) | (y != 0); }
};
struct op_xor {
    template <class T> static __device__ bool f(T x, T y) { return (x != 0) ^ (y != 0); }
};
/* Pow: base A (also the output type), exponent B.
 * A float base goes through pow() in double, rounded once to float: the CPU
 * uses glibc's powf (correctly rounded) for float^float and double pow for
 * mixed types; CUDA's powf is only within 4 ulp, enough to turn an exact
 * 3^2 = 9 into 8.999999, which a later Cast truncates to 8. Double pow
 * (within 2 ulp of double) rounds to the correctly rounded float but for
 * the rarest ties.
 * An integer base with an integer exponent is exact (power by squaring,
 * wrapping); with a float exponent it is pow in double, then truncated and
 * saturated. Exact results must then be exact, or truncation turns a 1-ulp
 * error into an off-by-one: integral exponents below 2^31 go by squaring in
 * double (exact while the result fits in 53 bits, saturated anyway above
 * 2^31 for int32). */
static __device__ double ew_dpow(double x, double y)
{
    if (y >= 0. && y < 2147483648.0 && y == floor(y)) {
        double r = 1.;
        for (uint32_t e = (uint32_t)y; e; e >>= 1) {
            if (e & 1)
                r *= x;
            x *= x;
        }
        return r;
    }
    return pow(x, y);
}

struct op_pow {
    template <class A, class B> static __device__ A f(A x, B y)
    {
        if constexpr (ew_is_flt<A>)
            return (A)pow((double)x, (double)y);
        else if constexpr (!ew_is_flt<B>)
            return (A)ew_ipow((int64_t)x, (int64_t)y);
        else
            return ew_sat<A>(ew_dpow((double)x, (double)y));
    }
};

/* Broadcast kernels ------------------------------------------------------- */

template <class I> struct ew_kfast {
    int mode[VP_CUEW_MAXIN];
    I ch[VP_CUEW_MAXIN], inner[VP_CUEW_MAXIN];
};

template <class I> struct ew_knd {
    int nd;
    I dim[VP_MAX_DIMS];
    I str[VP_CUEW_MAXIN][VP_MAX_DIMS];
};

/* f(i, ix): output index i, input indices ix[0..N). */
template <int N, class F, class I>
static __global__ void ew_k_fast(const __grid_constant__ F f, I n, const __grid_constant__ ew_kfast<I> g)
{
    const I step = (I)gridDim.x * blockDim.x;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        I ix[N];
#pragma unroll
        for (int k = 0; k < N; k++)
            ix[k] = g.mode[k] == VP_CUEW_CONTIG ? i : g.mode[k] == VP_CUEW_SCALAR ? (I)0 : i / g.inner[k] % g.ch[k];
        f(i, ix);
    }
}

template <int N, class F, class I>
static __global__ void ew_k_nd(const __grid_constant__ F f, I n, const __grid_constant__ ew_knd<I> g)
{
    const I step = (I)gridDim.x * blockDim.x;
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        I ix[N], r = i;
#pragma unroll
        for (int k = 0; k < N; k++)
            ix[k] = 0;
        for (int d = g.nd - 1; d > 0; d--) {
            const I q = r / g.dim[d], id = r - q * g.dim[d];
            r = q;
#pragma unroll
            for (int k = 0; k < N; k++)
                ix[k] += id * g.str[k][d];
        }
#pragma unroll
        for (int k = 0; k < N; k++)
            ix[k] += r * g.str[k][0];
        f(i, ix);
    }
}

template <int N, class F, class I>
static int ew_launch_i(cudaStream_t s, const vp_cuew_geom *g, const F &f)
{
    const I n = (I)g->n;
    if (g->fast) {
        ew_kfast<I> k = {};
        for (int j = 0; j < N; j++) {
            k.mode[j] = g->mode[j];
            k.ch[j] = (I)g->ch[j];
            k.inner[j] = (I)g->inner[j];
        }
        ew_k_fast<N, F, I><<<vp_cuew_grid(g->n), VP_CUEW_BLOCK, 0, s>>>(f, n, k);
    } else {
        ew_knd<I> k = {};
        k.nd = g->nd;
        for (int d = 0; d < g->nd; d++) {
            k.dim[d] = (I)g->dim[d];
            for (int j = 0; j < N; j++)
                k.str[j][d] = (I)g->str[j][d];
        }
        ew_k_nd<N, F, I><<<vp_cuew_grid(g->n), VP_CUEW_BLOCK, 0, s>>>(f, n, k);
    }
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* Enqueue f over geometry g with N inputs; nothing when run is 0 (a
 * support check) or the output is empty. Inputs never have more elements
 * than the output, so 32-bit output indices bound every input index. */
template <int N, class F>
static int ew_launch(cudaStream_t s, const vp_cuew_geom *g, int run, const F &f)
{
    if (!run || g->n <= 0)
        return VP_OK;
    if (g->nin != N || g->nd < 1 || g->nd > VP_MAX_DIMS)
        return VP_ERR_INTERNAL;
    if (g->n <= INT32_MAX)
        return ew_launch_i<N, F, uint32_t>(s, g, f);
    return ew_launch_i<N, F, int64_t>(s, g, f);
}

/* Binary ops ----------------------------------------------------------- */

template <class Op, class A, class B, class O> struct ew_bin_f {
    O *o;
    const A *a;
    const B *b;
    template <class I> __device__ void operator()(I i, const I *ix) const
    {
        o[i] = vp_st<O>(Op::f(vp_ld(a[ix[0]]), vp_ld(b[ix[1]])));
    }
};

template <class Op, class A, class B, class O>
static int ew_bin(cudaStream_t s, const vp_cuew_geom *g, void *o, const void *a, const void *b)
{
    ew_bin_f<Op, A, B, O> f = {(O *)o, (const A *)a, (const B *)b};
    return ew_launch<2>(s, g, o != NULL, f);
}

/* Packed path (float, float16 arithmetic) ------------------------------- */

/* How a pack of N output elements [i, i + N) reads an input. */
enum {
    EW_V_CONTIG, /* N elements at i */
    EW_V_SCALAR, /* element 0, N times */
    EW_V_ONE,    /* CHANNEL with inner % N == 0: element (i / inner) % ch, N times */
    EW_V_ROW,    /* CHANNEL with inner == 1 and ch % N == 0: N elements at i % ch */
};

struct ew_vgeom {
    int mode[2];
    uint32_t ch[2], inner[2];
};

template <class Op, class T> struct ew_binv_f {
    static constexpr int N = vp_pack_n<T>;
    T *o;
    const T *in[2];
    ew_vgeom g;
    __device__ vp_ct<T> one(int k, uint32_t i) const
    {
        const T *p = in[k];
        switch (g.mode[k]) {
        case EW_V_CONTIG: return vp_ld(p[i]);
        case EW_V_SCALAR: return vp_ld(p[0]);
        default: return vp_ld(p[i / g.inner[k] % g.ch[k]]);
        }
    }
    __device__ void load(int k, uint32_t i, vp_ct<T> (&v)[N]) const
    {
        const T *p = in[k];
        if (g.mode[k] == EW_V_CONTIG) {
            vp_ldv<T, N>(p + i, v);
        } else if (g.mode[k] == EW_V_ROW) {
            vp_ldv<T, N>(p + i % g.ch[k], v);
        } else {
            const vp_ct<T> x = g.mode[k] == EW_V_SCALAR ? vp_ld(p[0]) : vp_ld(p[i / g.inner[k] % g.ch[k]]);
#pragma unroll
            for (int j = 0; j < N; j++)
                v[j] = x;
        }
    }
    __device__ void pack(uint32_t pk) const
    {
        const uint32_t i = pk * N;
        vp_ct<T> x[N], y[N];
        load(0, i, x);
        load(1, i, y);
#pragma unroll
        for (int j = 0; j < N; j++)
            x[j] = Op::f(x[j], y[j]);
        vp_stv<T, N>(o + i, x);
    }
    __device__ void operator()(uint32_t i) const { o[i] = vp_st<T>(Op::f(one(0, i), one(1, i))); }
};

/* The packed geometry of g for these pointers, if there is one. */
template <class T> static bool ew_vgeom_make(const vp_cuew_geom *g, const void *o, const void *a, const void *b,
                                             ew_vgeom *v)
{
    const int N = vp_pack_n<T>;
    const void *p[2] = {a, b};
    if (!g->fast || g->nin != 2 || g->n > INT32_MAX || !vp_aligned(o, 16))
        return false;
    for (int k = 0; k < 2; k++) {
        v->ch[k] = v->inner[k] = 1;
        switch (g->mode[k]) {
        case VP_CUEW_SCALAR:
            v->mode[k] = EW_V_SCALAR;
            break;
        case VP_CUEW_CONTIG:
            if (!vp_aligned(p[k], 16))
                return false;
            v->mode[k] = EW_V_CONTIG;
            break;
        case VP_CUEW_CHANNEL:
            v->ch[k] = (uint32_t)g->ch[k];
            v->inner[k] = (uint32_t)g->inner[k];
            if (g->inner[k] % N == 0)
                v->mode[k] = EW_V_ONE;
            else if (g->inner[k] == 1 && g->ch[k] % N == 0 && vp_aligned(p[k], 16))
                v->mode[k] = EW_V_ROW;
            else
                return false;
            break;
        default:
            return false;
        }
    }
    return true;
}

/* Same-dtype arithmetic on float / float16: packed when possible. */
template <class Op, class T>
static int ew_bin_flt(cudaStream_t s, const vp_cuew_geom *g, void *o, const void *a, const void *b)
{
    ew_vgeom v;
    if (o && g->n > 0 && ew_vgeom_make<T>(g, o, a, b, &v)) {
        ew_binv_f<Op, T> f = {(T *)o, {(const T *)a, (const T *)b}, v};
        return vp_cuew_vec<vp_pack_n<T>>(s, g->n, f);
    }
    return ew_bin<Op, T, T, T>(s, g, o, a, b);
}

/* Dtypes per op class: the one place to extend. */
#define EW_ARITH_TYPES(X) X(VP_DT_INT32, int32_t) X(VP_DT_INT64, int64_t) X(VP_DT_UINT8, uint8_t)
#define EW_ARITH_FLT_TYPES(X) X(VP_DT_FLOAT, float) X(VP_DT_FLOAT16, __half)
#define EW_CMP_TYPES(X) EW_ARITH_FLT_TYPES(X) EW_ARITH_TYPES(X) X(VP_DT_BOOL, uint8_t)
#define EW_LOGIC_TYPES(X) X(VP_DT_BOOL, uint8_t)
#define EW_POW_TYPES(X) X(VP_DT_FLOAT, float) X(VP_DT_FLOAT16, __half) X(VP_DT_INT32, int32_t) X(VP_DT_INT64, int64_t)

/* Same-dtype op, output of the input dtype. */
template <class Op> static int ew_arith(cudaStream_t s, vp_dtype t, const vp_cuew_geom *g, void *o, const void *a,
                                        const void *b)
{
    switch (t) {
#define C(dt, T)                                                                                                  \
    case dt:                                                                                                      \
        return ew_bin<Op, T, T, T>(s, g, o, a, b);
        EW_ARITH_TYPES(C)
#undef C
#define C(dt, T)                                                                                                  \
    case dt:                                                                                                      \
        return ew_bin_flt<Op, T>(s, g, o, a, b);
        EW_ARITH_FLT_TYPES(C)
#undef C
    default:
        return VP_ERR_UNSUPPORTED;
    }
}

/* Same-dtype op, bool output. */
template <class Op> static int ew_cmp(cudaStream_t s, vp_dtype t, const vp_cuew_geom *g, void *o, const void *a,
                                      const void *b)
{
    switch (t) {
#define C(dt, T)                                                                                                  \
    case dt:                                                                                                      \
        return ew_bin<Op, T, T, uint8_t>(s, g, o, a, b);
        EW_CMP_TYPES(C)
#undef C
    default:
        return VP_ERR_UNSUPPORTED;
    }
}

template <class Op> static int ew_logic(cudaStream_t s, vp_dtype t, const vp_cuew_geom *g, void *o, const void *a,
                                        const void *b)
{
    switch (t) {
#define C(dt, T)                                                                                                  \
    case dt:                                                                                                      \
        return ew_bin<Op, T, T, uint8_t>(s, g, o, a, b);
        EW_LOGIC_TYPES(C)
#undef C
    default:
        return VP_ERR_UNSUPPORTED;
    }
}

template <class A> static int ew_pow_exp(cudaStream_t s, vp_dtype tb, const vp_cuew_geom *g, void *o, const void *a,
                                         const void *b)
{
    switch (tb) {
#define C(dt, T)                                                                                                  \
    case dt:                                                                                                      \
        return ew_bin<op_pow, A, T, A>(s, g, o, a, b);
        EW_POW_TYPES(C)
#undef C
    default:
        return VP_ERR_UNSUPPORTED;
    }
}

static int ew_pow(cudaStream_t s, vp_dtype ta, vp_dtype tb, const vp_cuew_geom *g, void *o, const void *a,
                  const void *b)
{
    switch (ta) {
#define C(dt, T)                                                                                                  \
    case dt:                                                                                                      \
        return ew_pow_exp<T>(s, tb, g, o, a, b);
        EW_POW_TYPES(C)
#undef C
    default:
        return VP_ERR_UNSUPPORTED;
    }
}

int vp_cuew_binary(cudaStream_t s, vp_cuew_binop op, vp_dtype ta, vp_dtype tb, const vp_cuew_geom *g, void *o,
                   const void *a, const void *b)
{
    if (op == VP_CUEW_POW)
        return ew_pow(s, ta, tb, g, o, a, b);
    if (ta != tb)
        return VP_ERR_UNSUPPORTED;
    switch (op) {
    case VP_CUEW_ADD: return ew_arith<op_add>(s, ta, g, o, a, b);
    case VP_CUEW_SUB: return ew_arith<op_sub>(s, ta, g, o, a, b);
    case VP_CUEW_MUL: return ew_arith<op_mul>(s, ta, g, o, a, b);
    case VP_CUEW_DIV: return ew_arith<op_div>(s, ta, g, o, a, b);
    case VP_CUEW_MAX: return ew_arith<op_max>(s, ta, g, o, a, b);
    case VP_CUEW_MIN: return ew_arith<op_min>(s, ta, g, o, a, b);
    case VP_CUEW_PRELU: return ew_arith<op_prelu>(s, ta, g, o, a, b);
    case VP_CUEW_EQ: return ew_cmp<op_eq>(s, ta, g, o, a, b);
    case VP_CUEW_LT: return ew_cmp<op_lt>(s, ta, g, o, a, b);
    case VP_CUEW_GT: return ew_cmp<op_gt>(s, ta, g, o, a, b);
    case VP_CUEW_LE: return ew_cmp<op_le>(s, ta, g, o, a, b);
    case VP_CUEW_GE: return ew_cmp<op_ge>(s, ta, g, o, a, b);
    case VP_CUEW_AND: return ew_logic<op_and>(s, ta, g, o, a, b);
    case VP_CUEW_OR: return ew_logic<op_or>(s, ta, g, o, a, b);
    case VP_CUEW_XOR: return ew_logic<op_xor>(s, ta, g, o, a, b);
    default: return VP_ERR_UNSUPPORTED;
    }
}

/* Where ----------------------------------------------------------------- */
/* Selection moves bytes: the kernel depends only on the element size. */

template <class T> struct ew_where_f {
    T *o;
    const uint8_t *c;
    const T *x, *y;
    template <class I> __device__ void operator()(I i, const I *ix) const { o[i] = c[ix[0]] ? x[ix[1]] : y[ix[2]]; }
};

template <class T>
static int ew_where(cudaStream_t s, const vp_cuew_geom *g, void *o, const void *c, const void *x, const void *y)
{
    ew_where_f<T> f = {(T *)o, (const uint8_t *)c, (const T *)x, (const T *)y};
    return ew_launch<3>(s, g, o != NULL, f);
}

int vp_cuew_where(cudaStream_t s, vp_dtype t, const vp_cuew_geom *g, void *o, const void *cond, const void *x,
                  const void *y)
{
    if (t == VP_DT_STRING)
        return VP_ERR_UNSUPPORTED;
    switch (vp_dtype_size(t)) {
    case 1: return ew_where<uint8_t>(s, g, o, cond, x, y);
    case 2: return ew_where<uint16_t>(s, g, o, cond, x, y);
    case 4: return ew_where<uint32_t>(s, g, o, cond, x, y);
    case 8: return ew_where<uint64_t>(s, g, o, cond, x, y);
    default: return VP_ERR_UNSUPPORTED;
    }
}

/* Post-ops ------------------------------------------------------------- */
/* The activations of vp_cpu_act (src/engine/cpu/backend.c) formula for
 * formula; note they differ from the ops of the same name in NaN handling
 * (fmaxf/fminf drop NaN, Relu maps NaN to 0) and HardSwish divides by 6.
 * __fmul_rn/__fadd_rn keep a*x+b from contracting into an FMA, so results
 * round as the CPU's do. */
static __device__ float ew_post_act(int act, float x, float a, float b)
{
    switch (act) {
    case VP_ACT_RELU: return x > 0.f ? x : 0.f;
    case VP_ACT_SIGMOID: return vp_cuew_sigmoid(x);
    case VP_ACT_SILU: return x * vp_cuew_sigmoid(x);
    case VP_ACT_HARDSIGMOID: {
        /* fminf(1, NaN) is 1, so the CPU gives 1 for NaN; nvcc may turn the
         * clamp into a saturating add, which gives 0: test NaN first. */
        const float v = __fadd_rn(__fmul_rn(a, x), b);
        return v != v ? 1.f : fmaxf(0.f, fminf(1.f, v));
    }
    case VP_ACT_HARDSWISH: return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case VP_ACT_CLIP: return fminf(fmaxf(x, a), b);
    default: return x;
    }
}

/* x = post-ops(x) over float or float16 x; the addends have x's dtype. */
template <class T> struct ew_post_f {
    static constexpr int N = vp_pack_n<T>;
    T *x;
    int n_post;
    int kind[VP_MAX_POSTOPS];
    int act[VP_MAX_POSTOPS];
    float alpha[VP_MAX_POSTOPS], beta[VP_MAX_POSTOPS];
    const T *add[VP_MAX_POSTOPS]; /* VP_POST_ADD: addend, shaped as x */
    __device__ void operator()(int64_t i) const
    {
        float v = vp_ld(x[i]);
#pragma unroll
        for (int k = 0; k < VP_MAX_POSTOPS; k++) {
            if (k >= n_post)
                break;
            v = kind[k] == VP_POST_ADD ? v + (float)vp_ld(add[k][i]) : ew_post_act(act[k], v, alpha[k], beta[k]);
        }
        x[i] = vp_st<T>(v);
    }
    /* elements [p * N, p * N + N): x and every addend 16-byte aligned */
    __device__ void pack(uint32_t p) const
    {
        const uint32_t i = p * N;
        float v[N];
        vp_ldv<T, N>(x + i, v);
#pragma unroll
        for (int k = 0; k < VP_MAX_POSTOPS; k++) {
            if (k >= n_post)
                break;
            if (kind[k] == VP_POST_ADD) {
                float a[N];
                vp_ldv<T, N>(add[k] + i, a);
#pragma unroll
                for (int j = 0; j < N; j++)
                    v[j] = v[j] + a[j];
            } else {
#pragma unroll
                for (int j = 0; j < N; j++)
                    v[j] = ew_post_act(act[k], v[j], alpha[k], beta[k]);
            }
        }
        vp_stv<T, N>(x + i, v);
    }
};

template <class T> static int ew_postops(vp_op_ctx *c, int64_t n)
{
    const vp_node *nd = c->node;
    vp_tensor *o = c->out[0];
    ew_post_f<T> f = {};
    f.x = (T *)o->data;
    f.n_post = nd->n_post;
    bool packed = n <= INT32_MAX && vp_aligned(f.x, 16);
    for (int k = 0; k < nd->n_post; k++) {
        const vp_postop *p = &nd->post[k];
        f.kind[k] = p->kind;
        f.act[k] = p->act;
        f.alpha[k] = p->alpha;
        f.beta[k] = p->beta;
        if (p->kind == VP_POST_ADD) {
            const vp_tensor *a = p->input >= 0 && p->input < c->n_in ? c->in[p->input] : NULL;
            if (!a || a->dtype != o->dtype || vp_tensor_numel(a) != n)
                return vp_op_fail(c, VP_ERR_INTERNAL, "post-op %d: addend (input %d) is not a %s tensor of %lld elements",
                                  k, p->input, vp_dtype_name(o->dtype), (long long)n);
            f.add[k] = (const T *)a->data;
            packed = packed && vp_aligned(a->data, 16);
        } else if (p->kind != VP_POST_ACT) {
            return vp_op_fail(c, VP_ERR_INTERNAL, "post-op %d: unknown kind %d", k, p->kind);
        }
    }
    const cudaStream_t s = ((vp_cuda_ctx *)c->dev)->stream;
    if (packed)
        return vp_cuew_vec<vp_pack_n<T>>(s, n, f);
    return vp_cuew_flat(s, n, f);
}

int vp_cuda_apply_postops(vp_op_ctx *c)
{
    const vp_node *nd = c->node;
    vp_tensor *o = c->out[0];
    if (nd->n_post <= 0)
        return VP_OK;
    if (nd->n_post > VP_MAX_POSTOPS || (o->dtype != VP_DT_FLOAT && o->dtype != VP_DT_FLOAT16))
        return vp_op_fail(c, VP_ERR_INTERNAL, "%d post-ops on a %s output", nd->n_post, vp_dtype_name(o->dtype));
    const int64_t n = vp_tensor_numel(o);
    if (o->dtype == VP_DT_FLOAT16)
        return ew_postops<__half>(c, n);
    return ew_postops<float>(c, n);
}
