/*
 * The CUDA preprocessing kernel (vp_cuda_preprocess in libvidpipe_cuda.so)
 * against the CPU implementation (vp_preprocess_cpu), on every source format,
 * many sizes (odd, tiny, portrait, up- and down-scaling) and every option
 * (letterbox/top-left/stretch, RGB/BGR, FP32/FP16, NCHW/NHWC, normalisations,
 * pad values, batch slots).
 *
 * Pictures are synthetic and deterministic (gradients + sinusoid + sharp
 * rectangles + checkerboard + noise over the whole code range), laid out as
 * NVDEC lays out a surface: one allocation, a 256-byte-aligned pitch with
 * garbage in the row padding, the chroma plane after the luma rows. The same
 * bytes are given to the CPU (host copy) and to the kernel (device copy).
 *
 * Checks, per case:
 *   - every element of the slot: |gpu - cpu|, converted to [0,1] colour units
 *     (x std / (255 scale)), <= 1/255 (issue 4, acceptance 2); the report
 *     also counts elements that are not bit-identical (the implementations
 *     are written to agree exactly; see src/vision/preprocess.c);
 *   - no NaN/inf; the other slots of the batch keep their 0xA5 sentinel bytes
 *     (no write outside slot i);
 *   - for some cases, the call captured into a CUDA graph and replayed gives
 *     the same output (no synchronisation or allocation inside);
 *   - bad input: plain host memory and NULL planes are refused with
 *     VP_ERR_INVALID and leave no CUDA error behind.
 *
 *   vp_preprocess_gpu            run the checks
 *   vp_preprocess_gpu --bench    also time 1080p NV12 -> 640x640 FP16 NCHW
 *                                letterbox on the GPU and on the CPU (printed,
 *                                never asserted)
 *
 * Exit: 0 pass, 1 fail, 77 when no CUDA device is usable.
 */
#include "vision/preprocess.h"

#include <cuda_runtime.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CK(call)                                                                                  \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (e_ != cudaSuccess) {                                                                  \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorName(e_)); \
            goto fail;                                                                            \
        }                                                                                         \
    } while (0)

static const double TOL01 = 1.0 / 255.0;

/* ------------------------------------------------------------- pictures */

static uint32_t rnd(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static double urand(uint32_t *s)
{
    return (double)rnd(s) / 16777216.0;
}

/* One plane of comps interleaved components, w x h samples, codes in
 * [0, maxcode] stored << shift, 1 or 2 bytes per sample. */
static void synth_plane(uint8_t *base, size_t pitch, int w, int h, int comps, int bps, int maxcode, int shift,
                        uint32_t seed)
{
    for (int k = 0; k < comps; k++) {
        uint32_t s = seed * 7919u + (uint32_t)k * 104729u + 1u;
        double a = 0.2 + 0.8 * urand(&s), b = 0.5 + 1.5 * urand(&s);
        int rx[4], ry[4], rw[4], rh[4];
        double rv[4];
        for (int r = 0; r < 4; r++) {
            rx[r] = (int)(urand(&s) * w);
            ry[r] = (int)(urand(&s) * h);
            rw[r] = 1 + (int)(urand(&s) * (w / 3 + 1));
            rh[r] = 1 + (int)(urand(&s) * (h / 3 + 1));
            rv[r] = urand(&s);
        }
        int cs = 1 + (int)(urand(&s) * 4), cx = (int)(urand(&s) * w), cy = (int)(urand(&s) * h);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double v = 0.5 + 0.35 * sin(x * a * 0.7 + y * 0.13 * b) * cos(y * 0.05) + 0.3 * ((double)x / w - (double)y / h);
                for (int r = 0; r < 4; r++)
                    if (x >= rx[r] && x < rx[r] + rw[r] && y >= ry[r] && y < ry[r] + rh[r])
                        v = rv[r];
                if (x >= cx && x <= cx + w / 4 && y >= cy && y <= cy + h / 4)
                    v = ((x / cs + y / cs) % 2) ? 1.0 : 0.0;
                v += (urand(&s) - 0.5) * 0.1;
                long c = lround(v * maxcode);
                c = c < 0 ? 0 : c > maxcode ? maxcode : c;
                uint32_t word = (uint32_t)c << shift;
                uint8_t *p = base + (size_t)y * pitch + ((size_t)x * comps + k) * bps;
                p[0] = (uint8_t)word;
                if (bps == 2)
                    p[1] = (uint8_t)(word >> 8);
            }
    }
}

