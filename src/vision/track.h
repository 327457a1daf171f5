/*
 * Multi-object tracking, ByteTrack style: one vp_tracker per video stream
 * turns per-frame detections into track IDs that persist across frames.
 *
 * Why ByteTrack: it keeps low-score detections (occluded, blurred objects)
 * for a second association instead of throwing them away, which is what
 * keeps IDs alive through partial occlusion, and it needs nothing but
 * boxes. Optional appearance embeddings (a ReID head) refine the first
 * association, as in BoT-SORT / DeepSORT.
 *
 * One update, in this order (frame t, detections D, tracks T):
 *   0. Detections are put in a canonical order (score descending, then box
 *      x0, y0, x1, y1, then class, then input index), so that the result
 *      does not depend on the order the detector listed them in. Boxes that
 *      are not finite with x1 > x0 and y1 > y0 are ignored (id 0).
 *   1. Every track's Kalman filter predicts frame t (one step per frame of
 *      frame_index difference). A lost track's height velocity is zeroed
 *      first, as ByteTrack does, so a lost box does not shrink or grow away.
 *   2. First association: high detections (score >= high_thresh) against
 *      all confirmed tracks, tracked and lost, predicted boxes; gate
 *      IoU >= iou_first; similarity IoU, or IoU fused with appearance (see
 *      below). A matched lost track is re-activated with its old ID.
 *   3. Second association: low detections (low_thresh <= score <
 *      high_thresh) against the confirmed tracks that were tracked (not
 *      lost) before this frame and are still unmatched; IoU only, gate
 *      IoU >= iou_second. A low detection never re-activates a lost track
 *      and never starts one. Confirmed tracks unmatched now become lost.
 *   4. Tentative tracks (born, not yet confirmed) against the high
 *      detections still unmatched; gate IoU >= iou_unconfirmed (fused with
 *      appearance like step 2). Unmatched tentative tracks are removed.
 *   5. Birth: every high detection still unmatched with score >=
 *      new_track_thresh starts a tentative track (confirmed at once when
 *      min_hits is 1, or on the tracker's first frame when
 *      confirm_first_frame is set, as ByteTrack does).
 *   6. Death: a lost track whose last match is more than max_lost frames
 *      old is removed; its ID is never reused.
 *
 * IDs are given when a track is confirmed (after min_hits consecutive
 * matched frames, the birth frame counting as one), not at birth, so
 * one-frame false positives do not use up IDs: IDs are 1, 2, 3, ... in
 * confirmation order, per tracker. Tentative tracks report id 0.
 *
 * Assignment. Each stage solves a maximum-weight bipartite matching
 * exactly (Hungarian algorithm with potentials, O(r^2 c)) on a similarity
 * s in (0, 1] over the gated pairs: it maximises the sum of s over matched
 * pairs; ties are broken by index order (tracks by birth, detections in
 * canonical order), so they never depend on chance. (ByteTrack
 * calls lapjv with cost_limit, which maximises sum(IoU - (1 - limit));
 * the two agree whenever the best matching is unambiguous, which is all
 * that matters in practice, and this one has no second threshold.)
 * Class-aware: a track keeps the class it was born with and only matches
 * detections of that class, unless class_agnostic.
 *
 * Appearance fusion (emb_dim > 0 and embeddings given), two forms, both
 * applied only to pairs that pass the IoU gate, with d = (1 - cos(track,
 * det)) / 2 in [0, 1]:
 *
 *   VP_TRACK_FUSE_WEIGHTED (default): s = (1 - w) * IoU + w * (1 - d).
 *   VP_TRACK_FUSE_MIN (BoT-SORT): cost = min(1 - IoU, d'), where d' = d
 *     unless d > appearance_thresh or 1 - IoU > proximity_thresh, then 1;
 *     s = 1 - cost.
 *
 * The spatial gate keeps the motion model in charge of which candidates
 * are plausible; among those, appearance may overrule IoU. The two forms
 * differ in how far. The min (BoT-SORT) can only make a pair cheaper:
 * it lets a pair that both looks alike and is close (IoU >= 1 -
 * proximity_thresh) win over a closer box that looks different, as long
 * as that box's IoU cost exceeds the appearance cost of the right pairs;
 * but it can never undo a wrong pair with IoU cost near 0, i.e. two
 * objects that swapped exactly into each other's predicted places while
 * occluded (tests/vision/track_test.c shows both cases). The weighted sum
 * undoes that too, at the price admitted below (weighted only). The track
 * embedding is an exponential moving average of the unit-normalised detection
 * embeddings it matched in steps 2 and 4 (momentum emb_momentum, then
 * re-normalised); low-score detections (step 3) do not update it.
 * Cost admitted (weighted): the weight is one number for all tracks, so the w = 0.75
 * that lets appearance undo a swap behind an occluder also lets one frame
 * of misleading embeddings (two overlapping objects that each look like
 * the other) exchange IDs although the boxes say otherwise. The fix, not
 * done yet, is DeepSORT's idea: trust motion more for tracks matched in
 * the previous frame, appearance more for tracks lost for a while (w as a
 * function of frames since the last match).
 *
 * Memory: every buffer is allocated by vp_tracker_create for max_dets
 * detections and max_tracks tracks (max_tracks >= max_dets); update
 * allocates nothing. More than max_dets detections in one frame is
 * VP_ERR_INVALID (logged, tracker state unchanged). Tracks that are not
 * lost never outnumber max_dets, so a full pool is resolved by evicting the
 * lost tracks that have been lost longest, which only ever happens when
 * max_tracks is small compared with max_dets * max_lost.
 *
 * Determinism: no global state, no randomness; the same detection
 * sequence gives the same IDs, in any listing order (step 0) except for
 * exact duplicates, which are indistinguishable anyway.
 *
 * Not thread-safe per tracker; separate trackers are independent.
 */
