/*
 * The pipeline's HTTP endpoint (obs/http.h): Prometheus /metrics, /stats
 * JSON and the /sources control API, on libmicrohttpd.
 *
 * Why libmicrohttpd: it parses HTTP and enforces what a hostile or broken
 * client can cost (connections, header memory, idle time), which a service
 * that runs for months next to cameras must not get wrong. What it leaves to
 * us is bounded here: bodies (VP_HTTP_MAX_BODY, Content-Length checked before
 * reading), response sizes (VP_HTTP_MAX_TEXT) and the per-request state (one
 * small struct for POSTs, freed by the completion callback).
 *
 * Threading: one libmicrohttpd polling thread answers every request, so
 * handlers run one at a time; the mutex still guards the state kept between
 * requests (snapshot buffer, fps windows) so that the contract does not
 * depend on the thread mode. Hooks run under it (documented in http.h).
 *
 * fps: the pipeline reports counters, not rates. Each stream keeps the
 * sample (time, frames) that opened its current window; a scrape at least
 * VP_HTTP_FPS_WINDOW_S after it closes the window and computes the rate, a
 * scrape sooner reports the last rate (so that a burst of scrapes does not
 * divide by milliseconds). Until its first window closes, a stream reports
 * its average since the pipeline started (an underestimate for a source
 * added late, corrected when the window closes).
 */
#include "obs/http.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#define VP_HTTP_MAX_BODY (64 * 1024)        /* POST bodies, bytes */
#define VP_HTTP_MAX_TEXT (32u << 20)        /* one response, bytes (256 streams need < 1 MiB) */
#define VP_HTTP_CONN_MEMORY (32 * 1024)     /* libmicrohttpd per connection: request line + headers */
#define VP_HTTP_FPS_WINDOW_S 1.0
#define VP_HTTP_ID_MAX 64                   /* as sources[].id in the config */
#define VP_HTTP_URI_MAX 4096                /* as sources[].uri */

struct vp_http_text {
    char *buf;
    size_t len, cap;
    int failed;
};

typedef struct fps_slot {
    char id[VP_HTTP_ID_MAX + 1];
    int used, seen;
    double t;                  /* CLOCK_MONOTONIC seconds: the window's start */
    long frames;               /* frames_processed at t */
    double fps;                /* the last closed window's rate */
    int measured;              /* 0: no window closed yet (fps reported: the average since start) */
} fps_slot;

struct vp_http {
    struct MHD_Daemon *daemon;
    vp_pipeline *p;
    char *token;               /* NULL: no authentication */
    size_t token_len;
    vp_http_hook hook;
    int port;
    pthread_mutex_t mu;        /* guards what follows, and start_err during start */
    int starting;              /* 1 inside MHD_start_daemon: its messages go to start_err */
    char start_err[256];
    vp_stream_stats *streams;  /* VP_PIPE_MAX_SOURCES: the snapshot buffer */
    double *fps;               /* VP_PIPE_MAX_SOURCES: fps of streams[i] */
    fps_slot *slots;           /* VP_PIPE_MAX_SOURCES */
};

/* One POST being received. */
typedef struct http_req {
    char *body;                /* NUL-terminated, len bytes */
    size_t len, cap;
} http_req;

static void set_err(char *err, size_t errlen, const char *fmt, ...) VP_PRINTF(3, 4);
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- text buffer ------------------------------------------------------ */

/* Room for len more bytes and the NUL; sticky failure past VP_HTTP_MAX_TEXT. */
static int text_reserve(vp_http_text *t, size_t len)
{
    if (t->failed)
        return VP_ERR_NOMEM;
    if (len > VP_HTTP_MAX_TEXT - t->len - 1) {
        t->failed = 1;
        return VP_ERR_NOMEM;
    }
    if (t->len + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 16384;
        while (cap < t->len + len + 1)
            cap *= 2;
        char *b = realloc(t->buf, cap);
        if (!b) {
            t->failed = 1;
            return VP_ERR_NOMEM;
        }
        t->buf = b, t->cap = cap;
        if (t->len == 0)
            b[0] = '\0';
    }
    return 0;
}

int vp_http_text_append(vp_http_text *t, const char *s, size_t len)
{
    if (text_reserve(t, len))
        return VP_ERR_NOMEM;
    memcpy(t->buf + t->len, s, len);
    t->len += len;
    t->buf[t->len] = '\0';
    return 0;
}

int vp_http_text_printf(vp_http_text *t, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = 1;
        return VP_ERR_INVALID;
    }
    if ((size_t)n < sizeof small)
        return vp_http_text_append(t, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) {
        t->failed = 1;
        return VP_ERR_NOMEM;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = vp_http_text_append(t, big, (size_t)n);
    free(big);
    return rc;
}

int vp_http_text_label(vp_http_text *t, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
        if (!esc)
            continue;
        vp_http_text_append(t, run, (size_t)(s - run));
        vp_http_text_append(t, esc, 2);
        run = s + 1;
    }
    return vp_http_text_append(t, run, (size_t)(s - run));
}

/* A sample value as the text format spells it (Go's ParseFloat forms). */
static void text_value(vp_http_text *t, double v)
{
    if (isnan(v))
        vp_http_text_append(t, "NaN", 3);
    else if (isinf(v))
        vp_http_text_append(t, v > 0 ? "+Inf" : "-Inf", 4);
    else
        vp_http_text_printf(t, "%.10g", v);
}

/* ---- snapshot and fps (caller holds h->mu) ---------------------------- */

static fps_slot *find_slot(vp_http *h, const char *id)
{
    if (strlen(id) > VP_HTTP_ID_MAX)
        return NULL;
    fps_slot *free_slot = NULL;
    for (int i = 0; i < VP_PIPE_MAX_SOURCES; i++) {
        fps_slot *s = &h->slots[i];
        if (s->used && !strcmp(s->id, id))
            return s;
        if (!s->used && !free_slot)
            free_slot = s;
    }
    if (free_slot) {
        memset(free_slot, 0, sizeof *free_slot);
        strcpy(free_slot->id, id);
        free_slot->t = -1; /* new */
    }
    return free_slot;
}

/* Takes the statistics into h->streams and h->fps; returns the number of
 * streams there (at most VP_PIPE_MAX_SOURCES). */
