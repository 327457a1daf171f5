/*
 * misc op family: parameter parsing shared by the schemas (ops/misc*.c) and
 * the kernels of every backend (cpu/misc*.c, cuda/misc.c).
 *
 * Ops whose parameters come from constant inputs (Resize scales/sizes,
 * Reduce axes, TopK k, Einsum equation) parse them in one place, so shape
 * inference and the kernel can never disagree. Inference calls these with
 * the constant input data; kernels call them again in run(), where every
 * input has data (prepare() may not see constant data, so kernels never
 * rely on it there).
 */
#ifndef VP_ENGINE_OPS_MISC_H
#define VP_ENGINE_OPS_MISC_H

#include "engine/ops.h"

#include <stddef.h>
#include <stdint.h>

/* Softmax / LogSoftmax / Hardmax: view the input as [outer, d, inner] with
 * the normalised dimension in the middle. Before opset 13 the input is
 * coerced to 2-D at `axis` (default 1), so d is the product of dims from
 * axis on and inner is 1; from 13 on it is the single axis (default -1). */
int vp_misc_softmax_dims(vp_op_ctx *c, int64_t *outer, int64_t *d, int64_t *inner);

/* Reduce*: which axes of in[0] are reduced (red[i] = 1), from the `axes`
 * attribute (ReduceSum < 13, others < 18) or input 1, with
 * noop_with_empty_axes. Input 1, when present and non-empty, must have data
 * (constant in inference). Returns a status (message set in c). */
int vp_misc_reduce_axes(vp_op_ctx *c, uint8_t red[VP_MAX_DIMS]);

/* Resize / Upsample ------------------------------------------------------ */
enum { VP_RS_NEAREST = 0, VP_RS_LINEAR = 1, VP_RS_CUBIC = 2 };
enum {
    VP_RS_HALF_PIXEL = 0,
    VP_RS_HALF_PIXEL_SYMMETRIC,
    VP_RS_PYTORCH_HALF_PIXEL,
    VP_RS_ALIGN_CORNERS,
    VP_RS_ASYMMETRIC,
    VP_RS_TF_HALF_PIXEL_FOR_NN,
    VP_RS_TF_CROP_AND_RESIZE,
};
enum {
    VP_RS_ROUND_PREFER_FLOOR = 0,
    VP_RS_ROUND_PREFER_CEIL,
    VP_RS_FLOOR,
    VP_RS_CEIL,
    VP_RS_SIMPLE, /* Upsample and Resize-10: floor when upsampling, ceil when downsampling */
};

typedef struct vp_resize_params {
    int rank;
    int mode;             /* VP_RS_NEAREST / LINEAR / CUBIC */
    int coord;            /* coordinate transformation mode */
    int nearest;          /* nearest rounding mode */
    int antialias;        /* opset 18: widen linear/cubic filters when downsampling */
    int exclude_outside;
    double cubic_a;
    double extrapolation; /* tf_crop_and_resize value outside the input */
    int64_t out[VP_MAX_DIMS];     /* output shape */
    double scale[VP_MAX_DIMS];    /* scale used by the coordinate transform */
    double roi_lo[VP_MAX_DIMS], roi_hi[VP_MAX_DIMS]; /* tf_crop_and_resize, normalised */
    int roi_f32;          /* roi given as float32: its terms are computed in float32 */
    int identity[VP_MAX_DIMS];    /* axis copied unchanged (skipped, as ONNX's reference does) */
    int order[VP_MAX_DIMS];       /* axes in the order the reference resizes them (the axes attribute's) */
} vp_resize_params;

/* Parse attributes and the roi/scales/sizes inputs of Resize (opset 10..19)
 * or Upsample (7..9). scales/sizes/roi must have data. */
int vp_misc_resize_params(vp_op_ctx *c, vp_resize_params *p);

/* Resize's per-axis tap tables (ops/misc_resize_table.c), built on the host
 * for every backend: output position o along an axis reads input positions
 * idx[o * taps + j] (clamped to the input) with weights w[o * taps + j]. */
typedef struct vp_resize_axis {
    int taps;             /* taps per output position (1 on an identity axis) */
    int64_t n;            /* output positions (p->out[d]) */
    int64_t *idx;         /* [n][taps] clamped input index */
    double *w;            /* [n][taps] weight */
    uint8_t *ext;         /* [n] 1 = outside the input (tf_crop_and_resize), or NULL */
} vp_resize_axis;

typedef struct vp_resize_tables {
    vp_resize_axis ax[VP_MAX_DIMS];
    void *mem;            /* every axis's arrays, one allocation */
} vp_resize_tables;

/* Build the tables of p for an input of shape in. Fails (message set in c)
 * on an empty axis resized to a non-empty one, or a filter of more than
 * 4096 taps. On failure nothing is left to free; on success free with
 * vp_misc_resize_tables_free. */
int vp_misc_resize_tables(vp_op_ctx *c, const vp_resize_params *p, const vp_shape *in, vp_resize_tables *t);
void vp_misc_resize_tables_free(vp_resize_tables *t);

/* Einsum ----------------------------------------------------------------- */
#define VP_EINSUM_MAX_IN 8
#define VP_EINSUM_MAX_LABELS 64  /* 52 letters + ellipsis dims */

typedef struct vp_einsum_plan {
    int n_in;
    int n_labels;                 /* labels used: output ones first, then summed ones */
    int n_out_labels;
    int64_t size[VP_EINSUM_MAX_LABELS];  /* extent of each label */
    /* element stride of each label in each input (0 if absent or broadcast);
     * a label repeated in one input (a diagonal) adds its strides */
    int64_t stride[VP_EINSUM_MAX_IN][VP_EINSUM_MAX_LABELS];
    vp_shape out_shape;
} vp_einsum_plan;

/* Parse node's `equation` against the input shapes. */
int vp_misc_einsum_plan(vp_op_ctx *c, vp_einsum_plan *p);

/* NonMaxSuppression ------------------------------------------------------ */
/* Runs NMS on float32 boxes [B,N,4] and scores [B,C,N]; selected triples
 * (batch, class, box) go to sel (capacity cap triples; may be NULL to count
 * only). scratch holds vp_misc_nms_scratch(N) bytes. Returns the number of
 * selected boxes (which may exceed cap). */
size_t vp_misc_nms_scratch(int64_t n);
int64_t vp_misc_nms(const float *boxes, const float *scores, int64_t nb, int64_t nc, int64_t n,
                    int64_t max_out, float iou_thr, int has_score_thr, float score_thr, int center_box,
                    int64_t *sel, int64_t cap, void *scratch);
/* Reads NMS's scalar inputs (absent or empty ones take ONNX's defaults). */
int vp_misc_nms_args(vp_op_ctx *c, int64_t *max_out, float *iou_thr, int *has_score_thr,
                     float *score_thr);

#endif
