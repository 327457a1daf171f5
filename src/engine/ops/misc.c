/*
 * Op schemas (shape and type inference): misc family.
 *
 * Softmax, LogSoftmax, Hardmax; the Reduce* ops; ArgMax, ArgMin, TopK;
 * CumSum; Einsum; NonMaxSuppression; Resize and Upsample. Parameter parsing
 * that the CPU kernels repeat at run time lives in functions declared in
 * ops/misc.h (this file: softmax dims, reduce axes; misc_resize.c,
 * misc_einsum.c for the larger ones), so inference and kernels agree.
 */
#include "engine/ops/misc.h"

#include <stdlib.h>
#include <string.h>

static int is_float_dt(vp_dtype dt)
{
    return dt == VP_DT_FLOAT || dt == VP_DT_DOUBLE || dt == VP_DT_FLOAT16;
}

static int is_numeric_dt(vp_dtype dt)
{
    switch (dt) {
    case VP_DT_FLOAT: case VP_DT_DOUBLE: case VP_DT_FLOAT16:
    case VP_DT_INT8: case VP_DT_UINT8: case VP_DT_INT16: case VP_DT_UINT16:
    case VP_DT_INT32: case VP_DT_UINT32: case VP_DT_INT64: case VP_DT_UINT64:
        return 1;
    default:
        return 0;
    }
}

static int need_input(vp_op_ctx *c, int i)
{
    if (i >= c->n_in || !c->in[i])
        return vp_op_fail(c, VP_ERR_INVALID, "input %d is required", i);
    return VP_OK;
}

/* Softmax family --------------------------------------------------------- */

int vp_misc_softmax_dims(vp_op_ctx *c, int64_t *outer, int64_t *d, int64_t *inner)
{
    const vp_shape *s = &c->in[0]->shape;
    int legacy = c->opset < 13;
    int64_t a = vp_attr_i(c->node, "axis", legacy ? 1 : -1);
    if (s->rank < 1)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 0 must have rank >= 1");
    /* opset < 13 allows axis == rank (the 2-D view is then [N, 1]) */
    int ax = legacy && a == s->rank ? s->rank : vp_norm_axis(a, s->rank);
    if (ax < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute axis=%lld out of range for rank %d",
                          (long long)a, s->rank);
    int64_t o = 1, m = 1, in = 1;
    for (int i = 0; i < ax; i++)
        o *= s->d[i];
    if (legacy) {
        for (int i = ax; i < s->rank; i++)
            m *= s->d[i];
    } else {
        m = s->d[ax];
        for (int i = ax + 1; i < s->rank; i++)
            in *= s->d[i];
    }
    *outer = o;
    *d = m;
    *inner = in;
    return VP_OK;
}

static int infer_softmax(vp_op_ctx *c)
{
    int64_t o, d, in;
    const vp_tensor *x = c->in[0];
    if (!is_float_dt(x->dtype))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 0 has type %s; float16/float32/float64 expected",
                          vp_dtype_name(x->dtype));
    int rc = vp_misc_softmax_dims(c, &o, &d, &in);
    if (rc)
        return rc;
    vp_set_out(c, 0, x->dtype, &x->shape);
    return VP_OK;
}

/* Reductions ------------------------------------------------------------- */

