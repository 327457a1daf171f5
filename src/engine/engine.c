/* vp_engine: loading, model information, error reporting. */
#include "engine/engine_impl.h"
#include "engine/onnx_load.h"
#include "engine/cpu/cpu.h"
#include <oneapi/dnnl/dnnl.h>
#include "engine/backend.h"
#include "base/log.h"
#include "gpu/gpu.h"

#include <dlfcn.h>
#include <libgen.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vp_plan_free_all(vp_engine *e);

void vp_engine_options_default(vp_engine_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->backend = VP_BACKEND_CPU;
}

int vp_engine_set_error(vp_engine *e, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, sizeof e->err, fmt, ap);
    va_end(ap);
    VP_LOGD("%s", e->err);
    return status;
}

const char *vp_engine_last_error(const vp_engine *e) { return e ? e->err : ""; }

void *vp_engine_stream(vp_engine *e)
{
    return e && e->be && !e->be->host_memory && e->be->stream ? e->be->stream(e->bctx) : NULL;
}

const char *vp_engine_metadata(const vp_engine *e, const char *key)
{
    for (int i = 0; e && key && i < e->g.n_meta; i++)
        if (!strcmp(e->g.meta_keys[i], key))
            return e->g.meta_values[i];
    return NULL;
}

/* Load the CUDA backend plugin (gpu/gpu.h says where it is looked for). */
static const vp_backend *load_cuda_plugin(void **handle, char *err, size_t errlen)
{
    if (!(*handle = vp_gpu_plugin_open(err, errlen)))
        return NULL;
    vp_backend_get_fn get = (vp_backend_get_fn)(uintptr_t)dlsym(*handle, VP_CUDA_PLUGIN_SYMBOL);
    const vp_backend *be = get ? get() : NULL;
    if (!be || be->abi != VP_BACKEND_ABI) {
        snprintf(err, errlen, "CUDA backend plugin is from another vidpipe version");
        return NULL;
    }
    return be;
}

static uint64_t fnv1a64(const void *data, size_t size)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The plan cache directory per vp_engine_options.cache_dir; 0 if none. */
static int cache_dir(const vp_engine_options *o, char *buf, size_t len)
{
    const char *env;
    if (o->cache_dir)
        return o->cache_dir[0] && snprintf(buf, len, "%s", o->cache_dir) < (int)len;
    if ((env = getenv("VIDPIPE_CACHE_DIR")) && *env)
        return snprintf(buf, len, "%s", env) < (int)len;
    if ((env = getenv("XDG_CACHE_HOME")) && *env)
        return snprintf(buf, len, "%s/vidpipe", env) < (int)len;
    if ((env = getenv("HOME")) && *env)
        return snprintf(buf, len, "%s/.cache/vidpipe", env) < (int)len;
    return 0;
}

static int engine_init(vp_engine *e, char *err, size_t errlen)
{
    char why[512] = "";
    int rc = vp_cpu_ctx_create(&e->cpu);
    if (rc) {
        snprintf(err, errlen, "%s: cannot create the CPU backend (oneDNN)", e->g.source);
        return rc;
    }
    if (e->opt.backend == VP_BACKEND_CPU) {
        if (e->opt.precision != VP_PRECISION_FP32) {
            snprintf(err, errlen, "%s: the CPU backend computes in fp32 only", e->g.source);
            return VP_ERR_UNSUPPORTED;
        }
        e->be = &vp_backend_cpu;
        e->bctx = e->cpu;
    } else if (e->opt.backend == VP_BACKEND_CUDA) {
        e->be = load_cuda_plugin(&e->plugin, why, sizeof why);
        if (!e->be) {
            snprintf(err, errlen, "%s: %s", e->g.source, why);
            return VP_ERR_UNSUPPORTED;
        }
        if ((rc = e->be->create(&e->opt, &e->bctx, why, sizeof why))) {
            e->be = NULL;
            snprintf(err, errlen, "%s: CUDA backend: %s", e->g.source, why);
            return rc;
        }
    } else {
        snprintf(err, errlen, "%s: unknown backend %d", e->g.source, (int)e->opt.backend);
        return VP_ERR_INVALID;
    }
    char dir[4096];
    if (e->be->cache_attach && cache_dir(&e->opt, dir, sizeof dir))
        e->be->cache_attach(e->bctx, dir, e->model_hash);
    for (int k = 0; k < e->g.n_nodes; k++) {
        const vp_node *n = &e->g.nodes[k];
        if (!n->def->is_view && !vp_cpu_kernel_find(n->op_type)) {
            snprintf(err, errlen, "%s: node '%s': operator '%s' has no CPU kernel", e->g.source, n->name,
                     n->op_type);
            return VP_ERR_UNSUPPORTED;
        }
    }
    return VP_OK;
}

