/*
 * ONNX loader: ModelProto (protobuf-c, onnx.proto from Debian's libonnx-dev)
 * to the engine's graph IR.
 *
 * Everything read from the file is untrusted: every count, dim, name
 * reference and data length is checked, and each failure becomes a one-line
 * message naming the file, the node (or tensor) and what was expected. The
 * graph is sorted topologically here, so a cycle is found at load time.
 */
#include "engine/onnx_load.h"
#include "engine/ops.h"
#include "base/log.h"

#include "onnx/onnx.pb-c.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) ((x) ? (x) : "")

typedef struct loader {
    vp_graph *g;
    const char *src;       /* file name for messages */
    const char *base_dir;  /* for external data; NULL: not allowed */
    char *err;
    size_t errlen;
    /* name -> value id, open addressing */
    int *slots;
    size_t n_slots;
    int cap_values;
} loader;

static int fail(loader *L, int status, const char *fmt, ...) VP_PRINTF(3, 4);
static int fail(loader *L, int status, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (L->err && L->errlen)
        snprintf(L->err, L->errlen, "%s: %s", L->src, msg);
    return status;
}

static char *dupstr(const char *s)
{
    s = S(s);
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Name table ------------------------------------------------------------ */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int lookup(const loader *L, const char *name)
{
    if (L->n_slots == 0)
        return -1;
    size_t i = hash_str(name) & (L->n_slots - 1);
    for (;; i = (i + 1) & (L->n_slots - 1)) {
        int id = L->slots[i];
        if (id < 0)
            return -1;
        if (strcmp(L->g->values[id].name, name) == 0)
            return id;
    }
}

/* Adds a value; returns its id, or a negative status. */
static int add_value(loader *L, const char *name)
{
    vp_graph *g = L->g;
    if (g->n_values == L->cap_values) {
        int cap = L->cap_values ? L->cap_values * 2 : 64;
        vp_value *v = realloc(g->values, (size_t)cap * sizeof *v);
        if (!v)
            return VP_ERR_NOMEM;
        g->values = v;
        L->cap_values = cap;
    }
    if ((size_t)(g->n_values + 1) * 2 > L->n_slots) {
        size_t n = L->n_slots ? L->n_slots * 2 : 256;
        int *s = malloc(n * sizeof *s);
        if (!s)
            return VP_ERR_NOMEM;
        for (size_t i = 0; i < n; i++)
            s[i] = -1;
        for (int id = 0; id < g->n_values; id++) {
            size_t i = hash_str(g->values[id].name) & (n - 1);
            while (s[i] >= 0)
                i = (i + 1) & (n - 1);
            s[i] = id;
        }
        free(L->slots);
        L->slots = s;
        L->n_slots = n;
    }
    int id = g->n_values;
    vp_value *v = &g->values[id];
    memset(v, 0, sizeof *v);
    v->name = dupstr(name);
    if (!v->name)
        return VP_ERR_NOMEM;
    v->producer = -1;
    v->graph_input = -1;
    v->graph_output = -1;
    v->shape.rank = -1;
    g->n_values++;
    size_t i = hash_str(name) & (L->n_slots - 1);
    while (L->slots[i] >= 0)
        i = (i + 1) & (L->n_slots - 1);
    L->slots[i] = id;
    return id;
}

/* Tensors ---------------------------------------------------------------- */
static int read_external(loader *L, const Onnx__TensorProto *tp, void *dst, size_t bytes)
{
    const char *loc = NULL;
    long long offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        const char *k = S(e->key), *v = S(e->value);
        char *end;
        if (strcmp(k, "location") == 0) {
            loc = v;
        } else if (strcmp(k, "offset") == 0 || strcmp(k, "length") == 0) {
            errno = 0;
            long long x = strtoll(v, &end, 10);
            if (errno || *end || x < 0)
                return fail(L, VP_ERR_INVALID, "tensor '%s': external data %s '%s' is not a non-negative integer",
                            S(tp->name), k, v);
            if (k[0] == 'o')
                offset = x;
            else
                length = x;
        }
    }
    if (!loc || !*loc)
        return fail(L, VP_ERR_INVALID, "tensor '%s': external data without a location", S(tp->name));
    if (!L->base_dir)
        return fail(L, VP_ERR_INVALID, "tensor '%s': external data '%s' but the model was not loaded from a file",
                    S(tp->name), loc);
    if (loc[0] == '/' || strstr(loc, ".."))
        return fail(L, VP_ERR_INVALID, "tensor '%s': external data location '%s' must be a relative path inside the model's folder",
                    S(tp->name), loc);
    if (length >= 0 && (size_t)length != bytes)
        return fail(L, VP_ERR_INVALID, "tensor '%s': external data length %lld, expected %zu bytes", S(tp->name),
                    length, bytes);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", L->base_dir, loc);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(L, VP_ERR_IO, "tensor '%s': cannot open external data file %s: %s", S(tp->name), path,
                    strerror(errno));
    /* dst == NULL: only check that the file holds offset + bytes */
    int ok = fseeko(f, 0, SEEK_END) == 0 && ftello(f) >= (off_t)offset + (off_t)bytes;
    ok = ok && (!dst || (fseeko(f, (off_t)offset, SEEK_SET) == 0 && fread(dst, 1, bytes, f) == bytes));
    fclose(f);
    if (!ok)
        return fail(L, VP_ERR_IO, "tensor '%s': external data file %s is shorter than offset %lld + %zu bytes",
                    S(tp->name), path, offset, bytes);
    return VP_OK;
}

