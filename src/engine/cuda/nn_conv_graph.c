/*
 * A channels-last FP16 convolution with everything after it fused, through
 * cuDNN's graph (backend) API: conv -> + bias -> post-ops (activations,
 * residual adds) in one kernel, where the legacy API fuses at most bias and
 * ReLU and leaves SiLU to a separate pass over Y.
 *
 * The operation graph: X, W -> conv (float accumulate) -> t0; t0 + B -> t1;
 * then per node->post[] entry a pointwise op (SWISH_FWD for SiLU, RELU_FWD
 * for ReLU and Clip, SIGMOID_FWD, ADD of a same-shape addend), the last one
 * writing Y. Intermediates are virtual float tensors (never in memory).
 * Engines come from cuDNN's heuristics (mode A); the first few that build
 * are timed on scratch buffers and the fastest is kept (its index is stored
 * in the plan cache under the convolution's key; -1 there when cuDNN has
 * no engine for it, so a second start does not ask again). Any failure here
 * just means the caller keeps the legacy path. Tensors may be channel
 * slices (vp_conv_graph_geom.xpix...): their strides say so.
 */
#include "engine/cuda/nn.h"
#include "base/log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define G_MAX_T 12    /* tensors with a unique id: x, w, b, addends, y */
#define G_MAX_OPS 10
#define G_TRY 2       /* engine configurations timed (each may be compiled at run time: slow) */

struct vp_conv_graph {
    cudnnBackendDescriptor_t plan;
    int n;                   /* tensors bound per run */
    int64_t uid[G_MAX_T];
    int in[G_MAX_T];         /* node input index, or -1 for Y */
    int64_t ws;
    float ms;                /* measured when built */
    cudnnBackendDescriptor_t pack;
    void *pack_ptr[G_MAX_T];
    void *pack_ws;
};

typedef struct gb {
    cudnnBackendDescriptor_t d[64];
    int n;
} gb;

static cudnnBackendDescriptor_t gb_new(gb *b, cudnnBackendDescriptorType_t t)
{
    cudnnBackendDescriptor_t d = NULL;
    if (b->n >= 64 || cudnnBackendCreateDescriptor(t, &d) != CUDNN_STATUS_SUCCESS)
        return NULL;
    b->d[b->n++] = d;
    return d;
}

static void gb_free(gb *b)
{
    for (int i = 0; i < b->n; i++)
        cudnnBackendDestroyDescriptor(b->d[i]);
    b->n = 0;
}

#define G_SET(d, name, type, n, v)                                                          \
    do {                                                                                    \
        cudnnStatus_t s_ = cudnnBackendSetAttribute((d), (name), (type), (n), (v));         \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                                   \
            VP_LOGD("cuDNN graph: %s: %s", #name, cudnnGetErrorString(s_));                 \
            return NULL;                                                                    \
        }                                                                                   \
    } while (0)

/* A tensor of logical dims [N,C,H,W] stored channels-last, pix elements
 * between pixels (0: dense, C). */
