/*
 * Op schemas (shape and type inference): nn family.
 *
 * Conv, ConvTranspose, BatchNormalization, the pools, MatMul, Gemm, LRN and
 * the normalisations (Instance, Layer, Group). The window geometry of the
 * convolutions and pools is resolved by vp_nn_*_geom() below, which the CPU
 * kernels call again in prepare() so that both sides agree by construction.
 */
#include "engine/ops/nn.h"

#include <string.h>

/* Helpers -------------------------------------------------------------- */

static int is_float_dt(vp_dtype dt)
{
    return dt == VP_DT_FLOAT || dt == VP_DT_DOUBLE || dt == VP_DT_FLOAT16;
}

/* Python-style floor division (ONNX reference formulas use //). */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

/* Read an INTS attribute of exactly n values into out[] (default def when
 * absent); every value must be >= minv. */
static int sp_attr(vp_op_ctx *c, const char *name, int n, int64_t def, int64_t minv,
                   int64_t *out)
{
    int cnt;
    const int64_t *v = vp_attr_ints(c->node, name, &cnt);
    if (!v) {
        for (int i = 0; i < n; i++)
            out[i] = def;
        return VP_OK;
    }
    if (cnt != n)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute %s has %d values, expected %d", name,
                          cnt, n);
    for (int i = 0; i < n; i++) {
        if (v[i] < minv)
            return vp_op_fail(c, VP_ERR_INVALID, "attribute %s[%d] = %lld, expected >= %lld",
                              name, i, (long long)v[i], (long long)minv);
        out[i] = v[i];
    }
    return VP_OK;
}

enum { PAD_NOTSET, PAD_SAME_UPPER, PAD_SAME_LOWER, PAD_VALID };

static int auto_pad_mode(vp_op_ctx *c, int *mode)
{
    const char *s = vp_attr_s(c->node, "auto_pad", "NOTSET");
    if (strcmp(s, "NOTSET") == 0 || s[0] == 0)
        *mode = PAD_NOTSET;
    else if (strcmp(s, "SAME_UPPER") == 0)
        *mode = PAD_SAME_UPPER;
    else if (strcmp(s, "SAME_LOWER") == 0)
        *mode = PAD_SAME_LOWER;
    else if (strcmp(s, "VALID") == 0)
        *mode = PAD_VALID;
    else
        return vp_op_fail(c, VP_ERR_INVALID, "auto_pad \"%s\" is not one of NOTSET, "
                          "SAME_UPPER, SAME_LOWER, VALID", s);
    return VP_OK;
}

/* X must be [N, C, spatial...] with 1..3 spatial axes. */
static int check_nc_input(vp_op_ctx *c, vp_nn_geom *g)
{
    const vp_tensor *x = c->in[0];
    if (x->shape.rank < 3)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 0 (X) has rank %d, expected N x C x "
                          "spatial (rank >= 3)", x->shape.rank);
    if (x->shape.rank - 2 > VP_NN_MAX_SP)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 0 (X) has %d spatial axes, at most "
                          "%d are supported", x->shape.rank - 2, VP_NN_MAX_SP);
    memset(g, 0, sizeof *g);
    g->nsp = x->shape.rank - 2;
    g->n = x->shape.d[0];
    g->cin = x->shape.d[1];
    for (int i = 0; i < g->nsp; i++)
        g->in[i] = x->shape.d[2 + i];
    return VP_OK;
}

/* Output size and paddings of a forward window op (Conv or pool), from k,
 * stride, dil already in g. */
