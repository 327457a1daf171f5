/*
 * CUDA kernels table: misc family (kernels in misc.cu and misc_resize.cu).
 *
 * Float32 Softmax/LogSoftmax, ReduceSum/Mean/Max/Min and Resize; ArgMax and
 * TopK also on int32/int64 (and ArgMax on int8/uint8). prepare() decodes the
 * parameters with the decoders the CPU kernels use, on host copies of the
 * constant inputs (shape.h: vp_cuda_host_inputs), and keeps what run() needs;
 * Resize also builds its per-axis tap tables there, on the host, and uploads
 * them once into a kernel-private device buffer. The tables follow
 * cpu/misc_resize.c rule for rule (coordinate transforms, the reference's
 * window placement, cubic and antialias weights, exclude_outside), so that
 * the GPU reads the same input positions with the same weights.
 *
 * Other ops of the family (Hardmax, ArgMin, ReduceProd/L1/L2/LogSum/
 * LogSumExp/SumSquare, CumSum, Einsum, NonMaxSuppression, Upsample) have no
 * entry: the plan reports them as unsupported on this backend.
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

static int need_f32(vp_op_ctx *c)
{
    if (c->in[0]->dtype != VP_DT_FLOAT)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 0 is %s; the CUDA kernel takes float32",
                          vp_dtype_name(c->in[0]->dtype));
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
    int rc = need_f32(c);
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
    return launched(c, vp_cumi_softmax(stream_of(c), st->log, c->in[0]->data, c->out[0]->data, st->O, st->D, st->I));
}

/* Reductions --------------------------------------------------------------- */

static int prep_reduce(vp_op_ctx *c)
{
    static const char *const names[] = {
        [VP_CUMI_SUM] = "ReduceSum", [VP_CUMI_MEAN] = "ReduceMean",
        [VP_CUMI_MAX] = "ReduceMax", [VP_CUMI_MIN] = "ReduceMin",
    };
    int kind = -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(c->node->op_type, names[i]) == 0)
            kind = i;
    if (kind < 0)
        return vp_op_fail(c, VP_ERR_INTERNAL, "not a reduction this kernel knows");
    int rc = need_f32(c);
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
    return launched(c, vp_cumi_reduce(stream_of(c), c->state, c->in[0]->data, c->out[0]->data));
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

/* One axis's table on the host, before upload. */
typedef struct rs_table {
    int taps;
    int64_t n;          /* output positions */
    int has_ext;        /* positions may lie outside the input (tf_crop_and_resize) */
    int32_t *idx;       /* [n][taps] */
    double *w;          /* [n][taps] */
    uint8_t *ext;       /* [n] when has_ext, else NULL */
} rs_table;

/* Source coordinate of output position y along axis d (ONNX's coordinate
 * transformation modes; the reference's "float output length" s * in). */
static double rs_coord(const vp_resize_params *p, int d, int64_t y, int64_t in_len, int *outside)
{
    double s = p->scale[d], fy = (double)y, in = (double)in_len, out_f = s * in;
    *outside = 0;
    switch (p->coord) {
    case VP_RS_HALF_PIXEL:
        return (fy + 0.5) / s - 0.5;
    case VP_RS_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)p->out[d] / out_f, center = in / 2;
        return center * (1 - adj) + (fy + 0.5) / s - 0.5;
    }
    case VP_RS_PYTORCH_HALF_PIXEL:
        return out_f == 1 ? -0.5 : (fy + 0.5) / s - 0.5;
    case VP_RS_ALIGN_CORNERS:
        return out_f == 1 ? 0.0 : fy * (in - 1) / (out_f - 1);
    case VP_RS_TF_HALF_PIXEL_FOR_NN:
        return (fy + 0.5) / s;
    case VP_RS_TF_CROP_AND_RESIZE: {
        double lo = p->roi_lo[d], hi = p->roi_hi[d], x;
        if (p->roi_f32) {
            /* float32 roi: its difference and its product with (in - 1) are
             * float32 operations in the reference */
            float span = (float)hi - (float)lo, in1 = (float)(in_len - 1);
            x = out_f == 1 ? (double)((span * in1) / 2.0f) : fy * (double)span * (in - 1) / (out_f - 1);
            x += (double)((float)lo * in1);
        } else {
            x = out_f == 1 ? (hi - lo) * (in - 1) / 2 : fy * (hi - lo) * (in - 1) / (out_f - 1);
            x += lo * (in - 1);
        }
        *outside = x < 0 || x > in - 1;
        return x;
    }
    default: /* asymmetric */
        return fy / s;
    }
}

