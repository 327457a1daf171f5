/*
 * Span recorder (span.h). Layout and the one concurrency rule:
 *
 * A writer's ring is written by its owner thread only. A record's fields are
 * relaxed atomics (plain moves on x86-64 and AArch64) so that a reader
 * copying while the owner writes is defined behaviour; the owner publishes
 * record i by a release store of head = i + 1. A reader loads head
 * (acquire), copies the records [head - capacity, head), issues an acquire
 * fence and loads head again: every record below the new head - capacity
 * may have been overwritten during the copy and is discarded. This is the
 * reader side of a sequence lock, with the sequence being the head itself.
 *
 * The per-name histograms of a writer are single-writer too: updated with
 * relaxed load + store (no locked instructions), read by anyone.
 */
#include "base/span.h"
#include "base/log.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

const vp_span_name vp_span_stage_names[VP_SPAN_STAGE_COUNT] = {
    [VP_SPAN_DECODE] = {"decode", "stream"},
    [VP_SPAN_PREPROCESS] = {"preprocess", "batch"},
    [VP_SPAN_INFERENCE] = {"inference", "batch"},
    [VP_SPAN_POSTPROCESS] = {"postprocess", "batch"},
    [VP_SPAN_TRACKING] = {"tracking", "stream"},
    [VP_SPAN_SINK] = {"sink", "stream"},
    [VP_SPAN_BATCH] = {"batch", "batch"},
    [VP_SPAN_DEMUX] = {"demux", "stream"},
    [VP_SPAN_GPU_PREPROCESS] = {"gpu preprocess", "batch"},
    [VP_SPAN_GPU_INFERENCE] = {"gpu inference", "batch"},
    [VP_SPAN_GPU_POSTPROCESS] = {"gpu postprocess", "batch"},
};

/* ---- histogram ---------------------------------------------------------- */

#define SUB (1u << VP_HIST_SUB_BITS)

static unsigned hist_index(uint64_t v)
{
    if (v < SUB)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    if (msb > VP_HIST_MAX_LOG2)
        return VP_HIST_BUCKETS - 1;
    unsigned sub = (unsigned)(v >> (msb - VP_HIST_SUB_BITS)) & (SUB - 1);
    return SUB + (msb - VP_HIST_SUB_BITS) * SUB + sub;
}

/* Lowest value of bucket i and its width. */
static void hist_bucket(unsigned i, uint64_t *lo, uint64_t *width)
{
    if (i < SUB) {
        *lo = i;
        *width = 1;
        return;
    }
    unsigned msb = (i - SUB) / SUB + VP_HIST_SUB_BITS;
    uint64_t sub = (i - SUB) % SUB;
    *width = (uint64_t)1 << (msb - VP_HIST_SUB_BITS);
    *lo = ((uint64_t)1 << msb) + sub * *width;
}

void vp_hist_init(vp_hist *h)
{
    for (unsigned i = 0; i < VP_HIST_BUCKETS; i++)
        atomic_init(&h->bucket[i], 0);
    atomic_init(&h->count, 0);
    atomic_init(&h->sum_ns, 0);
    atomic_init(&h->min_ns, UINT64_MAX);
    atomic_init(&h->max_ns, 0);
}

void vp_hist_add(vp_hist *h, uint64_t ns)
{
    atomic_fetch_add_explicit(&h->bucket[hist_index(ns)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&h->min_ns, memory_order_relaxed);
    while (ns < m && !atomic_compare_exchange_weak_explicit(&h->min_ns, &m, ns, memory_order_relaxed,
                                                            memory_order_relaxed))
        ;
    m = atomic_load_explicit(&h->max_ns, memory_order_relaxed);
    while (ns > m && !atomic_compare_exchange_weak_explicit(&h->max_ns, &m, ns, memory_order_relaxed,
                                                            memory_order_relaxed))
        ;
    /* count last, so that a reader seeing count n sees at least n samples' buckets in the common case */
    atomic_fetch_add_explicit(&h->count, 1, memory_order_release);
}

/* Single-writer update (a writer's own histograms). */
static void hist_add_owner(vp_hist *h, uint64_t ns)
{
#define BUMP(field, v) atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (v), \
                                             memory_order_relaxed)
    BUMP(h->bucket[hist_index(ns)], 1);
    BUMP(h->sum_ns, ns);
    if (ns < atomic_load_explicit(&h->min_ns, memory_order_relaxed))
        atomic_store_explicit(&h->min_ns, ns, memory_order_relaxed);
    if (ns > atomic_load_explicit(&h->max_ns, memory_order_relaxed))
        atomic_store_explicit(&h->max_ns, ns, memory_order_relaxed);
    atomic_store_explicit(&h->count, atomic_load_explicit(&h->count, memory_order_relaxed) + 1,
                          memory_order_release);
#undef BUMP
}

