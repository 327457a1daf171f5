/*
 * The multi-stream pipeline: sources -> decoders -> dynamic batcher ->
 * fused preprocessing -> engine -> post-processing -> sinks.
 *
 *   vp_pipeline_config   everything a run needs, as plain data. Filled with
 *                        defaults by vp_pipeline_config_default(), from JSON
 *                        by vp_pipeline_config_parse() (every error with its
 *                        JSON path), from command-line flags by the CLI.
 *   vp_pipeline          the running pipeline: one thread per source (demux +
 *                        decode), one inference thread (batching,
 *                        preprocessing, engine, post-processing), one
 *                        completion thread (tracker, sinks, statistics) with
 *                        up to batch.inflight batches between the two;
 *                        results handed to the sinks in order per stream.
 *
 * Strings in a config are owned by the config (freed by
 * vp_pipeline_config_free); the pipeline copies what it keeps.
 */
#ifndef VIDPIPE_PIPELINE_H
#define VIDPIPE_PIPELINE_H

#include "vidpipe/engine.h"
#include "vidpipe/media.h"
#include "vidpipe/vidpipe.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VP_PIPE_MAX_SOURCES 256
#define VP_PIPE_MAX_SINKS 8
#define VP_PIPE_MAX_BATCH 256

typedef struct vp_pipe_source {
    char *id;                  /* unique; default "s<index>" */
    char *uri;                 /* file path or URL */
    int live;                  /* -1 auto (network URL), 0 file, 1 live */
    int reconnect;             /* live: reconnect after a drop (default 1) */
    int max_reconnects;        /* 0 = forever */
    int loop;                  /* files: start again at the end, N more times (-1 forever; default 0) */
    int realtime;              /* files: read at the stream's frame rate, as a camera delivers (default 0: as fast as possible) */
} vp_pipe_source;

typedef enum vp_sink_kind {
    VP_SINK_JSONL = 0,         /* one JSON object per frame per line */
    VP_SINK_VIDEO = 1,         /* annotated video, one file per stream (FFmpeg builds) */
    VP_SINK_SNAPSHOT = 2,      /* annotated pictures (JPEG or PNG) of selected frames (FFmpeg builds) */
} vp_sink_kind;

typedef enum vp_sink_encoder {
    VP_SINK_ENC_AUTO = 0,      /* NVENC (h264_nvenc) where usable, else software (libx264 or MPEG-4) */
    VP_SINK_ENC_CPU = 1,       /* software only */
    VP_SINK_ENC_NVENC = 2,     /* NVENC, and the sink fails where it is unusable */
} vp_sink_encoder;

typedef struct vp_pipe_sink {
    vp_sink_kind kind;
    char *path;                /* output file ("-" = stdout for jsonl); snapshot: a template with {frame}
                                  (and {stream}) ending in .jpg, .jpeg or .png */
    /* snapshot only (validate rejects them given for another type) */
    int every;                 /* at most one picture per stream in any `every` consecutive frames (default 30) */
    int every_set;
    int min_detections;        /* only frames with at least this many detections (default 1; 0 = any frame) */
    int min_detections_set;
    /* video only (validate rejects it given for another type) */
    vp_sink_encoder encoder;   /* default VP_SINK_ENC_AUTO */
    int encoder_set;
} vp_pipe_sink;

typedef enum vp_batch_mode {
    VP_BATCH_THROUGHPUT = 0,   /* full batches: max and timeout as configured */
    VP_BATCH_LATENCY = 1,      /* batch <= 2 and a short timeout (2 ms) */
} vp_batch_mode;

