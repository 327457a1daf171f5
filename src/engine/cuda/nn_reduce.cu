/*
 * CUDA kernels of the nn family that reduce: GlobalAveragePool,
 * GlobalMaxPool, BatchNormalization (per-channel coefficients, batch
 * statistics in training mode), the row normalisations (Layer, Instance,
 * Group) and LRN.
 *
 * They follow the CPU kernels (cpu/nn_pool.c, cpu/nn_norm.c): sums and
 * statistics accumulate in double (two passes: mean, then the squared
 * deviations), so results agree with the CPU to float rounding whatever
 * the reduction order. One block reduces one plane, channel or row
 * (grid-stride over them); these ops are a small share of the time in the
 * target models (BatchNormalization is usually folded into Conv).
 *
 * Float16 tensors (X, Y and the parameters) are read as float and
 * accumulated in double like the others, results rounded once on store.
 */
#include "engine/cuda/half.cuh"
#include "engine/cuda/nn.h"

#include <math.h>
#include <stdint.h>

namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n)
{
    int64_t b = (n + kThreads - 1) / kThreads;
    return (unsigned)(b < 65536 ? b : 65536);
}

/* One block per item (plane, channel, row), grid-stride over n > 0 items. */
unsigned blocks_for(int64_t n) { return (unsigned)(n < 65536 ? n : 65536); }

struct op_sum {
    __device__ double operator()(double a, double b) const { return a + b; }
    __device__ double identity() const { return 0.0; }
};
/* Max that never selects NaN (as the CPU's v > m ? v : m from -inf). */
struct op_max {
    __device__ double operator()(double a, double b) const { return b > a ? b : a; }
    __device__ double identity() const { return -INFINITY; }
};

/* Reduce v over the block (blockDim.x a multiple of 32, at most 1024);
 * every thread gets the result. sh: 32 doubles of shared memory; safe to
 * call repeatedly with the same sh. */
template <typename Op>
__device__ double block_reduce(double v, double *sh, Op op)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1)
        v = op(v, __shfl_down_sync(0xffffffffu, v, o));
    __syncthreads(); /* the previous call's readers of sh[0] are done */
    if (lane == 0)
        sh[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < nw ? sh[lane] : op.identity();
        for (int o = 16; o > 0; o >>= 1)
            v = op(v, __shfl_down_sync(0xffffffffu, v, o));
        if (lane == 0)
            sh[0] = v;
    }
    __syncthreads();
    return sh[0];
}

/* Global pools ------------------------------------------------------------ */

template <typename T>
__global__ void global_pool_kernel(int64_t planes, int64_t sz, const T *__restrict__ x,
                                   T *__restrict__ y, int is_max)
{
    __shared__ double sh[32];
    for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {
        const T *v = x + p * sz;
        double acc = is_max ? -INFINITY : 0.0;
        for (int64_t i = threadIdx.x; i < sz; i += blockDim.x) {
            double e = (double)vp_ld(v[i]);
            acc = is_max ? (e > acc ? e : acc) : acc + e;
        }
        acc = is_max ? block_reduce(acc, sh, op_max()) : block_reduce(acc, sh, op_sum());
        if (threadIdx.x == 0)
            y[p] = is_max ? vp_st<T>(acc) : vp_st<T>(acc / (double)sz);
    }
}

/* Channels-last: X [n, sz, ch] -> Y [n, ch]. A block (32 x 8 threads) per
 * image and 32 groups of V channels: lane x owns a group, the 8 rows split
 * the spatial positions, shared memory combines the rows. */
constexpr int kGpRows = 8;