typedef struct picture {
    uint8_t *host;       /* whole surface */
    void *dev;
    size_t bytes;
    size_t offset[3], pitch[3];
    int nplanes;
} picture;

/* Lay out and fill a picture; returns 0 or -1. */
static int make_picture(vp_pre_src *src, picture *pic, uint32_t seed)
{
    int f = src->format, w = src->width, h = src->height;
    int packed = f == VP_PRE_RGB24 || f == VP_PRE_BGR24, wide = f == VP_PRE_P016 || f == VP_PRE_YUV420P10;
    int bps = wide ? 2 : 1, bits = src->bit_depth ? src->bit_depth : wide ? 10 : 8;
    int cw = (w + 1) / 2, ch = (h + 1) / 2, maxcode = (1 << bits) - 1;
    int shift = f == VP_PRE_P016 ? 16 - bits : 0;
    size_t rowb[3] = {(size_t)w * (packed ? 3 : bps), 0, 0};
    int rows[3] = {h, ch, ch};
    pic->nplanes = packed ? 1 : (f == VP_PRE_NV12 || f == VP_PRE_P016) ? 2 : 3;
    if (pic->nplanes == 2)
        rowb[1] = (size_t)cw * 2 * bps;
    else
        rowb[1] = rowb[2] = (size_t)cw * bps;
    size_t off = 0;
    for (int i = 0; i < pic->nplanes; i++) {
        pic->pitch[i] = (rowb[i] + 255) / 256 * 256 + (i == 0 && seed % 2 ? 256 : 0);
        pic->offset[i] = off;
        off += pic->pitch[i] * (size_t)((rows[i] + 1) & ~1); /* NVDEC-like: planes start on even rows */
    }
    pic->bytes = off;
    pic->host = malloc(off);
    if (!pic->host)
        return -1;
    uint32_t s = seed;
    for (size_t i = 0; i < off; i++)
        pic->host[i] = (uint8_t)rnd(&s); /* garbage in row padding */
    if (packed)
        synth_plane(pic->host, pic->pitch[0], w, h, 3, 1, 255, 0, seed);
    else {
        synth_plane(pic->host, pic->pitch[0], w, h, 1, bps, maxcode, shift, seed);
        if (pic->nplanes == 2)
            synth_plane(pic->host + pic->offset[1], pic->pitch[1], cw, ch, 2, bps, maxcode, shift, seed + 1);
        else {
            synth_plane(pic->host + pic->offset[1], pic->pitch[1], cw, ch, 1, bps, maxcode, shift, seed + 1);
            synth_plane(pic->host + pic->offset[2], pic->pitch[2], cw, ch, 1, bps, maxcode, shift, seed + 2);
        }
    }
    return 0;
}

static void set_planes(vp_pre_src *src, const picture *pic, const uint8_t *base)
{
    for (int i = 0; i < 3; i++) {
        src->plane[i] = i < pic->nplanes ? base + pic->offset[i] : NULL;
        src->pitch[i] = i < pic->nplanes ? pic->pitch[i] : 0;
    }
}

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 0x400), e - 25);
    return (h & 0x8000) ? -v : v;
}

/* ------------------------------------------------------------------ cases */

typedef struct result {
    double max_err;     /* [0,1] colour units */
    size_t not_identical, elems;
} result;

