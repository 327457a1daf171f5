/*
 * ByteTrack-style multi-object tracker (see track.h for the algorithm,
 * the association design and the contracts).
 *
 * Layout: tracks live in fixed slots (max_tracks of them, each with its
 * Kalman state and, when appearance is on, an embedding row); `order`
 * lists the live slots by birth, which is the row order of every
 * association and therefore the tie-breaking order. All per-frame scratch
 * (canonical detection order, similarity matrix, assignment workspace) is
 * sized at create, so vp_tracker_update never allocates.
 *
 * Expected load: tens of objects per frame at 25-60 fps per stream; the
 * whole update for 50 objects costs a few microseconds, dominated by the
 * 50 x 50 IoU matrix and the 50 Kalman corrections.
 */
#include "vision/track.h"

#include "base/log.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Kalman filter (ByteTrack / DeepSORT noise model)                     */
/* ------------------------------------------------------------------ */

#define KF_WP (1.0 / 20.0)  /* position std per unit of height */
#define KF_WV (1.0 / 160.0) /* velocity std per unit of height */

void vp_kf_initiate(vp_kf_state *s, const double z[4])
{
    const double h = z[3];
    const double std[8] = {2 * KF_WP * h, 2 * KF_WP * h, 1e-2, 2 * KF_WP * h,
                           10 * KF_WV * h, 10 * KF_WV * h, 1e-5, 10 * KF_WV * h};
    for (int i = 0; i < 4; i++) {
        s->mean[i] = z[i];
        s->mean[i + 4] = 0.0;
    }
    memset(s->cov, 0, sizeof s->cov);
    for (int i = 0; i < 8; i++)
        s->cov[i * 8 + i] = std[i] * std[i];
}

void vp_kf_predict(vp_kf_state *s)
{
    const double h = s->mean[3];
    const double std[8] = {KF_WP * h, KF_WP * h, 1e-2, KF_WP * h,
                           KF_WV * h, KF_WV * h, 1e-5, KF_WV * h};
    double *P = s->cov;
    double n[64];
    /* F = [[I, I], [0, I]] (dt = 1). With P = [[A, B], [C, D]] in 4x4
     * blocks, F P F' = [[A + B + C + D, B + D], [C + D, D]]. */
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            const double a = P[i * 8 + j], b = P[i * 8 + j + 4];
            const double c = P[(i + 4) * 8 + j], d = P[(i + 4) * 8 + j + 4];
            n[i * 8 + j] = (a + d) + (b + c); /* grouped so that n stays exactly symmetric */
            n[i * 8 + j + 4] = b + d;
            n[(i + 4) * 8 + j] = c + d;
            n[(i + 4) * 8 + j + 4] = d;
        }
    }
    for (int i = 0; i < 8; i++)
        n[i * 8 + i] += std[i] * std[i];
    memcpy(P, n, sizeof n);
    for (int i = 0; i < 4; i++)
        s->mean[i] += s->mean[i + 4];
}

