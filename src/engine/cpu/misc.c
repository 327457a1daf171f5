/* CPU kernels: misc family. */
#include "engine/ops.h"

const vp_kernel vp_cpu_misc[] = {
    {0},
};
