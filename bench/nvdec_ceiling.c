/*
 * vp_nvdec_ceiling: the NVDEC decode-only ceiling, a peer program that is
 * measured in the same run as `vidpipe decode-bench --hw nvdec`
 * (bench/nvdec_vs_ceiling.py runs both and prints the ratio).
 *
 * The loop is the minimal one of NVIDIA's samples and shares nothing with
 * vidpipe: one Annex-B H.264 or HEVC file is read into memory once; N threads
 * each own a parser (cuvidCreateVideoParser) and a decoder, created in the
 * sequence callback (the stream's min_num_decode_surfaces + a margin, NV12,
 * cudaVideoCreate_PreferCUVID), all on the device's primary context, made
 * current once per thread. Each thread feeds the file to cuvidParseVideoData
 * in fixed-size chunks (or, with --feed au, one access unit per call with
 * CUVID_PKT_ENDOFPICTURE, as vidpipe feeds it), restarting at the start of
 * the buffer at its end (the file starts with parameter sets and an IDR). The
 * decode callback calls cuvidDecodePicture; the display callback maps the
 * picture (cuvidMapVideoFrame64), unmaps it at once and counts it. --map
 * chooses how it waits for the picture's decode first: inside the map (as
 * NVIDIA's samples), polling cuvidGetDecodeStatus, or on an event of the
 * map's own stream.
 *
 * Host CPU: the process's CPU time (getrusage) per frame, split by the
 * workers' own thread CPU time (CLOCK_THREAD_CPUTIME_ID) spent
 *   parser        inside cuvidParseVideoData, callbacks excluded (NVIDIA's
 *                 bitstream parser: what an own parser would replace),
 *   decode        inside cuvidDecodePicture,
 *   map, unmap    inside cuvidMapVideoFrame64 / cuvidUnmapVideoFrame64,
 *   sequence      inside the sequence callback (decoder creation, normally
 *                 outside the timed window),
 *   worker_rest   the rest of the workers' time (the feeding loop),
 *   other_threads what the workers do not account for: the driver's own
 *                 threads and this program's main thread (asleep).
 * Two thread-CPU clock reads (a system call each, ~0.2-0.5 us) bracket every
 * driver call; --no-breakdown leaves them out to show what they cost. The
 * wall time inside decode and map is reported too: map waits for the picture's
 * decode, and wall >> CPU there means the driver sleeps instead of spinning.
 *
 * The timed window opens when every thread has created its decoder and
 * displayed a first picture, and closes when every thread has returned from
 * its last cuvidParseVideoData after the stop; thread start, decoder creation
 * and teardown are reported apart (setup_s, teardown_s), and the primary
 * context is retained once for the whole run (its creation time is printed).
 *
 * Exit status: 0; 1 on a CUDA/NVDEC failure (one line on stderr); 2 on bad
 * usage or input; 77 where no NVIDIA driver or GPU is usable (skip).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

typedef struct loadlog {
    char msg[256];
} loadlog;

/* The loader's messages ("Cannot load libcuda.so.1\n") are kept for our one
 * line instead of going to stderr. */
static void loader_log(void *ctx, const char *fmt, ...)
{
    loadlog *l = ctx;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->msg, sizeof l->msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(l->msg);
    while (n && (l->msg[n - 1] == '\n' || l->msg[n - 1] == '\r'))
        l->msg[--n] = 0;
}

#define FFNV_LOG_FUNC(logctx, msg, ...) loader_log((logctx), (msg), __VA_ARGS__)
#define FFNV_DEBUG_LOG_FUNC(logctx, msg, ...) ((void)(logctx))
#include <ffnvcodec/dynlink_loader.h>

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_SKIP = 77, MAX_ROWS = 16, MAX_STREAMS = 256 };

/* primary-context scheduling flags (CU_CTX_SCHED_*; the loader header names
 * only BLOCKING_SYNC) */
enum {
    SCHED_DEFAULT = -1, /* flags left as they are */
    SCHED_AUTO = 0,
    SCHED_SPIN = 1,
    SCHED_YIELD = 2,
    SCHED_BLOCKING = CU_CTX_SCHED_BLOCKING_SYNC
};

typedef struct options {
    const char *input;
    cudaVideoCodec codec;
    int streams[MAX_ROWS], nrows;
    double seconds;
    int json, breakdown, device, sched;
    int feed_au;            /* 0: fixed chunks, 1: one access unit per call */
    size_t chunk;           /* bytes per cuvidParseVideoData call (chunk feed) */
    unsigned display_delay; /* CUVIDPARSERPARAMS.ulMaxDisplayDelay */
    int extra_surfaces;     /* decode surfaces beyond min_num_decode_surfaces */
    int output_surfaces;    /* ulNumOutputSurfaces */
    int map_mode;           /* MAP_DIRECT, MAP_POLL or MAP_STREAM */
} options;

/* How the display callback waits for its picture before the map:
 *   direct  cuvidMapVideoFrame64 waits inside the driver (NVIDIA's samples),
 *   poll    cuvidGetDecodeStatus every 50 us until the picture is decoded,
 *           then the map (a map that finds its picture done),
 *   stream  the map on the thread's own stream (CUVIDPROCPARAMS.output_stream),
 *           then a blocking-sync event on that stream before the unmap. */
enum { MAP_DIRECT, MAP_POLL, MAP_STREAM };

typedef struct shared {
    const options *o;
    CudaFunctions *cu;
    CuvidFunctions *cv;
    CUdevice dev;
    CUcontext ctx; /* the device's primary context, retained */
    double ctx_ms; /* time cuDevicePrimaryCtxRetain took to create it */
    const uint8_t *data;
    size_t size;
    const size_t *au;  /* access-unit offsets, au[nau] == size (--feed au) */
    size_t nau;
    atomic_int stop;
    atomic_int failed;
    pthread_mutex_t err_lock;
    char err[512];
    pthread_barrier_t start, end;
} shared;

