/*
 * The ONNX inference engine.
 *
 * Describe first, compute later: vp_engine_load() parses and validates a
 * model and applies the shape-independent graph passes once. A vp_plan binds
 * concrete input shapes (e.g. a batch size): it infers every shape, folds
 * constant subgraphs, plans memory and prepares backend kernels, so that
 * vp_plan_run() allocates nothing. One engine may hold plans for several
 * batch sizes; a plan is used by one thread at a time.
 */
#ifndef VIDPIPE_ENGINE_H
#define VIDPIPE_ENGINE_H

#include "vidpipe/vidpipe.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VP_MAX_DIMS 8

/* Element types, numbered as ONNX's TensorProto.DataType. */
typedef enum vp_dtype {
    VP_DT_UNDEFINED = 0,
    VP_DT_FLOAT = 1,
    VP_DT_UINT8 = 2,
    VP_DT_INT8 = 3,
    VP_DT_UINT16 = 4,
    VP_DT_INT16 = 5,
    VP_DT_INT32 = 6,
    VP_DT_INT64 = 7,
    VP_DT_STRING = 8,
    VP_DT_BOOL = 9,
    VP_DT_FLOAT16 = 10,
    VP_DT_DOUBLE = 11,
    VP_DT_UINT32 = 12,
    VP_DT_UINT64 = 13,
} vp_dtype;

typedef struct vp_shape {
    int rank;                  /* 0..VP_MAX_DIMS; -1 = unknown */
    int64_t d[VP_MAX_DIMS];    /* -1 = unknown (symbolic) dimension */
} vp_shape;

/* A dense, row-major tensor view. The engine never frees data it did not
 * allocate. */
typedef struct vp_tensor {
    vp_dtype dtype;
    vp_shape shape;
    void *data;
} vp_tensor;

/* Size in bytes of one element; 0 for types the engine cannot hold. */
size_t vp_dtype_size(vp_dtype dt);
const char *vp_dtype_name(vp_dtype dt);
/* Number of elements (1 for rank 0); -1 if a dimension is unknown. */
int64_t vp_shape_numel(const vp_shape *s);
/* "[1,3,640,640]" ("?" for unknown dims) into buf; returns buf. */
const char *vp_shape_str(const vp_shape *s, char *buf, size_t len);

typedef enum vp_backend_kind {
    VP_BACKEND_CPU = 0,
    VP_BACKEND_CUDA = 1,
} vp_backend_kind;

typedef enum vp_precision {
    VP_PRECISION_FP32 = 0,
    VP_PRECISION_FP16 = 1, /* CUDA backend: FP16 activations and weights, FP32 accumulation */
} vp_precision;

/* Where convolutions and the ops between them keep 4-D activations. AUTO:
 * channels-last (NHWC) on CUDA in FP16, where tensor cores want it, NCHW
 * otherwise. Inputs and outputs stay as the model declares them either way. */
typedef enum vp_layout {
    VP_LAYOUT_AUTO = 0,
    VP_LAYOUT_PLAIN = 1,  /* NCHW everywhere */
    VP_LAYOUT_CHANNELS_LAST = 2,
} vp_layout;

typedef struct vp_engine_options {
    vp_backend_kind backend;
    vp_precision precision;
    int num_threads;     /* CPU backend; 0 = all cores */
    int disable_passes;  /* 1: no graph passes (for debugging and tests) */
    size_t max_tensor_bytes; /* largest tensor a plan may create; 0 = 16 GiB */
    int profile;         /* 1: time every step of every run (vp_plan_profile) */
    vp_layout layout;    /* activation layout of 4-D tensors inside plans */
    /* Plan cache (the CUDA backend's measured algorithm choices, per model,
     * GPU, cuDNN version and precision), so a second start skips the
     * search. NULL: $VIDPIPE_CACHE_DIR, else $XDG_CACHE_HOME/vidpipe, else
     * ~/.cache/vidpipe; "": no cache. */
    const char *cache_dir;
    /* 1: 4-D float model inputs take the plan's internal form, FP16 and
     * channels-last ([N,H,W,C]) when the plan uses those, instead of the
     * model's float32 NCHW: what the GPU preprocessing writes, with no
     * conversion step. vp_plan_binding() / vp_plan_run() then expect that
     * dtype and physical shape. */
    int native_input;
} vp_engine_options;

typedef struct vp_engine vp_engine;
typedef struct vp_plan vp_plan;

void vp_engine_options_default(vp_engine_options *opt);

/* Load and validate an ONNX model. On failure returns a negative status,
 * sets *out to NULL and, if err is not NULL, writes a one-line message
 * naming the file, node and problem into err (errlen bytes). */
int vp_engine_load(const char *path, const vp_engine_options *opt, vp_engine **out,
                   char *err, size_t errlen);
/* Same, from a serialized ModelProto in memory; base_dir resolves external
 * data (NULL: external data is an error). */
int vp_engine_load_memory(const void *data, size_t size, const char *base_dir,
                          const vp_engine_options *opt, vp_engine **out, char *err,
                          size_t errlen);
/* Frees the engine and all its plans; *e becomes NULL. NULL-safe. */
void vp_engine_free(vp_engine **e);
/* Last error message of this engine or its plans ("" if none). */
const char *vp_engine_last_error(const vp_engine *e);

