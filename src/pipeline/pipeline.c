/*
 * The multi-stream pipeline runtime (vidpipe/pipeline.h).
 *
 * Threads and queues:
 *
 *   reader thread per source:  vp_source_read -> vp_decoder_send/receive
 *                              -> the stream's bounded frame queue
 *   inference thread (one):    dynamic batcher over all queues (max batch +
 *                              timeout after the oldest queued frame, one
 *                              frame per stream per round, so a busy stream
 *                              cannot starve the others) -> preprocessing
 *                              into the batch tensor -> engine -> post-
 *                              processing; on the GPU path only enqueued on
 *                              the engine's stream, then on to the next batch
 *   completion thread (one):   waits for each batch in launch order -> the
 *                              detections to the host -> tracker -> sinks,
 *                              in order per stream -> statistics -> the
 *                              frames go back (NVDEC surfaces unmapped)
 *
 * Between the two, a ring of batch.inflight batches (struct inflight): GPU
 * work of batch k+1 overlaps the host work of batch k; with 1 they take
 * turns. The frame queues and that ring are the only thread boundaries;
 * one mutex guards them and the statistics (a few operations per frame or
 * batch, no contention worth more).
 * Files block their reader when the queue is full (back-pressure); live
 * sources drop their oldest queued frame and count it.
 *
 * Paths: with the CPU engine, frames (host, or downloaded NVDEC surfaces)
 * are preprocessed by vp_preprocess_cpu into a host batch tensor. With the
 * CUDA engine, the fused preprocessing kernel reads the decoded surface in
 * device memory and writes straight into the plan's input binding (in the
 * plan's own FP16 channels-last form), post-processing runs on the GPU, and
 * only final results are copied back: the kept detections, segment masks in
 * compact form (bits of each box's crop of the prototype grid), semseg class
 * counts (counted by vp_gpu_copy; in gpu_only mode a pixel-sized copy is an
 * error).
 *
 * Failures: a source that cannot be opened or dies is reported once with
 * its cause and ends that stream only; a failed engine run loses no frame
 * (each of its frames gets a result line with the error); a sink that
 * cannot write (full disk) is reported once and closed while the others
 * go on.
 *
 * Sinks (completion thread, in order per stream): JSON Lines; annotated
 * video (a host copy of each frame, results drawn with vision/draw.h,
 * encoded by media/encode.h into one file per stream); snapshots (the same
 * drawing on selected frames only, each written as one JPEG or PNG by
 * vp_snapshot_write). A snapshot sink selects a frame of a stream when it
 * has at least min_detections detections (semseg frames count 0; frames
 * whose batch failed are never selected) and no picture of that stream was
 * written in the `every` frames before it: frame n is written when
 * n >= next, then next = n + every.
 */
#include "vidpipe/pipeline.h"
#include "base/log.h"
#include "engine/graph.h" /* vp_half_to_float */
#include "gpu/gpu.h"
#include "base/span.h"
#include "pipeline/config.h"
#include "pipeline/pipeline_impl.h"
#include "pipeline/reid.h"
#include "vision/draw.h"
#include "vision/postprocess.h"
#include "vision/preprocess.h"
#include "vision/track.h"
#ifdef VP_HAVE_FFMPEG
#include "media/encode.h"
#endif

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

/* ------------------------------------------------------------ utilities */

static double now_ms(void) { return (double)vp_clock_ns() / 1e6; }

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* A thread's CPU time (user + system), seconds: the statistics' split of
 * cpu_s by thread. Each pipeline thread registers its clock at its start
 * and adds its total at its end, both under pl->mu, so a reader holding
 * mu reads only clocks of live threads. */
typedef struct thread_cpu {
    clockid_t clock;
    int live;
} thread_cpu;

static double clock_s(clockid_t c)
{
    struct timespec ts;
    return clock_gettime(c, &ts) ? 0 : (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void thread_cpu_begin(thread_cpu *t)
{
    t->live = pthread_getcpuclockid(pthread_self(), &t->clock) == 0;
}

/* Under mu, at the thread's end: its total into *sum. */
static void thread_cpu_end(thread_cpu *t, double *sum)
{
    if (t->live)
        *sum += clock_s(t->clock);
    t->live = 0;
}

/* Under mu: the thread's time so far, 0 once it ended (counted in its sum). */
static double thread_cpu_now(const thread_cpu *t) { return t->live ? clock_s(t->clock) : 0; }

/* One end of the steady-state window: when, frames processed, CPU times. */
typedef struct window {
    double t_ms, cpu_s;
    vp_thread_cpu by_thread;
    long frames;
} window;

static char *dupstr(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Latencies go into base/span.h's histograms (ns, thread-safe); the
 * statistics report milliseconds. */
typedef vp_hist hist;

static void hist_add(hist *h, double ms)
{
    vp_hist_add(h, ms > 0 ? (uint64_t)(ms * 1e6) : 0);
}

static void hist_summary(const hist *h, vp_latency *l)
{
    vp_span_stats st;
    vp_hist_summary(h, &st);
    l->n = (long)st.count;
    l->mean = st.mean_ns / 1e6;
    l->p50 = (double)st.p50_ns / 1e6;
    l->p99 = (double)st.p99_ns / 1e6;
    l->max = (double)st.max_ns / 1e6;
}

const char *vp_stage_name(int stage)
{
    static const char *const names[VP_STAGE_COUNT] = {"decode", "preprocess", "infer", "postprocess", "track", "sink",
                                                      "reid"};
    return stage >= 0 && stage < VP_STAGE_COUNT ? names[stage] : "?";
}

/* ---------------------------------------------------------------- state */

typedef struct qitem {
    vp_frame *f;
    double t_read;   /* its packet was read (ms, monotonic) */
    double t_queued; /* decoded and queued */
    int64_t seq;     /* frame number in the stream, from 0, across loops and reconnects */
} qitem;

/* Packet read times by pts, to measure latency from the packet (decoders
 * reorder, so a frame's packet may be several packets back). */
#define PENDING 64

typedef struct pstream {
    struct vp_pipeline *pl;
    int idx;
    char *id, *uri;
    vp_pipe_source cfg;
    pthread_t thread;
    int started;
    vp_source *src;          /* set and cleared under pl->mu, for vp_source_interrupt */
    vp_rational tb;
    qitem *q;
    int qcap, qhead, qlen;
    int done;                /* the reader will queue nothing more */
    atomic_int stop_req;     /* vp_pipeline_remove_source: read nothing more */
    int removed;             /* removed and drained: out of batching and statistics */
    struct {
        int64_t pts;
        double t;
    } pend[PENDING];
    int pend_next, pend_take; /* ring: next to write; oldest not yet taken (FIFO) */
    /* statistics (under pl->mu) */
    long decoded, processed, dropped, dec_errors, reconnects, detections;
    long dec_errors_seen;    /* vp_decoder_errors of the kept decoder, already counted */
    vp_codec dec_codec;      /* the kept decoder's codec (read_once) */
    int dec_unflushed;       /* the kept decoder may still hold pictures (read_once) */
    int outstanding;         /* frames queued or in batches, not yet released (under pl->mu) */
    int failed;
    char error[512];
    vp_hw hw;
    hist lat;
    vp_rational fps;         /* of the last opened source, for video sinks ({0,1}: unknown) */
    vp_tracker *trk;         /* tracker.enabled: this stream's tracker (inference thread only) */
    vp_span_writer *sw;      /* profile.trace: the reader thread's span writer, else NULL */
    thread_cpu cpu;          /* the reader thread's CPU clock (under pl->mu) */
    int begun;               /* has its first result or ended: counted in pl->n_begun (under pl->mu) */
#ifdef VP_HAVE_FFMPEG
    vp_encoder *enc[VP_PIPE_MAX_SINKS]; /* video sinks: opened at the stream's first frame */
#endif
    int64_t snap_next[VP_PIPE_MAX_SINKS]; /* snapshot sinks: first frame number that may be written (from 0) */
} pstream;

typedef struct sink {
    vp_sink_kind kind;
    char *path;
    FILE *f;
    int failed;
    int every, min_det;      /* snapshot: the selection rule (config) */
    vp_sink_encoder encoder; /* video: the encoder choice (config) */
    int dir_per_file;        /* snapshot: the directory part of path has a placeholder: made per picture */
    long written;            /* snapshot: pictures written (under pl->mu) */
} sink;

typedef struct batch_item {
    pstream *s;
    qitem it;
    vp_pre_geom g;
    int ok;                  /* preprocessed into its slot */
} batch_item;

typedef struct batch_times {
    double pre, infer, post; /* ms for the whole batch */
} batch_times;

/*
 * One batch in flight, from the inference thread (which gathers, launches
 * and, on the CPU path, computes it) to the completion thread (which waits
 * for it, writes its results, updates the statistics and returns its
 * frames). p->fl is a ring of p->depth of these; the inference thread takes
 * a slot only when the completion thread is done with it, so at most depth
 * batches hold frames (NVDEC surfaces) at once.
 *
 * GPU path, per batch, all on the engine's stream in this order:
 *   ev[FL_BEGIN] preprocessing (into the plan's input binding) ev[FL_PRE]
 *   engine ev[FL_INFER] post-processing (into this slot's dres), counts ->
 *   res.count (pinned) ev[FL_DONE]
 * and the inference thread goes on with the next batch without waiting.
 * The completion thread waits for ev[FL_DONE] (sleeping: blocking-sync
 * events), copies each image's kept detections from dres (the counts are
 * known now) on its own stream, and only then unmaps the frames: their
 * surfaces were read by the preprocessing before ev[FL_DONE]. The next
 * batch's kernels overwrite the shared bindings and scratch in stream order,
 * after this batch's consumers; dres and res are per slot because they are
 * read after the stream has moved on.
 */
enum { FL_BEGIN, FL_PRE, FL_INFER, FL_DONE, FL_EVENTS };

typedef struct inflight {
    batch_item *b;           /* max_batch items; b[i] is in batch slot i */
    int n;                   /* frames held (0: free) */
    long no;                 /* batch number from 0, in launch order */
    int rc;                  /* VP_OK, or the batch failed and every frame's result is why */
    char why[256];
    batch_times bt;          /* CPU path: measured while launching; GPU path: from the events */
    vp_post_results res;     /* host results (pinned on the GPU path); not for semseg */
    vp_post_results dres;    /* GPU path: device results */
    vp_det_wire *wire;       /* GPU path: the kept detections packed (pinned), when p->wire_scale > 0 */
    vp_det_wire *dwire;      /* GPU path: the same on the device, packed after the post-processing */
    int32_t *sem_counts;     /* GPU path, semseg: pixels per class in each image's window, [max_batch][256] (pinned) */
    int32_t *dsem_counts;    /* GPU path, semseg: the same on the device */
    uint32_t *mask_words;    /* GPU path, segment: words of each image's mask bits, [max_batch] (pinned) */
    vp_mask_results dmask;   /* GPU path, segment: the batch's masks in compact form (device) */
    struct CUevent_st *ev[FL_EVENTS]; /* GPU path */
    int timed;               /* ev[FL_BEGIN..FL_INFER] recorded and the engine ran: stage times from them */
    int done_ev;             /* ev[FL_DONE] recorded after all of the batch's GPU work */
    int counts;              /* res.count holds the counts (GPU path: their copy was enqueued; segment: and
                                mask_words) */
    uint64_t anchor;         /* GPU spans: host clock when ev[FL_BEGIN] was recorded; 0: no GPU spans */
} inflight;

/* One engine plan per batch size used: 1, the largest batch the configured
 * sources' queues can fill at once (when below the maximum: one stream with
 * a queue of 4 never fills a batch of 32), and the maximum. A partial batch
 * runs in the next larger plan, its spare slots ignored. */
#define MAX_PLANS 3

struct vp_pipeline {
    vp_pipeline_config cfg;  /* scalars copied; strings below are our copies */
    char *model_path;
    char **class_names;
    int n_class_names;
    pthread_mutex_t mu;
    pthread_cond_t cv_frames, cv_space;
    atomic_int stop;
    int interrupted;
    pstream *st;             /* VP_PIPE_MAX_SOURCES slots, never moved (threads hold pointers) */
    int ns;                  /* slots used, removed ones included */
    int serve;               /* keep running with no sources (vp_pipeline_set_serve) */
    long next_auto_id;
    int rr;                  /* round-robin start of the next batch */
    pthread_t infer_thread;
    int infer_started, started;
    int infer_done;          /* the inference thread has ended: nothing more is consumed */
    /* engine */
    vp_engine *eng;
    int gpu_path;            /* CUDA engine, GPU preprocessing and post-processing */
    vp_plan *plan[MAX_PLANS];
    int plan_batch[MAX_PLANS];
    int n_plans;
    int max_batch;
    int in_w, in_h;
    float wire_scale;        /* GPU path: units per pixel of vp_det_wire; 0: boxes cross as vp_det */
    vp_pre_params pre;
    vp_post_params post;
    vp_post_layout lo;       /* resolved with the largest plan's shapes */
    int n_out;               /* model outputs post-processing reads (1, or 2 for segment) */
    /* CPU path buffers (largest plan) */
    void *in_host;
    void *out_host[2];
    void *out_unused[16];    /* CPU path: room for the outputs post-processing does not read */
    vp_shape out_shape[2];
    void *post_scratch;
    uint8_t *mask;           /* segment / semseg scratch: proto_h * proto_w bytes */
    size_t mask_words;       /* GPU path, segment: words of mask bits per image (vp_post_mask_words) */
    vp_mask_box *hmask_box;  /* GPU path, segment: one image's mask boxes (pinned, max_det; completion thread) */
    uint32_t *hmask_bits;    /* GPU path, segment: that image's mask bits (pinned, mask_words words) */
    vp_det *mapped;          /* one frame's detections in source pixels (max_det) */
    vp_track_det *tdets;     /* the same for the tracker */
    int32_t *tids;           /* track id per detection, 0 = none */
    vp_draw_det *ddets;      /* video sinks: what is drawn */
    float *kp_mapped;        /* keypoints of one frame in source pixels */
    vp_track_params track;
    /* tracker.reid (reid_setup / reid_batch) */
    vp_reid *reid;           /* NULL: IoU only */
    float *reid_emb;         /* [max_batch][max_det][D]: embeddings of this batch's detections */
    float *reid_tmp;         /* [max_batch * max_det][D]: one vp_reid_embed call's, in crop order */
    vp_crop *reid_crops;     /* [max_batch * max_det] */
    int *reid_ok;            /* [max_batch]: slot i has embeddings */
    void *reid_upload;       /* GPU path: the completion thread's staging for CPU-decoded frames */
    size_t reid_upload_bytes;
    vp_spans *spans;         /* profile.trace: recorded spans, else NULL */
    vp_span_writer *sw;      /* the inference thread's writer */
    vp_span_writer *csw;     /* the completion thread's writer */
    vp_span_writer *gsw;     /* GPU path with spans: the pipeline stream's GPU track (completion thread) */
    /* batches in flight (see struct inflight), under mu */
    struct inflight *fl;     /* depth slots */
    int depth;               /* cfg.inflight, lowered to fit NVDEC's 64 frames; CPU path: 1 for segment/semseg */
    int fl_head, fl_count;   /* oldest launched slot; slots launched and not yet completed */
    int fl_eof;              /* the inference thread launches nothing more */
    long fl_launched;        /* batches launched (inference thread only) */
    pthread_cond_t cv_fl;    /* fl_count or fl_eof changed */
    pthread_t comp_thread;
    int comp_started;
    /* GPU path */
    vp_gpu *gpu;
    struct CUstream_st *stream; /* the engine's stream (not ours): all GPU work of a batch, in order */
    struct CUstream_st *cstream; /* ours, completion thread: the detections' copies */
    void *dscratch;
    void *upload;            /* device staging for host frames (CPU-decoded) */
    size_t upload_bytes;
    int warned_host_frames;
    /* sinks */
    sink sinks[VP_PIPE_MAX_SINKS];
    int n_sinks;
    /* statistics (under mu) */
    long frames, batches, batch_frames, engine_errors, sink_errors;
    hist stage[VP_STAGE_COUNT];
    long fault_batch;        /* test hook: $VIDPIPE_FAULT_ENGINE_BATCH = N fails the engine on batch N (1-based) */
    double t_start, t_end, cpu_start, cpu_end;
    /* CPU time by thread (under mu): ended threads' totals; the live ones' clocks */
    double cpu_sources_s, cpu_infer_s, cpu_results_s;
    thread_cpu infer_cpu, comp_cpu;
    /* the steady-state window (see vp_pipeline_stats), under mu: streams
     * with a first result or ended; the window's ends (0: not reached) */
    int n_begun;
    window win_open, win_close;
    char err[512];
};

struct vp_spans *vp_pipeline_spans(vp_pipeline *p) { return p ? p->spans : NULL; }

/* Under mu: the host CPU times so far, the process's and by thread. */
static double cpu_times(const vp_pipeline *p, vp_thread_cpu *t)
{
    double c_end = p->t_end ? p->cpu_end : cpu_s(), proc = p->started ? c_end - p->cpu_start : 0;
    t->infer_s = p->cpu_infer_s + thread_cpu_now(&p->infer_cpu);
    t->results_s = p->cpu_results_s + thread_cpu_now(&p->comp_cpu);
    t->sources_s = p->cpu_sources_s;
    for (int i = 0; i < p->ns; i++)
        t->sources_s += thread_cpu_now(&p->st[i].cpu);
    /* the threads' clocks are read after the process's: never below 0 */
    t->other_s = fmax(0, proc - t->sources_s - t->infer_s - t->results_s);
    return proc;
}

/* Under mu: one end of the steady-state window, now. */
static void window_mark(const vp_pipeline *p, window *w)
{
    w->t_ms = now_ms();
    w->frames = p->frames;
    w->cpu_s = cpu_times(p, &w->by_thread);
}

/* Under mu: stream s has its first result or ended; the window opens when
 * every stream has. */
static void stream_begun(vp_pipeline *p, pstream *s)
{
    if (s->begun)
        return;
    s->begun = 1;
    if (++p->n_begun >= p->ns && !p->win_open.t_ms)
        window_mark(p, &p->win_open);
}

int vp_pipeline_set_span_hooks(vp_pipeline *p, const vp_span_hooks *hooks, void *ctx)
{
    if (!p || !p->spans || p->started)
        return VP_ERR_INVALID;
    vp_spans_config sc = {.hooks = hooks, .hooks_ctx = ctx};
    vp_spans *s = NULL;
    int rc = vp_spans_create(&sc, &s);
    if (rc)
        return rc;
    vp_spans_free(&p->spans);
    p->spans = s;
    return VP_OK;
}

int vp_pipeline_num_streams(const vp_pipeline *p)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&((vp_pipeline *)p)->mu);
    int n = 0;
    for (int i = 0; i < p->ns; i++)
        n += !p->st[i].removed;
    pthread_mutex_unlock(&((vp_pipeline *)p)->mu);
    return n;
}

void vp_pipeline_set_serve(vp_pipeline *p, int serve)
{
    if (p)
        p->serve = serve;
}

/* ------------------------------------------------------------- creation */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) VP_PRINTF(4, 5);
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static size_t tensor_bytes(vp_dtype dt, const vp_shape *s)
{
    int64_t n = vp_shape_numel(s);
    return n < 0 ? 0 : (size_t)n * vp_dtype_size(dt);
}