/* One per thread, on its own cache lines (the counters change every frame). */
typedef struct worker {
    _Alignas(64) shared *sh;
    int index;
    pthread_t tid;
    CUvideoparser parser;
    CUvideodecoder dec;
    CUstream stream; /* --map stream */
    CUevent mapped;  /* --map stream: blocking-sync, recorded after the map */
    long polls;      /* --map poll: cuvidGetDecodeStatus calls in the timed window */
    unsigned coded_w, coded_h;
    int surfaces;
    int counting;   /* 1 inside the timed window (set by this thread only) */
    int failed;
    size_t pos;     /* next byte offset (chunk) or access unit (au) */
    size_t warm_bytes;
    long frames, warm_frames, sequences;
    /* nanoseconds inside the timed window */
    int64_t cpu_total, cpu_parse, cpu_decode, cpu_map, cpu_unmap, cpu_seq;
    int64_t wall_decode, wall_map;
    int64_t setup_ns, teardown_ns;
} worker;

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t thread_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }
static int64_t mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static int64_t process_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + (int64_t)ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + (int64_t)ru.ru_stime.tv_usec) * 1000;
}

static const char *cu_err(const shared *sh, CUresult r)
{
    const char *name = NULL;
    if (sh->cu && sh->cu->cuGetErrorName && sh->cu->cuGetErrorName(r, &name) == CUDA_SUCCESS && name)
        return name;
    return "unknown CUDA error";
}

static const char *codec_name(cudaVideoCodec c) { return c == cudaVideoCodec_HEVC ? "hevc" : "h264"; }

/* Records the first failure of any thread and stops the row. Returns 0, the
 * parser callbacks' failure value. */
static int fail(worker *w, const char *fmt, ...)
{
    shared *sh = w->sh;
    va_list ap;
    w->failed = 1;
    pthread_mutex_lock(&sh->err_lock);
    if (!atomic_load(&sh->failed)) {
        int n = snprintf(sh->err, sizeof sh->err, "stream %d: ", w->index);
        va_start(ap, fmt);
        vsnprintf(sh->err + n, sizeof sh->err - (size_t)n, fmt, ap);
        va_end(ap);
        atomic_store(&sh->failed, 1);
    }
    pthread_mutex_unlock(&sh->err_lock);
    atomic_store(&sh->stop, 1);
    return 0;
}

/* ---- parser callbacks (inside cuvidParseVideoData, on the worker's thread) */

/* Creates the decoder for the first sequence; later calls (the parser may
 * announce the sequence again when the file restarts) keep it. Returns the
 * number of decode surfaces, which overrides the parser's. */
static int CUDAAPI on_sequence(void *user, CUVIDEOFORMAT *f)
{
    worker *w = user;
    shared *sh = w->sh;
    const options *o = sh->o;
    int timed = w->counting && o->breakdown;
    int64_t c0 = timed ? thread_ns() : 0;
    int surfaces = (int)f->min_num_decode_surfaces + o->extra_surfaces;
    int rc = surfaces;
    w->sequences++;
    if (w->dec) {
        if (f->coded_width != w->coded_w || f->coded_height != w->coded_h || surfaces > w->surfaces)
            rc = fail(w, "the stream changes from %ux%u (%d surfaces) to %ux%u (%d): one format per file only",
                      w->coded_w, w->coded_h, w->surfaces, f->coded_width, f->coded_height, surfaces);
        else
            rc = w->surfaces;
        goto done;
    }
    if (f->chroma_format != cudaVideoChromaFormat_420 || f->bit_depth_luma_minus8 != 0) {
        rc = fail(w, "only 8-bit 4:2:0 streams are measured (chroma format %d, %d-bit)", (int)f->chroma_format,
                  8 + f->bit_depth_luma_minus8);
        goto done;
    }
    CUVIDDECODECAPS caps;
    memset(&caps, 0, sizeof caps);
    caps.eCodecType = f->codec;
    caps.eChromaFormat = f->chroma_format;
    caps.nBitDepthMinus8 = f->bit_depth_luma_minus8;
    caps.bIsSupported = 1, caps.nMaxWidth = caps.nMaxHeight = caps.nMaxMBCount = ~0u;
    caps.nOutputFormatMask = 1u << cudaVideoSurfaceFormat_NV12; /* no caps query (old driver): creation tells */
    CUresult r = sh->cv->cuvidGetDecoderCaps ? sh->cv->cuvidGetDecoderCaps(&caps) : CUDA_SUCCESS;
    if (r != CUDA_SUCCESS) {
        rc = fail(w, "cuvidGetDecoderCaps failed: %s", cu_err(sh, r));
        goto done;
    }
    if (!caps.bIsSupported || f->coded_width > caps.nMaxWidth || f->coded_height > caps.nMaxHeight ||
        (f->coded_width >> 4) * (f->coded_height >> 4) > caps.nMaxMBCount ||
        !(caps.nOutputFormatMask & (1u << cudaVideoSurfaceFormat_NV12))) {
        rc = fail(w, "this GPU does not decode %s %ux%u to NV12", codec_name(f->codec), f->coded_width,
                  f->coded_height);
        goto done;
    }
    /* as NVIDIA's NvDecoder without crop or resize: the whole coded picture */
    CUVIDDECODECREATEINFO ci;
    memset(&ci, 0, sizeof ci);
    ci.ulWidth = f->coded_width;
    ci.ulHeight = f->coded_height;
    ci.ulNumDecodeSurfaces = (tcu_ulong)surfaces;
    ci.CodecType = f->codec;
    ci.ChromaFormat = f->chroma_format;
    ci.ulCreationFlags = cudaVideoCreate_PreferCUVID;
    ci.bitDepthMinus8 = f->bit_depth_luma_minus8;
    ci.ulMaxWidth = f->coded_width;
    ci.ulMaxHeight = f->coded_height;
    ci.OutputFormat = cudaVideoSurfaceFormat_NV12;
    ci.DeinterlaceMode = f->progressive_sequence ? cudaVideoDeinterlaceMode_Weave : cudaVideoDeinterlaceMode_Adaptive;
    ci.ulTargetWidth = f->coded_width;
    ci.ulTargetHeight = f->coded_height;
    ci.ulNumOutputSurfaces = (tcu_ulong)o->output_surfaces;
    ci.vidLock = NULL; /* the context is current on this thread for its whole life */
    r = sh->cv->cuvidCreateDecoder(&w->dec, &ci);
    if (r != CUDA_SUCCESS) {
        w->dec = NULL;
        rc = fail(w, "cuvidCreateDecoder %s %ux%u, %d surfaces, failed: %s", codec_name(f->codec), f->coded_width,
                  f->coded_height, surfaces, cu_err(sh, r));
        goto done;
    }
    w->coded_w = f->coded_width, w->coded_h = f->coded_height, w->surfaces = surfaces;
done:
    if (timed)
        w->cpu_seq += thread_ns() - c0;
    return rc;
}

