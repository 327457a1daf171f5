/*
 * Plans: one per set of concrete input shapes.
 *
 * Building a plan walks the graph once in topological order. For each node
 * needed by an output it infers output types and shapes; a node whose inputs
 * are all constant is run right away on the CPU (constant folding — this is
 * how shape subgraphs such as Shape→Gather→Concat→Reshape disappear). The
 * rest become steps. Then the passes fuse what they can, views (Reshape,
 * Flatten...) are resolved to aliases, and a static memory plan packs every
 * intermediate into one arena by liveness. Kernels are prepared last, so a
 * run does no allocation: it binds the caller's buffers and calls kernels.
 */
#include "engine/engine_impl.h"
#include "engine/backend.h"
#include "engine/cpu/cpu.h"
#include "base/log.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARENA_ALIGN 64

static void plan_free(vp_plan *p)
{
    if (!p)
        return;
    for (int s = 0; s < p->n_steps; s++) {
        vp_step *st = &p->steps[s];
        if (st->k && st->k->release && st->state)
            st->k->release(st->state);
        free(st->in);
        free(st->out);
        free(st->in_const);
        free(st->pix);
    }
    for (int i = 0; i < p->n_v; i++)
        if (p->v[i].owned)
            free(p->v[i].host ? p->v[i].host : p->v[i].t.data);
    const vp_backend *be = p->e->be;
    if (p->be_state && be->plan_state_free)
        be->plan_state_free(p->e->bctx, p->be_state);
    if (p->arena)
        be->mem_free(p->e->bctx, p->arena);
    if (p->consts)
        be->mem_free(p->e->bctx, p->consts);
    if (p->scratch)
        be->mem_free(p->e->bctx, p->scratch);
    for (int k = 0; k < p->n_nodes; k++) {
        free(p->nodes[k].in);
        free(p->nodes[k].out);
    }
    free(p->nodes);
    for (int i = 0; i < p->n_owned; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p->active);
    free(p->v);
    free(p->steps);
    free(p->views);
    free(p->in_shapes);
    free(p);
}

void vp_plan_free_all(vp_engine *e);
void vp_plan_free_all(vp_engine *e)
{
    while (e->plans) {
        vp_plan *p = e->plans;
        e->plans = p->next;
        plan_free(p);
    }
}

void *vp_plan_alloc(vp_plan *p, size_t bytes)
{
    if (p->n_owned == p->cap_owned) {
        int cap = p->cap_owned ? 2 * p->cap_owned : 64;
        void **o = realloc(p->owned, sizeof *o * (size_t)cap);
        if (!o)
            return NULL;
        p->owned = o;
        p->cap_owned = cap;
    }
    void *m = calloc(1, bytes ? bytes : 1);
    if (m)
        p->owned[p->n_owned++] = m;
    return m;
}

int vp_plan_new_value(vp_plan *p, vp_dtype dt, const vp_shape *s)
{
    const vp_shape shape = *s; /* s may point into p->v, which may move */
    if (p->n_v == p->cap_v) {
        int cap = 2 * p->cap_v;
        vp_pval *v = realloc(p->v, sizeof *v * (size_t)cap);
        if (!v)
            return -1;
        p->v = v;
        p->cap_v = cap;
    }
    int id = p->n_v++;
    vp_pval *pv = &p->v[id];
    memset(pv, 0, sizeof *pv);
    pv->t.dtype = dt;
    pv->t.shape = shape;
    pv->alias = -1;
    return id;
}

int vp_plan_new_const(vp_plan *p, vp_dtype dt, const vp_shape *s)
{
    int id = vp_plan_new_value(p, dt, s);
    if (id < 0)
        return -1;
    vp_pval *pv = &p->v[id];
    size_t bytes = vp_tensor_bytes(&pv->t);
    pv->t.data = calloc(1, bytes ? bytes : 1);
    if (!pv->t.data) {
        p->n_v--;
        return -1;
    }
    pv->owned = 1;
    pv->store = VP_STORE_CONST;
    return id;
}

int vp_plan_insert_node(vp_plan *p, int at, const vp_node *proto)
{
    vp_node *nodes = realloc(p->nodes, sizeof *nodes * ((size_t)p->n_nodes + 2));
    if (!nodes)
        return -1;
    p->nodes = nodes;
    int *active = realloc(p->active, sizeof(int) * ((size_t)p->n_nodes + 2));
    if (!active)
        return -1;
    p->active = active;
    vp_node n = *proto;
    n.in = malloc(sizeof(int) * ((size_t)n.n_in + 2));
    n.out = malloc(sizeof(int) * ((size_t)n.n_out + 1));
    if (!n.in || !n.out) {
        free(n.in);
        free(n.out);
        return -1;
    }
    memcpy(n.in, proto->in, sizeof(int) * (size_t)n.n_in);
    memcpy(n.out, proto->out, sizeof(int) * (size_t)n.n_out);
    memmove(&p->nodes[at + 1], &p->nodes[at], sizeof *nodes * (size_t)(p->n_nodes - at));
    memmove(&p->active[at + 1], &p->active[at], sizeof(int) * (size_t)(p->n_nodes - at));
    p->nodes[at] = n;
    p->active[at] = 1;
    p->n_nodes++;
    return at;
}

int vp_plan_is_graph_output(const vp_plan *p, int v)
{
    return v >= 0 && v < p->e->g.n_values && p->e->g.values[v].graph_output >= 0;
}

static int node_fail(vp_plan *p, const vp_node *n, int rc, const char *msg)
{
    return vp_engine_set_error(p->e, rc, "%s: node '%s' (%s): %s", p->e->g.source, n->name, n->op_type, msg);
}

/* Fill a context's tensor pointer arrays from the plan's values. */
static int ctx_bind(vp_plan *p, const vp_node *n, const vp_tensor **in, vp_tensor **out)
{
    for (int i = 0; i < n->n_in; i++)
        in[i] = n->in[i] >= 0 ? &p->v[n->in[i]].t : NULL;
    for (int i = 0; i < n->n_out; i++)
        out[i] = n->out[i] >= 0 ? &p->v[n->out[i]].t : NULL;
    return VP_OK;
}

static void ctx_init(vp_plan *p, vp_op_ctx *c, const vp_node *n, const vp_tensor **in, vp_tensor **out,
                     char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->node = n;
    c->opset = n->opset;
    c->n_in = n->n_in;
    c->n_out = n->n_out;
    c->in = in;
    c->out = out;
    c->cpu = p->e->cpu;
    c->dev = p->e->bctx;
    c->num_threads = p->e->opt.num_threads;
    c->err = err;
    c->errlen = errlen;
    err[0] = 0;
}