int vp_engine_load_memory(const void *data, size_t size, const char *base_dir, const vp_engine_options *opt,
                          vp_engine **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen)
        err = dummy, errlen = sizeof dummy;
    *out = NULL;
    vp_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return VP_ERR_NOMEM;
    }
    if (opt)
        e->opt = *opt;
    else
        vp_engine_options_default(&e->opt);
    e->model_hash = fnv1a64(data, size);
    int rc = vp_graph_load_memory(data, size, "<memory>", base_dir, &e->g, err, errlen);
    if (rc == VP_OK)
        rc = engine_init(e, err, errlen);
    if (rc) {
        vp_engine_free(&e);
        return rc;
    }
    *out = e;
    return VP_OK;
}

int vp_engine_load(const char *path, const vp_engine_options *opt, vp_engine **out, char *err, size_t errlen)
{
    char dummy[8];
    void *buf;
    size_t size;
    if (!err || !errlen)
        err = dummy, errlen = sizeof dummy;
    *out = NULL;
    int rc = vp_read_file(path, &buf, &size, err, errlen);
    if (rc)
        return rc;
    vp_engine *e = calloc(1, sizeof *e);
    char *dircopy = strdup(path);
    if (!e || !dircopy) {
        free(buf), free(e), free(dircopy);
        snprintf(err, errlen, "out of memory");
        return VP_ERR_NOMEM;
    }
    if (opt)
        e->opt = *opt;
    else
        vp_engine_options_default(&e->opt);
    e->model_hash = fnv1a64(buf, size);
    rc = vp_graph_load_memory(buf, size, path, dirname(dircopy), &e->g, err, errlen);
    free(buf);
    free(dircopy);
    if (rc == VP_OK)
        rc = engine_init(e, err, errlen);
    if (rc) {
        vp_engine_free(&e);
        return rc;
    }
    VP_LOGI("%s: %d nodes, %d values, opset %d", path, e->g.n_nodes, e->g.n_values, e->g.opset);
    *out = e;
    return VP_OK;
}

void vp_engine_free(vp_engine **pe)
{
    vp_engine *e = pe ? *pe : NULL;
    if (!e)
        return;
    vp_plan_free_all(e);
    if (e->be && e->bctx != e->cpu)
        e->be->destroy(e->bctx);
    vp_cpu_ctx_free(&e->cpu);
    if (e->plugin)
        dlclose(e->plugin);
    vp_graph_free(&e->g);
    free(e);
    *pe = NULL;
}

int vp_engine_num_inputs(const vp_engine *e) { return e->g.n_inputs; }
int vp_engine_num_outputs(const vp_engine *e) { return e->g.n_outputs; }
int vp_engine_num_nodes(const vp_engine *e) { return e->g.n_nodes; }

static int io_info(const vp_engine *e, int id, const char **name, vp_dtype *dt, vp_shape *shape)
{
    const vp_value *v = &e->g.values[id];
    if (name)
        *name = v->name;
    if (dt)
        *dt = v->dtype;
    if (shape)
        *shape = v->shape;
    return VP_OK;
}

int vp_engine_input_info(const vp_engine *e, int i, const char **name, vp_dtype *dt, vp_shape *shape)
{
    if (i < 0 || i >= e->g.n_inputs)
        return VP_ERR_NOT_FOUND;
    return io_info(e, e->g.inputs[i], name, dt, shape);
}

int vp_engine_output_info(const vp_engine *e, int i, const char **name, vp_dtype *dt, vp_shape *shape)
{
    if (i < 0 || i >= e->g.n_outputs)
        return VP_ERR_NOT_FOUND;
    return io_info(e, e->g.outputs[i], name, dt, shape);
}

int vp_engine_supported_ops(vp_backend_kind backend, const char **names, int max)
{
    if (backend != VP_BACKEND_CPU)
        return VP_ERR_UNSUPPORTED;
    return vp_cpu_supported_ops(names, max);
}

int vp_engine_describe_backend(vp_backend_kind backend, char *line, size_t len)
{
    if (backend == VP_BACKEND_CPU) {
        const dnnl_version_t *v = dnnl_version();
        snprintf(line, len, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
        return VP_OK;
    }
    if (backend != VP_BACKEND_CUDA) {
        snprintf(line, len, "unknown backend");
        return VP_ERR_INVALID;
    }
    void *handle = NULL, *ctx = NULL;
    vp_engine_options opt;
    vp_engine_options_default(&opt);
    opt.backend = VP_BACKEND_CUDA;
    const vp_backend *be = load_cuda_plugin(&handle, line, len);
    int rc = be ? be->create(&opt, &ctx, line, len) : VP_ERR_UNSUPPORTED;
    if (rc == VP_OK) {
        snprintf(line, len, "%s", be->describe ? be->describe(ctx) : "available");
        be->destroy(ctx);
    }
    if (handle)
        dlclose(handle);
    return rc;
}
