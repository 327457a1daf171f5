/* CUDA kernels table: misc family (kernels in misc*.cu). */
#include "engine/cuda/cuda.h"

const vp_kernel vp_cuda_misc[] = {
    {0},
};