int vp_misc_reduce_axes(vp_op_ctx *c, uint8_t red[VP_MAX_DIMS])
{
    const vp_node *n = c->node;
    int r = c->in[0]->shape.rank;
    int from_input = strcmp(n->op_type, "ReduceSum") == 0 ? c->opset >= 13 : c->opset >= 18;
    int64_t axes[VP_MAX_DIMS];
    int na = 0;
    memset(red, 0, VP_MAX_DIMS);
    if (from_input) {
        const vp_tensor *t = c->n_in > 1 ? c->in[1] : NULL;
        if (t && vp_tensor_numel(t) > 0) {
            if (!t->data)
                return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 1 (axes) must be constant");
            na = vp_read_ints(t, axes, VP_MAX_DIMS);
            if (na < 0)
                return vp_op_fail(c, VP_ERR_INVALID, "input 1 (axes) must be int64 with at most %d entries",
                                  VP_MAX_DIMS);
        }
    } else {
        const int64_t *a = vp_attr_ints(n, "axes", &na);
        if (na > VP_MAX_DIMS)
            return vp_op_fail(c, VP_ERR_INVALID, "attribute axes has %d entries, rank is %d", na, r);
        for (int i = 0; i < na; i++)
            axes[i] = a[i];
    }
    if (na == 0) {
        /* empty axes: reduce everything, unless noop_with_empty_axes */
        if (!vp_attr_i(n, "noop_with_empty_axes", 0))
            memset(red, 1, (size_t)(r > 0 ? r : 0));
        return VP_OK;
    }
    for (int i = 0; i < na; i++) {
        int ax = vp_norm_axis(axes[i], r);
        if (ax < 0)
            return vp_op_fail(c, VP_ERR_INVALID, "axes[%d]=%lld out of range for rank %d", i,
                              (long long)axes[i], r);
        if (red[ax])
            return vp_op_fail(c, VP_ERR_INVALID, "axis %d repeated in axes", ax);
        red[ax] = 1;
    }
    return VP_OK;
}

static int infer_reduce(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    uint8_t red[VP_MAX_DIMS];
    /* bool: ReduceMax / ReduceMin (opset 20) */
    int extremum = strcmp(c->node->op_type, "ReduceMax") == 0 || strcmp(c->node->op_type, "ReduceMin") == 0;
    if (!is_numeric_dt(x->dtype) && !(extremum && x->dtype == VP_DT_BOOL))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 0 has type %s; a numeric type expected",
                          vp_dtype_name(x->dtype));
    int rc = vp_misc_reduce_axes(c, red);
    if (rc)
        return rc;
    int keep = vp_attr_i(c->node, "keepdims", 1) != 0;
    vp_shape s = {.rank = 0};
    for (int i = 0; i < x->shape.rank; i++) {
        if (!red[i])
            s.d[s.rank++] = x->shape.d[i];
        else if (keep)
            s.d[s.rank++] = 1;
    }
    vp_set_out(c, 0, x->dtype, &s);
    return VP_OK;
}

/* ArgMax / ArgMin -------------------------------------------------------- */

static int infer_arg(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    if (!is_numeric_dt(x->dtype))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 0 has type %s; a numeric type expected",
                          vp_dtype_name(x->dtype));
    int64_t a = vp_attr_i(c->node, "axis", 0);
    int ax = vp_norm_axis(a, x->shape.rank);
    if (ax < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute axis=%lld out of range for rank %d", (long long)a,
                          x->shape.rank);
    if (x->shape.d[ax] == 0)
        return vp_op_fail(c, VP_ERR_SHAPE, "cannot take %s over an empty axis", c->node->op_type);
    int keep = vp_attr_i(c->node, "keepdims", 1) != 0;
    vp_shape s = {.rank = 0};
    for (int i = 0; i < x->shape.rank; i++) {
        if (i != ax)
            s.d[s.rank++] = x->shape.d[i];
        else if (keep)
            s.d[s.rank++] = 1;
    }
    vp_set_out(c, 0, VP_DT_INT64, &s);
    return VP_OK;
}

/* TopK ------------------------------------------------------------------- */

