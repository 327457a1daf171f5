/*
 * CUDA kernels table: misc family (kernels in misc.cu and misc_resize.cu).
 *
 * Float32 and float16 Softmax/LogSoftmax, ReduceSum/Mean/Max/Min/L2/SumSquare and
 * Resize; ArgMax and TopK also on int32/int64 (and ArgMax on int8/uint8).
 * Resize's roi and scales inputs stay float32 (or any float type) in float16
 * plans: they are only read on the host, here. prepare() decodes the
 * parameters with the decoders the CPU kernels use, on host copies of the
 * constant inputs (shape.h: vp_cuda_host_inputs), and keeps what run() needs;
 * Resize also builds its per-axis tap tables there, on the host, and uploads
 * them once into a kernel-private device buffer. The tables come from the
 * builder the CPU kernel uses (ops/misc_resize_table.c), so that the GPU
 * reads the same input positions with the same weights.
 *
 * Other ops of the family (Hardmax, ArgMin, ReduceProd/L1/LogSum/
 * LogSumExp, CumSum, Einsum, NonMaxSuppression) have no entry:
 * the plan reports them as unsupported on this backend. Upsample (opset
 * 7..9) is Resize's kernel: the shared decoder reads its scales.
 */
#include "engine/cuda/misc.h"
#include "engine/cuda/shape.h"
#include "engine/ops/misc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static cudaStream_t stream_of(const vp_op_ctx *c) { return ((const vp_cuda_ctx *)c->dev)->stream; }

static void release_free(void *st) { free(st); }

/* The launchers' status as a kernel status (VP_ERR_UNSUPPORTED gets a
 * message naming the op's inputs). */
static int launched(vp_op_ctx *c, int rc)
{
    if (rc == VP_ERR_UNSUPPORTED)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "no CUDA kernel for input type %s",
                          vp_dtype_name(c->in[0]->dtype));
    return rc;
}

/* Input 0 (and output 0) float32 or float16. */
static int need_flt(vp_op_ctx *c)
{
    vp_dtype dt = c->in[0]->dtype;
    if (dt != VP_DT_FLOAT && dt != VP_DT_FLOAT16)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 0 is %s; the CUDA kernel takes float32 or float16",
                          vp_dtype_name(dt));
    if (c->out[0] && c->out[0]->dtype != dt)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "output 0 is %s but input 0 is %s",
                          vp_dtype_name(c->out[0]->dtype), vp_dtype_name(dt));
    return VP_OK;
}

/* [O, D, I] around one axis of input 0. */
static void line_dims(const vp_shape *s, int ax, int64_t *O, int64_t *D, int64_t *I)
{
    *O = 1;
    *I = 1;
    for (int i = 0; i < ax; i++)
        *O *= s->d[i];
    *D = s->d[ax];
    for (int i = ax + 1; i < s->rank; i++)
        *I *= s->d[i];
}

/* Softmax / LogSoftmax ----------------------------------------------------- */

typedef struct sm_state {
    int64_t O, D, I;
    int log;
} sm_state;

static int prep_softmax(vp_op_ctx *c)
{
    int64_t O, D, I;
    int rc = need_flt(c);
    if (!rc)
        rc = vp_misc_softmax_dims(c, &O, &D, &I);
    if (rc)
        return rc;
    sm_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    st->O = O;
    st->D = D;
    st->I = I;
    st->log = strcmp(c->node->op_type, "LogSoftmax") == 0;
    c->state = st;
    return VP_OK;
}

static int run_softmax(vp_op_ctx *c)
{
    const sm_state *st = c->state;
    return launched(c, vp_cumi_softmax(stream_of(c), c->in[0]->dtype, st->log, c->in[0]->data, c->out[0]->data, st->O,
                                       st->D, st->I));
}

/* Reductions --------------------------------------------------------------- */

