/*
 * CUDA elementwise family: what the kernel table (elementwise.c, host C)
 * and the kernels (elementwise.cu, elementwise_unary.cu) share.
 *
 * The host side does everything that depends on shapes once, in prepare():
 * it aligns each input to the output shape (stride 0 on broadcast
 * dimensions), drops size-1 dimensions, merges dimensions that are
 * contiguous for every input, and classifies each input for the fast path.
 * The launchers below only pick a kernel and enqueue it on the given stream.
 *
 * Launcher contract, for every vp_cuew_* entry point:
 *   - pointers are device memory; returns VP_OK, VP_ERR_UNSUPPORTED for an
 *     op/dtype combination without a kernel (nothing is launched), or
 *     VP_ERR_BACKEND if the launch failed (logged);
 *   - o == NULL launches nothing: the call only says whether the combination
 *     is supported (prepare() asks this way, so the dtype dispatch lives in
 *     one place, the .cu files);
 *   - zero elements launch nothing;
 *   - no synchronisation, no allocation (safe under CUDA-graph capture);
 *   - o may equal an input of the same shape (in place).
 */
#ifndef VP_ENGINE_CUDA_ELEMENTWISE_H
#define VP_ENGINE_CUDA_ELEMENTWISE_H

#include "engine/cuda/cuda.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VP_CUEW_MAXIN 3

/* How an input is indexed on the fast path, from the output index i. */
enum {
    VP_CUEW_SCALAR = 0,  /* element 0 */
    VP_CUEW_CONTIG = 1,  /* element i (same shape as the output) */
    VP_CUEW_CHANNEL = 2, /* element (i / inner) % ch: a vector along one output
                            dimension, e.g. [1,C,1,1] against [N,C,H,W] */
};

/* Broadcast geometry of one launch. */
typedef struct vp_cuew_geom {
    int64_t n;                                  /* output elements */
    int nin;                                    /* inputs, 1..VP_CUEW_MAXIN */
    int nd;                                     /* coalesced rank, 1..VP_MAX_DIMS */
    int64_t dim[VP_MAX_DIMS];                   /* coalesced output dimensions */
    int64_t str[VP_CUEW_MAXIN][VP_MAX_DIMS];    /* element strides per input, 0 = broadcast */
    /* Fast path: every input is SCALAR, CONTIG or CHANNEL. */
    int fast;
    int mode[VP_CUEW_MAXIN];
    int64_t ch[VP_CUEW_MAXIN], inner[VP_CUEW_MAXIN]; /* CHANNEL only */
} vp_cuew_geom;

/* Fill g for inputs of shapes in[0..nin) broadcast to out (shapes already
 * checked by the op's infer: each input broadcasts to out). */
void vp_cuew_geom_init(vp_cuew_geom *g, const vp_shape *out, const vp_shape *const *in, int nin);

/* Binary ops (numpy broadcasting through a geometry of 2 inputs). */
typedef enum vp_cuew_binop {
    VP_CUEW_ADD,
    VP_CUEW_SUB,
    VP_CUEW_MUL,
    VP_CUEW_DIV,
    VP_CUEW_POW,   /* base and exponent may differ in dtype; output = base's */
    VP_CUEW_MAX,
    VP_CUEW_MIN,
    VP_CUEW_PRELU, /* a < 0 ? a * b : a */
    VP_CUEW_EQ,    /* comparisons and logic: bool output */
    VP_CUEW_LT,
    VP_CUEW_GT,
    VP_CUEW_LE,
    VP_CUEW_GE,
    VP_CUEW_AND,
    VP_CUEW_OR,
    VP_CUEW_XOR,
} vp_cuew_binop;

/* Unary ops over n elements; output shape = input shape. */
typedef enum vp_cuew_unop {
    VP_CUEW_ABS,
    VP_CUEW_NEG,
    VP_CUEW_SIGN,
    VP_CUEW_SQRT,
    VP_CUEW_EXP,
    VP_CUEW_LOG,
    VP_CUEW_TANH,
    VP_CUEW_ERF,
    VP_CUEW_FLOOR,
    VP_CUEW_CEIL,
    VP_CUEW_ROUND,
    VP_CUEW_RECIP,
    VP_CUEW_SIN,
    VP_CUEW_COS,
    VP_CUEW_RELU,
    VP_CUEW_SIGMOID,
    VP_CUEW_HARDSIGMOID, /* alpha, beta */
    VP_CUEW_HARDSWISH,
    VP_CUEW_LEAKYRELU,   /* alpha */
    VP_CUEW_ELU,         /* alpha */
    VP_CUEW_SELU,        /* alpha, gamma */
    VP_CUEW_CELU,        /* alpha */
    VP_CUEW_SOFTPLUS,
    VP_CUEW_SOFTSIGN,
    VP_CUEW_THRELU,      /* alpha */
    VP_CUEW_GELU,
    VP_CUEW_GELU_TANH,
    VP_CUEW_MISH,
    VP_CUEW_NOT,         /* bool */
    VP_CUEW_ISNAN,       /* float in, bool out */
    VP_CUEW_ISINF,       /* alpha != 0: detect -inf; beta != 0: detect +inf */
    VP_CUEW_DIVC,        /* x / alpha (Mean's final step) */
} vp_cuew_unop;

