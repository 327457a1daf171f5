/*
 * Batched crop + resize for secondary models, CUDA kernel: crops of the
 * detections read straight from the decoded pictures in device memory (the
 * mapped NVDEC surfaces of a batch) and written, resized, colour-converted
 * and normalised, into consecutive slots of the secondary plan's input
 * binding. Nothing crosses PCIe: the pictures, their coefficients and the
 * crop rectangles travel as kernel arguments (VP_CROP_PER_LAUNCH crops of
 * up to VP_CROP_MAX_SOURCES pictures per launch, ~3 KB of parameters).
 *
 * Arithmetic: vision/crop.h, operation for operation as crop.c, with
 * __fmul_rn/__fadd_rn/__fmaf_rn so that nvcc contracts nothing; the CPU
 * reference and this kernel agree bit for bit (tests/vision/crop_gpu.c
 * checks it, with 1/255 as the acceptance bound).
 *
 * Grid: x over the pixels of one crop (256 threads per block), y over the
 * crops of the launch; the picture's format is a run-time switch, uniform
 * across a block.
 */
#include "vision/crop.h"

extern "C" {
#include "base/log.h"
}
#include "engine/cuda/cuda.h"

#include <cuda_fp16.h>
#include <stdint.h>

namespace {

struct Pic {
    const uint8_t *plane[3];
    size_t pitch[3];
    int format, sw, sh, cw, ch;
    float m[3][3], off[3];
};

struct Job {
    int pic;
    int x, y, w, h; /* integer rectangle */
    float sx, sy;
};

struct Args {
    Pic pic[VP_CROP_MAX_SOURCES];
    Job job[VP_CROP_PER_LAUNCH];
    float na[3], nb[3];
    int dw, dh;
};

struct Tap {
    int i0, i1;
    float a;
};

__device__ __forceinline__ float clampf(float x, float lo, float hi) { return fminf(fmaxf(x, lo), hi); }

__device__ __forceinline__ float lerp(float p, float q, float t)
{
    return __fadd_rn(p, __fmul_rn(t, __fsub_rn(q, p)));
}

__device__ __forceinline__ Tap make_tap(float pos, int size, int stride)
{
    int i0 = (int)pos;
    int i1 = i0 + 1 < size ? i0 + 1 : size - 1;
    Tap t = {i0 * stride, i1 * stride, __fsub_rn(pos, (float)i0)};
    return t;
}

__device__ __forceinline__ float crop_pos(int u, float s, int origin, int size)
{
    return __fadd_rn((float)origin,
                     clampf(__fmaf_rn(__fadd_rn((float)u, 0.5f), s, -0.5f), 0.0f, (float)(size - 1)));
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

/* Raw samples of one output pixel (before the colour matrix). */
template <int FMT>
__device__ __forceinline__ void sample(const Pic &pc, float fx, float fy, float s[3])
{
    constexpr bool packed = FMT == VP_PRE_RGB24 || FMT == VP_PRE_BGR24;
    constexpr bool wide = FMT == VP_PRE_P016 || FMT == VP_PRE_YUV420P10;
    constexpr int bps = wide ? 2 : 1;
    constexpr bool inter = FMT == VP_PRE_NV12 || FMT == VP_PRE_P016;
    Tap ty = make_tap(fy, pc.sh, 1);
    const uint8_t *l0 = pc.plane[0] + (size_t)ty.i0 * pc.pitch[0], *l1 = pc.plane[0] + (size_t)ty.i1 * pc.pitch[0];
    if (packed) {
        Tap tx = make_tap(fx, pc.sw, 3);
        for (int c = 0; c < 3; c++) {
            Tap t = {tx.i0 + c, tx.i1 + c, tx.a};
            s[c] = bilin<false>(l0, l1, t, ty.a);
        }
        return;
    }
    Tap tx = make_tap(fx, pc.sw, bps);
    Tap tc = make_tap(clampf(__fmul_rn(fx, 0.5f), 0.0f, (float)(pc.cw - 1)), pc.cw, inter ? 2 * bps : bps);
    Tap tcy = make_tap(clampf(__fmul_rn(__fsub_rn(fy, 0.5f), 0.5f), 0.0f, (float)(pc.ch - 1)), pc.ch, 1);
    const uint8_t *u0r = pc.plane[1] + (size_t)tcy.i0 * pc.pitch[1], *u1r = pc.plane[1] + (size_t)tcy.i1 * pc.pitch[1];
    const uint8_t *v0r, *v1r;
    if (inter) {
        v0r = u0r + bps;
        v1r = u1r + bps;
    } else {
        v0r = pc.plane[2] + (size_t)tcy.i0 * pc.pitch[2];
        v1r = pc.plane[2] + (size_t)tcy.i1 * pc.pitch[2];
    }
    s[0] = bilin<wide>(l0, l1, tx, ty.a);
    s[1] = bilin<wide>(u0r, u1r, tc, tcy.a);
    s[2] = bilin<wide>(v0r, v1r, tc, tcy.a);
}

__device__ __forceinline__ void put(float *o, size_t i, float v) { o[i] = v; }
__device__ __forceinline__ void put(__half *o, size_t i, float v) { o[i] = __float2half_rn(v); }

template <typename O, bool NHWC>
__global__ void __launch_bounds__(256) crop_kernel(const Args a, O *__restrict__ out)
{
    const int pix = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (pix >= a.dw * a.dh)
        return;
    const Job &j = a.job[blockIdx.y];
    const Pic &pc = a.pic[j.pic];
    const int dx = pix % a.dw, dy = pix / a.dw;
    const float fx = crop_pos(dx, j.sx, j.x, j.w), fy = crop_pos(dy, j.sy, j.y, j.h);
    float s[3];
    switch (pc.format) {
    case VP_PRE_NV12: sample<VP_PRE_NV12>(pc, fx, fy, s); break;
    case VP_PRE_P016: sample<VP_PRE_P016>(pc, fx, fy, s); break;
    case VP_PRE_YUV420P: sample<VP_PRE_YUV420P>(pc, fx, fy, s); break;
    case VP_PRE_YUV420P10: sample<VP_PRE_YUV420P10>(pc, fx, fy, s); break;
    default: sample<VP_PRE_RGB24>(pc, fx, fy, s); break; /* packed: the matrix selects the channels */
    }
    const size_t plane = (size_t)a.dw * (size_t)a.dh;
    O *o = out + (size_t)blockIdx.y * 3 * plane;
    for (int c = 0; c < 3; c++) {
        float x = __fadd_rn(__fmul_rn(pc.m[c][0], s[0]), __fmul_rn(pc.m[c][1], s[1]));
        x = __fadd_rn(x, __fmul_rn(pc.m[c][2], s[2]));
        x = __fadd_rn(x, pc.off[c]);
        x = clampf(x, 0.0f, 1.0f);
        const float v = __fadd_rn(__fmul_rn(x, a.na[c]), a.nb[c]);
        put(o, NHWC ? (size_t)pix * 3 + (size_t)c : (size_t)c * plane + (size_t)pix, v);
    }
}

int check_pointer(const void *ptr, const char *what)
{
    cudaPointerAttributes at;
    cudaError_t e = cudaPointerGetAttributes(&at, ptr);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        VP_LOGE("crop (CUDA): cudaPointerGetAttributes(%s %p) failed: %s", what, ptr, cudaGetErrorName(e));
        return VP_ERR_INVALID;
    }
    if (at.type == cudaMemoryTypeUnregistered) {
        VP_LOGE("crop (CUDA): %s %p is plain host memory; the kernel needs device memory", what, ptr);
        return VP_ERR_INVALID;
    }
    return VP_OK;
}

} // namespace