/* The preprocessing's view of a model input of this dtype and shape:
 * [N,3,H,W] -> NCHW, [N,H,W,3] -> NHWC; float32 or float16. */
static int input_form(vp_dtype dt, const vp_shape *s, vp_pre_params *pre, int *w, int *h)
{
    if (s->rank != 4 || (dt != VP_DT_FLOAT && dt != VP_DT_FLOAT16))
        return -1;
    pre->dtype = dt == VP_DT_FLOAT16 ? VP_PRE_FP16 : VP_PRE_FP32;
    if (s->d[1] == 3) {
        pre->layout = VP_PRE_NCHW;
        *h = (int)s->d[2], *w = (int)s->d[3];
    } else if (s->d[3] == 3) {
        pre->layout = VP_PRE_NHWC;
        *h = (int)s->d[1], *w = (int)s->d[2];
    } else {
        return -1;
    }
    return 0;
}

static int post_tensor(vp_dtype dt, const vp_shape *s, const void *data, vp_post_tensor *t)
{
    if (s->rank < 2 || s->rank > 4 || (dt != VP_DT_FLOAT && dt != VP_DT_FLOAT16))
        return -1;
    t->data = data;
    t->dtype = dt == VP_DT_FLOAT16 ? VP_PRE_FP16 : VP_PRE_FP32;
    t->rank = s->rank;
    for (int i = 0; i < s->rank; i++)
        t->d[i] = s->d[i];
    return 0;
}

/* Class names from an ultralytics export's metadata "names", a Python dict
 * literal {0: 'person', 1: 'bicycle', ...} with keys 0..n-1 in order. Sets
 * p->class_names; 0 when absent or not in that form (names stay numbers). */
static int names_from_metadata(vp_pipeline *p)
{
    const char *m = vp_engine_metadata(p->eng, "names");
    if (!m || *m != '{')
        return 0;
    int n = 0;
    for (const char *q = m; *q; q++)
        n += *q == ':';
    if (n <= 0 || n > 65535 || !(p->class_names = calloc((size_t)n, sizeof *p->class_names)))
        return 0;
    const char *q = m + 1;
    for (int i = 0; i < n; i++) {
        char *end;
        long key = strtol(q, &end, 10);
        if (key != i || end == q)
            break;
        q = end;
        while (*q == ' ' || *q == ':')
            q++;
        char quote = *q;
        if (quote != '\'' && quote != '"')
            break;
        const char *b = ++q;
        while (*q && *q != quote)
            q++;
        if (!*q || !(p->class_names[i] = malloc((size_t)(q - b) + 1)))
            break;
        memcpy(p->class_names[i], b, (size_t)(q - b));
        p->class_names[i][q - b] = 0;
        p->n_class_names = i + 1;
        q++;
        while (*q == ',' || *q == ' ')
            q++;
    }
    if (p->n_class_names != n) { /* not the expected form: keep numbers */
        for (int i = 0; i < n; i++)
            free(p->class_names[i]);
        free(p->class_names);
        p->class_names = NULL;
        p->n_class_names = 0;
        return 0;
    }
    return n;
}

/* The task from the model's outputs when the config says auto: two outputs
 * with a 4-D second -> segment; one 4-D output -> semseg; 56 features
 * (4 box + 1 class + 17 x 3 keypoints) -> pose; else detect. */
static int guess_task(vp_engine *e)
{
    /* exporters that say (ultralytics: metadata "task") are believed */
    const char *t = vp_engine_metadata(e, "task");
    if (t && vp_task_parse(t) >= 0)
        return vp_task_parse(t);
    vp_shape s0, s1;
    vp_dtype dt;
    const char *name;
    int n = vp_engine_num_outputs(e);
    vp_engine_output_info(e, 0, &name, &dt, &s0);
    if (n >= 2 && vp_engine_output_info(e, 1, &name, &dt, &s1) == VP_OK && s1.rank == 4 && s0.rank == 3)
        return VP_TASK_SEGMENT;
    if (s0.rank == 4)
        return VP_TASK_SEMSEG;
    if (s0.rank == 3 && (s0.d[1] == 56 || s0.d[2] == 56))
        return VP_TASK_POSE;
    return VP_TASK_DETECT;
}

/* Where a result set lives: host heap (CPU path), device, pinned host (the
 * GPU path's copies land there asynchronously). */
enum { RES_HOST = 0, RES_DEVICE = 1, RES_PINNED = 2 };

static int alloc_results(vp_post_results *r, const vp_post_layout *lo, const vp_post_params *pp, int batch,
                         int where, vp_gpu *g)
{
    size_t nd = (size_t)batch * (size_t)pp->max_det;
    size_t sizes[4] = {(size_t)batch * sizeof(int32_t), nd * sizeof(vp_det),
                       lo->num_keypoints ? nd * (size_t)(lo->num_keypoints * lo->keypoint_dims) * sizeof(float) : 0,
                       lo->num_masks ? nd * (size_t)lo->num_masks * sizeof(float) : 0};
    void *p[4] = {0};
    for (int i = 0; i < 4; i++) {
        if (!sizes[i])
            continue;
        int rc = where == RES_DEVICE ? vp_gpu_dev_alloc(g, sizes[i], &p[i])
                 : where == RES_PINNED ? vp_gpu_host_alloc(g, sizes[i], &p[i])
                 : (p[i] = calloc(1, sizes[i])) ? VP_OK : VP_ERR_NOMEM;
        /* what was allocated so far is freed with the set (free_results) */
        r->count = p[0], r->det = p[1], r->keypoints = p[2], r->coefs = p[3];
        if (rc)
            return rc == VP_ERR_NOMEM ? rc : VP_ERR_BACKEND;
    }
    return VP_OK;
}

static void free_results(vp_post_results *r, int where, vp_gpu *g)
{
    void *p[4] = {r->count, r->det, r->keypoints, r->coefs};
    for (int i = 0; i < 4; i++) {
        if (!p[i])
            continue;
        if (where == RES_DEVICE)
            vp_gpu_dev_free(g, p[i]);
        else if (where == RES_PINNED)
            vp_gpu_host_free(g, p[i]);
        else
            free(p[i]);
    }
    memset(r, 0, sizeof *r);
}

static int engine_setup(vp_pipeline *p, char *err, size_t errlen)
{
    vp_pipeline_config *c = &p->cfg;
    vp_engine_options eo;
    vp_engine_options_default(&eo);
    eo.num_threads = c->threads;
    if (!c->backend_set) {
        /* auto: CUDA when decode is not forced onto the CPU and a GPU is usable */
        char why[256];
        c->backend = VP_BACKEND_CPU;
        if (c->decode_hw != VP_HW_CPU && vp_engine_describe_backend(VP_BACKEND_CUDA, why, sizeof why) == VP_OK)
            c->backend = VP_BACKEND_CUDA;
    }
    if (!c->precision_set)
        c->precision = c->backend == VP_BACKEND_CUDA ? VP_PRECISION_FP16 : VP_PRECISION_FP32;
    eo.backend = c->backend;
    eo.precision = c->precision;
    eo.native_input = c->backend == VP_BACKEND_CUDA;
    char why[1024];
    int rc = vp_engine_load(p->model_path, &eo, &p->eng, why, sizeof why);
    if (rc)
        return fail(err, errlen, rc, "model: %s", why);
    if (vp_engine_num_inputs(p->eng) != 1)
        return fail(err, errlen, VP_ERR_UNSUPPORTED, "model %s: %d inputs; the pipeline feeds models with one image input",
                    p->model_path, vp_engine_num_inputs(p->eng));
    const char *iname;
    vp_dtype idt;
    vp_shape ishape;
    vp_engine_input_info(p->eng, 0, &iname, &idt, &ishape);
    if (ishape.rank != 4 || (ishape.d[1] != 3 && ishape.d[1] != -1))
        return fail(err, errlen, VP_ERR_UNSUPPORTED, "model %s: input '%s' is not an image batch [N,3,H,W]",
                    p->model_path, iname);
    p->in_w = c->input_width ? c->input_width : ishape.d[3] > 0 ? (int)ishape.d[3] : 640;
    p->in_h = c->input_height ? c->input_height : ishape.d[2] > 0 ? (int)ishape.d[2] : 640;
    if ((ishape.d[3] > 0 && ishape.d[3] != p->in_w) || (ishape.d[2] > 0 && ishape.d[2] != p->in_h))
        return fail(err, errlen, VP_ERR_INVALID, "model %s: input is %lldx%lld, the config asks for %dx%d",
                    p->model_path, (long long)ishape.d[3], (long long)ishape.d[2], p->in_w, p->in_h);
    p->gpu_path = c->backend == VP_BACKEND_CUDA;
    if (p->gpu_path && (rc = vp_gpu_open(c->gpu, c->gpu_only, &p->gpu, why, sizeof why)))
        return fail(err, errlen, rc, "device: %s", why);

    /* plans: batch 1, what the queues can fill, the maximum */
    int fill = p->ns * (p->cfg.queue_frames > 0 ? p->cfg.queue_frames : 4);
    p->plan_batch[p->n_plans++] = 1;
    if (fill > 1 && fill < p->max_batch)
        p->plan_batch[p->n_plans++] = fill;
    if (p->max_batch > 1)
        p->plan_batch[p->n_plans++] = p->max_batch;
    for (int k = 0; k < p->n_plans; k++) {
        vp_shape s = {4, {p->plan_batch[k], 3, p->in_h, p->in_w}};
        if ((rc = vp_engine_plan(p->eng, &s, &p->plan[k])))
            return fail(err, errlen, rc, "model %s: plan for batch %d: %s", p->model_path, p->plan_batch[k],
                        vp_engine_last_error(p->eng));
    }
    vp_plan *big = p->plan[p->n_plans - 1];

    /* preprocessing parameters */
    vp_pre_params_default(&p->pre);
    p->pre.dst_width = p->in_w, p->pre.dst_height = p->in_h;
    p->pre.mode = c->letterbox ? VP_PRE_LETTERBOX : VP_PRE_STRETCH;
    p->pre.pad[0] = p->pre.pad[1] = p->pre.pad[2] = c->pad;
    p->pre.order = c->bgr ? VP_PRE_BGR : VP_PRE_RGB;
    p->pre.scale = c->scale;
    for (int i = 0; i < 3; i++)
        p->pre.mean[i] = c->mean[i], p->pre.std[i] = c->std[i];
    int w = 0, h = 0;
    vp_tensor tin;
    if (p->gpu_path) {
        if ((rc = vp_plan_binding(big, 0, 0, &tin)))
            return fail(err, errlen, rc, "model %s: input binding: %s", p->model_path, vp_engine_last_error(p->eng));
        if (input_form(tin.dtype, &tin.shape, &p->pre, &w, &h))
            return fail(err, errlen, VP_ERR_UNSUPPORTED, "model %s: input binding is not a 3-channel float image batch",
                        p->model_path);
    } else {
        vp_shape s = {4, {p->max_batch, 3, p->in_h, p->in_w}};
        input_form(VP_DT_FLOAT, &s, &p->pre, &w, &h);
        if (!(p->in_host = calloc(1, tensor_bytes(VP_DT_FLOAT, &s))))
            return fail(err, errlen, VP_ERR_NOMEM, "out of memory for the input batch");
    }

    /* post-processing: outputs of the largest plan */
    vp_post_params_default(&p->post);
    p->post.task = c->task >= 0 ? c->task : guess_task(p->eng);
    p->post.num_classes = c->num_classes;
    if (!p->n_class_names && names_from_metadata(p) && !c->num_classes)
        p->post.num_classes = p->n_class_names;
    const char *kpt = vp_engine_metadata(p->eng, "kpt_shape"); /* ultralytics pose: "[17, 3]" */
    int nk = 0, kd = 0;
    if (p->post.task == VP_TASK_POSE && kpt && sscanf(kpt, "[%d, %d]", &nk, &kd) == 2 && nk > 0 && (kd == 2 || kd == 3))
        p->post.num_keypoints = nk, p->post.keypoint_dims = kd;
    p->post.conf_threshold = c->conf_threshold;
    p->post.iou_threshold = c->iou_threshold;
    p->post.max_det = c->max_det;
    if (p->post.max_candidates < p->post.max_det)
        p->post.max_candidates = p->post.max_det;
    p->post.class_agnostic = c->class_agnostic;
    p->n_out = p->post.task == VP_TASK_SEGMENT ? 2 : 1;
    if (vp_engine_num_outputs(p->eng) < p->n_out)
        return fail(err, errlen, VP_ERR_INVALID, "model %s: task %s needs %d outputs, the model has %d", p->model_path,
                    vp_task_name(p->post.task), p->n_out, vp_engine_num_outputs(p->eng));
    vp_post_tensor pt[2];
    for (int i = 0; i < p->n_out; i++) {
        vp_tensor t;
        const char *oname;
        vp_shape decl;
        vp_engine_output_info(p->eng, i, &oname, &t.dtype, &decl);
        if (p->gpu_path) {
            if ((rc = vp_plan_binding(big, 1, i, &t)))
                return fail(err, errlen, rc, "model %s: output binding %d: %s", p->model_path, i,
                            vp_engine_last_error(p->eng));
        } else {
            vp_plan_output_shape(big, i, &t.shape);
            t.data = NULL;
        }
        p->out_shape[i] = t.shape;
        if (post_tensor(t.dtype, &t.shape, t.data, &pt[i]))
            return fail(err, errlen, VP_ERR_UNSUPPORTED, "model %s: output '%s' is not a float tensor of rank 2..4",
                        p->model_path, oname);
        if (!p->gpu_path) {
            if (!(p->out_host[i] = malloc(tensor_bytes(t.dtype, &t.shape))))
                return fail(err, errlen, VP_ERR_NOMEM, "out of memory for output %d", i);
            pt[i].data = p->out_host[i];
        }
    }
    /* CPU path: outputs the pipeline does not read still need room; sized
     * once for the largest plan, so no batch allocates */
    int nout = vp_engine_num_outputs(p->eng);
    if (nout > 16)
        return fail(err, errlen, VP_ERR_UNSUPPORTED, "model %s: %d outputs, at most 16", p->model_path, nout);
    for (int i = p->n_out; !p->gpu_path && i < nout; i++) {
        vp_shape sh;
        const char *oname;
        vp_dtype dt;
        vp_engine_output_info(p->eng, i, &oname, &dt, &sh);
        vp_plan_output_shape(big, i, &sh);
        if (!(p->out_unused[i] = malloc(tensor_bytes(dt, &sh) + 1)))
            return fail(err, errlen, VP_ERR_NOMEM, "out of memory for output %d", i);
    }
    if ((rc = vp_post_resolve(&p->post, pt, p->n_out, &p->lo)))
        return fail(err, errlen, VP_ERR_INVALID, "model %s: its outputs do not fit task %s (see the message above)",
                    p->model_path, vp_task_name(p->post.task));
    if (p->post.task == VP_TASK_SEMSEG) {
        if (!(p->mask = malloc((size_t)p->lo.proto_h * (size_t)p->lo.proto_w)))
            return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
        return VP_OK;
    }
    if (p->post.task == VP_TASK_SEGMENT && !(p->mask = malloc((size_t)p->lo.proto_h * (size_t)p->lo.proto_w)))
        return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
    if (!p->gpu_path) {
        size_t sb = vp_post_scratch_bytes(&p->post, &p->lo);
        if (sb && !(p->post_scratch = malloc(sb)))
            return fail(err, errlen, VP_ERR_NOMEM, "out of memory for post-processing");
        return VP_OK;
    }
    if ((rc = vp_gpu_dev_alloc(p->gpu, p->gpu->api->post_scratch(&p->post, &p->lo), &p->dscratch)))
        return fail(err, errlen, rc, "device: out of memory for post-processing");
    return VP_OK;
}

