/*
 * Op schemas (shape and type inference): shape family.
 *
 * Ops that move or reinterpret bytes without arithmetic: views (Reshape,
 * Flatten, Squeeze, Unsqueeze, Identity), shape queries (Shape, Size),
 * layout ops (Transpose, Concat, Split, Slice, Gather, GatherElements,
 * Expand, Tile, Pad, DepthToSpace, SpaceToDepth, Trilu, ScatterND) and
 * generators (Constant, ConstantOfShape, Range, NonZero). All of them accept
 * every fixed-size dtype, except where ONNX restricts it (Range) or the op
 * computes (ScatterND reductions, checked by the kernel).
 *
 * The parameter decoders for Slice, Split and Pad live here and are shared
 * with the kernels through cpu/shape.h, so infer() and run() cannot disagree.
 * Ops whose output shape depends on an input value (Reshape, Expand, Tile,
 * Slice, Split, Pad, ConstantOfShape, Range, NonZero, Squeeze/Unsqueeze axes)
 * require that input to be constant and say so otherwise.
 */
#include "engine/cpu/shape.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Most outputs Split can have; keeps the kernels free of allocation. */
#define SPLIT_MAX 1024

int vp_shapeop_read_ints(vp_op_ctx *c, int idx, const char *what, int64_t *buf, int max)
{
    const vp_tensor *t = idx < c->n_in ? c->in[idx] : NULL;
    if (!t)
        return vp_op_fail(c, VP_ERR_INVALID, "%s is required", what);
    if (t->dtype != VP_DT_INT64 && t->dtype != VP_DT_INT32)
        return vp_op_fail(c, VP_ERR_INVALID, "%s must be int64 or int32, got %s", what,
                          vp_dtype_name(t->dtype));
    if (!t->data)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED,
                          "%s must be constant (its value decides the output shape)", what);
    int64_t n = vp_tensor_numel(t);
    if (t->shape.rank > 1)
        return vp_op_fail(c, VP_ERR_INVALID, "%s must be a 1-d tensor, has rank %d", what,
                          t->shape.rank);
    if (n > max)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "%s has %lld values, at most %d supported",
                          what, (long long)n, max);
    for (int64_t i = 0; i < n; i++)
        buf[i] = vp_tensor_get_i64(t, i);
    return (int)n;
}

/* Attribute ints into buf; count or a negative status; -1 absent is count 0
 * with *present = 0. */
static int attr_ints(vp_op_ctx *c, const char *name, int64_t *buf, int max, int *present)
{
    int n;
    const int64_t *v = vp_attr_ints(c->node, name, &n);
    *present = v != NULL || vp_attr_find(c->node, name) != NULL;
    if (n > max)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "attribute %s has %d values, at most %d supported",
                          name, n, max);
    if (v)
        memcpy(buf, v, (size_t)n * sizeof *buf);
    return n;
}

static int check_dtype(vp_op_ctx *c, int i)
{
    const vp_tensor *t = c->in[i];
    if (!t)
        return vp_op_fail(c, VP_ERR_INVALID, "input %d is required", i);
    if (vp_dtype_size(t->dtype) == 0)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input %d: dtype %s not supported", i,
                          vp_dtype_name(t->dtype));
    return VP_OK;
}

static int check_index_dtype(vp_op_ctx *c, int i, const char *what)
{
    const vp_tensor *t = c->in[i];
    if (!t)
        return vp_op_fail(c, VP_ERR_INVALID, "input %d (%s) is required", i, what);
    if (t->dtype != VP_DT_INT64 && t->dtype != VP_DT_INT32)
        return vp_op_fail(c, VP_ERR_INVALID, "input %d (%s) must be int32 or int64, got %s", i,
                          what, vp_dtype_name(t->dtype));
    return VP_OK;
}

/* Largest dimension or pad accepted from a model's values: far above any
 * real tensor, low enough that sums and products of a few cannot overflow. */
#define DIM_MAX ((int64_t)1 << 40)

/* Output shapes built from input values (Expand, Tile, ConstantOfShape,
 * Pad) could overflow int64 with hostile values: reject element counts
 * above 2^62 before anything multiplies them. */
static int check_numel(vp_op_ctx *c, const vp_shape *o)
{
    int64_t n = 1;
    for (int k = 0; k < o->rank; k++) {
        if (o->d[k] < 0 || o->d[k] > DIM_MAX)
            return vp_op_fail(c, VP_ERR_SHAPE, "output dim %d = %lld is out of range", k,
                              (long long)o->d[k]);
        if (o->d[k] && n > ((int64_t)1 << 62) / o->d[k])
            return vp_op_fail(c, VP_ERR_SHAPE, "output has too many elements");
        n *= o->d[k];
    }
    return VP_OK;
}

/* Views ---------------------------------------------------------------- */

