/*
 * Post-processing of detector outputs: YOLO decoding, confidence filter,
 * top-k and class-aware non-maximum suppression, keypoints (pose), mask
 * coefficients (instance segmentation) and semantic-segmentation argmax.
 *
 * Two implementations of one algorithm, as for preprocessing: the CPU one
 * (postprocess.c: the CPU pipeline's path and the reference) and the CUDA
 * one in the plugin (cuda/postprocess.cu), so that only final results cross
 * to the host on the GPU path. Both follow the same steps in the same order
 * with the same float operations, so equal model outputs give equal results:
 *
 *   1. candidates: for each anchor a, score = max over classes c of
 *      cls[c][a] (v8/v11: already sigmoid'ed by the export) or
 *      obj[a] * cls[c][a] (v5, one float multiply per class), the first
 *      maximal class winning: class 0 seeds the maximum and a later class
 *      replaces it only when strictly greater (so a NaN in class 0 fails
 *      the anchor, a NaN elsewhere is skipped); with multi_label the test
 *      below is per (anchor, class) pair instead; keep score >
 *      conf_threshold (strictly: NaN never passes).
 *   2. top-k: the max_candidates best by score, ties by lower anchor index
 *      (then lower class), i.e. a total order: results never depend on
 *      thread scheduling.
 *   3. boxes cx,cy,w,h -> x0 = cx - w/2, y0 = cy - h/2, x1 = cx + w/2,
 *      y1 = cy + h/2 (float, in that order), in model-input pixels.
 *   4. greedy NMS in that order: a candidate is dropped when its IoU with an
 *      already kept one of the same class (any class when class_agnostic)
 *      is > iou_threshold. IoU = inter / (area_a + area_b - inter), areas
 *      and intersection with widths clamped at 0, computed in float as
 *      vp_post_iou() does. Stop at max_det kept.
 *
 * Boxes stay in model-input pixels; vp_post_map_box() maps them back to
 * source pixels with the preprocessing geometry (vp_pre_geom).
 *
 * Plain C, usable from .cu files (extern "C"), no CUDA header needed.
 */
#ifndef VP_VISION_POSTPROCESS_H
#define VP_VISION_POSTPROCESS_H

#include "vidpipe/vidpipe.h"
#include "vision/preprocess.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vp_task {
    VP_TASK_DETECT = 0,  /* boxes, classes, scores */
    VP_TASK_POSE = 1,    /* + keypoints per box (ultralytics pose head) */
    VP_TASK_SEGMENT = 2, /* + mask coefficients per box and prototypes (second output) */
    VP_TASK_SEMSEG = 3,  /* per-pixel class logits [N, C, H, W] (DeepLabV3) */
    VP_TASK_COUNT
} vp_task;

typedef enum vp_yolo_layout {
    VP_YOLO_AUTO = 0, /* from the output shape: [N, F, A] with F < A -> V8, [N, A, F] -> V5 */
    VP_YOLO_V8 = 1,   /* [N, 4 + nc + extra, A]: cx,cy,w,h, class scores, extra (v8/v11/v12) */
    VP_YOLO_V5 = 2,   /* [N, A, 5 + nc + extra]: cx,cy,w,h, objectness, class scores, extra */
} vp_yolo_layout;

/* One model output as post-processing reads it: contiguous, row-major,
 * float32 or float16 (VP_PRE_FP32 / VP_PRE_FP16). Host pointer for the CPU
 * implementation, device pointer for the CUDA one. */
typedef struct vp_post_tensor {
    const void *data;
    int dtype;           /* vp_pre_dtype */
    int rank;
    int64_t d[4];
} vp_post_tensor;

typedef struct vp_post_params {
    vp_task task;
    vp_yolo_layout layout;
    int num_classes;       /* detect/seg: 0 = all features not otherwise used; pose: 0 = 1 */
    int num_keypoints;     /* pose: keypoints per box (COCO: 17); 0 = derived from the shape */
    int keypoint_dims;     /* pose: 2 (x,y) or 3 (x,y,visibility); default 3 */
    int num_masks;         /* segment: mask coefficients per box; 0 = the prototypes' channels */
    float conf_threshold;  /* default 0.25 */
    float iou_threshold;   /* default 0.45 */
    int max_candidates;    /* top-k before NMS, 1..VP_POST_MAX_CANDIDATES; default 1024 */
    int max_det;           /* kept per image after NMS, 1..max_candidates; default 300 */
    int class_agnostic;    /* 1: NMS across classes */
    int multi_label;       /* 1: an anchor may yield one candidate per class above threshold */
} vp_post_params;