/* GPU path: the engine's stream carries every batch's GPU work; each plan
 * runs twice here (eager, then captured as a CUDA graph) so that no capture
 * happens while the completion thread waits on that stream, and the first
 * batches are not the slow ones. The input bindings hold whatever memory
 * held: the outputs are thrown away. */
static int gpu_stream_setup(vp_pipeline *p, char *err, size_t errlen)
{
    if (!(p->stream = vp_engine_stream(p->eng)))
        return fail(err, errlen, VP_ERR_BACKEND, "model %s: the CUDA engine has no stream", p->model_path);
    int rc = p->gpu->api->stream_create(&p->cstream);
    if (rc)
        return fail(err, errlen, rc, "device: cannot create a stream");
    for (int k = 0; k < p->n_plans; k++)
        for (int r = 0; r < 2; r++)
            if ((rc = vp_plan_run_bound(p->plan[k])))
                return fail(err, errlen, rc, "model %s: warm-up run of the batch-%d plan: %s", p->model_path,
                            p->plan_batch[k], vp_engine_last_error(p->eng));
    return VP_OK;
}

/* A block from the GPU handle's device or pinned-host pool (which), unless
 * *rc already holds a failure; a failure goes to *rc (logged) and gives
 * NULL. Lets several allocations share one check. */
static void *pool_take(vp_pipeline *p, int which, size_t bytes, int *rc)
{
    void *q = NULL;
    if (*rc == VP_OK)
        *rc = which == VP_GPU_POOL_HOST ? vp_gpu_host_alloc(p->gpu, bytes, &q) : vp_gpu_dev_alloc(p->gpu, bytes, &q);
    return *rc == VP_OK ? q : NULL;
}

/* The ring of batches in flight (struct inflight): cfg.inflight slots,
 * fewer when the queue length leaves NVDEC too few frames (given
 * explicitly, validate refuses that) and, on the CPU path, one for
 * segment/semseg, whose results are made from the model output (one host
 * copy) while they are written. On the GPU path those results are made on
 * the GPU into the slot's own device arrays, and only they are copied. */
static int ring_setup(vp_pipeline *p, char *err, size_t errlen)
{
    int want = p->cfg.inflight < 1 ? 1 : p->cfg.inflight > 4 ? 4 : p->cfg.inflight;
    int q = p->cfg.queue_frames > 0 ? p->cfg.queue_frames : 4, depth = want;
    while (depth > 1 && (depth + 1) * q + 1 > 64)
        depth--;
    const int pixel_task = p->post.task == VP_TASK_SEGMENT || p->post.task == VP_TASK_SEMSEG;
    if (depth > 1 && pixel_task && !p->gpu_path)
        depth = 1;
    if (depth != want)
        VP_LOGI("pipeline: %d batch(es) in flight instead of batch.inflight %d (%s)", depth, want,
                depth > 1 || !pixel_task || p->gpu_path
                    ? "NVDEC maps at most 64 frames per stream"
                    : "segment and semseg results are made from the model output on the CPU path");
    if (!(p->fl = calloc((size_t)depth, sizeof *p->fl)))
        return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
    p->depth = depth;
    int rc;
    const size_t mb = (size_t)p->max_batch;
    /* detect, pose and segment boxes cross to the host packed (vp_det_wire) */
    p->wire_scale = p->gpu_path && p->post.task != VP_TASK_SEMSEG
                        ? vp_det_wire_scale(p->in_w, p->in_h, p->lo.num_classes)
                        : 0.0f;
    if (p->gpu_path && p->post.task == VP_TASK_SEGMENT) {
        /* one image's masks at a time on the host (the completion thread's) */
        if (!(p->mask_words = vp_post_mask_words(&p->lo, p->post.max_det)))
            return fail(err, errlen, VP_ERR_UNSUPPORTED, "model %s: %d masks of %dx%d prototype pixels per image are "
                        "too many for the GPU's mask arrays", p->model_path, p->post.max_det, p->lo.proto_w,
                        p->lo.proto_h);
        rc = VP_OK;
        p->hmask_box = pool_take(p, VP_GPU_POOL_HOST, (size_t)p->post.max_det * sizeof(vp_mask_box), &rc);
        p->hmask_bits = pool_take(p, VP_GPU_POOL_HOST, p->mask_words * sizeof(uint32_t), &rc);
        if (rc)
            return fail(err, errlen, rc, "out of pinned memory for masks");
    }
    for (int i = 0; i < depth; i++) {
        inflight *f = &p->fl[i];
        if (!(f->b = calloc(mb, sizeof *f->b)))
            return fail(err, errlen, VP_ERR_NOMEM, "out of memory for the batch");
        if (p->post.task == VP_TASK_SEMSEG) {
            /* no detections; GPU path: class counts per image */
            size_t cb = mb * VP_SEMSEG_BINS * sizeof(int32_t);
            rc = VP_OK;
            if (p->gpu_path) {
                f->sem_counts = pool_take(p, VP_GPU_POOL_HOST, cb, &rc);
                f->dsem_counts = pool_take(p, VP_GPU_POOL_DEVICE, cb, &rc);
            }
            if (rc)
                return fail(err, errlen, rc, "out of memory for class counts");
            continue;
        }
        if ((rc = alloc_results(&f->res, &p->lo, &p->post, p->max_batch, p->gpu_path ? RES_PINNED : RES_HOST, p->gpu)))
            return fail(err, errlen, rc, "out of memory for results");
        if (p->gpu_path && (rc = alloc_results(&f->dres, &p->lo, &p->post, p->max_batch, RES_DEVICE, p->gpu)))
            return fail(err, errlen, rc, "device: out of memory for results");
        if (p->gpu_path && p->wire_scale > 0.0f) {
            size_t wb = mb * (size_t)p->post.max_det * sizeof(vp_det_wire);
            f->wire = pool_take(p, VP_GPU_POOL_HOST, wb, &rc);
            f->dwire = pool_take(p, VP_GPU_POOL_DEVICE, wb, &rc);
            if (rc)
                return fail(err, errlen, rc, "out of memory for packed detections");
        }
        if (p->gpu_path && p->post.task == VP_TASK_SEGMENT) {
            f->mask_words = pool_take(p, VP_GPU_POOL_HOST, mb * sizeof(uint32_t), &rc);
            f->dmask.box = pool_take(p, VP_GPU_POOL_DEVICE, mb * (size_t)p->post.max_det * sizeof(vp_mask_box), &rc);
            f->dmask.words = pool_take(p, VP_GPU_POOL_DEVICE, mb * sizeof(uint32_t), &rc);
            f->dmask.bits = pool_take(p, VP_GPU_POOL_DEVICE, mb * p->mask_words * sizeof(uint32_t), &rc);
            if (rc)
                return fail(err, errlen, rc, "device: out of memory for masks");
        }
    }
    for (int i = 0; p->gpu_path && i < depth; i++)
        for (int e = 0; e < FL_EVENTS; e++)
            if ((rc = p->gpu->api->event_create_blocking(&p->fl[i].ev[e])))
                return fail(err, errlen, rc, "device: cannot create an event");
    return VP_OK;
}

/* Frees the ring; frames still held (none after a run) are returned. */
static void ring_free(vp_pipeline *p)
{
    for (int i = 0; p->fl && i < p->depth; i++) {
        inflight *f = &p->fl[i];
        for (int k = 0; f->b && k < f->n; k++)
            vp_frame_unref(&f->b[k].it.f);
        free(f->b);
        free_results(&f->res, p->gpu_path ? RES_PINNED : RES_HOST, p->gpu);
        if (p->gpu) {
            free_results(&f->dres, RES_DEVICE, p->gpu);
            vp_gpu_host_free(p->gpu, f->sem_counts);
            vp_gpu_dev_free(p->gpu, f->dsem_counts);
            vp_gpu_host_free(p->gpu, f->wire);
            vp_gpu_dev_free(p->gpu, f->dwire);
            vp_gpu_host_free(p->gpu, f->mask_words);
            vp_gpu_dev_free(p->gpu, f->dmask.box);
            vp_gpu_dev_free(p->gpu, f->dmask.words);
            vp_gpu_dev_free(p->gpu, f->dmask.bits);
        }
        for (int e = 0; p->gpu && e < FL_EVENTS; e++)
            p->gpu->api->event_destroy(f->ev[e]);
    }
    free(p->fl);
    p->fl = NULL;
    if (p->gpu) {
        vp_gpu_host_free(p->gpu, p->hmask_box);
        vp_gpu_host_free(p->gpu, p->hmask_bits);
    }
    p->hmask_box = NULL;
    p->hmask_bits = NULL;
}

/* Makes directory dir and its missing parents (mkdir -p), then checks that
 * files can be created in it. 0, or -1 with one line in why naming which
 * of the two failed and the cause. */
static int make_dir(const char *dir, char *why, size_t whylen)
{
    char buf[4200];
    struct stat st;
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        snprintf(why, whylen, "directory name too long");
        return -1;
    }
    for (char *c = buf + 1;; c++) {
        if (*c != '/' && *c)
            continue;
        char save = *c;
        *c = 0;
        if (mkdir(buf, 0777) && errno != EEXIST) {
            snprintf(why, whylen, "cannot create the directory '%s': %s", buf, strerror(errno));
            return -1;
        }
        if (stat(buf, &st) || !S_ISDIR(st.st_mode)) {
            snprintf(why, whylen, "cannot create the directory '%s': %s", buf,
                     errno && !S_ISDIR(st.st_mode) ? strerror(ENOTDIR) : strerror(errno));
            return -1;
        }
        *c = save;
        if (!save)
            break;
    }
    if (access(buf, W_OK | X_OK)) {
        snprintf(why, whylen, "the directory '%s' exists but is not writable: %s", buf, strerror(errno));
        return -1;
    }
    return 0;
}

/* The directory part of file name path ("" for none) into out. */
static void dir_of(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, len, "%s", "");
    else if (slash == path)
        snprintf(out, len, "%s", "/");
    else
        snprintf(out, len, "%.*s", (int)(slash - path), path);
}

static int sinks_open(vp_pipeline *p, char *err, size_t errlen)
{
    for (int i = 0; i < p->cfg.n_sinks; i++) {
        sink *s = &p->sinks[p->n_sinks++];
        s->kind = p->cfg.sinks[i].kind;
#ifndef VP_HAVE_FFMPEG
        if (s->kind == VP_SINK_VIDEO)
            return fail(err, errlen, VP_ERR_UNSUPPORTED, "sinks[%d]: this build has no FFmpeg: no video sink", i);
        if (s->kind == VP_SINK_SNAPSHOT)
            return fail(err, errlen, VP_ERR_UNSUPPORTED, "sinks[%d]: this build has no FFmpeg: no snapshot sink", i);
#endif
        if (!(s->path = dupstr(p->cfg.sinks[i].path)))
            return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
        if (s->kind == VP_SINK_VIDEO) {
            /* one file per stream, opened at its first frame */
            s->encoder = p->cfg.sinks[i].encoder;
        } else if (s->kind == VP_SINK_SNAPSHOT) {
            /* one file per picture; the directory made now when the name
             * does not depend on the stream or frame */
            char dir[4200], why[4400];
            s->every = p->cfg.sinks[i].every > 0 ? p->cfg.sinks[i].every : 1;
            s->min_det = p->cfg.sinks[i].min_detections;
            dir_of(s->path, dir, sizeof dir);
            s->dir_per_file = strchr(dir, '{') != NULL;
            if (!s->dir_per_file && dir[0] && make_dir(dir, why, sizeof why))
                return fail(err, errlen, VP_ERR_IO, "sinks[%d]: %s", i, why);
        } else if (!strcmp(s->path, "-")) {
            s->f = stdout;
        } else if (!(s->f = fopen(s->path, "w"))) {
            return fail(err, errlen, VP_ERR_IO, "sinks[%d]: cannot write '%s': %s", i, s->path, strerror(errno));
        }
    }
    return VP_OK;
}

/* Takes the next slot for source src (mu held, or before start). The id
 * must be new among the sources not removed; "" or NULL: "s<n>". */
static int slot_add(vp_pipeline *p, const vp_pipe_source *src, char *err, size_t errlen)
{
    char auto_id[32];
    const char *id = src->id;
    if (!src->uri || !src->uri[0])
        return fail(err, errlen, VP_ERR_INVALID, "source: uri is empty");
    if (!id || !id[0]) {
        snprintf(auto_id, sizeof auto_id, "s%ld", p->next_auto_id);
        id = auto_id;
    }
    p->next_auto_id++;
    for (int i = 0; i < p->ns; i++)
        if (!p->st[i].removed && !strcmp(p->st[i].id, id))
            return fail(err, errlen, VP_ERR_INVALID, "source '%s': this id is in use", id);
    if (p->ns >= VP_PIPE_MAX_SOURCES)
        return fail(err, errlen, VP_ERR_NOMEM, "source '%s': at most %d sources per pipeline", id, VP_PIPE_MAX_SOURCES);
    pstream *s = &p->st[p->ns];
    memset(s, 0, sizeof *s);
    s->pl = p;
    s->idx = p->ns;
    s->cfg = *src;
    s->qcap = p->cfg.queue_frames > 0 ? p->cfg.queue_frames : 4;
    s->id = dupstr(id);
    s->uri = dupstr(src->uri);
    s->q = calloc((size_t)s->qcap, sizeof *s->q);
    s->hw = VP_HW_AUTO;
    atomic_init(&s->stop_req, 0);
    vp_hist_init(&s->lat);
    if (!s->id || !s->uri || !s->q) {
        free(s->id), free(s->uri), free(s->q);
        memset(s, 0, sizeof *s);
        return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
    }
    s->cfg.id = s->id, s->cfg.uri = s->uri;
    if (p->cfg.track) {
        p->track.max_dets = p->cfg.max_det;
        if (p->track.max_tracks < p->track.max_dets)
            p->track.max_tracks = 2 * p->track.max_dets;
        if (vp_tracker_create(&p->track, &s->trk)) {
            free(s->id), free(s->uri), free(s->q);
            memset(s, 0, sizeof *s);
            return fail(err, errlen, VP_ERR_INVALID, "source '%s': cannot create its tracker (see above)", id);
        }
    }
    p->ns++;
    return VP_OK;
}

static int reid_setup(vp_pipeline *p, const char *model, char *err, size_t errlen); /* tracker.reid, below */

