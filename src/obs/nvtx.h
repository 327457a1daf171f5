/*
 * NVTX ranges for the span recorder, so Nsight Systems shows vidpipe's
 * stages: span hooks (base/span.h) that push and pop a range in an NVTX
 * domain "vidpipe", one registered string per span name.
 *
 * NVTX3 is header-only: built when CMake finds nvtx3/nvToolsExt.h (VP_NVTX,
 * default ON). It loads a profiler's injection library only when one is
 * attached (NVTX_INJECTION64_PATH, set by nsys); otherwise each call is a
 * test of a null pointer. No NVIDIA library is needed to run.
 */
#ifndef VP_OBS_NVTX_H
#define VP_OBS_NVTX_H

#include "base/span.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vp_nvtx vp_nvtx;

/* 1 when this build has NVTX. */
int vp_nvtx_built(void);
/* A domain with names[0..n) registered. VP_ERR_UNSUPPORTED (not logged)
 * in a build without NVTX; VP_ERR_NOMEM. names must outlive the handle. */
int vp_nvtx_create(const vp_span_name *names, unsigned n, vp_nvtx **out);
void vp_nvtx_free(vp_nvtx **n);
/* Hooks for vp_spans_config.hooks, with the handle as hooks_ctx. */
const vp_span_hooks *vp_nvtx_hooks(void);

#ifdef __cplusplus
}
#endif
#endif