static int infer_topk(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int64_t k;
    if (!is_numeric_dt(x->dtype))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 0 has type %s; a numeric type expected",
                          vp_dtype_name(x->dtype));
    if (c->opset < 10) {
        const vp_attr *ka = vp_attr_find(c->node, "k");
        if (!ka || ka->type != VP_ATTR_INT)
            return vp_op_fail(c, VP_ERR_INVALID, "attribute k (int) is required");
        k = ka->i;
    } else {
        int rc = need_input(c, 1);
        if (rc)
            return rc;
        if (!c->in[1]->data)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 1 (k) must be constant");
        if (vp_read_ints(c->in[1], &k, 1) != 1)
            return vp_op_fail(c, VP_ERR_INVALID, "input 1 (k) must be one int64");
    }
    int64_t a = vp_attr_i(c->node, "axis", -1);
    int ax = vp_norm_axis(a, x->shape.rank);
    if (ax < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute axis=%lld out of range for rank %d", (long long)a,
                          x->shape.rank);
    if (k < 0 || k > x->shape.d[ax])
        return vp_op_fail(c, VP_ERR_INVALID, "k=%lld not in [0, %lld] (size of axis %d)", (long long)k,
                          (long long)x->shape.d[ax], ax);
    vp_shape s = x->shape;
    s.d[ax] = k;
    vp_set_out(c, 0, x->dtype, &s);
    vp_set_out(c, 1, VP_DT_INT64, &s);
    return VP_OK;
}

/* CumSum ----------------------------------------------------------------- */

static int infer_cumsum(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0], *ax = c->in[1];
    int rc = need_input(c, 1);
    if (rc)
        return rc;
    switch (x->dtype) {
    case VP_DT_FLOAT: case VP_DT_DOUBLE: case VP_DT_FLOAT16: case VP_DT_INT32:
    case VP_DT_INT64: case VP_DT_UINT32: case VP_DT_UINT64:
        break;
    default:
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 0 has type %s, which CumSum does not take",
                          vp_dtype_name(x->dtype));
    }
    if ((ax->dtype != VP_DT_INT32 && ax->dtype != VP_DT_INT64) || vp_tensor_numel(ax) != 1)
        return vp_op_fail(c, VP_ERR_INVALID, "input 1 (axis) must be one int32/int64");
    if (x->shape.rank < 1)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 0 must have rank >= 1");
    if (ax->data) {
        int64_t a = vp_tensor_get_i64(ax, 0);
        if (vp_norm_axis(a, x->shape.rank) < 0)
            return vp_op_fail(c, VP_ERR_INVALID, "axis=%lld out of range for rank %d", (long long)a,
                              x->shape.rank);
    }
    vp_set_out(c, 0, x->dtype, &x->shape);
    return VP_OK;
}

/* Einsum ----------------------------------------------------------------- */

static int infer_einsum(vp_op_ctx *c)
{
    vp_einsum_plan p;
    for (int i = 0; i < c->n_in; i++) {
        int rc = need_input(c, i);
        if (rc)
            return rc;
        if (c->in[i]->dtype != c->in[0]->dtype)
            return vp_op_fail(c, VP_ERR_INVALID, "input %d has type %s, input 0 %s", i,
                              vp_dtype_name(c->in[i]->dtype), vp_dtype_name(c->in[0]->dtype));
    }
    if (!is_numeric_dt(c->in[0]->dtype))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "inputs have type %s; a numeric type expected",
                          vp_dtype_name(c->in[0]->dtype));
    int rc = vp_misc_einsum_plan(c, &p);
    if (rc)
        return rc;
    vp_set_out(c, 0, c->in[0]->dtype, &p.out_shape);
    return VP_OK;
}

/* NonMaxSuppression ------------------------------------------------------ */

static int infer_nms(vp_op_ctx *c)
{
    const vp_tensor *b = c->in[0], *s = c->in[1];
    int rc = need_input(c, 1);
    if (rc)
        return rc;
    if (b->dtype != VP_DT_FLOAT || s->dtype != VP_DT_FLOAT)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "boxes and scores must be float32 (got %s, %s)",
                          vp_dtype_name(b->dtype), vp_dtype_name(s->dtype));
    if (b->shape.rank != 3 || b->shape.d[2] != 4)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 0 (boxes) must be [batches, boxes, 4]");
    if (s->shape.rank != 3 || s->shape.d[0] != b->shape.d[0] || s->shape.d[2] != b->shape.d[1])
        return vp_op_fail(c, VP_ERR_SHAPE, "input 1 (scores) must be [batches, classes, boxes] matching boxes");
    int64_t max_out;
    float iou, sthr;
    int has_s;
    if ((rc = vp_misc_nms_args(c, &max_out, &iou, &has_s, &sthr)))
        return rc;
    /* The number of selected boxes depends on the data: the engine has static
     * shapes, so it can only be inferred when boxes and scores are constant. */
    if (!b->data || !s->data)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED,
                          "output shape depends on the boxes and scores, which are not constant "
                          "(data-dependent shapes are not supported)");
    int64_t n = b->shape.d[1];
    void *scratch = malloc(vp_misc_nms_scratch(n));
    if (!scratch)
        return VP_ERR_NOMEM;
    int64_t cnt = vp_misc_nms(b->data, s->data, b->shape.d[0], s->shape.d[1], n, max_out, iou, has_s, sthr,
                              (int)vp_attr_i(c->node, "center_point_box", 0), NULL, 0, scratch);
    free(scratch);
    vp_shape o = {.rank = 2, .d = {cnt, 3}};
    vp_set_out(c, 0, VP_DT_INT64, &o);
    return VP_OK;
}

