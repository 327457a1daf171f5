/*
 * CUDA kernel of the nn family: a direct 2-D convolution in FP32
 * arithmetic with an FP16 output, for a network's first layer in an FP16
 * plan.
 *
 * An FP16 plan keeps the network's first convolution in FP32: rounding the
 * FP32 model input and the first layer's weights to FP16 costs a large
 * share of FP16's error in deep networks (DeepLabV3, in simulation:
 * 1.145e-2 -> 8.6e-3 relative error with that layer in FP32). Such a
 * layer has few input channels (C <= 4: RGB, grey, RGBA), where cuDNN's
 * FP32 NHWC kernels are slow, and its output is the FP16 tensor the rest of
 * the plan reads, so it is computed here directly:
 *   X float [N,H,W,C] (NHWC, dense), W float [O,kH,kW,C], B float [O] or
 *   none, Y half [N,Ho,Wo,O] with pixels ypix elements apart (a channel
 *   slice of a wider tensor, or dense with ypix == O);
 *   y = act(sum over c, ky, kx of X[n, oh*sh - pt + ky*dh,
 *       ow*sw - pl + kx*dw, c] * W[o,ky,kx,c] + B[o]), taps outside X zero,
 *   accumulated in float and rounded to half once on store; act is none,
 *   ReLU or SiLU (x / (1 + exp(-x))), computed in float.
 *
 * Tiling: a block computes TH output rows x 32 output columns x 32 output
 * channels of one image. Its threads are 8 column groups (tx) x TH rows
 * (ty) x 2 groups of 16 channels (cg); a thread owns the columns tx, tx+8,
 * tx+16, tx+24 of its row and its 16 channels: 64 float accumulators,
 * started from the bias. The block first copies into shared memory
 *   - the input tile it reads, rows x cols x C (C innermost; rows =
 *     (TH-1)*sh + (kH-1)*dh + 1, cols = 31*sw + (kW-1)*dw + 1), zeros outside
 *     X. Rows are xpitch floats apart, xpitch >= cols*C chosen on the host
 *     so that the 32 lanes of a warp (8 columns x 4 rows) fall in as few
 *     words per bank as it can make them;
 *   - its 32 output channels of W, tap r = (ky*kW + kx)*C + c at
 *     ws[r*36 + co] (zeros for o >= O). The 4 floats of padding per tap let
 *     the copy read W in order (8 taps x 4 channels per warp instruction)
 *     and still store without bank conflicts.
 * Then, per tap, a thread reads its 4 input values (one word each) and its
 * 16 weights (4 float4, the same address for the whole warp: a broadcast)
 * and does 64 FMAs. The common stems are instantiated with the kernel size
 * and stride as constants (7x7 s2: ResNet/DeepLabV3; 6x6 s2: YOLOv5; 3x3 s2
 * and s1), so that every shared-memory offset of a row of taps is an
 * immediate; anything else runs through one instantiation with run-time
 * geometry. C (1..4) is a template parameter throughout.
 * TH is 8, else 4, 2, 1: the largest whose shared memory fits the 48 KB a
 * block gets without opt-in. A thread whose 16 channels are all >= O stops
 * after the copies (O = 16 stems leave half the block idle).
 * Measured on an H100 (DeepLabV3's stem, 8 x 512 x 512): the copies keep 8
 * loads per thread in flight (0.45 -> 0.37 ms), and the loop over kernel
 * rows is not unrolled (unrolled, the 7x7 body is ~10k instructions and
 * ran at 0.52 ms).
 *
 * Store: per pixel and group of 8 channels, one 16-byte store where ypix is
 * a multiple of 8, Y is 16-byte aligned and the 8 channels are < O; scalar
 * stores otherwise.
 */
#include "engine/cuda/nn.h"

#include <cuda_fp16.h>
#include <stdint.h>