static int infer_reshape(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int64_t sh[VP_MAX_DIMS];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    int n = vp_shapeop_read_ints(c, 1, "input 1 (shape)", sh, VP_MAX_DIMS);
    if (n < 0)
        return n;
    int allowzero = c->opset >= 14 && vp_attr_i(c->node, "allowzero", 0) != 0;
    vp_shape o = {.rank = n};
    int neg = -1;
    int64_t known = 1;
    for (int k = 0; k < n; k++) {
        int64_t v = sh[k];
        if (v == 0 && !allowzero) {
            if (k >= x->shape.rank)
                return vp_op_fail(c, VP_ERR_SHAPE,
                                  "shape[%d] = 0 copies input dim %d, but the input has rank %d",
                                  k, k, x->shape.rank);
            v = x->shape.d[k];
        } else if (v == -1) {
            if (neg >= 0)
                return vp_op_fail(c, VP_ERR_INVALID, "shape has more than one -1");
            neg = k;
            continue;
        } else if (v < -1 || v > DIM_MAX) {
            return vp_op_fail(c, VP_ERR_INVALID, "shape[%d] = %lld is invalid", k, (long long)v);
        }
        o.d[k] = v;
        if (v && known > ((int64_t)1 << 62) / v)
            return vp_op_fail(c, VP_ERR_SHAPE, "shape has too many elements");
        known *= v;
    }
    int64_t numel = vp_tensor_numel(x);
    if (neg >= 0) {
        if (known == 0) {
            if (allowzero)
                return vp_op_fail(c, VP_ERR_INVALID, "shape has both 0 and -1 with allowzero=1");
            o.d[neg] = 0;
        } else {
            if (numel % known)
                return vp_op_fail(c, VP_ERR_SHAPE, "cannot infer the -1 dim: %lld elements "
                                  "not divisible by %lld", (long long)numel, (long long)known);
            o.d[neg] = numel / known;
        }
    }
    if (vp_shape_numel(&o) != numel) {
        char a[128], b[128];
        return vp_op_fail(c, VP_ERR_SHAPE, "cannot reshape %s to %s",
                          vp_shape_str(&x->shape, a, sizeof a), vp_shape_str(&o, b, sizeof b));
    }
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

static int infer_flatten(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    int r = x->shape.rank;
    int64_t axis = vp_attr_i(c->node, "axis", 1);
    if (axis < -r || axis > r)
        return vp_op_fail(c, VP_ERR_INVALID, "axis %lld out of range for rank %d",
                          (long long)axis, r);
    if (axis < 0)
        axis += r;
    vp_shape o = {.rank = 2, .d = {1, 1}};
    for (int k = 0; k < r; k++)
        o.d[k < axis ? 0 : 1] *= x->shape.d[k];
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

/* Squeeze/Unsqueeze axes: attribute before opset 13, input 1 from 13.
 * Returns the count (-1 when absent) or a negative status below -1. */
static int read_axes(vp_op_ctx *c, int64_t *axes, int max)
{
    if (c->opset < 13) {
        int present;
        int n = attr_ints(c, "axes", axes, max, &present);
        if (n < 0)
            return n;
        return present ? n : -1;
    }
    if (c->n_in < 2 || !c->in[1])
        return -1;
    return vp_shapeop_read_ints(c, 1, "input 1 (axes)", axes, max);
}

static int infer_squeeze(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    int r = x->shape.rank;
    int64_t axes[VP_MAX_DIMS];
    int n = read_axes(c, axes, VP_MAX_DIMS);
    if (n < -1)
        return n;
    int drop[VP_MAX_DIMS] = {0};
    if (n == -1) {
        for (int k = 0; k < r; k++)
            drop[k] = x->shape.d[k] == 1;
    } else {
        for (int i = 0; i < n; i++) {
            int a = vp_norm_axis(axes[i], r);
            if (a < 0)
                return vp_op_fail(c, VP_ERR_INVALID, "axis %lld out of range for rank %d",
                                  (long long)axes[i], r);
            if (drop[a])
                return vp_op_fail(c, VP_ERR_INVALID, "axis %lld repeated", (long long)axes[i]);
            if (x->shape.d[a] != 1)
                return vp_op_fail(c, VP_ERR_SHAPE, "cannot squeeze axis %d of size %lld", a,
                                  (long long)x->shape.d[a]);
            drop[a] = 1;
        }
    }
    vp_shape o = {.rank = 0};
    for (int k = 0; k < r; k++)
        if (!drop[k])
            o.d[o.rank++] = x->shape.d[k];
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

static int infer_unsqueeze(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    int r = x->shape.rank;
    int64_t axes[VP_MAX_DIMS];
    int n = read_axes(c, axes, VP_MAX_DIMS);
    if (n < -1)
        return n;
    if (n == -1)
        return vp_op_fail(c, VP_ERR_INVALID, "axes are required");
    int ro = r + n;
    if (ro > VP_MAX_DIMS)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "output rank %d above %d", ro, VP_MAX_DIMS);
    int ins[VP_MAX_DIMS] = {0};
    for (int i = 0; i < n; i++) {
        int a = vp_norm_axis(axes[i], ro);
        if (a < 0)
            return vp_op_fail(c, VP_ERR_INVALID, "axis %lld out of range for output rank %d",
                              (long long)axes[i], ro);
        if (ins[a])
            return vp_op_fail(c, VP_ERR_INVALID, "axis %lld repeated", (long long)axes[i]);
        ins[a] = 1;
    }
    vp_shape o = {.rank = ro};
    for (int k = 0, j = 0; k < ro; k++)
        o.d[k] = ins[k] ? 1 : x->shape.d[j++];
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

static int infer_identity(vp_op_ctx *c)
{
    int st = check_dtype(c, 0);
    if (st)
        return st;
    vp_set_out(c, 0, c->in[0]->dtype, &c->in[0]->shape);
    return VP_OK;
}

/* Shape queries -------------------------------------------------------- */

static int infer_shape(vp_op_ctx *c)
{
    int r = c->in[0]->shape.rank;
    int64_t start = 0, end = r;
    if (c->opset >= 15) {
        start = vp_attr_i(c->node, "start", 0);
        end = vp_attr_i(c->node, "end", r);
    }
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    vp_shape o = {.rank = 1, .d = {end > start ? end - start : 0}};
    vp_set_out(c, 0, VP_DT_INT64, &o);
    return VP_OK;
}

static int infer_size(vp_op_ctx *c)
{
    vp_shape o = {.rank = 0};
    vp_set_out(c, 0, VP_DT_INT64, &o);
    return VP_OK;
}

/* Layout ops ----------------------------------------------------------- */

static int infer_transpose(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    int r = x->shape.rank, n;
    const int64_t *perm = vp_attr_ints(c->node, "perm", &n);
    vp_shape o = {.rank = r};
    int seen[VP_MAX_DIMS] = {0};
    if (perm && n != r)
        return vp_op_fail(c, VP_ERR_INVALID, "perm has %d entries for rank %d", n, r);
    for (int k = 0; k < r; k++) {
        int64_t p = perm ? perm[k] : r - 1 - k;
        if (p < 0 || p >= r || seen[p])
            return vp_op_fail(c, VP_ERR_INVALID, "perm is not a permutation of 0..%d", r - 1);
        seen[p] = 1;
        o.d[k] = x->shape.d[p];
    }
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

static int infer_concat(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    int r = x->shape.rank;
    if (!vp_attr_find(c->node, "axis"))
        return vp_op_fail(c, VP_ERR_INVALID, "attribute axis is required");
    int64_t axis_attr = vp_attr_i(c->node, "axis", 0);
    int axis = vp_norm_axis(axis_attr, r);
    if (axis < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "axis %lld out of range for rank %d",
                          (long long)axis_attr, r);
    vp_shape o = x->shape;
    for (int i = 1; i < c->n_in; i++) {
        const vp_tensor *t = c->in[i];
        if (!t)
            return vp_op_fail(c, VP_ERR_INVALID, "input %d is missing", i);
        if (t->dtype != x->dtype)
            return vp_op_fail(c, VP_ERR_INVALID, "input %d is %s, input 0 is %s", i,
                              vp_dtype_name(t->dtype), vp_dtype_name(x->dtype));
        int bad = t->shape.rank != r;
        for (int k = 0; !bad && k < r; k++)
            bad = k != axis && t->shape.d[k] != x->shape.d[k];
        if (bad) {
            char a[128], b[128];
            return vp_op_fail(c, VP_ERR_SHAPE, "input %d shape %s does not match input 0 %s "
                              "outside axis %d", i, vp_shape_str(&t->shape, a, sizeof a),
                              vp_shape_str(&x->shape, b, sizeof b), axis);
        }
        o.d[axis] += t->shape.d[axis];
    }
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

int vp_shapeop_split(vp_op_ctx *c, int *axis_out, int64_t *sizes)
{
    const vp_tensor *x = c->in[0];
    int r = x->shape.rank, n = c->n_out;
    if (n > SPLIT_MAX)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "%d outputs, at most %d supported", n, SPLIT_MAX);
    int64_t axis_attr = vp_attr_i(c->node, "axis", 0);
    int axis = vp_norm_axis(axis_attr, r);
    if (axis < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "axis %lld out of range for rank %d",
                          (long long)axis_attr, r);
    int64_t dim = x->shape.d[axis];
    int ns = -1;
    if (c->opset < 13) {
        int present;
        ns = attr_ints(c, "split", sizes, SPLIT_MAX, &present);
        if (ns < 0)
            return ns;
        if (!present)
            ns = -1;
    } else if (c->n_in > 1 && c->in[1]) {
        ns = vp_shapeop_read_ints(c, 1, "input 1 (split)", sizes, SPLIT_MAX);
        if (ns < 0)
            return ns;
    }
    if (ns >= 0) {
        int64_t sum = 0;
        if (ns != n)
            return vp_op_fail(c, VP_ERR_INVALID, "split has %d sizes for %d outputs", ns, n);
        for (int i = 0; i < n; i++) {
            if (sizes[i] < 0 || sizes[i] > dim)
                return vp_op_fail(c, VP_ERR_INVALID, "split[%d] = %lld is out of range 0..%lld",
                                  i, (long long)sizes[i], (long long)dim);
            sum += sizes[i];
        }
        if (sum != dim)
            return vp_op_fail(c, VP_ERR_SHAPE, "split sizes sum to %lld, axis %d has %lld",
                              (long long)sum, axis, (long long)dim);
    } else {
        if (c->opset >= 18) {
            const vp_attr *a = vp_attr_find(c->node, "num_outputs");
            if (a && a->i != n)
                return vp_op_fail(c, VP_ERR_INVALID, "num_outputs = %lld but the node has %d "
                                  "outputs", (long long)a->i, n);
        }
        if (n < 1)
            return vp_op_fail(c, VP_ERR_INVALID, "no outputs");
        int64_t chunk = dim / n;
        if (dim % n) {
            /* Opset 18: uneven splits make the last chunk smaller. */
            chunk = (dim + n - 1) / n;
            if (c->opset < 18 || dim - chunk * (n - 1) < 0)
                return vp_op_fail(c, VP_ERR_SHAPE, "axis %d of size %lld cannot be split in %d",
                                  axis, (long long)dim, n);
        }
        for (int i = 0; i < n; i++)
            sizes[i] = i < n - 1 ? chunk : dim - chunk * (n - 1);
    }
    *axis_out = axis;
    return VP_OK;
}

static int infer_split(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    if (x->shape.rank < 1)
        return vp_op_fail(c, VP_ERR_INVALID, "input 0 must have rank >= 1");
    int64_t sizes[SPLIT_MAX];
    int axis;
    st = vp_shapeop_split(c, &axis, sizes);
    if (st)
        return st;
    for (int i = 0; i < c->n_out; i++) {
        vp_shape o = x->shape;
        o.d[axis] = sizes[i];
        vp_set_out(c, i, x->dtype, &o);
    }
    return VP_OK;
}

int vp_shapeop_slice(vp_op_ctx *c, int64_t *start, int64_t *step, vp_shape *out)
{
    const vp_tensor *x = c->in[0];
    int r = x->shape.rank;
    int64_t st[VP_MAX_DIMS], en[VP_MAX_DIMS], ax[VP_MAX_DIMS], sp[VP_MAX_DIMS];
    int n, ne, na = -1, ns = -1;
    *out = x->shape;
    for (int k = 0; k < r; k++) {
        start[k] = 0;
        step[k] = 1;
    }
    if (c->opset < 10) {
        int p1, p2, p3;
        n = attr_ints(c, "starts", st, VP_MAX_DIMS, &p1);
        if (n < 0)
            return n;
        ne = attr_ints(c, "ends", en, VP_MAX_DIMS, &p2);
        if (ne < 0)
            return ne;
        na = attr_ints(c, "axes", ax, VP_MAX_DIMS, &p3);
        if (na < 0)
            return na;
        if (!p1 || !p2)
            return vp_op_fail(c, VP_ERR_INVALID, "attributes starts and ends are required");
        if (!p3)
            na = -1;
    } else {
        n = vp_shapeop_read_ints(c, 1, "input 1 (starts)", st, VP_MAX_DIMS);
        if (n < 0)
            return n;
        ne = vp_shapeop_read_ints(c, 2, "input 2 (ends)", en, VP_MAX_DIMS);
        if (ne < 0)
            return ne;
        if (c->n_in > 3 && c->in[3]) {
            na = vp_shapeop_read_ints(c, 3, "input 3 (axes)", ax, VP_MAX_DIMS);
            if (na < 0)
                return na;
        }
        if (c->n_in > 4 && c->in[4]) {
            ns = vp_shapeop_read_ints(c, 4, "input 4 (steps)", sp, VP_MAX_DIMS);
            if (ns < 0)
                return ns;
        }
    }
    if (ne != n || (na >= 0 && na != n) || (ns >= 0 && ns != n))
        return vp_op_fail(c, VP_ERR_INVALID, "starts, ends, axes and steps differ in length");
    if (na < 0 && n > r)
        return vp_op_fail(c, VP_ERR_INVALID, "%d starts for rank %d", n, r);
    int seen[VP_MAX_DIMS] = {0};
    for (int i = 0; i < n; i++) {
        int a = na >= 0 ? vp_norm_axis(ax[i], r) : i;
        if (a < 0)
            return vp_op_fail(c, VP_ERR_INVALID, "axis %lld out of range for rank %d",
                              (long long)ax[i], r);
        if (seen[a])
            return vp_op_fail(c, VP_ERR_INVALID, "axis %d repeated", a);
        seen[a] = 1;
        int64_t s = ns >= 0 ? sp[i] : 1;
        if (s == 0)
            return vp_op_fail(c, VP_ERR_INVALID, "step for axis %d is 0", a);
        if (s == INT64_MIN)
            s = -INT64_MAX; /* same result (one element at most) and negatable */
        int64_t d = x->shape.d[a], b = st[i], e = en[i], len;
        if (b < 0)
            b += d;
        if (e < 0)
            e += d;
        if (s > 0) {
            b = b < 0 ? 0 : b > d ? d : b;
            e = e < 0 ? 0 : e > d ? d : e;
            len = e > b ? (e - b - 1) / s + 1 : 0;
        } else {
            b = b < 0 ? 0 : b > d - 1 ? d - 1 : b;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
            len = b > e ? (b - e - 1) / -s + 1 : 0;
        }
        start[a] = len > 0 ? b : 0;
        step[a] = s;
        out->d[a] = len;
    }
    return VP_OK;
}

static int infer_slice(vp_op_ctx *c)
{
    int64_t start[VP_MAX_DIMS], step[VP_MAX_DIMS];
    vp_shape o;
    int st = check_dtype(c, 0);
    if (st)
        return st;
    st = vp_shapeop_slice(c, start, step, &o);
    if (st)
        return st;
    vp_set_out(c, 0, c->in[0]->dtype, &o);
    return VP_OK;
}

static int infer_gather(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0], *idx = c->in[1];
    int st = check_dtype(c, 0);
    if (!st)
        st = check_index_dtype(c, 1, "indices");
    if (st)
        return st;
    int r = x->shape.rank, q = idx->shape.rank;
    int64_t axis_attr = vp_attr_i(c->node, "axis", 0);
    int axis = vp_norm_axis(axis_attr, r);
    if (axis < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "axis %lld out of range for rank %d",
                          (long long)axis_attr, r);
    if (r - 1 + q > VP_MAX_DIMS)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "output rank %d above %d", r - 1 + q,
                          VP_MAX_DIMS);
    vp_shape o = {.rank = r - 1 + q};
    int j = 0;
    for (int k = 0; k < axis; k++)
        o.d[j++] = x->shape.d[k];
    for (int k = 0; k < q; k++)
        o.d[j++] = idx->shape.d[k];
    for (int k = axis + 1; k < r; k++)
        o.d[j++] = x->shape.d[k];
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

static int infer_gather_elements(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0], *idx = c->in[1];
    int st = check_dtype(c, 0);
    if (!st)
        st = check_index_dtype(c, 1, "indices");
    if (st)
        return st;
    int r = x->shape.rank;
    int64_t axis_attr = vp_attr_i(c->node, "axis", 0);
    int axis = vp_norm_axis(axis_attr, r);
    if (axis < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "axis %lld out of range for rank %d",
                          (long long)axis_attr, r);
    if (idx->shape.rank != r)
        return vp_op_fail(c, VP_ERR_SHAPE, "indices rank %d differs from data rank %d",
                          idx->shape.rank, r);
    for (int k = 0; k < r; k++)
        if (k != axis && idx->shape.d[k] > x->shape.d[k])
            return vp_op_fail(c, VP_ERR_SHAPE, "indices dim %d (%lld) exceeds data dim (%lld)",
                              k, (long long)idx->shape.d[k], (long long)x->shape.d[k]);
    vp_set_out(c, 0, x->dtype, &idx->shape);
    return VP_OK;
}

static int infer_expand(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    int64_t sh[VP_MAX_DIMS];
    int n = vp_shapeop_read_ints(c, 1, "input 1 (shape)", sh, VP_MAX_DIMS);
    if (n < 0)
        return n;
    vp_shape s = {.rank = n}, o;
    for (int k = 0; k < n; k++) {
        if (sh[k] < 0 || sh[k] > DIM_MAX)
            return vp_op_fail(c, VP_ERR_INVALID, "shape[%d] = %lld is out of range", k,
                              (long long)sh[k]);
        s.d[k] = sh[k];
    }
    if (vp_shape_broadcast(&x->shape, &s, &o)) {
        char a[128], b[128];
        return vp_op_fail(c, VP_ERR_SHAPE, "cannot expand %s to %s",
                          vp_shape_str(&x->shape, a, sizeof a), vp_shape_str(&s, b, sizeof b));
    }
    if ((st = check_numel(c, &o)))
        return st;
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

static int infer_tile(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    int64_t rep[VP_MAX_DIMS];
    int n = vp_shapeop_read_ints(c, 1, "input 1 (repeats)", rep, VP_MAX_DIMS);
    if (n < 0)
        return n;
    if (n != x->shape.rank)
        return vp_op_fail(c, VP_ERR_INVALID, "repeats has %d values for rank %d", n,
                          x->shape.rank);
    vp_shape o = x->shape;
    for (int k = 0; k < n; k++) {
        if (rep[k] < 0 || rep[k] > DIM_MAX)
            return vp_op_fail(c, VP_ERR_INVALID, "repeats[%d] = %lld is out of range", k,
                              (long long)rep[k]);
        if (rep[k] && o.d[k] > DIM_MAX / rep[k])
            return vp_op_fail(c, VP_ERR_SHAPE, "output dim %d is too large", k);
        o.d[k] *= rep[k];
    }
    if ((st = check_numel(c, &o)))
        return st;
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

int vp_shapeop_pad(vp_op_ctx *c, int64_t *pb, int64_t *pe, int *mode)
{
    const vp_tensor *x = c->in[0];
    int r = x->shape.rank;
    int64_t pads[2 * VP_MAX_DIMS], axes[VP_MAX_DIMS];
    const char *m = vp_attr_s(c->node, "mode", "constant");
    if (strcmp(m, "constant") == 0)
        *mode = VP_PAD_CONSTANT;
    else if (strcmp(m, "reflect") == 0)
        *mode = VP_PAD_REFLECT;
    else if (strcmp(m, "edge") == 0)
        *mode = VP_PAD_EDGE;
    else if (strcmp(m, "wrap") == 0)
        *mode = VP_PAD_WRAP;
    else
        return vp_op_fail(c, VP_ERR_INVALID, "mode \"%s\" is not constant, reflect, edge or wrap",
                          m);
    int n, na = -1;
    if (c->opset < 11) {
        int present;
        n = attr_ints(c, "pads", pads, 2 * VP_MAX_DIMS, &present);
        if (n < 0)
            return n;
        if (!present)
            return vp_op_fail(c, VP_ERR_INVALID, "attribute pads is required");
    } else {
        n = vp_shapeop_read_ints(c, 1, "input 1 (pads)", pads, 2 * VP_MAX_DIMS);
        if (n < 0)
            return n;
        if (c->n_in > 3 && c->in[3]) {
            na = vp_shapeop_read_ints(c, 3, "input 3 (axes)", axes, VP_MAX_DIMS);
            if (na < 0)
                return na;
        }
    }
    for (int k = 0; k < r; k++)
        pb[k] = pe[k] = 0;
    if (na >= 0) {
        int seen[VP_MAX_DIMS] = {0};
        if (n != 2 * na)
            return vp_op_fail(c, VP_ERR_INVALID, "pads has %d values for %d axes", n, na);
        for (int i = 0; i < na; i++) {
            int a = vp_norm_axis(axes[i], r);
            if (a < 0 || seen[a])
                return vp_op_fail(c, VP_ERR_INVALID, "axis %lld out of range or repeated",
                                  (long long)axes[i]);
            seen[a] = 1;
            pb[a] = pads[i];
            pe[a] = pads[i + na];
        }
    } else {
        if (n != 2 * r)
            return vp_op_fail(c, VP_ERR_INVALID, "pads has %d values for rank %d", n, r);
        for (int k = 0; k < r; k++) {
            pb[k] = pads[k];
            pe[k] = pads[k + r];
        }
    }
    for (int k = 0; k < r; k++) {
        int64_t d = x->shape.d[k];
        if (pb[k] < -DIM_MAX || pb[k] > DIM_MAX || pe[k] < -DIM_MAX || pe[k] > DIM_MAX)
            return vp_op_fail(c, VP_ERR_INVALID, "pads %lld,%lld of axis %d are out of range",
                              (long long)pb[k], (long long)pe[k], k);
        if (d + pb[k] + pe[k] < 0)
            return vp_op_fail(c, VP_ERR_SHAPE, "pads %lld,%lld make axis %d of size %lld negative",
                              (long long)pb[k], (long long)pe[k], k, (long long)d);
        if (*mode != VP_PAD_CONSTANT && (pb[k] > 0 || pe[k] > 0) && d + (pb[k] < 0 ? pb[k] : 0) +
            (pe[k] < 0 ? pe[k] : 0) <= 0)
            return vp_op_fail(c, VP_ERR_INVALID, "mode %s pads axis %d, which has no elements "
                              "left to copy", m, k);
    }
    return VP_OK;
}

static int infer_pad(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    int64_t pb[VP_MAX_DIMS], pe[VP_MAX_DIMS];
    int mode;
    st = vp_shapeop_pad(c, pb, pe, &mode);
    if (st)
        return st;
    if (c->opset >= 11 && c->n_in > 2 && c->in[2]) {
        const vp_tensor *v = c->in[2];
        if (v->dtype != x->dtype || vp_tensor_numel(v) != 1)
            return vp_op_fail(c, VP_ERR_INVALID, "input 2 (constant_value) must be one %s",
                              vp_dtype_name(x->dtype));
    }
    vp_shape o = x->shape;
    for (int k = 0; k < o.rank; k++)
        o.d[k] += pb[k] + pe[k];
    if ((st = check_numel(c, &o)))
        return st;
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

static int infer_depth_to_space(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    int64_t b = vp_attr_i(c->node, "blocksize", 0);
    int d2s = strcmp(c->node->op_type, "DepthToSpace") == 0;
    if (x->shape.rank != 4)
        return vp_op_fail(c, VP_ERR_SHAPE, "input must be 4-d (NCHW), has rank %d",
                          x->shape.rank);
    if (b < 1)
        return vp_op_fail(c, VP_ERR_INVALID, "blocksize %lld must be >= 1", (long long)b);
    const int64_t *d = x->shape.d;
    vp_shape o = x->shape;
    if (d2s) {
        const char *m = vp_attr_s(c->node, "mode", "DCR");
        if (strcmp(m, "DCR") && strcmp(m, "CRD"))
            return vp_op_fail(c, VP_ERR_INVALID, "mode \"%s\" is not DCR or CRD", m);
        if (d[1] % (b * b))
            return vp_op_fail(c, VP_ERR_SHAPE, "channels %lld not divisible by blocksize^2 %lld",
                              (long long)d[1], (long long)(b * b));
        o.d[1] = d[1] / (b * b);
        o.d[2] = d[2] * b;
        o.d[3] = d[3] * b;
    } else {
        if (d[2] % b || d[3] % b)
            return vp_op_fail(c, VP_ERR_SHAPE, "height %lld and width %lld must be divisible "
                              "by blocksize %lld", (long long)d[2], (long long)d[3], (long long)b);
        o.d[1] = d[1] * b * b;
        o.d[2] = d[2] / b;
        o.d[3] = d[3] / b;
    }
    vp_set_out(c, 0, x->dtype, &o);
    return VP_OK;
}

static int infer_trilu(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    if (x->shape.rank < 2)
        return vp_op_fail(c, VP_ERR_SHAPE, "input must have rank >= 2, has %d", x->shape.rank);
    if (c->n_in > 1 && c->in[1]) {
        const vp_tensor *k = c->in[1];
        if (k->dtype != VP_DT_INT64 || vp_tensor_numel(k) != 1)
            return vp_op_fail(c, VP_ERR_INVALID, "input 1 (k) must be one int64");
    }
    vp_set_out(c, 0, x->dtype, &x->shape);
    return VP_OK;
}

static int infer_scatter_nd(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0], *idx = c->in[1], *upd = c->in[2];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    if (!idx || idx->dtype != VP_DT_INT64)
        return vp_op_fail(c, VP_ERR_INVALID, "input 1 (indices) must be int64");
    if (!upd || upd->dtype != x->dtype)
        return vp_op_fail(c, VP_ERR_INVALID, "input 2 (updates) must have the dtype of input 0");
    int r = x->shape.rank, q = idx->shape.rank;
    if (r < 1 || q < 1)
        return vp_op_fail(c, VP_ERR_SHAPE, "data and indices must have rank >= 1");
    int64_t k = idx->shape.d[q - 1];
    if (k < 1 || k > r)
        return vp_op_fail(c, VP_ERR_SHAPE, "indices last dim %lld must be in 1..%d",
                          (long long)k, r);
    int ok = upd->shape.rank == q - 1 + r - (int)k;
    for (int i = 0; ok && i < q - 1; i++)
        ok = upd->shape.d[i] == idx->shape.d[i];
    for (int i = (int)k; ok && i < r; i++)
        ok = upd->shape.d[q - 1 + i - k] == x->shape.d[i];
    if (!ok) {
        char a[128];
        return vp_op_fail(c, VP_ERR_SHAPE, "updates shape %s must be indices.shape[:-1] + "
                          "data.shape[%lld:]", vp_shape_str(&upd->shape, a, sizeof a),
                          (long long)k);
    }
    const char *red = vp_attr_s(c->node, "reduction", "none");
    if (strcmp(red, "none") && strcmp(red, "add") && strcmp(red, "mul") && strcmp(red, "max") &&
        strcmp(red, "min"))
        return vp_op_fail(c, VP_ERR_INVALID, "reduction \"%s\" is not none, add, mul, max or min",
                          red);
    vp_set_out(c, 0, x->dtype, &x->shape);
    return VP_OK;
}

/* Generators ----------------------------------------------------------- */

static int infer_constant(vp_op_ctx *c)
{
    const vp_node *nd = c->node;
    const vp_attr *a;
    vp_shape o = {.rank = 0};
    if ((a = vp_attr_find(nd, "value")) != NULL) {
        if (a->type != VP_ATTR_TENSOR || !a->t)
            return vp_op_fail(c, VP_ERR_INVALID, "attribute value must be a tensor");
        if (vp_dtype_size(a->t->dtype) == 0)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "value of dtype %s not supported",
                              vp_dtype_name(a->t->dtype));
        vp_set_out(c, 0, a->t->dtype, &a->t->shape);
    } else if ((a = vp_attr_find(nd, "value_float")) != NULL) {
        vp_set_out(c, 0, VP_DT_FLOAT, &o);
    } else if ((a = vp_attr_find(nd, "value_int")) != NULL) {
        vp_set_out(c, 0, VP_DT_INT64, &o);
    } else if ((a = vp_attr_find(nd, "value_floats")) != NULL) {
        o.rank = 1;
        o.d[0] = a->n;
        vp_set_out(c, 0, VP_DT_FLOAT, &o);
    } else if ((a = vp_attr_find(nd, "value_ints")) != NULL) {
        o.rank = 1;
        o.d[0] = a->n;
        vp_set_out(c, 0, VP_DT_INT64, &o);
    } else if (vp_attr_find(nd, "value_string") || vp_attr_find(nd, "value_strings")) {
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "string constants are not supported");
    } else if (vp_attr_find(nd, "sparse_value")) {
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "sparse constants are not supported");
    } else {
        return vp_op_fail(c, VP_ERR_INVALID, "no value attribute");
    }
    return VP_OK;
}

static int infer_constant_of_shape(vp_op_ctx *c)
{
    int64_t sh[VP_MAX_DIMS];
    if (c->in[0] && c->in[0]->dtype != VP_DT_INT64)
        return vp_op_fail(c, VP_ERR_INVALID, "input 0 (shape) must be int64");
    int n = vp_shapeop_read_ints(c, 0, "input 0 (shape)", sh, VP_MAX_DIMS);
    if (n < 0)
        return n;
    vp_shape o = {.rank = n};
    for (int k = 0; k < n; k++) {
        if (sh[k] < 0 || sh[k] > DIM_MAX)
            return vp_op_fail(c, VP_ERR_INVALID, "shape[%d] = %lld is out of range", k,
                              (long long)sh[k]);
        o.d[k] = sh[k];
    }
    int st = check_numel(c, &o);
    if (st)
        return st;
    vp_dtype dt = VP_DT_FLOAT;
    const vp_attr *a = vp_attr_find(c->node, "value");
    if (a) {
        if (a->type != VP_ATTR_TENSOR || !a->t || vp_tensor_numel(a->t) != 1)
            return vp_op_fail(c, VP_ERR_INVALID, "attribute value must be a one-element tensor");
        dt = a->t->dtype;
        if (vp_dtype_size(dt) == 0)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "value of dtype %s not supported",
                              vp_dtype_name(dt));
    }
    vp_set_out(c, 0, dt, &o);
    return VP_OK;
}