extern "C" __attribute__((visibility("default"))) int vp_cuda_crop(const vp_pre_src *srcs, int nsrc,
                                                                  const vp_crop *crops, int n,
                                                                  const vp_pre_params *p, void *dst_batch,
                                                                  int first_slot, struct CUstream_st *stream)
{
    if (n == 0)
        return VP_OK;
    if (!srcs || nsrc < 1 || nsrc > VP_CROP_MAX_SOURCES || !crops || n < 0 || !p || !dst_batch || first_slot < 0) {
        VP_LOGE("crop (CUDA): bad arguments (%d pictures, %d crops, destination %p, first slot %d)", nsrc, n,
                dst_batch, first_slot);
        return VP_ERR_INVALID;
    }
    cudaStream_t s = stream;
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    VP_CUDA(cudaStreamIsCapturing(s, &cap));
    Args a;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < nsrc; i++) {
        vp_pre_plan pl;
        int rc = vp_pre_prepare(&srcs[i], p, &pl);
        if (rc)
            return rc;
        Pic &pc = a.pic[i];
        for (int k = 0; k < 3; k++) {
            pc.plane[k] = static_cast<const uint8_t *>(pl.plane[k]);
            pc.pitch[k] = pl.pitch[k];
            if (cap == cudaStreamCaptureStatusNone && pl.plane[k] && (rc = check_pointer(pl.plane[k], "source plane")))
                return rc;
        }
        pc.format = pl.format, pc.sw = pl.sw, pc.sh = pl.sh, pc.cw = pl.cw, pc.ch = pl.ch;
        memcpy(pc.m, pl.m, sizeof pc.m);
        memcpy(pc.off, pl.off, sizeof pc.off);
        memcpy(a.na, pl.na, sizeof a.na); /* depends on p only */
        memcpy(a.nb, pl.nb, sizeof a.nb);
        a.dw = pl.dw, a.dh = pl.dh;
    }
    int rc;
    if (cap == cudaStreamCaptureStatusNone && (rc = check_pointer(dst_batch, "destination tensor")))
        return rc;
    const size_t esz = p->dtype == VP_PRE_FP16 ? 2 : 4, slot_bytes = vp_pre_slot_elems(p) * esz;
    const unsigned blocks = (unsigned)((a.dw * a.dh + 255) / 256);
    for (int j0 = 0; j0 < n; j0 += VP_CROP_PER_LAUNCH) {
        const int m = n - j0 < VP_CROP_PER_LAUNCH ? n - j0 : VP_CROP_PER_LAUNCH;
        for (int j = 0; j < m; j++) {
            const vp_crop *c = &crops[j0 + j];
            if (c->src < 0 || c->src >= nsrc) {
                VP_LOGE("crop (CUDA) %d: picture %d, the call has %d", j0 + j, c->src, nsrc);
                return VP_ERR_INVALID;
            }
            const Pic &pc = a.pic[c->src];
            vp_crop_rect r;
            vp_crop_rect_of(c->x0, c->y0, c->x1, c->y1, pc.sw, pc.sh, &r);
            a.job[j] = Job{c->src, r.x, r.y, r.w, r.h, (float)((double)r.w / a.dw), (float)((double)r.h / a.dh)};
        }
        void *out = static_cast<uint8_t *>(dst_batch) + (size_t)(first_slot + j0) * slot_bytes;
        dim3 grid(blocks, (unsigned)m);
        const bool nhwc = p->layout == VP_PRE_NHWC;
        if (p->dtype == VP_PRE_FP16) {
            if (nhwc)
                crop_kernel<__half, true><<<grid, 256, 0, s>>>(a, static_cast<__half *>(out));
            else
                crop_kernel<__half, false><<<grid, 256, 0, s>>>(a, static_cast<__half *>(out));
        } else {
            if (nhwc)
                crop_kernel<float, true><<<grid, 256, 0, s>>>(a, static_cast<float *>(out));
            else
                crop_kernel<float, false><<<grid, 256, 0, s>>>(a, static_cast<float *>(out));
        }
        VP_CUDA(cudaGetLastError());
    }
    return VP_OK;
}
