/*
 * The gpu layer, plugin side: the table of CUDA runtime entry points that
 * libvidpipe reaches through dlsym (gpu/gpu.h), so that the library itself
 * never links the CUDA runtime. Every call is checked and logged by the
 * engine's VP_CUDA macro.
 */
#include "gpu/gpu.h"
#include "engine/cuda/cuda.h"

#include <stdio.h>

static int set_device(int device, char *err, size_t errlen)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "no CUDA device usable (%s)", cudaGetErrorName(e));
        return VP_ERR_NOT_FOUND;
    }
    if (device < 0 || device >= n) {
        snprintf(err, errlen, "CUDA device %d does not exist (%d present)", device, n);
        return VP_ERR_NOT_FOUND;
    }
    e = cudaSetDevice(device);
    if (e == cudaSuccess)
        e = cudaFree(NULL); /* initialises the primary context now, not in the first timed call */
    if (e != cudaSuccess) {
        snprintf(err, errlen, "CUDA device %d: %s", device, cudaGetErrorName(e));
        return VP_ERR_BACKEND;
    }
    return VP_OK;
}

static int stream_create(struct CUstream_st **s)
{
    VP_CUDA(cudaStreamCreateWithFlags(s, cudaStreamNonBlocking));
    return VP_OK;
}

/* For the functions that return nothing: log a failed call. */
static void checked(cudaError_t e, const char *call, int line)
{
    if (e != cudaSuccess)
        vp_cuda_fail("CUDA", call, (int)e, cudaGetErrorName(e), __FILE__, line);
}

static void stream_destroy(struct CUstream_st *s)
{
    if (s)
        checked(cudaStreamDestroy(s), "cudaStreamDestroy", __LINE__);
}

static int stream_sync(struct CUstream_st *s)
{
    VP_CUDA(cudaStreamSynchronize(s));
    return VP_OK;
}

static int dev_alloc(size_t bytes, void **p)
{
    VP_CUDA(cudaMalloc(p, bytes ? bytes : 1));
    return VP_OK;
}

static void dev_free(void *p)
{
    if (p)
        checked(cudaFree(p), "cudaFree", __LINE__);
}

static int host_alloc(size_t bytes, void **p)
{
    VP_CUDA(cudaMallocHost(p, bytes ? bytes : 1));
    return VP_OK;
}

static void host_free(void *p)
{
    if (p)
        checked(cudaFreeHost(p), "cudaFreeHost", __LINE__);
}

static enum cudaMemcpyKind kind_of(int dir)
{
    return dir == VP_COPY_H2D ? cudaMemcpyHostToDevice
           : dir == VP_COPY_D2H ? cudaMemcpyDeviceToHost
                                : cudaMemcpyDeviceToDevice;
}

static int copy(void *dst, const void *src, size_t bytes, int dir, struct CUstream_st *s)
{
    VP_CUDA(cudaMemcpyAsync(dst, src, bytes, kind_of(dir), s));
    return VP_OK;
}

static int copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t rows, int dir,
                  struct CUstream_st *s)
{
    VP_CUDA(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, rows, kind_of(dir), s));
    return VP_OK;
}

static int event_create(struct CUevent_st **e)
{
    VP_CUDA(cudaEventCreate(e));
    return VP_OK;
}

static void event_destroy(struct CUevent_st *e)
{
    if (e)
        checked(cudaEventDestroy(e), "cudaEventDestroy", __LINE__);
}

static int event_record(struct CUevent_st *e, struct CUstream_st *s)
{
    VP_CUDA(cudaEventRecord(e, s));
    return VP_OK;
}

static int event_elapsed(struct CUevent_st *a, struct CUevent_st *b, float *ms)
{
    VP_CUDA(cudaEventElapsedTime(ms, a, b));
    return VP_OK;
}

static int event_create_blocking(struct CUevent_st **e)
{
    VP_CUDA(cudaEventCreateWithFlags(e, cudaEventBlockingSync));
    return VP_OK;
}

static int event_sync(struct CUevent_st *e)
{
    VP_CUDA(cudaEventSynchronize(e));
    return VP_OK;
}

static const vp_gpu_api api = {
    /* .abi = */ VP_GPU_API_ABI,
    /* .set_device = */ set_device,
    /* .stream_create = */ stream_create,
    /* .stream_destroy = */ stream_destroy,
    /* .stream_sync = */ stream_sync,
    /* .dev_alloc = */ dev_alloc,
    /* .dev_free = */ dev_free,
    /* .host_alloc = */ host_alloc,
    /* .host_free = */ host_free,
    /* .copy = */ copy,
    /* .copy2d = */ copy2d,
    /* .preprocess = */ vp_cuda_preprocess,
    /* .post_scratch = */ vp_cuda_post_scratch_bytes,
    /* .postprocess = */ vp_cuda_postprocess,
    /* .event_create = */ event_create,
    /* .event_destroy = */ event_destroy,
    /* .event_record = */ event_record,
    /* .event_elapsed = */ event_elapsed,
    /* .crop = */ vp_cuda_crop,
    /* .event_create_blocking = */ event_create_blocking,
    /* .event_sync = */ event_sync,
    /* .semseg = */ vp_cuda_semseg,
    /* .masks = */ vp_cuda_masks,
    /* .pack_dets = */ vp_cuda_pack_dets,
};

__attribute__((visibility("default"))) const vp_gpu_api *vp_gpu_api_get(void);
const vp_gpu_api *vp_gpu_api_get(void) { return &api; }
