/*
 * Fused preprocessing: one decoded picture (NV12/P016/YUV 4:2:0 or packed
 * RGB) -> letterboxed or stretched, colour-converted, normalised FP16/FP32
 * NCHW/NHWC tensor written into slot i of a batch tensor, in one pass over
 * the output.
 *
 * Two implementations of exactly the same arithmetic: the CPU one
 * (preprocess.c, the CPU pipeline's production path and the reference) and
 * the CUDA kernel in the plugin (cuda/preprocess.cu). Both take their
 * coefficients from vp_pre_prepare(), so they cannot drift apart in setup;
 * preprocess.c documents the arithmetic at its top.
 *
 * Plain C, usable from .cu files (extern "C"), no CUDA header needed: the
 * stream argument of the CUDA entry point is declared as struct CUstream_st *,
 * which is what cudaStream_t and CUstream are.
 */
#ifndef VP_VISION_PREPROCESS_H
#define VP_VISION_PREPROCESS_H

#include "vidpipe/vidpipe.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pixel formats of the source picture. 4:2:0 chroma planes are
 * ceil(w/2) x ceil(h/2) samples. Multi-byte samples are little-endian. */
typedef enum vp_pre_format {
    VP_PRE_NV12 = 0,    /* plane 0: Y (8-bit); plane 1: interleaved U,V (8-bit) */
    VP_PRE_P016 = 1,    /* NV12 layout with 16-bit words, content MSB-aligned (NVDEC's
                           10/12-bit output: low bits zero); bit_depth = content bits */
    VP_PRE_YUV420P = 2, /* planes 0,1,2: Y, U, V (8-bit) */
    VP_PRE_YUV420P10 = 3, /* Y, U, V in 16-bit words, LSB-aligned (libavcodec's
                             yuv420p10le); bit_depth 9..16 for other LSB-aligned depths */
    VP_PRE_RGB24 = 4,   /* plane 0: packed R,G,B (8-bit); matrix and range ignored */
    VP_PRE_BGR24 = 5,   /* plane 0: packed B,G,R (8-bit, OpenCV's order) */
    VP_PRE_FORMAT_COUNT
} vp_pre_format;

/* Y'CbCr -> R'G'B' matrix (ITU-R BT.601, BT.709, BT.2020 non-constant luminance). */
typedef enum vp_pre_matrix {
    VP_PRE_BT601 = 0,
    VP_PRE_BT709 = 1,
    VP_PRE_BT2020 = 2,
} vp_pre_matrix;

typedef enum vp_pre_range {
    VP_PRE_RANGE_LIMITED = 0, /* "TV"/MPEG: Y in [16,235]*2^(n-8), C in [16,240]*2^(n-8) */
    VP_PRE_RANGE_FULL = 1,    /* "PC"/JPEG: Y in [0, 2^n-1], C centred on 2^(n-1) */
} vp_pre_range;

/* The source picture. Plane pointers are host pointers for the CPU path and
 * device pointers (e.g. a mapped NVDEC surface) for the CUDA path. Unused
 * planes may be NULL. */
typedef struct vp_pre_src {
    vp_pre_format format;
    int width, height;     /* luma size in pixels, 1..VP_PRE_MAX_DIM */
    int bit_depth;         /* bits of content per sample; 0 = the format's default
                              (8; 10 for P016 and YUV420P10) */
    const void *plane[3];  /* NV12/P016: Y, UV; YUV420P*: Y, U, V; RGB24/BGR24: packed */
    size_t pitch[3];       /* bytes from one row to the next, >= the row's bytes */
    vp_pre_matrix matrix;
    vp_pre_range range;
} vp_pre_src;

#define VP_PRE_MAX_DIM 32768