template <typename T, int V>
__global__ void __launch_bounds__(32 * kGpRows)
global_pool_nhwc_kernel(int64_t n, int64_t sz, int64_t ch, const T *__restrict__ x,
                        T *__restrict__ y, int is_max)
{
    __shared__ double sh[kGpRows][32][V];
    const int64_t cg = ch / V, chunks = (cg + 31) / 32;
    const int lane = threadIdx.x, row = threadIdx.y;
    for (int64_t blk = blockIdx.x; blk < n * chunks; blk += gridDim.x) {
        const int64_t b = blk / chunks, g = (blk % chunks) * 32 + lane;
        double acc[V];
#pragma unroll
        for (int j = 0; j < V; j++)
            acc[j] = is_max ? -INFINITY : 0.0;
        if (g < cg) {
            const T *p = x + b * sz * ch + g * V;
            for (int64_t s = row; s < sz; s += kGpRows) {
                vp_ct<T> v[V];
                vp_ldv<T, V>(p + s * ch, v);
#pragma unroll
                for (int j = 0; j < V; j++) {
                    double e = (double)v[j];
                    acc[j] = is_max ? (e > acc[j] ? e : acc[j]) : acc[j] + e;
                }
            }
        }
#pragma unroll
        for (int j = 0; j < V; j++)
            sh[row][lane][j] = acc[j];
        __syncthreads();
        if (row == 0 && g < cg) {
            vp_vec<T, V> w;
#pragma unroll
            for (int j = 0; j < V; j++) {
                double a = sh[0][lane][j];
                for (int r = 1; r < kGpRows; r++) {
                    double e = sh[r][lane][j];
                    a = is_max ? (e > a ? e : a) : a + e;
                }
                w.e[j] = is_max ? vp_st<T>(a) : vp_st<T>(a / (double)sz);
            }
            *reinterpret_cast<vp_vec<T, V> *>(y + b * ch + g * V) = w;
        }
        __syncthreads();
    }
}

