/*
 * Conv and ConvTranspose on the GPU through cuDNN's legacy convolution API
 * (NCHW tensors, as between all ops of the CUDA backend).
 *
 * prepare() does everything that is not per-run: the geometry
 * (vp_nn_conv_geom / vp_nn_convt_geom, as the CPU kernels and inference),
 * the descriptors, and one algorithm search (conv_choose(): measured with
 * cudnnFind*AlgorithmEx on temporary buffers, heuristics if that fails).
 * run() only enqueues cuDNN calls and the family's own kernels on the
 * engine's stream, so it can be captured into a CUDA graph.
 *
 * Geometry cuDNN cannot express directly:
 *   - 1-D convolutions run as 2-D ones with a leading unit axis;
 *   - cuDNN pads both ends of an axis equally. Conv with pads that differ
 *     copies X into scratch with the difference as explicit zeros (then
 *     min(begin, end) is cuDNN's symmetric pad). ConvTranspose computes a
 *     larger output into scratch with a symmetric pad and crops Y out of it
 *     (output_padding and SAME padding land here; the usual symmetric case
 *     with output_padding < stride writes Y directly).
 *
 * Post-ops (node->post[]: fused activations and residual Add, in order) are
 * applied exactly once:
 *   MODE_FUSED       cudnnConvolutionBiasActivationForward does all of it:
 *                    y = relu(conv + z + bias), when the chain is exactly
 *                    [Add]? then [Relu]? (2-D float only). Without ReLU
 *                    cuDNN requires the IMPLICIT_PRECOMP_GEMM algorithm, so
 *                    that case is taken only where that algorithm is about
 *                    as fast as the best.
 *   MODE_FUSED_BIAS  the same call with identity activation for conv + bias,
 *                    then vp_cuda_apply_postops() for the whole chain.
 *   MODE_PLAIN       cudnnConvolutionForward / BackwardData, bias through
 *                    cudnnAddTensor, then vp_cuda_apply_postops().
 * A fused mode is kept only if a trial call in prepare() succeeds.
 *
 * Precision: float32 convolutions use CUDNN_FMA_MATH. (CUDNN_DEFAULT_MATH
 * permits TF32 tensor cores on Ampere and later, which would leave the
 * 1e-5 agreement with the CPU.) Nondeterministic algorithms are skipped,
 * and in FP32 so are FFT and Winograd. Float16 convolutions run on tensor
 * cores (CUDNN_TENSOR_OP_MATH) with FP32 accumulation (the convolution's
 * compute type is float: cuDNN's PSEUDO_HALF_CONFIG).
 *
 * Layout: a node the plan made channels-last (node->layout, graph.h) has
 * X and Y as NHWC and W as [O,kH,kW,I]; the descriptors say so (NHWC
 * strides, CUDNN_TENSOR_NHWC filter) and cuDNN picks its NHWC kernels.
 * Channels-last FP16 nodes also get a cuDNN graph with every post-op
 * (nn_conv_graph.c), kept unless one legacy call does the whole node at
 * least as fast; and one with a channel count that is not a multiple of 8
 * is also prepared with X and W widened by zero channels, kept where that
 * is faster with its padding pass (conv_prepare()).
 * The planner gives that layout only to 2-D convolutions with symmetric
 * pads, so the padded copy of X never meets it.
 *
 * Channel slices (vp_kernel.cslice): a channels-last Conv's X, residual
 * addend and Y may be slices of a wider tensor's channels (the plan's
 * Concat in place). Only the cuDNN graph takes those (the legacy API finds
 * no algorithm for strided NHWC tensors), so such a node runs as an FP16
 * graph or fails to prepare with VP_ERR_UNSUPPORTED, and the plan is made
 * again without slices. The plan-cache key names the strides.
 *
 * FP32 first layer (vp_kernel.fp32_stem): in an FP16 plan, a channels-last
 * Conv with float32 X, W and B and a float16 Y (see vp_plan_precision) runs
 * the family's own direct convolution (nn_conv_direct.cu) in FP32, with
 * bias and a ReLU or SiLU fused; other post-ops follow through
 * vp_cuda_apply_postops(). No cuDNN call, no search.
 *
 * Workspace: the search runs with CONV_WS_LIMIT of the engine's shared
 * workspace (reserved by the first conv prepared), and run() uses
 * ctx->workspace as it is then. Shared scratch (c->scratch) holds the
 * padded X or the uncropped transposed output.
 */
#include "engine/cuda/nn.h"
#include "engine/ops/nn.h"
#include "base/log.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Largest workspace an algorithm may use (and that the search reserves). */
#define CONV_WS_LIMIT ((size_t)64 << 20)
/* An IMPLICIT_PRECOMP_GEMM run at most this much slower than the best
 * algorithm is still taken when it lets cuDNN fuse the bias (and the Add),
 * since that saves a pass over Y. */
#define CONV_FUSE_SLACK 1.10f

typedef enum { MODE_PLAIN, MODE_FUSED, MODE_FUSED_BIAS } conv_mode;

typedef struct conv_state {
    int transposed;
    vp_nn_geom g;
    vp_dtype dt;
    int nd;                  /* spatial axes given to cuDNN: 2 or 3 */
    int nhwc;                /* channels-last node (2-D Conv only) */
    int bias_in;             /* node input index of B, or -1 */
    int z_in;                /* MODE_FUSED: node input index of the Add's addend, or -1 */
    int relu;                /* MODE_FUSED: the chain ends with ReLU */
    conv_mode mode;
    /* Conv with asymmetric pads: X copied into scratch through xwin. */
    int pad_copy;
    vp_cuda_window_args xwin;
    /* ConvTranspose whose cuDNN output is not Y: computed into scratch,
     * Y cropped from it through ywin. */
    int crop;
    vp_cuda_window_args ywin;
    /* cuDNN's view: xd = conv input (Conv: X or padded X; ConvTranspose:
     * X as "dy"), yd = conv output (Conv: Y; ConvTranspose: "dx", Y or its
     * uncropped version), od = Y (for the bias), bd = bias [1, M, 1, 1(, 1)]. */
    cudnnTensorDescriptor_t xd, yd, od, bd;
    /* Channel slices: elements between pixels of X, Y and the addend (0: dense). */
    int64_t xpix, ypix, zpix;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnActivationDescriptor_t ad;
    cudnnConvolutionFwdAlgo_t fwd_algo;
    cudnnConvolutionBwdDataAlgo_t bwd_algo;
    size_t ws_bytes;         /* workspace the chosen algorithm needs */
    void *zero_bias;         /* fused modes without B: M zeros (device) */
    vp_conv_graph *graph;    /* channels-last FP16: conv + bias + post-ops in one cuDNN graph */
    /* Channels-last FP16 with C not a multiple of 8 (a network's first
     * layer: 3 channels): cuDNN's tensor-core kernels need C % 8 == 0, and
     * its other kernels can be an order of magnitude slower (DeepLabV3's
     * 7x7 stem) or about as fast (YOLO's 3x3 stem). Both are prepared and
     * timed; the padded one widens X to cpad channels with zeros into
     * scratch each run (W once, here) and is kept where that pays. */
    int cpad;                /* 0, or the padded channel count */
    void *wpad;              /* W [O, kH, kW, cpad] (device) */
    /* Measured on the search buffers (channels-last FP16 only; < 0 where
     * not measured), ms: the legacy cuDNN call in its mode, and whether
     * that call does the whole node (fused modes, or a plain conv without
     * bias or post-ops). The cuDNN graph is kept only where it is faster
     * than such a call. */
    float legacy_ms;
    int legacy_whole;
    size_t scratch_bytes;    /* what run() needs in c->scratch */
    /* FP32 first layer: the direct kernel's arguments; direct_post: the
     * post-op chain is not all fused into it */
    int direct, direct_post;
    vp_cuda_conv_direct_args da;
} conv_state;