static int snapshot(vp_http *h, vp_pipeline_stats *s)
{
    memset(s, 0, sizeof *s);
    int n = vp_pipeline_get_stats(h->p, s, h->streams, VP_PIPE_MAX_SOURCES);
    if (n < 0)
        n = 0;
    if (n > VP_PIPE_MAX_SOURCES)
        n = VP_PIPE_MAX_SOURCES;
    double t = now_s();
    for (int i = 0; i < VP_PIPE_MAX_SOURCES; i++)
        h->slots[i].seen = 0;
    for (int i = 0; i < n; i++) {
        const vp_stream_stats *st = &h->streams[i];
        long frames = st->frames_processed;
        double since_start = s->wall_s > 0 ? (double)frames / s->wall_s : 0.0;
        fps_slot *sl = find_slot(h, st->id ? st->id : "");
        if (!sl) { /* id longer than the config allows: no window kept */
            h->fps[i] = since_start;
            continue;
        }
        sl->used = sl->seen = 1;
        if (sl->t < 0 || frames < sl->frames) { /* new, or removed and added again in between */
            sl->t = t, sl->frames = frames, sl->measured = 0;
        } else if (t - sl->t >= VP_HTTP_FPS_WINDOW_S) {
            sl->fps = (double)(frames - sl->frames) / (t - sl->t);
            sl->t = t, sl->frames = frames, sl->measured = 1;
        }
        h->fps[i] = sl->measured ? sl->fps : since_start;
    }
    for (int i = 0; i < VP_PIPE_MAX_SOURCES; i++)
        if (h->slots[i].used && !h->slots[i].seen)
            h->slots[i].used = 0; /* removed: forget its window */
    return n;
}

static const char *stream_state(const vp_stream_stats *st)
{
    return st->failed ? "failed" : st->finished ? "finished" : "running";
}

/* ---- /metrics --------------------------------------------------------- */

static void family(vp_http_text *t, const char *name, const char *type, const char *help)
{
    vp_http_text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{stream="id"<,extra>} */
static void stream_series(vp_http_text *t, const char *name, const char *id, const char *extra)
{
    vp_http_text_printf(t, "%s{stream=\"", name);
    vp_http_text_label(t, id ? id : "");
    vp_http_text_printf(t, "\"%s} ", extra ? extra : "");
}

/* Per-stream counters, one table so that names, help and fields agree. */
static const struct {
    const char *name, *help;
    size_t off;                /* long field of vp_stream_stats */
} stream_counters[] = {
    {"vidpipe_frames_total", "Frames through the engine and the sinks.", offsetof(vp_stream_stats, frames_processed)},
    {"vidpipe_frames_decoded_total", "Frames decoded.", offsetof(vp_stream_stats, frames_decoded)},
    {"vidpipe_frames_dropped_total", "Frames dropped because the stream's queue was full (live sources).",
     offsetof(vp_stream_stats, frames_dropped)},
    {"vidpipe_decode_errors_total", "Corrupt packets skipped by the decoder.", offsetof(vp_stream_stats, decode_errors)},
    {"vidpipe_reconnects_total", "Reconnections of a live source.", offsetof(vp_stream_stats, reconnects)},
    {"vidpipe_detections_total", "Detections written.", offsetof(vp_stream_stats, detections)},
};

/* The GPU path's memory pools (device, pinned host), one table for
 * /metrics and /stats; all zeros on the CPU path. */
static const struct {
    const char *name, *type, *help;
    const char *key;           /* member in /stats "memory_pools" */
    size_t off;                /* long field of vp_mem_pool_stats */
} pool_series[] = {
    {"vidpipe_pool_allocations_total", "counter",
     "Memory pool allocations served (GPU path: pool=device or host, pinned; 0 on the CPU path).", "allocs",
     offsetof(vp_mem_pool_stats, allocs)},
    {"vidpipe_pool_fresh_allocations_total", "counter", "Memory pool allocations served by cudaMalloc or cudaMallocHost.",
     "fresh", offsetof(vp_mem_pool_stats, fresh)},
    {"vidpipe_pool_reuses_total", "counter", "Memory pool allocations served from a free list.", "reuses",
     offsetof(vp_mem_pool_stats, reuses)},
    {"vidpipe_pool_returns_total", "counter", "Blocks given back to a memory pool.", "returns",
     offsetof(vp_mem_pool_stats, returns)},
    {"vidpipe_pool_failures_total", "counter", "Memory pool allocations refused (out of memory).", "failures",
     offsetof(vp_mem_pool_stats, failures)},
    {"vidpipe_pool_bad_frees_total", "counter",
     "Frees of a pointer a memory pool did not hand out, or of a block twice (bugs; refused).", "bad_frees",
     offsetof(vp_mem_pool_stats, bad_frees)},
    {"vidpipe_pool_outstanding_blocks", "gauge", "Memory pool blocks held by the pipeline now.", "blocks_out",
     offsetof(vp_mem_pool_stats, blocks_out)},
    {"vidpipe_pool_outstanding_bytes", "gauge", "Memory pool bytes held by the pipeline now (block sizes).",
     "bytes_out", offsetof(vp_mem_pool_stats, bytes_out)},
    {"vidpipe_pool_peak_bytes", "gauge", "Most memory pool bytes held by the pipeline at once.", "peak_bytes_out",
     offsetof(vp_mem_pool_stats, peak_bytes_out)},
    {"vidpipe_pool_free_blocks", "gauge", "Blocks in a memory pool's free lists, ready for reuse.", "blocks_free",
     offsetof(vp_mem_pool_stats, blocks_free)},
    {"vidpipe_pool_free_bytes", "gauge", "Bytes in a memory pool's free lists, ready for reuse.", "bytes_free",
     offsetof(vp_mem_pool_stats, bytes_free)},
};

static long pool_value(const vp_mem_pool_stats *ps, size_t k)
{
    return *(const long *)(const void *)((const char *)ps + pool_series[k].off);
}

static void summary(vp_http_text *t, const char *name, const char *label, const char *value, const vp_latency *l)
{
    static const struct { const char *q; size_t off; } qs[] = {
        {"0.5", offsetof(vp_latency, p50)},
        {"0.99", offsetof(vp_latency, p99)},
    };
    for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
        double v = l->n > 0 ? *(const double *)((const char *)l + qs[k].off) : NAN;
        vp_http_text_printf(t, "%s{%s=\"", name, label);
        vp_http_text_label(t, value);
        vp_http_text_printf(t, "\",quantile=\"%s\"} ", qs[k].q);
        text_value(t, v);
        vp_http_text_append(t, "\n", 1);
    }
    vp_http_text_printf(t, "%s_sum{%s=\"", name, label);
    vp_http_text_label(t, value);
    vp_http_text_append(t, "\"} ", 3);
    text_value(t, l->n > 0 ? l->mean * (double)l->n : 0.0);
    vp_http_text_printf(t, "\n%s_count{%s=\"", name, label);
    vp_http_text_label(t, value);
    vp_http_text_printf(t, "\"} %ld\n", l->n);
}