namespace {

constexpr int kCols = 32;           /* output columns per block */
constexpr int kCob = 32;            /* output channels per block */
constexpr int kWPitch = kCob + 4;   /* floats between taps in ws */
constexpr int kMaxTh = 8;           /* output rows per block, at most */
constexpr int kBatch = 8;           /* loads in flight per thread in the copies */
constexpr size_t kSmemMax = 48 * 1024;

/* Geometry of a launch, decided on the host. */
struct conv_plan {
    int th;               /* output rows per block */
    int rows, cols;       /* input tile */
    int xpitch;           /* floats between the tile's rows in shared memory */
    int xfl;              /* floats of the input tile (a multiple of 4) */
    size_t smem;          /* bytes */
};

/* What the kernel needs besides the pointers. */
struct conv_params {
    int64_t h, w, ho, wo, o, ypix;
    int kh, kw, sh, sw, dh, dw, pt, pl;
    int act;
    int ob;               /* blocks of 32 output channels */
    int rows, cols, xpitch, xfl;
    int vec;              /* 16-byte stores allowed */
};

__device__ __forceinline__ float activate(float v, int act)
{
    if (act == 1)
        return v > 0.f ? v : 0.f;
    if (act == 2)
        return v / (1.f + expf(-v));
    return v;
}

/* K > 0: kh = kw = K, sh = sw = S, no dilation; K == 0: all from p. */
template <int C, int K, int S>
__global__ void __launch_bounds__(2 * 8 * kMaxTh)
conv_direct_kernel(const conv_params p, const float *__restrict__ x, const float *__restrict__ w,
                   const float *__restrict__ b, __half *__restrict__ y)
{
    extern __shared__ float4 smem4[];
    float *xs = reinterpret_cast<float *>(smem4);
    float *ws = xs + p.xfl;

    const int kh = K ? K : p.kh, kw = K ? K : p.kw;
    const int sh = K ? S : p.sh, sw = K ? S : p.sw;
    const int dh = K ? 1 : p.dh, dw = K ? 1 : p.dw;
    constexpr int NB = K ? kBatch : kBatch / 2; /* fewer registers where geometry is run-time */

    const int tx = threadIdx.x, ty = threadIdx.y, cg = threadIdx.z;
    const int tid = tx + 8 * (ty + (int)blockDim.y * cg);
    const int nt = 8 * (int)blockDim.y * 2;

    const int oblk = (int)(blockIdx.x % (unsigned)p.ob);
    const int64_t ow0 = (int64_t)(blockIdx.x / (unsigned)p.ob) * kCols;
    const int64_t oh0 = (int64_t)blockIdx.y * blockDim.y;
    const int64_t n = blockIdx.z;
    const int o0 = oblk * kCob;

    /* Input tile: row r, word k of it is X[n, ih0 + r, iw0 + k / C, k % C].
     * NB loads in flight per thread before their stores. */
    {
        const int rowlen = p.cols * C, total = p.rows * rowlen;
        const int64_t ih0 = oh0 * sh - p.pt, off0 = (ow0 * sw - p.pl) * C, wc = p.w * C;
        const float *xn = x + n * p.h * wc;
        for (int i0 = tid; i0 < total; i0 += NB * nt) {
            float v[NB];
            int at[NB];
#pragma unroll
            for (int u = 0; u < NB; u++) {
                const int i = i0 + u * nt, r = i / rowlen, k = i - r * rowlen;
                const int64_t ih = ih0 + r, off = off0 + k;
                v[u] = 0.f;
                at[u] = i < total ? r * p.xpitch + k : -1;
                if (i < total && ih >= 0 && ih < p.h && off >= 0 && off < wc)
                    v[u] = __ldg(xn + ih * wc + off);
            }
#pragma unroll
            for (int u = 0; u < NB; u++)
                if (at[u] >= 0)
                    xs[at[u]] = v[u];
        }
    }
    /* Weights: a warp copies 8 consecutive taps of 4 channels (in order in
     * W; banks 4*tap + channel in ws, all different). */
    {
        const int taps = kh * kw * C;
        const int total = (taps + 7) / 8 * 8 * kCob;
        const float *wsrc = w + (int64_t)o0 * taps;
        for (int i0 = tid; i0 < total; i0 += NB * nt) {
            float v[NB];
            int at[NB];
#pragma unroll
            for (int u = 0; u < NB; u++) {
                const int i = i0 + u * nt;
                const int rl = i & 7, cl = (i >> 3) & 3, rest = i >> 5;
                const int r = (rest >> 3) * 8 + rl, co = (rest & 7) * 4 + cl;
                v[u] = 0.f;
                at[u] = i < total && r < taps ? r * kWPitch + co : -1;
                if (at[u] >= 0 && o0 + co < p.o)
                    v[u] = __ldg(wsrc + (int64_t)co * taps + r);
            }
#pragma unroll
            for (int u = 0; u < NB; u++)
                if (at[u] >= 0)
                    ws[at[u]] = v[u];
        }
    }
    __syncthreads();

    const int oc = o0 + cg * 16; /* this thread's first channel */
    if (oc >= p.o)
        return;

    float acc[4][16];
#pragma unroll
    for (int k = 0; k < 16; k++) {
        const float bv = b && oc + k < p.o ? __ldg(b + oc + k) : 0.f;
#pragma unroll
        for (int j = 0; j < 4; j++)
            acc[j][k] = bv;
    }

    const float *xt = xs + ty * sh * p.xpitch + tx * sw * C;
    const int jstep = 8 * sw * C; /* words between the thread's columns */
#pragma unroll 1
    for (int ky = 0; ky < kh; ky++) {
        const float *xr = xt + ky * dh * p.xpitch;
        const float *wr = ws + ky * kw * C * kWPitch + cg * 16;
#pragma unroll
        for (int kx = 0; kx < kw; kx++) {
#pragma unroll
            for (int c = 0; c < C; c++) {
                const int xo = kx * dw * C + c;
                float xv[4];
#pragma unroll
                for (int j = 0; j < 4; j++)
                    xv[j] = xr[xo + j * jstep];
                const float4 *wq = reinterpret_cast<const float4 *>(wr + (kx * C + c) * kWPitch);
                float wv[16];
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    const float4 t = wq[q];
                    wv[4 * q] = t.x;
                    wv[4 * q + 1] = t.y;
                    wv[4 * q + 2] = t.z;
                    wv[4 * q + 3] = t.w;
                }
#pragma unroll
                for (int j = 0; j < 4; j++)
#pragma unroll
                    for (int k = 0; k < 16; k++)
                        acc[j][k] = fmaf(xv[j], wv[k], acc[j][k]);
            }
        }
    }

