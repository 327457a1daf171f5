/*
 * Fused preprocessing, CUDA kernel: decoded picture (NV12/P016/YUV420P/
 * YUV420P10 or packed RGB, device memory with a pitch, e.g. a mapped NVDEC
 * surface) -> letterbox/stretch, bilinear, colour conversion, clamp,
 * normalisation -> FP16/FP32 NCHW/NHWC, straight into slot i of the batch
 * tensor. One thread per output pixel, all three channels; one launch; no
 * synchronisation or allocation, so a capturing stream records it into a
 * CUDA graph.
 *
 * The arithmetic is the CPU implementation's (vision/preprocess.c documents
 * it), operation for operation, with the coefficients of the same
 * vp_pre_prepare(): every multiply/add is written as __fmul_rn/__fadd_rn/
 * __fmaf_rn so nvcc cannot contract them differently from the C code, and
 * the two agree bit for bit (tests/vision/preprocess_gpu.c checks it, with
 * the acceptance bound 1/255 as its limit).
 */
#include "vision/preprocess.h"

/* base/log.h is a C header without its own extern "C" block */
extern "C" {
#include "base/log.h"
}
#include "engine/cuda/cuda.h"

#include <cuda_fp16.h>
#include <stdint.h>

namespace {

enum Kind { K_NV12 = 0, K_P016 = 1, K_YUV420P = 2, K_YUV420P10 = 3, K_PACKED = 4 };

struct Tap {
    int i0, i1; /* byte offsets in the row */
    float a;    /* weight of i1 */
};

__device__ __forceinline__ float clampf(float x, float lo, float hi)
{
    return fminf(fmaxf(x, lo), hi);
}

__device__ __forceinline__ float lerp(float p, float q, float t)
{
    return __fadd_rn(p, __fmul_rn(t, __fsub_rn(q, p)));
}

__device__ __forceinline__ float luma_pos(int u, float s, int size)
{
    return clampf(__fmaf_rn(__fadd_rn((float)u, 0.5f), s, -0.5f), 0.0f, (float)(size - 1));
}

__device__ __forceinline__ Tap make_tap(float pos, int size, int stride)
{
    int i0 = (int)pos; /* pos >= 0 */
    int i1 = i0 + 1 < size ? i0 + 1 : size - 1;
    Tap t = {i0 * stride, i1 * stride, __fsub_rn(pos, (float)i0)};
    return t;
}

template <bool WIDE>
__device__ __forceinline__ float rd(const uint8_t *row, int off)
{
    if (WIDE)
        return (float)__ldg(reinterpret_cast<const uint16_t *>(row + off));
    return (float)__ldg(row + off);
}

template <bool WIDE>
__device__ __forceinline__ float bilin(const uint8_t *r0, const uint8_t *r1, Tap tx, float ay)
{
    float t = lerp(rd<WIDE>(r0, tx.i0), rd<WIDE>(r0, tx.i1), tx.a);
    float b = lerp(rd<WIDE>(r1, tx.i0), rd<WIDE>(r1, tx.i1), tx.a);
    return lerp(t, b, ay);
}

__device__ __forceinline__ float finish(const vp_pre_plan &pl, int c, float s0, float s1, float s2)
{
    float x = __fadd_rn(__fmul_rn(pl.m[c][0], s0), __fmul_rn(pl.m[c][1], s1));
    x = __fadd_rn(x, __fmul_rn(pl.m[c][2], s2));
    x = __fadd_rn(x, pl.off[c]);
    x = clampf(x, 0.0f, 1.0f);
    return __fadd_rn(__fmul_rn(x, pl.na[c]), pl.nb[c]);
}

__device__ __forceinline__ void put(float *o, size_t i, float v)
{
    o[i] = v;
}

__device__ __forceinline__ void put(__half *o, size_t i, float v)
{
    o[i] = __float2half_rn(v);
}

template <int KIND, typename O, bool NHWC>
__global__ void __launch_bounds__(256) preprocess_kernel(const vp_pre_plan pl, O *__restrict__ out)
{
    int dx = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    int dy = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (dx >= pl.dw || dy >= pl.dh)
        return;
    float r[3];
    int u = dx - pl.x0, v = dy - pl.y0;
    if (u < 0 || u >= pl.w || v < 0 || v >= pl.h) {
        r[0] = pl.padv[0];
        r[1] = pl.padv[1];
        r[2] = pl.padv[2];
    } else {
        constexpr bool wide = KIND == K_P016 || KIND == K_YUV420P10;
        constexpr int bps = wide ? 2 : 1;
        float fx = luma_pos(u, pl.sx, pl.sw), fy = luma_pos(v, pl.sy, pl.sh);
        Tap ty = make_tap(fy, pl.sh, 1);
        const uint8_t *p0 = static_cast<const uint8_t *>(pl.plane[0]);
        const uint8_t *l0 = p0 + (size_t)ty.i0 * pl.pitch[0], *l1 = p0 + (size_t)ty.i1 * pl.pitch[0];
        if (KIND == K_PACKED) {
            Tap tx = make_tap(fx, pl.sw, 3);
            Tap t1 = {tx.i0 + 1, tx.i1 + 1, tx.a}, t2 = {tx.i0 + 2, tx.i1 + 2, tx.a};
            float s0 = bilin<false>(l0, l1, tx, ty.a), s1 = bilin<false>(l0, l1, t1, ty.a),
                  s2 = bilin<false>(l0, l1, t2, ty.a);
            for (int c = 0; c < 3; c++)
                r[c] = finish(pl, c, s0, s1, s2);
        } else {
            constexpr bool inter = KIND == K_NV12 || KIND == K_P016;
            Tap tx = make_tap(fx, pl.sw, bps);
            Tap tc = make_tap(clampf(__fmul_rn(fx, 0.5f), 0.0f, (float)(pl.cw - 1)), pl.cw, inter ? 2 * bps : bps);
            Tap tcy = make_tap(clampf(__fmul_rn(__fsub_rn(fy, 0.5f), 0.5f), 0.0f, (float)(pl.ch - 1)), pl.ch, 1);
            const uint8_t *pu = static_cast<const uint8_t *>(pl.plane[1]);
            const uint8_t *u0r = pu + (size_t)tcy.i0 * pl.pitch[1], *u1r = pu + (size_t)tcy.i1 * pl.pitch[1];
            const uint8_t *v0r, *v1r;
            if (inter) {
                v0r = u0r + bps;
                v1r = u1r + bps;
            } else {
                const uint8_t *pv = static_cast<const uint8_t *>(pl.plane[2]);
                v0r = pv + (size_t)tcy.i0 * pl.pitch[2];
                v1r = pv + (size_t)tcy.i1 * pl.pitch[2];
            }
            float y = bilin<wide>(l0, l1, tx, ty.a);
            float cu = bilin<wide>(u0r, u1r, tc, tcy.a);
            float cv = bilin<wide>(v0r, v1r, tc, tcy.a);
            for (int c = 0; c < 3; c++)
                r[c] = finish(pl, c, y, cu, cv);
        }
    }
    size_t pix = (size_t)dy * (size_t)pl.dw + (size_t)dx;
    if (NHWC) {
        put(out, pix * 3, r[0]);
        put(out, pix * 3 + 1, r[1]);
        put(out, pix * 3 + 2, r[2]);
    } else {
        size_t plane = (size_t)pl.dw * (size_t)pl.dh;
        put(out, pix, r[0]);
        put(out, plane + pix, r[1]);
        put(out, 2 * plane + pix, r[2]);
    }
}

template <int KIND, typename O>
void launch2(const vp_pre_plan &pl, void *out, dim3 grid, dim3 block, cudaStream_t s)
{
    if (pl.layout == VP_PRE_NHWC)
        preprocess_kernel<KIND, O, true><<<grid, block, 0, s>>>(pl, static_cast<O *>(out));
    else
        preprocess_kernel<KIND, O, false><<<grid, block, 0, s>>>(pl, static_cast<O *>(out));
}

template <int KIND>
void launch1(const vp_pre_plan &pl, void *out, dim3 grid, dim3 block, cudaStream_t s)
{
    if (pl.dtype == VP_PRE_FP16)
        launch2<KIND, __half>(pl, out, grid, block, s);
    else
        launch2<KIND, float>(pl, out, grid, block, s);
}

/* Plain (unregistered) host memory would fault in the kernel and leave the
 * context unusable: refuse it before the launch. Pointers the device can
 * address (device, managed, registered/mapped host) pass. */
int check_pointer(const void *ptr, const char *what)
{
    cudaPointerAttributes a;
    cudaError_t e = cudaPointerGetAttributes(&a, ptr);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* not sticky: clear it for the caller */
        VP_LOGE("preprocess (CUDA): cudaPointerGetAttributes(%s %p) failed: %s", what, ptr, cudaGetErrorName(e));
        return VP_ERR_INVALID;
    }
    if (a.type == cudaMemoryTypeUnregistered) {
        VP_LOGE("preprocess (CUDA): %s %p is plain host memory; the kernel needs device memory", what, ptr);
        return VP_ERR_INVALID;
    }
    return VP_OK;
}

} // namespace

