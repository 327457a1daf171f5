/*
 * CUDA kernels table: shape family (kernels in shape.cu).
 *
 * These ops move bytes, so they accept every dtype by element size. Layout
 * ops describe their copy as strided views once, in prepare(), with the same
 * parameter decoders as infer() and the CPU kernels (vp_shapeop_slice,
 * _split, _pad), fed host copies of their constant inputs
 * (vp_cuda_host_inputs); run() only binds the pointers and launches.
 *
 * The view ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity) are
 * normally aliases the plan resolves without a step; when one does run, it
 * is a device-to-device copy. Shape, Size, ConstantOfShape, Range and
 * Constant are always folded on the CPU and have no entry here, nor have
 * GatherElements, ScatterND, NonZero, Trilu, DepthToSpace and SpaceToDepth
 * (the plan reports them as unsupported on this backend).
 */
#include "engine/cuda/shape.h"
#include "engine/cpu/shape.h"

#include <stdlib.h>
#include <string.h>

/* Helpers ---------------------------------------------------------------- */

void vp_cush_view_simplify(vp_cush_view *v)
{
    int r = 0;
    v->n = 1;
    for (int k = 0; k < v->rank; k++)
        v->n *= v->shape[k];
    for (int k = 0; k < v->rank; k++) {
        if (v->shape[k] == 1)
            continue;
        if (r > 0 && v->dst_st[r - 1] == v->dst_st[k] * v->shape[k] &&
            v->src_st[r - 1] == v->src_st[k] * v->shape[k]) {
            v->shape[r - 1] *= v->shape[k];
            v->dst_st[r - 1] = v->dst_st[k];
            v->src_st[r - 1] = v->src_st[k];
            continue;
        }
        v->shape[r] = v->shape[k];
        v->dst_st[r] = v->dst_st[k];
        v->src_st[r] = v->src_st[k];
        r++;
    }
    v->rank = r;
}

void vp_cuda_host_inputs_free(vp_cuda_host_in *h)
{
    for (int i = 0; i < VP_CUDA_HOST_IN_MAX; i++) {
        free(h->t[i].data);
        h->t[i].data = NULL;
    }
}

int vp_cuda_host_inputs(vp_op_ctx *c, unsigned mask, vp_cuda_host_in *h)
{
    vp_cuda_ctx *cu = c->dev;
    memset(h, 0, sizeof *h);
    h->c = *c;
    h->c.in = h->in;
    if (c->n_in > VP_CUDA_HOST_IN_MAX)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "%d inputs, at most %d supported", c->n_in, VP_CUDA_HOST_IN_MAX);
    int copied = 0;
    for (int i = 0; i < c->n_in; i++) {
        if (!c->in[i])
            continue;
        h->t[i] = *c->in[i];
        h->t[i].data = NULL;
        h->in[i] = &h->t[i];
        if (!(mask >> i & 1) || !c->in_const || !c->in_const[i] || !c->in[i]->data)
            continue;
        size_t bytes = vp_tensor_bytes(c->in[i]);
        h->t[i].data = malloc(bytes ? bytes : 1);
        if (!h->t[i].data) {
            vp_cuda_host_inputs_free(h);
            return VP_ERR_NOMEM;
        }
        if (!bytes)
            continue;
        cudaError_t e = cudaMemcpyAsync(h->t[i].data, c->in[i]->data, bytes, cudaMemcpyDeviceToHost, cu->stream);
        if (e != cudaSuccess) {
            vp_cuda_host_inputs_free(h);
            return vp_cuda_fail("CUDA", "cudaMemcpyAsync (constant input to host)", (int)e, cudaGetErrorName(e),
                                __FILE__, __LINE__);
        }
        copied = 1;
    }
    if (copied) {
        /* the plan uploaded the constants on this stream: wait for both */
        cudaError_t e = cudaStreamSynchronize(cu->stream);
        if (e != cudaSuccess) {
            vp_cuda_host_inputs_free(h);
            return vp_cuda_fail("CUDA", "cudaStreamSynchronize", (int)e, cudaGetErrorName(e), __FILE__, __LINE__);
        }
    }
    return VP_OK;
}

