/*
 * CPU kernels: nn family. The kernels live in nn_conv.c (oneDNN
 * convolutions), nn_matmul.c (oneDNN matmul), nn_pool.c and nn_norm.c
 * (plain C); this table is what the registry sees.
 */
#include "engine/cpu/nn.h"

const vp_kernel vp_cpu_nn[] = {
    /* Conv and ConvTranspose fuse node->post[] into oneDNN post-ops. */
    {"Conv", vp_nn_conv_prepare, vp_nn_conv_run, vp_nn_conv_release, 1},
    {"ConvTranspose", vp_nn_convt_prepare, vp_nn_conv_run, vp_nn_conv_release, 1},
    {"MatMul", vp_nn_matmul_prepare, vp_nn_matmul_run, vp_nn_matmul_release, 0},
    {"Gemm", vp_nn_gemm_prepare, vp_nn_matmul_run, vp_nn_matmul_release, 0},
    {"BatchNormalization", NULL, vp_nn_batchnorm_run, NULL, 0},
    {"MaxPool", NULL, vp_nn_maxpool_run, NULL, 0},
    {"AveragePool", NULL, vp_nn_avgpool_run, NULL, 0},
    {"GlobalAveragePool", NULL, vp_nn_global_avgpool_run, NULL, 0},
    {"GlobalMaxPool", NULL, vp_nn_global_maxpool_run, NULL, 0},
    {"LRN", NULL, vp_nn_lrn_run, NULL, 0},
    {"InstanceNormalization", NULL, vp_nn_instancenorm_run, NULL, 0},
    {"LayerNormalization", NULL, vp_nn_layernorm_run, NULL, 0},
    {"GroupNormalization", NULL, vp_nn_groupnorm_run, NULL, 0},
    {0},
};
