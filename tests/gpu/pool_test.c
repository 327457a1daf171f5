/*
 * The memory pool (gpu/pool.h) over a counting malloc-backed allocator.
 *
 *   vp_pool_test
 *
 * The backing allocator is the trivially correct model: it counts its
 * calls and the bytes it has live, so every figure of the pool's
 * statistics is checked against an independent count. Checks:
 *  - size classes (powers of two from 256 B, big blocks rounded to 256 B);
 *  - a freed block is handed to the next request of its class (same
 *    address, no backing call), never to another class;
 *  - peak bytes outstanding, the cap on free-list bytes, trim, a backing
 *    failure (counted; free lists trimmed and the request retried);
 *  - double free and foreign pointers: VP_ERR_INVALID, counted, one log
 *    line each, the pool still consistent;
 *  - leaks at destroy: exact count and bytes in the stats before destroy
 *    and in the one log line; everything given back to the backing
 *    allocator afterwards;
 *  - eight threads allocating, writing, checking and freeing at once: the
 *    counters add up to what the threads did, and no block is handed to
 *    two owners (each owner's pattern survives until its free);
 *  - the consistency checker itself is shown to fail on a wrong figure.
 * Exits 0 when every check passed, 1 otherwise.
 */
#include "base/log.h"
#include "gpu/pool.h"
#include "vidpipe/vidpipe.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

/* ---- counting backing allocator ------------------------------------------ */

typedef struct counting {
    pthread_mutex_t mu;
    long allocs, frees, live, live_bytes; /* allocs: calls; ok: those that succeeded */
    long ok;
    long fail_at; /* fail the allocation with this 1-based number; 0: never */
    long fail_left; /* how many allocations fail from fail_at on */
} counting;

#define HDR 16

static int c_alloc(void *ctx, size_t bytes, void **p)
{
    counting *c = ctx;
    pthread_mutex_lock(&c->mu);
    long n = ++c->allocs;
    int fail = c->fail_at && n >= c->fail_at && c->fail_left > 0;
    if (fail)
        c->fail_left--;
    pthread_mutex_unlock(&c->mu);
    if (fail)
        return VP_ERR_NOMEM;
    char *m = malloc(bytes + HDR);
    if (!m)
        return VP_ERR_NOMEM;
    memcpy(m, &bytes, sizeof bytes);
    pthread_mutex_lock(&c->mu);
    c->ok++;
    c->live++;
    c->live_bytes += (long)bytes;
    pthread_mutex_unlock(&c->mu);
    *p = m + HDR;
    return VP_OK;
}

static void c_free(void *ctx, void *p)
{
    counting *c = ctx;
    char *m = (char *)p - HDR;
    size_t bytes;
    memcpy(&bytes, m, sizeof bytes);
    free(m);
    pthread_mutex_lock(&c->mu);
    c->frees++;
    c->live--;
    c->live_bytes -= (long)bytes;
    pthread_mutex_unlock(&c->mu);
}