static void render_metrics(vp_http *h, vp_http_text *t)
{
    vp_pipeline_stats s;
    int n = snapshot(h, &s);
    const vp_stream_stats *st = h->streams;

    for (size_t c = 0; c < sizeof stream_counters / sizeof stream_counters[0]; c++) {
        family(t, stream_counters[c].name, "counter", stream_counters[c].help);
        for (int i = 0; i < n; i++) {
            stream_series(t, stream_counters[c].name, st[i].id, NULL);
            vp_http_text_printf(t, "%ld\n", *(const long *)((const char *)&st[i] + stream_counters[c].off));
        }
    }
    family(t, "vidpipe_stream_up", "gauge", "1 while the source is read, 0 once it ended.");
    for (int i = 0; i < n; i++) {
        stream_series(t, "vidpipe_stream_up", st[i].id, NULL);
        vp_http_text_printf(t, "%d\n", !st[i].finished);
    }
    family(t, "vidpipe_stream_failed", "gauge", "1 when the source ended by an error (see /sources).");
    for (int i = 0; i < n; i++) {
        stream_series(t, "vidpipe_stream_failed", st[i].id, NULL);
        vp_http_text_printf(t, "%d\n", st[i].failed ? 1 : 0);
    }
    family(t, "vidpipe_stream_decoder_info", "gauge", "The decoder of the stream (nvdec: on the GPU), always 1.");
    for (int i = 0; i < n; i++) {
        char extra[48];
        snprintf(extra, sizeof extra, ",decoder=\"%s\"", vp_hw_name(st[i].decoder));
        stream_series(t, "vidpipe_stream_decoder_info", st[i].id, extra);
        vp_http_text_append(t, "1\n", 2);
    }
    family(t, "vidpipe_fps", "gauge", "Frames processed per second over the last window of at least 1 s.");
    for (int i = 0; i < n; i++) {
        stream_series(t, "vidpipe_fps", st[i].id, NULL);
        text_value(t, h->fps[i]);
        vp_http_text_append(t, "\n", 1);
    }
    family(t, "vidpipe_latency_ms", "summary", "Packet read to results written, milliseconds.");
    for (int i = 0; i < n; i++)
        summary(t, "vidpipe_latency_ms", "stream", st[i].id ? st[i].id : "", &st[i].latency);

    family(t, "vidpipe_streams", "gauge", "Sources in the pipeline (running or ended, not removed).");
    vp_http_text_printf(t, "vidpipe_streams %d\n", n);
    family(t, "vidpipe_pipeline_frames_total", "counter", "Frames processed, all streams.");
    vp_http_text_printf(t, "vidpipe_pipeline_frames_total %ld\n", s.frames);
    family(t, "vidpipe_batches_total", "counter", "Engine batches run.");
    vp_http_text_printf(t, "vidpipe_batches_total %ld\n", s.batches);
    family(t, "vidpipe_batch_mean", "gauge", "Mean frames per batch.");
    vp_http_text_append(t, "vidpipe_batch_mean ", 19);
    text_value(t, s.mean_batch);
    vp_http_text_append(t, "\n", 1);
    family(t, "vidpipe_engine_errors_total", "counter", "Batches whose engine run failed.");
    vp_http_text_printf(t, "vidpipe_engine_errors_total %ld\n", s.engine_errors);
    family(t, "vidpipe_sink_errors_total", "counter", "Sink write failures.");
    vp_http_text_printf(t, "vidpipe_sink_errors_total %ld\n", s.sink_errors);
    family(t, "vidpipe_copy_bytes_total", "counter", "Explicit host<->device copies, bytes.");
    vp_http_text_printf(t, "vidpipe_copy_bytes_total{direction=\"h2d\"} %ld\n", s.h2d_bytes);
    vp_http_text_printf(t, "vidpipe_copy_bytes_total{direction=\"d2h\"} %ld\n", s.d2h_bytes);
    for (size_t k = 0; k < sizeof pool_series / sizeof pool_series[0]; k++) {
        family(t, pool_series[k].name, pool_series[k].type, pool_series[k].help);
        vp_http_text_printf(t, "%s{pool=\"device\"} %ld\n", pool_series[k].name, pool_value(&s.device_pool, k));
        vp_http_text_printf(t, "%s{pool=\"host\"} %ld\n", pool_series[k].name, pool_value(&s.host_pool, k));
    }
    family(t, "vidpipe_stage_ms", "summary", "Time per stage: per frame (decode) or per batch, milliseconds.");
    for (int k = 0; k < VP_STAGE_COUNT; k++)
        summary(t, "vidpipe_stage_ms", "stage", vp_stage_name(k), &s.stage[k]);
    family(t, "vidpipe_uptime_seconds", "gauge", "Seconds since the pipeline started.");
    vp_http_text_append(t, "vidpipe_uptime_seconds ", 23);
    text_value(t, s.wall_s);
    vp_http_text_append(t, "\n", 1);
    family(t, "vidpipe_cpu_seconds_total", "counter", "Process CPU time, user and system, seconds.");
    vp_http_text_append(t, "vidpipe_cpu_seconds_total ", 26);
    text_value(t, s.cpu_s);
    vp_http_text_append(t, "\n", 1);
    family(t, "vidpipe_thread_cpu_seconds_total", "counter",
           "Process CPU time by thread: sources (demux, decode), infer (batching, preprocessing, engine launch), "
           "results (post-processing, tracking, sinks), other (CUDA driver, NVDEC, engine workers), seconds.");
    const char *tn[4] = {"sources", "infer", "results", "other"};
    double tv[4] = {s.by_thread.sources_s, s.by_thread.infer_s, s.by_thread.results_s, s.by_thread.other_s};
    for (int k = 0; k < 4; k++) {
        vp_http_text_printf(t, "vidpipe_thread_cpu_seconds_total{thread=\"%s\"} ", tn[k]);
        text_value(t, tv[k]);
        vp_http_text_append(t, "\n", 1);
    }

    if (h->hook.metrics)
        h->hook.metrics(h->hook.user, t);
}

/* ---- JSON ------------------------------------------------------------- */

/* cJSON reports allocation failures by NULL returns; these fold them into
 * one flag checked before printing. */
static void jnum(cJSON *o, const char *k, double v, int *bad)
{
    if (!cJSON_AddNumberToObject(o, k, v))
        *bad = 1;
}

static void jstr(cJSON *o, const char *k, const char *v, int *bad)
{
    if (!cJSON_AddStringToObject(o, k, v ? v : ""))
        *bad = 1;
}

/* "cpu_by_thread_s": a vp_thread_cpu, seconds */
static void jthreads(cJSON *o, const vp_thread_cpu *t, int *bad)
{
    cJSON *x = cJSON_AddObjectToObject(o, "cpu_by_thread_s");
    if (!x) {
        *bad = 1;
        return;
    }
    jnum(x, "sources", t->sources_s, bad);
    jnum(x, "infer", t->infer_s, bad);
    jnum(x, "results", t->results_s, bad);
    jnum(x, "other", t->other_s, bad);
}

