/*
 * CUDA backend, nn family: the entry points the kernel table (cuda/nn.c)
 * points at, and the launchers of the family's own CUDA kernels.
 *
 * Host code (prepare/run, cuDNN and cuBLAS calls) is plain C in
 * nn_conv.c, nn_matmul.c, nn_pool.c and nn_norm.c; the kernels are in
 * nn_pool.cu, nn_reduce.cu, nn_util.cu and nn_conv_direct.cu. The
 * launchers take plain argument structs (no engine headers needed on the
 * CUDA side), enqueue on the given stream only, skip empty work, and
 * return VP_OK or VP_ERR_BACKEND (launch errors, logged). Each launcher
 * dispatches on the element type in one switch and returns
 * VP_ERR_UNSUPPORTED for types it has no kernel for; the callers check
 * types in prepare(), so that never happens at run time.
 */
#ifndef VP_ENGINE_CUDA_NN_H
#define VP_ENGINE_CUDA_NN_H

#include "engine/cuda/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel entry points (the vp_kernel table) ---------------------------- */

/* nn_conv.c: Conv and ConvTranspose through cuDNN. */
int vp_cuda_conv_prepare(vp_op_ctx *c);
int vp_cuda_convt_prepare(vp_op_ctx *c);
int vp_cuda_conv_run(vp_op_ctx *c);
void vp_cuda_conv_release(void *state);

/* Conv + bias + post-ops as one cuDNN graph (nn_conv_graph.c): channels-last
 * FP16 2-D convolutions. Geometry in NCHW order. */
typedef struct vp_conv_graph_geom {
    int64_t x[4], y[4];          /* [N,C,H,W] of X and Y */
    int64_t k[2], pad[2], stride[2], dil[2];
    int64_t group;
    int bias_in;                 /* node input index of B, or -1 */
    /* Channel slices: elements between pixels of X, of Y and of each node
     * input (post-op addends), 0 where dense (vp_op_ctx.in_pix). */
    int64_t xpix, ypix;
    const int64_t *in_pix;       /* NULL: all dense */
} vp_conv_graph_geom;
typedef struct vp_conv_graph vp_conv_graph;
/* VP_ERR_UNSUPPORTED when cuDNN has no engine for it (the caller keeps the
 * legacy path); key names the convolution in the plan cache. */
int vp_conv_graph_build(vp_op_ctx *c, const vp_conv_graph_geom *g, const char *key, vp_conv_graph **out);
/* Timing of alternatives in prepare(): the mean time of `runs` calls of
 * fn(arg) (each enqueues work on ctx->stream and returns 0, else nonzero)
 * after `warm` untimed ones, ms; < 0 when a call or the timing fails. */
typedef int (*vp_cuda_enqueue_fn)(void *arg);
float vp_cuda_time_calls(vp_cuda_ctx *ctx, vp_cuda_enqueue_fn fn, void *arg, int warm, int runs);
/* The same, remembered in the plan cache under "t:" what ":" key: a start
 * with a warm cache takes the stored time and launches nothing, so it makes
 * the same choices as the start that measured them. key NULL: not stored. */
float vp_cuda_time_cached(vp_cuda_ctx *ctx, const char *what, const char *key, vp_cuda_enqueue_fn fn, void *arg,
                          int warm, int runs);

/* x, w: what to bind as the node's inputs 0 and 1 (the node's own tensors,
 * or their channel-padded copies). */
int vp_conv_graph_run(vp_op_ctx *c, vp_conv_graph *cg, const void *x, const void *w);
/* Every bound pointer of this run is 16-byte aligned (as the graph assumes). */
int vp_conv_graph_aligned(const vp_op_ctx *c, const vp_conv_graph *cg, const void *x, const void *w);
/* Mean time of the chosen engine on scratch buffers when it was built, ms. */
float vp_conv_graph_ms(const vp_conv_graph *cg);
void vp_conv_graph_free(vp_conv_graph *cg);

/* nn_matmul.c: MatMul and Gemm through cuBLAS. */
int vp_cuda_matmul_prepare(vp_op_ctx *c);
int vp_cuda_gemm_prepare(vp_op_ctx *c);
int vp_cuda_matmul_run(vp_op_ctx *c);
void vp_cuda_matmul_release(void *state);

/* nn_pool.c: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool. */
int vp_cuda_pool_prepare(vp_op_ctx *c);
int vp_cuda_pool_run(vp_op_ctx *c);
int vp_cuda_global_pool_prepare(vp_op_ctx *c);
int vp_cuda_global_pool_run(vp_op_ctx *c);
void vp_cuda_nn_state_free(void *state); /* free() for the small states above */