static cudaStream_t stream_of(const vp_op_ctx *c) { return ((const vp_cuda_ctx *)c->dev)->stream; }

static int check_esize(vp_op_ctx *c, size_t es)
{
    if (es != 1 && es != 2 && es != 4 && es != 8)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "element size %zu bytes", es);
    return VP_OK;
}

/* Copy plans: views with an element offset each --------------------------- */

typedef struct cs_part {
    vp_cush_view v;
    int64_t off;   /* elements: into the output (Concat) or the input (Split, Slice) */
} cs_part;

typedef struct copy_state {
    size_t es;
    int n;
    cs_part part[];
} copy_state;

static void release_free(void *st) { free(st); }

/* A state of n parts for element size es, installed in c->state. */
static copy_state *cs_new(vp_op_ctx *c, int n, size_t es)
{
    copy_state *st = calloc(1, sizeof *st + (size_t)(n > 0 ? n : 1) * sizeof(cs_part));
    if (!st)
        return NULL;
    st->es = es;
    st->n = n;
    c->state = st;
    return st;
}

/* One view, input 0 (offset by part 0's off) to output 0. */
static int run_view(vp_op_ctx *c)
{
    const copy_state *st = c->state;
    const char *src = (const char *)c->in[0]->data + st->part[0].off * (int64_t)st->es;
    return vp_cush_copy(stream_of(c), c->out[0]->data, src, &st->part[0].v, st->es);
}

/* Views ------------------------------------------------------------------- */

static int run_copy(vp_op_ctx *c)
{
    size_t bytes = vp_tensor_bytes(c->in[0]);
    if (bytes && c->out[0]->data != c->in[0]->data)
        VP_CUDA(cudaMemcpyAsync(c->out[0]->data, c->in[0]->data, bytes, cudaMemcpyDeviceToDevice, stream_of(c)));
    return VP_OK;
}

/* Transpose ---------------------------------------------------------------- */

static int prep_transpose(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    const vp_tensor *y = c->out[0];
    int r = x->shape.rank, n;
    size_t es = vp_dtype_size(x->dtype);
    int rc = check_esize(c, es);
    if (rc)
        return rc;
    const int64_t *perm = vp_attr_ints(c->node, "perm", &n);
    copy_state *st = cs_new(c, 1, es);
    if (!st)
        return VP_ERR_NOMEM;
    int64_t ist[VP_MAX_DIMS], ost[VP_MAX_DIMS];
    vp_cpu_dense_strides(&x->shape, ist);
    vp_cpu_dense_strides(&y->shape, ost);
    vp_cush_view *v = &st->part[0].v;
    v->rank = r;
    for (int k = 0; k < r; k++) {
        v->shape[k] = y->shape.d[k];
        v->dst_st[k] = ost[k];
        v->src_st[k] = ist[perm ? perm[k] : r - 1 - k];
    }
    vp_cush_view_simplify(v);
    return VP_OK;
}

/* Concat ------------------------------------------------------------------- */

static int prep_concat(vp_op_ctx *c)
{
    const vp_tensor *y = c->out[0];
    int r = y->shape.rank;
    int axis = vp_norm_axis(vp_attr_i(c->node, "axis", 0), r);
    size_t es = vp_dtype_size(y->dtype);
    int rc = check_esize(c, es);
    if (rc)
        return rc;
    if (axis < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "axis out of range");
    copy_state *st = cs_new(c, c->n_in, es);
    if (!st)
        return VP_ERR_NOMEM;
    int64_t outer = 1, tail = 1;
    for (int k = 0; k < axis; k++)
        outer *= y->shape.d[k];
    for (int k = axis + 1; k < r; k++)
        tail *= y->shape.d[k];
    int64_t tot = y->shape.d[axis] * tail, off = 0;
    for (int i = 0; i < c->n_in; i++) {
        int64_t len = c->in[i]->shape.d[axis] * tail;
        vp_cush_view *v = &st->part[i].v;
        v->rank = 2;
        v->shape[0] = outer;
        v->shape[1] = len;
        v->dst_st[0] = tot;
        v->dst_st[1] = 1;
        v->src_st[0] = len;
        v->src_st[1] = 1;
        vp_cush_view_simplify(v);
        st->part[i].off = off;
        off += len;
    }
    return VP_OK;
}

