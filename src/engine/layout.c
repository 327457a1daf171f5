/*
 * Layout and precision rewrites of a plan, after the graph passes.
 *
 * Channels-last (vp_plan_layout). Tensor cores want convolutions in NHWC;
 * ONNX models are NCHW. Rather than teach every kernel two layouts, the
 * pass changes what the tensors are: a value chosen to be channels-last
 * gets the physical shape [N,H,W,C] as its plan shape, and the nodes
 * around it are rewritten so that ordinary kernels compute the right
 * thing on physical shapes:
 *   - native ops (Conv, pools: kernels that declare vp_kernel.nhwc) get
 *     node->layout = VP_LAYOUT_NHWC; Conv's weights are permuted to
 *     [O,kH,kW,I];
 *   - transparent ops (elementwise, Concat, Split, Slice, Resize) follow
 *     their inputs: axis attributes and axis/scale inputs are remapped,
 *     constants that broadcast against a 4-D tensor are permuted;
 *   - anything else (Reshape, Transpose, Softmax, graph outputs...) sees
 *     NCHW: a Transpose is inserted where a channels-last value meets it,
 *     and one NCHW->NHWC before a native op fed by an NCHW value;
 *   - except that an enlarging Resize whose output only such readers see
 *     runs NCHW, so that the Transpose moves its input, not its output.
 * A value is channels-last when its producer runs channels-last: native
 * ops always do, transparent ops when one of their activation inputs is
 * channels-last and all are 4-D. One forward walk decides it (nodes are in
 * topological order); conversions are made once per value and shared.
 *
 * FP16 (vp_plan_precision, CUDA with --precision fp16): every float32
 * value a step computes becomes float16, float32 constants read by steps
 * are converted once (except Resize's roi and scales, which stay float32),
 * a Cast to float16 follows each float32 model input and a Cast back to
 * float32 precedes each float32 model output, so callers see the model's
 * own types (inputs: unless options.native_input asks for FP16 and
 * channels-last inputs, as the GPU preprocessing writes them). Kernels
 * take their output type from the output tensor.
 * Except the network's first layer: a Conv that reads a float32 model
 * input (directly or through its layout Transpose) with few channels keeps
 * that input, its weights and its bias in float32 and writes float16, where
 * the backend's Conv says it can (vp_kernel.fp32_stem). Rounding the input
 * and the first weights to FP16 is a large share of FP16's error in deep
 * networks, as every later layer amplifies it (DeepLabV3 with random weights
 * against the FP32 model, H100: 1.145e-2 with an FP16 first layer, 8.5e-3
 * with an FP32 one; that layer is a fraction of a percent of the FLOPs).
 * Only for float32 inputs: a native FP16 input is rounded already.
 * VIDPIPE_FP32_STEM=0 turns it off.
 */
#include "engine/engine_impl.h"
#include "engine/backend.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* Physical position of logical NCHW axis a: N->0, C->3, H->1, W->2. */
static const int phys_axis[4] = {0, 3, 1, 2};
/* Logical axis at physical position i. */
static const int log_axis[4] = {0, 2, 3, 1};
static const int64_t perm_to_nhwc[4] = {0, 2, 3, 1};
static const int64_t perm_to_nchw[4] = {0, 3, 1, 2};

static int in_list(const char *op, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(op, *list))
            return 1;
    return 0;
}

/* Same shape out as in: any layout works. Second and later inputs are
 * broadcast operands (constants are permuted; activations must be 4-D). */
static const char *const elementwise_ops[] = {
    "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish",
    "Clip", "Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Softplus", "Softsign",
    "Mish", "Gelu", "Floor", "Ceil", "Round", "Sign", "ThresholdedRelu", "Identity",
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", NULL};
/* Inputs after the first that are scalars by definition (Clip min/max). */
static int scalar_param(const vp_node *n, int i)
{
    return i >= 1 && !strcmp(n->op_type, "Clip");
}

static const char *const native_ops[] = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool",
                                         "GlobalMaxPool", NULL};

static int is_float(vp_dtype dt) { return dt == VP_DT_FLOAT || dt == VP_DT_FLOAT16; }

typedef struct lay {
    vp_plan *p;
    char *nhwc;      /* per value: channels-last */
    int *conv;       /* per value: its converted twin (other layout / fp16), or -1 */
    int cap;
} lay;

