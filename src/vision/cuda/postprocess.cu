/*
 * YOLO post-processing, CUDA implementation (contract: vision/postprocess.h):
 * decode, confidence filter, top-k, class-aware greedy NMS, keypoints and
 * mask coefficients, from device model outputs into device result arrays, so
 * that only final results cross to the host. Four kernels per call, each with
 * a grid over the batch, enqueued on the caller's stream with no allocation,
 * synchronisation or copy (a capturing stream records them into a graph):
 *
 *   1. candidates_kernel, one thread per anchor: best class score (or every
 *      class with multi_label), strict > conf_threshold; a passing candidate
 *      is appended, as one 64-bit sort key, to its image's list in scratch
 *      (warp-aggregated atomic counter). Append order is nondeterministic;
 *      the key makes the order total: high word = the score mapped to an
 *      unsigned integer whose ascending order is descending float order
 *      (-0 folded onto +0, they compare equal in C), low word = anchor * nc +
 *      class. Ascending keys = score desc, anchor asc, class asc, and no two
 *      keys are equal, so the result never depends on scheduling.
 *   2. select_kernel, one 1024-thread block per image: the max_candidates
 *      smallest keys. With at most that many candidates they are all taken;
 *      otherwise an exact radix select (8-bit digits from the top, shared
 *      histogram, stops as soon as the boundary digit holds exactly the
 *      number still needed; keys are unique so at most 8 passes) finds the
 *      k-th key, and the keys not above it are compacted. Bitonic sort in
 *      shared memory, then the boxes are decoded (corners as the header
 *      writes them) into a sorted candidate array.
 *      The list holds `anchors` keys per image: without multi_label that is
 *      every possible candidate. With multi_label an image can have up to
 *      anchors * nc candidates; when more than `anchors` pass (the counter
 *      keeps counting past the list), the select kernel ignores the list and
 *      recomputes the keys from the predictions in each pass (same function,
 *      same values): exact and the scratch stays small, but slow, since one
 *      block per image walks all anchors * nc pairs up to nine times:
 *      YOLOv8n multi_label at conf 0.001 (~670k candidates per image) takes
 *      2.3 ms for batch 1 and 2.9 ms for batch 32 on an H200. The fix, if
 *      that evaluation setting matters: a grid-wide histogram of the keys'
 *      top 16 bits in candidates_kernel, then a second grid-wide pass that
 *      appends only the keys up to the boundary bin.
 *   3. mask_kernel, one 64-thread block per 64x64 tile of the upper triangle:
 *      bit j of row i's word j/64 is set when j > i, the classes agree (or
 *      class_agnostic) and IoU(i, j) > iou_threshold.
 *   4. nms_kernel, one block per image: greedy scan in sorted order, 64
 *      candidates at a time: the tile's mask rows are staged in shared
 *      memory, one thread resolves the tile sequentially (a candidate is kept
 *      unless an earlier kept one removed it; stop at max_det), then the kept
 *      rows are OR-ed into the removal mask of later tiles in parallel and the
 *      kept detections (+ keypoints / mask coefficients, copied from the
 *      extra features) are written to the results.
 *
 * Identity with the CPU implementation: the same operations in the same
 * order, written as __fmul_rn/__fadd_rn/__fsub_rn/__fdiv_rn so that nvcc
 * cannot contract them into FMAs (postprocess.c is built with
 * -ffp-contract=off); float16 is widened exactly with __half2float.
 *
 * Measured on an H200 (tests/vision/postprocess_gpu.c --bench), YOLOv8n
 * outputs [B, 84, 8400] float16, K = 1024, max_det 300: conf 0.25 (a few
 * hundred candidates per image) 41 us for batch 1, 58 us for batch 32;
 * conf 0.001 (every anchor passes: radix select) 90 us and 129 us.
 *
 * Scratch (vp_cuda_post_scratch_bytes): per image 4 bytes of counter,
 * 8 * anchors bytes of keys, 28 * K bytes of sorted candidates and
 * 8 * K * ceil(K / 64) bytes of mask (K = max_candidates). YOLOv8n at 640
 * (8400 anchors), K = 1024: about 225 KB per image.
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

constexpr int CAND_THREADS = 256;
constexpr int SELECT_THREADS = 1024;
constexpr int NMS_THREADS = 256;
constexpr int MAX_WORDS = VP_POST_MAX_CANDIDATES / 64; /* mask words per row, at most */