static int run_concat(vp_op_ctx *c)
{
    const copy_state *st = c->state;
    for (int i = 0; i < st->n; i++) {
        char *dst = (char *)c->out[0]->data + st->part[i].off * (int64_t)st->es;
        /* an input the plan had its producer write in place is already there */
        if (st->part[i].v.n == 0 || (const void *)dst == c->in[i]->data)
            continue;
        int rc = vp_cush_copy(stream_of(c), dst, c->in[i]->data, &st->part[i].v, st->es);
        if (rc)
            return rc;
    }
    return VP_OK;
}

/* Split -------------------------------------------------------------------- */

static int prep_split(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    size_t es = vp_dtype_size(x->dtype);
    int rc = check_esize(c, es);
    if (rc)
        return rc;
    int64_t *sizes = malloc(sizeof(int64_t) * (size_t)(c->n_out > 0 ? c->n_out : 1));
    if (!sizes)
        return VP_ERR_NOMEM;
    vp_cuda_host_in h;
    int axis = 0;
    rc = vp_cuda_host_inputs(c, 1u << 1, &h);
    if (!rc)
        rc = vp_shapeop_split(&h.c, &axis, sizes);
    vp_cuda_host_inputs_free(&h);
    copy_state *st = rc ? NULL : cs_new(c, c->n_out, es);
    if (!rc && !st)
        rc = VP_ERR_NOMEM;
    if (rc) {
        free(sizes);
        return rc;
    }
    int r = x->shape.rank;
    int64_t outer = 1, tail = 1;
    for (int k = 0; k < axis; k++)
        outer *= x->shape.d[k];
    for (int k = axis + 1; k < r; k++)
        tail *= x->shape.d[k];
    int64_t tot = x->shape.d[axis] * tail, off = 0;
    for (int i = 0; i < c->n_out; i++) {
        int64_t len = sizes[i] * tail;
        vp_cush_view *v = &st->part[i].v;
        v->rank = 2;
        v->shape[0] = c->out[i] ? outer : 0; /* absent output: nothing to write */
        v->shape[1] = len;
        v->dst_st[0] = len;
        v->dst_st[1] = 1;
        v->src_st[0] = tot;
        v->src_st[1] = 1;
        vp_cush_view_simplify(v);
        st->part[i].off = off;
        off += len;
    }
    free(sizes);
    return VP_OK;
}

static int run_split(vp_op_ctx *c)
{
    const copy_state *st = c->state;
    for (int i = 0; i < st->n; i++) {
        if (!c->out[i] || st->part[i].v.n == 0)
            continue;
        const char *src = (const char *)c->in[0]->data + st->part[i].off * (int64_t)st->es;
        int rc = vp_cush_copy(stream_of(c), c->out[i]->data, src, &st->part[i].v, st->es);
        if (rc)
            return rc;
    }
    return VP_OK;
}

/* Slice -------------------------------------------------------------------- */

static int prep_slice(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    size_t es = vp_dtype_size(x->dtype);
    int rc = check_esize(c, es);
    if (rc)
        return rc;
    int64_t start[VP_MAX_DIMS], step[VP_MAX_DIMS], ist[VP_MAX_DIMS], ost[VP_MAX_DIMS];
    vp_shape o;
    vp_cuda_host_in h;
    rc = vp_cuda_host_inputs(c, 0x1eu, &h); /* starts, ends, axes, steps */
    if (!rc)
        rc = vp_shapeop_slice(&h.c, start, step, &o);
    vp_cuda_host_inputs_free(&h);
    if (rc)
        return rc;
    copy_state *st = cs_new(c, 1, es);
    if (!st)
        return VP_ERR_NOMEM;
    int r = x->shape.rank;
    vp_cpu_dense_strides(&x->shape, ist);
    vp_cpu_dense_strides(&o, ost);
    vp_cush_view *v = &st->part[0].v;
    v->rank = r;
    st->part[0].off = 0;
    for (int k = 0; k < r; k++) {
        v->shape[k] = o.d[k];
        v->dst_st[k] = ost[k];
        v->src_st[k] = step[k] * ist[k];
        st->part[0].off += start[k] * ist[k];
    }
    vp_cush_view_simplify(v);
    if (v->n == 0)
        st->part[0].off = 0;
    return VP_OK;
}