int vp_kf_update(vp_kf_state *s, const double z[4])
{
    const double h = s->mean[3];
    const double std[4] = {KF_WP * h, KF_WP * h, 1e-1, KF_WP * h};
    const double *P = s->cov;
    /* H = [I 0]: H P H' is P's top-left block, P H' its first 4 columns. */
    double S[16], PHt[32], K[32], KS[32];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            S[i * 4 + j] = P[i * 8 + j] + (i == j ? std[i] * std[i] : 0.0);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            PHt[i * 4 + j] = P[i * 8 + j];

    /* S^-1 through the Cholesky factor, S = L L', S^-1 = L^-T L^-1, with
     * one division per diagonal entry (S is symmetric positive definite by
     * construction; a failure means the state went non-finite). */
    double L[16] = {0}, Li[16] = {0}, Si[16], rd[4];
    for (int j = 0; j < 4; j++) {
        double d = S[j * 4 + j];
        for (int k = 0; k < j; k++)
            d -= L[j * 4 + k] * L[j * 4 + k];
        if (!(d > 0.0) || !isfinite(d))
            return VP_ERR_INTERNAL;
        L[j * 4 + j] = sqrt(d);
        rd[j] = 1.0 / L[j * 4 + j];
        for (int i = j + 1; i < 4; i++) {
            double v = S[i * 4 + j];
            for (int k = 0; k < j; k++)
                v -= L[i * 4 + k] * L[j * 4 + k];
            L[i * 4 + j] = v * rd[j];
        }
    }
    for (int j = 0; j < 4; j++) { /* L^-1, lower triangular, column by column */
        Li[j * 4 + j] = rd[j];
        for (int i = j + 1; i < 4; i++) {
            double v = 0.0;
            for (int k = j; k < i; k++)
                v -= L[i * 4 + k] * Li[k * 4 + j];
            Li[i * 4 + j] = v * rd[i];
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = i; j < 4; j++) {
            double v = 0.0;
            for (int k = j; k < 4; k++)
                v += Li[k * 4 + i] * Li[k * 4 + j];
            Si[i * 4 + j] = Si[j * 4 + i] = v;
        }
    /* K = P H' S^-1 */
    for (int r = 0; r < 8; r++)
        for (int j = 0; j < 4; j++) {
            double v = 0.0;
            for (int i = 0; i < 4; i++)
                v += PHt[r * 4 + i] * Si[i * 4 + j];
            K[r * 4 + j] = v;
        }
    double innov[4];
    for (int i = 0; i < 4; i++)
        innov[i] = z[i] - s->mean[i];
    for (int r = 0; r < 8; r++) {
        double v = 0.0;
        for (int i = 0; i < 4; i++)
            v += K[r * 4 + i] * innov[i];
        s->mean[r] += v;
    }
    /* P -= K S K' (the form ByteTrack and DeepSORT use), symmetric: the
     * upper triangle is computed and mirrored. */
    for (int r = 0; r < 8; r++)
        for (int j = 0; j < 4; j++) {
            double v = 0.0;
            for (int i = 0; i < 4; i++)
                v += K[r * 4 + i] * S[i * 4 + j];
            KS[r * 4 + j] = v;
        }
    for (int r = 0; r < 8; r++)
        for (int c = r; c < 8; c++) {
            double v = 0.0;
            for (int j = 0; j < 4; j++)
                v += KS[r * 4 + j] * K[c * 4 + j];
            s->cov[r * 8 + c] -= v;
            if (c != r)
                s->cov[c * 8 + r] = s->cov[r * 8 + c];
        }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Assignment: Hungarian algorithm with row/column potentials           */
/* ------------------------------------------------------------------ */

/* Workspace layout for K = max(rows, cols): doubles u[K+1], v[K+1],
 * minv[K+1]; ints p[K+1], way[K+1], ridx[K], cidx[K]; chars used[K+1]. */
size_t vp_lap_scratch_size(int max_rows, int max_cols)
{
    const size_t k = (size_t)(max_rows > max_cols ? max_rows : max_cols);
    return 3 * (k + 1) * sizeof(double) + (2 * (k + 1) + 2 * k) * sizeof(int) + (k + 1);
}

int vp_lap_solve(const double *cost, int rows, int cols, void *scratch, int *row_match,
                 int *col_match)
{
    for (int i = 0; i < rows; i++)
        row_match[i] = -1;
    for (int j = 0; j < cols; j++)
        col_match[j] = -1;
    const int k = rows > cols ? rows : cols;
    double *u = scratch;
    double *v = u + (k + 1);
    double *minv = v + (k + 1);
    int *p = (int *)(minv + (k + 1));
    int *way = p + (k + 1);
    int *ridx = way + (k + 1);
    int *cidx = ridx + k;
    char *used = (char *)(cidx + k);

    /* Reduction before the O(n^3) part, exact: rows and columns without
     * any pairable entry cannot take part (lost tracks far from every
     * detection, births), and a row and a column that are each other's
     * only pairable entry are in every optimal matching (pairing them
     * lowers the objective and excludes nothing else). In a normal frame
     * that settles almost every pair. ridx/cidx count pairable entries
     * (and remember the last one) first, then list what is left. */
    int pairs = 0;
    for (int i = 0; i < rows; i++)
        ridx[i] = 0;
    for (int j = 0; j < cols; j++)
        cidx[j] = 0;
    for (int i = 0; i < rows; i++) {
        const double *row = &cost[(size_t)i * cols];
        for (int j = 0; j < cols; j++)
            if (row[j] < 1.0) {
                ridx[i]++;
                cidx[j]++;
                row_match[i] = j; /* last pairable column, used when it is the only one */
            }
    }
    for (int i = 0; i < rows; i++) {
        const int j = row_match[i];
        if (ridx[i] == 1 && cidx[j] == 1) {
            col_match[j] = i;
            ridx[i] = cidx[j] = 0;
            pairs++;
        } else {
            row_match[i] = -1;
        }
    }
    int nr = 0, nc = 0;
    for (int i = 0; i < rows; i++)
        if (ridx[i] > 0)
            ridx[nr++] = i;
    for (int j = 0; j < cols; j++)
        if (cidx[j] > 0)
            cidx[nc++] = j;
    if (nr == 0)
        return pairs;

    /* The algorithm wants n <= m: solve the transpose when there are more
     * rows. a(i, j), 1-based, is the reduced problem's cost. Unpairable
     * entries cost 1, so leaving an element unpaired and pairing it with
     * such an entry are worth the same: minimising the sum of a over a
     * complete assignment of the n side minimises sum(cost - 1) over real
     * pairs. */
    const int tr = nr > nc;
    const int n = tr ? nc : nr, m = tr ? nr : nc;
#define A(i, j) (tr ? cost[(size_t)ridx[(j) - 1] * cols + cidx[(i) - 1]] \
                    : cost[(size_t)ridx[(i) - 1] * cols + cidx[(j) - 1]])
    for (int j = 0; j <= m; j++) {
        v[j] = 0.0;
        p[j] = 0;
    }
    for (int i = 0; i <= n; i++)
        u[i] = 0.0;
    /* Add the n-side elements one by one; each addition is a Dijkstra-like
     * search for the cheapest augmenting path in reduced costs (kept
     * non-negative by the potentials u, v), column 0 standing for the new
     * row. p[j]: row on column j (0 = free); way[j]: previous column on the
     * path. Scans go by increasing column and take a new minimum only when
     * strictly smaller, so ties resolve to lower indices, deterministically. */
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= m; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            const int i0 = p[j0];
            double delta = INFINITY;
            int j1 = 0;
            for (int j = 1; j <= m; j++) {
                if (used[j])
                    continue;
                const double cur = A(i0, j) - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            assert(j1 > 0); /* m >= n: a free column always remains */
            for (int j = 0; j <= m; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do { /* flip the path */
            const int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0 != 0);
    }
    for (int j = 1; j <= m; j++) {
        if (p[j] == 0 || !(A(p[j], j) < 1.0))
            continue; /* a free column, or an "unpaired" placeholder */
        const int r = tr ? ridx[j - 1] : ridx[p[j] - 1];
        const int c = tr ? cidx[p[j] - 1] : cidx[j - 1];
        row_match[r] = c;
        col_match[c] = r;
        pairs++;
    }
#undef A
    return pairs;
}

/* ------------------------------------------------------------------ */
/* Tracker                                                              */
/* ------------------------------------------------------------------ */

typedef struct track {
    vp_kf_state kf;
    int32_t id;           /* 0 while tentative */
    int32_t cls;          /* class at birth */
    vp_track_state state;
    int hits;             /* consecutive matched frames while tentative */
    float score;          /* last matched detection's */
    double last_box[4];   /* last matched detection, x0 y0 x1 y1 (VP_TRACK_MOTION_NONE) */
    int64_t first_frame, last_frame;
    int has_emb;          /* emb row holds a unit vector */
    int matched;          /* scratch: matched in the current update */
} track;

/* A valid detection in canonical order (track.h, step 0). */
typedef struct det_key {
    float score, x0, y0, x1, y1;
    int32_t cls;
    int idx; /* into the caller's array */
} det_key;

struct vp_tracker {
    vp_track_params p;
    track *slots;       /* [max_tracks] */
    float *emb;         /* [max_tracks * emb_dim], row per slot; NULL without appearance */
    int *order;         /* [max_tracks] live slots by birth */
    int n_live;
    int *free_slots;    /* [max_tracks] stack of unused slots */
    int n_free;
    int32_t next_id;
    int64_t prev_frame; /* frame_index of the previous update */
    int64_t n_updates;
    /* per-update scratch */
    det_key *keys, *keys_tmp;   /* [max_dets] */
    double *det_inv_norm;        /* [max_dets], by canonical position; 0 = no usable embedding */
    int *det_track;              /* [max_dets] by canonical position: matched slot or -1 */
    int *rows, *cols;            /* [max_tracks], [max_dets]: stage members */
    double *box;                 /* [max_tracks * 4] association box per slot */
    double *cost;                /* [max_tracks * max_dets] */
    int *row_match, *col_match;  /* [max_tracks], [max_dets] */
    void *lap;                   /* vp_lap_scratch_size(max_tracks, max_dets) */
};

void vp_track_params_default(vp_track_params *p)
{
    memset(p, 0, sizeof *p);
    p->high_thresh = 0.5f;
    p->low_thresh = 0.1f;
    p->new_track_thresh = 0.6f;
    p->iou_first = 0.2f;
    p->iou_second = 0.5f;
    p->iou_unconfirmed = 0.3f;
    p->max_lost = 30;
    p->min_hits = 2;
    p->confirm_first_frame = 1;
    p->class_agnostic = 0;
    p->motion = VP_TRACK_MOTION_KALMAN;
    p->emb_dim = 0;
    p->emb_weight = 0.75f;
    p->emb_momentum = 0.9f;
    p->emb_fusion = VP_TRACK_FUSE_WEIGHTED;
    p->appearance_thresh = 0.25f;
    p->proximity_thresh = 0.5f;
    p->max_dets = 1024;
    p->max_tracks = 2048;
}

static int check_params(const vp_track_params *p)
{
#define BAD(cond, what)                                   \
    do {                                                  \
        if (cond) {                                       \
            VP_LOGE("tracker: bad parameter: %s", what); \
            return VP_ERR_INVALID;                        \
        }                                                 \
    } while (0)
    BAD(!(p->low_thresh <= p->high_thresh), "low_thresh must be <= high_thresh");
    BAD(!isfinite(p->low_thresh) || !isfinite(p->high_thresh) || !isfinite(p->new_track_thresh),
        "score thresholds must be finite");
    BAD(!(p->iou_first > 0.0f && p->iou_first <= 1.0f), "iou_first must be in (0, 1]");
    BAD(!(p->iou_second > 0.0f && p->iou_second <= 1.0f), "iou_second must be in (0, 1]");
    BAD(!(p->iou_unconfirmed > 0.0f && p->iou_unconfirmed <= 1.0f),
        "iou_unconfirmed must be in (0, 1]");
    BAD(p->max_lost < 0, "max_lost must be >= 0");
    BAD(p->min_hits < 1, "min_hits must be >= 1");
    BAD(p->motion != VP_TRACK_MOTION_KALMAN && p->motion != VP_TRACK_MOTION_NONE,
        "motion must be VP_TRACK_MOTION_KALMAN or VP_TRACK_MOTION_NONE");
    BAD(p->emb_dim < 0 || p->emb_dim > 4096, "emb_dim must be in 0..4096");
    BAD(!(p->emb_weight >= 0.0f && p->emb_weight <= 1.0f), "emb_weight must be in [0, 1]");
    BAD(!(p->emb_momentum >= 0.0f && p->emb_momentum < 1.0f), "emb_momentum must be in [0, 1)");
    BAD(p->emb_fusion != VP_TRACK_FUSE_WEIGHTED && p->emb_fusion != VP_TRACK_FUSE_MIN,
        "emb_fusion must be VP_TRACK_FUSE_WEIGHTED or VP_TRACK_FUSE_MIN");
    BAD(!(p->appearance_thresh >= 0.0f && p->appearance_thresh <= 1.0f), "appearance_thresh must be in [0, 1]");
    BAD(!(p->proximity_thresh >= 0.0f && p->proximity_thresh <= 1.0f), "proximity_thresh must be in [0, 1]");
    BAD(p->max_dets < 1 || p->max_dets > (1 << 20), "max_dets must be in 1..1048576");
    BAD(p->max_tracks < p->max_dets || p->max_tracks > (1 << 21),
        "max_tracks must be in max_dets..2097152");
#undef BAD
    return 0;
}

void vp_tracker_reset(vp_tracker *t)
{
    t->n_live = 0;
    t->n_free = t->p.max_tracks;
    /* popped from the end: slot 0 first, so layouts repeat run to run */
    for (int i = 0; i < t->p.max_tracks; i++)
        t->free_slots[i] = t->p.max_tracks - 1 - i;
    t->next_id = 1;
    t->prev_frame = 0;
    t->n_updates = 0;
}

int vp_tracker_create(const vp_track_params *params, vp_tracker **out)
{
    if (!out) {
        VP_LOGE("tracker: vp_tracker_create: out is NULL");
        return VP_ERR_INVALID;
    }
    *out = NULL;
    vp_track_params p;
    if (params)
        p = *params;
    else
        vp_track_params_default(&p);
    int rc = check_params(&p);
    if (rc)
        return rc;
    vp_tracker *t = calloc(1, sizeof *t);
    if (!t)
        goto nomem;
    t->p = p;
    const size_t nt = (size_t)p.max_tracks, nd = (size_t)p.max_dets;
    t->slots = malloc(nt * sizeof *t->slots);
    t->order = malloc(nt * sizeof *t->order);
    t->free_slots = malloc(nt * sizeof *t->free_slots);
    t->keys = malloc(nd * sizeof *t->keys);
    t->keys_tmp = malloc(nd * sizeof *t->keys_tmp);
    t->det_inv_norm = malloc(nd * sizeof *t->det_inv_norm);
    t->det_track = malloc(nd * sizeof *t->det_track);
    t->rows = malloc(nt * sizeof *t->rows);
    t->cols = malloc(nd * sizeof *t->cols);
    t->box = malloc(nt * 4 * sizeof *t->box);
    /* Only the rows x cols corner of a stage is touched, so the pages of a
     * large worst-case matrix are never faulted in at normal loads. */
    t->cost = malloc(nt * nd * sizeof *t->cost);
    t->row_match = malloc(nt * sizeof *t->row_match);
    t->col_match = malloc(nd * sizeof *t->col_match);
    t->lap = malloc(vp_lap_scratch_size(p.max_tracks, p.max_dets));
    if (p.emb_dim > 0)
        t->emb = malloc(nt * (size_t)p.emb_dim * sizeof *t->emb);
    if (!t->slots || !t->order || !t->free_slots || !t->keys || !t->keys_tmp ||
        !t->det_inv_norm || !t->det_track || !t->rows || !t->cols || !t->box || !t->cost ||
        !t->row_match || !t->col_match || !t->lap || (p.emb_dim > 0 && !t->emb)) {
        vp_tracker_free(&t);
        goto nomem;
    }
    vp_tracker_reset(t);
    *out = t;
    return 0;
nomem:
    VP_LOGE("tracker: out of memory for %d detections, %d tracks", p.max_dets, p.max_tracks);
    return VP_ERR_NOMEM;
}

void vp_tracker_free(vp_tracker **pt)
{
    if (!pt || !*pt)
        return;
    vp_tracker *t = *pt;
    free(t->slots);
    free(t->emb);
    free(t->order);
    free(t->free_slots);
    free(t->keys);
    free(t->keys_tmp);
    free(t->det_inv_norm);
    free(t->det_track);
    free(t->rows);
    free(t->cols);
    free(t->box);
    free(t->cost);
    free(t->row_match);
    free(t->col_match);
    free(t->lap);
    free(t);
    *pt = NULL;
}

/* Canonical order: score descending, then x0, y0, x1, y1, cls ascending,
 * then input index. All fields are finite or +-inf scores here, so this is
 * a total order. */
static int key_before(const det_key *a, const det_key *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    if (a->x0 != b->x0)
        return a->x0 < b->x0;
    if (a->y0 != b->y0)
        return a->y0 < b->y0;
    if (a->x1 != b->x1)
        return a->x1 < b->x1;
    if (a->y1 != b->y1)
        return a->y1 < b->y1;
    if (a->cls != b->cls)
        return a->cls < b->cls;
    return a->idx < b->idx;
}

/* Bottom-up merge sort of k[0..n) with tmp[n] (qsort may allocate). */
static void sort_keys(det_key *k, det_key *tmp, int n)
{
    det_key *src = k, *dst = tmp;
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            const int mid = lo + width < n ? lo + width : n;
            const int hi = lo + 2 * width < n ? lo + 2 * width : n;
            int a = lo, b = mid, o = lo;
            while (a < mid && b < hi)
                dst[o++] = key_before(&src[b], &src[a]) ? src[b++] : src[a++];
            while (a < mid)
                dst[o++] = src[a++];
            while (b < hi)
                dst[o++] = src[b++];
        }
        det_key *s = src;
        src = dst;
        dst = s;
    }
    if (src != k)
        memcpy(k, src, (size_t)n * sizeof *k);
}