static int CUDAAPI on_decode(void *user, CUVIDPICPARAMS *pp)
{
    worker *w = user;
    if (!w->dec)
        return fail(w, "a picture before any sequence header");
    int timed = w->counting && w->sh->o->breakdown;
    int64_t c0 = 0, m0 = 0;
    if (timed)
        c0 = thread_ns(), m0 = mono_ns();
    CUresult r = w->sh->cv->cuvidDecodePicture(w->dec, pp);
    if (timed) {
        w->wall_decode += mono_ns() - m0;
        w->cpu_decode += thread_ns() - c0;
    }
    if (r != CUDA_SUCCESS)
        return fail(w, "cuvidDecodePicture failed: %s", cu_err(w->sh, r));
    return 1;
}

static int CUDAAPI on_display(void *user, CUVIDPARSERDISPINFO *di)
{
    worker *w = user;
    if (!di)
        return 1; /* end of stream: never sent */
    CUVIDPROCPARAMS pp;
    memset(&pp, 0, sizeof pp);
    pp.progressive_frame = di->progressive_frame;
    pp.top_field_first = di->top_field_first;
    pp.unpaired_field = di->repeat_first_field < 0;
    CUdeviceptr ptr = 0;
    unsigned pitch = 0;
    int timed = w->counting && w->sh->o->breakdown;
    int64_t c0 = 0, c1 = 0, m0 = 0;
    if (timed)
        c0 = thread_ns(), m0 = mono_ns();
    const shared *sh = w->sh;
    CUresult r = CUDA_SUCCESS;
    if (sh->o->map_mode == MAP_POLL) {
        for (;;) {
            CUVIDGETDECODESTATUS st;
            memset(&st, 0, sizeof st);
            r = sh->cv->cuvidGetDecodeStatus(w->dec, di->picture_index, &st);
            if (w->counting)
                w->polls++;
            if (r != CUDA_SUCCESS)
                return fail(w, "cuvidGetDecodeStatus of picture %d failed: %s", di->picture_index, cu_err(sh, r));
            if (st.decodeStatus != cuvidDecodeStatus_InProgress)
                break;
            struct timespec nap = {0, 50000};
            nanosleep(&nap, NULL);
        }
    }
    pp.output_stream = w->stream;
    r = sh->cv->cuvidMapVideoFrame(w->dec, di->picture_index, &ptr, &pitch, &pp);
    if (r == CUDA_SUCCESS && w->stream) {
        r = sh->cu->cuEventRecord(w->mapped, w->stream);
        if (r == CUDA_SUCCESS)
            r = sh->cu->cuEventSynchronize(w->mapped);
        if (r != CUDA_SUCCESS)
            return fail(w, "the map's event on the thread's stream failed: %s", cu_err(sh, r));
    }
    if (timed) {
        w->wall_map += mono_ns() - m0;
        c1 = thread_ns();
        w->cpu_map += c1 - c0;
    }
    if (r != CUDA_SUCCESS)
        return fail(w, "cuvidMapVideoFrame64 of picture %d failed: %s", di->picture_index, cu_err(sh, r));
    r = sh->cv->cuvidUnmapVideoFrame(w->dec, ptr);
    if (timed)
        w->cpu_unmap += thread_ns() - c1;
    if (r != CUDA_SUCCESS)
        return fail(w, "cuvidUnmapVideoFrame64 failed: %s", cu_err(sh, r));
    if (w->counting)
        w->frames++;
    else
        w->warm_frames++;
    return 1;
}

/* ---- the worker */

/* One cuvidParseVideoData call: the next chunk or access unit, wrapping to
 * the start of the file. */