void vp_cuda_conv_release(void *state)
{
    conv_state *st = state;
    if (!st)
        return;
    if (st->xd)
        cudnnDestroyTensorDescriptor(st->xd);
    if (st->yd)
        cudnnDestroyTensorDescriptor(st->yd);
    if (st->od)
        cudnnDestroyTensorDescriptor(st->od);
    if (st->bd)
        cudnnDestroyTensorDescriptor(st->bd);
    if (st->wd)
        cudnnDestroyFilterDescriptor(st->wd);
    if (st->cd)
        cudnnDestroyConvolutionDescriptor(st->cd);
    if (st->ad)
        cudnnDestroyActivationDescriptor(st->ad);
    if (st->zero_bias)
        cudaFree(st->zero_bias);
    if (st->wpad)
        cudaFree(st->wpad);
    vp_conv_graph_free(st->graph);
    free(st);
}

/* Element types: the one place that maps them to cuDNN's. */
static int conv_cudnn_type(vp_dtype dt, cudnnDataType_t *t)
{
    switch (dt) {
    case VP_DT_FLOAT: *t = CUDNN_DATA_FLOAT; return VP_OK;
    case VP_DT_FLOAT16: *t = CUDNN_DATA_HALF; return VP_OK;
    default: return VP_ERR_UNSUPPORTED;
    }
}

/* Math type of the convolution descriptor for X's type (see the header). */
static cudnnMathType_t conv_math_type(vp_dtype dt)
{
    return dt == VP_DT_FLOAT16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
}

/* A measured or proposed algorithm is acceptable for this precision. */
static int conv_algo_ok(vp_dtype dt, cudnnStatus_t status, size_t memory, cudnnDeterminism_t det,
                        cudnnMathType_t math)
{
    if (status != CUDNN_STATUS_SUCCESS || memory > CONV_WS_LIMIT || det != CUDNN_DETERMINISTIC)
        return 0;
    /* FP32 stays off tensor cores (TF32); FP16 may use them */
    return dt == VP_DT_FLOAT16 || (math != CUDNN_TENSOR_OP_MATH && math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION);
}

/* FP32 is the reference path: only algorithms that sum plain products.
 * FFT and Winograd transforms round differently (seen on the H100: an
 * output that is exactly 0 in ONNX's test_convtranspose_3d came out 8e-6). */
static int fwd_algo_exact(cudnnConvolutionFwdAlgo_t a)
{
    return a != CUDNN_CONVOLUTION_FWD_ALGO_FFT && a != CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING &&
           a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD && a != CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}

static int bwd_algo_exact(cudnnConvolutionBwdDataAlgo_t a)
{
    return a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT && a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING &&
           a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD && a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}

/* Dense NC[D]HW descriptor of nd + 2 dims (dims fit in int: checked);
 * nhwc: the same dims stored channels-last (nd == 2). */
static int set_tensor(cudnnTensorDescriptor_t d, cudnnDataType_t t, int nd, const int64_t *dims, int nhwc)
{
    int dim[VP_NN_MAX_SP + 2], str[VP_NN_MAX_SP + 2], acc = 1;
    for (int i = nd + 1; i >= 0; i--) {
        dim[i] = (int)dims[i];
        str[i] = acc;
        acc *= dim[i];
    }
    if (nhwc && nd == 2) {
        str[1] = 1;
        str[3] = dim[1];
        str[2] = dim[1] * dim[3];
        str[0] = dim[1] * dim[2] * dim[3];
    }
    VP_CUDNN(cudnnSetTensorNdDescriptor(d, t, nd + 2, dim, str));
    return VP_OK;
}

static int64_t prod(const int64_t *v, int n)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        p *= v[i];
    return p;
}

/* Geometry in cuDNN's terms ------------------------------------------------ */

/* cuDNN's dims: x (conv input), y (conv output), o (Y), w (filter), and
 * the symmetric pads. Spatial axes padded to nd (>= 2) with leading unit
 * axes. */
typedef struct conv_dims {
    int64_t x[VP_NN_MAX_SP + 2], y[VP_NN_MAX_SP + 2], o[VP_NN_MAX_SP + 2];
    int64_t w[VP_NN_MAX_SP + 2];
    int pad[VP_NN_MAX_SP], stride[VP_NN_MAX_SP], dil[VP_NN_MAX_SP];
} conv_dims;

/* Per spatial axis (i counts cuDNN's axes, a = i - lead the geometry's):
 * the geometry with unit axes in front. */
static void axis_geom(const vp_nn_geom *g, int lead, int i, int64_t *in, int64_t *out,
                      int64_t *k, int64_t *s, int64_t *d, int64_t *pb, int64_t *pe)
{
    int a = i - lead;
    if (a < 0) {
        *in = *out = *k = *s = *d = 1;
        *pb = *pe = 0;
        return;
    }
    *in = g->in[a];
    *out = g->out[a];
    *k = g->k[a];
    *s = g->stride[a];
    *d = g->dil[a];
    *pb = g->pad_b[a];
    *pe = g->pad_e[a];
}

static int fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

