/*
 * CUDA shape family: what the kernel table (shape.c, host C) and the
 * kernels (shape.cu) share, plus one helper the misc family uses too.
 *
 * The shape ops only move bytes, so the kernels work on element sizes (1, 2,
 * 4, 8 bytes), never on types. As on the CPU (cpu/shape_copy.c), most of
 * them (Transpose, Slice, Expand, Tile, Concat, Split) are one primitive:
 * copy an N-d strided view of the source into a strided destination. The
 * host describes the view once in prepare() (vp_cush_view_simplify drops
 * size-1 dimensions and merges dimensions contiguous in both tensors); the
 * launcher picks a kernel from the view and the run's pointers:
 *   - one contiguous run: cudaMemcpyAsync;
 *   - destination innermost contiguous and another dimension contiguous in
 *     the source: a tiled transpose through shared memory (32x32 tiles,
 *     coalesced on both sides), the other dimensions as a batch (2-byte
 *     elements, when the transposed extents and strides are even: 64x64
 *     tiles moved as 4-byte pairs on both sides);
 *   - anything else: an element kernel, moving 16, 8, 4 or 2 bytes at a time
 *     when the innermost dimension is contiguous on both sides and sizes,
 *     strides and pointers allow it.
 * Indices are 32-bit when every offset fits, 64-bit otherwise.
 *
 * Launcher contract (every vp_cush_* entry point): pointers are device
 * memory; returns VP_OK, VP_ERR_UNSUPPORTED for an element size without a
 * kernel (nothing launched), or VP_ERR_BACKEND if a launch failed (logged);
 * empty work launches nothing; work is only enqueued on the given stream (no
 * allocation, no synchronisation: safe under CUDA-graph capture). Source and
 * destination must not overlap.
 */
#ifndef VP_ENGINE_CUDA_SHAPE_H
#define VP_ENGINE_CUDA_SHAPE_H

#include "engine/cuda/cuda.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Tile views a rank-r tensor as 2r dims. */
#define VP_CUSH_MAX_DIMS (2 * VP_MAX_DIMS)

/* dst[sum i_k * dst_st[k]] = src[sum i_k * src_st[k]] for every index i of
 * shape[0..rank). Strides in elements; 0 (broadcast) and negative (reversed
 * slice) allowed. n = product of shape (0: nothing to do). */
typedef struct vp_cush_view {
    int rank;
    int64_t n;
    int64_t shape[VP_CUSH_MAX_DIMS];
    int64_t dst_st[VP_CUSH_MAX_DIMS];
    int64_t src_st[VP_CUSH_MAX_DIMS];
} vp_cush_view;

/* Set n, drop size-1 dimensions, merge neighbours contiguous in both. */
void vp_cush_view_simplify(vp_cush_view *v);

/* Copy the view (simplified or not) with elements of es bytes. */
int vp_cush_copy(cudaStream_t s, void *dst, const void *src, const vp_cush_view *v, size_t es);

/* Gather along one axis: x viewed as [outer, n_ax, inner], indices (nidx of
 * them, int64 when idx64 else int32, negative ones counted from the end), y
 * as [outer, nidx, inner]. An index out of range writes zeros (the host
 * checks constant indices in prepare(); run-time ones cannot fail). */
int vp_cush_gather(cudaStream_t s, void *y, const void *x, const void *idx, int idx64, int64_t outer,
                   int64_t n_ax, int64_t nidx, int64_t inner, size_t es);

/* Pad modes, as cpu/shape.h numbers them. */
typedef struct vp_cush_pad {
    int rank;                      /* 0..VP_MAX_DIMS */
    int mode;                      /* VP_PAD_CONSTANT / REFLECT / EDGE / WRAP */
    int64_t n;                     /* output elements */
    int64_t out[VP_MAX_DIMS];      /* output shape */
    int64_t src_st[VP_MAX_DIMS];   /* input element strides */
    int64_t len[VP_MAX_DIMS];      /* input extent left after negative pads (may be <= 0: constant only) */
    int64_t pb[VP_MAX_DIMS];       /* leading pad (>= 0) */
    int64_t src_off;               /* element offset of the first kept input element */
    unsigned char value[8];        /* constant mode: the fill element (es bytes) */
} vp_cush_pad;

/* y = pad(x). value_dev, when not NULL, is the constant fill element in
 * device memory (read by the kernel: it may change between runs), else
 * p->value is used. */
int vp_cush_pad_run(cudaStream_t s, void *y, const void *x, const vp_cush_pad *p, const void *value_dev,
                    size_t es);

/* Host copies of constant inputs, for prepare() --------------------------
 *
 * A CUDA kernel's inputs are device memory, but the parameter decoders
 * shared with the CPU (vp_shapeop_slice, vp_misc_resize_params...) read
 * values on the host. This makes a copy of the context whose inputs in mask
 * (bit i = input i) that are present and constant have host data (downloaded
 * once); every other input has data NULL, so a decoder that needs a value
 * that is not constant reports it as such instead of reading device memory.
 * prepare() only: it synchronises the stream. */
#define VP_CUDA_HOST_IN_MAX 8

typedef struct vp_cuda_host_in {
    vp_op_ctx c;                             /* use this context with the decoders */
    const vp_tensor *in[VP_CUDA_HOST_IN_MAX];
    vp_tensor t[VP_CUDA_HOST_IN_MAX];
} vp_cuda_host_in;

int vp_cuda_host_inputs(vp_op_ctx *c, unsigned mask, vp_cuda_host_in *h);
void vp_cuda_host_inputs_free(vp_cuda_host_in *h);

#ifdef __cplusplus
}
#endif
#endif
