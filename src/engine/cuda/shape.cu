/*
 * CUDA kernels of the shape family: strided view copy (with a tiled
 * transpose), Gather and Pad. Host-side descriptions come from shape.c; the
 * contracts are in shape.h.
 *
 * Elements move as opaque words of their size (uint8/16/32/64, and uint4 =
 * 16 bytes for widened contiguous runs), so every dtype is covered by one
 * switch on the element size per launcher. Every kernel walks its work
 * with a grid-stride loop, in 32-bit indices when all offsets fit in 2^30
 * (the faster divisions) and 64-bit otherwise.
 */
#include "engine/cuda/shape.h"
#include "engine/cpu/shape.h" /* VP_PAD_* only */

#include <stdint.h>
#include <string.h>

namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 8192;
constexpr int64_t kSmall = (int64_t)1 << 30; /* 32-bit indices below this */

int blocks_for(int64_t n)
{
    int64_t b = (n + kThreads - 1) / kThreads;
    return (int)(b < 1 ? 1 : b > kMaxBlocks ? kMaxBlocks : b);
}

/* A view in the kernel's index type. */
template <typename I> struct kview {
    int rank;
    I shape[VP_CUSH_MAX_DIMS];
    I ds[VP_CUSH_MAX_DIMS];
    I ss[VP_CUSH_MAX_DIMS];
};

template <typename T, typename I>
__global__ void k_copy_view(T *__restrict__ dst, const T *__restrict__ src, kview<I> v, I n)
{
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (I)gridDim.x * blockDim.x) {
        I rem = e, d = 0, s = 0;
        for (int k = v.rank - 1; k >= 0; k--) {
            I q = rem / v.shape[k], i = rem - q * v.shape[k];
            d += i * v.ds[k];
            s += i * v.ss[k];
            rem = q;
        }
        dst[d] = src[s];
    }
}

/* Tiled transpose: dimension j is contiguous in the source (stride 1), l in
 * the destination; the other dimensions (b_*) form the batch. A block moves
 * 32x32 tiles: it reads 32 consecutive source elements per row of the tile
 * and writes 32 consecutive destination elements per column. */
template <typename I> struct tview {
    I nj, nl;      /* extents of j and l */
    I dj, sl;      /* destination stride of j, source stride of l */
    I tiles_j, tiles_l, n_tiles;
    int nb;
    I b_shape[VP_CUSH_MAX_DIMS];
    I b_ds[VP_CUSH_MAX_DIMS];
    I b_ss[VP_CUSH_MAX_DIMS];
};

template <typename T, typename I>
__global__ void __launch_bounds__(256) k_transpose(T *__restrict__ dst, const T *__restrict__ src, tview<I> v)
{
    __shared__ T tile[32][33];
    const int tx = threadIdx.x, ty = threadIdx.y;
    for (I t = blockIdx.x; t < v.n_tiles; t += gridDim.x) {
        I tl = t % v.tiles_l, r = t / v.tiles_l;
        I tj = r % v.tiles_j, b = r / v.tiles_j;
        I db = 0, sb = 0;
        for (int k = v.nb - 1; k >= 0; k--) {
            I q = b / v.b_shape[k], i = b - q * v.b_shape[k];
            db += i * v.b_ds[k];
            sb += i * v.b_ss[k];
            b = q;
        }
        I j0 = tj * 32, l0 = tl * 32;
        for (int k = ty; k < 32; k += 8) {
            I j = j0 + tx, l = l0 + k;
            if (j < v.nj && l < v.nl)
                tile[k][tx] = src[sb + j + l * v.sl];
        }
        __syncthreads();
        for (int k = ty; k < 32; k += 8) {
            I l = l0 + tx, j = j0 + k;
            if (j < v.nj && l < v.nl)
                dst[db + l + j * v.dj] = tile[tx][k];
        }
        __syncthreads();
    }
}