static int conv_layout(vp_op_ctx *c, conv_state *st, conv_dims *cd)
{
    const vp_nn_geom *g = &st->g;
    const vp_tensor *w = c->in[1];
    int nd = st->nd, lead = nd - g->nsp, ok = 1;
    memset(cd, 0, sizeof *cd);
    /* Conv: X -> Y. ConvTranspose: X is cuDNN's dy, Y (or its uncropped
     * version) its dx; W [C, M/g, k...] is the filter of the forward
     * convolution from Y to X, which cudnnConvolutionBackwardData takes,
     * just as Conv's W [M, C/g, k...] is. */
    cd->x[0] = cd->y[0] = cd->o[0] = g->n;
    cd->x[1] = g->cin;
    cd->y[1] = cd->o[1] = g->cout;
    /* W's first two dims in cuDNN's order (a channels-last W is [O,kH,kW,I]) */
    cd->w[0] = st->nhwc ? g->cout : w->shape.d[0];
    cd->w[1] = st->nhwc ? g->cin / g->group : w->shape.d[1];
    st->xwin.planes = g->n * g->cin;
    st->ywin.planes = g->n * g->cout;
    for (int i = 0; i < 3; i++) {
        st->xwin.src[i] = st->xwin.dst[i] = st->ywin.src[i] = st->ywin.dst[i] = 1;
        st->xwin.off[i] = st->ywin.off[i] = 0;
    }
    for (int i = 0; i < nd; i++) {
        int64_t in, out, k, s, d, pb, pe, p;
        axis_geom(g, lead, i, &in, &out, &k, &s, &d, &pb, &pe);
        int w3 = 3 - nd + i; /* the axis in the 3-axis window args */
        cd->w[2 + i] = k;
        if (!st->transposed) {
            /* Symmetric pad min(pb, pe); the rest explicitly in scratch. */
            p = pb < pe ? pb : pe;
            cd->x[2 + i] = in + (pb - p) + (pe - p);
            cd->y[2 + i] = cd->o[2 + i] = out;
            st->xwin.src[w3] = in;
            st->xwin.dst[w3] = cd->x[2 + i];
            st->xwin.off[w3] = pb - p;
            st->pad_copy |= pb != pe;
        } else {
            /* Full-output coordinates: the transposed convolution is
             * nonzero on [0, full), full = s*(in-1) + kext; Y is rows
             * [pb, pb + out) of it (pe = pads_end - output_padding, so
             * out = full - pb - pe; rows outside [0, full) are 0 + B).
             * cuDNN computes dx of h rows at [P, P + h) with symmetric pad
             * P >= 0 and needs floor((h + 2P - kext) / s) + 1 == in, i.e.
             * h in [full - 2P, full - 2P + s - 1]. The rows Y needs inside
             * [0, full), [lo, hi), must lie in [P, P + h): the largest P
             * allowed does that; Y is then cropped (or, where it reaches
             * outside [0, full), padded with zeros) from dx. */
            int64_t kext = (k - 1) * d + 1, full = s * (in - 1) + kext;
            int64_t lo = pb > 0 ? pb : 0, hi = pb + out < full ? pb + out : full;
            p = lo < full + s - 1 - hi ? lo : full + s - 1 - hi;
            if (p < 0)
                p = 0;
            int64_t h = hi - p > full - 2 * p ? hi - p : full - 2 * p;
            if (hi <= lo) { /* Y lies outside [0, full): all zeros (+ B) */
                p = 0;
                h = full;
            }
            if (h > full - 2 * p + s - 1 || h < 1 || p > lo || p + h < hi)
                return vp_op_fail(c, VP_ERR_UNSUPPORTED, "ConvTranspose spatial axis %d: "
                                  "pads %lld+%lld (after output_padding) cannot be expressed "
                                  "with cuDNN", i - lead, (long long)pb, (long long)pe);
            cd->x[2 + i] = in;
            cd->y[2 + i] = h;
            cd->o[2 + i] = out;
            st->ywin.src[w3] = h;
            st->ywin.dst[w3] = out;
            st->ywin.off[w3] = p - pb;
            st->crop |= h != out || pb != p;
        }
        ok &= fits_int(p) && fits_int(s) && s >= 1 && fits_int(d) && d >= 1;
        cd->pad[i] = (int)p;
        cd->stride[i] = (int)s;
        cd->dil[i] = (int)d;
    }
    /* cuDNN's legacy API counts elements and strides in int. */
    ok &= fits_int(prod(cd->x, nd + 2)) && fits_int(prod(cd->y, nd + 2)) &&
          fits_int(prod(cd->o, nd + 2)) && fits_int(prod(cd->w, nd + 2));
    if (!ok)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "%s geometry out of cuDNN's range (int)",
                          c->node->op_type);
    return VP_OK;
}