typedef enum vp_pre_resize {
    VP_PRE_LETTERBOX = 0,         /* keep aspect ratio, centred, pad the rest (ultralytics'
                                     LetterBox(auto=False, center=True)) */
    VP_PRE_LETTERBOX_TOPLEFT = 1, /* keep aspect ratio, image at (0,0), pad right/bottom */
    VP_PRE_STRETCH = 2,           /* fill the destination, aspect ratio not kept */
} vp_pre_resize;

typedef enum vp_pre_order { VP_PRE_RGB = 0, VP_PRE_BGR = 1 } vp_pre_order;
typedef enum vp_pre_dtype { VP_PRE_FP32 = 0, VP_PRE_FP16 = 1 } vp_pre_dtype;
typedef enum vp_pre_layout { VP_PRE_NCHW = 0, VP_PRE_NHWC = 1 } vp_pre_layout;

/* What the model wants. Per-channel arrays index the OUTPUT channels (after
 * `order`): with order = BGR, mean[0] is the blue mean.
 *
 *   out[c] = (x[c] * scale - mean[c]) / std[c]
 *
 * where x[c] is the colour in 8-bit units (0..255, fractional after
 * interpolation and for >8-bit sources). YOLO: scale 1/255, mean 0, std 1.
 * ImageNet: scale 1/255, mean {0.485,0.456,0.406}, std {0.229,0.224,0.225}. */
typedef struct vp_pre_params {
    int dst_width, dst_height; /* model input size, 1..VP_PRE_MAX_DIM */
    vp_pre_resize mode;
    float pad[3];              /* pad colour in 8-bit units (ultralytics: 114), clamped to
                                  [0,255], normalised like the picture */
    vp_pre_order order;
    float scale;               /* finite */
    float mean[3];             /* finite */
    float std[3];              /* finite, non-zero */
    vp_pre_dtype dtype;
    vp_pre_layout layout;
} vp_pre_params;

/* Defaults: 640x640 centred letterbox, pad 114, RGB, scale 1/255, mean 0,
 * std 1, FP32, NCHW (what an ultralytics YOLO export expects, in FP32). */
void vp_pre_params_default(vp_pre_params *p);

/* Where the picture lands in the destination and how to map back.
 *
 * The content rectangle is [x0, x0+w) x [y0, y0+h) of the destination; the
 * rest is padding. Sampling uses source pixels per destination pixel
 * scale_x = src_width / w and scale_y = src_height / h, so a point at
 * continuous destination coordinates (u, v) (pixel edges at integers, as
 * boxes from the model are) comes from the source point
 *
 *   x_src = (u - x0) * scale_x,   y_src = (v - y0) * scale_y
 *
 * which is how post-processing maps boxes and keypoints back to source
 * pixels. For the letterbox modes the sizes and offsets are exactly those of
 * ultralytics' LetterBox (gain r = min(dst_h/src_h, dst_w/src_w), w =
 * max(round_half_even(src_w*r), 1), pad split with the extra pixel on the
 * right/bottom); `gain` is that r (ultralytics' scale_boxes divides by it;
 * scale_x/scale_y are the exact inverse of the sampling and differ from 1/r
 * by the rounding of w and h). For stretch, x0 = y0 = 0, w/h = destination
 * size, gain = 0. */
typedef struct vp_pre_geom {
    int x0, y0;              /* pad left, pad top (destination pixels) */
    int w, h;                /* content size in destination pixels, >= 1 */
    double scale_x, scale_y; /* source pixels per destination pixel */
    double gain;             /* letterbox: destination per source pixel r; stretch: 0 */
} vp_pre_geom;

/* Compute the geometry for a src_width x src_height picture. Returns VP_OK or
 * VP_ERR_INVALID (with a logged message) on bad sizes or mode. */
int vp_pre_geometry(int src_width, int src_height, const vp_pre_params *p, vp_pre_geom *g);