/* Everything a kernel needs, passed by value. */
struct Args {
    const void *pred;   /* out[0], image i at i * anchors * features elements */
    int anchors, features, nc;
    int class_offset, extra_offset;
    int n_kp;           /* floats of keypoints per detection to write (0: none) */
    int n_cf;           /* mask coefficients per detection to write (0: none) */
    float conf, iou;
    int K;              /* max_candidates */
    int max_det, words; /* words = ceil(K / 64), the mask's row stride */
    int agnostic, multi_label;
    uint32_t cap;       /* keys per image in the list (= anchors) */
    /* scratch */
    uint32_t *counts;   /* [batch] candidates found (may exceed cap) */
    uint64_t *keys;     /* [batch * cap] */
    vp_det *cand;       /* [batch * K] sorted candidates, decoded */
    uint64_t *mask;     /* [batch * K * words] */
    /* results */
    int32_t *count;
    vp_det *det;
    float *kp, *cf;
};

__device__ __forceinline__ float ld(const float *p)
{
    return __ldg(p);
}

__device__ __forceinline__ float ld(const __half *p)
{
    return __half2float(__ldg(p)); /* exact */
}

/* Predictions of one image: feature f of anchor a. */
template <typename T, bool V5>
struct Pred {
    const T *base;
    int A, F;
    __device__ __forceinline__ Pred(const Args &g, int img)
        : base(static_cast<const T *>(g.pred) + (size_t)img * (size_t)g.anchors * (size_t)g.features),
          A(g.anchors), F(g.features)
    {
    }
    __device__ __forceinline__ float at(int f, int a) const
    {
        return V5 ? ld(base + (size_t)a * (size_t)F + (size_t)f) : ld(base + (size_t)f * (size_t)A + (size_t)a);
    }
    /* V5: objectness (feature 4) times the class score, one float32
     * multiply as in C; V8: the class score as exported. */
    __device__ __forceinline__ float obj(int a) const
    {
        return V5 ? at(4, a) : 1.0f;
    }
    __device__ __forceinline__ float score(float o, int cls_feature, int a) const
    {
        float s = at(cls_feature, a);
        return V5 ? __fmul_rn(o, s) : s;
    }
};

/* Sort key (see the file comment): ascending = score desc, idx asc. */
__device__ __forceinline__ uint64_t make_key(float s, uint32_t idx)
{
    s = s == 0.0f ? 0.0f : s; /* -0 == +0 in the CPU's comparison: one key */
    uint32_t u = __float_as_uint(s);
    u ^= (u & 0x80000000u) ? 0xffffffffu : 0x80000000u; /* ascending in float order (no NaN here) */
    return ((uint64_t)~u << 32) | idx;
}

/* Appends key for the lanes with pass set. Called by all 32 lanes of the
 * warp with the same arguments for img (no lane may have returned). */
__device__ __forceinline__ void append(const Args &g, int img, bool pass, uint64_t key)
{
    unsigned b = __ballot_sync(0xffffffffu, pass);
    if (!b)
        return;
    int lane = (int)(threadIdx.x & 31u), leader = __ffs((int)b) - 1;
    uint32_t base = 0;
    if (lane == leader)
        base = atomicAdd(&g.counts[img], (uint32_t)__popc((int)b));
    base = __shfl_sync(0xffffffffu, base, leader);
    if (pass) {
        uint32_t slot = base + (uint32_t)__popc((int)(b & ((1u << lane) - 1u)));
        if (slot < g.cap)
            g.keys[(size_t)img * g.cap + slot] = key;
    }
}

template <typename T, bool V5>
__global__ void __launch_bounds__(CAND_THREADS) candidates_kernel(const Args g)
{
    int img = (int)blockIdx.y;
    int a = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    bool valid = a < g.anchors; /* no early return: append() needs the whole warp */
    Pred<T, V5> P(g, img);
    int aa = valid ? a : 0;
    float o = valid ? P.obj(aa) : 0.0f;
    if (g.multi_label) {
        for (int c = 0; c < g.nc; c++) {
            float s = valid ? P.score(o, g.class_offset + c, aa) : 0.0f;
            bool pass = valid && s > g.conf;
            append(g, img, pass, make_key(pass ? s : 0.0f, (uint32_t)aa * (uint32_t)g.nc + (uint32_t)c));
        }
    } else {
        float best = 0.0f;
        int bc = 0;
        if (valid) {
            /* the first maximal class wins (strict >) */
            best = P.score(o, g.class_offset, aa);
            for (int c = 1; c < g.nc; c++) {
                float s = P.score(o, g.class_offset + c, aa);
                if (s > best) {
                    best = s;
                    bc = c;
                }
            }
        }
        bool pass = valid && best > g.conf;
        append(g, img, pass, make_key(pass ? best : 0.0f, (uint32_t)aa * (uint32_t)g.nc + (uint32_t)bc));
    }
}

/* Where select_kernel reads candidates from: the list, or (list overflowed,
 * multi_label only) every (anchor, class) pair recomputed. */
template <typename T, bool V5>
struct Source {
    Pred<T, V5> P;
    const uint64_t *list;
    int nc, class_offset;
    float conf;
    bool recompute;
    uint32_t total; /* items to visit */

