/* What the vidpipe tool reaches inside a pipeline beyond the public API. */
#ifndef VP_PIPELINE_IMPL_H
#define VP_PIPELINE_IMPL_H

#include "vidpipe/pipeline.h"

struct vp_spans;
/* The recorded spans (profile.trace), NULL when not profiling; valid until
 * vp_pipeline_free, complete after vp_pipeline_wait. */
struct vp_spans *vp_pipeline_spans(vp_pipeline *p);

#endif