/* k_transpose for 2-byte elements in pairs: 64x64 tiles; a thread reads
 * source elements j, j + 1 of a row as one 4-byte word and writes
 * destination elements l, l + 1 (from two source rows) as one word. The
 * host checked that nj, nl, sl, dj and every batch stride are even and both
 * pointers 4-byte aligned, so every word is aligned and inside its row. */
template <typename I>
__global__ void __launch_bounds__(256) k_transpose16(uint16_t *__restrict__ dst, const uint16_t *__restrict__ src,
                                                     tview<I> v)
{
    __shared__ __align__(4) uint16_t tile[64][66]; /* [l][j]; rows of 132 bytes keep words aligned */
    const int tx = threadIdx.x, ty = threadIdx.y;
    for (I t = blockIdx.x; t < v.n_tiles; t += gridDim.x) {
        I tl = t % v.tiles_l, r = t / v.tiles_l;
        I tj = r % v.tiles_j, b = r / v.tiles_j;
        I db = 0, sb = 0;
        for (int k = v.nb - 1; k >= 0; k--) {
            I q = b / v.b_shape[k], i = b - q * v.b_shape[k];
            db += i * v.b_ds[k];
            sb += i * v.b_ss[k];
            b = q;
        }
        I j0 = tj * 64, l0 = tl * 64;
        for (int k = ty; k < 64; k += 8) {
            I j = j0 + 2 * tx, l = l0 + k;
            if (j < v.nj && l < v.nl)
                *reinterpret_cast<uint32_t *>(&tile[k][2 * tx]) =
                    *reinterpret_cast<const uint32_t *>(src + sb + j + l * v.sl);
        }
        __syncthreads();
        for (int k = ty; k < 64; k += 8) {
            I l = l0 + 2 * tx, j = j0 + k;
            if (j < v.nj && l < v.nl)
                *reinterpret_cast<uint32_t *>(dst + db + l + j * v.dj) =
                    (uint32_t)tile[2 * tx][k] | (uint32_t)tile[2 * tx + 1][k] << 16;
        }
        __syncthreads();
    }
}

template <typename I> kview<I> to_kview(const vp_cush_view *v)
{
    kview<I> k;
    k.rank = v->rank;
    for (int i = 0; i < v->rank; i++) {
        k.shape[i] = (I)v->shape[i];
        k.ds[i] = (I)v->dst_st[i];
        k.ss[i] = (I)v->src_st[i];
    }
    return k;
}

