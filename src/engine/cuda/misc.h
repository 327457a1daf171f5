/*
 * CUDA misc family: what the kernel table (misc.c, host C) and the kernels
 * (misc.cu: softmax, reductions, argmax, topk; misc_resize.cu: resize)
 * share.
 *
 * Float32 and float16 are what these kernels compute on (ArgMax and TopK
 * also take integer inputs); float16 is read as float, computed as float32
 * is, and rounded once on store. The host does all parameter decoding in prepare(), with
 * the decoders the CPU kernels use (vp_misc_softmax_dims,
 * vp_misc_reduce_axes, vp_misc_resize_params) fed host copies of constant
 * inputs; the launchers below only pick a kernel shape and enqueue it.
 * Formulas are the CPU kernels' (cpu/misc.c, cpu/misc_resize.c): the same
 * max-subtracted softmax, the same NaN rules for max/min/argmax, the same
 * resize tap tables with double weights and double sums.
 *
 * Launcher contract, for every vp_cumi_* entry point: pointers are device
 * memory; returns VP_OK, VP_ERR_UNSUPPORTED for a combination without a
 * kernel (nothing launched), or VP_ERR_BACKEND if a launch failed (logged);
 * output pointer NULL launches nothing and only answers whether the
 * combination is supported (prepare() asks this way, so the dtype dispatch
 * lives in one place, the .cu files); empty work launches nothing; work is
 * only enqueued on the given stream (safe under CUDA-graph capture).
 */
#ifndef VP_ENGINE_CUDA_MISC_H
#define VP_ENGINE_CUDA_MISC_H

#include "engine/cuda/cuda.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Softmax (log = 0) or LogSoftmax (log = 1) of x viewed as [O, D, I] along
 * D; x and y of dtype dt (float32, float16). */
int vp_cumi_softmax(cudaStream_t s, vp_dtype dt, int log, const void *x, void *y, int64_t O, int64_t D,
                    int64_t I);

/* Reductions: the input as groups of kept and reduced dimensions (size-1
 * dimensions dropped, neighbours of the same kind merged), element strides;
 * n_out = product of ksz, n_red = product of rsz. */
enum { VP_CUMI_SUM, VP_CUMI_MEAN, VP_CUMI_MAX, VP_CUMI_MIN, VP_CUMI_L2, VP_CUMI_SUMSQ };

typedef struct vp_cumi_red {
    int kind;
    int nk, nr;
    int64_t ksz[VP_MAX_DIMS], kst[VP_MAX_DIMS];  /* kept groups, outermost first */
    int64_t rsz[VP_MAX_DIMS], rst[VP_MAX_DIMS];  /* reduced groups, outermost first */
    int64_t n_out, n_red;
    int last_red;                                /* the innermost group is reduced */
} vp_cumi_red;

/* y[n_out] = reduction of x (dtype dt: float32, float16). n_red == 0
 * (empty input) writes the reduction's value for no elements (0, NaN for
 * the mean, -inf, +inf, 0 for L2 and the sum of squares). */
int vp_cumi_reduce(cudaStream_t s, vp_dtype dt, const vp_cumi_red *g, const void *x, void *y);

/* ArgMax of x (dtype dt) viewed as [O, D, I] along D, int64 indices into
 * y[O * I]. NaN ranks above everything; ties and NaNs go to the first index,
 * or the last with select_last_index. D >= 1. */
int vp_cumi_argmax(cudaStream_t s, vp_dtype dt, const void *x, int64_t *y, int64_t O, int64_t D, int64_t I,
                   int last);

/* TopK of x (dtype dt) viewed as [O, D, I] along D: the K largest (or
 * smallest) in order, NaN above everything, equal values by index; values
 * into vals (dtype dt, may be NULL) and int64 indices into idx (may be
 * NULL), both [O, K, I]. Supported when D <= vp_cumi_topk_max(dt). */
int vp_cumi_topk(cudaStream_t s, vp_dtype dt, const void *x, void *vals, int64_t *idx, int64_t O, int64_t D,
                 int64_t I, int64_t K, int largest);
int64_t vp_cumi_topk_max(vp_dtype dt);

/* Resize (float32, float16) ------------------------------------------------
 * One table per axis, in device memory: for output position o, taps input
 * indices idx[o * taps + t] (clamped) with weights w[o * taps + t], and
 * ext[o] = 1 where the position lies outside the input (tf_crop_and_resize;
 * ext NULL when no position does). */
typedef struct vp_cumi_rs_axis {
    int taps;
    const int32_t *idx;
    const double *w;
    const uint8_t *ext;
} vp_cumi_rs_axis;

typedef struct vp_cumi_rs {
    int rank;
    int64_t in[VP_MAX_DIMS], out[VP_MAX_DIMS];
    vp_cumi_rs_axis ax[VP_MAX_DIMS];
    /* all axes but the last two are copied unchanged: planes of [in h, in w]
     * with tables ay (a unit table for rank 1) and ax[rank - 1] */
    int planar;
    vp_cumi_rs_axis ay;
    /* not planar, rank 4, axes 0 and 3 unchanged: channels-last [N, H, W, C]
     * with H and W resized (tables ax[1], ax[2]) */
    int nhwc;
    float ev;                /* extrapolation_value */
} vp_cumi_rs;

/* y = resize(x), x and y of dtype dt (float32, float16). */
int vp_cumi_resize(cudaStream_t s, vp_dtype dt, const vp_cumi_rs *p, const void *x, void *y);

#ifdef __cplusplus
}
#endif
#endif