static int compare(const vp_pre_params *p, int batch, int slot, const uint8_t *cpu, const uint8_t *gpu, result *r,
                   const char *name)
{
    size_t esz = p->dtype == VP_PRE_FP16 ? 2 : 4, n = vp_pre_slot_elems(p);
    for (int b = 0; b < batch; b++) {
        if (b == slot)
            continue;
        for (size_t i = 0; i < n * esz; i++)
            if (gpu[(size_t)b * n * esz + i] != 0xA5 || cpu[(size_t)b * n * esz + i] != 0xA5) {
                fprintf(stderr, "FAIL %s: slot %d written at byte %zu (only slot %d may be)\n", name, b, i, slot);
                return -1;
            }
    }
    const uint8_t *c8 = cpu + (size_t)slot * n * esz, *g8 = gpu + (size_t)slot * n * esz;
    size_t plane = (size_t)p->dst_width * p->dst_height;
    for (size_t i = 0; i < n; i++) {
        int ch = p->layout == VP_PRE_NCHW ? (int)(i / plane) : (int)(i % 3);
        float cv, gv;
        if (esz == 2) {
            uint16_t a, b;
            memcpy(&a, c8 + 2 * i, 2);
            memcpy(&b, g8 + 2 * i, 2);
            cv = half_to_float(a);
            gv = half_to_float(b);
        } else {
            memcpy(&cv, c8 + 4 * i, 4);
            memcpy(&gv, g8 + 4 * i, 4);
        }
        if (!isfinite(gv) || !isfinite(cv)) {
            fprintf(stderr, "FAIL %s: non-finite output at %zu (gpu %g, cpu %g)\n", name, i, gv, cv);
            return -1;
        }
        if (memcmp(c8 + esz * i, g8 + esz * i, esz))
            r->not_identical++;
        double e = fabs((double)gv - cv) * fabs(p->std[ch]) / (255.0 * fabs(p->scale));
        if (e > r->max_err)
            r->max_err = e;
        if (e > TOL01) {
            size_t pix = p->layout == VP_PRE_NCHW ? i % plane : i / 3;
            fprintf(stderr, "FAIL %s: element %zu (c=%d y=%zu x=%zu): gpu %.7g cpu %.7g, error %.3g > 1/255\n", name,
                    i, ch, pix / p->dst_width, pix % p->dst_width, gv, cv, e);
            return -1;
        }
    }
    r->elems += n;
    return 0;
}

typedef struct gcase {
    vp_pre_format format;
    int w, h, bits;
    int dw, dh;
    vp_pre_resize mode;
    vp_pre_order order;
    vp_pre_dtype dtype;
    vp_pre_layout layout;
    int norm, pad, matrix, range;
    int batch, slot, graph;
} gcase;

static const float NORM[3][7] = {
    {1.0f / 255, 0, 0, 0, 1, 1, 1},
    {1.0f / 255, 0.485f, 0.456f, 0.406f, 0.229f, 0.224f, 0.225f},
    {1.0f, 127.5f, 100.0f, 20.0f, -2.0f, 64.0f, 1.5f},
};
static const float PAD[3][3] = {{114, 114, 114}, {0, 50.5f, 255}, {300, -5, 114}};