static int lay_grow(lay *L)
{
    if (L->p->n_v <= L->cap)
        return VP_OK;
    int cap = L->p->cap_v;
    char *a = realloc(L->nhwc, (size_t)cap);
    if (!a)
        return VP_ERR_NOMEM;
    L->nhwc = a;
    int *b = realloc(L->conv, sizeof(int) * (size_t)cap);
    if (!b)
        return VP_ERR_NOMEM;
    L->conv = b;
    for (int i = L->cap; i < cap; i++) {
        L->nhwc[i] = 0;
        L->conv[i] = -1;
    }
    L->cap = cap;
    return VP_OK;
}

static int is_const(const vp_plan *p, int v) { return v >= 0 && p->v[v].store == VP_STORE_CONST; }

/* A 4-D float activation: what the layout pass may move. */
static int movable(const vp_plan *p, int v)
{
    return v >= 0 && !is_const(p, v) && p->v[v].t.shape.rank == 4 && is_float(p->v[v].t.dtype);
}

static vp_shape to_phys(const vp_shape *s)
{
    vp_shape r = *s;
    for (int i = 0; i < 4; i++)
        r.d[i] = s->d[log_axis[i]];
    return r;
}

static vp_shape to_log(const vp_shape *s)
{
    vp_shape r = *s;
    for (int i = 0; i < 4; i++)
        r.d[i] = s->d[phys_axis[i]];
    return r;
}

static vp_attr *ints_attr(vp_plan *p, const char *name, const int64_t *v, int n)
{
    vp_attr *a = vp_plan_alloc(p, sizeof *a);
    int64_t *ints = vp_plan_alloc(p, sizeof(int64_t) * (size_t)n);
    if (!a || !ints)
        return NULL;
    memcpy(ints, v, sizeof(int64_t) * (size_t)n);
    a->name = (char *)name;
    a->type = VP_ATTR_INTS;
    a->ints = ints;
    a->n = n;
    return a;
}

/* Insert a one-input one-output node (Transpose or Cast) from value
 * `from` to value `to` before node index at. */
static int insert_node1(vp_plan *p, int at, const char *op, int from, int to, vp_attr *a)
{
    vp_node n;
    memset(&n, 0, sizeof n);
    n.name = !strcmp(op, "Cast") ? "vidpipe.precision" : "vidpipe.layout";
    n.op_type = (char *)op;
    n.domain = "";
    n.opset = p->e->g.opset;
    n.n_in = n.n_out = 1;
    n.in = &from;
    n.out = &to;
    n.n_attrs = 1;
    n.attrs = a;
    n.def = vp_op_find(op);
    if (!a || !n.def || vp_plan_insert_node(p, at, &n) < 0)
        return VP_ERR_NOMEM;
    return VP_OK;
}

static vp_attr *cast_attr(vp_plan *p, vp_dtype dt)
{
    vp_attr *a = vp_plan_alloc(p, sizeof *a);
    if (a) {
        a->name = "to";
        a->type = VP_ATTR_INT;
        a->i = dt;
    }
    return a;
}

/* Insert `op` (Transpose with perm, or Cast to dt) from value `from` to a
 * new value of type dt and shape s, before node index at. Returns the new
 * value or -1. */
static int insert_unary(vp_plan *p, int at, const char *op, int from, vp_dtype dt,
                        const vp_shape *s, const int64_t *perm)
{
    int to = vp_plan_new_value(p, dt, s);
    if (to < 0)
        return -1;
    vp_attr *a = perm ? ints_attr(p, "perm", perm, 4) : cast_attr(p, dt);
    return insert_node1(p, at, op, from, to, a) == VP_OK ? to : -1;
}

/* Permute a constant that broadcasts against a 4-D tensor (rank <= 4,
 * right-aligned) into channels-last order; rank-0/1-element constants are
 * returned as they are. */
