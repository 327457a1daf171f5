/*
 * CUDA kernels table: elementwise family (kernels in elementwise*.cu).
 *
 * All ops of the family share one prepare/run/release. prepare() looks the
 * op up in EW_OPS, reads its attributes, computes the broadcast geometry of
 * every launch the op makes (vp_cuew_geom_init, below) and asks the
 * launchers whether the dtypes are supported (VP_ERR_UNSUPPORTED otherwise,
 * so a model fails at plan time, never with wrong results). run() only
 * enqueues kernels, or device-to-device copies, on the engine's stream.
 *
 * Variadic ops (Max, Min, Sum, Mean) run as the CPU kernel does: o = in0 op
 * in1, then o = o op in_k, and Mean divides by the count at the end, so
 * float results round identically.
 */
#include "engine/cuda/elementwise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Broadcast geometry ------------------------------------------------------ */

void vp_cuew_geom_init(vp_cuew_geom *g, const vp_shape *out, const vp_shape *const *in, int nin)
{
    const int r = out->rank;
    int64_t full[VP_CUEW_MAXIN][VP_MAX_DIMS];
    memset(g, 0, sizeof *g);
    g->nin = nin;
    g->n = vp_shape_numel(out);
    /* Each input's element strides, aligned to the output's trailing
     * dimensions (numpy), 0 where it broadcasts. */
    for (int k = 0; k < nin; k++) {
        int64_t s = 1;
        for (int i = r - 1; i >= 0; i--) {
            const int j = i - (r - in[k]->rank);
            const int64_t d = j >= 0 ? in[k]->d[j] : 1;
            full[k][i] = d == 1 ? 0 : s;
            s *= d;
        }
    }
    /* Drop size-1 output dimensions; merge a dimension into the kept one
     * before it when every input steps through the pair as one dimension. */
    int nd = 0;
    for (int i = 0; i < r; i++) {
        const int64_t d = out->d[i];
        if (d == 1)
            continue;
        int merge = nd > 0;
        for (int k = 0; k < nin && merge; k++)
            merge = g->str[k][nd - 1] == full[k][i] * d;
        if (merge) {
            g->dim[nd - 1] *= d;
        } else {
            g->dim[nd] = d;
            nd++;
        }
        for (int k = 0; k < nin; k++)
            g->str[k][nd - 1] = full[k][i];
    }
    if (nd == 0) { /* a single element */
        g->dim[0] = 1;
        nd = 1;
    }
    g->nd = nd;
    /* Fast path: each input is a scalar, the output's shape, or a vector
     * along one output dimension (stride 1 there, 0 elsewhere). */
    int64_t cs[VP_MAX_DIMS]; /* contiguous strides of the output */
    cs[nd - 1] = 1;
    for (int d = nd - 2; d >= 0; d--)
        cs[d] = cs[d + 1] * g->dim[d + 1];
    g->fast = 1;
    for (int k = 0; k < nin; k++) {
        int nz = 0, contig = 1, last = 0;
        for (int d = 0; d < nd; d++) {
            if (g->str[k][d]) {
                nz++;
                last = d;
            }
            contig &= g->str[k][d] == cs[d];
        }
        if (nz == 0) {
            g->mode[k] = VP_CUEW_SCALAR;
        } else if (contig) {
            g->mode[k] = VP_CUEW_CONTIG;
        } else if (nz == 1 && g->str[k][last] == 1) {
            g->mode[k] = VP_CUEW_CHANNEL;
            g->ch[k] = g->dim[last];
            g->inner[k] = cs[last];
        } else {
            g->fast = 0;
        }
    }
}

/* Op table ---------------------------------------------------------------- */

enum {
    EW_BIN,   /* two inputs, broadcast */
    EW_VAR,   /* variadic: Max, Min, Sum */
    EW_MEAN,  /* variadic sum, then / count */
    EW_WHERE,
    EW_UN,
    EW_CLIP,
    EW_CAST,
};