static void feed(worker *w)
{
    shared *sh = w->sh;
    CUVIDSOURCEDATAPACKET p;
    memset(&p, 0, sizeof p);
    size_t off, n;
    if (sh->o->feed_au) {
        off = sh->au[w->pos], n = sh->au[w->pos + 1] - off;
        p.flags = CUVID_PKT_ENDOFPICTURE;
        w->pos = w->pos + 1 == sh->nau ? 0 : w->pos + 1;
    } else {
        off = w->pos, n = sh->size - off;
        if (n > sh->o->chunk)
            n = sh->o->chunk;
        w->pos = off + n == sh->size ? 0 : off + n;
    }
    p.payload = sh->data + off;
    p.payload_size = (tcu_ulong)n;
    int timed = w->counting && sh->o->breakdown;
    int64_t c0 = timed ? thread_ns() : 0;
    CUresult r = sh->cv->cuvidParseVideoData(w->parser, &p);
    if (timed)
        w->cpu_parse += thread_ns() - c0;
    if (!w->counting)
        w->warm_bytes += n;
    if (r != CUDA_SUCCESS && !w->failed)
        fail(w, "cuvidParseVideoData rejected %zu bytes at offset %zu: %s", n, off, cu_err(sh, r));
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    const options *o = sh->o;
    int64_t t0 = mono_ns();
    CUresult r = sh->cu->cuCtxPushCurrent(sh->ctx);
    int pushed = r == CUDA_SUCCESS;
    if (!pushed) {
        fail(w, "cuCtxPushCurrent failed: %s", cu_err(sh, r));
    } else if (o->map_mode == MAP_STREAM &&
               ((r = sh->cu->cuStreamCreate(&w->stream, CU_STREAM_NON_BLOCKING)) != CUDA_SUCCESS ||
                (r = sh->cu->cuEventCreate(&w->mapped, CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING)) !=
                    CUDA_SUCCESS)) {
        fail(w, "cannot create the thread's stream and event: %s", cu_err(sh, r));
    } else {
        CUVIDPARSERPARAMS pp;
        memset(&pp, 0, sizeof pp);
        pp.CodecType = o->codec;
        pp.ulMaxNumDecodeSurfaces = 1; /* the sequence callback returns the real count */
        pp.ulMaxDisplayDelay = o->display_delay;
        pp.pUserData = w;
        pp.pfnSequenceCallback = on_sequence;
        pp.pfnDecodePicture = on_decode;
        pp.pfnDisplayPicture = on_display;
        if ((r = sh->cv->cuvidCreateVideoParser(&w->parser, &pp)) != CUDA_SUCCESS) {
            w->parser = NULL;
            fail(w, "cuvidCreateVideoParser failed: %s", cu_err(sh, r));
        }
    }
    /* warm-up: the decoder exists and has displayed a picture */
    while (!w->failed && !atomic_load(&sh->failed) && (!w->dec || !w->warm_frames)) {
        if (w->warm_bytes > 2 * sh->size) {
            fail(w, "no picture displayed after two passes over %s: not an %s Annex-B stream?", o->input,
                 o->codec == cudaVideoCodec_HEVC ? "HEVC" : "H.264");
            break;
        }
        feed(w);
    }
    w->setup_ns = mono_ns() - t0;
    pthread_barrier_wait(&sh->start);
    if (!atomic_load(&sh->failed)) {
        w->counting = 1;
        int64_t c0 = thread_ns();
        while (!w->failed && !atomic_load_explicit(&sh->stop, memory_order_relaxed))
            feed(w);
        w->cpu_total = thread_ns() - c0;
        w->counting = 0;
    }
    pthread_barrier_wait(&sh->end);
    int64_t t1 = mono_ns();
    if (w->parser && (r = sh->cv->cuvidDestroyVideoParser(w->parser)) != CUDA_SUCCESS)
        fail(w, "cuvidDestroyVideoParser failed: %s", cu_err(sh, r));
    if (w->dec && (r = sh->cv->cuvidDestroyDecoder(w->dec)) != CUDA_SUCCESS)
        fail(w, "cuvidDestroyDecoder failed: %s", cu_err(sh, r));
    if (w->mapped && (r = sh->cu->cuEventDestroy(w->mapped)) != CUDA_SUCCESS)
        fail(w, "cuEventDestroy failed: %s", cu_err(sh, r));
    if (w->stream && (r = sh->cu->cuStreamDestroy(w->stream)) != CUDA_SUCCESS)
        fail(w, "cuStreamDestroy failed: %s", cu_err(sh, r));
    if (pushed) {
        CUcontext popped;
        if ((r = sh->cu->cuCtxPopCurrent(&popped)) != CUDA_SUCCESS)
            fail(w, "cuCtxPopCurrent failed: %s", cu_err(sh, r));
    }
    w->teardown_ns = mono_ns() - t1;
    return NULL;
}

/* ---- one row: n threads for o->seconds */
typedef struct row {
    int streams;
    long frames, sequences, polls;
    double seconds, setup_s, teardown_s, setup_cpu_s, teardown_cpu_s;
    int64_t process_cpu, cpu_total, cpu_parse, cpu_decode, cpu_map, cpu_unmap, cpu_seq, wall_decode, wall_map;
    int surfaces;
} row;

static int run_row(shared *sh, int n, row *out)
{
    const options *o = sh->o;
    memset(out, 0, sizeof *out);
    out->streams = n;
    worker *w = aligned_alloc(_Alignof(worker), (size_t)n * sizeof *w);
    if (w)
        memset(w, 0, (size_t)n * sizeof *w);
    if (!w) {
        fprintf(stderr, "vp_nvdec_ceiling: out of memory\n");
        return EXIT_RUNTIME;
    }
    atomic_store(&sh->stop, 0);
    atomic_store(&sh->failed, 0);
    sh->err[0] = 0;
    if (pthread_barrier_init(&sh->start, NULL, (unsigned)n + 1) ||
        pthread_barrier_init(&sh->end, NULL, (unsigned)n + 1)) {
        fprintf(stderr, "vp_nvdec_ceiling: pthread_barrier_init failed\n");
        free(w);
        return EXIT_RUNTIME;
    }
    int64_t t_setup = mono_ns(), c_setup = process_cpu_ns();
    for (int i = 0; i < n; i++) {
        w[i].sh = sh, w[i].index = i;
        int e = pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
        if (e) {
            /* the barriers count n + 1: without all threads the row cannot run */
            fprintf(stderr, "vp_nvdec_ceiling: cannot start thread %d of %d: %s\n", i + 1, n, strerror(e));
            exit(EXIT_RUNTIME);
        }
    }
    pthread_barrier_wait(&sh->start);
    int64_t t0 = mono_ns(), c0 = process_cpu_ns();
    out->setup_s = (double)(t0 - t_setup) / 1e9;
    out->setup_cpu_s = (double)(c0 - c_setup) / 1e9;
    int64_t deadline = t0 + (int64_t)(o->seconds * 1e9);
    while (!atomic_load(&sh->failed)) {
        int64_t left = deadline - mono_ns();
        if (left <= 0)
            break;
        if (left > 20000000)
            left = 20000000; /* wake up every 20 ms to notice a failure */
        struct timespec nap = {0, (long)left};
        nanosleep(&nap, NULL);
    }
    atomic_store(&sh->stop, 1);
    pthread_barrier_wait(&sh->end);
    int64_t t1 = mono_ns(), c1 = process_cpu_ns();
    for (int i = 0; i < n; i++)
        pthread_join(w[i].tid, NULL);
    out->teardown_s = (double)(mono_ns() - t1) / 1e9;
    out->teardown_cpu_s = (double)(process_cpu_ns() - c1) / 1e9;
    out->seconds = (double)(t1 - t0) / 1e9;
    out->process_cpu = c1 - c0;
    for (int i = 0; i < n; i++) {
        out->frames += w[i].frames;
        out->sequences += w[i].sequences;
        out->polls += w[i].polls;
        out->cpu_total += w[i].cpu_total, out->cpu_parse += w[i].cpu_parse, out->cpu_decode += w[i].cpu_decode;
        out->cpu_map += w[i].cpu_map, out->cpu_unmap += w[i].cpu_unmap, out->cpu_seq += w[i].cpu_seq;
        out->wall_decode += w[i].wall_decode, out->wall_map += w[i].wall_map;
        if (w[i].surfaces > out->surfaces)
            out->surfaces = w[i].surfaces;
    }
    pthread_barrier_destroy(&sh->start);
    pthread_barrier_destroy(&sh->end);
    free(w);
    if (atomic_load(&sh->failed)) {
        fprintf(stderr, "vp_nvdec_ceiling: %s\n", sh->err);
        return EXIT_RUNTIME;
    }
    if (!out->frames) {
        fprintf(stderr, "vp_nvdec_ceiling: %d streams displayed no frame in %.2f s\n", n, out->seconds);
        return EXIT_RUNTIME;
    }
    return 0;
}

