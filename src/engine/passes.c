/*
 * Graph passes over a plan, after shape inference and constant folding, so
 * that every rewrite can check shapes and read constant weights:
 *   - bypass no-op nodes (Cast to the same type, Identity);
 *   - fold BatchNormalization into the preceding Conv's weights and bias;
 *   - fuse what follows a Conv into its post-op chain: activations (Relu,
 *     Sigmoid, SiLU as Sigmoid+Mul, HardSigmoid, HardSwish, Clip) and one
 *     residual Add of a same-shape tensor computed earlier.
 * Fusion only targets kernels that declare handles_postops.
 */
#include "engine/engine_impl.h"
#include "engine/backend.h"
#include "base/log.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Active consumers of each value (+1 for graph outputs, which pin a value). */
static int *count_uses(const vp_plan *p)
{
    const vp_graph *g = &p->e->g;
    int *uses = calloc((size_t)p->cap_v, sizeof(int));
    if (!uses)
        return NULL;
    for (int k = 0; k < p->n_nodes; k++)
        if (p->active[k])
            for (int i = 0; i < p->nodes[k].n_in; i++)
                if (p->nodes[k].in[i] >= 0)
                    uses[p->nodes[k].in[i]]++;
    for (int i = 0; i < g->n_outputs; i++)
        uses[g->outputs[i]]++;
    return uses;
}

static int is_graph_output(const vp_plan *p, int v)
{
    return vp_plan_is_graph_output(p, v);
}

/* The single active consumer of v, or -1 (none, several, or pinned). */
static int only_consumer(const vp_plan *p, const int *uses, int v)
{
    if (uses[v] != 1 || is_graph_output(p, v))
        return -1;
    for (int k = 0; k < p->n_nodes; k++)
        if (p->active[k])
            for (int i = 0; i < p->nodes[k].n_in; i++)
                if (p->nodes[k].in[i] == v)
                    return k;
    return -1;
}

static int new_const(vp_plan *p, vp_dtype dt, const vp_shape *s)
{
    return vp_plan_new_const(p, dt, s);
}

static int is_const_f32(const vp_plan *p, int v)
{
    return v >= 0 && p->v[v].store == VP_STORE_CONST && p->v[v].t.dtype == VP_DT_FLOAT;
}

static void bypass(vp_plan *p, int k)
{
    vp_node *n = &p->nodes[k];
    int from = n->out[0], to = n->in[0];
    for (int j = 0; j < p->n_nodes; j++)
        if (p->active[j])
            for (int i = 0; i < p->nodes[j].n_in; i++)
                if (p->nodes[j].in[i] == from)
                    p->nodes[j].in[i] = to;
    p->active[k] = 0;
}

static void pass_bypass(vp_plan *p)
{
    for (int k = 0; k < p->n_nodes; k++) {
        vp_node *n = &p->nodes[k];
        if (!p->active[k] || n->n_in < 1 || n->n_out != 1 || n->in[0] < 0 || is_graph_output(p, n->out[0]))
            continue;
        int noop = !strcmp(n->op_type, "Identity") ||
                   (!strcmp(n->op_type, "Cast") && p->v[n->in[0]].t.dtype == p->v[n->out[0]].t.dtype);
        if (noop)
            bypass(p, k);
    }
}