/* IoU of two x0 y0 x1 y1 boxes; 0 when they do not overlap (most pairs:
 * rejected on x first, before any product). */
static double iou(const double a[4], const double b[4])
{
    const double iw = (a[2] < b[2] ? a[2] : b[2]) - (a[0] > b[0] ? a[0] : b[0]);
    if (!(iw > 0.0))
        return 0.0;
    const double ih = (a[3] < b[3] ? a[3] : b[3]) - (a[1] > b[1] ? a[1] : b[1]);
    if (!(ih > 0.0))
        return 0.0;
    const double inter = iw * ih;
    const double ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return inter / ua;
}

static void kf_box(const vp_kf_state *s, double b[4])
{
    const double h = s->mean[3], w = s->mean[2] * h;
    b[0] = s->mean[0] - w / 2;
    b[1] = s->mean[1] - h / 2;
    b[2] = s->mean[0] + w / 2;
    b[3] = s->mean[1] + h / 2;
}

static void key_box(const det_key *k, double b[4])
{
    b[0] = k->x0;
    b[1] = k->y0;
    b[2] = k->x1;
    b[3] = k->y1;
}

static void key_measurement(const det_key *k, double z[4])
{
    const double w = (double)k->x1 - k->x0, h = (double)k->y1 - k->y0;
    z[0] = ((double)k->x0 + k->x1) / 2;
    z[1] = ((double)k->y0 + k->y1) / 2;
    z[2] = w / h;
    z[3] = h;
}

