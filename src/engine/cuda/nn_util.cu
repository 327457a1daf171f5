/*
 * CUDA kernels of the nn family that only move data around cuDNN and
 * cuBLAS calls:
 *   - window copy: pads a convolution's input where ONNX pads are
 *     asymmetric (cuDNN pads both ends of an axis equally), and crops a
 *     transposed convolution's output computed with symmetric padding;
 *   - 2-D broadcast fill: Gemm's C broadcast into Y before cuBLAS
 *     accumulates beta * Y;
 *   - channel padding: a channels-last FP16 convolution input (or its
 *     weights) with a channel count that is not a multiple of 8 widened to
 *     one with zeros, so that cuDNN's tensor-core kernels take it.
 * Elements are moved as opaque words of their size, so one kernel serves
 * every type of that size.
 */
#include "engine/cuda/nn.h"

#include <stdint.h>

namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n)
{
    int64_t b = (n + kThreads - 1) / kThreads;
    return (unsigned)(b < 65536 ? b : 65536);
}

template <typename W>
__global__ void window_kernel(const vp_cuda_window_args a, const W *__restrict__ src,
                              W *__restrict__ dst)
{
    const int64_t dsz = a.dst[0] * a.dst[1] * a.dst[2], ssz = a.src[0] * a.src[1] * a.src[2];
    const int64_t total = a.planes * dsz;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t p = i / dsz, r = i % dsz;
        int64_t s2 = r % a.dst[2] - a.off[2];
        int64_t s1 = (r / a.dst[2]) % a.dst[1] - a.off[1];
        int64_t s0 = r / (a.dst[2] * a.dst[1]) - a.off[0];
        bool in = s0 >= 0 && s0 < a.src[0] && s1 >= 0 && s1 < a.src[1] && s2 >= 0 &&
                  s2 < a.src[2];
        dst[i] = in ? src[p * ssz + (s0 * a.src[1] + s1) * a.src[2] + s2] : (W)0;
    }
}

template <typename W>
int launch_window(cudaStream_t st, const vp_cuda_window_args *a, const void *src, void *dst)
{
    int64_t total = a->planes * a->dst[0] * a->dst[1] * a->dst[2];
    if (total <= 0)
        return VP_OK;
    window_kernel<W><<<grid_for(total), kThreads, 0, st>>>(*a, (const W *)src, (W *)dst);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

template <typename T>
__global__ void fill_bcast2d_kernel(int64_t m, int64_t n, const T *__restrict__ c, int64_t cs0,
                                    int64_t cs1, T *__restrict__ y)
{
    const int64_t total = m * n;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] = c[(i / n) * cs0 + (i % n) * cs1];
}

template <typename T>
int launch_fill(cudaStream_t st, int64_t m, int64_t n, const void *c, int64_t cs0, int64_t cs1,
                void *y)
{
    if (m <= 0 || n <= 0)
        return VP_OK;
    fill_bcast2d_kernel<T><<<grid_for(m * n), kThreads, 0, st>>>(m, n, (const T *)c, cs0, cs1,
                                                                 (T *)y);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

/* One thread per row of c halves: writes the row's cp halves (cp a multiple
 * of 8) as 16-byte words, zeros after c. */
__global__ void pad_channels_kernel(int64_t rows, int c, int cp, const uint16_t *__restrict__ src,
                                    uint4 *__restrict__ dst)
{
    const int words = cp / 8;
    for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < rows;
         r += (int64_t)gridDim.x * blockDim.x) {
        const uint16_t *s = src + r * c;
        for (int w = 0; w < words; w++) {
            uint16_t h[8];
#pragma unroll
            for (int k = 0; k < 8; k++)
                h[k] = 8 * w + k < c ? s[8 * w + k] : (uint16_t)0;
            uint4 v;
            v.x = h[0] | (unsigned)h[1] << 16;
            v.y = h[2] | (unsigned)h[3] << 16;
            v.z = h[4] | (unsigned)h[5] << 16;
            v.w = h[6] | (unsigned)h[7] << 16;
            dst[r * words + w] = v;
        }
    }
}

} // namespace

extern "C" int vp_cuda_pad_channels16(cudaStream_t st, int64_t rows, int c, int cp, const void *src,
                                      void *dst)
{
    if (c < 1 || cp < c || cp % 8 || ((uintptr_t)dst & 15))
        return VP_ERR_INVALID;
    if (rows <= 0)
        return VP_OK;
    pad_channels_kernel<<<grid_for(rows), kThreads, 0, st>>>(rows, c, cp, (const uint16_t *)src,
                                                             (uint4 *)dst);
    VP_CUDA_LAUNCHED();
    return VP_OK;
}

extern "C" int vp_cuda_window_copy(cudaStream_t st, size_t esize, const vp_cuda_window_args *a,
                                   const void *src, void *dst)
{
    switch (esize) {
    case 2: return launch_window<uint16_t>(st, a, src, dst);
    case 4: return launch_window<uint32_t>(st, a, src, dst);
    case 8: return launch_window<uint64_t>(st, a, src, dst);
    default: return VP_ERR_UNSUPPORTED;
    }
}

extern "C" int vp_cuda_fill_bcast2d(cudaStream_t st, vp_dtype dt, int64_t m, int64_t n,
                                    const void *c, int64_t cs0, int64_t cs1, void *y)
{
    switch (dt) {
    case VP_DT_FLOAT: return launch_fill<float>(st, m, n, c, cs0, cs1, y);
    case VP_DT_FLOAT16: return launch_fill<uint16_t>(st, m, n, c, cs0, cs1, y);
    case VP_DT_DOUBLE: return launch_fill<double>(st, m, n, c, cs0, cs1, y);
    default: return VP_ERR_UNSUPPORTED;
    }
}