int vp_engine_num_inputs(const vp_engine *e);
int vp_engine_num_outputs(const vp_engine *e);
/* Name, element type and declared shape (-1 for symbolic dims). */
int vp_engine_input_info(const vp_engine *e, int i, const char **name, vp_dtype *dt,
                         vp_shape *shape);
int vp_engine_output_info(const vp_engine *e, int i, const char **name, vp_dtype *dt,
                          vp_shape *shape);
/* The model's metadata_props value for key (e.g. ultralytics' "task",
 * "names", "imgsz"), or NULL. Valid for the engine's life. */
const char *vp_engine_metadata(const vp_engine *e, const char *key);

/* Number of nodes after passes, and the op types used (for `vidpipe info`). */
int vp_engine_num_nodes(const vp_engine *e);

/* One line about a backend's availability on this machine ("NVIDIA H100 ...,
 * sm_90, cuDNN 9.x" or why it is not available). Returns VP_OK if usable. */
int vp_engine_describe_backend(vp_backend_kind backend, char *line, size_t len);

/* Op types the engine supports on a backend, sorted, into names[0..max);
 * returns the total count (which may exceed max), negative on error. */
int vp_engine_supported_ops(vp_backend_kind backend, const char **names, int max);

/* Build a plan for concrete input shapes (one per graph input, in order).
 * The plan is owned by the engine. */
int vp_engine_plan(vp_engine *e, const vp_shape *input_shapes, vp_plan **out);
/* Same, with some inputs' values fixed at plan time (fixed[i] non-NULL):
 * for models whose output shapes depend on an input's value (a Reshape
 * target fed as an input, say). Such inputs are folded as constants, and
 * vp_plan_run() rejects other values for them. Never shared with other
 * plan requests. */
int vp_engine_plan_fixed(vp_engine *e, const vp_shape *input_shapes, const vp_tensor *const *fixed,
                         vp_plan **out);
/* Concrete shape of output i under this plan. */
int vp_plan_output_shape(const vp_plan *p, int i, vp_shape *shape);
/* Bytes of intermediate memory the plan uses (arena). */
size_t vp_plan_arena_bytes(const vp_plan *p);
/* Per-step timing, when the engine was loaded with options.profile. */
typedef struct vp_step_profile {
    const char *node;     /* node name (may be "") */
    const char *op;       /* op type, with "+post-ops" fused into it */
    int n_post;           /* post-ops fused into this step */
    double total_ms;      /* summed over runs */
    long runs;
    double flops;         /* per run: multiply-adds x 2 of Conv/MatMul/Gemm, else 0 */
    double bytes;         /* per run: bytes of the step's inputs and outputs (a floor on its traffic) */
} vp_step_profile;
/* Fills out[0..max) in step order; returns the number of steps. */
int vp_plan_profile(const vp_plan *p, vp_step_profile *out, int max);
/* Forget the times so far (e.g. after warm-up runs). */
void vp_plan_profile_reset(vp_plan *p);

/* Run: inputs[i].data points to host memory of the planned shape; outputs
 * are written to outputs[i].data (caller-allocated, shape per
 * vp_plan_output_shape). */
int vp_plan_run(vp_plan *p, const vp_tensor *inputs, vp_tensor *outputs);

/* Device bindings (CUDA backend): the plan's own device buffer for input i
 * (is_output 0) or output i (is_output 1), as dtype, shape and a device
 * pointer that stays valid for the plan's life. The caller writes inputs
 * there on its own stream (preprocessing writes each image straight into
 * its batch slot), synchronises, calls vp_plan_run_bound(), and reads the
 * outputs in place; no host copy happens. VP_ERR_UNSUPPORTED on the CPU
 * backend (its plans read the caller's buffers directly). */
int vp_plan_binding(vp_plan *p, int is_output, int i, vp_tensor *t);
/* Runs on the bound buffers; returns when the outputs are complete. */
int vp_plan_run_bound(vp_plan *p);
/* The same without waiting: the run is enqueued on the engine's stream
 * (vp_engine_stream) after whatever the caller enqueued there before, and
 * the outputs are complete when the stream reaches the caller's next work
 * (an event recorded after this call). Writes into the bindings must be on
 * that stream too. Some runs still wait inside (the first, eager run of a
 * plan; the profile option). VP_ERR_UNSUPPORTED on the CPU backend. */
int vp_plan_enqueue_bound(vp_plan *p);
/* The stream (a CUstream) the engine's plans run on; NULL on the CPU
 * backend. Valid until vp_engine_free. */
void *vp_engine_stream(vp_engine *e);

/* Tensor files ------------------------------------------------------------
 * .npy (NumPy format 1.0-3.0, little-endian, C order) and ONNX TensorProto
 * (.pb, as in ONNX's node tests). */

/* Load a tensor from FILE, chosen by extension (.npy, else TensorProto).
 * Returns a heap tensor to free with vp_tensor_destroy(). */
int vp_tensor_load(const char *path, vp_tensor **out, char *err, size_t errlen);
int vp_tensor_save_npy(const char *path, const vp_tensor *t, char *err, size_t errlen);
void vp_tensor_destroy(vp_tensor **t);

#ifdef __cplusplus
}
#endif
#endif
