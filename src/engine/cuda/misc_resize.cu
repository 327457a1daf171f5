/*
 * CUDA kernels: Resize (float32), from the per-axis tap tables misc.c builds
 * in prepare() (contract in misc.h).
 *
 * Three kernels, a thread per output element each:
 *   - planar nearest: every axis but the last two unchanged and one tap on
 *     both (YOLO's nearest 2x upsampling): a pure gather;
 *   - planar taps: same planes, any taps on the last two axes (DeepLab's
 *     bilinear, cubic, antialias, tf_crop_and_resize): rows blended first,
 *     then columns, in double, as the CPU's 2-D path does, rounded once;
 *   - any axes resized: the sum over every combination of taps of the
 *     product of the axes' weights, in double.
 * An output position outside the input on any axis (tf_crop_and_resize)
 * takes the extrapolation value.
 */
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
template <typename I>
__global__ void k_rs_nearest2d(const float *__restrict__ x, float *__restrict__ y, I n, I hin, I win, I hout, I wout,
                               const int32_t *__restrict__ iy, const int32_t *__restrict__ ix)
{
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (I)gridDim.x * blockDim.x) {
        I t = e / wout, ox = e - t * wout;
        I pl = t / hout, oy = t - pl * hout;
        y[e] = x[(pl * hin + iy[oy]) * win + ix[ox]];
    }
}

template <typename I>
__global__ void k_rs_2d(const float *__restrict__ x, float *__restrict__ y, I n, I hin, I win, I hout, I wout,
                        vp_cumi_rs_axis ay, vp_cumi_rs_axis ax, float ev)
{
    const int ty = ay.taps, tx = ax.taps;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (I)gridDim.x * blockDim.x) {
        I t = e / wout, ox = e - t * wout;
        I pl = t / hout, oy = t - pl * hout;
        if ((ay.ext && ay.ext[oy]) || (ax.ext && ax.ext[ox])) {
            y[e] = ev;
            continue;
        }
        const float *src = x + pl * hin * win;
        const int32_t *iy = ay.idx + oy * ty, *ixp = ax.idx + ox * tx;
        const double *wy = ay.w + oy * ty, *wx = ax.w + ox * tx;
        double acc = 0;
        for (int b = 0; b < tx; b++) {
            double cb = 0;
            for (int a = 0; a < ty; a++)
                cb += wy[a] * (double)src[(I)iy[a] * win + ixp[b]];
            acc += wx[b] * cb;
        }
        y[e] = (float)acc;
    }
}

struct rs_nd {
    int rank;
    int64_t out[VP_MAX_DIMS];
    int64_t ist[VP_MAX_DIMS]; /* input element strides */
    vp_cumi_rs_axis ax[VP_MAX_DIMS];
    float ev;
};

__global__ void k_rs_nd(const float *__restrict__ x, float *__restrict__ y, int64_t n, rs_nd p)
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
            y[e] = p.ev;
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
            acc += w * (double)x[off];
            int d = p.rank - 1;
            while (d >= 0 && ++t[d] == p.ax[d].taps)
                t[d--] = 0;
            if (d < 0)
                break;
        }
        y[e] = (float)acc;
    }
}

template <typename I>
void launch_planar(cudaStream_t s, const vp_cumi_rs *p, const float *x, float *y, int64_t n, int64_t hin, int64_t win,
                   int64_t hout, int64_t wout)
{
    const vp_cumi_rs_axis *ay = &p->ay, *ax = &p->ax[p->rank - 1];
    if (ay->taps == 1 && ax->taps == 1 && !ay->ext && !ax->ext)
        k_rs_nearest2d<I><<<blocks_for(n), kThreads, 0, s>>>(x, y, (I)n, (I)hin, (I)win, (I)hout, (I)wout, ay->idx,
                                                             ax->idx);
    else
        k_rs_2d<I><<<blocks_for(n), kThreads, 0, s>>>(x, y, (I)n, (I)hin, (I)win, (I)hout, (I)wout, *ay, *ax, p->ev);
}

} // namespace

extern "C" int vp_cumi_resize(cudaStream_t s, const vp_cumi_rs *p, const float *x, float *y)
{
    int r = p->rank;
    if (r < 1 || r > VP_MAX_DIMS)
        return VP_ERR_UNSUPPORTED;
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
            launch_planar<int32_t>(s, p, x, y, n, hin, win, hout, wout);
        else
            launch_planar<int64_t>(s, p, x, y, n, hin, win, hout, wout);
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
    k_rs_nd<<<blocks_for(n), kThreads, 0, s>>>(x, y, n, k);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}
