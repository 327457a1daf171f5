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
 *
 * Float16 is compared and summed as float (sums in float for float16, in
 * double for float and double) and rounded once on store.
 *
 * Channels-last (NHWC) variants: X [N, spatial..., C], a thread per output
 * pixel and group of V consecutive channels, V = 16 bytes of elements when
 * C and the pointers allow it (8 halves, 4 floats: every tap is one 16-byte
 * load, coalesced across the threads of a pixel), else 1. The taps and the
 * NaN and count rules are those of the planar kernels.
 * MaxPool with stride 1 and no dilation along H (YOLO's SPPF: 5x5, stride
 * 1) is computed separably: a thread owns kRows consecutive output rows of
 * one column and channel group, takes the maximum along W once per input
 * row and folds each row into the outputs whose window contains it, so a
 * k x k window costs (kRows + k - 1) * k loads per kRows outputs instead
 * of kRows * k * k. The planar kernel's rule (the first tap, then any
 * strictly greater one: a NaN wins only as the window's first tap) is kept
 * by taking two values per row: its maximum over non-NaN taps, and that or
 * NaN when its first tap is NaN; the latter starts a window whose first row
 * it is, the former updates the windows it only joins.
 */
#include "engine/cuda/half.cuh"
#include "engine/cuda/nn.h"

#include <math.h>
#include <stdint.h>
#include <type_traits>

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

/* Sum type of AveragePool: float for float16, double otherwise. */
template <typename T> using acc_t = typename std::conditional<vp_is_half<T>, float, double>::type;

template <typename T>
__global__ void maxpool_kernel(const vp_cuda_pool_args g, const T *__restrict__ x,
                               T *__restrict__ y, int64_t *__restrict__ idx, int colmajor,
                               vp_ct<T> lowest)
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
        vp_ct<T> best = lowest;
        int64_t best_i = -1;
        for (int64_t k0 = a[0]; k0 < a[0] + n[0]; k0++) {
            int64_t i0 = o[0] * g.s[0] - g.pb[0] + k0 * g.d[0];
            for (int64_t k1 = a[1]; k1 < a[1] + n[1]; k1++) {
                int64_t i1 = o[1] * g.s[1] - g.pb[1] + k1 * g.d[1];
                for (int64_t k2 = a[2]; k2 < a[2] + n[2]; k2++) {
                    int64_t i2 = o[2] * g.s[2] - g.pb[2] + k2 * g.d[2];
                    int64_t off = (i0 * g.in[1] + i1) * g.in[2] + i2;
                    vp_ct<T> v = vp_ld(xp[off]);
                    if (best_i < 0 || v > best) {
                        best = v;
                        /* Column-major: the padded leading axes have size 1,
                         * so this equals the formula over the real axes. */
                        best_i = colmajor ? i0 + g.in[0] * (i1 + g.in[1] * i2) : off;
                    }
                }
            }
        }
        y[i] = vp_st<T>(best);
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
        acc_t<T> sum = 0;
        for (int64_t k0 = a[0]; k0 < a[0] + n[0]; k0++) {
            int64_t i0 = o[0] * g.s[0] - g.pb[0] + k0 * g.d[0];
            for (int64_t k1 = a[1]; k1 < a[1] + n[1]; k1++) {
                int64_t i1 = o[1] * g.s[1] - g.pb[1] + k1 * g.d[1];
                const T *row = xp + (i0 * g.in[1] + i1) * g.in[2];
                for (int64_t k2 = a[2]; k2 < a[2] + n[2]; k2++)
                    sum += (acc_t<T>)vp_ld(row[o[2] * g.s[2] - g.pb[2] + k2 * g.d[2]]);
            }
        }
        int64_t cnt = include_pad ? m[0] * m[1] * m[2] : n[0] * n[1] * n[2];
        y[i] = vp_st<T>(cnt > 0 ? sum / (acc_t<T>)cnt : (acc_t<T>)0);
    }
}

/* Channels-last: x [planes = N, in..., ch], y [N, out..., ch]; thread i is
 * channel group i % (ch / V) of output pixel i / (ch / V). */
