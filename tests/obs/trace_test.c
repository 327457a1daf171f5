/*
 * Span recorder and Chrome-trace export (base/span.h, obs/trace.h).
 *
 *   vp_trace_test [--out FILE] [--bench]
 *
 * Checks, each against a trivially correct model:
 *  - the histogram's quantiles against the sorted samples (relative error
 *    <= 1/16 plus 1 ns), including a deliberately wrong expectation that
 *    must fail, so the comparison can fail;
 *  - several threads recording nested spans (batch > preprocess, inference,
 *    postprocess; decode) while the main thread exports concurrently; then
 *    exact per-name counts in the statistics and in the snapshots;
 *  - ring overwrite (keeps the last capacity records, counts the rest),
 *    writer reuse by name, the writer limit, the NULL recorder, hooks called
 *    in matching pairs, GPU spans kept in order on their track;
 *  - writes the trace to FILE (default: a temporary file, removed) and
 *    prints one line "expect {json}" with the counts the trace must hold,
 *    for tests/obs/trace_check.py.
 * --bench: ns per span disabled (NULL writer) and enabled, with the clocks
 * (clock_gettime, rdtsc) for comparison. Printed, never asserted.
 */
#include "base/log.h"
#include "base/span.h"
#include "obs/nvtx.h"
#include "obs/trace.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

static int failures;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

/* ---- histogram against sorted samples ------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t exact_quantile(const uint64_t *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.5);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static int close_enough(uint64_t got, uint64_t want)
{
    uint64_t d = got > want ? got - want : want - got;
    return d <= want / 16 + 1;
}

static void test_hist(void)
{
    enum { N = 20000 };
    static uint64_t v[N];
    vp_hist *h = malloc(sizeof *h);
    vp_hist_init(h);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        /* log-uniform over 1 ns .. ~1 s, plus a few exact small values */
        unsigned bits = (unsigned)(x % 30);
        v[i] = i < 20 ? (uint64_t)i : (x >> 20) & (((uint64_t)1 << bits) - 1);
        vp_hist_add(h, v[i]);
    }
    qsort(v, N, sizeof v[0], cmp_u64);
    const double qs[] = {0, 0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 1};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        uint64_t got = vp_hist_quantile(h, qs[i]), want = exact_quantile(v, N, qs[i]);
        if (!close_enough(got, want))
            fprintf(stderr, "hist: q=%g got %" PRIu64 " want %" PRIu64 "\n", qs[i], got, want);
        CHECK(close_enough(got, want));
    }
    /* the comparison must be able to fail: p50 is not p99 */
    CHECK(!close_enough(vp_hist_quantile(h, 0.5), exact_quantile(v, N, 0.99)));
    vp_span_stats st;
    vp_hist_summary(h, &st);
    CHECK(st.count == N && st.min_ns == v[0] && st.max_ns == v[N - 1]);
    /* merge: two halves give the whole */
    vp_hist *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    vp_hist_init(a);
    vp_hist_init(b);
    for (int i = 0; i < N; i++)
        vp_hist_add(i % 2 ? a : b, v[i]);
    vp_hist_merge(a, b);
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        CHECK(vp_hist_quantile(a, qs[i]) == vp_hist_quantile(h, qs[i]));
    vp_hist_init(b);
    CHECK(vp_hist_quantile(b, 0.5) == 0);
    free(a);
    free(b);
    free(h);
}

/* ---- threads --------------------------------------------------------------- */

enum { THREADS = 4, ITERS = 3000 };

typedef struct worker {
    vp_spans *s;
    int id;
} worker;

/* a little work the compiler cannot drop (a local volatile: no shared state between threads) */
static void spin(unsigned n)
{
    volatile uint64_t sink = 0;
    for (unsigned i = 0; i < n; i++)
        sink += i;
}