static int forward_window(vp_op_ctx *c, vp_nn_geom *g, int ceil_mode)
{
    int mode, rc;
    int64_t pads[2 * VP_NN_MAX_SP];
    if ((rc = auto_pad_mode(c, &mode)) != VP_OK)
        return rc;
    if ((rc = sp_attr(c, "pads", 2 * g->nsp, 0, 0, pads)) != VP_OK)
        return rc;
    for (int i = 0; i < g->nsp; i++) {
        int64_t kext = (g->k[i] - 1) * g->dil[i] + 1, in = g->in[i], s = g->stride[i];
        if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            int64_t out = ceil_div(in, s);
            int64_t total = (out - 1) * s + kext - in;
            if (total < 0)
                total = 0;
            g->pad_b[i] = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
            g->pad_e[i] = total - g->pad_b[i];
            g->out[i] = out;
            continue;
        }
        if (mode == PAD_NOTSET) {
            g->pad_b[i] = pads[i];
            g->pad_e[i] = pads[g->nsp + i];
        }
        int64_t span = in + g->pad_b[i] + g->pad_e[i] - kext;
        if (span < 0)
            return vp_op_fail(c, VP_ERR_SHAPE, "spatial axis %d: input size %lld with pads "
                              "%lld+%lld is smaller than the (dilated) kernel %lld", i,
                              (long long)in, (long long)g->pad_b[i], (long long)g->pad_e[i],
                              (long long)kext);
        int64_t out = (ceil_mode ? ceil_div(span, s) : span / s) + 1;
        /* With ceil_mode a last window that would start inside the end
         * padding is dropped (as PyTorch and ONNX Runtime do). */
        if (ceil_mode && (out - 1) * s >= in + g->pad_b[i])
            out--;
        g->out[i] = out;
    }
    return VP_OK;
}

/* Geometry ------------------------------------------------------------- */

/* Channels-last nodes (graph.h): the shapes in NCHW order. */
static void logical_shape(vp_shape *s)
{
    if (s->rank != 4)
        return;
    int64_t c = s->d[3];
    s->d[3] = s->d[2];
    s->d[2] = s->d[1];
    s->d[1] = c;
}

static int conv_geom(vp_op_ctx *c, vp_nn_geom *g);

int vp_nn_conv_geom(vp_op_ctx *c, vp_nn_geom *g)
{
    if (c->node->layout != VP_LAYOUT_NHWC)
        return conv_geom(c, g);
    /* X [N,H,W,C] and W [O,kH,kW,I]: the same geometry as NCHW / OIHW */
    vp_tensor lt[2];
    const vp_tensor **saved = c->in, *in[16];
    if (c->n_in > 16 || c->n_in < 2)
        return vp_op_fail(c, VP_ERR_INTERNAL, "channels-last Conv with %d inputs", c->n_in);
    for (int i = 0; i < c->n_in; i++)
        in[i] = c->in[i];
    for (int i = 0; i < 2; i++) {
        lt[i] = *c->in[i];
        logical_shape(&lt[i].shape);
        in[i] = &lt[i];
    }
    c->in = in;
    int rc = conv_geom(c, g);
    c->in = saved;
    return rc;
}

static int conv_geom(vp_op_ctx *c, vp_nn_geom *g)
{
    int rc;
    const vp_tensor *w = c->in[1];
    if ((rc = check_nc_input(c, g)) != VP_OK)
        return rc;
    if (w->shape.rank != g->nsp + 2)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 1 (W) has rank %d, expected %d like X",
                          w->shape.rank, g->nsp + 2);
    g->group = vp_attr_i(c->node, "group", 1);
    if (g->group < 1)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute group = %lld, expected >= 1",
                          (long long)g->group);
    g->cout = w->shape.d[0];
    if (g->cin % g->group || w->shape.d[1] * g->group != g->cin)
        return vp_op_fail(c, VP_ERR_SHAPE, "X has %lld channels but W is [%lld, %lld, ...] "
                          "with group %lld (expected W[1] * group == C)", (long long)g->cin,
                          (long long)w->shape.d[0], (long long)w->shape.d[1],
                          (long long)g->group);
    if (g->cout < 1 || g->cout % g->group)
        return vp_op_fail(c, VP_ERR_SHAPE, "W[0] = %lld output channels is not a positive "
                          "multiple of group %lld", (long long)g->cout, (long long)g->group);
    for (int i = 0; i < g->nsp; i++)
        g->k[i] = w->shape.d[2 + i];
    int nk;
    const int64_t *ks = vp_attr_ints(c->node, "kernel_shape", &nk);
    if (ks) {
        if (nk != g->nsp)
            return vp_op_fail(c, VP_ERR_INVALID, "kernel_shape has %d values, expected %d",
                              nk, g->nsp);
        for (int i = 0; i < nk; i++)
            if (ks[i] != g->k[i])
                return vp_op_fail(c, VP_ERR_SHAPE, "kernel_shape[%d] = %lld but W has %lld",
                                  i, (long long)ks[i], (long long)g->k[i]);
    }
    if ((rc = sp_attr(c, "strides", g->nsp, 1, 1, g->stride)) != VP_OK ||
        (rc = sp_attr(c, "dilations", g->nsp, 1, 1, g->dil)) != VP_OK)
        return rc;
    return forward_window(c, g, 0);
}