/* Descriptors for the layout; checks that cuDNN's own output size agrees. */
static int conv_descriptors(vp_op_ctx *c, conv_state *st, const conv_dims *cd)
{
    cudnnDataType_t t;
    int rc, nd = st->nd, dims[VP_NN_MAX_SP + 2], wdim[VP_NN_MAX_SP + 2];
    if ((rc = conv_cudnn_type(st->dt, &t)) != VP_OK)
        return vp_op_fail(c, rc, "%s: %s is not supported on CUDA", c->node->op_type,
                          vp_dtype_name(st->dt));
    VP_CUDNN(cudnnCreateTensorDescriptor(&st->xd));
    VP_CUDNN(cudnnCreateTensorDescriptor(&st->yd));
    VP_CUDNN(cudnnCreateTensorDescriptor(&st->od));
    VP_CUDNN(cudnnCreateTensorDescriptor(&st->bd));
    VP_CUDNN(cudnnCreateFilterDescriptor(&st->wd));
    VP_CUDNN(cudnnCreateConvolutionDescriptor(&st->cd));
    VP_CUDNN(cudnnCreateActivationDescriptor(&st->ad));
    if ((rc = set_tensor(st->xd, t, nd, cd->x, st->nhwc)) != VP_OK ||
        (rc = set_tensor(st->yd, t, nd, cd->y, st->nhwc)) != VP_OK ||
        (rc = set_tensor(st->od, t, nd, cd->o, st->nhwc)) != VP_OK)
        return rc;
    int64_t bdims[VP_NN_MAX_SP + 2] = {0};
    for (int i = 0; i < nd + 2; i++)
        bdims[i] = i == 1 ? st->g.cout : 1;
    if ((rc = set_tensor(st->bd, t, nd, bdims, 0)) != VP_OK)
        return rc;
    for (int i = 0; i < nd + 2; i++)
        wdim[i] = (int)cd->w[i];
    VP_CUDNN(cudnnSetFilterNdDescriptor(st->wd, t, st->nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
                                        nd + 2, wdim));
    /* FP16 data, FP32 accumulation */
    VP_CUDNN(cudnnSetConvolutionNdDescriptor(st->cd, nd, cd->pad, cd->stride, cd->dil,
                                             CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    VP_CUDNN(cudnnSetConvolutionGroupCount(st->cd, (int)st->g.group));
    VP_CUDNN(cudnnSetConvolutionMathType(st->cd, conv_math_type(st->dt)));
    /* Forward output of the conv input (Conv) or of dx (ConvTranspose)
     * must be the other side. */
    VP_CUDNN(cudnnGetConvolutionNdForwardOutputDim(st->cd, st->transposed ? st->yd : st->xd,
                                                   st->wd, nd + 2, dims));
    const int64_t *want = st->transposed ? cd->x : cd->y;
    for (int i = 0; i < nd + 2; i++)
        if (dims[i] != want[i])
            return vp_op_fail(c, VP_ERR_INTERNAL, "cuDNN computes %s output dim %d = %d, the "
                              "geometry says %lld", c->node->op_type, i, dims[i],
                              (long long)want[i]);
    return VP_OK;
}

/* Post-op chain ---------------------------------------------------------------- */

/* The chain is [Add]? then [ReLU]?: cuDNN's y = act(conv + z + bias).
 * Sets *z_in (-1 without Add) and *relu. */
static int chain_is_cudnn(const vp_node *n, int *z_in, int *relu)
{
    int k = 0;
    *z_in = -1;
    *relu = 0;
    if (k < n->n_post && n->post[k].kind == VP_POST_ADD)
        *z_in = n->post[k++].input;
    if (k < n->n_post && n->post[k].kind == VP_POST_ACT && n->post[k].act == VP_ACT_RELU) {
        *relu = 1;
        k++;
    }
    return k == n->n_post;
}

/* Algorithm choice ------------------------------------------------------------- */

/* Temporary device buffers for the search and the trial of a fused call. */
typedef struct conv_tmp {
    void *mem;
    void *x, *y, *z, *w, *b;
} conv_tmp;

static int tmp_alloc(vp_op_ctx *c, conv_state *st, const conv_dims *cd, conv_tmp *t)
{
    vp_cuda_ctx *ctx = c->dev;
    size_t es = vp_dtype_size(st->dt), a = 256;
    size_t xb = ((size_t)prod(cd->x, st->nd + 2) * es + a - 1) / a * a;
    size_t yb = ((size_t)prod(cd->y, st->nd + 2) * es + a - 1) / a * a;
    size_t wb = c->in_const[1] ? 0 : ((size_t)prod(cd->w, st->nd + 2) * es + a - 1) / a * a;
    size_t bb = ((size_t)st->g.cout * es + a - 1) / a * a;
    size_t zb = st->transposed ? 0 : yb, total = xb + yb + zb + wb + bb;
    memset(t, 0, sizeof *t);
    VP_CUDA(cudaMalloc(&t->mem, total));
    cudaError_t e = cudaMemsetAsync(t->mem, 0, total, ctx->stream);
    if (e != cudaSuccess) {
        cudaFree(t->mem);
        return vp_cuda_fail("CUDA", "cudaMemsetAsync (conv search buffers)", (int)e,
                            cudaGetErrorName(e), __FILE__, __LINE__);
    }
    char *m = t->mem;
    t->x = m;
    t->y = m + xb;
    t->z = m + xb + yb;
    t->w = wb ? m + xb + yb + zb : st->wpad ? st->wpad : c->in[1]->data;
    t->b = m + xb + yb + zb + wb;
    return VP_OK;
}

/* Measured forward algorithms (heuristics if the search fails): best[0] is
 * the fastest acceptable one, ipg the IMPLICIT_PRECOMP_GEMM entry (found:
 * *has_ipg). */
static int search_fwd(vp_op_ctx *c, conv_state *st, const conv_tmp *t,
                      cudnnConvolutionFwdAlgoPerf_t *best, cudnnConvolutionFwdAlgoPerf_t *ipg,
                      int *has_ipg)
{
    vp_cuda_ctx *ctx = c->dev;
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0, found = 0;
    *has_ipg = 0;
    cudnnStatus_t s = cudnnFindConvolutionForwardAlgorithmEx(
        ctx->cudnn, st->xd, t->x, st->wd, t->w, st->cd, st->yd, t->y,
        CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf, ctx->workspace, CONV_WS_LIMIT);
    if (s != CUDNN_STATUS_SUCCESS) {
        VP_LOGD("%s %s: cudnnFindConvolutionForwardAlgorithmEx: %s; using heuristics",
                c->node->op_type, c->node->name, cudnnGetErrorString(s));
        VP_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(ctx->cudnn, st->xd, st->wd, st->cd,
                                                        st->yd, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                        &n, perf));
    }
    for (int i = 0; i < n; i++) {
        if (!conv_algo_ok(st->dt, perf[i].status, perf[i].memory, perf[i].determinism, perf[i].mathType) ||
            (st->dt == VP_DT_FLOAT && !fwd_algo_exact(perf[i].algo)))
            continue;
        if (!found) {
            *best = perf[i];
            found = 1;
        }
        if (perf[i].algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM && !*has_ipg) {
            *ipg = perf[i];
            *has_ipg = 1;
        }
    }
    if (!found)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "cuDNN has no deterministic FMA algorithm "
                          "for this Conv within %zu MiB of workspace", CONV_WS_LIMIT >> 20);
    return VP_OK;
}

static int search_bwd(vp_op_ctx *c, conv_state *st, const conv_tmp *t,
                      cudnnConvolutionBwdDataAlgoPerf_t *best)
{
    vp_cuda_ctx *ctx = c->dev;
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    cudnnStatus_t s = cudnnFindConvolutionBackwardDataAlgorithmEx(
        ctx->cudnn, st->wd, t->w, st->xd, t->x, st->cd, st->yd, t->y,
        CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf, ctx->workspace, CONV_WS_LIMIT);
    if (s != CUDNN_STATUS_SUCCESS) {
        VP_LOGD("%s %s: cudnnFindConvolutionBackwardDataAlgorithmEx: %s; using heuristics",
                c->node->op_type, c->node->name, cudnnGetErrorString(s));
        VP_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(
            ctx->cudnn, st->wd, st->xd, st->cd, st->yd, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
            &n, perf));
    }
    for (int i = 0; i < n; i++)
        if (conv_algo_ok(st->dt, perf[i].status, perf[i].memory, perf[i].determinism,
                         perf[i].mathType) && (st->dt != VP_DT_FLOAT || bwd_algo_exact(perf[i].algo))) {
            *best = perf[i];
            return VP_OK;
        }
    return vp_op_fail(c, VP_ERR_UNSUPPORTED, "cuDNN has no deterministic FMA algorithm for "
                      "this ConvTranspose within %zu MiB of workspace", CONV_WS_LIMIT >> 20);
}

/* One cudnnConvolutionBiasActivationForward on the temporary buffers, to
 * learn whether cuDNN accepts the fused mode. */
static cudnnStatus_t trial_fused(vp_op_ctx *c, conv_state *st, const conv_tmp *t)
{
    vp_cuda_ctx *ctx = c->dev;
    float one = 1.f, a2 = st->z_in >= 0 ? 1.f : 0.f;
    cudnnStatus_t s = cudnnConvolutionBiasActivationForward(
        ctx->cudnn, &one, st->xd, t->x, st->wd, t->w, st->cd, st->fwd_algo, ctx->workspace,
        ctx->workspace_bytes, &a2, st->yd, t->z, st->bd, t->b, st->ad, st->yd, t->y);
    if (s == CUDNN_STATUS_SUCCESS && cudaStreamSynchronize(ctx->stream) != cudaSuccess)
        s = CUDNN_STATUS_EXECUTION_FAILED;
    return s;
}