static void *work(void *arg)
{
    worker *wk = arg;
    char name[32];
    snprintf(name, sizeof name, "worker %d", wk->id);
    vp_span_writer *w;
    if (vp_spans_writer(wk->s, name, VP_SPAN_TRACK_CPU, &w) != VP_OK || !w) {
        fprintf(stderr, "writer %s failed\n", name);
        failures++;
        return NULL;
    }
    for (int i = 0; i < ITERS; i++) {
        uint64_t td = vp_span_begin(w, VP_SPAN_DECODE);
        spin(50);
        vp_span_end(w, VP_SPAN_DECODE, td, wk->id);
        uint64_t tb = vp_span_begin(w, VP_SPAN_BATCH);
        uint64_t t = vp_span_begin(w, VP_SPAN_PREPROCESS);
        spin(20);
        vp_span_end(w, VP_SPAN_PREPROCESS, t, i);
        t = vp_span_begin(w, VP_SPAN_INFERENCE);
        spin(100);
        vp_span_end(w, VP_SPAN_INFERENCE, t, i);
        t = vp_span_begin(w, VP_SPAN_POSTPROCESS);
        vp_span_end(w, VP_SPAN_POSTPROCESS, t, VP_SPAN_NOARG); /* zero-length spans are legal */
        vp_span_end(w, VP_SPAN_BATCH, tb, i);
    }
    vp_span_writer_release(&w);
    return NULL;
}

/* hooks that count and check pairing per thread (one thread here) */
typedef struct hook_ctx {
    int depth, max_depth, pushes, pops, bad;
} hook_ctx;
static void h_push(void *c, unsigned name)
{
    hook_ctx *h = c;
    h->pushes++;
    if (++h->depth > h->max_depth)
        h->max_depth = h->depth;
    if (name >= VP_SPAN_STAGE_COUNT)
        h->bad++;
}
static void h_pop(void *c)
{
    hook_ctx *h = c;
    h->pops++;
    if (--h->depth < 0)
        h->bad++;
}