int vp_pipeline_create(const vp_pipeline_config *c, vp_pipeline **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen)
        err = dummy, errlen = sizeof dummy;
    *out = NULL;
    int rc = vp_pipeline_config_validate(c, err, errlen);
    if (rc)
        return rc;
    vp_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
    p->cfg = *c;
    /* the caller's strings are not kept: what we need is copied below */
    p->cfg.sources = NULL, p->cfg.model_path = NULL, p->cfg.class_names = NULL;
    p->cfg.http_listen = p->cfg.http_token_env = p->cfg.trace_path = NULL; /* the tool's business */
    p->cfg.reid_model = NULL; /* used by reid_setup only, from c */
    p->serve = c->serve;
    vp_track_params_default(&p->track);
    p->track.high_thresh = c->track_high;
    p->track.low_thresh = c->track_low;
    p->track.new_track_thresh = c->track_new;
    p->track.max_lost = c->track_max_lost;
    p->track.min_hits = c->track_min_hits;
    p->track.class_agnostic = c->track_class_agnostic;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv_frames, &ca);
    pthread_cond_init(&p->cv_space, &ca);
    pthread_cond_init(&p->cv_fl, NULL);
    pthread_condattr_destroy(&ca);
    atomic_init(&p->stop, 0);
    for (int i = 0; i < VP_STAGE_COUNT; i++)
        vp_hist_init(&p->stage[i]);
    *out = p; /* freed by the caller's vp_pipeline_free on failure too */

    p->max_batch = c->batch_mode == VP_BATCH_LATENCY && c->max_batch > 2 ? 2 : c->max_batch;
    if (c->batch_mode == VP_BATCH_LATENCY && p->cfg.timeout_ms > 2)
        p->cfg.timeout_ms = 2;
    if (!(p->model_path = dupstr(c->model_path)))
        return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
    if (c->num_class_names) {
        if (!(p->class_names = calloc((size_t)c->num_class_names, sizeof *p->class_names)))
            return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
        p->n_class_names = c->num_class_names;
        for (int i = 0; i < c->num_class_names; i++)
            if (!(p->class_names[i] = dupstr(c->class_names[i])))
                return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
    }
    if (!(p->st = calloc(VP_PIPE_MAX_SOURCES, sizeof *p->st)))
        return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->n_sources; i++)
        if ((rc = slot_add(p, &c->sources[i], err, errlen)))
            return rc;
    const char *fault = getenv("VIDPIPE_FAULT_ENGINE_BATCH");
    p->fault_batch = fault ? strtol(fault, NULL, 10) : 0;
    if ((rc = engine_setup(p, err, errlen)))
        return rc;
    if (p->gpu_path && (rc = gpu_stream_setup(p, err, errlen)))
        return rc;
    if ((rc = ring_setup(p, err, errlen)))
        return rc;
    if ((rc = reid_setup(p, c->reid_model, err, errlen)))
        return rc;
    if ((rc = sinks_open(p, err, errlen)))
        return rc;
    size_t md = (size_t)p->post.max_det, kn = (size_t)(p->lo.num_keypoints * p->lo.keypoint_dims);
    p->mapped = calloc(md, sizeof *p->mapped);
    p->tdets = calloc(md, sizeof *p->tdets);
    p->tids = calloc(md, sizeof *p->tids);
    p->ddets = calloc(md, sizeof *p->ddets);
    p->kp_mapped = calloc(md * (kn ? kn : 1), sizeof *p->kp_mapped);
    if (!p->mapped || !p->tdets || !p->tids || !p->ddets || !p->kp_mapped)
        return fail(err, errlen, VP_ERR_NOMEM, "out of memory");
    if (c->trace_path && (rc = vp_spans_create(NULL, &p->spans)))
        return fail(err, errlen, rc, "profile: cannot create the span recorder");
    VP_LOGI("pipeline: %d source(s), model %s (%s, %s%s), task %s, input %dx%d, batch <= %d, timeout %.1f ms, "
            "%d in flight",
            p->ns, p->model_path, p->cfg.backend == VP_BACKEND_CUDA ? "cuda" : "cpu",
            p->cfg.precision == VP_PRECISION_FP16 ? "fp16" : "fp32", p->gpu_path ? ", GPU pre/post-processing" : "",
            vp_task_name(p->post.task), p->in_w, p->in_h, p->max_batch, p->cfg.timeout_ms, p->depth);
    return VP_OK;
}

/* ------------------------------------------------------------- readers */

static int stopping(const vp_pipeline *p) { return atomic_load(&((vp_pipeline *)p)->stop); }

static void stream_fail(pstream *s, const char *fmt, ...) VP_PRINTF(2, 3);
static void stream_fail(pstream *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->pl->mu);
    if (!s->failed) {
        vsnprintf(s->error, sizeof s->error, fmt, ap);
        s->failed = 1;
        VP_LOGE("stream %s: %s", s->id, s->error);
    }
    pthread_mutex_unlock(&s->pl->mu);
    va_end(ap);
}

/* The read time of frame f's packet: by pts when packets carry one
 * (containers); else (Annex-B: no pts) the oldest packet not yet matched,
 * which is exact without reordering and off by at most the reorder depth
 * with B-frames. now when nothing fits. */
static double take_read_time(pstream *s, int64_t pts)
{
    if (pts != VP_NOPTS)
        for (int i = 0; i < PENDING; i++)
            if (s->pend[i].t > 0 && s->pend[i].pts == pts) {
                double t = s->pend[i].t;
                s->pend[i].t = 0;
                return t;
            }
    for (int k = 0; k < PENDING; k++) {
        int i = (s->pend_take + k) % PENDING;
        if (s->pend[i].t > 0 && s->pend[i].pts == VP_NOPTS) {
            double t = s->pend[i].t;
            s->pend[i].t = 0;
            s->pend_take = (i + 1) % PENDING;
            return t;
        }
    }
    return now_ms();
}

/* Queues a decoded frame: files wait for space, live sources drop their
 * oldest frame. Takes the caller's reference. */
static void push_frame(pstream *s, vp_frame *f)
{
    vp_pipeline *p = s->pl;
    double t_read = take_read_time(s, f->pts), t = now_ms();
    pthread_mutex_lock(&p->mu);
    hist_add(&p->stage[VP_STAGE_DECODE], t - t_read);
    if (p->infer_done) { /* nobody would ever take it */
        pthread_mutex_unlock(&p->mu);
        vp_frame_unref(&f);
        return;
    }
    while (s->qlen == s->qcap && !p->infer_done) {
        if (s->cfg.live == 1 || (s->cfg.live == -1 && vp_config_is_url(s->uri))) {
            qitem *old = &s->q[s->qhead];
            vp_frame_unref(&old->f);
            s->qhead = (s->qhead + 1) % s->qcap;
            s->qlen--;
            s->dropped++;
            s->outstanding--;
            break;
        }
        pthread_cond_wait(&p->cv_space, &p->mu);
    }
    if (p->infer_done) {
        pthread_mutex_unlock(&p->mu);
        vp_frame_unref(&f);
        return;
    }
    qitem *it = &s->q[(s->qhead + s->qlen) % s->qcap];
    it->f = f;
    it->t_read = t_read;
    it->t_queued = t;
    it->seq = s->decoded;
    s->qlen++;
    s->decoded++;
    s->outstanding++;
    pthread_cond_signal(&p->cv_frames);
    pthread_mutex_unlock(&p->mu);
}

/* Receives every frame the decoder has: VP_OK when it wants more input,
 * VP_ERR_EOF when drained after a flush or when max_frames is reached. */
static int drain_decoder(pstream *s, vp_decoder *dec)
{
    for (;;) {
        if (s->pl->cfg.max_frames > 0 && s->decoded >= s->pl->cfg.max_frames)
            return VP_ERR_EOF;
        vp_frame *f = NULL;
        int rc = vp_decoder_receive(dec, &f);
        if (rc == VP_ERR_AGAIN)
            return VP_OK;
        if (rc)
            return rc;
        push_frame(s, f);
    }
}

/* One pass over the source: open, decode to the end (or stop), flush.
 * Returns 0 at a normal end, -1 when the stream failed.
 *
 * *keep: the decoder of the previous pass of a looped source (NULL at the
 * first), used again when the codec is the same, and left there for the
 * next pass when this one ends normally and last is 0 (then without the
 * flush: the pictures it still holds come out in the next pass, which
 * starts with parameter sets and a key frame). Creating an NVDEC decoder
 * takes tens of milliseconds and destroying one more: once per stream, not
 * once per pass. The caller frees *keep (release_decoder). */
static int read_once(pstream *s, vp_decoder **keep, int last)
{
    vp_pipeline *p = s->pl;
    const vp_pipeline_config *c = &p->cfg;
    vp_source_options so;
    vp_source_options_default(&so);
    so.id = s->id;
    so.live = s->cfg.live;
    if (!s->cfg.reconnect)
        so.max_reconnects = 1;
    else
        so.max_reconnects = s->cfg.max_reconnects;
    char err[512];
    vp_source *src = NULL;
    int rc = vp_source_open(s->uri, &so, &src, err, sizeof err);
    if (rc) {
        stream_fail(s, "%s", err);
        return -1;
    }
    vp_stream_info info;
    vp_source_info(src, &info);
    s->tb = info.time_base;
    s->fps = info.frame_rate;
    pthread_mutex_lock(&p->mu);
    s->src = src;
    int stop_now = stopping(p) || atomic_load(&s->stop_req);
    pthread_mutex_unlock(&p->mu);

    vp_decoder_options dopt;
    vp_decoder_options_default(&dopt);
    dopt.name = s->id;
    dopt.codec = info.codec;
    dopt.hw = c->decode_hw == VP_HW_AUTO && !c->cpu_fallback ? VP_HW_NVDEC : c->decode_hw;
    dopt.gpu_only = c->gpu_only;
    dopt.device = c->gpu;
    dopt.thread_count = c->decode_threads;
    /* NVDEC frames stay mapped while queued and until their batch has
     * completed: at most a full queue waiting, a queue's worth taken into
     * each of the p->depth batches in flight (a slot is taken before its
     * batch is gathered), plus the one being pushed; <= 64 (ring_setup) */
    dopt.output_surfaces = (p->depth + 1) * s->qcap + 1;
    vp_decoder *dec = *keep;
    *keep = NULL;
    int result = 0, again = 0;
    if (dec && s->dec_codec != info.codec)
        vp_decoder_free(&dec); /* a looped source does not change codec: not seen */
    s->dec_codec = info.codec;
    if (!dec && (rc = vp_decoder_create(&dopt, &dec, err, sizeof err))) {
        stream_fail(s, "%s", err);
        result = -1;
        goto done;
    }
    s->hw = vp_decoder_hw(dec);
    int ended = 0;
    /* realtime: packet k is read no earlier than k frame periods after the
     * first (decode order; the rate from the stream, else 25/1) */
    double period = 0, t_first = 0;
    long n_read = 0;
    if (s->cfg.realtime)
        period = info.frame_rate.num > 0 && info.frame_rate.den > 0
                     ? 1e3 * info.frame_rate.den / info.frame_rate.num
                     : 40.0;
    while (!ended && !stop_now) {
        vp_packet pkt;
        if (period > 0) {
            double due = t_first + (double)n_read * period, t = now_ms();
            if (!n_read)
                t_first = t;
            else if (due > t) {
                struct timespec ts = {(time_t)((due - t) / 1e3), (long)(fmod(due - t, 1e3) * 1e6)};
                nanosleep(&ts, NULL);
            }
            n_read++;
        }
        uint64_t t0 = vp_span_begin(s->sw, VP_SPAN_DEMUX);
        rc = vp_source_read(src, &pkt);
        vp_span_end(s->sw, VP_SPAN_DEMUX, t0, s->idx);
        if (rc == VP_ERR_EOF) {
            const char *why = vp_source_last_error(src);
            if (why[0] && !stopping(p)) { /* a live source that gave up reconnecting */
                stream_fail(s, "%s", why);
                result = -1;
            }
            break;
        }
        if (rc) {
            stream_fail(s, "%s", vp_source_last_error(src));
            result = -1;
            break;
        }
        if (pkt.discontinuity) {
            pthread_mutex_lock(&p->mu);
            s->reconnects++;
            pthread_mutex_unlock(&p->mu);
        }
        s->pend[s->pend_next].pts = pkt.pts;
        s->pend[s->pend_next].t = now_ms();
        s->pend_next = (s->pend_next + 1) % PENDING;
        t0 = vp_span_begin(s->sw, VP_SPAN_DECODE);
        while ((rc = vp_decoder_send(dec, &pkt)) == VP_ERR_AGAIN)
            if ((rc = drain_decoder(s, dec)))
                break;
        if (rc == VP_OK)
            rc = drain_decoder(s, dec);
        vp_span_end(s->sw, VP_SPAN_DECODE, t0, s->idx);
        if (rc == VP_ERR_EOF) {
            ended = 1; /* max_frames reached */
        } else if (rc) {
            stream_fail(s, "%s", vp_decoder_last_error(dec));
            result = -1;
            break;
        }
        stop_now = stopping(p) || atomic_load(&s->stop_req);
    }
    again = !ended && !result && !last && !stop_now;
    if (!ended && !again) {
        /* flush: the frames the decoder still holds are results too, also
         * after a failure or a stop */
        rc = vp_decoder_send(dec, NULL);
        while (rc == VP_OK)
            rc = drain_decoder(s, dec);
    }
done:
    pthread_mutex_lock(&p->mu);
    if (dec) { /* the decoder's count is cumulative over the passes it served */
        long e = vp_decoder_errors(dec);
        s->dec_errors += e - s->dec_errors_seen;
        s->dec_errors_seen = e;
    }
    s->src = NULL;
    pthread_mutex_unlock(&p->mu);
    *keep = dec; /* for the next pass, or for release_decoder */
    s->dec_unflushed = again;
    vp_source_close(&src);
    return result ? result : ended ? 1 : 0;
}

/* Reader thread, at its end: says that the stream will queue nothing more,
 * then frees its decoder once every frame it made has been released, so
 * that an NVDEC decoder is destroyed here. Its last frame's release would
 * destroy it otherwise, on the completion thread, stalling every stream
 * meanwhile: a trace of 16 streams on the H100 showed the results thread
 * stopped 23-37 ms after each stream's end, 366 ms after the first. */
static void release_decoder(pstream *s, vp_decoder **dec)
{
    vp_pipeline *p = s->pl;
    pthread_mutex_lock(&p->mu);
    s->done = 1;
    pthread_cond_broadcast(&p->cv_frames);
    while (*dec && s->outstanding > 0 && !p->infer_done)
        pthread_cond_wait(&p->cv_space, &p->mu);
    pthread_mutex_unlock(&p->mu);
    vp_decoder_free(dec);
    s->dec_errors_seen = 0;
}

static void *reader_main(void *arg)
{
    pstream *s = arg;
    vp_pipeline *p = s->pl;
    int loops = s->cfg.loop;
    pthread_mutex_lock(&p->mu);
    thread_cpu_begin(&s->cpu);
    pthread_mutex_unlock(&p->mu);
    if (p->spans) {
        char name[96];
        snprintf(name, sizeof name, "source %s", s->id);
        if (vp_spans_writer(p->spans, name, VP_SPAN_TRACK_CPU, &s->sw))
            s->sw = NULL; /* out of writers: this thread goes unrecorded */
    }
    vp_decoder *dec = NULL; /* kept across the passes of a looped source */
    for (;;) {
        int r = read_once(s, &dec, loops == 0);
        if (r != 0 || stopping(p) || atomic_load(&s->stop_req) || loops == 0)
            break;
        if (loops > 0)
            loops--;
    }
    if (dec && s->dec_unflushed) { /* stopped between two passes: what it still holds is results too */
        int rc = vp_decoder_send(dec, NULL);
        while (rc == VP_OK)
            rc = drain_decoder(s, dec);
    }
    release_decoder(s, &dec);
    vp_span_writer_release(&s->sw);
    pthread_mutex_lock(&p->mu);
    thread_cpu_end(&s->cpu, &p->cpu_sources_s);
    if (!s->begun)
        stream_begun(p, s); /* ended without a result: it no longer holds the window shut */
    else if (p->win_open.t_ms && !p->win_close.t_ms)
        window_mark(p, &p->win_close); /* the first stream to end closes it */
    s->done = 1;
    pthread_cond_broadcast(&p->cv_frames);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ------------------------------------------------------------ batching */


/* Waits for a batch per the max/timeout rule; returns its size, 0 when
 * every stream ended and every queue is empty (in serve mode: and the
 * pipeline was stopped). Called with mu held. */
static int gather(vp_pipeline *p, batch_item *b)
{
    for (;;) {
        int total = 0, all_done = 1, all_full = 1;
        double oldest = 0;
        for (int i = 0; i < p->ns; i++) {
            pstream *s = &p->st[i];
            if (s->removed)
                continue;
            if (s->done && !s->qlen && atomic_load(&s->stop_req)) {
                s->removed = 1; /* removed at run time and drained */
                continue;
            }
            total += s->qlen;
            all_done &= s->done;
            all_full &= s->done || s->qlen == s->qcap;
            if (s->qlen && (!oldest || s->q[s->qhead].t_queued < oldest))
                oldest = s->q[s->qhead].t_queued;
        }
        if (stopping(p) && !p->interrupted) {
            for (int i = 0; i < p->ns; i++)
                if (p->st[i].src)
                    vp_source_interrupt(p->st[i].src);
            p->interrupted = 1;
            pthread_cond_broadcast(&p->cv_space);
        }
        double t = now_ms();
        /* a full batch, the deadline, or no frame can come any more (every
         * stream ended or blocked on its full queue: waiting cannot fill
         * the batch) */
        if (total >= p->max_batch || (total && (all_full || t - oldest >= p->cfg.timeout_ms)))
            break;
        if (!total && all_done && (!p->serve || stopping(p)))
            return 0;
        double until = total ? oldest + p->cfg.timeout_ms : t + 50;
        if (until > t + 50)
            until = t + 50;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long ns = (long)((until - t) * 1e6);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec += ns % 1000000000L;
        if (ts.tv_nsec >= 1000000000L)
            ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&p->cv_frames, &p->mu, &ts);
    }
    /* one frame per stream per round, starting one stream further each batch */
    int n = 0;
    while (n < p->max_batch) {
        int took = 0;
        for (int k = 0; k < p->ns && n < p->max_batch; k++) {
            pstream *s = &p->st[(p->rr + k) % p->ns];
            if (s->removed || !s->qlen)
                continue;
            b[n].s = s;
            b[n].it = s->q[s->qhead];
            b[n].ok = 0;
            s->qhead = (s->qhead + 1) % s->qcap;
            s->qlen--;
            n++, took++;
        }
        if (!took)
            break;
    }
    p->rr = (p->rr + 1) % p->ns;
    pthread_cond_broadcast(&p->cv_space);
    return n;
}