int vp_nn_convt_geom(vp_op_ctx *c, vp_nn_geom *g)
{
    int rc, mode;
    const vp_tensor *w = c->in[1];
    if ((rc = check_nc_input(c, g)) != VP_OK)
        return rc;
    if (w->shape.rank != g->nsp + 2)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 1 (W) has rank %d, expected %d like X",
                          w->shape.rank, g->nsp + 2);
    g->group = vp_attr_i(c->node, "group", 1);
    if (g->group < 1)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute group = %lld, expected >= 1",
                          (long long)g->group);
    if (w->shape.d[0] != g->cin || g->cin % g->group)
        return vp_op_fail(c, VP_ERR_SHAPE, "X has %lld channels but W[0] = %lld (expected "
                          "equal, and a multiple of group %lld)", (long long)g->cin,
                          (long long)w->shape.d[0], (long long)g->group);
    g->cout = w->shape.d[1] * g->group;
    if (g->cout < 1)
        return vp_op_fail(c, VP_ERR_SHAPE, "W[1] = %lld output channels per group",
                          (long long)w->shape.d[1]);
    for (int i = 0; i < g->nsp; i++)
        g->k[i] = w->shape.d[2 + i];
    int nk;
    const int64_t *ks = vp_attr_ints(c->node, "kernel_shape", &nk);
    if (ks) {
        if (nk != g->nsp)
            return vp_op_fail(c, VP_ERR_INVALID, "kernel_shape has %d values, expected %d",
                              nk, g->nsp);
        for (int i = 0; i < nk; i++)
            if (ks[i] != g->k[i])
                return vp_op_fail(c, VP_ERR_SHAPE, "kernel_shape[%d] = %lld but W has %lld",
                                  i, (long long)ks[i], (long long)g->k[i]);
    }
    int64_t pads[2 * VP_NN_MAX_SP], opad[VP_NN_MAX_SP], oshape[VP_NN_MAX_SP + 2];
    if ((rc = sp_attr(c, "strides", g->nsp, 1, 1, g->stride)) != VP_OK ||
        (rc = sp_attr(c, "dilations", g->nsp, 1, 1, g->dil)) != VP_OK ||
        (rc = sp_attr(c, "output_padding", g->nsp, 0, 0, opad)) != VP_OK ||
        (rc = sp_attr(c, "pads", 2 * g->nsp, 0, 0, pads)) != VP_OK ||
        (rc = auto_pad_mode(c, &mode)) != VP_OK)
        return rc;
    /* output_shape holds the spatial sizes; some exporters write N and C too. */
    int nos;
    const int64_t *os = vp_attr_ints(c->node, "output_shape", &nos);
    if (os && nos != g->nsp && nos != g->nsp + 2)
        return vp_op_fail(c, VP_ERR_INVALID, "output_shape has %d values, expected %d",
                          nos, g->nsp);
    for (int i = 0; os && i < g->nsp; i++) {
        oshape[i] = os[nos - g->nsp + i];
        if (oshape[i] < 1)
            return vp_op_fail(c, VP_ERR_INVALID, "output_shape[%d] = %lld", i,
                              (long long)oshape[i]);
    }
    for (int i = 0; i < g->nsp; i++) {
        int64_t kext = (g->k[i] - 1) * g->dil[i] + 1, s = g->stride[i];
        int64_t full = s * (g->in[i] - 1) + opad[i] + kext;  /* output before cropping */
        int64_t pb, pe;
        if (os || mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            /* Spec: total padding from the wanted size, split with Python
             * floor division; SAME_UPPER puts the odd unit at the end. */
            int64_t want = os ? oshape[i] : g->in[i] * s;
            int64_t total = full - want;
            if (mode == PAD_SAME_UPPER) {
                pb = floor_div(total, 2);
                pe = total - pb;
            } else {
                pe = floor_div(total, 2);
                pb = total - pe;
            }
        } else if (mode == PAD_VALID) {
            pb = pe = 0;
        } else {
            pb = pads[i];
            pe = pads[g->nsp + i];
        }
        g->pad_b[i] = pb;
        g->pad_e[i] = pe - opad[i];
        g->out[i] = full - pb - pe;
        if (g->out[i] < 1)
            return vp_op_fail(c, VP_ERR_SHAPE, "spatial axis %d: output size %lld (input %lld, "
                              "pads %lld+%lld)", i, (long long)g->out[i], (long long)g->in[i],
                              (long long)pb, (long long)pe);
    }
    return VP_OK;
}