static void test_small_cases(void)
{
    /* NULL recorder: NULL writer, every call a no-op */
    vp_span_writer *w = (vp_span_writer *)1;
    CHECK(vp_spans_writer(NULL, "x", VP_SPAN_TRACK_CPU, &w) == VP_OK && w == NULL);
    CHECK(vp_span_begin(NULL, VP_SPAN_DECODE) == 0);
    vp_span_end(NULL, VP_SPAN_DECODE, 0, 0);
    vp_span_record(NULL, 0, 1, 2, 3);
    vp_span_gpu(NULL, 0, 1, 2, 3);
    vp_spans_free(NULL);

    /* bad configs */
    vp_spans *s;
    vp_span_name noname[1] = {{NULL, NULL}};
    vp_log_level lv = vp_log_get_level();
    vp_log_set_level((vp_log_level)-1); /* the errors below are expected */
    CHECK(vp_spans_create(&(vp_spans_config){.names = noname, .n_names = 1}, &s) == VP_ERR_INVALID && !s);
    CHECK(vp_spans_create(&(vp_spans_config){.max_writers = 5000}, &s) == VP_ERR_INVALID);
    vp_log_set_level(lv);

    /* ring: capacity 16 (rounded up from 10) keeps the last 16 */
    CHECK(vp_spans_create(&(vp_spans_config){.capacity = 10, .max_writers = 2}, &s) == VP_OK);
    CHECK(vp_spans_capacity(s) == 16);
    CHECK(vp_spans_writer(s, "ring", VP_SPAN_TRACK_CPU, &w) == VP_OK && w);
    for (int i = 0; i < 100; i++)
        vp_span_record(w, VP_SPAN_DECODE, 1000 + (uint64_t)i * 10, 1005 + (uint64_t)i * 10, i);
    vp_span_record(w, VP_SPAN_DECODE, 50, 40, 100); /* t1 < t0 stored as zero length */
    vp_span_record(w, 9999, 50, 60, 101);           /* unknown name: dropped */
    vp_span_event ev[16];
    uint64_t first;
    size_t n = vp_spans_snapshot(s, 0, ev, 16, &first);
    CHECK(n == 16 && first == 85);
    CHECK(ev[0].arg == 85 && ev[14].arg == 99 && ev[15].arg == 100 && ev[15].t1 == ev[15].t0);
    vp_span_writer_info info;
    CHECK(vp_spans_writer_info(s, 0, &info) == VP_OK && info.recorded == 101 && info.dropped == 85);
    CHECK(strcmp(info.name, "ring") == 0 && info.track == VP_SPAN_TRACK_CPU && info.tid > 0);
    vp_span_stats st;
    CHECK(vp_spans_stats(s, VP_SPAN_DECODE, &st) == VP_OK && st.count == 101 && st.max_ns == 5);
    CHECK(vp_spans_stats(s, 9999, &st) == VP_ERR_NOT_FOUND);

    /* reuse by name and track; the limit */
    vp_span_writer *w2, *w3, *w4;
    vp_span_writer_release(&w);
    CHECK(w == NULL);
    CHECK(vp_spans_writer(s, "ring", VP_SPAN_TRACK_CPU, &w2) == VP_OK && w2);
    CHECK(vp_spans_n_writers(s) == 1);
    CHECK(vp_spans_writer(s, "ring", VP_SPAN_TRACK_GPU, &w3) == VP_OK && w3 && w3 != w2);
    vp_log_set_level((vp_log_level)-1);
    CHECK(vp_spans_writer(s, "third", VP_SPAN_TRACK_CPU, &w4) == VP_ERR_NOMEM && !w4);
    vp_log_set_level(lv);
    CHECK(vp_spans_n_writers(s) == 2);

    /* GPU spans stay ordered on their track */
    vp_span_gpu(w3, VP_SPAN_GPU_INFERENCE, 1000, 2000, 0);
    vp_span_gpu(w3, VP_SPAN_GPU_POSTPROCESS, 1500, 1700, 0); /* overlaps: moved to 2000 */
    vp_span_gpu_elapsed(w3, VP_SPAN_GPU_PREPROCESS, 3000, 0.001f, 0.002f, 1);
    n = vp_spans_snapshot(s, 1, ev, 16, &first);
    CHECK(n == 3 && first == 0);
    CHECK(ev[1].t0 == 2000 && ev[1].t1 == 2200);
    CHECK(ev[2].t0 == 4000 && ev[2].t1 == 5000);
    vp_spans_free(&s);
    CHECK(s == NULL);

    /* hooks: one push and one pop per span, properly nested */
    hook_ctx hc = {0};
    vp_span_hooks hooks = {h_push, h_pop};
    CHECK(vp_spans_create(&(vp_spans_config){.hooks = &hooks, .hooks_ctx = &hc}, &s) == VP_OK);
    CHECK(vp_spans_writer(s, "hooked", VP_SPAN_TRACK_CPU, &w) == VP_OK);
    for (int i = 0; i < 10; i++) {
        uint64_t a = vp_span_begin(w, VP_SPAN_BATCH);
        uint64_t b = vp_span_begin(w, VP_SPAN_INFERENCE);
        vp_span_end(w, VP_SPAN_INFERENCE, b, i);
        vp_span_end(w, VP_SPAN_BATCH, a, i);
    }
    CHECK(hc.pushes == 20 && hc.pops == 20 && hc.depth == 0 && hc.max_depth == 2 && hc.bad == 0);
    vp_spans_free(&s);

    /* NVTX hooks (no tool attached: the calls are no-ops, but must run) */
    vp_nvtx *nx;
    if (vp_nvtx_built()) {
        CHECK(vp_nvtx_create(vp_span_stage_names, VP_SPAN_STAGE_COUNT, &nx) == VP_OK && nx);
        CHECK(vp_spans_create(&(vp_spans_config){.hooks = vp_nvtx_hooks(), .hooks_ctx = nx}, &s) == VP_OK);
        CHECK(vp_spans_writer(s, "nvtx", VP_SPAN_TRACK_CPU, &w) == VP_OK);
        uint64_t a = vp_span_begin(w, VP_SPAN_BATCH);
        vp_span_end(w, VP_SPAN_BATCH, a, 0);
        vp_spans_free(&s);
        vp_nvtx_free(&nx);
        CHECK(nx == NULL);
    } else {
        CHECK(vp_nvtx_create(vp_span_stage_names, VP_SPAN_STAGE_COUNT, &nx) == VP_ERR_UNSUPPORTED && !nx);
        CHECK(vp_nvtx_hooks() == NULL);
    }
}