int vp_pipeline_add_source(vp_pipeline *p, const vp_pipe_source *src, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen)
        err = dummy, errlen = sizeof dummy;
    if (!p || !src)
        return fail(err, errlen, VP_ERR_INVALID, "no pipeline or source");
    pthread_mutex_lock(&p->mu);
    int rc = stopping(p) ? fail(err, errlen, VP_ERR_INVALID, "the pipeline is stopping") : slot_add(p, src, err, errlen);
    if (rc == VP_OK && p->started) {
        pstream *s = &p->st[p->ns - 1];
        if (pthread_create(&s->thread, NULL, reader_main, s)) {
            s->done = 1;
            stream_begun(p, s);
            atomic_store(&s->stop_req, 1);
            rc = fail(err, errlen, VP_ERR_NOMEM, "source '%s': cannot start its thread", s->id);
        } else {
            s->started = 1;
        }
    }
    if (rc == VP_OK)
        VP_LOGI("pipeline: source '%s' added (%s)", p->st[p->ns - 1].id, p->st[p->ns - 1].uri);
    pthread_cond_broadcast(&p->cv_frames);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int vp_pipeline_remove_source(vp_pipeline *p, const char *id, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen)
        err = dummy, errlen = sizeof dummy;
    if (!p || !id)
        return fail(err, errlen, VP_ERR_INVALID, "no pipeline or id");
    pthread_mutex_lock(&p->mu);
    int rc = fail(err, errlen, VP_ERR_NOT_FOUND, "no source '%s'", id);
    for (int i = 0; i < p->ns; i++) {
        pstream *s = &p->st[i];
        if (s->removed || atomic_load(&s->stop_req) || strcmp(s->id, id))
            continue;
        atomic_store(&s->stop_req, 1);
        if (s->src)
            vp_source_interrupt(s->src);
        if (!s->started) {
            s->done = 1; /* never started: nothing to drain */
            stream_begun(p, s);
        }
        err[0] = 0;
        rc = VP_OK;
        VP_LOGI("pipeline: source '%s' removed", id);
        break;
    }
    pthread_cond_broadcast(&p->cv_space); /* a reader blocked on a full queue re-checks */
    pthread_cond_broadcast(&p->cv_frames);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* ----------------------------------------------------------- processing */

static int frame_src(const vp_frame *f, vp_pre_src *src)
{
    memset(src, 0, sizeof *src);
    switch (f->format) {
    case VP_PIX_NV12: src->format = VP_PRE_NV12; break;
    case VP_PIX_P016: src->format = VP_PRE_P016; break;
    case VP_PIX_YUV420P: src->format = VP_PRE_YUV420P; break;
    case VP_PIX_YUV420P10: src->format = VP_PRE_YUV420P10; break;
    default: return VP_ERR_UNSUPPORTED;
    }
    src->width = f->width, src->height = f->height;
    src->bit_depth = f->bit_depth;
    for (int i = 0; i < f->num_planes && i < 3; i++)
        src->plane[i] = f->data[i], src->pitch[i] = (size_t)f->pitch[i];
    src->matrix = (vp_pre_matrix)f->matrix;
    src->range = (vp_pre_range)f->range;
    return VP_OK;
}

/* Bytes of plane i of a host frame (pitch x rows). */
static size_t plane_bytes(const vp_frame *f, int i)
{
    int rows = i == 0 ? f->height : (f->height + 1) / 2;
    return (size_t)f->pitch[i] * (size_t)rows;
}

/* GPU path, a frame in host memory (CPU-decoded): upload its planes into
 * the staging buffer (a pixel-sized copy: counted, refused in gpu_only). */
/* Copies host frame f into the device staging buffer *buf (of *bytes,
 * grown when too small) on stream s; src gets its device planes. Each
 * thread that uploads has its own buffer. */
static int upload_frame_to(vp_pipeline *p, const vp_frame *f, vp_pre_src *src, void **buf, size_t *bytes,
                           struct CUstream_st *s)
{
    size_t need = 0;
    for (int i = 0; i < f->num_planes; i++)
        need += plane_bytes(f, i);
    if (need > *bytes) {
        /* grows only when a stream's size goes up: not per frame */
        vp_gpu_dev_free(p->gpu, *buf);
        *buf = NULL, *bytes = 0;
        if (vp_gpu_dev_alloc(p->gpu, need, buf))
            return VP_ERR_BACKEND;
        *bytes = need;
    }
    if (!p->warned_host_frames) {
        VP_LOGW("pipeline: frames decoded on the CPU are copied to the GPU (%zu bytes each)", need);
        p->warned_host_frames = 1;
    }
    size_t off = 0;
    for (int i = 0; i < f->num_planes; i++) {
        int rc = vp_gpu_copy(p->gpu, (char *)*buf + off, f->data[i], plane_bytes(f, i), VP_COPY_H2D, s,
                             "a CPU-decoded frame");
        if (rc)
            return rc;
        src->plane[i] = (char *)*buf + off;
        off += plane_bytes(f, i);
    }
    return VP_OK;
}

/* The inference thread's upload, on the engine's stream. */
static int upload_frame(vp_pipeline *p, const vp_frame *f, vp_pre_src *src)
{
    return upload_frame_to(p, f, src, &p->upload, &p->upload_bytes, p->stream);
}

/* Preprocesses item i into slot i; marks it ok. CPU path: host tensor; GPU
 * path: the plan's input binding. */
static int preprocess_item(vp_pipeline *p, batch_item *b, int slot, void *dst)
{
    vp_frame *f = b->it.f;
    vp_frame *host = NULL;
    vp_pre_src src;
    int rc = frame_src(f, &src);
    if (rc) {
        VP_LOGE("stream %s: frame %lld: pixel format %s cannot be preprocessed", b->s->id, (long long)f->index,
                vp_pixfmt_name(f->format));
        return rc;
    }
    if ((rc = vp_pre_geometry(f->width, f->height, &p->pre, &b->g)))
        return rc;
    if (p->gpu_path) {
        if (f->memory == VP_MEM_HOST && (rc = upload_frame(p, f, &src)))
            return rc;
        rc = p->gpu->api->preprocess(&src, &p->pre, dst, slot, p->stream);
        if (rc == VP_OK && f->memory == VP_MEM_HOST)
            rc = p->gpu->api->stream_sync(p->stream); /* the staging buffer is reused by the next frame */
    } else {
        if (f->memory != VP_MEM_HOST) {
            if ((rc = vp_frame_to_host(f, &host)))
                return rc;
            frame_src(host, &src);
        }
        rc = vp_preprocess_cpu(&src, &p->pre, dst, slot, 0);
        vp_frame_unref(&host);
    }
    if (rc == VP_OK)
        b->ok = 1;
    return rc;
}

/* A growable line buffer for the JSON Lines sink. */
typedef struct line {
    char *s;
    size_t len, cap;
    int oom;
} line;

static void put(line *l, const char *fmt, ...) VP_PRINTF(2, 3);
static void put(line *l, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = l->cap - l->len;
        int n = vsnprintf(l->s ? l->s + l->len : NULL, l->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < room) {
            l->len += (size_t)n;
            return;
        }
        size_t cap = l->cap ? l->cap * 2 : 4096;
        while (cap < l->len + (size_t)n + 1)
            cap *= 2;
        char *s = realloc(l->s, cap);
        if (!s) {
            l->oom = 1;
            return;
        }
        l->s = s, l->cap = cap;
    }
}

/* Room for n more bytes (and a terminating 0); 0 when out of memory. */
static int reserve(line *l, size_t n)
{
    if (l->oom)
        return 0;
    if (l->len + n < l->cap)
        return 1;
    size_t cap = l->cap ? l->cap * 2 : 4096;
    while (cap < l->len + n + 1)
        cap *= 2;
    char *s = realloc(l->s, cap);
    if (!s) {
        l->oom = 1;
        return 0;
    }
    l->s = s, l->cap = cap;
    return 1;
}

/* The hot part of a result line (numbers of every detection) is written by
 * these instead of vsnprintf, which costs about as much per number as the
 * whole rest of the line. */
static void put_raw(line *l, const char *s, size_t n)
{
    if (!reserve(l, n))
        return;
    memcpy(l->s + l->len, s, n);
    l->len += n;
    l->s[l->len] = 0;
}

#define PUT_LIT(l, lit) put_raw(l, lit, sizeof lit - 1)

static void put_int(line *l, long long v)
{
    char buf[24], *e = buf + sizeof buf, *q = e;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--q = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--q = '-';
    put_raw(l, q, (size_t)(e - q));
}

/* printf's "%.<dec>f" of v, byte for byte: fixed point from the scaled
 * value, except where printf's exact decimal rounding could differ (a
 * scaled value within 1e-6 of a half, where the scaling's own rounding
 * error may decide; large values): those go through snprintf. dec 0..6. */
static void put_fixed(line *l, double v, int dec)
{
    static const double scale[7] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    double x = fabs(v) * scale[dec];
    double fl = floor(x), fr = x - fl;
    if (!(x < 1e9) || fabs(fr - 0.5) < 1e-6) {
        char buf[64];
        int n = snprintf(buf, sizeof buf, "%.*f", dec, v);
        if (n > 0)
            put_raw(l, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
        return;
    }
    unsigned long long r = (unsigned long long)fl + (fr > 0.5);
    char buf[40], *e = buf + sizeof buf, *q = e;
    for (int i = 0; i < dec; i++, r /= 10)
        *--q = (char)('0' + r % 10);
    if (dec)
        *--q = '.';
    do
        *--q = (char)('0' + r % 10);
    while (r /= 10);
    if (signbit(v)) /* printf keeps the sign of what rounds to zero: -0.00 */
        *--q = '-';
    put_raw(l, q, (size_t)(e - q));
}

static void put_str(line *l, const char *s)
{
    PUT_LIT(l, "\"");
    while (*s) {
        size_t n = 0;
        while (s[n] && s[n] != '"' && s[n] != '\\' && (unsigned char)s[n] >= 0x20)
            n++;
        put_raw(l, s, n);
        s += n;
        if (!*s)
            break;
        unsigned char c = (unsigned char)*s++;
        if (c == '"' || c == '\\')
            put(l, "\\%c", c);
        else
            put(l, "\\u%04x", c);
    }
    PUT_LIT(l, "\"");
}

static void put_num(line *l, double v)
{
    if (isfinite(v))
        put_fixed(l, v, 2);
    else
        PUT_LIT(l, "null");
}

/* Run lengths of a 0/1 mask in row-major order, starting with a run of 0s. */
static void put_rle(line *l, const uint8_t *m, int w, int h)
{
    put(l, "{\"w\":%d,\"h\":%d,\"rle\":[", w, h);
    long run = 0;
    uint8_t cur = 0;
    int first = 1;
    for (long i = 0; i < (long)w * h; i++) {
        if (m[i] != cur) {
            if (!first)
                PUT_LIT(l, ",");
            put_int(l, run);
            first = 0;
            run = 0;
            cur = m[i];
        }
        run++;
    }
    if (!first)
        PUT_LIT(l, ",");
    put_int(l, run);
    PUT_LIT(l, "]}");
}

/* Detections of slot i in source pixels (p->mapped) and, with a tracker,
 * their track ids (p->tids; 0 = not tracked). Returns the count.
 * Completion thread. */
static int map_and_track(vp_pipeline *p, const vp_post_results *res, batch_item *b, int slot)
{
    vp_frame *f = b->it.f;
    pstream *s = b->s;
    int nd = res->count[slot];
    for (int k = 0; k < nd; k++) {
        vp_det d = res->det[(size_t)slot * (size_t)p->post.max_det + (size_t)k];
        vp_post_map_box(&b->g, f->width, f->height, &d);
        p->mapped[k] = d;
        p->tids[k] = 0;
    }
    if (s->trk) {
        uint64_t t0 = vp_span_begin(p->csw, VP_SPAN_TRACKING);
        double t = now_ms();
        for (int k = 0; k < nd; k++) {
            const vp_det *d = &p->mapped[k];
            p->tdets[k] = (vp_track_det){d->x0, d->y0, d->x1, d->y1, d->score, d->cls};
        }
        const float *emb = p->reid && p->reid_ok[slot]
                               ? p->reid_emb + (size_t)slot * (size_t)p->post.max_det * (size_t)vp_reid_dim(p->reid)
                               : NULL;
        if (vp_tracker_update(s->trk, p->tdets, nd, emb, b->it.seq, p->tids))
            VP_LOGE("stream %s: frame %lld: tracker update failed (see above); no track ids", s->id,
                    (long long)b->it.seq);
        vp_span_end(p->csw, VP_SPAN_TRACKING, t0, s->idx);
        pthread_mutex_lock(&p->mu);
        hist_add(&p->stage[VP_STAGE_TRACK], now_ms() - t);
        pthread_mutex_unlock(&p->mu);
    }
    return nd;
}

/* The label of class c: its name when the config gives names, else NULL. */
static const char *class_label(const vp_pipeline *p, int c)
{
    return c >= 0 && c < p->n_class_names ? p->class_names[c] : NULL;
}

#ifdef VP_HAVE_FFMPEG
/* The file name of sink k for stream s from the sink's path: {stream}
 * replaced by the stream id (or, without {stream}, .<id> before the
 * extension when the pipeline has several streams), and with frame >= 0
 * {frame} by the frame number. Returns 0, or -1 when it does not fit. */
static int sink_file(const vp_pipeline *p, const sink *k, const pstream *s, int64_t frame, char *out, size_t len)
{
    const char *t = k->path, *ext = NULL;
    if (!strstr(t, "{stream}") && (p->ns > 1 || p->serve)) {
        const char *dot = strrchr(t, '.'), *slash = strrchr(t, '/');
        ext = !dot || (slash && dot < slash) ? t + strlen(t) : dot;
    }
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)frame);
    size_t n = 0;
    for (;;) {
        char one[2] = {*t, 0};
        const char *piece = one;
        size_t skip = 1;
        if (t == ext)
            piece = ".", skip = 0, ext = NULL; /* then the id, as for {stream} */
        else if (!strncmp(t, "{stream}", 8))
            piece = s->id, skip = 8;
        else if (frame >= 0 && !strncmp(t, "{frame}", 7))
            piece = num, skip = 7;
        else if (!*t)
            return 0;
        int w = snprintf(out + n, len - n, "%s%s", piece, skip == 0 ? s->id : "");
        if (w < 0 || (size_t)w >= len - n)
            return -1;
        n += (size_t)w;
        t += skip;
    }
}

/* Draws the results of item b (batch slot `slot`, nd detections in
 * p->mapped) on a host copy of its frame: *out gets the copy (one
 * reference, the caller unrefs it). When *out is set already (another sink
 * of the same frame drew it), nothing is done. Returns 0 or the failing
 * step's status (logged). Completion thread (p->ddets, p->kp_mapped are
 * its scratch). */
static int annotate(vp_pipeline *p, const vp_post_results *res, batch_item *b, int slot, int nd, vp_frame **out)
{
    if (*out)
        return VP_OK;
    pstream *s = b->s;
    vp_frame *f = b->it.f, *h = NULL;
    if (vp_frame_to_host(f, &h)) {
        VP_LOGE("stream %s: frame %lld: cannot copy it to the host for drawing", s->id, (long long)b->it.seq);
        return VP_ERR_NOMEM;
    }
    const vp_post_layout *lo = &p->lo;
    int kn = lo->num_keypoints * lo->keypoint_dims;
    for (int j = 0; j < nd; j++) {
        const vp_det *d = &p->mapped[j];
        vp_draw_det *dd = &p->ddets[j];
        memset(dd, 0, sizeof *dd);
        dd->x0 = d->x0, dd->y0 = d->y0, dd->x1 = d->x1, dd->y1 = d->y1;
        dd->score = d->score;
        dd->cls = d->cls;
        dd->track_id = p->tids[j];
        dd->label = class_label(p, d->cls);
        if (kn && res->keypoints) {
            const float *kp = res->keypoints + ((size_t)slot * (size_t)p->post.max_det + (size_t)j) * (size_t)kn;
            float *o = p->kp_mapped + (size_t)j * (size_t)kn;
            for (int q = 0; q < lo->num_keypoints; q++) {
                const float *in = kp + q * lo->keypoint_dims;
                float *oq = o + q * lo->keypoint_dims;
                oq[0] = in[0], oq[1] = in[1];
                vp_post_map_point(&b->g, f->width, f->height, &oq[0], &oq[1]);
                if (lo->keypoint_dims == 3)
                    oq[2] = in[2];
            }
            dd->keypoints = o;
            dd->num_keypoints = lo->num_keypoints;
            dd->keypoint_dims = lo->keypoint_dims;
        }
    }
    int rc = vp_draw_detections(h, p->ddets, nd, NULL);
    if (rc) {
        VP_LOGE("stream %s: frame %lld: drawing failed: %s", s->id, (long long)b->it.seq, vp_strerror(rc));
        vp_frame_unref(&h);
        return rc;
    }
    *out = h;
    return VP_OK;
}