int vp_tensor_from_proto(const void *proto, const char *base_dir, vp_tensor **out, char *err, size_t errlen)
{
    loader L = {.src = "tensor", .base_dir = base_dir, .err = err, .errlen = errlen};
    return vp__tensor_from_proto_l(&L, proto, out);
}

int vp__tensor_from_proto_l(void *Lv, const void *proto, vp_tensor **out)
{
    loader *L = Lv;
    const Onnx__TensorProto *tp = proto;
    vp_shape s;
    *out = NULL;
    if (tp->n_dims > VP_MAX_DIMS)
        return fail(L, VP_ERR_UNSUPPORTED, "tensor '%s': rank %zu exceeds the maximum %d", S(tp->name), tp->n_dims,
                    VP_MAX_DIMS);
    s.rank = (int)tp->n_dims;
    int64_t numel = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        if (tp->dims[i] < 0)
            return fail(L, VP_ERR_INVALID, "tensor '%s': negative dimension %lld at axis %zu", S(tp->name),
                        (long long)tp->dims[i], i);
        if (tp->dims[i] > 0 && numel > (INT64_C(1) << 40) / tp->dims[i])
            return fail(L, VP_ERR_INVALID, "tensor '%s': too many elements", S(tp->name));
        s.d[i] = tp->dims[i];
        numel *= tp->dims[i];
    }
    vp_dtype dt = (vp_dtype)tp->data_type;
    size_t esz = vp_dtype_size(dt);
    if (!esz)
        return fail(L, VP_ERR_UNSUPPORTED, "tensor '%s': element type %d is not supported", S(tp->name),
                    (int)tp->data_type);
    size_t bytes = (size_t)numel * esz;
    int external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    /* how many bytes the proto carries, checked before allocating anything */
    size_t have;
    if (external)
        have = bytes; /* checked against the file when read */
    else if (tp->has_raw_data)
        have = tp->raw_data.len;
    else if (dt == VP_DT_FLOAT)
        have = tp->n_float_data * 4;
    else if (dt == VP_DT_DOUBLE)
        have = tp->n_double_data * 8;
    else if (dt == VP_DT_INT64)
        have = tp->n_int64_data * 8;
    else if (dt == VP_DT_UINT32 || dt == VP_DT_UINT64)
        have = tp->n_uint64_data * esz;
    else /* int32, int16, int8, uint8, uint16, bool, float16 travel in int32_data */
        have = tp->n_int32_data * esz;
    if (have != bytes)
        return fail(L, VP_ERR_INVALID, "tensor '%s': %zu bytes of data for shape with %lld %s elements (%zu bytes expected)",
                    S(tp->name), have, (long long)numel, vp_dtype_name(dt), bytes);
    int rc = external ? read_external(L, tp, NULL, bytes) : VP_OK;
    if (rc)
        return rc;
    vp_tensor *t = vp_tensor_new(dt, &s);
    if (!t)
        return fail(L, VP_ERR_NOMEM, "tensor '%s': out of memory for %zu bytes", S(tp->name), bytes);
    if (bytes == 0) {
        /* nothing to copy (the typed arrays may be NULL) */
    } else if (external) {
        rc = read_external(L, tp, t->data, bytes);
    } else if (tp->has_raw_data) {
        memcpy(t->data, tp->raw_data.data, bytes); /* little-endian host */
    } else if (dt == VP_DT_FLOAT) {
        memcpy(t->data, tp->float_data, bytes);
    } else if (dt == VP_DT_DOUBLE) {
        memcpy(t->data, tp->double_data, bytes);
    } else if (dt == VP_DT_INT64) {
        memcpy(t->data, tp->int64_data, bytes);
    } else if (dt == VP_DT_UINT64) {
        memcpy(t->data, tp->uint64_data, bytes);
    } else if (dt == VP_DT_UINT32) {
        for (int64_t i = 0; i < numel; i++)
            ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i];
    } else {
        for (int64_t i = 0; i < numel; i++) {
            int32_t v = tp->int32_data[i];
            if (esz == 1)
                ((uint8_t *)t->data)[i] = (uint8_t)v;
            else if (esz == 2)
                ((uint16_t *)t->data)[i] = (uint16_t)v;
            else
                ((int32_t *)t->data)[i] = v;
        }
    }
    if (rc) {
        vp_tensor_free(&t);
        return rc;
    }
    *out = t;
    return VP_OK;
}