static int prep_reduce(vp_op_ctx *c)
{
    static const char *const names[] = {
        [VP_CUMI_SUM] = "ReduceSum", [VP_CUMI_MEAN] = "ReduceMean",
        [VP_CUMI_MAX] = "ReduceMax", [VP_CUMI_MIN] = "ReduceMin",
        [VP_CUMI_L2] = "ReduceL2", [VP_CUMI_SUMSQ] = "ReduceSumSquare",
    };
    int kind = -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(c->node->op_type, names[i]) == 0)
            kind = i;
    if (kind < 0)
        return vp_op_fail(c, VP_ERR_INTERNAL, "not a reduction this kernel knows");
    int rc = need_flt(c);
    if (rc)
        return rc;
    uint8_t red[VP_MAX_DIMS];
    vp_cuda_host_in h;
    rc = vp_cuda_host_inputs(c, 1u << 1, &h); /* axes (ReduceSum from 13, the others from 18) */
    if (!rc)
        rc = vp_misc_reduce_axes(&h.c, red);
    vp_cuda_host_inputs_free(&h);
    if (rc)
        return rc;
    vp_cumi_red *g = calloc(1, sizeof *g);
    if (!g)
        return VP_ERR_NOMEM;
    g->kind = kind;
    /* merge: size-1 dimensions dropped, neighbours of the same kind joined */
    const vp_shape *s = &c->in[0]->shape;
    int nm = 0;
    int64_t msz[VP_MAX_DIMS], mst[VP_MAX_DIMS];
    uint8_t mred[VP_MAX_DIMS];
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] == 1)
            continue;
        if (nm > 0 && mred[nm - 1] == red[i]) {
            msz[nm - 1] *= s->d[i];
        } else {
            msz[nm] = s->d[i];
            mred[nm++] = red[i];
        }
    }
    int64_t stride = 1;
    for (int i = nm - 1; i >= 0; i--) {
        mst[i] = stride;
        stride *= msz[i];
    }
    g->n_out = g->n_red = 1;
    for (int i = 0; i < nm; i++) {
        if (mred[i]) {
            g->rsz[g->nr] = msz[i];
            g->rst[g->nr++] = mst[i];
            g->n_red *= msz[i];
        } else {
            g->ksz[g->nk] = msz[i];
            g->kst[g->nk++] = mst[i];
            g->n_out *= msz[i];
        }
    }
    g->last_red = nm > 0 && mred[nm - 1];
    if (g->n_out != vp_tensor_numel(c->out[0])) {
        free(g);
        return vp_op_fail(c, VP_ERR_INTERNAL, "reduction geometry disagrees with the output shape");
    }
    c->state = g;
    return VP_OK;
}

static int run_reduce(vp_op_ctx *c)
{
    return launched(c, vp_cumi_reduce(stream_of(c), c->in[0]->dtype, c->state, c->in[0]->data, c->out[0]->data));
}

/* ArgMax ------------------------------------------------------------------- */

typedef struct arg_state {
    int64_t O, D, I;
    int last;
} arg_state;

static int prep_argmax(vp_op_ctx *c)
{
    const vp_shape *s = &c->in[0]->shape;
    int ax = vp_norm_axis(vp_attr_i(c->node, "axis", 0), s->rank);
    if (ax < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "axis out of range");
    int rc = launched(c, vp_cumi_argmax(stream_of(c), c->in[0]->dtype, NULL, NULL, 1, 1, 1, 0));
    if (rc)
        return rc;
    arg_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    line_dims(s, ax, &st->O, &st->D, &st->I);
    st->last = vp_attr_i(c->node, "select_last_index", 0) != 0;
    c->state = st;
    return VP_OK;
}

static int run_argmax(vp_op_ctx *c)
{
    const arg_state *st = c->state;
    return launched(c, vp_cumi_argmax(stream_of(c), c->in[0]->dtype, c->in[0]->data, c->out[0]->data, st->O, st->D,
                                      st->I, st->last));
}

/* TopK --------------------------------------------------------------------- */

typedef struct topk_state {
    int64_t O, D, I, K;
    int largest;
} topk_state;