#define VP_POST_MAX_CANDIDATES 4096
#define VP_POST_MAX_KEYPOINTS 64
#define VP_POST_MAX_MASKS 64

void vp_post_params_default(vp_post_params *p);

/* What the outputs hold, derived once from the params and output shapes
 * (the shapes without the batch dimension matter; d[0] is the batch). */
typedef struct vp_post_layout {
    vp_task task;
    vp_yolo_layout layout; /* resolved: V8 or V5 (semseg: AUTO) */
    int batch;
    int anchors;           /* A */
    int features;          /* F: values per anchor */
    int num_classes;       /* semseg: C */
    int num_keypoints, keypoint_dims;
    int num_masks;
    int proto_h, proto_w;  /* segment: prototype size (e.g. 160x160); semseg: H, W
                              (semseg also sets anchors = H * W, features = C) */
    int class_offset;      /* feature index of the first class score (4; V5: 5) */
    int extra_offset;      /* feature index of keypoints / mask coefficients */
} vp_post_layout;

/* Checks params against the outputs (out[0]: predictions; out[1]:
 * prototypes [N, nm, ph, pw] for segment) and fills *lo. VP_ERR_INVALID with
 * a logged one-line message naming the field or the shape on a mismatch
 * (wrong rank, features that do not add up, missing prototypes, ...). */
int vp_post_resolve(const vp_post_params *p, const vp_post_tensor *out, int n_out, vp_post_layout *lo);

/* One detection, in model-input pixels. */
typedef struct vp_det {
    float x0, y0, x1, y1;
    float score;
    int32_t cls;
    int32_t anchor;        /* anchor index in the predictions (for masks, debugging) */
} vp_det;

/*
 * Results of a batch: per image i, count[i] detections (<= max_det).
 * Pointers are caller-allocated arrays with room for batch * max_det
 * entries, image i's entries at [i * max_det, ...) (keypoints:
 * num_keypoints * keypoint_dims floats per detection, x,y in model-input
 * pixels; mask coefficients: num_masks floats per detection). keypoints and
 * coefs may be NULL when not wanted. For the CUDA implementation all are
 * device pointers.
 */
typedef struct vp_post_results {
    int32_t *count;        /* [batch] */
    vp_det *det;           /* [batch * max_det] */
    float *keypoints;      /* [batch * max_det * nk * kd] or NULL */
    float *coefs;          /* [batch * max_det * nm] or NULL */
} vp_post_results;

/* CPU implementation. scratch: NULL (allocates per call) or at least
 * vp_post_scratch_bytes(p, lo) bytes reused across calls. Returns VP_OK,
 * VP_ERR_INVALID or VP_ERR_NOMEM. */
size_t vp_post_scratch_bytes(const vp_post_params *p, const vp_post_layout *lo);
int vp_postprocess_cpu(const vp_post_params *p, const vp_post_layout *lo, const vp_post_tensor *out,
                       vp_post_results *res, void *scratch);

/* IoU of two boxes, exactly as NMS computes it (both implementations), in
 * float, in this order: iw = fminf(a.x1, b.x1) - fmaxf(a.x0, b.x0), ih
 * likewise, each clamped as v > 0 ? v : 0; inter = iw * ih; box widths and
 * heights (x1 - x0, y1 - y0) clamped the same way; union = (aw * ah + bw *
 * bh) - inter; IoU = union > 0 ? inter / union : 0. */
float vp_post_iou(const vp_det *a, const vp_det *b);

/* Maps a point from model-input pixels to source pixels (vp_pre_geom's
 * formula), clamped to [0, src_w] x [0, src_h]. */
void vp_post_map_point(const vp_pre_geom *g, int src_w, int src_h, float *x, float *y);
/* Maps a box (both corners) the same way. */
void vp_post_map_box(const vp_pre_geom *g, int src_w, int src_h, vp_det *d);

/*
 * Instance masks (segment), CPU: for detection d of image i, the mask logit
 * at prototype pixel (y, x) is sum_k coefs[k] * proto[i][k][y][x]; the mask
 * is logit > 0 (sigmoid > 0.5) inside the box (scaled to prototype pixels:
 * box * proto_w / input_w), 0 outside. Writes proto_h * proto_w bytes (0/1)
 * to mask. in_w, in_h: model input size.
 * Precisely (as ultralytics' process_mask + crop_mask): sx = (float)proto_w /
 * (float)in_w, x0' = d->x0 * sx, x1' = d->x1 * sx (y likewise); pixel (x, y)
 * is inside when x0' <= x < x1' and y0' <= y < y1' (integer indices); the
 * logit is summed in float, k ascending, from 0.
 */