/* Attributes, value infos --------------------------------------------------- */
static int convert_attr(loader *L, const Onnx__NodeProto *np, const Onnx__AttributeProto *ap, vp_attr *a)
{
    memset(a, 0, sizeof *a);
    a->name = dupstr(ap->name);
    if (!a->name)
        return VP_ERR_NOMEM;
    a->type = ap->has_type ? (int)ap->type : 0;
    switch (a->type) {
    case VP_ATTR_FLOAT:
        a->f = ap->f;
        break;
    case VP_ATTR_INT:
        a->i = ap->i;
        break;
    case VP_ATTR_STRING:
        a->s = malloc(ap->s.len + 1);
        if (!a->s)
            return VP_ERR_NOMEM;
        if (ap->s.len)
            memcpy(a->s, ap->s.data, ap->s.len);
        a->s[ap->s.len] = 0;
        break;
    case VP_ATTR_TENSOR:
        if (!ap->t)
            return fail(L, VP_ERR_INVALID, "node '%s' (%s): tensor attribute '%s' has no tensor", S(np->name),
                        S(np->op_type), a->name);
        return vp__tensor_from_proto_l(L, ap->t, &a->t);
    case VP_ATTR_FLOATS:
        a->n = (int)ap->n_floats;
        a->floats = malloc((ap->n_floats + 1) * sizeof(float));
        if (!a->floats)
            return VP_ERR_NOMEM;
        if (ap->n_floats)
            memcpy(a->floats, ap->floats, ap->n_floats * sizeof(float));
        break;
    case VP_ATTR_INTS:
        a->n = (int)ap->n_ints;
        a->ints = malloc((ap->n_ints + 1) * sizeof(int64_t));
        if (!a->ints)
            return VP_ERR_NOMEM;
        if (ap->n_ints)
            memcpy(a->ints, ap->ints, ap->n_ints * sizeof(int64_t));
        break;
    case VP_ATTR_STRINGS:
        a->n = (int)ap->n_strings;
        a->strings = calloc(ap->n_strings + 1, sizeof(char *));
        if (!a->strings)
            return VP_ERR_NOMEM;
        for (size_t i = 0; i < ap->n_strings; i++) {
            a->strings[i] = malloc(ap->strings[i].len + 1);
            if (!a->strings[i])
                return VP_ERR_NOMEM;
            if (ap->strings[i].len)
                memcpy(a->strings[i], ap->strings[i].data, ap->strings[i].len);
            a->strings[i][ap->strings[i].len] = 0;
        }
        break;
    default:
        /* GRAPH, SPARSE_TENSOR, TYPE_PROTO...: kept as an opaque attribute;
         * no supported op takes one, so such nodes fail at op lookup. */
        break;
    }
    return VP_OK;
}