static void counting_init(counting *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

/* ---- captured log lines -------------------------------------------------- */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_last[1024];
static int log_lines;

static void log_sink(void *user, vp_log_level level, const char *line)
{
    (void)user;
    pthread_mutex_lock(&log_mu);
    if (level == VP_LOG_ERROR) {
        log_lines++;
        snprintf(log_last, sizeof log_last, "%s", line);
    }
    pthread_mutex_unlock(&log_mu);
}

static void log_reset(void)
{
    pthread_mutex_lock(&log_mu);
    log_lines = 0;
    log_last[0] = 0;
    pthread_mutex_unlock(&log_mu);
}

/* ---- the consistency check against the model ----------------------------- */

/* NULL when the pool's figures agree with the backing allocator's and with
 * each other; else what disagrees. */
static const char *inconsistent(const vp_pool_stats *s, const counting *c)
{
    if (s->allocs != s->fresh + s->reuses)
        return "allocs != fresh + reuses";
    if (s->fresh != c->ok)
        return "fresh != successful backing allocations";
    if (s->blocks_out + s->blocks_free != c->live)
        return "blocks outstanding + free != backing blocks live";
    if (s->bytes_out + s->bytes_free != c->live_bytes)
        return "bytes outstanding + free != backing bytes live";
    if (s->released != c->frees)
        return "released != backing frees";
    if (s->blocks_out != s->allocs - s->returns)
        return "blocks outstanding != allocs - returns";
    if (s->peak_bytes_out < s->bytes_out)
        return "peak below the current bytes outstanding";
    return NULL;
}

#define CONSISTENT(pool, c)                                                                        \
    do {                                                                                           \
        vp_pool_stats s_;                                                                          \
        vp_pool_get_stats(pool, &s_);                                                              \
        const char *why_ = inconsistent(&s_, c);                                                   \
        if (why_) {                                                                                \
            fprintf(stderr, "%s:%d: pool statistics inconsistent: %s\n", __FILE__, __LINE__, why_); \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* ---- single-threaded cases ------------------------------------------------ */

static void test_classes(void)
{
    CHECK(vp_pool_block_size(0) == 256);
    CHECK(vp_pool_block_size(1) == 256);
    CHECK(vp_pool_block_size(256) == 256);
    CHECK(vp_pool_block_size(257) == 512);
    CHECK(vp_pool_block_size(1000) == 1024);
    CHECK(vp_pool_block_size((size_t)1 << 20) == ((size_t)1 << 20));
    CHECK(vp_pool_block_size(((size_t)1 << 20) + 1) == ((size_t)1 << 20) + 256);
    CHECK(vp_pool_block_size(3000000) == 3000064);
    CHECK(vp_pool_block_size(SIZE_MAX) == 0);
}

static void test_reuse_peak(void)
{
    counting c;
    counting_init(&c);
    vp_pool_backing be = {c_alloc, c_free, &c};
    vp_pool *pool;
    CHECK(vp_pool_create("test", &be, 0, &pool) == VP_OK);

    void *a, *b, *d, *e;
    CHECK(vp_pool_alloc(pool, 1000, &a) == VP_OK); /* 1024 */
    CHECK(vp_pool_alloc(pool, 100, &b) == VP_OK);  /* 256 */
    vp_pool_stats s;
    vp_pool_get_stats(pool, &s);
    CHECK(s.allocs == 2 && s.fresh == 2 && s.reuses == 0);
    CHECK(s.blocks_out == 2 && s.bytes_out == 1280 && s.peak_bytes_out == 1280);
    CHECK(c.allocs == 2);

    CHECK(vp_pool_free(pool, a, "a") == VP_OK);
    vp_pool_get_stats(pool, &s);
    CHECK(s.returns == 1 && s.blocks_out == 1 && s.bytes_out == 256);
    CHECK(s.blocks_free == 1 && s.bytes_free == 1024);
    CHECK(c.frees == 0); /* kept, not given back */

    /* another class: not the freed 1024-byte block */
    CHECK(vp_pool_alloc(pool, 2000, &d) == VP_OK);
    CHECK(d != a);
    CHECK(c.allocs == 3);
    /* same class: the freed block, no backing call */
    CHECK(vp_pool_alloc(pool, 513, &e) == VP_OK);
    CHECK(e == a);
    CHECK(c.allocs == 3);
    vp_pool_get_stats(pool, &s);
    CHECK(s.allocs == 4 && s.fresh == 3 && s.reuses == 1);
    CHECK(s.blocks_free == 0 && s.bytes_free == 0);
    CHECK(s.bytes_out == 256 + 2048 + 1024 && s.peak_bytes_out == 3328);
    CONSISTENT(pool, &c);

    /* big blocks: reused for the same rounded size only */
    void *big1, *big2, *big3;
    CHECK(vp_pool_alloc(pool, 3000000, &big1) == VP_OK);
    CHECK(vp_pool_free(pool, big1, "big1") == VP_OK);
    CHECK(vp_pool_alloc(pool, 3000064, &big2) == VP_OK); /* same rounding */
    CHECK(big2 == big1);
    CHECK(vp_pool_free(pool, big2, "big2") == VP_OK);
    CHECK(vp_pool_alloc(pool, 3000065, &big3) == VP_OK); /* next rounding */
    CHECK(big3 != big1);
    vp_pool_get_stats(pool, &s);
    CHECK(s.blocks_free == 1 && s.bytes_free == 3000064);
    CHECK(s.peak_bytes_out == 3328 + 3000320);
    CONSISTENT(pool, &c);

    CHECK(vp_pool_free(pool, b, "b") == VP_OK);
    CHECK(vp_pool_free(pool, d, "d") == VP_OK);
    CHECK(vp_pool_free(pool, e, "e") == VP_OK);
    CHECK(vp_pool_free(pool, big3, "big3") == VP_OK);
    CHECK(vp_pool_free(pool, NULL, "NULL") == VP_OK);
    vp_pool_get_stats(pool, &s);
    CHECK(s.blocks_out == 0 && s.bytes_out == 0 && s.returns == 7);
    CONSISTENT(pool, &c);

    /* trim gives the free lists back */
    vp_pool_trim(pool);
    vp_pool_get_stats(pool, &s);
    CHECK(s.blocks_free == 0 && s.bytes_free == 0 && s.released == 5);
    CHECK(c.live == 0 && c.frees == 5);
    CONSISTENT(pool, &c);

    log_reset();
    vp_pool_stats fin;
    vp_pool_destroy(&pool, &fin);
    CHECK(pool == NULL);
    CHECK(log_lines == 0); /* nothing leaked: nothing said */
    CHECK(fin.allocs == 7 && fin.blocks_out == 0);
    vp_pool_destroy(&pool, NULL); /* no-op */
}

static void test_bad_frees_and_leaks(void)
{
    counting c;
    counting_init(&c);
    vp_pool_backing be = {c_alloc, c_free, &c};
    vp_pool *pool;
    CHECK(vp_pool_create("device", &be, 0, &pool) == VP_OK);
    void *a, *b, *x;
    CHECK(vp_pool_alloc(pool, 100, &a) == VP_OK); /* 256 */
    CHECK(vp_pool_alloc(pool, 300, &b) == VP_OK); /* 512 */
    CHECK(vp_pool_alloc(pool, 5000, &x) == VP_OK); /* 8192 */
    CHECK(vp_pool_free(pool, x, "x") == VP_OK);

    log_reset();
    CHECK(vp_pool_free(pool, x, "x again") == VP_ERR_INVALID); /* double free */
    CHECK(log_lines == 1 && strstr(log_last, "double free") && strstr(log_last, "x again"));
    int stack_var;
    CHECK(vp_pool_free(pool, &stack_var, "a stack address") == VP_ERR_INVALID); /* foreign */
    CHECK(log_lines == 2 && strstr(log_last, "not a block of this pool"));
    CHECK(vp_pool_free(pool, (char *)a + 16, "inside a block") == VP_ERR_INVALID);
    CHECK(log_lines == 3);
    vp_pool_stats s;
    vp_pool_get_stats(pool, &s);
    CHECK(s.bad_frees == 3 && s.returns == 1);
    CHECK(s.blocks_out == 2 && s.bytes_out == 768);
    CONSISTENT(pool, &c);
    /* the double-freed block is still reusable once, and only once */
    void *y, *z;
    CHECK(vp_pool_alloc(pool, 8000, &y) == VP_OK && y == x);
    CHECK(vp_pool_alloc(pool, 8000, &z) == VP_OK && z != x);
    CHECK(vp_pool_free(pool, y, "y") == VP_OK && vp_pool_free(pool, z, "z") == VP_OK);

    /* a and b are never given back: leaks, in the stats before destroy ... */
    vp_pool_get_stats(pool, &s);
    CHECK(s.blocks_out == 2 && s.bytes_out == 768);
    log_reset();
    vp_pool_stats fin;
    vp_pool_destroy(&pool, &fin);
    /* ... in the final stats, and in exactly one log line */
    CHECK(fin.blocks_out == 2 && fin.bytes_out == 768);
    CHECK(log_lines == 1);
    CHECK(strstr(log_last, "device memory pool") && strstr(log_last, "2 blocks (768 bytes)"));
    /* and every block went back to the backing allocator */
    CHECK(c.live == 0 && c.live_bytes == 0 && c.frees == c.allocs);
}

static void test_cap_and_failure(void)
{
    counting c;
    counting_init(&c);
    vp_pool_backing be = {c_alloc, c_free, &c};
    vp_pool *pool;
    CHECK(vp_pool_create("capped", &be, 1024, &pool) == VP_OK);
    void *a, *b, *d;
    CHECK(vp_pool_alloc(pool, 1024, &a) == VP_OK);
    CHECK(vp_pool_alloc(pool, 512, &b) == VP_OK);
    CHECK(vp_pool_free(pool, a, "a") == VP_OK); /* 1024 kept: at the cap */
    CHECK(vp_pool_free(pool, b, "b") == VP_OK); /* 1536 > cap: released */
    vp_pool_stats s;
    vp_pool_get_stats(pool, &s);
    CHECK(s.blocks_free == 1 && s.bytes_free == 1024 && s.released == 1 && c.frees == 1);
    CONSISTENT(pool, &c);

    /* the next backing call fails once: the free list is trimmed, retried */
    c.fail_at = c.allocs + 1, c.fail_left = 1;
    CHECK(vp_pool_alloc(pool, 4096, &d) == VP_OK);
    vp_pool_get_stats(pool, &s);
    CHECK(s.failures == 0 && s.blocks_free == 0 && s.released == 2);
    /* two failures in a row: refused, counted, *p NULL */
    c.fail_at = c.allocs + 1, c.fail_left = 2;
    void *f = (void *)&c;
    CHECK(vp_pool_alloc(pool, 4096 * 4, &f) == VP_ERR_NOMEM);
    CHECK(f == NULL);
    vp_pool_get_stats(pool, &s);
    CHECK(s.failures == 1 && s.allocs == 3 && s.blocks_out == 1);
    c.fail_at = 0;
    CHECK(vp_pool_free(pool, d, "d") == VP_OK);
    log_reset();
    vp_pool_destroy(&pool, NULL);
    CHECK(log_lines == 0);
    CHECK(c.live == 0);
}

/* ---- threads --------------------------------------------------------------- */

#define THREADS 8
#define OPS 20000
#define HELD 16

typedef struct worker {
    vp_pool *pool;
    unsigned seed;
    long allocs, frees, corrupt;
} worker;

static size_t pick_size(unsigned *seed)
{
    unsigned r = (unsigned)rand_r(seed);
    switch (r % 8) {
    case 0: return 1 + r % 256;
    case 1: return 2000 + r % 3000;
    case 2: return ((size_t)1 << 20) + 256 * (r % 4); /* big, four roundings */
    default: return 64 + r % 60000;
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    void *held[HELD] = {0};
    size_t held_n[HELD] = {0};
    unsigned char tag = (unsigned char)(w->seed & 0xff);
    for (int i = 0; i < OPS; i++) {
        int k = rand_r(&w->seed) % HELD;
        if (held[k]) {
            /* nobody else wrote into it while we owned it */
            const unsigned char *m = held[k];
            if (m[0] != tag || m[held_n[k] - 1] != tag)
                w->corrupt++;
            if (vp_pool_free(w->pool, held[k], "worker") == VP_OK)
                w->frees++;
            held[k] = NULL;
        } else {
            size_t n = pick_size(&w->seed);
            if (vp_pool_alloc(w->pool, n, &held[k]) == VP_OK) {
                w->allocs++;
                held_n[k] = n;
                unsigned char *m = held[k];
                m[0] = tag, m[n - 1] = tag;
            }
        }
    }
    for (int k = 0; k < HELD; k++)
        if (held[k] && vp_pool_free(w->pool, held[k], "worker") == VP_OK)
            w->frees++;
    return NULL;
}

static void test_threads(void)
{
    counting c;
    counting_init(&c);
    vp_pool_backing be = {c_alloc, c_free, &c};
    vp_pool *pool;
    CHECK(vp_pool_create("threads", &be, 32u << 20, &pool) == VP_OK);
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){pool, 1000u + (unsigned)i * 77u, 0, 0, 0};
        CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
    }
    /* statistics read while the workers run: always self-consistent */
    for (int i = 0; i < 200; i++) {
        vp_pool_stats s;
        vp_pool_get_stats(pool, &s);
        CHECK(s.allocs == s.fresh + s.reuses);
        CHECK(s.blocks_out == s.allocs - s.returns);
        CHECK(s.peak_bytes_out >= s.bytes_out);
    }
    long allocs = 0, frees = 0, corrupt = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        allocs += w[i].allocs, frees += w[i].frees, corrupt += w[i].corrupt;
    }
    vp_pool_stats s;
    vp_pool_get_stats(pool, &s);
    CHECK(corrupt == 0);
    CHECK(allocs > OPS && allocs == frees);
    CHECK(s.allocs == allocs && s.returns == frees);
    CHECK(s.blocks_out == 0 && s.bytes_out == 0);
    CHECK(s.reuses > s.fresh); /* the point of a pool */
    CHECK(s.bad_frees == 0 && s.failures == 0);
    CHECK(s.bytes_free <= (32l << 20));
    CONSISTENT(pool, &c);
    printf("threads: %ld allocations, %ld fresh, %ld reuses, %ld released, peak %ld bytes outstanding, "
           "%ld bytes in free lists\n",
           s.allocs, s.fresh, s.reuses, s.released, s.peak_bytes_out, s.bytes_free);
    log_reset();
    vp_pool_destroy(&pool, NULL);
    CHECK(log_lines == 0);
    CHECK(c.live == 0);
}

/* The checker can fail: a figure off by one is caught. */
static void test_checker_fails(void)
{
    counting c;
    counting_init(&c);
    c.allocs = 2, c.ok = 2, c.live = 2, c.live_bytes = 512;
    vp_pool_stats s = {.allocs = 2, .fresh = 2, .blocks_out = 2, .bytes_out = 512, .peak_bytes_out = 512};
    CHECK(inconsistent(&s, &c) == NULL);
    s.bytes_out = 511;
    CHECK(inconsistent(&s, &c) != NULL);
    s.bytes_out = 512, s.reuses = 1;
    CHECK(inconsistent(&s, &c) != NULL);
}

int main(void)
{
    vp_log_set_sink(log_sink, NULL);
    test_classes();
    test_reuse_peak();
    test_bad_frees_and_leaks();
    test_cap_and_failure();
    test_threads();
    test_checker_fails();
    vp_log_set_sink(NULL, NULL);
    if (failures) {
        fprintf(stderr, "pool: %d checks failed\n", failures);
        return 1;
    }
    printf("pool: all checks passed\n");
    return 0;
}
