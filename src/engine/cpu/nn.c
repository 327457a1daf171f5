/*
 * CPU kernels: nn family. The kernels live in nn_conv.c (oneDNN
 * convolutions), nn_matmul.c (oneDNN matmul), nn_pool.c and nn_norm.c
 * (plain C); this table is what the registry sees.
 */
#include "engine/cpu/nn.h"

const vp_kernel vp_cpu_nn[] = {
    /* Conv and ConvTranspose fuse node->post[] into oneDNN post-ops. */
    {.name = "Conv", .nhwc = 1, .prepare = vp_nn_conv_prepare, .run = vp_nn_conv_run,
     .release = vp_nn_conv_release, .handles_postops = 1},
    {.name = "ConvTranspose", .prepare = vp_nn_convt_prepare, .run = vp_nn_conv_run,
     .release = vp_nn_conv_release, .handles_postops = 1},
    {.name = "MatMul", .prepare = vp_nn_matmul_prepare, .run = vp_nn_matmul_run,
     .release = vp_nn_matmul_release},
    {.name = "Gemm", .prepare = vp_nn_gemm_prepare, .run = vp_nn_matmul_run,
     .release = vp_nn_matmul_release},
    {.name = "BatchNormalization", .run = vp_nn_batchnorm_run},
    {.name = "MaxPool", .run = vp_nn_maxpool_run},
    {.name = "AveragePool", .run = vp_nn_avgpool_run},
    {.name = "GlobalAveragePool", .run = vp_nn_global_avgpool_run},
    {.name = "GlobalMaxPool", .run = vp_nn_global_maxpool_run},
    {.name = "LRN", .run = vp_nn_lrn_run},
    {.name = "InstanceNormalization", .run = vp_nn_instancenorm_run},
    {.name = "LayerNormalization", .run = vp_nn_layernorm_run},
    {.name = "GroupNormalization", .run = vp_nn_groupnorm_run},
    {0},
};