/* X(op type, kind, op code) */
#define EW_OPS(X)                                                                                                 \
    X(Add, EW_BIN, VP_CUEW_ADD)                                                                                   \
    X(Sub, EW_BIN, VP_CUEW_SUB)                                                                                   \
    X(Mul, EW_BIN, VP_CUEW_MUL)                                                                                   \
    X(Div, EW_BIN, VP_CUEW_DIV)                                                                                   \
    X(Pow, EW_BIN, VP_CUEW_POW)                                                                                   \
    X(PRelu, EW_BIN, VP_CUEW_PRELU)                                                                               \
    X(Equal, EW_BIN, VP_CUEW_EQ)                                                                                  \
    X(Less, EW_BIN, VP_CUEW_LT)                                                                                   \
    X(Greater, EW_BIN, VP_CUEW_GT)                                                                                \
    X(LessOrEqual, EW_BIN, VP_CUEW_LE)                                                                            \
    X(GreaterOrEqual, EW_BIN, VP_CUEW_GE)                                                                         \
    X(And, EW_BIN, VP_CUEW_AND)                                                                                   \
    X(Or, EW_BIN, VP_CUEW_OR)                                                                                     \
    X(Xor, EW_BIN, VP_CUEW_XOR)                                                                                   \
    X(Max, EW_VAR, VP_CUEW_MAX)                                                                                   \
    X(Min, EW_VAR, VP_CUEW_MIN)                                                                                   \
    X(Sum, EW_VAR, VP_CUEW_ADD)                                                                                   \
    X(Mean, EW_MEAN, VP_CUEW_ADD)                                                                                 \
    X(Where, EW_WHERE, 0)                                                                                         \
    X(Abs, EW_UN, VP_CUEW_ABS)                                                                                    \
    X(Neg, EW_UN, VP_CUEW_NEG)                                                                                    \
    X(Sign, EW_UN, VP_CUEW_SIGN)                                                                                  \
    X(Sqrt, EW_UN, VP_CUEW_SQRT)                                                                                  \
    X(Exp, EW_UN, VP_CUEW_EXP)                                                                                    \
    X(Log, EW_UN, VP_CUEW_LOG)                                                                                    \
    X(Tanh, EW_UN, VP_CUEW_TANH)                                                                                  \
    X(Erf, EW_UN, VP_CUEW_ERF)                                                                                    \
    X(Floor, EW_UN, VP_CUEW_FLOOR)                                                                                \
    X(Ceil, EW_UN, VP_CUEW_CEIL)                                                                                  \
    X(Round, EW_UN, VP_CUEW_ROUND)                                                                                \
    X(Reciprocal, EW_UN, VP_CUEW_RECIP)                                                                           \
    X(Sin, EW_UN, VP_CUEW_SIN)                                                                                    \
    X(Cos, EW_UN, VP_CUEW_COS)                                                                                    \
    X(Relu, EW_UN, VP_CUEW_RELU)                                                                                  \
    X(Sigmoid, EW_UN, VP_CUEW_SIGMOID)                                                                            \
    X(HardSigmoid, EW_UN, VP_CUEW_HARDSIGMOID)                                                                    \
    X(HardSwish, EW_UN, VP_CUEW_HARDSWISH)                                                                        \
    X(LeakyRelu, EW_UN, VP_CUEW_LEAKYRELU)                                                                        \
    X(Elu, EW_UN, VP_CUEW_ELU)                                                                                    \
    X(Selu, EW_UN, VP_CUEW_SELU)                                                                                  \
    X(Celu, EW_UN, VP_CUEW_CELU)                                                                                  \
    X(Softplus, EW_UN, VP_CUEW_SOFTPLUS)                                                                          \
    X(Softsign, EW_UN, VP_CUEW_SOFTSIGN)                                                                          \
    X(ThresholdedRelu, EW_UN, VP_CUEW_THRELU)                                                                     \
    X(Gelu, EW_UN, VP_CUEW_GELU)                                                                                  \
    X(Mish, EW_UN, VP_CUEW_MISH)                                                                                  \
    X(Not, EW_UN, VP_CUEW_NOT)                                                                                    \
    X(IsNaN, EW_UN, VP_CUEW_ISNAN)                                                                                \
    X(IsInf, EW_UN, VP_CUEW_ISINF)                                                                                \
    X(Clip, EW_CLIP, 0)                                                                                           \
    X(Cast, EW_CAST, 0)                                                                                           \
    X(CastLike, EW_CAST, 0)

typedef struct ew_desc {
    const char *name;
    int kind, op;
} ew_desc;

#define EW_DESC(name, kind, op) {#name, kind, op},
static const ew_desc ew_descs[] = {EW_OPS(EW_DESC)};
#undef EW_DESC

typedef struct ew_state {
    int kind, op;
    vp_cuew_par par;    /* EW_UN */
    float lo, hi;       /* EW_CLIP before opset 11: attribute bounds */
    int has_lo, has_hi; /* ... present */
    int ngeom;
    vp_cuew_geom geom[]; /* EW_BIN, EW_WHERE: 1; EW_VAR, EW_MEAN: n_in - 1 */
} ew_state;

/* Prepare ------------------------------------------------------------------ */

static int ew_unsupported(vp_op_ctx *c, int rc, const char *what)
{
    if (rc == VP_ERR_UNSUPPORTED)
        return vp_op_fail(c, rc, "%s is not implemented on CUDA", what);
    return vp_op_fail(c, rc, "%s: checking the CUDA kernel failed", what);
}