static void jpool(cJSON *o, const char *k, const vp_mem_pool_stats *ps, int *bad)
{
    cJSON *x = cJSON_AddObjectToObject(o, k);
    if (!x) {
        *bad = 1;
        return;
    }
    for (size_t i = 0; i < sizeof pool_series / sizeof pool_series[0]; i++)
        jnum(x, pool_series[i].key, (double)pool_value(ps, i), bad);
}

static void jlat(cJSON *o, const char *k, const vp_latency *l, int *bad)
{
    cJSON *x = cJSON_AddObjectToObject(o, k);
    if (!x) {
        *bad = 1;
        return;
    }
    jnum(x, "n", (double)l->n, bad);
    jnum(x, "mean", l->mean, bad);
    jnum(x, "p50", l->p50, bad);
    jnum(x, "p99", l->p99, bad);
    jnum(x, "max", l->max, bad);
}

/* One source as /sources, /sources/{id}, POST and /stats show it. */
static cJSON *stream_json(const vp_stream_stats *st, double fps, int *bad)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        *bad = 1;
        return NULL;
    }
    jstr(o, "id", st->id, bad);
    jstr(o, "state", stream_state(st), bad);
    jstr(o, "error", st->error, bad);
    jstr(o, "decoder", vp_hw_name(st->decoder), bad);
    jnum(o, "frames_decoded", (double)st->frames_decoded, bad);
    jnum(o, "frames_processed", (double)st->frames_processed, bad);
    jnum(o, "frames_dropped", (double)st->frames_dropped, bad);
    jnum(o, "decode_errors", (double)st->decode_errors, bad);
    jnum(o, "reconnects", (double)st->reconnects, bad);
    jnum(o, "detections", (double)st->detections, bad);
    jnum(o, "fps", fps, bad);
    jlat(o, "latency_ms", &st->latency, bad);
    return o;
}

static int add_item(cJSON *arr, cJSON *item, int *bad)
{
    if (!item || !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        *bad = 1;
        return -1;
    }
    return 0;
}

/* /stats when full, else /sources. */
static cJSON *render_json(vp_http *h, int full, int *bad)
{
    vp_pipeline_stats s;
    int n = snapshot(h, &s);
    cJSON *root = cJSON_CreateObject();
    if (!root) {
        *bad = 1;
        return NULL;
    }
    if (full) {
        jnum(root, "wall_s", s.wall_s, bad);
        jnum(root, "cpu_s", s.cpu_s, bad);
        jthreads(root, &s.by_thread, bad);
        /* the steady state so far (vp_pipeline_stats): every source running */
        cJSON *st = cJSON_AddObjectToObject(root, "steady");
        if (!st) {
            *bad = 1;
        } else {
            jnum(st, "wall_s", s.steady.wall_s, bad);
            jnum(st, "frames", (double)s.steady.frames, bad);
            jnum(st, "cpu_s", s.steady.cpu_s, bad);
            jthreads(st, &s.steady.by_thread, bad);
        }
        jnum(root, "frames", (double)s.frames, bad);
        jnum(root, "batches", (double)s.batches, bad);
        jnum(root, "mean_batch", s.mean_batch, bad);
        jnum(root, "h2d_bytes", (double)s.h2d_bytes, bad);
        jnum(root, "d2h_bytes", (double)s.d2h_bytes, bad);
        jnum(root, "engine_errors", (double)s.engine_errors, bad);
        jnum(root, "sink_errors", (double)s.sink_errors, bad);
        cJSON *pools = cJSON_AddObjectToObject(root, "memory_pools");
        if (!pools) {
            *bad = 1;
        } else {
            jpool(pools, "device", &s.device_pool, bad);
            jpool(pools, "host", &s.host_pool, bad);
        }
        cJSON *stages = cJSON_AddObjectToObject(root, "stages_ms");
        if (!stages)
            *bad = 1;
        for (int k = 0; stages && k < VP_STAGE_COUNT; k++)
            jlat(stages, vp_stage_name(k), &s.stage[k], bad);
    }
    cJSON *arr = cJSON_AddArrayToObject(root, full ? "streams" : "sources");
    if (!arr)
        *bad = 1;
    for (int i = 0; arr && i < n; i++)
        add_item(arr, stream_json(&h->streams[i], h->fps[i], bad), bad);
    if (full && h->hook.stats_json)
        h->hook.stats_json(h->hook.user, root);
    return root;
}

/* ---- responses -------------------------------------------------------- */

/* Queues body (status, content type). body is malloc'ed and handed over when
 * owned, else copied. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype, char *body,
                             size_t len, int owned, const char *allow)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (owned)
            free(body);
        VP_LOGW("http: cannot create a response (%zu bytes)", len);
        return MHD_NO; /* closes the connection */
    }
    enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (ok == MHD_YES)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (ok == MHD_YES && allow)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    if (ok == MHD_YES && status == MHD_HTTP_UNAUTHORIZED)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, status, r);
    else
        VP_LOGW("http: cannot add a response header");
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, cJSON *root, int bad)
{
    char *txt = !bad && root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!txt) {
        static const char oom[] = "{\"error\":\"out of memory\"}\n";
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", (char *)oom, sizeof oom - 1, 0, NULL);
    }
    size_t len = strlen(txt);
    char *body = malloc(len + 2);
    if (body) {
        memcpy(body, txt, len);
        body[len] = '\n', body[len + 1] = '\0';
    }
    cJSON_free(txt); /* cJSON's allocator need not be free() */
    if (!body) {
        static const char oom[] = "{\"error\":\"out of memory\"}\n";
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", (char *)oom, sizeof oom - 1, 0, NULL);
    }
    return reply(c, status, "application/json", body, len + 1, 1, NULL);
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *allow, const char *fmt,
                                   ...) VP_PRINTF(4, 5);
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *allow, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *root = cJSON_CreateObject();
    char *txt = root && cJSON_AddStringToObject(root, "error", msg) ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    char *body = txt ? malloc(strlen(txt) + 2) : NULL;
    size_t len = 0;
    if (body) {
        len = strlen(txt);
        memcpy(body, txt, len);
        body[len++] = '\n';
        body[len] = '\0';
    }
    cJSON_free(txt);
    if (!body) {
        static const char oom[] = "{\"error\":\"out of memory\"}\n";
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", (char *)oom, sizeof oom - 1, 0, NULL);
    }
    return reply(c, status, "application/json", body, len, 1, allow); /* a 405 carries Allow */
}

/* Copies at most n-1 bytes of client-supplied text for a message, printable
 * ASCII only, so that an error line stays one line of valid UTF-8. */