/* A write failure of sink k: reported once with its cause, the sink
 * closed; the other sinks and streams go on. */
static void sink_failed(vp_pipeline *p, sink *k, const pstream *s, const char *why)
{
    VP_LOGE("sink %s: stream %s: %s; this sink is closed, the others go on", k->path, s->id, why);
    k->failed = 1;
    pthread_mutex_lock(&p->mu);
    p->sink_errors++;
    pthread_mutex_unlock(&p->mu);
}

/* Snapshot sink ki and item b (nd detections in p->mapped): when the
 * sink's rule selects the frame (file header), its annotated picture is
 * written to the file the path template names. */
static void snapshot_write(vp_pipeline *p, const vp_post_results *res, batch_item *b, int slot, int ki, int nd,
                           vp_frame **drawn)
{
    sink *k = &p->sinks[ki];
    pstream *s = b->s;
    int64_t seq = b->it.seq;
    if (nd < k->min_det || seq < s->snap_next[ki])
        return;
    char path[4200], dir[4200], why[4400];
    if (sink_file(p, k, s, seq, path, sizeof path)) {
        sink_failed(p, k, s, "the file name is too long");
        return;
    }
    if (k->dir_per_file) {
        dir_of(path, dir, sizeof dir);
        if (dir[0] && make_dir(dir, why, sizeof why)) {
            sink_failed(p, k, s, why);
            return;
        }
    }
    if (annotate(p, res, b, slot, nd, drawn))
        return; /* logged; this frame only */
    int rc = vp_snapshot_write(path, *drawn, why, sizeof why);
    if (rc) {
        if (rc == VP_ERR_IO)
            unlink(path); /* a partial picture (full disk) is not a picture */
        sink_failed(p, k, s, why);
        return;
    }
    s->snap_next[ki] = seq + k->every;
    pthread_mutex_lock(&p->mu);
    k->written++;
    pthread_mutex_unlock(&p->mu);
}

/* Draws the results of item b (batch slot `slot`, nd detections in
 * p->mapped) on a host copy of its frame and encodes it into the stream's
 * file of video sink ki; the file is opened at the stream's first frame. */
static void video_write(vp_pipeline *p, const vp_post_results *res, batch_item *b, int slot, int ki, int nd,
                        vp_frame **drawn)
{
    sink *k = &p->sinks[ki];
    pstream *s = b->s;
    vp_frame *f = b->it.f;
    char path[4200], err[512];
    if (!s->enc[ki]) {
        if (sink_file(p, k, s, -1, path, sizeof path)) {
            sink_failed(p, k, s, "the file name is too long");
            return;
        }
        vp_encoder_options eo;
        vp_encoder_options_default(&eo);
        eo.name = s->id;
        eo.time_base = s->tb;
        eo.hw = k->encoder == VP_SINK_ENC_CPU ? VP_ENC_HW_CPU
              : k->encoder == VP_SINK_ENC_NVENC ? VP_ENC_HW_NVENC : VP_ENC_HW_AUTO;
        eo.require_hw = k->encoder == VP_SINK_ENC_NVENC;
        eo.gpu = p->cfg.gpu;
        vp_rational fps = s->fps.num > 0 && s->fps.den > 0 ? s->fps : (vp_rational){25, 1};
        if (vp_encoder_open(path, f->width, f->height, fps, &eo, &s->enc[ki], err, sizeof err)) {
            sink_failed(p, k, s, err);
            return;
        }
        VP_LOGI("stream %s: video sink %s encodes with %s", s->id, path, vp_encoder_codec(s->enc[ki]));
    }
    if (annotate(p, res, b, slot, nd, drawn))
        return; /* logged; this frame only */
    if (vp_encoder_write(s->enc[ki], *drawn))
        sink_failed(p, k, s, vp_encoder_last_error(s->enc[ki]));
}
#endif

/* Semseg: the window whose class shares are written, the letterbox content
 * of an image with geometry g in logit pixels: {x0, y0, x1, y1}, pixel (x,
 * y) inside when x0 <= x < x1 and y0 <= y < y1. Both paths use it. */
static void semseg_window(const vp_pipeline *p, const vp_pre_geom *g, int32_t w[4])
{
    const vp_post_layout *lo = &p->lo;
    w[0] = (int)((double)g->x0 * lo->proto_w / p->in_w);
    w[1] = (int)((double)g->y0 * lo->proto_h / p->in_h);
    w[2] = (int)((double)(g->x0 + g->w) * lo->proto_w / p->in_w);
    w[3] = (int)((double)(g->y0 + g->h) * lo->proto_h / p->in_h);
}

/* GPU path: a device-to-host copy of results (class counts, mask boxes,
 * mask bits: never pixels of a frame or a model output) on stream s,
 * counted by vp_gpu_copy_results (allowed in gpu_only mode). */
static int copy_results(vp_pipeline *p, void *dst, const void *src, size_t bytes, struct CUstream_st *s,
                        const char *what)
{
    return bytes ? vp_gpu_copy_results(p->gpu, dst, src, bytes, s, what) : VP_OK;
}

/* GPU path, segment, completion thread: the compact masks (vp_cuda_masks)
 * of the n detections of image `slot` of batch f into p->hmask_box and
 * p->hmask_bits, on the completion thread's stream, waited for. */
static int fetch_masks(vp_pipeline *p, inflight *f, int slot, int n)
{
    const size_t words = f->mask_words[slot], md = (size_t)p->post.max_det;
    if (words > p->mask_words) {
        VP_LOGE("pipeline: batch %ld: image %d has %zu words of masks (at most %zu): the GPU results are corrupt",
                f->no + 1, slot, words, p->mask_words);
        return VP_ERR_INTERNAL;
    }
    int rc = copy_results(p, p->hmask_box, f->dmask.box + (size_t)slot * md, (size_t)n * sizeof(vp_mask_box),
                          p->cstream, "mask boxes");
    if (!rc)
        rc = copy_results(p, p->hmask_bits, f->dmask.bits + (size_t)slot * p->mask_words, words * sizeof(uint32_t),
                          p->cstream, "masks");
    int r = p->gpu->api->stream_sync(p->cstream); /* also after a failed copy: nothing of ours stays in flight */
    return rc ? rc : r;
}

/* Writes the results of batch slot `slot` of fl into every sink (an error
 * line when error is not NULL). Completion thread. */
static void emit(vp_pipeline *p, inflight *fl, int slot, const char *error, line *l)
{
    batch_item *b = &fl->b[slot];
    const batch_times *bt = &fl->bt;
    const vp_post_results *res = &fl->res;
    vp_frame *f = b->it.f;
    pstream *s = b->s;
    int ndet = !error && p->post.task != VP_TASK_SEMSEG ? map_and_track(p, res, b, slot) : 0;
    uint64_t ts0 = vp_span_begin(p->csw, VP_SPAN_SINK);
    int jsonl = 0;
    vp_frame *drawn = NULL; /* the annotated host copy, drawn once for every sink that needs it */
    for (int i = 0; i < p->n_sinks; i++) {
        jsonl |= p->sinks[i].kind == VP_SINK_JSONL && !p->sinks[i].failed;
#ifdef VP_HAVE_FFMPEG
        if (p->sinks[i].kind == VP_SINK_VIDEO && !p->sinks[i].failed && !error && p->post.task != VP_TASK_SEMSEG)
            video_write(p, res, b, slot, i, ndet, &drawn);
        if (p->sinks[i].kind == VP_SINK_SNAPSHOT && !p->sinks[i].failed && !error)
            snapshot_write(p, res, b, slot, i, ndet, &drawn);
#endif
    }
    vp_frame_unref(&drawn);
    l->len = 0;
    if (jsonl) {
        put(l, "{\"stream\":");
        put_str(l, s->id);
        put(l, ",\"frame\":%lld,\"pts\":", (long long)b->it.seq);
        if (f->pts != VP_NOPTS && s->tb.den > 0)
            put(l, "%.6f", (double)f->pts * s->tb.num / s->tb.den);
        else
            put(l, "null");
        put(l, ",\"width\":%d,\"height\":%d", f->width, f->height);
    }
    if (!jsonl) {
        /* nothing to format */
    } else if (error) {
        put(l, ",\"error\":");
        put_str(l, error);
    } else if (p->post.task == VP_TASK_SEMSEG) {
        /* class share of the picture (the letterbox padding excluded) */
        const vp_post_layout *lo = &p->lo;
        long counts[256] = {0}, total = 0;
        if (p->gpu_path) {
            /* counted on the GPU in the same window (semseg_gpu) */
            const int32_t *gc = fl->sem_counts + (size_t)slot * VP_SEMSEG_BINS;
            for (int c = 0; c < 256; c++)
                counts[c] = gc[c], total += gc[c];
        } else {
            int32_t w[4];
            semseg_window(p, &b->g, w);
            for (int y = w[1]; y < w[3]; y++)
                for (int x = w[0]; x < w[2]; x++)
                    counts[p->mask[(size_t)y * lo->proto_w + x]]++, total++;
        }
        put(l, ",\"classes\":[");
        int first = 1;
        for (int c = 0; c < 256; c++) {
            if (!counts[c])
                continue;
            put(l, "%s{\"cls\":%d,", first ? "" : ",", c);
            if (class_label(p, c)) {
                put(l, "\"label\":");
                put_str(l, class_label(p, c));
                put(l, ",");
            }
            put(l, "\"fraction\":%.5f}", (double)counts[c] / (double)(total ? total : 1));
            first = 0;
        }
        put(l, "]");
    } else {
        const vp_post_layout *lo = &p->lo;
        /* GPU path, segment: this image's masks, made on the GPU */
        int gpu_masks = 0;
        if (p->gpu_path && p->post.task == VP_TASK_SEGMENT && ndet > 0) {
            gpu_masks = fetch_masks(p, fl, slot, ndet) == VP_OK;
            if (!gpu_masks)
                VP_LOGE("stream %s: frame %lld: its masks could not be copied from the GPU (see above); the "
                        "detections go without them", s->id, (long long)b->it.seq);
        }
        put(l, ",\"detections\":[");
        for (int k = 0; k < ndet; k++) {
            size_t at = (size_t)slot * (size_t)p->post.max_det + (size_t)k;
            const vp_det *d = &p->mapped[k];
            if (k)
                PUT_LIT(l, ",");
            PUT_LIT(l, "{\"box\":[");
            put_num(l, d->x0), PUT_LIT(l, ","), put_num(l, d->y0), PUT_LIT(l, ","), put_num(l, d->x1);
            PUT_LIT(l, ","), put_num(l, d->y1);
            PUT_LIT(l, "],\"cls\":");
            put_int(l, d->cls);
            PUT_LIT(l, ",");
            if (class_label(p, d->cls)) {
                PUT_LIT(l, "\"label\":");
                put_str(l, class_label(p, d->cls));
                PUT_LIT(l, ",");
            }
            PUT_LIT(l, "\"score\":");
            if (isfinite(d->score))
                put_fixed(l, d->score, 4);
            else
                put(l, "%.4f", d->score); /* as before: nan / inf, which no JSON reader takes */
            if (s->trk) {
                PUT_LIT(l, ",\"track_id\":");
                put_int(l, p->tids[k]);
            }
            if (lo->num_keypoints && res->keypoints) {
                int kd = lo->keypoint_dims;
                const float *kp = res->keypoints + at * (size_t)(lo->num_keypoints * kd);
                put(l, ",\"keypoints\":[");
                for (int j = 0; j < lo->num_keypoints; j++) {
                    float x = kp[j * kd], y = kp[j * kd + 1];
                    vp_post_map_point(&b->g, f->width, f->height, &x, &y);
                    if (j)
                        PUT_LIT(l, ",");
                    PUT_LIT(l, "[");
                    put_num(l, x), PUT_LIT(l, ","), put_num(l, y);
                    if (kd == 3 && isfinite(kp[j * kd + 2]))
                        PUT_LIT(l, ","), put_fixed(l, kp[j * kd + 2], 3);
                    else if (kd == 3)
                        put(l, ",%.3f", kp[j * kd + 2]);
                    PUT_LIT(l, "]");
                }
                put(l, "]");
            }
            if (gpu_masks) {
                if (vp_post_mask_expand(lo, &p->hmask_box[k], p->hmask_bits, fl->mask_words[slot], p->mask) == VP_OK) {
                    PUT_LIT(l, ",\"mask\":");
                    put_rle(l, p->mask, lo->proto_w, lo->proto_h);
                }
            } else if (!p->gpu_path && p->post.task == VP_TASK_SEGMENT && res->coefs && p->out_host[1]) {
                vp_post_tensor proto;
                post_tensor(VP_DT_FLOAT, &p->out_shape[1], p->out_host[1], &proto);
                const float *cf = res->coefs + at * (size_t)lo->num_masks;
                if (vp_post_mask_cpu(lo, &proto, slot, cf, &res->det[at], p->in_w, p->in_h, p->mask) == VP_OK) {
                    PUT_LIT(l, ",\"mask\":");
                    put_rle(l, p->mask, lo->proto_w, lo->proto_h);
                }
            }
            PUT_LIT(l, "}");
        }
        PUT_LIT(l, "]");
    }
    double t_done = now_ms();
    if (jsonl)
        put(l,
            ",\"latency_ms\":{\"decode\":%.3f,\"queue\":%.3f,\"preprocess\":%.3f,\"infer\":%.3f,\"postprocess\":%.3f,"
            "\"total\":%.3f}}\n",
            b->it.t_queued - b->it.t_read, t_done - b->it.t_queued - bt->pre - bt->infer - bt->post, bt->pre,
            bt->infer, bt->post, t_done - b->it.t_read);
    if (l->oom)
        VP_LOGE("stream %s: frame %lld: out of memory for its result line", s->id, (long long)b->it.seq);
    for (int i = 0; jsonl && i < p->n_sinks && !l->oom; i++) {
        sink *k = &p->sinks[i];
        if (k->failed || k->kind != VP_SINK_JSONL)
            continue;
        if (fwrite(l->s, 1, l->len, k->f) != l->len) {
            k->failed = 1;
            pthread_mutex_lock(&p->mu);
            p->sink_errors++;
            pthread_mutex_unlock(&p->mu);
            VP_LOGE("sink %s: cannot write: %s; this sink is closed, the others go on", k->path, strerror(errno));
        }
    }
    vp_span_end(p->csw, VP_SPAN_SINK, ts0, s->idx);
    pthread_mutex_lock(&p->mu);
    s->processed++;
    s->detections += ndet;
    hist_add(&s->lat, t_done - b->it.t_read);
    p->frames++;
    if (s->processed == 1)
        stream_begun(p, s);
    pthread_mutex_unlock(&p->mu);
}

/* The plan for a batch of n frames: the smallest that holds it. */
static int plan_for(const vp_pipeline *p, int n)
{
    int k = 0;
    while (k < p->n_plans - 1 && p->plan_batch[k] < n)
        k++;
    return k;
}

/* Marks batch f failed with its cause; the first cause stays. */
static void batch_fail(inflight *f, int rc, const char *fmt, ...) VP_PRINTF(3, 4);
static void batch_fail(inflight *f, int rc, const char *fmt, ...)
{
    if (f->rc)
        return;
    f->rc = rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->why, sizeof f->why, fmt, ap);
    va_end(ap);
}

/* Preprocesses the batch's frames into slots 0..n-1 of dst; *ok counts
 * those that were. A frame that cannot be (its format) fails alone; a
 * backend error fails the batch. */
static void preprocess_batch(vp_pipeline *p, inflight *f, void *dst, int *ok)
{
    *ok = 0;
    for (int i = 0; i < f->n; i++) {
        int r = preprocess_item(p, &f->b[i], i, dst);
        if (r == VP_ERR_BACKEND || r == VP_ERR_UNSUPPORTED) {
            batch_fail(f, r, "preprocessing: %s", vp_strerror(r));
            return;
        }
        *ok += f->b[i].ok;
    }
}

/* Test hook: $VIDPIPE_FAULT_ENGINE_BATCH = N fails the engine on batch N. */
static int injected_fault(const vp_pipeline *p, inflight *f)
{
    if (p->fault_batch <= 0 || f->no + 1 != p->fault_batch)
        return 0;
    VP_LOGE("engine: batch %ld of %d: injected failure (VIDPIPE_FAULT_ENGINE_BATCH)", f->no + 1, f->n);
    batch_fail(f, VP_ERR_BACKEND, "engine failed on this batch: injected failure (VIDPIPE_FAULT_ENGINE_BATCH)");
    return 1;
}