static int prep_topk(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    const vp_tensor *o = c->out[0] ? c->out[0] : c->n_out > 1 ? c->out[1] : NULL;
    int ax = vp_norm_axis(vp_attr_i(c->node, "axis", -1), x->shape.rank);
    if (ax < 0 || !o)
        return vp_op_fail(c, VP_ERR_INVALID, "axis out of range or no output");
    topk_state t;
    line_dims(&x->shape, ax, &t.O, &t.D, &t.I);
    t.K = o->shape.d[ax]; /* k, as inference decoded it */
    t.largest = vp_attr_i(c->node, "largest", 1) != 0;
    if (t.D > vp_cumi_topk_max(x->dtype))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "axis of %lld elements; the CUDA kernel sorts at most %lld",
                          (long long)t.D, (long long)vp_cumi_topk_max(x->dtype));
    int rc = launched(c, vp_cumi_topk(stream_of(c), x->dtype, NULL, NULL, NULL, 1, t.D, 1, t.K, 1));
    if (rc)
        return rc;
    topk_state *st = malloc(sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    *st = t;
    c->state = st;
    return VP_OK;
}

static int run_topk(vp_op_ctx *c)
{
    const topk_state *st = c->state;
    void *vals = c->out[0] ? c->out[0]->data : NULL;
    int64_t *idx = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    return launched(c, vp_cumi_topk(stream_of(c), c->in[0]->dtype, c->in[0]->data, vals, idx, st->O, st->D, st->I,
                                    st->K, st->largest));
}

/* Resize: tap tables ------------------------------------------------------- */

typedef struct rs_state {
    vp_cumi_rs k;       /* tables point into dev */
    void *dev;          /* all tables, one allocation */
} rs_state;

static void release_resize(void *state)
{
    rs_state *st = state;
    if (st && st->dev)
        cudaFree(st->dev);
    free(st);
}

/* Bytes of a table with n positions of t taps, 8-byte aligned. */
static size_t rs_bytes(int64_t n, int t, int ext)
{
    size_t b = (size_t)n * (size_t)t * (sizeof(double) + sizeof(int32_t)) + (ext ? (size_t)n : 0);
    return (b + 7) & ~(size_t)7;
}

/* Copy table a to host + off, its indices narrowed to int32 (the caller
 * checked that they fit), and point k at the same place in dev. */
static void rs_place(char *host, char *dev, size_t *off, const vp_resize_axis *a, vp_cumi_rs_axis *k)
{
    size_t nt = (size_t)a->n * (size_t)a->taps;
    memcpy(host + *off, a->w, nt * sizeof(double));
    k->w = (const double *)(const void *)(dev + *off);
    *off += nt * sizeof(double);
    int32_t *idx = (int32_t *)(void *)(host + *off);
    for (size_t i = 0; i < nt; i++)
        idx[i] = (int32_t)a->idx[i];
    k->idx = (const int32_t *)(const void *)(dev + *off);
    *off += nt * sizeof(int32_t);
    k->ext = NULL;
    if (a->ext) {
        memcpy(host + *off, a->ext, (size_t)a->n);
        k->ext = (const uint8_t *)(dev + *off);
        *off += (size_t)a->n;
    }
    *off = (*off + 7) & ~(size_t)7;
    k->taps = a->taps;
}