static const char *clip(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++)
        dst[i] = (unsigned char)src[i] >= 0x20 && (unsigned char)src[i] < 0x7f ? src[i] : '?';
    dst[i] = '\0';
    if (src && src[i] && n > 4)
        memcpy(dst + n - 4, "...", 4);
    return dst;
}

/* ---- authentication --------------------------------------------------- */

/* 1 when the request carries "Authorization: Bearer <token>". The comparison
 * takes the same time for every candidate of a given length, and the loop
 * runs over the token's length, not the candidate's, so timing tells nothing
 * about the token but what its length already does. */
static int authorized(const vp_http *h, struct MHD_Connection *c)
{
    if (!h->token)
        return 1;
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!v || strncasecmp(v, "Bearer ", 7))
        return 0;
    v += 7;
    while (*v == ' ')
        v++;
    size_t vlen = strlen(v);
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    unsigned diff = vlen != h->token_len;
    for (size_t i = 0; i < h->token_len; i++) {
        unsigned char a = i < vlen ? (unsigned char)v[i] : 0;
        diff |= (unsigned)(a ^ (unsigned char)h->token[i]);
    }
    return diff == 0;
}

/* ---- POST /sources ---------------------------------------------------- */

static const char *jtype(const cJSON *x)
{
    return cJSON_IsString(x) ? "string" : cJSON_IsNumber(x) ? "number" : cJSON_IsBool(x) ? "boolean"
         : cJSON_IsNull(x) ? "null" : cJSON_IsArray(x) ? "array" : cJSON_IsObject(x) ? "object" : "?";
}

static int json_int(const cJSON *x, const char *key, long lo, long hi, int *out, char *err, size_t errlen)
{
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || x->valuedouble != floor(x->valuedouble) ||
        x->valuedouble < (double)lo || x->valuedouble > (double)hi) {
        if (cJSON_IsNumber(x))
            set_err(err, errlen, "$.%s: expected an integer in %ld..%ld, got %g", key, lo, hi, x->valuedouble);
        else
            set_err(err, errlen, "$.%s: expected an integer in %ld..%ld, got %s", key, lo, hi, jtype(x));
        return VP_ERR_INVALID;
    }
    *out = (int)x->valuedouble;
    return 0;
}

static int json_bool(const cJSON *x, const char *key, int *out, char *err, size_t errlen)
{
    if (!cJSON_IsBool(x)) {
        set_err(err, errlen, "$.%s: expected true or false, got %s", key, jtype(x));
        return VP_ERR_INVALID;
    }
    *out = cJSON_IsTrue(x) ? 1 : 0;
    return 0;
}

static int json_string(const cJSON *x, const char *key, size_t maxlen, int id, const char **out, char *err,
                       size_t errlen)
{
    if (!cJSON_IsString(x) || !x->valuestring) {
        set_err(err, errlen, "$.%s: expected a string, got %s", key, jtype(x));
        return VP_ERR_INVALID;
    }
    size_t n = strlen(x->valuestring);
    if (n == 0 || n > maxlen) {
        set_err(err, errlen, "$.%s: expected 1..%zu bytes, got %zu", key, maxlen, n);
        return VP_ERR_INVALID;
    }
    for (const unsigned char *s = (const unsigned char *)x->valuestring; *s; s++)
        if (*s < 0x20 || *s == 0x7f || (id && *s == '/')) {
            set_err(err, errlen, "$.%s: control characters%s are not allowed", key, id ? " and '/'" : "");
            return VP_ERR_INVALID;
        }
    *out = x->valuestring;
    return 0;
}

/* cJSON ends a string at an escaped NUL (\u0000) without saying so, which
 * would silently shorten an id or a path: such bodies are refused. An escape
 * is one preceded by an odd number of backslashes. */
static int has_escaped_nul(const char *s, size_t len)
{
    for (size_t i = 0; i + 6 <= len; i++) {
        if (s[i] != '\\' || (s[i + 1] != 'u' && s[i + 1] != 'U') || memcmp(s + i + 2, "0000", 4))
            continue;
        size_t k = 0;
        while (k < i && s[i - 1 - k] == '\\')
            k++;
        if (k % 2 == 0)
            return 1;
    }
    return 0;
}

/* Parses a POST /sources body into src (strings point into *root, which the
 * caller deletes). The keys are those of sources[] in the config. */
static int parse_source(const char *body, size_t len, cJSON **root, vp_pipe_source *src, char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "uri", "live", "loop", "reconnect", "max_reconnects", "realtime"};
    enum { K_ID, K_URI, K_LIVE, K_LOOP, K_RECONNECT, K_MAXREC, K_REALTIME, K_COUNT };
    *root = NULL;
    memset(src, 0, sizeof *src);
    src->live = -1, src->reconnect = 1; /* the config's defaults */
    if (len == 0) {
        set_err(err, errlen, "empty body: expected a JSON object with \"id\" and \"uri\"");
        return VP_ERR_INVALID;
    }
    if (strlen(body) != len || has_escaped_nul(body, len)) {
        set_err(err, errlen, "body contains a NUL character");
        return VP_ERR_INVALID;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(body, &end, 1);
    if (!j) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        set_err(err, errlen, "invalid JSON at byte %zu", at);
        return VP_ERR_INVALID;
    }
    *root = j;
    if (!cJSON_IsObject(j)) {
        set_err(err, errlen, "$: expected an object, got %s", jtype(j));
        return VP_ERR_INVALID;
    }
    const cJSON *seen[K_COUNT] = {0};
    for (const cJSON *x = j->child; x; x = x->next) {
        int k = 0;
        while (k < K_COUNT && strcmp(x->string ? x->string : "", keys[k]))
            k++;
        if (k == K_COUNT) {
            char name[72];
            set_err(err, errlen, "$.%s: unknown key (expected id, uri, live, loop, reconnect, max_reconnects, realtime)",
                    clip(name, sizeof name, x->string));
            return VP_ERR_INVALID;
        }
        if (seen[k]) {
            set_err(err, errlen, "$.%s: given twice", keys[k]);
            return VP_ERR_INVALID;
        }
        seen[k] = x;
    }
    int rc = 0;
    if (!seen[K_ID] || !seen[K_URI]) {
        set_err(err, errlen, "$.%s: required", seen[K_ID] ? "uri" : "id");
        return VP_ERR_INVALID;
    }
    const char *id = NULL, *uri = NULL;
    if ((rc = json_string(seen[K_ID], "id", VP_HTTP_ID_MAX, 1, &id, err, errlen)) ||
        (rc = json_string(seen[K_URI], "uri", VP_HTTP_URI_MAX, 0, &uri, err, errlen)))
        return rc;
    src->id = (char *)id, src->uri = (char *)uri;
    if (seen[K_LIVE]) {
        const cJSON *x = seen[K_LIVE];
        if (cJSON_IsBool(x))
            src->live = cJSON_IsTrue(x) ? 1 : 0;
        else if (!cJSON_IsString(x) || strcmp(x->valuestring, "auto")) {
            set_err(err, errlen, "$.live: expected true, false or \"auto\", got %s", jtype(x));
            return VP_ERR_INVALID;
        }
    }
    if (seen[K_LOOP] && (rc = json_int(seen[K_LOOP], "loop", -1, 1000000, &src->loop, err, errlen)))
        return rc;
    if (seen[K_MAXREC] &&
        (rc = json_int(seen[K_MAXREC], "max_reconnects", 0, 1000000, &src->max_reconnects, err, errlen)))
        return rc;
    if (seen[K_RECONNECT] && (rc = json_bool(seen[K_RECONNECT], "reconnect", &src->reconnect, err, errlen)))
        return rc;
    if (seen[K_REALTIME] && (rc = json_bool(seen[K_REALTIME], "realtime", &src->realtime, err, errlen)))
        return rc;
    return 0;
}