/* nn_norm.c: BatchNormalization, LayerNormalization,
 * InstanceNormalization, GroupNormalization, LRN. */
int vp_cuda_batchnorm_prepare(vp_op_ctx *c);
int vp_cuda_batchnorm_run(vp_op_ctx *c);
int vp_cuda_rownorm_prepare(vp_op_ctx *c);
int vp_cuda_rownorm_run(vp_op_ctx *c);
int vp_cuda_lrn_prepare(vp_op_ctx *c);
int vp_cuda_lrn_run(vp_op_ctx *c);

/* Launchers of nn_pool.cu ------------------------------------------------ */

/* Window geometry of a pool over 1..3 spatial axes, padded to 3 axes with
 * leading unit axes (in = out = k = s = d = 1, pads 0). Taps of output o
 * along axis a are at o*s[a] - pb[a] + j*d[a], j in [0, k[a]). */
typedef struct vp_cuda_pool_args {
    int64_t planes;  /* N * C */
    int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
} vp_cuda_pool_args;

/* MaxPool for float, float16, double, int8, uint8. idx (NULL: not wanted) receives
 * the flat index into X of each maximum, its spatial part row-major, or
 * column-major when colmajor; -1 for a window without any tap in X. */
int vp_cuda_maxpool(cudaStream_t st, vp_dtype dt, const vp_cuda_pool_args *a, const void *x,
                    void *y, int64_t *idx, int colmajor);
/* AveragePool for float, float16, double: the mean over the taps inside X,
 * or with include_pad over the taps inside the padded extent [-pb, in + pe). */
int vp_cuda_avgpool(cudaStream_t st, vp_dtype dt, const vp_cuda_pool_args *a, const void *x,
                    void *y, int include_pad);
/* MaxPool (no indices) or AveragePool on channels-last tensors, float and
 * float16: X [planes = N, in..., ch], Y [N, out..., ch], the window
 * geometry of a (its planes is N, not N * C). */
int vp_cuda_pool_nhwc(cudaStream_t st, vp_dtype dt, const vp_cuda_pool_args *a, int64_t ch,
                      const void *x, void *y, int is_max, int include_pad);
/* Launchers of nn_reduce.cu ---------------------------------------------- */

/* Global pools for float, float16, double: one value per plane of sz
 * elements (the mean, or the maximum ignoring NaN). */
int vp_cuda_global_pool(cudaStream_t st, vp_dtype dt, int64_t planes, int64_t sz,
                        const void *x, void *y, int is_max);
/* The same on channels-last X [n, sz, ch] into Y [n, ch] (float, float16). */
int vp_cuda_global_pool_nhwc(cudaStream_t st, vp_dtype dt, int64_t n, int64_t sz, int64_t ch,
                             const void *x, void *y, int is_max);

/* BatchNormalization over X [n, ch, sp] (sp: product of the spatial axes);
 * scale, bias, mean, var are [ch] of X's type (float or double). ab is
 * device scratch of 2*ch doubles (the per-channel affine coefficients).
 * Inference uses mean/var; training uses the batch statistics and writes
 * the running estimates mean*momentum + batch*(1 - momentum) into run_mean /
 * run_var where those are not NULL. */
typedef struct vp_cuda_bn_args {
    int64_t n, ch, sp;
    double eps, momentum;
} vp_cuda_bn_args;
int vp_cuda_batchnorm(cudaStream_t st, vp_dtype dt, const vp_cuda_bn_args *a, const void *x,
                      void *y, const void *scale, const void *bias, const void *mean,
                      const void *var, double *ab, int training, void *run_mean,
                      void *run_var);

/* Where element j of row r finds its scale (or bias) value:
 *   VP_CUDA_PMAP_ROW:   (r % row_mod) * row_mul + (j / j_div) * j_mul
 *   VP_CUDA_PMAP_BCAST: sum over axes i of ((j / inner[i]) % dims[i]) * str[i]
 *                       (inner[i]: product of dims after i; str 0 on
 *                       broadcast axes) */
enum { VP_CUDA_PMAP_NONE = 0, VP_CUDA_PMAP_ROW, VP_CUDA_PMAP_BCAST };
typedef struct vp_cuda_pmap {
    int mode;
    int nd;
    int64_t row_mod, row_mul, j_div, j_mul;
    int64_t dims[VP_MAX_DIMS], inner[VP_MAX_DIMS], str[VP_MAX_DIMS];
} vp_cuda_pmap;

