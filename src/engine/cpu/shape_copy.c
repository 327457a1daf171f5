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
 *     transpose, cut into bands (<= 256 destination columns, ~4K elements)
 *     walked row by row, or in 8x8 blocks when the source stride would put
 *     the band's lines in a few L1 sets (power-of-two strides);
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
/* Elements per transpose band. */
#define TILE_ELEMS 4096

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

/* tile_SZ: dst[i*dsi + j] = src[i + j*ssj] for i < ni, j < nj (a band of a
 * transpose; i runs along the source, j along the destination). Full 8x8
 * blocks go through a local buffer, so both the 8 reads and the 8 writes of
 * a row are contiguous; blocks are walked along j within each 8 rows, so a
 * band touches each source line once. Ragged edges loop in destination
 * order. */
#define DEF_LOOPS(SZ)                                                                      \
    static void strided_##SZ(char *d, int64_t ds, const char *s, int64_t ss, int64_t n)    \
    {                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                    \
            memcpy(d + i * ds * SZ, s + i * ss * SZ, SZ);                                  \
    }                                                                                      \
    static void edge_##SZ(char *d, int64_t dsi, const char *s, int64_t ssj, int64_t i0,    \
                          int64_t i1, int64_t j0, int64_t j1)                              \
    {                                                                                      \
        for (int64_t i = i0; i < i1; i++)                                                  \
            for (int64_t j = j0; j < j1; j++)                                              \
                memcpy(d + (i * dsi + j) * SZ, s + (i + j * ssj) * SZ, SZ);                \
    }                                                                                      \
    static void tile_##SZ(char *d, int64_t dsi, const char *s, int64_t ssj, int64_t ni,    \
                          int64_t nj, int micro)                                           \
    {                                                                                      \
        int64_t ni8 = ni & ~(int64_t)7, nj8 = nj & ~(int64_t)7;                            \
        if (!micro || nj8 == 0 || ni8 == 0) {                                              \
            edge_##SZ(d, dsi, s, ssj, 0, ni, 0, nj);                                       \
            return;                                                                        \
        }                                                                                  \
        for (int64_t i = 0; i < ni8; i += 8) {                                             \
            for (int64_t j = 0; j < nj8; j += 8) {                                         \
                unsigned char b[8][8][SZ];                                                 \
                for (int jj = 0; jj < 8; jj++)                                             \
                    for (int ii = 0; ii < 8; ii++)                                         \
                        memcpy(b[ii][jj], s + (i + ii + (j + jj) * ssj) * SZ, SZ);         \
                for (int ii = 0; ii < 8; ii++)                                             \
                    memcpy(d + ((i + ii) * dsi + j) * SZ, b[ii], 8 * SZ);                  \
            }                                                                              \
            if (nj8 < nj)                                                                  \
                edge_##SZ(d, dsi, s, ssj, i, i + 8, nj8, nj);                              \
        }                                                                                  \
        if (ni8 < ni)                                                                      \
            edge_##SZ(d, dsi, s, ssj, ni8, ni, 0, nj);                                     \
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
                     size_t es, int micro)
{
    switch (es) {
    case 1: tile_1(d, dsi, s, ssj, ni, nj, micro); break;
    case 2: tile_2(d, dsi, s, ssj, ni, nj, micro); break;
    case 4: tile_4(d, dsi, s, ssj, ni, nj, micro); break;
    case 8: tile_8(d, dsi, s, ssj, ni, nj, micro); break;
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

/* A transpose is cut into bands of tj columns (destination-contiguous dim)
 * by ti rows (source-contiguous dim): ~TILE_ELEMS elements, so a band's
 * source lines (one per column) stay in L1 and are used whole. */
#define BAND_COLS 256
static void band_dims(int64_t nj, int64_t *ti, int64_t *tj)
{
    int64_t c = nj < BAND_COLS ? nj : BAND_COLS, r = (TILE_ELEMS / c + 7) & ~(int64_t)7;
    *tj = c;
    *ti = r < 8 ? 8 : r;
}

/* Whether a band's tj source lines, stride bytes apart, would collide in
 * L1 (assumed 64 sets of 8 ways, as on current x86 and Arm cores): a
 * power-of-two stride such as 4096 floats maps every line to one set, and a
 * row-by-row walk then misses on every element. Such bands are copied in 8x8
 * blocks, which use 8 elements of a line per visit; others row by row,
 * which measured faster when the lines fit. */
static int band_conflicts(int64_t stride, int64_t tj)
{
    if (stride < 0)
        stride = -stride;
    if (stride % 64)
        return 0; /* lines drift across sets */
    int64_t l = stride / 64, g = 64;
    while (l % 2 == 0 && g > 1) {
        l /= 2;
        g /= 2;
    }
    /* distinct sets touched = g (64 / gcd(stride/64, 64)); 8 ways each */
    return tj > 8 * g;
}

/* Blocked transpose: dim t (source stride 1) and dim rank-1 (destination
 * stride 1) are banded; the others are outer. Unit u = (outer index, band
 * of ti rows along t, band of tj columns along rank-1). */
static void copy_tiled(const view *v, int t, char *dst, const char *src, size_t es, int micro,
                       int64_t u)
{
    int r = v->rank;
    int64_t nj = v->n[r - 1], ti, tj;
    band_dims(nj, &ti, &tj);
    int64_t nbi = (v->n[t] + ti - 1) / ti, nbj = (nj + tj - 1) / tj;
    int64_t bj = u % nbj, bi = u / nbj % nbi, outer = u / nbj / nbi;
    int64_t doff = 0, soff = 0;
    for (int k = r - 2; k >= 0; k--) {
        if (k == t)
            continue;
        int64_t i = outer % v->n[k];
        outer /= v->n[k];
        doff += i * v->ds[k];
        soff += i * v->ss[k];
    }
    int64_t i0 = bi * ti, ni = v->n[t] - i0 < ti ? v->n[t] - i0 : ti;
    int64_t j0 = bj * tj, nc = nj - j0 < tj ? nj - j0 : tj;
    int64_t e = (int64_t)es, ssj = v->ss[r - 1];
    doff += i0 * v->ds[t] + j0;
    soff += i0 + j0 * ssj; /* source stride of t is 1 */
    tile_any(dst + doff * e, v->ds[t], src + soff * e, ssj, ni, nc, es, micro);
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
            int64_t ti, tj;
            band_dims(len, &ti, &tj);
            int micro = band_conflicts(v.ss[r - 1] * (int64_t)esize, tj);
            int64_t units = numel / v.n[t] / len * ((v.n[t] + ti - 1) / ti) * ((len + tj - 1) / tj);
#pragma omp parallel for schedule(static) if (par && units > 1)
            for (int64_t u = 0; u < units; u++)
                copy_tiled(&v, t, d, s, esize, micro, u);
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
