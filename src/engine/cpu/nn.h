/*
 * CPU kernels of the nn family, one source file per group; cpu/nn.c holds
 * the vp_kernel table that points at these entry points.
 */
#ifndef VP_ENGINE_CPU_NN_H
#define VP_ENGINE_CPU_NN_H

#include "engine/cpu/cpu.h"

/* nn_conv.c: Conv and ConvTranspose through oneDNN (plain-C fallback). */
int vp_nn_conv_prepare(vp_op_ctx *c);
int vp_nn_convt_prepare(vp_op_ctx *c);
int vp_nn_conv_run(vp_op_ctx *c);
void vp_nn_conv_release(void *state);

/* nn_pool.c: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool. */
int vp_nn_maxpool_run(vp_op_ctx *c);
int vp_nn_avgpool_run(vp_op_ctx *c);
int vp_nn_global_avgpool_run(vp_op_ctx *c);
int vp_nn_global_maxpool_run(vp_op_ctx *c);

/* nn_matmul.c: MatMul and Gemm through oneDNN matmul (plain-C fallback). */
int vp_nn_matmul_prepare(vp_op_ctx *c);
int vp_nn_gemm_prepare(vp_op_ctx *c);
int vp_nn_matmul_run(vp_op_ctx *c);
void vp_nn_matmul_release(void *state);

/* nn_norm.c: BatchNormalization, LRN and the other normalisations. */
int vp_nn_batchnorm_run(vp_op_ctx *c);
int vp_nn_lrn_run(vp_op_ctx *c);
int vp_nn_instancenorm_run(vp_op_ctx *c);
int vp_nn_layernorm_run(vp_op_ctx *c);
int vp_nn_groupnorm_run(vp_op_ctx *c);

#endif
