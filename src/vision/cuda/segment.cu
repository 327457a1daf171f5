/*
 * Per-pixel post-processing on the GPU (contract: vision/postprocess.h), so
 * that the GPU path copies final results to the host, never the logits or
 * the mask prototypes:
 *
 *   semseg_kernel  semantic segmentation: argmax per pixel over the class
 *                  channels, optional class map, per-image class counts
 *                  inside a window (the letterbox content). Grid: (blocks
 *                  per image, images of the launch); a block strides over
 *                  the image's pixels, one pixel per thread and step, so the
 *                  loads of each channel plane are coalesced. Counts go to a
 *                  shared 256-bin histogram (lanes of a warp with the same
 *                  class add once, __match_any_sync: most neighbouring
 *                  pixels share a class), then once per bin and block to
 *                  the image's global counts. The windows travel in the
 *                  kernel's arguments, 64 images per launch.
 *   boxes_kernel   instance masks, step 1, one block per image: the crop
 *                  rectangle of every kept detection in prototype pixels
 *                  (vp_post_mask_cpu's, in closed form), its word count and,
 *                  by a block-wide prefix sum, its offset in the image's
 *                  bit array, and the image's total.
 *   bits_kernel    step 2, one block per (detection, image): each warp makes
 *                  32-pixel words of the rectangle, one pixel per lane (the
 *                  mask logit summed as vp_post_mask_cpu sums it), the word
 *                  from a ballot. Blocks past the image's count return.
 *
 * Identity with the CPU: argmax compares floats only (float16 widened
 * exactly by __half2float), so the classes and counts are the same. The
 * mask logit is acc = acc + coef[k] * proto[k] from acc = 0, k ascending,
 * as __fadd_rn(acc, __fmul_rn(...)) so that nvcc cannot contract it into an
 * FMA (postprocess.c is built with -ffp-contract=off): the same roundings
 * in the same order, the same mask bits. The box scale (float)proto_w /
 * (float)in_w is computed on the host, as the CPU computes it.
 */
#include "vision/postprocess.h"

/* base/log.h is a C header without its own extern "C" block */
extern "C" {
#include "base/log.h"
}
#include "engine/cuda/cuda.h"

#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

