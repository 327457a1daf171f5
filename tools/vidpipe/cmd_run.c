/*
 * vidpipe run: the multi-stream pipeline from a JSON config, command-line
 * flags, or both.
 *
 * Flags are not a second configuration system: each one names a key of the
 * JSON config (table below) and is written into the JSON document, which then
 * goes through the one parser and validator (vp_pipeline_config_parse), so a
 * flag and its key cannot disagree and every error names its JSON path.
 * With --config, flags override or extend the file's values.
 *
 * SIGINT/SIGTERM stop the sources; every frame already decoded is still
 * processed and written before the summary is printed. A second signal ends
 * the process at once.
 */
#include "cmd_run.h"
#include "gpu/nvml.h"
#include "obs/http.h"
#include "obs/nvtx.h"
#include "obs/trace.h"
#include "pipeline/pipeline_impl.h"
#include "vidpipe/pipeline.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* The running pipeline, for the signal handler (the tool's only global). */
static vp_pipeline *volatile running;

static void on_signal(int sig)
{
    if (running)
        vp_pipeline_stop(running);
    signal(sig, SIG_DFL); /* a second signal ends the process */
}

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "vidpipe: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see 'vidpipe --help')\n");
    return EXIT_USAGE;
}

typedef enum { F_STRING, F_NUMBER, F_BOOL, F_TRUE } flag_type;

/* flag -> JSON key (dotted path under the root object) */
static const struct run_flag {
    const char *flag;
    const char *path;
    flag_type type;
} run_flags[] = {
    {"--model", "model.path", F_STRING},
    {"--task", "model.task", F_STRING},
    {"--backend", "model.backend", F_STRING},
    {"--precision", "model.precision", F_STRING},
    {"--threads", "model.threads", F_NUMBER},
    {"--conf", "model.conf_threshold", F_NUMBER},
    {"--iou", "model.iou_threshold", F_NUMBER},
    {"--max-det", "model.max_det", F_NUMBER},
    {"--batch", "batch.max", F_NUMBER},
    {"--timeout-ms", "batch.timeout_ms", F_NUMBER},
    {"--mode", "batch.mode", F_STRING},
    {"--hw", "decode.hw", F_STRING},
    {"--gpu", "device.gpu", F_NUMBER},
    {"--gpu-only", "device.gpu_only", F_TRUE},
    {"--max-frames", "max_frames", F_NUMBER},
    {"--track", "tracker.enabled", F_TRUE},
    {"--http-port", "monitor.port", F_NUMBER},
    {"--serve", "monitor.serve", F_TRUE},
    {"--trace", "profile.trace", F_STRING},
};

/* Sets root.a.b.c = v, creating objects on the way. */
static int json_set(cJSON *root, const char *path, cJSON *v)
{
    char key[128];
    const char *p = path;
    cJSON *obj = root;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key) {
            cJSON_Delete(v);
            return -1;
        }
        memcpy(key, p, n);
        key[n] = 0;
        if (!dot) {
            cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
            cJSON_AddItemToObject(obj, key, v);
            return 0;
        }
        cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (!next) {
            next = cJSON_AddObjectToObject(obj, key);
        } else if (!cJSON_IsObject(next)) {
            cJSON_Delete(v);
            return -1; /* the config's own type error is reported by the parser */
        }
        obj = next;
        p = dot + 1;
    }
}

static cJSON *array_of(cJSON *root, const char *key)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!a)
        a = cJSON_AddArrayToObject(root, key);
    return cJSON_IsArray(a) ? a : NULL;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        if (cap >= (16u << 20)) { /* the parser reports oversize files; this only bounds the read */
            break;
        }
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb, cap *= 2;
    }
    fclose(f);
    if (buf)
        buf[n] = 0, *len = n;
    return buf;
}

/* The live status: on a terminal one line rewritten every second (streams,
 * frames/s over the last second, latency, GPU use, progress and ETA when
 * max_frames bounds the run); otherwise a plain log line every 10 s. A
 * thread of its own, stopped through a condition variable. */