#ifndef VP_VISION_TRACK_H
#define VP_VISION_TRACK_H

#include "vidpipe/vidpipe.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How tracks are placed in the frame being associated. */
typedef enum vp_track_motion {
    VP_TRACK_MOTION_KALMAN = 0, /* Kalman-predicted box (default) */
    VP_TRACK_MOTION_NONE = 1,   /* the last matched detection box: a plain IoU tracker,
                                   for static scenes and for comparison */
} vp_track_motion;

/* How appearance is fused with IoU (emb_dim > 0 and embeddings given). */
typedef enum vp_track_fusion {
    VP_TRACK_FUSE_WEIGHTED = 0, /* s = (1 - w) IoU + w (1 - d) inside the IoU gate (DeepSORT-like; default) */
    VP_TRACK_FUSE_MIN = 1,      /* cost = min(1 - IoU, gated d), BoT-SORT's */
} vp_track_fusion;

typedef struct vp_track_params {
    float high_thresh;      /* first association and birth candidates: score >= this; default 0.5 */
    float low_thresh;       /* second association: low_thresh <= score < high_thresh; default 0.1 */
    float new_track_thresh; /* birth: unmatched high detection with score >= this; default 0.6 */
    float iou_first;        /* gate, step 2: IoU >= this, in (0, 1]; default 0.2 (ByteTrack match_thresh 0.8) */
    float iou_second;       /* gate, step 3; default 0.5 */
    float iou_unconfirmed;  /* gate, step 4; default 0.3 */
    int max_lost;           /* frames a lost track is kept (ByteTrack track_buffer at 30 fps), >= 0; default 30 */
    int min_hits;           /* consecutive matched frames to confirm a track, >= 1; default 2 */
    int confirm_first_frame;/* 1: births on the first update are confirmed at once (ByteTrack); default 1 */
    int class_agnostic;     /* 1: match regardless of class; default 0 */
    vp_track_motion motion; /* default VP_TRACK_MOTION_KALMAN */
    int emb_dim;            /* appearance embedding length, 0..4096; 0 = no appearance (default) */
    float emb_weight;       /* w in the fused similarity, [0, 1]; default 0.75 */
    float emb_momentum;     /* EMA momentum of track embeddings, [0, 1); default 0.9 (BoT-SORT) */
    vp_track_fusion emb_fusion; /* default VP_TRACK_FUSE_WEIGHTED */
    float appearance_thresh;/* FUSE_MIN: d > this counts as 1 (no appearance match), [0, 1]; default 0.25 */
    float proximity_thresh; /* FUSE_MIN: 1 - IoU > this makes d 1, [0, 1]; default 0.5 */
    int max_dets;           /* detections per update, 1..1<<20; default 1024 */
    int max_tracks;         /* tracks held at once (tentative, tracked, lost), >= max_dets; default 2048 */
} vp_track_params;

/* One detection, in source-image pixels. */
typedef struct vp_track_det {
    float x0, y0, x1, y1; /* corners, x1 > x0 and y1 > y0 (otherwise ignored) */
    float score;          /* detector confidence, normally [0, 1]; NaN counts as below low_thresh */
    int32_t cls;          /* class index */
} vp_track_det;

typedef enum vp_track_state {
    VP_TRACK_TENTATIVE = 0, /* born, not yet confirmed; id 0 */
    VP_TRACK_TRACKED = 1,   /* matched in the latest update */
    VP_TRACK_LOST = 2,      /* confirmed, unmatched since last_frame */
} vp_track_state;