static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20)
            printf("\\u%04x", c);
        else if (c == '"' || c == '\\')
            printf("\\%c", c);
        else
            putchar(c);
    }
    putchar('"');
}

static const char *sched_name(int s)
{
    switch (s) {
    case SCHED_AUTO: return "auto";
    case SCHED_SPIN: return "spin";
    case SCHED_YIELD: return "yield";
    case SCHED_BLOCKING: return "blocking";
    default: return "default";
    }
}

static const char *map_name(int m) { return m == MAP_POLL ? "poll" : m == MAP_STREAM ? "stream" : "direct"; }

static void print_row(const shared *sh, const row *r, const char *device)
{
    const options *o = sh->o;
    double f = (double)r->frames, ms = 1e-6 / f; /* ns total -> ms per frame */
    double fps = f / r->seconds, cpf = (double)r->process_cpu * ms;
    double parser = (double)(r->cpu_parse - r->cpu_decode - r->cpu_map - r->cpu_unmap - r->cpu_seq) * ms;
    double rest = (double)(r->cpu_total - r->cpu_parse) * ms;
    double other = (double)(r->process_cpu - r->cpu_total) * ms;
    if (!o->json) {
        printf("%7d %10ld %8.2f %10.1f %10.1f %12.4f", r->streams, r->frames, r->seconds, fps, fps / r->streams, cpf);
        if (o->breakdown)
            printf(" | %7.4f %7.4f %7.4f %7.4f %7.4f %7.4f | %7.4f %7.4f", parser, (double)r->cpu_decode * ms,
                   (double)r->cpu_map * ms, (double)r->cpu_unmap * ms, rest + (double)r->cpu_seq * ms, other,
                   (double)r->wall_decode * ms, (double)r->wall_map * ms);
        printf("\n");
        fflush(stdout);
        return;
    }
    printf("{\"streams\":%d,\"codec\":\"%s\",\"frames\":%ld,\"seconds\":%.3f,\"fps\":%.1f,\"fps_per_stream\":%.1f,"
           "\"cpu_ms_per_frame\":%.4f,",
           r->streams, codec_name(o->codec), r->frames, r->seconds, fps, fps / r->streams, cpf);
    if (o->breakdown)
        printf("\"cpu_breakdown_ms_per_frame\":{\"parser\":%.4f,\"decode\":%.4f,\"map\":%.4f,\"unmap\":%.4f,"
               "\"sequence\":%.4f,\"worker_rest\":%.4f,\"other_threads\":%.4f},"
               "\"wall_ms_per_frame\":{\"decode\":%.4f,\"map\":%.4f},",
               parser, (double)r->cpu_decode * ms, (double)r->cpu_map * ms, (double)r->cpu_unmap * ms,
               (double)r->cpu_seq * ms, rest, other, (double)r->wall_decode * ms, (double)r->wall_map * ms);
    else
        printf("\"cpu_breakdown_ms_per_frame\":null,\"wall_ms_per_frame\":null,");
    printf("\"worker_cpu_ms_per_frame\":%.4f,\"setup_s\":%.3f,\"setup_cpu_s\":%.3f,\"teardown_s\":%.3f,"
           "\"teardown_cpu_s\":%.3f,\"context_create_ms\":%.1f,\"sequence_callbacks\":%ld,"
           "\"feed\":\"%s\",\"chunk\":%zu,\"display_delay\":%u,\"extra_surfaces\":%d,\"decode_surfaces\":%d,"
           "\"output_surfaces\":%d,\"sched\":\"%s\",\"map\":\"%s\",\"polls_per_frame\":%.2f,\"device\":",
           (double)r->cpu_total * ms, r->setup_s, r->setup_cpu_s, r->teardown_s, r->teardown_cpu_s, sh->ctx_ms,
           r->sequences, o->feed_au ? "au" : "chunk", o->feed_au ? (size_t)0 : o->chunk, o->display_delay,
           o->extra_surfaces, r->surfaces, o->output_surfaces, sched_name(o->sched), map_name(o->map_mode),
           (double)r->polls / f);
    print_json_string(device);
    printf(",\"input\":");
    print_json_string(o->input);
    printf("}\n");
    fflush(stdout);
}

/* ---- input */