typedef struct status_line {
    vp_pipeline *pl;
    vp_nvml_monitor *mon;
    long max_frames;          /* per stream, 0 = unbounded */
    int tty;
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
} status_line;

static void status_print(status_line *sl, long *last_frames, double *last_t)
{
    vp_pipeline_stats s;
    vp_stream_stats st[64];
    int n = vp_pipeline_get_stats(sl->pl, &s, st, 64);
    int reading = 0, failed = 0;
    double p50 = 0, p99 = 0;
    for (int i = 0; i < n && i < 64; i++) {
        reading += !st[i].finished;
        failed += st[i].failed;
        if (st[i].latency.p50 > p50)
            p50 = st[i].latency.p50;
        if (st[i].latency.p99 > p99)
            p99 = st[i].latency.p99;
    }
    double fps = s.wall_s > *last_t ? (double)(s.frames - *last_frames) / (s.wall_s - *last_t) : 0;
    *last_frames = s.frames, *last_t = s.wall_s;
    char gpu[64] = "";
    vp_nvml_gpu_stats g;
    if (sl->mon && vp_nvml_gpus(sl->mon) && vp_nvml_stats(sl->mon, 0, &g) == VP_OK && g.now.valid)
        snprintf(gpu, sizeof gpu, " | GPU %u%% dec %u%%", g.now.gpu_util, g.now.dec_util);
    char prog[96] = "";
    if (sl->max_frames > 0 && n > 0) {
        double total = (double)sl->max_frames * n, done = (double)s.frames;
        double eta = fps > 0 ? (total - done) / fps : 0;
        snprintf(prog, sizeof prog, " | %3.0f%% ETA %d:%02d", 100 * done / total, (int)eta / 60, (int)eta % 60);
    }
    fprintf(stderr, "%s%d/%d streams reading%s | %ld frames | %.1f frames/s | latency p50 %.1f p99 %.1f ms%s%s%s",
            sl->tty ? "\r\033[K" : "vidpipe run: ", reading, n, failed ? " (some failed)" : "", s.frames, fps, p50,
            p99, gpu, prog, sl->tty ? "" : "\n");
    fflush(stderr);
}

static void *status_main(void *arg)
{
    status_line *sl = arg;
    long last_frames = 0;
    double last_t = 0;
    int period = sl->tty ? 1 : 10;
    pthread_mutex_lock(&sl->mu);
    while (!sl->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += period;
        if (pthread_cond_timedwait(&sl->cv, &sl->mu, &ts) == 0 || sl->stop)
            continue;
        pthread_mutex_unlock(&sl->mu);
        status_print(sl, &last_frames, &last_t);
        pthread_mutex_lock(&sl->mu);
    }
    pthread_mutex_unlock(&sl->mu);
    if (sl->tty)
        fprintf(stderr, "\r\033[K");
    return NULL;
}

static void print_latency(const char *name, const vp_latency *l)
{
    if (l->n)
        fprintf(stderr, "  %-12s n=%-7ld mean %8.3f  p50 %8.3f  p99 %8.3f  max %8.3f ms\n", name, l->n, l->mean,
                l->p50, l->p99, l->max);
}

static void pool_json(cJSON *o, const char *k, const vp_mem_pool_stats *ps)
{
    cJSON *x = cJSON_AddObjectToObject(o, k);
    cJSON_AddNumberToObject(x, "allocs", (double)ps->allocs);
    cJSON_AddNumberToObject(x, "fresh", (double)ps->fresh);
    cJSON_AddNumberToObject(x, "reuses", (double)ps->reuses);
    cJSON_AddNumberToObject(x, "returns", (double)ps->returns);
    cJSON_AddNumberToObject(x, "failures", (double)ps->failures);
    cJSON_AddNumberToObject(x, "bad_frees", (double)ps->bad_frees);
    cJSON_AddNumberToObject(x, "blocks_out", (double)ps->blocks_out);
    cJSON_AddNumberToObject(x, "bytes_out", (double)ps->bytes_out);
    cJSON_AddNumberToObject(x, "peak_bytes_out", (double)ps->peak_bytes_out);
    cJSON_AddNumberToObject(x, "blocks_free", (double)ps->blocks_free);
    cJSON_AddNumberToObject(x, "bytes_free", (double)ps->bytes_free);
}

