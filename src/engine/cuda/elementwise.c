/* CUDA kernels table: elementwise family (kernels in elementwise*.cu). */
#include "engine/cuda/cuda.h"

const vp_kernel vp_cuda_elementwise[] = {
    {0},
};
