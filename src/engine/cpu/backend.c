/* CPU backend context and the generic (unfused) post-op path. */
#include "engine/cpu/cpu.h"
#include "engine/backend.h"
#include "engine/cpu/elementwise.h"
#include "base/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vp_dnnl_error(const char *call, dnnl_status_t st, const char *file, int line)
{
    VP_LOGE("oneDNN call failed (status %d) at %s:%d: %s", (int)st, file, line, call);
    return VP_ERR_BACKEND;
}

int vp_cpu_ctx_create(vp_cpu_ctx **out)
{
    vp_cpu_ctx *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return VP_ERR_NOMEM;
    if (dnnl_engine_create(&c->eng, dnnl_cpu, 0) != dnnl_success) {
        free(c);
        return vp_dnnl_error("dnnl_engine_create", dnnl_runtime_error, __FILE__, __LINE__);
    }
    if (dnnl_stream_create(&c->stream, c->eng, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(c->eng);
        free(c);
        return vp_dnnl_error("dnnl_stream_create", dnnl_runtime_error, __FILE__, __LINE__);
    }
    *out = c;
    return VP_OK;
}

void vp_cpu_ctx_free(vp_cpu_ctx **pc)
{
    vp_cpu_ctx *c = pc ? *pc : NULL;
    if (!c)
        return;
    dnnl_stream_destroy(c->stream);
    dnnl_engine_destroy(c->eng);
    free(c);
    *pc = NULL;
}

void vp_cpu_act(float *x, int64_t n, vp_act act, float alpha, float beta)
{
    switch (act) {
    case VP_ACT_NONE:
        break;
    case VP_ACT_RELU:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] > 0.f ? x[i] : 0.f;
        break;
    case VP_ACT_SIGMOID: /* the same code as the unfused op, so fusing changes no result */
        vp_ew_sigmoid_f32(x, x, n);
        break;
    case VP_ACT_SILU:
        vp_ew_silu_f32(x, x, n);
        break;
    case VP_ACT_HARDSIGMOID:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            x[i] = fmaxf(0.f, fminf(1.f, alpha * x[i] + beta));
        break;
    case VP_ACT_HARDSWISH:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            x[i] = x[i] * fmaxf(0.f, fminf(1.f, x[i] / 6.f + 0.5f));
        break;
    case VP_ACT_CLIP:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++)
            x[i] = fminf(fmaxf(x[i], alpha), beta);
        break;
    }
}

int vp_apply_postops(vp_op_ctx *c)
{
    const vp_node *nd = c->node;
    vp_tensor *o = c->out[0];
    int64_t n = vp_tensor_numel(o);
    if (nd->n_post == 0)
        return VP_OK;
    if (o->dtype != VP_DT_FLOAT)
        return vp_op_fail(c, VP_ERR_INTERNAL, "post-ops on %s output", vp_dtype_name(o->dtype));
    float *x = o->data;
    for (int k = 0; k < nd->n_post; k++) {
        const vp_postop *p = &nd->post[k];
        if (p->kind == VP_POST_ACT) {
            vp_cpu_act(x, n, p->act, p->alpha, p->beta);
        } else {
            const float *a = c->in[p->input]->data;
#pragma omp parallel for schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; i++)
                x[i] += a[i];
        }
    }
    return VP_OK;
}

/* The CPU backend table ------------------------------------------------- */
static int cpu_create(const vp_engine_options *opt, void **ctx, char *err, size_t errlen)
{
    vp_cpu_ctx *c;
    int rc = vp_cpu_ctx_create(&c);
    if (rc)
        snprintf(err, errlen, "cannot create the CPU backend (oneDNN)");
    *ctx = rc ? NULL : c;
    return rc;
}

static void cpu_destroy(void *ctx)
{
    vp_cpu_ctx *c = ctx;
    vp_cpu_ctx_free(&c);
}

static int cpu_alloc(void *ctx, size_t bytes, void **ptr)
{
    *ptr = aligned_alloc(64, (bytes + 63) / 64 * 64);
    return *ptr ? VP_OK : VP_ERR_NOMEM;
}

static void cpu_free(void *ctx, void *ptr) { free(ptr); }

static int cpu_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
    return VP_OK;
}

const vp_backend vp_backend_cpu = {
    .abi = VP_BACKEND_ABI,
    .name = "cpu",
    .create = cpu_create,
    .destroy = cpu_destroy,
    .kernel_find = vp_cpu_kernel_find,
    .mem_alloc = cpu_alloc,
    .mem_free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .host_memory = 1,
};
