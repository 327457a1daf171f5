/*
 * Strided N-d copy: the one primitive behind Transpose, Slice, Expand, Tile,
 * Concat, Split, DepthToSpace/SpaceToDepth and the interior of Pad.
 *
 * The view is first simplified: dimensions of size 1 are dropped and
 * neighbours that are contiguous in both source and destination are merged,
 * so e.g. an NCHW->NHWC transpose becomes a batch of 2-d transposes and a
 * Concat along channels becomes a few long memcpy runs. Then one of four
 * inner loops runs:
 *   - both innermost strides 1: memcpy of whole rows;
 *   - destination stride 1, source stride 0: a broadcast fill (Expand);
 *   - destination stride 1 and some other dimension with source stride 1: a
 *     cache-blocked 2-d transpose between that dimension and the innermost;
 *   - otherwise an element loop with both strides.
 * Elements are moved by size (1, 2, 4, 8 bytes) through fixed-size memcpy,
 * which compilers turn into plain loads and stores and which is free of
 * aliasing and alignment concerns.
 */
#include "engine/cpu/shape.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many bytes a copy stays on one thread: OpenMP's fork costs a
 * few microseconds, as much as copying this much. */
#define PAR_BYTES ((int64_t)1 << 17)
#define TILE 32

static int max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void vp_cpu_dense_strides(const vp_shape *s, int64_t *st)
{
    int64_t acc = 1;
    for (int k = s->rank - 1; k >= 0; k--) {
        st[k] = acc;
        acc *= s->d[k];
    }
}

void vp_cpu_copy_bytes(void *dst, const void *src, size_t bytes)
{
    if (dst == src || bytes == 0)
        return;
    if ((int64_t)bytes < 2 * PAR_BYTES) {
        memcpy(dst, src, bytes);
        return;
    }
    int64_t nch = (int64_t)(bytes / (size_t)PAR_BYTES);
    int64_t nt = max_threads();
    if (nch > nt)
        nch = nt;
#pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < nch; ch++) {
        size_t b = (size_t)((int64_t)bytes * ch / nch), e = (size_t)((int64_t)bytes * (ch + 1) / nch);
        memcpy((char *)dst + b, (const char *)src + b, e - b);
    }
}

/* Typed (by size) inner loops. */
#define DEF_FILL(SZ)                                                                       \
    static void fill_##SZ(char *d, const char *v, int64_t n)                               \
    {                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                    \
            memcpy(d + i * SZ, v, SZ);                                                     \
    }
DEF_FILL(2)
DEF_FILL(4)
DEF_FILL(8)

#define DEF_LOOPS(SZ)                                                                      \
    static void strided_##SZ(char *d, int64_t ds, const char *s, int64_t ss, int64_t n)    \
    {                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                    \
            memcpy(d + i * ds * SZ, s + i * ss * SZ, SZ);                                  \
    }                                                                                      \
    /* dst[i*dsi + j] = src[i + j*ssj] for i < ni, j < nj (one transpose tile) */          \
    static void tile_##SZ(char *d, int64_t dsi, const char *s, int64_t ssj, int64_t ni,    \
                          int64_t nj)                                                      \
    {                                                                                      \
        for (int64_t i = 0; i < ni; i++)                                                   \
            for (int64_t j = 0; j < nj; j++)                                               \
                memcpy(d + (i * dsi + j) * SZ, s + (i + j * ssj) * SZ, SZ);                \
    }
DEF_LOOPS(1)
DEF_LOOPS(2)
DEF_LOOPS(4)
DEF_LOOPS(8)

static void fill_any(char *d, const char *v, int64_t n, size_t es)
{
    switch (es) {
    case 1: memset(d, (unsigned char)v[0], (size_t)n); break;
    case 2: fill_2(d, v, n); break;
    case 4: fill_4(d, v, n); break;
    case 8: fill_8(d, v, n); break;
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(d + (size_t)i * es, v, es);
    }
}

static void strided_any(char *d, int64_t ds, const char *s, int64_t ss, int64_t n, size_t es)
{
    switch (es) {
    case 1: strided_1(d, ds, s, ss, n); break;
    case 2: strided_2(d, ds, s, ss, n); break;
    case 4: strided_4(d, ds, s, ss, n); break;
    case 8: strided_8(d, ds, s, ss, n); break;
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(d + i * ds * (int64_t)es, s + i * ss * (int64_t)es, es);
    }
}