/* One legacy call of the node (st->mode fused: cudnnConvolutionBiasActivationForward;
 * plain: cudnnConvolutionForward) on the temporary buffers, for
 * vp_cuda_time_calls. */
typedef struct legacy_call {
    vp_op_ctx *c;
    conv_state *st;
    const conv_tmp *t;
} legacy_call;

static int legacy_enqueue(void *arg)
{
    const legacy_call *l = arg;
    vp_cuda_ctx *ctx = l->c->dev;
    const conv_state *st = l->st;
    const conv_tmp *t = l->t;
    float one = 1.f, zero = 0.f, a2 = st->z_in >= 0 ? 1.f : 0.f;
    cudnnStatus_t s = st->mode == MODE_PLAIN
        ? cudnnConvolutionForward(ctx->cudnn, &one, st->xd, t->x, st->wd, t->w, st->cd, st->fwd_algo,
                                  ctx->workspace, ctx->workspace_bytes, &zero, st->yd, t->y)
        : cudnnConvolutionBiasActivationForward(ctx->cudnn, &one, st->xd, t->x, st->wd, t->w, st->cd,
                                                st->fwd_algo, ctx->workspace, ctx->workspace_bytes, &a2,
                                                st->yd, t->z, st->bd, t->b, st->ad, st->yd, t->y);
    return s != CUDNN_STATUS_SUCCESS;
}

/* Mean time of that call, ms; < 0 if it fails. key: the convolution's
 * plan-cache key (conv_key). */
static float time_legacy(vp_op_ctx *c, conv_state *st, const conv_tmp *t, const char *key)
{
    legacy_call l = {c, st, t};
    char k[560];
    int n = snprintf(k, sizeof k, "%d/%d/%d,%s", (int)st->mode, (int)st->fwd_algo, st->z_in >= 0, key);
    return vp_cuda_time_cached(c->dev, "legacy", n > 0 && (size_t)n < sizeof k ? k : NULL, legacy_enqueue, &l, 1, 3);
}

/* Plan-cache key of a convolution: everything the algorithm search sees. */
static void conv_key(const conv_state *st, const conv_dims *cd, char *key, size_t len)
{
    int n = snprintf(key, len, "%s,%s,%s,g%lld", st->transposed ? "bwd" : "fwd", vp_dtype_name(st->dt),
                     st->nhwc ? "nhwc" : "nchw", (long long)st->g.group);
    const int64_t *arr[4] = {cd->x, cd->w, cd->y, NULL};
    for (int a = 0; arr[a] && n > 0 && (size_t)n < len; a++)
        for (int i = 0; i < st->nd + 2 && (size_t)n < len; i++)
            n += snprintf(key + n, len - (size_t)n, "%c%lld", i ? 'x' : ',', (long long)arr[a][i]);
    for (int i = 0; i < st->nd && n > 0 && (size_t)n < len; i++)
        n += snprintf(key + n, len - (size_t)n, ",p%ds%dd%d", cd->pad[i], cd->stride[i], cd->dil[i]);
    if ((st->xpix || st->ypix || st->zpix) && n > 0 && (size_t)n < len)
        snprintf(key + n, len - (size_t)n, ",pix%lld/%lld/%lld", (long long)st->xpix, (long long)st->ypix,
                 (long long)st->zpix);
}

/* The one place that decides how a convolution runs: algorithm, fused
 * mode, workspace. (A later FP16 / NHWC step extends this: math type and
 * tensor formats come from conv_math_type() and the descriptors.) */
