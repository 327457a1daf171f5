/* What the vidpipe tool reaches inside a pipeline beyond the public API. */
#ifndef VP_PIPELINE_IMPL_H
#define VP_PIPELINE_IMPL_H

#include "vidpipe/pipeline.h"

struct vp_spans;
/* The recorded spans (profile.trace), NULL when not profiling; valid until
 * vp_pipeline_free, complete after vp_pipeline_wait. */
struct vp_spans *vp_pipeline_spans(vp_pipeline *p);
/* Before vp_pipeline_start, when profiling: record the spans through hooks
 * as well (NVTX ranges, obs/nvtx.h). The recorder is made anew with them;
 * VP_ERR_INVALID after start or without profile.trace. */
struct vp_span_hooks;
int vp_pipeline_set_span_hooks(vp_pipeline *p, const struct vp_span_hooks *hooks, void *ctx);

#endif