static int prep_resize(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    const vp_tensor *y = c->out[0];
    vp_resize_params p;
    int rc = need_flt(c);
    if (rc)
        return rc;
    vp_cuda_host_in h;
    rc = vp_cuda_host_inputs(c, 0xeu, &h); /* roi, scales, sizes (scales only before opset 11) */
    if (!rc)
        rc = vp_misc_resize_params(&h.c, &p);
    vp_cuda_host_inputs_free(&h);
    if (rc)
        return rc;
    int r = p.rank;
    /* the kernels index the tables in int32 */
    for (int d = 0; d < r; d++) {
        if (y->shape.d[d] != p.out[d])
            return vp_op_fail(c, VP_ERR_INTERNAL, "output shape differs from the inferred one");
        if (x->shape.d[d] > INT32_MAX)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "axis %d has more than 2^31 elements", d);
    }
    /* the tables are the CPU kernel's (ops/misc_resize_table.c), built on
     * the host; they are narrowed and uploaded here, then dropped */
    vp_resize_tables tab;
    rc = vp_misc_resize_tables(c, &p, &x->shape, &tab);
    if (rc)
        return rc;
    static const int64_t unit_idx = 0;
    static const double unit_w = 1;
    const vp_resize_axis unit = {.taps = 1, .n = 1, .idx = (int64_t *)&unit_idx, .w = (double *)&unit_w};
    size_t bytes = rs_bytes(1, 1, 0);
    for (int d = 0; d < r; d++)
        bytes += rs_bytes(tab.ax[d].n, tab.ax[d].taps, tab.ax[d].ext != NULL);
    rs_state *st = calloc(1, sizeof *st);
    char *host = malloc(bytes);
    if (!st || !host) {
        free(st);
        free(host);
        vp_misc_resize_tables_free(&tab);
        return VP_ERR_NOMEM;
    }
    cudaError_t e = cudaMalloc(&st->dev, bytes);
    if (e != cudaSuccess) {
        free(st);
        free(host);
        vp_misc_resize_tables_free(&tab);
        return vp_cuda_fail("CUDA", "cudaMalloc (resize tables)", (int)e, cudaGetErrorName(e), __FILE__, __LINE__);
    }
    vp_cumi_rs *k = &st->k;
    size_t off = 0;
    k->rank = r;
    k->ev = (float)p.extrapolation;
    rs_place(host, st->dev, &off, &unit, &k->ay);
    for (int d = 0; d < r; d++) {
        k->in[d] = x->shape.d[d];
        k->out[d] = p.out[d];
        rs_place(host, st->dev, &off, &tab.ax[d], &k->ax[d]);
    }
    vp_misc_resize_tables_free(&tab);
    /* planar: the leading axes are copied unchanged */
    k->planar = 1;
    for (int d = 0; d < r - 2; d++)
        k->planar &= p.identity[d];
    if (r >= 2)
        k->ay = k->ax[r - 2];
    /* channels-last: only H and W (axes 1, 2) of [N, H, W, C] resized */
    k->nhwc = !k->planar && r == 4 && p.identity[0] && p.identity[3];
    /* upload on the stream the kernels run on, then wait: the host copy goes */
    e = cudaMemcpyAsync(st->dev, host, bytes, cudaMemcpyHostToDevice, stream_of(c));
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(stream_of(c));
    free(host);
    if (e != cudaSuccess) {
        release_resize(st);
        return vp_cuda_fail("CUDA", "cudaMemcpyAsync (resize tables)", (int)e, cudaGetErrorName(e), __FILE__,
                            __LINE__);
    }
    c->state = st;
    return VP_OK;
}

static int run_resize(vp_op_ctx *c)
{
    const rs_state *st = c->state;
    return launched(c, vp_cumi_resize(stream_of(c), c->in[0]->dtype, &st->k, c->in[0]->data, c->out[0]->data));
}

const vp_kernel vp_cuda_misc[] = {
    {.name = "Softmax", .prepare = prep_softmax, .run = run_softmax, .release = release_free},
    {.name = "LogSoftmax", .prepare = prep_softmax, .run = run_softmax, .release = release_free},
    {.name = "ReduceMean", .prepare = prep_reduce, .run = run_reduce, .release = release_free},
    {.name = "ReduceMax", .prepare = prep_reduce, .run = run_reduce, .release = release_free},
    {.name = "ReduceMin", .prepare = prep_reduce, .run = run_reduce, .release = release_free},
    {.name = "ReduceSum", .prepare = prep_reduce, .run = run_reduce, .release = release_free},
    {.name = "ReduceL2", .prepare = prep_reduce, .run = run_reduce, .release = release_free},
    {.name = "ReduceSumSquare", .prepare = prep_reduce, .run = run_reduce, .release = release_free},
    {.name = "ArgMax", .prepare = prep_argmax, .run = run_argmax, .release = release_free},
    {.name = "TopK", .prepare = prep_topk, .run = run_topk, .release = release_free},
    {.name = "Resize", .prepare = prep_resize, .run = run_resize, .release = release_resize},
    {.name = "Upsample", .prepare = prep_resize, .run = run_resize, .release = release_resize},
    {0},
};
