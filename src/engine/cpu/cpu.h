/* CPU backend context: one oneDNN engine and stream per vp_engine. */
#ifndef VP_ENGINE_CPU_H
#define VP_ENGINE_CPU_H

#include "engine/ops.h"

#include <oneapi/dnnl/dnnl.h>

struct vp_cpu_ctx {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
};

int vp_cpu_ctx_create(vp_cpu_ctx **out);
void vp_cpu_ctx_free(vp_cpu_ctx **c);

/* Check a oneDNN call; on failure log it and return VP_ERR_BACKEND from the
 * enclosing function (which must return int). */
#define VP_DNNL(call)                                                          \
    do {                                                                       \
        dnnl_status_t st_ = (call);                                            \
        if (st_ != dnnl_success)                                               \
            return vp_dnnl_error(#call, st_, __FILE__, __LINE__);              \
    } while (0)
int vp_dnnl_error(const char *call, dnnl_status_t st, const char *file, int line);

/* Elementwise activation on float data in place (used by post-ops and ops). */
void vp_cpu_act(float *x, int64_t n, vp_act act, float alpha, float beta);

#endif
