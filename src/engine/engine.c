/* vp_engine: loading, model information, error reporting. */
#include "engine/engine_impl.h"
#include "engine/onnx_load.h"
#include "engine/cpu/cpu.h"
#include "base/log.h"

#include <libgen.h>
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

static int engine_init(vp_engine *e, char *err, size_t errlen)
{
    if (e->opt.backend != VP_BACKEND_CPU) {
        snprintf(err, errlen, "%s: backend %d is not available in this build", e->g.source, (int)e->opt.backend);
        return VP_ERR_UNSUPPORTED;
    }
    for (int k = 0; k < e->g.n_nodes; k++) {
        const vp_node *n = &e->g.nodes[k];
        if (!n->def->is_view && !vp_cpu_kernel_find(n->op_type)) {
            snprintf(err, errlen, "%s: node '%s': operator '%s' has no CPU kernel", e->g.source, n->name,
                     n->op_type);
            return VP_ERR_UNSUPPORTED;
        }
    }
    int rc = vp_cpu_ctx_create(&e->cpu);
    if (rc)
        snprintf(err, errlen, "%s: cannot create the CPU backend (oneDNN)", e->g.source);
    return rc;
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
    int rc = vp_graph_load_memory(data, size, base_dir ? "<memory>" : "<memory>", base_dir, &e->g, err, errlen);
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
    vp_cpu_ctx_free(&e->cpu);
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