template <typename T, int V, bool MAX>
__global__ void pool_nhwc_kernel(const vp_cuda_pool_args g, int64_t ch, const T *__restrict__ x,
                                 T *__restrict__ y, int include_pad, vp_ct<T> lowest)
{
    typedef typename std::conditional<MAX, vp_ct<T>, acc_t<T>>::type A;
    const int64_t osz = g.out[0] * g.out[1] * g.out[2], isz = g.in[0] * g.in[1] * g.in[2];
    const int64_t cg = ch / V, total = g.planes * osz * cg;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c0 = (i % cg) * V, pix = i / cg;
        int64_t p, o[3], a[3], n[3], b[3], m[3];
        out_coords(g, pix, osz, &p, o);
        for (int ax = 0; ax < 3; ax++) {
            taps(g, ax, o[ax], 0, g.in[ax], &a[ax], &n[ax]);
            if (!MAX)
                taps(g, ax, o[ax], -g.pb[ax], g.in[ax] + g.pe[ax], &b[ax], &m[ax]);
        }
        const T *xp = x + p * isz * ch + c0;
        A acc[V];
#pragma unroll
        for (int j = 0; j < V; j++)
            acc[j] = MAX ? (A)lowest : (A)0;
        bool first = true;
        for (int64_t k0 = a[0]; k0 < a[0] + n[0]; k0++) {
            int64_t i0 = o[0] * g.s[0] - g.pb[0] + k0 * g.d[0];
            for (int64_t k1 = a[1]; k1 < a[1] + n[1]; k1++) {
                int64_t i1 = o[1] * g.s[1] - g.pb[1] + k1 * g.d[1];
                const T *row = xp + (i0 * g.in[1] + i1) * g.in[2] * ch;
                for (int64_t k2 = a[2]; k2 < a[2] + n[2]; k2++) {
                    vp_ct<T> v[V];
                    vp_ldv<T, V>(row + (o[2] * g.s[2] - g.pb[2] + k2 * g.d[2]) * ch, v);
#pragma unroll
                    for (int j = 0; j < V; j++) {
                        if (MAX)
                            acc[j] = first || v[j] > acc[j] ? (A)v[j] : acc[j];
                        else
                            acc[j] += (A)v[j];
                    }
                    first = false;
                }
            }
        }
        vp_ct<T> r[V];
        if (MAX) {
#pragma unroll
            for (int j = 0; j < V; j++)
                r[j] = (vp_ct<T>)acc[j];
            vp_stv<T, V>(y + i * V, r);
        } else {
            const int64_t cnt = include_pad ? m[0] * m[1] * m[2] : n[0] * n[1] * n[2];
            vp_vec<T, V> w;
#pragma unroll
            for (int j = 0; j < V; j++)
                w.e[j] = vp_st<T>(cnt > 0 ? acc[j] / (A)cnt : (A)0);
            *reinterpret_cast<vp_vec<T, V> *>(y + i * V) = w;
        }
    }
}

/* Output rows per thread of the separable MaxPool. */
constexpr int kRows = 4;

template <typename T, int V>
__global__ void maxpool_nhwc_rows_kernel(const vp_cuda_pool_args g, int64_t ch,
                                         const T *__restrict__ x, T *__restrict__ y,
                                         vp_ct<T> lowest)
{
    typedef vp_ct<T> C;
    const int64_t cg = ch / V, rb = (g.out[1] + kRows - 1) / kRows;
    const int64_t total = g.planes * g.out[0] * rb * g.out[2] * cg;
    const int64_t k1 = g.k[1], pb1 = g.pb[1], in1 = g.in[1];
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i;
        const int64_t c0 = (r % cg) * V;
        r /= cg;
        const int64_t ox = r % g.out[2];
        r /= g.out[2];
        const int64_t oy0 = (r % rb) * kRows;
        r /= rb;
        const int64_t o0 = r % g.out[0], p = r / g.out[0];
        int64_t a0, n0, a2, n2;
        taps(g, 0, o0, 0, g.in[0], &a0, &n0);
        taps(g, 2, ox, 0, g.in[2], &a2, &n2);
        C acc[kRows][V];
        bool first[kRows];
#pragma unroll
        for (int j = 0; j < kRows; j++) {
            first[j] = true;
#pragma unroll
            for (int e = 0; e < V; e++)
                acc[j][e] = lowest;
        }
        /* input rows any of the outputs oy0 .. oy0 + kRows - 1 reads */
        int64_t lo = oy0 - pb1, hi = oy0 + kRows - 1 - pb1 + k1; /* [lo, hi) */
        lo = lo < 0 ? 0 : lo;
        hi = hi > in1 ? in1 : hi;
        for (int64_t k0 = a0; k0 < a0 + n0; k0++) {
            const int64_t i0 = o0 * g.s[0] - g.pb[0] + k0 * g.d[0];
            for (int64_t iy = lo; iy < hi && n2 > 0; iy++) {
                const T *row = x + ((p * g.in[0] + i0) * in1 + iy) * g.in[2] * ch + c0;
                C hm[V], hf[V]; /* max over non-NaN taps; first tap if NaN, else hm */
#pragma unroll
                for (int e = 0; e < V; e++)
                    hm[e] = lowest;
                for (int64_t k2 = a2; k2 < a2 + n2; k2++) {
                    C v[V];
                    vp_ldv<T, V>(row + (ox * g.s[2] - g.pb[2] + k2 * g.d[2]) * ch, v);
#pragma unroll
                    for (int e = 0; e < V; e++) {
                        if (k2 == a2)
                            hf[e] = v[e];
                        hm[e] = v[e] > hm[e] ? v[e] : hm[e];
                    }
                }
#pragma unroll
                for (int e = 0; e < V; e++)
                    hf[e] = hf[e] != hf[e] ? hf[e] : hm[e];
#pragma unroll
                for (int j = 0; j < kRows; j++) {
                    /* output oy0 + j reads rows [oy0 + j - pb1, + k1) */
                    const int64_t w0 = oy0 + j - pb1;
                    if (iy < w0 || iy >= w0 + k1)
                        continue;
#pragma unroll
                    for (int e = 0; e < V; e++)
                        acc[j][e] = first[j] ? hf[e] : hm[e] > acc[j][e] ? hm[e] : acc[j][e];
                    first[j] = false;
                }
            }
        }
#pragma unroll
        for (int j = 0; j < kRows; j++) {
            const int64_t oy = oy0 + j;
            if (oy < g.out[1])
                vp_stv<T, V>(y + (((p * g.out[0] + o0) * g.out[1] + oy) * g.out[2] + ox) * ch + c0,
                             acc[j]);
        }
    }
}