static enum MHD_Result post_source(vp_http *h, struct MHD_Connection *c, const http_req *r)
{
    char err[512] = "";
    cJSON *body = NULL;
    vp_pipe_source src;
    if (parse_source(r->body ? r->body : "", r->len, &body, &src, err, sizeof err)) {
        cJSON_Delete(body);
        return reply_error(c, MHD_HTTP_BAD_REQUEST, NULL, "%s", err);
    }
    int rc = vp_pipeline_add_source(h->p, &src, err, sizeof err);
    if (rc) {
        cJSON_Delete(body);
        unsigned status = rc == VP_ERR_INVALID ? MHD_HTTP_BAD_REQUEST
                        : rc == VP_ERR_NOMEM ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR;
        return reply_error(c, status, NULL, "%s", err[0] ? err : vp_strerror(rc));
    }

    /* The answer: the source as listed, with what was asked for. */
    int bad = 0;
    cJSON *o = NULL;
    pthread_mutex_lock(&h->mu);
    vp_pipeline_stats s;
    int n = snapshot(h, &s);
    for (int i = 0; i < n && !o; i++)
        if (h->streams[i].id && !strcmp(h->streams[i].id, src.id))
            o = stream_json(&h->streams[i], h->fps[i], &bad);
    pthread_mutex_unlock(&h->mu);
    if (!o && !bad) { /* already gone (a source that ended at once and was removed) */
        o = cJSON_CreateObject();
        jstr(o, "id", src.id, &bad);
        jstr(o, "state", "finished", &bad);
    }
    if (o) {
        jstr(o, "uri", src.uri, &bad);
        if (src.live < 0)
            jstr(o, "live", "auto", &bad);
        else if (!cJSON_AddBoolToObject(o, "live", src.live))
            bad = 1;
        jnum(o, "loop", src.loop, &bad);
        if (!cJSON_AddBoolToObject(o, "reconnect", src.reconnect) ||
            !cJSON_AddBoolToObject(o, "realtime", src.realtime))
            bad = 1;
        jnum(o, "max_reconnects", src.max_reconnects, &bad);
    }
    cJSON_Delete(body); /* src's strings point into it */
    return reply_json(c, MHD_HTTP_CREATED, o, bad || !o);
}

/* ---- routing ---------------------------------------------------------- */

enum route { R_NONE, R_METRICS, R_STATS, R_SOURCES, R_SOURCE };

static enum route route_of(const char *url, const char **id)
{
    *id = NULL;
    if (!strcmp(url, "/metrics"))
        return R_METRICS;
    if (!strcmp(url, "/stats"))
        return R_STATS;
    if (!strcmp(url, "/sources"))
        return R_SOURCES;
    if (!strncmp(url, "/sources/", 9) && url[9]) {
        *id = url + 9;
        return R_SOURCE;
    }
    return R_NONE;
}

static enum MHD_Result get_source(vp_http *h, struct MHD_Connection *c, const char *id)
{
    int bad = 0;
    cJSON *o = NULL;
    pthread_mutex_lock(&h->mu);
    vp_pipeline_stats s;
    int n = snapshot(h, &s);
    for (int i = 0; i < n && !o && !bad; i++)
        if (h->streams[i].id && !strcmp(h->streams[i].id, id))
            o = stream_json(&h->streams[i], h->fps[i], &bad);
    pthread_mutex_unlock(&h->mu);
    if (!o && !bad) {
        char name[72];
        return reply_error(c, MHD_HTTP_NOT_FOUND, NULL, "no source \"%s\"", clip(name, sizeof name, id));
    }
    return reply_json(c, MHD_HTTP_OK, o, bad);
}

