/*
 * CUDA kernels: Resize (float32, float16), from the per-axis tap tables
 * misc.c builds in prepare() (contract in misc.h).
 *
 * Float16 is read as float, blended in double like float32, rounded once on
 * store; nearest modes only move elements.
 *
 * Five kernels, a thread per output element each (per group of channels
 * for the channels-last gather):
 *   - planar nearest: every axis but the last two unchanged and one tap on
 *     both (YOLO's nearest 2x upsampling): a pure gather;
 *   - planar taps: same planes, any taps on the last two axes (DeepLab's
 *     bilinear, cubic, antialias, tf_crop_and_resize): rows blended first,
 *     then columns, in double, as the CPU's 2-D path does, rounded once;
 *   - channels-last nearest: rank 4 with axes 1 and 2 resized and axes 0
 *     and 3 unchanged ([N, H, W, C], channels-last plans): each output
 *     pixel copies the C elements of one input pixel, moved as the widest
 *     words (up to 16 bytes) that C and the pointers allow;
 *   - channels-last taps: the same axes, any taps, blended as the planar
 *     kernel does (same order of operations, so the same results);
 *   - any axes resized: the sum over every combination of taps of the
 *     product of the axes' weights, in double.
 * An output position outside the input on any axis (tf_crop_and_resize)
 * takes the extrapolation value.
 */
#include "engine/cuda/half.cuh"
#include "engine/cuda/misc.h"

#include <stdint.h>

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 8192;

int blocks_for(int64_t n)
{
    int64_t b = (n + kThreads - 1) / kThreads;
    return (int)(b < 1 ? 1 : b > kMaxBlocks ? kMaxBlocks : b);
}

/* The planar kernels index in I: int32_t when input and output have fewer
 * than 2^30 elements (the divisions are much cheaper), else int64_t. */
template <typename T, typename I>
__global__ void k_rs_nearest2d(const T *__restrict__ x, T *__restrict__ y, I n, I hin, I win, I hout, I wout,
                               const int32_t *__restrict__ iy, const int32_t *__restrict__ ix)
{
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (I)gridDim.x * blockDim.x) {
        I t = e / wout, ox = e - t * wout;
        I pl = t / hout, oy = t - pl * hout;
        y[e] = x[(pl * hin + iy[oy]) * win + ix[ox]];
    }
}

/* The same, K consecutive outputs of a row per thread, stored as one word
 * of K elements (wout % K == 0, y aligned to the word). */
template <typename T, int K, typename I>
__global__ void k_rs_nearest2d_vec(const T *__restrict__ x, T *__restrict__ y, I nv, I hin, I win, I hout, I wout,
                                   const int32_t *__restrict__ iy, const int32_t *__restrict__ ix)
{
    const I wv = wout / K;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < nv; e += (I)gridDim.x * blockDim.x) {
        I t = e / wv, ox = (e - t * wv) * K;
        I pl = t / hout, oy = t - pl * hout;
        const T *row = x + (pl * hin + iy[oy]) * win;
        vp_vec<T, K> w;
#pragma unroll
        for (int k = 0; k < K; k++)
            w.e[k] = row[ix[ox + k]];
        *reinterpret_cast<vp_vec<T, K> *>(y + (t * wout + ox)) = w;
    }
}

template <typename T, typename I>
__global__ void k_rs_2d(const T *__restrict__ x, T *__restrict__ y, I n, I hin, I win, I hout, I wout,
                        vp_cumi_rs_axis ay, vp_cumi_rs_axis ax, float ev)
{
    const int ty = ay.taps, tx = ax.taps;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (I)gridDim.x * blockDim.x) {
        I t = e / wout, ox = e - t * wout;
        I pl = t / hout, oy = t - pl * hout;
        if ((ay.ext && ay.ext[oy]) || (ax.ext && ax.ext[ox])) {
            y[e] = vp_st<T>(ev);
            continue;
        }
        const T *src = x + pl * hin * win;
        const int32_t *iy = ay.idx + oy * ty, *ixp = ax.idx + ox * tx;
        const double *wy = ay.w + oy * ty, *wx = ax.w + ox * tx;
        double acc = 0;
        for (int b = 0; b < tx; b++) {
            double cb = 0;
            for (int a = 0; a < ty; a++)
                cb += wy[a] * (double)vp_ld(src[(I)iy[a] * win + ixp[b]]);
            acc += wx[b] * cb;
        }
        y[e] = vp_st<T>(acc);
    }
}

/* Channels-last nearest: x [N, hin, win, cw], y [N, hout, wout, cw], in
 * words W (cw = C * element size / sizeof(W)). */