/* Resize / Upsample ------------------------------------------------------ */

static int infer_resize(vp_op_ctx *c)
{
    vp_resize_params p;
    const vp_tensor *x = c->in[0];
    if (!is_numeric_dt(x->dtype))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 0 has type %s; a numeric type expected",
                          vp_dtype_name(x->dtype));
    int rc = vp_misc_resize_params(c, &p);
    if (rc)
        return rc;
    vp_shape s = {.rank = p.rank};
    for (int i = 0; i < p.rank; i++)
        s.d[i] = p.out[i];
    vp_set_out(c, 0, x->dtype, &s);
    return VP_OK;
}

const vp_op_def vp_ops_misc[] = {
    {.name = "Softmax", .min_inputs = 1, .max_inputs = 1, .infer = infer_softmax},
    {.name = "LogSoftmax", .min_inputs = 1, .max_inputs = 1, .infer = infer_softmax},
    {.name = "Hardmax", .min_inputs = 1, .max_inputs = 1, .infer = infer_softmax},
    {.name = "ReduceMean", .min_inputs = 1, .max_inputs = 2, .infer = infer_reduce},
    {.name = "ReduceMax", .min_inputs = 1, .max_inputs = 2, .infer = infer_reduce},
    {.name = "ReduceMin", .min_inputs = 1, .max_inputs = 2, .infer = infer_reduce},
    {.name = "ReduceSum", .min_inputs = 1, .max_inputs = 2, .infer = infer_reduce},
    {.name = "ReduceProd", .min_inputs = 1, .max_inputs = 2, .infer = infer_reduce},
    {.name = "ReduceL1", .min_inputs = 1, .max_inputs = 2, .infer = infer_reduce},
    {.name = "ReduceL2", .min_inputs = 1, .max_inputs = 2, .infer = infer_reduce},
    {.name = "ReduceLogSum", .min_inputs = 1, .max_inputs = 2, .infer = infer_reduce},
    {.name = "ReduceLogSumExp", .min_inputs = 1, .max_inputs = 2, .infer = infer_reduce},
    {.name = "ReduceSumSquare", .min_inputs = 1, .max_inputs = 2, .infer = infer_reduce},
    {.name = "ArgMax", .min_inputs = 1, .max_inputs = 1, .infer = infer_arg},
    {.name = "ArgMin", .min_inputs = 1, .max_inputs = 1, .infer = infer_arg},
    {.name = "TopK", .min_inputs = 1, .max_inputs = 2, .infer = infer_topk},
    {.name = "CumSum", .min_inputs = 2, .max_inputs = 2, .infer = infer_cumsum},
    {.name = "Einsum", .min_inputs = 1, .max_inputs = VP_EINSUM_MAX_IN, .infer = infer_einsum},
    {.name = "NonMaxSuppression", .min_inputs = 2, .max_inputs = 5, .infer = infer_nms},
    {.name = "Resize", .min_inputs = 1, .max_inputs = 4, .infer = infer_resize},
    {.name = "Upsample", .min_inputs = 1, .max_inputs = 2, .infer = infer_resize},
    {0},
};
