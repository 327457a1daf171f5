/*
 * Normalisations on the GPU: BatchNormalization (inference and
 * training_mode), LayerNormalization, InstanceNormalization,
 * GroupNormalization, LRN. Host side only; the kernels are in
 * nn_reduce.cu. Semantics follow the CPU kernels (cpu/nn_norm.c), which
 * are the reference; X and every parameter tensor must share one type,
 * float32, float16 or float64 (the CPU also reads parameters of another
 * float type; the CUDA kernels do not). Float16 is computed in double and
 * rounded once.
 *
 * Layer-, Instance- and GroupNormalization are one kernel: normalise
 * contiguous rows, with a map from (row, element) to the scale and bias
 * entry (vp_cuda_pmap) built here.
 */
#include "engine/cuda/nn.h"

#include <stdlib.h>
#include <string.h>

/* X is float, float16 or double and inputs first..last (where present)
 * have its type. */
static int check_types(vp_op_ctx *c, int first, int last)
{
    vp_dtype dt = c->in[0]->dtype;
    if (dt != VP_DT_FLOAT && dt != VP_DT_FLOAT16 && dt != VP_DT_DOUBLE)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED,
                          "CUDA %s supports float32, float16 and float64, X is %s",
                          c->node->op_type, vp_dtype_name(dt));
    for (int i = first; i <= last && i < c->n_in; i++)
        if (c->in[i] && c->in[i]->dtype != dt)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s: input %d is %s but X is %s",
                              c->node->op_type, i, vp_dtype_name(c->in[i]->dtype),
                              vp_dtype_name(dt));
    return VP_OK;
}

/* Product of the axes after the first two (1 for rank 2). */
static int64_t spatial(const vp_tensor *x)
{
    int64_t sp = 1;
    for (int i = 2; i < x->shape.rank; i++)
        sp *= x->shape.d[i];
    return sp;
}

/* BatchNormalization ----------------------------------------------------- */

int vp_cuda_batchnorm_prepare(vp_op_ctx *c)
{
    int rc;
    if ((rc = check_types(c, 1, 4)) != VP_OK)
        return rc;
    for (int i = 1; i < c->n_out && i < 3; i++)
        if (c->out[i] && c->out[i]->dtype != c->in[0]->dtype)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA BatchNormalization: output %d is %s",
                              i, vp_dtype_name(c->out[i]->dtype));
    /* Per-channel coefficients (a, b) in double. */
    c->scratch_bytes = (size_t)c->in[0]->shape.d[1] * 2 * sizeof(double);
    return VP_OK;
}

int vp_cuda_batchnorm_run(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_cuda_ctx *ctx = c->dev;
    vp_cuda_bn_args a = {
        .n = x->shape.d[0],
        .ch = x->shape.d[1],
        .sp = spatial(x),
        .eps = vp_attr_f(c->node, "epsilon", 1e-5f),
        .momentum = vp_attr_f(c->node, "momentum", 0.9f),
    };
    int training = c->opset >= 14 && vp_attr_i(c->node, "training_mode", 0) != 0;
    void *rm = training && c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    void *rv = training && c->n_out > 2 && c->out[2] ? c->out[2]->data : NULL;
    int rc = vp_cuda_batchnorm(ctx->stream, x->dtype, &a, x->data, c->out[0]->data,
                               c->in[1]->data, c->in[2]->data, c->in[3]->data, c->in[4]->data,
                               c->scratch, training, rm, rv);
    if (rc != VP_OK)
        return rc;
    return c->node->n_post ? vp_cuda_apply_postops(c) : VP_OK;
}

/* Row normalisations ----------------------------------------------------- */

typedef struct rownorm_state {
    vp_cuda_rownorm_args a;
} rownorm_state;

/* Index of element j of row r as (r % row_mod) * row_mul + (j / j_div) * j_mul. */
static void pmap_row(vp_cuda_pmap *m, int64_t row_mod, int64_t row_mul, int64_t j_div,
                     int64_t j_mul)
{
    memset(m, 0, sizeof *m);
    m->mode = VP_CUDA_PMAP_ROW;
    m->row_mod = row_mod > 0 ? row_mod : 1;
    m->row_mul = row_mul;
    m->j_div = j_div > 0 ? j_div : 1;
    m->j_mul = j_mul;
}

/* LayerNormalization's Scale / B, broadcast (numpy, right-aligned) to the
 * normalised axes dims[0..nd). */
static void pmap_bcast(vp_cuda_pmap *m, const vp_tensor *t, const int64_t *dims, int nd)
{
    int64_t inner = 1;
    for (int i = 0; i < nd; i++)
        inner *= dims[i];
    if (vp_tensor_numel(t) == inner) { /* full: element j is entry j */
        pmap_row(m, 1, 0, 1, 1);
        return;
    }
    memset(m, 0, sizeof *m);
    m->mode = VP_CUDA_PMAP_BCAST;
    m->nd = nd;
    int64_t after = 1, tstride = 1;
    for (int i = nd - 1; i >= 0; i--) {
        int ti = i - (nd - t->shape.rank);
        m->dims[i] = dims[i] > 0 ? dims[i] : 1;
        m->inner[i] = after;
        m->str[i] = ti >= 0 && t->shape.d[ti] != 1 ? tstride : 0;
        if (ti >= 0)
            tstride *= t->shape.d[ti];
        after *= m->dims[i];
    }
}