/* Activation parameters (ONNX float attributes). */
typedef struct vp_cuew_par {
    float alpha, beta, gamma;
} vp_cuew_par;

/* o = op(a, b), a of dtype ta, b of dtype tb, broadcast by g (nin = 2). */
int vp_cuew_binary(cudaStream_t s, vp_cuew_binop op, vp_dtype ta, vp_dtype tb, const vp_cuew_geom *g,
                   void *o, const void *a, const void *b);

/* o = cond ? x : y, cond bool, x and y (and o) of dtype t, broadcast by g
 * (nin = 3, in that order). */
int vp_cuew_where(cudaStream_t s, vp_dtype t, const vp_cuew_geom *g, void *o, const void *cond,
                  const void *x, const void *y);

/* o = op(x) over n elements of dtype t (output dtype: t, bool for ISNAN and
 * ISINF). p may be NULL for ops without parameters. */
int vp_cuew_unary(cudaStream_t s, vp_cuew_unop op, vp_dtype t, int64_t n, void *o, const void *x,
                  const vp_cuew_par *p);

/* o = clip(x) over n elements of dtype t. Each bound is either one element
 * of dtype t in device memory (lo_dev / hi_dev, read by the kernel, so it may
 * change between runs), or a host value (lo_val / hi_val, float32 only), or
 * absent (both NULL). Comparisons keep NaN; min > max gives max. */
int vp_cuew_clip(cudaStream_t s, vp_dtype t, int64_t n, void *o, const void *x, const void *lo_dev,
                 const void *hi_dev, const float *lo_val, const float *hi_val);

/* o = x converted from dtype from to dtype to, n elements (from != to).
 * Float -> integer truncates toward zero and saturates, NaN -> 0; integer
 * -> integer wraps; X -> bool is X != 0 (the CPU kernel's rules). */
int vp_cuew_cast(cudaStream_t s, vp_dtype from, vp_dtype to, int64_t n, void *o, const void *x);

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
/* Shared by the family's .cu files (C++ only): the flat launch. */
#define VP_CUEW_BLOCK 256
/* Grid-stride loops: enough blocks to fill any current GPU several times
 * over; more only adds scheduling. */
#define VP_CUEW_MAX_BLOCKS 8192

static inline unsigned vp_cuew_grid(int64_t n)
{
    int64_t b = (n + VP_CUEW_BLOCK - 1) / VP_CUEW_BLOCK;
    return (unsigned)(b < VP_CUEW_MAX_BLOCKS ? b : VP_CUEW_MAX_BLOCKS);
}

/* Sigmoid as the CPU computes it (src/engine/cpu/elementwise_unary.c): its
 * exp clamps the argument to [-87.33654, 88.37626], so that very negative x
 * give 1 / (1 + e^88.37626) ~ 4e-39 rather than 0 (which decides what SiLU,
 * x * sigmoid(x), gives for x = -inf: -inf, not NaN). Compare-selects keep
 * NaN. */
static __device__ __forceinline__ float vp_cuew_sigmoid(float x)
{
    float t = -x;
    t = t < -87.33654f ? -87.33654f : t;
    t = t > 88.37626f ? 88.37626f : t;
    return 1.f / (1.f + expf(t));
}

/* f(i) for every i in [0, n); 64-bit index (a flat loop only adds to it). */
template <class F>
static __global__ void vp_cuew_k_flat(const __grid_constant__ F f, int64_t n)
{
    const int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
        f(i);
}

/* Packed variant: f.pack(p) handles elements [p*N, p*N + N) for p <
 * npack = n / N (vector loads and stores, the caller checked alignment),
 * f(i) the tail elements one by one. 32-bit indices: n <= INT32_MAX. */
template <int N, class F>
static __global__ void vp_cuew_k_vec(const __grid_constant__ F f, uint32_t npack, uint32_t n)
{
    const uint32_t t = blockIdx.x * blockDim.x + threadIdx.x, step = gridDim.x * blockDim.x;
    for (uint32_t p = t; p < npack; p += step)
        f.pack(p);
    const uint32_t r = npack * N + t; /* fewer than N tail elements, N <= blockDim.x */
    if (r < n)
        f(r);
}

template <int N, class F>
static int vp_cuew_vec(cudaStream_t s, int64_t n, const F &f)
{
    if (n <= 0)
        return VP_OK;
    const int64_t npack = n / N;
    vp_cuew_k_vec<N, F><<<vp_cuew_grid(npack > 0 ? npack : 1), VP_CUEW_BLOCK, 0, s>>>(f, (uint32_t)npack, (uint32_t)n);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* Enqueue f over n elements on s; n <= 0 launches nothing. */
template <class F>
static int vp_cuew_flat(cudaStream_t s, int64_t n, const F &f)
{
    if (n <= 0)
        return VP_OK;
    vp_cuew_k_flat<F><<<vp_cuew_grid(n), VP_CUEW_BLOCK, 0, s>>>(f, n);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}
#endif
#endif