/* A track as vp_tracker_tracks reports it. */
typedef struct vp_track_info {
    int32_t id;            /* >= 1 */
    int32_t cls;           /* class at birth */
    vp_track_state state;  /* VP_TRACK_TRACKED or VP_TRACK_LOST */
    float x0, y0, x1, y1;  /* Kalman box for the latest frame: corrected when tracked,
                              predicted when lost (source pixels) */
    float score;           /* score of the last matched detection */
    int64_t first_frame;   /* frame_index of birth */
    int64_t last_frame;    /* frame_index of the last match */
} vp_track_info;

typedef struct vp_tracker vp_tracker;

/* The defaults listed in vp_track_params. */
void vp_track_params_default(vp_track_params *p);

/* Creates a tracker (copying *params; NULL = defaults) into *out, which is
 * NULL on failure. VP_ERR_INVALID for out-of-range parameters (logged with
 * the field), VP_ERR_NOMEM. Free with vp_tracker_free. */
int vp_tracker_create(const vp_track_params *params, vp_tracker **out);

/* Frees the tracker and sets *t to NULL; NULL or *t NULL is a no-op. */
void vp_tracker_free(vp_tracker **t);

/* Forgets every track and restarts IDs at 1 and frame indices anew, as for
 * a new stream; keeps the buffers. */
void vp_tracker_reset(vp_tracker *t);

/* Runs one frame. dets: n detections (n = 0 allowed, dets may then be NULL);
 * embeddings: n * emb_dim floats, row i for dets[i], or NULL (then this
 * frame is associated by IoU only; ignored when emb_dim is 0); a zero or
 * non-finite embedding reads as orthogonal to every other. frame_index:
 * strictly greater than the previous call's since create/reset (gaps are
 * frames without detections: the filters predict across them).
 * ids_out (n entries, may be NULL when n is 0): the confirmed track ID of
 * each detection, or 0 (ignored, unmatched, or on a tentative track).
 * Returns 0, or VP_ERR_INVALID (n > max_dets, n < 0, NULL arrays,
 * frame_index not increasing; logged, tracker unchanged). */
int vp_tracker_update(vp_tracker *t, const vp_track_det *dets, int n, const float *embeddings,
                      int64_t frame_index, int32_t *ids_out);

/* Confirmed tracks after the latest update, by increasing id: tracked ones,
 * and lost ones too when include_lost. Writes at most cap entries to out
 * (out may be NULL when cap is 0) and returns how many there are in all,
 * which may exceed cap. */
int vp_tracker_tracks(const vp_tracker *t, int include_lost, vp_track_info *out, int cap);

/* ---- Building blocks, exposed for the tests (tests/vision/track_test.c) ---- */

/* Kalman filter of ByteTrack / DeepSORT: state (cx, cy, a, h, vcx, vcy, va, vh),
 * a = w / h, constant velocity, one frame per step, noise standard deviations
 * proportional to h (1/20 for position, 1/160 for velocity). cov is 8x8
 * row-major. */
typedef struct vp_kf_state {
    double mean[8];
    double cov[64];
} vp_kf_state;

/* From a measurement z = (cx, cy, a, h), h > 0: mean (z, 0), cov diagonal with
 * std (2 wp h, 2 wp h, 1e-2, 2 wp h, 10 wv h, 10 wv h, 1e-5, 10 wv h). */
void vp_kf_initiate(vp_kf_state *s, const double z[4]);
/* x = F x, P = F P F' + Q, Q diagonal with std (wp h, wp h, 1e-2, wp h,
 * wv h, wv h, 1e-5, wv h), h the height before the step. */
void vp_kf_predict(vp_kf_state *s);
/* Correction with z: S = H P H' + R, R diagonal with std (wp h, wp h, 1e-1,
 * wp h); K = P H' S^-1; x += K (z - H x); P -= K S K'. Returns 0, or
 * VP_ERR_INTERNAL when S is not positive definite (state unchanged). */
int vp_kf_update(vp_kf_state *s, const double z[4]);

/* Bytes of scratch vp_lap_solve needs for up to max_rows x max_cols. */
size_t vp_lap_scratch_size(int max_rows, int max_cols);

/* Minimum-cost assignment on a rows x cols row-major cost matrix (stride
 * cols) whose entries are in [0, 1], 1 meaning "may not be paired": finds
 * the matching of pairs with cost < 1 that minimises sum(cost - 1), i.e.
 * maximises the total similarity 1 - cost; among equal optima the result
 * depends only on the matrix (scans by increasing index), never on chance.
 * row_match[rows] / col_match[cols] receive the partner index or -1.
 * scratch: vp_lap_scratch_size(rows, cols) bytes or more, 8-byte aligned.
 * Returns the number of pairs. Rectangular matrices either way round. */
int vp_lap_solve(const double *cost, int rows, int cols, void *scratch, int *row_match,
                 int *col_match);

#ifdef __cplusplus
}
#endif

#endif