static void engine_failed(inflight *f, int rc)
{
    batch_fail(f, rc, "engine or post-processing failed on this batch: %s (see the log)", vp_strerror(rc));
}

/* CPU path: preprocessing, engine and post-processing of batch f (plan k),
 * done here; results into f->res. mark[1] / mark[2]: clock after the
 * preprocessing / the engine (0: the engine did not run). */
static void launch_cpu(vp_pipeline *p, inflight *f, int k, uint64_t *mark)
{
    int n = f->n, ok = 0, rc;
    double t0 = now_ms();
    preprocess_batch(p, f, p->in_host, &ok);
    f->bt.pre = now_ms() - t0;
    mark[1] = p->sw ? vp_clock_ns() : 0;
    if (f->rc || !ok || injected_fault(p, f))
        return;
    vp_plan *plan = p->plan[k];
    t0 = now_ms();
    vp_tensor in = {VP_DT_FLOAT, {4, {p->plan_batch[k], 3, p->in_h, p->in_w}}, p->in_host};
    int nout = vp_engine_num_outputs(p->eng);
    vp_tensor all[16]; /* nout <= 16: checked at start-up */
    for (int i = 0; i < nout; i++) {
        const char *name;
        vp_shape decl;
        vp_engine_output_info(p->eng, i, &name, &all[i].dtype, &decl);
        vp_plan_output_shape(plan, i, &all[i].shape);
        all[i].data = i < p->n_out ? p->out_host[i] : p->out_unused[i]; /* sized for the largest plan */
    }
    if ((rc = vp_plan_run(plan, &in, all))) {
        VP_LOGE("engine: batch of %d: %s", n, vp_engine_last_error(p->eng));
        engine_failed(f, rc);
        return;
    }
    f->bt.infer = now_ms() - t0;
    mark[2] = p->sw ? vp_clock_ns() : 0;
    t0 = now_ms();
    vp_post_tensor pt[2];
    vp_post_layout lo = p->lo;
    lo.batch = n;
    for (int i = 0; i < p->n_out; i++) {
        post_tensor(all[i].dtype, &all[i].shape, all[i].data, &pt[i]);
        pt[i].d[0] = n;
    }
    /* semseg: per image, while writing the results */
    if (p->post.task != VP_TASK_SEMSEG && (rc = vp_postprocess_cpu(&p->post, &lo, pt, &f->res, p->post_scratch)))
        engine_failed(f, rc);
    f->counts = !f->rc && p->post.task != VP_TASK_SEMSEG;
    f->bt.post = now_ms() - t0;
}

/* GPU path, semseg: the class counts of batch f's images inside their
 * letterbox windows (vp_cuda_semseg) and their copy into the slot's pinned
 * counts, 1 KB per image. */
static int semseg_gpu(vp_pipeline *p, inflight *f, const vp_post_layout *lo, const vp_post_tensor *logits)
{
    int32_t win[4 * VP_PIPE_MAX_BATCH];
    for (int i = 0; i < f->n; i++) {
        int32_t *w = win + 4 * i;
        if (f->b[i].ok)
            semseg_window(p, &f->b[i].g, w);
        else
            w[0] = w[1] = w[2] = w[3] = 0; /* not preprocessed: its result is an error line */
    }
    /* the class map itself is not wanted: no sink draws it */
    int rc = p->gpu->api->semseg(lo, logits, win, f->dsem_counts, NULL, p->stream);
    return rc ? rc
              : copy_results(p, f->sem_counts, f->dsem_counts, (size_t)f->n * VP_SEMSEG_BINS * sizeof(int32_t),
                             p->stream, "class counts");
}

/* GPU path: post-processing of batch f (plan k) on the stream, into the
 * slot's device results, and the counts' copy into its pinned host results.
 * Per-pixel tasks make their results on the GPU too: semseg the class
 * counts (semseg_gpu), segment the masks of the kept detections in compact
 * form (vp_cuda_masks; their word counts are copied with the detection
 * counts, the masks themselves by fetch_masks); the logits and the mask
 * prototypes stay on the device. */
static int post_gpu(vp_pipeline *p, inflight *f, int k)
{
    vp_plan *plan = p->plan[k];
    const vp_gpu_api *api = p->gpu->api;
    int n = f->n, rc;
    vp_post_tensor pt[2];
    vp_post_layout lo = p->lo;
    lo.batch = n;
    for (int i = 0; i < p->n_out; i++) {
        vp_tensor t;
        if ((rc = vp_plan_binding(plan, 1, i, &t)))
            return rc;
        post_tensor(t.dtype, &t.shape, t.data, &pt[i]);
        pt[i].d[0] = n;
    }
    if (p->post.task == VP_TASK_SEMSEG)
        return semseg_gpu(p, f, &lo, &pt[0]);
    if ((rc = api->postprocess(&p->post, &lo, pt, &f->dres, p->dscratch, p->stream)))
        return rc;
    if (p->post.task == VP_TASK_SEGMENT &&
        ((rc = api->masks(&lo, &pt[1], &f->dres, p->post.max_det, p->in_w, p->in_h, &f->dmask, p->stream)) ||
         (rc = vp_gpu_copy(p->gpu, f->mask_words, f->dmask.words, (size_t)n * sizeof(uint32_t), VP_COPY_D2H,
                           p->stream, "mask sizes"))))
        return rc;
    if (p->wire_scale > 0.0f &&
        (rc = api->pack_dets(&f->dres, n, p->post.max_det, p->wire_scale, p->in_w, p->in_h, f->dwire, p->stream)))
        return rc;
    /* the detections follow once the counts are known (copy_detections) */
    if ((rc = vp_gpu_copy(p->gpu, f->res.count, f->dres.count, (size_t)n * sizeof(int32_t), VP_COPY_D2H, p->stream,
                          "detection counts")))
        return rc;
    f->counts = 1;
    return VP_OK;
}

/* GPU path: enqueues all of batch f's GPU work (plan k) on the engine's
 * stream, between the slot's events, and returns without waiting. */
static void launch_gpu(vp_pipeline *p, inflight *f, int k, uint64_t *mark)
{
    const vp_gpu_api *api = p->gpu->api;
    vp_plan *plan = p->plan[k];
    int ok = 0, rc;
    f->timed = api->event_record(f->ev[FL_BEGIN], p->stream) == VP_OK;
    f->anchor = f->timed && p->gsw ? vp_clock_ns() : 0;
    vp_tensor t;
    if ((rc = vp_plan_binding(plan, 0, 0, &t)))
        batch_fail(f, rc, "engine: input binding: %s", vp_strerror(rc));
    else
        preprocess_batch(p, f, t.data, &ok);
    f->timed = f->timed && api->event_record(f->ev[FL_PRE], p->stream) == VP_OK;
    mark[1] = p->sw ? vp_clock_ns() : 0;
    if (!f->rc && ok && !injected_fault(p, f)) {
        if ((rc = vp_plan_enqueue_bound(plan))) {
            VP_LOGE("engine: batch of %d: %s", f->n, vp_engine_last_error(p->eng));
            engine_failed(f, rc);
        }
        f->timed = f->timed && api->event_record(f->ev[FL_INFER], p->stream) == VP_OK;
        mark[2] = p->sw ? vp_clock_ns() : 0;
        if (!f->rc && (rc = post_gpu(p, f, k)))
            engine_failed(f, rc);
    } else {
        f->timed = 0; /* nothing ran beyond the preprocessing: no stage times */
    }
    /* always, also after a failure: the frames go back only once the stream
     * is past every kernel that may read them */
    f->done_ev = api->event_record(f->ev[FL_DONE], p->stream) == VP_OK;
    if (!f->done_ev) {
        if (api->stream_sync(p->stream))
            VP_LOGE("pipeline: batch %ld: the GPU stream failed (see above)", f->no + 1);
        batch_fail(f, VP_ERR_BACKEND, "GPU: cannot record the batch's completion event (see the log)");
    }
}

/* GPU path, completion thread: copies the kept detections (count[i] of
 * image i, keypoints with them) of batch f from its
 * device results to its host results, on the completion thread's stream:
 * packed (vp_det_wire, all images in one copy) when p->wire_scale > 0,
 * else image by image as vp_det. */
static int copy_detections(vp_pipeline *p, inflight *f)
{
    size_t kn = (size_t)(p->lo.num_keypoints * p->lo.keypoint_dims);
    size_t md = (size_t)p->post.max_det, total = 0;
    int rc = VP_OK, any = 0;
    for (int i = 0; i < f->n; i++) {
        if (f->res.count[i] < 0 || (size_t)f->res.count[i] > md) {
            VP_LOGE("pipeline: batch %ld: image %d has %d detections (at most %zu): the GPU results are corrupt",
                    f->no + 1, i, f->res.count[i], md);
            return VP_ERR_INTERNAL;
        }
        total += (size_t)f->res.count[i];
    }
    if (p->wire_scale > 0.0f && total) {
        any = 1;
        rc = copy_results(p, f->wire, f->dwire, total * sizeof(vp_det_wire), p->cstream, "detections");
    }
    for (int i = 0; i < f->n && !rc; i++) {
        size_t c = (size_t)f->res.count[i], at = (size_t)i * md;
        if (!c)
            continue;
        any = 1;
        if (p->wire_scale <= 0.0f)
            rc = vp_gpu_copy(p->gpu, f->res.det + at, f->dres.det + at, c * sizeof(vp_det), VP_COPY_D2H, p->cstream,
                             "detections");
        if (!rc && kn && f->dres.keypoints)
            rc = vp_gpu_copy(p->gpu, f->res.keypoints + at * kn, f->dres.keypoints + at * kn, c * kn * sizeof(float),
                             VP_COPY_D2H, p->cstream, "keypoints");
        /* mask coefficients stay on the GPU: the masks are made there (vp_cuda_masks, fetch_masks) */
    }
    if (any) { /* also after a failed copy: nothing of ours stays in flight */
        int r = p->gpu->api->stream_sync(p->cstream);
        rc = rc ? rc : r;
    }
    if (!rc && p->wire_scale > 0.0f) {
        const vp_det_wire *w = f->wire;
        for (int i = 0; i < f->n; i++)
            for (int k = 0; k < f->res.count[i]; k++)
                vp_det_from_wire(w++, p->wire_scale, &f->res.det[(size_t)i * md + (size_t)k]);
    }
    return rc;
}

/* ------------------------------------------------- tracker.reid */

/* After engine_setup: loads the appearance model on the detector's
 * backend and precision and re-creates the trackers made so far with its
 * embedding length (trackers of sources added later get it from
 * p->track). model NULL, or no tracker: nothing to do. */
static int reid_setup(vp_pipeline *p, const char *model, char *err, size_t errlen)
{
    if (!model || !p->cfg.track || p->post.task == VP_TASK_SEMSEG)
        return VP_OK;
    char why[1024];
    int rc = vp_reid_open(model, p->cfg.reid_width, p->cfg.reid_height, p->cfg.backend, p->cfg.precision,
                          p->cfg.threads, p->gpu_path ? p->gpu : NULL, &p->reid, why, sizeof why);
    if (rc)
        return fail(err, errlen, rc, "%s", why);
    const size_t dim = (size_t)vp_reid_dim(p->reid), cap = (size_t)p->max_batch * (size_t)p->post.max_det;
    p->reid_emb = malloc(cap * dim * sizeof *p->reid_emb);
    p->reid_tmp = malloc(cap * dim * sizeof *p->reid_tmp);
    p->reid_crops = malloc(cap * sizeof *p->reid_crops);
    p->reid_ok = calloc((size_t)p->max_batch, sizeof *p->reid_ok);
    if (!p->reid_emb || !p->reid_tmp || !p->reid_crops || !p->reid_ok)
        return fail(err, errlen, VP_ERR_NOMEM, "tracker.reid: out of memory");
    p->track.emb_dim = (int)dim;
    p->track.emb_fusion = p->cfg.reid_fusion ? VP_TRACK_FUSE_MIN : VP_TRACK_FUSE_WEIGHTED;
    p->track.appearance_thresh = p->cfg.reid_app_thresh;
    p->track.proximity_thresh = p->cfg.reid_prox_thresh;
    for (int i = 0; i < p->ns; i++) {
        pstream *s = &p->st[i];
        if (!s->trk)
            continue;
        vp_tracker_free(&s->trk);
        if (vp_tracker_create(&p->track, &s->trk))
            return fail(err, errlen, VP_ERR_INVALID, "source '%s': cannot create its tracker (see above)", s->id);
    }
    VP_LOGI("tracker.reid: %s, %d-d embeddings, %s fusion", model, (int)dim, p->cfg.reid_fusion ? "botsort" : "weighted");
    return VP_OK;
}

/* Embeddings of the detections of every tracked frame of the batch into
 * p->reid_emb (p->reid_ok[i] = 1 where they came), after post-processing:
 * the boxes mapped to source pixels are cropped from the decoded pictures,
 * up to VP_CROP_MAX_SOURCES pictures per vp_reid_embed call. GPU path:
 * device pictures (NVDEC surfaces, still mapped: the batch holds them); a
 * CPU-decoded frame goes through the upload staging buffer, one at a time.
 * A failure leaves those frames to IoU-only association (logged). */
static void reid_batch(vp_pipeline *p, inflight *f)
{
    batch_item *b = f->b;
    const int n = f->n;
    double t0 = now_ms();
    const size_t dim = (size_t)vp_reid_dim(p->reid), md = (size_t)p->post.max_det;
    for (int i = 0; i < n; i++)
        p->reid_ok[i] = 0;
    int i = 0;
    while (i < n) {
        vp_pre_src srcs[VP_CROP_MAX_SOURCES];
        vp_frame *hosts[VP_CROP_MAX_SOURCES] = {NULL};
        int slot_of[VP_CROP_MAX_SOURCES], first_crop[VP_CROP_MAX_SOURCES + 1];
        int ns = 0, nc = 0;
        for (; i < n && ns < VP_CROP_MAX_SOURCES; i++) {
            vp_frame *fr = b[i].it.f;
            if (!b[i].ok || !b[i].s->trk || frame_src(fr, &srcs[ns]))
                continue;
            const int staged = p->gpu_path && fr->memory == VP_MEM_HOST;
            if (staged && ns > 0)
                break; /* the staging buffer holds one frame: this one starts the next call */
            if (staged && upload_frame_to(p, fr, &srcs[ns], &p->reid_upload, &p->reid_upload_bytes, p->cstream))
                continue;
            if (!p->gpu_path && fr->memory != VP_MEM_HOST) {
                if (vp_frame_to_host(fr, &hosts[ns]))
                    continue;
                frame_src(hosts[ns], &srcs[ns]);
            }
            first_crop[ns] = nc;
            for (int k = 0; k < f->res.count[i]; k++) {
                vp_det d = f->res.det[(size_t)i * md + (size_t)k];
                vp_post_map_box(&b[i].g, fr->width, fr->height, &d);
                p->reid_crops[nc++] = (vp_crop){ns, d.x0, d.y0, d.x1, d.y1};
            }
            slot_of[ns++] = i;
            if (staged) {
                i++;
                break;
            }
        }
        first_crop[ns] = nc;
        int rc = nc ? vp_reid_embed(p->reid, srcs, ns, p->reid_crops, nc, p->reid_tmp, p->cstream) : VP_OK;
        if (rc)
            VP_LOGE("tracker.reid: %d crops of %d frames: %s; those frames are associated by IoU only", nc, ns,
                    vp_strerror(rc));
        for (int j = 0; j < ns; j++) {
            if (!rc) {
                memcpy(p->reid_emb + (size_t)slot_of[j] * md * dim, p->reid_tmp + (size_t)first_crop[j] * dim,
                       (size_t)(first_crop[j + 1] - first_crop[j]) * dim * sizeof(float));
                p->reid_ok[slot_of[j]] = 1;
            }
            vp_frame_unref(&hosts[j]);
        }
    }
    pthread_mutex_lock(&p->mu);
    hist_add(&p->stage[VP_STAGE_REID], now_ms() - t0);
    pthread_mutex_unlock(&p->mu);
}

/* GPU path, completion thread: waits for batch f's GPU work, takes its
 * stage times from the events, brings its detections to the host. */