static int infer_range(vp_op_ctx *c)
{
    const vp_tensor *s = c->in[0], *l = c->in[1], *d = c->in[2];
    if (!s || !l || !d)
        return vp_op_fail(c, VP_ERR_INVALID, "start, limit and delta are required");
    vp_dtype dt = s->dtype;
    if (l->dtype != dt || d->dtype != dt)
        return vp_op_fail(c, VP_ERR_INVALID, "start, limit and delta must have one dtype");
    if (dt != VP_DT_FLOAT && dt != VP_DT_DOUBLE && dt != VP_DT_INT16 && dt != VP_DT_INT32 &&
        dt != VP_DT_INT64)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "dtype %s not supported (float, double, "
                          "int16, int32, int64)", vp_dtype_name(dt));
    if (vp_tensor_numel(s) != 1 || vp_tensor_numel(l) != 1 || vp_tensor_numel(d) != 1)
        return vp_op_fail(c, VP_ERR_INVALID, "start, limit and delta must be scalars");
    if (!s->data || !l->data || !d->data)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "start, limit and delta must be constant "
                          "(they decide the output shape)");
    int64_t n;
    if (dt == VP_DT_FLOAT || dt == VP_DT_DOUBLE) {
        double a = vp_tensor_get_f64(s, 0), b = vp_tensor_get_f64(l, 0);
        double dl = vp_tensor_get_f64(d, 0);
        if (dl == 0 || !isfinite(a) || !isfinite(b) || !isfinite(dl))
            return vp_op_fail(c, VP_ERR_INVALID, "start, limit, delta must be finite, delta != 0");
        /* In double, as numpy.arange (ONNX's reference) does. */
        double cnt = ceil((b - a) / dl);
        if (cnt > (double)DIM_MAX)
            return vp_op_fail(c, VP_ERR_SHAPE, "%g elements is too many", cnt);
        n = (int64_t)(cnt > 0 ? cnt : 0);
    } else {
        int64_t a = vp_tensor_get_i64(s, 0), b = vp_tensor_get_i64(l, 0);
        int64_t dl = vp_tensor_get_i64(d, 0);
        if (dl == 0)
            return vp_op_fail(c, VP_ERR_INVALID, "delta is 0");
        /* in uint64: the distance between two int64 always fits */
        uint64_t cnt = 0;
        if (dl > 0 && b > a)
            cnt = ((uint64_t)b - (uint64_t)a - 1) / (uint64_t)dl + 1;
        else if (dl < 0 && a > b)
            cnt = ((uint64_t)a - (uint64_t)b - 1) / (0 - (uint64_t)dl) + 1;
        if (cnt > (uint64_t)DIM_MAX)
            return vp_op_fail(c, VP_ERR_SHAPE, "%llu elements is too many",
                              (unsigned long long)cnt);
        n = (int64_t)cnt;
    }
    vp_shape o = {.rank = 1, .d = {n > 0 ? n : 0}};
    vp_set_out(c, 0, dt, &o);
    return VP_OK;
}

