/*
 * Pipeline configuration: JSON parsing and validation (see vidpipe/pipeline.h).
 *
 * Why a table: every key of the config is one row of opts[] below (schema
 * path, type, where it is stored, default, range, help). The parser walks
 * the JSON document and looks each key up in the table; defaults, range
 * checks (also for configs filled by the CLI), `vidpipe check --keys` and,
 * through a test, docs/CONFIG.md all come from the same rows. Adding a key
 * is adding a row; there is no per-key parsing code except for the two
 * shapes that need it (model.classes, number triples).
 *
 * Error contract: every problem found is one line "$.json.path: what was
 * expected, what was found", collected (never only the first) into the
 * caller's buffer; parse and load prefix each line with the name they are
 * given ("cfg.json: $.batch.max: 0 is out of range 1..256").
 *
 * Input that is not a config at all (binary data, invalid UTF-8, nesting
 * deeper than any config needs, malformed JSON) is one line with a line and
 * column, checked before cJSON sees the text: cJSON recurses once per
 * nesting level, and its error position is only meaningful for JSON.
 *
 * Duplicate keys are errors: cJSON keeps both, and which one a reader would
 * use is a guess. null is an error too: leaving a key out is how a default
 * is asked for.
 *
 * No global state of ours; cJSON itself records its last error position in
 * a static (cJSON_GetErrorPtr), which we do not read: the position comes
 * back through cJSON_ParseWithLengthOpts' return_parse_end.
 */
#include "pipeline/config.h"

#include "vidpipe/pipeline.h"
#include "vision/postprocess.h" /* vp_task */

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CFG_MAX_FILE_BYTES (16u << 20) /* vp_pipeline_config_load refuses larger files */
#define CFG_MAX_DEPTH 32               /* a config needs 4 levels; deeper input is rejected before cJSON */
#define CFG_MAX_KEY_SHOWN 40           /* bytes of an unknown key quoted in a path */
#define CFG_PATH_LEN 192
#define CFG_MAX_CLASSES 65535
#define CFG_MAX_CLASS_NAME 256

/* ------------------------------------------------------------------ */
/* The option table                                                     */

typedef enum opt_type {
    OPT_SECTION,  /* an object grouping keys ("model"); no storage of its own */
    OPT_LIST,     /* an array of objects ("sources"); items described by "key[]." rows */
    OPT_RESERVED, /* a key the design reserves for later: an error naming it */
    OPT_INT,      /* int; integral JSON number in [min, max] */
    OPT_LONG,     /* long; integral JSON number in [min, max] */
    OPT_BOOL,     /* int 0/1; true or false */
    OPT_FLOAT,    /* float; finite JSON number in [min, max] */
    OPT_DOUBLE,   /* double; finite JSON number in [min, max] */
    OPT_CHOICE,   /* int (or an int-sized enum); one of the strings in choices */
    OPT_AUTOBOOL, /* int -1/0/1; "auto", false or true */
    OPT_STRING,   /* char *, owned by the config; at most max bytes */
    OPT_FLOAT3,   /* float[3]; an array of exactly 3 numbers, each in [min, max] */
    OPT_CLASSES,  /* model.classes: a count in [min, max] or an array of names */
} opt_type;

/* A choice whose value is CHOICE_UNSET clears the row's set flag instead of
 * storing a value ("auto" backend: backend_set = 0, decided at run time). */
#define CHOICE_UNSET INT32_MIN
#define NO_SET ((size_t)-1)

typedef struct opt_choice {
    const char *name;
    int value;
} opt_choice;

typedef struct opt {
    const char *key;            /* schema path; rows under "x[]." live in list items */
    opt_type type;
    int required;               /* parse: the key must be given (only where validate cannot tell) */
    size_t off;                 /* value: offset in vp_pipeline_config, or in the list's item struct */
    size_t set_off;             /* int set to 1 when the key is given, or NO_SET */
    double dflt, min, max;      /* numbers; strings: max = longest accepted, in bytes */
    const opt_choice *choices;  /* OPT_CHOICE: ends with a NULL name */
    const char *dflt_text;      /* default shown for computed or absent defaults, else NULL */
    const char *help;
    /* OPT_LIST */
    size_t count_off;           /* int count in vp_pipeline_config */
    size_t item_size;
    int inline_items;           /* 1: items are an array inside the config (sinks), 0: a malloc'ed pointer */
} opt;

static const opt_choice hw_choices[] = {{"auto", VP_HW_AUTO}, {"nvdec", VP_HW_NVDEC}, {"cpu", VP_HW_CPU}, {NULL, 0}};
static const opt_choice task_choices[] = {{"auto", -1},
                                          {"detect", VP_TASK_DETECT},
                                          {"pose", VP_TASK_POSE},
                                          {"segment", VP_TASK_SEGMENT},
                                          {"semseg", VP_TASK_SEMSEG},
                                          {NULL, 0}};
static const opt_choice backend_choices[] = {
    {"auto", CHOICE_UNSET}, {"cpu", VP_BACKEND_CPU}, {"cuda", VP_BACKEND_CUDA}, {NULL, 0}};
static const opt_choice precision_choices[] = {
    {"auto", CHOICE_UNSET}, {"fp32", VP_PRECISION_FP32}, {"fp16", VP_PRECISION_FP16}, {NULL, 0}};
static const opt_choice resize_choices[] = {{"letterbox", 1}, {"stretch", 0}, {NULL, 0}};
static const opt_choice channel_choices[] = {{"rgb", 0}, {"bgr", 1}, {NULL, 0}};
static const opt_choice mode_choices[] = {
    {"throughput", VP_BATCH_THROUGHPUT}, {"latency", VP_BATCH_LATENCY}, {NULL, 0}};
static const opt_choice fusion_choices[] = {{"botsort", 1}, {"weighted", 0}, {NULL, 0}};
static const opt_choice sink_choices[] = {
    {"jsonl", VP_SINK_JSONL}, {"video", VP_SINK_VIDEO}, {"snapshot", VP_SINK_SNAPSHOT}, {NULL, 0}};
static const opt_choice encoder_choices[] = {
    {"auto", VP_SINK_ENC_AUTO}, {"cpu", VP_SINK_ENC_CPU}, {"nvenc", VP_SINK_ENC_NVENC}, {NULL, 0}};

/* Choice rows store through an int pointer: the enums must be int-sized. */
_Static_assert(sizeof(vp_hw) == sizeof(int), "vp_hw is stored as int");
_Static_assert(sizeof(vp_sink_encoder) == sizeof(int), "vp_sink_encoder is stored as int");
_Static_assert(sizeof(vp_backend_kind) == sizeof(int), "vp_backend_kind is stored as int");
_Static_assert(sizeof(vp_precision) == sizeof(int), "vp_precision is stored as int");
_Static_assert(sizeof(vp_batch_mode) == sizeof(int), "vp_batch_mode is stored as int");
_Static_assert(sizeof(vp_sink_kind) == sizeof(int), "vp_sink_kind is stored as int");

#define C_(f) offsetof(vp_pipeline_config, f)
#define S_(f) offsetof(vp_pipe_source, f)
#define K_(f) offsetof(vp_pipe_sink, f)
#define SECTION(k, h) {.key = k, .type = OPT_SECTION, .set_off = NO_SET, .help = h}
#define RESERVED(k, h) {.key = k, .type = OPT_RESERVED, .set_off = NO_SET, .help = h}
#define NUM(k, t, o, d, lo, hi, h) {.key = k, .type = t, .off = o, .set_off = NO_SET, .dflt = d, .min = lo, .max = hi, .help = h}
#define OBOOL(k, o, d, h) {.key = k, .type = OPT_BOOL, .off = o, .set_off = NO_SET, .dflt = d, .min = 0, .max = 1, .help = h}
#define CHOICE(k, o, d, ch, h) {.key = k, .type = OPT_CHOICE, .off = o, .set_off = NO_SET, .dflt = d, .choices = ch, .help = h}
#define STR(k, o, maxlen, dt, h) {.key = k, .type = OPT_STRING, .off = o, .set_off = NO_SET, .max = maxlen, .dflt_text = dt, .help = h}