int vp_nn_pool_geom(vp_op_ctx *c, vp_nn_geom *g)
{
    int rc, nk;
    if ((rc = check_nc_input(c, g)) != VP_OK)
        return rc;
    g->cout = g->cin;
    g->group = 1;
    const int64_t *ks = vp_attr_ints(c->node, "kernel_shape", &nk);
    if (!ks)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute kernel_shape is required");
    if ((rc = sp_attr(c, "kernel_shape", g->nsp, 1, 1, g->k)) != VP_OK ||
        (rc = sp_attr(c, "strides", g->nsp, 1, 1, g->stride)) != VP_OK ||
        (rc = sp_attr(c, "dilations", g->nsp, 1, 1, g->dil)) != VP_OK)
        return rc;
    int64_t ceil_mode = vp_attr_i(c->node, "ceil_mode", 0);
    return forward_window(c, g, ceil_mode != 0);
}

/* Conv / ConvTranspose ------------------------------------------------- */

static int check_conv_types(vp_op_ctx *c)
{
    vp_dtype dt = c->in[0]->dtype;
    if (!is_float_dt(dt))
        return vp_op_fail(c, VP_ERR_INVALID, "input 0 (X) is %s, expected a float type",
                          vp_dtype_name(dt));
    for (int i = 1; i < c->n_in; i++)
        if (c->in[i] && c->in[i]->dtype != dt)
            return vp_op_fail(c, VP_ERR_INVALID, "input %d is %s but X is %s", i,
                              vp_dtype_name(c->in[i]->dtype), vp_dtype_name(dt));
    return VP_OK;
}

static int set_conv_out(vp_op_ctx *c, const vp_nn_geom *g)
{
    const vp_tensor *b = c->n_in > 2 ? c->in[2] : NULL;
    if (b && (b->shape.rank != 1 || b->shape.d[0] != g->cout))
        return vp_op_fail(c, VP_ERR_SHAPE, "input 2 (B) must be [%lld]", (long long)g->cout);
    vp_shape s = {.rank = g->nsp + 2};
    s.d[0] = g->n;
    s.d[1] = g->cout;
    for (int i = 0; i < g->nsp; i++)
        s.d[2 + i] = g->out[i];
    vp_set_out(c, 0, c->in[0]->dtype, &s);
    return VP_OK;
}

static int infer_conv(vp_op_ctx *c)
{
    vp_nn_geom g;
    int rc;
    if ((rc = check_conv_types(c)) != VP_OK || (rc = vp_nn_conv_geom(c, &g)) != VP_OK)
        return rc;
    return set_conv_out(c, &g);
}

static int infer_convt(vp_op_ctx *c)
{
    vp_nn_geom g;
    int rc;
    if ((rc = check_conv_types(c)) != VP_OK || (rc = vp_nn_convt_geom(c, &g)) != VP_OK)
        return rc;
    return set_conv_out(c, &g);
}