int vp_cuda_rownorm_prepare(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    const vp_node *nd = c->node;
    int rc;
    if ((rc = check_types(c, 1, 2)) != VP_OK)
        return rc;
    /* Mean / InvStdDev outputs (LayerNormalization): float or float16 */
    for (int i = 1; i < c->n_out && i < 3; i++)
        if (c->out[i] && c->out[i]->dtype != VP_DT_FLOAT && c->out[i]->dtype != VP_DT_FLOAT16)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s: output %d is %s",
                              nd->op_type, i, vp_dtype_name(c->out[i]->dtype));
    if (c->n_out > 2 && c->out[1] && c->out[2] && c->out[1]->dtype != c->out[2]->dtype)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s: outputs 1 and 2 differ in type",
                          nd->op_type);
    rownorm_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    vp_cuda_rownorm_args *a = &st->a;
    const vp_tensor *bias = c->n_in > 2 ? c->in[2] : NULL;
    a->eps = vp_attr_f(nd, "epsilon", 1e-5f);
    if (!strcmp(nd->op_type, "LayerNormalization")) {
        int r = x->shape.rank, axis = vp_norm_axis(vp_attr_i(nd, "axis", -1), r);
        a->rows = 1;
        a->len = 1;
        for (int i = 0; i < axis; i++)
            a->rows *= x->shape.d[i];
        for (int i = axis; i < r; i++)
            a->len *= x->shape.d[i];
        pmap_bcast(&a->scale, c->in[1], x->shape.d + axis, r - axis);
        if (bias)
            pmap_bcast(&a->bias, bias, x->shape.d + axis, r - axis);
    } else if (!strcmp(nd->op_type, "InstanceNormalization")) {
        int64_t ch = x->shape.d[1];
        a->rows = x->shape.d[0] * ch;
        a->len = spatial(x);
        pmap_row(&a->scale, ch, 1, 1, 0);
        pmap_row(&a->bias, ch, 1, 1, 0);
    } else { /* GroupNormalization */
        int64_t ch = x->shape.d[1], ng = vp_attr_i(nd, "num_groups", 1), cpg = ch / ng;
        int64_t sp = spatial(x);
        a->rows = x->shape.d[0] * ng;
        a->len = cpg * sp;
        /* Opset 18: one scale per group; opset 21: one per channel. */
        if (c->opset >= 21) {
            pmap_row(&a->scale, ng, cpg, sp, 1);
            pmap_row(&a->bias, ng, cpg, sp, 1);
        } else {
            pmap_row(&a->scale, ng, 1, 1, 0);
            pmap_row(&a->bias, ng, 1, 1, 0);
        }
    }
    if (!bias)
        a->bias.mode = VP_CUDA_PMAP_NONE;
    c->state = st;
    return VP_OK;
}

int vp_cuda_rownorm_run(vp_op_ctx *c)
{
    const rownorm_state *st = c->state;
    vp_cuda_ctx *ctx = c->dev;
    if (!st)
        return vp_op_fail(c, VP_ERR_INTERNAL, "normalisation kernel run without prepare");
    const vp_tensor *bias = c->n_in > 2 ? c->in[2] : NULL;
    const vp_tensor *mt = c->n_out > 1 ? c->out[1] : NULL, *it = c->n_out > 2 ? c->out[2] : NULL;
    vp_dtype stat_dt = mt ? mt->dtype : it ? it->dtype : VP_DT_FLOAT;
    int rc = vp_cuda_rownorm(ctx->stream, c->in[0]->dtype, &st->a, c->in[0]->data,
                             c->in[1]->data, bias ? bias->data : NULL, c->out[0]->data,
                             mt ? mt->data : NULL, it ? it->data : NULL, stat_dt);
    if (rc != VP_OK)
        return rc;
    return c->node->n_post ? vp_cuda_apply_postops(c) : VP_OK;
}

/* LRN -------------------------------------------------------------------- */

int vp_cuda_lrn_prepare(vp_op_ctx *c) { return check_types(c, 1, 0); }

int vp_cuda_lrn_run(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_cuda_ctx *ctx = c->dev;
    vp_cuda_lrn_args a = {
        .n = x->shape.d[0],
        .ch = x->shape.d[1],
        .sp = spatial(x),
        .size = vp_attr_i(c->node, "size", 1),
        .alpha = vp_attr_f(c->node, "alpha", 1e-4f),
        .beta = vp_attr_f(c->node, "beta", 0.75f),
        .bias = vp_attr_f(c->node, "bias", 1.0f),
    };
    int rc = vp_cuda_lrn(ctx->stream, x->dtype, &a, x->data, c->out[0]->data);
    if (rc != VP_OK)
        return rc;
    return c->node->n_post ? vp_cuda_apply_postops(c) : VP_OK;
}