static int read_value_info(loader *L, const Onnx__ValueInfoProto *vi, vp_value *v)
{
    const Onnx__TypeProto *tp = vi->type;
    if (!tp)
        return VP_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return fail(L, VP_ERR_UNSUPPORTED, "value '%s': only tensor types are supported", S(vi->name));
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type)
        v->dtype = (vp_dtype)tt->elem_type;
    if (!tt->shape)
        return VP_OK;
    if (tt->shape->n_dim > VP_MAX_DIMS)
        return fail(L, VP_ERR_UNSUPPORTED, "value '%s': rank %zu exceeds the maximum %d", S(vi->name),
                    tt->shape->n_dim, VP_MAX_DIMS);
    v->shape.rank = (int)tt->shape->n_dim;
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        v->shape.d[i] = -1;
        if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0)
                return fail(L, VP_ERR_INVALID, "value '%s': negative dimension %lld at axis %zu", S(vi->name),
                            (long long)d->dim_value, i);
            v->shape.d[i] = d->dim_value;
        }
    }
    return VP_OK;
}

/* Graph ------------------------------------------------------------------- */
static int model_opset(loader *L, const Onnx__ModelProto *m, const char *domain, int *out)
{
    *out = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        const char *d = S(o->domain);
        int is_default = !*d || strcmp(d, "ai.onnx") == 0;
        int want_default = !*domain || strcmp(domain, "ai.onnx") == 0;
        if ((is_default && want_default) || strcmp(d, domain) == 0) {
            if (o->version < 1 || o->version > INT_MAX)
                return fail(L, VP_ERR_INVALID, "opset version %lld for domain '%s' is invalid",
                            (long long)o->version, d);
            *out = (int)o->version;
        }
    }
    return VP_OK;
}

static int build_graph(loader *L, const Onnx__ModelProto *m)
{
    vp_graph *g = L->g;
    const Onnx__GraphProto *gp = m->graph;
    int rc;
    if (!gp)
        return fail(L, VP_ERR_INVALID, "not an ONNX model: no graph (is this an ONNX file?)");
    if ((rc = model_opset(L, m, "", &g->opset)))
        return rc;
    if (gp->n_node == 0)
        return fail(L, VP_ERR_INVALID, "graph '%s' has no nodes", S(gp->name));
    /* operators first: an unsupported one is the most useful thing to report */
    for (size_t k = 0; k < gp->n_node; k++) {
        const Onnx__NodeProto *np = gp->node[k];
        const char *dom = S(np->domain);
        if (*dom && strcmp(dom, "ai.onnx") != 0)
            return fail(L, VP_ERR_UNSUPPORTED, "node '%s' (%s): operator domain '%s' is not supported", S(np->name),
                        S(np->op_type), dom);
        if (!vp_op_find(S(np->op_type)))
            return fail(L, VP_ERR_UNSUPPORTED, "node '%s': unsupported operator '%s'", S(np->name), S(np->op_type));
    }
    if (g->opset == 0)
        return fail(L, VP_ERR_INVALID, "not an ONNX model: no opset import for the default domain");
    if (g->opset > VP_MAX_OPSET)
        return fail(L, VP_ERR_UNSUPPORTED, "opset %d is newer than the newest supported (%d)", g->opset,
                    VP_MAX_OPSET);
    if (gp->n_node > 1000000 || gp->n_initializer > 10000000)
        return fail(L, VP_ERR_INVALID, "graph '%s' is implausibly large", S(gp->name));

    /* initializers */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name)
            return fail(L, VP_ERR_INVALID, "initializer #%zu has no name", i);
        if (lookup(L, tp->name) >= 0)
            return fail(L, VP_ERR_INVALID, "initializer '%s' is defined twice", tp->name);
        int id = add_value(L, tp->name);
        if (id < 0)
            return fail(L, id, "out of memory");
        if ((rc = vp__tensor_from_proto_l(L, tp, &g->values[id].init)))
            return rc;
        g->values[id].dtype = g->values[id].init->dtype;
        g->values[id].shape = g->values[id].init->shape;
    }
    /* graph inputs (those that are not initializers) */
    g->inputs = calloc(gp->n_input + 1, sizeof(int));
    if (!g->inputs)
        return fail(L, VP_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = S(vi->name);
        if (!*name)
            return fail(L, VP_ERR_INVALID, "graph input #%zu has no name", i);
        int id = lookup(L, name);
        if (id >= 0 && g->values[id].init)
            continue; /* an initializer listed as input (IR < 4 style): a constant */
        if (id >= 0)
            return fail(L, VP_ERR_INVALID, "graph input '%s' is listed twice", name);
        id = add_value(L, name);
        if (id < 0)
            return fail(L, id, "out of memory");
        if ((rc = read_value_info(L, vi, &g->values[id])))
            return rc;
        if (g->values[id].dtype == VP_DT_UNDEFINED || g->values[id].shape.rank < 0)
            return fail(L, VP_ERR_INVALID, "graph input '%s' has no tensor type or shape", name);
        if (!vp_dtype_size(g->values[id].dtype))
            return fail(L, VP_ERR_UNSUPPORTED, "graph input '%s' has element type %d, which is not supported", name,
                        (int)g->values[id].dtype);
        g->values[id].graph_input = g->n_inputs;
        g->inputs[g->n_inputs++] = id;
    }

    /* node outputs: every name produced exactly once */
    size_t nn = gp->n_node;
    g->nodes = calloc(nn, sizeof *g->nodes);
    vp_node *tmp = calloc(nn, sizeof *tmp);
    int *order = malloc(nn * sizeof(int)), *indeg = calloc(nn, sizeof(int));
    if (!g->nodes || !tmp || !order || !indeg) {
        free(tmp), free(order), free(indeg);
        return fail(L, VP_ERR_NOMEM, "out of memory");
    }
