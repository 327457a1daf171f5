/*
 * The CUDA backend table, exported by the plugin as vp_cuda_backend().
 *
 * One stream per engine. Memory comes from cudaMalloc at plan time only (a
 * plan's arena and constants; nothing is allocated while running). Runs are
 * replayed as CUDA graphs: the first run of a plan executes eagerly (so a
 * kernel error shows up with its node), the second is captured, the rest
 * replay the captured graph with one launch.
 */
#include "engine/cuda/cuda.h"
#include "engine/backend.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vp_cuda_fail(const char *what, const char *call, int code, const char *name, const char *file, int line)
{
    VP_LOGE("%s error %d (%s) at %s:%d: %s", what, code, name ? name : "?", file, line, call);
    return VP_ERR_BACKEND;
}

/* Growing never frees the old buffer: graphs captured for other plans (and
 * kernels prepared earlier) keep pointing at it. Old buffers are released
 * with the context. */
int vp_cuda_workspace(vp_cuda_ctx *c, size_t bytes)
{
    if (bytes <= c->workspace_bytes)
        return VP_OK;
    if (c->workspace) {
        if (c->n_old_ws == VP_CUDA_MAX_OLD_WS)
            return vp_cuda_fail("vidpipe", "vp_cuda_workspace", 0, "workspace grown too often", __FILE__, __LINE__);
        c->old_ws[c->n_old_ws++] = c->workspace;
    }
    c->workspace = NULL;
    c->workspace_bytes = 0;
    VP_CUDA(cudaMalloc(&c->workspace, bytes));
    c->workspace_bytes = bytes;
    VP_CUBLAS(cublasSetWorkspace(c->cublas, c->workspace, c->workspace_bytes));
    return VP_OK;
}

static void cuda_destroy(void *ctx)
{
    vp_cuda_ctx *c = ctx;
    if (!c)
        return;
    if (c->stream)
        cudaStreamSynchronize(c->stream);
    vp_cuda_cache_close(c);
    if (c->cublaslt)
        cublasLtDestroy(c->cublaslt);
    if (c->cublas)
        cublasDestroy(c->cublas);
    if (c->cudnn)
        cudnnDestroy(c->cudnn);
    if (c->workspace)
        cudaFree(c->workspace);
    for (int i = 0; i < c->n_old_ws; i++)
        cudaFree(c->old_ws[i]);
    if (c->stream)
        cudaStreamDestroy(c->stream);
    free(c);
}

static int cuda_init(vp_cuda_ctx *c, const vp_engine_options *opt, char *err, size_t errlen)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(err, errlen, "no CUDA device (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "none found");
        return VP_ERR_UNSUPPORTED;
    }
    c->device = 0;
    c->fp16 = opt->precision == VP_PRECISION_FP16;
    c->profile = opt->profile;
    struct cudaDeviceProp prop;
    VP_CUDA(cudaSetDevice(c->device));
    VP_CUDA(cudaGetDeviceProperties(&prop, c->device));
    c->sm = prop.major * 10 + prop.minor;
    VP_CUDA(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    VP_CUDNN(cudnnCreate(&c->cudnn));
    VP_CUDNN(cudnnSetStream(c->cudnn, c->stream));
    VP_CUBLAS(cublasCreate(&c->cublas));
    VP_CUBLAS(cublasSetStream(c->cublas, c->stream));
    VP_CUBLAS(cublasLtCreate(&c->cublaslt));
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    size_t cudnn_v = cudnnGetVersion();
    snprintf(c->desc, sizeof c->desc, "%.96s, sm_%d, %.0f GiB, CUDA runtime %d.%d, driver %d.%d, cuDNN %zu.%zu.%zu",
             prop.name, c->sm, (double)prop.totalGlobalMem / (1 << 30), rt / 1000, rt % 1000 / 10, drv / 1000,
             drv % 1000 / 10, cudnn_v / 10000, cudnn_v / 100 % 100, cudnn_v % 100);
    return vp_cuda_workspace(c, (size_t)32 << 20);
}

static int cuda_create(const vp_engine_options *opt, void **ctx, char *err, size_t errlen)
{
    vp_cuda_ctx *c = calloc(1, sizeof *c);
    *ctx = NULL;
    if (!c)
        return VP_ERR_NOMEM;
    int rc = cuda_init(c, opt, err, errlen);
    if (rc) {
        if (!err[0])
            snprintf(err, errlen, "CUDA initialisation failed (see the log)");
        cuda_destroy(c);
        return rc;
    }
    *ctx = c;
    return VP_OK;
}

