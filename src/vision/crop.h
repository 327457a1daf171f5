/*
 * Batched crop + resize for secondary models (appearance/ReID features):
 * boxes of detected objects, cut out of the ORIGINAL decoded picture (not
 * the letterboxed detector input), each resized to the secondary model's
 * input size, colour-converted and normalised into consecutive slots of
 * its input tensor, as DeepStream's secondary inference does.
 *
 * Two implementations of the same arithmetic: vp_crop_cpu (crop.c, the CPU
 * pipeline's path and the reference) and the CUDA kernel in the plugin
 * (cuda/crop.cu), which reads the decoded surface in device memory (a
 * mapped NVDEC NV12 surface) and writes into the secondary plan's input
 * binding, so crops never leave the GPU.
 *
 * Arithmetic, per crop (box x0 y0 x1 y1 in source pixels, pixel edges at
 * integers, as detections are):
 *   1. Integer rectangle (vp_crop_rect): bx = floor(x0), by = floor(y0),
 *      ex = ceil(x1), ey = ceil(y1) (outward: the whole box is inside),
 *      clipped to the picture, at least one pixel wide and high (a box
 *      entirely outside the picture gives the nearest edge pixel row or
 *      column; a non-finite box gives pixel (0, 0)). bw = ex - bx,
 *      bh = ey - by.
 *   2. Stretch to dw x dh with half-pixel centres inside the rectangle,
 *      exactly cv2.resize(INTER_LINEAR) of the rectangle:
 *        sx = (float)(bw / dw), sy = (float)(bh / dh)
 *        fx = bx + clamp(fmaf(u + 0.5, sx, -0.5), 0, bw - 1)   (float adds)
 *      likewise fy; edge pixels of the rectangle repeat.
 *   3. Bilinear taps, chroma siting, colour matrix, clamp, normalisation
 *      and store exactly as vision/preprocess.c steps 3-7, with the
 *      coefficients of vp_pre_prepare(src, p) (p's dst size = the crop
 *      size, mode ignored). Chroma is read from the whole plane around the
 *      luma position (the rectangle clips luma positions only).
 *
 * Plain C, usable from .cu files; the CUDA stream is struct CUstream_st *.
 */
#ifndef VP_VISION_CROP_H
#define VP_VISION_CROP_H

#include "vision/preprocess.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Crops one call may take from how many different pictures, and crops per
 * CUDA launch (the kernel gets them by value: no upload, no allocation). */
#define VP_CROP_MAX_SOURCES 8
#define VP_CROP_PER_LAUNCH 64

typedef struct vp_crop_rect {
    int x, y, w, h; /* in source pixels; w, h >= 1; inside the picture */
} vp_crop_rect;

/* Step 1 above for a sw x sh picture (sw, sh >= 1). */
void vp_crop_rect_of(float x0, float y0, float x1, float y1, int sw, int sh, vp_crop_rect *r);

/* One crop: which picture (index into the call's srcs) and the box. */
typedef struct vp_crop {
    int src;              /* 0..nsrc-1 */
    float x0, y0, x1, y1; /* source pixels */
} vp_crop;

/* Writes crop j into slot first_slot + j of dst_batch (3 x dst_h x dst_w
 * elements per slot, p's dtype and layout; p->mode is ignored), for
 * j = 0..n-1. srcs: nsrc pictures (1..VP_CROP_MAX_SOURCES), host planes for
 * the CPU, device planes for CUDA. n = 0 does nothing and returns VP_OK.
 * VP_ERR_INVALID (logged) on bad pictures or parameters (as
 * vp_pre_prepare), a crop's src out of range, NULL dst, negative slot. */
int vp_crop_cpu(const vp_pre_src *srcs, int nsrc, const vp_crop *crops, int n, const vp_pre_params *p,
                void *dst_batch, int first_slot);

/* CUDA implementation, in libvidpipe_cuda.so (vp_gpu_api.crop). Only
 * enqueues on stream (ceil(n / VP_CROP_PER_LAUNCH) launches): no
 * synchronisation, no allocation, no copy; the pictures must stay valid
 * until the stream passes the kernels. Plain host memory is refused
 * (VP_ERR_INVALID); CUDA errors are VP_ERR_BACKEND (logged). */
struct CUstream_st;
typedef int (*vp_cuda_crop_fn)(const vp_pre_src *srcs, int nsrc, const vp_crop *crops, int n,
                               const vp_pre_params *p, void *dst_batch, int first_slot,
                               struct CUstream_st *stream);
int vp_cuda_crop(const vp_pre_src *srcs, int nsrc, const vp_crop *crops, int n, const vp_pre_params *p,
                 void *dst_batch, int first_slot, struct CUstream_st *stream);

#ifdef __cplusplus
}
#endif
#endif
