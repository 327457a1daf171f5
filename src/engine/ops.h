/*
 * Op schemas and backend kernels.
 *
 * An op is described once, backend-independently, by a vp_op_def: its
 * shape/type inference. Each backend has its own table of vp_kernel, looked
 * up by op type ("supports_op": a backend without a kernel for an op does not
 * support it). The CPU kernels double as the constant folder.
 *
 * Both infer() and the kernel functions receive a vp_op_ctx:
 *   - in[i]: NULL for an absent optional input, else dtype and shape set;
 *     in infer(), in[i]->data is non-NULL exactly when that input is a
 *     constant (initializer or folded), so ops whose output shape depends on
 *     an input's value (Reshape, Slice, Expand, Resize...) read it there and
 *     fail with VP_ERR_UNSUPPORTED if it is not constant.
 *   - out[i]: infer() sets dtype and shape; kernels write data.
 * Errors: return vp_op_fail(c, status, "fmt", ...) — the message names what
 * was wrong (attribute, input index, shapes); the caller prefixes the node
 * name and op type. VP_ERR_UNSUPPORTED for valid-but-unhandled (attribute
 * value, dtype), VP_ERR_SHAPE / VP_ERR_INVALID for bad models.
 */
#ifndef VP_ENGINE_OPS_H
#define VP_ENGINE_OPS_H

#include "engine/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vp_cpu_ctx vp_cpu_ctx;

typedef struct vp_op_ctx {
    const vp_node *node;
    int opset;               /* node->opset, for version-dependent semantics */
    int n_in, n_out;
    const vp_tensor **in;    /* n_in entries */
    vp_tensor **out;         /* n_out entries (NULL for an absent optional output) */
    void *state;             /* kernel state from prepare() */
    const char *in_const;    /* n_in flags: input i is a constant (its data never changes) */
    /* Scratch shared by all steps of a plan (steps run one at a time):
     * prepare() sets scratch_bytes to what it needs; run() gets scratch,
     * 64-byte aligned, in the backend's memory, contents undefined. */
    size_t scratch_bytes;
    void *scratch;
    vp_cpu_ctx *cpu;         /* CPU backend context (oneDNN engine/stream), CPU kernels only */
    void *dev;               /* the plan's backend context (vp_cuda_ctx * for CUDA kernels);
                                for CPU kernels the same as cpu */
    int num_threads;
    /* Channel slices (only for kernels with vp_kernel.cslice): per input /
     * output, the elements between consecutive pixels of a channels-last
     * tensor that is a slice of a wider one's channels (the plan writes
     * Concat inputs into their place in the Concat's output that way), 0
     * where dense. NULL when every tensor of the step is dense. */
    const int64_t *in_pix, *out_pix;
    char *err;               /* message buffer for vp_op_fail */
    size_t errlen;
} vp_op_ctx;

int vp_op_fail(vp_op_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct vp_op_def {
    const char *name;
    int min_inputs, max_inputs;    /* max -1 = variadic */
    /* Output aliases input 0's bytes unchanged (Reshape, Flatten, Squeeze,
     * Unsqueeze, Identity): the plan makes it a view, no kernel runs. */
    int is_view;
    int (*infer)(vp_op_ctx *c);
    /* Output depends only on input shapes, never on values (Shape, Size): the
     * plan folds it to a constant even when its input is not constant; its
     * CPU kernel must not read input data. */
    int shape_only;
} vp_op_def;

typedef struct vp_kernel {
    const char *name;
    /* Optional. Shapes and dtypes are final; data pointers are NOT (they are
     * bound per run), so never keep them. May set c->state. */
    int (*prepare)(vp_op_ctx *c);
    int (*run)(vp_op_ctx *c);
    void (*release)(void *state);  /* optional */
    /* Optional: 1 if this kernel applies node->post[] itself (fused). When 0,
     * the plan only fuses post-ops into nodes whose kernel says 1. */
    int handles_postops;
    /* Optional: 1 if this kernel runs nodes with node->layout ==
     * VP_LAYOUT_NHWC (see graph.h); the layout pass only gives it to those. */
    int nhwc;
    /* Optional: the element type (VP_DT_FLOAT16...) for which, on
     * channels-last nodes, input 0, the post-op addends and output 0 may be
     * channel slices (vp_op_ctx.in_pix / out_pix; the plan keeps slices'
     * offsets, channel counts and pixel strides 16-byte aligned); 0: none.
     * A prepare() given slices it cannot run returns VP_ERR_UNSUPPORTED and
     * the plan is made again without slices on that node. */
    int cslice;
    /* Optional: 1 if, in FP16 plans, this kernel runs a channels-last Conv
     * whose X (a float32 model input, or its Transpose to channels-last),
     * W and B stay float32 and whose output is float16: a network's first
     * layer computed in FP32 (vp_plan_precision). Such nodes have group 1,
     * unit dilations, strides <= 4, at most 4 input channels and
     * kH * kW * C <= 160. */
    int fp32_stem;
} vp_kernel;

/* Lookup; NULL if unknown. Only the default ONNX domain ("" or "ai.onnx"). */
const vp_op_def *vp_op_find(const char *op_type);
const vp_kernel *vp_cpu_kernel_find(const char *op_type);
/* A backend's lookup over its per-family tables (NULL-name terminated). */
const vp_kernel *vp_kernel_find_in(const vp_kernel *const *families, size_t n, const char *op_type);
/* Op types with a schema and a CPU kernel, sorted, into names[0..max);
 * returns the total count (which may exceed max). */
int vp_cpu_supported_ops(const char **names, int max);

/* Shared helpers for op implementations ------------------------------- */
/* Apply node->post[] to out[0] (for kernels that do not fuse). */
int vp_apply_postops(vp_op_ctx *c);
/* Normalise an axis in [-rank, rank) to [0, rank); -1 if out of range. */
int vp_norm_axis(int64_t axis, int rank);
/* Read an integer input tensor (int32/int64) into buf (max n); returns the
 * count or -1 if it is not a constant integer tensor. */
int vp_read_ints(const vp_tensor *t, int64_t *buf, int max);
/* Set an output's type and shape. */
void vp_set_out(vp_op_ctx *c, int i, vp_dtype dt, const vp_shape *s);

/* Per-family tables (NULL-name terminated), defined in ops/ and cpu/. */
#define VP_OP_FAMILIES(X) \
    X(elementwise) X(shape) X(nn) X(misc)

#define VP_DECLARE_FAMILY(f) extern const vp_op_def vp_ops_##f[]; \
                             extern const vp_kernel vp_cpu_##f[];
VP_OP_FAMILIES(VP_DECLARE_FAMILY)
#undef VP_DECLARE_FAMILY

#ifdef __cplusplus
}
#endif
#endif