static void print_pool(const char *name, const vp_mem_pool_stats *ps)
{
    fprintf(stderr, "  pool %-7s %ld allocations (%ld fresh, %ld reused), %ld returned, %ld blocks / %.1f KiB held, "
                    "peak %.1f KiB, %.1f KiB in free lists%s\n",
            name, ps->allocs, ps->fresh, ps->reuses, ps->returns, ps->blocks_out, (double)ps->bytes_out / 1024.0,
            (double)ps->peak_bytes_out / 1024.0, (double)ps->bytes_free / 1024.0,
            ps->failures || ps->bad_frees ? ", FAILURES OR BAD FREES (see the log)" : "");
}

/* "cpu_ms_per_frame_by_thread" of `frames` frames into o */
static void thread_cpu_json(cJSON *o, const vp_thread_cpu *t, long frames)
{
    double per = frames ? 1e3 / (double)frames : 0;
    cJSON *x = cJSON_AddObjectToObject(o, "cpu_ms_per_frame_by_thread");
    cJSON_AddNumberToObject(x, "sources", t->sources_s * per);
    cJSON_AddNumberToObject(x, "infer", t->infer_s * per);
    cJSON_AddNumberToObject(x, "results", t->results_s * per);
    cJSON_AddNumberToObject(x, "other", t->other_s * per);
}