namespace {

constexpr int SEM_THREADS = 256;
constexpr int SEM_WINDOWS = 64;      /* images per semseg launch: their windows are kernel arguments */
constexpr int SEM_MAX_BLOCKS = 1024; /* blocks per image, at most */
constexpr int BOX_THREADS = 256;
constexpr int BIT_THREADS = 256;
constexpr int MAX_SIDE = 1 << 24;    /* prototype sides up to this convert to float exactly */

__device__ __forceinline__ float ld(const float *p)
{
    return __ldg(p);
}

__device__ __forceinline__ float ld(const __half *p)
{
    return __half2float(__ldg(p)); /* exact */
}

/* ------------------------------------------------------------ semseg */

struct SemArgs {
    const void *logits;              /* [N, C, H, W] */
    int C, W;
    size_t plane;                    /* H * W */
    int img0;                        /* first image of this launch */
    int32_t *counts;                 /* [N][256] */
    uint8_t *classes;                /* [N][H][W] or NULL */
    int4 win[SEM_WINDOWS];           /* x0, y0, x1, y1 per image of the launch, clipped */
};

template <typename T>
__global__ void __launch_bounds__(SEM_THREADS) semseg_kernel(const SemArgs a)
{
    __shared__ uint32_t s_hist[VP_SEMSEG_BINS];
    const int li = (int)blockIdx.y, img = a.img0 + li, tid = (int)threadIdx.x, lane = tid & 31;
    for (int i = tid; i < VP_SEMSEG_BINS; i += blockDim.x)
        s_hist[i] = 0;
    __syncthreads();
    const int4 w = a.win[li];
    const T *base = static_cast<const T *>(a.logits) + (size_t)img * (size_t)a.C * a.plane;
    const size_t step = (size_t)gridDim.x * blockDim.x;
    /* p0 is the same for the whole block: every lane reaches the vote */
    for (size_t p0 = (size_t)blockIdx.x * blockDim.x; p0 < a.plane; p0 += step) {
        const size_t p = p0 + (size_t)tid;
        bool in = false;
        unsigned cls = 0;
        if (p < a.plane) {
            /* vp_post_semseg_cpu's rule: channel 0 seeds, strict > */
            float best = ld(base + p);
            for (int c = 1; c < a.C; c++) {
                float v = ld(base + (size_t)c * a.plane + p);
                if (v > best) {
                    best = v;
                    cls = (unsigned)c;
                }
            }
            if (a.classes)
                a.classes[(size_t)img * a.plane + p] = (uint8_t)cls;
            const int y = (int)(p / (size_t)a.W), x = (int)(p - (size_t)y * (size_t)a.W);
            in = x >= w.x && x < w.z && y >= w.y && y < w.w;
        }
        const unsigned key = in ? cls : (unsigned)VP_SEMSEG_BINS; /* outside: a bin of its own, not counted */
        const unsigned peers = __match_any_sync(0xffffffffu, key);
        if (in && lane == __ffs((int)peers) - 1)
            atomicAdd(&s_hist[cls], (uint32_t)__popc((int)peers));
    }
    __syncthreads();
    for (int i = tid; i < a.C; i += blockDim.x)
        if (s_hist[i])
            atomicAdd(&a.counts[(size_t)img * VP_SEMSEG_BINS + (size_t)i], (int32_t)s_hist[i]);
}

/* ------------------------------------------------------------ masks */

struct MaskArgs {
    const void *proto;               /* [N, nm, ph, pw] */
    int nm, ph, pw;
    size_t plane;                    /* ph * pw */
    const int32_t *count;            /* [N] */
    const vp_det *det;               /* [N * max_det], model-input pixels */
    const float *coefs;              /* [N * max_det * nm] */
    int max_det;
    float sx, sy;                    /* (float)pw / (float)in_w, (float)ph / (float)in_h */
    size_t cap;                      /* words of bit array per image */
    vp_mask_box *box;                /* [N * max_det] */
    uint32_t *words;                 /* [N] */
    uint32_t *bits;                  /* [N * cap] */
};

/* vp_post_mask_cpu's pixel range along one axis of n pixels (n <= 2^24, so
 * every index converts to float exactly): s = the first index x with
 * (float)x >= b0 (n when none: also for a NaN b0), e = the first index from
 * s on with !((float)x < b1) (n when none; s for a NaN b1). */
__device__ __forceinline__ void crop_range(float b0, float b1, int n, int *s, int *e)
{
    int a;
    if (b0 <= 0.0f)
        a = 0;
    else if (!(b0 <= (float)(n - 1)))
        a = n;
    else
        a = (int)ceilf(b0);
    int z;
    if (!(b1 > (float)a))
        z = a;
    else if (b1 > (float)(n - 1))
        z = n;
    else
        z = (int)ceilf(b1);
    *s = a;
    *e = z;
}

__device__ __forceinline__ int clamp_count(const MaskArgs &a, int img)
{
    int n = a.count[img];
    return n < 0 ? 0 : n > a.max_det ? a.max_det : n;
}

__global__ void __launch_bounds__(BOX_THREADS) boxes_kernel(const MaskArgs a)
{
    __shared__ uint32_t s_sum[BOX_THREADS];
    const int img = (int)blockIdx.x, tid = (int)threadIdx.x;
    const int n = clamp_count(a, img);
    /* thread tid owns the contiguous detections [k0, k1) */
    const int per = (n + BOX_THREADS - 1) / BOX_THREADS;
    const int k0 = tid * per < n ? tid * per : n, k1 = k0 + per < n ? k0 + per : n;
    vp_mask_box *box = a.box + (size_t)img * (size_t)a.max_det;
    uint32_t sum = 0;
    for (int k = k0; k < k1; k++) {
        const vp_det d = a.det[(size_t)img * (size_t)a.max_det + (size_t)k];
        vp_mask_box b;
        crop_range(__fmul_rn(d.x0, a.sx), __fmul_rn(d.x1, a.sx), a.pw, &b.x0, &b.x1);
        crop_range(__fmul_rn(d.y0, a.sy), __fmul_rn(d.y1, a.sy), a.ph, &b.y0, &b.y1);
        const uint64_t area = (uint64_t)(b.x1 - b.x0) * (uint64_t)(b.y1 - b.y0);
        b.words = (uint32_t)((area + 31u) / 32u);
        b.offset = 0;
        box[k] = b;
        sum += b.words; /* at most max_det * ceil(ph * pw / 32) <= UINT32_MAX in all (host check) */
    }
    /* inclusive scan of the per-thread sums (Hillis-Steele) */
    s_sum[tid] = sum;
    __syncthreads();
    for (int d = 1; d < BOX_THREADS; d <<= 1) {
        const uint32_t v = tid >= d ? s_sum[tid - d] : 0u;
        __syncthreads();
        s_sum[tid] += v;
        __syncthreads();
    }
    uint32_t off = s_sum[tid] - sum;
    for (int k = k0; k < k1; k++) {
        box[k].offset = off;
        off += box[k].words;
    }
    if (tid == BOX_THREADS - 1)
        a.words[img] = s_sum[tid];
}

template <typename T>
__global__ void __launch_bounds__(BIT_THREADS) bits_kernel(const MaskArgs a)
{
    __shared__ float s_cf[VP_POST_MAX_MASKS];
    const int k = (int)blockIdx.x, img = (int)blockIdx.y, tid = (int)threadIdx.x;
    const int lane = tid & 31, warp = tid >> 5, nwarps = BIT_THREADS / 32;
    if (k >= clamp_count(a, img)) /* uniform over the block */
        return;
    const size_t slot = (size_t)img * (size_t)a.max_det + (size_t)k;
    const vp_mask_box b = a.box[slot];
    for (int q = tid; q < a.nm; q += BIT_THREADS)
        s_cf[q] = a.coefs[slot * (size_t)a.nm + (size_t)q];
    __syncthreads();
    const size_t bw = (size_t)(b.x1 - b.x0), area = bw * (size_t)(b.y1 - b.y0);
    const T *pr = static_cast<const T *>(a.proto) + (size_t)img * (size_t)a.nm * a.plane;
    uint32_t *out = a.bits + (size_t)img * a.cap + b.offset;
    /* w is the same for the whole warp: every lane reaches the ballot */
    for (uint32_t w = (uint32_t)warp; w < b.words; w += (uint32_t)nwarps) {
        const size_t j = (size_t)w * 32u + (size_t)lane;
        bool bit = false;
        if (j < area) {
            const size_t y = (size_t)b.y0 + j / bw, x = (size_t)b.x0 + j % bw;
            const T *px = pr + y * (size_t)a.pw + x;
            float acc = 0.0f;
            for (int q = 0; q < a.nm; q++)
                acc = __fadd_rn(acc, __fmul_rn(s_cf[q], ld(px + (size_t)q * a.plane)));
            bit = acc > 0.0f;
        }
        const unsigned word = __ballot_sync(0xffffffffu, bit);
        if (lane == 0)
            out[w] = word;
    }
}

/* ------------------------------------------------------------ host side */

#define BAD(...)                                   \
    do {                                           \
        VP_LOGE("segment (CUDA): " __VA_ARGS__);   \
        return VP_ERR_INVALID;                     \
    } while (0)

/* Plain host memory would fault in a kernel and leave the context unusable:
 * refuse it before the launch (as vp_cuda_postprocess does). */
int check_pointer(const void *ptr, const char *what)
{
    cudaPointerAttributes at;
    cudaError_t e = cudaPointerGetAttributes(&at, ptr);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* not sticky: clear it for the caller */
        VP_LOGE("segment (CUDA): cudaPointerGetAttributes(%s %p) failed: %s", what, ptr, cudaGetErrorName(e));
        return VP_ERR_INVALID;
    }
    if (at.type == cudaMemoryTypeUnregistered) {
        VP_LOGE("segment (CUDA): %s %p is plain host memory; the kernels need device memory", what, ptr);
        return VP_ERR_INVALID;
    }
    return VP_OK;
}