/* Conv -> BatchNormalization (inference) into Conv with new weights. */
static int fold_bn(vp_plan *p, const int *uses, int k)
{
    vp_node *c = &p->nodes[k];
    int b = only_consumer(p, uses, c->out[0]);
    if (b < 0 || strcmp(p->nodes[b].op_type, "BatchNormalization") != 0)
        return 0;
    vp_node *bn = &p->nodes[b];
    if (bn->n_in != 5 || bn->in[0] != c->out[0] || vp_attr_i(bn, "training_mode", 0) != 0)
        return 0;
    for (int o = 1; o < bn->n_out; o++)
        if (bn->out[o] >= 0)
            return 0;
    if (c->n_in < 2 || !is_const_f32(p, c->in[1]) || (c->n_in > 2 && c->in[2] >= 0 && !is_const_f32(p, c->in[2])))
        return 0;
    for (int i = 1; i < 5; i++)
        if (!is_const_f32(p, bn->in[i]))
            return 0;
    const vp_tensor *W = &p->v[c->in[1]].t;
    int64_t cout = W->shape.d[0], per = vp_tensor_numel(W) / (cout ? cout : 1);
    for (int i = 1; i < 5; i++)
        if (vp_tensor_numel(&p->v[bn->in[i]].t) != cout)
            return 0;
    float eps = vp_attr_f(bn, "epsilon", 1e-5f);
    vp_shape bs = {.rank = 1, .d = {cout}};
    int nw = new_const(p, VP_DT_FLOAT, &W->shape);
    int nb = new_const(p, VP_DT_FLOAT, &bs);
    if (nw < 0 || nb < 0)
        return VP_ERR_NOMEM;
    W = &p->v[c->in[1]].t; /* p->v did not move (fixed capacity), but re-read for clarity */
    const float *w = W->data, *bias = c->n_in > 2 && c->in[2] >= 0 ? p->v[c->in[2]].t.data : NULL;
    const float *sc = p->v[bn->in[1]].t.data, *sh = p->v[bn->in[2]].t.data;
    const float *mean = p->v[bn->in[3]].t.data, *var = p->v[bn->in[4]].t.data;
    float *w2 = p->v[nw].t.data, *b2 = p->v[nb].t.data;
    for (int64_t o = 0; o < cout; o++) {
        double s = sc[o] / sqrt((double)var[o] + eps);
        for (int64_t i = 0; i < per; i++)
            w2[o * per + i] = (float)(w[o * per + i] * s);
        b2[o] = (float)(((bias ? bias[o] : 0.0) - mean[o]) * s + sh[o]);
    }
    c->in[1] = nw;
    c->in[2] = nb;
    if (c->n_in < 3)
        c->n_in = 3;
    c->out[0] = bn->out[0];
    p->active[b] = 0;
    return 1;
}

static int act_of(const vp_plan *p, const vp_node *n, vp_postop *po)
{
    memset(po, 0, sizeof *po);
    po->kind = VP_POST_ACT;
    if (n->n_out != 1 || n->n_in < 1)
        return 0;
    if (!strcmp(n->op_type, "Relu"))
        po->act = VP_ACT_RELU;
    else if (!strcmp(n->op_type, "Sigmoid"))
        po->act = VP_ACT_SIGMOID;
    else if (!strcmp(n->op_type, "HardSwish"))
        po->act = VP_ACT_HARDSWISH;
    else if (!strcmp(n->op_type, "HardSigmoid")) {
        po->act = VP_ACT_HARDSIGMOID;
        po->alpha = vp_attr_f(n, "alpha", 0.2f);
        po->beta = vp_attr_f(n, "beta", 0.5f);
    } else if (!strcmp(n->op_type, "Clip")) {
        po->act = VP_ACT_CLIP;
        po->alpha = -INFINITY;
        po->beta = INFINITY;
        if (n->opset < 11) {
            po->alpha = vp_attr_f(n, "min", -INFINITY);
            po->beta = vp_attr_f(n, "max", INFINITY);
        } else {
            for (int i = 1; i < 3 && i < n->n_in; i++) {
                if (n->in[i] < 0)
                    continue;
                if (!is_const_f32(p, n->in[i]) || vp_tensor_numel(&p->v[n->in[i]].t) != 1)
                    return 0;
                *(i == 1 ? &po->alpha : &po->beta) = *(const float *)p->v[n->in[i]].t.data;
            }
        }
    } else
        return 0;
    return 1;
}

