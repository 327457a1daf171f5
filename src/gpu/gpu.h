/*
 * The gpu layer, host side: the CUDA plugin (libvidpipe_cuda.so) found and
 * loaded at run time, and a per-device handle through which the pipeline
 * reaches the CUDA runtime without linking it, so one binary runs with or
 * without NVIDIA's libraries.
 *
 * vp_gpu owns what the design puts in this layer for one device: the entry
 * points of the plugin (streams, memory, copies, the vision kernels) and
 * the copy counters of the zero-copy audit. Every explicit host<->device
 * copy of the pipeline goes through vp_gpu_copy(), which counts bytes by
 * direction and, in gpu_only mode, refuses pixel-sized copies.
 *
 * Device and pinned-host memory come from two pools per handle (gpu/pool.h)
 * over the plugin's cudaMalloc and cudaMallocHost: vp_gpu_dev_alloc and
 * vp_gpu_host_alloc, given back with vp_gpu_dev_free and vp_gpu_host_free,
 * counted (vp_gpu_pool_stats). The worst case is reserved by the caller at
 * start-up; nothing allocates in the hot loop. Blocks still outstanding
 * when the handle closes are leaks: logged (one line per pool), then
 * released. Memory the engine's plugin allocates for its own plans is not
 * in these pools.
 */
#ifndef VP_GPU_GPU_H
#define VP_GPU_GPU_H

#include "vidpipe/vidpipe.h"
#include "gpu/pool.h"
#include "vision/crop.h"
#include "vision/postprocess.h"
#include "vision/preprocess.h"

#include <stdatomic.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct CUstream_st;
struct CUevent_st;

/* dlopen handle of the CUDA plugin: $VP_CUDA_PLUGIN, then beside the
 * executable, then the loader's search path. NULL with a one-line reason in
 * err. Release with dlclose(). */
void *vp_gpu_plugin_open(char *err, size_t errlen);

enum { VP_COPY_H2D = 0, VP_COPY_D2H = 1, VP_COPY_D2D = 2 };

/* Entry points the plugin exports as one table (symbol VP_GPU_API_SYMBOL).
 * Every function returns VP_OK or VP_ERR_BACKEND after logging the CUDA
 * call and its error name. */
#define VP_GPU_API_ABI 5
#define VP_GPU_API_SYMBOL "vp_gpu_api_get"
typedef struct vp_gpu_api {
    int abi;
    /* Makes device current on the calling thread (its primary context);
     * err: a one-line reason (no device, driver too old). */
    int (*set_device)(int device, char *err, size_t errlen);
    int (*stream_create)(struct CUstream_st **s);
    void (*stream_destroy)(struct CUstream_st *s);
    int (*stream_sync)(struct CUstream_st *s);
    int (*dev_alloc)(size_t bytes, void **p);
    void (*dev_free)(void *p);
    int (*host_alloc)(size_t bytes, void **p); /* pinned */
    void (*host_free)(void *p);
    /* Asynchronous on s; host memory must be pinned for real overlap. */
    int (*copy)(void *dst, const void *src, size_t bytes, int dir, struct CUstream_st *s);
    /* 2-D copy of rows (width bytes each) between pitched buffers. */
    int (*copy2d)(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t rows, int dir,
                  struct CUstream_st *s);
    vp_cuda_preprocess_fn preprocess;
    vp_cuda_post_scratch_fn post_scratch;
    vp_cuda_postprocess_fn postprocess;
    /* CUDA events, for timing GPU work in the trace (profile.trace) */
    int (*event_create)(struct CUevent_st **e);
    void (*event_destroy)(struct CUevent_st *e);
    int (*event_record)(struct CUevent_st *e, struct CUstream_st *s);
    /* ms from a to b, both recorded and complete */
    int (*event_elapsed)(struct CUevent_st *a, struct CUevent_st *b, float *ms);
    /* batched crop + resize for secondary models (vision/crop.h), ABI 3 */
    vp_cuda_crop_fn crop;
    /* An event whose event_sync sleeps instead of spinning (cudaEventBlockingSync,
     * timing enabled): for a thread that waits on the GPU without burning a core. */
    int (*event_create_blocking)(struct CUevent_st **e);
    /* Waits until the work before e's last record is complete; VP_ERR_BACKEND
     * (logged) when it failed (an asynchronous error of that work). */
    int (*event_sync)(struct CUevent_st *e);
    /* per-pixel results on the GPU (vision/postprocess.h), ABI 4: semantic
     * segmentation class counts (and optionally the class map), instance
     * masks in compact form */
    vp_cuda_semseg_fn semseg;
    vp_cuda_masks_fn masks;
    /* the kept detections packed for their copy to the host
     * (vision/postprocess.h, vp_det_wire), ABI 5 */
    vp_cuda_pack_dets_fn pack_dets;
} vp_gpu_api;
typedef const vp_gpu_api *(*vp_gpu_api_get_fn)(void);

