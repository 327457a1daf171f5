/*
 * CUDA kernels of the misc family: Softmax/LogSoftmax, ReduceSum/Mean/Max/
 * Min, ArgMax and TopK (Resize is in misc_resize.cu). Contracts in misc.h.
 *
 * Every op sees its input as lines of D elements at stride I ([O, D, I]) or,
 * for reductions, as kept and reduced groups. Work is split by the line's
 * shape:
 *   - contiguous lines (I = 1): a warp per line, or a block of 256 threads
 *     per line when lines are long and few; partial results combine through
 *     warp shuffles (and shared memory across warps);
 *   - strided lines (I > 1): a thread per line, so that neighbouring threads
 *     read neighbouring addresses at every step;
 *   - reductions over several groups: a warp per output.
 * Semantics follow cpu/misc.c: softmax subtracts the line's maximum (a NaN
 * in the line makes the whole line NaN), max/min propagate NaN, ArgMax and
 * TopK rank NaN above every number and break ties by index. Sums (reduction
 * sums and means, the softmax denominator) accumulate in double, so the
 * result is the true sum rounded once; the CPU's float32 partial sums agree
 * with it to their own rounding.
 *
 * Float16 (__half) tensors are read as float and everything runs as for
 * float32 (max, exp and the sums in float / double), results rounded once
 * to half on store (half.cuh); ArgMax and TopK compare the float values.
 */
#include "engine/cuda/half.cuh"
#include "engine/cuda/misc.h"

#include <math.h>
#include <stdint.h>

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 8192;
constexpr int kTopkMax = 4096; /* largest D TopK sorts in shared memory */

int blocks_for(int64_t n, int per_block)
{
    int64_t b = (n + per_block - 1) / per_block;
    return (int)(b < 1 ? 1 : b > kMaxBlocks ? kMaxBlocks : b);
}

