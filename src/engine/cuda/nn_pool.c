/*
 * Pools on the GPU: MaxPool (with the optional Indices output),
 * AveragePool, GlobalAveragePool, GlobalMaxPool. Host side only: the
 * geometry comes from vp_nn_pool_geom() (as inference and the CPU kernels),
 * the kernels are the family's own (nn_pool.cu, nn_reduce.cu).
 *
 * Float32, float16 and float64 (MaxPool also int8/uint8). A node with
 * layout VP_LAYOUT_NHWC (rank 4 only) has X and Y stored [N, H, W, C]; its
 * attributes still describe the spatial axes H, W, so the geometry is
 * computed on the NCHW view of X's shape, and the channels-last kernels
 * run (float32 and float16; MaxPool without the Indices output).
 */
#include "engine/cuda/nn.h"
#include "engine/ops/nn.h"

#include <stdlib.h>
#include <string.h>

typedef struct pool_state {
    int is_max;
    int nhwc;         /* channels-last X and Y */
    int64_t ch;       /* nhwc: channels (a.planes is then N) */
    int include_pad;  /* AveragePool count_include_pad */
    int colmajor;     /* MaxPool storage_order 1 */
    vp_cuda_pool_args a;
} pool_state;

void vp_cuda_nn_state_free(void *state) { free(state); }

/* Element types each pool has kernels for. */
static int pool_type_ok(vp_dtype dt, int is_max, int nhwc)
{
    if (nhwc)
        return dt == VP_DT_FLOAT || dt == VP_DT_FLOAT16;
    return dt == VP_DT_FLOAT || dt == VP_DT_FLOAT16 || dt == VP_DT_DOUBLE ||
           (is_max && (dt == VP_DT_INT8 || dt == VP_DT_UINT8));
}

/* Channels-last node: X and Y of rank 4 [N, H, W, C]. */
static int pool_nhwc(vp_op_ctx *c)
{
    if (c->node->layout != VP_LAYOUT_NHWC)
        return 0;
    if (c->in[0]->shape.rank != 4 || c->out[0]->shape.rank != 4)
        return -1;
    return 1;
}

/* [N, H, W, C] -> [N, C, H, W] */
static vp_shape nchw_of(const vp_shape *s)
{
    vp_shape r = *s;
    r.d[1] = s->d[3];
    r.d[2] = s->d[1];
    r.d[3] = s->d[2];
    return r;
}

int vp_cuda_pool_prepare(vp_op_ctx *c)
{
    int is_max = strcmp(c->node->op_type, "MaxPool") == 0, rc;
    vp_dtype dt = c->in[0]->dtype;
    int nhwc = pool_nhwc(c);
    vp_nn_geom g;
    if (nhwc < 0)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s: channels-last layout needs rank 4",
                          c->node->op_type);
    if (!pool_type_ok(dt, is_max, nhwc))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s%s does not support %s",
                          c->node->op_type, nhwc ? " (channels-last)" : "", vp_dtype_name(dt));
    if (nhwc && is_max && c->n_out > 1 && c->out[1])
        return vp_op_fail(c, VP_ERR_UNSUPPORTED,
                          "CUDA MaxPool: no Indices output in channels-last layout");
    if (nhwc) {
        /* the geometry of the NCHW view (vp_nn_pool_geom reads X's shape) */
        vp_tensor x = *c->in[0];
        const vp_tensor *in[1] = {&x};
        vp_op_ctx v = *c;
        x.shape = nchw_of(&c->in[0]->shape);
        v.in = in;
        v.n_in = 1;
        rc = vp_nn_pool_geom(&v, &g);
        if (rc == VP_OK) {
            const vp_shape *y = &c->out[0]->shape;
            if (g.nsp != 2 || y->d[0] != g.n || y->d[1] != g.out[0] || y->d[2] != g.out[1] ||
                y->d[3] != g.cin)
                rc = vp_op_fail(c, VP_ERR_INTERNAL,
                                "channels-last output shape differs from the pool geometry");
        }
    } else {
        rc = vp_nn_pool_geom(c, &g);
    }
    if (rc != VP_OK)
        return rc;
    pool_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    st->is_max = is_max;
    st->nhwc = nhwc;
    st->ch = g.cin;
    st->include_pad = vp_attr_i(c->node, "count_include_pad", 0) != 0;
    st->colmajor = vp_attr_i(c->node, "storage_order", 0) == 1;
    /* Spatial axes padded to 3 with leading unit axes. */
    vp_cuda_pool_args *a = &st->a;
    int off = 3 - g.nsp;
    a->planes = nhwc ? g.n : g.n * g.cin;
    for (int i = 0; i < 3; i++) {
        a->in[i] = a->out[i] = a->k[i] = a->s[i] = a->d[i] = 1;
        a->pb[i] = a->pe[i] = 0;
    }
    for (int i = 0; i < g.nsp; i++) {
        a->in[off + i] = g.in[i];
        a->out[off + i] = g.out[i];
        a->k[off + i] = g.k[i];
        a->s[off + i] = g.stride[i];
        a->d[off + i] = g.dil[i];
        a->pb[off + i] = g.pad_b[i];
        a->pe[off + i] = g.pad_e[i];
    }
    c->state = st;
    return VP_OK;
}