/* A step's channel-slice strides into its context. */
static void step_pix(const vp_step *st, const vp_node *n, vp_op_ctx *c)
{
    c->in_pix = st->pix;
    c->out_pix = st->pix ? st->pix + n->n_in : NULL;
}

/* Run one node on the CPU now, into freshly allocated (owned) outputs. */
static int fold_node(vp_plan *p, const vp_node *n, vp_op_ctx *c)
{
    const vp_kernel *k = vp_cpu_kernel_find(n->op_type);
    if (!k)
        return node_fail(p, n, VP_ERR_UNSUPPORTED, "no CPU kernel to fold it");
    for (int i = 0; i < n->n_out; i++) {
        if (n->out[i] < 0)
            continue;
        vp_pval *pv = &p->v[n->out[i]];
        size_t bytes = vp_tensor_bytes(&pv->t);
        pv->t.data = calloc(1, bytes ? bytes : 1);
        if (!pv->t.data)
            return node_fail(p, n, VP_ERR_NOMEM, "out of memory folding a constant");
        pv->owned = 1;
        pv->store = VP_STORE_CONST;
    }
    int rc = VP_OK;
    char all_const[4096];
    memset(all_const, 1, sizeof all_const);
    c->state = NULL;
    c->dev = p->e->cpu; /* folding always runs on the CPU */
    c->in_const = all_const;
    c->scratch_bytes = 0;
    c->scratch = NULL;
    if (k->prepare)
        rc = k->prepare(c);
    if (rc == VP_OK && c->scratch_bytes) {
        c->scratch = aligned_alloc(64, (c->scratch_bytes + 63) / 64 * 64);
        if (!c->scratch)
            rc = VP_ERR_NOMEM;
    }
    if (rc == VP_OK)
        rc = k->run(c);
    free(c->scratch);
    c->scratch = NULL;
    if (rc == VP_OK && n->n_post)
        rc = vp_apply_postops(c);
    if (k->release && c->state)
        k->release(c->state);
    if (rc)
        return node_fail(p, n, rc, c->err[0] ? c->err : vp_strerror(rc));
    return VP_OK;
}

/* Infer shapes and fold constants; marks nodes that must run as active. */
static int infer_all(vp_plan *p)
{
    vp_graph *g = &p->e->g;
    const vp_tensor *inbuf[4096];
    vp_tensor *outbuf[4096];
    char err[512];
    /* needed: backwards reachability from the outputs */
    char *needed = calloc((size_t)g->n_values + 1, 1);
    if (!needed)
        return VP_ERR_NOMEM;
    for (int i = 0; i < g->n_outputs; i++)
        needed[g->outputs[i]] = 1;
    for (int k = p->n_nodes - 1; k >= 0; k--) {
        const vp_node *n = &p->nodes[k];
        int used = 0;
        for (int o = 0; o < n->n_out; o++)
            used |= n->out[o] >= 0 && needed[n->out[o]];
        p->active[k] = used;
        if (used)
            for (int i = 0; i < n->n_in; i++)
                if (n->in[i] >= 0)
                    needed[n->in[i]] = 1;
    }
    free(needed);

    for (int k = 0; k < p->n_nodes; k++) {
        const vp_node *n = &p->nodes[k];
        vp_op_ctx c;
        if (!p->active[k])
            continue;
        for (int i = 0; i < n->def->min_inputs && i < n->n_in; i++)
            if (n->in[i] < 0)
                return node_fail(p, n, VP_ERR_INVALID, "a required input is empty");
        if (n->n_out < 1 || n->out[0] < 0)
            return node_fail(p, n, VP_ERR_INVALID, "the first output is empty");
        ctx_bind(p, n, inbuf, outbuf);
        ctx_init(p, &c, n, inbuf, outbuf, err, sizeof err);
        for (int i = 0; i < n->n_out; i++)
            if (outbuf[i]) {
                outbuf[i]->dtype = VP_DT_UNDEFINED;
                outbuf[i]->shape.rank = -1;
                outbuf[i]->data = NULL;
            }
        int rc = n->def->infer(&c);
        if (rc)
            return node_fail(p, n, rc, err[0] ? err : vp_strerror(rc));
        int all_const = 1; /* or the output depends on shapes only */
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0 && p->v[n->in[i]].store != VP_STORE_CONST)
                all_const = 0;
        for (int i = 0; i < n->n_out; i++) {
            if (!outbuf[i])
                continue;
            if (outbuf[i]->dtype == VP_DT_UNDEFINED || outbuf[i]->shape.rank < 0 ||
                vp_shape_numel(&outbuf[i]->shape) < 0)
                return node_fail(p, n, VP_ERR_INTERNAL, "shape inference left an output undefined");
            size_t limit = p->e->opt.max_tensor_bytes ? p->e->opt.max_tensor_bytes : (size_t)1 << 34;
            size_t esz = vp_dtype_size(outbuf[i]->dtype);
            if (!esz)
                return node_fail(p, n, VP_ERR_UNSUPPORTED, "output element type is not supported");
            if ((uint64_t)vp_shape_numel(&outbuf[i]->shape) > limit / esz)
                return node_fail(p, n, VP_ERR_SHAPE, "output is larger than the tensor size limit");
        }
        if (all_const || n->def->shape_only) {
            if ((rc = fold_node(p, n, &c)))
                return rc;
            p->active[k] = 0;
        }
    }
    /* declared output types must match what was inferred */
    for (int i = 0; i < g->n_outputs; i++) {
        const vp_value *gv = &g->values[g->outputs[i]];
        const vp_pval *pv = &p->v[g->outputs[i]];
        if (gv->dtype != VP_DT_UNDEFINED && gv->dtype != pv->t.dtype)
            return vp_engine_set_error(p->e, VP_ERR_INVALID, "%s: output '%s' is declared %s but computes %s",
                                       g->source, gv->name, vp_dtype_name(gv->dtype), vp_dtype_name(pv->t.dtype));
    }
    return VP_OK;
}

/* The value that owns v's bytes, and v's byte offset in it. */
static int root_of(const vp_plan *p, int v, int64_t *off)
{
    int64_t o = 0;
    while (p->v[v].store == VP_STORE_VIEW) {
        o += p->v[v].offset;
        v = p->v[v].alias;
    }
    if (off)
        *off = o;
    return v;
}

static void make_view(vp_plan *p, int v, int of, int64_t off)
{
    p->v[v].store = VP_STORE_VIEW;
    p->v[v].alias = of;
    p->v[v].offset = off;
    p->views[p->n_views++] = v;
}