/* Whole file into memory; 0 or EXIT_USAGE with the line printed. */
static int read_file(const char *path, uint8_t **out, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "vp_nvdec_ceiling: cannot open %s: %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fprintf(stderr, "vp_nvdec_ceiling: out of memory reading %s\n", path);
            fclose(fp);
            return EXIT_RUNTIME;
        }
        len += fread(buf + len, 1, cap - len, fp);
        if (len < cap)
            break;
        uint8_t *nb = cap <= ((size_t)1 << 31) ? realloc(buf, cap * 2) : NULL;
        if (!nb)
            free(buf);
        buf = nb, cap *= 2;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        fprintf(stderr, "vp_nvdec_ceiling: read error on %s\n", path);
        free(buf);
        return EXIT_USAGE;
    }
    if (len < 5 || buf[0] || buf[1] || !(buf[2] == 1 || (buf[2] == 0 && buf[3] == 1))) {
        fprintf(stderr, "vp_nvdec_ceiling: %s does not begin with a start code: not an Annex-B elementary stream\n",
                path);
        free(buf);
        return EXIT_USAGE;
    }
    *out = buf, *size = len;
    return 0;
}

/* Does the NAL unit whose header is at p (n bytes) begin a new access unit,
 * once the current one holds a picture (H.264 7.4.1.2.3, HEVC 7.4.2.4.4)?
 * Sets *vcl when it is a slice. */
static int starts_au(cudaVideoCodec codec, const uint8_t *p, size_t n, int *vcl)
{
    if (codec == cudaVideoCodec_H264) {
        int t = p[0] & 0x1f;
        *vcl = t >= 1 && t <= 5;
        if (*vcl)
            return n > 1 && (p[1] & 0x80); /* first_mb_in_slice == 0 */
        return (t >= 6 && t <= 9) || (t >= 14 && t <= 18);
    }
    int t = (p[0] >> 1) & 0x3f;
    *vcl = t <= 31;
    if (*vcl)
        return n > 2 && ((p[0] & 1) << 5 | p[1] >> 3) == 0 && (p[2] & 0x80); /* first_slice_segment_in_pic_flag */
    return (t >= 32 && t <= 35) || t == 39 || (t >= 41 && t <= 44) || (t >= 48 && t <= 55);
}

/* Access-unit offsets of the whole file (--feed au), computed once before
 * any thread starts. */
static int split_access_units(shared *sh, size_t **out)
{
    const uint8_t *b = sh->data;
    size_t n = sh->size, cap = 1024, count = 0;
    size_t *au = malloc(cap * sizeof *au);
    if (!au)
        return EXIT_RUNTIME;
    au[count++] = 0;
    int has_vcl = 0;
    for (size_t i = 0; i + 3 < n; i++) {
        if (b[i] || b[i + 1] || b[i + 2] != 1)
            continue;
        size_t hdr = i + 3, start = i > 0 && !b[i - 1] ? i - 1 : i, end = hdr;
        while (end + 2 < n && !(b[end] == 0 && b[end + 1] == 0 && b[end + 2] == 1))
            end++;
        int vcl = 0;
        if (!(b[hdr] & 0x80) && starts_au(sh->o->codec, b + hdr, (end + 2 < n ? end : n) - hdr, &vcl) && has_vcl &&
            start > au[count - 1]) {
            if (count + 1 >= cap) {
                size_t *na = realloc(au, cap * 2 * sizeof *au);
                if (!na) {
                    free(au);
                    return EXIT_RUNTIME;
                }
                au = na, cap *= 2;
            }
            au[count++] = start;
            has_vcl = 0;
        }
        has_vcl |= vcl;
        i = end - 1; /* the loop's i++ lands on the next start code */
    }
    au[count] = n;
    sh->au = au, sh->nau = count;
    *out = au;
    return 0;
}

/* ---- options */
static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "vp_nvdec_ceiling: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see 'vp_nvdec_ceiling --help')\n");
    return EXIT_USAGE;
}

static void help(void)
{
    printf("usage: vp_nvdec_ceiling [options] FILE.h264|FILE.h265\n"
           "NVDEC decode-only ceiling: N threads, each its own NVIDIA parser and decoder on one shared\n"
           "context, looping FILE in memory; frames/s and host CPU per frame split by driver call.\n"
           "  --streams LIST        thread counts, one row each (default 1,4,8,16)\n"
           "  --seconds S           timed seconds per row (default 5)\n"
           "  --codec h264|hevc     default: from the extension (.h264 .264 .avc / .h265 .265 .hevc)\n"
           "  --feed chunk|au       fixed chunks (default) or one access unit per call with ENDOFPICTURE\n"
           "  --chunk BYTES         bytes per cuvidParseVideoData call with --feed chunk (default 65536)\n"
           "  --display-delay N     the parser's ulMaxDisplayDelay (default 1, as NVIDIA's samples)\n"
           "  --extra-surfaces N    decode surfaces beyond the stream's minimum (default 4)\n"
           "  --output-surfaces N   ulNumOutputSurfaces (default 2)\n"
           "  --sched auto|spin|yield|blocking  primary context flags (default: left as they are)\n"
           "  --map direct|poll|stream  how the display callback waits for its picture: inside the map\n"
           "                        (default), cuvidGetDecodeStatus every 50 us, or a blocking-sync event\n"
           "                        on the map's own stream\n"
           "  --device N            CUDA device (default 0)\n"
           "  --no-breakdown        no per-call CPU clocks (to see what they cost)\n"
           "  --json                one JSON object per row on stdout\n"
           "Exit status: 0; 1 CUDA/NVDEC failure; 2 bad usage or input; 77 no NVIDIA driver or GPU.\n");
}

