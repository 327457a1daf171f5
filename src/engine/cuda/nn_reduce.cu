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
 */
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
            double e = (double)v[i];
            acc = is_max ? (e > acc ? e : acc) : acc + e;
        }
        acc = is_max ? block_reduce(acc, sh, op_max()) : block_reduce(acc, sh, op_sum());
        if (threadIdx.x == 0)
            y[p] = is_max ? (T)acc : (T)(acc / (double)sz);
    }
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
                s += (double)x[((i / g.sp) * g.ch + ci) * g.sp + i % g.sp];
            m = block_reduce(s, sh, op_sum()) / (double)cnt;
            for (int64_t i = threadIdx.x; i < cnt; i += blockDim.x) {
                double d = (double)x[((i / g.sp) * g.ch + ci) * g.sp + i % g.sp] - m;
                q += d * d;
            }
            v = block_reduce(q, sh, op_sum()) / (double)cnt;
        } else {
            m = (double)mean[ci];
            v = (double)var[ci];
        }
        if (threadIdx.x == 0) {
            double a = (double)scale[ci] / sqrt(v + g.eps);
            ab[2 * ci] = a;
            ab[2 * ci + 1] = (double)bias[ci] - m * a;
            if (training && run_mean)
                run_mean[ci] = (T)((double)mean[ci] * g.momentum + m * (1 - g.momentum));
            if (training && run_var)
                run_var[ci] = (T)((double)var[ci] * g.momentum + v * (1 - g.momentum));
        }
    }
}

/* y = x * a + b in X's type (float coefficients for float, as the CPU). */
template <typename T>
__global__ void bn_apply_kernel(const vp_cuda_bn_args g, const T *__restrict__ x,
                                T *__restrict__ y, const double *__restrict__ ab)
{
    const int64_t total = g.n * g.ch * g.sp;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t ci = (i / g.sp) % g.ch;
        y[i] = x[i] * (T)ab[2 * ci] + (T)ab[2 * ci + 1];
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

template <typename T>
__global__ void rownorm_kernel(const vp_cuda_rownorm_args a, const T *__restrict__ x,
                               const T *__restrict__ scale, const T *__restrict__ bias,
                               T *__restrict__ y, float *mean_out, float *inv_out)
{
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
        const T *xr = x + r * a.len;
        T *yr = y + r * a.len;
        double s = 0, q = 0;
        for (int64_t j = threadIdx.x; j < a.len; j += blockDim.x)
            s += (double)xr[j];
        double mean = a.len > 0 ? block_reduce(s, sh, op_sum()) / (double)a.len : 0.0;
        for (int64_t j = threadIdx.x; j < a.len; j += blockDim.x) {
            double d = (double)xr[j] - mean;
            q += d * d;
        }
        double var = a.len > 0 ? block_reduce(q, sh, op_sum()) / (double)a.len : 0.0;
        double inv = 1.0 / sqrt(var + a.eps);
        for (int64_t j = threadIdx.x; j < a.len; j += blockDim.x) {
            double sv = (double)scale[pmap_index(a.scale, r, j)];
            double bv = bias ? (double)bias[pmap_index(a.bias, r, j)] : 0.0;
            yr[j] = (T)(((double)xr[j] - mean) * inv * sv + bv);
        }
        if (threadIdx.x == 0) {
            if (mean_out)
                mean_out[r] = (float)mean;
            if (inv_out)
                inv_out[r] = (float)inv;
        }
    }
}

template <typename T>
int launch_rownorm(cudaStream_t st, const vp_cuda_rownorm_args *a, const void *x,
                   const void *scale, const void *bias, void *y, float *mean_out,
                   float *inv_out)
{
    if (a->rows <= 0)
        return VP_OK;
    rownorm_kernel<T><<<blocks_for(a->rows), kThreads, 0, st>>>(
        *a, (const T *)x, (const T *)scale, (const T *)bias, (T *)y, mean_out, inv_out);
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
            double v = (double)x[(n * a.ch + cc) * a.sp + k];
            sq += v * v;
        }
        y[i] = (T)((double)x[i] / pow(a.bias + a.alpha / (double)a.size * sq, a.beta));
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
    case VP_DT_DOUBLE: return launch_global_pool<double>(st, planes, sz, x, y, is_max);
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
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cuda_rownorm(cudaStream_t st, vp_dtype dt, const vp_cuda_rownorm_args *a,
                               const void *x, const void *scale, const void *bias, void *y,
                               float *mean_out, float *inv_out)
{
    switch (dt) {
    case VP_DT_FLOAT: return launch_rownorm<float>(st, a, x, scale, bias, y, mean_out, inv_out);
    case VP_DT_DOUBLE:
        return launch_rownorm<double>(st, a, x, scale, bias, y, mean_out, inv_out);
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cuda_lrn(cudaStream_t st, vp_dtype dt, const vp_cuda_lrn_args *a,
                           const void *x, void *y)
{
    switch (dt) {
    case VP_DT_FLOAT: return launch_lrn<float>(st, a, x, y);
    case VP_DT_DOUBLE: return launch_lrn<double>(st, a, x, y);
    default: return VP_ERR_UNSUPPORTED;
    }
}