static int permute_const(vp_plan *p, int v)
{
    const vp_tensor *t = &p->v[v].t;
    if (vp_tensor_numel(t) <= 1 || t->shape.rank > 4)
        return v;
    vp_shape s4;
    memset(&s4, 0, sizeof s4);
    s4.rank = 4;
    int lead = 4 - t->shape.rank;
    for (int i = 0; i < 4; i++)
        s4.d[i] = i < lead ? 1 : t->shape.d[i - lead];
    vp_shape ps = to_phys(&s4);
    int nv = vp_plan_new_const(p, t->dtype, &ps);
    if (nv < 0)
        return -1;
    t = &p->v[v].t; /* p->v may have moved */
    size_t es = vp_dtype_size(t->dtype);
    const char *src = t->data;
    char *dst = p->v[nv].t.data;
    int64_t N = s4.d[0], C = s4.d[1], H = s4.d[2], W = s4.d[3];
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++)
                    memcpy(dst + ((((n * H + h) * W + w) * C + c) * (int64_t)es),
                           src + ((((n * C + c) * H + h) * W + w) * (int64_t)es), es);
    return nv;
}

/* Constant with its 4 values (or 2x4 for roi) reordered to physical axes. */
static int permute_axes_const(vp_plan *p, int v, int per_half)
{
    const vp_tensor *t = &p->v[v].t;
    int64_t n = vp_tensor_numel(t);
    if (n != 4 * per_half || t->shape.rank != 1)
        return -2;
    int nv = vp_plan_new_const(p, t->dtype, &t->shape);
    if (nv < 0)
        return -1;
    t = &p->v[v].t;
    size_t es = vp_dtype_size(t->dtype);
    for (int h = 0; h < per_half; h++)
        for (int i = 0; i < 4; i++)
            memcpy((char *)p->v[nv].t.data + (size_t)(h * 4 + i) * es,
                   (const char *)t->data + (size_t)(h * 4 + log_axis[i]) * es, es);
    return nv;
}

/* Copy a node's attributes so they can be changed; returns the copy. */
static vp_attr *own_attrs(vp_plan *p, vp_node *n)
{
    vp_attr *a = vp_plan_alloc(p, sizeof *a * ((size_t)n->n_attrs + 1));
    if (!a)
        return NULL;
    memcpy(a, n->attrs, sizeof *a * (size_t)n->n_attrs);
    n->attrs = a;
    return a;
}

static int remap_axis_attr(vp_plan *p, vp_node *n, int64_t def)
{
    int64_t axis = vp_attr_i(n, "axis", def);
    int a = vp_norm_axis(axis, 4);
    if (a < 0)
        return VP_ERR_INVALID;
    if (!vp_attr_find(n, "axis")) {
        vp_attr *na = vp_plan_alloc(p, sizeof *na * ((size_t)n->n_attrs + 1));
        if (!na)
            return VP_ERR_NOMEM;
        memcpy(na, n->attrs, sizeof *na * (size_t)n->n_attrs);
        na[n->n_attrs].name = "axis";
        na[n->n_attrs].type = VP_ATTR_INT;
        n->attrs = na;
        n->n_attrs++;
    } else if (!own_attrs(p, n)) {
        return VP_ERR_NOMEM;
    }
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, "axis"))
            n->attrs[i].i = phys_axis[a];
    return VP_OK;
}