/* Normalisation of contiguous rows: for each of rows rows of len elements,
 * mean and biased variance (accumulated in double), then
 * y = (x - mean) / sqrt(var + eps) * scale + bias. bias may be absent
 * (map mode NONE, pointer NULL). mean_out / inv_out (one per row, of type
 * stat_dt: float or float16) may be NULL. LayerNormalization,
 * InstanceNormalization and GroupNormalization are all this kernel with
 * different maps. X, scale, bias, Y: float, float16 or double. */
typedef struct vp_cuda_rownorm_args {
    int64_t rows, len;
    double eps;
    vp_cuda_pmap scale, bias;
} vp_cuda_rownorm_args;
int vp_cuda_rownorm(cudaStream_t st, vp_dtype dt, const vp_cuda_rownorm_args *a, const void *x,
                    const void *scale, const void *bias, void *y, void *mean_out,
                    void *inv_out, vp_dtype stat_dt);

/* LRN across channels of X [n, ch, sp]. */
typedef struct vp_cuda_lrn_args {
    int64_t n, ch, sp, size;
    double alpha, beta, bias;
} vp_cuda_lrn_args;
int vp_cuda_lrn(cudaStream_t st, vp_dtype dt, const vp_cuda_lrn_args *a, const void *x,
                void *y);

/* Launchers of nn_util.cu ------------------------------------------------ */

/* Copy planes of up to 3 spatial axes between differently sized windows:
 * dst[p][i] = src[p][i - off] where 0 <= i - off < src dims on every axis,
 * else 0. Pads (off > 0, dst larger) or crops (off < 0, dst smaller).
 * esize: element size in bytes, 2, 4 or 8. */
typedef struct vp_cuda_window_args {
    int64_t planes;
    int64_t src[3], dst[3], off[3];
} vp_cuda_window_args;
int vp_cuda_window_copy(cudaStream_t st, size_t esize, const vp_cuda_window_args *a,
                        const void *src, void *dst);

/* dst[r, 0:cp] = src[r, 0:c] followed by zeros, for rows of 2-byte elements
 * (cp a multiple of 8, dst 16-byte aligned). */
int vp_cuda_pad_channels16(cudaStream_t st, int64_t rows, int c, int cp, const void *src, void *dst);

/* y[i, j] = c[i * cs0 + j * cs1] for a [m, n] float, float16 or double output (the
 * broadcast of Gemm's C; strides 0 on broadcast axes). */
int vp_cuda_fill_bcast2d(cudaStream_t st, vp_dtype dt, int64_t m, int64_t n, const void *c,
                         int64_t cs0, int64_t cs1, void *y);

/* Launchers of nn_conv_direct.cu ---------------------------------------- */

/* Direct 2-D convolution in FP32 arithmetic into an FP16 output, for the
 * first convolution of an FP16 plan: X float NHWC [N,H,W,C] (C <= 4,
 * dense), W float [O,kH,kW,C] (dense), B float [O] or NULL, Y half NHWC
 * [N,Ho,Wo,O] with pixels ypix elements apart:
 *   Y[((n*Ho + oh)*Wo + ow)*ypix + o] = act(B[o] + sum over c, ky, kx of
 *       X[n, oh*sh - pt + ky*dh, ow*sw - pl + kx*dw, c] * W[o,ky,kx,c]),
 * taps outside X zero, accumulated in float and rounded once. Y is written
 * with 16-byte stores where ypix % 8 == 0 and Y is 16-byte aligned. */
typedef struct vp_cuda_conv_direct_args {
    int64_t n, h, w, c;          /* X [N,H,W,C], C <= 4 */
    int64_t ho, wo, o;           /* Y [N,Ho,Wo,O] */
    int kh, kw, sh, sw, dh, dw;  /* kernel, strides, dilations */
    int pt, pl;                  /* leading pads (top, left) */
    int64_t ypix;                /* elements between Y's pixels (>= o) */
    int act;                     /* 0 none, 1 ReLU, 2 SiLU */
} vp_cuda_conv_direct_args;
/* Shared memory the launch needs for these args, bytes (for a prepare()-time
 * check); 0 if no tile fits in 48 KB, or the arguments are out of range
 * (C not 1..4, a kernel size, stride or dilation < 1, ypix < o, the grid
 * too large). */
size_t vp_cuda_conv_direct_smem(const vp_cuda_conv_direct_args *a);
/* VP_ERR_UNSUPPORTED where vp_cuda_conv_direct_smem() is 0 (and n, ho,
 * wo, o are not 0: then it returns VP_OK at once). */
int vp_cuda_conv_direct(cudaStream_t st, const vp_cuda_conv_direct_args *a, const float *x,
                        const float *w, const float *b, void *y);

#ifdef __cplusplus
}
#endif
#endif