/* Everything a kernel needs, computed once per call by vp_pre_prepare() for
 * both implementations (plain data; passed to the CUDA kernel by value).
 *
 *   rgb[c]  = m[c][0]*s0 + m[c][1]*s1 + m[c][2]*s2 + off[c]   (raw samples s)
 *   out[c]  = clamp(rgb[c], 0, 1) * na[c] + nb[c]
 *
 * with c the output channel: the matrix rows already follow `order`, and the
 * sample normalisation (range, bit depth) is folded into m and off. */
typedef struct vp_pre_plan {
    int format;              /* vp_pre_format */
    int sw, sh;              /* luma size */
    int cw, ch;              /* chroma plane size (4:2:0), = sw, sh for packed RGB */
    const void *plane[3];
    size_t pitch[3];
    int dw, dh;              /* destination size */
    int x0, y0, w, h;        /* content rectangle (vp_pre_geom) */
    float sx, sy;            /* source pixels per content pixel (vp_pre_geom.scale_*) */
    float m[3][3], off[3];   /* raw samples -> R'G'B' in [0,1] (before clamping) */
    float na[3], nb[3];      /* normalisation per output channel */
    float padv[3];           /* normalised pad value per output channel */
    int dtype;               /* vp_pre_dtype */
    int layout;              /* vp_pre_layout */
} vp_pre_plan;

/* Validate src and p and fill the plan. VP_ERR_INVALID with a logged message
 * naming the field on: NULL arguments, unknown format/matrix/range/mode/
 * order/dtype/layout, sizes out of 1..VP_PRE_MAX_DIM, a needed plane NULL, a
 * pitch smaller than the row, a bit depth the format cannot have, non-finite
 * scale/mean/std or std == 0. */
int vp_pre_prepare(const vp_pre_src *src, const vp_pre_params *p, vp_pre_plan *plan);

/* Elements of one batch slot: 3 * dst_height * dst_width. */
size_t vp_pre_slot_elems(const vp_pre_params *p);

/* CPU implementation (host planes). Writes slot `slot` of the batch tensor
 * at dst_batch (3 x dst_h x dst_w elements per slot, layout and dtype per
 * p); the caller guarantees the tensor has more than `slot` slots. Other
 * slots are not touched. threads: OpenMP threads over output rows, 0 = the
 * OpenMP default, 1 = the calling thread only. Returns VP_OK or
 * VP_ERR_INVALID (message logged). */
int vp_preprocess_cpu(const vp_pre_src *src, const vp_pre_params *p, void *dst_batch, int slot,
                      int threads);

/* CUDA implementation, in libvidpipe_cuda.so (exported for dlsym under
 * VP_CUDA_PREPROCESS_SYMBOL). src planes and dst_batch are device pointers
 * (or host memory the device can address: mapped/managed); plain host
 * memory is refused. The kernel is only enqueued on `stream` (NULL = the
 * legacy default stream): no synchronisation, no allocation, so the call can
 * be captured in a CUDA graph (make one uncaptured call with the same
 * format/dtype/layout first: it checks the pointers, which a capturing call
 * skips, and loads the kernel outside the capture), and the source must
 * stay valid until the stream has passed the kernel. Returns VP_OK, VP_ERR_INVALID (bad
 * parameters, logged) or VP_ERR_BACKEND (a CUDA error, logged). */
struct CUstream_st;
#define VP_CUDA_PREPROCESS_SYMBOL "vp_cuda_preprocess"
typedef int (*vp_cuda_preprocess_fn)(const vp_pre_src *src, const vp_pre_params *p,
                                     void *dst_batch, int slot, struct CUstream_st *stream);
int vp_cuda_preprocess(const vp_pre_src *src, const vp_pre_params *p, void *dst_batch, int slot,
                       struct CUstream_st *stream);

/* Names for messages and command lines ("nv12", "bt709", "letterbox", ...);
 * parse functions return -1 for an unknown name. */
const char *vp_pre_format_name(int f);
int vp_pre_format_parse(const char *s);
const char *vp_pre_matrix_name(int m);
int vp_pre_matrix_parse(const char *s);

#ifdef __cplusplus
}
#endif
#endif