int vp_cuda_pool_run(vp_op_ctx *c)
{
    const pool_state *st = c->state;
    vp_cuda_ctx *ctx = c->dev;
    vp_dtype dt = c->in[0]->dtype;
    int rc;
    if (!st)
        return vp_op_fail(c, VP_ERR_INTERNAL, "pool kernel run without prepare");
    if (st->nhwc) {
        rc = vp_cuda_pool_nhwc(ctx->stream, dt, &st->a, st->ch, c->in[0]->data,
                               c->out[0]->data, st->is_max, st->include_pad);
    } else if (st->is_max) {
        int64_t *idx = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
        rc = vp_cuda_maxpool(ctx->stream, dt, &st->a, c->in[0]->data, c->out[0]->data, idx,
                             st->colmajor);
    } else {
        rc = vp_cuda_avgpool(ctx->stream, dt, &st->a, c->in[0]->data, c->out[0]->data,
                             st->include_pad);
    }
    if (rc != VP_OK)
        return rc;
    return c->node->n_post ? vp_cuda_apply_postops(c) : VP_OK;
}

int vp_cuda_global_pool_prepare(vp_op_ctx *c)
{
    vp_dtype dt = c->in[0]->dtype;
    int nhwc = pool_nhwc(c);
    if (nhwc < 0)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s: channels-last layout needs rank 4",
                          c->node->op_type);
    if (!pool_type_ok(dt, 0, nhwc))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s%s does not support %s",
                          c->node->op_type, nhwc ? " (channels-last)" : "", vp_dtype_name(dt));
    if (nhwc && vp_tensor_numel(c->out[0]) != c->in[0]->shape.d[0] * c->in[0]->shape.d[3])
        return vp_op_fail(c, VP_ERR_INTERNAL, "channels-last output is not [N, 1, 1, C]");
    return VP_OK;
}

int vp_cuda_global_pool_run(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_cuda_ctx *ctx = c->dev;
    int is_max = strcmp(c->node->op_type, "GlobalMaxPool") == 0, rc;
    if (pool_nhwc(c) > 0) {
        /* X [N, H, W, C] -> Y [N, 1, 1, C] */
        rc = vp_cuda_global_pool_nhwc(ctx->stream, x->dtype, x->shape.d[0],
                                      x->shape.d[1] * x->shape.d[2], x->shape.d[3], x->data,
                                      c->out[0]->data, is_max);
        if (rc != VP_OK)
            return rc;
        return c->node->n_post ? vp_cuda_apply_postops(c) : VP_OK;
    }
    int64_t planes = x->shape.d[0] * x->shape.d[1], sz = 1;
    for (int i = 2; i < x->shape.rank; i++)
        sz *= x->shape.d[i];
    rc = vp_cuda_global_pool(ctx->stream, x->dtype, planes, sz, x->data, c->out[0]->data,
                             is_max);
    if (rc != VP_OK)
        return rc;
    return c->node->n_post ? vp_cuda_apply_postops(c) : VP_OK;
}