static int run_case(const gcase *c, cudaStream_t st, result *tot, int verbose)
{
    char name[160];
    snprintf(name, sizeof name, "%s%s%d %dx%d->%dx%d mode %d %s %s %s %s/%s slot %d/%d%s",
             vp_pre_format_name(c->format), c->bits ? "@" : "", c->bits, c->w, c->h, c->dw, c->dh, (int)c->mode,
             c->order == VP_PRE_RGB ? "rgb" : "bgr", c->dtype == VP_PRE_FP16 ? "fp16" : "fp32",
             c->layout == VP_PRE_NCHW ? "nchw" : "nhwc", vp_pre_matrix_name(c->matrix), c->range ? "full" : "limited",
             c->slot, c->batch, c->graph ? " graph" : "");
    vp_pre_src src;
    memset(&src, 0, sizeof src);
    src.format = c->format;
    src.width = c->w;
    src.height = c->h;
    src.bit_depth = c->bits;
    src.matrix = (vp_pre_matrix)c->matrix;
    src.range = (vp_pre_range)c->range;
    vp_pre_params p;
    vp_pre_params_default(&p);
    p.dst_width = c->dw;
    p.dst_height = c->dh;
    p.mode = c->mode;
    p.order = c->order;
    p.dtype = c->dtype;
    p.layout = c->layout;
    p.scale = NORM[c->norm][0];
    for (int k = 0; k < 3; k++) {
        p.mean[k] = NORM[c->norm][1 + k];
        p.std[k] = NORM[c->norm][4 + k];
        p.pad[k] = PAD[c->pad][k];
    }
    picture pic = {0};
    uint8_t *hcpu = NULL, *hgpu = NULL;
    void *ddst = NULL;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    int ret = -1;
    uint32_t seed = (uint32_t)(c->w * 31 + c->h * 17 + c->format * 5 + c->dw + c->mode);
    if (make_picture(&src, &pic, seed))
        goto fail;
    size_t esz = c->dtype == VP_PRE_FP16 ? 2 : 4, bytes = vp_pre_slot_elems(&p) * esz * (size_t)c->batch;
    hcpu = malloc(bytes);
    hgpu = malloc(bytes);
    if (!hcpu || !hgpu)
        goto fail;
    memset(hcpu, 0xA5, bytes);
    CK(cudaMalloc(&pic.dev, pic.bytes));
    CK(cudaMemcpy(pic.dev, pic.host, pic.bytes, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&ddst, bytes));
    CK(cudaMemset(ddst, 0xA5, bytes));

    set_planes(&src, &pic, pic.host);
    int rc = vp_preprocess_cpu(&src, &p, hcpu, c->slot, 0);
    if (rc) {
        fprintf(stderr, "FAIL %s: vp_preprocess_cpu: %s\n", name, vp_strerror(rc));
        goto fail;
    }
    set_planes(&src, &pic, pic.dev);
    if (c->graph) {
        /* As a pipeline does: one uncaptured call first (it checks the
         * pointers, and lazy module loading happens outside the capture);
         * its output is wiped so only the graph's replay is compared. */
        rc = vp_cuda_preprocess(&src, &p, ddst, c->slot, st);
        if (rc) {
            fprintf(stderr, "FAIL %s: vp_cuda_preprocess (before capture): %s\n", name, vp_strerror(rc));
            goto fail;
        }
        CK(cudaStreamSynchronize(st));
        CK(cudaMemset(ddst, 0xA5, bytes));
        CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
        rc = vp_cuda_preprocess(&src, &p, ddst, c->slot, st);
        cudaError_t ce = cudaStreamEndCapture(st, &graph);
        if (rc || ce != cudaSuccess) {
            fprintf(stderr, "FAIL %s: capture: vp_cuda_preprocess %s, end capture %s\n", name, vp_strerror(rc),
                    cudaGetErrorName(ce));
            goto fail;
        }
        CK(cudaGraphInstantiate(&exec, graph, 0));
        CK(cudaGraphLaunch(exec, st));
    } else {
        rc = vp_cuda_preprocess(&src, &p, ddst, c->slot, st);
        if (rc) {
            fprintf(stderr, "FAIL %s: vp_cuda_preprocess: %s\n", name, vp_strerror(rc));
            goto fail;
        }
    }
    CK(cudaStreamSynchronize(st));
    CK(cudaMemcpy(hgpu, ddst, bytes, cudaMemcpyDeviceToHost));
    result r = {0};
    if (compare(&p, c->batch, c->slot, hcpu, hgpu, &r, name))
        goto fail;
    if (verbose)
        printf("ok   %-70s max err %.2e, %zu of %zu not bit-identical\n", name, r.max_err, r.not_identical, r.elems);
    if (r.max_err > tot->max_err)
        tot->max_err = r.max_err;
    tot->not_identical += r.not_identical;
    tot->elems += r.elems;
    ret = 0;
fail:
    if (exec)
        cudaGraphExecDestroy(exec);
    if (graph)
        cudaGraphDestroy(graph);
    cudaFree(pic.dev);
    cudaFree(ddst);
    free(pic.host);
    free(hcpu);
    free(hgpu);
    return ret;
}

