/*
 * CUDA kernels of the nn family: MaxPool and AveragePool.
 *
 * Direct kernels, one thread per output element (grid-stride), over 1..3
 * spatial axes padded to 3. They follow the CPU kernels (cpu/nn_pool.c)
 * tap for tap, so every corner of the ONNX spec (dilations, ceil_mode
 * windows reaching past the end padding, count_include_pad, Indices with
 * storage_order) comes out the same: a window's taps are clipped to X (and,
 * for count_include_pad, counted inside the padded extent); sums accumulate
 * in double. cuDNN's pooling cannot express a last window that reaches past
 * the end padding (ceil_mode), and pools are a small share of the time in
 * the target models, so the family does not use it.
 */
#include "engine/cuda/nn.h"

#include <math.h>
#include <stdint.h>

namespace {

constexpr int kThreads = 256;

/* Blocks for a grid-stride loop over n > 0 items. */
unsigned grid_for(int64_t n)
{
    int64_t b = (n + kThreads - 1) / kThreads;
    return (unsigned)(b < 65536 ? b : 65536);
}

/* Taps of output o along axis a that fall inside [lo, hi): first tap index
 * k0 and count kn (taps are at o*s - pb + j*d). */
__device__ void taps(const vp_cuda_pool_args &g, int a, int64_t o, int64_t lo, int64_t hi,
                     int64_t *k0, int64_t *kn)
{
    int64_t start = o * g.s[a] - g.pb[a], d = g.d[a];
    int64_t first = 0, last = g.k[a]; /* [first, last) */
    if (start < lo)
        first = (lo - start + d - 1) / d;
    if (start + (last - 1) * d >= hi)
        last = hi - start <= 0 ? 0 : (hi - start + d - 1) / d;
    if (last < first)
        last = first;
    *k0 = first;
    *kn = last - first;
}

/* Output element i (flat over planes x out) as plane p and 3 coordinates. */
__device__ void out_coords(const vp_cuda_pool_args &g, int64_t i, int64_t osz, int64_t *p,
                           int64_t o[3])
{
    int64_t r = i % osz;
    *p = i / osz;
    o[2] = r % g.out[2];
    o[1] = (r / g.out[2]) % g.out[1];
    o[0] = r / (g.out[2] * g.out[1]);
}

template <typename T>
__global__ void maxpool_kernel(const vp_cuda_pool_args g, const T *__restrict__ x,
                               T *__restrict__ y, int64_t *__restrict__ idx, int colmajor,
                               T lowest)
{
    const int64_t osz = g.out[0] * g.out[1] * g.out[2], isz = g.in[0] * g.in[1] * g.in[2];
    const int64_t total = g.planes * osz;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t p, o[3], a[3], n[3];
        out_coords(g, i, osz, &p, o);
        for (int ax = 0; ax < 3; ax++)
            taps(g, ax, o[ax], 0, g.in[ax], &a[ax], &n[ax]);
        const T *xp = x + p * isz;
        T best = lowest;
        int64_t best_i = -1;
        for (int64_t k0 = a[0]; k0 < a[0] + n[0]; k0++) {
            int64_t i0 = o[0] * g.s[0] - g.pb[0] + k0 * g.d[0];
            for (int64_t k1 = a[1]; k1 < a[1] + n[1]; k1++) {
                int64_t i1 = o[1] * g.s[1] - g.pb[1] + k1 * g.d[1];
                for (int64_t k2 = a[2]; k2 < a[2] + n[2]; k2++) {
                    int64_t i2 = o[2] * g.s[2] - g.pb[2] + k2 * g.d[2];
                    int64_t off = (i0 * g.in[1] + i1) * g.in[2] + i2;
                    T v = xp[off];
                    if (best_i < 0 || v > best) {
                        best = v;
                        /* Column-major: the padded leading axes have size 1,
                         * so this equals the formula over the real axes. */
                        best_i = colmajor ? i0 + g.in[0] * (i1 + g.in[1] * i2) : off;
                    }
                }
            }
        }
        y[i] = best;
        if (idx)
            idx[i] = best_i < 0 ? -1 : p * isz + best_i;
    }
}