int vp_post_mask_cpu(const vp_post_layout *lo, const vp_post_tensor *proto, int image, const float *coefs,
                     const vp_det *d, int in_w, int in_h, uint8_t *mask);

/* Semantic segmentation, CPU: per pixel the argmax over C channels of
 * logits[image] (first maximal channel wins), into classes (H*W bytes,
 * C <= 255). */
int vp_post_semseg_cpu(const vp_post_layout *lo, const vp_post_tensor *logits, int image, uint8_t *classes);

/*
 * CUDA implementation, in libvidpipe_cuda.so (dlsym VP_CUDA_POSTPROCESS_SYMBOL):
 * the same results as vp_postprocess_cpu from device outputs, into device
 * result arrays, enqueued on stream with no synchronisation and no
 * allocation (scratch: 16-byte aligned device memory of
 * vp_cuda_post_scratch_bytes bytes, which is 0 for invalid params),
 * so it can be captured in a CUDA graph. Returns VP_OK, VP_ERR_INVALID or
 * VP_ERR_BACKEND (logged).
 */
struct CUstream_st;
#define VP_CUDA_POSTPROCESS_SYMBOL "vp_cuda_postprocess"
#define VP_CUDA_POST_SCRATCH_SYMBOL "vp_cuda_post_scratch_bytes"
typedef size_t (*vp_cuda_post_scratch_fn)(const vp_post_params *p, const vp_post_layout *lo);
typedef int (*vp_cuda_postprocess_fn)(const vp_post_params *p, const vp_post_layout *lo, const vp_post_tensor *out,
                                      vp_post_results *res, void *scratch, struct CUstream_st *stream);
size_t vp_cuda_post_scratch_bytes(const vp_post_params *p, const vp_post_layout *lo);
int vp_cuda_postprocess(const vp_post_params *p, const vp_post_layout *lo, const vp_post_tensor *out,
                        vp_post_results *res, void *scratch, struct CUstream_st *stream);

/*
 * Per-pixel results on the GPU, so that only final results cross to the host
 * (implementation: cuda/segment.cu, in the plugin; reached through
 * vp_gpu_api.semseg / .masks). Both enqueue on stream with no allocation and
 * no synchronisation (a capturing stream records them into a graph; the
 * pointer checks are skipped while capturing) and return VP_OK,
 * VP_ERR_INVALID or VP_ERR_BACKEND (logged).
 */

/* Semantic segmentation, CUDA: for each image i < lo->batch, the class of
 * every pixel is the argmax over the C channels of logits (float32 or
 * float16, [N, C, H, W] as resolved), exactly vp_post_semseg_cpu's rule
 * (channel 0 seeds, a later channel replaces only when strictly greater,
 * float16 widened exactly: the same classes bit for bit), and
 * counts[i * 256 + c] = the number of pixels of class c inside image i's
 * window. windows: HOST memory, 4 int32 per image {x0, y0, x1, y1} in logit
 * pixels, pixel (x, y) inside when x0 <= x < x1 and y0 <= y < y1, clipped
 * to the map (an empty or inverted window counts nothing); read during the
 * call (passed to the kernel by value). counts: device int32 [batch][256],
 * overwritten (bins >= C are 0). classes: device uint8 [batch][H][W], the
 * class map, or NULL when not wanted. */
#define VP_SEMSEG_BINS 256
typedef int (*vp_cuda_semseg_fn)(const vp_post_layout *lo, const vp_post_tensor *logits, const int32_t *windows,
                                 int32_t *counts, uint8_t *classes, struct CUstream_st *stream);
int vp_cuda_semseg(const vp_post_layout *lo, const vp_post_tensor *logits, const int32_t *windows, int32_t *counts,
                   uint8_t *classes, struct CUstream_st *stream);

/* Instance masks in compact form: per kept detection, its crop rectangle
 * in prototype pixels (vp_post_mask_cpu's: x0 <= x < x1, y0 <= y < y1,
 * empty when x1 == x0 or y1 == y0) and the mask bits of that rectangle only,
 * row-major: bit j = (y - y0) * (x1 - x0) + (x - x0) is bit j % 32 (least
 * significant first) of word offset + j / 32 of the image's bit array; each
 * detection starts on a word of its own, unused bits of its last word are 0. */
typedef struct vp_mask_box {
    int32_t x0, y0, x1, y1;
    uint32_t offset;       /* first word in the image's bit array */
    uint32_t words;        /* ceil((x1 - x0) * (y1 - y0) / 32) */
} vp_mask_box;