/* 1 when stream s is capturing (pointer checks are host queries: skipped
 * then, as in vp_cuda_postprocess); -1 when the query failed (logged). */
int capturing(cudaStream_t s)
{
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    cudaError_t e = cudaStreamIsCapturing(s, &cap);
    if (e != cudaSuccess) {
        vp_cuda_fail("CUDA", "cudaStreamIsCapturing(s, &cap)", (int)e, cudaGetErrorName(e), __FILE__, __LINE__);
        return -1;
    }
    return cap != cudaStreamCaptureStatusNone;
}

int clip(int v, int hi)
{
    return v < 0 ? 0 : v > hi ? hi : v;
}

template <typename T>
int launch_semseg(SemArgs &a, const vp_post_layout *lo, const int32_t *windows, cudaStream_t s)
{
    /* enough blocks for about four pixels per thread, at most SEM_MAX_BLOCKS per image */
    size_t want = (a.plane + 4u * SEM_THREADS - 1) / (4u * SEM_THREADS);
    unsigned bx = (unsigned)(want < (size_t)SEM_MAX_BLOCKS ? want : (size_t)SEM_MAX_BLOCKS);
    for (int i0 = 0; i0 < lo->batch; i0 += SEM_WINDOWS) {
        int n = lo->batch - i0 < SEM_WINDOWS ? lo->batch - i0 : SEM_WINDOWS;
        a.img0 = i0;
        for (int i = 0; i < n; i++) {
            const int32_t *w = windows + 4 * (size_t)(i0 + i);
            int x0 = clip(w[0], lo->proto_w), y0 = clip(w[1], lo->proto_h);
            int x1 = clip(w[2], lo->proto_w), y1 = clip(w[3], lo->proto_h);
            a.win[i] = make_int4(x0, y0, x1 > x0 ? x1 : x0, y1 > y0 ? y1 : y0);
        }
        dim3 grid(bx, (unsigned)n);
        semseg_kernel<T><<<grid, SEM_THREADS, 0, s>>>(a);
        VP_CUDA_LAUNCHED();
    }
    return VP_OK;
}

} // namespace