    const int64_t oh = oh0 + ty;
    if (oh >= p.ho)
        return;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int64_t ow = ow0 + tx + 8 * j;
        if (ow >= p.wo)
            continue;
        __half *yp = y + ((n * p.ho + oh) * p.wo + ow) * p.ypix + oc;
#pragma unroll
        for (int g = 0; g < 2; g++) {
            if (p.vec && oc + 8 * g + 8 <= p.o) {
                union {
                    uint4 u;
                    __half2 h[4];
                } pk;
#pragma unroll
                for (int e = 0; e < 4; e++)
                    pk.h[e] = __floats2half2_rn(activate(acc[j][8 * g + 2 * e], p.act),
                                                activate(acc[j][8 * g + 2 * e + 1], p.act));
                *reinterpret_cast<uint4 *>(yp + 8 * g) = pk.u;
            } else {
#pragma unroll
                for (int e = 0; e < 8; e++)
                    if (oc + 8 * g + e < p.o)
                        yp[8 * g + e] = __float2half_rn(activate(acc[j][8 * g + e], p.act));
            }
        }
    }
}

/* Words in one bank that the first warp's lanes read at once (tap 0 of
 * their first column), for tile rows xpitch floats apart. */
int bank_ways(int th, int colstep, int rowstep)
{
    int64_t addr[32];
    int na = 0, worst = 0;
    for (int l = 0; l < 32 && l < 16 * th; l++) {
        const int64_t a = (int64_t)(l % 8) * colstep + (int64_t)((l / 8) % th) * rowstep;
        int dup = 0;
        for (int i = 0; i < na; i++)
            dup |= addr[i] == a;
        if (!dup)
            addr[na++] = a;
    }
    for (int bank = 0; bank < 32; bank++) {
        int ways = 0;
        for (int i = 0; i < na; i++)
            ways += (int)(addr[i] % 32) == bank;
        worst = ways > worst ? ways : worst;
    }
    return worst;
}

