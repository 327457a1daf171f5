/* CUDA kernels table: nn family (kernels in nn*.cu). */
#include "engine/cuda/cuda.h"

const vp_kernel vp_cuda_nn[] = {
    {0},
};
