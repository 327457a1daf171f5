/*
 * Span recording: cheap timestamps for the profiler, every layer may call.
 *
 * A span is (name id, begin ns, end ns, one integer argument: the stream or
 * the batch). Spans are recorded into a vp_spans recorder owned by whoever
 * runs the work (the pipeline); exporting them (Chrome trace, reports) is
 * obs's job (obs/trace.h).
 *
 *   vp_spans        the recorder: a static table of names, fixed at create,
 *                   and up to max_writers per-thread buffers.
 *   vp_span_writer  one thread's buffer, a ring of `capacity` records that
 *                   keeps the most recent ones. Only its owner thread writes
 *                   to it, so recording takes no lock and no atomic
 *                   read-modify-write: a few plain stores and one release
 *                   store of the head. Readers (export, statistics) may run
 *                   at the same time as the owner and discard the records
 *                   the owner may have overwritten while they copied.
 *
 * Cost. Disabled is a NULL writer: vp_span_begin/vp_span_end are inline and
 * reduce to one predictable branch, no clock read. Enabled: two
 * clock_gettime(CLOCK_MONOTONIC) calls (vDSO, ~20 ns each), the record and a
 * per-writer histogram update; tests/obs/trace_test.c --bench measures it.
 *
 * Nesting. A span is stored when it ends, so a child is stored before its
 * parent; the exporter sorts each thread's records by begin time. Spans of
 * one writer must nest properly (begin/end in LIFO order) for the trace to
 * show them nested; that is the natural shape of stage code.
 *
 * Per-stage latency: each writer keeps a histogram per name (vp_hist,
 * ~6% relative resolution) updated when a span ends; vp_spans_stats merges
 * them over writers (per stage), vp_span_writer_stats reads one writer (per
 * thread, e.g. per stream's decode thread). For other latencies (per-stream
 * end-to-end) the caller keeps its own vp_hist, which is thread-safe.
 *
 * GPU work: see vp_span_gpu below.
 */
#ifndef VP_BASE_SPAN_H
#define VP_BASE_SPAN_H

#include "vidpipe/vidpipe.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic nanoseconds (CLOCK_MONOTONIC, a vDSO call on Linux: no system
 * call). The same clock as the pipeline's timestamps. */
static inline uint64_t vp_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- latency histogram ------------------------------------------------ */

/* Log-linear buckets: values < 8 ns exact, then 8 buckets per power of two
 * up to 2^42 ns (~73 min; larger values land in the last bucket). A
 * quantile is the middle of its bucket, clamped to [min, max] seen: relative
 * error at most 1/16. 2.7 KB; counters are atomics so vp_hist_add may be
 * called from any thread and read concurrently. */
#define VP_HIST_SUB_BITS 3
#define VP_HIST_MAX_LOG2 42
#define VP_HIST_BUCKETS ((1 << VP_HIST_SUB_BITS) * (VP_HIST_MAX_LOG2 - VP_HIST_SUB_BITS + 2))

typedef struct vp_hist {
    _Atomic uint64_t bucket[VP_HIST_BUCKETS];
    _Atomic uint64_t count, sum_ns, min_ns, max_ns;
} vp_hist;

typedef struct vp_span_stats {
    uint64_t count;
    double mean_ns;
    uint64_t min_ns, p50_ns, p95_ns, p99_ns, max_ns; /* 0 when count is 0 */
} vp_span_stats;

void vp_hist_init(vp_hist *h);
/* Thread-safe (atomic adds). */
void vp_hist_add(vp_hist *h, uint64_t ns);
/* dst += src; src may be updated meanwhile (the merge is then approximate). */
void vp_hist_merge(vp_hist *dst, const vp_hist *src);
/* Value at quantile q in [0, 1]; 0 for an empty histogram. */
uint64_t vp_hist_quantile(const vp_hist *h, double q);
void vp_hist_summary(const vp_hist *h, vp_span_stats *out);

/* ---- names -------------------------------------------------------------- */

/* A span name and the key its argument is shown under in the trace
 * ("stream", "batch"; NULL: "arg"). Strings must outlive the recorder
 * (string literals). */
typedef struct vp_span_name {
    const char *name;
    const char *arg_key;
} vp_span_name;

/* The pipeline's stages, the default name table (vp_span_stage_names). The
 * VP_SPAN_GPU_* names are work timed on the GPU with CUDA events. */