template <typename T>
int launch_global_pool_nhwc(cudaStream_t st, int64_t n, int64_t sz, int64_t ch, const void *x,
                            void *y, int is_max)
{
    if (n <= 0 || ch <= 0)
        return VP_OK;
    constexpr int V = vp_pack_n<T>;
    const dim3 threads(32, kGpRows);
    if (ch % V == 0 && vp_aligned(x, 16) && vp_aligned(y, 16))
        global_pool_nhwc_kernel<T, V><<<blocks_for(n * ((ch / V + 31) / 32)), threads, 0, st>>>(
            n, sz, ch, (const T *)x, (T *)y, is_max);
    else
        global_pool_nhwc_kernel<T, 1><<<blocks_for(n * ((ch + 31) / 32)), threads, 0, st>>>(
            n, sz, ch, (const T *)x, (T *)y, is_max);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

template <typename T>
int launch_global_pool(cudaStream_t st, int64_t planes, int64_t sz, const void *x, void *y,
                       int is_max)
{
    if (planes <= 0)
        return VP_OK;
    global_pool_kernel<T><<<blocks_for(planes), kThreads, 0, st>>>(planes, sz, (const T *)x,
                                                                   (T *)y, is_max);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* BatchNormalization -------------------------------------------------------- */

/* Per channel: a = scale / sqrt(var + eps), b = bias - mean * a into
 * ab[2c], ab[2c+1]; in training mode mean and var are the batch's (over N
 * and the spatial axes) and the running estimates are written. */
template <typename T>
__global__ void bn_coef_kernel(const vp_cuda_bn_args g, const T *__restrict__ x,
                               const T *__restrict__ scale, const T *__restrict__ bias,
                               const T *__restrict__ mean, const T *__restrict__ var,
                               double *__restrict__ ab, int training, T *run_mean, T *run_var)
{
    __shared__ double sh[32];
    const int64_t cnt = g.n * g.sp;
    for (int64_t ci = blockIdx.x; ci < g.ch; ci += gridDim.x) {
        double m, v;
        if (training) {
            double s = 0, q = 0;
            for (int64_t i = threadIdx.x; i < cnt; i += blockDim.x)
                s += (double)vp_ld(x[((i / g.sp) * g.ch + ci) * g.sp + i % g.sp]);
            m = block_reduce(s, sh, op_sum()) / (double)cnt;
            for (int64_t i = threadIdx.x; i < cnt; i += blockDim.x) {
                double d = (double)vp_ld(x[((i / g.sp) * g.ch + ci) * g.sp + i % g.sp]) - m;
                q += d * d;
            }
            v = block_reduce(q, sh, op_sum()) / (double)cnt;
        } else {
            m = (double)vp_ld(mean[ci]);
            v = (double)vp_ld(var[ci]);
        }
        if (threadIdx.x == 0) {
            double a = (double)vp_ld(scale[ci]) / sqrt(v + g.eps);
            ab[2 * ci] = a;
            ab[2 * ci + 1] = (double)vp_ld(bias[ci]) - m * a;
            if (training && run_mean)
                run_mean[ci] = vp_st<T>((double)vp_ld(mean[ci]) * g.momentum + m * (1 - g.momentum));
            if (training && run_var)
                run_var[ci] = vp_st<T>((double)vp_ld(var[ci]) * g.momentum + v * (1 - g.momentum));
        }
    }
}

/* y = x * a + b in X's type (float coefficients for float, as the CPU;
 * float for float16). */
template <typename T>
__global__ void bn_apply_kernel(const vp_cuda_bn_args g, const T *__restrict__ x,
                                T *__restrict__ y, const double *__restrict__ ab)
{
    const int64_t total = g.n * g.ch * g.sp;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ci = (i / g.sp) % g.ch;
        typedef vp_ct<T> C;
        y[i] = vp_st<T>(vp_ld(x[i]) * (C)ab[2 * ci] + (C)ab[2 * ci + 1]);
    }
}

template <typename T>
int launch_batchnorm(cudaStream_t st, const vp_cuda_bn_args *g, const void *x, void *y,
                     const void *scale, const void *bias, const void *mean, const void *var,
                     double *ab, int training, void *run_mean, void *run_var)
{
    if (g->ch <= 0)
        return VP_OK;
    if (training && g->n * g->sp <= 0)
        training = 0; /* no elements: nothing to normalise, CPU would divide by 0 */
    bn_coef_kernel<T><<<blocks_for(g->ch), kThreads, 0, st>>>(
        *g, (const T *)x, (const T *)scale, (const T *)bias, (const T *)mean, (const T *)var,
        ab, training, (T *)run_mean, (T *)run_var);
    VP_CUDA_LAUNCHED();
    int64_t total = g->n * g->ch * g->sp;
    if (total <= 0)
        return VP_OK;
    bn_apply_kernel<T><<<grid_for(total), kThreads, 0, st>>>(*g, (const T *)x, (T *)y, ab);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* Row normalisations -------------------------------------------------------- */

__device__ int64_t pmap_index(const vp_cuda_pmap &m, int64_t r, int64_t j)
{
    if (m.mode == VP_CUDA_PMAP_ROW)
        return (r % m.row_mod) * m.row_mul + (j / m.j_div) * m.j_mul;
    int64_t off = 0;
    for (int i = 0; i < m.nd; i++)
        off += ((j / m.inner[i]) % m.dims[i]) * m.str[i];
    return off;
}

/* Statistics outputs of the row normalisations: float or float16. */
__device__ void store_stat(void *p, int half, int64_t r, double v)
{
    if (half)
        ((__half *)p)[r] = vp_st<__half>(v);
    else
        ((float *)p)[r] = (float)v;
}

template <typename T>
__global__ void rownorm_kernel(const vp_cuda_rownorm_args a, const T *__restrict__ x,
                               const T *__restrict__ scale, const T *__restrict__ bias,
                               T *__restrict__ y, void *mean_out, void *inv_out, int stat_half)
{
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
        const T *xr = x + r * a.len;
        T *yr = y + r * a.len;
        double s = 0, q = 0;
        for (int64_t j = threadIdx.x; j < a.len; j += blockDim.x)
            s += (double)vp_ld(xr[j]);
        double mean = a.len > 0 ? block_reduce(s, sh, op_sum()) / (double)a.len : 0.0;
        for (int64_t j = threadIdx.x; j < a.len; j += blockDim.x) {
            double d = (double)vp_ld(xr[j]) - mean;
            q += d * d;
        }
        double var = a.len > 0 ? block_reduce(q, sh, op_sum()) / (double)a.len : 0.0;
        double inv = 1.0 / sqrt(var + a.eps);
        for (int64_t j = threadIdx.x; j < a.len; j += blockDim.x) {
            double sv = (double)vp_ld(scale[pmap_index(a.scale, r, j)]);
            double bv = bias ? (double)vp_ld(bias[pmap_index(a.bias, r, j)]) : 0.0;
            yr[j] = vp_st<T>(((double)vp_ld(xr[j]) - mean) * inv * sv + bv);
        }
        if (threadIdx.x == 0) {
            if (mean_out)
                store_stat(mean_out, stat_half, r, mean);
            if (inv_out)
                store_stat(inv_out, stat_half, r, inv);
        }
    }
}

template <typename T>
int launch_rownorm(cudaStream_t st, const vp_cuda_rownorm_args *a, const void *x,
                   const void *scale, const void *bias, void *y, void *mean_out,
                   void *inv_out, int stat_half)
{
    if (a->rows <= 0)
        return VP_OK;
    rownorm_kernel<T><<<blocks_for(a->rows), kThreads, 0, st>>>(
        *a, (const T *)x, (const T *)scale, (const T *)bias, (T *)y, mean_out, inv_out,
        stat_half);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* LRN ----------------------------------------------------------------------- */

/* y = x / (bias + alpha / size * sum of x^2 over channels
 * c - floor((size-1)/2) .. c + ceil((size-1)/2)) ^ beta */
template <typename T>
__global__ void lrn_kernel(const vp_cuda_lrn_args a, const T *__restrict__ x,
                           T *__restrict__ y)
{
    const int64_t total = a.n * a.ch * a.sp, lo = (a.size - 1) / 2, hi = a.size - 1 - lo;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t k = i % a.sp, ci = (i / a.sp) % a.ch, n = i / (a.sp * a.ch);
        int64_t c0 = ci - lo < 0 ? 0 : ci - lo, c1 = ci + hi >= a.ch ? a.ch - 1 : ci + hi;
        double sq = 0;
        for (int64_t cc = c0; cc <= c1; cc++) {
            double v = (double)vp_ld(x[(n * a.ch + cc) * a.sp + k]);
            sq += v * v;
        }
        y[i] = vp_st<T>((double)vp_ld(x[i]) / pow(a.bias + a.alpha / (double)a.size * sq, a.beta));
    }
}

template <typename T>
int launch_lrn(cudaStream_t st, const vp_cuda_lrn_args *a, const void *x, void *y)
{
    int64_t total = a->n * a->ch * a->sp;
    if (total <= 0)
        return VP_OK;
    lrn_kernel<T><<<grid_for(total), kThreads, 0, st>>>(*a, (const T *)x, (T *)y);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

} // namespace

extern "C" int vp_cuda_global_pool(cudaStream_t st, vp_dtype dt, int64_t planes, int64_t sz,
                                   const void *x, void *y, int is_max)
{
    switch (dt) {
    case VP_DT_FLOAT: return launch_global_pool<float>(st, planes, sz, x, y, is_max);
    case VP_DT_FLOAT16: return launch_global_pool<__half>(st, planes, sz, x, y, is_max);
    case VP_DT_DOUBLE: return launch_global_pool<double>(st, planes, sz, x, y, is_max);
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cuda_global_pool_nhwc(cudaStream_t st, vp_dtype dt, int64_t n, int64_t sz,
                                        int64_t ch, const void *x, void *y, int is_max)
{
    switch (dt) {
    case VP_DT_FLOAT: return launch_global_pool_nhwc<float>(st, n, sz, ch, x, y, is_max);
    case VP_DT_FLOAT16: return launch_global_pool_nhwc<__half>(st, n, sz, ch, x, y, is_max);
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cuda_batchnorm(cudaStream_t st, vp_dtype dt, const vp_cuda_bn_args *a,
                                 const void *x, void *y, const void *scale, const void *bias,
                                 const void *mean, const void *var, double *ab, int training,
                                 void *run_mean, void *run_var)
{
    switch (dt) {
    case VP_DT_FLOAT:
        return launch_batchnorm<float>(st, a, x, y, scale, bias, mean, var, ab, training,
                                       run_mean, run_var);
    case VP_DT_DOUBLE:
        return launch_batchnorm<double>(st, a, x, y, scale, bias, mean, var, ab, training,
                                        run_mean, run_var);
    case VP_DT_FLOAT16:
        return launch_batchnorm<__half>(st, a, x, y, scale, bias, mean, var, ab, training,
                                        run_mean, run_var);
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cuda_rownorm(cudaStream_t st, vp_dtype dt, const vp_cuda_rownorm_args *a,
                               const void *x, const void *scale, const void *bias, void *y,
                               void *mean_out, void *inv_out, vp_dtype stat_dt)
{
    if (stat_dt != VP_DT_FLOAT && stat_dt != VP_DT_FLOAT16)
        return VP_ERR_UNSUPPORTED;
    const int sh = stat_dt == VP_DT_FLOAT16;
    switch (dt) {
    case VP_DT_FLOAT:
        return launch_rownorm<float>(st, a, x, scale, bias, y, mean_out, inv_out, sh);
    case VP_DT_FLOAT16:
        return launch_rownorm<__half>(st, a, x, scale, bias, y, mean_out, inv_out, sh);
    case VP_DT_DOUBLE:
        return launch_rownorm<double>(st, a, x, scale, bias, y, mean_out, inv_out, sh);
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cuda_lrn(cudaStream_t st, vp_dtype dt, const vp_cuda_lrn_args *a,
                           const void *x, void *y)
{
    switch (dt) {
    case VP_DT_FLOAT: return launch_lrn<float>(st, a, x, y);
    case VP_DT_DOUBLE: return launch_lrn<double>(st, a, x, y);
    case VP_DT_FLOAT16: return launch_lrn<__half>(st, a, x, y);
    default: return VP_ERR_UNSUPPORTED;
    }
}
