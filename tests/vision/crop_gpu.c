/*
 * vp_crop_gpu: the CUDA crop + resize kernel (vision/cuda/crop.cu,
 * libvidpipe_cuda.so) against the CPU reference (vision/crop.c), which
 * crop_ref.py checks against OpenCV.
 *
 *   vp_crop_gpu           NV12, P016, YUV420P, RGB24 pictures of several
 *                         sizes (odd ones, 1080p), pitched like NVDEC
 *                         surfaces; 70 boxes over two pictures per call (two
 *                         launches), inside, touching and crossing every
 *                         edge, outside, sub-pixel, larger than the picture;
 *                         FP32/FP16 x NCHW/NHWC; every element within 1/255
 *                         of the CPU's (bit-exact expected, the count of
 *                         differing elements is printed); sentinel slots
 *                         before and after must stay untouched.
 *   vp_crop_gpu --bench   also times 50 crops 64x64 FP16 from a 1080p NV12
 *                         picture (printed, not asserted)
 *
 * Exit: 0 pass, 1 fail, 77 when no CUDA device is usable.
 */
#include "engine/graph.h" /* vp_half_to_float */
#include "vision/crop.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CK(x)                                                                                  \
    do {                                                                                       \
        cudaError_t e_ = (x);                                                                  \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static uint64_t rng = 0x1234567;
static uint32_t rnd(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 40);
}
static double unit(void) { return (double)rnd() / 16777216.0; }

typedef struct pic {
    vp_pre_src hsrc, dsrc;
    uint8_t *host;
    void *dev;
    size_t bytes;
} pic;

static void make_pic(pic *p, vp_pre_format f, int w, int h)
{
    const int wide = f == VP_PRE_P016, packed = f == VP_PRE_RGB24;
    const int bps = wide ? 2 : 1, cw = (w + 1) / 2, ch = (h + 1) / 2;
    size_t pitch0 = (((size_t)w * (packed ? 3 : bps)) + 255) / 256 * 256; /* NVDEC-like pitch */
    size_t pitch1 = f == VP_PRE_YUV420P ? ((size_t)cw + 63) / 64 * 64 : pitch0;
    size_t off1 = pitch0 * (size_t)h, off2 = off1 + pitch1 * (size_t)ch;
    p->bytes = packed ? off1 : f == VP_PRE_YUV420P ? off2 + pitch1 * (size_t)ch : off2;
    p->host = malloc(p->bytes);
    for (size_t i = 0; i < p->bytes; i++) /* smooth gradient + noise */
        p->host[i] = (uint8_t)((i % 251) + (rnd() & 15));
    if (wide) /* MSB-aligned 10-bit content: low 6 bits zero */
        for (size_t i = 0; i + 1 < p->bytes; i += 2)
            p->host[i] &= 0xC0;
    CK(cudaMalloc(&p->dev, p->bytes));
    CK(cudaMemcpy(p->dev, p->host, p->bytes, cudaMemcpyHostToDevice));
    vp_pre_src s = {.format = f, .width = w, .height = h, .matrix = VP_PRE_BT709, .range = VP_PRE_RANGE_LIMITED};
    s.pitch[0] = pitch0;
    if (!packed)
        s.pitch[1] = pitch1;
    if (f == VP_PRE_YUV420P)
        s.pitch[2] = pitch1;
    p->hsrc = p->dsrc = s;
    const size_t offs[3] = {0, off1, off2};
    const int np = packed ? 1 : f == VP_PRE_YUV420P ? 3 : 2;
    for (int i = 0; i < np; i++) {
        p->hsrc.plane[i] = p->host + offs[i];
        p->dsrc.plane[i] = (uint8_t *)p->dev + offs[i];
    }
}

static void free_pic(pic *p)
{
    free(p->host);
    CK(cudaFree(p->dev));
}