/* Device arrays of a batch's masks (image i's entries at i * max_det in box,
 * at i * vp_post_mask_words(lo, max_det) in bits). */
typedef struct vp_mask_results {
    vp_mask_box *box;      /* [batch * max_det] */
    uint32_t *words;       /* [batch]: words of image i's bit array in use */
    uint32_t *bits;        /* [batch * vp_post_mask_words] */
} vp_mask_results;

/* Words of bit array per image, enough for max_det masks of the whole
 * prototype map: max_det * ceil(proto_h * proto_w / 32). 0 when lo is not a
 * segment layout, max_det < 1, or that exceeds UINT32_MAX. */
size_t vp_post_mask_words(const vp_post_layout *lo, int max_det);

/* Instance masks, CUDA: for detection k < res->count[i] of image i (device
 * results of vp_cuda_postprocess: res->count, res->det in model-input
 * pixels, res->coefs, max_det entries per image), the mask of
 * vp_post_mask_cpu (logit = sum over k ascending of coefs[k] * proto[k],
 * each product rounded, then added, in float, from 0; mask = logit > 0;
 * box scaled by (float)proto_w / (float)in_w, (float)proto_h / (float)in_h),
 * the same operations in the same order, so the same mask bit for bit, in
 * the compact form above. Entries past count[i] are not written. */
typedef int (*vp_cuda_masks_fn)(const vp_post_layout *lo, const vp_post_tensor *proto, const vp_post_results *res,
                                int max_det, int in_w, int in_h, vp_mask_results *out, struct CUstream_st *stream);
int vp_cuda_masks(const vp_post_layout *lo, const vp_post_tensor *proto, const vp_post_results *res, int max_det,
                  int in_w, int in_h, vp_mask_results *out, struct CUstream_st *stream);

/* Host side of the compact form: writes the full proto_h x proto_w 0/1 mask
 * (as vp_post_mask_cpu does) of box b from bits, the image's bit array of
 * nwords words. VP_ERR_INVALID (logged) when the rectangle is outside the
 * map, its word count is not ceil(area / 32) or it reaches past nwords. */
int vp_post_mask_expand(const vp_post_layout *lo, const vp_mask_box *b, const uint32_t *bits, size_t nwords,
                        uint8_t *mask);

/*
 * Detections as they cross from the GPU to the host on the pipeline's GPU
 * path: 16 bytes each instead of vp_det's 28, packed without gaps in image
 * order. Corners are in model-input pixels clamped to [0, in_w] x [0, in_h]
 * (the box mapping to the source picture clamps to the picture anyway,
 * vp_post_map_point), in units of 1/scale pixel rounded to nearest even;
 * the score is as computed; cls is the class.
 */
typedef struct vp_det_wire {
    uint16_t x0, y0, x1, y1;
    float score;
    uint16_t cls, pad;
} vp_det_wire;

/* Units per pixel for a model input of in_w x in_h: floor(65535 / max(in_w,
 * in_h)) (102 at 640: corners within 0.005 px), 0 when the wire form cannot
 * carry such detections (a side over 65535 px or more than 65536 classes). */
float vp_det_wire_scale(int in_w, int in_h, int num_classes);
/* One detection to its wire form and back (the CPU reference of the CUDA
 * packing: the same float operations, so the same bits). from_wire sets
 * anchor to -1: the anchor stays on the GPU. */
void vp_det_to_wire(const vp_det *d, float scale, int in_w, int in_h, vp_det_wire *w);
void vp_det_from_wire(const vp_det_wire *w, float scale, vp_det *d);

/* CUDA (libvidpipe_cuda.so): packs image i's count[i] detections of res
 * (res->det[i * max_det ...], device arrays) into wire, images one after
 * the other, on stream (graph-capturable: no sync, no allocation). wire has
 * room for batch * max_det entries; a count outside 0..max_det is taken as
 * clamped to it. VP_OK, VP_ERR_INVALID or VP_ERR_BACKEND (logged). */
typedef int (*vp_cuda_pack_dets_fn)(const vp_post_results *res, int batch, int max_det, float scale, int in_w,
                                    int in_h, vp_det_wire *wire, struct CUstream_st *stream);
int vp_cuda_pack_dets(const vp_post_results *res, int batch, int max_det, float scale, int in_w, int in_h,
                      vp_det_wire *wire, struct CUstream_st *stream);

const char *vp_task_name(int t);
int vp_task_parse(const char *s); /* -1 if unknown */

#ifdef __cplusplus
}
#endif
#endif