static int parse_long(const char *s, long lo, long hi, long *v)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (!*s || *end || errno || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->codec = cudaVideoCodec_NumCodecs;
    o->streams[0] = 1, o->streams[1] = 4, o->streams[2] = 8, o->streams[3] = 16, o->nrows = 4;
    o->seconds = 5, o->breakdown = 1, o->sched = SCHED_DEFAULT, o->chunk = 65536;
    o->display_delay = 1, o->extra_surfaces = 4, o->output_surfaces = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            exit(0);
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--no-breakdown")) {
            o->breakdown = 0;
        } else if (a[0] == '-' && a[1] && !v) {
            static const char *const valued[] = {"--streams",        "--seconds",        "--codec",
                                                 "--feed",           "--sched",          "--chunk",
                                                 "--display-delay",  "--extra-surfaces", "--output-surfaces",
                                                 "--device",         "--map"};
            for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
                if (!strcmp(a, valued[k]))
                    return usage("%s needs a value", a);
            return usage("unknown option '%s'", a);
        } else if (!strcmp(a, "--streams")) {
            const char *p = argv[++i];
            o->nrows = 0;
            while (*p) {
                char *end;
                long n = strtol(p, &end, 10);
                if (end == p || n < 1 || n > MAX_STREAMS || (*end && *end != ',') || o->nrows == MAX_ROWS)
                    return usage("--streams: expected a list like 1,4,8,16 (at most 16 entries, each 1..256), got '%s'",
                                 argv[i]);
                o->streams[o->nrows++] = (int)n;
                p = *end ? end + 1 : end;
            }
            if (!o->nrows)
                return usage("--streams: empty list '%s'", argv[i]);
        } else if (!strcmp(a, "--seconds")) {
            char *end;
            o->seconds = strtod(argv[++i], &end);
            if (*end || !(o->seconds > 0 && o->seconds <= 3600))
                return usage("--seconds: expected 0 < S <= 3600, got '%s'", argv[i]);
        } else if (!strcmp(a, "--codec")) {
            i++;
            if (!strcmp(v, "h264")) o->codec = cudaVideoCodec_H264;
            else if (!strcmp(v, "hevc") || !strcmp(v, "h265")) o->codec = cudaVideoCodec_HEVC;
            else return usage("--codec: expected h264 or hevc, got '%s'", v);
        } else if (!strcmp(a, "--feed")) {
            i++;
            if (!strcmp(v, "chunk")) o->feed_au = 0;
            else if (!strcmp(v, "au")) o->feed_au = 1;
            else return usage("--feed: expected chunk or au, got '%s'", v);
        } else if (!strcmp(a, "--sched")) {
            i++;
            if (!strcmp(v, "auto")) o->sched = SCHED_AUTO;
            else if (!strcmp(v, "spin")) o->sched = SCHED_SPIN;
            else if (!strcmp(v, "yield")) o->sched = SCHED_YIELD;
            else if (!strcmp(v, "blocking")) o->sched = SCHED_BLOCKING;
            else return usage("--sched: expected auto, spin, yield or blocking, got '%s'", v);
        } else if (!strcmp(a, "--map")) {
            i++;
            if (!strcmp(v, "direct")) o->map_mode = MAP_DIRECT;
            else if (!strcmp(v, "poll")) o->map_mode = MAP_POLL;
            else if (!strcmp(v, "stream")) o->map_mode = MAP_STREAM;
            else return usage("--map: expected direct, poll or stream, got '%s'", v);
        } else if (!strcmp(a, "--chunk")) {
            if (parse_long(argv[++i], 16, 64L << 20, &x))
                return usage("--chunk: expected 16 to 67108864 bytes, got '%s'", v);
            o->chunk = (size_t)x;
        } else if (!strcmp(a, "--display-delay")) {
            if (parse_long(argv[++i], 0, 16, &x))
                return usage("--display-delay: expected 0 to 16, got '%s'", v);
            o->display_delay = (unsigned)x;
        } else if (!strcmp(a, "--extra-surfaces")) {
            if (parse_long(argv[++i], 0, 16, &x))
                return usage("--extra-surfaces: expected 0 to 16, got '%s'", v);
            o->extra_surfaces = (int)x;
        } else if (!strcmp(a, "--output-surfaces")) {
            if (parse_long(argv[++i], 1, 64, &x))
                return usage("--output-surfaces: expected 1 to 64, got '%s'", v);
            o->output_surfaces = (int)x;
        } else if (!strcmp(a, "--device")) {
            if (parse_long(argv[++i], 0, 64, &x))
                return usage("--device: expected a CUDA device number, got '%s'", v);
            o->device = (int)x;
        } else if (a[0] == '-' && a[1]) {
            return usage("unknown option '%s'", a);
        } else if (!o->input) {
            o->input = a;
        } else {
            return usage("one FILE only, got '%s' too", a);
        }
    }
    if (!o->input)
        return usage("%s", "FILE is required");
    if (o->codec == cudaVideoCodec_NumCodecs) {
        const char *dot = strrchr(o->input, '.');
        static const struct {
            const char *ext;
            cudaVideoCodec codec;
        } map[] = {{".h264", cudaVideoCodec_H264}, {".264", cudaVideoCodec_H264}, {".avc", cudaVideoCodec_H264},
                   {".h265", cudaVideoCodec_HEVC}, {".265", cudaVideoCodec_HEVC}, {".hevc", cudaVideoCodec_HEVC}};
        for (size_t k = 0; dot && k < sizeof map / sizeof map[0]; k++)
            if (!strcasecmp(dot, map[k].ext))
                o->codec = map[k].codec;
        if (o->codec == cudaVideoCodec_NumCodecs)
            return usage("cannot tell the codec of '%s' from its extension: name it .h264/.h265 or pass --codec",
                         o->input);
    }
    return 0;
}

/* ---- driver */

/* Loads libcuda and libnvcuvid, retains the primary context of the device.
 * 0, EXIT_SKIP (no driver, no GPU) or EXIT_RUNTIME, with the line printed. */