static void tile_any(char *d, int64_t dsi, const char *s, int64_t ssj, int64_t ni, int64_t nj,
                     size_t es)
{
    switch (es) {
    case 1: tile_1(d, dsi, s, ssj, ni, nj); break;
    case 2: tile_2(d, dsi, s, ssj, ni, nj); break;
    case 4: tile_4(d, dsi, s, ssj, ni, nj); break;
    case 8: tile_8(d, dsi, s, ssj, ni, nj); break;
    default:
        for (int64_t i = 0; i < ni; i++)
            for (int64_t j = 0; j < nj; j++)
                memcpy(d + (i * dsi + j) * (int64_t)es, s + (i + j * ssj) * (int64_t)es, es);
    }
}

void vp_cpu_fill(void *dst, const void *val, int64_t n, size_t esize)
{
    if (n <= 0)
        return;
    int64_t bytes = n * (int64_t)esize;
    if (bytes < 2 * PAR_BYTES) {
        fill_any(dst, val, n, esize);
        return;
    }
    int64_t nch = bytes / PAR_BYTES, nt = max_threads();
    if (nch > nt)
        nch = nt;
#pragma omp parallel for schedule(static)
    for (int64_t ch = 0; ch < nch; ch++) {
        int64_t b = n * ch / nch, e = n * (ch + 1) / nch;
        fill_any((char *)dst + b * (int64_t)esize, val, e - b, esize);
    }
}

/* A simplified view: only dims of size > 1, contiguous neighbours merged. */
typedef struct view {
    int rank;
    int64_t n[VP_COPY_MAX_DIMS], ds[VP_COPY_MAX_DIMS], ss[VP_COPY_MAX_DIMS];
} view;

/* Inner-loop kinds. */
enum { ROW_MEMCPY, ROW_FILL, ROW_STRIDED };

/* Copy rows [r0, r1) of the view (a row = the innermost dim; outer dims
 * 0..rank-2 walked as an odometer so each row costs O(1) amortised). */
static void copy_rows(const view *v, char *dst, const char *src, size_t es, int kind, int64_t r0,
                      int64_t r1)
{
    int r = v->rank, nout = r - 1;
    int64_t idx[VP_COPY_MAX_DIMS];
    int64_t doff = 0, soff = 0, rem = r0;
    for (int k = nout - 1; k >= 0; k--) {
        idx[k] = rem % v->n[k];
        rem /= v->n[k];
        doff += idx[k] * v->ds[k];
        soff += idx[k] * v->ss[k];
    }
    int64_t len = v->n[r - 1], dsi = v->ds[r - 1], ssi = v->ss[r - 1];
    int64_t e = (int64_t)es;
    for (int64_t row = r0; row < r1; row++) {
        char *d = dst + doff * e;
        const char *s = src + soff * e;
        if (kind == ROW_MEMCPY)
            memcpy(d, s, (size_t)(len * e));
        else if (kind == ROW_FILL)
            fill_any(d, s, len, es);
        else
            strided_any(d, dsi, s, ssi, len, es);
        for (int k = nout - 1; k >= 0; k--) {
            if (++idx[k] < v->n[k]) {
                doff += v->ds[k];
                soff += v->ss[k];
                break;
            }
            idx[k] = 0;
            doff -= (v->n[k] - 1) * v->ds[k];
            soff -= (v->n[k] - 1) * v->ss[k];
        }
    }
}

/* Blocked transpose: dims t (source stride 1) and rank-1 (destination
 * stride 1) are tiled; the others are outer. Unit u = (outer index, block of
 * TILE along t). */
