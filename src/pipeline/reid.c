/*
 * Appearance features for the tracker: the secondary model on crops
 * (pipeline/reid.h).
 */
#include "pipeline/reid.h"

#include "base/log.h"
#include "engine/graph.h" /* vp_half_to_float */
#include "gpu/gpu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PLANS 3

struct vp_reid {
    vp_engine *eng;
    vp_plan *plan[N_PLANS];
    int plan_batch[N_PLANS];
    int dim;
    vp_pre_params pre;     /* crop size, normalisation, the input's dtype and layout */
    vp_dtype out_dtype;
    struct vp_gpu *gpu;    /* NULL: CPU backend */
    float *in_host;        /* CPU: [VP_REID_CHUNK, 3, H, W] */
    float *out_host;       /* CPU: [VP_REID_CHUNK, D] */
    void *out_stage;       /* CUDA: host copy of the output binding, [VP_REID_CHUNK, D] of out_dtype */
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) VP_PRINTF(4, 5);
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

int vp_reid_open(const char *path, int width, int height, vp_backend_kind backend, vp_precision precision,
                 int threads, struct vp_gpu *gpu, vp_reid **out, char *err, size_t errlen)
{
    *out = NULL;
    if (backend == VP_BACKEND_CUDA && !gpu)
        return fail(err, errlen, VP_ERR_INVALID, "tracker.reid.model %s: the CUDA backend needs the device", path);
    vp_reid *r = calloc(1, sizeof *r);
    if (!r)
        return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
    r->gpu = backend == VP_BACKEND_CUDA ? gpu : NULL;
    vp_engine_options eo;
    vp_engine_options_default(&eo);
    eo.backend = backend;
    eo.precision = precision;
    eo.num_threads = threads;
    eo.native_input = backend == VP_BACKEND_CUDA;
    char why[1024];
    int rc = vp_engine_load(path, &eo, &r->eng, why, sizeof why);
    if (rc) {
        fail(err, errlen, rc, "tracker.reid.model: %s", why);
        goto out;
    }
    const char *iname, *oname;
    vp_dtype idt;
    vp_shape is, os;
    if (vp_engine_num_inputs(r->eng) != 1 || vp_engine_num_outputs(r->eng) != 1) {
        rc = fail(err, errlen, VP_ERR_UNSUPPORTED, "tracker.reid.model %s: %d inputs and %d outputs, expected 1 and 1",
                  path, vp_engine_num_inputs(r->eng), vp_engine_num_outputs(r->eng));
        goto out;
    }
    vp_engine_input_info(r->eng, 0, &iname, &idt, &is);
    if (is.rank != 4 || (is.d[1] != 3 && is.d[1] != -1)) {
        rc = fail(err, errlen, VP_ERR_UNSUPPORTED, "tracker.reid.model %s: input '%s' is not an image batch [N,3,H,W]",
                  path, iname);
        goto out;
    }
    int w = width ? width : is.d[3] > 0 ? (int)is.d[3] : 0, h = height ? height : is.d[2] > 0 ? (int)is.d[2] : 0;
    if (!w || !h || (is.d[3] > 0 && is.d[3] != w) || (is.d[2] > 0 && is.d[2] != h)) {
        rc = fail(err, errlen, VP_ERR_INVALID,
                  "tracker.reid.model %s: input is %lldx%lld; tracker.reid.input asks for %dx%d (give the size when the "
                  "model's is dynamic)", path, (long long)is.d[3], (long long)is.d[2], width, height);
        goto out;
    }
    vp_pre_params_default(&r->pre);
    r->pre.dst_width = w, r->pre.dst_height = h, r->pre.mode = VP_PRE_STRETCH;
    static const int batches[N_PLANS] = {1, 8, VP_REID_CHUNK};
    for (int k = 0; k < N_PLANS; k++) {
        vp_shape s = {4, {batches[k], 3, h, w}};
        r->plan_batch[k] = batches[k];
        if ((rc = vp_engine_plan(r->eng, &s, &r->plan[k]))) {
            fail(err, errlen, rc, "tracker.reid.model %s: plan for %d crops of %dx%d: %s", path, batches[k], w, h,
                 vp_engine_last_error(r->eng));
            goto out;
        }
        vp_plan_output_shape(r->plan[k], 0, &os);
        vp_shape decl;
        vp_engine_output_info(r->eng, 0, &oname, &r->out_dtype, &decl);
        if (os.rank != 2 || os.d[0] != batches[k] || os.d[1] < 1 || os.d[1] > 4096 ||
            (r->out_dtype != VP_DT_FLOAT && r->out_dtype != VP_DT_FLOAT16) || (k && os.d[1] != r->dim)) {
            char shp[96] = "";
            for (int i = 0, o = 0; i < os.rank && o < (int)sizeof shp - 24; i++)
                o += snprintf(shp + o, sizeof shp - (size_t)o, "%s%lld", i ? "," : "", (long long)os.d[i]);
            rc = fail(err, errlen, VP_ERR_UNSUPPORTED,
                      "tracker.reid.model %s: output '%s' is [%s] for %d crops, expected float embeddings [%d,D] "
                      "with D in 1..4096", path, oname, shp, batches[k], batches[k]);
            goto out;
        }
        r->dim = (int)os.d[1];
    }
    const size_t oe = (size_t)VP_REID_CHUNK * (size_t)r->dim;
    if (!r->gpu) {
        r->in_host = malloc((size_t)VP_REID_CHUNK * vp_pre_slot_elems(&r->pre) * sizeof(float));
        r->out_host = malloc(oe * sizeof(float));
        if (!r->in_host || !r->out_host) {
            rc = fail(err, errlen, VP_ERR_NOMEM, "tracker.reid: out of memory");
            goto out;
        }
    } else {
        vp_tensor t;
        if ((rc = vp_plan_binding(r->plan[N_PLANS - 1], 0, 0, &t))) {
            fail(err, errlen, rc, "tracker.reid.model %s: input binding: %s", path, vp_engine_last_error(r->eng));
            goto out;
        }
        if ((t.dtype != VP_DT_FLOAT && t.dtype != VP_DT_FLOAT16) || t.shape.rank != 4 ||
            (t.shape.d[1] != 3 && t.shape.d[3] != 3)) {
            rc = fail(err, errlen, VP_ERR_UNSUPPORTED, "tracker.reid.model %s: input binding is not a 3-channel float image batch", path);
            goto out;
        }
        r->pre.dtype = t.dtype == VP_DT_FLOAT16 ? VP_PRE_FP16 : VP_PRE_FP32;
        r->pre.layout = t.shape.d[1] == 3 ? VP_PRE_NCHW : VP_PRE_NHWC;
        if ((rc = vp_plan_binding(r->plan[N_PLANS - 1], 1, 0, &t))) {
            fail(err, errlen, rc, "tracker.reid.model %s: output binding: %s", path, vp_engine_last_error(r->eng));
            goto out;
        }
        r->out_dtype = t.dtype;
        if (!(r->out_stage = malloc(oe * sizeof(float)))) {
            rc = fail(err, errlen, VP_ERR_NOMEM, "tracker.reid: out of memory");
            goto out;
        }
    }
    *out = r;
    return VP_OK;
out:
    vp_reid_free(&r);
    return rc;
}