static int conv_choose(vp_op_ctx *c, conv_state *st, const conv_dims *cd)
{
    vp_cuda_ctx *ctx = c->dev;
    conv_tmp t;
    int rc;
    if ((rc = vp_cuda_workspace(ctx, CONV_WS_LIMIT)) != VP_OK)
        return rc;
    if ((rc = tmp_alloc(c, st, cd, &t)) != VP_OK)
        return rc;
    st->mode = MODE_PLAIN;
    char key[512];
    long cv[6];
    conv_key(st, cd, key, sizeof key);
    if (st->transposed) {
        cudnnConvolutionBwdDataAlgoPerf_t best;
        memset(&best, 0, sizeof best);
        size_t ws;
        if (vp_cuda_cache_get(ctx, key, cv, 2) && cv[1] >= 0 && (size_t)cv[1] <= CONV_WS_LIMIT &&
            cudnnGetConvolutionBackwardDataWorkspaceSize(ctx->cudnn, st->wd, st->xd, st->cd, st->yd,
                                                         (cudnnConvolutionBwdDataAlgo_t)cv[0], &ws) ==
                CUDNN_STATUS_SUCCESS) {
            best.algo = (cudnnConvolutionBwdDataAlgo_t)cv[0];
            best.memory = (size_t)cv[1];
        } else if ((rc = search_bwd(c, st, &t, &best)) == VP_OK) {
            cv[0] = best.algo;
            cv[1] = (long)best.memory;
            vp_cuda_cache_put(ctx, key, cv, 2);
        }
        if (rc == VP_OK) {
            st->bwd_algo = best.algo;
            st->ws_bytes = best.memory;
        }
    } else {
        cudnnConvolutionFwdAlgoPerf_t best, ipg;
        int has_ipg = 0, cudnn_chain, z_in, relu;
        memset(&best, 0, sizeof best);
        memset(&ipg, 0, sizeof ipg);
        int ipg_ok = 0;
        size_t ws;
        if (vp_cuda_cache_get(ctx, key, cv, 6) && cv[1] >= 0 && (size_t)cv[1] <= CONV_WS_LIMIT && cv[4] >= 0 &&
            (size_t)cv[4] <= CONV_WS_LIMIT &&
            cudnnGetConvolutionForwardWorkspaceSize(ctx->cudnn, st->xd, st->wd, st->cd, st->yd,
                                                    (cudnnConvolutionFwdAlgo_t)cv[0], &ws) == CUDNN_STATUS_SUCCESS) {
            best.algo = (cudnnConvolutionFwdAlgo_t)cv[0];
            best.memory = (size_t)cv[1];
            has_ipg = cv[2] != 0;
            ipg.algo = (cudnnConvolutionFwdAlgo_t)cv[3];
            ipg.memory = (size_t)cv[4];
            ipg_ok = cv[5] != 0;
        } else if ((rc = search_fwd(c, st, &t, &best, &ipg, &has_ipg)) == VP_OK) {
            ipg_ok = has_ipg && ipg.time <= best.time * CONV_FUSE_SLACK;
            long v[6] = {best.algo, (long)best.memory, has_ipg, ipg.algo, (long)ipg.memory, ipg_ok};
            vp_cuda_cache_put(ctx, key, v, 6);
        }
        if (rc == VP_OK) {
            st->fwd_algo = best.algo;
            st->ws_bytes = best.memory;
            cudnn_chain = chain_is_cudnn(c->node, &z_in, &relu);
            int fusable = st->nd == 2 && (st->dt == VP_DT_FLOAT || st->dt == VP_DT_FLOAT16);
            conv_mode want = MODE_PLAIN;
            if (fusable && cudnn_chain && relu)
                want = MODE_FUSED;
            else if (fusable && ipg_ok && cudnn_chain && (st->bias_in >= 0 || z_in >= 0))
                want = MODE_FUSED;
            else if (fusable && ipg_ok && !cudnn_chain && st->bias_in >= 0)
                want = MODE_FUSED_BIAS;
            if (want != MODE_PLAIN) {
                st->mode = want;
                st->z_in = want == MODE_FUSED ? z_in : -1;
                st->relu = want == MODE_FUSED && relu;
                if (!st->relu) {
                    st->fwd_algo = ipg.algo;
                    st->ws_bytes = ipg.memory;
                }
                cudnnStatus_t s = cudnnSetActivationDescriptor(
                    st->ad, st->relu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
                    CUDNN_NOT_PROPAGATE_NAN, 0.0);
                if (s == CUDNN_STATUS_SUCCESS)
                    s = trial_fused(c, st, &t);
                if (s != CUDNN_STATUS_SUCCESS) {
                    VP_LOGD("%s %s: cuDNN declined the fused call (%s); unfused",
                            c->node->op_type, c->node->name, cudnnGetErrorString(s));
                    (void)cudaGetLastError();
                    st->mode = MODE_PLAIN;
                    st->z_in = -1;
                    st->relu = 0;
                    st->fwd_algo = best.algo;
                    st->ws_bytes = best.memory;
                }
            }
            /* the legacy call's time, for the graph (where the call does
             * the whole node) and the padded variant to beat */
            if (st->nhwc && st->dt == VP_DT_FLOAT16) {
                st->legacy_ms = time_legacy(c, st, &t, key);
                st->legacy_whole = st->mode == MODE_FUSED ||
                                   (st->mode == MODE_PLAIN && st->bias_in < 0 && !c->node->n_post);
            }
        }
    }
    cudaError_t e = cudaStreamSynchronize(ctx->stream);
    cudaFree(t.mem);
    if (rc != VP_OK)
        return rc;
    if (e != cudaSuccess)
        return vp_cuda_fail("CUDA", "cudaStreamSynchronize (conv search)", (int)e,
                            cudaGetErrorName(e), __FILE__, __LINE__);
    if (st->mode != MODE_PLAIN && st->bias_in < 0) {
        size_t bytes = (size_t)st->g.cout * vp_dtype_size(st->dt);
        VP_CUDA(cudaMalloc(&st->zero_bias, bytes));
        VP_CUDA(cudaMemsetAsync(st->zero_bias, 0, bytes, ctx->stream));
    }
    return vp_cuda_workspace(ctx, st->ws_bytes);
}

/* Prepare ---------------------------------------------------------------------- */

/* Channels-last FP16 Conv whose channels can be padded (see cpad). */
static int conv_paddable(const vp_op_ctx *c, const conv_state *st)
{
    return st->nhwc && st->dt == VP_DT_FLOAT16 && !st->transposed && st->g.group == 1 && st->g.cin % 8 &&
           c->in_const[1] && c->in[1]->data;
}

/* pad: widen the channels (conv_paddable). */
static int conv_setup(vp_op_ctx *c, conv_state *st, int pad)
{
    conv_dims cd;
    int rc = st->transposed ? vp_nn_convt_geom(c, &st->g) : vp_nn_conv_geom(c, &st->g);
    if (rc != VP_OK)
        return rc;
    st->dt = c->in[0]->dtype;
    st->nd = st->g.nsp < 2 ? 2 : st->g.nsp;
    st->nhwc = c->node->layout == VP_LAYOUT_NHWC;
    if (st->nhwc && (st->transposed || st->g.nsp != 2))
        return vp_op_fail(c, VP_ERR_INTERNAL, "channels-last %s must be 2-D Conv", c->node->op_type);
    st->z_in = -1;
    /* B is input 2 (a fused residual addend comes after it: passes.c keeps the slot) */
    st->bias_in = c->n_in > 2 && c->in[2] ? 2 : -1;
    for (int k = 0; k < c->node->n_post; k++)
        if (c->node->post[k].kind == VP_POST_ADD &&
            (c->node->post[k].input >= c->n_in || !c->in[c->node->post[k].input]))
            return vp_op_fail(c, VP_ERR_INTERNAL, "post-op Add reads missing input %d",
                              c->node->post[k].input);
    if ((rc = conv_layout(c, st, &cd)) != VP_OK)
        return rc;
    if (st->nhwc && c->in_pix) {
        st->xpix = pad ? 0 : c->in_pix[0]; /* a padded X is dense scratch */
        st->ypix = c->out_pix[0];
        for (int k = 0; k < c->node->n_post && !st->zpix; k++) /* a residual addend's (the first sliced one) */
            if (c->node->post[k].kind == VP_POST_ADD)
                st->zpix = c->in_pix[c->node->post[k].input];
    }
    if (st->nhwc && st->pad_copy)
        return vp_op_fail(c, VP_ERR_INTERNAL, "channels-last Conv with asymmetric pads");
    st->legacy_ms = -1.f;
    if (pad && conv_paddable(c, st)) {
        int64_t rows = cd.w[0] * cd.w[2] * cd.w[3];
        st->cpad = (int)((st->g.cin + 7) / 8 * 8);
        cd.x[1] = cd.w[1] = st->cpad;
        VP_CUDA(cudaMalloc(&st->wpad, (size_t)(rows * st->cpad) * 2));
        if ((rc = vp_cuda_pad_channels16(((vp_cuda_ctx *)c->dev)->stream, rows, (int)st->g.cin, st->cpad, c->in[1]->data,
                                         st->wpad)) != VP_OK)
            return rc;
    }
    int sliced = st->xpix || st->ypix || st->zpix;
    if (sliced && st->dt != VP_DT_FLOAT16)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "channel slices need the FP16 cuDNN graph");
    if ((rc = conv_descriptors(c, st, &cd)) != VP_OK || (!sliced && (rc = conv_choose(c, st, &cd)) != VP_OK))
        return rc;
    if (st->nhwc && st->dt == VP_DT_FLOAT16) {
        /* the whole post-op chain in one cuDNN graph where it builds */
        vp_conv_graph_geom gg;
        char key[560];
        memset(&gg, 0, sizeof gg);
        for (int i = 0; i < 4; i++) {
            gg.x[i] = cd.x[i];
            gg.y[i] = cd.y[i];
        }
        for (int i = 0; i < 2; i++) {
            gg.k[i] = cd.w[2 + i];
            gg.pad[i] = cd.pad[i];
            gg.stride[i] = cd.stride[i];
            gg.dil[i] = cd.dil[i];
        }
        gg.group = st->g.group;
        gg.bias_in = st->bias_in;
        gg.xpix = st->xpix;
        gg.ypix = st->ypix;
        gg.in_pix = c->in_pix;
        int n = snprintf(key, sizeof key, "graph%d,", c->node->n_post);
        for (int k = 0; k < c->node->n_post && n < (int)sizeof key - 8; k++)
            n += snprintf(key + n, sizeof key - (size_t)n, "%d%d", c->node->post[k].kind, (int)c->node->post[k].act);
        conv_key(st, &cd, key + n, sizeof key - (size_t)n);
        if (vp_conv_graph_build(c, &gg, key, &st->graph) != VP_OK)
            st->graph = NULL;
        if (st->graph && st->legacy_whole && st->legacy_ms >= 0 && st->legacy_ms <= vp_conv_graph_ms(st->graph)) {
            VP_LOGD("%s %s: legacy call %.3f ms, cuDNN graph %.3f ms: legacy kept", c->node->op_type,
                    c->node->name, st->legacy_ms, vp_conv_graph_ms(st->graph));
            vp_conv_graph_free(st->graph);
            st->graph = NULL;
        }
    }
    if (sliced && !st->graph)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "cuDNN has no graph engine for this Conv on channel slices");
    size_t es = vp_dtype_size(st->dt);
    if (st->pad_copy || st->cpad)
        st->scratch_bytes = (size_t)prod(cd.x, st->nd + 2) * es;
    if (st->crop)
        st->scratch_bytes = (size_t)prod(cd.y, st->nd + 2) * es;
    VP_LOGD("%s %s: cuDNN %s algo %d, %s, workspace %zu%s%s%s", c->node->op_type, c->node->name,
            st->transposed ? "bwd-data" : "fwd",
            st->transposed ? (int)st->bwd_algo : (int)st->fwd_algo,
            st->mode == MODE_FUSED ? "bias/add/act fused" :
            st->mode == MODE_FUSED_BIAS ? "bias fused" : "unfused", st->ws_bytes,
            st->pad_copy ? ", padded copy of X" : st->crop ? ", cropped output" : "",
            st->cpad ? ", channels padded with zeros" : "",
            st->graph ? "; cuDNN graph with every post-op" : "");
    return VP_OK;
}

