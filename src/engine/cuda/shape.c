/* CUDA kernels table: shape family (kernels in shape*.cu). */
#include "engine/cuda/cuda.h"

const vp_kernel vp_cuda_shape[] = {
    {0},
};