template <typename T>
__global__ void avgpool_kernel(const vp_cuda_pool_args g, const T *__restrict__ x,
                               T *__restrict__ y, int include_pad)
{
    const int64_t osz = g.out[0] * g.out[1] * g.out[2], isz = g.in[0] * g.in[1] * g.in[2];
    const int64_t total = g.planes * osz;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t p, o[3], a[3], n[3], b[3], m[3];
        out_coords(g, i, osz, &p, o);
        for (int ax = 0; ax < 3; ax++) {
            taps(g, ax, o[ax], 0, g.in[ax], &a[ax], &n[ax]);
            taps(g, ax, o[ax], -g.pb[ax], g.in[ax] + g.pe[ax], &b[ax], &m[ax]);
        }
        const T *xp = x + p * isz;
        double sum = 0;
        for (int64_t k0 = a[0]; k0 < a[0] + n[0]; k0++) {
            int64_t i0 = o[0] * g.s[0] - g.pb[0] + k0 * g.d[0];
            for (int64_t k1 = a[1]; k1 < a[1] + n[1]; k1++) {
                int64_t i1 = o[1] * g.s[1] - g.pb[1] + k1 * g.d[1];
                const T *row = xp + (i0 * g.in[1] + i1) * g.in[2];
                for (int64_t k2 = a[2]; k2 < a[2] + n[2]; k2++)
                    sum += (double)row[o[2] * g.s[2] - g.pb[2] + k2 * g.d[2]];
            }
        }
        int64_t cnt = include_pad ? m[0] * m[1] * m[2] : n[0] * n[1] * n[2];
        y[i] = cnt > 0 ? (T)(sum / (double)cnt) : (T)0;
    }
}

template <typename T>
int launch_maxpool(cudaStream_t st, const vp_cuda_pool_args *a, const void *x, void *y,
                   int64_t *idx, int colmajor, T lowest)
{
    int64_t total = a->planes * a->out[0] * a->out[1] * a->out[2];
    if (total <= 0)
        return VP_OK;
    maxpool_kernel<T><<<grid_for(total), kThreads, 0, st>>>(*a, (const T *)x, (T *)y, idx,
                                                             colmajor, lowest);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

template <typename T>
int launch_avgpool(cudaStream_t st, const vp_cuda_pool_args *a, const void *x, void *y,
                   int include_pad)
{
    int64_t total = a->planes * a->out[0] * a->out[1] * a->out[2];
    if (total <= 0)
        return VP_OK;
    avgpool_kernel<T><<<grid_for(total), kThreads, 0, st>>>(*a, (const T *)x, (T *)y,
                                                             include_pad);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

} // namespace

extern "C" int vp_cuda_maxpool(cudaStream_t st, vp_dtype dt, const vp_cuda_pool_args *a,
                               const void *x, void *y, int64_t *idx, int colmajor)
{
    switch (dt) {
    case VP_DT_FLOAT: return launch_maxpool<float>(st, a, x, y, idx, colmajor, -INFINITY);
    case VP_DT_DOUBLE: return launch_maxpool<double>(st, a, x, y, idx, colmajor, -INFINITY);
    case VP_DT_INT8: return launch_maxpool<int8_t>(st, a, x, y, idx, colmajor, INT8_MIN);
    case VP_DT_UINT8: return launch_maxpool<uint8_t>(st, a, x, y, idx, colmajor, 0);
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cuda_avgpool(cudaStream_t st, vp_dtype dt, const vp_cuda_pool_args *a,
                               const void *x, void *y, int include_pad)
{
    switch (dt) {
    case VP_DT_FLOAT: return launch_avgpool<float>(st, a, x, y, include_pad);
    case VP_DT_DOUBLE: return launch_avgpool<double>(st, a, x, y, include_pad);
    default: return VP_ERR_UNSUPPORTED;
    }
}