static void write_stats_json(FILE *f, const vp_pipeline_config *cfg, const vp_pipeline_stats *s,
                             const vp_stream_stats *st, int n)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "wall_s", s->wall_s);
    cJSON_AddNumberToObject(o, "cpu_s", s->cpu_s);
    cJSON_AddNumberToObject(o, "frames", (double)s->frames);
    cJSON_AddNumberToObject(o, "fps", s->wall_s > 0 ? (double)s->frames / s->wall_s : 0);
    cJSON_AddNumberToObject(o, "cpu_ms_per_frame", s->frames ? s->cpu_s * 1e3 / (double)s->frames : 0);
    thread_cpu_json(o, &s->by_thread, s->frames);
    /* the steady state (see vp_pipeline_stats): every source running */
    cJSON *w = cJSON_AddObjectToObject(o, "steady");
    cJSON_AddNumberToObject(w, "wall_s", s->steady.wall_s);
    cJSON_AddNumberToObject(w, "frames", (double)s->steady.frames);
    cJSON_AddNumberToObject(w, "fps", s->steady.wall_s > 0 ? (double)s->steady.frames / s->steady.wall_s : 0);
    cJSON_AddNumberToObject(w, "cpu_ms_per_frame", s->steady.frames ? s->steady.cpu_s * 1e3 / (double)s->steady.frames : 0);
    thread_cpu_json(w, &s->steady.by_thread, s->steady.frames);
    cJSON_AddNumberToObject(o, "batches", (double)s->batches);
    cJSON_AddNumberToObject(o, "mean_batch", s->mean_batch);
    cJSON_AddNumberToObject(o, "h2d_bytes", (double)s->h2d_bytes);
    cJSON_AddNumberToObject(o, "d2h_bytes", (double)s->d2h_bytes);
    cJSON_AddNumberToObject(o, "copy_bytes_per_frame",
                            s->frames ? (double)(s->h2d_bytes + s->d2h_bytes) / (double)s->frames : 0);
    cJSON_AddNumberToObject(o, "engine_errors", (double)s->engine_errors);
    cJSON_AddNumberToObject(o, "sink_errors", (double)s->sink_errors);
    cJSON *snaps = cJSON_AddArrayToObject(o, "snapshots"); /* one entry per snapshot sink */
    for (int i = 0; i < cfg->n_sinks && i < VP_PIPE_MAX_SINKS; i++) {
        if (cfg->sinks[i].kind != VP_SINK_SNAPSHOT)
            continue;
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "sink", i);
        cJSON_AddStringToObject(x, "path", cfg->sinks[i].path ? cfg->sinks[i].path : "");
        cJSON_AddNumberToObject(x, "pictures", (double)s->snapshots[i]);
        cJSON_AddItemToArray(snaps, x);
    }
    cJSON *pools = cJSON_AddObjectToObject(o, "memory_pools"); /* GPU path; zeros on the CPU path */
    pool_json(pools, "device", &s->device_pool);
    pool_json(pools, "host", &s->host_pool);
    cJSON *stages = cJSON_AddObjectToObject(o, "stages_ms");
    for (int i = 0; i < VP_STAGE_COUNT; i++) {
        cJSON *l = cJSON_AddObjectToObject(stages, vp_stage_name(i));
        cJSON_AddNumberToObject(l, "n", (double)s->stage[i].n);
        cJSON_AddNumberToObject(l, "mean", s->stage[i].mean);
        cJSON_AddNumberToObject(l, "p50", s->stage[i].p50);
        cJSON_AddNumberToObject(l, "p99", s->stage[i].p99);
    }
    cJSON *arr = cJSON_AddArrayToObject(o, "streams");
    for (int i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", st[i].id);
        cJSON_AddNumberToObject(x, "decoded", (double)st[i].frames_decoded);
        cJSON_AddNumberToObject(x, "processed", (double)st[i].frames_processed);
        cJSON_AddNumberToObject(x, "dropped", (double)st[i].frames_dropped);
        cJSON_AddNumberToObject(x, "decode_errors", (double)st[i].decode_errors);
        cJSON_AddNumberToObject(x, "reconnects", (double)st[i].reconnects);
        cJSON_AddNumberToObject(x, "detections", (double)st[i].detections);
        cJSON_AddStringToObject(x, "decoder", vp_hw_name(st[i].decoder));
        cJSON_AddBoolToObject(x, "failed", st[i].failed);
        cJSON_AddStringToObject(x, "error", st[i].error);
        cJSON_AddNumberToObject(x, "latency_p50_ms", st[i].latency.p50);
        cJSON_AddNumberToObject(x, "latency_p99_ms", st[i].latency.p99);
        cJSON_AddItemToArray(arr, x);
    }
    char *txt = cJSON_PrintUnformatted(o);
    if (txt)
        fprintf(f, "%s\n", txt);
    free(txt);
    cJSON_Delete(o);
}

