/*
 * A test backend plugin for the plan's channel slices, so that they are
 * tested where there is no GPU (CI): loaded in the CUDA plugin's place
 * (VP_CUDA_PLUGIN=libvp_slice_backend.so, --backend cuda), it runs every op
 * on the CPU backend's kernels but says its memory is not host memory (as
 * the CUDA backend does, so the plan makes slices) and offers a Conv that
 * accepts float32 channel slices (vp_kernel.cslice): it gathers a sliced
 * X or residual addend into a dense copy, runs the CPU Conv on dense
 * tensors and scatters Y into its slice. The results must equal the CPU
 * backend's exactly (the same kernels on the same values);
 * tests/channel_slices.py checks that, and that slices were made.
 *
 * VP_SLICE_TEST_REFUSE=NODE (or *, every Conv): that Conv refuses slices in
 * prepare (VP_ERR_UNSUPPORTED), as a cuDNN graph without an engine does, to
 * test that the plan is made again without them there.
 */
#include "engine/backend.h"

#include <stdlib.h>
#include <string.h>

static const vp_kernel *cpu_conv(void) { return vp_backend_cpu.kernel_find("Conv"); }

static int sliced(const vp_op_ctx *c)
{
    for (int i = 0; c->in_pix && i < c->n_in; i++)
        if (c->in_pix[i])
            return 1;
    return c->out_pix && c->out_pix[0];
}

static int conv_prepare(vp_op_ctx *c)
{
    const char *refuse = getenv("VP_SLICE_TEST_REFUSE");
    if (sliced(c) && refuse && (!strcmp(refuse, "*") || !strcmp(c->node->name, refuse)))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "test backend: refuses channel slices here");
    const vp_kernel *k = cpu_conv();
    return k->prepare ? k->prepare(c) : VP_OK;
}

/* Rows of c elements, pix apart in the slice, dense in the copy. */
static void gather(char *dense, const char *slice, int64_t rows, size_t row_bytes, size_t pix_bytes)
{
    for (int64_t r = 0; r < rows; r++)
        memcpy(dense + r * (int64_t)row_bytes, slice + r * (int64_t)pix_bytes, row_bytes);
}

static void scatter(char *slice, const char *dense, int64_t rows, size_t row_bytes, size_t pix_bytes)
{
    for (int64_t r = 0; r < rows; r++)
        memcpy(slice + r * (int64_t)pix_bytes, dense + r * (int64_t)row_bytes, row_bytes);
}

static int conv_run(vp_op_ctx *c)
{
    const vp_kernel *k = cpu_conv();
    if (!sliced(c))
        return k->run(c);
    enum { MAX_IN = 16 };
    if (c->n_in > MAX_IN || c->out[0]->shape.rank != 4)
        return vp_op_fail(c, VP_ERR_INTERNAL, "test backend: unexpected sliced Conv");
    vp_tensor tin[MAX_IN], tout = *c->out[0];
    const vp_tensor *in[MAX_IN];
    vp_tensor *out[1] = {&tout};
    void *tmp[MAX_IN + 1] = {0};
    size_t es = vp_dtype_size(tout.dtype);
    int rc = VP_OK;
    for (int i = 0; i < c->n_in; i++) {
        in[i] = c->in[i];
        if (!c->in[i] || !c->in_pix[i])
            continue;
        tin[i] = *c->in[i];
        int64_t ch = tin[i].shape.d[3], rows = vp_tensor_numel(&tin[i]) / ch;
        if (!(tmp[i] = malloc(vp_tensor_bytes(&tin[i]) + 1))) {
            rc = VP_ERR_NOMEM;
            goto done;
        }
        gather(tmp[i], c->in[i]->data, rows, (size_t)ch * es, (size_t)c->in_pix[i] * es);
        tin[i].data = tmp[i];
        in[i] = &tin[i];
    }
    if (c->out_pix[0] && !(tmp[MAX_IN] = tout.data = malloc(vp_tensor_bytes(&tout) + 1))) {
        rc = VP_ERR_NOMEM;
        goto done;
    }
    vp_op_ctx d = *c;
    d.in = in;
    d.out = out;
    d.in_pix = d.out_pix = NULL;
    if ((rc = k->run(&d)) == VP_OK && c->out_pix[0]) {
        int64_t ch = tout.shape.d[3];
        scatter(c->out[0]->data, tout.data, vp_tensor_numel(&tout) / ch, (size_t)ch * es,
                (size_t)c->out_pix[0] * es);
    }
done:
    for (int i = 0; i <= MAX_IN; i++)
        free(tmp[i]);
    return rc;
}

static void conv_release(void *state)
{
    const vp_kernel *k = cpu_conv();
    if (k->release)
        k->release(state);
}

static const vp_kernel sliced_conv = {.name = "Conv", .nhwc = 1, .prepare = conv_prepare, .run = conv_run,
                                      .release = conv_release, .handles_postops = 1, .cslice = VP_DT_FLOAT};

static const vp_kernel *kernel_find(const char *op)
{
    return strcmp(op, "Conv") ? vp_backend_cpu.kernel_find(op) : &sliced_conv;
}

/* The CPU backend's memory and context, through functions (its table is not
 * a constant expression here). */
static int be_create(const vp_engine_options *o, void **ctx, char *err, size_t len)
{
    return vp_backend_cpu.create(o, ctx, err, len);
}
static void be_destroy(void *ctx) { vp_backend_cpu.destroy(ctx); }
static int be_alloc(void *ctx, size_t bytes, void **p) { return vp_backend_cpu.mem_alloc(ctx, bytes, p); }
static void be_free(void *ctx, void *p) { vp_backend_cpu.mem_free(ctx, p); }
static int be_upload(void *ctx, void *dst, const void *src, size_t n) { return vp_backend_cpu.upload(ctx, dst, src, n); }
static int be_download(void *ctx, void *dst, const void *src, size_t n)
{
    return vp_backend_cpu.download(ctx, dst, src, n);
}

static const vp_backend slice_backend = {
    .abi = VP_BACKEND_ABI,
    .name = "slice-test",
    .create = be_create,
    .destroy = be_destroy,
    .kernel_find = kernel_find,
    .mem_alloc = be_alloc,
    .mem_free = be_free,
    .upload = be_upload,
    .download = be_download,
    .host_memory = 0, /* as a device backend: the plan makes channel slices */
};

__attribute__((visibility("default"))) const vp_backend *vp_cuda_backend(void);
const vp_backend *vp_cuda_backend(void) { return &slice_backend; }