typedef struct vp_gpu {
    const vp_gpu_api *api;
    void *plugin;
    int device;
    int gpu_only;               /* refuse pixel-sized copies */
    atomic_long h2d_bytes, d2h_bytes, copies;
    vp_pool *pool[2];           /* VP_GPU_POOL_DEVICE, VP_GPU_POOL_HOST */
} vp_gpu;

enum { VP_GPU_POOL_DEVICE = 0, VP_GPU_POOL_HOST = 1 };

/* Device memory from the handle's pool (the current device of the calling
 * thread must be g->device). VP_OK, or VP_ERR_BACKEND / VP_ERR_NOMEM
 * (logged) with *p NULL. */
int vp_gpu_dev_alloc(vp_gpu *g, size_t bytes, void **p);
/* Back to the pool; NULL is a no-op. A pointer this pool did not hand out,
 * or one given back already, is VP_ERR_INVALID (logged), nothing freed.
 * Not stream-ordered: free only once no GPU work still uses the block
 * (or its next user is on the same stream). */
int vp_gpu_dev_free(vp_gpu *g, void *p);
/* Pinned (page-locked) host memory, the same contract. */
int vp_gpu_host_alloc(vp_gpu *g, size_t bytes, void **p);
int vp_gpu_host_free(vp_gpu *g, void *p);
/* Statistics of one pool (VP_GPU_POOL_DEVICE or _HOST); zeros for a NULL
 * handle. VP_ERR_INVALID for another which. */
int vp_gpu_pool_stats(vp_gpu *g, int which, vp_pool_stats *out);

/* In gpu_only mode a vp_gpu_copy above this many bytes is taken for pixels
 * (a frame, a model output) and refused. Results that can be larger (the
 * compact masks of many detections, the class counts of many images) go
 * through vp_gpu_copy_results. */
#define VP_GPU_SMALL_COPY (64 * 1024)

/* Loads the plugin and makes device current on this thread. */
int vp_gpu_open(int device, int gpu_only, vp_gpu **out, char *err, size_t errlen);
void vp_gpu_close(vp_gpu **g);
/* Counted copy; in gpu_only mode a copy above VP_GPU_SMALL_COPY is refused
 * (VP_ERR_UNSUPPORTED, logged with what) before anything moves. */
int vp_gpu_copy(vp_gpu *g, void *dst, const void *src, size_t bytes, int dir, struct CUstream_st *s,
                const char *what);
/* Device-to-host copy of post-processing results made on the GPU (never
 * pixels of a frame or a model output: the caller's promise), counted, and
 * not refused in gpu_only mode whatever its size. */
int vp_gpu_copy_results(vp_gpu *g, void *dst, const void *src, size_t bytes, struct CUstream_st *s,
                        const char *what);
int vp_gpu_copy2d(vp_gpu *g, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t rows,
                  int dir, struct CUstream_st *s, const char *what);

#ifdef __cplusplus
}
#endif
#endif
