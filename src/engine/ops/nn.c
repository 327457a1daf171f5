/* Op schemas (shape and type inference): nn family. */
#include "engine/ops.h"

const vp_op_def vp_ops_nn[] = {
    {0},
};
