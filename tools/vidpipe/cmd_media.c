/*
 * vidpipe decode        decode a file or URL, optionally printing per-frame
 *                       MD5s of the visible planes (the check that NVDEC and
 *                       libavcodec give the same pictures);
 * vidpipe decode-bench  N threads each decoding their own copy of a file in a
 *                       loop, for the decode throughput and host CPU cost.
 */
#include "cmd_media.h"
#include "vidpipe/media.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "vidpipe: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see 'vidpipe --help')\n");
    return EXIT_USAGE;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Input problems exit 2, everything else 1. */
static int exit_for(int status)
{
    switch (status) {
    case VP_ERR_INVALID: case VP_ERR_UNSUPPORTED: case VP_ERR_IO: case VP_ERR_NOT_FOUND: case VP_ERR_SHAPE:
        return EXIT_USAGE;
    default:
        return EXIT_RUNTIME;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct media_opts {
    vp_source_options src;
    vp_decoder_options dec;
} media_opts;

/* Options shared by decode and decode-bench; returns 1 if argv[*i] was one,
 * with *err set to an exit code on a bad value. */
static int parse_media(int argc, char **argv, int *i, media_opts *o, int *err)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    long n = 0;
    *err = 0;
    if (!strcmp(a, "--gpu-only")) {
        o->dec.gpu_only = 1;
        return 1;
    }
    if (!strcmp(a, "--live")) {
        o->src.live = 1;
        return 1;
    }
    if (strcmp(a, "--hw") && strcmp(a, "--threads") && strcmp(a, "--device") && strcmp(a, "--rtsp-transport") &&
        strcmp(a, "--max-reconnects") && strcmp(a, "--timeout-ms"))
        return 0;
    if (!v) {
        *err = usage("%s needs a value", a);
        return 1;
    }
    (*i)++;
    if (!strcmp(a, "--hw")) {
        if (!strcmp(v, "auto")) o->dec.hw = VP_HW_AUTO;
        else if (!strcmp(v, "nvdec")) o->dec.hw = VP_HW_NVDEC;
        else if (!strcmp(v, "cpu")) o->dec.hw = VP_HW_CPU;
        else *err = usage("--hw: expected auto, nvdec or cpu, got '%s'", v);
    } else if (!strcmp(a, "--rtsp-transport")) {
        if (!strcmp(v, "tcp")) o->src.rtsp_transport = VP_RTSP_TCP;
        else if (!strcmp(v, "udp")) o->src.rtsp_transport = VP_RTSP_UDP;
        else *err = usage("--rtsp-transport: expected tcp or udp, got '%s'", v);
    } else if (!strcmp(a, "--threads")) {
        if (parse_int(v, 0, 256, &n)) *err = usage("--threads: expected 0 (auto) to 256, got '%s'", v);
        o->dec.thread_count = (int)n;
    } else if (!strcmp(a, "--device")) {
        if (parse_int(v, 0, 64, &n)) *err = usage("--device: expected a CUDA device number, got '%s'", v);
        o->dec.device = (int)n;
    } else if (!strcmp(a, "--max-reconnects")) {
        if (parse_int(v, 0, 1000000, &n)) *err = usage("--max-reconnects: expected a count (0 = forever), got '%s'", v);
        o->src.max_reconnects = (int)n;
    } else {
        if (parse_int(v, 100, 3600000, &n)) *err = usage("--timeout-ms: expected 100 to 3600000, got '%s'", v);
        o->src.timeout_ms = (int)n;
    }
    return 1;
}

static void media_defaults(media_opts *o)
{
    vp_source_options_default(&o->src);
    vp_decoder_options_default(&o->dec);
}

/* decode ---------------------------------------------------------------- */
typedef struct decode_run {
    int md5;
    long max_frames;
    long frames;
    int code;
} decode_run;

/* Receives every frame available; returns 0, or an exit code. */
static int drain(vp_decoder *dec, decode_run *r, int *eof)
{
    for (;;) {
        if (r->max_frames >= 0 && r->frames >= r->max_frames)
            return 0;
        vp_frame *f;
        int rc = vp_decoder_receive(dec, &f);
        if (rc == VP_ERR_AGAIN)
            return 0;
        if (rc == VP_ERR_EOF) {
            *eof = 1;
            return 0;
        }
        if (rc) {
            fprintf(stderr, "vidpipe: %s\n", vp_decoder_last_error(dec));
            return exit_for(rc);
        }
        if (r->md5) {
            char y[33], uv[33];
            if ((rc = vp_frame_md5(f, y, uv))) {
                fprintf(stderr, "vidpipe: frame %ld: cannot read it back: %s\n", r->frames, vp_strerror(rc));
                vp_frame_unref(&f);
                return EXIT_RUNTIME;
            }
            printf("frame %lld %lld %d %d %s %s %s\n", (long long)f->index, (long long)f->pts, f->width, f->height,
                   vp_pixfmt_name(f->format), y, uv);
        }
        r->frames++;
        vp_frame_unref(&f);
    }
}

int vp_cmd_decode(int argc, char **argv)
{
    media_opts o;
    decode_run r = {.max_frames = -1};
    const char *input = NULL;
    int err;
    char msg[1024];
    media_defaults(&o);
    for (int i = 2; i < argc; i++) {
        long n;
        if (parse_media(argc, argv, &i, &o, &err)) {
            if (err)
                return err;
        } else if (!strcmp(argv[i], "--md5")) {
            r.md5 = 1;
        } else if (!strcmp(argv[i], "--frames") && i + 1 < argc) {
            if (parse_int(argv[++i], 0, 1L << 40, &n))
                return usage("--frames: expected a count, got '%s'", argv[i]);
            r.max_frames = n;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage("decode: unknown or incomplete option '%s'", argv[i]);
        } else if (!input) {
            input = argv[i];
        } else {
            return usage("decode: one INPUT only, got '%s' too", argv[i]);
        }
    }
    if (!input)
        return usage("%s", "decode: INPUT is required");
    setvbuf(stdout, NULL, _IOLBF, 0);

    vp_source *src = NULL;
    vp_decoder *dec = NULL;
    int rc = vp_source_open(input, &o.src, &src, msg, sizeof msg);
    if (rc) {
        fprintf(stderr, "vidpipe: %s\n", msg);
        return exit_for(rc);
    }
    vp_stream_info info;
    vp_source_info(src, &info);
    o.dec.codec = info.codec;
    o.dec.name = input;
    if ((rc = vp_decoder_create(&o.dec, &dec, msg, sizeof msg))) {
        fprintf(stderr, "vidpipe: %s\n", msg);
        vp_source_close(&src);
        return rc == VP_ERR_UNSUPPORTED || rc == VP_ERR_INVALID ? EXIT_USAGE : EXIT_RUNTIME;
    }
    double t0 = now_s();
    long packets = 0;
    int eof = 0, code = 0;
    while (!code && !eof && (r.max_frames < 0 || r.frames < r.max_frames)) {
        vp_packet pkt;
        rc = vp_source_read(src, &pkt);
        if (rc == VP_ERR_EOF) {
            const char *why = vp_source_last_error(src);
            if (why[0]) /* a live source that gave up */
                fprintf(stderr, "vidpipe: %s\n", why);
            vp_decoder_send(dec, NULL);
            while (!code && !eof && (r.max_frames < 0 || r.frames < r.max_frames))
                code = drain(dec, &r, &eof);
            break;
        }
        if (rc) {
            fprintf(stderr, "vidpipe: %s\n", vp_source_last_error(src));
            code = exit_for(rc);
            break;
        }
        packets++;
        while ((rc = vp_decoder_send(dec, &pkt)) == VP_ERR_AGAIN && !code) {
            int before = (int)r.frames;
            code = drain(dec, &r, &eof);
            if (r.max_frames >= 0 && r.frames >= r.max_frames)
                break;
            if (!code && (int)r.frames == before) { /* no progress: the decoder is stuck */
                fprintf(stderr, "vidpipe: %s: decoder refuses input and gives no frames\n", input);
                code = EXIT_RUNTIME;
            }
        }
        if (!code && rc && rc != VP_ERR_AGAIN) {
            fprintf(stderr, "vidpipe: %s\n", vp_decoder_last_error(dec));
            code = exit_for(rc);
        }
        if (!code)
            code = drain(dec, &r, &eof);
    }
    double dt = now_s() - t0;
    long errors = vp_decoder_errors(dec);
    if (!code && r.frames == 0 && r.max_frames != 0) {
        fprintf(stderr, "vidpipe: %s: no decodable video (%ld packets, %ld rejected as corrupt)\n", input, packets, errors);
        code = EXIT_USAGE;
    }
    if (!code)
        fprintf(stderr, "vidpipe: %s: %ld frames decoded (%s, %s) in %.2f s, %.1f frames/s%s\n", input, r.frames,
                vp_codec_name(info.codec), vp_hw_name(vp_decoder_hw(dec)), dt, dt > 0 ? r.frames / dt : 0.0,
                errors ? ", some packets corrupt" : "");
    vp_decoder_free(&dec);
    vp_source_close(&src);
    return code;
}

/* decode-bench ---------------------------------------------------------- */
typedef struct bench_shared {
    const char *input;
    media_opts o;
    atomic_int stop;
} bench_shared;

typedef struct bench_thread {
    bench_shared *sh;
    pthread_t tid;
    atomic_long frames; /* read by the main thread while decoding */
    atomic_int done;
    int status;
    char err[512];
} bench_thread;

/* Feeds packets of one pass over the input; returns 0 at its end. */
static int bench_pass(bench_thread *t, vp_decoder *dec)
{
    vp_source *src;
    int rc = vp_source_open(t->sh->input, &t->sh->o.src, &src, t->err, sizeof t->err);
    if (rc)
        return rc;
    while (!atomic_load_explicit(&t->sh->stop, memory_order_relaxed)) {
        vp_packet pkt;
        if ((rc = vp_source_read(src, &pkt))) {
            if (rc == VP_ERR_EOF)
                rc = 0;
            else
                snprintf(t->err, sizeof t->err, "%s", vp_source_last_error(src));
            break;
        }
        for (;;) {
            rc = vp_decoder_send(dec, &pkt);
            vp_frame *f;
            int r2;
            while ((r2 = vp_decoder_receive(dec, &f)) == 0) {
                vp_frame_unref(&f);
                atomic_fetch_add_explicit(&t->frames, 1, memory_order_relaxed);
            }
            if (r2 != VP_ERR_AGAIN && r2 != VP_ERR_EOF) {
                snprintf(t->err, sizeof t->err, "%s", vp_decoder_last_error(dec));
                rc = r2;
                break;
            }
            if (rc != VP_ERR_AGAIN)
                break;
        }
        if (rc) {
            if (!t->err[0])
                snprintf(t->err, sizeof t->err, "%s", vp_decoder_last_error(dec));
            break;
        }
    }
    vp_source_close(&src);
    return rc;
}

static void *bench_main(void *arg)
{
    bench_thread *t = arg;
    vp_source *src;
    vp_decoder *dec = NULL;
    int rc = vp_source_open(t->sh->input, &t->sh->o.src, &src, t->err, sizeof t->err);
    if (rc) {
        t->status = rc;
        atomic_store(&t->done, 1);
        return NULL;
    }
    vp_stream_info info;
    vp_source_info(src, &info);
    vp_source_close(&src);
    vp_decoder_options dopt = t->sh->o.dec;
    dopt.codec = info.codec;
    dopt.name = t->sh->input;
    if ((rc = vp_decoder_create(&dopt, &dec, t->err, sizeof t->err))) {
        /* hardware that is not there is a runtime failure (1), not bad input */
        t->status = rc == VP_ERR_NOT_FOUND ? VP_ERR_BACKEND : rc;
        atomic_store(&t->done, 1);
        return NULL;
    }
    /* the decoder lives across passes: each pass starts with parameter sets and an IDR */
    while (!rc && !atomic_load(&t->sh->stop))
        rc = bench_pass(t, dec);
    t->status = rc;
    atomic_store(&t->done, 1);
    vp_decoder_free(&dec);
    return NULL;
}

int vp_cmd_decode_bench(int argc, char **argv)
{
    bench_shared sh;
    memset(&sh, 0, sizeof sh);
    media_defaults(&sh.o);
    sh.o.dec.hw = VP_HW_NVDEC;
    int streams[16] = {1, 4, 8, 16}, ns = 4, json = 0, err;
    double seconds = 5;
    for (int i = 2; i < argc; i++) {
        if (parse_media(argc, argv, &i, &sh.o, &err)) {
            if (err)
                return err;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--streams") && i + 1 < argc) {
            char *p = argv[++i], *end;
            ns = 0;
            while (*p) {
                long v = strtol(p, &end, 10);
                if (end == p || v < 1 || v > 256 || (*end && *end != ',') || ns == 16)
                    return usage("--streams: expected a list like 1,4,8,16 (at most 16 entries, each 1..256), got '%s'",
                                 argv[i]);
                streams[ns++] = (int)v;
                p = *end ? end + 1 : end;
            }
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end || !(seconds > 0 && seconds <= 3600))
                return usage("--seconds: expected a duration in seconds (0 < S <= 3600), got '%s'", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return usage("decode-bench: unknown or incomplete option '%s'", argv[i]);
        } else if (!sh.input) {
            sh.input = argv[i];
        } else {
            return usage("decode-bench: one INPUT only, got '%s' too", argv[i]);
        }
    }
    if (!sh.input)
        return usage("%s", "decode-bench: INPUT is required");
    if (sh.o.dec.hw == VP_HW_AUTO)
        return usage("%s", "decode-bench: --hw must be nvdec or cpu (a benchmark names what it measures)");
    sh.o.src.live = 0;
    if (!json)
        printf("%-8s %-6s %10s %9s %12s %12s %14s\n", "streams", "hw", "frames", "seconds", "frames/s", "per stream",
               "cpu ms/frame");
    int code = 0;
    for (int k = 0; k < ns && !code; k++) {
        int n = streams[k];
        bench_thread *th = calloc((size_t)n, sizeof *th);
        if (!th) {
            fprintf(stderr, "vidpipe: out of memory\n");
            return EXIT_RUNTIME;
        }
        atomic_store(&sh.stop, 0);
        double t_start = now_s();
        int started = 0;
        for (int i = 0; i < n; i++) {
            th[i].sh = &sh;
            if (pthread_create(&th[i].tid, NULL, bench_main, &th[i]) != 0) {
                fprintf(stderr, "vidpipe: cannot start thread %d of %d\n", i + 1, n);
                code = EXIT_RUNTIME;
                break;
            }
            started++;
        }
        /* The timed window is steady-state decoding: it opens once every
         * thread has its decoder and a first frame (or has ended) and closes
         * before the threads stop, so opening the sources, loading the
         * driver, creating the decoders and tearing them down stay out of
         * frames/s and CPU per frame (reported as setup). */
        const struct timespec tick = {0, 1000000};
        for (int ready = 0; !code && !ready && now_s() - t_start < 60;) {
            ready = 1;
            for (int i = 0; i < started; i++)
                ready &= atomic_load(&th[i].frames) > 0 || atomic_load(&th[i].done);
            if (!ready)
                nanosleep(&tick, NULL);
        }
        long f0 = 0, frames = 0;
        for (int i = 0; i < started; i++)
            f0 += atomic_load(&th[i].frames);
        double c0 = cpu_s(), t0 = now_s(), setup = t0 - t_start;
        struct timespec nap = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
        if (!code)
            nanosleep(&nap, NULL);
        for (int i = 0; i < started; i++)
            frames += atomic_load(&th[i].frames);
        frames -= f0;
        double wall = now_s() - t0, cpu = cpu_s() - c0;
        atomic_store(&sh.stop, 1);
        for (int i = 0; i < started; i++)
            pthread_join(th[i].tid, NULL);
        for (int i = 0; i < started && !code; i++)
            if (th[i].status) {
                fprintf(stderr, "vidpipe: stream %d: %s\n", i, th[i].err[0] ? th[i].err : vp_strerror(th[i].status));
                code = exit_for(th[i].status) == EXIT_USAGE ? EXIT_USAGE : EXIT_RUNTIME;
            }
        if (!code) {
            double fps = frames / wall, cpf = frames ? cpu * 1e3 / (double)frames : 0;
            if (json) {
                printf("{\"streams\":%d,\"hw\":\"%s\",\"frames\":%ld,\"seconds\":%.3f,\"fps\":%.1f,"
                       "\"fps_per_stream\":%.1f,\"cpu_ms_per_frame\":%.4f,\"setup_s\":%.3f,\"input\":\"",
                       n, vp_hw_name(sh.o.dec.hw), frames, wall, fps, fps / n, cpf, setup);
                for (const char *c = sh.input; *c; c++)
                    printf((unsigned char)*c < 0x20 ? "\\u%04x" : *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
                printf("\"}\n");
            }
            else
                printf("%-8d %-6s %10ld %9.2f %12.1f %12.1f %14.4f\n", n, vp_hw_name(sh.o.dec.hw), frames, wall, fps,
                       fps / n, cpf);
            fflush(stdout);
        }
        free(th);
    }
    return code;
}