/* Pools ---------------------------------------------------------------- */

static int infer_pool_common(vp_op_ctx *c, int allow_int)
{
    vp_nn_geom g;
    int rc;
    vp_dtype dt = c->in[0]->dtype;
    if (!is_float_dt(dt) && !(allow_int && (dt == VP_DT_INT8 || dt == VP_DT_UINT8)))
        return vp_op_fail(c, VP_ERR_INVALID, "input 0 (X) is %s, expected a float type%s",
                          vp_dtype_name(dt), allow_int ? " or int8/uint8" : "");
    if ((rc = vp_nn_pool_geom(c, &g)) != VP_OK)
        return rc;
    vp_shape s = c->in[0]->shape;
    for (int i = 0; i < g.nsp; i++)
        s.d[2 + i] = g.out[i];
    vp_set_out(c, 0, dt, &s);
    if (c->n_out > 1)
        vp_set_out(c, 1, VP_DT_INT64, &s);
    return VP_OK;
}

static int infer_maxpool(vp_op_ctx *c)
{
    if (c->n_out > 1 && c->out[1]) {
        int64_t so = vp_attr_i(c->node, "storage_order", 0);
        if (so != 0 && so != 1)
            return vp_op_fail(c, VP_ERR_INVALID, "storage_order = %lld, expected 0 or 1",
                              (long long)so);
    }
    return infer_pool_common(c, 1);
}

static int infer_avgpool(vp_op_ctx *c) { return infer_pool_common(c, 0); }

static int infer_global_pool(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    if (!is_float_dt(x->dtype))
        return vp_op_fail(c, VP_ERR_INVALID, "input 0 (X) is %s, expected a float type",
                          vp_dtype_name(x->dtype));
    if (x->shape.rank < 3)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 0 (X) has rank %d, expected >= 3",
                          x->shape.rank);
    vp_shape s = x->shape;
    for (int i = 2; i < s.rank; i++)
        s.d[i] = 1;
    vp_set_out(c, 0, x->dtype, &s);
    return VP_OK;
}

/* MatMul / Gemm -------------------------------------------------------- */

static int is_matmul_dt(vp_dtype dt)
{
    return is_float_dt(dt) || dt == VP_DT_INT32 || dt == VP_DT_INT64 ||
           dt == VP_DT_UINT32 || dt == VP_DT_UINT64;
}

void vp_nn_matmul_dims(const vp_shape *a, const vp_shape *b, vp_nn_mm_dims *d)
{
    vp_shape sa = *a, sb = *b;
    memset(d, 0, sizeof *d);
    if (sa.rank == 1) {
        sa.d[1] = sa.d[0];
        sa.d[0] = 1;
        sa.rank = 2;
    }
    if (sb.rank == 1) {
        sb.d[1] = 1;
        sb.rank = 2;
    }
    int r = sa.rank > sb.rank ? sa.rank : sb.rank;
    d->r = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - sa.rank), ib = i - (r - sb.rank);
        d->a[i] = ia >= 0 ? sa.d[ia] : 1;
        d->b[i] = ib >= 0 ? sb.d[ib] : 1;
    }
    for (int i = 0; i < r - 2; i++)
        d->y[i] = d->a[i] > d->b[i] ? d->a[i] : d->b[i];
    d->y[r - 2] = d->a[r - 2];
    d->y[r - 1] = d->b[r - 1];
}