#define BAIL(x) do { rc = (x); goto out; } while (0)
    for (size_t k = 0; k < nn; k++) {
        const Onnx__NodeProto *np = gp->node[k];
        vp_node *n = &tmp[k];
        n->name = dupstr(np->name);
        n->op_type = dupstr(np->op_type);
        n->domain = dupstr(np->domain);
        n->n_in = (int)np->n_input;
        n->n_out = (int)np->n_output;
        n->in = malloc((np->n_input + 1) * sizeof(int));
        n->out = malloc((np->n_output + 1) * sizeof(int));
        if (!n->name || !n->op_type || !n->domain || !n->in || !n->out)
            BAIL(fail(L, VP_ERR_NOMEM, "out of memory"));
        if (!*n->op_type)
            BAIL(fail(L, VP_ERR_INVALID, "node #%zu '%s' has no op_type", k, n->name));
        if (np->n_input > 4096 || np->n_output > 4096 || np->n_attribute > 4096)
            BAIL(fail(L, VP_ERR_INVALID, "node '%s' (%s): implausible number of inputs/outputs/attributes",
                      n->name, n->op_type));
        for (size_t o = 0; o < np->n_output; o++) {
            const char *name = S(np->output[o]);
            if (!*name) {
                n->out[o] = -1;
                continue;
            }
            int id = lookup(L, name);
            if (id >= 0)
                BAIL(fail(L, VP_ERR_INVALID, "node '%s' (%s): output '%s' is already produced elsewhere", n->name,
                          n->op_type, name));
            id = add_value(L, name);
            if (id < 0)
                BAIL(fail(L, id, "out of memory"));
            g->values[id].producer = (int)k; /* index into tmp, remapped after sorting */
            n->out[o] = id;
        }
        n->attrs = calloc(np->n_attribute + 1, sizeof(vp_attr));
        if (!n->attrs)
            BAIL(fail(L, VP_ERR_NOMEM, "out of memory"));
        for (size_t a = 0; a < np->n_attribute; a++) {
            n->n_attrs++;
            if ((rc = convert_attr(L, np, np->attribute[a], &n->attrs[a])))
                goto out;
        }
    }
    /* node inputs */
    for (size_t k = 0; k < nn; k++) {
        const Onnx__NodeProto *np = gp->node[k];
        vp_node *n = &tmp[k];
        for (size_t i = 0; i < np->n_input; i++) {
            const char *name = S(np->input[i]);
            if (!*name) {
                n->in[i] = -1;
                continue;
            }
            int id = lookup(L, name);
            if (id < 0)
                BAIL(fail(L, VP_ERR_INVALID,
                          "node '%s' (%s): input '%s' is not an initializer, a graph input or any node's output",
                          n->name, n->op_type, name));
            n->in[i] = id;
            if (g->values[id].producer >= 0)
                indeg[k]++;
        }
    }
    /* Kahn's topological sort, stable with respect to file order */
    {
        int head = 0, tail = 0;
        for (size_t k = 0; k < nn; k++)
            if (indeg[k] == 0)
                order[tail++] = (int)k;
        /* consumers are found by scanning: O(nodes * inputs) per pop is too
         * slow for big graphs, so build a consumer list first */
        int *cnt = calloc(nn + 1, sizeof(int));
        size_t total = 0;
        if (!cnt)
            BAIL(fail(L, VP_ERR_NOMEM, "out of memory"));
        for (size_t k = 0; k < nn; k++)
            for (int i = 0; i < tmp[k].n_in; i++)
                if (tmp[k].in[i] >= 0 && g->values[tmp[k].in[i]].producer >= 0)
                    cnt[g->values[tmp[k].in[i]].producer + 1]++, total++;
        for (size_t k = 0; k < nn; k++)
            cnt[k + 1] += cnt[k];
        int *cons = malloc((total + 1) * sizeof(int)), *fill = calloc(nn, sizeof(int));
        if (!cons || !fill) {
            free(cnt), free(cons), free(fill);
            BAIL(fail(L, VP_ERR_NOMEM, "out of memory"));
        }
        for (size_t k = 0; k < nn; k++)
            for (int i = 0; i < tmp[k].n_in; i++)
                if (tmp[k].in[i] >= 0 && g->values[tmp[k].in[i]].producer >= 0) {
                    int p = g->values[tmp[k].in[i]].producer;
                    cons[cnt[p] + fill[p]++] = (int)k;
                }
        while (head < tail) {
            int k = order[head++];
            for (int c = cnt[k]; c < cnt[k + 1]; c++)
                if (--indeg[cons[c]] == 0)
                    order[tail++] = cons[c];
        }
        free(cnt), free(cons), free(fill);
        if ((size_t)tail != nn) {
            for (size_t k = 0; k < nn; k++)
                if (indeg[k] > 0)
                    BAIL(fail(L, VP_ERR_INVALID, "graph has a cycle through node '%s' (%s)", tmp[k].name,
                              tmp[k].op_type));
        }
    }
    {
        int *pos = malloc(nn * sizeof(int));
        if (!pos)
            BAIL(fail(L, VP_ERR_NOMEM, "out of memory"));
        for (size_t k = 0; k < nn; k++) {
            pos[order[k]] = (int)k;
            g->nodes[k] = tmp[order[k]];
        }
        for (int v = 0; v < g->n_values; v++)
            if (g->values[v].producer >= 0)
                g->values[v].producer = pos[g->values[v].producer];
        free(pos);
        g->n_nodes = (int)nn;
        memset(tmp, 0, nn * sizeof *tmp);
    }
    /* value infos: declared types of intermediates (used only for messages) */
    for (size_t i = 0; i < gp->n_value_info; i++) {
        int id = lookup(L, S(gp->value_info[i]->name));
        if (id >= 0 && !g->values[id].init && g->values[id].graph_input < 0)
            read_value_info(L, gp->value_info[i], &g->values[id]); /* advisory */
    }
    /* outputs */
    g->outputs = calloc(gp->n_output + 1, sizeof(int));
    if (!g->outputs)
        BAIL(fail(L, VP_ERR_NOMEM, "out of memory"));
    if (gp->n_output == 0)
        BAIL(fail(L, VP_ERR_INVALID, "graph has no outputs"));
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = S(gp->output[i]->name);
        int id = lookup(L, name);
        if (id < 0)
            BAIL(fail(L, VP_ERR_INVALID, "graph output '%s' is not produced by any node", name));
        if (g->values[id].graph_output >= 0)
            BAIL(fail(L, VP_ERR_UNSUPPORTED, "graph output '%s' is listed twice", name));
        g->values[id].graph_output = g->n_outputs;
        if (g->values[id].dtype == VP_DT_UNDEFINED) {
            vp_value tmpv = g->values[id];
            if (read_value_info(L, gp->output[i], &tmpv) == VP_OK) {
                g->values[id].dtype = tmpv.dtype;
                g->values[id].shape = tmpv.shape;
            }
        }
        if (g->values[id].dtype != VP_DT_UNDEFINED && !vp_dtype_size(g->values[id].dtype))
            BAIL(fail(L, VP_ERR_UNSUPPORTED, "graph output '%s' has element type %d, which is not supported", name,
                      (int)g->values[id].dtype));
        g->outputs[g->n_outputs++] = id;
    }
    /* ops: schema and domain */
    for (int k = 0; k < g->n_nodes; k++) {
        vp_node *n = &g->nodes[k];
        n->opset = g->opset;
        n->def = vp_op_find(n->op_type); /* checked above */
        int nin = n->n_in;
        if (nin < n->def->min_inputs || (n->def->max_inputs >= 0 && nin > n->def->max_inputs))
            BAIL(fail(L, VP_ERR_INVALID, "node '%s' (%s): %d inputs, expected %d..%d", n->name, n->op_type, nin,
                      n->def->min_inputs, n->def->max_inputs));
    }
    rc = VP_OK;
