/* CPU kernels: elementwise family. */
#include "engine/ops.h"

const vp_kernel vp_cpu_elementwise[] = {
    {0},
};