template <typename W, typename I>
__global__ void k_rs_nearest_nhwc(const W *__restrict__ x, W *__restrict__ y, I n, I cw, I hin, I win, I hout,
                                  I wout, const int32_t *__restrict__ iy, const int32_t *__restrict__ ix)
{
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (I)gridDim.x * blockDim.x) {
        I t = e / cw, c = e - t * cw;
        I u = t / wout, ox = t - u * wout;
        I b = u / hout, oy = u - b * hout;
        y[e] = x[((b * hin + iy[oy]) * win + ix[ox]) * cw + c];
    }
}

/* Channels-last taps: x [N, hin, win, C], y [N, hout, wout, C]; the same
 * blend as k_rs_2d. */
template <typename T, typename I>
__global__ void k_rs_2d_nhwc(const T *__restrict__ x, T *__restrict__ y, I n, I C, I hin, I win, I hout, I wout,
                             vp_cumi_rs_axis ay, vp_cumi_rs_axis ax, float ev)
{
    const int ty = ay.taps, tx = ax.taps;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (I)gridDim.x * blockDim.x) {
        I t = e / C, c = e - t * C;
        I u = t / wout, ox = t - u * wout;
        I b = u / hout, oy = u - b * hout;
        if ((ay.ext && ay.ext[oy]) || (ax.ext && ax.ext[ox])) {
            y[e] = vp_st<T>(ev);
            continue;
        }
        const T *src = x + b * hin * win * C + c;
        const int32_t *iy = ay.idx + oy * ty, *ixp = ax.idx + ox * tx;
        const double *wy = ay.w + oy * ty, *wx = ax.w + ox * tx;
        double acc = 0;
        for (int bb = 0; bb < tx; bb++) {
            double cb = 0;
            for (int a = 0; a < ty; a++)
                cb += wy[a] * (double)vp_ld(src[((I)iy[a] * win + ixp[bb]) * C]);
            acc += wx[bb] * cb;
        }
        y[e] = vp_st<T>(acc);
    }
}

struct rs_nd {
    int rank;
    int64_t out[VP_MAX_DIMS];
    int64_t ist[VP_MAX_DIMS]; /* input element strides */
    vp_cumi_rs_axis ax[VP_MAX_DIMS];
    float ev;
};

template <typename T> __global__ void k_rs_nd(const T *__restrict__ x, T *__restrict__ y, int64_t n, rs_nd p)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        int64_t o[VP_MAX_DIMS], rem = e;
        bool outside = false;
        for (int d = p.rank - 1; d >= 0; d--) {
            int64_t q = rem / p.out[d];
            o[d] = rem - q * p.out[d];
            rem = q;
            outside = outside || (p.ax[d].ext && p.ax[d].ext[o[d]]);
        }
        if (outside) {
            y[e] = vp_st<T>(p.ev);
            continue;
        }
        /* odometer over the taps of every axis, the last axis fastest */
        int t[VP_MAX_DIMS];
        for (int d = 0; d < p.rank; d++)
            t[d] = 0;
        double acc = 0;
        for (;;) {
            double w = 1;
            int64_t off = 0;
            for (int d = 0; d < p.rank; d++) {
                int64_t k = o[d] * p.ax[d].taps + t[d];
                w *= p.ax[d].w[k];
                off += (int64_t)p.ax[d].idx[k] * p.ist[d];
            }
            acc += w * (double)vp_ld(x[off]);
            int d = p.rank - 1;
            while (d >= 0 && ++t[d] == p.ax[d].taps)
                t[d--] = 0;
            if (d < 0)
                break;
        }
        y[e] = vp_st<T>(acc);
    }
}

template <typename T, typename I>
void launch_planar(cudaStream_t s, const vp_cumi_rs *p, const T *x, T *y, int64_t n, int64_t hin, int64_t win,
                   int64_t hout, int64_t wout)
{
    const vp_cumi_rs_axis *ay = &p->ay, *ax = &p->ax[p->rank - 1];
    constexpr int K = 8 / sizeof(T) > 1 ? 8 / sizeof(T) : 1; /* 8-byte stores */
    if (ay->taps == 1 && ax->taps == 1 && !ay->ext && !ax->ext && K > 1 && wout % K == 0 &&
        vp_aligned(y, K * sizeof(T)))
        k_rs_nearest2d_vec<T, K, I><<<blocks_for(n / K), kThreads, 0, s>>>(x, y, (I)(n / K), (I)hin, (I)win, (I)hout,
                                                                          (I)wout, ay->idx, ax->idx);
    else if (ay->taps == 1 && ax->taps == 1 && !ay->ext && !ax->ext)
        k_rs_nearest2d<T, I><<<blocks_for(n), kThreads, 0, s>>>(x, y, (I)n, (I)hin, (I)win, (I)hout, (I)wout,
                                                                ay->idx, ax->idx);
    else
        k_rs_2d<T, I><<<blocks_for(n), kThreads, 0, s>>>(x, y, (I)n, (I)hin, (I)win, (I)hout, (I)wout, *ay, *ax,
                                                         p->ev);
}