enum vp_span_stage {
    VP_SPAN_DECODE = 0,      /* arg: stream */
    VP_SPAN_PREPROCESS,      /* arg: batch */
    VP_SPAN_INFERENCE,       /* arg: batch */
    VP_SPAN_POSTPROCESS,     /* arg: batch */
    VP_SPAN_TRACKING,        /* arg: stream */
    VP_SPAN_SINK,            /* arg: stream */
    VP_SPAN_BATCH,           /* arg: batch; encloses one batch's stages */
    VP_SPAN_DEMUX,           /* arg: stream */
    VP_SPAN_GPU_PREPROCESS,  /* arg: batch */
    VP_SPAN_GPU_INFERENCE,   /* arg: batch */
    VP_SPAN_GPU_POSTPROCESS, /* arg: batch */
    VP_SPAN_STAGE_COUNT
};
extern const vp_span_name vp_span_stage_names[VP_SPAN_STAGE_COUNT];

/* Argument value meaning "none" (not shown in the trace). */
#define VP_SPAN_NOARG INT64_MIN

/* ---- recorder ------------------------------------------------------------ */

/* Optional hooks called at begin and end of every span of the recorder,
 * on the recording thread (obs/nvtx.h provides NVTX ranges). push gets the
 * name id; pop matches the innermost push of the thread. */
typedef struct vp_span_hooks {
    void (*push)(void *ctx, unsigned name);
    void (*pop)(void *ctx);
} vp_span_hooks;

enum { VP_SPAN_TRACK_CPU = 0, VP_SPAN_TRACK_GPU = 1 };

typedef struct vp_spans_config {
    const vp_span_name *names; /* NULL: vp_span_stage_names */
    unsigned n_names;          /* entries in names; 1..1024 */
    unsigned max_writers;      /* 0: 64; at most 4096 */
    unsigned capacity;         /* records kept per writer, 0: 65536 (2 MiB); rounded up to a power of two */
    const vp_span_hooks *hooks; /* NULL: none */
    void *hooks_ctx;
} vp_spans_config;

typedef struct vp_spans vp_spans;
typedef struct vp_span_writer vp_span_writer;

/* cfg may be NULL (defaults). Allocates the writer table; buffers are
 * allocated when writers are opened. VP_ERR_INVALID for a bad config
 * (logged), VP_ERR_NOMEM. */
int vp_spans_create(const vp_spans_config *cfg, vp_spans **out);
/* Frees the recorder and all its writers; no thread may be recording.
 * NULL-safe; sets *s to NULL. */
void vp_spans_free(vp_spans **s);

/* A writer for the calling thread (or for one GPU stream, track
 * VP_SPAN_TRACK_GPU), named for the trace ("decode s0", "infer", "cuda
 * stream 0"; copied, at most 63 bytes kept). A released writer of the same
 * name and track is handed out again with its records, so a stage thread
 * that restarts (a source removed and added back) continues its own track.
 * Thread-safe; allocates (capacity * 32 bytes): call at stage start, not per
 * frame. s NULL: *out = NULL and VP_OK (recording off). VP_ERR_NOMEM when
 * max_writers are in use (logged once; *out = NULL: the caller runs without
 * spans). */
int vp_spans_writer(vp_spans *s, const char *thread_name, int track, vp_span_writer **out);
/* The owner stops using w (thread exit); its records stay for export.
 * NULL-safe; sets *w to NULL. */
void vp_span_writer_release(vp_span_writer **w);

/* Out-of-line parts of the inline calls below; call those instead. */
uint64_t vp_span_begin_on(vp_span_writer *w, unsigned name);
void vp_span_end_on(vp_span_writer *w, unsigned name, uint64_t t0, int64_t arg);

/* Begin a span: returns the begin time (0 when w is NULL). Only the owner
 * thread of w may call. name < the recorder's n_names. */
static inline uint64_t vp_span_begin(vp_span_writer *w, unsigned name)
{
    return w ? vp_span_begin_on(w, name) : 0;
}

/* End the span begun at t0 (vp_span_begin's value) with the same name;
 * arg: stream or batch index, or VP_SPAN_NOARG. */
static inline void vp_span_end(vp_span_writer *w, unsigned name, uint64_t t0, int64_t arg)
{
    if (w)
        vp_span_end_on(w, name, t0, arg);
}

