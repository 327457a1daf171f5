/*
 * nn family: window and MatMul geometry shared by the schemas (ops/nn.c) and
 * the kernels of every backend (cpu/nn*.c, cuda/nn*.c).
 *
 * Conv, ConvTranspose and the pools all resolve the same attributes
 * (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode,
 * output_padding, output_shape) into explicit per-axis numbers. Doing that
 * in one function that both infer() and prepare() call guarantees that the
 * kernel computes exactly the shape that inference announced.
 */
#ifndef VP_ENGINE_OPS_NN_H
#define VP_ENGINE_OPS_NN_H

#include "engine/ops.h"

#define VP_NN_MAX_SP 3  /* spatial axes handled: 1-D, 2-D and 3-D */

/* Resolved geometry of one Conv / ConvTranspose / pooling node. */
typedef struct vp_nn_geom {
    int nsp;                       /* number of spatial axes, 1..VP_NN_MAX_SP */
    int64_t n;                     /* batch */
    int64_t cin, cout;             /* channels of X and of Y (equal for pools) */
    int64_t group;                 /* 1 for pools */
    int64_t in[VP_NN_MAX_SP];      /* spatial size of X */
    int64_t out[VP_NN_MAX_SP];     /* spatial size of Y */
    int64_t k[VP_NN_MAX_SP];       /* kernel size */
    int64_t stride[VP_NN_MAX_SP];
    int64_t dil[VP_NN_MAX_SP];     /* dilation, >= 1 (ONNX convention) */
    int64_t pad_b[VP_NN_MAX_SP];   /* padding at the start of each axis */
    int64_t pad_e[VP_NN_MAX_SP];   /* padding at the end; for ConvTranspose it
                                      may be negative (output grows) */
} vp_nn_geom;

/* Geometry of Conv from X (in[0]), W (in[1]) and the node's attributes. */
int vp_nn_conv_geom(vp_op_ctx *c, vp_nn_geom *g);
/* Geometry of ConvTranspose; pad_e already includes output_padding (it is
 * the effective end crop, pad_e = pads_end - output_padding). */
int vp_nn_convt_geom(vp_op_ctx *c, vp_nn_geom *g);
/* Geometry of MaxPool / AveragePool / LpPool (kernel_shape attribute,
 * ceil_mode). pad_b / pad_e are the real paddings; with ceil_mode the last
 * window may reach past in + pad_e, and the kernels clip it there. */
int vp_nn_pool_geom(vp_op_ctx *c, vp_nn_geom *g);

/* MatMul operand shapes promoted to rank r (>= 2), as numpy does: a 1-D A
 * becomes [1, K], a 1-D B [K, 1], and the shorter operand gets leading 1s.
 * a = [.., M, K], b = [.., K, N], y = [broadcast batch.., M, N]; entries
 * from r on are 0. The shapes must have passed MatMul's inference. */
typedef struct vp_nn_mm_dims {
    int r;
    int64_t a[VP_MAX_DIMS], b[VP_MAX_DIMS], y[VP_MAX_DIMS];
} vp_nn_mm_dims;

void vp_nn_matmul_dims(const vp_shape *a, const vp_shape *b, vp_nn_mm_dims *d);

#endif