static int ew_prepare_un(vp_op_ctx *c, ew_state *st)
{
    const vp_node *n = c->node;
    vp_cuew_par *p = &st->par;
    switch (st->op) {
    case VP_CUEW_LEAKYRELU:
        p->alpha = vp_attr_f(n, "alpha", 0.01f);
        break;
    case VP_CUEW_ELU:
    case VP_CUEW_CELU:
    case VP_CUEW_THRELU:
        p->alpha = vp_attr_f(n, "alpha", 1.f);
        break;
    case VP_CUEW_HARDSIGMOID:
        p->alpha = vp_attr_f(n, "alpha", 0.2f);
        p->beta = vp_attr_f(n, "beta", 0.5f);
        break;
    case VP_CUEW_SELU: /* the float32 values ONNX specifies */
        p->alpha = vp_attr_f(n, "alpha", 1.67326319217681884765625f);
        p->gamma = vp_attr_f(n, "gamma", 1.05070102214813232421875f);
        break;
    case VP_CUEW_ISINF:
        p->alpha = (float)vp_attr_i(n, "detect_negative", 1);
        p->beta = (float)vp_attr_i(n, "detect_positive", 1);
        break;
    case VP_CUEW_GELU:
        if (strcmp(vp_attr_s(n, "approximate", "none"), "tanh") == 0)
            st->op = VP_CUEW_GELU_TANH;
        break;
    default:
        break;
    }
    return vp_cuew_unary(NULL, st->op, c->in[0]->dtype, 0, NULL, NULL, p);
}

static int ew_prepare_clip(vp_op_ctx *c, ew_state *st)
{
    const vp_tensor *x = c->in[0];
    if (c->opset < 11) {
        const vp_attr *amin = vp_attr_find(c->node, "min"), *amax = vp_attr_find(c->node, "max");
        st->has_lo = amin != NULL;
        st->has_hi = amax != NULL;
        st->lo = amin ? amin->f : 0.f;
        st->hi = amax ? amax->f : 0.f;
        return vp_cuew_clip(NULL, x->dtype, 0, NULL, NULL, NULL, NULL, st->has_lo ? &st->lo : NULL,
                            st->has_hi ? &st->hi : NULL);
    }
    return vp_cuew_clip(NULL, x->dtype, 0, NULL, NULL, NULL, NULL, NULL, NULL);
}

static int ew_prepare(vp_op_ctx *c)
{
    const ew_desc *d = NULL;
    for (size_t i = 0; i < sizeof ew_descs / sizeof ew_descs[0] && !d; i++)
        if (strcmp(ew_descs[i].name, c->node->op_type) == 0)
            d = &ew_descs[i];
    if (!d)
        return vp_op_fail(c, VP_ERR_INTERNAL, "no CUDA elementwise kernel for %s", c->node->op_type);
    const vp_tensor *o = c->out[0];
    const vp_tensor *const *in = c->in;
    int ngeom = 0;
    if (d->kind == EW_BIN || d->kind == EW_WHERE)
        ngeom = 1;
    else if ((d->kind == EW_VAR || d->kind == EW_MEAN) && c->n_in > 1)
        ngeom = c->n_in - 1;
    /* at least one geometry, so that support checks can point at one */
    ew_state *st = calloc(1, sizeof *st + (size_t)(ngeom ? ngeom : 1) * sizeof(vp_cuew_geom));
    if (!st)
        return vp_op_fail(c, VP_ERR_NOMEM, "out of memory");
    st->kind = d->kind;
    st->op = d->op;
    st->ngeom = ngeom;
    char what[160];
    snprintf(what, sizeof what, "%s on %s", c->node->op_type, vp_dtype_name(in[0]->dtype));
    int rc = VP_OK;
    switch (d->kind) {
    case EW_BIN: {
        const vp_shape *sh[2] = {&in[0]->shape, &in[1]->shape};
        vp_cuew_geom_init(&st->geom[0], &o->shape, sh, 2);
        if (in[0]->dtype != in[1]->dtype)
            snprintf(what, sizeof what, "%s of %s and %s", c->node->op_type, vp_dtype_name(in[0]->dtype),
                     vp_dtype_name(in[1]->dtype));
        rc = vp_cuew_binary(NULL, st->op, in[0]->dtype, in[1]->dtype, &st->geom[0], NULL, NULL, NULL);
        break;
    }
    case EW_VAR:
    case EW_MEAN:
        for (int k = 1; k < c->n_in; k++) {
            const vp_shape *sh[2] = {k == 1 ? &in[0]->shape : &o->shape, &in[k]->shape};
            vp_cuew_geom_init(&st->geom[k - 1], &o->shape, sh, 2);
        }
        rc = vp_cuew_binary(NULL, st->op, o->dtype, o->dtype, &st->geom[0], NULL, NULL, NULL);
        if (rc == VP_OK && d->kind == EW_MEAN)
            rc = vp_cuew_unary(NULL, VP_CUEW_DIVC, o->dtype, 0, NULL, NULL, NULL);
        break;
    case EW_WHERE: {
        const vp_shape *sh[3] = {&in[0]->shape, &in[1]->shape, &in[2]->shape};
        vp_cuew_geom_init(&st->geom[0], &o->shape, sh, 3);
        snprintf(what, sizeof what, "Where on %s", vp_dtype_name(in[1]->dtype));
        rc = in[0]->dtype == VP_DT_BOOL ? vp_cuew_where(NULL, in[1]->dtype, &st->geom[0], NULL, NULL, NULL, NULL)
                                        : VP_ERR_UNSUPPORTED;
        break;
    }
    case EW_UN:
        rc = ew_prepare_un(c, st);
        break;
    case EW_CLIP:
        rc = ew_prepare_clip(c, st);
        break;
    case EW_CAST:
        snprintf(what, sizeof what, "%s from %s to %s", c->node->op_type, vp_dtype_name(in[0]->dtype),
                 vp_dtype_name(o->dtype));
        if (in[0]->dtype != o->dtype)
            rc = vp_cuew_cast(NULL, in[0]->dtype, o->dtype, 0, NULL, NULL);
        break;
    }
    if (rc) {
        free(st);
        return ew_unsupported(c, rc, what);
    }
    c->state = st;
    return VP_OK;
}