/* d = (1 - cos) / 2 between a track and detection (canonical position c);
 * 0.5 (orthogonal) when either has no usable embedding. */
static double app_dist(const vp_tracker *t, int slot, int c, const float *embeddings)
{
    const track *tr = &t->slots[slot];
    if (!tr->has_emb || t->det_inv_norm[c] == 0.0)
        return 0.5;
    const int dim = t->p.emb_dim;
    const float *te = t->emb + (size_t)slot * dim;
    const float *de = embeddings + (size_t)t->keys[c].idx * dim;
    double dot = 0.0;
    for (int i = 0; i < dim; i++)
        dot += (double)te[i] * de[i];
    double cs = dot * t->det_inv_norm[c];
    cs = cs > 1.0 ? 1.0 : cs < -1.0 ? -1.0 : cs;
    return (1.0 - cs) / 2.0;
}

/* Fills cost[r * nc + c] = 1 - similarity for rows t->rows[0..nr) (slots)
 * and cols t->cols[0..nc) (canonical detection positions), then solves.
 * Pairs failing the class or IoU gate cost 1 (unpairable). */
static int associate(vp_tracker *t, int nr, int nc, double min_iou, const float *embeddings)
{
    const int fuse = embeddings != NULL && t->p.emb_dim > 0;
    const int fuse_min = t->p.emb_fusion == VP_TRACK_FUSE_MIN;
    const double w = t->p.emb_weight;
    const double app_max = t->p.appearance_thresh, prox_max = t->p.proximity_thresh;
    for (int r = 0; r < nr; r++) {
        const int slot = t->rows[r];
        const track *tr = &t->slots[slot];
        const double *tb = &t->box[(size_t)slot * 4];
        double *row = &t->cost[(size_t)r * nc];
        for (int c = 0; c < nc; c++) {
            const det_key *k = &t->keys[t->cols[c]];
            row[c] = 1.0;
            if (!t->p.class_agnostic && k->cls != tr->cls)
                continue;
            double db[4];
            key_box(k, db);
            const double o = iou(tb, db);
            if (!(o > 0.0) || o < min_iou)
                continue;
            if (fuse && fuse_min) { /* BoT-SORT: min(IoU cost, gated appearance cost) */
                double cost = 1.0 - o;
                if (cost <= prox_max) {
                    const double d = app_dist(t, slot, t->cols[c], embeddings);
                    if (d <= app_max && d < cost)
                        cost = d;
                }
                row[c] = cost;
                continue;
            }
            double s = o;
            if (fuse)
                s = (1.0 - w) * o + w * (1.0 - app_dist(t, slot, t->cols[c], embeddings));
            row[c] = 1.0 - s;
        }
    }
    return vp_lap_solve(t->cost, nr, nc, t->lap, t->row_match, t->col_match);
}

