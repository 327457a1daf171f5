/* Op schemas (shape and type inference): shape family. */
#include "engine/ops.h"

const vp_op_def vp_ops_shape[] = {
    {0},
};