static cudnnBackendDescriptor_t g_tensor(gb *b, int64_t uid, cudnnDataType_t dt, const int64_t *dim, int virt,
                                         int64_t pix)
{
    cudnnBackendDescriptor_t d = gb_new(b, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    if (!d)
        return NULL;
    int64_t ld = pix ? pix : dim[1];
    int64_t str[4] = {ld * dim[2] * dim[3], 1, dim[3] * ld, ld}, align = 16;
    bool v = virt != 0;
    G_SET(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt);
    G_SET(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dim);
    G_SET(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, str);
    G_SET(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    G_SET(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
    G_SET(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v);
    return cudnnBackendFinalize(d) == CUDNN_STATUS_SUCCESS ? d : NULL;
}

/* y = mode(x [, b]) */
static cudnnBackendDescriptor_t g_pointwise(gb *b, cudnnPointwiseMode_t mode, float lo, float hi,
                                            cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t bb,
                                            cudnnBackendDescriptor_t y)
{
    cudnnBackendDescriptor_t pw = gb_new(b, CUDNN_BACKEND_POINTWISE_DESCRIPTOR), op;
    cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    if (!pw)
        return NULL;
    G_SET(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    G_SET(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    if (mode == CUDNN_POINTWISE_RELU_FWD) {
        G_SET(pw, CUDNN_ATTR_POINTWISE_RELU_LOWER_CLIP, CUDNN_TYPE_FLOAT, 1, &lo);
        G_SET(pw, CUDNN_ATTR_POINTWISE_RELU_UPPER_CLIP, CUDNN_TYPE_FLOAT, 1, &hi);
    }
    if (cudnnBackendFinalize(pw) != CUDNN_STATUS_SUCCESS || !(op = gb_new(b, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR)))
        return NULL;
    G_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw);
    G_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    if (bb)
        G_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &bb);
    G_SET(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    return cudnnBackendFinalize(op) == CUDNN_STATUS_SUCCESS ? op : NULL;
}

static cudnnBackendDescriptor_t g_conv(gb *b, const vp_conv_graph_geom *g, cudnnBackendDescriptor_t x,
                                       cudnnBackendDescriptor_t w, cudnnBackendDescriptor_t y)
{
    cudnnBackendDescriptor_t cd = gb_new(b, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR), op;
    cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    int64_t nsp = 2;
    float one = 1.f, zero = 0.f;
    if (!cd)
        return NULL;
    G_SET(cd, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp);
    G_SET(cd, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
    G_SET(cd, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &nsp);
    G_SET(cd, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, g->dil);
    G_SET(cd, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, g->stride);
    G_SET(cd, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, g->pad);
    G_SET(cd, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, g->pad);
    if (cudnnBackendFinalize(cd) != CUDNN_STATUS_SUCCESS ||
        !(op = gb_new(b, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR)))
        return NULL;
    G_SET(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    G_SET(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &w);
    G_SET(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    G_SET(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cd);
    G_SET(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &one);
    G_SET(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &zero);
    return cudnnBackendFinalize(op) == CUDNN_STATUS_SUCCESS ? op : NULL;
}

/* The operation graph of the node; fills the bound tensors of cg. */
static cudnnBackendDescriptor_t build_graph(gb *b, vp_cuda_ctx *ctx, const vp_node *n, const vp_conv_graph_geom *g,
                                            vp_conv_graph *cg)
{
    cudnnBackendDescriptor_t ops[G_MAX_OPS], cur, x, w, y = NULL;
    int nops = 0;
    int64_t wdim[4] = {g->y[1], g->x[1] / g->group, g->k[0], g->k[1]}, bdim[4] = {1, g->y[1], 1, 1};
    int64_t uid = 1;
    cg->n = 0;
    if (!(x = g_tensor(b, uid, CUDNN_DATA_HALF, g->x, 0, g->xpix)))
        return NULL;
    cg->uid[cg->n] = uid++;
    cg->in[cg->n++] = 0;
    if (!(w = g_tensor(b, uid, CUDNN_DATA_HALF, wdim, 0, 0)))
        return NULL;
    cg->uid[cg->n] = uid++;
    cg->in[cg->n++] = 1;
    int steps = (g->bias_in >= 0) + n->n_post, done = 0;
    /* the tensor each step writes: virtual float, the last one Y */
#define NEXT_OUT()                                                                                   \
    (++done == steps ? (y = g_tensor(b, 100, CUDNN_DATA_HALF, g->y, 0, g->ypix))                      \
                     : g_tensor(b, 200 + done, CUDNN_DATA_FLOAT, g->y, 1, 0))
    cudnnBackendDescriptor_t t = steps ? g_tensor(b, 200, CUDNN_DATA_FLOAT, g->y, 1, 0)
                                       : (y = g_tensor(b, 100, CUDNN_DATA_HALF, g->y, 0, g->ypix));
    if (!t || !(ops[nops++] = g_conv(b, g, x, w, t)))
        return NULL;
    cur = t;
    if (g->bias_in >= 0) {
        cudnnBackendDescriptor_t bt = g_tensor(b, uid, CUDNN_DATA_HALF, bdim, 0, 0), o = NEXT_OUT();
        if (!bt || !o || !(ops[nops++] = g_pointwise(b, CUDNN_POINTWISE_ADD, 0, 0, cur, bt, o)))
            return NULL;
        cg->uid[cg->n] = uid++;
        cg->in[cg->n++] = g->bias_in;
        cur = o;
    }
    for (int k = 0; k < n->n_post; k++) {
        const vp_postop *p = &n->post[k];
        cudnnBackendDescriptor_t bt = NULL, o;
        cudnnPointwiseMode_t mode;
        float lo = 0.f, hi = 3.4e38f;
        if (nops >= G_MAX_OPS || cg->n >= G_MAX_T - 1)
            return NULL;
        if (p->kind == VP_POST_ADD) {
            if (!(bt = g_tensor(b, uid, CUDNN_DATA_HALF, g->y, 0, g->in_pix ? g->in_pix[p->input] : 0)))
                return NULL;
            cg->uid[cg->n] = uid++;
            cg->in[cg->n++] = p->input;
            mode = CUDNN_POINTWISE_ADD;
        } else if (p->act == VP_ACT_SILU) {
            mode = CUDNN_POINTWISE_SWISH_FWD;
        } else if (p->act == VP_ACT_RELU) {
            mode = CUDNN_POINTWISE_RELU_FWD;
        } else if (p->act == VP_ACT_CLIP) {
            mode = CUDNN_POINTWISE_RELU_FWD;
            lo = p->alpha;
            hi = p->beta;
        } else if (p->act == VP_ACT_SIGMOID) {
            mode = CUDNN_POINTWISE_SIGMOID_FWD;
        } else {
            return NULL; /* hard-sigmoid / hard-swish: no cuDNN pointwise mode */
        }
        if (!(o = NEXT_OUT()) || !(ops[nops++] = g_pointwise(b, mode, lo, hi, cur, bt, o)))
            return NULL;
        cur = o;
    }
#undef NEXT_OUT
    if (!y)
        return NULL;
    cg->uid[cg->n] = 100;
    cg->in[cg->n++] = -1;
    cudnnBackendDescriptor_t og = gb_new(b, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    if (!og)
        return NULL;
    G_SET(og, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, nops, ops);
    G_SET(og, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &ctx->cudnn);
    return cudnnBackendFinalize(og) == CUDNN_STATUS_SUCCESS ? og : NULL;
}

static int make_pack(vp_conv_graph *cg, void *const *ptr, void *ws)
{
    if (cg->pack) {
        if (!memcmp(cg->pack_ptr, ptr, sizeof(void *) * (size_t)cg->n) && cg->pack_ws == ws)
            return VP_OK;
        cudnnBackendDestroyDescriptor(cg->pack);
        cg->pack = NULL;
    }
    VP_CUDNN(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &cg->pack));
    VP_CUDNN(cudnnBackendSetAttribute(cg->pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, cg->n, cg->uid));
    VP_CUDNN(cudnnBackendSetAttribute(cg->pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, cg->n,
                                      (void *)ptr));
    VP_CUDNN(cudnnBackendSetAttribute(cg->pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws));
    VP_CUDNN(cudnnBackendFinalize(cg->pack));
    memcpy(cg->pack_ptr, ptr, sizeof(void *) * (size_t)cg->n);
    cg->pack_ws = ws;
    return VP_OK;
}

void vp_conv_graph_free(vp_conv_graph *cg)
{
    if (!cg)
        return;
    if (cg->pack)
        cudnnBackendDestroyDescriptor(cg->pack);
    if (cg->plan)
        cudnnBackendDestroyDescriptor(cg->plan);
    free(cg);
}

/* One execution of a plan with its variant pack, for vp_cuda_time_calls. */
typedef struct plan_call {
    cudnnHandle_t h;
    cudnnBackendDescriptor_t plan, pack;
} plan_call;

static int plan_enqueue(void *arg)
{
    const plan_call *q = arg;
    return cudnnBackendExecute(q->h, q->plan, q->pack) != CUDNN_STATUS_SUCCESS;
}

/* Time one plan (engine config i of the graph with plan-cache key key) on
 * the scratch buffers: mean of a few runs, ms; <0 if it fails. */
static float time_plan(vp_cuda_ctx *ctx, vp_conv_graph *cg, cudnnBackendDescriptor_t plan, void *const *ptr,
                       const char *key, int i)
{
    float ms = -1.f;
    cudnnBackendDescriptor_t saved = cg->plan;
    cg->plan = plan;
    if (make_pack(cg, ptr, ctx->workspace) == VP_OK) {
        plan_call q = {ctx->cudnn, plan, cg->pack};
        char k[560];
        int n = snprintf(k, sizeof k, "%d,%s", i, key);
        ms = vp_cuda_time_cached(ctx, "graph", n > 0 && (size_t)n < sizeof k ? k : NULL, plan_enqueue, &q, 1, 3);
    }
    (void)cudaGetLastError();
    cg->plan = saved;
    return ms;
}

int vp_conv_graph_build(vp_op_ctx *c, const vp_conv_graph_geom *g, const char *key, vp_conv_graph **out)
{
    vp_cuda_ctx *ctx = c->dev;
    const vp_node *n = c->node;
    gb b = {{0}, 0};
    vp_conv_graph *cg = calloc(1, sizeof *cg);
    cudnnBackendDescriptor_t cfg[16] = {0}, best = NULL;
    int64_t ncfg = 0;
    void *mem = NULL;
    *out = NULL;
    if (!cg)
        return VP_ERR_NOMEM;
    int rc = VP_ERR_UNSUPPORTED, refused = 1; /* cuDNN has no engine: remembered in the plan cache */
    long cached[2];
    if (vp_cuda_cache_get(ctx, key, cached, 2) && cached[0] == -1) {
        VP_LOGD("%s %s: no cuDNN graph engine (plan cache)", n->op_type, n->name);
        free(cg);
        return VP_ERR_UNSUPPORTED;
    }
    cudnnBackendDescriptor_t og = build_graph(&b, ctx, n, g, cg), heur = NULL;
    cudnnBackendHeurMode_t hm = CUDNN_HEUR_MODE_A;
    if (!og || !(heur = gb_new(&b, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR)) ||
        cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &og) ||
        cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &hm) ||
        cudnnBackendFinalize(heur))
        goto done;
    for (int i = 0; i < 16; i++)
        if (!(cfg[i] = gb_new(&b, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR)))
            goto done;
    if (cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 16, &ncfg, cfg) ||
        ncfg < 1)
        goto done;
    /* scratch tensors for timing: x, w, b and addends, y (sizes of the largest;
     * slices span their root's channels) */
    int64_t xl = g->xpix ? g->xpix : g->x[1], yl = g->y[1];
    if (g->ypix > yl)
        yl = g->ypix;
    for (int k = 0; k < n->n_post && g->in_pix; k++)
        if (n->post[k].kind == VP_POST_ADD && g->in_pix[n->post[k].input] > yl)
            yl = g->in_pix[n->post[k].input];
    size_t es = 2, xb = (size_t)(g->x[0] * xl * g->x[2] * g->x[3]) * es,
           yb = (size_t)(g->y[0] * yl * g->y[2] * g->y[3]) * es,
           wb = (size_t)(g->y[1] * (g->x[1] / g->group) * g->k[0] * g->k[1]) * es;
    size_t each = ((xb > yb ? xb : yb) > wb ? (xb > yb ? xb : yb) : wb) + 256;
    if (cudaMalloc(&mem, each * (size_t)cg->n) != cudaSuccess ||
        cudaMemsetAsync(mem, 0, each * (size_t)cg->n, ctx->stream) != cudaSuccess) {
        (void)cudaGetLastError();
        refused = 0; /* out of memory, not cuDNN's answer */
        goto done;
    }
    void *ptr[G_MAX_T];
    for (int i = 0; i < cg->n; i++)
        ptr[i] = (char *)mem + each * (size_t)i;
    int want = vp_cuda_cache_get(ctx, key, cached, 2) && cached[0] >= 0 && cached[0] < ncfg ? (int)cached[0] : -1;
    float best_ms = 0;
    int best_i = -1, tried = 0;
    for (int i = 0; i < ncfg && tried < G_TRY; i++) {
        if (want >= 0 && i != want)
            continue;
        cudnnBackendDescriptor_t plan = NULL;
        int64_t ws = 0;
        if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan))
            continue;
        int ok = !cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &ctx->cudnn) &&
                 !cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                           CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg[i]) &&
                 !cudnnBackendFinalize(plan) &&
                 !cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                           NULL, &ws) &&
                 ws >= 0 && (size_t)ws <= ((size_t)64 << 20);
        if (ok && vp_cuda_workspace(ctx, (size_t)ws) != VP_OK) {
            ok = 0;
            refused = 0; /* out of memory, not cuDNN's answer */
            (void)cudaGetLastError();
        }
        float ms = ok ? time_plan(ctx, cg, plan, ptr, key, i) : -1.f;
        if (ok)
            tried++;
        if (ms >= 0 && (best_i < 0 || ms < best_ms)) {
            if (best)
                cudnnBackendDestroyDescriptor(best);
            best = plan;
            best_ms = ms;
            best_i = i;
            cg->ws = ws;
        } else {
            cudnnBackendDestroyDescriptor(plan);
        }
    }
    if (best_i < 0)
        goto done;
    if (want < 0) {
        long v[2] = {best_i, (long)cg->ws};
        vp_cuda_cache_put(ctx, key, v, 2);
    }
    cg->plan = best;
    cg->ms = best_ms;
    best = NULL;
    if (cg->pack) { /* bound to the scratch buffers: rebuilt on the first run */
        cudnnBackendDestroyDescriptor(cg->pack);
        cg->pack = NULL;
    }
    VP_LOGD("%s %s: cuDNN graph, engine config %d of %lld, %.3f ms measured, workspace %lld", n->op_type, n->name,
            best_i, (long long)ncfg, best_ms, (long long)cg->ws);
    *out = cg;
    cg = NULL;
    rc = VP_OK;
    refused = 0;