int vp_shapeop_is_nonzero(const vp_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case VP_DT_FLOAT: return ((const float *)t->data)[i] != 0.f;
    case VP_DT_DOUBLE: return ((const double *)t->data)[i] != 0.0;
    case VP_DT_FLOAT16: return (((const uint16_t *)t->data)[i] & 0x7fff) != 0;
    default: {
        size_t es = vp_dtype_size(t->dtype);
        const unsigned char *p = (const unsigned char *)t->data + (size_t)i * es;
        for (size_t b = 0; b < es; b++)
            if (p[b])
                return 1;
        return 0;
    }
    }
}

static int infer_nonzero(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int st = check_dtype(c, 0);
    if (st)
        return st;
    if (!x->data)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 0 must be constant (the output shape "
                          "depends on its values)");
    int64_t n = vp_tensor_numel(x), nnz = 0;
    for (int64_t i = 0; i < n; i++)
        nnz += vp_shapeop_is_nonzero(x, i);
    vp_shape o = {.rank = 2, .d = {x->shape.rank, nnz}};
    vp_set_out(c, 0, VP_DT_INT64, &o);
    return VP_OK;
}

const vp_op_def vp_ops_shape[] = {
    {.name = "Reshape", .min_inputs = 2, .max_inputs = 2, .infer = infer_reshape, .is_view = 1},
    {.name = "Flatten", .min_inputs = 1, .max_inputs = 1, .infer = infer_flatten, .is_view = 1},
    {.name = "Squeeze", .min_inputs = 1, .max_inputs = 2, .infer = infer_squeeze, .is_view = 1},
    {.name = "Unsqueeze", .min_inputs = 1, .max_inputs = 2, .infer = infer_unsqueeze, .is_view = 1},
    {.name = "Identity", .min_inputs = 1, .max_inputs = 1, .infer = infer_identity, .is_view = 1},
    {.name = "Shape", .min_inputs = 1, .max_inputs = 1, .infer = infer_shape, .shape_only = 1},
    {.name = "Size", .min_inputs = 1, .max_inputs = 1, .infer = infer_size, .shape_only = 1},
    {.name = "Transpose", .min_inputs = 1, .max_inputs = 1, .infer = infer_transpose},
    {.name = "Concat", .min_inputs = 1, .max_inputs = -1, .infer = infer_concat},
    {.name = "Split", .min_inputs = 1, .max_inputs = 2, .infer = infer_split},
    {.name = "Slice", .min_inputs = 1, .max_inputs = 5, .infer = infer_slice},
    {.name = "Gather", .min_inputs = 2, .max_inputs = 2, .infer = infer_gather},
    {.name = "GatherElements", .min_inputs = 2, .max_inputs = 2, .infer = infer_gather_elements},
    {.name = "Expand", .min_inputs = 2, .max_inputs = 2, .infer = infer_expand},
    {.name = "Tile", .min_inputs = 2, .max_inputs = 2, .infer = infer_tile},
    {.name = "Pad", .min_inputs = 1, .max_inputs = 4, .infer = infer_pad},
    {.name = "DepthToSpace", .min_inputs = 1, .max_inputs = 1, .infer = infer_depth_to_space},
    {.name = "SpaceToDepth", .min_inputs = 1, .max_inputs = 1, .infer = infer_depth_to_space},
    {.name = "Trilu", .min_inputs = 1, .max_inputs = 2, .infer = infer_trilu},
    {.name = "ScatterND", .min_inputs = 3, .max_inputs = 3, .infer = infer_scatter_nd},
    {.name = "Constant", .min_inputs = 0, .max_inputs = 0, .infer = infer_constant},
    {.name = "ConstantOfShape", .min_inputs = 1, .max_inputs = 1, .infer = infer_constant_of_shape},
    {.name = "Range", .min_inputs = 3, .max_inputs = 3, .infer = infer_range},
    {.name = "NonZero", .min_inputs = 1, .max_inputs = 1, .infer = infer_nonzero},
    {0},
};