/* Gather ------------------------------------------------------------------- */

typedef struct gather_state {
    int64_t outer, n_ax, nidx, inner;
    size_t es;
    int idx64;
} gather_state;

static int prep_gather(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0], *idx = c->in[1];
    int r = x->shape.rank;
    int axis = vp_norm_axis(vp_attr_i(c->node, "axis", 0), r);
    size_t es = vp_dtype_size(x->dtype);
    int rc = check_esize(c, es);
    if (rc)
        return rc;
    if (axis < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "axis out of range");
    if (idx->dtype != VP_DT_INT64 && idx->dtype != VP_DT_INT32)
        return vp_op_fail(c, VP_ERR_INVALID, "indices must be int32 or int64");
    int64_t n_ax = x->shape.d[axis], nidx = vp_tensor_numel(idx);
    /* constant indices are checked once, as the CPU kernel checks them; the
     * kernel itself writes zeros for an index out of range */
    if (c->in_const && c->in_const[1] && nidx > 0) {
        vp_cuda_host_in h;
        rc = vp_cuda_host_inputs(c, 1u << 1, &h);
        for (int64_t j = 0; !rc && h.in[1]->data && j < nidx; j++) {
            int64_t v = vp_tensor_get_i64(h.in[1], j);
            if (v < -n_ax || v >= n_ax)
                rc = vp_op_fail(c, VP_ERR_INVALID, "index %lld out of range for axis %d of size %lld",
                                (long long)v, axis, (long long)n_ax);
        }
        vp_cuda_host_inputs_free(&h);
        if (rc)
            return rc;
    }
    gather_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    c->state = st;
    st->outer = 1;
    st->inner = 1;
    for (int k = 0; k < axis; k++)
        st->outer *= x->shape.d[k];
    for (int k = axis + 1; k < r; k++)
        st->inner *= x->shape.d[k];
    st->n_ax = n_ax;
    st->nidx = nidx;
    st->es = es;
    st->idx64 = idx->dtype == VP_DT_INT64;
    return VP_OK;
}

static int run_gather(vp_op_ctx *c)
{
    const gather_state *st = c->state;
    return vp_cush_gather(stream_of(c), c->out[0]->data, c->in[0]->data, c->in[1]->data, st->idx64, st->outer,
                          st->n_ax, st->nidx, st->inner, st->es);
}

/* Expand / Tile ------------------------------------------------------------ */

static int prep_expand(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    const vp_tensor *y = c->out[0];
    int ro = y->shape.rank, ri = x->shape.rank;
    size_t es = vp_dtype_size(x->dtype);
    int rc = check_esize(c, es);
    if (rc)
        return rc;
    copy_state *st = cs_new(c, 1, es);
    if (!st)
        return VP_ERR_NOMEM;
    int64_t ist[VP_MAX_DIMS], ost[VP_MAX_DIMS];
    vp_cpu_dense_strides(&x->shape, ist);
    vp_cpu_dense_strides(&y->shape, ost);
    vp_cush_view *v = &st->part[0].v;
    v->rank = ro;
    for (int k = 0; k < ro; k++) {
        int ki = k - (ro - ri);
        v->shape[k] = y->shape.d[k];
        v->dst_st[k] = ost[k];
        v->src_st[k] = ki >= 0 && x->shape.d[ki] != 1 ? ist[ki] : 0;
    }
    vp_cush_view_simplify(v);
    return VP_OK;
}

/* Tile as a copy of 2r dims: output dim k is [repeat, d_k], the repeat dim
 * reading the source with stride 0. */