/* The main run: threads, concurrent export, final export to path. */
static void test_threads(const char *path)
{
    vp_spans *s;
    CHECK(vp_spans_create(NULL, &s) == VP_OK);
    worker wk[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        wk[i] = (worker){s, i};
        CHECK(pthread_create(&th[i], NULL, work, &wk[i]) == 0);
    }
    /* GPU track from this thread, like the inference thread after a sync */
    vp_span_writer *g;
    CHECK(vp_spans_writer(s, "cuda stream 0", VP_SPAN_TRACK_GPU, &g) == VP_OK);
    enum { GPU_BATCHES = 200 };
    for (int b = 0; b < GPU_BATCHES; b++) {
        uint64_t anchor = vp_clock_ns();
        vp_span_gpu_elapsed(g, VP_SPAN_GPU_PREPROCESS, anchor, 0.005f, 0.050f, b);
        vp_span_gpu_elapsed(g, VP_SPAN_GPU_INFERENCE, anchor, 0.050f, 0.900f, b);
        vp_span_gpu_elapsed(g, VP_SPAN_GPU_POSTPROCESS, anchor, 0.900f, 0.950f, b);
    }
    /* export while the workers record: must not crash or tear (ASan/TSan) */
    for (int k = 0; k < 3; k++) {
        FILE *f = tmpfile();
        CHECK(f && vp_trace_write(s, f, NULL) == VP_OK);
        if (f)
            fclose(f);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);

    const unsigned per_thread[] = {[VP_SPAN_DECODE] = ITERS, [VP_SPAN_BATCH] = ITERS, [VP_SPAN_PREPROCESS] = ITERS,
                                   [VP_SPAN_INFERENCE] = ITERS, [VP_SPAN_POSTPROCESS] = ITERS};
    for (unsigned nm = 0; nm < VP_SPAN_STAGE_COUNT; nm++) {
        vp_span_stats st;
        CHECK(vp_spans_stats(s, nm, &st) == VP_OK);
        uint64_t want = nm < sizeof per_thread / sizeof per_thread[0] ? (uint64_t)per_thread[nm] * THREADS : 0;
        if (nm >= VP_SPAN_GPU_PREPROCESS)
            want = GPU_BATCHES;
        if (st.count != want)
            fprintf(stderr, "stats %s: %" PRIu64 " spans, want %" PRIu64 "\n", vp_span_stage_names[nm].name,
                    st.count, want);
        CHECK(st.count == want);
        if (want)
            CHECK(st.p50_ns <= st.p95_ns && st.p95_ns <= st.p99_ns && st.p99_ns <= st.max_ns);
    }
    /* a batch encloses its three stages: its p50 is at least the inference p50 */
    vp_span_stats sb, si;
    vp_spans_stats(s, VP_SPAN_BATCH, &sb);
    vp_spans_stats(s, VP_SPAN_INFERENCE, &si);
    CHECK(sb.p50_ns + sb.p50_ns / 16 >= si.p50_ns);
    /* per writer: each worker's own counts */
    CHECK(vp_spans_n_writers(s) == THREADS + 1);
    for (unsigned i = 0; i < vp_spans_n_writers(s); i++) {
        vp_span_writer_info info;
        vp_span_stats st;
        CHECK(vp_spans_writer_info(s, i, &info) == VP_OK);
        CHECK(vp_span_writer_stats(s, i, VP_SPAN_DECODE, &st) == VP_OK);
        if (info.track == VP_SPAN_TRACK_CPU)
            CHECK(st.count == ITERS && info.recorded == 5u * ITERS && info.dropped == 0);
        else
            CHECK(st.count == 0 && info.recorded == 3u * GPU_BATCHES);
    }

    CHECK(vp_trace_write_file(s, path, &(vp_trace_opts){.process_name = "vp_trace_test \"quoted\""}) == VP_OK);
    vp_log_level lv = vp_log_get_level();
    vp_log_set_level((vp_log_level)-1); /* the error is expected */
    CHECK(vp_trace_write_file(s, "/nonexistent-dir/x.json", NULL) == VP_ERR_IO);
    vp_log_set_level(lv);
    CHECK(vp_trace_report(s, stdout) == VP_OK);
    printf("expect {\"spans\": %d, \"cpu_threads\": %d, \"gpu_threads\": 1, \"names\": {\"decode\": %d, "
           "\"batch\": %d, \"preprocess\": %d, \"inference\": %d, \"postprocess\": %d, \"gpu preprocess\": %d, "
           "\"gpu inference\": %d, \"gpu postprocess\": %d}, \"nested\": {\"batch\": [\"preprocess\", \"inference\", "
           "\"postprocess\"]}}\n",
           5 * ITERS * THREADS + 3 * GPU_BATCHES, THREADS, ITERS * THREADS, ITERS * THREADS, ITERS * THREADS,
           ITERS * THREADS, ITERS * THREADS, GPU_BATCHES, GPU_BATCHES, GPU_BATCHES);
    vp_spans_free(&s);
}

/* ---- bench ----------------------------------------------------------------- */

/* The writer comes through a call the compiler cannot see through, so the
 * disabled branch stays in the loop. */
static vp_span_writer *volatile opaque_writer;
static vp_span_writer *get_writer(void) { return opaque_writer; }

static double ns_per(uint64_t t0, uint64_t t1, long n) { return (double)(t1 - t0) / (double)n; }