static enum MHD_Result delete_source(vp_http *h, struct MHD_Connection *c, const char *id)
{
    char err[512] = "", name[72];
    int rc = vp_pipeline_remove_source(h->p, id, err, sizeof err);
    if (rc == VP_ERR_NOT_FOUND)
        return reply_error(c, MHD_HTTP_NOT_FOUND, NULL, "no source \"%s\"", clip(name, sizeof name, id));
    if (rc)
        return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "%s", err[0] ? err : vp_strerror(rc));
    int bad = 0;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        bad = 1;
    else {
        jstr(o, "id", id, &bad);
        if (!cJSON_AddTrueToObject(o, "removed"))
            bad = 1;
    }
    return reply_json(c, MHD_HTTP_OK, o, bad);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    vp_http *h = cls;
    http_req *r = *con_cls;
    if (r) { /* a POST /sources body, then its end */
        if (*upload_data_size) {
            if (*upload_data_size > VP_HTTP_MAX_BODY - r->len) {
                /* No response may be queued while data arrives: cut off. */
                VP_LOGD("http: POST body over %d bytes (chunked): connection closed", VP_HTTP_MAX_BODY);
                return MHD_NO;
            }
            if (!r->body) {
                r->cap = VP_HTTP_MAX_BODY + 1;
                if (!(r->body = malloc(r->cap)))
                    return MHD_NO;
            }
            memcpy(r->body + r->len, upload_data, *upload_data_size);
            r->len += *upload_data_size;
            r->body[r->len] = '\0';
            *upload_data_size = 0;
            return MHD_YES;
        }
        return post_source(h, c, r);
    }

    /* Headers complete: route, method, authentication, body size. */
    const char *id = NULL;
    enum route rt = route_of(url ? url : "", &id);
    int get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
    if (rt == R_NONE) {
        char u[128];
        return reply_error(c, MHD_HTTP_NOT_FOUND, NULL, "no such route: %s %s (routes: /metrics, /stats, /sources)",
                           clip(u, 16, method), clip(u + 16, sizeof u - 16, url));
    }
    if (rt == R_METRICS || rt == R_STATS || rt == R_SOURCES) {
        if (!get && !(rt == R_SOURCES && !strcmp(method, MHD_HTTP_METHOD_POST))) {
            char m[16];
            return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, rt == R_SOURCES ? "GET, HEAD, POST" : "GET, HEAD",
                               "method %s not allowed on %s", clip(m, sizeof m, method), url); /* url: one of ours */
        }
    } else if (!get && strcmp(method, MHD_HTTP_METHOD_DELETE)) {
        char m[16];
        return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD, DELETE", "method %s not allowed on /sources/{id}",
                           clip(m, sizeof m, method));
    }
    if (!get && !authorized(h, c))
        return reply_error(c, MHD_HTTP_UNAUTHORIZED, NULL, "this call needs \"Authorization: Bearer <token>\"");

    if (get && rt == R_METRICS) {
        vp_http_text t = {0};
        pthread_mutex_lock(&h->mu);
        render_metrics(h, &t);
        pthread_mutex_unlock(&h->mu);
        if (t.failed || !t.buf) {
            free(t.buf);
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
        }
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", t.buf, t.len, 1, NULL);
    }
    if (get && (rt == R_STATS || rt == R_SOURCES)) {
        int bad = 0;
        pthread_mutex_lock(&h->mu);
        cJSON *root = render_json(h, rt == R_STATS, &bad);
        pthread_mutex_unlock(&h->mu);
        return reply_json(c, MHD_HTTP_OK, root, bad);
    }
    if (rt == R_SOURCE) {
        if (strlen(id) > VP_HTTP_ID_MAX) {
            char name[72];
            return reply_error(c, MHD_HTTP_NOT_FOUND, NULL, "no source \"%s\"", clip(name, sizeof name, id));
        }
        return get ? get_source(h, c, id) : delete_source(h, c, id);
    }

    /* POST /sources: refuse a declared oversized body before reading it. */
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > VP_HTTP_MAX_BODY)
        return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE, NULL, "body over %d bytes", VP_HTTP_MAX_BODY);
    if (!(r = calloc(1, sizeof *r)))
        return MHD_NO;
    *con_cls = r;
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
    http_req *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

/* libmicrohttpd's messages: while starting they explain a failure to the
 * caller; afterwards they are about clients (resets, malformed requests),
 * which a service must not let fill its log, hence debug. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
    vp_http *h = cls;
    char line[256];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    pthread_mutex_lock(&h->mu);
    int starting = h->starting;
    if (starting && !h->start_err[0])
        snprintf(h->start_err, sizeof h->start_err, "%s", line);
    pthread_mutex_unlock(&h->mu);
    if (!starting)
        VP_LOGD("http: %s", line);
}

/* ---- the NVML monitor's hook ----------------------------------------- */

static void nvml_metrics(void *user, vp_http_text *t)
{
    /* vp_nvml_prometheus writes in place and says when the room was short:
     * grow and retry, up to a bound far above 16 GPUs' lines. */
    for (size_t room = 16384; room <= (4u << 20); room *= 2) {
        if (text_reserve(t, room))
            return;
        size_t len = t->len;
        int rc = vp_nvml_prometheus(user, t->buf, t->cap, &len);
        if (rc == 0) {
            t->len = len;
            return;
        }
        if (rc != VP_ERR_NOMEM) {
            VP_LOGD("http: GPU monitor metrics: %s", vp_strerror(rc));
            return;
        }
    }
    VP_LOGW("http: the GPU monitor's metrics exceed 4 MiB: left out");
}

static void nvml_avg_json(cJSON *o, const char *k, const vp_nvml_avg *a, int *bad)
{
    cJSON *x = cJSON_AddObjectToObject(o, k);
    if (!x) {
        *bad = 1;
        return;
    }
    jnum(x, "n", a->n, bad);
    jnum(x, "gpu_util", a->gpu_util, bad);
    jnum(x, "mem_util", a->mem_util, bad);
    jnum(x, "dec_util", a->dec_util, bad);
    jnum(x, "enc_util", a->enc_util, bad);
    jnum(x, "mem_used_bytes", a->mem_used, bad);
    jnum(x, "temp_c", a->temp_c, bad);
    jnum(x, "power_w", a->power_w, bad);
    jnum(x, "sm_mhz", a->sm_mhz, bad);
}

static void nvml_json(void *user, cJSON *root)
{
    vp_nvml_monitor *m = user;
    int bad = 0;
    unsigned n = vp_nvml_gpus(m);
    cJSON *arr = cJSON_AddArrayToObject(root, "gpus");
    if (!arr)
        return;
    if (!n)
        jstr(root, "gpus_unavailable", vp_nvml_unavailable(m), &bad);
    for (unsigned i = 0; i < n; i++) {
        vp_nvml_gpu_stats g;
        if (vp_nvml_stats(m, i, &g))
            continue;
        cJSON *o = cJSON_CreateObject();
        if (add_item(arr, o, &bad))
            break;
        jnum(o, "index", g.index, &bad);
        jstr(o, "name", g.name, &bad);
        jnum(o, "samples", (double)g.samples, &bad);
        jnum(o, "mem_over", g.mem_over, &bad);
        jnum(o, "temp_over", g.temp_over, &bad);
        cJSON *now = cJSON_AddObjectToObject(o, "now");
        if (!now)
            break;
        /* only what the device reported */
        const vp_nvml_sample *v = &g.now;
        if (v->valid & VP_NVML_UTIL)
            jnum(now, "gpu_util", v->gpu_util, &bad), jnum(now, "mem_util", v->mem_util, &bad);
        if (v->valid & VP_NVML_MEMORY)
            jnum(now, "mem_used_bytes", (double)v->mem_used, &bad),
                jnum(now, "mem_total_bytes", (double)v->mem_total, &bad);
        if (v->valid & VP_NVML_DECODER)
            jnum(now, "dec_util", v->dec_util, &bad);
        if (v->valid & VP_NVML_ENCODER)
            jnum(now, "enc_util", v->enc_util, &bad);
        if (v->valid & VP_NVML_TEMP)
            jnum(now, "temp_c", v->temp_c, &bad);
        if (v->valid & VP_NVML_POWER)
            jnum(now, "power_w", v->power_mw / 1000.0, &bad);
        if (v->valid & VP_NVML_SM_CLOCK)
            jnum(now, "sm_mhz", v->sm_mhz, &bad);
        if (v->valid & VP_NVML_MEM_CLOCK)
            jnum(now, "mem_mhz", v->mem_mhz, &bad);
        if (v->valid & VP_NVML_GFX_CLOCK)
            jnum(now, "gfx_mhz", v->gfx_mhz, &bad);
        nvml_avg_json(o, "avg_1m", &g.avg_1m, &bad);
        nvml_avg_json(o, "avg_5m", &g.avg_5m, &bad);
    }
    if (bad)
        VP_LOGD("http: /stats: GPU figures incomplete (out of memory)");
}