static int open_device(shared *sh, char *name, size_t namelen)
{
    const options *o = sh->o;
    loadlog log = {""};
    CUresult r;
    int count = 0;
    if (cuda_load_functions(&sh->cu, &log) < 0) {
        fprintf(stderr, "vp_nvdec_ceiling: skipped: no NVIDIA driver (%s)\n",
                log.msg[0] ? log.msg : "cannot load libcuda.so.1");
        return EXIT_SKIP;
    }
    if (cuvid_load_functions(&sh->cv, &log) < 0) {
        fprintf(stderr, "vp_nvdec_ceiling: skipped: no NVDEC library (%s: a driver without video decode, or a "
                        "container without the 'video' capability)\n",
                log.msg[0] ? log.msg : "cannot load libnvcuvid.so.1");
        return EXIT_SKIP;
    }
    if ((r = sh->cu->cuInit(0)) != CUDA_SUCCESS) {
        fprintf(stderr, "vp_nvdec_ceiling: skipped: cuInit failed: %s (no usable NVIDIA GPU)\n", cu_err(sh, r));
        return EXIT_SKIP;
    }
    if ((r = sh->cu->cuDeviceGetCount(&count)) != CUDA_SUCCESS || count <= o->device) {
        fprintf(stderr, "vp_nvdec_ceiling: skipped: no CUDA device %d (%d found)%s%s\n", o->device, count,
                r ? ": " : "", r ? cu_err(sh, r) : "");
        return EXIT_SKIP;
    }
    if ((r = sh->cu->cuDeviceGet(&sh->dev, o->device)) != CUDA_SUCCESS) {
        fprintf(stderr, "vp_nvdec_ceiling: cuDeviceGet(%d) failed: %s\n", o->device, cu_err(sh, r));
        return EXIT_RUNTIME;
    }
    if ((r = sh->cu->cuDeviceGetName(name, (int)namelen, sh->dev)) != CUDA_SUCCESS)
        snprintf(name, namelen, "CUDA device %d", o->device);
    if (o->sched != SCHED_DEFAULT &&
        (r = sh->cu->cuDevicePrimaryCtxSetFlags(sh->dev, (unsigned)o->sched)) != CUDA_SUCCESS) {
        fprintf(stderr, "vp_nvdec_ceiling: cuDevicePrimaryCtxSetFlags(%s) failed: %s\n", sched_name(o->sched),
                cu_err(sh, r));
        return EXIT_RUNTIME;
    }
    int64_t t0 = mono_ns();
    if ((r = sh->cu->cuDevicePrimaryCtxRetain(&sh->ctx, sh->dev)) != CUDA_SUCCESS) {
        sh->ctx = NULL;
        fprintf(stderr, "vp_nvdec_ceiling: cuDevicePrimaryCtxRetain(%d) failed: %s\n", o->device, cu_err(sh, r));
        return EXIT_RUNTIME;
    }
    sh->ctx_ms = (double)(mono_ns() - t0) / 1e6;
    /* the codec at all, before any thread starts */
    CUVIDDECODECAPS caps;
    memset(&caps, 0, sizeof caps);
    caps.eCodecType = o->codec;
    caps.eChromaFormat = cudaVideoChromaFormat_420;
    CUcontext popped;
    if ((r = sh->cu->cuCtxPushCurrent(sh->ctx)) != CUDA_SUCCESS) {
        fprintf(stderr, "vp_nvdec_ceiling: cuCtxPushCurrent failed: %s\n", cu_err(sh, r));
        return EXIT_RUNTIME;
    }
    if (!sh->cv->cuvidGetDecoderCaps)
        r = CUDA_SUCCESS, caps.bIsSupported = 1; /* an old driver: the decoder creation will tell */
    else
        r = sh->cv->cuvidGetDecoderCaps(&caps);
    CUresult r2 = sh->cu->cuCtxPopCurrent(&popped);
    if (r != CUDA_SUCCESS || r2 != CUDA_SUCCESS) {
        fprintf(stderr, "vp_nvdec_ceiling: %s failed: %s\n", r ? "cuvidGetDecoderCaps" : "cuCtxPopCurrent",
                cu_err(sh, r ? r : r2));
        return EXIT_RUNTIME;
    }
    if (!caps.bIsSupported) {
        fprintf(stderr, "vp_nvdec_ceiling: %s does not decode %s 8-bit 4:2:0\n", name, codec_name(o->codec));
        return EXIT_RUNTIME;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    shared sh;
    memset(&sh, 0, sizeof sh);
    sh.o = &o;
    pthread_mutex_init(&sh.err_lock, NULL);
    uint8_t *data = NULL;
    size_t *au = NULL;
    if ((rc = read_file(o.input, &data, &sh.size)))
        return rc;
    sh.data = data;
    if (o.feed_au && (rc = split_access_units(&sh, &au))) {
        fprintf(stderr, "vp_nvdec_ceiling: out of memory\n");
        free(data);
        return rc;
    }
    char device[256] = "";
    rc = open_device(&sh, device, sizeof device);
    if (!rc) {
        FILE *info = o.json ? stderr : stdout;
        fprintf(info, "vp_nvdec_ceiling: %s, %s %s (%zu bytes), feed %s", device, codec_name(o.codec), o.input,
                sh.size, o.feed_au ? "au" : "chunk");
        if (o.feed_au)
            fprintf(info, " (%zu access units)", sh.nau);
        else
            fprintf(info, " %zu B", o.chunk);
        fprintf(info, ", display delay %u, +%d decode surfaces, %d output surfaces, sched %s, map %s, %.1f s a row; "
                      "primary context created in %.1f ms\n",
                o.display_delay, o.extra_surfaces, o.output_surfaces, sched_name(o.sched), map_name(o.map_mode),
                o.seconds, sh.ctx_ms);
        if (!o.json) {
            if (o.breakdown)
                printf("breakdown, ms per frame: workers' thread CPU inside the parser (callbacks excluded), "
                       "cuvidDecodePicture, map, unmap, the rest of the workers, other threads (driver's); "
                       "wall time inside decode and map\n");
            printf("%7s %10s %8s %10s %10s %12s", "streams", "frames", "seconds", "frames/s", "per stream",
                   "cpu ms/frame");
            if (o.breakdown)
                printf(" | %7s %7s %7s %7s %7s %7s | %7s %7s", "parser", "decode", "map", "unmap", "rest", "other",
                       "wDecode", "wMap");
            printf("\n");
        }
        for (int k = 0; k < o.nrows && !rc; k++) {
            row r;
            if (!(rc = run_row(&sh, o.streams[k], &r)))
                print_row(&sh, &r, device);
        }
    }
    if (sh.ctx)
        sh.cu->cuDevicePrimaryCtxRelease(sh.dev);
    cuvid_free_functions(&sh.cv);
    cuda_free_functions(&sh.cu);
    pthread_mutex_destroy(&sh.err_lock);
    free(au);
    free(data);
    return rc;
}