template <typename T, typename I> int launch_copy(cudaStream_t s, void *dst, const void *src, const vp_cush_view *v)
{
    k_copy_view<T, I><<<blocks_for(v->n), kThreads, 0, s>>>((T *)dst, (const T *)src, to_kview<I>(v), (I)v->n);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* Whether k_transpose16 can move view v (j: the source-contiguous dim). */
bool transpose16_ok(const vp_cush_view *v, int j, const void *dst, const void *src)
{
    const int l = v->rank - 1;
    if (v->shape[j] % 2 || v->shape[l] % 2 || v->src_st[l] % 2 || v->dst_st[j] % 2 || (uintptr_t)dst % 4 ||
        (uintptr_t)src % 4)
        return false;
    for (int k = 0; k < l; k++)
        if (k != j && (v->src_st[k] % 2 || v->dst_st[k] % 2))
            return false;
    return true;
}

template <typename T, typename I>
int launch_transpose(cudaStream_t s, void *dst, const void *src, const vp_cush_view *v, int j)
{
    const int l = v->rank - 1;
    const I tile = sizeof(T) == 2 && transpose16_ok(v, j, dst, src) ? 64 : 32;
    tview<I> t;
    t.nj = (I)v->shape[j];
    t.nl = (I)v->shape[l];
    t.dj = (I)v->dst_st[j];
    t.sl = (I)v->src_st[l];
    t.tiles_j = (t.nj + tile - 1) / tile;
    t.tiles_l = (t.nl + tile - 1) / tile;
    t.nb = 0;
    I batch = 1;
    for (int k = 0; k < l; k++) {
        if (k == j)
            continue;
        t.b_shape[t.nb] = (I)v->shape[k];
        t.b_ds[t.nb] = (I)v->dst_st[k];
        t.b_ss[t.nb++] = (I)v->src_st[k];
        batch *= (I)v->shape[k];
    }
    t.n_tiles = batch * t.tiles_j * t.tiles_l;
    int64_t nb = (int64_t)t.n_tiles;
    int blocks = (int)(nb > 32768 ? 32768 : nb);
    if (tile == 64)
        k_transpose16<I><<<blocks, dim3(32, 8), 0, s>>>((uint16_t *)dst, (const uint16_t *)src, t);
    else
        k_transpose<T, I><<<blocks, dim3(32, 8), 0, s>>>((T *)dst, (const T *)src, t);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* Whether offsets of the view stay below kSmall (32-bit indices). */
bool fits32(const vp_cush_view *v)
{
    int64_t d = 0, sp = 0;
    if (v->n >= kSmall)
        return false;
    for (int k = 0; k < v->rank; k++) {
        int64_t ad = v->dst_st[k] < 0 ? -v->dst_st[k] : v->dst_st[k];
        int64_t as = v->src_st[k] < 0 ? -v->src_st[k] : v->src_st[k];
        /* (shape - 1) * stride, without overflowing for absurd strides */
        if (ad >= kSmall || as >= kSmall)
            return false;
        d += (v->shape[k] - 1) * ad;
        sp += (v->shape[k] - 1) * as;
        if (d >= kSmall || sp >= kSmall)
            return false;
    }
    return true;
}

template <typename T> int copy_typed(cudaStream_t s, void *dst, const void *src, const vp_cush_view *v)
{
    int r = v->rank, l = r - 1;
    /* tiled transpose: destination innermost contiguous, source innermost
     * not, another dimension contiguous in the source, both big enough to
     * fill a good part of a tile */
    if (r >= 2 && v->dst_st[l] == 1 && v->src_st[l] != 1 && v->shape[l] >= 8) {
        for (int j = 0; j < l; j++)
            if (v->src_st[j] == 1 && v->shape[j] >= 8)
                return fits32(v) ? launch_transpose<T, int32_t>(s, dst, src, v, j)
                                 : launch_transpose<T, int64_t>(s, dst, src, v, j);
    }
    return fits32(v) ? launch_copy<T, int32_t>(s, dst, src, v) : launch_copy<T, int64_t>(s, dst, src, v);
}

/* The view with elements of w bytes instead of es (w > es), if the innermost
 * dimension is contiguous on both sides and everything divides. */
bool widen(const vp_cush_view *v, size_t es, size_t w, const void *dst, const void *src, vp_cush_view *out)
{
    int l = v->rank - 1;
    int64_t f = (int64_t)(w / es);
    if (l < 0 || v->dst_st[l] != 1 || v->src_st[l] != 1 || v->shape[l] % f != 0 ||
        (uintptr_t)dst % w != 0 || (uintptr_t)src % w != 0)
        return false;
    for (int k = 0; k < l; k++)
        if (v->dst_st[k] % f != 0 || v->src_st[k] % f != 0)
            return false;
    *out = *v;
    out->shape[l] /= f;
    out->n /= f;
    for (int k = 0; k < l; k++) {
        out->dst_st[k] /= f;
        out->src_st[k] /= f;
    }
    return true;
}

/* Gather ----------------------------------------------------------------- */

template <typename T, typename IX, typename I>
__global__ void k_gather(T *__restrict__ y, const T *__restrict__ x, const IX *__restrict__ idx, I n, I inner, I nidx,
                         I n_ax)
{
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (I)gridDim.x * blockDim.x) {
        I t = e % inner, u = e / inner;
        I j = u % nidx, o = u / nidx;
        int64_t k = (int64_t)idx[j];
        if (k < 0)
            k += (int64_t)n_ax;
        T val{};
        if (k >= 0 && k < (int64_t)n_ax)
            val = x[(o * n_ax + (I)k) * inner + t];
        y[e] = val;
    }
}

template <typename T, typename I>
int launch_gather(cudaStream_t s, void *y, const void *x, const void *idx, int idx64, int64_t n, int64_t n_ax,
                  int64_t nidx, int64_t inner)
{
    if (idx64)
        k_gather<T, int64_t, I><<<blocks_for(n), kThreads, 0, s>>>((T *)y, (const T *)x, (const int64_t *)idx, (I)n,
                                                                   (I)inner, (I)nidx, (I)n_ax);
    else
        k_gather<T, int32_t, I><<<blocks_for(n), kThreads, 0, s>>>((T *)y, (const T *)x, (const int32_t *)idx, (I)n,
                                                                   (I)inner, (I)nidx, (I)n_ax);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

template <typename T>
int gather_typed(cudaStream_t s, void *y, const void *x, const void *idx, int idx64, int64_t outer, int64_t n_ax,
                 int64_t nidx, int64_t inner)
{
    int64_t n = outer * nidx * inner, nx = outer * n_ax * inner;
    if (n < kSmall && nx < kSmall)
        return launch_gather<T, int32_t>(s, y, x, idx, idx64, n, n_ax, nidx, inner);
    return launch_gather<T, int64_t>(s, y, x, idx, idx64, n, n_ax, nidx, inner);
}

/* Pad -------------------------------------------------------------------- */

template <typename I> struct kpad {
    int rank, mode;
    I out[VP_MAX_DIMS], st[VP_MAX_DIMS], len[VP_MAX_DIMS], pb[VP_MAX_DIMS];
};

/* Source index for position i (relative to the kept input) of an axis of n
 * kept elements, outside [0, n): edge, wrap, or reflect (repeated, as
 * numpy.pad does for wide pads). */
template <typename I> __device__ I pad_map(I i, I n, int mode)
{
    if (mode == VP_PAD_EDGE)
        return i < 0 ? 0 : n - 1;
    if (mode == VP_PAD_WRAP)
        return ((i % n) + n) % n;
    if (n == 1)
        return 0;
    I p = 2 * (n - 1), m = ((i % p) + p) % p;
    return m < n ? m : p - m;
}

template <typename T, typename I>
__global__ void k_pad(T *__restrict__ y, const T *__restrict__ x, kpad<I> p, I n, T value, const T *value_dev)
{
    const T fill = value_dev ? *value_dev : value;
    for (I e = (I)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (I)gridDim.x * blockDim.x) {
        I rem = e, s = 0;
        bool outside = false;
        for (int k = p.rank - 1; k >= 0; k--) {
            I q = rem / p.out[k], i = rem - q * p.out[k] - p.pb[k];
            rem = q;
            if (i < 0 || i >= p.len[k]) {
                if (p.mode == VP_PAD_CONSTANT) {
                    outside = true;
                    break;
                }
                i = pad_map<I>(i, p.len[k], p.mode);
            }
            s += i * p.st[k];
        }
        y[e] = outside ? fill : x[s];
    }
}

template <typename T, typename I>
int launch_pad(cudaStream_t s, void *y, const void *x, const vp_cush_pad *p, const void *value_dev)
{
    kpad<I> k;
    k.rank = p->rank;
    k.mode = p->mode;
    for (int i = 0; i < p->rank; i++) {
        k.out[i] = (I)p->out[i];
        k.st[i] = (I)p->src_st[i];
        k.len[i] = (I)p->len[i];
        k.pb[i] = (I)p->pb[i];
    }
    T value;
    memcpy(&value, p->value, sizeof value);
    k_pad<T, I><<<blocks_for(p->n), kThreads, 0, s>>>((T *)y, (const T *)x + p->src_off, k, (I)p->n, value,
                                                      (const T *)value_dev);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

template <typename T>
int pad_typed(cudaStream_t s, void *y, const void *x, const vp_cush_pad *p, const void *value_dev)
{
    /* offsets: output index, and input offsets up to its extent */
    bool small = p->n < kSmall;
    int64_t in_extent = p->src_off;
    for (int k = 0; k < p->rank && small; k++) {
        small = p->out[k] < kSmall && p->src_st[k] < kSmall && p->pb[k] < kSmall && p->len[k] < kSmall &&
                p->len[k] > -kSmall;
        in_extent += (p->len[k] > 0 ? p->len[k] - 1 : 0) * p->src_st[k];
        small = small && in_extent < kSmall;
    }
    return small ? launch_pad<T, int32_t>(s, y, x, p, value_dev) : launch_pad<T, int64_t>(s, y, x, p, value_dev);
}

} // namespace

/* Entry points ------------------------------------------------------------ */

extern "C" int vp_cush_copy(cudaStream_t s, void *dst, const void *src, const vp_cush_view *v, size_t es)
{
    if (v->n <= 0)
        return VP_OK;
    if (v->rank == 0 || (v->rank == 1 && v->dst_st[0] == 1 && v->src_st[0] == 1)) {
        VP_CUDA(cudaMemcpyAsync(dst, src, (size_t)v->n * es, cudaMemcpyDeviceToDevice, s));
        return VP_OK;
    }
    /* move the widest words the layout and the pointers allow */
    vp_cush_view w;
    for (size_t ws = 16; ws > es; ws /= 2)
        if (widen(v, es, ws, dst, src, &w))
            return vp_cush_copy(s, dst, src, &w, ws);
    switch (es) {
    case 1: return copy_typed<uint8_t>(s, dst, src, v);
    case 2: return copy_typed<uint16_t>(s, dst, src, v);
    case 4: return copy_typed<uint32_t>(s, dst, src, v);
    case 8: return copy_typed<unsigned long long>(s, dst, src, v);
    case 16: return copy_typed<uint4>(s, dst, src, v);
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cush_gather(cudaStream_t s, void *y, const void *x, const void *idx, int idx64, int64_t outer,
                              int64_t n_ax, int64_t nidx, int64_t inner, size_t es)
{
    if (outer <= 0 || nidx <= 0 || inner <= 0)
        return VP_OK;
    /* whole rows of inner elements move together: use the widest word that
     * divides the row and both pointers */
    size_t row = (size_t)inner * es, w = es;
    for (size_t ws = 16; ws > es; ws /= 2)
        if (row % ws == 0 && (uintptr_t)x % ws == 0 && (uintptr_t)y % ws == 0) {
            w = ws;
            break;
        }
    inner = (int64_t)(row / w);
    switch (w) {
    case 1: return gather_typed<uint8_t>(s, y, x, idx, idx64, outer, n_ax, nidx, inner);
    case 2: return gather_typed<uint16_t>(s, y, x, idx, idx64, outer, n_ax, nidx, inner);
    case 4: return gather_typed<uint32_t>(s, y, x, idx, idx64, outer, n_ax, nidx, inner);
    case 8: return gather_typed<unsigned long long>(s, y, x, idx, idx64, outer, n_ax, nidx, inner);
    case 16: return gather_typed<uint4>(s, y, x, idx, idx64, outer, n_ax, nidx, inner);
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cush_pad_run(cudaStream_t s, void *y, const void *x, const vp_cush_pad *p, const void *value_dev,
                               size_t es)
{
    if (p->n <= 0)
        return VP_OK;
    switch (es) {
    case 1: return pad_typed<uint8_t>(s, y, x, p, value_dev);
    case 2: return pad_typed<uint16_t>(s, y, x, p, value_dev);
    case 4: return pad_typed<uint32_t>(s, y, x, p, value_dev);
    case 8: return pad_typed<unsigned long long>(s, y, x, p, value_dev);
    default: return VP_ERR_UNSUPPORTED;
    }
}