out:
    for (size_t k = 0; k < nn; k++) {
        vp_node *n = &tmp[k];
        free(n->name), free(n->op_type), free(n->domain), free(n->in), free(n->out);
        for (int a = 0; a < n->n_attrs; a++) {
            vp_attr *at = &n->attrs[a];
            free(at->name), free(at->s), free(at->floats), free(at->ints);
            for (int s = 0; at->strings && s < at->n; s++)
                free(at->strings[s]);
            free(at->strings);
            vp_tensor_free(&at->t);
        }
        free(n->attrs);
    }
    free(tmp), free(order), free(indeg);
    return rc;
#undef BAIL
}

int vp_graph_load_memory(const void *data, size_t size, const char *src, const char *base_dir, vp_graph *g,
                         char *err, size_t errlen)
{
    loader L = {.g = g, .src = src ? src : "<memory>", .base_dir = base_dir, .err = err, .errlen = errlen};
    memset(g, 0, sizeof *g);
    if (err && errlen)
        err[0] = 0;
    if (size == 0)
        return fail(&L, VP_ERR_INVALID, "empty file");
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    if (!m)
        return fail(&L, VP_ERR_INVALID, "not a valid ONNX model: protobuf parsing failed (truncated or not an ONNX file)");
    int rc = build_graph(&L, m);
    /* metadata: kept as strings, for the callers that know an exporter's keys */
    size_t nm = rc == VP_OK ? m->n_metadata_props : 0;
    if (nm && (!(g->meta_keys = calloc(nm, sizeof *g->meta_keys)) ||
               !(g->meta_values = calloc(nm, sizeof *g->meta_values))))
        rc = VP_ERR_NOMEM;
    for (size_t i = 0; rc == VP_OK && i < nm; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        g->meta_keys[i] = dupstr(e->key ? e->key : "");
        g->meta_values[i] = dupstr(e->value ? e->value : "");
        g->n_meta = (int)i + 1;
        if (!g->meta_keys[i] || !g->meta_values[i])
            rc = VP_ERR_NOMEM;
    }
    onnx__model_proto__free_unpacked(m, NULL);
    free(L.slots);
    if (rc == VP_OK) {
        g->source = dupstr(L.src);
        if (!g->source)
            rc = VP_ERR_NOMEM;
    }
    if (rc)
        vp_graph_free(g);
    return rc;
}