static void bench(void)
{
    const long N = 20 * 1000 * 1000;
    volatile uint64_t sink = 0;
    uint64_t t0 = vp_clock_ns();
    for (long i = 0; i < N; i++)
        sink += vp_clock_ns();
    double clk = ns_per(t0, vp_clock_ns(), N);
    double tsc = -1;
#if defined(__x86_64__)
    t0 = vp_clock_ns();
    for (long i = 0; i < N; i++)
        sink += __rdtsc();
    tsc = ns_per(t0, vp_clock_ns(), N);
#endif
    /* baseline: the loop body without spans */
    t0 = vp_clock_ns();
    for (long i = 0; i < N; i++)
        sink += (uint64_t)i;
    double base = ns_per(t0, vp_clock_ns(), N);

    opaque_writer = NULL;
    vp_span_writer *w = get_writer();
    t0 = vp_clock_ns();
    for (long i = 0; i < N; i++) {
        uint64_t t = vp_span_begin(w, VP_SPAN_INFERENCE);
        sink += (uint64_t)i;
        vp_span_end(w, VP_SPAN_INFERENCE, t, i);
    }
    double off = ns_per(t0, vp_clock_ns(), N);

    vp_spans *s;
    vp_spans_create(NULL, &s);
    vp_spans_writer(s, "bench", VP_SPAN_TRACK_CPU, &w);
    opaque_writer = w;
    w = get_writer();
    const long M = 5 * 1000 * 1000;
    t0 = vp_clock_ns();
    for (long i = 0; i < M; i++) {
        uint64_t t = vp_span_begin(w, VP_SPAN_INFERENCE);
        sink += (uint64_t)i;
        vp_span_end(w, VP_SPAN_INFERENCE, t, i);
    }
    double on = ns_per(t0, vp_clock_ns(), M);
    t0 = vp_clock_ns();
    for (long i = 0; i < M; i++)
        vp_span_record(w, VP_SPAN_INFERENCE, (uint64_t)i, (uint64_t)i + 100, i);
    double rec = ns_per(t0, vp_clock_ns(), M);
    vp_spans_free(&s);

    double nvtx = -1;
    vp_nvtx *nx;
    if (vp_nvtx_create(vp_span_stage_names, VP_SPAN_STAGE_COUNT, &nx) == VP_OK) {
        vp_spans_create(&(vp_spans_config){.hooks = vp_nvtx_hooks(), .hooks_ctx = nx}, &s);
        vp_spans_writer(s, "bench nvtx", VP_SPAN_TRACK_CPU, &w);
        opaque_writer = w;
        w = get_writer();
        t0 = vp_clock_ns();
        for (long i = 0; i < M; i++) {
            uint64_t t = vp_span_begin(w, VP_SPAN_INFERENCE);
            sink += (uint64_t)i;
            vp_span_end(w, VP_SPAN_INFERENCE, t, i);
        }
        nvtx = ns_per(t0, vp_clock_ns(), M);
        vp_spans_free(&s);
        vp_nvtx_free(&nx);
    }
    printf("bench: clock_gettime(CLOCK_MONOTONIC) %.1f ns, rdtsc %.1f ns (-1: not x86-64)\n", clk, tsc);
    printf("bench: span disabled %.2f ns per span (loop %.2f ns, with spans %.2f ns)\n", off - base, base, off);
    printf("bench: span enabled %.1f ns per span (begin+end: 2 clock reads, record, histogram)\n", on - base);
    printf("bench: span enabled, times given (vp_span_record) %.1f ns per span\n", rec);
    printf("bench: span enabled with NVTX hooks, no tool attached %.1f ns per span (-1: built without NVTX)\n",
           nvtx < 0 ? -1 : nvtx - base);
    (void)sink;
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    int do_bench = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--bench"))
            do_bench = 1;
        else {
            fprintf(stderr, "usage: %s [--out FILE] [--bench]\n", argv[0]);
            return 2;
        }
    }
    char tmp[] = "/tmp/vp_trace_test_XXXXXX";
    if (!out) {
        int fd = mkstemp(tmp);
        if (fd < 0) {
            perror("mkstemp");
            return 1;
        }
        close(fd);
    }
    test_hist();
    test_small_cases();
    test_threads(out ? out : tmp);
    if (!out)
        unlink(tmp);
    if (do_bench)
        bench();
    if (failures) {
        fprintf(stderr, "vp_trace_test: %d check(s) failed\n", failures);
        return 1;
    }
    printf("vp_trace_test: all checks passed\n");
    return 0;
}
