/*
 * CUDA kernels table: nn family. Host code in nn_conv.c (cuDNN), nn_matmul.c
 * (cuBLAS), nn_pool.c and nn_norm.c; CUDA kernels in nn_pool.cu,
 * nn_reduce.cu and nn_util.cu (entry points and launchers in nn.h).
 *
 * Every kernel here applies node->post[] itself (handles_postops): Conv
 * fuses what cuDNN can and hands the rest to vp_cuda_apply_postops(); the
 * others call vp_cuda_apply_postops() when a chain is present, so a post-op
 * never falls back to the CPU helper on device memory.
 */
#include "engine/cuda/nn.h"

float vp_cuda_time_calls(vp_cuda_ctx *ctx, vp_cuda_enqueue_fn fn, void *arg, int warm, int runs)
{
    cudaEvent_t a = NULL, z = NULL;
    float ms = -1.f;
    if (runs < 1 || cudaEventCreate(&a) != cudaSuccess || cudaEventCreate(&z) != cudaSuccess)
        goto out;
    for (int i = 0; i < warm; i++)
        if (fn(arg))
            goto out;
    if (cudaEventRecord(a, ctx->stream) != cudaSuccess)
        goto out;
    for (int i = 0; i < runs; i++)
        if (fn(arg))
            goto out;
    if (cudaEventRecord(z, ctx->stream) == cudaSuccess && cudaEventSynchronize(z) == cudaSuccess &&
        cudaEventElapsedTime(&ms, a, z) == cudaSuccess)
        ms /= (float)runs;
    else
        ms = -1.f;
out:
    if (a)
        cudaEventDestroy(a);
    if (z)
        cudaEventDestroy(z);
    (void)cudaGetLastError(); /* a failed call is a time < 0, not a sticky error */
    return ms;
}

float vp_cuda_time_cached(vp_cuda_ctx *ctx, const char *what, const char *key, vp_cuda_enqueue_fn fn, void *arg,
                          int warm, int runs)
{
    char k[640];
    long ns;
    int n = key ? snprintf(k, sizeof k, "t:%s:%s", what, key) : -1;
    int keyed = n > 0 && (size_t)n < sizeof k;
    if (keyed && vp_cuda_cache_get(ctx, k, &ns, 1) && ns >= 0)
        return (float)((double)ns * 1e-6);
    float ms = vp_cuda_time_calls(ctx, fn, arg, warm, runs);
    if (keyed && ms >= 0.f) {
        ns = lround((double)ms * 1e6);
        vp_cuda_cache_put(ctx, k, &ns, 1);
    }
    return ms;
}

const vp_kernel vp_cuda_nn[] = {
    {.name = "Conv", .nhwc = 1, .cslice = VP_DT_FLOAT16, .fp32_stem = 1, .prepare = vp_cuda_conv_prepare,
     .run = vp_cuda_conv_run, .release = vp_cuda_conv_release, .handles_postops = 1},
    {.name = "ConvTranspose", .prepare = vp_cuda_convt_prepare, .run = vp_cuda_conv_run,
     .release = vp_cuda_conv_release, .handles_postops = 1},
    {.name = "MatMul", .prepare = vp_cuda_matmul_prepare, .run = vp_cuda_matmul_run,
     .release = vp_cuda_matmul_release, .handles_postops = 1},
    {.name = "Gemm", .prepare = vp_cuda_gemm_prepare, .run = vp_cuda_matmul_run,
     .release = vp_cuda_matmul_release, .handles_postops = 1},
    {.name = "BatchNormalization", .prepare = vp_cuda_batchnorm_prepare,
     .run = vp_cuda_batchnorm_run, .handles_postops = 1},
    {.name = "MaxPool", .nhwc = 1, .prepare = vp_cuda_pool_prepare, .run = vp_cuda_pool_run,
     .release = vp_cuda_nn_state_free, .handles_postops = 1},
    {.name = "AveragePool", .nhwc = 1, .prepare = vp_cuda_pool_prepare, .run = vp_cuda_pool_run,
     .release = vp_cuda_nn_state_free, .handles_postops = 1},
    {.name = "GlobalAveragePool", .nhwc = 1, .prepare = vp_cuda_global_pool_prepare,
     .run = vp_cuda_global_pool_run, .handles_postops = 1},
    {.name = "GlobalMaxPool", .nhwc = 1, .prepare = vp_cuda_global_pool_prepare,
     .run = vp_cuda_global_pool_run, .handles_postops = 1},
    {.name = "LRN", .prepare = vp_cuda_lrn_prepare, .run = vp_cuda_lrn_run,
     .handles_postops = 1},
    {.name = "InstanceNormalization", .prepare = vp_cuda_rownorm_prepare,
     .run = vp_cuda_rownorm_run, .release = vp_cuda_nn_state_free, .handles_postops = 1},
    {.name = "LayerNormalization", .prepare = vp_cuda_rownorm_prepare,
     .run = vp_cuda_rownorm_run, .release = vp_cuda_nn_state_free, .handles_postops = 1},
    {.name = "GroupNormalization", .prepare = vp_cuda_rownorm_prepare,
     .run = vp_cuda_rownorm_run, .release = vp_cuda_nn_state_free, .handles_postops = 1},
    {0},
};
