/*
 * CUDA backend: the per-engine context and the error-checking macros every
 * CUDA file uses. Kernels get this context as vp_op_ctx.dev.
 *
 * All work of one engine goes to one stream; a plan's run is captured once
 * as a CUDA graph and replayed (backend.c). Kernels must therefore only
 * enqueue work on ctx->stream: no synchronisation, no allocation and no
 * host<->device copies inside run() (allocate in prepare()).
 */
#ifndef VP_ENGINE_CUDA_H
#define VP_ENGINE_CUDA_H

#include "engine/ops.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vp_cuda_ctx {
    int device;
    int sm;                    /* compute capability, e.g. 90 */
    int fp16;                  /* engine precision is FP16 */
    int profile;               /* per-step timing: no graph capture, steps synchronised */
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    cublasLtHandle_t cublaslt;
    void *workspace;           /* shared scratch for cuDNN/cuBLAS; size grows in prepare() */
    size_t workspace_bytes;
#define VP_CUDA_MAX_OLD_WS 16
    void *old_ws[VP_CUDA_MAX_OLD_WS]; /* outgrown workspaces, freed with the context */
    int n_old_ws;
    char desc[256];
    struct vp_cuda_cache *cache; /* plan cache (plan_cache.c), or NULL */
} vp_cuda_ctx;

/* Grow the shared workspace to at least bytes (prepare() only). */
int vp_cuda_workspace(vp_cuda_ctx *c, size_t bytes);

int vp_cuda_fail(const char *what, const char *call, int code, const char *name, const char *file, int line);

/* Check a call; on failure log the call and the library's error name and
 * return VP_ERR_BACKEND from the enclosing int function. */
#define VP_CUDA(call)                                                                         \
    do {                                                                                      \
        cudaError_t e_ = (call);                                                              \
        if (e_ != cudaSuccess)                                                                \
            return vp_cuda_fail("CUDA", #call, (int)e_, cudaGetErrorName(e_), __FILE__, __LINE__); \
    } while (0)
#define VP_CUDNN(call)                                                                        \
    do {                                                                                      \
        cudnnStatus_t e_ = (call);                                                            \
        if (e_ != CUDNN_STATUS_SUCCESS)                                                       \
            return vp_cuda_fail("cuDNN", #call, (int)e_, cudnnGetErrorString(e_), __FILE__, __LINE__); \
    } while (0)
#define VP_CUBLAS(call)                                                                       \
    do {                                                                                      \
        cublasStatus_t e_ = (call);                                                           \
        if (e_ != CUBLAS_STATUS_SUCCESS)                                                      \
            return vp_cuda_fail("cuBLAS", #call, (int)e_, cublasGetStatusName(e_), __FILE__, __LINE__); \
    } while (0)
/* After a kernel launch: launch errors only (no synchronisation). */
#define VP_CUDA_LAUNCHED() VP_CUDA(cudaPeekAtLastError())

/* Kernel tables per family (NULL-name terminated), as for the CPU backend. */
#define VP_CUDA_FAMILIES(X) X(elementwise) X(shape) X(nn) X(misc)
#define VP_CUDA_DECLARE(f) extern const vp_kernel vp_cuda_##f[];
VP_CUDA_FAMILIES(VP_CUDA_DECLARE)
#undef VP_CUDA_DECLARE

/* Plan cache (plan_cache.c): measured choices by key, kept in a file per
 * model, GPU, cuDNN version and precision. get returns 1 and fills v[0..n)
 * when the key is known; put records (replaces) it. */
int vp_cuda_cache_attach(void *ctx, const char *dir, uint64_t model_hash);
int vp_cuda_cache_get(vp_cuda_ctx *c, const char *key, long *v, int n);
void vp_cuda_cache_put(vp_cuda_ctx *c, const char *key, const long *v, int n);
/* Writes the file if anything changed, frees the cache. */
void vp_cuda_cache_close(vp_cuda_ctx *c);

/* Post-ops (activations, residual add) on a float or float16 output, for kernels that
 * cannot fuse them: one elementwise pass on ctx->stream. */
int vp_cuda_apply_postops(vp_op_ctx *c);

#ifdef __cplusplus
}
#endif
#endif