int vp_reid_dim(const vp_reid *r) { return r->dim; }

static int run_chunk(vp_reid *r, const vp_pre_src *srcs, int nsrc, const vp_crop *crops, int n, float *out,
                     struct CUstream_st *stream)
{
    int k = 0;
    while (r->plan_batch[k] < n)
        k++;
    vp_plan *plan = r->plan[k];
    const size_t d = (size_t)r->dim;
    int rc;
    if (!r->gpu) {
        if ((rc = vp_crop_cpu(srcs, nsrc, crops, n, &r->pre, r->in_host, 0)))
            return rc;
        vp_tensor in = {VP_DT_FLOAT, {4, {r->plan_batch[k], 3, r->pre.dst_height, r->pre.dst_width}}, r->in_host};
        vp_tensor o = {VP_DT_FLOAT, {2, {r->plan_batch[k], r->dim}}, r->out_host};
        if ((rc = vp_plan_run(plan, &in, &o))) {
            VP_LOGE("tracker.reid: engine, %d crops: %s", n, vp_engine_last_error(r->eng));
            return rc;
        }
        memcpy(out, r->out_host, (size_t)n * d * sizeof(float));
        return VP_OK;
    }
    const vp_gpu_api *api = r->gpu->api;
    vp_tensor in, o;
    if ((rc = vp_plan_binding(plan, 0, 0, &in)) || (rc = vp_plan_binding(plan, 1, 0, &o)))
        return rc;
    if ((rc = api->crop(srcs, nsrc, crops, n, &r->pre, in.data, 0, stream)) || (rc = api->stream_sync(stream)))
        return rc;
    if ((rc = vp_plan_run_bound(plan))) {
        VP_LOGE("tracker.reid: engine, %d crops: %s", n, vp_engine_last_error(r->eng));
        return rc;
    }
    const int half = r->out_dtype == VP_DT_FLOAT16;
    const size_t bytes = (size_t)n * d * (half ? 2 : 4);
    if ((rc = vp_gpu_copy(r->gpu, half ? r->out_stage : (void *)out, o.data, bytes, VP_COPY_D2H, stream,
                          "appearance embeddings")) ||
        (rc = api->stream_sync(stream)))
        return rc;
    if (half)
        for (size_t i = 0; i < (size_t)n * d; i++)
            out[i] = vp_half_to_float(((const uint16_t *)r->out_stage)[i]);
    return VP_OK;
}

int vp_reid_embed(vp_reid *r, const vp_pre_src *srcs, int nsrc, const vp_crop *crops, int n, float *out,
                  struct CUstream_st *stream)
{
    for (int j = 0; j < n; j += VP_REID_CHUNK) {
        const int m = n - j < VP_REID_CHUNK ? n - j : VP_REID_CHUNK;
        int rc = run_chunk(r, srcs, nsrc, crops + j, m, out + (size_t)j * (size_t)r->dim, stream);
        if (rc)
            return rc;
    }
    return VP_OK;
}

void vp_reid_free(vp_reid **pr)
{
    if (!pr || !*pr)
        return;
    vp_reid *r = *pr;
    vp_engine_free(&r->eng); /* and its plans */
    free(r->in_host);
    free(r->out_host);
    free(r->out_stage);
    free(r);
    *pr = NULL;
}
