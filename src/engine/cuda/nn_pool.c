/*
 * Pools on the GPU: MaxPool (with the optional Indices output),
 * AveragePool, GlobalAveragePool, GlobalMaxPool. Host side only: the
 * geometry comes from vp_nn_pool_geom() (as inference and the CPU kernels),
 * the kernels are the family's own (nn_pool.cu, nn_reduce.cu).
 */
#include "engine/cuda/nn.h"
#include "engine/ops/nn.h"

#include <stdlib.h>
#include <string.h>

typedef struct pool_state {
    int is_max;
    int include_pad;  /* AveragePool count_include_pad */
    int colmajor;     /* MaxPool storage_order 1 */
    vp_cuda_pool_args a;
} pool_state;

void vp_cuda_nn_state_free(void *state) { free(state); }

/* Element types each pool has kernels for. */
static int pool_type_ok(vp_dtype dt, int is_max)
{
    return dt == VP_DT_FLOAT || dt == VP_DT_DOUBLE ||
           (is_max && (dt == VP_DT_INT8 || dt == VP_DT_UINT8));
}

int vp_cuda_pool_prepare(vp_op_ctx *c)
{
    int is_max = strcmp(c->node->op_type, "MaxPool") == 0, rc;
    vp_dtype dt = c->in[0]->dtype;
    vp_nn_geom g;
    if (!pool_type_ok(dt, is_max))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s does not support %s",
                          c->node->op_type, vp_dtype_name(dt));
    if ((rc = vp_nn_pool_geom(c, &g)) != VP_OK)
        return rc;
    pool_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    st->is_max = is_max;
    st->include_pad = vp_attr_i(c->node, "count_include_pad", 0) != 0;
    st->colmajor = vp_attr_i(c->node, "storage_order", 0) == 1;
    /* Spatial axes padded to 3 with leading unit axes. */
    vp_cuda_pool_args *a = &st->a;
    int off = 3 - g.nsp;
    a->planes = g.n * g.cin;
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
    if (st->is_max) {
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
    if (dt != VP_DT_FLOAT && dt != VP_DT_DOUBLE)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s does not support %s",
                          c->node->op_type, vp_dtype_name(dt));
    return VP_OK;
}

int vp_cuda_global_pool_run(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_cuda_ctx *ctx = c->dev;
    int64_t planes = x->shape.d[0] * x->shape.d[1], sz = 1;
    for (int i = 2; i < x->shape.rank; i++)
        sz *= x->shape.d[i];
    int rc = vp_cuda_global_pool(ctx->stream, x->dtype, planes, sz, x->data, c->out[0]->data,
                                 strcmp(c->node->op_type, "GlobalMaxPool") == 0);
    if (rc != VP_OK)
        return rc;
    return c->node->n_post ? vp_cuda_apply_postops(c) : VP_OK;
}
