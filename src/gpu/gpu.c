/* The gpu layer, host side: plugin loading, memory pools and counted
 * copies (gpu.h). */
#include "gpu/gpu.h"
#include "base/log.h"
#include "engine/backend.h" /* VP_CUDA_PLUGIN_FILE */

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *vp_gpu_plugin_open(char *err, size_t errlen)
{
    char path[4096];
    const char *env = getenv("VP_CUDA_PLUGIN");
    const char *tried[3];
    int n = 0;
    if (env && *env)
        tried[n++] = env;
    ssize_t len = readlink("/proc/self/exe", path, sizeof path - 64);
    if (len > 0) {
        path[len] = 0;
        char *slash = strrchr(path, '/');
        if (slash) {
            strcpy(slash + 1, VP_CUDA_PLUGIN_FILE);
            tried[n++] = path;
        }
    }
    tried[n++] = VP_CUDA_PLUGIN_FILE;
    const char *why = "";
    void *handle = NULL;
    for (int i = 0; i < n && !handle; i++) {
        handle = dlopen(tried[i], RTLD_NOW | RTLD_LOCAL);
        if (!handle)
            why = dlerror();
    }
    if (!handle)
        snprintf(err, errlen, "CUDA backend not available: %s", why ? why : "plugin not found");
    return handle;
}

static int dev_backing_alloc(void *ctx, size_t bytes, void **p)
{
    const vp_gpu *g = ctx;
    return g->api->dev_alloc(bytes, p);
}

static void dev_backing_free(void *ctx, void *p)
{
    const vp_gpu *g = ctx;
    g->api->dev_free(p);
}

static int host_backing_alloc(void *ctx, size_t bytes, void **p)
{
    const vp_gpu *g = ctx;
    return g->api->host_alloc(bytes, p);
}

static void host_backing_free(void *ctx, void *p)
{
    const vp_gpu *g = ctx;
    g->api->host_free(p);
}

int vp_gpu_open(int device, int gpu_only, vp_gpu **out, char *err, size_t errlen)
{
    *out = NULL;
    vp_gpu *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return VP_ERR_NOMEM;
    }
    g->device = device;
    g->gpu_only = gpu_only;
    if (!(g->plugin = vp_gpu_plugin_open(err, errlen))) {
        free(g);
        return VP_ERR_NOT_FOUND;
    }
    vp_gpu_api_get_fn get = (vp_gpu_api_get_fn)(uintptr_t)dlsym(g->plugin, VP_GPU_API_SYMBOL);
    g->api = get ? get() : NULL;
    if (!g->api || g->api->abi != VP_GPU_API_ABI) {
        snprintf(err, errlen, "CUDA plugin is from another vidpipe version (no %s)", VP_GPU_API_SYMBOL);
        vp_gpu_close(&g);
        return VP_ERR_UNSUPPORTED;
    }
    int rc = g->api->set_device(device, err, errlen);
    if (rc) {
        vp_gpu_close(&g);
        return rc;
    }
    const vp_pool_backing dev = {dev_backing_alloc, dev_backing_free, g};
    const vp_pool_backing host = {host_backing_alloc, host_backing_free, g};
    if (vp_pool_create("device", &dev, 0, &g->pool[VP_GPU_POOL_DEVICE]) ||
        vp_pool_create("pinned host", &host, 0, &g->pool[VP_GPU_POOL_HOST])) {
        snprintf(err, errlen, "out of memory");
        vp_gpu_close(&g);
        return VP_ERR_NOMEM;
    }
    *out = g;
    return VP_OK;
}

void vp_gpu_close(vp_gpu **g)
{
    if (!g || !*g)
        return;
    /* the pools give their memory back through the plugin: before dlclose */
    vp_pool_destroy(&(*g)->pool[VP_GPU_POOL_DEVICE], NULL);
    vp_pool_destroy(&(*g)->pool[VP_GPU_POOL_HOST], NULL);
    if ((*g)->plugin)
        dlclose((*g)->plugin);
    free(*g);
    *g = NULL;
}

int vp_gpu_dev_alloc(vp_gpu *g, size_t bytes, void **p)
{
    return vp_pool_alloc(g->pool[VP_GPU_POOL_DEVICE], bytes, p);
}

int vp_gpu_dev_free(vp_gpu *g, void *p)
{
    return p ? vp_pool_free(g->pool[VP_GPU_POOL_DEVICE], p, "vp_gpu_dev_free") : VP_OK;
}

int vp_gpu_host_alloc(vp_gpu *g, size_t bytes, void **p)
{
    return vp_pool_alloc(g->pool[VP_GPU_POOL_HOST], bytes, p);
}

int vp_gpu_host_free(vp_gpu *g, void *p)
{
    return p ? vp_pool_free(g->pool[VP_GPU_POOL_HOST], p, "vp_gpu_host_free") : VP_OK;
}

int vp_gpu_pool_stats(vp_gpu *g, int which, vp_pool_stats *out)
{
    memset(out, 0, sizeof *out);
    if (which != VP_GPU_POOL_DEVICE && which != VP_GPU_POOL_HOST)
        return VP_ERR_INVALID;
    if (g)
        vp_pool_get_stats(g->pool[which], out);
    return VP_OK;
}

static int audit(vp_gpu *g, size_t bytes, int dir, int results, const char *what)
{
    if (g->gpu_only && !results && dir != VP_COPY_D2D && bytes > VP_GPU_SMALL_COPY) {
        VP_LOGE("gpu_only: refused a %zu-byte %s copy of %s (pixels must stay on the GPU)", bytes,
                dir == VP_COPY_H2D ? "host-to-device" : "device-to-host", what);
        return VP_ERR_UNSUPPORTED;
    }
    if (dir == VP_COPY_H2D)
        atomic_fetch_add(&g->h2d_bytes, (long)bytes);
    else if (dir == VP_COPY_D2H)
        atomic_fetch_add(&g->d2h_bytes, (long)bytes);
    atomic_fetch_add(&g->copies, 1);
    return VP_OK;
}

int vp_gpu_copy(vp_gpu *g, void *dst, const void *src, size_t bytes, int dir, struct CUstream_st *s,
                const char *what)
{
    int rc = audit(g, bytes, dir, 0, what);
    return rc ? rc : g->api->copy(dst, src, bytes, dir, s);
}

int vp_gpu_copy_results(vp_gpu *g, void *dst, const void *src, size_t bytes, struct CUstream_st *s,
                        const char *what)
{
    int rc = audit(g, bytes, VP_COPY_D2H, 1, what);
    return rc ? rc : g->api->copy(dst, src, bytes, VP_COPY_D2H, s);
}

int vp_gpu_copy2d(vp_gpu *g, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t rows,
                  int dir, struct CUstream_st *s, const char *what)
{
    int rc = audit(g, width * rows, dir, 0, what);
    return rc ? rc : g->api->copy2d(dst, dpitch, src, spitch, width, rows, dir, s);
}
