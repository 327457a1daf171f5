/* Op schemas (shape and type inference): misc family. */
#include "engine/ops.h"

const vp_op_def vp_ops_misc[] = {
    {0},
};