/* Grow the post-op chain of node k while its output feeds a fusable op. */
static int fuse_chain(vp_plan *p, int *uses, int k)
{
    vp_node *c = &p->nodes[k];
    int fused = 0, has_add = 0;
    while (c->n_post < VP_MAX_POSTOPS) {
        int y = c->out[0];
        if (is_graph_output(p, y) || p->v[y].t.dtype != VP_DT_FLOAT)
            break;
        vp_postop po;
        int j = only_consumer(p, uses, y);
        if (j >= 0 && act_of(p, &p->nodes[j], &po) && p->nodes[j].in[0] == y) {
            c->post[c->n_post++] = po;
            c->out[0] = p->nodes[j].out[0];
            p->active[j] = 0;
            fused++;
            continue;
        }
        /* SiLU: y -> Sigmoid -> s; Mul(y, s) */
        if (uses[y] == 2) {
            int sg = -1, mul = -1;
            for (int q = k + 1; q < p->n_nodes; q++) {
                if (!p->active[q])
                    continue;
                const vp_node *n = &p->nodes[q];
                if (!strcmp(n->op_type, "Sigmoid") && n->in[0] == y)
                    sg = q;
                else if (!strcmp(n->op_type, "Mul") && n->n_in == 2 && (n->in[0] == y || n->in[1] == y))
                    mul = q;
            }
            if (sg >= 0 && mul >= 0) {
                int s = p->nodes[sg].out[0];
                const vp_node *m = &p->nodes[mul];
                int other = m->in[0] == y ? m->in[1] : m->in[0];
                if (other == s && only_consumer(p, uses, s) == mul) {
                    memset(&po, 0, sizeof po);
                    po.kind = VP_POST_ACT;
                    po.act = VP_ACT_SILU;
                    c->post[c->n_post++] = po;
                    c->out[0] = m->out[0];
                    p->active[sg] = p->active[mul] = 0;
                    fused++;
                    continue;
                }
            }
        }
        /* residual Add of a same-shape float tensor available before node k */
        if (j >= 0 && !has_add && !strcmp(p->nodes[j].op_type, "Add") && p->nodes[j].n_in == 2) {
            const vp_node *a = &p->nodes[j];
            int z = a->in[0] == y ? a->in[1] : a->in[0];
            int zp = z >= 0 && z < p->e->g.n_values ? p->e->g.values[z].producer : -1;
            if (z >= 0 && z != y && p->v[z].t.dtype == VP_DT_FLOAT && vp_shape_eq(&p->v[z].t.shape, &p->v[y].t.shape) &&
                zp < k && vp_shape_eq(&p->v[a->out[0]].t.shape, &p->v[y].t.shape)) {
                po.kind = VP_POST_ADD;
                po.act = VP_ACT_NONE;
                if (!strcmp(c->op_type, "Conv") && c->n_in < 3)
                    c->in[c->n_in++] = -1; /* keep the bias slot: the addend must not become a bias */
                po.input = c->n_in;
                c->in[c->n_in++] = z; /* moves the use of z from the Add */
                c->post[c->n_post++] = po;
                c->out[0] = a->out[0];
                p->active[j] = 0;
                has_add = 1;
                fused++;
                continue;
            }
        }
        break;
    }
    return fused;
}

int vp_plan_passes(vp_plan *p)
{
    int folded = 0, fused = 0;
    pass_bypass(p);
    int *uses = count_uses(p);
    if (!uses)
        return VP_ERR_NOMEM;
    for (int k = 0; k < p->n_nodes; k++) {
        vp_node *n = &p->nodes[k];
        if (!p->active[k] || strcmp(n->op_type, "Conv") != 0 || n->n_out != 1)
            continue;
        int rc = fold_bn(p, uses, k);
        if (rc < 0) {
            free(uses);
            return rc;
        }
        folded += rc;
        const vp_kernel *kern = p->e->be->kernel_find(n->op_type);
        if (kern && kern->handles_postops)
            fused += fuse_chain(p, uses, k);
    }
    free(uses);
    VP_LOGI("%s: passes folded %d BatchNormalization, fused %d ops into convolutions", p->e->g.source, folded,
            fused);
    return VP_OK;
}