/* Track embedding <- normalise(m * e + (1 - m) * unit(det)). */
static void update_emb(vp_tracker *t, int slot, int c, const float *embeddings)
{
    if (!embeddings || t->p.emb_dim == 0 || t->det_inv_norm[c] == 0.0)
        return;
    track *tr = &t->slots[slot];
    const int dim = t->p.emb_dim;
    float *te = t->emb + (size_t)slot * dim;
    const float *de = embeddings + (size_t)t->keys[c].idx * dim;
    const double inv = t->det_inv_norm[c];
    const double m = tr->has_emb ? t->p.emb_momentum : 0.0;
    double nn = 0.0;
    for (int i = 0; i < dim; i++) {
        const double v = m * te[i] + (1.0 - m) * (de[i] * inv);
        te[i] = (float)v;
        nn += v * v;
    }
    if (!(nn > 0.0)) { /* opposite vectors cancelled out: keep the detection's */
        for (int i = 0; i < dim; i++)
            te[i] = (float)(de[i] * inv);
        nn = 1.0;
    }
    const double s = 1.0 / sqrt(nn);
    for (int i = 0; i < dim; i++)
        te[i] = (float)(te[i] * s);
    tr->has_emb = 1;
}

/* A match of slot with canonical detection c: Kalman correction and
 * bookkeeping. with_emb: update the appearance (high detections only). */