static int infer_matmul(vp_op_ctx *c)
{
    const vp_tensor *a = c->in[0], *b = c->in[1];
    if (!is_matmul_dt(a->dtype) || a->dtype != b->dtype)
        return vp_op_fail(c, VP_ERR_INVALID, "inputs are %s and %s, expected one numeric type",
                          vp_dtype_name(a->dtype), vp_dtype_name(b->dtype));
    int ra = a->shape.rank, rb = b->shape.rank;
    if (ra < 1 || rb < 1)
        return vp_op_fail(c, VP_ERR_SHAPE, "MatMul inputs must have rank >= 1 (got %d, %d)",
                          ra, rb);
    int64_t ka = a->shape.d[ra - 1];
    int64_t kb = rb == 1 ? b->shape.d[0] : b->shape.d[rb - 2];
    if (ka != kb) {
        char s1[96], s2[96];
        return vp_op_fail(c, VP_ERR_SHAPE, "inner dimensions differ: A %s, B %s",
                          vp_shape_str(&a->shape, s1, sizeof s1),
                          vp_shape_str(&b->shape, s2, sizeof s2));
    }
    /* Batch dims broadcast; 1-D operands contribute none. */
    vp_shape ba = {.rank = ra > 2 ? ra - 2 : 0}, bb = {.rank = rb > 2 ? rb - 2 : 0}, bo;
    memcpy(ba.d, a->shape.d, sizeof(int64_t) * (size_t)ba.rank);
    memcpy(bb.d, b->shape.d, sizeof(int64_t) * (size_t)bb.rank);
    if (vp_shape_broadcast(&ba, &bb, &bo) != VP_OK) {
        char s1[96], s2[96];
        return vp_op_fail(c, VP_ERR_SHAPE, "batch dimensions do not broadcast: A %s, B %s",
                          vp_shape_str(&a->shape, s1, sizeof s1),
                          vp_shape_str(&b->shape, s2, sizeof s2));
    }
    vp_shape s = bo;
    if (ra >= 2)
        s.d[s.rank++] = a->shape.d[ra - 2];
    if (rb >= 2)
        s.d[s.rank++] = b->shape.d[rb - 1];
    if (s.rank > VP_MAX_DIMS)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "output rank %d", s.rank);
    vp_set_out(c, 0, a->dtype, &s);
    return VP_OK;
}

static int infer_gemm(vp_op_ctx *c)
{
    const vp_tensor *a = c->in[0], *b = c->in[1], *cc = c->n_in > 2 ? c->in[2] : NULL;
    if (!is_matmul_dt(a->dtype) || a->dtype != b->dtype || (cc && cc->dtype != a->dtype))
        return vp_op_fail(c, VP_ERR_INVALID, "inputs must share one numeric type (A is %s, "
                          "B is %s)", vp_dtype_name(a->dtype), vp_dtype_name(b->dtype));
    if (a->shape.rank != 2 || b->shape.rank != 2)
        return vp_op_fail(c, VP_ERR_SHAPE, "A and B must be 2-D (got rank %d and %d)",
                          a->shape.rank, b->shape.rank);
    int ta = vp_attr_i(c->node, "transA", 0) != 0, tb = vp_attr_i(c->node, "transB", 0) != 0;
    int64_t m = a->shape.d[ta ? 1 : 0], k = a->shape.d[ta ? 0 : 1];
    int64_t kb = b->shape.d[tb ? 1 : 0], n = b->shape.d[tb ? 0 : 1];
    if (k != kb)
        return vp_op_fail(c, VP_ERR_SHAPE, "inner dimensions differ: A gives K=%lld, B gives "
                          "K=%lld (transA=%d transB=%d)", (long long)k, (long long)kb, ta, tb);
    vp_shape s = {.rank = 2, .d = {m, n}};
    if (cc) {
        vp_shape bs;
        if (cc->shape.rank > 2 || vp_shape_broadcast(&s, &cc->shape, &bs) != VP_OK ||
            !vp_shape_eq(&bs, &s)) {
            char s1[96];
            return vp_op_fail(c, VP_ERR_SHAPE, "input 2 (C) %s does not broadcast to "
                              "[%lld,%lld]", vp_shape_str(&cc->shape, s1, sizeof s1),
                              (long long)m, (long long)n);
        }
    }
    vp_set_out(c, 0, a->dtype, &s);
    return VP_OK;
}

/* Normalisations ------------------------------------------------------- */