/* Measured time of one run of the convolution itself, ms (< 0: unknown). */
static float conv_ms(const conv_state *st)
{
    return st->graph ? vp_conv_graph_ms(st->graph) : st->legacy_ms;
}

/* The channel padding of X (rows of cin -> cpad) from src to dst, for
 * vp_cuda_time_calls. */
typedef struct pad_call {
    cudaStream_t stream;
    int64_t rows;
    int c, cp;
    const void *src;
    void *dst;
} pad_call;

static int pad_enqueue(void *arg)
{
    const pad_call *q = arg;
    return vp_cuda_pad_channels16(q->stream, q->rows, q->c, q->cp, q->src, q->dst) != VP_OK;
}

/* Mean time of that padding on temporary buffers, ms; < 0 if it fails. */
static float time_pad(vp_op_ctx *c, const conv_state *st)
{
    vp_cuda_ctx *ctx = c->dev;
    int64_t rows = vp_tensor_numel(c->in[0]) / st->g.cin;
    size_t src = ((size_t)(rows * st->g.cin) * 2 + 255) / 256 * 256;
    void *mem = NULL;
    float ms = -1.f;
    if (cudaMalloc(&mem, src + (size_t)(rows * st->cpad) * 2) == cudaSuccess &&
        cudaMemsetAsync(mem, 0, src, ctx->stream) == cudaSuccess) {
        pad_call q = {ctx->stream, rows, (int)st->g.cin, st->cpad, mem, (char *)mem + src};
        char key[64];
        snprintf(key, sizeof key, "%lldx%d/%d", (long long)rows, (int)st->g.cin, st->cpad);
        ms = vp_cuda_time_cached(ctx, "pad", key, pad_enqueue, &q, 1, 3);
    }
    if (mem) {
        cudaStreamSynchronize(ctx->stream);
        cudaFree(mem);
    }
    (void)cudaGetLastError();
    return ms;
}

/* The FP32 first layer (see the top of the file). */
static int direct_prepare(vp_op_ctx *c, conv_state *st)
{
    vp_nn_geom *g = &st->g;
    int rc = vp_nn_conv_geom(c, g);
    if (rc != VP_OK)
        return rc;
    const vp_tensor *w = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    if (c->node->layout != VP_LAYOUT_NHWC || g->nsp != 2 || g->group != 1 || g->cin > 4 || w->dtype != VP_DT_FLOAT ||
        (b && b->dtype != VP_DT_FLOAT) || w->shape.rank != 4)
        return vp_op_fail(c, VP_ERR_INTERNAL, "Conv with float32 X and float16 Y must be a channels-last first "
                          "layer with float32 W and B, at most 4 channels, group 1");
    if (c->in_pix && c->in_pix[0])
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "the FP32 first layer reads no channel slice");
    vp_cuda_conv_direct_args *a = &st->da;
    a->n = g->n;
    a->h = g->in[0];
    a->w = g->in[1];
    a->c = g->cin;
    a->ho = g->out[0];
    a->wo = g->out[1];
    a->o = g->cout;
    a->kh = (int)g->k[0];
    a->kw = (int)g->k[1];
    a->sh = (int)g->stride[0];
    a->sw = (int)g->stride[1];
    a->dh = (int)g->dil[0];
    a->dw = (int)g->dil[1];
    a->pt = (int)g->pad_b[0];
    a->pl = (int)g->pad_b[1];
    a->ypix = c->out_pix && c->out_pix[0] ? c->out_pix[0] : g->cout;
    const vp_postop *po = c->node->post;
    int np = c->node->n_post;
    a->act = 0;
    if (np == 1 && po[0].kind == VP_POST_ACT && (po[0].act == VP_ACT_RELU || po[0].act == VP_ACT_SILU))
        a->act = po[0].act == VP_ACT_RELU ? 1 : 2;
    st->direct_post = np > 0 && !a->act;
    if (st->direct_post && a->ypix != g->cout)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "the FP32 first layer writes a channel slice only with "
                          "its post-ops fused");
    if (g->k[0] > INT_MAX || g->k[1] > INT_MAX || g->pad_b[0] > INT_MAX || g->pad_b[1] > INT_MAX ||
        vp_cuda_conv_direct_smem(a) == 0)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "Conv %lldx%lld on %lld channels is too large for the FP32 "
                          "first-layer kernel", (long long)g->k[0], (long long)g->k[1], (long long)g->cin);
    st->direct = 1;
    VP_LOGD("Conv %s: FP32 first layer, direct kernel (%lldx%lld, stride %d, %lld -> %lld channels%s)",
            c->node->name, (long long)g->k[0], (long long)g->k[1], a->sh, (long long)g->cin,
            (long long)g->cout, a->act == 1 ? ", ReLU fused" : a->act == 2 ? ", SiLU fused" : "");
    return VP_OK;
}

