/*
 * A memory pool over an allocate/free pair, with statistics.
 *
 * Why: the pipeline's device and pinned-host buffers come from cudaMalloc
 * and cudaMallocHost, which are slow and synchronise the device; a buffer
 * given back is kept in a free list of its size class and handed to the
 * next caller of that class instead. The statistics answer "how much is
 * held, how much at most, and was everything given back" (outstanding
 * blocks at destroy are leaks, reported in one log line).
 *
 * The pool never touches the memory it hands out (device memory is not
 * host-addressable): what it knows of a block lives in a host-side record,
 * found by address in a hash table. So freeing a pointer the pool does not
 * own, or a block twice, is detected and reported (VP_ERR_INVALID, one log
 * line, counted in bad_frees) instead of corrupting anything.
 *
 * Size classes: powers of two from VP_POOL_MIN_CLASS (256 B) up to
 * VP_POOL_MAX_CLASS (1 MiB); a larger request is a "big" block of exactly
 * the request rounded up to 256 B, reused only by a request of that same
 * rounded size (the pipeline's big buffers are sized once per
 * configuration, so exact reuse is the common case and wastes nothing).
 *
 * Thread safety: every call takes the pool's own mutex; there is no global
 * state, and two pools never share anything. Expected load: allocations at
 * start-up and when a stream's frame size grows, not per frame.
 *
 * Stream ordering (device pools): the pool does not know about CUDA
 * streams. A block freed while GPU work still reads or writes it may be
 * handed to the next caller at once; free a device block only after the
 * work using it is complete (stream synchronised or an event waited on),
 * or when its next user works on the same stream.
 */
#ifndef VP_GPU_POOL_H
#define VP_GPU_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VP_POOL_MIN_CLASS ((size_t)256)
#define VP_POOL_MAX_CLASS ((size_t)1 << 20)

/* Backing allocator: alloc returns 0 and sets *p, or non-zero (a vp_status)
 * after logging why; free releases what alloc returned. ctx is passed
 * through unchanged. */
typedef struct vp_pool_backing {
    int (*alloc)(void *ctx, size_t bytes, void **p);
    void (*free)(void *ctx, void *p);
    void *ctx;
} vp_pool_backing;

/* All counts since create. Bytes are block sizes (the request rounded up
 * to its class), i.e. what the pool holds, not what callers asked for. */
typedef struct vp_pool_stats {
    long allocs;          /* successful vp_pool_alloc calls = fresh + reuses */
    long fresh;           /* served by the backing allocator */
    long reuses;          /* served from a free list */
    long returns;         /* successful vp_pool_free calls (non-NULL) */
    long failures;        /* vp_pool_alloc calls the backing allocator refused */
    long bad_frees;       /* frees of a foreign pointer or of a block already free */
    long blocks_out;      /* handed out and not given back (at destroy: leaks) */
    long bytes_out;
    long peak_bytes_out;  /* highest bytes_out seen */
    long blocks_free;     /* held in the free lists, ready for reuse */
    long bytes_free;
    long released;        /* blocks given back to the backing allocator (trim, cap) */
} vp_pool_stats;

typedef struct vp_pool vp_pool;

/* name: for log lines ("device", "pinned host"), copied. max_free_bytes:
 * cap on bytes held in free lists (a return that would exceed it goes back
 * to the backing allocator); 0 = no cap. VP_ERR_NOMEM or VP_OK. */
int vp_pool_create(const char *name, const vp_pool_backing *backing, size_t max_free_bytes, vp_pool **out);
/* Releases the free lists and every block still outstanding (a leak: one
 * log line with the count and bytes; a pointer kept past this dangles).
 * final (may be NULL) gets the statistics as they were just before.
 * *pp is set to NULL; NULL or *pp NULL is a no-op. */
void vp_pool_destroy(vp_pool **pp, vp_pool_stats *final);

/* A block of at least bytes (0 counts as 1). VP_OK and *p set, or the
 * backing allocator's error with *p NULL. */
int vp_pool_alloc(vp_pool *pool, size_t bytes, void **p);
/* Gives p back: VP_OK; NULL is a no-op (VP_OK); a pointer the pool did not
 * hand out, or a block already given back, is VP_ERR_INVALID, logged with
 * what. */
int vp_pool_free(vp_pool *pool, void *p, const char *what);
/* Gives every free-list block back to the backing allocator. */
void vp_pool_trim(vp_pool *pool);
/* Snapshot; a NULL pool gives zeros. */
void vp_pool_get_stats(vp_pool *pool, vp_pool_stats *out);
/* The block size a request of bytes gets (its class or the big rounding). */
size_t vp_pool_block_size(size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