    /* Calls f(ok, key) for every item, ok telling whether it is a candidate.
     * The trip count is the same for every thread of the block (items past
     * the end come as !ok), so f may use warp-wide votes. Recomputed pairs
     * are visited anchor-fastest for V8 and class-fastest for V5 (coalesced
     * loads; the order is free, the result is sorted), their position kept
     * as (outer, inner) without a division per item. */
    template <typename Fn>
    __device__ __forceinline__ void visit(Fn f) const
    {
        const uint32_t step = blockDim.x;
        if (!recompute) {
            for (uint32_t q0 = 0; q0 < total; q0 += step) {
                uint32_t q = q0 + threadIdx.x;
                bool ok = q < total;
                f(ok, ok ? list[q] : (uint64_t)0);
            }
            return;
        }
        const uint32_t inner = V5 ? (uint32_t)nc : (uint32_t)P.A, outer = V5 ? (uint32_t)P.A : (uint32_t)nc;
        uint32_t i = threadIdx.x % inner, o = threadIdx.x / inner;
        for (uint32_t q0 = 0; q0 < total; q0 += step) {
            bool ok = o < outer;
            uint64_t k = 0;
            if (ok) {
                uint32_t a = V5 ? o : i, c = V5 ? i : o;
                float s = P.score(P.obj((int)a), class_offset + (int)c, (int)a);
                ok = s > conf;
                if (ok)
                    k = make_key(s, a * (uint32_t)nc + c);
            }
            f(ok, k);
            i += step;
            if (i >= inner) {
                o += i / inner;
                i %= inner;
            }
        }
    }
};

template <typename T, bool V5>
__global__ void __launch_bounds__(SELECT_THREADS) select_kernel(const Args g)
{
    __shared__ uint64_t s_keys[VP_POST_MAX_CANDIDATES];
    __shared__ uint32_t s_hist[256];
    __shared__ uint32_t s_fill, s_need, s_done, s_digit;

    const int img = (int)blockIdx.x, tid = (int)threadIdx.x, lane = tid & 31;
    const uint32_t m = g.counts[img], K = (uint32_t)g.K;
    Source<T, V5> src = {Pred<T, V5>(g, img), g.keys + (size_t)img * g.cap, g.nc, g.class_offset, g.conf,
                         m > g.cap, 0};
    src.total = src.recompute ? (uint32_t)g.anchors * (uint32_t)g.nc : m;
    const uint32_t n = m < K ? m : K; /* candidates kept for NMS */
    if (n == 0)
        return;

    uint64_t prefix = 0, pmask = 0; /* selected: (key & pmask) <= prefix */
    if (tid == 0)
        s_fill = 0;
    if (m > K) {
        /* Radix select of the K-th smallest key. Invariant: the keys with
         * (key & pmask) == prefix number at least `need`, and the keys with
         * (key & pmask) < prefix number K - need. */
        uint32_t need = K;
        for (int shift = 56; shift >= 0; shift -= 8) {
            for (int i = tid; i < 256; i += blockDim.x)
                s_hist[i] = 0;
            __syncthreads();
            /* A warp whose lanes all fall in one bin (the common case in the
             * first passes) adds once; otherwise each lane adds its own. */
            src.visit([&](bool ok, uint64_t k) {
                ok = ok && (k & pmask) == prefix;
                unsigned bin = ok ? (unsigned)(k >> shift) & 255u : 256u;
                unsigned bin0 = __shfl_sync(0xffffffffu, bin, 0);
                if (__all_sync(0xffffffffu, bin == bin0)) {
                    if (bin0 < 256u && lane == 0)
                        atomicAdd(&s_hist[bin0], 32u);
                } else if (ok) {
                    atomicAdd(&s_hist[bin], 1u);
                }
            });
            __syncthreads();
            if (tid < 32) {
                /* lane l owns bins [8l, 8l + 8): find the first bin where the
                 * running count reaches need */
                uint32_t sum = 0;
                for (int i = 0; i < 8; i++)
                    sum += s_hist[8 * lane + i];
                uint32_t incl = sum;
                for (int d = 1; d < 32; d <<= 1) {
                    uint32_t v = __shfl_up_sync(0xffffffffu, incl, d);
                    if (lane >= d)
                        incl += v;
                }
                unsigned hit = __ballot_sync(0xffffffffu, incl >= need);
                int L = hit ? __ffs((int)hit) - 1 : 31; /* hit == 0 cannot happen (invariant) */
                if (lane == L) {
                    uint32_t cum = incl - sum;
                    int d = 8 * lane;
                    for (; d < 8 * lane + 7 && cum + s_hist[d] < need; d++)
                        cum += s_hist[d];
                    s_digit = (uint32_t)d;
                    s_need = need - cum;
                    s_done = !hit || s_hist[d] == need - cum;
                }
            }
            __syncthreads();
            need = s_need;
            prefix |= (uint64_t)s_digit << shift;
            pmask |= (uint64_t)0xff << shift;
            bool done = s_done != 0;
            __syncthreads(); /* everyone has read s_* before the next pass rewrites them */
            if (done)
                break;
        }
    }
    if (!src.recompute && m <= K) {
        for (uint32_t i = (uint32_t)tid; i < m; i += blockDim.x)
            s_keys[i] = src.list[i];
    } else {
        /* exactly n keys satisfy the test; the order is fixed by the sort */
        __syncthreads();
        src.visit([&](bool ok, uint64_t k) {
            if (ok && (k & pmask) <= prefix) {
                uint32_t slot = atomicAdd(&s_fill, 1u);
                if (slot < n) /* defensive: cannot exceed n */
                    s_keys[slot] = k;
            }
        });
    }
    /* bitonic sort of the next power of two, padded with the largest key */
    uint32_t P2 = 1;
    while (P2 < n)
        P2 <<= 1;
    for (uint32_t i = n + (uint32_t)tid; i < P2; i += blockDim.x)
        s_keys[i] = ~(uint64_t)0;
    __syncthreads();
    for (uint32_t k = 2; k <= P2; k <<= 1)
        for (uint32_t j = k >> 1; j > 0; j >>= 1) {
            for (uint32_t i = (uint32_t)tid; i < P2; i += blockDim.x) {
                uint32_t ixj = i ^ j;
                if (ixj > i) {
                    uint64_t x = s_keys[i], y = s_keys[ixj];
                    bool up = (i & k) == 0;
                    if ((x > y) == up) {
                        s_keys[i] = y;
                        s_keys[ixj] = x;
                    }
                }
            }
            __syncthreads();
        }
    /* decode: score recomputed from (anchor, class) by the same function
     * (bit-identical to the one tested, including the sign of a zero) */
    for (uint32_t i = (uint32_t)tid; i < n; i += blockDim.x) {
        uint32_t idx = (uint32_t)s_keys[i];
        int a = (int)(idx / (uint32_t)g.nc), c = (int)(idx % (uint32_t)g.nc);
        const Pred<T, V5> &P = src.P;
        float cx = P.at(0, a), cy = P.at(1, a), w = P.at(2, a), h = P.at(3, a);
        float hw = __fmul_rn(w, 0.5f), hh = __fmul_rn(h, 0.5f); /* w/2, exact same value as w * 0.5f */
        vp_det d;
        d.x0 = __fsub_rn(cx, hw);
        d.y0 = __fsub_rn(cy, hh);
        d.x1 = __fadd_rn(cx, hw);
        d.y1 = __fadd_rn(cy, hh);
        d.score = P.score(P.obj(a), g.class_offset + c, a);
        d.cls = c;
        d.anchor = a;
        g.cand[(size_t)img * (size_t)K + i] = d;
    }
}

