/*
 * Export of recorded spans (base/span.h): Chrome trace event JSON, which
 * Perfetto (ui.perfetto.dev) and chrome://tracing open, and a text report of
 * per-stage latencies.
 *
 * The trace is a JSON object {"traceEvents": [...], "displayTimeUnit": "ms",
 * "otherData": {...}}: one "X" (complete) event per span with ts and dur in
 * microseconds (three decimals: ns resolution) from the recorder's origin,
 * pid/tid, cat "cpu" or "gpu" and the span's argument under its key; "M"
 * metadata events name the process and every writer's thread. CPU writers
 * are threads of process pid; GPU writers are threads of a second process
 * pid + 1 named "<process> GPU", so GPU work gets its own group. Each
 * thread's events are written sorted by begin time (parents before their
 * children); otherData records spans dropped by the rings.
 *
 * Written streaming to a FILE: memory used is one writer's snapshot
 * (capacity records), whatever the number of spans. May run while writers
 * record (what each ring holds at that moment).
 */
#ifndef VP_OBS_TRACE_H
#define VP_OBS_TRACE_H

#include "base/span.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vp_trace_opts {
    const char *process_name; /* NULL: "vidpipe" */
    int pid;                  /* 0: the process id */
} vp_trace_opts;

/* Writes the trace to f (not closed). opts may be NULL. VP_ERR_NOMEM;
 * VP_ERR_IO when writing failed (logged). */
int vp_trace_write(const vp_spans *s, FILE *f, const vp_trace_opts *opts);

/* Writes the trace to path through path.tmp and a rename, so a reader never
 * sees half a file. Errors logged with the path. */
int vp_trace_write_file(const vp_spans *s, const char *path, const vp_trace_opts *opts);

/* Text table of every name with spans: count, mean, p50, p95, p99, max
 * (microseconds), over all writers. */
int vp_trace_report(const vp_spans *s, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