static const opt opts[] = {
    SECTION("device", "where the pipeline runs"),
    NUM("device.gpu", OPT_INT, C_(gpu), 0, 0, 255, "CUDA device ordinal"),
    OBOOL("device.gpu_only", C_(gpu_only), 0,
         "strict GPU path: any CPU fallback or pixel-sized host copy is an error"),

    SECTION("decode", "video decoding"),
    CHOICE("decode.hw", C_(decode_hw), VP_HW_AUTO, hw_choices,
           "decoder; auto = NVDEC when it can decode the stream, else the CPU"),
    {.key = "decode.cpu_fallback", .type = OPT_BOOL, .off = C_(cpu_fallback), .set_off = C_(cpu_fallback_set),
     .dflt = 1, .min = 0, .max = 1,
     .help = "hw auto only: decode on the CPU where NVDEC cannot; false when gpu_only is set"},
    NUM("decode.threads", OPT_INT, C_(decode_threads), 0, 0, 256, "CPU decoder threads per stream; 0 = libavcodec's choice"),

    {.key = "sources", .type = OPT_LIST, .off = C_(sources), .set_off = NO_SET, .min = 1, .max = VP_PIPE_MAX_SOURCES,
     .count_off = C_(n_sources), .item_size = sizeof(vp_pipe_source), .help = "the input streams"},
    STR("sources[].id", S_(id), 64, "s<index>", "unique name of the stream in results"),
    STR("sources[].uri", S_(uri), 4096, "required", "file path (relative to the current directory) or URL"),
    {.key = "sources[].live", .type = OPT_AUTOBOOL, .off = S_(live), .set_off = NO_SET, .dflt = -1, .min = -1, .max = 1,
     .help = "live stream (frames dropped when behind, reconnects); auto = network URL"},
    OBOOL("sources[].reconnect", S_(reconnect), 1, "live: reconnect after the stream drops"),
    NUM("sources[].max_reconnects", OPT_INT, S_(max_reconnects), 0, 0, 1000000,
        "live: give up after this many reconnects; 0 = never give up"),
    OBOOL("sources[].realtime", S_(realtime), 0, "files: read at the stream's frame rate, as a camera delivers"),
    NUM("sources[].loop", OPT_INT, S_(loop), 0, -1, 1000000, "files: play again this many times at the end; -1 = forever"),

    SECTION("model", "the network and its post-processing"),
    STR("model.path", C_(model_path), 4096, "required", "ONNX model file"),
    CHOICE("model.task", C_(task), -1, task_choices, "post-processing; auto = from the model's outputs"),
    {.key = "model.backend", .type = OPT_CHOICE, .off = C_(backend), .set_off = C_(backend_set), .dflt = CHOICE_UNSET,
     .choices = backend_choices, .help = "engine; auto = cuda when a GPU is usable and decode.hw is not cpu"},
    {.key = "model.precision", .type = OPT_CHOICE, .off = C_(precision), .set_off = C_(precision_set),
     .dflt = CHOICE_UNSET, .choices = precision_choices,
     .help = "auto = fp16 on cuda, fp32 on cpu; fp16 needs the cuda backend"},
    NUM("model.threads", OPT_INT, C_(threads), 0, 0, 1024, "CPU engine threads; 0 = all cores"),
    SECTION("model.input", "how frames become the network's input tensor"),
    NUM("model.input.width", OPT_INT, C_(input_width), 0, 0, 16384, "input width; 0 = from the model (640 when dynamic)"),
    NUM("model.input.height", OPT_INT, C_(input_height), 0, 0, 16384,
        "input height; 0 = from the model; give both or neither"),
    CHOICE("model.input.resize", C_(letterbox), 1, resize_choices, "letterbox keeps the aspect ratio; stretch does not"),
    NUM("model.input.pad", OPT_FLOAT, C_(pad), 114, 0, 255, "letterbox border value, 8-bit units"),
    CHOICE("model.input.channels", C_(bgr), 0, channel_choices, "channel order the model expects"),
    NUM("model.input.scale", OPT_FLOAT, C_(scale), 1.0 / 255.0, 1e-6, 1000,
        "input = (pixel * scale - mean) / std, pixel in 0..255"),
    {.key = "model.input.mean", .type = OPT_FLOAT3, .off = C_(mean), .set_off = NO_SET, .dflt = 0, .min = -1000,
     .max = 1000, .help = "per channel, subtracted after scaling"},
    {.key = "model.input.std", .type = OPT_FLOAT3, .off = C_(std), .set_off = NO_SET, .dflt = 1, .min = 1e-6,
     .max = 1000, .help = "per channel, divides after subtracting the mean"},
    {.key = "model.classes", .type = OPT_CLASSES, .off = C_(num_classes), .set_off = NO_SET, .dflt = 0, .min = 0,
     .max = CFG_MAX_CLASSES, .help = "class count (0 = from the output shape) or the class names in order"},
    NUM("model.conf_threshold", OPT_FLOAT, C_(conf_threshold), 0.25, 0, 1, "minimum score of a detection"),
    NUM("model.iou_threshold", OPT_FLOAT, C_(iou_threshold), 0.45, 0, 1, "NMS: overlap above which the weaker box goes"),
    NUM("model.max_det", OPT_INT, C_(max_det), 300, 1, 100000, "most detections kept per frame"),
    OBOOL("model.class_agnostic", C_(class_agnostic), 0, "NMS across classes instead of per class"),

    SECTION("batch", "dynamic batching"),
    {.key = "batch.max", .type = OPT_INT, .off = C_(max_batch), .set_off = C_(max_batch_set), .dflt = 8, .min = 1,
     .max = VP_PIPE_MAX_BATCH, .help = "largest batch; latency mode: at most 2 (and 2 when not given)"},
    NUM("batch.timeout_ms", OPT_DOUBLE, C_(timeout_ms), 10, 0, 10000,
        "wait this long after a batch's first frame for more; latency mode: 2 when not given"),
    CHOICE("batch.mode", C_(batch_mode), VP_BATCH_THROUGHPUT, mode_choices,
           "throughput fills batches; latency runs batches of at most 2 frames"),
    NUM("batch.queue_frames", OPT_INT, C_(queue_frames), 4, 1, 31,
        "decoded frames waiting per source (NVDEC maps at most 64 frames per stream: (inflight + 1) x queue + 1)"),
    {.key = "batch.inflight", .type = OPT_INT, .off = C_(inflight), .set_off = C_(inflight_set), .dflt = 2, .min = 1,
     .max = 4,
     .help = "batches in flight: the next batch is preprocessed and run while the results of earlier ones are "
             "written; 1 = one batch at a time; lowered to fit 64 NVDEC frames when not given"},

    {.key = "sinks", .type = OPT_LIST, .off = C_(sinks), .set_off = NO_SET, .min = 0, .max = VP_PIPE_MAX_SINKS,
     .count_off = C_(n_sinks), .item_size = sizeof(vp_pipe_sink), .inline_items = 1, .help = "where results go"},
    {.key = "sinks[].type", .type = OPT_CHOICE, .required = 1, .off = K_(kind), .set_off = NO_SET,
     .dflt = VP_SINK_JSONL, .choices = sink_choices, .dflt_text = "required",
     .help = "jsonl: one JSON object per frame per line; video: annotated video per stream; snapshot: annotated "
             "pictures of selected frames"},
    STR("sinks[].path", K_(path), 4096, "required",
        "output file; \"-\" = standard output (jsonl); video: {stream} is replaced by the stream id, else .<id> goes before the extension when there are several streams; snapshot: a template with {frame} (and {stream}, same rule) ending in .jpg, .jpeg or .png"),
    {.key = "sinks[].every", .type = OPT_INT, .off = K_(every), .set_off = K_(every_set), .dflt = 30, .min = 1,
     .max = 1000000,
     .help = "snapshot: at most one picture per stream in any this many consecutive frames; 1 = every selected frame"},
    {.key = "sinks[].min_detections", .type = OPT_INT, .off = K_(min_detections), .set_off = K_(min_detections_set),
     .dflt = 1, .min = 0, .max = 100000,
     .help = "snapshot: only frames with at least this many detections; 0 = any frame"},
    {.key = "sinks[].encoder", .type = OPT_CHOICE, .off = K_(encoder), .set_off = K_(encoder_set),
     .dflt = VP_SINK_ENC_AUTO, .choices = encoder_choices,
     .help = "video: auto = NVENC (h264_nvenc) where the GPU and libavcodec have it, else software (libx264, or "
             "MPEG-4); cpu = software; nvenc = NVENC or the sink fails"},

    NUM("max_frames", OPT_LONG, C_(max_frames), 0, 0, 1e12, "frames per source, then stop; 0 = all"),

    SECTION("tracker", "object tracking (ByteTrack), one tracker per stream"),
    OBOOL("tracker.enabled", C_(track), 0, "track objects: results carry track_id"),
    NUM("tracker.high_thresh", OPT_FLOAT, C_(track_high), 0.5, 0, 1, "detections above this score match in the first stage"),
    NUM("tracker.low_thresh", OPT_FLOAT, C_(track_low), 0.1, 0, 1, "detections between this and high_thresh continue tracks (second stage)"),
    NUM("tracker.new_track_thresh", OPT_FLOAT, C_(track_new), 0.6, 0, 1, "an unmatched detection above this score starts a track"),
    NUM("tracker.max_lost", OPT_INT, C_(track_max_lost), 30, 0, 100000, "frames a lost track waits to be matched again"),
    NUM("tracker.min_hits", OPT_INT, C_(track_min_hits), 2, 1, 1000, "matches before a track gets its id"),
    OBOOL("tracker.class_agnostic", C_(track_class_agnostic), 0, "match detections to tracks of any class"),
    SECTION("tracker.reid", "appearance features: a secondary model on crops of the detections, fused with IoU in association"),
    STR("tracker.reid.model", C_(reid_model), 4096, "none",
        "ONNX embedding model, input [N,3,H,W] RGB pixel/255, output [N,D]; runs on the detector's backend and precision"),
    SECTION("tracker.reid.input", "the crops"),
    NUM("tracker.reid.input.width", OPT_INT, C_(reid_width), 0, 0, 1024, "crop width; 0 = from the model; give both or neither"),
    NUM("tracker.reid.input.height", OPT_INT, C_(reid_height), 0, 0, 1024, "crop height; 0 = from the model; give both or neither"),
    CHOICE("tracker.reid.fusion", C_(reid_fusion), 0, fusion_choices,
           "botsort: cost = min(IoU cost, gated appearance cost); weighted: 0.25 IoU + 0.75 appearance inside the IoU gate"),
    NUM("tracker.reid.appearance_threshold", OPT_FLOAT, C_(reid_app_thresh), 0.25, 0, 1,
        "botsort: appearance cost (1 - cos) / 2 above this counts as no match"),
    NUM("tracker.reid.proximity_threshold", OPT_FLOAT, C_(reid_prox_thresh), 0.5, 0, 1,
        "botsort: pairs with IoU cost (1 - IoU) above this ignore appearance"),

    SECTION("monitor", "the HTTP endpoint (metrics, statistics, sources) and GPU sampling"),
    NUM("monitor.port", OPT_INT, C_(http_port), 0, 0, 65535, "HTTP port; 0 = no endpoint"),
    STR("monitor.listen", C_(http_listen), 256, "127.0.0.1", "address to listen on; beyond loopback a token is required"),
    STR("monitor.token_env", C_(http_token_env), 256, "VIDPIPE_TOKEN",
        "environment variable holding the bearer token of mutating calls"),
    OBOOL("monitor.serve", C_(serve), 0, "keep running when every source has ended (sources added over HTTP)"),
    OBOOL("monitor.nvml", C_(nvml), 1, "sample GPU figures through NVML when it is present"),
    NUM("monitor.interval_ms", OPT_INT, C_(nvml_interval_ms), 1000, 10, 60000, "NVML sampling period"),
    NUM("monitor.mem_warn_percent", OPT_FLOAT, C_(mem_warn_percent), 90, 1, 100, "warn when GPU memory use passes this"),
    NUM("monitor.temp_warn_c", OPT_FLOAT, C_(temp_warn_c), 85, 1, 150, "warn when the GPU temperature passes this"),

    SECTION("profile", "profiling"),
    STR("profile.trace", C_(trace_path), 4096, "none", "write the recorded spans as a Chrome/Perfetto trace to this file"),
};

