/* A memory pool over an allocate/free pair, with statistics (pool.h). */
#include "gpu/pool.h"
#include "base/log.h"
#include "vidpipe/vidpipe.h"

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NUM_CLASSES 13 /* 256 B .. 1 MiB */
#define BIG_ROUND ((size_t)256)

/* What the pool knows of one block: host-side, never inside the block. */
typedef struct block {
    void *ptr;
    size_t size;        /* block size (class or big rounding) */
    int cls;            /* class index, -1 for a big block */
    int in_use;         /* 1: handed out; 0: in a free list */
    struct block *hnext; /* hash chain */
    struct block *fnext; /* free list (in_use == 0 only) */
} block;

struct vp_pool {
    char name[32];
    vp_pool_backing be;
    size_t max_free;
    pthread_mutex_t mu;
    block **buckets;    /* every block the pool owns, by address */
    size_t nbuckets;    /* power of two */
    size_t nblocks;
    block *free_cls[NUM_CLASSES];
    block *free_big;    /* unsorted; matched by exact size */
    vp_pool_stats st;
};

size_t vp_pool_block_size(size_t bytes)
{
    if (bytes <= VP_POOL_MIN_CLASS)
        return VP_POOL_MIN_CLASS;
    if (bytes <= VP_POOL_MAX_CLASS) {
        size_t s = VP_POOL_MIN_CLASS;
        while (s < bytes)
            s <<= 1;
        return s;
    }
    if (bytes > SIZE_MAX - BIG_ROUND)
        return 0; /* cannot be rounded: refused by vp_pool_alloc */
    return (bytes + BIG_ROUND - 1) & ~(BIG_ROUND - 1);
}

static int class_of(size_t size)
{
    if (size > VP_POOL_MAX_CLASS)
        return -1;
    int c = 0;
    for (size_t s = VP_POOL_MIN_CLASS; s < size; s <<= 1)
        c++;
    return c;
}

static size_t hash_ptr(const vp_pool *pool, const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> 32) & (pool->nbuckets - 1);
}

static block *lookup(const vp_pool *pool, const void *p)
{
    for (block *b = pool->buckets[hash_ptr(pool, p)]; b; b = b->hnext)
        if (b->ptr == p)
            return b;
    return NULL;
}

/* Grows the table when it holds more blocks than buckets; a failed growth
 * keeps the old table (longer chains, still correct). */
static void maybe_grow(vp_pool *pool)
{
    if (pool->nblocks <= pool->nbuckets)
        return;
    size_t old_n = pool->nbuckets;
    block **old = pool->buckets;
    block **nb = calloc(old_n * 2, sizeof *nb);
    if (!nb)
        return;
    pool->buckets = nb;
    pool->nbuckets = old_n * 2;
    for (size_t i = 0; i < old_n; i++) {
        for (block *b = old[i], *next; b; b = next) {
            next = b->hnext;
            size_t h = hash_ptr(pool, b->ptr);
            b->hnext = nb[h];
            nb[h] = b;
        }
    }
    free(old);
}

static void unhash(vp_pool *pool, block *b)
{
    block **pp = &pool->buckets[hash_ptr(pool, b->ptr)];
    while (*pp != b)
        pp = &(*pp)->hnext;
    *pp = b->hnext;
    pool->nblocks--;
}

/* A free-list block back to the backing allocator; the caller unlinked it
 * from its free list. */
static void release(vp_pool *pool, block *b)
{
    unhash(pool, b);
    pool->be.free(pool->be.ctx, b->ptr);
    pool->st.blocks_free--;
    pool->st.bytes_free -= (long)b->size;
    pool->st.released++;
    free(b);
}

static void trim_locked(vp_pool *pool)
{
    for (int c = 0; c < NUM_CLASSES; c++) {
        while (pool->free_cls[c]) {
            block *b = pool->free_cls[c];
            pool->free_cls[c] = b->fnext;
            release(pool, b);
        }
    }
    while (pool->free_big) {
        block *b = pool->free_big;
        pool->free_big = b->fnext;
        release(pool, b);
    }
}

int vp_pool_create(const char *name, const vp_pool_backing *backing, size_t max_free_bytes, vp_pool **out)
{
    *out = NULL;
    vp_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return VP_ERR_NOMEM;
    pool->nbuckets = 64;
    if (!(pool->buckets = calloc(pool->nbuckets, sizeof *pool->buckets))) {
        free(pool);
        return VP_ERR_NOMEM;
    }
    if (pthread_mutex_init(&pool->mu, NULL)) {
        free(pool->buckets);
        free(pool);
        return VP_ERR_NOMEM;
    }
    snprintf(pool->name, sizeof pool->name, "%s", name ? name : "pool");
    pool->be = *backing;
    pool->max_free = max_free_bytes;
    *out = pool;
    return VP_OK;
}

