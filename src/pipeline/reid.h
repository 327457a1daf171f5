/*
 * The tracker's appearance features (tracker.reid): a secondary ONNX model
 * run on crops of the detections, DeepStream's "secondary inference".
 *
 * vp_reid owns the secondary engine, its plans (batches of 1, 8 and
 * VP_REID_CHUNK crops) and, on the CPU backend, the host input and output
 * tensors, all made at start-up: vp_reid_embed allocates nothing.
 *
 * Paths: CPU engine: vp_crop_cpu from the host pictures into the host
 * input tensor, then vp_plan_run. CUDA engine: the crop kernel
 * (vp_gpu_api.crop) reads the device pictures (mapped NVDEC surfaces)
 * and writes into the plan's input binding, in its own dtype and layout;
 * only the embeddings (n x D floats) come back, through vp_gpu_copy.
 *
 * The model: one image input [N,3,H,W] (RGB, x / 255; H, W from the model
 * or the config), one output [N,D], D >= 1. Embeddings need not be unit
 * length: the tracker normalises them.
 */
#ifndef VP_PIPELINE_REID_H
#define VP_PIPELINE_REID_H

#include "vidpipe/engine.h"
#include "vision/crop.h"

#include <stddef.h>

struct vp_gpu;
struct CUstream_st;

#define VP_REID_CHUNK 32 /* crops per engine run at most */

typedef struct vp_reid vp_reid;

/* Loads path for backend/precision (gpu: the pipeline's device, required
 * for VP_BACKEND_CUDA, else NULL). width/height: the crop size, 0 = the
 * model's. On failure *out is NULL and err holds one line naming the model
 * and what is wrong (missing file, not [N,3,H,W] in, not [N,D] out). */
int vp_reid_open(const char *path, int width, int height, vp_backend_kind backend, vp_precision precision,
                 int threads, struct vp_gpu *gpu, vp_reid **out, char *err, size_t errlen);

/* D, the embedding length. */
int vp_reid_dim(const vp_reid *r);

/* Embeddings of n crops (any n >= 0) of the pictures srcs[0..nsrc) (host
 * planes on the CPU backend, device planes on CUDA) into out[n * D]
 * (host). stream: the CUDA stream the pictures are ready on (CUDA only).
 * Returns VP_OK or the failing status (logged). */
int vp_reid_embed(vp_reid *r, const vp_pre_src *srcs, int nsrc, const vp_crop *crops, int n, float *out,
                  struct CUstream_st *stream);

void vp_reid_free(vp_reid **r);

#endif