/* vp_post_iou's arithmetic, operation for operation (a: the earlier, kept
 * box; b: the later one). */
__device__ __forceinline__ float iou(float ax0, float ay0, float ax1, float ay1, float bx0, float by0, float bx1,
                                     float by1)
{
    float iw = __fsub_rn(fminf(ax1, bx1), fmaxf(ax0, bx0));
    float ih = __fsub_rn(fminf(ay1, by1), fmaxf(ay0, by0));
    iw = iw > 0.0f ? iw : 0.0f;
    ih = ih > 0.0f ? ih : 0.0f;
    float inter = __fmul_rn(iw, ih);
    float aw = __fsub_rn(ax1, ax0), ah = __fsub_rn(ay1, ay0);
    float bw = __fsub_rn(bx1, bx0), bh = __fsub_rn(by1, by0);
    aw = aw > 0.0f ? aw : 0.0f;
    ah = ah > 0.0f ? ah : 0.0f;
    bw = bw > 0.0f ? bw : 0.0f;
    bh = bh > 0.0f ? bh : 0.0f;
    float uni = __fsub_rn(__fadd_rn(__fmul_rn(aw, ah), __fmul_rn(bw, bh)), inter);
    return uni > 0.0f ? __fdiv_rn(inter, uni) : 0.0f;
}