/* Concat in place: when each input's slice of the output is contiguous (all
 * dimensions before the axis are 1), an input that is an intermediate used
 * only by this Concat is written by its producer straight into the output.
 * The Concat step copies the other inputs (its kernel skips an input already
 * in place), and disappears when none is left. */
static void concat_in_place(vp_plan *p, const int *uses)
{
    for (int s = 0; s < p->n_steps; s++) {
        vp_step *st = &p->steps[s];
        const vp_node *n = &p->nodes[st->node];
        if (strcmp(n->op_type, "Concat") != 0 || n->n_out != 1 || n->out[0] < 0)
            continue;
        const vp_pval *o = &p->v[n->out[0]];
        int axis = vp_norm_axis(vp_attr_i(n, "axis", 0), o->t.shape.rank);
        int64_t outer = 1;
        for (int d = 0; d < axis; d++)
            outer *= o->t.shape.d[d];
        if (axis < 0 || outer != 1 || (o->store != VP_STORE_ARENA && o->store != VP_STORE_OUTPUT))
            continue;
        int64_t off = 0;
        int left = 0;
        for (int i = 0; i < n->n_in; i++) {
            int x = n->in[i];
            if (x < 0)
                continue;
            int ok = p->v[x].store == VP_STORE_ARENA && uses[x] == 1 && p->v[x].t.dtype == o->t.dtype;
            for (int j = 0; j < i && ok; j++)
                ok = n->in[j] != x;
            if (ok)
                make_view(p, x, n->out[0], off);
            else
                left++;
            off += (int64_t)vp_tensor_bytes(&p->v[x].t);
        }
        if (!left)
            st->skip = 1; /* nothing left to do */
    }
}

/* Channel slices: channels-last Concat and Split in place ----------------- */

/* A Concat of 4-D channels-last values along the channels (the last axis)
 * would copy every input into its output. Instead an input whose producer
 * and every other reader accept channel slices (vp_kernel.cslice, on a
 * channels-last node) becomes a slice of the output: a view at its channel
 * offset whose pixels lie the output's channel count apart; the producer
 * writes it there. A Split along the channels whose outputs are, in order,
 * consecutive inputs of such a Concat (YOLOv8's C2f block: cv1 -> Split ->
 * bottlenecks -> Concat) disappears too: its input becomes a slice of the
 * Concat's output and its outputs slices of that. Offsets, channel counts
 * and pixel strides stay 16-byte aligned. VIDPIPE_CHANNEL_SLICES=0 turns
 * this off (to measure what it saves). */

static int slice_aligned(int64_t elems, size_t es) { return (elems * (int64_t)es) % 16 == 0; }

/* The kernel of step s takes slices of type dt (and has not refused one before). */
static int slice_kernel(const vp_plan *p, int s, vp_dtype dt)
{
    const vp_step *st = &p->steps[s];
    if (!st->k->cslice || (vp_dtype)st->k->cslice != dt || p->nodes[st->node].layout != VP_LAYOUT_NHWC ||
        p->n_no_slices < 0)
        return 0;
    for (int i = 0; i < p->n_no_slices; i++)
        if (p->no_slices[i] == st->node)
            return 0;
    return 1;
}

/* Step s reads v only as input 0 or a post-op addend, and may read a slice. */
static int reads_slice(const vp_plan *p, int s, int v)
{
    const vp_node *n = &p->nodes[p->steps[s].node];
    if (!slice_kernel(p, s, p->v[v].t.dtype))
        return 0;
    for (int i = 0; i < n->n_in; i++) {
        if (n->in[i] != v)
            continue;
        int ok = i == 0;
        for (int k = 0; k < n->n_post && !ok; k++)
            ok = n->post[k].kind == VP_POST_ADD && n->post[k].input == i;
        if (!ok)
            return 0;
    }
    return 1;
}

/* Value v may become a channel slice: an intermediate in the arena, no view
 * of it, not a model output, and every step reading it other than step
 * `except` accepts a slice. */
static int sliceable(const vp_plan *p, int v, int except)
{
    if (p->v[v].store != VP_STORE_ARENA || vp_plan_is_graph_output(p, v))
        return 0;
    for (int i = 0; i < p->n_views; i++)
        if (p->v[p->views[i]].alias == v)
            return 0;
    for (int s = 0; s < p->n_steps; s++) {
        const vp_node *n = &p->nodes[p->steps[s].node];
        if (s == except)
            continue;
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] == v && !reads_slice(p, s, v))
                return 0;
    }
    return 1;
}

/* The step writing v as output 0 on a kernel that writes slices, or -1. */
static int slice_writer(const vp_plan *p, const int *producer, int v)
{
    int s = producer[v];
    if (s < 0)
        return -1;
    return slice_kernel(p, s, p->v[v].t.dtype) && p->nodes[p->steps[s].node].out[0] == v ? s : -1;
}

/* A 4-D op along its last axis. */
static int on_channels(const vp_plan *p, const vp_node *n, int v)
{
    return p->v[v].t.shape.rank == 4 && vp_norm_axis(vp_attr_i(n, "axis", 0), 4) == 3;
}

static void make_slice(vp_plan *p, int v, int of, int64_t off_elems)
{
    make_view(p, v, of, off_elems * (int64_t)vp_dtype_size(p->v[v].t.dtype));
    p->v[v].pix = -1; /* set to the root's channel count once views are resolved */
}

/* Split step t along the channels whose outputs are inputs first.. of
 * Concat step s, in order: its input as a slice of the Concat's output at
 * channel offset off. Returns how many Concat inputs that covers, 0 if
 * the Split cannot go. */
static int split_in_place(vp_plan *p, const int *producer, int s, int first, int t, int64_t off)
{
    const vp_node *cn = &p->nodes[p->steps[s].node], *sn = &p->nodes[p->steps[t].node];
    int x = sn->in[0], o = cn->out[0];
    size_t es = vp_dtype_size(p->v[o].t.dtype);
    if (p->steps[t].skip || !on_channels(p, sn, x) || first + sn->n_out > cn->n_in ||
        p->v[x].t.dtype != p->v[o].t.dtype || slice_writer(p, producer, x) < 0 || !sliceable(p, x, t))
        return 0;
    int64_t part = 0;
    for (int j = 0; j < sn->n_out; j++) {
        int y = sn->out[j];
        if (y < 0 || cn->in[first + j] != y || !sliceable(p, y, s) ||
            !slice_aligned(p->v[y].t.shape.d[3], es) || !slice_aligned(off + part, es))
            return 0;
        for (int i = 0; i < cn->n_in; i++) /* once in the Concat */
            if (i != first + j && cn->in[i] == y)
                return 0;
        part += p->v[y].t.shape.d[3];
    }
    make_slice(p, x, o, off);
    part = 0;
    for (int j = 0; j < sn->n_out; j++) {
        make_slice(p, sn->out[j], x, part);
        part += p->v[sn->out[j]].t.shape.d[3];
    }
    p->steps[t].skip = 1;
    return sn->n_out;
}