/* Native ops: the CUDA kernels handle symmetric padding in NHWC only. */
static int native_ok(const vp_plan *p, const vp_node *n)
{
    const vp_kernel *k = p->e->be->kernel_find(n->op_type);
    if (!k || !k->nhwc || !movable(p, n->in[0]) || n->n_out != 1 || p->v[n->out[0]].t.shape.rank != 4)
        return 0;
    const char *ap = vp_attr_s(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID"))
        return 0;
    int np;
    const int64_t *pads = vp_attr_ints(n, "pads", &np);
    for (int i = 0; pads && i < np / 2; i++)
        if (pads[i] != pads[i + np / 2])
            return 0;
    if (vp_attr_i(n, "ceil_mode", 0) || vp_attr_i(n, "storage_order", 0))
        return 0;
    if (!strcmp(n->op_type, "Conv") && (!is_const(p, n->in[1]) || p->v[n->in[1]].t.shape.rank != 4))
        return 0;
    if (!strcmp(n->op_type, "AveragePool") || !strcmp(n->op_type, "MaxPool")) {
        int nd;
        const int64_t *dil = vp_attr_ints(n, "dilations", &nd);
        for (int i = 0; dil && i < nd; i++)
            if (dil[i] != 1)
                return 0;
    }
    return 1;
}

/* Layout-following ops (see wants_nhwc). */
static int follows_layout(const char *op)
{
    return in_list(op, elementwise_ops) || !strcmp(op, "Concat") || !strcmp(op, "Split") || !strcmp(op, "Slice") ||
           !strcmp(op, "Resize");
}

/* Every reader of v sees NCHW (a graph output, or ops that neither run
 * channels-last nor follow their inputs' layout). */
static int read_as_nchw(const vp_plan *p, int v)
{
    int readers = vp_plan_is_graph_output(p, v);
    for (int k = 0; k < p->n_nodes; k++) {
        const vp_node *n = &p->nodes[k];
        if (!p->active[k])
            continue;
        for (int i = 0; i < n->n_in; i++) {
            if (n->in[i] != v)
                continue;
            if (in_list(n->op_type, native_ops) || follows_layout(n->op_type))
                return 0;
            readers++;
        }
    }
    return readers > 0;
}

/* Decide whether node k runs channels-last. */
static int wants_nhwc(const lay *L, const vp_node *n)
{
    const vp_plan *p = L->p;
    if (in_list(n->op_type, native_ops))
        return native_ok(p, n);
    int transparent = in_list(n->op_type, elementwise_ops) || !strcmp(n->op_type, "Concat") ||
                      !strcmp(n->op_type, "Split");
    if (!strcmp(n->op_type, "Slice"))
        transparent = n->n_in >= 4 && is_const(p, n->in[3]);
    if (!strcmp(n->op_type, "Resize"))
        transparent = (n->n_in < 2 || n->in[1] < 0 || is_const(p, n->in[1])) &&
                      ((n->n_in > 2 && is_const(p, n->in[2]) && vp_tensor_numel(&p->v[n->in[2]].t) == 4) ||
                       (n->n_in > 3 && is_const(p, n->in[3]) && vp_tensor_numel(&p->v[n->in[3]].t) == 4));
    if (!transparent)
        return 0;
    /* an enlarging Resize read as NCHW (DeepLab's final upsampling to the
     * model output) runs NCHW: the Transpose then moves its small input,
     * not its large output */
    if (!strcmp(n->op_type, "Resize") && n->n_in >= 1 && n->in[0] >= 0 && n->out[0] >= 0 &&
        vp_tensor_numel(&p->v[n->out[0]].t) > vp_tensor_numel(&p->v[n->in[0]].t) && read_as_nchw(p, n->out[0]))
        return 0;
    int any = 0;
    for (int i = 0; i < n->n_in; i++) {
        int v = n->in[i];
        if (v < 0 || is_const(p, v))
            continue;
        if (!strcmp(n->op_type, "Slice") && i > 0)
            continue; /* starts/ends/steps: per-axis lists, not data */
        if (!movable(p, v))
            return 0;
        any |= L->nhwc[v];
    }
    for (int o = 0; o < n->n_out; o++)
        if (n->out[o] >= 0 && p->v[n->out[o]].t.shape.rank != 4)
            return 0;
    return any;
}

/* Rewrite node k's inputs for the layout it runs in; returns the number
 * of nodes inserted before it. */
static int fix_inputs(lay *L, int k, int nhwc, int *inserted)
{
    vp_plan *p = L->p;
    *inserted = 0;
    for (int i = 0; i < p->nodes[k + *inserted].n_in; i++) {
        vp_node *n = &p->nodes[k + *inserted];
        int v = n->in[i];
        if (v < 0)
            continue;
        if (is_const(p, v)) {
            if (!nhwc)
                continue;
            int nv = v;
            if (!strcmp(n->op_type, "Conv")) {
                if (i == 1)
                    nv = permute_const(p, v); /* OIHW -> OHWI */
            } else if (!strcmp(n->op_type, "Slice")) {
                if (i == 3) {
                    int64_t ax[4];
                    int na = vp_read_ints(&p->v[v].t, ax, 4);
                    if (na < 0)
                        return VP_ERR_INTERNAL;
                    nv = vp_plan_new_const(p, p->v[v].t.dtype, &p->v[v].t.shape);
                    if (nv >= 0)
                        for (int j = 0; j < na; j++) {
                            int a = vp_norm_axis(ax[j], 4);
                            if (a < 0)
                                return VP_ERR_INVALID;
                            vp_tensor_set_f64(&p->v[nv].t, j, phys_axis[a]);
                        }
                }
            } else if (!strcmp(n->op_type, "Resize")) {
                if (i == 1 && vp_tensor_numel(&p->v[v].t) == 8)
                    nv = permute_axes_const(p, v, 2);
                else if ((i == 2 || i == 3) && vp_tensor_numel(&p->v[v].t) == 4)
                    nv = permute_axes_const(p, v, 1);
            } else if ((in_list(n->op_type, elementwise_ops) && !scalar_param(n, i)) ||
                       (!strcmp(n->op_type, "Concat") && p->v[v].t.shape.rank == 4)) {
                nv = permute_const(p, v);
            }
            if (nv < 0)
                return nv == -2 ? VP_ERR_INTERNAL : VP_ERR_NOMEM;
            p->nodes[k + *inserted].in[i] = nv;
            continue;
        }
        if (!movable(p, v) || L->nhwc[v] == nhwc)
            continue;
        if (!strcmp(n->op_type, "Slice") && i > 0)
            continue;
        int rc = lay_grow(L);
        if (rc)
            return rc;
        if (L->conv[v] < 0) {
            vp_shape s = nhwc ? to_phys(&p->v[v].t.shape) : to_log(&p->v[v].t.shape);
            int c = insert_unary(p, k + *inserted, "Transpose", v, p->v[v].t.dtype, &s,
                                 nhwc ? perm_to_nhwc : perm_to_nchw);
            if (c < 0)
                return VP_ERR_NOMEM;
            (*inserted)++;
            if ((rc = lay_grow(L)))
                return rc;
            L->nhwc[c] = (char)nhwc;
            L->conv[v] = c;
            L->conv[c] = v;
        }
        p->nodes[k + *inserted].in[i] = L->conv[v];
    }
    return VP_OK;
}

static int want_layout(const vp_plan *p)
{
    vp_layout l = p->e->opt.layout;
    if (l == VP_LAYOUT_AUTO)
        return !p->e->be->host_memory && p->e->opt.precision == VP_PRECISION_FP16;
    return l == VP_LAYOUT_CHANNELS_LAST;
}

int vp_plan_layout(vp_plan *p)
{
    if (!want_layout(p))
        return VP_OK;
    lay L = {p, NULL, NULL, 0};
    int rc = lay_grow(&L), moved = 0, transposes = 0;
    /* native inputs arrive channels-last */
    for (int i = 0; i < p->e->g.n_inputs && rc == VP_OK && p->e->opt.native_input; i++) {
        int v = p->e->g.inputs[i];
        if (movable(p, v)) {
            p->v[v].t.shape = to_phys(&p->v[v].t.shape);
            L.nhwc[v] = 1;
        }
    }
    for (int k = 0; k < p->n_nodes && rc == VP_OK; k++) {
        if (!p->active[k] || !strcmp(p->nodes[k].name, "vidpipe.layout"))
            continue; /* inserted: already in the layout it needs */
        int nhwc = wants_nhwc(&L, &p->nodes[k]), ins;
        if ((rc = fix_inputs(&L, k, nhwc, &ins)))
            break;
        transposes += ins;
        k += ins;
        vp_node *n = &p->nodes[k];
        if (!nhwc)
            continue;
        moved++;
        if (in_list(n->op_type, native_ops))
            n->layout = VP_LAYOUT_NHWC;
        else if (!strcmp(n->op_type, "Concat") || !strcmp(n->op_type, "Split"))
            rc = remap_axis_attr(p, n, !strcmp(n->op_type, "Split") ? 0 : 1);
        for (int o = 0; o < n->n_out && rc == VP_OK; o++) {
            int v = n->out[o];
            if (v < 0 || !movable(p, v))
                continue;
            p->v[v].t.shape = to_phys(&p->v[v].t.shape);
            L.nhwc[v] = 1;
            if (!vp_plan_is_graph_output(p, v))
                continue;
            /* the model's output stays NCHW: the node writes a channels-last
             * twin, a Transpose after it writes the output */
            int twin = vp_plan_new_value(p, p->v[v].t.dtype, &p->v[v].t.shape);
            if (twin < 0) {
                rc = VP_ERR_NOMEM;
                break;
            }
            if ((rc = lay_grow(&L)))
                break;
            n->out[o] = twin;
            L.nhwc[twin] = 1;
            p->v[v].t.shape = to_log(&p->v[v].t.shape);
            L.nhwc[v] = 0;
            if ((rc = insert_node1(p, k + 1, "Transpose", twin, v, ints_attr(p, "perm", perm_to_nchw, 4))))
                break;
            n = &p->nodes[k];
            L.conv[v] = twin;
            L.conv[twin] = v;
            transposes++;
        }
    }
    free(L.nhwc);
    free(L.conv);
    if (rc == VP_OK)
        VP_LOGI("%s: channels-last: %d nodes, %d transposes inserted", p->e->g.source, moved, transposes);
    return rc;
}

/* FP16 ------------------------------------------------------------------- */

static int keeps_f32(const vp_node *n, int i)
{
    return i >= 1 && (!strcmp(n->op_type, "Resize") || !strcmp(n->op_type, "Upsample"));
}

/* A float32 model input value. */
static int f32_input(const vp_plan *p, int v)
{
    return v >= 0 && p->v[v].store == VP_STORE_INPUT && p->v[v].t.dtype == VP_DT_FLOAT;
}

/* Node k is a first layer that stays FP32 (see the top of the file); *xt is
 * set to the Transpose node that makes its X channels-last, or -1. */
static int fp32_stem(const vp_plan *p, int k, int *xt)
{
    const vp_node *n = &p->nodes[k];
    const vp_kernel *kn = p->e->be->kernel_find(n->op_type);
    *xt = -1;
    if (!kn || !kn->fp32_stem || strcmp(n->op_type, "Conv") || n->layout != VP_LAYOUT_NHWC || n->n_in < 2 ||
        n->n_out != 1 || vp_attr_i(n, "group", 1) != 1)
        return 0;
    int x = n->in[0], w = n->in[1], b = n->n_in > 2 ? n->in[2] : -1;
    if (x < 0 || p->v[x].t.dtype != VP_DT_FLOAT || p->v[x].t.shape.rank != 4 || !is_const(p, w) ||
        p->v[w].t.dtype != VP_DT_FLOAT || p->v[w].t.shape.rank != 4 ||
        (b >= 0 && (!is_const(p, b) || p->v[b].t.dtype != VP_DT_FLOAT)))
        return 0;
    const int64_t *wd = p->v[w].t.shape.d, c = p->v[x].t.shape.d[3]; /* W [O,kH,kW,C], X [N,H,W,C] */
    if (c < 1 || c > 4 || wd[3] != c || wd[1] * wd[2] * c > 160)
        return 0;
    int cnt;
    const int64_t *a = vp_attr_ints(n, "dilations", &cnt);
    for (int i = 0; i < cnt; i++)
        if (a[i] != 1)
            return 0;
    a = vp_attr_ints(n, "strides", &cnt);
    for (int i = 0; i < cnt; i++)
        if (a[i] < 1 || a[i] > 4)
            return 0;
    if (f32_input(p, x))
        return 1;
    for (int j = 0; j < k; j++) /* X made channels-last by the layout pass */
        if (p->active[j] && p->nodes[j].n_out == 1 && p->nodes[j].out[0] == x) {
            if (strcmp(p->nodes[j].op_type, "Transpose") || !f32_input(p, p->nodes[j].in[0]))
                return 0;
            *xt = j;
            return 1;
        }
    return 0;
}

int vp_plan_precision(vp_plan *p)
{
    if (p->e->opt.precision != VP_PRECISION_FP16)
        return VP_OK;
    int cap = p->cap_v, scap = p->cap_v, casts = 0, stems = 0;
    int *half = malloc(sizeof(int) * (size_t)cap);
    /* per value: 1 the X of an FP32 first layer made by a Transpose, 2 the
     * output of an FP32 first layer (values keep their ids as nodes are
     * inserted; node indices do not) */
    char *stem = calloc((size_t)scap, 1);
    if (!half || !stem) {
        free(half);
        free(stem);
        return VP_ERR_NOMEM;
    }
    for (int i = 0; i < cap; i++)
        half[i] = -1;
    int rc = VP_OK;
    /* native inputs arrive in FP16 */
    for (int i = 0; i < p->e->g.n_inputs && p->e->opt.native_input; i++) {
        vp_pval *pv = &p->v[p->e->g.inputs[i]];
        if (pv->store == VP_STORE_INPUT && pv->t.dtype == VP_DT_FLOAT)
            pv->t.dtype = VP_DT_FLOAT16;
    }
    /* after that: a native input is no float32 input */
    const char *env = getenv("VIDPIPE_FP32_STEM");
    for (int k = 0; k < p->n_nodes && !(env && !strcmp(env, "0")); k++) {
        int xt;
        if (p->active[k] && fp32_stem(p, k, &xt)) {
            stem[p->nodes[k].out[0]] = 2;
            if (xt >= 0)
                stem[p->nodes[xt].out[0]] = 1;
            stems++;
        }
    }
    for (int k = 0; k < p->n_nodes && rc == VP_OK; k++) {
        if (!p->active[k] || !strcmp(p->nodes[k].name, "vidpipe.precision"))
            continue;
        int o0 = p->nodes[k].n_out > 0 ? p->nodes[k].out[0] : -1;
        if (o0 >= 0 && o0 < scap && stem[o0] == 1)
            continue; /* the FP32 first layer's X: all float32 */
        int f32_in = o0 >= 0 && o0 < scap && stem[o0] == 2 ? 3 : 0; /* its X, W and B */
        for (int i = 0; i < p->nodes[k].n_in; i++) {
            int v = p->nodes[k].in[i];
            if (v < 0 || p->v[v].t.dtype != VP_DT_FLOAT || keeps_f32(&p->nodes[k], i) || i < f32_in)
                continue;
            if (half[v] < 0) {
                int h;
                if (is_const(p, v)) {
                    h = vp_plan_new_const(p, VP_DT_FLOAT16, &p->v[v].t.shape);
                    if (h >= 0) {
                        const float *src = p->v[v].t.data;
                        uint16_t *dst = p->v[h].t.data;
                        for (int64_t j = 0, m = vp_tensor_numel(&p->v[v].t); j < m; j++)
                            dst[j] = vp_float_to_half(src[j]);
                    }
                } else {
                    /* a model input (activations were retyped by their producer) */
                    h = insert_unary(p, k, "Cast", v, VP_DT_FLOAT16, &p->v[v].t.shape, NULL);
                    if (h >= 0) {
                        k++;
                        casts++;
                    }
                }
                if (h < 0) {
                    rc = VP_ERR_NOMEM;
                    break;
                }
                if (p->cap_v > cap) {
                    int *nh = realloc(half, sizeof(int) * (size_t)p->cap_v);
                    if (!nh) {
                        rc = VP_ERR_NOMEM;
                        break;
                    }
                    half = nh;
                    for (int j = cap; j < p->cap_v; j++)
                        half[j] = -1;
                    cap = p->cap_v;
                }
                half[v] = h;
            }
            p->nodes[k].in[i] = half[v];
        }
        if (rc)
            break;
        vp_node *n = &p->nodes[k];
        for (int o = 0; o < n->n_out; o++) {
            int v = n->out[o];
            if (v < 0 || p->v[v].t.dtype != VP_DT_FLOAT)
                continue;
            if (!vp_plan_is_graph_output(p, v)) {
                p->v[v].t.dtype = VP_DT_FLOAT16;
                continue;
            }
            /* the node writes a float16 twin; a Cast after it the output */
            int h = vp_plan_new_value(p, VP_DT_FLOAT16, &p->v[v].t.shape);
            if (h < 0) {
                rc = VP_ERR_NOMEM;
                break;
            }
            if (p->cap_v > cap) {
                int *nh = realloc(half, sizeof(int) * (size_t)p->cap_v);
                if (!nh) {
                    rc = VP_ERR_NOMEM;
                    break;
                }
                half = nh;
                for (int j = cap; j < p->cap_v; j++)
                    half[j] = -1;
                cap = p->cap_v;
            }
            n->out[o] = h;
            half[v] = h;
            if ((rc = insert_node1(p, k + 1, "Cast", h, v, cast_attr(p, VP_DT_FLOAT))))
                break;
            n = &p->nodes[k];
            casts++;
        }
    }
    free(half);
    free(stem);
    if (rc == VP_OK)
        VP_LOGI("%s: fp16: %d casts inserted, %d first layer%s kept FP32", p->e->g.source, casts, stems,
                stems == 1 ? "" : "s");
    return rc;
}