__global__ void __launch_bounds__(64) mask_kernel(const Args g)
{
    __shared__ float4 s_box[64];
    __shared__ int s_cls[64];
    const int img = (int)blockIdx.z, rb = (int)blockIdx.y, cb = (int)blockIdx.x, t = (int)threadIdx.x;
    uint32_t m = g.counts[img];
    int n = (int)(m < (uint32_t)g.K ? m : (uint32_t)g.K);
    if (cb < rb || rb * 64 >= n || cb * 64 >= n) /* uniform over the block */
        return;
    const vp_det *cand = g.cand + (size_t)img * (size_t)g.K;
    int j = cb * 64 + t;
    if (j < n) {
        vp_det d = cand[j];
        s_box[t] = make_float4(d.x0, d.y0, d.x1, d.y1);
        s_cls[t] = d.cls;
    }
    __syncthreads();
    int i = rb * 64 + t;
    if (i >= n)
        return;
    vp_det d = cand[i];
    int jn = n - cb * 64 < 64 ? n - cb * 64 : 64;
    uint64_t bits = 0;
    for (int k = cb == rb ? t + 1 : 0; k < jn; k++) {
        float4 b = s_box[k];
        if ((g.agnostic || s_cls[k] == d.cls) && iou(d.x0, d.y0, d.x1, d.y1, b.x, b.y, b.z, b.w) > g.iou)
            bits |= (uint64_t)1 << k;
    }
    g.mask[((size_t)img * (size_t)g.K + (size_t)i) * (size_t)g.words + (size_t)cb] = bits;
}

template <typename T, bool V5>
__global__ void __launch_bounds__(NMS_THREADS) nms_kernel(const Args g)
{
    __shared__ uint64_t s_tile[64][MAX_WORDS]; /* mask rows of the current tile */
    __shared__ uint64_t s_removed[MAX_WORDS];
    __shared__ int s_rows[64];                 /* kept rows of the tile, in order */
    __shared__ int s_kept, s_base, s_nkept;

    const int img = (int)blockIdx.x, tid = (int)threadIdx.x;
    uint32_t m = g.counts[img];
    const int n = (int)(m < (uint32_t)g.K ? m : (uint32_t)g.K), wn = (n + 63) / 64;
    for (int w = tid; w < MAX_WORDS; w += blockDim.x)
        s_removed[w] = 0;
    if (tid == 0)
        s_kept = 0;
    __syncthreads();
    const vp_det *cand = g.cand + (size_t)img * (size_t)g.K;
    const uint64_t *mask = g.mask + (size_t)img * (size_t)g.K * (size_t)g.words;
    const size_t out0 = (size_t)img * (size_t)g.max_det;
    const int per = 1 + g.n_kp + g.n_cf; /* values written per kept detection */
    Pred<T, V5> P(g, img);
    for (int t = 0; t < wn; t++) {
        int rows = n - 64 * t < 64 ? n - 64 * t : 64;
        uint64_t valid = rows == 64 ? ~(uint64_t)0 : (((uint64_t)1 << rows) - 1);
        uint64_t cur = s_removed[t];
        if ((cur & valid) == valid) /* all removed already: nothing to keep, nothing to load */
            continue;
        int nw = wn - t; /* words t.. of each row: earlier words are below the diagonal */
        for (int e = tid; e < rows * nw; e += blockDim.x) {
            int r = e / nw, w = t + e % nw;
            s_tile[r][w] = mask[(size_t)(64 * t + r) * (size_t)g.words + (size_t)w];
        }
        __syncthreads();
        if (tid == 0) {
            int kept = s_kept, nk = 0;
            s_base = kept;
            for (int r = 0; r < rows && kept < g.max_det; r++)
                if (!((cur >> r) & 1u)) {
                    s_rows[nk++] = r;
                    kept++;
                    cur |= s_tile[r][t];
                }
            s_nkept = nk;
            s_kept = kept;
        }
        __syncthreads();
        const int nk = s_nkept, base = s_base;
        for (int w = t + 1 + tid; w < wn; w += blockDim.x) {
            uint64_t acc = 0;
            for (int q = 0; q < nk; q++)
                acc |= s_tile[s_rows[q]][w];
            s_removed[w] |= acc;
        }
        for (int e = tid; e < nk * per; e += blockDim.x) {
            int q = e / per, k = e % per;
            const vp_det *d = &cand[64 * t + s_rows[q]];
            size_t o = out0 + (size_t)(base + q);
            if (k == 0)
                g.det[o] = *d;
            else if (k <= g.n_kp)
                g.kp[o * (size_t)g.n_kp + (size_t)(k - 1)] = P.at(g.extra_offset + k - 1, d->anchor);
            else
                g.cf[o * (size_t)g.n_cf + (size_t)(k - 1 - g.n_kp)] =
                    P.at(g.extra_offset + k - 1 - g.n_kp, d->anchor);
        }
        __syncthreads();
        if (s_kept >= g.max_det)
            break;
    }
    if (tid == 0)
        g.count[img] = s_kept;
}

/* Byte offsets of the scratch arrays, each 256-byte aligned. */
struct Layout {
    size_t counts, keys, cand, mask, total;
};

size_t align256(size_t x)
{
    return (x + 255) / 256 * 256;
}

