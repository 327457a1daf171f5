/* Graph passes over a plan (shapes known, constants folded). */
#include "engine/engine_impl.h"

int vp_plan_passes(vp_plan *p)
{
    (void)p;
    return VP_OK;
}