done:
    if (refused) {
        long v[2] = {-1, 0};
        vp_cuda_cache_put(ctx, key, v, 2);
    }
    if (mem) {
        cudaStreamSynchronize(ctx->stream);
        cudaFree(mem);
    }
    if (best)
        cudnnBackendDestroyDescriptor(best);
    gb_free(&b);
    vp_conv_graph_free(cg);
    return rc;
}

static void *bound(const vp_op_ctx *c, const vp_conv_graph *cg, int i, const void *x, const void *w)
{
    int in = cg->in[i];
    return in < 0 ? c->out[0]->data : in == 0 ? (void *)x : in == 1 ? (void *)w : c->in[in]->data;
}

float vp_conv_graph_ms(const vp_conv_graph *cg) { return cg->ms; }

int vp_conv_graph_run(vp_op_ctx *c, vp_conv_graph *cg, const void *x, const void *w)
{
    vp_cuda_ctx *ctx = c->dev;
    void *ptr[G_MAX_T];
    for (int i = 0; i < cg->n; i++)
        ptr[i] = bound(c, cg, i, x, w);
    int rc = make_pack(cg, ptr, ctx->workspace);
    if (rc)
        return rc;
    VP_CUDNN(cudnnBackendExecute(ctx->cudnn, cg->plan, cg->pack));
    return VP_OK;
}

int vp_conv_graph_aligned(const vp_op_ctx *c, const vp_conv_graph *cg, const void *x, const void *w)
{
    for (int i = 0; i < cg->n; i++) {
        const void *p = bound(c, cg, i, x, w);
        if ((uintptr_t)p % 16)
            return 0;
    }
    return 1;
}