Layout scratch_layout(const vp_post_params *p, const vp_post_layout *lo)
{
    size_t N = (size_t)lo->batch, K = (size_t)p->max_candidates, W = (K + 63) / 64;
    Layout L;
    L.counts = 0;
    L.keys = align256(N * sizeof(uint32_t));
    L.cand = L.keys + align256(N * (size_t)lo->anchors * sizeof(uint64_t));
    L.mask = L.cand + align256(N * K * sizeof(vp_det));
    L.total = L.mask + align256(N * K * W * sizeof(uint64_t));
    return L;
}

#define BAD(...)                                    \
    do {                                            \
        VP_LOGE("postprocess (CUDA): " __VA_ARGS__); \
        return VP_ERR_INVALID;                      \
    } while (0)

/* Params and resolved layout, as far as this implementation relies on them
 * (vp_post_resolve has checked them against the shapes already; this keeps
 * the kernels in bounds whatever the caller passes). */
int check_config(const vp_post_params *p, const vp_post_layout *lo)
{
    if (!p || !lo)
        BAD("NULL %s", !p ? "params" : "layout");
    if (lo->task == VP_TASK_SEMSEG)
        BAD("task semseg is not handled here (vp_cuda_postprocess decodes detect/pose/segment outputs)");
    if (lo->task != VP_TASK_DETECT && lo->task != VP_TASK_POSE && lo->task != VP_TASK_SEGMENT)
        BAD("unknown task %d", (int)lo->task);
    if (lo->layout != VP_YOLO_V8 && lo->layout != VP_YOLO_V5)
        BAD("layout %d is not resolved to V8 or V5 (use vp_post_resolve)", (int)lo->layout);
    if (p->max_candidates < 1 || p->max_candidates > VP_POST_MAX_CANDIDATES)
        BAD("max_candidates %d outside 1..%d", p->max_candidates, VP_POST_MAX_CANDIDATES);
    if (p->max_det < 1 || p->max_det > p->max_candidates)
        BAD("max_det %d outside 1..max_candidates (%d)", p->max_det, p->max_candidates);
    /* the CPU implementation's checks too, so both accept the same params */
    if (!isfinite(p->conf_threshold))
        BAD("conf_threshold %g is not finite", (double)p->conf_threshold);
    if (!(p->iou_threshold >= 0.0f && p->iou_threshold <= 1.0f))
        BAD("iou_threshold %g outside [0, 1]", (double)p->iou_threshold);
    if ((p->class_agnostic != 0 && p->class_agnostic != 1) || (p->multi_label != 0 && p->multi_label != 1))
        BAD("class_agnostic %d, multi_label %d: each must be 0 or 1", p->class_agnostic, p->multi_label);
    if (lo->batch < 1 || lo->batch > 65535)
        BAD("batch %d outside 1..65535", lo->batch);
    if (lo->anchors < 1 || lo->num_classes < 1 || lo->features < 1)
        BAD("anchors %d, classes %d, features %d: all must be positive", lo->anchors, lo->num_classes,
            lo->features);
    int min_cls = lo->layout == VP_YOLO_V5 ? 5 : 4;
    if (lo->class_offset < min_cls || (int64_t)lo->class_offset + lo->num_classes > lo->features)
        BAD("class scores at features %d..%d do not fit %d features", lo->class_offset,
            lo->class_offset + lo->num_classes - 1, lo->features);
    if ((int64_t)lo->anchors * lo->num_classes > INT32_MAX)
        BAD("anchors x classes (%d x %d) exceeds 2^31 - 1", lo->anchors, lo->num_classes);
    if (lo->task == VP_TASK_POSE) {
        if (lo->num_keypoints < 1 || lo->num_keypoints > VP_POST_MAX_KEYPOINTS ||
            (lo->keypoint_dims != 2 && lo->keypoint_dims != 3))
            BAD("keypoints %d x %d (1..%d keypoints of 2 or 3 values)", lo->num_keypoints, lo->keypoint_dims,
                VP_POST_MAX_KEYPOINTS);
        if (lo->extra_offset < lo->class_offset + lo->num_classes ||
            (int64_t)lo->extra_offset + (int64_t)lo->num_keypoints * lo->keypoint_dims > lo->features)
            BAD("keypoints at feature %d do not fit %d features", lo->extra_offset, lo->features);
    }
    if (lo->task == VP_TASK_SEGMENT) {
        if (lo->num_masks < 1 || lo->num_masks > VP_POST_MAX_MASKS)
            BAD("num_masks %d outside 1..%d", lo->num_masks, VP_POST_MAX_MASKS);
        if (lo->extra_offset < lo->class_offset + lo->num_classes ||
            (int64_t)lo->extra_offset + lo->num_masks > lo->features)
            BAD("mask coefficients at feature %d do not fit %d features", lo->extra_offset, lo->features);
    }
    return VP_OK;
}