extern "C" __attribute__((visibility("default"))) int vp_cuda_semseg(const vp_post_layout *lo,
                                                                    const vp_post_tensor *logits,
                                                                    const int32_t *windows, int32_t *counts,
                                                                    uint8_t *classes, struct CUstream_st *stream)
{
    if (!lo || !logits || !logits->data || !windows || !counts)
        BAD("NULL %s", !lo ? "layout" : !logits ? "logits" : !logits->data ? "logit data" : !windows ? "windows"
                       : "count array");
    if (lo->task != VP_TASK_SEMSEG)
        BAD("layout of task %s, expected semseg", vp_task_name(lo->task));
    const int C = lo->num_classes, H = lo->proto_h, W = lo->proto_w;
    if (C < 1 || C > 255 || H < 1 || W < 1 || lo->batch < 1 || lo->batch > 65535)
        BAD("%d classes (1..255), %dx%d pixels, batch %d (1..65535)", C, W, H, lo->batch);
    if (logits->rank != 4 || logits->d[0] != lo->batch || logits->d[1] != C || logits->d[2] != H ||
        logits->d[3] != W || (logits->dtype != VP_PRE_FP32 && logits->dtype != VP_PRE_FP16))
        BAD("logits are not [%d, %d, %d, %d] float32 or float16 as the layout says", lo->batch, C, H, W);
    cudaStream_t s = stream;
    int cap = capturing(s);
    if (cap < 0)
        return VP_ERR_BACKEND;
    int rc;
    if (!cap && ((rc = check_pointer(logits->data, "logits")) || (rc = check_pointer(counts, "count array")) ||
                 (classes && (rc = check_pointer(classes, "class map")))))
        return rc;
    SemArgs a = {};
    a.logits = logits->data;
    a.C = C;
    a.W = W;
    a.plane = (size_t)H * (size_t)W;
    a.img0 = 0;
    a.counts = counts;
    a.classes = classes;
    VP_CUDA(cudaMemsetAsync(counts, 0, (size_t)lo->batch * VP_SEMSEG_BINS * sizeof(int32_t), s));
    return logits->dtype == VP_PRE_FP16 ? launch_semseg<__half>(a, lo, windows, s)
                                        : launch_semseg<float>(a, lo, windows, s);
}