/* Bad input to the CUDA entry point: refused, no CUDA error left behind. */
static int check_errors(cudaStream_t st)
{
    int fails = 0;
    static uint8_t host_y[64 * 32], host_uv[64 * 16];
    void *dev = NULL, *ddst = NULL;
    vp_pre_src s;
    memset(&s, 0, sizeof s);
    s.format = VP_PRE_NV12;
    s.width = 64;
    s.height = 32;
    s.pitch[0] = s.pitch[1] = 64;
    vp_pre_params p;
    vp_pre_params_default(&p);
    p.dst_width = p.dst_height = 32;
    CK(cudaMalloc(&dev, 64 * 48));
    CK(cudaMalloc(&ddst, vp_pre_slot_elems(&p) * 4));
    s.plane[0] = host_y;
    s.plane[1] = host_uv;
    if (vp_cuda_preprocess(&s, &p, ddst, 0, st) != VP_ERR_INVALID) {
        fprintf(stderr, "FAIL plain host planes were not refused\n");
        fails++;
    }
    s.plane[0] = dev;
    s.plane[1] = NULL;
    if (vp_cuda_preprocess(&s, &p, ddst, 0, st) != VP_ERR_INVALID) {
        fprintf(stderr, "FAIL NULL chroma plane was not refused\n");
        fails++;
    }
    s.plane[1] = (uint8_t *)dev + 64 * 32;
    static float host_dst[3 * 32 * 32];
    if (vp_cuda_preprocess(&s, &p, host_dst, 0, st) != VP_ERR_INVALID) {
        fprintf(stderr, "FAIL plain host destination was not refused\n");
        fails++;
    }
    if (vp_cuda_preprocess(&s, &p, ddst, 0, st) != VP_OK) { /* control */
        fprintf(stderr, "FAIL good call after refused ones failed\n");
        fails++;
    }
    CK(cudaStreamSynchronize(st));
    CK(cudaGetLastError());
    cudaFree(dev);
    cudaFree(ddst);
    printf("error cases: %d failed\n", fails);
    return fails ? -1 : 0;
fail:
    cudaFree(dev);
    cudaFree(ddst);
    return -1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Timings (printed, never asserted): 1080p NV12 -> 640x640 FP16 NCHW letterbox. */
static int bench(cudaStream_t st)
{
    vp_pre_src src;
    memset(&src, 0, sizeof src);
    src.format = VP_PRE_NV12;
    src.width = 1920;
    src.height = 1080;
    src.matrix = VP_PRE_BT709;
    vp_pre_params p;
    vp_pre_params_default(&p);
    p.dtype = VP_PRE_FP16;
    const int batch = 32, iters = 200;
    picture pic = {0};
    void *ddst = NULL;
    uint16_t *hdst = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    int ret = -1;
    if (make_picture(&src, &pic, 1))
        goto fail;
    size_t bytes = vp_pre_slot_elems(&p) * 2 * batch;
    hdst = malloc(bytes);
    if (!hdst)
        goto fail;
    CK(cudaMalloc(&pic.dev, pic.bytes));
    CK(cudaMemcpy(pic.dev, pic.host, pic.bytes, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&ddst, bytes));
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    set_planes(&src, &pic, pic.dev);
    for (int i = 0; i < 10; i++)
        if (vp_cuda_preprocess(&src, &p, ddst, i % batch, st))
            goto fail;
    CK(cudaEventRecord(e0, st));
    double t0 = now_s();
    for (int i = 0; i < iters * batch; i++)
        if (vp_cuda_preprocess(&src, &p, ddst, i % batch, st))
            goto fail;
    double host_s = now_s() - t0;
    CK(cudaEventRecord(e1, st));
    CK(cudaEventSynchronize(e1));
    float ms;
    CK(cudaEventElapsedTime(&ms, e0, e1));
    printf("bench GPU: 1920x1080 NV12 -> 640x640 FP16 NCHW letterbox, %d launches: %.2f us/frame on the GPU "
           "(%.0f frames/s), host %.2f us per call (with pointer checks)\n",
           iters * batch, 1e3 * ms / (iters * batch), iters * batch / (ms * 1e-3), 1e6 * host_s / (iters * batch));
    /* the same as one CUDA graph of `batch` launches (a full batch) */
    CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < batch; i++)
        if (vp_cuda_preprocess(&src, &p, ddst, i, st)) {
            cudaStreamEndCapture(st, &graph);
            goto fail;
        }
    CK(cudaStreamEndCapture(st, &graph));
    CK(cudaGraphInstantiate(&exec, graph, 0));
    CK(cudaGraphLaunch(exec, st));
    CK(cudaEventRecord(e0, st));
    for (int i = 0; i < iters; i++)
        CK(cudaGraphLaunch(exec, st));
    CK(cudaEventRecord(e1, st));
    CK(cudaEventSynchronize(e1));
    CK(cudaEventElapsedTime(&ms, e0, e1));
    printf("bench GPU: same, batch of %d as one CUDA graph: %.2f us/frame (%.0f frames/s)\n", batch,
           1e3 * ms / (iters * batch), iters * batch / (ms * 1e-3));

    set_planes(&src, &pic, pic.host);
    int maxt = omp_get_max_threads();
    int tlist[3] = {1, maxt > 2 ? 2 : maxt, maxt};
    for (int k = 0; k < 3; k++) {
        if (k > 0 && tlist[k] == tlist[k - 1])
            continue;
        int n = 0;
        double t = now_s(), el;
        do {
            if (vp_preprocess_cpu(&src, &p, hdst, n % batch, tlist[k]))
                goto fail;
            n++;
            el = now_s() - t;
        } while (el < 1.0 || n < 3);
        printf("bench CPU: same, %d thread(s): %.2f ms/frame (%.0f frames/s)\n", tlist[k], 1e3 * el / n, n / el);
    }
    ret = 0;
fail:
    if (exec)
        cudaGraphExecDestroy(exec);
    if (graph)
        cudaGraphDestroy(graph);
    if (e0)
        cudaEventDestroy(e0);
    if (e1)
        cudaEventDestroy(e1);
    cudaFree(pic.dev);
    cudaFree(ddst);
    free(pic.host);
    free(hdst);
    return ret;
}