typedef struct vp_pipeline_config {
    /* device */
    int gpu;                   /* CUDA device ordinal (default 0) */
    int gpu_only;              /* any CPU fallback or pixel-sized host copy is an error */
    /* decode */
    vp_hw decode_hw;           /* auto|nvdec|cpu */
    int cpu_fallback;          /* auto: fall back to CPU decode when NVDEC is unusable (default 1;
                                  resolved to 0 by the parser when gpu_only is set and it is not given) */
    int cpu_fallback_set;      /* 1: cpu_fallback given explicitly (validate rejects it with gpu_only
                                  or with decode_hw other than auto) */
    int decode_threads;        /* CPU decoder threads per stream, 0 = libavcodec's choice */
    /* sources */
    vp_pipe_source *sources;
    int n_sources;
    /* model */
    char *model_path;
    int task;                  /* vp_task (vision/postprocess.h); -1 = from the model's outputs */
    vp_backend_kind backend;   /* default: cuda when decode is not cpu and a GPU is usable, else cpu */
    int backend_set;           /* 1: backend given explicitly */
    vp_precision precision;    /* default fp16 on cuda, fp32 on cpu */
    int precision_set;
    int input_width, input_height; /* 0 = from the model (640 when dynamic) */
    int letterbox;             /* 1 letterbox (default), 0 stretch */
    float pad;                 /* letterbox pad value, 8-bit units (default 114) */
    int bgr;                   /* 1: the model wants BGR */
    float scale, mean[3], std[3];  /* normalisation: (x * scale - mean) / std */
    int num_classes;           /* 0 = from the output shape */
    char **class_names;        /* NULL or num_class_names names */
    int num_class_names;
    float conf_threshold, iou_threshold;
    int max_det;
    int class_agnostic;
    int threads;               /* CPU engine threads, 0 = all cores */
    /* batch */
    int max_batch;             /* 1..VP_PIPE_MAX_BATCH (default 8; latency mode: min(max, 2); the
                                  parser writes 2 there when batch.max is not given) */
    int max_batch_set;         /* 1: max_batch given explicitly (validate rejects > 2 in latency mode) */
    double timeout_ms;         /* wait for a full batch at most this long after its first frame (default 10; latency 2) */
    vp_batch_mode batch_mode;
    int queue_frames;          /* per-source frame queue capacity (default 4) */
    int inflight;              /* batches in flight, 1..4 (default 2): batch k+1 is prepared and run while
                                  batch k's results are written; 1 = one batch at a time */
    int inflight_set;          /* 1: inflight given explicitly (validate rejects (inflight + 1) x
                                  queue_frames + 1 > 64; when not given the pipeline lowers it to fit) */
    /* sinks */
    vp_pipe_sink sinks[VP_PIPE_MAX_SINKS];
    int n_sinks;
    /* limits */
    long max_frames;           /* per source, 0 = all */
    /* tracker (vision/track.h: ByteTrack), one per stream */
    int track;                 /* 1: track objects; results carry track_id */
    float track_high, track_low, track_new; /* score thresholds: first stage, second stage, birth */
    int track_max_lost;        /* frames a lost track is kept */
    int track_min_hits;        /* matches before a track gets its id */
    int track_class_agnostic;  /* match detections to tracks of any class */
    /* tracker.reid: appearance features from a secondary model on crops */
    char *reid_model;          /* ONNX embedding model; NULL: IoU only */
    int reid_width, reid_height; /* crop size; 0 = the model's */
    int reid_fusion;           /* vp_track_fusion (vision/track.h); default min (BoT-SORT) */
    float reid_app_thresh;     /* appearance cost above this: no appearance match (default 0.25) */
    float reid_prox_thresh;    /* IoU cost above this: appearance not used (default 0.5) */
    /* monitor: HTTP endpoint and NVML (run by the tool, tools/vidpipe/cmd_run.c) */
    int http_port;             /* 0: no HTTP endpoint */
    char *http_listen;         /* NULL: 127.0.0.1 */
    char *http_token_env;      /* environment variable holding the bearer token; NULL: VIDPIPE_TOKEN */
    int serve;                 /* keep running with no sources (sources come over HTTP) */
    int nvml;                  /* sample the GPU through NVML (default 1) */
    int nvml_interval_ms;
    float mem_warn_percent, temp_warn_c;
    /* profile */
    char *trace_path;          /* NULL: no trace; else a Chrome-trace JSON written at the end */
} vp_pipeline_config;