template <typename W, typename I>
void launch_nearest_nhwc(cudaStream_t s, const vp_cumi_rs *p, const void *x, void *y, int64_t cw)
{
    const int64_t n = p->out[0] * p->out[1] * p->out[2] * cw;
    k_rs_nearest_nhwc<W, I><<<blocks_for(n), kThreads, 0, s>>>((const W *)x, (W *)y, (I)n, (I)cw, (I)p->in[1],
                                                              (I)p->in[2], (I)p->out[1], (I)p->out[2], p->ax[1].idx,
                                                              p->ax[2].idx);
}

/* Channels-last [N, H, W, C], axes 1 and 2 resized. */
template <typename T, typename I> void launch_nhwc(cudaStream_t s, const vp_cumi_rs *p, const T *x, T *y, int64_t n)
{
    const vp_cumi_rs_axis *ay = &p->ax[1], *ax = &p->ax[2];
    const int64_t C = p->out[3];
    if (ay->taps == 1 && ax->taps == 1 && !ay->ext && !ax->ext) {
        /* the widest word dividing a pixel's C elements and both pointers */
        const size_t row = (size_t)C * sizeof(T);
        size_t w = sizeof(T);
        for (size_t ws = 16; ws > sizeof(T); ws /= 2)
            if (row % ws == 0 && vp_aligned(x, ws) && vp_aligned(y, ws)) {
                w = ws;
                break;
            }
        const int64_t cw = (int64_t)(row / w);
        switch (w) {
        case 16: launch_nearest_nhwc<uint4, I>(s, p, x, y, cw); break;
        case 8: launch_nearest_nhwc<uint2, I>(s, p, x, y, cw); break;
        case 4: launch_nearest_nhwc<uint32_t, I>(s, p, x, y, cw); break;
        default: launch_nearest_nhwc<T, I>(s, p, x, y, cw); break;
        }
        return;
    }
    k_rs_2d_nhwc<T, I><<<blocks_for(n), kThreads, 0, s>>>(x, y, (I)n, (I)C, (I)p->in[1], (I)p->in[2], (I)p->out[1],
                                                          (I)p->out[2], *ay, *ax, p->ev);
}

template <typename T> int resize_typed(cudaStream_t s, const vp_cumi_rs *p, const T *x, T *y)
{
    int r = p->rank;
    int64_t n = 1;
    for (int d = 0; d < r; d++)
        n *= p->out[d];
    if (!y || n <= 0)
        return VP_OK;
    if (p->planar) {
        int64_t hin = r >= 2 ? p->in[r - 2] : 1, hout = r >= 2 ? p->out[r - 2] : 1;
        int64_t win = p->in[r - 1], wout = p->out[r - 1], n_in = 1;
        for (int d = 0; d < r; d++)
            n_in *= p->in[d];
        const int64_t small = (int64_t)1 << 30;
        if (n < small && n_in < small)
            launch_planar<T, int32_t>(s, p, x, y, n, hin, win, hout, wout);
        else
            launch_planar<T, int64_t>(s, p, x, y, n, hin, win, hout, wout);
        VP_CUDA_LAUNCHED();
        return VP_OK;
    }
    if (p->nhwc && r == 4) {
        int64_t n_in = 1;
        for (int d = 0; d < r; d++)
            n_in *= p->in[d];
        const int64_t small = (int64_t)1 << 30;
        if (n < small && n_in < small)
            launch_nhwc<T, int32_t>(s, p, x, y, n);
        else
            launch_nhwc<T, int64_t>(s, p, x, y, n);
        VP_CUDA_LAUNCHED();
        return VP_OK;
    }
    rs_nd k;
    k.rank = r;
    k.ev = p->ev;
    int64_t st = 1;
    for (int d = r - 1; d >= 0; d--) {
        k.out[d] = p->out[d];
        k.ist[d] = st;
        k.ax[d] = p->ax[d];
        st *= p->in[d];
    }
    k_rs_nd<T><<<blocks_for(n), kThreads, 0, s>>>(x, y, n, k);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

} // namespace

extern "C" int vp_cumi_resize(cudaStream_t s, vp_dtype dt, const vp_cumi_rs *p, const void *x, void *y)
{
    if (p->rank < 1 || p->rank > VP_MAX_DIMS)
        return VP_ERR_UNSUPPORTED;
    switch (dt) {
    case VP_DT_FLOAT: return resize_typed(s, p, (const float *)x, (float *)y);
    case VP_DT_FLOAT16: return resize_typed(s, p, (const __half *)x, (__half *)y);
    default: return VP_ERR_UNSUPPORTED;
    }
}