int main(int argc, char **argv)
{
    int do_bench = argc > 1 && !strcmp(argv[1], "--bench"), verbose = 1;
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        printf("SKIP: no usable CUDA device (cudaGetDeviceCount: %s, %d devices)\n",
               e != cudaSuccess ? cudaGetErrorName(e) : "ok", ndev);
        return 77;
    }
    cudaStream_t st = NULL;
    if (cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) != cudaSuccess) {
        fprintf(stderr, "FAIL cudaStreamCreate\n");
        return 1;
    }
    static const int sizes[][4] = {
        {1918, 1078, 640, 640}, {1920, 1080, 640, 640}, {720, 1280, 640, 640}, {1, 1, 640, 640},
        {2, 3, 17, 13},         {3, 2, 64, 64},         {640, 480, 640, 640},  {320, 240, 640, 640},
        {1280, 720, 640, 384},  {17, 9, 640, 384},      {333, 777, 416, 256},  {101, 57, 101, 57},
        {3840, 2160, 1280, 1280}, {4, 4, 1, 1},
    };
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    int fails = 0, n = 0, i = 0;
    result tot = {0};
    /* every format x every size, options rotating */
    for (int si = 0; si < nsizes; si++)
        for (int f = 0; f < VP_PRE_FORMAT_COUNT; f++, i++) {
            gcase c = {(vp_pre_format)f, sizes[si][0], sizes[si][1], 0, sizes[si][2], sizes[si][3],
                       (vp_pre_resize)((i + si) % 3), (vp_pre_order)((i / 2) % 2), (vp_pre_dtype)(i % 2),
                       (vp_pre_layout)((i / 3) % 2), i % 3, (i / 3) % 3, (si + 2 * f) % 3, (si + f) % 2,
                       i % 4 == 1 ? 3 : 1, i % 4 == 1 ? 1 : 0, i % 7 == 3};
            if (f == VP_PRE_P016)
                c.bits = (int[]){10, 12, 16}[(si + f) % 3];
            else if (f == VP_PRE_YUV420P10)
                c.bits = (int[]){10, 10, 12}[(si + f) % 3];
            fails += run_case(&c, st, &tot, verbose) != 0;
            n++;
        }
    /* every option combination, every format, at one odd size and one upscale */
    for (int f = 0; f < VP_PRE_FORMAT_COUNT; f++)
        for (int m = 0; m < 3; m++)
            for (int o = 0; o < 2; o++)
                for (int d = 0; d < 2; d++)
                    for (int l = 0; l < 2; l++)
                        for (int z = 0; z < 2; z++, i++) {
                            gcase c = {(vp_pre_format)f, z ? 99 : 1277, z ? 61 : 719, 0, z ? 320 : 416, z ? 320 : 416,
                                       (vp_pre_resize)m, (vp_pre_order)o, (vp_pre_dtype)d, (vp_pre_layout)l,
                                       i % 3, (i / 5) % 3, i % 3, (i / 2) % 2, 4, (i % 4), i % 11 == 0};
                            fails += run_case(&c, st, &tot, 0) != 0;
                            n++;
                        }
    fails += check_errors(st) != 0;
    printf("preprocess_gpu: %d cases, %d failed; max |gpu - cpu| %.3g in [0,1] colour units (bound 1/255 = %.3g); "
           "%zu of %zu elements not bit-identical\n",
           n, fails, tot.max_err, TOL01, tot.not_identical, tot.elems);
    if (!fails && do_bench && bench(st))
        fails++;
    cudaStreamDestroy(st);
    return fails ? 1 : 0;
}