static int cuda_sync(void *ctx)
{
    VP_CUDA(cudaStreamSynchronize(((vp_cuda_ctx *)ctx)->stream));
    return VP_OK;
}

static const char *cuda_describe(void *ctx) { return ((vp_cuda_ctx *)ctx)->desc; }

static const vp_kernel *cuda_kernel_find(const char *op_type)
{
#define VP_FAM(f) vp_cuda_##f,
    static const vp_kernel *const fams[] = {VP_CUDA_FAMILIES(VP_FAM)};
#undef VP_FAM
    return vp_kernel_find_in(fams, sizeof fams / sizeof fams[0], op_type);
}

static int cuda_alloc(void *ctx, size_t bytes, void **ptr)
{
    *ptr = NULL;
    VP_CUDA(cudaMalloc(ptr, bytes ? bytes : 1));
    return VP_OK;
}

static void cuda_free(void *ctx, void *ptr)
{
    vp_cuda_ctx *c = ctx;
    cudaStreamSynchronize(c->stream);
    cudaFree(ptr);
}

static int cuda_upload(void *ctx, void *dst, const void *src, size_t bytes)
{
    vp_cuda_ctx *c = ctx;
    VP_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
    return VP_OK;
}

static int cuda_download(void *ctx, void *dst, const void *src, size_t bytes)
{
    vp_cuda_ctx *c = ctx;
    VP_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    VP_CUDA(cudaStreamSynchronize(c->stream));
    return VP_OK;
}

/* Per-plan graph state. */
typedef struct graph_state {
    long runs;
    int capturing;
    int disabled;        /* capture failed once: run eagerly from now on */
    cudaGraphExec_t exec;
} graph_state;

static int cuda_run_begin(void *ctx, void **ps)
{
    vp_cuda_ctx *c = ctx;
    graph_state *g = *ps;
    if (!g) {
        g = calloc(1, sizeof *g);
        if (!g)
            return VP_ERR_NOMEM;
        *ps = g;
    }
    if (g->exec) {
        VP_CUDA(cudaGraphLaunch(g->exec, c->stream));
        return 1; /* replayed */
    }
    if (g->runs >= 1 && !g->disabled && !c->profile && !getenv("VP_CUDA_NO_GRAPHS")) {
        VP_CUDA(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal));
        g->capturing = 1;
    }
    return VP_OK;
}

static int cuda_run_end(void *ctx, void **ps, int wait)
{
    vp_cuda_ctx *c = ctx;
    graph_state *g = *ps;
    g->runs++;
    if (g->capturing) {
        cudaGraph_t graph = NULL;
        g->capturing = 0;
        cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
        if (e == cudaSuccess)
            e = cudaGraphInstantiate(&g->exec, graph, 0);
        if (graph)
            cudaGraphDestroy(graph);
        if (e != cudaSuccess) {
            VP_LOGW("CUDA graph capture failed (%s); running this plan without graphs", cudaGetErrorName(e));
            (void)cudaGetLastError();
            g->exec = NULL;
            g->disabled = 1;
            return 2; /* the steps were only recorded: run them again */
        }
        VP_CUDA(cudaGraphLaunch(g->exec, c->stream));
    }
    if (wait)
        VP_CUDA(cudaStreamSynchronize(c->stream));
    return VP_OK;
}

static void *cuda_stream(void *ctx) { return ((vp_cuda_ctx *)ctx)->stream; }

static void cuda_plan_state_free(void *ctx, void *ps)
{
    graph_state *g = ps;
    if (g && g->exec)
        cudaGraphExecDestroy(g->exec);
    free(g);
}

static const vp_backend backend = {
    .abi = VP_BACKEND_ABI,
    .name = "cuda",
    .create = cuda_create,
    .destroy = cuda_destroy,
    .kernel_find = cuda_kernel_find,
    .mem_alloc = cuda_alloc,
    .mem_free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .host_memory = 0,
    .run_begin = cuda_run_begin,
    .run_end = cuda_run_end,
    .plan_state_free = cuda_plan_state_free,
    .describe = cuda_describe,
    .cache_attach = vp_cuda_cache_attach,
    .sync = cuda_sync,
    .stream = cuda_stream,
};

__attribute__((visibility("default"))) const vp_backend *vp_cuda_backend(void);
const vp_backend *vp_cuda_backend(void) { return &backend; }