static int prep_tile(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    const vp_tensor *y = c->out[0];
    int r = x->shape.rank;
    size_t es = vp_dtype_size(x->dtype);
    int rc = check_esize(c, es);
    if (rc)
        return rc;
    copy_state *st = cs_new(c, 1, es);
    if (!st)
        return VP_ERR_NOMEM;
    vp_cush_view *v = &st->part[0].v;
    if (vp_tensor_numel(y) == 0) {
        v->rank = 1; /* n = 0: nothing to do */
        vp_cush_view_simplify(v);
        return VP_OK;
    }
    int64_t ist[VP_MAX_DIMS], ost[VP_MAX_DIMS];
    vp_cpu_dense_strides(&x->shape, ist);
    vp_cpu_dense_strides(&y->shape, ost);
    v->rank = 2 * r;
    for (int k = 0; k < r; k++) {
        int64_t d = x->shape.d[k];
        v->shape[2 * k] = y->shape.d[k] / d;
        v->shape[2 * k + 1] = d;
        v->dst_st[2 * k] = d * ost[k];
        v->dst_st[2 * k + 1] = ost[k];
        v->src_st[2 * k] = 0;
        v->src_st[2 * k + 1] = ist[k];
    }
    vp_cush_view_simplify(v);
    return VP_OK;
}

/* Pad ---------------------------------------------------------------------- */

typedef struct pad_state {
    vp_cush_pad p;
    size_t es;
    int value_input;  /* the fill element is input 2 (device memory) */
} pad_state;

static int prep_pad(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    const vp_tensor *y = c->out[0];
    size_t es = vp_dtype_size(x->dtype);
    int rc = check_esize(c, es);
    if (rc)
        return rc;
    int64_t pb[VP_MAX_DIMS], pe[VP_MAX_DIMS], ist[VP_MAX_DIMS];
    int mode = VP_PAD_CONSTANT;
    vp_cuda_host_in h;
    rc = vp_cuda_host_inputs(c, (1u << 1) | (1u << 3), &h); /* pads, axes */
    if (!rc)
        rc = vp_shapeop_pad(&h.c, pb, pe, &mode);
    vp_cuda_host_inputs_free(&h);
    if (rc)
        return rc;
    pad_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    c->state = st;
    st->es = es;
    vp_cush_pad *p = &st->p;
    int r = x->shape.rank;
    vp_cpu_dense_strides(&x->shape, ist);
    p->rank = r;
    p->mode = mode;
    p->n = vp_tensor_numel(y);
    /* negative pads crop the input first; what remains is padded */
    for (int k = 0; k < r; k++) {
        int64_t cb = pb[k] < 0 ? -pb[k] : 0, ce = pe[k] < 0 ? -pe[k] : 0;
        p->out[k] = y->shape.d[k];
        p->src_st[k] = ist[k];
        p->len[k] = x->shape.d[k] - cb - ce;
        p->pb[k] = pb[k] > 0 ? pb[k] : 0;
        p->src_off += cb * ist[k];
    }
    if (mode == VP_PAD_CONSTANT) {
        if (c->opset < 11) {
            vp_tensor v = {.dtype = x->dtype, .shape = {.rank = 0}, .data = p->value};
            vp_tensor_set_f64(&v, 0, vp_attr_f(c->node, "value", 0.f));
        } else if (c->n_in > 2 && c->in[2]) {
            st->value_input = 1;
        }
    }
    return VP_OK;
}

static int run_pad(vp_op_ctx *c)
{
    const pad_state *st = c->state;
    return vp_cush_pad_run(stream_of(c), c->out[0]->data, c->in[0]->data, &st->p,
                           st->value_input ? c->in[2]->data : NULL, st->es);
}

const vp_kernel vp_cuda_shape[] = {
    {.name = "Reshape", .run = run_copy},
    {.name = "Flatten", .run = run_copy},
    {.name = "Squeeze", .run = run_copy},
    {.name = "Unsqueeze", .run = run_copy},
    {.name = "Identity", .run = run_copy},
    {.name = "Transpose", .prepare = prep_transpose, .run = run_view, .release = release_free},
    {.name = "Concat", .prepare = prep_concat, .run = run_concat, .release = release_free},
    {.name = "Split", .prepare = prep_split, .run = run_split, .release = release_free},
    {.name = "Slice", .prepare = prep_slice, .run = run_view, .release = release_free},
    {.name = "Gather", .prepare = prep_gather, .run = run_gather, .release = release_free},
    {.name = "Expand", .prepare = prep_expand, .run = run_view, .release = release_free},
    {.name = "Tile", .prepare = prep_tile, .run = run_view, .release = release_free},
    {.name = "Pad", .prepare = prep_pad, .run = run_pad, .release = release_free},
    {0},
};