static void apply_match(vp_tracker *t, int slot, int c, int64_t frame, const float *embeddings,
                        int with_emb)
{
    track *tr = &t->slots[slot];
    const det_key *k = &t->keys[c];
    double z[4];
    key_measurement(k, z);
    if (vp_kf_update(&tr->kf, z) != 0) {
        /* Only reachable when the state went non-finite: restart the
         * filter on the measurement instead of propagating NaN. */
        VP_LOGW("tracker: track %d: Kalman covariance not positive definite, re-initialised",
                (int)tr->id);
        vp_kf_initiate(&tr->kf, z);
    }
    key_box(k, tr->last_box);
    tr->score = k->score;
    tr->last_frame = frame;
    tr->matched = 1;
    if (tr->state == VP_TRACK_LOST)
        tr->state = VP_TRACK_TRACKED;
    t->det_track[c] = slot;
    if (with_emb)
        update_emb(t, slot, c, embeddings);
}

static void confirm(vp_tracker *t, track *tr)
{
    tr->id = t->next_id++;
    tr->state = VP_TRACK_TRACKED;
}

/* Removes order[i] (keeping birth order) and frees its slot. */
static void remove_at(vp_tracker *t, int i)
{
    t->free_slots[t->n_free++] = t->order[i];
    memmove(&t->order[i], &t->order[i + 1], (size_t)(t->n_live - i - 1) * sizeof *t->order);
    t->n_live--;
}