/* Run ----------------------------------------------------------------------- */

/* o = x, same dtype and shape; nothing when they share memory. */
static int ew_copy(cudaStream_t s, vp_tensor *o, const vp_tensor *x)
{
    const size_t bytes = vp_tensor_bytes(o);
    if (bytes && o->data != x->data)
        VP_CUDA(cudaMemcpyAsync(o->data, x->data, bytes, cudaMemcpyDeviceToDevice, s));
    return VP_OK;
}

static int ew_run(vp_op_ctx *c)
{
    const ew_state *st = c->state;
    const cudaStream_t s = ((vp_cuda_ctx *)c->dev)->stream;
    vp_tensor *o = c->out[0];
    const vp_tensor *const *in = c->in;
    int rc = VP_OK;
    if (!st)
        return vp_op_fail(c, VP_ERR_INTERNAL, "kernel not prepared");
    switch (st->kind) {
    case EW_BIN:
        rc = vp_cuew_binary(s, st->op, in[0]->dtype, in[1]->dtype, &st->geom[0], o->data, in[0]->data, in[1]->data);
        break;
    case EW_VAR:
    case EW_MEAN:
        if (c->n_in == 1)
            return ew_copy(s, o, in[0]);
        for (int k = 1; k < c->n_in && rc == VP_OK; k++)
            rc = vp_cuew_binary(s, st->op, o->dtype, o->dtype, &st->geom[k - 1], o->data,
                                k == 1 ? in[0]->data : o->data, in[k]->data);
        if (rc == VP_OK && st->kind == EW_MEAN) {
            const vp_cuew_par p = {(float)c->n_in, 0.f, 0.f};
            rc = vp_cuew_unary(s, VP_CUEW_DIVC, o->dtype, vp_tensor_numel(o), o->data, o->data, &p);
        }
        break;
    case EW_WHERE:
        rc = vp_cuew_where(s, o->dtype, &st->geom[0], o->data, in[0]->data, in[1]->data, in[2]->data);
        break;
    case EW_UN:
        rc = vp_cuew_unary(s, st->op, in[0]->dtype, vp_tensor_numel(in[0]), o->data, in[0]->data, &st->par);
        break;
    case EW_CLIP: {
        const void *lo = NULL, *hi = NULL;
        if (c->opset >= 11) {
            lo = c->n_in > 1 && in[1] ? in[1]->data : NULL;
            hi = c->n_in > 2 && in[2] ? in[2]->data : NULL;
        }
        rc = vp_cuew_clip(s, in[0]->dtype, vp_tensor_numel(in[0]), o->data, in[0]->data, lo, hi,
                          st->has_lo ? &st->lo : NULL, st->has_hi ? &st->hi : NULL);
        break;
    }
    case EW_CAST:
        if (in[0]->dtype == o->dtype)
            return ew_copy(s, o, in[0]);
        rc = vp_cuew_cast(s, in[0]->dtype, o->dtype, vp_tensor_numel(in[0]), o->data, in[0]->data);
        break;
    default:
        rc = VP_ERR_INTERNAL;
    }
    if (rc == VP_ERR_UNSUPPORTED || rc == VP_ERR_INTERNAL)
        return vp_op_fail(c, rc, "CUDA launch refused (dtypes changed since prepare?)");
    return rc;
}

static void ew_release(void *state) { free(state); }

#define EW_KERNEL(op, kind, code) {.name = #op, .prepare = ew_prepare, .run = ew_run, .release = ew_release},
const vp_kernel vp_cuda_elementwise[] = {
    EW_OPS(EW_KERNEL)
    {0},
};