/* Input i must be a 1-D tensor of n elements of X's type. */
static int check_vec(vp_op_ctx *c, int i, int64_t n, const char *what)
{
    const vp_tensor *t = c->in[i];
    if (!t)
        return VP_OK;
    if (!is_float_dt(t->dtype))
        return vp_op_fail(c, VP_ERR_INVALID, "input %d (%s) is %s, expected a float type", i,
                          what, vp_dtype_name(t->dtype));
    if (vp_tensor_numel(t) != n || t->shape.rank != 1)
        return vp_op_fail(c, VP_ERR_SHAPE, "input %d (%s) must be [%lld]", i, what,
                          (long long)n);
    return VP_OK;
}

static int infer_batchnorm(vp_op_ctx *c)
{
    static const char *const names[] = {"X", "scale", "B", "mean", "var"};
    const vp_tensor *x = c->in[0];
    int rc;
    if (!is_float_dt(x->dtype))
        return vp_op_fail(c, VP_ERR_INVALID, "input 0 (X) is %s, expected a float type",
                          vp_dtype_name(x->dtype));
    if (x->shape.rank < 2)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 0 (X) has rank %d, expected N x C x ...",
                          x->shape.rank);
    if (c->opset < 7 || (c->opset < 9 && vp_attr_i(c->node, "spatial", 1) == 0))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "opset %d BatchNormalization (spatial=0 or "
                          "is_test) is not supported", c->opset);
    int64_t ch = x->shape.d[1];
    for (int i = 1; i < 5; i++)
        if ((rc = check_vec(c, i, ch, names[i])) != VP_OK)
            return rc;
    int training = c->opset >= 14 && vp_attr_i(c->node, "training_mode", 0) != 0;
    int extra = 0;
    for (int i = 1; i < c->n_out; i++)
        extra |= c->out[i] != NULL;
    if (extra && !training)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "training outputs (mean/var) are only "
                          "supported with training_mode=1 (opset >= 14)");
    vp_set_out(c, 0, x->dtype, &x->shape);
    vp_shape v = {.rank = 1, .d = {ch}};
    for (int i = 1; i < c->n_out && i < 3; i++)
        vp_set_out(c, i, c->in[3]->dtype, &v);
    return VP_OK;
}

static int infer_instancenorm(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int rc;
    if (!is_float_dt(x->dtype))
        return vp_op_fail(c, VP_ERR_INVALID, "input 0 (X) is %s, expected a float type",
                          vp_dtype_name(x->dtype));
    if (x->shape.rank < 3)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 0 (X) has rank %d, expected N x C x D...",
                          x->shape.rank);
    if ((rc = check_vec(c, 1, x->shape.d[1], "scale")) != VP_OK ||
        (rc = check_vec(c, 2, x->shape.d[1], "B")) != VP_OK)
        return rc;
    vp_set_out(c, 0, x->dtype, &x->shape);
    return VP_OK;
}

static int infer_layernorm(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    if (!is_float_dt(x->dtype))
        return vp_op_fail(c, VP_ERR_INVALID, "input 0 (X) is %s, expected a float type",
                          vp_dtype_name(x->dtype));
    int r = x->shape.rank;
    int axis = vp_norm_axis(vp_attr_i(c->node, "axis", -1), r);
    if (r < 1 || axis < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "axis %lld out of range for rank %d",
                          (long long)vp_attr_i(c->node, "axis", -1), r);
    int64_t stash = vp_attr_i(c->node, "stash_type", 1);
    if (stash != VP_DT_FLOAT)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "stash_type %lld (only 1 = float)",
                          (long long)stash);
    /* Scale and B broadcast (unidirectionally) to X[axis:]. */
    vp_shape inner = {.rank = r - axis};
    memcpy(inner.d, x->shape.d + axis, sizeof(int64_t) * (size_t)inner.rank);
    for (int i = 1; i < 3 && i < c->n_in; i++) {
        const vp_tensor *t = c->in[i];
        vp_shape bs;
        if (!t)
            continue;
        if (t->dtype != x->dtype)
            return vp_op_fail(c, VP_ERR_INVALID, "input %d is %s but X is %s", i,
                              vp_dtype_name(t->dtype), vp_dtype_name(x->dtype));
        if (t->shape.rank > inner.rank || vp_shape_broadcast(&inner, &t->shape, &bs) != VP_OK ||
            !vp_shape_eq(&bs, &inner)) {
            char s1[96], s2[96];
            return vp_op_fail(c, VP_ERR_SHAPE, "input %d %s does not broadcast to X[axis:] %s",
                              i, vp_shape_str(&t->shape, s1, sizeof s1),
                              vp_shape_str(&inner, s2, sizeof s2));
        }
    }
    vp_set_out(c, 0, x->dtype, &x->shape);
    vp_shape ms = x->shape;
    for (int i = axis; i < r; i++)
        ms.d[i] = 1;
    for (int i = 1; i < c->n_out && i < 3; i++)
        vp_set_out(c, i, VP_DT_FLOAT, &ms);
    return VP_OK;
}