/* Plain host memory would fault in a kernel and leave the context unusable:
 * refuse it before the launch (as vp_cuda_preprocess does). */
int check_pointer(const void *ptr, const char *what)
{
    cudaPointerAttributes a;
    cudaError_t e = cudaPointerGetAttributes(&a, ptr);
    if (e != cudaSuccess) {
        (void)cudaGetLastError(); /* not sticky: clear it for the caller */
        VP_LOGE("postprocess (CUDA): cudaPointerGetAttributes(%s %p) failed: %s", what, ptr, cudaGetErrorName(e));
        return VP_ERR_INVALID;
    }
    if (a.type == cudaMemoryTypeUnregistered) {
        VP_LOGE("postprocess (CUDA): %s %p is plain host memory; the kernels need device memory", what, ptr);
        return VP_ERR_INVALID;
    }
    return VP_OK;
}

template <typename T, bool V5>
int launch(const Args &g, int batch, cudaStream_t s)
{
    dim3 cgrid((unsigned)((g.anchors + CAND_THREADS - 1) / CAND_THREADS), (unsigned)batch);
    candidates_kernel<T, V5><<<cgrid, CAND_THREADS, 0, s>>>(g);
    VP_CUDA_LAUNCHED();
    select_kernel<T, V5><<<(unsigned)batch, SELECT_THREADS, 0, s>>>(g);
    VP_CUDA_LAUNCHED();
    dim3 mgrid((unsigned)g.words, (unsigned)g.words, (unsigned)batch);
    mask_kernel<<<mgrid, 64, 0, s>>>(g);
    VP_CUDA_LAUNCHED();
    nms_kernel<T, V5><<<(unsigned)batch, NMS_THREADS, 0, s>>>(g);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* Wire packing: block i sums the counts of images 0..i-1 (its first wire
 * entry), then its threads pack image i's detections. */
constexpr int PACK_THREADS = 128;

__device__ __forceinline__ int clamped_count(const int32_t *count, int i, int max_det)
{
    int c = count[i];
    return c < 0 ? 0 : c > max_det ? max_det : c;
}

__device__ __forceinline__ uint16_t wire_coord(float x, float hi, float scale)
{
    float c = x > 0.0f ? (x < hi ? x : hi) : 0.0f; /* NaN to 0, as vp_det_to_wire */
    return (uint16_t)__float2uint_rn(__fmul_rn(c, scale));
}

__global__ void __launch_bounds__(PACK_THREADS) pack_kernel(const int32_t *count, const vp_det *det, int max_det,
                                                            float scale, float in_w, float in_h, vp_det_wire *wire)
{
    __shared__ int partial[PACK_THREADS / 32];
    const int img = blockIdx.x, tid = threadIdx.x;
    int sum = 0;
    for (int j = tid; j < img; j += PACK_THREADS)
        sum += clamped_count(count, j, max_det);
    for (int o = 16; o; o >>= 1)
        sum += __shfl_down_sync(0xffffffffu, sum, o);
    if ((tid & 31) == 0)
        partial[tid >> 5] = sum;
    __syncthreads();
    int at = 0;
    for (int w = 0; w < PACK_THREADS / 32; w++)
        at += partial[w];
    const int n = clamped_count(count, img, max_det);
    const vp_det *src = det + (size_t)img * (size_t)max_det;
    for (int k = tid; k < n; k += PACK_THREADS) {
        vp_det d = src[k];
        vp_det_wire w;
        w.x0 = wire_coord(d.x0, in_w, scale), w.y0 = wire_coord(d.y0, in_h, scale);
        w.x1 = wire_coord(d.x1, in_w, scale), w.y1 = wire_coord(d.y1, in_h, scale);
        w.score = d.score;
        w.cls = (uint16_t)d.cls;
        w.pad = 0;
        wire[at + k] = w;
    }
}

} // namespace