vp_http_hook vp_http_nvml_hook(vp_nvml_monitor *m)
{
    vp_http_hook hk = {0};
    if (m)
        hk.metrics = nvml_metrics, hk.stats_json = nvml_json, hk.user = m;
    return hk;
}

/* ---- start / stop ----------------------------------------------------- */

void vp_http_options_default(vp_http_options *o)
{
    memset(o, 0, sizeof *o);
}

/* Parses a numeric address (IPv6 optionally in brackets) into ss with the
 * port; *loopback tells whether it is 127.0.0.0/8, ::1 or ::ffff:127.x. */
static int parse_listen(const char *a, int port, struct sockaddr_storage *ss, int *ipv6, int *loopback)
{
    char buf[64];
    memset(ss, 0, sizeof *ss);
    if (!strcmp(a, "localhost"))
        a = "127.0.0.1";
    size_t n = strlen(a);
    if (n >= 2 && a[0] == '[' && a[n - 1] == ']') {
        if (n - 2 >= sizeof buf)
            return VP_ERR_INVALID;
        memcpy(buf, a + 1, n - 2);
        buf[n - 2] = '\0';
        a = buf;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, a, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *ipv6 = 0;
        *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
        return 0;
    }
    if (inet_pton(AF_INET6, a, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *ipv6 = 1;
        const uint8_t *b = v6->sin6_addr.s6_addr;
        *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr) || (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr) && b[12] == 127);
        return 0;
    }
    return VP_ERR_INVALID;
}

int vp_http_start(vp_pipeline *p, const vp_http_options *o, vp_http **out, char *err, size_t errlen)
{
    *out = NULL;
    vp_http_options def;
    if (!o) {
        vp_http_options_default(&def);
        o = &def;
    }
    const char *listen = o->listen && o->listen[0] ? o->listen : "127.0.0.1";
    if (!p) {
        set_err(err, errlen, "http: no pipeline");
        return VP_ERR_INVALID;
    }
    if (o->port < 0 || o->port > 65535) {
        set_err(err, errlen, "http: port %d: expected 0..65535", o->port);
        return VP_ERR_INVALID;
    }
    if (o->max_connections < 0 || o->timeout_s < 0) {
        set_err(err, errlen, "http: max_connections and timeout_s must not be negative");
        return VP_ERR_INVALID;
    }
    struct sockaddr_storage ss;
    int ipv6 = 0, loopback = 0;
    if (parse_listen(listen, o->port, &ss, &ipv6, &loopback)) {
        set_err(err, errlen, "http: listen address \"%s\": expected a numeric IPv4 or IPv6 address", listen);
        return VP_ERR_INVALID;
    }
    int has_token = o->token && o->token[0];
    if (!loopback && !has_token) {
        set_err(err, errlen,
                "http: listening on %s (beyond loopback) needs a token: anyone reaching it could add and remove sources",
                listen);
        return VP_ERR_INVALID;
    }
    if (has_token)
        for (const unsigned char *s = (const unsigned char *)o->token; *s; s++)
            if (*s <= 0x20 || *s >= 0x7f) {
                set_err(err, errlen, "http: the token must be printable ASCII without spaces");
                return VP_ERR_INVALID;
            }

    vp_http *h = calloc(1, sizeof *h);
    if (!h) {
        set_err(err, errlen, "http: out of memory");
        return VP_ERR_NOMEM;
    }
    if (pthread_mutex_init(&h->mu, NULL)) {
        free(h);
        set_err(err, errlen, "http: cannot create a mutex");
        return VP_ERR_NOMEM;
    }
    h->p = p;
    h->hook = o->hook;
    h->streams = calloc(VP_PIPE_MAX_SOURCES, sizeof *h->streams);
    h->fps = calloc(VP_PIPE_MAX_SOURCES, sizeof *h->fps);
    h->slots = calloc(VP_PIPE_MAX_SOURCES, sizeof *h->slots);
    if (has_token) {
        h->token_len = strlen(o->token);
        h->token = strdup(o->token);
    }
    if (!h->streams || !h->fps || !h->slots || (has_token && !h->token)) {
        vp_http_stop(&h);
        set_err(err, errlen, "http: out of memory");
        return VP_ERR_NOMEM;
    }

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
    unsigned max_conn = o->max_connections ? (unsigned)o->max_connections : 64;
    unsigned timeout = o->timeout_s ? (unsigned)o->timeout_s : 10;
    pthread_mutex_lock(&h->mu);
    h->starting = 1;
    pthread_mutex_unlock(&h->mu);
    h->daemon = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_log, h,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                                 MHD_OPTION_CONNECTION_LIMIT, max_conn,
                                 MHD_OPTION_CONNECTION_TIMEOUT, timeout,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)VP_HTTP_CONN_MEMORY,
                                 MHD_OPTION_LISTEN_BACKLOG_SIZE, 64u,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                                 MHD_OPTION_END);
    pthread_mutex_lock(&h->mu);
    h->starting = 0;
    pthread_mutex_unlock(&h->mu);
    if (!h->daemon) {
        set_err(err, errlen, "http: cannot listen on %s port %d: %s", listen, o->port,
                h->start_err[0] ? h->start_err : "libmicrohttpd could not start");
        vp_http_stop(&h);
        return VP_ERR_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || !info->port) {
        set_err(err, errlen, "http: listening on %s, but libmicrohttpd does not tell the port", listen);
        vp_http_stop(&h);
        return VP_ERR_IO;
    }
    h->port = info->port;
    VP_LOGI("http: serving on %s%s%s:%d%s", ipv6 ? "[" : "", listen, ipv6 ? "]" : "", h->port,
            has_token ? " (token required for changes)" : "");
    *out = h;
    return 0;
}

int vp_http_port(const vp_http *h)
{
    return h ? h->port : 0;
}

void vp_http_stop(vp_http **hp)
{
    if (!hp || !*hp)
        return;
    vp_http *h = *hp;
    if (h->daemon)
        MHD_stop_daemon(h->daemon); /* joins the polling thread; completion callbacks run first */
    pthread_mutex_destroy(&h->mu);
    if (h->token) {
        explicit_bzero(h->token, h->token_len); /* a plain memset before free may be optimised away */
        free(h->token);
    }
    free(h->streams);
    free(h->fps);
    free(h->slots);
    free(h);
    *hp = NULL;
}
