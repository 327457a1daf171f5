/* CPU kernels: shape family. */
#include "engine/ops.h"

const vp_kernel vp_cpu_shape[] = {
    {0},
};
