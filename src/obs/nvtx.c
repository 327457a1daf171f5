/* NVTX ranges as span hooks (nvtx.h). */
#include "obs/nvtx.h"

#include <stdlib.h>

#ifdef VP_HAVE_NVTX
#include <nvtx3/nvToolsExt.h>

struct vp_nvtx {
    nvtxDomainHandle_t domain;
    unsigned n;
    nvtxStringHandle_t str[];
};

static void nvtx_push(void *ctx, unsigned name)
{
    vp_nvtx *x = ctx;
    nvtxEventAttributes_t a = {0};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    a.message.registered = name < x->n ? x->str[name] : NULL;
    nvtxDomainRangePushEx(x->domain, &a);
}

static void nvtx_pop(void *ctx)
{
    vp_nvtx *x = ctx;
    nvtxDomainRangePop(x->domain);
}

static const vp_span_hooks hooks = {nvtx_push, nvtx_pop};

int vp_nvtx_built(void) { return 1; }

int vp_nvtx_create(const vp_span_name *names, unsigned n, vp_nvtx **out)
{
    *out = NULL;
    vp_nvtx *x = calloc(1, sizeof *x + n * sizeof x->str[0]);
    if (!x)
        return VP_ERR_NOMEM;
    /* Without an attached tool these return NULL handles, which the push
     * and pop calls accept: nothing to check here. */
    x->domain = nvtxDomainCreateA("vidpipe");
    x->n = n;
    for (unsigned i = 0; i < n; i++)
        x->str[i] = nvtxDomainRegisterStringA(x->domain, names[i].name);
    *out = x;
    return VP_OK;
}

void vp_nvtx_free(vp_nvtx **xp)
{
    if (!xp || !*xp)
        return;
    nvtxDomainDestroy((*xp)->domain);
    free(*xp);
    *xp = NULL;
}

const vp_span_hooks *vp_nvtx_hooks(void) { return &hooks; }

#else

struct vp_nvtx {
    int unused;
};

int vp_nvtx_built(void) { return 0; }

int vp_nvtx_create(const vp_span_name *names, unsigned n, vp_nvtx **out)
{
    *out = NULL;
    return VP_ERR_UNSUPPORTED;
}

void vp_nvtx_free(vp_nvtx **xp)
{
    if (xp)
        *xp = NULL;
}

const vp_span_hooks *vp_nvtx_hooks(void) { return NULL; }

#endif