static int make_boxes(vp_crop *c, int n, int w0, int h0, int w1, int h1)
{
    for (int i = 0; i < n; i++) {
        const int s = i % 2, w = s ? w1 : w0, h = s ? h1 : h0;
        float x0, y0, x1, y1;
        switch (i % 10) {
        case 0: x0 = -15, y0 = -9, x1 = 0.4f * w, y1 = 0.3f * h; break;               /* crosses top-left */
        case 1: x0 = w - 11.5f, y0 = h - 7.25f, x1 = w + 20, y1 = h + 5; break;     /* crosses bottom-right */
        case 2: x0 = 0, y0 = 0, x1 = (float)w, y1 = (float)h; break;                /* the whole picture */
        case 3: x0 = -40, y0 = 3, x1 = -2, y1 = 30; break;                          /* entirely outside */
        case 4: x0 = 3.3f, y0 = 4.1f, x1 = 3.7f, y1 = 4.2f; break;                  /* sub-pixel */
        case 5: x0 = -100, y0 = -100, x1 = w + 100.0f, y1 = h + 100.0f; break;      /* larger */
        default:
            x0 = (float)(unit() * w * 0.9), y0 = (float)(unit() * h * 0.9);
            x1 = x0 + 1 + (float)(unit() * w * 0.5), y1 = y0 + 1 + (float)(unit() * h * 0.5);
        }
        c[i] = (vp_crop){s, x0, y0, x1, y1};
    }
    return n;
}

static float elem(const void *buf, size_t i, int fp16)
{
    return fp16 ? vp_half_to_float(((const uint16_t *)buf)[i]) : ((const float *)buf)[i];
}

static int run_case(vp_pre_format f, int w, int h, int dw, int dh, vp_pre_dtype dt, vp_pre_layout lay)
{
    enum { N = 70, GUARD = 1 };
    pic pics[2];
    make_pic(&pics[0], f, w, h);
    make_pic(&pics[1], f, w / 2 + 3, h / 2 + 1);
    vp_crop crops[N];
    make_boxes(crops, N, w, h, w / 2 + 3, h / 2 + 1);
    vp_pre_params p;
    vp_pre_params_default(&p);
    p.dst_width = dw, p.dst_height = dh, p.dtype = dt, p.layout = lay;
    p.mean[0] = 0.485f, p.std[2] = 0.225f; /* non-trivial normalisation */
    const size_t esz = dt == VP_PRE_FP16 ? 2 : 4, slot = vp_pre_slot_elems(&p), total = (N + 2 * GUARD) * slot * esz;
    uint8_t *cpu = malloc(total), *gpu = malloc(total);
    memset(cpu, 0xA5, total);
    void *dd;
    CK(cudaMalloc(&dd, total));
    CK(cudaMemset(dd, 0xA5, total));
    vp_pre_src hs[2] = {pics[0].hsrc, pics[1].hsrc}, ds[2] = {pics[0].dsrc, pics[1].dsrc};
    int fails = 0;
    if (vp_crop_cpu(hs, 2, crops, N, &p, cpu, GUARD) != VP_OK ||
        vp_cuda_crop(ds, 2, crops, N, &p, dd, GUARD, NULL) != VP_OK) {
        fprintf(stderr, "FAIL: crop call failed (%s %dx%d)\n", vp_pre_format_name(f), w, h);
        fails++;
    }
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(gpu, dd, total, cudaMemcpyDeviceToHost));
    double worst = 0;
    long differ = 0;
    const size_t ne = (N + 2 * GUARD) * slot;
    for (size_t i = 0; i < ne; i++) {
        const int guard = i < GUARD * slot || i >= (N + GUARD) * slot;
        if (guard) {
            for (size_t b = 0; b < esz; b++)
                if (gpu[i * esz + b] != 0xA5) {
                    fails++;
                    fprintf(stderr, "FAIL: sentinel element %zu overwritten\n", i);
                    b = esz, i = ne;
                }
            continue;
        }
        const float a = elem(cpu, i, dt == VP_PRE_FP16), g = elem(gpu, i, dt == VP_PRE_FP16);
        const double d = fabs((double)a - g);
        if (!(d <= 1.0 / 255)) {
            if (fails < 10)
                fprintf(stderr, "FAIL %s %dx%d -> %dx%d %s %s: element %zu (crop %zu): cpu %g gpu %g\n",
                        vp_pre_format_name(f), w, h, dw, dh, dt ? "fp16" : "fp32", lay ? "nhwc" : "nchw", i,
                        i / slot - GUARD, a, g);
            fails++;
        }
        differ += memcmp(cpu + i * esz, gpu + i * esz, esz) != 0;
        worst = d > worst ? d : worst;
    }
    printf("crop_gpu: %-8s %4dx%-4d -> %2dx%-2d %s %s: %d crops, max |gpu - cpu| %.3g, %ld elements not bit-equal%s\n",
           vp_pre_format_name(f), w, h, dw, dh, dt ? "fp16" : "fp32", lay ? "nhwc" : "nchw", N, worst, differ,
           fails ? "  FAILED" : "");
    free(cpu);
    free(gpu);
    CK(cudaFree(dd));
    free_pic(&pics[0]);
    free_pic(&pics[1]);
    return fails;
}