template <typename T, bool MAX>
int launch_pool_nhwc(cudaStream_t st, const vp_cuda_pool_args *a, int64_t ch, const void *x,
                     void *y, int include_pad, vp_ct<T> lowest)
{
    int64_t pix = a->planes * a->out[0] * a->out[1] * a->out[2];
    if (pix <= 0 || ch <= 0)
        return VP_OK;
    constexpr int V = vp_pack_n<T>;
    const bool vec = ch % V == 0 && vp_aligned(x, 16) && vp_aligned(y, 16);
    if (MAX && a->in[0] == 1 && a->k[0] == 1 && a->s[1] == 1 && a->d[1] == 1 && a->k[1] > 1) {
        const int64_t rows = a->planes * a->out[0] * ((a->out[1] + kRows - 1) / kRows) * a->out[2];
        if (vec)
            maxpool_nhwc_rows_kernel<T, V><<<grid_for(rows * (ch / V)), kThreads, 0, st>>>(
                *a, ch, (const T *)x, (T *)y, lowest);
        else
            maxpool_nhwc_rows_kernel<T, 1><<<grid_for(rows * ch), kThreads, 0, st>>>(
                *a, ch, (const T *)x, (T *)y, lowest);
    } else if (vec)
        pool_nhwc_kernel<T, V, MAX><<<grid_for(pix * (ch / V)), kThreads, 0, st>>>(
            *a, ch, (const T *)x, (T *)y, include_pad, lowest);
    else
        pool_nhwc_kernel<T, 1, MAX><<<grid_for(pix * ch), kThreads, 0, st>>>(
            *a, ch, (const T *)x, (T *)y, include_pad, lowest);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

template <typename T>
int launch_maxpool(cudaStream_t st, const vp_cuda_pool_args *a, const void *x, void *y,
                   int64_t *idx, int colmajor, vp_ct<T> lowest)
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
    case VP_DT_FLOAT16: return launch_maxpool<__half>(st, a, x, y, idx, colmajor, -INFINITY);
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
    case VP_DT_FLOAT16: return launch_avgpool<__half>(st, a, x, y, include_pad);
    case VP_DT_DOUBLE: return launch_avgpool<double>(st, a, x, y, include_pad);
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cuda_pool_nhwc(cudaStream_t st, vp_dtype dt, const vp_cuda_pool_args *a,
                                 int64_t ch, const void *x, void *y, int is_max, int include_pad)
{
    switch (dt) {
    case VP_DT_FLOAT:
        return is_max ? launch_pool_nhwc<float, true>(st, a, ch, x, y, 0, -INFINITY)
                      : launch_pool_nhwc<float, false>(st, a, ch, x, y, include_pad, 0);
    case VP_DT_FLOAT16:
        return is_max ? launch_pool_nhwc<__half, true>(st, a, ch, x, y, 0, -INFINITY)
                      : launch_pool_nhwc<__half, false>(st, a, ch, x, y, include_pad, 0);
    default: return VP_ERR_UNSUPPORTED;
    }
}