#define N_OPTS (sizeof opts / sizeof opts[0])

/* 1 when row key is a direct child of scope ("" = the root, "model",
 * "sources[]"); *leaf gets the last component. */
static int child_of(const char *key, const char *scope, const char **leaf)
{
    size_t n = strlen(scope);
    if (n) {
        if (strncmp(key, scope, n) != 0 || key[n] != '.')
            return 0;
        key += n + 1;
    }
    if (strchr(key, '.'))
        return 0;
    *leaf = key;
    return 1;
}

static int find_child(const char *scope, const char *name)
{
    const char *leaf;
    for (size_t i = 0; i < N_OPTS; i++)
        if (child_of(opts[i].key, scope, &leaf) && !strcmp(leaf, name))
            return (int)i;
    return -1;
}

static const opt *find_opt(const char *key)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (!strcmp(opts[i].key, key))
            return &opts[i];
    return NULL;
}

/* Rows stored in the item struct of list "scope" ("sources[]"), or, with
 * scope NULL, rows stored in vp_pipeline_config itself. */
static int stored_in(const opt *o, const char *scope)
{
    if (!scope)
        return strstr(o->key, "[].") == NULL;
    size_t n = strlen(scope);
    return !strncmp(o->key, scope, n) && o->key[n] == '.';
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */

typedef struct errbuf {
    char *buf;          /* may be NULL (then errors are only counted) */
    size_t len, used;
    const char *prefix; /* "name: " before each line, or NULL */
    int count;
    int full;           /* buffer exhausted: later lines are counted, not written */
    int nomem;
    /* Paths already reported (hashes), so that validation after parsing does
     * not add "missing" where the parser said "expected a string, got
     * number". Only parse sets this up; when it fills, nothing is skipped. */
    uint64_t *reported;
    int n_reported, max_reported;
    int skip_reported;  /* 1 while validating: drop lines for reported paths */
} errbuf;

static uint64_t path_hash(const char *p)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a; err_add hashes prefixes the same way */
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static void err_init(errbuf *e, char *buf, size_t len, const char *prefix)
{
    memset(e, 0, sizeof *e);
    e->buf = len ? buf : NULL;
    e->len = len;
    e->prefix = prefix && *prefix ? prefix : NULL;
    if (e->buf)
        e->buf[0] = '\0';
}

/* Appends "prefix: path: message\n"; path may be NULL (file-level errors). */
#if defined(__GNUC__)
static void err_add(errbuf *e, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
static void err_add(errbuf *e, const char *path, const char *fmt, ...)
{
    if (path && e->reported) {
        if (e->skip_reported) {
            /* the parser already said what is wrong here, or with an enclosing value */
            uint64_t h = 1469598103934665603ull;
            for (const char *p = path;; p++) {
                if (!*p || *p == '.' || *p == '[')
                    for (int i = 0; i < e->n_reported; i++)
                        if (e->reported[i] == h)
                            return;
                if (!*p)
                    break;
                h = (h ^ (unsigned char)*p) * 1099511628211ull;
            }
        } else if (e->n_reported < e->max_reported) {
            e->reported[e->n_reported++] = path_hash(path);
        }
    }
    e->count++;
    if (!e->buf || e->full)
        return;
    char line[1024];
    int n = snprintf(line, sizeof line, "%s%s%s%s", e->prefix ? e->prefix : "", e->prefix ? ": " : "",
                     path ? path : "", path ? ": " : "");
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof line) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
    }
    size_t l = strlen(line), room = e->len - e->used; /* room >= 1: used < len always */
    if (l + 1 < room) {
        memcpy(e->buf + e->used, line, l);
        e->buf[e->used + l] = '\n';
        e->used += l + 1;
        e->buf[e->used] = '\0';
    } else {
        /* truncate this line and stop writing; the caller's buffer was too small */
        size_t k = room - 1;
        memcpy(e->buf + e->used, line, k);
        e->used += k;
        e->buf[e->used] = '\0';
        e->full = 1;
    }
}

static void err_nomem(errbuf *e, const char *path)
{
    if (!e->nomem)
        err_add(e, path, "out of memory");
    e->nomem = 1;
}

/* snprintf for text that is cut on purpose where it does not fit (paths,
 * table descriptions): bounded, always terminated, length ignored. */
