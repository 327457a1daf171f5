/*
 * Execution backends of the engine.
 *
 * A backend is a const table of functions (as ggml's backend interface): it
 * finds kernels by op type and owns the memory the plan's arena and
 * constants live in. The CPU backend is always present: it also folds
 * constants and is the reference the others are tested against. The CUDA
 * backend lives in a separate shared library (libvidpipe_cuda.so) that is
 * loaded at run time, so one vidpipe binary runs with or without NVIDIA's
 * libraries.
 *
 * Memory returned by mem_alloc is the backend's (device memory for CUDA);
 * kernels of that backend receive pointers into it. Host pointers cross only
 * through upload/download.
 */
#ifndef VP_ENGINE_BACKEND_H
#define VP_ENGINE_BACKEND_H

#include "engine/ops.h"

#define VP_BACKEND_ABI 3

typedef struct vp_backend {
    int abi;                 /* VP_BACKEND_ABI */
    const char *name;        /* "cpu", "cuda" */
    /* Context per engine; err gets a one-line reason on failure (no device,
     * driver too old...). */
    int (*create)(const vp_engine_options *opt, void **ctx, char *err, size_t errlen);
    void (*destroy)(void *ctx);
    const vp_kernel *(*kernel_find)(const char *op_type);
    int (*mem_alloc)(void *ctx, size_t bytes, void **ptr);
    void (*mem_free)(void *ctx, void *ptr);
    int (*upload)(void *ctx, void *dst, const void *src, size_t bytes);
    int (*download)(void *ctx, void *dst, const void *src, size_t bytes);
    int host_memory;         /* 1: mem_alloc returns host memory the caller may use directly */
    /* Optional hooks around a run, with a per-plan state they own (NULL at
     * first). run_begin returns VP_OK to have the plan call its kernels, or 1
     * when it replayed the whole run itself (a captured CUDA graph); run_end
     * follows either and, when wait is 1, waits for completion (wait 0: the
     * run stays enqueued on the backend's stream). */
    int (*run_begin)(void *ctx, void **plan_state);
    int (*run_end)(void *ctx, void **plan_state, int wait);
    void (*plan_state_free)(void *ctx, void *plan_state);
    /* Optional: a one-line description ("NVIDIA H100 80GB HBM3, sm_90, ..."). */
    const char *(*describe)(void *ctx);
    /* Optional: keep what plans measure (algorithm choices) in a cache file
     * under dir for the model with this hash; read now, written when the
     * context is destroyed. Failure only means no cache. */
    int (*cache_attach)(void *ctx, const char *dir, uint64_t model_hash);
    /* Optional: wait until the work enqueued so far is done (profiling
     * times each step with it, so asynchronous backends report device time). */
    int (*sync)(void *ctx);
    /* Optional: the stream (CUstream) the backend's work is enqueued on, for
     * callers that order their own work with the engine's (device bindings). */
    void *(*stream)(void *ctx);
} vp_backend;

extern const vp_backend vp_backend_cpu;

/* Entry point a backend plugin exports. */
typedef const vp_backend *(*vp_backend_get_fn)(void);
#define VP_CUDA_PLUGIN_SYMBOL "vp_cuda_backend"
#define VP_CUDA_PLUGIN_FILE "libvidpipe_cuda.so"

#endif