extern "C" __attribute__((visibility("default"))) int vp_cuda_pack_dets(const vp_post_results *res, int batch,
                                                                       int max_det, float scale, int in_w,
                                                                       int in_h, vp_det_wire *wire,
                                                                       struct CUstream_st *stream)
{
    if (!res || !res->count || !res->det || !wire)
        BAD("pack: NULL %s", !res ? "results" : !res->count ? "count array" : !res->det ? "detection array"
                                                                                           : "wire array");
    if (batch < 1 || batch > 65535 || max_det < 1 || (int64_t)batch * max_det > INT32_MAX)
        BAD("pack: batch %d x max_det %d out of range", batch, max_det);
    if (!(scale >= 1.0f) || in_w < 1 || in_h < 1 || (float)(in_w > in_h ? in_w : in_h) * scale > 65535.0f)
        BAD("pack: scale %g for an input of %dx%d does not fit 16 bits", (double)scale, in_w, in_h);
    pack_kernel<<<(unsigned)batch, PACK_THREADS, 0, stream>>>(res->count, res->det, max_det, scale, (float)in_w,
                                                              (float)in_h, wire);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* 0 when p or lo is NULL or invalid (the reason is logged). */
extern "C" __attribute__((visibility("default"))) size_t vp_cuda_post_scratch_bytes(const vp_post_params *p,
                                                                                   const vp_post_layout *lo)
{
    if (check_config(p, lo) != VP_OK)
        return 0;
    return scratch_layout(p, lo).total;
}

/* scratch: device memory of at least vp_cuda_post_scratch_bytes(p, lo)
 * bytes, 16-byte aligned (cudaMalloc gives 256), not shared with another
 * call in flight; its contents need no initialisation. */
extern "C" __attribute__((visibility("default"))) int vp_cuda_postprocess(const vp_post_params *p,
                                                                         const vp_post_layout *lo,
                                                                         const vp_post_tensor *out,
                                                                         vp_post_results *res, void *scratch,
                                                                         struct CUstream_st *stream)
{
    int rc = check_config(p, lo);
    if (rc)
        return rc;
    if (!out || !out->data || !res || !res->count || !res->det || !scratch)
        BAD("NULL %s", !out ? "outputs" : !out->data ? "predictions" : !res ? "results" : !res->count ? "count array"
                       : !res->det ? "detection array" : "scratch");
    if ((uintptr_t)scratch % 16)
        BAD("scratch %p is not 16-byte aligned", scratch);
    if (out->dtype != VP_PRE_FP32 && out->dtype != VP_PRE_FP16)
        BAD("predictions dtype %d (float32 or float16 only)", out->dtype);
    int64_t d1 = lo->layout == VP_YOLO_V8 ? lo->features : lo->anchors;
    int64_t d2 = lo->layout == VP_YOLO_V8 ? lo->anchors : lo->features;
    if (out->rank != 3 || out->d[0] != lo->batch || out->d[1] != d1 || out->d[2] != d2)
        BAD("predictions shape (rank %d) is not [%d, %lld, %lld] as the layout says", out->rank, lo->batch,
            (long long)d1, (long long)d2);
    float *kp = lo->task == VP_TASK_POSE ? res->keypoints : NULL;
    float *cf = lo->task == VP_TASK_SEGMENT ? res->coefs : NULL;

    cudaStream_t s = stream;
    /* Pointer checks are host-side queries, skipped while the stream is being
     * captured (a graph replays what an uncaptured call has already checked). */
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    VP_CUDA(cudaStreamIsCapturing(s, &cap));
    if (cap == cudaStreamCaptureStatusNone) {
        if ((rc = check_pointer(out->data, "predictions")) || (rc = check_pointer(scratch, "scratch")) ||
            (rc = check_pointer(res->count, "count array")) || (rc = check_pointer(res->det, "detection array")) ||
            (kp && (rc = check_pointer(kp, "keypoint array"))) || (cf && (rc = check_pointer(cf, "coefficient array"))))
            return rc;
    }

    Layout L = scratch_layout(p, lo);
    uint8_t *sb = static_cast<uint8_t *>(scratch);
    Args g;
    g.pred = out->data;
    g.anchors = lo->anchors;
    g.features = lo->features;
    g.nc = lo->num_classes;
    g.class_offset = lo->class_offset;
    g.extra_offset = lo->extra_offset;
    g.n_kp = kp ? lo->num_keypoints * lo->keypoint_dims : 0;
    g.n_cf = cf ? lo->num_masks : 0;
    g.conf = p->conf_threshold;
    g.iou = p->iou_threshold;
    g.K = p->max_candidates;
    g.max_det = p->max_det;
    g.words = (p->max_candidates + 63) / 64;
    g.agnostic = p->class_agnostic != 0;
    g.multi_label = p->multi_label != 0;
    g.cap = (uint32_t)lo->anchors;
    g.counts = reinterpret_cast<uint32_t *>(sb + L.counts);
    g.keys = reinterpret_cast<uint64_t *>(sb + L.keys);
    g.cand = reinterpret_cast<vp_det *>(sb + L.cand);
    g.mask = reinterpret_cast<uint64_t *>(sb + L.mask);
    g.count = res->count;
    g.det = res->det;
    g.kp = kp;
    g.cf = cf;

    VP_CUDA(cudaMemsetAsync(g.counts, 0, (size_t)lo->batch * sizeof(uint32_t), s));
    bool v5 = lo->layout == VP_YOLO_V5;
    if (out->dtype == VP_PRE_FP16)
        return v5 ? launch<__half, true>(g, lo->batch, s) : launch<__half, false>(g, lo->batch, s);
    return v5 ? launch<float, true>(g, lo->batch, s) : launch<float, false>(g, lo->batch, s);
}