static void bench(void)
{
    pic pc;
    make_pic(&pc, VP_PRE_NV12, 1920, 1080);
    vp_crop crops[50];
    for (int i = 0; i < 50; i++) {
        float x = (float)(unit() * 1800), y = (float)(unit() * 950);
        crops[i] = (vp_crop){0, x, y, x + 40 + (float)(unit() * 120), y + 60 + (float)(unit() * 200)};
    }
    vp_pre_params p;
    vp_pre_params_default(&p);
    p.dst_width = p.dst_height = 64, p.dtype = VP_PRE_FP16;
    void *dd;
    CK(cudaMalloc(&dd, 50 * vp_pre_slot_elems(&p) * 2));
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    vp_cuda_crop(&pc.dsrc, 1, crops, 50, &p, dd, 0, NULL);
    CK(cudaEventRecord(a, NULL));
    for (int i = 0; i < 100; i++)
        vp_cuda_crop(&pc.dsrc, 1, crops, 50, &p, dd, 0, NULL);
    CK(cudaEventRecord(b, NULL));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    void *host = malloc(50 * vp_pre_slot_elems(&p) * 2);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 10; i++)
        vp_crop_cpu(&pc.hsrc, 1, crops, 50, &p, host, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("bench: 50 crops 64x64 fp16 from 1080p NV12: GPU %.4f ms per call, CPU reference %.3f ms\n", ms / 100,
           ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / 10);
    free(host);
    CK(cudaFree(dd));
    free_pic(&pc);
}

int main(int argc, char **argv)
{
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev < 1) {
        printf("SKIP: no usable CUDA device (cudaGetDeviceCount: %s, %d devices)\n", cudaGetErrorString(e), ndev);
        return 77;
    }
    static const struct { int w, h, dw, dh; } sz[] = {{640, 384, 64, 64}, {1920, 1080, 32, 64}, {97, 61, 64, 64}, {33, 17, 7, 5}};
    static const vp_pre_format fm[] = {VP_PRE_NV12, VP_PRE_P016, VP_PRE_YUV420P, VP_PRE_RGB24};
    int fails = 0;
    for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
        for (size_t f = 0; f < sizeof fm / sizeof fm[0]; f++)
            for (int dt = 0; dt < 2; dt++)
                for (int lay = 0; lay < 2; lay++)
                    fails += run_case(fm[f], sz[s].w, sz[s].h, sz[s].dw, sz[s].dh, (vp_pre_dtype)dt, (vp_pre_layout)lay);
    /* plain host memory must be refused, not crash */
    pic pc;
    make_pic(&pc, VP_PRE_NV12, 64, 48);
    vp_crop c = {0, 1, 1, 20, 20};
    vp_pre_params p;
    vp_pre_params_default(&p);
    p.dst_width = p.dst_height = 16;
    float host_out[3 * 16 * 16];
    void *dd;
    CK(cudaMalloc(&dd, sizeof host_out));
    if (vp_cuda_crop(&pc.hsrc, 1, &c, 1, &p, dd, 0, NULL) != VP_ERR_INVALID ||
        vp_cuda_crop(&pc.dsrc, 1, &c, 1, &p, host_out, 0, NULL) != VP_ERR_INVALID) {
        fprintf(stderr, "FAIL: host memory was not refused\n");
        fails++;
    }
    CK(cudaFree(dd));
    free_pic(&pc);
    if (argc > 1 && !strcmp(argv[1], "--bench"))
        bench();
    printf("crop_gpu: %s\n", fails ? "FAILED" : "all checks passed");
    return fails ? 1 : 0;
}