static void complete_gpu(vp_pipeline *p, inflight *f)
{
    const vp_gpu_api *api = p->gpu->api;
    int synced = f->done_ev && api->event_sync(f->ev[FL_DONE]) == VP_OK;
    if (f->done_ev && !synced) {
        VP_LOGE("pipeline: batch %ld: its GPU work failed (see above)", f->no + 1);
        engine_failed(f, VP_ERR_BACKEND);
    }
    float ms[3] = {0};
    if (synced && f->timed) {
        int good = api->event_elapsed(f->ev[FL_BEGIN], f->ev[FL_PRE], &ms[0]) == VP_OK &&
                   api->event_elapsed(f->ev[FL_BEGIN], f->ev[FL_INFER], &ms[1]) == VP_OK &&
                   api->event_elapsed(f->ev[FL_BEGIN], f->ev[FL_DONE], &ms[2]) == VP_OK;
        if (good) {
            f->bt.pre = ms[0], f->bt.infer = ms[1] - ms[0], f->bt.post = ms[2] - ms[1];
            if (f->anchor) {
                vp_span_gpu_elapsed(p->gsw, VP_SPAN_GPU_PREPROCESS, f->anchor, 0, ms[0], f->no);
                vp_span_gpu_elapsed(p->gsw, VP_SPAN_GPU_INFERENCE, f->anchor, ms[0], ms[1], f->no);
                vp_span_gpu_elapsed(p->gsw, VP_SPAN_GPU_POSTPROCESS, f->anchor, ms[1], ms[2], f->no);
            }
        }
    }
    if (!f->rc && f->counts) {
        double t0 = now_ms();
        int rc = copy_detections(p, f);
        if (rc)
            engine_failed(f, rc);
        f->bt.post += now_ms() - t0;
    }
}

/* Inference thread: takes the n frames gathered into slot f as batch number
 * p->fl_launched and launches it (GPU path: enqueued; CPU path: computed). */
static void launch_batch(vp_pipeline *p, inflight *f, int n)
{
    f->n = n;
    f->no = p->fl_launched++;
    f->rc = VP_OK;
    f->why[0] = 0;
    memset(&f->bt, 0, sizeof f->bt);
    f->timed = f->done_ev = f->counts = 0;
    f->anchor = 0;
    int k = plan_for(p, n);
    uint64_t mark[3] = {p->sw ? vp_clock_ns() : 0, 0, 0};
    if (p->gpu_path)
        launch_gpu(p, f, k, mark);
    else
        launch_cpu(p, f, k, mark);
    if (p->sw) { /* the stages as launched (GPU path) or run (CPU path) on this thread */
        uint64_t end = vp_clock_ns();
        vp_span_record(p->sw, VP_SPAN_PREPROCESS, mark[0], mark[1], f->no);
        if (mark[2]) {
            vp_span_record(p->sw, VP_SPAN_INFERENCE, mark[1], mark[2], f->no);
            vp_span_record(p->sw, VP_SPAN_POSTPROCESS, mark[2], end, f->no);
        }
        vp_span_record(p->sw, VP_SPAN_BATCH, mark[0], end, f->no);
    }
}

/* Completion thread (or the inference thread when it could not start):
 * waits for batch f, writes its results in order, counts it, and returns
 * its frames (on the GPU path only now: the stream is past their reads). */
static void complete_batch(vp_pipeline *p, inflight *f, line *l)
{
    if (p->gpu_path)
        complete_gpu(p, f);
    pthread_mutex_lock(&p->mu);
    hist_add(&p->stage[VP_STAGE_PREPROCESS], f->bt.pre);
    hist_add(&p->stage[VP_STAGE_INFER], f->bt.infer);
    hist_add(&p->stage[VP_STAGE_POSTPROCESS], f->bt.post);
    p->batches++;
    p->batch_frames += f->n;
    if (f->rc)
        p->engine_errors++;
    pthread_mutex_unlock(&p->mu);
    /* Results of the batch are ready here: f->res holds each frame's
     * detections (f->res.count[i] in batch slot i, boxes in model input
     * pixels), f->b[i] its frame and letterbox geometry, still held (NVDEC
     * surfaces mapped). Per-batch work on them (a secondary model on crops)
     * goes here, before the results are written; GPU work of it belongs on
     * p->cstream (this thread's stream) and must be complete before the
     * frames are released below. */
    if (p->reid && !f->rc && p->post.task != VP_TASK_SEMSEG)
        reid_batch(p, f); /* synchronous on p->cstream */
    double ts = now_ms();
    for (int i = 0; i < f->n; i++) {
        const char *e = f->rc ? f->why : !f->b[i].ok ? "this frame could not be preprocessed (see the log)" : NULL;
        if (!e && p->post.task == VP_TASK_SEMSEG && !p->gpu_path) { /* GPU path: counted by semseg_gpu */
            vp_post_tensor logits;
            post_tensor(VP_DT_FLOAT, &p->out_shape[0], p->out_host[0], &logits);
            logits.d[0] = f->n;
            vp_post_layout lo = p->lo;
            lo.batch = f->n;
            if (vp_post_semseg_cpu(&lo, &logits, i, p->mask))
                e = "semantic-segmentation post-processing failed (see the log)";
        }
        emit(p, f, i, e, l);
        vp_frame_unref(&f->b[i].it.f);
    }
    pthread_mutex_lock(&p->mu);
    int wake = 0;
    for (int i = 0; i < f->n; i++) /* after the releases: see release_decoder */
        wake |= --f->b[i].s->outstanding == 0 && f->b[i].s->done;
    if (wake)
        pthread_cond_broadcast(&p->cv_space);
    f->n = 0;
    hist_add(&p->stage[VP_STAGE_SINK], now_ms() - ts);
    pthread_mutex_unlock(&p->mu);
}

/* The completion thread: completes launched batches in launch order (so
 * each stream's results stay in order) until the inference thread has
 * launched its last one. */
static void *comp_main(void *arg)
{
    vp_pipeline *p = arg;
    char err[256];
    if (p->gpu && p->gpu->api->set_device(p->cfg.gpu, err, sizeof err))
        VP_LOGE("pipeline: %s", err);
    if (p->spans && vp_spans_writer(p->spans, "results", VP_SPAN_TRACK_CPU, &p->csw))
        p->csw = NULL;
    line l = {0};
    pthread_mutex_lock(&p->mu);
    thread_cpu_begin(&p->comp_cpu);
    for (;;) {
        while (!p->fl_count && !p->fl_eof)
            pthread_cond_wait(&p->cv_fl, &p->mu);
        if (!p->fl_count)
            break;
        inflight *f = &p->fl[p->fl_head];
        pthread_mutex_unlock(&p->mu);
        complete_batch(p, f, &l);
        pthread_mutex_lock(&p->mu);
        p->fl_head = (p->fl_head + 1) % p->depth;
        p->fl_count--;
        pthread_cond_broadcast(&p->cv_fl);
    }
    thread_cpu_end(&p->comp_cpu, &p->cpu_results_s);
    pthread_mutex_unlock(&p->mu);
    vp_span_writer_release(&p->csw);
    free(l.s);
    return NULL;
}

static void *infer_main(void *arg)
{
    vp_pipeline *p = arg;
    char err[256];
    pthread_mutex_lock(&p->mu);
    thread_cpu_begin(&p->infer_cpu);
    pthread_mutex_unlock(&p->mu);
    if (p->gpu && p->gpu->api->set_device(p->cfg.gpu, err, sizeof err))
        VP_LOGE("pipeline: %s", err);
    if (p->spans && vp_spans_writer(p->spans, "infer", VP_SPAN_TRACK_CPU, &p->sw))
        p->sw = NULL;
    if (p->sw && p->gpu_path && vp_spans_writer(p->spans, "cuda: pipeline stream", VP_SPAN_TRACK_GPU, &p->gsw))
        p->gsw = NULL; /* no GPU track; the CPU spans still come */
    /* the GPU track's writer exists before the completion thread, its only user */
    int threaded = pthread_create(&p->comp_thread, NULL, comp_main, p) == 0;
    line l = {0};
    if (!threaded) {
        VP_LOGW("pipeline: cannot start the completion thread; batches run one at a time");
        if (p->spans && vp_spans_writer(p->spans, "results", VP_SPAN_TRACK_CPU, &p->csw))
            p->csw = NULL;
    }
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (p->fl_count == p->depth)
            pthread_cond_wait(&p->cv_fl, &p->mu); /* every slot in flight */
        inflight *f = &p->fl[(p->fl_head + p->fl_count) % p->depth];
        int n = gather(p, f->b);
        pthread_mutex_unlock(&p->mu);
        if (!n)
            break;
        launch_batch(p, f, n);
        if (!threaded) {
            complete_batch(p, f, &l);
            continue;
        }
        pthread_mutex_lock(&p->mu);
        p->fl_count++;
        pthread_cond_broadcast(&p->cv_fl);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_lock(&p->mu);
    p->fl_eof = 1;
    pthread_cond_broadcast(&p->cv_fl);
    pthread_mutex_unlock(&p->mu);
    if (threaded)
        pthread_join(p->comp_thread, NULL); /* every launched batch completed */
    else
        vp_span_writer_release(&p->csw);
    pthread_mutex_lock(&p->mu);
    p->infer_done = 1;
    atomic_store(&p->stop, 1); /* no source may be added any more */
    pthread_cond_broadcast(&p->cv_space);
    pthread_mutex_unlock(&p->mu);
    vp_span_writer_release(&p->sw);
    vp_span_writer_release(&p->gsw);
    free(l.s);
    for (int i = 0; i < p->n_sinks; i++)
        if (p->sinks[i].f && !p->sinks[i].failed && fflush(p->sinks[i].f)) {
            p->sinks[i].failed = 1;
            p->sink_errors++;
            VP_LOGE("sink %s: cannot write: %s", p->sinks[i].path, strerror(errno));
        }
    pthread_mutex_lock(&p->mu);
    thread_cpu_end(&p->infer_cpu, &p->cpu_infer_s);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

int vp_pipeline_start(vp_pipeline *p)
{
    if (!p || p->started)
        return VP_ERR_INVALID;
    p->started = 1;
    p->t_start = now_ms();
    p->cpu_start = cpu_s();
    for (int i = 0; i < p->ns; i++) {
        if (pthread_create(&p->st[i].thread, NULL, reader_main, &p->st[i])) {
            stream_fail(&p->st[i], "cannot start its thread");
            pthread_mutex_lock(&p->mu);
            p->st[i].done = 1;
            stream_begun(p, &p->st[i]);
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        p->st[i].started = 1;
    }
    if (pthread_create(&p->infer_thread, NULL, infer_main, p)) {
        VP_LOGE("pipeline: cannot start the inference thread");
        atomic_store(&p->stop, 1);
        return VP_ERR_NOMEM;
    }
    p->infer_started = 1;
    return VP_OK;
}

void vp_pipeline_stop(vp_pipeline *p)
{
    if (p)
        atomic_store(&p->stop, 1);
}

int vp_pipeline_wait(vp_pipeline *p)
{
    if (!p || !p->started)
        return VP_ERR_INVALID;
    if (p->infer_started) {
        pthread_join(p->infer_thread, NULL);
        p->infer_started = 0;
    }
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1); /* no source may be added any more */
    int ns = p->ns;
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < ns; i++)
        if (p->st[i].started) {
            pthread_join(p->st[i].thread, NULL);
            p->st[i].started = 0;
        }
    if (!p->t_end) {
        p->t_end = now_ms();
        p->cpu_end = cpu_s();
    }
    for (int i = 0; i < p->ns; i++)
        if (p->st[i].failed)
            return VP_ERR_IO;
    return p->engine_errors || p->sink_errors ? VP_ERR_BACKEND : VP_OK;
}

static void pool_figures(vp_gpu *g, int which, vp_mem_pool_stats *o)
{
    vp_pool_stats ps;
    vp_gpu_pool_stats(g, which, &ps);
    *o = (vp_mem_pool_stats){.allocs = ps.allocs, .fresh = ps.fresh, .reuses = ps.reuses, .returns = ps.returns,
                             .failures = ps.failures, .bad_frees = ps.bad_frees, .blocks_out = ps.blocks_out,
                             .bytes_out = ps.bytes_out, .peak_bytes_out = ps.peak_bytes_out,
                             .blocks_free = ps.blocks_free, .bytes_free = ps.bytes_free};
}

int vp_pipeline_get_stats(vp_pipeline *p, vp_pipeline_stats *s, vp_stream_stats *streams, int max_streams)
{
    memset(s, 0, sizeof *s);
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    double t_end = p->t_end ? p->t_end : now_ms();
    s->wall_s = p->started ? (t_end - p->t_start) / 1e3 : 0;
    s->cpu_s = cpu_times(p, &s->by_thread);
    if (p->win_open.t_ms) {
        window now, *a = &p->win_open, *b = &now;
        if (p->win_close.t_ms)
            b = &p->win_close;
        else
            window_mark(p, &now);
        s->steady.wall_s = (b->t_ms - a->t_ms) / 1e3;
        s->steady.frames = b->frames - a->frames;
        s->steady.cpu_s = b->cpu_s - a->cpu_s;
        vp_thread_cpu *t = &s->steady.by_thread;
        t->sources_s = b->by_thread.sources_s - a->by_thread.sources_s;
        t->infer_s = b->by_thread.infer_s - a->by_thread.infer_s;
        t->results_s = b->by_thread.results_s - a->by_thread.results_s;
        t->other_s = fmax(0, s->steady.cpu_s - t->sources_s - t->infer_s - t->results_s);
    }
    s->frames = p->frames;
    s->batches = p->batches;
    s->mean_batch = p->batches ? (double)p->batch_frames / (double)p->batches : 0;
    if (p->gpu) {
        s->h2d_bytes = atomic_load(&p->gpu->h2d_bytes);
        s->d2h_bytes = atomic_load(&p->gpu->d2h_bytes);
        pool_figures(p->gpu, VP_GPU_POOL_DEVICE, &s->device_pool);
        pool_figures(p->gpu, VP_GPU_POOL_HOST, &s->host_pool);
    }
    for (int i = 0; i < VP_STAGE_COUNT; i++)
        hist_summary(&p->stage[i], &s->stage[i]);
    s->engine_errors = p->engine_errors;
    s->sink_errors = p->sink_errors;
    for (int i = 0; i < VP_PIPE_MAX_SINKS; i++)
        s->snapshots[i] = i < p->n_sinks && p->sinks[i].kind == VP_SINK_SNAPSHOT ? p->sinks[i].written : 0;
    int n = 0;
    for (int i = 0; i < p->ns; i++) {
        pstream *st = &p->st[i];
        if (st->removed)
            continue;
        if (!streams || n >= max_streams) {
            n++;
            continue;
        }
        vp_stream_stats *o = &streams[n++];
        o->id = st->id;
        o->frames_decoded = st->decoded;
        o->frames_processed = st->processed;
        o->frames_dropped = st->dropped;
        o->decode_errors = st->dec_errors;
        o->reconnects = st->reconnects;
        o->detections = st->detections;
        o->finished = st->done;
        o->failed = st->failed;
        o->error = st->error;
        o->decoder = st->hw;
        hist_summary(&st->lat, &o->latency);
    }
    pthread_mutex_unlock(&p->mu);
    return n;
}

void vp_pipeline_free(vp_pipeline **pp)
{
    if (!pp || !*pp)
        return;
    vp_pipeline *p = *pp;
    if (p->started) {
        vp_pipeline_stop(p);
        vp_pipeline_wait(p);
    }
    for (int i = 0; p->st && i < p->ns; i++) {
        pstream *s = &p->st[i];
        vp_tracker_free(&s->trk);
#ifdef VP_HAVE_FFMPEG
        for (int k = 0; k < VP_PIPE_MAX_SINKS; k++)
            if (s->enc[k] && vp_encoder_close(&s->enc[k]))
                VP_LOGE("sink %s: stream %s: the video could not be finished", p->sinks[k].path, s->id);
#endif
        for (; s->q && s->qlen; s->qlen--) {
            vp_frame_unref(&s->q[s->qhead].f);
            s->qhead = (s->qhead + 1) % s->qcap;
        }
        free(s->q);
        free(s->id);
        free(s->uri);
    }
    free(p->st);
    for (int i = 0; i < p->n_sinks; i++) {
        if (p->sinks[i].f && p->sinks[i].f != stdout)
            fclose(p->sinks[i].f);
        free(p->sinks[i].path);
    }
    ring_free(p);
    vp_reid_free(&p->reid); /* before the plugin handle of vp_gpu goes */
    free(p->reid_emb);
    free(p->reid_tmp);
    free(p->reid_crops);
    free(p->reid_ok);
    if (p->gpu) {
        vp_gpu_dev_free(p->gpu, p->dscratch);
        vp_gpu_dev_free(p->gpu, p->upload);
        vp_gpu_dev_free(p->gpu, p->reid_upload);
        p->gpu->api->stream_destroy(p->cstream); /* p->stream is the engine's */
    }
    vp_engine_free(&p->eng); /* before the plugin handle of vp_gpu goes */
    vp_gpu_close(&p->gpu);
    free(p->in_host);
    free(p->out_host[0]);
    free(p->out_host[1]);
    for (int i = 0; i < 16; i++)
        free(p->out_unused[i]);
    free(p->post_scratch);
    free(p->mask);
    free(p->mapped);
    free(p->tdets);
    free(p->tids);
    free(p->ddets);
    free(p->kp_mapped);
    vp_spans_free(&p->spans);
    for (int i = 0; i < p->n_class_names; i++)
        free(p->class_names[i]);
    free(p->class_names);
    free(p->model_path);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_frames);
    pthread_cond_destroy(&p->cv_space);
    pthread_cond_destroy(&p->cv_fl);
    free(p);
    *pp = NULL;
}