void vp_pipeline_config_default(vp_pipeline_config *c);
void vp_pipeline_config_free(vp_pipeline_config *c);
/* Parses a JSON config (text of len bytes, name for messages). On errors
 * returns VP_ERR_INVALID and writes every error, one per line, each with its
 * JSON path ("$.sources[1].uri: expected a string"), into err (truncated to
 * errlen). Unknown keys and impossible combinations are errors.
 * Each line starts with "name: " when name is not NULL or empty. c is
 * overwritten with defaults first (not freed); after an error it holds what
 * could be parsed: free it with vp_pipeline_config_free either way. The
 * keys: docs/CONFIG.md, `vidpipe check --keys`. */
int vp_pipeline_config_parse(const char *text, size_t len, const char *name, vp_pipeline_config *c, char *err,
                             size_t errlen);
/* Reads path (at most 16 MiB of UTF-8 text) and parses it with path as the
 * name; file problems are one line ("cfg.json: cannot open: ..."). */
int vp_pipeline_config_load(const char *path, vp_pipeline_config *c, char *err, size_t errlen);
/* Checks a filled config for impossible combinations (gpu_only with
 * decode=cpu, no sources, duplicate ids, ...) and every value against the
 * option table's ranges; same error format, without a name prefix. A
 * source with id NULL counts as "s<index>". */
int vp_pipeline_config_validate(const vp_pipeline_config *c, char *err, size_t errlen);

typedef struct vp_pipeline vp_pipeline;

/* Per-stage latency summary in milliseconds. */
typedef struct vp_latency {
    long n;
    double mean, p50, p99, max;
} vp_latency;

typedef struct vp_stream_stats {
    const char *id;
    long frames_decoded;
    long frames_processed;     /* through the engine and the sinks */
    long frames_dropped;       /* live sources: dropped when the queue was full */
    long decode_errors;        /* corrupt packets skipped */
    long reconnects;
    long detections;
    int finished;              /* 1: the source ended (EOF or gave up) */
    int failed;                /* 1: ended by an error (message in error) */
    const char *error;         /* "" if none */
    vp_hw decoder;             /* what decoded it */
    vp_latency latency;        /* packet read -> results written, ms */
} vp_stream_stats;

enum { VP_STAGE_DECODE = 0, VP_STAGE_PREPROCESS, VP_STAGE_INFER, VP_STAGE_POSTPROCESS, VP_STAGE_TRACK, VP_STAGE_SINK,
       VP_STAGE_REID, /* tracker.reid: crops + secondary model, per batch */
       VP_STAGE_COUNT };

/* One memory pool of the GPU path: device memory (cudaMalloc) or pinned
 * host memory (cudaMallocHost), handed out in size classes and reused.
 * All zeros on the CPU path (no GPU handle). Bytes are block sizes (the
 * request rounded up to its class). Blocks still outstanding when the
 * pipeline is freed are leaks, logged then. */
typedef struct vp_mem_pool_stats {
    long allocs;          /* allocation calls served = fresh + reuses */
    long fresh;           /* from the CUDA allocator */
    long reuses;          /* from the pool's free lists */
    long returns;         /* blocks given back */
    long failures;        /* allocations refused (out of memory) */
    long bad_frees;       /* frees of a pointer not from the pool, or twice (bugs) */
    long blocks_out;      /* held by the pipeline now */
    long bytes_out;
    long peak_bytes_out;  /* most bytes held at once */
    long blocks_free;     /* in the free lists, ready for reuse */
    long bytes_free;
} vp_mem_pool_stats;