void vp_pool_destroy(vp_pool **pp, vp_pool_stats *final)
{
    if (!pp || !*pp)
        return;
    vp_pool *pool = *pp;
    if (final)
        vp_pool_get_stats(pool, final);
    long leaks = pool->st.blocks_out, leaked_bytes = pool->st.bytes_out;
    if (leaks)
        VP_LOGE("%s memory pool: %ld block%s (%ld bytes) still outstanding at destroy: leaked by their owner, "
                "released now",
                pool->name, leaks, leaks == 1 ? "" : "s", leaked_bytes);
    for (size_t i = 0; i < pool->nbuckets; i++) {
        for (block *b = pool->buckets[i], *next; b; b = next) {
            next = b->hnext;
            pool->be.free(pool->be.ctx, b->ptr);
            free(b);
        }
    }
    free(pool->buckets);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
    *pp = NULL;
}

static block *take_free(vp_pool *pool, size_t size, int cls)
{
    block **pp = cls >= 0 ? &pool->free_cls[cls] : &pool->free_big;
    for (; *pp; pp = &(*pp)->fnext) {
        if ((*pp)->size == size) {
            block *b = *pp;
            *pp = b->fnext;
            b->fnext = NULL;
            return b;
        }
    }
    return NULL;
}

int vp_pool_alloc(vp_pool *pool, size_t bytes, void **p)
{
    *p = NULL;
    size_t size = vp_pool_block_size(bytes);
    if (!size) {
        VP_LOGE("%s memory pool: a request of %zu bytes cannot be served", pool->name, bytes);
        return VP_ERR_NOMEM;
    }
    int cls = class_of(size);
    int rc = VP_OK;
    pthread_mutex_lock(&pool->mu);
    block *b = take_free(pool, size, cls);
    if (b) {
        pool->st.reuses++;
        pool->st.blocks_free--;
        pool->st.bytes_free -= (long)size;
    } else {
        void *mem = NULL;
        rc = pool->be.alloc(pool->be.ctx, size, &mem);
        if (rc && pool->st.blocks_free) {
            /* memory parked in other classes may be what is missing */
            trim_locked(pool);
            rc = pool->be.alloc(pool->be.ctx, size, &mem);
        }
        if (!rc && !(b = calloc(1, sizeof *b))) {
            pool->be.free(pool->be.ctx, mem);
            rc = VP_ERR_NOMEM;
        }
        if (rc) {
            pool->st.failures++;
            pthread_mutex_unlock(&pool->mu);
            return rc < 0 ? rc : VP_ERR_NOMEM;
        }
        b->ptr = mem;
        b->size = size;
        b->cls = cls;
        size_t h = hash_ptr(pool, mem);
        b->hnext = pool->buckets[h];
        pool->buckets[h] = b;
        pool->nblocks++;
        maybe_grow(pool);
        pool->st.fresh++;
    }
    b->in_use = 1;
    pool->st.allocs++;
    pool->st.blocks_out++;
    pool->st.bytes_out += (long)size;
    if (pool->st.bytes_out > pool->st.peak_bytes_out)
        pool->st.peak_bytes_out = pool->st.bytes_out;
    *p = b->ptr;
    pthread_mutex_unlock(&pool->mu);
    return VP_OK;
}

int vp_pool_free(vp_pool *pool, void *p, const char *what)
{
    if (!p)
        return VP_OK;
    const char *bad = NULL;
    pthread_mutex_lock(&pool->mu);
    block *b = lookup(pool, p);
    if (!b)
        bad = "not a block of this pool";
    else if (!b->in_use)
        bad = "already given back (double free)";
    if (bad) {
        pool->st.bad_frees++;
        pthread_mutex_unlock(&pool->mu);
        VP_LOGE("%s memory pool: free of %p (%s): %s; ignored", pool->name, p, what ? what : "?", bad);
        return VP_ERR_INVALID;
    }
    b->in_use = 0;
    pool->st.returns++;
    pool->st.blocks_out--;
    pool->st.bytes_out -= (long)b->size;
    pool->st.blocks_free++;
    pool->st.bytes_free += (long)b->size;
    if (pool->max_free && (size_t)pool->st.bytes_free > pool->max_free) {
        release(pool, b);
    } else if (b->cls >= 0) {
        b->fnext = pool->free_cls[b->cls];
        pool->free_cls[b->cls] = b;
    } else {
        b->fnext = pool->free_big;
        pool->free_big = b;
    }
    pthread_mutex_unlock(&pool->mu);
    return VP_OK;
}

void vp_pool_trim(vp_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    trim_locked(pool);
    pthread_mutex_unlock(&pool->mu);
}

void vp_pool_get_stats(vp_pool *pool, vp_pool_stats *out)
{
    if (!pool) {
        memset(out, 0, sizeof *out);
        return;
    }
    pthread_mutex_lock(&pool->mu);
    *out = pool->st;
    pthread_mutex_unlock(&pool->mu);
}