static int channel_slices(vp_plan *p)
{
    const char *env = getenv("VIDPIPE_CHANNEL_SLICES");
    if (p->e->be->host_memory || (env && !strcmp(env, "0")))
        return VP_OK;
    int *producer = malloc(sizeof(int) * ((size_t)p->n_v + 1));
    if (!producer)
        return VP_ERR_NOMEM;
    for (int v = 0; v < p->n_v; v++)
        producer[v] = -1;
    for (int s = 0; s < p->n_steps; s++) {
        const vp_node *n = &p->nodes[p->steps[s].node];
        for (int i = 0; i < n->n_out; i++)
            if (n->out[i] >= 0)
                producer[n->out[i]] = s;
    }
    int slices = 0, splits = 0, concats = 0;
    for (int s = 0; s < p->n_steps; s++) {
        vp_step *st = &p->steps[s];
        const vp_node *n = &p->nodes[st->node];
        if (strcmp(n->op_type, "Concat") != 0 || st->skip || n->n_out != 1 || n->out[0] < 0)
            continue;
        int o = n->out[0];
        const vp_pval *po = &p->v[o];
        size_t es = vp_dtype_size(po->t.dtype);
        if (!on_channels(p, n, o) || (po->store != VP_STORE_ARENA && po->store != VP_STORE_OUTPUT) ||
            (po->t.dtype != VP_DT_FLOAT && po->t.dtype != VP_DT_FLOAT16) || !slice_aligned(po->t.shape.d[3], es))
            continue;
        int64_t off = 0;
        int left = 0;
        for (int i = 0; i < n->n_in;) {
            int x = n->in[i], t, took = 1;
            if (x < 0 || p->v[x].t.dtype != po->t.dtype) {
                left++;
                i++;
                continue;
            }
            int64_t c = p->v[x].t.shape.d[3];
            int once = 1;
            for (int j = 0; j < n->n_in; j++)
                once &= j == i || n->in[j] != x;
            if ((t = producer[x]) >= 0 && !strcmp(p->nodes[p->steps[t].node].op_type, "Split") &&
                p->nodes[p->steps[t].node].out[0] == x && (took = split_in_place(p, producer, s, i, t, off)) > 0) {
                splits++;
                slices += took;
                for (int j = 0; j < took; j++)
                    off += p->v[n->in[i + j]].t.shape.d[3];
                i += took;
                continue;
            }
            if (once && slice_writer(p, producer, x) >= 0 && sliceable(p, x, s) && slice_aligned(c, es) &&
                slice_aligned(off, es)) {
                make_slice(p, x, o, off);
                slices++;
            } else {
                left++;
            }
            off += c;
            i++;
        }
        if (!left) {
            st->skip = 1;
            concats++;
        } else {
            VP_LOGD("%s: Concat '%s' still copies %d of %d inputs", p->e->g.source, n->name, left, n->n_in);
        }
    }
    free(producer);
    if (slices)
        VP_LOGD("%s: %d Concat inputs written in place as channel slices; %d Concat and %d Split steps gone",
                p->e->g.source, slices, concats, splits);
    return VP_OK;
}