static int infer_groupnorm(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int rc;
    if (!is_float_dt(x->dtype))
        return vp_op_fail(c, VP_ERR_INVALID, "input 0 (X) is %s, expected a float type",
                          vp_dtype_name(x->dtype));
    if (x->shape.rank < 2)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 0 (X) has rank %d, expected N x C x ...",
                          x->shape.rank);
    int64_t g = vp_attr_i(c->node, "num_groups", 0), ch = x->shape.d[1];
    if (g < 1 || ch % g)
        return vp_op_fail(c, VP_ERR_INVALID, "num_groups = %lld must divide the %lld channels",
                          (long long)g, (long long)ch);
    /* Opset 18 has one scale per group, opset 21 one per channel. */
    int64_t n = c->opset >= 21 ? ch : g;
    if ((rc = check_vec(c, 1, n, "scale")) != VP_OK || (rc = check_vec(c, 2, n, "bias")) != VP_OK)
        return rc;
    vp_set_out(c, 0, x->dtype, &x->shape);
    return VP_OK;
}

static int infer_lrn(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    if (!is_float_dt(x->dtype))
        return vp_op_fail(c, VP_ERR_INVALID, "input 0 (X) is %s, expected a float type",
                          vp_dtype_name(x->dtype));
    if (x->shape.rank < 2)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 0 (X) has rank %d, expected N x C x ...",
                          x->shape.rank);
    if (vp_attr_i(c->node, "size", 0) < 1)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute size is required and must be >= 1");
    vp_set_out(c, 0, x->dtype, &x->shape);
    return VP_OK;
}

const vp_op_def vp_ops_nn[] = {
    {.name = "Conv", .min_inputs = 2, .max_inputs = 3, .infer = infer_conv},
    {.name = "ConvTranspose", .min_inputs = 2, .max_inputs = 3, .infer = infer_convt},
    {.name = "BatchNormalization", .min_inputs = 5, .max_inputs = 5, .infer = infer_batchnorm},
    {.name = "MaxPool", .min_inputs = 1, .max_inputs = 1, .infer = infer_maxpool},
    {.name = "AveragePool", .min_inputs = 1, .max_inputs = 1, .infer = infer_avgpool},
    {.name = "GlobalAveragePool", .min_inputs = 1, .max_inputs = 1, .infer = infer_global_pool},
    {.name = "GlobalMaxPool", .min_inputs = 1, .max_inputs = 1, .infer = infer_global_pool},
    {.name = "MatMul", .min_inputs = 2, .max_inputs = 2, .infer = infer_matmul},
    {.name = "Gemm", .min_inputs = 2, .max_inputs = 3, .infer = infer_gemm},
    {.name = "LRN", .min_inputs = 1, .max_inputs = 1, .infer = infer_lrn},
    {.name = "InstanceNormalization", .min_inputs = 3, .max_inputs = 3,
     .infer = infer_instancenorm},
    {.name = "LayerNormalization", .min_inputs = 2, .max_inputs = 3, .infer = infer_layernorm},
    {.name = "GroupNormalization", .min_inputs = 3, .max_inputs = 3, .infer = infer_groupnorm},
    {0},
};
