/*
 * Graph IR of the engine.
 *
 * A vp_graph is what the loader makes of an ONNX model: values (tensor edges,
 * including initializers) and nodes in topological order, with attributes
 * converted out of protobuf. It is immutable after loading; every plan (one
 * per set of concrete input shapes) works on its own copy of the node list,
 * so passes that need shapes (fusion, folding) run per plan.
 */
#ifndef VP_ENGINE_GRAPH_H
#define VP_ENGINE_GRAPH_H

#include "vidpipe/engine.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Attribute types, numbered as ONNX's AttributeProto.AttributeType. */
enum {
    VP_ATTR_FLOAT = 1,
    VP_ATTR_INT = 2,
    VP_ATTR_STRING = 3,
    VP_ATTR_TENSOR = 4,
    VP_ATTR_FLOATS = 6,
    VP_ATTR_INTS = 7,
    VP_ATTR_STRINGS = 8,
};

typedef struct vp_attr {
    char *name;
    int type;
    float f;
    int64_t i;
    char *s;          /* STRING (NUL-terminated copy) */
    int n;            /* count for FLOATS / INTS / STRINGS */
    float *floats;
    int64_t *ints;
    char **strings;
    vp_tensor *t;     /* TENSOR (owned, host data) */
} vp_attr;

/* Activations that can follow an op, fused by the plan's passes. */
typedef enum vp_act {
    VP_ACT_NONE = 0,
    VP_ACT_RELU,
    VP_ACT_SIGMOID,
    VP_ACT_SILU,        /* x * sigmoid(x) */
    VP_ACT_HARDSIGMOID, /* max(0, min(1, alpha*x + beta)) */
    VP_ACT_HARDSWISH,   /* x * hardsigmoid(x; 1/6, 1/2) */
    VP_ACT_CLIP,        /* min(max(x, alpha), beta) */
} vp_act;

/* A post-operation applied to a node's (single) output, in order. */
typedef struct vp_postop {
    int kind;      /* VP_POST_ACT or VP_POST_ADD */
    vp_act act;
    float alpha, beta;
    int input;     /* VP_POST_ADD: index into node->in of the addend (same shape as output) */
} vp_postop;
enum { VP_POST_ACT = 1, VP_POST_ADD = 2 };
#define VP_MAX_POSTOPS 4

struct vp_op_def;

typedef struct vp_node {
    char *name;       /* may be "" (ONNX allows unnamed nodes) */
    char *op_type;
    char *domain;     /* "" for the default ONNX domain */
    int opset;        /* opset version of the node's domain */
    int n_in, n_out;
    int *in;          /* value ids; -1 for an absent optional input */
    int *out;         /* value ids; -1 for an absent optional output */
    int n_attrs;
    vp_attr *attrs;
    const struct vp_op_def *def;  /* schema, looked up at load */
    /* set by plan passes only */
    int n_post;
    vp_postop post[VP_MAX_POSTOPS];
    /* VP_LAYOUT_NHWC: the node's rank-4 activation inputs and outputs are
     * stored channels-last, their shapes in the plan are the physical
     * [N,H,W,C], and any axis attribute/input already names physical axes.
     * Conv/ConvTranspose weights are then [O,kH,kW,I/group] (cuDNN's KRSC).
     * Only op types whose kernels say so get it (layout pass). */
    int layout;
} vp_node;
enum { VP_LAYOUT_NCHW = 0, VP_LAYOUT_NHWC = 1 };

typedef struct vp_value {
    char *name;
    vp_dtype dtype;   /* declared (VP_DT_UNDEFINED if not declared) */
    vp_shape shape;   /* declared (rank -1 if not declared) */
    int producer;     /* node index, -1 for graph inputs and initializers */
    vp_tensor *init;  /* initializer / Constant data (owned), else NULL */
    int graph_input;  /* index in graph inputs, or -1 */
    int graph_output; /* index in graph outputs, or -1 */
} vp_value;

typedef struct vp_graph {
    vp_value *values;
    int n_values;
    vp_node *nodes;   /* topologically sorted by the loader */
    int n_nodes;
    int *inputs;      /* value ids of real inputs (initializers excluded) */
    int n_inputs;
    int *outputs;
    int n_outputs;
    int opset;        /* default-domain opset */
    char *source;     /* file name, for messages */
    char **meta_keys, **meta_values; /* ModelProto.metadata_props (exporters' task, class names...) */
    int n_meta;
} vp_graph;

void vp_graph_free(vp_graph *g);

/* Attribute lookup on a node; the default is returned when absent. */
const vp_attr *vp_attr_find(const vp_node *n, const char *name);
int64_t vp_attr_i(const vp_node *n, const char *name, int64_t def);
float vp_attr_f(const vp_node *n, const char *name, float def);
const char *vp_attr_s(const vp_node *n, const char *name, const char *def);
/* INTS / FLOATS: pointer and count, NULL and *count = 0 when absent. */
const int64_t *vp_attr_ints(const vp_node *n, const char *name, int *count);
const float *vp_attr_floats(const vp_node *n, const char *name, int *count);
const vp_tensor *vp_attr_t(const vp_node *n, const char *name);

/* Tensors ------------------------------------------------------------- */
int64_t vp_tensor_numel(const vp_tensor *t);
size_t vp_tensor_bytes(const vp_tensor *t);
/* Heap tensor with zeroed data of the given type and shape; NULL on OOM. */
vp_tensor *vp_tensor_new(vp_dtype dt, const vp_shape *shape);
void vp_tensor_free(vp_tensor **t);
vp_tensor *vp_tensor_clone(const vp_tensor *t);
/* Read element i of an integer or float tensor as int64 / double. */
int64_t vp_tensor_get_i64(const vp_tensor *t, int64_t i);
double vp_tensor_get_f64(const vp_tensor *t, int64_t i);
void vp_tensor_set_f64(vp_tensor *t, int64_t i, double v);
int vp_shape_eq(const vp_shape *a, const vp_shape *b);
/* Numpy-style broadcast of a and b into out; VP_ERR_SHAPE if incompatible. */
int vp_shape_broadcast(const vp_shape *a, const vp_shape *b, vp_shape *out);

/* Float16 <-> float conversions (IEEE binary16, round to nearest even). */
float vp_half_to_float(uint16_t h);
uint16_t vp_float_to_half(float f);

#ifdef __cplusplus
}
#endif
#endif
