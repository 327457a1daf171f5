/* CPU kernels: nn family. */
#include "engine/ops.h"

const vp_kernel vp_cpu_nn[] = {
    {0},
};
