/*
 * Shape family: helpers shared by the schemas (ops/shape.c) and the CPU
 * kernels (cpu/shape.c, cpu/shape_copy.c).
 *
 * The shape ops only move bytes, so their kernels work on element sizes, not
 * types. Most of them (Transpose, Slice, Expand, Tile, Concat, Split,
 * DepthToSpace, the interior of Pad) are one primitive: copy an N-d strided
 * view into another, vp_cpu_copy_view(). The parameter decoders below are
 * used both by infer() (to compute the output shape) and by the kernels (to
 * compute offsets), so both always agree.
 */
#ifndef VP_ENGINE_CPU_SHAPE_H
#define VP_ENGINE_CPU_SHAPE_H

#include "engine/ops.h"

/* Tile views a rank-r tensor as 2r dims, so the copy takes twice the rank. */
#define VP_COPY_MAX_DIMS (2 * VP_MAX_DIMS)

/*
 * dst[sum i_k * dstride[k]] = src[sum i_k * sstride[k]] for every index i of
 * shape[0..rank) (rank <= VP_COPY_MAX_DIMS). Strides are in elements and may
 * be 0 (broadcast source) or negative (reversed slice); dst and src point to
 * the element of index 0. esize is the element size in bytes. The regions
 * must not overlap. Multithreaded (OpenMP) when the copy is large.
 */
void vp_cpu_copy_view(void *dst, const int64_t *dstride, const void *src,
                      const int64_t *sstride, const int64_t *shape, int rank, size_t esize);

/* Dense row-major element strides of a shape into st[0..rank). */
void vp_cpu_dense_strides(const vp_shape *s, int64_t *st);

/* memcpy, split across threads when large. */
void vp_cpu_copy_bytes(void *dst, const void *src, size_t bytes);

/* Fill n elements of size esize at dst with the element at val. */
void vp_cpu_fill(void *dst, const void *val, int64_t n, size_t esize);

/*
 * Constant integer input idx (int32 or int64) into buf[0..max): returns the
 * count, or a negative status after vp_op_fail naming `what` (not constant:
 * VP_ERR_UNSUPPORTED; wrong type or too many values: VP_ERR_INVALID).
 */
int vp_shapeop_read_ints(vp_op_ctx *c, int idx, const char *what, int64_t *buf, int max);

/* Slice: per input-0 dimension, the first element and the step (elements of
 * that dimension) and the output shape. Attributes before opset 10, inputs
 * from 10. */
int vp_shapeop_slice(vp_op_ctx *c, int64_t *start, int64_t *step, vp_shape *out);

/* Split: normalised axis and the size along it of each of c->n_out outputs. */
int vp_shapeop_split(vp_op_ctx *c, int *axis, int64_t *sizes);

/* Pad modes. */
enum { VP_PAD_CONSTANT = 0, VP_PAD_REFLECT = 1, VP_PAD_EDGE = 2, VP_PAD_WRAP = 3 };

/* Pad: pads before (pb) and after (pe) each dimension of input 0 (negative
 * crops), and the mode. Attributes before opset 11, inputs from 11, axes
 * input from 18. */
int vp_shapeop_pad(vp_op_ctx *c, int64_t *pb, int64_t *pe, int *mode);

/* NonZero's test by type: -0.0 is zero, NaN is not. */
int vp_shapeop_is_nonzero(const vp_tensor *t, int64_t i);

#endif