/* A span whose times the caller measured (vp_clock_ns() values), e.g. a
 * queue wait reconstructed afterwards. t1 < t0 is stored as t1 = t0. No
 * hooks are called. Owner thread only; NULL-safe. */
void vp_span_record(vp_span_writer *w, unsigned name, uint64_t t0, uint64_t t1, int64_t arg);

/*
 * GPU spans: work timed with CUDA events, reported by the host thread that
 * waited for it, into a writer of track VP_SPAN_TRACK_GPU (one per CUDA
 * stream, e.g. "cuda stream 0"), shown on its own track in the trace.
 *
 * Work on one stream is serial, so its spans must not overlap. Host times
 * derived from events carry an error (below); vp_span_gpu keeps the track
 * ordered by moving a span that would begin before the previous span of the
 * writer ended to that end (its duration is kept).
 *
 * What the CUDA side needs (the plugin table in gpu/gpu.h, to be wired):
 * event_create/event_destroy (cudaEventDefault: timing enabled),
 * event_record(ev, stream), event_sync(ev) and event_elapsed_ms(a, b, &ms)
 * (cudaEventElapsedTime). Per batch on the inference stream:
 *   1. t_anchor = vp_clock_ns(); event_record(anchor, stream)
 *   2. event_record(ev[2k]) / event_record(ev[2k+1]) around each stage
 *      (preprocess, inference, postprocess)
 *   3. after the batch's sync: elapsed(anchor, ev[i]) for each event and
 *      vp_span_gpu_elapsed(w, VP_SPAN_GPU_*, t_anchor, ms_begin, ms_end, batch)
 * When the stream is idle at step 1 (the previous batch was synchronised)
 * the anchor runs within the launch latency (a few us) of t_anchor; when it
 * is not, the GPU spans are drawn early by the time the stream was busy. For
 * exact placement, re-anchor every second with event_record + event_sync and
 * take t_anchor as the midpoint of vp_clock_ns() before the record and after
 * the sync. Float ms from cudaEventElapsedTime resolve ~0.5 us.
 */
void vp_span_gpu(vp_span_writer *w, unsigned name, uint64_t t0, uint64_t t1, int64_t arg);
/* The same with times as milliseconds after an anchor event whose host time
 * is anchor_ns (cudaEventElapsedTime(anchor, ev) values). */
void vp_span_gpu_elapsed(vp_span_writer *w, unsigned name, uint64_t anchor_ns, float begin_ms, float end_ms,
                         int64_t arg);

/* ---- reading (export, statistics); any thread, concurrently with writers */

typedef struct vp_span_event {
    uint64_t t0, t1; /* vp_clock_ns() values */
    int64_t arg;
    uint32_t name;
} vp_span_event;

typedef struct vp_span_writer_info {
    char name[64];
    int track;         /* VP_SPAN_TRACK_* */
    int tid;           /* OS thread id of the opening thread (0 for GPU tracks) */
    uint64_t recorded; /* spans recorded in total */
    uint64_t dropped;  /* overwritten by newer ones (the ring keeps the last capacity) */
} vp_span_writer_info;

unsigned vp_spans_n_names(const vp_spans *s);
/* NULL for an unknown id. */
const vp_span_name *vp_spans_name(const vp_spans *s, unsigned id);
/* Creation time (vp_clock_ns) of the recorder: the trace's zero. */
uint64_t vp_spans_origin_ns(const vp_spans *s);
/* Records a writer keeps; the buffer size vp_spans_snapshot needs. */
size_t vp_spans_capacity(const vp_spans *s);
/* Writers opened so far (indices 0..n-1 stay valid until vp_spans_free). */
unsigned vp_spans_n_writers(const vp_spans *s);
int vp_spans_writer_info(const vp_spans *s, unsigned i, vp_span_writer_info *out);
/* Copies writer i's retained records, oldest first in recording (end) order,
 * into out (room for cap records); returns the count. *first (may be NULL)
 * gets the recording index of out[0]: the writer's first *first spans were
 * overwritten (by the ring, or by the owner during the copy). */
size_t vp_spans_snapshot(const vp_spans *s, unsigned i, vp_span_event *out, size_t cap, uint64_t *first);

/* Latency of spans named name, over all writers (per stage) or one writer. */
int vp_spans_stats(const vp_spans *s, unsigned name, vp_span_stats *out);
int vp_span_writer_stats(const vp_spans *s, unsigned writer, unsigned name, vp_span_stats *out);

#ifdef __cplusplus
}
#endif
#endif
