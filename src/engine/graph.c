/* Graph IR: attribute lookup and destruction. */
#include "engine/graph.h"

#include <stdlib.h>
#include <string.h>

const vp_attr *vp_attr_find(const vp_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

int64_t vp_attr_i(const vp_node *n, const char *name, int64_t def)
{
    const vp_attr *a = vp_attr_find(n, name);
    return a && a->type == VP_ATTR_INT ? a->i : def;
}

float vp_attr_f(const vp_node *n, const char *name, float def)
{
    const vp_attr *a = vp_attr_find(n, name);
    return a && a->type == VP_ATTR_FLOAT ? a->f : def;
}

const char *vp_attr_s(const vp_node *n, const char *name, const char *def)
{
    const vp_attr *a = vp_attr_find(n, name);
    return a && a->type == VP_ATTR_STRING ? a->s : def;
}

const int64_t *vp_attr_ints(const vp_node *n, const char *name, int *count)
{
    const vp_attr *a = vp_attr_find(n, name);
    if (!a || a->type != VP_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->ints;
}

const float *vp_attr_floats(const vp_node *n, const char *name, int *count)
{
    const vp_attr *a = vp_attr_find(n, name);
    if (!a || a->type != VP_ATTR_FLOATS) {
        *count = 0;
        return NULL;
    }
    *count = a->n;
    return a->floats;
}

const vp_tensor *vp_attr_t(const vp_node *n, const char *name)
{
    const vp_attr *a = vp_attr_find(n, name);
    return a && a->type == VP_ATTR_TENSOR ? a->t : NULL;
}

static void attr_free(vp_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    for (int i = 0; a->strings && i < a->n; i++)
        free(a->strings[i]);
    free(a->strings);
    vp_tensor_free(&a->t);
}

void vp_graph_free(vp_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++) {
        vp_node *n = &g->nodes[i];
        free(n->name);
        free(n->op_type);
        free(n->domain);
        free(n->in);
        free(n->out);
        for (int k = 0; k < n->n_attrs; k++)
            attr_free(&n->attrs[k]);
        free(n->attrs);
    }
    for (int i = 0; i < g->n_values; i++) {
        free(g->values[i].name);
        vp_tensor_free(&g->values[i].init);
    }
    for (int i = 0; i < g->n_meta; i++) {
        free(g->meta_keys[i]);
        free(g->meta_values[i]);
    }
    free(g->meta_keys);
    free(g->meta_values);
    free(g->nodes);
    free(g->values);
    free(g->inputs);
    free(g->outputs);
    free(g->source);
    memset(g, 0, sizeof *g);
}