extern "C" __attribute__((visibility("default"))) int vp_cuda_masks(const vp_post_layout *lo,
                                                                   const vp_post_tensor *proto,
                                                                   const vp_post_results *res, int max_det,
                                                                   int in_w, int in_h, vp_mask_results *out,
                                                                   struct CUstream_st *stream)
{
    if (!lo || !proto || !proto->data || !res || !res->count || !res->det || !res->coefs || !out || !out->box ||
        !out->words || !out->bits)
        BAD("NULL %s", !lo ? "layout" : !proto ? "prototypes" : !proto->data ? "prototype data" : !res ? "results"
                       : !res->count ? "count array" : !res->det ? "detection array"
                       : !res->coefs ? "coefficient array" : !out ? "mask results" : "mask arrays");
    if (lo->task != VP_TASK_SEGMENT)
        BAD("layout of task %s, expected segment", vp_task_name(lo->task));
    const int nm = lo->num_masks, ph = lo->proto_h, pw = lo->proto_w;
    if (nm < 1 || nm > VP_POST_MAX_MASKS || ph < 1 || pw < 1 || ph > MAX_SIDE || pw > MAX_SIDE)
        BAD("%d mask coefficients (1..%d), %dx%d prototypes (sides 1..%d)", nm, VP_POST_MAX_MASKS, pw, ph, MAX_SIDE);
    if (lo->batch < 1 || lo->batch > 65535 || max_det < 1 || max_det > VP_POST_MAX_CANDIDATES || in_w < 1 ||
        in_h < 1)
        BAD("batch %d (1..65535), max_det %d (1..%d), input %dx%d", lo->batch, max_det, VP_POST_MAX_CANDIDATES,
            in_w, in_h);
    if (proto->rank != 4 || proto->d[0] != lo->batch || proto->d[1] != nm || proto->d[2] != ph ||
        proto->d[3] != pw || (proto->dtype != VP_PRE_FP32 && proto->dtype != VP_PRE_FP16))
        BAD("prototypes are not [%d, %d, %d, %d] float32 or float16 as the layout says", lo->batch, nm, ph, pw);
    const size_t cap_words = vp_post_mask_words(lo, max_det);
    if (!cap_words)
        BAD("%d masks of %dx%d pixels need more than 2^32 words per image", max_det, pw, ph);
    cudaStream_t s = stream;
    int cap = capturing(s);
    if (cap < 0)
        return VP_ERR_BACKEND;
    int rc;
    if (!cap && ((rc = check_pointer(proto->data, "prototypes")) || (rc = check_pointer(res->count, "count array")) ||
                 (rc = check_pointer(res->det, "detection array")) ||
                 (rc = check_pointer(res->coefs, "coefficient array")) || (rc = check_pointer(out->box, "box array")) ||
                 (rc = check_pointer(out->words, "word counts")) || (rc = check_pointer(out->bits, "bit array"))))
        return rc;
    MaskArgs a = {};
    a.proto = proto->data;
    a.nm = nm;
    a.ph = ph;
    a.pw = pw;
    a.plane = (size_t)ph * (size_t)pw;
    a.count = res->count;
    a.det = res->det;
    a.coefs = res->coefs;
    a.max_det = max_det;
    a.sx = (float)pw / (float)in_w; /* as vp_post_mask_cpu */
    a.sy = (float)ph / (float)in_h;
    a.cap = cap_words;
    a.box = out->box;
    a.words = out->words;
    a.bits = out->bits;
    boxes_kernel<<<(unsigned)lo->batch, BOX_THREADS, 0, s>>>(a);
    VP_CUDA_LAUNCHED();
    dim3 grid((unsigned)max_det, (unsigned)lo->batch);
    if (proto->dtype == VP_PRE_FP16)
        bits_kernel<__half><<<grid, BIT_THREADS, 0, s>>>(a);
    else
        bits_kernel<float><<<grid, BIT_THREADS, 0, s>>>(a);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}