/* The launch geometry for a; 0 when no tile fits (or the grid is too big). */
int make_plan(const vp_cuda_conv_direct_args *a, conv_plan *pl)
{
    if (a->c < 1 || a->c > 4 || a->kh < 1 || a->kw < 1 || a->sh < 1 || a->sw < 1 || a->dh < 1 ||
        a->dw < 1 || a->o < 1 || a->ypix < a->o || a->n > 65535)
        return 0;
    const int64_t c = a->c;
    const int64_t wfl = (int64_t)a->kh * a->kw * c * kWPitch;
    const int64_t cols = 31 * (int64_t)a->sw + (int64_t)(a->kw - 1) * a->dw + 1;
    if (wfl * 4 > (int64_t)kSmemMax || cols * c * 4 > (int64_t)kSmemMax)
        return 0;
    for (int th = kMaxTh; th >= 1; th /= 2) {
        const int64_t rows = (int64_t)(th - 1) * a->sh + (int64_t)(a->kh - 1) * a->dh + 1;
        const int64_t rowlen = cols * c;
        /* The pitch with the fewest bank conflicts among those that fit. */
        int64_t best = 0;
        int best_ways = 1 << 30;
        for (int64_t pitch = rowlen; pitch < rowlen + 32; pitch++) {
            const int64_t xfl = (rows * pitch + 3) / 4 * 4;
            if ((xfl + wfl) * 4 > (int64_t)kSmemMax)
                break;
            const int ways = bank_ways(th, (int)(a->sw * c), (int)(a->sh * pitch));
            if (ways < best_ways) {
                best = pitch;
                best_ways = ways;
            }
        }
        if (!best)
            continue;
        const int64_t ht = (a->ho + th - 1) / th;
        const int64_t wt = (a->wo + kCols - 1) / kCols * ((a->o + kCob - 1) / kCob);
        if (ht > 65535 || wt > 0x7fffffff)
            return 0;
        pl->th = th;
        pl->rows = (int)rows;
        pl->cols = (int)cols;
        pl->xpitch = best;
        pl->xfl = (int)((rows * best + 3) / 4 * 4);
        pl->smem = (size_t)(pl->xfl + wfl) * sizeof(float);
        return 1;
    }
    return 0;
}

template <int C>
void launch(cudaStream_t s, const conv_plan &pl, const conv_params &p, dim3 grid, const float *x,
            const float *w, const float *b, __half *y)
{
    const dim3 block(8, pl.th, 2);
    const bool dense = p.dh == 1 && p.dw == 1 && p.kh == p.kw && p.sh == p.sw;
    if (dense && p.kh == 7 && p.sh == 2)
        conv_direct_kernel<C, 7, 2><<<grid, block, pl.smem, s>>>(p, x, w, b, y);
    else if (dense && p.kh == 6 && p.sh == 2)
        conv_direct_kernel<C, 6, 2><<<grid, block, pl.smem, s>>>(p, x, w, b, y);
    else if (dense && p.kh == 3 && p.sh == 2)
        conv_direct_kernel<C, 3, 2><<<grid, block, pl.smem, s>>>(p, x, w, b, y);
    else if (dense && p.kh == 3 && p.sh == 1)
        conv_direct_kernel<C, 3, 1><<<grid, block, pl.smem, s>>>(p, x, w, b, y);
    else
        conv_direct_kernel<C, 0, 0><<<grid, block, pl.smem, s>>>(p, x, w, b, y);
}

} // namespace

extern "C" size_t vp_cuda_conv_direct_smem(const vp_cuda_conv_direct_args *a)
{
    conv_plan pl;
    return make_plan(a, &pl) ? pl.smem : 0;
}

extern "C" int vp_cuda_conv_direct(cudaStream_t s, const vp_cuda_conv_direct_args *a,
                                   const float *x, const float *w, const float *b, void *y)
{
    if (a->n <= 0 || a->ho <= 0 || a->wo <= 0 || a->o <= 0)
        return VP_OK;
    conv_plan pl;
    if (!make_plan(a, &pl))
        return VP_ERR_UNSUPPORTED;
    conv_params p;
    p.h = a->h;
    p.w = a->w;
    p.ho = a->ho;
    p.wo = a->wo;
    p.o = a->o;
    p.ypix = a->ypix;
    p.kh = a->kh;
    p.kw = a->kw;
    p.sh = a->sh;
    p.sw = a->sw;
    p.dh = a->dh;
    p.dw = a->dw;
    p.pt = a->pt;
    p.pl = a->pl;
    p.act = a->act;
    p.ob = (int)((a->o + kCob - 1) / kCob);
    p.rows = pl.rows;
    p.cols = pl.cols;
    p.xpitch = pl.xpitch;
    p.xfl = pl.xfl;
    p.vec = a->ypix % 8 == 0 && ((uintptr_t)y & 15) == 0;
    const dim3 grid((unsigned)((a->wo + kCols - 1) / kCols * p.ob),
                    (unsigned)((a->ho + pl.th - 1) / pl.th), (unsigned)a->n);
    __half *yh = (__half *)y;
    switch (a->c) {
    case 1: launch<1>(s, pl, p, grid, x, w, b, yh); break;
    case 2: launch<2>(s, pl, p, grid, x, w, b, yh); break;
    case 3: launch<3>(s, pl, p, grid, x, w, b, yh); break;
    default: launch<4>(s, pl, p, grid, x, w, b, yh); break;
    }
    VP_CUDA_LAUNCHED();
    return VP_OK;
}