/* Storage classes, steps, lifetimes and the arena. */
static int plan_memory(vp_plan *p)
{
    vp_graph *g = &p->e->g;
    int nsteps = 0;
    for (int k = 0; k < p->n_nodes; k++)
        nsteps += p->active[k];
    p->steps = calloc((size_t)nsteps + 1, sizeof *p->steps);
    p->views = calloc((size_t)p->n_v + 1, sizeof(int));
    int *uses = calloc((size_t)p->n_v + 1, sizeof(int));
    if (!p->steps || !p->views || !uses) {
        free(uses);
        return VP_ERR_NOMEM;
    }
    for (int i = 0; i < g->n_outputs; i++)
        uses[g->outputs[i]]++;
    /* steps in order; views become aliases instead of steps */
    int s = 0;
    for (int k = 0; k < p->n_nodes; k++) {
        const vp_node *n = &p->nodes[k];
        if (!p->active[k])
            continue;
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0)
                uses[n->in[i]]++;
        int is_view = n->def->is_view && n->n_in >= 1 && n->in[0] >= 0 && n->out[0] >= 0 &&
                      p->v[n->in[0]].t.dtype == p->v[n->out[0]].t.dtype &&
                      vp_tensor_bytes(&p->v[n->in[0]].t) == vp_tensor_bytes(&p->v[n->out[0]].t);
        if (is_view) {
            make_view(p, n->out[0], n->in[0], 0);
            continue;
        }
        vp_step *st = &p->steps[s++];
        st->node = k;
        st->k = p->e->be->kernel_find(n->op_type);
        if (!st->k) {
            free(uses);
            return node_fail(p, n, VP_ERR_UNSUPPORTED, p->e->be->host_memory ? "no kernel on this backend"
                                                                              : "no kernel on the device backend");
        }
        st->in = calloc((size_t)n->n_in + 1, sizeof *st->in);
        st->out = calloc((size_t)n->n_out + 1, sizeof *st->out);
        st->in_const = calloc((size_t)n->n_in + 1, 1);
        if (!st->in || !st->out || !st->in_const) {
            free(uses);
            return VP_ERR_NOMEM;
        }
        /* outputs go straight to the caller's buffer when the backend works
         * in host memory; otherwise they live in the arena and are copied */
        for (int i = 0; i < n->n_out; i++)
            if (n->out[i] >= 0)
                p->v[n->out[i]].store = vp_plan_is_graph_output(p, n->out[i]) && p->e->be->host_memory
                                            ? VP_STORE_OUTPUT
                                            : VP_STORE_ARENA;
    }
    p->n_steps = s;
    concat_in_place(p, uses);
    free(uses);
    int rc = channel_slices(p);
    if (rc)
        return rc;
    /* resolve every view to its root and total offset */
    for (int i = 0; i < p->n_views; i++) {
        int64_t off;
        int v = p->views[i], r = root_of(p, v, &off);
        p->v[v].alias = r;
        p->v[v].offset = off;
        if (p->v[v].pix)
            p->v[v].pix = p->v[r].t.shape.d[3];
    }
    /* the steps that read or write a slice learn its pixel stride */
    for (s = 0; s < p->n_steps; s++) {
        vp_step *st = &p->steps[s];
        const vp_node *n = &p->nodes[st->node];
        int any = 0;
        for (int i = 0; i < n->n_in; i++)
            any |= n->in[i] >= 0 && p->v[n->in[i]].pix;
        for (int i = 0; i < n->n_out; i++)
            any |= n->out[i] >= 0 && p->v[n->out[i]].pix;
        if (!any || st->skip)
            continue;
        if (!(st->pix = calloc((size_t)(n->n_in + n->n_out), sizeof(int64_t))))
            return VP_ERR_NOMEM;
        for (int i = 0; i < n->n_in; i++)
            st->pix[i] = n->in[i] >= 0 ? p->v[n->in[i]].pix : 0;
        for (int i = 0; i < n->n_out; i++)
            st->pix[n->n_in + i] = n->out[i] >= 0 ? p->v[n->out[i]].pix : 0;
    }
    for (int i = 0; i < p->n_v; i++)
        p->v[i].first = p->v[i].last = -1;
    /* lifetimes, on roots: first write to last read */
    for (s = 0; s < p->n_steps; s++) {
        const vp_node *n = &p->nodes[p->steps[s].node];
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0)
                p->v[root_of(p, n->in[i], NULL)].last = s;
        for (int i = 0; i < n->n_out; i++) {
            if (n->out[i] < 0)
                continue;
            vp_pval *r = &p->v[root_of(p, n->out[i], NULL)];
            if (r->first < 0)
                r->first = s;
            if (r->last < s)
                r->last = s; /* unused outputs still need space while written */
        }
    }
    /* outputs reached through views or constants are copied at the end of a
     * run: their roots must stay alive until then */
    for (int i = 0; i < g->n_outputs; i++)
        p->v[root_of(p, g->outputs[i], NULL)].last = p->n_steps;
    /* on a device backend, inputs are uploaded into the arena before step 0 */
    if (!p->e->be->host_memory)
        for (int i = 0; i < g->n_inputs; i++) {
            vp_pval *pv = &p->v[g->inputs[i]];
            if (pv->store != VP_STORE_INPUT)
                continue;
            pv->store = VP_STORE_ARENA;
            pv->first = 0;
            if (pv->last < 0)
                pv->last = 0;
        }
    /* arena: greedy by size, first fit among placed values whose lifetimes overlap */
    int *order = malloc(sizeof(int) * ((size_t)p->n_v + 1));
    int na = 0;
    if (!order)
        return VP_ERR_NOMEM;
    for (int i = 0; i < p->n_v; i++)
        if (p->v[i].store == VP_STORE_ARENA)
            order[na++] = i;
    for (int a = 1; a < na; a++) { /* insertion sort by size, descending */
        int x = order[a], b = a - 1;
        size_t bx = vp_tensor_bytes(&p->v[x].t);
        while (b >= 0 && vp_tensor_bytes(&p->v[order[b]].t) < bx) {
            order[b + 1] = order[b];
            b--;
        }
        order[b + 1] = x;
    }
    size_t total = 0;
    int64_t *spans = malloc(sizeof(int64_t) * 2 * ((size_t)na + 1));
    if (!spans) {
        free(order);
        return VP_ERR_NOMEM;
    }
    for (int a = 0; a < na; a++) {
        vp_pval *pv = &p->v[order[a]];
        int64_t size = (int64_t)((vp_tensor_bytes(&pv->t) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
        if (size == 0)
            size = ARENA_ALIGN;
        /* collect overlapping placed intervals, sorted by offset */
        int nsp = 0;
        for (int b = 0; b < a; b++) {
            const vp_pval *q = &p->v[order[b]];
            if (q->first <= pv->last && pv->first <= q->last) {
                int64_t qs = (int64_t)((vp_tensor_bytes(&q->t) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
                int j = nsp++;
                while (j > 0 && spans[2 * (j - 1)] > q->offset) {
                    spans[2 * j] = spans[2 * (j - 1)];
                    spans[2 * j + 1] = spans[2 * (j - 1) + 1];
                    j--;
                }
                spans[2 * j] = q->offset;
                spans[2 * j + 1] = q->offset + (qs ? qs : ARENA_ALIGN);
            }
        }
        int64_t off = 0;
        for (int j = 0; j < nsp; j++) {
            if (spans[2 * j] - off >= size)
                break;
            if (spans[2 * j + 1] > off)
                off = spans[2 * j + 1];
        }
        pv->offset = off;
        if ((size_t)(off + size) > total)
            total = (size_t)(off + size);
    }
    free(spans);
    free(order);
    p->arena_bytes = total;
    if (total && p->e->be->mem_alloc(p->e->bctx, total, &p->arena))
        return vp_engine_set_error(p->e, VP_ERR_NOMEM, "%s: cannot allocate the %zu-byte arena (%s)", g->source,
                                   total, p->e->be->name);
    for (int i = 0; i < p->n_v; i++)
        if (p->v[i].store == VP_STORE_ARENA)
            p->v[i].t.data = (char *)p->arena + p->v[i].offset;
    return VP_OK;
}

/* Device backends: copy every constant a step reads into backend memory. */
static int upload_consts(vp_plan *p)
{
    const vp_backend *be = p->e->be;
    char *used = calloc((size_t)p->n_v + 1, 1);
    size_t total = 0;
    if (!used)
        return VP_ERR_NOMEM;
    for (int s = 0; s < p->n_steps; s++) {
        const vp_node *n = &p->nodes[p->steps[s].node];
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i] >= 0 && p->v[n->in[i]].store == VP_STORE_CONST && !used[n->in[i]]) {
                used[n->in[i]] = 1;
                total += (vp_tensor_bytes(&p->v[n->in[i]].t) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
            }
    }
    for (int i = 0; i < p->e->g.n_outputs; i++) {
        int o = p->e->g.outputs[i];
        if (p->v[o].store == VP_STORE_CONST && !used[o]) {
            used[o] = 1;
            total += (vp_tensor_bytes(&p->v[o].t) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
        }
    }
    int rc = VP_OK;
    if (total && be->mem_alloc(p->e->bctx, total, &p->consts))
        rc = vp_engine_set_error(p->e, VP_ERR_NOMEM, "%s: cannot allocate %zu bytes for constants (%s)",
                                 p->e->g.source, total, be->name);
    p->const_bytes = total;
    size_t off = 0;
    for (int i = 0; i < p->n_v && rc == VP_OK; i++) {
        if (!used[i])
            continue;
        vp_pval *pv = &p->v[i];
        size_t bytes = vp_tensor_bytes(&pv->t);
        char *dst = (char *)p->consts + off;
        if (bytes && be->upload(p->e->bctx, dst, pv->t.data, bytes))
            rc = vp_engine_set_error(p->e, VP_ERR_BACKEND, "%s: uploading constant '%s' failed", p->e->g.source,
                                     i < p->e->g.n_values ? p->e->g.values[i].name : "(folded)");
        if (pv->owned)
            pv->host = pv->t.data; /* keep to free; initializers stay the graph's */
        pv->t.data = dst;
        off += (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    }
    free(used);
    return rc;
}

static int prepare_steps(vp_plan *p)
{
    char err[512];
    size_t scratch = 0;
    /* steps with channel slices first: a refusal is then found early */
    for (int pass = 0; pass < 2; pass++)
        for (int s = 0; s < p->n_steps; s++) {
            vp_step *st = &p->steps[s];
            const vp_node *n = &p->nodes[st->node];
            vp_op_ctx c;
            if ((st->pix != NULL) != (pass == 0))
                continue;
            ctx_bind(p, n, st->in, st->out);
            for (int i = 0; i < n->n_in; i++)
                st->in_const[i] = n->in[i] >= 0 && p->v[n->in[i]].store == VP_STORE_CONST;
            if (!st->skip && st->k->prepare) {
                ctx_init(p, &c, n, st->in, st->out, err, sizeof err);
                c.in_const = st->in_const;
                step_pix(st, n, &c);
                int rc = st->k->prepare(&c);
                if (rc) {
                    if (st->pix && rc == VP_ERR_UNSUPPORTED)
                        p->slice_refused = st->node;
                    return node_fail(p, n, rc, err[0] ? err : vp_strerror(rc));
                }
                st->state = c.state;
                if (c.scratch_bytes > scratch)
                    scratch = c.scratch_bytes;
            }
        }
    p->scratch_bytes = scratch;
    if (scratch && p->e->be->mem_alloc(p->e->bctx, scratch, &p->scratch))
        return vp_engine_set_error(p->e, VP_ERR_NOMEM, "%s: cannot allocate %zu bytes of scratch", p->e->g.source,
                                   scratch);
    return VP_OK;
}

static int plan_build(vp_engine *e, const vp_shape *input_shapes, const vp_tensor *const *fixed, int any_fixed,
                      const int *no_slices, int n_no_slices, vp_plan **out, int *refused);

int vp_engine_plan(vp_engine *e, const vp_shape *input_shapes, vp_plan **out)
{
    return vp_engine_plan_fixed(e, input_shapes, NULL, out);
}

int vp_engine_plan_fixed(vp_engine *e, const vp_shape *input_shapes, const vp_tensor *const *fixed, vp_plan **out)
{
    vp_graph *g = &e->g;
    int any_fixed = 0;
    *out = NULL;
    for (int i = 0; fixed && i < g->n_inputs; i++)
        any_fixed |= fixed[i] != NULL;
    /* reuse a plan for the same shapes */
    for (vp_plan *q = any_fixed ? NULL : e->plans; q; q = q->next) {
        int same = !q->has_fixed;
        for (int i = 0; i < g->n_inputs && same; i++)
            same = vp_shape_eq(&q->in_shapes[i], &input_shapes[i]);
        if (same) {
            *out = q;
            return VP_OK;
        }
    }
    for (int i = 0; i < g->n_inputs; i++) {
        const vp_value *v = &g->values[g->inputs[i]];
        const vp_shape *s = &input_shapes[i];
        char a[128], b[128];
        int ok = s->rank == v->shape.rank;
        for (int d = 0; ok && d < s->rank; d++)
            ok = s->d[d] >= 0 && (v->shape.d[d] < 0 || v->shape.d[d] == s->d[d]);
        if (!ok)
            return vp_engine_set_error(e, VP_ERR_SHAPE, "%s: input '%s' has shape %s, the model expects %s",
                                       g->source, v->name, vp_shape_str(s, a, sizeof a),
                                       vp_shape_str(&v->shape, b, sizeof b));
    }
    /* a kernel that refuses the channel slices it was given (cuDNN has no
     * engine for them) is planned again without them; steps with slices are
     * prepared first, so a refusal costs little */
    int no_slices[16], n_no = 0, refused = -1, rc;
    while ((rc = plan_build(e, input_shapes, fixed, any_fixed, no_slices, n_no, out, &refused)) != VP_OK &&
           rc != VP_ERR_NOMEM && refused >= 0 && n_no >= 0) {
        int full = n_no == (int)(sizeof no_slices / sizeof *no_slices);
        VP_LOGD("%s; planning again without channel slices %s", e->err, full ? "at all" : "there");
        e->err[0] = 0;
        if (full)
            n_no = -1; /* none at all */
        else
            no_slices[n_no++] = refused;
    }
    return rc;
}

/* One attempt at a plan, without channel slices on nodes no_slices[]
 * (*refused: the node whose kernel refused one, else -1). */
static int plan_build(vp_engine *e, const vp_shape *input_shapes, const vp_tensor *const *fixed, int any_fixed,
                      const int *no_slices, int n_no_slices, vp_plan **out, int *refused)
{
    vp_graph *g = &e->g;
    vp_plan *p = calloc(1, sizeof *p);
    *refused = -1;
    if (!p)
        return VP_ERR_NOMEM;
    p->e = e;
    p->no_slices = no_slices;
    p->n_no_slices = n_no_slices;
    p->slice_refused = -1;
    p->n_nodes = g->n_nodes;
    p->cap_v = g->n_values + 2 * g->n_nodes + 16;
    p->n_v = g->n_values;
    p->in_shapes = calloc((size_t)g->n_inputs + 1, sizeof(vp_shape));
    p->nodes = calloc((size_t)p->n_nodes + 1, sizeof *p->nodes);
    p->active = calloc((size_t)p->n_nodes + 1, sizeof(int));
    p->v = calloc((size_t)p->cap_v, sizeof *p->v);
    int rc = VP_ERR_NOMEM;
    if (!p->in_shapes || !p->nodes || !p->active || !p->v)
        goto fail;
    memcpy(p->in_shapes, input_shapes, sizeof(vp_shape) * (size_t)g->n_inputs);
    for (int k = 0; k < p->n_nodes; k++) {
        vp_node *n = &p->nodes[k];
        *n = g->nodes[k];
        n->in = malloc(sizeof(int) * ((size_t)n->n_in + 2));
        n->out = malloc(sizeof(int) * ((size_t)n->n_out + 1));
        if (!n->in || !n->out) {
            free(n->in), free(n->out);
            n->in = n->out = NULL;
            goto fail;
        }
        memcpy(n->in, g->nodes[k].in, sizeof(int) * (size_t)n->n_in);
        memcpy(n->out, g->nodes[k].out, sizeof(int) * (size_t)n->n_out);
    }
    for (int i = 0; i < g->n_values; i++) {
        vp_pval *pv = &p->v[i];
        const vp_value *v = &g->values[i];
        pv->t.dtype = v->dtype;
        pv->t.shape = v->shape;
        pv->alias = -1;
        if (v->init) {
            pv->t = *v->init; /* borrowed */
            pv->store = VP_STORE_CONST;
        }
    }
    p->has_fixed = any_fixed;
    for (int i = 0; i < g->n_inputs; i++) {
        vp_pval *pv = &p->v[g->inputs[i]];
        const vp_tensor *f = fixed ? fixed[i] : NULL;
        pv->t.shape = input_shapes[i];
        pv->store = VP_STORE_INPUT;
        if (f) {
            if (f->dtype != pv->t.dtype || !vp_shape_eq(&f->shape, &input_shapes[i]) || !f->data) {
                rc = vp_engine_set_error(e, VP_ERR_INVALID, "%s: fixed value of input '%s' does not match its shape",
                                         g->source, g->values[g->inputs[i]].name);
                goto fail;
            }
            size_t bytes = vp_tensor_bytes(f);
            pv->t.data = malloc(bytes ? bytes : 1);
            if (!pv->t.data)
                goto fail;
            memcpy(pv->t.data, f->data, bytes);
            pv->owned = 1;
            pv->store = VP_STORE_CONST;
        }
    }
    if (e->opt.num_threads > 0)
        omp_set_num_threads(e->opt.num_threads);
    if ((rc = infer_all(p)))
        goto fail;
    if (!e->opt.disable_passes && (rc = vp_plan_passes(p)))
        goto fail;
    if ((rc = vp_plan_layout(p)) || (rc = vp_plan_precision(p)))
        goto fail;
    if ((rc = plan_memory(p)))
        goto fail;
    if (!e->be->host_memory && (rc = upload_consts(p)))
        goto fail;
    if ((rc = prepare_steps(p)))
        goto fail;
    int skipped = 0;
    for (int s = 0; s < p->n_steps; s++)
        skipped += p->steps[s].skip;
    VP_LOGI("%s: plan with %d steps (%d more done in place), arena %.1f MiB", g->source, p->n_steps - skipped,
            skipped, (double)p->arena_bytes / (1 << 20));
    p->next = e->plans;
    e->plans = p;
    *out = p;
    return VP_OK;
fail:
    if (rc == VP_ERR_NOMEM && !e->err[0])
        vp_engine_set_error(e, rc, "%s: out of memory while planning", g->source);
    *refused = p->slice_refused;
    plan_free(p);
    return rc;
}

int vp_plan_output_shape(const vp_plan *p, int i, vp_shape *shape)
{
    if (i < 0 || i >= p->e->g.n_outputs)
        return VP_ERR_NOT_FOUND;
    *shape = p->v[p->e->g.outputs[i]].t.shape;
    return VP_OK;
}

size_t vp_plan_arena_bytes(const vp_plan *p) { return p->arena_bytes; }

/* Data pointers of views from their roots' (bound per run). */
static void resolve_views(vp_plan *p)
{
    for (int i = 0; i < p->n_views; i++) {
        vp_pval *pv = &p->v[p->views[i]];
        pv->t.data = (char *)p->v[pv->alias].t.data + pv->offset;
    }
    if (p->e->opt.num_threads > 0)
        omp_set_num_threads(p->e->opt.num_threads);
}

/* Runs every step (or replays them); 2 = the backend only recorded them. */
/* Runs the plan's steps; wait 0 leaves the work enqueued on the backend's
 * stream (asynchronous backends), 1 returns when it is complete. */
static int execute(vp_plan *p, int wait)
{
    vp_graph *g = &p->e->g;
    char err[512];
    const vp_backend *be = p->e->be;
    void *bctx = p->e->bctx;
    int replayed = be->run_begin ? be->run_begin(bctx, &p->be_state) : VP_OK;
    if (replayed < 0)
        return vp_engine_set_error(p->e, replayed, "%s: %s backend failed to start the run", g->source, be->name);
    for (int s = 0; s < p->n_steps && !replayed; s++) {
        vp_step *st = &p->steps[s];
        const vp_node *n = &p->nodes[st->node];
        vp_op_ctx c;
        if (st->skip)
            continue; /* done in place (Concat) */
        ctx_init(p, &c, n, st->in, st->out, err, sizeof err);
        c.state = st->state;
        c.in_const = st->in_const;
        step_pix(st, n, &c);
        c.scratch = p->scratch;
        c.scratch_bytes = p->scratch_bytes;
        struct timespec t0, t1;
        if (p->e->opt.profile)
            clock_gettime(CLOCK_MONOTONIC, &t0);
        int rc = st->k->run(&c);
        if (rc == VP_OK && n->n_post && !st->k->handles_postops) /* passes fuse only where handled */
            rc = vp_op_fail(&c, VP_ERR_INTERNAL, "post-ops on a kernel that does not apply them");
        if (p->e->opt.profile && rc == VP_OK && be->sync && be->sync(bctx))
            rc = vp_op_fail(&c, VP_ERR_BACKEND, "the backend failed while synchronising for the profile");
        if (p->e->opt.profile) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            st->ns += (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
            st->runs++;
        }
        if (rc) {
            if (be->run_end)
                be->run_end(bctx, &p->be_state, 1);
            return node_fail(p, n, rc, err[0] ? err : vp_strerror(rc));
        }
    }
    int rc = be->run_end ? be->run_end(bctx, &p->be_state, wait) : VP_OK;
    if (rc == 2)
        return execute(p, wait);
    if (rc)
        return vp_engine_set_error(p->e, rc, "%s: %s backend failed to finish the run", g->source, be->name);
    return VP_OK;
}

int vp_plan_run(vp_plan *p, const vp_tensor *inputs, vp_tensor *outputs)
{
    vp_graph *g = &p->e->g;
    for (int i = 0; i < g->n_inputs; i++) {
        vp_pval *pv = &p->v[g->inputs[i]];
        if (pv->store == VP_STORE_CONST) { /* fixed at plan time */
            const void *fixed = pv->host ? pv->host : pv->t.data;
            if (!inputs[i].data || inputs[i].dtype != pv->t.dtype || !vp_shape_eq(&inputs[i].shape, &pv->t.shape) ||
                memcmp(inputs[i].data, fixed, vp_tensor_bytes(&pv->t)) != 0)
                return vp_engine_set_error(p->e, VP_ERR_INVALID, "%s: input '%s' differs from the value fixed when planning",
                                           g->source, g->values[g->inputs[i]].name);
            continue;
        }
        if (inputs[i].dtype != pv->t.dtype || !vp_shape_eq(&inputs[i].shape, &pv->t.shape) || !inputs[i].data) {
            char a[128], b[128];
            return vp_engine_set_error(p->e, VP_ERR_SHAPE, "%s: input '%s' is %s %s, the plan expects %s %s",
                                       g->source, g->values[g->inputs[i]].name, vp_dtype_name(inputs[i].dtype),
                                       vp_shape_str(&inputs[i].shape, a, sizeof a), vp_dtype_name(pv->t.dtype),
                                       vp_shape_str(&pv->t.shape, b, sizeof b));
        }
        if (pv->store == VP_STORE_INPUT)
            pv->t.data = inputs[i].data;
    }
    for (int i = 0; i < g->n_outputs; i++) {
        vp_pval *pv = &p->v[g->outputs[i]];
        if (!outputs[i].data)
            return vp_engine_set_error(p->e, VP_ERR_INVALID, "%s: no buffer for output '%s'", g->source,
                                       g->values[g->outputs[i]].name);
        outputs[i].dtype = pv->t.dtype;
        outputs[i].shape = pv->t.shape;
        if (pv->store == VP_STORE_OUTPUT)
            pv->t.data = outputs[i].data;
    }
    resolve_views(p);
    const vp_backend *be = p->e->be;
    void *bctx = p->e->bctx;
    for (int i = 0; i < g->n_inputs && !be->host_memory; i++) {
        vp_pval *pv = &p->v[g->inputs[i]];
        if (pv->store == VP_STORE_ARENA && be->upload(bctx, pv->t.data, inputs[i].data, vp_tensor_bytes(&pv->t)))
            return vp_engine_set_error(p->e, VP_ERR_BACKEND, "%s: uploading input '%s' failed", g->source,
                                       g->values[g->inputs[i]].name);
    }
    int rc = execute(p, 1);
    if (rc)
        return rc;
    for (int i = 0; i < g->n_outputs; i++) {
        vp_pval *pv = &p->v[g->outputs[i]];
        size_t bytes = vp_tensor_bytes(&pv->t);
        if (pv->store == VP_STORE_OUTPUT)
            continue;
        if (be->host_memory)
            memcpy(outputs[i].data, pv->t.data, bytes);
        else if (be->download(bctx, outputs[i].data, pv->t.data, bytes))
            return vp_engine_set_error(p->e, VP_ERR_BACKEND, "%s: downloading output '%s' failed", g->source,
                                       g->values[g->outputs[i]].name);
    }
    return VP_OK;
}


int vp_plan_binding(vp_plan *p, int is_output, int i, vp_tensor *t)
{
    vp_graph *g = &p->e->g;
    if (p->e->be->host_memory)
        return vp_engine_set_error(p->e, VP_ERR_UNSUPPORTED, "%s: device bindings need a device backend (this is %s)",
                                   g->source, p->e->be->name);
    if (i < 0 || i >= (is_output ? g->n_outputs : g->n_inputs))
        return vp_engine_set_error(p->e, VP_ERR_NOT_FOUND, "%s: no %s %d", g->source, is_output ? "output" : "input", i);
    const vp_pval *pv = &p->v[is_output ? g->outputs[i] : g->inputs[i]];
    if (!is_output && pv->store != VP_STORE_ARENA)
        return vp_engine_set_error(p->e, VP_ERR_UNSUPPORTED, "%s: input %d was fixed when planning", g->source, i);
    resolve_views(p);
    *t = pv->t;
    return VP_OK;
}

int vp_plan_run_bound(vp_plan *p)
{
    if (p->e->be->host_memory)
        return vp_engine_set_error(p->e, VP_ERR_UNSUPPORTED, "%s: device bindings need a device backend",
                                   p->e->g.source);
    resolve_views(p);
    return execute(p, 1);
}

int vp_plan_enqueue_bound(vp_plan *p)
{
    if (p->e->be->host_memory || !p->e->be->stream)
        return vp_engine_set_error(p->e, VP_ERR_UNSUPPORTED, "%s: device bindings need an asynchronous device backend",
                                   p->e->g.source);
    resolve_views(p);
    return execute(p, 0);
}

void vp_plan_profile_reset(vp_plan *p)
{
    for (int s = 0; s < p->n_steps; s++) {
        p->steps[s].ns = 0;
        p->steps[s].runs = 0;
    }
}

int vp_plan_profile(const vp_plan *p, vp_step_profile *out, int max)
{
    int n = 0;
    for (int s = 0; s < p->n_steps; s++) {
        const vp_step *st = &p->steps[s];
        if (st->skip)
            continue;
        if (n < max) {
            const vp_node *nd = &p->nodes[st->node];
            out[n].node = nd->name;
            out[n].op = nd->op_type;
            out[n].n_post = nd->n_post;
            out[n].total_ms = st->ns / 1e6;
            out[n].runs = st->runs;
            out[n].bytes = 0;
            for (int i = 0; i < nd->n_in; i++)
                if (st->in[i])
                    out[n].bytes += (double)vp_tensor_bytes(st->in[i]);
            for (int i = 0; i < nd->n_out; i++)
                if (st->out[i])
                    out[n].bytes += (double)vp_tensor_bytes(st->out[i]);
            out[n].flops = 0;
            const vp_tensor *y = nd->n_out > 0 ? st->out[0] : NULL, *w = nd->n_in > 1 ? st->in[1] : NULL;
            if (y && w && !strcmp(nd->op_type, "Conv")) {
                /* 2 x outputs x (W elements per output channel) */
                out[n].flops = 2.0 * (double)vp_tensor_numel(y) * (double)vp_tensor_numel(w) / (double)w->shape.d[0];
            } else if (y && w && (!strcmp(nd->op_type, "MatMul") || !strcmp(nd->op_type, "Gemm")) &&
                       st->in[0]->shape.rank >= 1) {
                int64_t k = st->in[0]->shape.d[st->in[0]->shape.rank - 1];
                if (!strcmp(nd->op_type, "Gemm") && vp_attr_i(nd, "transA", 0) && st->in[0]->shape.rank == 2)
                    k = st->in[0]->shape.d[0];
                out[n].flops = 2.0 * (double)vp_tensor_numel(y) * (double)k;
            }
        }
        n++;
    }
    return n;
}