void vp_hist_merge(vp_hist *dst, const vp_hist *src)
{
    uint64_t n = atomic_load_explicit(&src->count, memory_order_acquire);
    if (!n)
        return;
    for (unsigned i = 0; i < VP_HIST_BUCKETS; i++) {
        uint64_t b = atomic_load_explicit(&src->bucket[i], memory_order_relaxed);
        if (b)
            atomic_fetch_add_explicit(&dst->bucket[i], b, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&dst->sum_ns, atomic_load_explicit(&src->sum_ns, memory_order_relaxed),
                              memory_order_relaxed);
    uint64_t mn = atomic_load_explicit(&src->min_ns, memory_order_relaxed);
    uint64_t mx = atomic_load_explicit(&src->max_ns, memory_order_relaxed);
    if (mn < atomic_load(&dst->min_ns))
        atomic_store(&dst->min_ns, mn);
    if (mx > atomic_load(&dst->max_ns))
        atomic_store(&dst->max_ns, mx);
    atomic_fetch_add_explicit(&dst->count, n, memory_order_release);
}

uint64_t vp_hist_quantile(const vp_hist *h, double q)
{
    /* Count the buckets themselves: with concurrent adds, count may run
     * ahead of or behind the buckets by a few samples. */
    uint64_t total = 0;
    for (unsigned i = 0; i < VP_HIST_BUCKETS; i++)
        total += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
    if (!total)
        return 0;
    if (!(q > 0))
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)(q * (double)total + 0.5); /* the rank-th smallest, 1-based */
    if (rank < 1)
        rank = 1;
    if (rank > total)
        rank = total;
    uint64_t seen = 0;
    unsigned i = 0;
    for (; i < VP_HIST_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
        if (seen >= rank)
            break;
    }
    if (i == VP_HIST_BUCKETS)
        i = VP_HIST_BUCKETS - 1;
    uint64_t lo, width;
    hist_bucket(i, &lo, &width);
    uint64_t v = lo + width / 2;
    uint64_t mn = atomic_load_explicit(&h->min_ns, memory_order_relaxed);
    uint64_t mx = atomic_load_explicit(&h->max_ns, memory_order_relaxed);
    if (v > mx)
        v = mx;
    if (v < mn)
        v = mn;
    return v;
}