int vp_cmd_run(int argc, char **argv)
{
    const char *config_path = NULL, *stats_path = NULL;
    cJSON *flags = cJSON_CreateObject();
    int quiet = 0;
    if (!flags)
        return EXIT_RUNTIME;
    int code = 0;
    for (int i = 2; i < argc && !code; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        const struct run_flag *f = NULL;
        for (size_t k = 0; k < sizeof run_flags / sizeof *run_flags; k++)
            if (!strcmp(a, run_flags[k].flag))
                f = &run_flags[k];
        if (f && f->type == F_TRUE) {
            json_set(flags, f->path, cJSON_CreateTrue());
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!v) {
            code = usage("%s needs a value", a);
            break;
        }
        if (f) {
            i++;
            if (f->type == F_NUMBER) {
                char *end;
                double d = strtod(v, &end);
                if (!*v || *end) {
                    code = usage("expected a number, got '%s'", v);
                    break;
                }
                json_set(flags, f->path, cJSON_CreateNumber(d));
            } else {
                json_set(flags, f->path, cJSON_CreateString(v));
            }
        } else if (!strcmp(a, "--config")) {
            config_path = v, i++;
        } else if (!strcmp(a, "--stats")) {
            stats_path = v, i++;
        } else if (!strcmp(a, "--source")) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "uri", v);
            cJSON_AddItemToArray(array_of(flags, "sources"), s);
            i++;
        } else if (!strcmp(a, "--sink")) {
            /* TYPE:PATH, or a path ending in .jsonl / "-" (JSON Lines) */
            const char *colon = strchr(v, ':');
            cJSON *s = cJSON_CreateObject();
            if (colon && colon - v < 16 && strncmp(v, "/", 1)) {
                char type[16];
                memcpy(type, v, (size_t)(colon - v));
                type[colon - v] = 0;
                cJSON_AddStringToObject(s, "type", type);
                cJSON_AddStringToObject(s, "path", colon + 1);
            } else {
                cJSON_AddStringToObject(s, "type", "jsonl");
                cJSON_AddStringToObject(s, "path", v);
            }
            cJSON_AddItemToArray(array_of(flags, "sinks"), s);
            i++;
        } else {
            code = usage("run: unknown option '%s'", a);
        }
    }
    if (code) {
        cJSON_Delete(flags);
        return code;
    }

    /* the document: the config file, then the flags on top */
    cJSON *doc = NULL;
    const char *name = "command line";
    if (config_path) {
        size_t len = 0;
        char *text = read_file(config_path, &len);
        if (!text) {
            fprintf(stderr, "vidpipe: %s: cannot read: %s\n", config_path, strerror(errno));
            cJSON_Delete(flags);
            return EXIT_USAGE;
        }
        doc = cJSON_ParseWithLength(text, len);
        if (!doc || !cJSON_IsObject(doc)) {
            /* let the parser word the error (line, column) */
            char err[4096];
            vp_pipeline_config tmp;
            vp_pipeline_config_default(&tmp);
            vp_pipeline_config_parse(text, len, config_path, &tmp, err, sizeof err);
            vp_pipeline_config_free(&tmp);
            fprintf(stderr, "%s%s", err, err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
            free(text);
            cJSON_Delete(doc);
            cJSON_Delete(flags);
            return EXIT_USAGE;
        }
        free(text);
        name = config_path;
    } else {
        doc = cJSON_CreateObject();
    }
    /* merge flags: objects key by key, arrays appended */
    for (cJSON *sec = flags->child; sec; sec = sec->next) {
        cJSON *dst = cJSON_GetObjectItemCaseSensitive(doc, sec->string);
        if (cJSON_IsArray(sec)) {
            if (!dst)
                dst = cJSON_AddArrayToObject(doc, sec->string);
            if (cJSON_IsArray(dst))
                for (cJSON *it = sec->child; it; it = it->next)
                    cJSON_AddItemToArray(dst, cJSON_Duplicate(it, 1));
        } else if (cJSON_IsObject(sec)) {
            for (cJSON *kv = sec->child; kv; kv = kv->next) {
                char path[256];
                snprintf(path, sizeof path, "%s.%s", sec->string, kv->string);
                json_set(doc, path, cJSON_Duplicate(kv, 1));
            }
        } else {
            json_set(doc, sec->string, cJSON_Duplicate(sec, 1));
        }
    }
    cJSON_Delete(flags);
    char *text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!text)
        return EXIT_RUNTIME;

    vp_pipeline_config cfg;
    vp_pipeline_config_default(&cfg);
    char err[8192];
    int rc = vp_pipeline_config_parse(text, strlen(text), name, &cfg, err, sizeof err);
    free(text);
    if (rc) {
        fprintf(stderr, "%s%s", err, err[0] && err[strlen(err) - 1] == '\n' ? "" : "\n");
        vp_pipeline_config_free(&cfg);
        return EXIT_USAGE;
    }
    vp_pipeline *pl = NULL;
    rc = vp_pipeline_create(&cfg, &pl, err, sizeof err);
    if (rc) {
        fprintf(stderr, "vidpipe: %s\n", err);
        vp_pipeline_free(&pl);
        vp_pipeline_config_free(&cfg);
        return rc == VP_ERR_NOMEM || rc == VP_ERR_BACKEND ? EXIT_RUNTIME : EXIT_USAGE;
    }
    /* the GPU monitor (NVML, when present) and the HTTP endpoint */
    vp_nvml_monitor *mon = NULL;
    vp_http *http = NULL;
    if (cfg.nvml && (cfg.http_port || cfg.backend == VP_BACKEND_CUDA)) {
        vp_nvml_config nc = {.interval_ms = (unsigned)cfg.nvml_interval_ms, .gpu = cfg.gpu,
                             .mem_warn_percent = cfg.mem_warn_percent, .temp_warn_c = cfg.temp_warn_c};
        if (vp_nvml_monitor_create(&nc, &mon))
            fprintf(stderr, "vidpipe: GPU monitor not started (see above); the run goes on\n");
    }
    if (cfg.http_port) {
        vp_http_options ho;
        vp_http_options_default(&ho);
        if (cfg.http_listen)
            ho.listen = cfg.http_listen;
        ho.port = cfg.http_port;
        ho.token = getenv(cfg.http_token_env ? cfg.http_token_env : "VIDPIPE_TOKEN");
        if (mon)
            ho.hook = vp_http_nvml_hook(mon);
        vp_pipeline_set_serve(pl, cfg.serve);
        if ((rc = vp_http_start(pl, &ho, &http, err, sizeof err))) {
            fprintf(stderr, "vidpipe: monitor: %s\n", err);
            vp_nvml_monitor_free(&mon);
            vp_pipeline_free(&pl);
            vp_pipeline_config_free(&cfg);
            return EXIT_USAGE;
        }
        fprintf(stderr, "vidpipe run: HTTP endpoint on %s:%d (/metrics, /stats, /sources)\n",
                cfg.http_listen ? cfg.http_listen : "127.0.0.1", vp_http_port(http));
    }
    /* NVTX ranges for Nsight when profiling and the build has NVTX */
    vp_nvtx *nvtx = NULL;
    if (cfg.trace_path && vp_nvtx_built() &&
        vp_nvtx_create(vp_span_stage_names, VP_SPAN_STAGE_COUNT, &nvtx) == VP_OK &&
        vp_pipeline_set_span_hooks(pl, vp_nvtx_hooks(), nvtx))
        vp_nvtx_free(&nvtx);
    running = pl;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    rc = vp_pipeline_start(pl);
    status_line sl = {.pl = pl, .mon = mon, .max_frames = cfg.max_frames, .tty = isatty(2)};
    int sl_on = !rc && !quiet && pthread_mutex_init(&sl.mu, NULL) == 0;
    if (sl_on && pthread_cond_init(&sl.cv, NULL)) {
        pthread_mutex_destroy(&sl.mu);
        sl_on = 0;
    }
    if (sl_on && pthread_create(&sl.thread, NULL, status_main, &sl)) {
        pthread_cond_destroy(&sl.cv);
        pthread_mutex_destroy(&sl.mu);
        sl_on = 0;
    }
    int wrc = rc ? rc : vp_pipeline_wait(pl);
    if (sl_on) {
        pthread_mutex_lock(&sl.mu);
        sl.stop = 1;
        pthread_cond_signal(&sl.cv);
        pthread_mutex_unlock(&sl.mu);
        pthread_join(sl.thread, NULL);
        pthread_cond_destroy(&sl.cv);
        pthread_mutex_destroy(&sl.mu);
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    running = NULL;
    vp_http_stop(&http);
    vp_nvml_monitor_free(&mon);
    if (cfg.trace_path && vp_pipeline_spans(pl)) {
        vp_trace_opts to = {.process_name = "vidpipe run"};
        if (vp_trace_write_file(vp_pipeline_spans(pl), cfg.trace_path, &to))
            wrc = wrc ? wrc : VP_ERR_IO;
        else if (!quiet)
            fprintf(stderr, "vidpipe run: trace written to %s (open it in Perfetto or chrome://tracing)\n",
                    cfg.trace_path);
    }

    vp_pipeline_stats s;
    int n = vp_pipeline_get_stats(pl, &s, NULL, 0);
    vp_stream_stats *st = calloc((size_t)(n ? n : 1), sizeof *st);
    if (st)
        n = vp_pipeline_get_stats(pl, &s, st, n);
    if (!quiet && st) {
        fprintf(stderr, "vidpipe run: %ld frames in %.2f s (%.1f frames/s), %ld batches (mean %.2f), host CPU %.3f ms/frame",
                s.frames, s.wall_s, s.wall_s > 0 ? (double)s.frames / s.wall_s : 0.0, s.batches, s.mean_batch,
                s.frames ? s.cpu_s * 1e3 / (double)s.frames : 0.0);
        if (s.h2d_bytes || s.d2h_bytes)
            fprintf(stderr, ", host<->device %.0f bytes/frame", s.frames ? (double)(s.h2d_bytes + s.d2h_bytes) / (double)s.frames : 0.0);
        fprintf(stderr, "\n");
        if (s.frames) {
            double per = 1e3 / (double)s.frames;
            fprintf(stderr, "  host CPU by thread, ms/frame: sources %.3f  infer %.3f  results %.3f  other %.3f\n",
                    s.by_thread.sources_s * per, s.by_thread.infer_s * per, s.by_thread.results_s * per,
                    s.by_thread.other_s * per);
        }
        if (s.steady.frames && s.steady.wall_s > 0)
            fprintf(stderr, "  steady state (every source running): %ld frames in %.2f s (%.1f frames/s), host CPU %.3f "
                            "ms/frame\n",
                    s.steady.frames, s.steady.wall_s, (double)s.steady.frames / s.steady.wall_s,
                    s.steady.cpu_s * 1e3 / (double)s.steady.frames);
        for (int i = 0; i < n; i++) {
            fprintf(stderr, "  stream %-10s %s  decoded %ld  processed %ld  dropped %ld  decode errors %ld  reconnects %ld  "
                            "detections %ld  latency p50 %.2f p99 %.2f ms%s%s\n",
                    st[i].id, vp_hw_name(st[i].decoder), st[i].frames_decoded, st[i].frames_processed,
                    st[i].frames_dropped, st[i].decode_errors, st[i].reconnects, st[i].detections, st[i].latency.p50,
                    st[i].latency.p99, st[i].failed ? "  FAILED: " : "", st[i].failed ? st[i].error : "");
        }
        for (int i = 0; i < cfg.n_sinks && i < VP_PIPE_MAX_SINKS; i++)
            if (cfg.sinks[i].kind == VP_SINK_SNAPSHOT)
                fprintf(stderr, "  snapshots    %ld pictures: %s\n", s.snapshots[i], cfg.sinks[i].path);
        for (int i = 0; i < VP_STAGE_COUNT; i++)
            print_latency(vp_stage_name(i), &s.stage[i]);
        if (s.device_pool.allocs || s.host_pool.allocs) {
            /* held: until the pipeline is freed; what is still held then is a leak, logged */
            print_pool("device", &s.device_pool);
            print_pool("host", &s.host_pool);
        } else {
            fprintf(stderr, "  pools        none (CPU path: no device or pinned-host memory)\n");
        }
    }
    if (stats_path && st) {
        FILE *f = !strcmp(stats_path, "-") ? stdout : fopen(stats_path, "w");
        if (!f) {
            fprintf(stderr, "vidpipe: --stats %s: %s\n", stats_path, strerror(errno));
        } else {
            write_stats_json(f, &cfg, &s, st, n);
            if (f != stdout)
                fclose(f);
        }
    }
    free(st);
    vp_pipeline_free(&pl);
    vp_nvtx_free(&nvtx); /* after the recorder that calls into it */
    vp_pipeline_config_free(&cfg);
    return wrc ? EXIT_RUNTIME : 0;
}