extern "C" __attribute__((visibility("default"))) int vp_cuda_preprocess(const vp_pre_src *src,
                                                                        const vp_pre_params *p, void *dst_batch,
                                                                        int slot, struct CUstream_st *stream)
{
    vp_pre_plan pl;
    int rc = vp_pre_prepare(src, p, &pl);
    if (rc)
        return rc;
    if (!dst_batch || slot < 0) {
        VP_LOGE("preprocess (CUDA): %s", !dst_batch ? "NULL destination tensor" : "negative batch slot");
        return VP_ERR_INVALID;
    }
    cudaStream_t s = stream;
    /* Pointer checks are host-side queries, skipped while the stream is being
     * captured (a graph replays what an uncaptured call has already checked). */
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    VP_CUDA(cudaStreamIsCapturing(s, &cap));
    if (cap == cudaStreamCaptureStatusNone) {
        static const char *const names[3] = {"source plane 0", "source plane 1", "source plane 2"};
        for (int i = 0; i < 3; i++)
            if (pl.plane[i] && (rc = check_pointer(pl.plane[i], names[i])) != VP_OK)
                return rc;
        if ((rc = check_pointer(dst_batch, "destination tensor")) != VP_OK)
            return rc;
    }
    size_t esz = pl.dtype == VP_PRE_FP16 ? 2 : 4;
    void *out = static_cast<uint8_t *>(dst_batch) + (size_t)slot * vp_pre_slot_elems(p) * esz;
    dim3 block(32, 8);
    dim3 grid((unsigned)((pl.dw + 31) / 32), (unsigned)((pl.dh + 7) / 8));
    switch (pl.format) {
    case VP_PRE_NV12: launch1<K_NV12>(pl, out, grid, block, s); break;
    case VP_PRE_P016: launch1<K_P016>(pl, out, grid, block, s); break;
    case VP_PRE_YUV420P: launch1<K_YUV420P>(pl, out, grid, block, s); break;
    case VP_PRE_YUV420P10: launch1<K_YUV420P10>(pl, out, grid, block, s); break;
    default: launch1<K_PACKED>(pl, out, grid, block, s); break;
    }
    VP_CUDA(cudaGetLastError()); /* launch errors only; no synchronisation */
    return VP_OK;
}