/* Process CPU time by thread, seconds: the source threads (demux, decode,
 * NVDEC's picture mapping), the inference thread (batching, preprocessing,
 * launching the engine; the CPU engine's own work), the results thread
 * (waiting for each batch, host post-processing, tracking, sinks), and the
 * rest: other threads' (the CUDA driver's and NVDEC's, the CPU engine's
 * workers, the caller's). */
typedef struct vp_thread_cpu {
    double sources_s, infer_s, results_s, other_s;
} vp_thread_cpu;

typedef struct vp_pipeline_stats {
    double wall_s;
    double cpu_s;              /* process CPU time (user + system) */
    vp_thread_cpu by_thread;   /* cpu_s by thread */
    /* The steady state: from when every source has its first result (or
     * has ended) to when the first source ends (or now, or the end), so that
     * opening sources, creating decoders and the tail where some sources
     * have ended stay out, as `vidpipe decode-bench` measures decoding.
     * Zeros until it opens. */
    struct {
        double wall_s, cpu_s;
        vp_thread_cpu by_thread;
        long frames;
    } steady;
    long frames;               /* processed, all streams */
    long batches;
    double mean_batch;
    long h2d_bytes, d2h_bytes; /* explicit host<->device copies (GPU path) */
    vp_latency stage[VP_STAGE_COUNT]; /* ms per frame (decode) or per batch */
    long engine_errors;        /* batches whose engine run failed (their frames are reported, not lost) */
    long sink_errors;
    vp_mem_pool_stats device_pool, host_pool; /* GPU path; zeros on the CPU path */
    long snapshots[VP_PIPE_MAX_SINKS]; /* pictures written by sink i (config order); 0 for other sink types */
} vp_pipeline_stats;

const char *vp_stage_name(int stage);

/* Builds everything (engine and plans, sinks) without starting threads. */
int vp_pipeline_create(const vp_pipeline_config *c, vp_pipeline **out, char *err, size_t errlen);
int vp_pipeline_start(vp_pipeline *p);
/* Asks every source to stop; what was decoded is still processed and
 * written. Async-signal-safe (a flag and a write to a pipe). */
void vp_pipeline_stop(vp_pipeline *p);
/* Waits until every source ended and every result was written (with
 * vp_pipeline_set_serve(p, 1): until vp_pipeline_stop, so that sources can
 * still be added). */
int vp_pipeline_wait(vp_pipeline *p);
/* 1: keep running when every source has ended, waiting for sources added at
 * run time (a service with a control API); 0 (default): end with the last
 * source. Call before vp_pipeline_start. */
void vp_pipeline_set_serve(vp_pipeline *p, int serve);
/* Adds a source at run time (or before start); its id (default "s<n>")
 * must not be in use. Thread-safe. VP_ERR_INVALID (bad or duplicate id,
 * empty uri), VP_ERR_NOMEM (VP_PIPE_MAX_SOURCES reached); err gets one line. */
int vp_pipeline_add_source(vp_pipeline *p, const vp_pipe_source *src, char *err, size_t errlen);
/* Stops a source by id: it reads nothing more; frames already decoded are
 * still processed and written; then it leaves the statistics. Thread-safe.
 * VP_ERR_NOT_FOUND if no running or finished source has that id. */
int vp_pipeline_remove_source(vp_pipeline *p, const char *id, char *err, size_t errlen);
int vp_pipeline_num_streams(const vp_pipeline *p);
/* Snapshot of the statistics, thread-safe at any time; streams (may be
 * NULL) gets up to max_streams entries, one per source not removed, in the
 * order they were added. Returns the number of such sources (which may
 * exceed max_streams). Strings stay valid until vp_pipeline_free. */
int vp_pipeline_get_stats(vp_pipeline *p, vp_pipeline_stats *s, vp_stream_stats *streams, int max_streams);
void vp_pipeline_free(vp_pipeline **p);

#ifdef __cplusplus
}
#endif
#endif