#if defined(__GNUC__)
static void bfmt(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#endif
static void bfmt(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

/* Shortest of %.15g / %.17g that reads back as d. */
static void fmt_num(char *out, size_t n, double d)
{
    bfmt(out, n, "%.15g", d);
    if (strtod(out, NULL) != d)
        bfmt(out, n, "%.17g", d);
}

static const char *json_kind(const cJSON *n)
{
    if (cJSON_IsNull(n))
        return "null";
    if (cJSON_IsBool(n))
        return cJSON_IsTrue(n) ? "true" : "false";
    if (cJSON_IsNumber(n))
        return "number";
    if (cJSON_IsString(n))
        return "string";
    if (cJSON_IsArray(n))
        return "array";
    if (cJSON_IsObject(n))
        return "object";
    return "invalid value";
}

/* Copies s for display inside a path or a message: control characters and
 * quotes become '?', at most CFG_MAX_KEY_SHOWN bytes (cut on a UTF-8
 * boundary) followed by "...". */
static void shown(char *out, size_t n, const char *s)
{
    size_t len = strlen(s), k = len > CFG_MAX_KEY_SHOWN ? CFG_MAX_KEY_SHOWN : len;
    while (k < len && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    if (k + 4 > n)
        k = n > 4 ? n - 4 : 0;
    size_t j = 0;
    for (size_t i = 0; i < k; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[j++] = ch < 0x20 || ch == '"' || ch == 0x7f ? '?' : (char)ch;
    }
    if (k < len)
        for (int i = 0; i < 3; i++)
            out[j++] = '.';
    out[j] = '\0';
}

static void path_key(char *out, const char *parent, const char *key)
{
    char k[CFG_MAX_KEY_SHOWN + 8];
    shown(k, sizeof k, key);
    int plain = k[0] != '\0';
    for (const char *p = k; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            plain = 0;
    if (plain)
        bfmt(out, CFG_PATH_LEN, "%s.%s", parent, k);
    else
        bfmt(out, CFG_PATH_LEN, "%s[\"%s\"]", parent, k);
}

static void path_index(char *out, const char *parent, int i)
{
    bfmt(out, CFG_PATH_LEN, "%s[%d]", parent, i);
}

/* Optimal string alignment distance (edits: insert, delete, substitute,
 * swap two neighbours), ASCII case folded; strings longer than 63 bytes
 * count as far from everything. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int ca = a[i - 1] | (a[i - 1] >= 'A' && a[i - 1] <= 'Z' ? 0x20 : 0);
            int cb = b[j - 1] | (b[j - 1] >= 'A' && b[j - 1] <= 'Z' ? 0x20 : 0);
            int v = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == (b[j - 2] | (b[j - 2] >= 'A' && b[j - 2] <= 'Z' ? 0x20 : 0)) &&
                cb == (a[i - 2] | (a[i - 2] >= 'A' && a[i - 2] <= 'Z' ? 0x20 : 0)) && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* A near miss: at most 2 edits, and at most half the longer word. */
static int near_miss(const char *got, const char *cand)
{
    size_t la = strlen(got), lb = strlen(cand), m = la > lb ? la : lb;
    int d = edit_distance(got, cand);
    return d <= 2 && (size_t)d * 2 <= m;
}

/* ------------------------------------------------------------------ */
/* Defaults and freeing                                                 */

static void set_default(const opt *o, void *base)
{
    char *p = (char *)base + o->off;
    switch (o->type) {
    case OPT_INT: case OPT_BOOL: case OPT_AUTOBOOL: case OPT_CLASSES:
        *(int *)p = (int)o->dflt;
        break;
    case OPT_CHOICE:
        if (o->dflt != CHOICE_UNSET)
            *(int *)p = (int)o->dflt;
        break;
    case OPT_LONG:
        *(long *)p = (long)o->dflt;
        break;
    case OPT_FLOAT:
        *(float *)p = (float)o->dflt;
        break;
    case OPT_DOUBLE:
        *(double *)p = o->dflt;
        break;
    case OPT_FLOAT3:
        for (int k = 0; k < 3; k++)
            ((float *)p)[k] = (float)o->dflt;
        break;
    default: /* strings start NULL, sections and lists have no value */
        break;
    }
}

static void apply_defaults(void *base, const char *scope)
{
    for (size_t i = 0; i < N_OPTS; i++)
        if (stored_in(&opts[i], scope))
            set_default(&opts[i], base);
}

void vp_pipeline_config_default(vp_pipeline_config *c)
{
    if (!c)
        return;
    memset(c, 0, sizeof *c); /* pointers NULL, counts and set flags 0 */
    apply_defaults(c, NULL);
    for (int i = 0; i < VP_PIPE_MAX_SINKS; i++) /* inline items: a sink filled in C starts valid */
        apply_defaults(&c->sinks[i], "sinks[]");
}

static void free_classes(vp_pipeline_config *c)
{
    if (c->class_names)
        for (int i = 0; i < c->num_class_names; i++)
            free(c->class_names[i]);
    free(c->class_names);
    c->class_names = NULL;
    c->num_class_names = 0;
}

void vp_pipeline_config_free(vp_pipeline_config *c)
{
    if (!c)
        return;
    if (c->sources)
        for (int i = 0; i < c->n_sources; i++) {
            free(c->sources[i].id);
            free(c->sources[i].uri);
        }
    free(c->sources);
    c->sources = NULL;
    c->n_sources = 0;
    free(c->model_path);
    c->model_path = NULL;
    free(c->http_listen);
    free(c->http_token_env);
    free(c->trace_path);
    free(c->reid_model);
    c->reid_model = NULL;
    c->http_listen = c->http_token_env = c->trace_path = NULL;
    free_classes(c);
    int ns = c->n_sinks < 0 ? 0 : c->n_sinks > VP_PIPE_MAX_SINKS ? VP_PIPE_MAX_SINKS : c->n_sinks;
    for (int i = 0; i < ns; i++) {
        free(c->sinks[i].path);
        c->sinks[i].path = NULL;
    }
    c->n_sinks = 0;
}

/* ------------------------------------------------------------------ */
/* Describing rows (--keys, messages)                                   */

static const char *type_name(const opt *o)
{
    switch (o->type) {
    case OPT_SECTION: return "object";
    case OPT_LIST: return "object[]";
    case OPT_RESERVED: return "reserved";
    case OPT_INT: case OPT_LONG: return "integer";
    case OPT_BOOL: return "boolean";
    case OPT_FLOAT: case OPT_DOUBLE: return "number";
    case OPT_CHOICE: return "choice";
    case OPT_AUTOBOOL: return "bool/auto";
    case OPT_STRING: return "string";
    case OPT_FLOAT3: return "number[3]";
    case OPT_CLASSES: return "classes";
    }
    return "?";
}

static void choices_text(char *out, size_t n, const opt_choice *ch)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; ch[i].name && used < n; i++) {
        int w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", ch[i].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

static const char *choice_name(const opt_choice *ch, int value)
{
    for (int i = 0; ch[i].name; i++)
        if (ch[i].value == value)
            return ch[i].name;
    return NULL;
}

static void range_text(char *out, size_t n, const opt *o)
{
    char a[32], b[32];
    fmt_num(a, sizeof a, o->min);
    fmt_num(b, sizeof b, o->max);
    switch (o->type) {
    case OPT_INT: case OPT_LONG: case OPT_FLOAT: case OPT_DOUBLE: case OPT_FLOAT3:
        bfmt(out, n, "%s..%s", a, b);
        break;
    case OPT_BOOL: bfmt(out, n, "true, false"); break;
    case OPT_AUTOBOOL: bfmt(out, n, "auto, true, false"); break;
    case OPT_CHOICE: choices_text(out, n, o->choices); break;
    case OPT_STRING: bfmt(out, n, "up to %s bytes", b); break;
    case OPT_CLASSES: bfmt(out, n, "%s..%s or 1..%s names", a, b, b); break;
    case OPT_LIST: bfmt(out, n, "%s..%s items", a, b); break;
    case OPT_RESERVED: bfmt(out, n, "not supported yet"); break;
    case OPT_SECTION: bfmt(out, n, "-"); break;
    }
}

static void default_text(char *out, size_t n, const opt *o)
{
    if (o->dflt_text) {
        bfmt(out, n, "%s", o->dflt_text);
        return;
    }
    char a[32];
    fmt_num(a, sizeof a, o->dflt);
    switch (o->type) {
    case OPT_INT: case OPT_LONG: case OPT_FLOAT: case OPT_DOUBLE: case OPT_CLASSES:
        bfmt(out, n, "%s", a);
        break;
    case OPT_FLOAT3: bfmt(out, n, "[%s, %s, %s]", a, a, a); break;
    case OPT_BOOL: bfmt(out, n, "%s", o->dflt ? "true" : "false"); break;
    case OPT_AUTOBOOL: bfmt(out, n, "auto"); break;
    case OPT_CHOICE: {
        const char *name = choice_name(o->choices, (int)o->dflt);
        bfmt(out, n, "%s", name ? name : "?");
        break;
    }
    default: bfmt(out, n, "-"); break;
    }
}

int vp_config_key_count(void)
{
    return (int)N_OPTS;
}

int vp_config_key_describe(int i, vp_config_key *out)
{
    if (i < 0 || (size_t)i >= N_OPTS || !out)
        return -1;
    const opt *o = &opts[i];
    out->key = o->key;
    out->type = type_name(o);
    default_text(out->dflt, sizeof out->dflt, o);
    range_text(out->range, sizeof out->range, o);
    out->help = o->help;
    return 0;
}

const char *vp_config_choice_name(const char *key, int value)
{
    const opt *o = key ? find_opt(key) : NULL;
    const char *name = o && o->type == OPT_CHOICE ? choice_name(o->choices, value) : NULL;
    return name ? name : "?";
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */

typedef struct pctx {
    errbuf *e;
    vp_pipeline_config *cfg;
    unsigned char given[N_OPTS]; /* row given anywhere in the document (resolution of defaults) */
    uint64_t reported[1024];     /* errbuf.reported: paths with a parse error */
} pctx;

static int is_integral_type(const opt *o)
{
    return o->type == OPT_INT || o->type == OPT_LONG || o->type == OPT_CLASSES;
}

static int check_range(errbuf *e, const opt *o, double d, const char *path)
{
    if (d >= o->min && d <= o->max)
        return 0;
    char v[32], a[32], b[32];
    fmt_num(v, sizeof v, d);
    fmt_num(a, sizeof a, o->min);
    fmt_num(b, sizeof b, o->max);
    err_add(e, path, "%s is out of range %s..%s", v, a, b);
    return -1;
}

/* A JSON number for row o: finite, integral where o wants an integer, in
 * range. 0 and *out on success; one error and -1 otherwise. */
static int read_number(errbuf *e, const opt *o, const cJSON *n, const char *path, double *out)
{
    const char *want = is_integral_type(o) ? "an integer" : "a number";
    if (!cJSON_IsNumber(n)) {
        err_add(e, path, "expected %s, got %s", want, json_kind(n));
        return -1;
    }
    double d = n->valuedouble;
    if (!isfinite(d)) {
        err_add(e, path, "expected %s, got a number too large to represent", want);
        return -1;
    }
    if (is_integral_type(o) && d != floor(d)) {
        char v[32];
        fmt_num(v, sizeof v, d);
        err_add(e, path, "expected an integer, got %s", v);
        return -1;
    }
    if (check_range(e, o, d, path))
        return -1;
    *out = d;
    return 0;
}

static char *dup_string(pctx *x, const char *s, const char *path)
{
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (!p) {
        err_nomem(x->e, path);
        return NULL;
    }
    memcpy(p, s, n + 1);
    return p;
}

static void parse_object(pctx *x, const cJSON *obj, const char *scope, const char *path, void *base);

static void parse_choice(pctx *x, const opt *o, const cJSON *n, const char *path, void *base)
{
    char list[96];
    choices_text(list, sizeof list, o->choices);
    if (!cJSON_IsString(n)) {
        err_add(x->e, path, "expected one of %s, got %s", list, json_kind(n));
        return;
    }
    const char *s = n->valuestring;
    for (int i = 0; o->choices[i].name; i++)
        if (!strcmp(s, o->choices[i].name)) {
            int v = o->choices[i].value;
            if (v != CHOICE_UNSET)
                *(int *)((char *)base + o->off) = v;
            if (o->set_off != NO_SET)
                *(int *)((char *)base + o->set_off) = v != CHOICE_UNSET;
            return;
        }
    char got[CFG_MAX_KEY_SHOWN + 8];
    shown(got, sizeof got, s);
    for (int i = 0; o->choices[i].name; i++)
        if (near_miss(s, o->choices[i].name)) {
            err_add(x->e, path, "expected one of %s, got \"%s\" (did you mean \"%s\"?)", list, got,
                    o->choices[i].name);
            return;
        }
    err_add(x->e, path, "expected one of %s, got \"%s\"", list, got);
}

static void parse_classes(pctx *x, const opt *o, const cJSON *n, const char *path)
{
    vp_pipeline_config *c = x->cfg;
    double d;
    if (cJSON_IsNumber(n)) {
        if (read_number(x->e, o, n, path, &d) == 0) {
            free_classes(c);
            c->num_classes = (int)d;
        }
        return;
    }
    if (!cJSON_IsArray(n)) {
        err_add(x->e, path, "expected a class count or an array of class names, got %s", json_kind(n));
        return;
    }
    int cnt = cJSON_GetArraySize(n);
    if (cnt < 1 || cnt > CFG_MAX_CLASSES) {
        err_add(x->e, path, "expected 1..%d class names, got %d", CFG_MAX_CLASSES, cnt);
        return;
    }
    char **names = calloc((size_t)cnt, sizeof *names);
    if (!names) {
        err_nomem(x->e, path);
        return;
    }
    int i = 0, bad = 0;
    for (const cJSON *it = n->child; it && i < cnt; it = it->next, i++) {
        char ipath[CFG_PATH_LEN];
        path_index(ipath, path, i);
        if (!cJSON_IsString(it)) {
            err_add(x->e, ipath, "expected a string, got %s", json_kind(it));
            bad = 1;
        } else if (!it->valuestring[0] || strlen(it->valuestring) > CFG_MAX_CLASS_NAME) {
            err_add(x->e, ipath, "expected a name of 1..%d bytes, got %zu", CFG_MAX_CLASS_NAME,
                    strlen(it->valuestring));
            bad = 1;
        } else if (!bad && !(names[i] = dup_string(x, it->valuestring, ipath))) {
            bad = 1;
        }
    }
    if (bad) {
        for (int k = 0; k < cnt; k++)
            free(names[k]);
        free(names);
        return;
    }
    free_classes(c);
    c->class_names = names;
    c->num_class_names = cnt;
    c->num_classes = cnt;
}

static void parse_float3(pctx *x, const opt *o, const cJSON *n, const char *path, void *base)
{
    int cnt = cJSON_IsArray(n) ? cJSON_GetArraySize(n) : -1;
    if (cnt != 3) {
        if (cnt < 0)
            err_add(x->e, path, "expected 3 numbers, got %s", json_kind(n));
        else
            err_add(x->e, path, "expected 3 numbers, got an array of %d", cnt);
        return;
    }
    float v[3];
    int bad = 0, i = 0;
    for (const cJSON *it = n->child; it && i < 3; it = it->next, i++) {
        char ipath[CFG_PATH_LEN];
        double d = 0;
        path_index(ipath, path, i);
        if (read_number(x->e, o, it, ipath, &d))
            bad = 1;
        v[i] = (float)d;
    }
    if (!bad)
        memcpy((char *)base + o->off, v, sizeof v);
}

static void parse_list(pctx *x, const opt *o, const cJSON *n, const char *path)
{
    if (!cJSON_IsArray(n)) {
        err_add(x->e, path, "expected an array of objects, got %s", json_kind(n));
        return;
    }
    int cnt = cJSON_GetArraySize(n);
    if (cnt > (int)o->max) {
        err_add(x->e, path, "%d items, at most %d", cnt, (int)o->max);
        return;
    }
    char *cfg = (char *)x->cfg, *items;
    if (o->inline_items) {
        items = cfg + o->off;
    } else {
        items = cnt ? calloc((size_t)cnt, o->item_size) : NULL;
        if (cnt && !items) {
            err_nomem(x->e, path);
            return;
        }
        *(char **)(cfg + o->off) = items;
    }
    *(int *)(cfg + o->count_off) = cnt; /* now vp_pipeline_config_free sees the items */
    char scope[64];
    bfmt(scope, sizeof scope, "%s[]", o->key);
    int i = 0;
    for (const cJSON *it = n->child; it && i < cnt; it = it->next, i++) {
        void *item = items + (size_t)i * o->item_size;
        char ipath[CFG_PATH_LEN];
        path_index(ipath, path, i);
        memset(item, 0, o->item_size);
        apply_defaults(item, scope);
        if (!cJSON_IsObject(it))
            err_add(x->e, ipath, "expected an object, got %s", json_kind(it));
        else
            parse_object(x, it, scope, ipath, item);
    }
}

/* Stores JSON value n for row o into base (the config or a list item). */
static void apply(pctx *x, const opt *o, const cJSON *n, const char *path, void *base)
{
    char *p = (char *)base + o->off;
    double d;
    int ok = 1;
    switch (o->type) {
    case OPT_SECTION:
        if (!cJSON_IsObject(n))
            err_add(x->e, path, "expected an object, got %s", json_kind(n));
        else
            parse_object(x, n, o->key, path, base);
        return;
    case OPT_LIST:
        parse_list(x, o, n, path);
        return;
    case OPT_RESERVED:
        err_add(x->e, path, "not supported yet (reserved for %s)", o->help);
        return;
    case OPT_CHOICE:
        parse_choice(x, o, n, path, base);
        return;
    case OPT_CLASSES:
        parse_classes(x, o, n, path);
        return;
    case OPT_FLOAT3:
        parse_float3(x, o, n, path, base);
        return;
    case OPT_INT: case OPT_LONG: case OPT_FLOAT: case OPT_DOUBLE:
        if ((ok = read_number(x->e, o, n, path, &d) == 0)) {
            if (o->type == OPT_INT)
                *(int *)p = (int)d;
            else if (o->type == OPT_LONG)
                *(long *)p = (long)d;
            else if (o->type == OPT_FLOAT)
                *(float *)p = (float)d;
            else
                *(double *)p = d;
        }
        break;
    case OPT_BOOL:
        if ((ok = cJSON_IsBool(n)))
            *(int *)p = cJSON_IsTrue(n);
        else
            err_add(x->e, path, "expected true or false, got %s", json_kind(n));
        break;
    case OPT_AUTOBOOL:
        if (cJSON_IsBool(n))
            *(int *)p = cJSON_IsTrue(n);
        else if (cJSON_IsString(n) && !strcmp(n->valuestring, "auto"))
            *(int *)p = -1;
        else {
            ok = 0;
            if (cJSON_IsString(n)) {
                char got[CFG_MAX_KEY_SHOWN + 8];
                shown(got, sizeof got, n->valuestring);
                err_add(x->e, path, "expected true, false or \"auto\", got \"%s\"", got);
            } else
                err_add(x->e, path, "expected true, false or \"auto\", got %s", json_kind(n));
        }
        break;
    case OPT_STRING:
        if (!cJSON_IsString(n)) {
            err_add(x->e, path, "expected a string, got %s", json_kind(n));
            ok = 0;
        } else if (strlen(n->valuestring) > (size_t)o->max) {
            err_add(x->e, path, "expected at most %d bytes, got %zu", (int)o->max, strlen(n->valuestring));
            ok = 0;
        } else {
            char *s = dup_string(x, n->valuestring, path);
            if ((ok = s != NULL)) {
                free(*(char **)p);
                *(char **)p = s;
            }
        }
        break;
    }
    if (ok && o->set_off != NO_SET)
        *(int *)((char *)base + o->set_off) = 1;
}

static void unknown_key(pctx *x, const char *scope, const char *name, const char *path)
{
    const char *leaf, *best = NULL;
    int bestd = 99;
    char known[512];
    size_t used = 0;
    known[0] = '\0';
    for (size_t i = 0; i < N_OPTS; i++) {
        if (!child_of(opts[i].key, scope, &leaf))
            continue;
        if (used < sizeof known) {
            int w = snprintf(known + used, sizeof known - used, "%s%s", used ? ", " : "", leaf);
            used += w > 0 ? (size_t)w : 0;
        }
        int d = x->e->full ? 99 : edit_distance(name, leaf); /* no suggestions once nothing is written */
        if (d < bestd && near_miss(name, leaf)) {
            bestd = d;
            best = leaf;
        }
    }
    if (best)
        err_add(x->e, path, "unknown key (did you mean \"%s\"?)", best);
    else
        err_add(x->e, path, "unknown key (known here: %s)", known);
}

/* Walks the members of obj against the rows that are children of scope;
 * base is where those rows are stored. */
static void parse_object(pctx *x, const cJSON *obj, const char *scope, const char *path, void *base)
{
    unsigned char seen[N_OPTS];
    memset(seen, 0, sizeof seen);
    for (const cJSON *ch = obj->child; ch; ch = ch->next) {
        const char *name = ch->string ? ch->string : "";
        char cpath[CFG_PATH_LEN];
        path_key(cpath, path, name);
        int i = find_child(scope, name);
        if (i < 0) {
            unknown_key(x, scope, name, cpath);
            continue;
        }
        if (seen[i]) {
            err_add(x->e, cpath, "duplicate key (each key may appear once)");
            continue;
        }
        seen[i] = 1;
        x->given[i] = 1;
        apply(x, &opts[i], ch, cpath, base);
    }
    const char *leaf;
    for (size_t i = 0; i < N_OPTS; i++)
        if (opts[i].required && !seen[i] && child_of(opts[i].key, scope, &leaf)) {
            char cpath[CFG_PATH_LEN];
            char list[96] = "";
            if (opts[i].type == OPT_CHOICE)
                choices_text(list, sizeof list, opts[i].choices);
            path_key(cpath, path, leaf);
            err_add(x->e, cpath, "missing (required%s%s)", list[0] ? ": one of " : "", list);
        }
}

/* ------------------------------------------------------------------ */
/* Text checks before cJSON                                             */

/* 1-based line and column (in characters) of byte offset off. */
static void line_col(const char *t, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    for (size_t i = 0; i < off; i++) {
        if (t[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)t[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Offset of the first byte that is not valid UTF-8, or len. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        size_t n;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 1, cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2, cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            n = 3, cp = b & 0x07;
        } else {
            return i;
        }
        if (i + n >= len) /* sequence cut by the end of the text */
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t minv[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < minv[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return len;
}

/* Offset where the nesting of [ and { first exceeds max (outside strings),
 * or len. Unbalanced brackets are cJSON's to report. */
static size_t too_deep_at(const char *t, size_t len, int max)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = t[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
        } else if (ch == '"') {
            in_str = 1;
        } else if (ch == '[' || ch == '{') {
            if (++depth > max)
                return i;
        } else if (ch == ']' || ch == '}') {
            depth--;
        }
    }
    return len;
}

/* ------------------------------------------------------------------ */
/* Validation                                                           */

int vp_config_is_url(const char *s)
{
    /* scheme "://": letters first, then letters, digits, + - . */
    const char *p = s;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return 0;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '+' ||
           *p == '-' || *p == '.')
        p++;
    return !strncmp(p, "://", 3);
}

/* Range of one stored value, for configs that did not come through the
 * parser (the CLI fills them from flags). Parsed values are already in
 * range: an out-of-range JSON value is reported and the default kept. */
static void check_stored(errbuf *e, const opt *o, const void *base, const char *path)
{
    const char *p = (const char *)base + o->off;
    switch (o->type) {
    case OPT_INT: case OPT_BOOL: case OPT_AUTOBOOL: case OPT_CLASSES:
        check_range(e, o, *(const int *)p, path);
        break;
    case OPT_LONG:
        check_range(e, o, (double)*(const long *)p, path);
        break;
    case OPT_FLOAT: case OPT_DOUBLE: {
        double d = o->type == OPT_FLOAT ? *(const float *)p : *(const double *)p;
        if (!isfinite(d))
            err_add(e, path, "expected a finite number");
        else
            check_range(e, o, d, path);
        break;
    }
    case OPT_FLOAT3:
        for (int k = 0; k < 3; k++) {
            char ipath[CFG_PATH_LEN];
            double d = ((const float *)p)[k];
            path_index(ipath, path, k);
            if (!isfinite(d))
                err_add(e, ipath, "expected a finite number");
            else
                check_range(e, o, d, ipath);
        }
        break;
    case OPT_CHOICE:
        if (o->set_off != NO_SET && !*(const int *)((const char *)base + o->set_off))
            break; /* "auto": the value is not used */
        if (!choice_name(o->choices, *(const int *)p)) {
            char list[96];
            choices_text(list, sizeof list, o->choices);
            err_add(e, path, "%d is not one of %s", *(const int *)p, list);
        }
        break;
    default:
        break;
    }
}

static void check_rows(errbuf *e, const void *base, const char *scope, const char *path_prefix)
{
    for (size_t i = 0; i < N_OPTS; i++) {
        if (!stored_in(&opts[i], scope))
            continue;
        char path[CFG_PATH_LEN];
        const char *rel = opts[i].key + (scope ? strlen(scope) + 1 : 0);
        bfmt(path, sizeof path, "%s.%s", path_prefix, rel);
        check_stored(e, &opts[i], base, path);
    }
}

static const char *source_id(const vp_pipe_source *s, int i, char *buf, size_t n)
{
    if (s->id)
        return s->id;
    bfmt(buf, n, "s%d", i);
    return buf;
}

static void validate_into(errbuf *e, const vp_pipeline_config *c)
{
    check_rows(e, c, NULL, "$");
    const char *hw = vp_config_choice_name("decode.hw", c->decode_hw);

    /* sources */
    if (c->serve && !c->http_port)
        err_add(e, "$.monitor.serve", "true needs $.monitor.port (sources can only come over HTTP)");
    if ((c->n_sources <= 0 || !c->sources) && !(c->serve && c->http_port))
        err_add(e, "$.sources", "at least one source is required (or monitor.serve with monitor.port)");
    else if (c->n_sources > VP_PIPE_MAX_SOURCES)
        err_add(e, "$.sources", "%d items, at most %d", c->n_sources, VP_PIPE_MAX_SOURCES);
    int ns = c->sources ? (c->n_sources > VP_PIPE_MAX_SOURCES ? VP_PIPE_MAX_SOURCES : c->n_sources) : 0;
    for (int i = 0; i < ns; i++) {
        const vp_pipe_source *s = &c->sources[i];
        char base[CFG_PATH_LEN], path[CFG_PATH_LEN + 16], idbuf[16], idbuf2[16];
        path_index(base, "$.sources", i);
        check_rows(e, s, "sources[]", base);
        bfmt(path, sizeof path, "%s.uri", base);
        if (!s->uri)
            err_add(e, path, "missing (required)");
        else if (!s->uri[0])
            err_add(e, path, "empty string (expected a file path or URL)");
        bfmt(path, sizeof path, "%s.id", base);
        const char *id = source_id(s, i, idbuf, sizeof idbuf);
        if (!id[0])
            err_add(e, path, "empty string (expected a unique name)");
        for (int j = 0; j < i && id[0]; j++)
            if (!strcmp(id, source_id(&c->sources[j], j, idbuf2, sizeof idbuf2))) {
                char shownid[CFG_MAX_KEY_SHOWN + 8];
                shown(shownid, sizeof shownid, id);
                err_add(e, path, "duplicate id \"%s\" (also $.sources[%d].id)", shownid, j);
                break;
            }
        int live = s->live == -1 ? (s->uri && vp_config_is_url(s->uri)) : s->live;
        if (live && s->loop) {
            bfmt(path, sizeof path, "%s.loop", base);
            err_add(e, path, "%d for a live source (loop applies to files; live is %s)", s->loop,
                    s->live == -1 ? "auto and the uri is a URL" : "true");
        }
        if (live && s->realtime) {
            snprintf(path, sizeof path, "%s.realtime", base);
            err_add(e, path, "true for a live source (realtime paces files; live is %s)",
                    s->live == -1 ? "auto and the uri is a URL" : "true");
        }
        if (!s->reconnect && s->max_reconnects) {
            bfmt(path, sizeof path, "%s.max_reconnects", base);
            err_add(e, path, "%d with reconnect false (give one of the two)", s->max_reconnects);
        }
    }

    /* model */
    if (!c->model_path)
        err_add(e, "$.model.path", "missing (required)");
    else if (!c->model_path[0])
        err_add(e, "$.model.path", "empty string (expected an ONNX file)");
    if ((c->input_width == 0) != (c->input_height == 0))
        err_add(e, c->input_width ? "$.model.input.height" : "$.model.input.width",
                "missing: model.input.%s is %d; give both width and height, or neither (both from the model)",
                c->input_width ? "width" : "height", c->input_width ? c->input_width : c->input_height);
    if (c->reid_model && !c->reid_model[0])
        err_add(e, "$.tracker.reid.model", "empty string (expected an ONNX file)");
    else if (c->reid_model && !c->track)
        err_add(e, "$.tracker.reid.model", "given while $.tracker.enabled is false (appearance features serve the tracker)");
    if ((c->reid_width == 0) != (c->reid_height == 0))
        err_add(e, c->reid_width ? "$.tracker.reid.input.height" : "$.tracker.reid.input.width",
                "missing: tracker.reid.input.%s is %d; give both width and height, or neither (both from the model)",
                c->reid_width ? "width" : "height", c->reid_width ? c->reid_width : c->reid_height);
    if (c->class_names && c->num_classes != c->num_class_names)
        err_add(e, "$.model.classes", "%d classes but %d names", c->num_classes, c->num_class_names);
    if (c->precision_set && c->precision == VP_PRECISION_FP16 && c->backend_set && c->backend == VP_BACKEND_CPU)
        err_add(e, "$.model.precision", "\"fp16\" conflicts with $.model.backend \"cpu\" (the CPU backend is FP32 "
                                        "only; use backend \"cuda\" or precision \"fp32\")");

    /* device and decode */
    if (c->gpu_only && c->decode_hw == VP_HW_CPU)
        err_add(e, "$.decode.hw", "\"cpu\" conflicts with $.device.gpu_only true (gpu_only forbids CPU decoding)");
    if (c->gpu_only && c->backend_set && c->backend == VP_BACKEND_CPU)
        err_add(e, "$.model.backend",
                "\"cpu\" conflicts with $.device.gpu_only true (gpu_only needs the cuda backend)");
    if (c->cpu_fallback_set && c->decode_hw != VP_HW_AUTO && strcmp(hw, "?") != 0)
        err_add(e, "$.decode.cpu_fallback",
                "given with $.decode.hw \"%s\" (cpu_fallback only applies to hw \"auto\"; remove it)", hw);
    else if (c->cpu_fallback_set && c->cpu_fallback && c->gpu_only)
        err_add(e, "$.decode.cpu_fallback",
                "true conflicts with $.device.gpu_only true (gpu_only means no CPU fallback; remove cpu_fallback)");

    /* batch */
    if (c->batch_mode == VP_BATCH_LATENCY && c->max_batch_set && c->max_batch > 2)
        err_add(e, "$.batch.max", "%d conflicts with $.batch.mode \"latency\" (latency mode runs batches of at "
                                  "most 2 frames; leave max out, or use mode \"throughput\")", c->max_batch);
    if (c->inflight_set && (c->inflight + 1) * c->queue_frames + 1 > 64)
        err_add(e, "$.batch.inflight", "%d conflicts with $.batch.queue_frames %d (NVDEC would hold (%d + 1) x %d + 1 "
                                       "frames per stream, at most 64)", c->inflight, c->queue_frames, c->inflight,
                c->queue_frames);

    /* sinks */
    if (c->n_sinks < 0 || c->n_sinks > VP_PIPE_MAX_SINKS)
        err_add(e, "$.sinks", "%d items, at most %d", c->n_sinks, VP_PIPE_MAX_SINKS);
    int nk = c->n_sinks < 0 ? 0 : c->n_sinks > VP_PIPE_MAX_SINKS ? VP_PIPE_MAX_SINKS : c->n_sinks;
    for (int i = 0; i < nk; i++) {
        const vp_pipe_sink *k = &c->sinks[i];
        char base[CFG_PATH_LEN], path[CFG_PATH_LEN + 16];
        path_index(base, "$.sinks", i);
        check_rows(e, k, "sinks[]", base);
        if (k->kind == VP_SINK_VIDEO && c->gpu_only) {
            bfmt(path, sizeof path, "%s.type", base);
            err_add(e, path, "\"video\" conflicts with $.device.gpu_only true (drawing and encoding need the "
                             "frames on the host)");
        }
        if (k->kind == VP_SINK_SNAPSHOT && c->gpu_only) {
            bfmt(path, sizeof path, "%s.type", base);
            err_add(e, path, "\"snapshot\" conflicts with $.device.gpu_only true (drawing and encoding need the "
                             "frames on the host)");
        }
        if (k->kind != VP_SINK_VIDEO && k->encoder_set) {
            bfmt(path, sizeof path, "%s.encoder", base);
            err_add(e, path, "given for a \"%s\" sink (encoder applies to \"video\" sinks; remove it)",
                    vp_config_choice_name("sinks[].type", k->kind));
        }
        if (k->kind != VP_SINK_SNAPSHOT) {
            const char *tname = vp_config_choice_name("sinks[].type", k->kind);
            if (k->every_set) {
                bfmt(path, sizeof path, "%s.every", base);
                err_add(e, path, "given for a \"%s\" sink (every applies to \"snapshot\" sinks; remove it)", tname);
            }
            if (k->min_detections_set) {
                bfmt(path, sizeof path, "%s.min_detections", base);
                err_add(e, path, "given for a \"%s\" sink (min_detections applies to \"snapshot\" sinks; remove it)",
                        tname);
            }
        }
        bfmt(path, sizeof path, "%s.path", base);
        if (!k->path)
            err_add(e, path, "missing (required)");
        else if (!k->path[0])
            err_add(e, path, "empty string (expected a file name, or \"-\" for standard output)");
        else if (k->kind == VP_SINK_SNAPSHOT) {
            char sp[CFG_MAX_KEY_SHOWN + 8];
            shown(sp, sizeof sp, k->path);
            const char *dot = strrchr(k->path, '.'), *slash = strrchr(k->path, '/');
            if (!dot || (slash && dot < slash) || strchr(dot, '}') ||
                (strcasecmp(dot, ".jpg") && strcasecmp(dot, ".jpeg") && strcasecmp(dot, ".png")))
                err_add(e, path, "\"%s\": a snapshot path ends in .jpg, .jpeg or .png", sp);
            else if (!strstr(k->path, "{frame}"))
                err_add(e, path, "\"%s\" has no {frame} (each picture needs its own file name, e.g. "
                                 "\"snaps/{stream}-{frame}.jpg\")", sp);
        }
        for (int j = 0; j < i && k->path && k->path[0]; j++)
            if (c->sinks[j].path && !strcmp(k->path, c->sinks[j].path)) {
                char sp[CFG_MAX_KEY_SHOWN + 8];
                shown(sp, sizeof sp, k->path);
                err_add(e, path, "duplicate path \"%s\" (also $.sinks[%d].path)", sp, j);
                break;
            }
    }
}

int vp_pipeline_config_validate(const vp_pipeline_config *c, char *err, size_t errlen)
{
    errbuf e;
    err_init(&e, err, errlen, NULL);
    if (!c) {
        err_add(&e, "$", "no config");
        return VP_ERR_INVALID;
    }
    validate_into(&e, c);
    return e.count ? VP_ERR_INVALID : VP_OK;
}

/* Derived values: what "not given" means once the other keys are known. */
static void resolve(pctx *x)
{
    vp_pipeline_config *c = x->cfg;
    for (int i = 0; c->sources && i < c->n_sources; i++)
        if (!c->sources[i].id) {
            char id[16];
            bfmt(id, sizeof id, "s%d", i);
            c->sources[i].id = dup_string(x, id, "$.sources");
        }
    if (c->batch_mode == VP_BATCH_LATENCY) {
        if (!c->max_batch_set)
            c->max_batch = 2;
        if (!x->given[find_opt("batch.timeout_ms") - opts])
            c->timeout_ms = 2;
    }
    if (c->gpu_only && !c->cpu_fallback_set)
        c->cpu_fallback = 0;
}

int vp_pipeline_config_parse(const char *text, size_t len, const char *name, vp_pipeline_config *c, char *err,
                             size_t errlen)
{
    errbuf e;
    err_init(&e, err, errlen, name);
    if (!c) {
        err_add(&e, "$", "no config to fill");
        return VP_ERR_INVALID;
    }
    vp_pipeline_config_default(c);
    if (!text) {
        err_add(&e, "$", "no text");
        return VP_ERR_INVALID;
    }
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) { /* a UTF-8 byte-order mark is harmless */
        text += 3;
        len -= 3;
    }
    size_t k = 0;
    while (k < len && (text[k] == ' ' || text[k] == '\t' || text[k] == '\n' || text[k] == '\r'))
        k++;
    if (k == len) {
        err_add(&e, "$", "empty (expected a JSON object)");
        return VP_ERR_INVALID;
    }
    int line, col;
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        line_col(text, (size_t)(nul - text), &line, &col);
        err_add(&e, "$", "not text (NUL byte at line %d, column %d)", line, col);
        return VP_ERR_INVALID;
    }
    size_t bad = utf8_invalid_at((const unsigned char *)text, len);
    if (bad < len) {
        line_col(text, bad, &line, &col);
        err_add(&e, "$", "not UTF-8 text (byte 0x%02x at line %d, column %d)", (unsigned char)text[bad], line, col);
        return VP_ERR_INVALID;
    }
    size_t deep = too_deep_at(text, len, CFG_MAX_DEPTH);
    if (deep < len) {
        line_col(text, deep, &line, &col);
        err_add(&e, "$", "nested deeper than %d levels at line %d, column %d (a config needs 4)", CFG_MAX_DEPTH,
                line, col);
        return VP_ERR_INVALID;
    }
    /* cJSON wants the terminating NUL inside the length to reject trailing garbage */
    char *buf = malloc(len + 1);
    if (!buf) {
        err_nomem(&e, "$");
        return VP_ERR_NOMEM;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
    if (!root) {
        size_t off = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : len;
        line_col(buf, off, &line, &col);
        if (off >= len)
            err_add(&e, "$", "not valid JSON at line %d, column %d (unexpected end of text)", line, col);
        else
            err_add(&e, "$", "not valid JSON at line %d, column %d", line, col);
        free(buf);
        return VP_ERR_INVALID;
    }
    free(buf);
    if (!cJSON_IsObject(root)) {
        err_add(&e, "$", "expected an object, got %s", json_kind(root));
        cJSON_Delete(root);
        return VP_ERR_INVALID;
    }
    pctx x;
    memset(&x, 0, sizeof x);
    x.e = &e;
    x.cfg = c;
    e.reported = x.reported;
    e.max_reported = (int)(sizeof x.reported / sizeof x.reported[0]);
    parse_object(&x, root, "", "$", c);
    cJSON_Delete(root);
    resolve(&x);
    e.skip_reported = 1;
    validate_into(&e, c);
    e.reported = NULL;
    if (e.nomem)
        return VP_ERR_NOMEM;
    return e.count ? VP_ERR_INVALID : VP_OK;
}

int vp_pipeline_config_load(const char *path, vp_pipeline_config *c, char *err, size_t errlen)
{
    errbuf e;
    char eb[128];
    err_init(&e, err, errlen, path && *path ? path : "config");
    if (!c) {
        err_add(&e, NULL, "no config to fill");
        return VP_ERR_INVALID;
    }
    vp_pipeline_config_default(c);
    if (!path || !*path) {
        err_add(&e, NULL, "no file name");
        return VP_ERR_INVALID;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_add(&e, NULL, "cannot open: %s", strerror_r(errno, eb, sizeof eb));
        return VP_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_add(&e, NULL, "cannot read: %s", strerror_r(errno, eb, sizeof eb));
        close(fd);
        return VP_ERR_IO;
    }
    if (S_ISDIR(st.st_mode)) {
        err_add(&e, NULL, "is a directory, not a config file");
        close(fd);
        return VP_ERR_IO;
    }
    if (S_ISREG(st.st_mode) && st.st_size > (off_t)CFG_MAX_FILE_BYTES) {
        err_add(&e, NULL, "too large (%lld bytes, at most %u)", (long long)st.st_size, CFG_MAX_FILE_BYTES);
        close(fd);
        return VP_ERR_INVALID;
    }
    /* read up to the limit plus one byte: pipes and growing files have no size */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        err_nomem(&e, NULL);
        close(fd);
        return VP_ERR_NOMEM;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap * 2 > (size_t)CFG_MAX_FILE_BYTES + 1 ? (size_t)CFG_MAX_FILE_BYTES + 1 : cap * 2;
            char *nb = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nb) {
                if (ncap > cap)
                    err_nomem(&e, NULL);
                else
                    err_add(&e, NULL, "too large (more than %u bytes)", CFG_MAX_FILE_BYTES);
                free(buf);
                close(fd);
                return ncap > cap ? VP_ERR_NOMEM : VP_ERR_INVALID;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err_add(&e, NULL, "cannot read: %s", strerror_r(errno, eb, sizeof eb));
            free(buf);
            close(fd);
            return VP_ERR_IO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > CFG_MAX_FILE_BYTES) {
            err_add(&e, NULL, "too large (more than %u bytes)", CFG_MAX_FILE_BYTES);
            free(buf);
            close(fd);
            return VP_ERR_INVALID;
        }
    }
    close(fd);
    int rc = vp_pipeline_config_parse(buf, n, path, c, err, errlen);
    free(buf);
    return rc;
}