int vp_read_file(const char *path, void **data, size_t *size, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    *data = NULL;
    *size = 0;
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return VP_ERR_IO;
    }
    if (fseeko(f, 0, SEEK_END) != 0) {
        fclose(f);
        snprintf(err, errlen, "%s: cannot seek (not a regular file?)", path);
        return VP_ERR_IO;
    }
    off_t len = ftello(f);
    rewind(f);
    if (len < 0 || (uint64_t)len > (UINT64_C(1) << 34)) {
        fclose(f);
        snprintf(err, errlen, "%s: file too large or unreadable", path);
        return VP_ERR_IO;
    }
    void *buf = malloc((size_t)len + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory reading %lld bytes", path, (long long)len);
        return VP_ERR_NOMEM;
    }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        fclose(f);
        snprintf(err, errlen, "%s: read error", path);
        return VP_ERR_IO;
    }
    fclose(f);
    *data = buf;
    *size = (size_t)len;
    return VP_OK;
}

int vp_tensor_load_pb(const char *path, vp_tensor **out, char *err, size_t errlen)
{
    void *buf;
    size_t size;
    *out = NULL;
    int rc = vp_read_file(path, &buf, &size, err, errlen);
    if (rc)
        return rc;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, size, buf);
    free(buf);
    if (!tp) {
        snprintf(err, errlen, "%s: not a valid ONNX TensorProto", path);
        return VP_ERR_INVALID;
    }
    loader L = {.src = path, .err = err, .errlen = errlen};
    rc = vp__tensor_from_proto_l(&L, tp, out);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return rc;
}