void vp_hist_summary(const vp_hist *h, vp_span_stats *out)
{
    memset(out, 0, sizeof *out);
    out->count = atomic_load_explicit(&h->count, memory_order_acquire);
    if (!out->count)
        return;
    out->mean_ns = (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / (double)out->count;
    out->min_ns = atomic_load_explicit(&h->min_ns, memory_order_relaxed);
    out->max_ns = atomic_load_explicit(&h->max_ns, memory_order_relaxed);
    out->p50_ns = vp_hist_quantile(h, 0.50);
    out->p95_ns = vp_hist_quantile(h, 0.95);
    out->p99_ns = vp_hist_quantile(h, 0.99);
}

/* ---- recorder ------------------------------------------------------------ */

typedef struct rec {
    _Atomic uint64_t t0, t1;
    _Atomic int64_t arg;
    _Atomic uint32_t name;
    uint32_t pad;
} rec; /* 32 bytes: two per cache line */

struct vp_span_writer {
    /* hot, owner-written */
    _Alignas(64) _Atomic uint64_t head; /* records written in total; record i is at ring[i & mask] */
    rec *ring;
    uint64_t mask;
    vp_hist *hist; /* one per name */
    vp_spans *s;
    uint64_t gpu_last_t1; /* vp_span_gpu: end of the previous span */
    /* cold */
    _Atomic int in_use;
    int track;
    int tid;
    char name[64];
};

struct vp_spans {
    const vp_span_name *names;
    unsigned n_names;
    unsigned max_writers;
    uint64_t capacity;
    const vp_span_hooks *hooks;
    void *hooks_ctx;
    uint64_t origin_ns;
    pthread_mutex_t mu;        /* guards opening and releasing writers */
    int full_logged;           /* under mu */
    _Atomic unsigned n_writers; /* published after w[i] is complete */
    vp_span_writer **w;        /* max_writers slots */
};

int vp_spans_create(const vp_spans_config *cfg, vp_spans **out)
{
    vp_spans_config c = {0};
    *out = NULL;
    if (cfg)
        c = *cfg;
    if (!c.names) {
        c.names = vp_span_stage_names;
        c.n_names = VP_SPAN_STAGE_COUNT;
    }
    if (!c.max_writers)
        c.max_writers = 64;
    if (!c.capacity)
        c.capacity = 65536;
    if (c.n_names < 1 || c.n_names > 1024 || c.max_writers > 4096 || c.capacity > (1u << 28)) {
        VP_LOGE("spans: bad config (names %u: 1..1024, max_writers %u: <= 4096, capacity %u: <= 2^28)", c.n_names,
                c.max_writers, c.capacity);
        return VP_ERR_INVALID;
    }
    for (unsigned i = 0; i < c.n_names; i++)
        if (!c.names[i].name) {
            VP_LOGE("spans: name %u is NULL", i);
            return VP_ERR_INVALID;
        }
    if (c.hooks && (!c.hooks->push || !c.hooks->pop)) {
        VP_LOGE("spans: hooks need both push and pop");
        return VP_ERR_INVALID;
    }
    vp_spans *s = calloc(1, sizeof *s);
    if (!s || !(s->w = calloc(c.max_writers, sizeof *s->w))) {
        free(s);
        return VP_ERR_NOMEM;
    }
    uint64_t cap = 1;
    while (cap < c.capacity)
        cap <<= 1;
    s->names = c.names;
    s->n_names = c.n_names;
    s->max_writers = c.max_writers;
    s->capacity = cap;
    s->hooks = c.hooks;
    s->hooks_ctx = c.hooks_ctx;
    s->origin_ns = vp_clock_ns();
    pthread_mutex_init(&s->mu, NULL);
    atomic_init(&s->n_writers, 0);
    *out = s;
    return VP_OK;
}

void vp_spans_free(vp_spans **sp)
{
    if (!sp || !*sp)
        return;
    vp_spans *s = *sp;
    unsigned n = atomic_load(&s->n_writers);
    for (unsigned i = 0; i < n; i++) {
        free(s->w[i]->ring);
        free(s->w[i]->hist);
        free(s->w[i]);
    }
    free(s->w);
    pthread_mutex_destroy(&s->mu);
    free(s);
    *sp = NULL;
}

int vp_spans_writer(vp_spans *s, const char *thread_name, int track, vp_span_writer **out)
{
    *out = NULL;
    if (!s)
        return VP_OK;
    if (track != VP_SPAN_TRACK_CPU && track != VP_SPAN_TRACK_GPU) {
        VP_LOGE("spans: writer '%s': unknown track %d", thread_name ? thread_name : "", track);
        return VP_ERR_INVALID;
    }
    if (!thread_name)
        thread_name = "";
    pthread_mutex_lock(&s->mu);
    unsigned n = atomic_load_explicit(&s->n_writers, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        vp_span_writer *w = s->w[i];
        if (!atomic_load(&w->in_use) && w->track == track && strncmp(w->name, thread_name, sizeof w->name - 1) == 0) {
            atomic_store(&w->in_use, 1);
            w->tid = track == VP_SPAN_TRACK_CPU ? (int)syscall(SYS_gettid) : 0;
            pthread_mutex_unlock(&s->mu);
            *out = w;
            return VP_OK;
        }
    }
    if (n == s->max_writers) {
        if (!s->full_logged)
            VP_LOGW("spans: all %u writers in use; '%s' and later threads record no spans", s->max_writers,
                    thread_name);
        s->full_logged = 1;
        pthread_mutex_unlock(&s->mu);
        return VP_ERR_NOMEM;
    }
    vp_span_writer *w = aligned_alloc(64, sizeof *w);
    if (w) {
        memset(w, 0, sizeof *w);
        w->ring = calloc(s->capacity, sizeof *w->ring);
        w->hist = malloc(s->n_names * sizeof *w->hist);
    }
    if (!w || !w->ring || !w->hist) {
        if (w) {
            free(w->ring);
            free(w->hist);
        }
        free(w);
        pthread_mutex_unlock(&s->mu);
        VP_LOGE("spans: out of memory opening writer '%s' (%llu records)", thread_name,
                (unsigned long long)s->capacity);
        return VP_ERR_NOMEM;
    }
    for (unsigned i = 0; i < s->n_names; i++)
        vp_hist_init(&w->hist[i]);
    atomic_init(&w->head, 0);
    atomic_init(&w->in_use, 1);
    w->mask = s->capacity - 1;
    w->s = s;
    w->track = track;
    w->tid = track == VP_SPAN_TRACK_CPU ? (int)syscall(SYS_gettid) : 0;
    strncpy(w->name, thread_name, sizeof w->name - 1);
    s->w[n] = w;
    atomic_store_explicit(&s->n_writers, n + 1, memory_order_release);
    pthread_mutex_unlock(&s->mu);
    *out = w;
    return VP_OK;
}

void vp_span_writer_release(vp_span_writer **wp)
{
    if (!wp || !*wp)
        return;
    vp_span_writer *w = *wp;
    pthread_mutex_lock(&w->s->mu);
    atomic_store(&w->in_use, 0);
    pthread_mutex_unlock(&w->s->mu);
    *wp = NULL;
}

static inline void put(vp_span_writer *w, unsigned name, uint64_t t0, uint64_t t1, int64_t arg)
{
    if (name >= w->s->n_names)
        return; /* a programmer error; dropping beats an out-of-bounds histogram */
    if (t1 < t0)
        t1 = t0;
    uint64_t i = atomic_load_explicit(&w->head, memory_order_relaxed);
    rec *r = &w->ring[i & w->mask];
    atomic_store_explicit(&r->t0, t0, memory_order_relaxed);
    atomic_store_explicit(&r->t1, t1, memory_order_relaxed);
    atomic_store_explicit(&r->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&r->name, name, memory_order_relaxed);
    atomic_store_explicit(&w->head, i + 1, memory_order_release);
    hist_add_owner(&w->hist[name], t1 - t0);
}

uint64_t vp_span_begin_on(vp_span_writer *w, unsigned name)
{
    const vp_span_hooks *h = w->s->hooks;
    if (h)
        h->push(w->s->hooks_ctx, name);
    return vp_clock_ns();
}

void vp_span_end_on(vp_span_writer *w, unsigned name, uint64_t t0, int64_t arg)
{
    uint64_t t1 = vp_clock_ns();
    put(w, name, t0, t1, arg);
    const vp_span_hooks *h = w->s->hooks;
    if (h)
        h->pop(w->s->hooks_ctx);
}

void vp_span_record(vp_span_writer *w, unsigned name, uint64_t t0, uint64_t t1, int64_t arg)
{
    if (w)
        put(w, name, t0, t1, arg);
}

void vp_span_gpu(vp_span_writer *w, unsigned name, uint64_t t0, uint64_t t1, int64_t arg)
{
    if (!w)
        return;
    if (t1 < t0)
        t1 = t0;
    if (t0 < w->gpu_last_t1) { /* serial work drawn overlapping: an anchor error, keep the order */
        t1 += w->gpu_last_t1 - t0;
        t0 = w->gpu_last_t1;
    }
    w->gpu_last_t1 = t1;
    put(w, name, t0, t1, arg);
}

void vp_span_gpu_elapsed(vp_span_writer *w, unsigned name, uint64_t anchor_ns, float begin_ms, float end_ms,
                         int64_t arg)
{
    if (!w)
        return;
    /* negative offsets (an event before its anchor) are clamped to the anchor */
    double b = begin_ms > 0 ? (double)begin_ms * 1e6 : 0, e = end_ms > 0 ? (double)end_ms * 1e6 : 0;
    vp_span_gpu(w, name, anchor_ns + (uint64_t)(b + 0.5), anchor_ns + (uint64_t)(e + 0.5), arg);
}

/* ---- reading ------------------------------------------------------------- */

unsigned vp_spans_n_names(const vp_spans *s) { return s->n_names; }

const vp_span_name *vp_spans_name(const vp_spans *s, unsigned id)
{
    return id < s->n_names ? &s->names[id] : NULL;
}

uint64_t vp_spans_origin_ns(const vp_spans *s) { return s->origin_ns; }
size_t vp_spans_capacity(const vp_spans *s) { return (size_t)s->capacity; }
unsigned vp_spans_n_writers(const vp_spans *s) { return atomic_load_explicit(&s->n_writers, memory_order_acquire); }

static vp_span_writer *writer_at(const vp_spans *s, unsigned i)
{
    return i < vp_spans_n_writers(s) ? s->w[i] : NULL;
}

int vp_spans_writer_info(const vp_spans *s, unsigned i, vp_span_writer_info *out)
{
    vp_span_writer *w = writer_at(s, i);
    if (!w)
        return VP_ERR_NOT_FOUND;
    memset(out, 0, sizeof *out);
    /* name, track and tid change only under mu (reuse by the same name keeps them but the tid) */
    pthread_mutex_lock(&((vp_spans *)s)->mu);
    memcpy(out->name, w->name, sizeof out->name);
    out->track = w->track;
    out->tid = w->tid;
    pthread_mutex_unlock(&((vp_spans *)s)->mu);
    out->recorded = atomic_load_explicit(&w->head, memory_order_acquire);
    out->dropped = out->recorded > s->capacity ? out->recorded - s->capacity : 0;
    return VP_OK;
}

size_t vp_spans_snapshot(const vp_spans *s, unsigned i, vp_span_event *out, size_t cap, uint64_t *first_out)
{
    vp_span_writer *w = writer_at(s, i);
    if (first_out)
        *first_out = 0;
    if (!w)
        return 0;
    uint64_t h1 = atomic_load_explicit(&w->head, memory_order_acquire);
    uint64_t first = h1 > s->capacity ? h1 - s->capacity : 0;
    if (h1 - first > cap)
        first = h1 - cap;
    for (uint64_t k = first; k < h1; k++) {
        const rec *r = &w->ring[k & w->mask];
        vp_span_event *e = &out[k - first];
        e->t0 = atomic_load_explicit(&r->t0, memory_order_relaxed);
        e->t1 = atomic_load_explicit(&r->t1, memory_order_relaxed);
        e->arg = atomic_load_explicit(&r->arg, memory_order_relaxed);
        e->name = atomic_load_explicit(&r->name, memory_order_relaxed);
    }
    atomic_thread_fence(memory_order_acquire);
    uint64_t h2 = atomic_load_explicit(&w->head, memory_order_relaxed);
    uint64_t safe = h2 > s->capacity ? h2 - s->capacity : 0; /* records below were possibly overwritten */
    if (safe <= first) {
        if (first_out)
            *first_out = first;
        return (size_t)(h1 - first);
    }
    if (first_out)
        *first_out = safe < h1 ? safe : h1;
    if (safe >= h1)
        return 0;
    size_t skip = (size_t)(safe - first);
    memmove(out, out + skip, (size_t)(h1 - safe) * sizeof *out);
    return (size_t)(h1 - safe);
}

int vp_span_writer_stats(const vp_spans *s, unsigned writer, unsigned name, vp_span_stats *out)
{
    vp_span_writer *w = writer_at(s, writer);
    if (!w || name >= s->n_names)
        return VP_ERR_NOT_FOUND;
    vp_hist_summary(&w->hist[name], out);
    return VP_OK;
}

int vp_spans_stats(const vp_spans *s, unsigned name, vp_span_stats *out)
{
    if (name >= s->n_names)
        return VP_ERR_NOT_FOUND;
    vp_hist *h = malloc(sizeof *h);
    if (!h)
        return VP_ERR_NOMEM;
    vp_hist_init(h);
    unsigned n = vp_spans_n_writers(s);
    for (unsigned i = 0; i < n; i++)
        vp_hist_merge(h, &s->w[i]->hist[name]);
    vp_hist_summary(h, out);
    free(h);
    return VP_OK;
}