template <typename T> __device__ __forceinline__ T warp_sum(T v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* max / min keeping NaN: a NaN operand wins (the CPU's v > a || v != v) */
__device__ __forceinline__ float max_nan(float a, float v) { return v > a || v != v ? v : a; }
__device__ __forceinline__ float min_nan(float a, float v) { return v < a || v != v ? v : a; }
/* max skipping NaN unless it is already there (softmax's running max) */
__device__ __forceinline__ float max_skip(float a, float v) { return v > a ? v : a; }

__device__ __forceinline__ float warp_max_skip(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = max_skip(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Block-wide combine of one value per thread (blockDim.x a multiple of 32,
 * at most 1024); every thread gets the result. red(a, b) must be
 * commutative and associative (up to rounding). sh: 32 elements of shared
 * memory. */
template <typename T, typename F> __device__ T block_combine(T v, F red, T *sh)
{
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v = red(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads(); /* sh may still be read from a previous combine */
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = sh[0];
    for (int i = 1; i < nw; i++)
        v = red(v, sh[i]);
    return v;
}

struct red_sum {
    __device__ double operator()(double a, double b) const { return a + b; }
};
struct red_maxskip {
    __device__ float operator()(float a, float b) const { return max_skip(a, b); }
};
struct red_max {
    __device__ float operator()(float a, float b) const { return max_nan(a, b); }
};
struct red_min {
    __device__ float operator()(float a, float b) const { return min_nan(a, b); }
};

/* Softmax ------------------------------------------------------------------ */

/* Contiguous rows of D, a warp each. */
template <bool LOG, typename T> __global__ void k_softmax_warp(const T *__restrict__ x, T *__restrict__ y, int64_t rows, int64_t D)
{
    const int lane = threadIdx.x & 31;
    const int64_t nw = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += nw) {
        const T *xr = x + r * D;
        T *yr = y + r * D;
        float m = vp_ld(xr[0]);
        for (int64_t i = lane; i < D; i += 32)
            m = max_skip(m, vp_ld(xr[i]));
        m = warp_max_skip(m);
        double s = 0;
        for (int64_t i = lane; i < D; i += 32)
            s += expf(vp_ld(xr[i]) - m);
        s = warp_sum(s);
        if (LOG) {
            float ls = (float)log(s);
            for (int64_t i = lane; i < D; i += 32)
                yr[i] = vp_st<T>((vp_ld(xr[i]) - m) - ls);
        } else {
            float inv = (float)(1.0 / s);
            for (int64_t i = lane; i < D; i += 32)
                yr[i] = vp_st<T>(expf(vp_ld(xr[i]) - m) * inv);
        }
    }
}

/* Contiguous rows of D, a block each (long rows). */
template <bool LOG, typename T> __global__ void k_softmax_block(const T *__restrict__ x, T *__restrict__ y, int64_t rows, int64_t D)
{
    __shared__ float shm[32];
    __shared__ double shs[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * D;
        T *yr = y + r * D;
        float m = vp_ld(xr[0]);
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
            m = max_skip(m, vp_ld(xr[i]));
        m = block_combine(m, red_maxskip(), shm);
        double s = 0;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
            s += expf(vp_ld(xr[i]) - m);
        s = block_combine(s, red_sum(), shs);
        if (LOG) {
            float ls = (float)log(s);
            for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
                yr[i] = vp_st<T>((vp_ld(xr[i]) - m) - ls);
        } else {
            float inv = (float)(1.0 / s);
            for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
                yr[i] = vp_st<T>(expf(vp_ld(xr[i]) - m) * inv);
        }
    }
}

/* Lines of D at stride I, a thread each. */
template <bool LOG, typename T>
__global__ void k_softmax_cols(const T *__restrict__ x, T *__restrict__ y, int64_t O, int64_t D, int64_t I)
{
    const int64_t n = O * I;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = t / I, i = t - o * I, base = o * D * I + i;
        const T *p = x + base;
        T *q = y + base;
        float m = vp_ld(p[0]);
        for (int64_t k = 1; k < D; k++)
            m = max_skip(m, vp_ld(p[k * I]));
        double s = 0;
        for (int64_t k = 0; k < D; k++)
            s += expf(vp_ld(p[k * I]) - m);
        if (LOG) {
            float ls = (float)log(s);
            for (int64_t k = 0; k < D; k++)
                q[k * I] = vp_st<T>((vp_ld(p[k * I]) - m) - ls);
        } else {
            float inv = (float)(1.0 / s);
            for (int64_t k = 0; k < D; k++)
                q[k * I] = vp_st<T>(expf(vp_ld(p[k * I]) - m) * inv);
        }
    }
}

template <bool LOG, typename T> int softmax_launch(cudaStream_t s, const T *x, T *y, int64_t O, int64_t D, int64_t I)
{
    if (I > 1)
        k_softmax_cols<LOG, T><<<blocks_for(O * I, kThreads), kThreads, 0, s>>>(x, y, O, D, I);
    else if (D > 1024 && O < 4096)
        k_softmax_block<LOG, T><<<blocks_for(O, 1), kThreads, 0, s>>>(x, y, O, D);
    else
        k_softmax_warp<LOG, T><<<blocks_for(O, kThreads / 32), kThreads, 0, s>>>(x, y, O, D);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* Reductions --------------------------------------------------------------- */

/* Per kind: the accumulator type (sums in double: exact enough that the
 * result is the true sum rounded once), its start from the line's first
 * element, one step, the final value, and the combine of two partials. */
template <int KIND> struct reducer;
template <> struct reducer<VP_CUMI_SUM> {
    typedef double acc;
    static __device__ double init(float) { return 0; }
    static __device__ double add(double a, float v) { return a + v; }
    static __device__ double done(double a, int64_t) { return a; } /* rounded once by the store */
    typedef red_sum comb;
};
template <> struct reducer<VP_CUMI_MEAN> {
    typedef double acc;
    static __device__ double init(float) { return 0; }
    static __device__ double add(double a, float v) { return a + v; }
    static __device__ double done(double a, int64_t n) { return a / (double)n; }
    typedef red_sum comb;
};
template <> struct reducer<VP_CUMI_L2> {
    typedef double acc;
    static __device__ double init(float) { return 0; }
    static __device__ double add(double a, float v) { return a + (double)v * v; }
    static __device__ double done(double a, int64_t) { return sqrt(a); }
    typedef red_sum comb;
};
template <> struct reducer<VP_CUMI_SUMSQ> {
    typedef double acc;
    static __device__ double init(float) { return 0; }
    static __device__ double add(double a, float v) { return a + (double)v * v; }
    static __device__ double done(double a, int64_t) { return a; }
    typedef red_sum comb;
};
template <> struct reducer<VP_CUMI_MAX> {
    typedef float acc;
    static __device__ float init(float first) { return first; }
    static __device__ float add(float a, float v) { return max_nan(a, v); }
    static __device__ float done(float a, int64_t) { return a; }
    typedef red_max comb;
};
template <> struct reducer<VP_CUMI_MIN> {
    typedef float acc;
    static __device__ float init(float first) { return first; }
    static __device__ float add(float a, float v) { return min_nan(a, v); }
    static __device__ float done(float a, int64_t) { return a; }
    typedef red_min comb;
};

template <typename T, typename F> __device__ __forceinline__ T warp_combine(T v, F red)
{
    for (int o = 16; o > 0; o >>= 1)
        v = red(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* [rows, R] contiguous, a warp per row. */
template <int K, typename T> __global__ void k_reduce_rows_warp(const T *__restrict__ x, T *__restrict__ y, int64_t rows, int64_t R)
{
    typedef reducer<K> Rd;
    const int lane = threadIdx.x & 31;
    const int64_t nw = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += nw) {
        const T *xr = x + r * R;
        typename Rd::acc a = Rd::init(vp_ld(xr[0]));
        for (int64_t i = lane; i < R; i += 32)
            a = Rd::add(a, vp_ld(xr[i]));
        a = warp_combine(a, typename Rd::comb());
        if (lane == 0)
            y[r] = vp_st<T>(Rd::done(a, R));
    }
}

/* [rows, R] contiguous, a block per row (long rows, few of them). */
template <int K, typename T> __global__ void k_reduce_rows_block(const T *__restrict__ x, T *__restrict__ y, int64_t rows, int64_t R)
{
    typedef reducer<K> Rd;
    __shared__ typename Rd::acc sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * R;
        typename Rd::acc a = Rd::init(vp_ld(xr[0]));
        for (int64_t i = threadIdx.x; i < R; i += blockDim.x)
            a = Rd::add(a, vp_ld(xr[i]));
        a = block_combine(a, typename Rd::comb(), sh);
        if (threadIdx.x == 0)
            y[r] = vp_st<T>(Rd::done(a, R));
    }
}

/* [outer, R, inner], a thread per (outer, inner) column. */
template <int K, typename T>
__global__ void k_reduce_cols(const T *__restrict__ x, T *__restrict__ y, int64_t outer, int64_t R, int64_t inner)
{
    typedef reducer<K> Rd;
    const int64_t n = outer * inner;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = t / inner, j = t - o * inner;
        const T *p = x + o * R * inner + j;
        typename Rd::acc a = Rd::init(vp_ld(p[0]));
        for (int64_t r = 0; r < R; r++)
            a = Rd::add(a, vp_ld(p[r * inner]));
        y[t] = vp_st<T>(Rd::done(a, R));
    }
}

/* Any grouping, a warp per output. */
template <int K, typename T> __global__ void k_reduce_any(const T *__restrict__ x, T *__restrict__ y, vp_cumi_red g)
{
    typedef reducer<K> Rd;
    const int lane = threadIdx.x & 31;
    const int64_t nw = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t o = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; o < g.n_out; o += nw) {
        int64_t base = 0, rem = o;
        for (int i = g.nk - 1; i >= 0; i--) {
            int64_t q = rem / g.ksz[i];
            base += (rem - q * g.ksz[i]) * g.kst[i];
            rem = q;
        }
        typename Rd::acc a = Rd::init(vp_ld(x[base]));
        for (int64_t r = lane; r < g.n_red; r += 32) {
            int64_t off = base;
            rem = r;
            for (int i = g.nr - 1; i >= 0; i--) {
                int64_t q = rem / g.rsz[i];
                off += (rem - q * g.rsz[i]) * g.rst[i];
                rem = q;
            }
            a = Rd::add(a, vp_ld(x[off]));
        }
        a = warp_combine(a, typename Rd::comb());
        if (lane == 0)
            y[o] = vp_st<T>(Rd::done(a, g.n_red));
    }
}

template <typename T> __global__ void k_fill(T *y, int64_t n, float v)
{
    const T e = vp_st<T>(v);
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = e;
}

template <int K, typename T> int reduce_launch(cudaStream_t s, const vp_cumi_red *g, const T *x, T *y)
{
    if (g->nr == 1 && g->last_red) {
        /* [n_out, R]: the kept groups (at most one) lie outside the reduced one */
        if (g->n_red > 1024 && g->n_out < 4096)
            k_reduce_rows_block<K, T><<<blocks_for(g->n_out, 1), kThreads, 0, s>>>(x, y, g->n_out, g->n_red);
        else
            k_reduce_rows_warp<K, T><<<blocks_for(g->n_out, kThreads / 32), kThreads, 0, s>>>(x, y, g->n_out, g->n_red);
    } else if (g->nr == 1 && g->nk <= 2 && g->n_out >= 1024) {
        /* [outer?, R, inner] */
        int64_t inner = g->kst[0] == 1 ? g->ksz[0] : g->ksz[g->nk - 1], outer = g->n_out / inner;
        k_reduce_cols<K, T><<<blocks_for(g->n_out, kThreads), kThreads, 0, s>>>(x, y, outer, g->n_red, inner);
    } else {
        k_reduce_any<K, T><<<blocks_for(g->n_out, kThreads / 32), kThreads, 0, s>>>(x, y, *g);
    }
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* ArgMax ------------------------------------------------------------------- */

template <typename T> __device__ __forceinline__ bool is_nan(T v) { return v != v; }

/* Warp shuffle of an element; bytes travel as int. */
template <typename T> __device__ __forceinline__ T shfl_xor(T v, int o) { return __shfl_xor_sync(0xffffffffu, v, o); }
template <> __device__ __forceinline__ int8_t shfl_xor(int8_t v, int o)
{
    return (int8_t)__shfl_xor_sync(0xffffffffu, (int)v, o);
}
template <> __device__ __forceinline__ uint8_t shfl_xor(uint8_t v, int o)
{
    return (uint8_t)__shfl_xor_sync(0xffffffffu, (int)v, o);
}

/* Whether candidate (v, i) ranks above the current best (b, bi): NaN above
 * all numbers, then the larger value, then the lower index (the higher one
 * with select_last_index). A total order, so any combination order picks
 * the same element as the CPU's left-to-right scan. */
template <typename T> __device__ __forceinline__ bool arg_above(T v, int64_t i, T b, int64_t bi, bool last)
{
    bool vn = is_nan(v), bn = is_nan(b);
    if (vn != bn)
        return vn;
    if (!vn && v != b)
        return v > b;
    return last ? i > bi : i < bi;
}

template <typename T>
__global__ void k_argmax_cols(const T *__restrict__ x, int64_t *__restrict__ y, int64_t O, int64_t D, int64_t I, bool last)
{
    const int64_t n = O * I;
    for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (int64_t)gridDim.x * blockDim.x) {
        int64_t o = t / I, i = t - o * I;
        const T *p = x + o * D * I + i;
        vp_ct<T> b = vp_ld(p[0]);
        int64_t bi = 0;
        for (int64_t k = 1; k < D; k++) {
            vp_ct<T> v = vp_ld(p[k * I]);
            if (arg_above(v, k, b, bi, last)) {
                b = v;
                bi = k;
            }
        }
        y[t] = bi;
    }
}

template <typename T>
__global__ void k_argmax_rows(const T *__restrict__ x, int64_t *__restrict__ y, int64_t rows, int64_t D, bool last)
{
    const int lane = threadIdx.x & 31;
    const int64_t nw = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += nw) {
        const T *xr = x + r * D;
        vp_ct<T> b = vp_ld(xr[0]);
        int64_t bi = 0;
        for (int64_t k = lane; k < D; k += 32) {
            vp_ct<T> v = vp_ld(xr[k]);
            if (arg_above(v, k, b, bi, last)) {
                b = v;
                bi = k;
            }
        }
        for (int o = 16; o > 0; o >>= 1) {
            vp_ct<T> v = shfl_xor(b, o);
            int64_t k = shfl_xor(bi, o);
            if (arg_above(v, k, b, bi, last)) {
                b = v;
                bi = k;
            }
        }
        if (lane == 0)
            y[r] = bi;
    }
}

template <typename T> int argmax_launch(cudaStream_t s, const void *xv, int64_t *y, int64_t O, int64_t D, int64_t I, int last)
{
    const T *x = (const T *)xv;
    if (I == 1 && D >= 64)
        k_argmax_rows<T><<<blocks_for(O, kThreads / 32), kThreads, 0, s>>>(x, y, O, D, last != 0);
    else
        k_argmax_cols<T><<<blocks_for(O * I, kThreads), kThreads, 0, s>>>(x, y, O, D, I, last != 0);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* TopK --------------------------------------------------------------------- */

/* Output order of two items (value, index): true if a comes before b. Items
 * with index >= D are padding and come last. */
template <typename T>
__device__ __forceinline__ bool topk_before(T av, int ai, T bv, int bi, int D, bool largest)
{
    bool ap = ai >= D, bp = bi >= D;
    if (ap || bp)
        return !ap && (bp || ai < bi);
    bool an = is_nan(av), bn = is_nan(bv);
    if (an != bn)
        return largest ? an : bn;
    if (!an && av != bv)
        return largest ? av > bv : av < bv;
    return ai < bi;
}

/* A block per line: the line's D items go to shared memory (padded to P, a
 * power of two), a bitonic sort orders them, the first K are written. */
template <typename T>
__global__ void k_topk(const T *__restrict__ x, T *__restrict__ vals, int64_t *__restrict__ idx, int64_t O, int D,
                       int64_t I, int K, int P, bool largest)
{
    typedef vp_ct<T> V; /* compared and kept in shared memory as V */
    extern __shared__ unsigned char smem[];
    V *sv = (V *)smem;
    int *si = (int *)(smem + (size_t)P * sizeof(V));
    const int64_t lines = O * I;
    for (int64_t t = blockIdx.x; t < lines; t += gridDim.x) {
        int64_t o = t / I, i = t - o * I;
        const T *p = x + o * (int64_t)D * I + i;
        for (int k = threadIdx.x; k < P; k += blockDim.x) {
            sv[k] = k < D ? vp_ld(p[k * I]) : V();
            si[k] = k;
        }
        __syncthreads();
        for (int k = 2; k <= P; k <<= 1)
            for (int j = k >> 1; j > 0; j >>= 1) {
                for (int a = threadIdx.x; a < P; a += blockDim.x) {
                    int b = a ^ j;
                    if (b <= a)
                        continue;
                    bool up = (a & k) == 0;
                    V av = sv[a], bv = sv[b];
                    int ai = si[a], bi = si[b];
                    bool swap = up ? topk_before(bv, bi, av, ai, D, largest) : topk_before(av, ai, bv, bi, D, largest);
                    if (swap) {
                        sv[a] = bv;
                        sv[b] = av;
                        si[a] = bi;
                        si[b] = ai;
                    }
                }
                __syncthreads();
            }
        int64_t obase = o * (int64_t)K * I + i;
        for (int k = threadIdx.x; k < K; k += blockDim.x) {
            if (vals)
                vals[obase + k * I] = vp_st<T>(sv[k]);
            if (idx)
                idx[obase + k * I] = si[k];
        }
        __syncthreads();
    }
}

template <typename T>
int topk_launch(cudaStream_t s, const void *x, void *vals, int64_t *idx, int64_t O, int64_t D, int64_t I, int64_t K,
                int largest)
{
    int P = 1;
    while (P < D)
        P <<= 1;
    int threads = P / 2 < 32 ? 32 : P / 2 > 512 ? 512 : P / 2;
    size_t sh = (size_t)P * (sizeof(vp_ct<T>) + sizeof(int));
    k_topk<T><<<blocks_for(O * I, 1), threads, sh, s>>>((const T *)x, (T *)vals, idx, O, (int)D, I, (int)K, P,
                                                        largest != 0);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

} // namespace

/* Entry points ------------------------------------------------------------ */

extern "C" int vp_cumi_softmax(cudaStream_t s, vp_dtype dt, int log, const void *x, void *y, int64_t O, int64_t D,
                               int64_t I)
{
    if (dt != VP_DT_FLOAT && dt != VP_DT_FLOAT16)
        return VP_ERR_UNSUPPORTED;
    if (!y || O <= 0 || D <= 0 || I <= 0)
        return VP_OK;
    if (dt == VP_DT_FLOAT16) {
        const __half *xh = (const __half *)x;
        __half *yh = (__half *)y;
        return log ? softmax_launch<true>(s, xh, yh, O, D, I) : softmax_launch<false>(s, xh, yh, O, D, I);
    }
    const float *xf = (const float *)x;
    float *yf = (float *)y;
    return log ? softmax_launch<true>(s, xf, yf, O, D, I) : softmax_launch<false>(s, xf, yf, O, D, I);
}

template <typename T> static int reduce_typed(cudaStream_t s, const vp_cumi_red *g, const T *x, T *y)
{
    if (g->n_red <= 0) {
        /* nothing to reduce: the value of an empty reduction */
        float v = g->kind == VP_CUMI_MEAN ? NAN : g->kind == VP_CUMI_MAX ? -INFINITY : g->kind == VP_CUMI_MIN ? INFINITY
                                                                                                        : 0.f;
        k_fill<T><<<blocks_for(g->n_out, kThreads), kThreads, 0, s>>>(y, g->n_out, v);
        VP_CUDA_LAUNCHED();
        return VP_OK;
    }
    if (g->nr == 0 && g->kind < VP_CUMI_L2) {
        /* only size-1 dimensions reduced: every kind returns its input
         * (L2 and the sum of squares still square, below) */
        VP_CUDA(cudaMemcpyAsync(y, x, (size_t)g->n_out * sizeof(T), cudaMemcpyDeviceToDevice, s));
        return VP_OK;
    }
    switch (g->kind) {
    case VP_CUMI_SUM: return reduce_launch<VP_CUMI_SUM>(s, g, x, y);
    case VP_CUMI_MEAN: return reduce_launch<VP_CUMI_MEAN>(s, g, x, y);
    case VP_CUMI_MAX: return reduce_launch<VP_CUMI_MAX>(s, g, x, y);
    case VP_CUMI_L2: return reduce_launch<VP_CUMI_L2>(s, g, x, y);
    case VP_CUMI_SUMSQ: return reduce_launch<VP_CUMI_SUMSQ>(s, g, x, y);
    default: return reduce_launch<VP_CUMI_MIN>(s, g, x, y);
    }
}

extern "C" int vp_cumi_reduce(cudaStream_t s, vp_dtype dt, const vp_cumi_red *g, const void *x, void *y)
{
    if (g->kind < VP_CUMI_SUM || g->kind > VP_CUMI_SUMSQ)
        return VP_ERR_UNSUPPORTED;
    if (dt != VP_DT_FLOAT && dt != VP_DT_FLOAT16)
        return VP_ERR_UNSUPPORTED;
    if (!y || g->n_out <= 0)
        return VP_OK;
    if (dt == VP_DT_FLOAT16)
        return reduce_typed(s, g, (const __half *)x, (__half *)y);
    return reduce_typed(s, g, (const float *)x, (float *)y);
}

extern "C" int vp_cumi_argmax(cudaStream_t s, vp_dtype dt, const void *x, int64_t *y, int64_t O, int64_t D, int64_t I,
                              int last)
{
    if (dt != VP_DT_FLOAT && dt != VP_DT_FLOAT16 && dt != VP_DT_INT32 && dt != VP_DT_INT64 && dt != VP_DT_UINT8 &&
        dt != VP_DT_INT8)
        return VP_ERR_UNSUPPORTED;
    if (!y || O <= 0 || I <= 0 || D <= 0)
        return VP_OK;
    switch (dt) {
    case VP_DT_FLOAT: return argmax_launch<float>(s, x, y, O, D, I, last);
    case VP_DT_FLOAT16: return argmax_launch<__half>(s, x, y, O, D, I, last);
    case VP_DT_INT32: return argmax_launch<int32_t>(s, x, y, O, D, I, last);
    case VP_DT_INT64: return argmax_launch<long long>(s, x, y, O, D, I, last);
    case VP_DT_UINT8: return argmax_launch<uint8_t>(s, x, y, O, D, I, last);
    default: return argmax_launch<int8_t>(s, x, y, O, D, I, last);
    }
}

extern "C" int64_t vp_cumi_topk_max(vp_dtype dt) { return kTopkMax; }

extern "C" int vp_cumi_topk(cudaStream_t s, vp_dtype dt, const void *x, void *vals, int64_t *idx, int64_t O, int64_t D,
                            int64_t I, int64_t K, int largest)
{
    if (dt != VP_DT_FLOAT && dt != VP_DT_FLOAT16 && dt != VP_DT_INT32 && dt != VP_DT_INT64)
        return VP_ERR_UNSUPPORTED;
    if (D > kTopkMax || K > D)
        return VP_ERR_UNSUPPORTED;
    if ((!vals && !idx) || O <= 0 || I <= 0 || K <= 0)
        return VP_OK;
    switch (dt) {
    case VP_DT_FLOAT: return topk_launch<float>(s, x, vals, idx, O, D, I, K, largest);
    case VP_DT_FLOAT16: return topk_launch<__half>(s, x, vals, idx, O, D, I, K, largest);
    case VP_DT_INT32: return topk_launch<int32_t>(s, x, vals, idx, O, D, I, K, largest);
    default: return topk_launch<long long>(s, x, vals, idx, O, D, I, K, largest);
    }
}
