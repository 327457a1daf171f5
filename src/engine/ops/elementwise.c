/* Op schemas (shape and type inference): elementwise family. */
#include "engine/ops.h"

const vp_op_def vp_ops_elementwise[] = {
    {0},
};