/* Cubic weights of the 4 taps for ratio r, in the reference's expressions. */
static void rs_cubic(double r, double A, double *w)
{
    double r1 = r + 1, q = 1 - r, q1 = (1 - r) + 1;
    w[0] = ((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A;
    w[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
    w[2] = ((A + 2) * q - (A + 3)) * q * q + 1;
    w[3] = ((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A;
}

/* Antialiased cubic kernel at distance x. */
static double rs_cubic_aa(double x, double A)
{
    x = fabs(x);
    double x2 = x * x, x3 = x * x2;
    if (x <= 1)
        return (A + 2) * x3 - (A + 3) * x2 + 1;
    if (x < 2)
        return A * x3 - 5 * A * x2 + 8 * A * x - 4 * A;
    return 0;
}

/* First of the n (even) taps around x, placed on the edge-padded coordinate
 * as the reference places it. */
static int64_t rs_window(double x, int n)
{
    int pad = (n + 1) / 2;
    double xp = x + pad, pf = floor(xp);
    return (int64_t)pf + (xp - pf == 0 ? -(n / 2) : -(n / 2) + 1) - pad;
}

static int rs_taps(const vp_resize_params *p, double s)
{
    if (p->mode == VP_RS_NEAREST)
        return 1;
    if (!p->antialias)
        return p->mode == VP_RS_LINEAR ? 2 : 4;
    double sc = s < 1 ? s : 1;
    int64_t start = (int64_t)floor((p->mode == VP_RS_LINEAR ? -1.0 : -2.0) / sc) + 1;
    return (int)(2 - 2 * start);
}

static int64_t rs_clamp(int64_t v, int64_t hi) { return v < 0 ? 0 : v > hi ? hi : v; }

static void rs_fill(const vp_resize_params *p, int d, int64_t in_len, rs_table *a)
{
    int n = a->taps;
    double s = p->scale[d], sc = s < 1 ? s : 1;
    for (int64_t o = 0; o < a->n; o++) {
        int32_t *ix = a->idx + o * n;
        double *w = a->w + o * n;
        int outside = 0;
        if (p->identity[d]) {
            ix[0] = (int32_t)o;
            w[0] = 1;
            continue;
        }
        double x = rs_coord(p, d, o, in_len, &outside);
        if (a->ext)
            a->ext[o] = (uint8_t)outside;
        /* ratio in (0, 1]: an integral x is ratio 1 from the left neighbour */
        double f = floor(x), r = x == f ? 1.0 : x - f;
        if (p->mode == VP_RS_NEAREST) {
            int64_t k;
            if (p->nearest == VP_RS_SIMPLE) {
                k = s < 1 ? (int64_t)ceil(x) : (int64_t)x;
            } else {
                int up = r == 1.0 || p->nearest == VP_RS_CEIL ||
                         (p->nearest == VP_RS_ROUND_PREFER_FLOOR && r > 0.5) ||
                         (p->nearest == VP_RS_ROUND_PREFER_CEIL && r >= 0.5);
                k = rs_window(x, 2) + up;
            }
            ix[0] = (int32_t)rs_clamp(k, in_len - 1);
            w[0] = 1;
            continue;
        }
        int64_t first = rs_window(x, n);
        double cc[4], sum = 0;
        if (p->mode == VP_RS_CUBIC && !p->antialias)
            rs_cubic(r, p->cubic_a, cc);
        for (int j = 0; j < n; j++) {
            double off = (double)(j - n / 2 + 1) - r; /* tap position relative to x */
            double wj;
            if (p->mode == VP_RS_LINEAR)
                wj = p->antialias ? fmax(0.0, 1 - fabs(off * sc)) : (j == 0 ? 1 - r : r);
            else
                wj = p->antialias ? rs_cubic_aa(sc * off, p->cubic_a) : cc[j];
            w[j] = wj;
            ix[j] = (int32_t)rs_clamp(first + j, in_len - 1);
            sum += wj;
        }
        /* antialias normalises; exclude_outside then drops the taps past the
         * edges and renormalises (an all-zero row stays zero) */
        if (p->antialias)
            for (int j = 0; j < n; j++)
                w[j] /= sum;
        if (p->exclude_outside) {
            sum = 0;
            for (int j = 0; j < n; j++) {
                int64_t k = first + j;
                if (k < 0 || k >= in_len)
                    w[j] = 0;
                sum += w[j];
            }
            if (sum == 0)
                sum = 1;
            for (int j = 0; j < n; j++)
                w[j] /= sum;
        }
    }
}

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

/* Lay out table a at host + off and point k at the same place in dev. */
static void rs_place(char *host, char *dev, size_t *off, rs_table *a, vp_cumi_rs_axis *k)
{
    size_t nt = (size_t)a->n * (size_t)a->taps;
    a->w = (double *)(void *)(host + *off);
    k->w = (const double *)(const void *)(dev + *off);
    *off += nt * sizeof(double);
    a->idx = (int32_t *)(void *)(host + *off);
    k->idx = (const int32_t *)(const void *)(dev + *off);
    *off += nt * sizeof(int32_t);
    k->ext = NULL;
    a->ext = NULL;
    if (a->has_ext) {
        a->ext = (uint8_t *)(host + *off);
        k->ext = (const uint8_t *)(dev + *off);
        memset(a->ext, 0, (size_t)a->n);
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
    int rc = need_f32(c);
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
    rs_table tab[VP_MAX_DIMS], unit = {.taps = 1, .n = 1};
    size_t bytes = rs_bytes(1, 1, 0);
    for (int d = 0; d < r; d++) {
        if (y->shape.d[d] != p.out[d])
            return vp_op_fail(c, VP_ERR_INTERNAL, "output shape differs from the inferred one");
        if (x->shape.d[d] == 0 && p.out[d] > 0)
            return vp_op_fail(c, VP_ERR_SHAPE, "cannot resize empty axis %d to %lld", d, (long long)p.out[d]);
        if (x->shape.d[d] > INT32_MAX)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "axis %d has more than 2^31 elements", d);
        tab[d].taps = p.identity[d] ? 1 : rs_taps(&p, p.scale[d]);
        if (tab[d].taps < 1 || tab[d].taps > 4096)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "filter of %d taps along axis %d", tab[d].taps, d);
        tab[d].n = p.out[d];
        tab[d].has_ext = p.coord == VP_RS_TF_CROP_AND_RESIZE && !p.identity[d];
        bytes += rs_bytes(tab[d].n, tab[d].taps, tab[d].has_ext);
    }
    rs_state *st = calloc(1, sizeof *st);
    char *host = malloc(bytes);
    if (!st || !host) {
        free(st);
        free(host);
        return VP_ERR_NOMEM;
    }
    cudaError_t e = cudaMalloc(&st->dev, bytes);
    if (e != cudaSuccess) {
        free(st);
        free(host);
        return vp_cuda_fail("CUDA", "cudaMalloc (resize tables)", (int)e, cudaGetErrorName(e), __FILE__, __LINE__);
    }
    vp_cumi_rs *k = &st->k;
    size_t off = 0;
    k->rank = r;
    k->ev = (float)p.extrapolation;
    rs_place(host, st->dev, &off, &unit, &k->ay);
    unit.idx[0] = 0;
    unit.w[0] = 1;
    for (int d = 0; d < r; d++) {
        k->in[d] = x->shape.d[d];
        k->out[d] = p.out[d];
        rs_place(host, st->dev, &off, &tab[d], &k->ax[d]);
        rs_fill(&p, d, x->shape.d[d], &tab[d]);
    }
    /* planar: the leading axes are copied unchanged */
    k->planar = 1;
    for (int d = 0; d < r - 2; d++)
        k->planar &= p.identity[d];
    if (r >= 2)
        k->ay = k->ax[r - 2];
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
    return launched(c, vp_cumi_resize(stream_of(c), &st->k, c->in[0]->data, c->out[0]->data));
}

const vp_kernel vp_cuda_misc[] = {
    {.name = "Softmax", .prepare = prep_softmax, .run = run_softmax, .release = release_free},
    {.name = "LogSoftmax", .prepare = prep_softmax, .run = run_softmax, .release = release_free},
    {.name = "ReduceMean", .prepare = prep_reduce, .run = run_reduce, .release = release_free},
    {.name = "ReduceMax", .prepare = prep_reduce, .run = run_reduce, .release = release_free},
    {.name = "ReduceMin", .prepare = prep_reduce, .run = run_reduce, .release = release_free},
    {.name = "ReduceSum", .prepare = prep_reduce, .run = run_reduce, .release = release_free},
    {.name = "ArgMax", .prepare = prep_argmax, .run = run_argmax, .release = release_free},
    {.name = "TopK", .prepare = prep_topk, .run = run_topk, .release = release_free},
    {.name = "Resize", .prepare = prep_resize, .run = run_resize, .release = release_resize},
    {0},
};