static int conv_prepare(vp_op_ctx *c, int transposed)
{
    cudnnDataType_t t;
    if (!transposed && c->in[0]->dtype == VP_DT_FLOAT && c->out[0]->dtype == VP_DT_FLOAT16) {
        conv_state *st = calloc(1, sizeof *st);
        if (!st)
            return VP_ERR_NOMEM;
        int rc = direct_prepare(c, st);
        if (rc != VP_OK) {
            vp_cuda_conv_release(st);
            return rc;
        }
        c->state = st;
        return VP_OK;
    }
    if (conv_cudnn_type(c->in[0]->dtype, &t) != VP_OK)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s does not support %s",
                          c->node->op_type, vp_dtype_name(c->in[0]->dtype));
    conv_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    st->transposed = transposed;
    int rc = conv_setup(c, st, 0);
    if (rc == VP_OK && conv_paddable(c, st) && conv_ms(st) >= 0) {
        /* the channel-padded variant, kept where it is faster with its pass over X */
        conv_state *sp = calloc(1, sizeof *sp);
        if (!sp) {
            vp_cuda_conv_release(st);
            return VP_ERR_NOMEM;
        }
        float pad_ms = -1.f, ms = -1.f;
        if (conv_setup(c, sp, 1) == VP_OK && (ms = conv_ms(sp)) >= 0 && (pad_ms = time_pad(c, sp)) >= 0 &&
            ms + pad_ms < conv_ms(st)) {
            conv_state *tmp = st;
            st = sp;
            sp = tmp;
        }
        VP_LOGD("%s %s: %d channels %.3f ms; padded to %d, %.3f + %.3f ms: %s", c->node->op_type, c->node->name,
                (int)sp->g.cin, conv_ms(st->cpad ? sp : st), st->cpad ? st->cpad : sp->cpad, ms, pad_ms,
                st->cpad ? "padded" : "as it is");
        vp_cuda_conv_release(sp);
        (void)cudaGetLastError(); /* a padded variant that failed to prepare */
    }
    if (rc != VP_OK) {
        vp_cuda_conv_release(st);
        return rc;
    }
    c->scratch_bytes = st->scratch_bytes;
    c->state = st;
    return VP_OK;
}

int vp_cuda_conv_prepare(vp_op_ctx *c) { return conv_prepare(c, 0); }
int vp_cuda_convt_prepare(vp_op_ctx *c) { return conv_prepare(c, 1); }

/* Run -------------------------------------------------------------------------- */

int vp_cuda_conv_run(vp_op_ctx *c)
{
    conv_state *st = c->state;
    vp_cuda_ctx *ctx = c->dev;
    const float one = 1.f, zero = 0.f;
    int rc;
    if (!st)
        return vp_op_fail(c, VP_ERR_INTERNAL, "conv kernel run without prepare");
    if (vp_tensor_numel(c->out[0]) == 0)
        return VP_OK;
    if (st->direct) {
        const float *b = c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL;
        if ((rc = vp_cuda_conv_direct(ctx->stream, &st->da, c->in[0]->data, c->in[1]->data, b, c->out[0]->data)) !=
            VP_OK)
            return rc;
        return st->direct_post ? vp_cuda_apply_postops(c) : VP_OK;
    }
    const void *x = c->in[0]->data, *w = st->wpad ? st->wpad : c->in[1]->data;
    if (st->cpad) {
        const vp_nn_geom *g = &st->g;
        int64_t rows = vp_tensor_numel(c->in[0]) / g->cin;
        if ((rc = vp_cuda_pad_channels16(ctx->stream, rows, (int)g->cin, st->cpad, x, c->scratch)) != VP_OK)
            return rc;
        x = c->scratch;
    }
    if (st->graph && vp_conv_graph_aligned(c, st->graph, x, w))
        return vp_conv_graph_run(c, st->graph, x, w); /* bias and every post-op included */
    if (st->xpix || st->ypix || st->zpix)
        return vp_op_fail(c, VP_ERR_INTERNAL, "a Conv on channel slices was bound to unaligned buffers");
    const void *b = st->bias_in >= 0 ? c->in[st->bias_in]->data : st->zero_bias;
    void *y = c->out[0]->data;
    if (st->pad_copy) {
        if ((rc = vp_cuda_window_copy(ctx->stream, vp_dtype_size(st->dt), &st->xwin, x,
                                      c->scratch)) != VP_OK)
            return rc;
        x = c->scratch;
    }
    if (st->transposed) {
        void *dx = st->crop ? c->scratch : y;
        VP_CUDNN(cudnnConvolutionBackwardData(ctx->cudnn, &one, st->wd, w, st->xd, x, st->cd,
                                              st->bwd_algo, ctx->workspace,
                                              ctx->workspace_bytes, &zero, st->yd, dx));
        if (st->crop &&
            (rc = vp_cuda_window_copy(ctx->stream, vp_dtype_size(st->dt), &st->ywin, dx, y)) !=
                VP_OK)
            return rc;
    } else if (st->mode == MODE_PLAIN) {
        VP_CUDNN(cudnnConvolutionForward(ctx->cudnn, &one, st->xd, x, st->wd, w, st->cd,
                                         st->fwd_algo, ctx->workspace, ctx->workspace_bytes,
                                         &zero, st->yd, y));
    } else {
        /* y = act(conv + alpha2 * z + bias); without the Add, z is y
         * itself with alpha2 = 0 (not read). */
        const void *z = st->z_in >= 0 ? c->in[st->z_in]->data : y;
        float a2 = st->z_in >= 0 ? 1.f : 0.f;
        VP_CUDNN(cudnnConvolutionBiasActivationForward(
            ctx->cudnn, &one, st->xd, x, st->wd, w, st->cd, st->fwd_algo, ctx->workspace,
            ctx->workspace_bytes, &a2, st->yd, z, st->bd, b, st->ad, st->yd, y));
        if (st->mode == MODE_FUSED)
            return VP_OK; /* every post-op was part of the call */
    }
    if (st->mode == MODE_PLAIN && st->bias_in >= 0)
        VP_CUDNN(cudnnAddTensor(ctx->cudnn, &one, st->bd, b, &one, st->od, y));
    return c->node->n_post ? vp_cuda_apply_postops(c) : VP_OK;
}