int vp_tracker_update(vp_tracker *t, const vp_track_det *dets, int n, const float *embeddings,
                      int64_t frame_index, int32_t *ids_out)
{
    if (!t) {
        VP_LOGE("tracker: update: tracker is NULL");
        return VP_ERR_INVALID;
    }
    if (n < 0 || n > t->p.max_dets) {
        VP_LOGE("tracker: %d detections in frame %lld, the tracker was sized for 0..%d (max_dets)",
                n, (long long)frame_index, t->p.max_dets);
        return VP_ERR_INVALID;
    }
    if (n > 0 && (!dets || !ids_out)) {
        VP_LOGE("tracker: update: %d detections but dets or ids_out is NULL", n);
        return VP_ERR_INVALID;
    }
    if (t->n_updates > 0 && frame_index <= t->prev_frame) {
        VP_LOGE("tracker: frame_index %lld after %lld: must increase", (long long)frame_index,
                (long long)t->prev_frame);
        return VP_ERR_INVALID;
    }
    const int64_t steps = t->n_updates > 0 ? frame_index - t->prev_frame : 0;
    if (t->p.emb_dim == 0)
        embeddings = NULL;
    const int dim = t->p.emb_dim;

    /* 0. Valid detections in canonical order. */
    int nv = 0;
    for (int i = 0; i < n; i++) {
        ids_out[i] = 0;
        const vp_track_det *d = &dets[i];
        if (!(isfinite(d->x0) && isfinite(d->y0) && isfinite(d->x1) && isfinite(d->y1)) ||
            !(d->x1 > d->x0 && d->y1 > d->y0) || isnan(d->score) || !(d->score >= t->p.low_thresh))
            continue; /* unusable, or below every threshold */
        t->keys[nv++] = (det_key){d->score, d->x0, d->y0, d->x1, d->y1, d->cls, i};
    }
    sort_keys(t->keys, t->keys_tmp, nv);
    int n_high = 0; /* keys[0..n_high) are high, keys[n_high..nv) low */
    while (n_high < nv && t->keys[n_high].score >= t->p.high_thresh)
        n_high++;
    for (int c = 0; c < nv; c++) {
        t->det_track[c] = -1;
        t->det_inv_norm[c] = 0.0;
        if (embeddings) {
            const float *e = embeddings + (size_t)t->keys[c].idx * dim;
            double nn = 0.0;
            for (int i = 0; i < dim; i++)
                nn += (double)e[i] * e[i];
            if (nn > 0.0 && isfinite(nn))
                t->det_inv_norm[c] = 1.0 / sqrt(nn);
        }
    }

    /* Tracks that missed more than max_lost frames already, across a gap
     * in frame indices, are gone before association. */
    for (int i = t->n_live - 1; i >= 0; i--)
        if (frame_index - t->slots[t->order[i]].last_frame - 1 > t->p.max_lost)
            remove_at(t, i);

    /* 1. Predict; association boxes. */
    for (int i = 0; i < t->n_live; i++) {
        const int slot = t->order[i];
        track *tr = &t->slots[slot];
        for (int64_t s = 0; s < steps; s++) {
            if (tr->state == VP_TRACK_LOST)
                tr->kf.mean[7] = 0.0;
            vp_kf_predict(&tr->kf);
        }
        tr->matched = 0;
        double *b = &t->box[(size_t)slot * 4];
        if (t->p.motion == VP_TRACK_MOTION_KALMAN)
            kf_box(&tr->kf, b);
        else
            memcpy(b, tr->last_box, sizeof tr->last_box);
    }

    /* 2. High detections vs confirmed tracks (tracked and lost). */
    int nr = 0, nc = 0;
    for (int i = 0; i < t->n_live; i++)
        if (t->slots[t->order[i]].state != VP_TRACK_TENTATIVE)
            t->rows[nr++] = t->order[i];
    for (int c = 0; c < n_high; c++)
        t->cols[nc++] = c;
    if (nr > 0 && nc > 0) {
        associate(t, nr, nc, t->p.iou_first, embeddings);
        for (int r = 0; r < nr; r++)
            if (t->row_match[r] >= 0)
                apply_match(t, t->rows[r], t->cols[t->row_match[r]], frame_index, embeddings, 1);
    }

    /* 3. Low detections vs confirmed tracks tracked until now, unmatched. */
    nr = 0;
    nc = 0;
    for (int i = 0; i < t->n_live; i++) {
        const track *tr = &t->slots[t->order[i]];
        if (tr->state == VP_TRACK_TRACKED && !tr->matched)
            t->rows[nr++] = t->order[i];
    }
    for (int c = n_high; c < nv; c++)
        t->cols[nc++] = c;
    if (nr > 0 && nc > 0) {
        associate(t, nr, nc, t->p.iou_second, NULL);
        for (int r = 0; r < nr; r++)
            if (t->row_match[r] >= 0)
                apply_match(t, t->rows[r], t->cols[t->row_match[r]], frame_index, embeddings, 0);
    }
    for (int r = 0; r < nr; r++) {
        track *tr = &t->slots[t->rows[r]];
        if (!tr->matched)
            tr->state = VP_TRACK_LOST;
    }

    /* 4. Tentative tracks vs the high detections left. */
    nr = 0;
    nc = 0;
    for (int i = 0; i < t->n_live; i++)
        if (t->slots[t->order[i]].state == VP_TRACK_TENTATIVE)
            t->rows[nr++] = t->order[i];
    for (int c = 0; c < n_high; c++)
        if (t->det_track[c] < 0)
            t->cols[nc++] = c;
    if (nr > 0 && nc > 0) {
        associate(t, nr, nc, t->p.iou_unconfirmed, embeddings);
        for (int r = 0; r < nr; r++) {
            if (t->row_match[r] < 0)
                continue;
            track *tr = &t->slots[t->rows[r]];
            apply_match(t, t->rows[r], t->cols[t->row_match[r]], frame_index, embeddings, 1);
            if (++tr->hits >= t->p.min_hits)
                confirm(t, tr);
        }
    }

    /* 6 (before 5, so that births find free slots): unmatched tentative
     * tracks die; lost tracks that have now missed more than max_lost
     * frames die. */
    for (int i = t->n_live - 1; i >= 0; i--) {
        const track *tr = &t->slots[t->order[i]];
        if ((tr->state == VP_TRACK_TENTATIVE && !tr->matched) ||
            (tr->state == VP_TRACK_LOST && frame_index - tr->last_frame > t->p.max_lost))
            remove_at(t, i);
    }

    /* 5. Births. */
    int births = 0;
    for (int c = 0; c < n_high; c++)
        if (t->det_track[c] < 0 && t->keys[c].score >= t->p.new_track_thresh)
            births++;
    /* Non-lost tracks are at most the detections matched or born now, so
     * max_tracks >= max_dets leaves enough room once the longest-lost
     * tracks are evicted. */
    while (t->n_free < births) {
        int victim = -1;
        for (int i = 0; i < t->n_live; i++) {
            const track *tr = &t->slots[t->order[i]];
            if (tr->state == VP_TRACK_LOST &&
                (victim < 0 || tr->last_frame < t->slots[t->order[victim]].last_frame))
                victim = i;
        }
        assert(victim >= 0);
        if (victim < 0)
            break;
        VP_LOGD("tracker: %d tracks held (max_tracks): lost track %d evicted", t->p.max_tracks,
                (int)t->slots[t->order[victim]].id);
        remove_at(t, victim);
    }
    const int first = t->n_updates == 0;
    for (int c = 0; c < n_high && t->n_free > 0; c++) {
        const det_key *k = &t->keys[c];
        if (t->det_track[c] >= 0 || k->score < t->p.new_track_thresh)
            continue;
        const int slot = t->free_slots[--t->n_free];
        track *tr = &t->slots[slot];
        double z[4];
        key_measurement(k, z);
        vp_kf_initiate(&tr->kf, z);
        tr->id = 0;
        tr->cls = k->cls;
        tr->state = VP_TRACK_TENTATIVE;
        tr->hits = 1;
        tr->score = k->score;
        key_box(k, tr->last_box);
        tr->first_frame = tr->last_frame = frame_index;
        tr->has_emb = 0;
        tr->matched = 1;
        t->order[t->n_live++] = slot;
        t->det_track[c] = slot;
        update_emb(t, slot, c, embeddings);
        if (tr->hits >= t->p.min_hits || (first && t->p.confirm_first_frame))
            confirm(t, tr);
    }

    for (int c = 0; c < nv; c++)
        if (t->det_track[c] >= 0)
            ids_out[t->keys[c].idx] = t->slots[t->det_track[c]].id;
    t->prev_frame = frame_index;
    t->n_updates++;
    return 0;
}

int vp_tracker_tracks(const vp_tracker *t, int include_lost, vp_track_info *out, int cap)
{
    /* IDs are handed out in birth order (tentative tracks confirm in the
     * order they were born), so birth order is ID order. */
    int count = 0;
    for (int i = 0; i < t->n_live; i++) {
        const track *tr = &t->slots[t->order[i]];
        if (tr->state == VP_TRACK_TENTATIVE || (tr->state == VP_TRACK_LOST && !include_lost))
            continue;
        if (count < cap) {
            vp_track_info *o = &out[count];
            double b[4];
            kf_box(&tr->kf, b);
            o->id = tr->id;
            o->cls = tr->cls;
            o->state = tr->state;
            o->x0 = (float)b[0];
            o->y0 = (float)b[1];
            o->x1 = (float)b[2];
            o->y1 = (float)b[3];
            o->score = tr->score;
            o->first_frame = tr->first_frame;
            o->last_frame = tr->last_frame;
        }
        count++;
    }
    return count;
}