static void copy_tiled(const view *v, int t, char *dst, const char *src, size_t es, int64_t u)
{
    int r = v->rank;
    int64_t nb = (v->n[t] + TILE - 1) / TILE;
    int64_t outer = u / nb, blk = u % nb;
    int64_t doff = 0, soff = 0;
    for (int k = r - 2; k >= 0; k--) {
        if (k == t)
            continue;
        int64_t i = outer % v->n[k];
        outer /= v->n[k];
        doff += i * v->ds[k];
        soff += i * v->ss[k];
    }
    int64_t i0 = blk * TILE, ni = v->n[t] - i0 < TILE ? v->n[t] - i0 : TILE;
    int64_t nj = v->n[r - 1], ssj = v->ss[r - 1], dsi = v->ds[t], e = (int64_t)es;
    doff += i0 * dsi;
    soff += i0; /* source stride of t is 1 */
    for (int64_t j0 = 0; j0 < nj; j0 += TILE) {
        int64_t bj = nj - j0 < TILE ? nj - j0 : TILE;
        tile_any(dst + (doff + j0) * e, dsi, src + (soff + j0 * ssj) * e, ssj, ni, bj, es);
    }
}

void vp_cpu_copy_view(void *dst, const int64_t *dstride, const void *src,
                      const int64_t *sstride, const int64_t *shape, int rank, size_t esize)
{
    view v;
    v.rank = 0;
    for (int k = 0; k < rank; k++) {
        if (shape[k] == 0)
            return;
        if (shape[k] == 1)
            continue;
        int r = v.rank;
        if (r > 0 && v.ds[r - 1] == dstride[k] * shape[k] && v.ss[r - 1] == sstride[k] * shape[k]) {
            v.n[r - 1] *= shape[k];
            v.ds[r - 1] = dstride[k];
            v.ss[r - 1] = sstride[k];
            continue;
        }
        v.n[r] = shape[k];
        v.ds[r] = dstride[k];
        v.ss[r] = sstride[k];
        v.rank++;
    }
    if (v.rank == 0) {
        memcpy(dst, src, esize);
        return;
    }
    int r = v.rank;
    int64_t numel = 1;
    for (int k = 0; k < r; k++)
        numel *= v.n[k];
    int64_t len = v.n[r - 1];
    int64_t rows = numel / len;
    int par = numel * (int64_t)esize >= PAR_BYTES;
    int64_t nt = par ? max_threads() : 1;
    char *d = dst;
    const char *s = src;

    if (v.ds[r - 1] == 1 && v.ss[r - 1] != 1 && v.ss[r - 1] != 0) {
        int t = -1;
        for (int k = 0; k < r - 1; k++)
            if (v.ss[k] == 1 && (v.ds[k] >= len || v.ds[k] <= -len))
                t = k;
        if (t >= 0) {
            int64_t units = numel / v.n[t] / len * ((v.n[t] + TILE - 1) / TILE);
#pragma omp parallel for schedule(static) if (par && units > 1)
            for (int64_t u = 0; u < units; u++)
                copy_tiled(&v, t, d, s, esize, u);
            return;
        }
    }
    int kind = ROW_STRIDED;
    if (v.ds[r - 1] == 1 && v.ss[r - 1] == 1)
        kind = ROW_MEMCPY;
    else if (v.ds[r - 1] == 1 && v.ss[r - 1] == 0)
        kind = ROW_FILL;
    if (rows == 1) {
        /* One long row: split the row itself. */
        if (kind == ROW_MEMCPY) {
            vp_cpu_copy_bytes(d, s, (size_t)len * esize);
        } else if (kind == ROW_FILL) {
            vp_cpu_fill(d, s, len, esize);
        } else {
            int64_t nch = par ? nt : 1, e = (int64_t)esize;
            int64_t dsi = v.ds[0], ssi = v.ss[0];
#pragma omp parallel for schedule(static) if (nch > 1)
            for (int64_t ch = 0; ch < nch; ch++) {
                int64_t b = len * ch / nch, en = len * (ch + 1) / nch;
                strided_any(d + b * dsi * e, dsi, s + b * ssi * e, ssi, en - b, esize);
            }
        }
        return;
    }
    int64_t nch = rows < nt * 4 ? rows : nt * 4;
    if (!par)
        nch = 1;
#pragma omp parallel for schedule(static) if (nch > 1)
    for (int64_t ch = 0; ch < nch; ch++)
        copy_rows(&v, d, s, esize, kind, rows * ch / nch, rows * (ch + 1) / nch);
}
