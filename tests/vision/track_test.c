/*
 * vp_track_test: the ByteTrack-style tracker (src/vision/track.c) on
 * scripted trajectories with exact expected IDs per frame.
 *
 *   vp_track_test            all cases; exit 0 when every check holds, 1 otherwise
 *   vp_track_test --kalman   prints a scripted run of the Kalman filter
 *                            (init / predict / update and the state after
 *                            each) for track_kalman_ref.py, which replays it
 *                            with numpy and filterpy
 *   vp_track_test --bench    50 noisy objects over 10,000 frames: CPU time per
 *                            update (printed, never asserted; goal < 0.05 ms)
 *   vp_track_test --replay   reads detections from stdin and prints the IDs
 *                            (tools/eval_track_gt.py: ground-truth boxes and
 *                            appearance embeddings through the tracker):
 *                            first line "DIM FUSION" (0 = weighted, 1 = min),
 *                            then per frame "F INDEX N" and N lines
 *                            "x0 y0 x1 y1 score cls e_1 .. e_DIM"; prints
 *                            "INDEX id_1 .. id_N" per frame
 *
 * Every scenario that asserts "IDs stay right" has a twin that asserts
 * they go wrong without the mechanism under test (no motion model, no
 * embeddings), so that a tracker which ignored the mechanism would fail,
 * and the assignment solver is checked against brute force.
 */
#include "vision/track.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int g_fails;

#define CHECK(cond, ...)                                          \
    do {                                                          \
        if (!(cond)) {                                            \
            fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                         \
            fputc('\n', stderr);                                  \
            g_fails++;                                            \
        }                                                         \
    } while (0)

/* splitmix64: the tests' deterministic random numbers (state passed in). */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0); }
static double rng_range(uint64_t *s, double lo, double hi) { return lo + (hi - lo) * rng_unit(s); }

static vp_track_det box_det(double cx, double cy, double w, double h, float score, int cls)
{
    vp_track_det d = {(float)(cx - w / 2), (float)(cy - h / 2), (float)(cx + w / 2),
                      (float)(cy + h / 2), score, cls};
    return d;
}

static vp_tracker *make(const vp_track_params *p)
{
    vp_tracker *t = NULL;
    int rc = vp_tracker_create(p, &t);
    if (rc != 0 || !t) {
        fprintf(stderr, "vp_tracker_create failed: %d\n", rc);
        exit(1);
    }
    return t;
}

static void update(vp_tracker *t, const vp_track_det *d, int n, const float *emb, int64_t frame,
                   int32_t *ids)
{
    int rc = vp_tracker_update(t, d, n, emb, frame, ids);
    CHECK(rc == 0, "update frame %lld: rc %d", (long long)frame, rc);
}

/* Compares one detection's id; counts into *mism instead of failing when
 * mism is given (for the twins that must notice a difference). */
static void expect_id(int *mism, const char *what, int64_t f, int got, int want)
{
    if (got == want)
        return;
    if (mism) {
        (*mism)++;
        return;
    }
    fprintf(stderr, "FAIL: %s: frame %lld: id %d, expected %d\n", what, (long long)f, got, want);
    g_fails++;
}

/* ---- constant velocity; IDs at confirmation ---------------------------- */
static void test_constant_velocity(void)
{
    vp_tracker *t = make(NULL);
    int32_t ids[2];
    for (int f = 1; f <= 100; f++) {
        vp_track_det d[2];
        int n = 0;
        d[n++] = box_det(100 + 5.0 * f, 300 + 2.0 * f, 40, 80, 0.9f, 0);
        if (f >= 10) /* appears later: tentative on its first frame */
            d[n++] = box_det(1500 - 4.0 * f, 700, 60, 120, 0.8f, 0);
        update(t, d, n, NULL, f, ids);
        expect_id(NULL, "cv: first object", f, ids[0], 1);
        if (f >= 10)
            expect_id(NULL, "cv: second object", f, ids[1], f == 10 ? 0 : 2);
    }
    vp_track_info info[4];
    int nt = vp_tracker_tracks(t, 1, info, 4);
    CHECK(nt == 2, "cv: %d tracks, expected 2", nt);
    if (nt == 2) {
        CHECK(info[0].id == 1 && info[1].id == 2, "cv: ids %d %d", info[0].id, info[1].id);
        /* noise-free constant velocity: the filter has converged on the truth */
        const double cx = (info[0].x0 + info[0].x1) / 2, cy = (info[0].y0 + info[0].y1) / 2;
        CHECK(fabs(cx - 600) < 0.05 && fabs(cy - 500) < 0.05 && fabs(info[0].y1 - info[0].y0 - 80) < 0.05,
              "cv: track box centre %.3f %.3f, expected 600 500", cx, cy);
        CHECK(info[0].first_frame == 1 && info[0].last_frame == 100 && info[1].first_frame == 10,
              "cv: frames %lld %lld %lld", (long long)info[0].first_frame,
              (long long)info[0].last_frame, (long long)info[1].first_frame);
    }
    /* min_hits 3, no first-frame exception: 0, 0, then the ID */
    vp_track_params p;
    vp_track_params_default(&p);
    p.min_hits = 3;
    p.confirm_first_frame = 0;
    vp_tracker_reset(t);
    vp_tracker_free(&t);
    t = make(&p);
    for (int f = 1; f <= 6; f++) {
        vp_track_det d = box_det(100 + 5.0 * f, 300, 40, 80, 0.9f, 0);
        update(t, &d, 1, NULL, f, ids);
        expect_id(NULL, "cv: min_hits 3", f, ids[0], f < 3 ? 0 : 1);
    }
    /* a one-frame false positive uses up no ID */
    for (int f = 7; f <= 9; f++) {
        vp_track_det d[2] = {box_det(100 + 5.0 * f, 300, 40, 80, 0.9f, 0),
                             box_det(1000, 900, 40, 80, 0.9f, 0)};
        update(t, d, f == 7 ? 2 : 1, NULL, f, ids);
        expect_id(NULL, "cv: blip", f, ids[0], 1);
        if (f == 7)
            expect_id(NULL, "cv: blip itself", f, ids[1], 0);
    }
    for (int f = 10; f <= 12; f++) {
        vp_track_det d = box_det(300, 900, 40, 80, 0.9f, 0);
        update(t, &d, 1, NULL, f, ids);
        expect_id(NULL, "cv: after blip", f, ids[0], f < 12 ? 0 : 2);
    }
    vp_tracker_free(&t);
    CHECK(t == NULL, "free must null the handle");
    vp_tracker_free(&t); /* no-op */
}

/* ---- two same-class objects crossing ----------------------------------- */
/* A moves right, B left, same row, 50 x 100 boxes, 10 px per frame; their
 * centres pass between frames 20 and 21 (205 + 10 f = 610 - 10 f at 20.25). */
static int crossing(vp_track_motion motion, int swap_expected, int count_only)
{
    vp_track_params p;
    vp_track_params_default(&p);
    p.motion = motion;
    vp_tracker *t = make(&p);
    int mism = 0;
    for (int f = 1; f <= 40; f++) {
        vp_track_det d[2] = {box_det(205 + 10.0 * f, 400, 50, 100, 0.9f, 0),
                             box_det(610 - 10.0 * f, 400, 50, 100, 0.9f, 0)};
        int32_t ids[2];
        update(t, d, 2, NULL, f, ids);
        const int sw = swap_expected && f >= 21;
        expect_id(count_only ? &mism : NULL, "crossing A", f, ids[0], sw ? 2 : 1);
        expect_id(count_only ? &mism : NULL, "crossing B", f, ids[1], sw ? 1 : 2);
    }
    vp_tracker_free(&t);
    return mism;
}

static void test_crossing(void)
{
    crossing(VP_TRACK_MOTION_KALMAN, 0, 0); /* exact: no swap with the motion model */
    crossing(VP_TRACK_MOTION_NONE, 1, 0);   /* exact: last-box IoU swaps at frame 21 */
    /* the twin: the no-swap expectation fails without a motion model */
    const int m = crossing(VP_TRACK_MOTION_NONE, 0, 1);
    CHECK(m == 40, "crossing without motion: %d mismatches against no-swap, expected 40", m);
}

/* ---- occlusion for N frames -------------------------------------------- */
/* Visible frames 1..20, missing N frames, visible again on its trajectory
 * for 15 frames. Returns the id after the gap (at the last frame); checks
 * the frames before. */
static int occlusion(int max_lost, int gap)
{
    vp_track_params p;
    vp_track_params_default(&p);
    p.max_lost = max_lost;
    vp_tracker *t = make(&p);
    int32_t id = -1;
    for (int f = 1; f <= 20 + gap + 15; f++) {
        const int visible = f <= 20 || f > 20 + gap;
        vp_track_det d = box_det(100 + 5.0 * f, 500 + 1.0 * f, 50, 100, 0.9f, 0);
        update(t, &d, visible, NULL, f, &id);
        if (f <= 20) {
            expect_id(NULL, "occlusion before", f, id, 1);
        } else if (!visible) {
            vp_track_info info;
            const int all = vp_tracker_tracks(t, 1, &info, 1);
            const int tracked = vp_tracker_tracks(t, 0, NULL, 0);
            CHECK(tracked == 0, "occlusion: %d tracked during the gap", tracked);
            /* listed as lost while kept, gone once more than max_lost frames missed */
            CHECK(all == (f - 20 <= max_lost), "occlusion gap %d frame %d: %d lost tracks", gap, f, all);
            if (all == 1)
                CHECK(info.state == VP_TRACK_LOST && info.id == 1 && info.last_frame == 20,
                      "occlusion: lost track %d state %d last %lld", info.id, info.state,
                      (long long)info.last_frame);
        } else if (f == 21 + gap) {
            if (gap > max_lost)
                expect_id(NULL, "occlusion new track, birth frame", f, id, 0);
        }
    }
    vp_tracker_free(&t);
    return id;
}

static void test_occlusion(void)
{
    int id;
    id = occlusion(30, 10);
    CHECK(id == 1, "occlusion 10 frames, max_lost 30: id %d, expected 1", id);
    id = occlusion(30, 30);
    CHECK(id == 1, "occlusion 30 frames, max_lost 30: id %d, expected 1", id);
    id = occlusion(30, 31);
    CHECK(id == 2, "occlusion 31 frames, max_lost 30: id %d, expected 2", id);
    id = occlusion(5, 5);
    CHECK(id == 1, "occlusion 5 frames, max_lost 5: id %d, expected 1", id);
    id = occlusion(5, 6);
    CHECK(id == 2, "occlusion 6 frames, max_lost 5: id %d, expected 2", id);

    /* While lost, the box keeps its size (ByteTrack zeroes the height
     * velocity of lost tracks): an object growing by 2 px per frame is
     * predicted at a constant height from its second missed frame on. */
    {
        vp_tracker *g = make(NULL);
        int32_t gid;
        double h_lost = 0.0;
        for (int f = 1; f <= 40; f++) {
            vp_track_det d = box_det(500 + 3.0 * f, 500, 0.5 * (60 + 2.0 * f), 60 + 2.0 * f, 0.9f, 0);
            update(g, &d, f <= 20, NULL, f, &gid);
            vp_track_info info;
            if (vp_tracker_tracks(g, 1, &info, 1) != 1)
                continue;
            const double h = (double)info.y1 - info.y0;
            if (f == 22)
                h_lost = h;
            if (f > 22)
                CHECK(fabs(h - h_lost) < 1e-3, "lost height frame %d: %.4f, at frame 22 %.4f", f, h, h_lost);
        }
        CHECK(h_lost > 95.0, "lost height %.2f: expected about 100 (the height when lost)", h_lost);
        vp_tracker_free(&g);
    }

    /* A gap in frame indices is missed frames too: the filter predicts
     * across it, and a gap longer than max_lost ends the track. */
    vp_tracker *t = make(NULL);
    int32_t i1 = -1;
    for (int f = 1; f <= 20; f++) {
        vp_track_det d = box_det(100 + 5.0 * f, 500, 50, 100, 0.9f, 0);
        update(t, &d, 1, NULL, f, &i1);
    }
    vp_track_det d = box_det(100 + 5.0 * 45, 500, 50, 100, 0.9f, 0); /* frames 21..44 skipped */
    update(t, &d, 1, NULL, 45, &i1);
    expect_id(NULL, "frame gap 24", 45, i1, 1);
    d = box_det(100 + 5.0 * 77, 500, 50, 100, 0.9f, 0); /* 31 frames skipped */
    update(t, &d, 1, NULL, 77, &i1);
    expect_id(NULL, "frame gap 31", 77, i1, 0);
    vp_tracker_free(&t);
}

/* ---- leaving the frame and coming back --------------------------------- */
static void test_reentry(void)
{
    vp_tracker *t = make(NULL);
    int32_t id = -1;
    int64_t f = 0;
    /* moves right out of a 1920-wide frame (last box centre at 1880) */
    for (int i = 0; i < 30; i++) {
        vp_track_det d = box_det(1590 + 10.0 * i, 500, 60, 120, 0.9f, 0);
        update(t, &d, 1, NULL, ++f, &id);
        expect_id(NULL, "reentry: first pass", f, id, 1);
    }
    for (int i = 0; i < 10; i++)
        update(t, NULL, 0, NULL, ++f, &id);
    /* comes back from the left 10 frames later: its old track is still lost
     * (predicted off to the right), so this is a new identity */
    for (int i = 0; i < 40; i++) {
        vp_track_det d = box_det(30 + 10.0 * i, 500, 60, 120, 0.9f, 0);
        update(t, &d, 1, NULL, ++f, &id);
        expect_id(NULL, "reentry: second pass", f, id, i == 0 ? 0 : 2);
        if (i == 5) {
            const int all = vp_tracker_tracks(t, 1, NULL, 0);
            CHECK(all == 2, "reentry: %d tracks while the first is lost, expected 2", all);
        }
    }
    const int all = vp_tracker_tracks(t, 1, NULL, 0);
    CHECK(all == 1, "reentry: %d tracks after max_lost, expected 1", all);
    /* leaves again to the right edge region and re-enters at the same
     * spot after the old track died: IDs are never reused */
    for (int i = 0; i < 35; i++)
        update(t, NULL, 0, NULL, ++f, &id);
    for (int i = 0; i < 3; i++) {
        vp_track_det d = box_det(30 + 10.0 * i, 500, 60, 120, 0.9f, 0);
        update(t, &d, 1, NULL, ++f, &id);
        expect_id(NULL, "reentry: third pass", f, id, i == 0 ? 0 : 3);
    }
    vp_tracker_free(&t);
}

/* ---- low-score detections (ByteTrack's second stage) ------------------- */
static void test_low_score(void)
{
    vp_tracker *t = make(NULL);
    int32_t ids[3];
    int f = 0;
    for (int i = 0; i < 30; i++) {
        ++f;
        /* object 1: high, then low (partly occluded) for 10 frames, then high */
        const float s1 = (f >= 6 && f <= 15) ? 0.3f : 0.9f;
        vp_track_det d[3] = {box_det(100 + 5.0 * f, 300, 50, 100, s1, 0),
                             /* object 2: always low: never starts a track */
                             box_det(1200, 600, 50, 100, 0.3f, 0),
                             /* object 3: between high_thresh and new_track_thresh: no birth */
                             box_det(1600, 600, 50, 100, 0.55f, 0)};
        update(t, d, 3, NULL, f, ids);
        expect_id(NULL, "low: tracked through low scores", f, ids[0], 1);
        expect_id(NULL, "low: low-only object", f, ids[1], 0);
        expect_id(NULL, "low: 0.55 object", f, ids[2], 0);
    }
    CHECK(vp_tracker_tracks(t, 1, NULL, 0) == 1, "low: one track expected");
    /* without the second stage's help (low score under low_thresh) the
     * same dip loses the track, and a new one starts after it */
    vp_tracker_free(&t);
    t = make(NULL);
    for (f = 1; f <= 20; f++) {
        const float s1 = (f >= 6 && f <= 8) ? 0.05f : 0.9f;
        vp_track_det d = box_det(100 + 5.0 * f, 300, 50, 100, s1, 0);
        update(t, &d, 1, NULL, f, ids);
        /* below low_thresh: ignored, the track is lost; back at 0.9 on frame
         * 9: the lost track is recovered by the first stage */
        expect_id(NULL, "low: under low_thresh", f, ids[0], (f >= 6 && f <= 8) ? 0 : 1);
    }
    /* a lost track is not re-activated by a low detection (second stage
     * only takes tracks that were tracked), the next high one does */
    for (f = 21; f <= 30; f++) {
        const int visible = !(f >= 21 && f <= 23);
        const float s1 = f == 24 ? 0.3f : 0.9f;
        vp_track_det d = box_det(100 + 5.0 * f, 300, 50, 100, s1, 0);
        update(t, &d, visible, NULL, f, ids);
        if (visible)
            expect_id(NULL, "low: lost + low", f, ids[0], f == 24 ? 0 : 1);
    }
    vp_tracker_free(&t);
}

/* ---- classes ------------------------------------------------------------ */
static void test_classes(void)
{
    for (int agnostic = 0; agnostic <= 1; agnostic++) {
        vp_track_params p;
        vp_track_params_default(&p);
        p.class_agnostic = agnostic;
        vp_tracker *t = make(&p);
        int32_t ids[2];
        for (int f = 1; f <= 12; f++) {
            /* the detector changes its mind about object 1's class at frame 6 */
            const int cls = f >= 6 ? 1 : 0;
            vp_track_det d[2] = {box_det(300 + 3.0 * f, 300, 50, 100, 0.9f, cls),
                                 box_det(800 + 4.0 * f, 500, 60, 120, 0.9f, 2)};
            update(t, d, agnostic ? 1 : 2, NULL, f, ids);
            int want = 1;
            if (!agnostic && f >= 6)
                want = f == 6 ? 0 : 3; /* class 1 is a new object */
            expect_id(NULL, agnostic ? "class agnostic" : "class aware", f, ids[0], want);
            if (!agnostic)
                expect_id(NULL, "class aware: other object", f, ids[1], 2);
        }
        vp_track_info info[4];
        const int n = vp_tracker_tracks(t, 1, info, 4);
        if (!agnostic) {
            CHECK(n == 3 && info[0].cls == 0 && info[0].state == VP_TRACK_LOST && info[2].cls == 1,
                  "class aware: %d tracks", n);
        } else {
            CHECK(n == 1 && info[0].cls == 0, "class agnostic: %d tracks, class %d", n, info[0].cls);
        }
        vp_tracker_free(&t);
    }
    /* overlapping objects of two classes keep their IDs apart */
    vp_tracker *t = make(NULL);
    int32_t ids[2];
    for (int f = 1; f <= 20; f++) {
        vp_track_det d[2] = {box_det(400 + 6.0 * f, 400, 40, 100, 0.9f, 0),  /* person */
                             box_det(400 + 6.0 * f, 420, 60, 70, 0.8f, 1)}; /* bicycle */
        update(t, d, 2, NULL, f, ids);
        expect_id(NULL, "rider", f, ids[0], 1);
        expect_id(NULL, "bicycle", f, ids[1], 2);
    }
    vp_tracker_free(&t);
}

/* ---- appearance: a swap while occluded ---------------------------------- */
/* A at x=100, B at x=130 (60 x 120, IoU 1/3), still, frames 1..10; both
 * hidden 11..15; from 16 they are back with positions exchanged. */
static int appearance_swap(int emb_dim, int pass_emb, int count_only, int blur_frame10)
{
    vp_track_params p;
    vp_track_params_default(&p);
    p.emb_dim = emb_dim;
    vp_tracker *t = make(&p);
    uint64_t rs = 42;
    int mism = 0;
    for (int f = 1; f <= 25; f++) {
        const int swapped = f >= 16;
        vp_track_det d[2] = {box_det(swapped ? 130 : 100, 300, 60, 120, 0.9f, 0),
                             box_det(swapped ? 100 : 130, 300, 60, 120, 0.85f, 0)};
        float emb[2 * 16];
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 16; k++) /* two noisy, clearly different appearances */
                emb[i * 16 + k] = (float)((k % 2 == i ? 1.0 : 0.2) + rng_range(&rs, -0.1, 0.1));
        if (blur_frame10 && f == 10) /* one blurred frame: both look the same */
            for (int k = 0; k < 32; k++)
                emb[k] = 0.6f;
        int32_t ids[2];
        const int visible = f <= 10 || f >= 16;
        update(t, d, visible ? 2 : 0, pass_emb ? emb : NULL, f, ids);
        if (!visible)
            continue;
        /* right: A keeps 1 and B keeps 2; wrong: exchanged after the gap */
        expect_id(count_only ? &mism : NULL, "appearance A", f, ids[0], 1);
        expect_id(count_only ? &mism : NULL, "appearance B", f, ids[1], 2);
    }
    vp_tracker_free(&t);
    return mism;
}

static void test_appearance(void)
{
    appearance_swap(16, 1, 0, 0); /* exact IDs with embeddings */
    int m = appearance_swap(16, 0, 1, 0);
    CHECK(m == 20, "appearance: IoU only: %d mismatches, expected 20 (all of frames 16..25 swapped)", m);
    m = appearance_swap(0, 1, 1, 0);
    CHECK(m == 20, "appearance off: %d mismatches, expected 20", m);
    /* one blurred frame just before the occlusion: the moving average
     * (momentum 0.9) keeps each track's appearance; a track embedding that
     * were only the last detection's would leave IoU to decide (swap) */
    appearance_swap(16, 1, 0, 1);
}

/* ---- appearance, BoT-SORT fusion: a partial swap while occluded ---------- */
/* A at x=100, B at x=120 (60 x 120, IoU 1/2 with each other), still,
 * frames 1..10; both hidden 11..18 (an occluder passes in front) while
 * they step past each other; from 19 on A stands at 116, B at 104. Each
 * track's (still) prediction now overlaps the other object more (IoU 0.875)
 * than its own (0.58): IoU alone exchanges the IDs. Both own pairs are
 * within the proximity gate (1 - IoU = 0.42 <= 0.5) and look alike (d ~
 * 0.01), the wrong pairs look different (d ~ 0.3 > 0.25, so 1): the min
 * makes the own pairs cheaper (0.01 vs 0.125) and the IDs stay. */
static int appearance_step_past(vp_track_fusion fusion, int pass_emb, int count_only, int exact_swap)
{
    vp_track_params p;
    vp_track_params_default(&p);
    p.emb_dim = 16;
    p.emb_fusion = fusion;
    vp_tracker *t = make(&p);
    uint64_t rs = 7;
    int mism = 0;
    for (int f = 1; f <= 28; f++) {
        const int after = f >= 19;
        double xa = after ? 116 : 100, xb = after ? 104 : 120;
        if (exact_swap && after) /* into each other's places exactly: no fusion by min can undo it */
            xa = 120, xb = 100;
        vp_track_det d[2] = {box_det(xa, 300, 60, 120, 0.9f, 0), box_det(xb, 300, 60, 120, 0.85f, 0)};
        float emb[2 * 16];
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 16; k++)
                emb[i * 16 + k] = (float)((k % 2 == i ? 1.0 : 0.2) + rng_range(&rs, -0.1, 0.1));
        int32_t ids[2];
        const int visible = f <= 10 || f >= 19;
        update(t, d, visible ? 2 : 0, pass_emb ? emb : NULL, f, ids);
        if (!visible)
            continue;
        expect_id(count_only ? &mism : NULL, "step past A", f, ids[0], 1);
        expect_id(count_only ? &mism : NULL, "step past B", f, ids[1], 2);
    }
    vp_tracker_free(&t);
    return mism;
}

static void test_appearance_min(void)
{
    appearance_step_past(VP_TRACK_FUSE_MIN, 1, 0, 0);      /* exact IDs, BoT-SORT fusion */
    appearance_step_past(VP_TRACK_FUSE_WEIGHTED, 1, 0, 0); /* and weighted */
    int m = appearance_step_past(VP_TRACK_FUSE_MIN, 0, 1, 0);
    CHECK(m == 20, "step past: IoU only: %d mismatches, expected 20 (frames 19..28 exchanged)", m);
    /* the limit of the min, documented in track.h: an exact swap keeps the
     * wrong pairs at IoU cost 0, which no appearance cost can undercut */
    m = appearance_step_past(VP_TRACK_FUSE_MIN, 1, 1, 1);
    CHECK(m == 20, "exact swap, min fusion: %d mismatches, expected 20", m);
    m = appearance_step_past(VP_TRACK_FUSE_WEIGHTED, 1, 1, 1);
    CHECK(m == 0, "exact swap, weighted fusion: %d mismatches, expected 0", m);
}

/* ---- determinism and order independence -------------------------------- */
#define DET_OBJ 20
#define DET_FRAMES 300
#define SCENE_MAX 64
typedef struct scene {
    double x[SCENE_MAX], y[SCENE_MAX], vx[SCENE_MAX], vy[SCENE_MAX], w[SCENE_MAX], h[SCENE_MAX];
    uint64_t rs;
} scene;

static void scene_init(scene *s, int nobj, uint64_t seed)
{
    s->rs = seed;
    for (int o = 0; o < nobj; o++) {
        s->x[o] = rng_range(&s->rs, 100, 1800);
        s->y[o] = rng_range(&s->rs, 100, 1000);
        s->vx[o] = rng_range(&s->rs, -4, 4);
        s->vy[o] = rng_range(&s->rs, -2, 2);
        s->w[o] = rng_range(&s->rs, 30, 100);
        s->h[o] = rng_range(&s->rs, 60, 200);
    }
}

/* One frame: moves every object (bouncing off the borders), writes the
 * detections (noisy boxes, a few missed, varied scores) and which object
 * each came from. Returns their number. */
static int scene_step(scene *s, int nobj, vp_track_det *d, int *obj, float *emb, int dim)
{
    int n = 0;
    for (int o = 0; o < nobj; o++) {
        s->x[o] += s->vx[o];
        s->y[o] += s->vy[o];
        if (s->x[o] < 50 || s->x[o] > 1870)
            s->vx[o] = -s->vx[o];
        if (s->y[o] < 50 || s->y[o] > 1030)
            s->vy[o] = -s->vy[o];
        const double r = rng_unit(&s->rs);
        if (r < 0.03)
            continue; /* missed */
        const float score = (float)(r < 0.1 ? rng_range(&s->rs, 0.15, 0.45) : rng_range(&s->rs, 0.6, 0.95));
        vp_track_det k = box_det(s->x[o] + rng_range(&s->rs, -1.5, 1.5),
                                 s->y[o] + rng_range(&s->rs, -1.5, 1.5),
                                 s->w[o] + rng_range(&s->rs, -2, 2), s->h[o] + rng_range(&s->rs, -2, 2),
                                 score, o % 3);
        if (emb)
            for (int i = 0; i < dim; i++)
                emb[(size_t)n * dim + i] = (float)(((o * 7 + i * 13) % 17) / 17.0 + rng_range(&s->rs, -0.05, 0.05));
        obj[n] = o;
        d[n++] = k;
    }
    return n;
}

/* Runs the scene; perm: 0 as generated, 1 reversed, 2 rotated by the frame
 * number. ids[frame][object] receives each object's id (-1 = no detection). */
static void run_scene(int perm, int dim, int32_t (*ids)[DET_OBJ])
{
    vp_track_params p;
    vp_track_params_default(&p);
    p.emb_dim = dim;
    vp_tracker *t = make(&p);
    scene s;
    scene_init(&s, DET_OBJ, 7);
    for (int f = 0; f < DET_FRAMES; f++) {
        vp_track_det d[DET_OBJ], pd[DET_OBJ];
        int obj[DET_OBJ], pobj[DET_OBJ];
        float emb[DET_OBJ * 8], pemb[DET_OBJ * 8];
        int32_t out[DET_OBJ];
        const int n = scene_step(&s, DET_OBJ, d, obj, dim ? emb : NULL, dim);
        for (int i = 0; i < n; i++) {
            const int src = perm == 0 ? i : perm == 1 ? n - 1 - i : (i + f) % n;
            pd[i] = d[src];
            pobj[i] = obj[src];
            if (dim)
                memcpy(&pemb[i * dim], &emb[src * dim], (size_t)dim * sizeof(float));
        }
        update(t, pd, n, dim ? pemb : NULL, f + 1, out);
        for (int o = 0; o < DET_OBJ; o++)
            ids[f][o] = -1;
        for (int i = 0; i < n; i++)
            ids[f][pobj[i]] = out[i];
    }
    vp_tracker_free(&t);
}

static void test_determinism(void)
{
    static int32_t a[DET_FRAMES][DET_OBJ], b[DET_FRAMES][DET_OBJ];
    for (int dim = 0; dim <= 8; dim += 8) {
        run_scene(0, dim, a);
        int32_t max_id = 0;
        for (int f = 0; f < DET_FRAMES; f++)
            for (int o = 0; o < DET_OBJ; o++)
                max_id = a[f][o] > max_id ? a[f][o] : max_id;
        /* sanity of the scene itself: tracking mostly works */
        CHECK(max_id >= DET_OBJ && max_id <= 2 * DET_OBJ, "scene: %d ids for %d objects", max_id, DET_OBJ);
        for (int perm = 0; perm <= 2; perm++) {
            run_scene(perm, dim, b);
            int diff = 0;
            for (int f = 0; f < DET_FRAMES; f++)
                for (int o = 0; o < DET_OBJ; o++)
                    diff += a[f][o] != b[f][o];
            CHECK(diff == 0, "determinism: dim %d permutation %d: %d ids differ", dim, perm, diff);
        }
    }
}

/* ---- bounds and bad input ---------------------------------------------- */
static void test_bounds(void)
{
    vp_track_params p;
    vp_track_params_default(&p);
    p.max_dets = 4;
    p.max_tracks = 4;
    vp_tracker *t = make(&p);
    vp_track_det d[6];
    int32_t ids[6];
    for (int i = 0; i < 6; i++)
        d[i] = box_det(100 + 200.0 * i, 300, 50, 100, 0.9f, 0);
    update(t, d, 4, NULL, 1, ids);
    for (int i = 0; i < 4; i++)
        expect_id(NULL, "bounds: four", 1, ids[i], i + 1);
    printf("(the next errors are expected)\n");
    fflush(stdout);
    ids[0] = 77;
    CHECK(vp_tracker_update(t, d, 5, NULL, 2, ids) == VP_ERR_INVALID, "bounds: 5 > max_dets accepted");
    CHECK(vp_tracker_update(t, d, -1, NULL, 2, ids) == VP_ERR_INVALID, "bounds: n < 0 accepted");
    CHECK(vp_tracker_update(t, NULL, 2, NULL, 2, ids) == VP_ERR_INVALID, "bounds: NULL dets accepted");
    CHECK(vp_tracker_update(t, d, 2, NULL, 2, NULL) == VP_ERR_INVALID, "bounds: NULL ids accepted");
    CHECK(vp_tracker_update(t, d, 4, NULL, 1, ids) == VP_ERR_INVALID, "bounds: same frame accepted");
    CHECK(vp_tracker_update(NULL, d, 4, NULL, 3, ids) == VP_ERR_INVALID, "bounds: NULL tracker accepted");
    /* refused calls left the tracker as it was */
    update(t, d, 4, NULL, 2, ids);
    for (int i = 0; i < 4; i++)
        expect_id(NULL, "bounds: after refusals", 2, ids[i], i + 1);
    /* the four go lost; four new objects need their slots: the lost tracks
     * are evicted, the new ones are born and confirmed as usual */
    update(t, NULL, 0, NULL, 3, ids);
    CHECK(vp_tracker_tracks(t, 1, NULL, 0) == 4, "bounds: four lost tracks");
    for (int f = 4; f <= 5; f++) {
        vp_track_det e[4];
        for (int i = 0; i < 4; i++)
            e[i] = box_det(100 + 200.0 * i, 800, 50, 100, 0.9f, 0);
        update(t, e, 4, NULL, f, ids);
        for (int i = 0; i < 4; i++)
            expect_id(NULL, "bounds: after eviction", f, ids[i], f == 4 ? 0 : 5 + i);
    }
    vp_track_info info[8];
    const int n = vp_tracker_tracks(t, 1, info, 8);
    CHECK(n == 4 && info[0].id == 5 && info[3].id == 8, "bounds: %d tracks after eviction", n);
    /* degenerate and non-finite boxes are ignored, not fatal */
    vp_track_det bad[4] = {{10, 10, 10, 50, 0.9f, 0}, {10, 10, 5, 50, 0.9f, 0},
                           {NAN, 10, 50, 50, 0.9f, 0}, {10, 10, 50, INFINITY, 0.9f, 0}};
    bad[0].score = NAN;
    update(t, bad, 4, NULL, 6, ids);
    for (int i = 0; i < 4; i++)
        expect_id(NULL, "bounds: degenerate", 6, ids[i], 0);
    vp_tracker_free(&t);

    /* parameters */
    vp_tracker *u = (vp_tracker *)&p; /* must be overwritten with NULL */
    vp_track_params q;
    vp_track_params_default(&q);
    q.max_tracks = q.max_dets - 1;
    CHECK(vp_tracker_create(&q, &u) == VP_ERR_INVALID && u == NULL, "params: max_tracks < max_dets");
    vp_track_params_default(&q);
    q.iou_first = 0.0f;
    CHECK(vp_tracker_create(&q, &u) == VP_ERR_INVALID && u == NULL, "params: iou_first 0");
    vp_track_params_default(&q);
    q.emb_momentum = 1.0f;
    CHECK(vp_tracker_create(&q, &u) == VP_ERR_INVALID, "params: momentum 1");
    vp_track_params_default(&q);
    q.low_thresh = 0.7f;
    CHECK(vp_tracker_create(&q, &u) == VP_ERR_INVALID, "params: low > high");
    vp_track_params_default(&q);
    q.appearance_thresh = 1.5f;
    CHECK(vp_tracker_create(&q, &u) == VP_ERR_INVALID, "params: appearance_thresh 1.5");
    vp_track_params_default(&q);
    q.emb_fusion = (vp_track_fusion)7;
    CHECK(vp_tracker_create(&q, &u) == VP_ERR_INVALID, "params: emb_fusion 7");
    CHECK(vp_tracker_create(NULL, NULL) == VP_ERR_INVALID, "params: NULL out");
    printf("(end of expected errors)\n");
    fflush(stdout);
}

/* ---- assignment against brute force ------------------------------------ */
/* Best sum(cost - 1) over all partial matchings of pairs with cost < 1. */
static double brute(const double *c, int rows, int cols, int r, unsigned used)
{
    if (r == rows)
        return 0.0;
    double best = brute(c, rows, cols, r + 1, used); /* row r unpaired */
    for (int j = 0; j < cols; j++) {
        if ((used >> j & 1) || !(c[r * cols + j] < 1.0))
            continue;
        const double v = c[r * cols + j] - 1.0 + brute(c, rows, cols, r + 1, used | 1u << j);
        best = v < best ? v : best;
    }
    return best;
}

static void test_assignment(void)
{
    enum { MAXD = 7 };
    double scratch[512];
    CHECK(vp_lap_scratch_size(MAXD, MAXD) <= sizeof scratch, "lap scratch too small for the test");
    uint64_t rs = 1234;
    int cases = 0;
    for (int it = 0; it < 3000; it++) {
        const int rows = 1 + (int)(rng_next(&rs) % MAXD), cols = 1 + (int)(rng_next(&rs) % MAXD);
        double c[MAXD * MAXD];
        const double p_inf = rng_unit(&rs);
        for (int i = 0; i < rows * cols; i++) {
            c[i] = rng_unit(&rs) < p_inf ? 1.0 : rng_unit(&rs);
            if (it % 3 == 0 && c[i] < 1.0)
                c[i] = (double)(rng_next(&rs) % 4) / 4.0; /* many ties */
        }
        int rm[MAXD], cm[MAXD];
        const int pairs = vp_lap_solve(c, rows, cols, scratch, rm, cm);
        double got = 0.0;
        int ok = 1, count = 0;
        for (int i = 0; i < rows; i++) {
            if (rm[i] < 0)
                continue;
            ok &= rm[i] < cols && cm[rm[i]] == i && c[i * cols + rm[i]] < 1.0;
            got += c[i * cols + rm[i]] - 1.0;
            count++;
        }
        for (int j = 0; j < cols; j++)
            ok &= cm[j] < 0 || (cm[j] < rows && rm[cm[j]] == j);
        const double want = brute(c, rows, cols, 0, 0);
        CHECK(ok && count == pairs, "lap %dx%d case %d: inconsistent matching", rows, cols, it);
        CHECK(fabs(got - want) < 1e-9, "lap %dx%d case %d: objective %.12f, optimum %.12f", rows, cols,
              it, got, want);
        cases++;
        /* same matrix again: same answer */
        int rm2[MAXD], cm2[MAXD];
        vp_lap_solve(c, rows, cols, scratch, rm2, cm2);
        CHECK(memcmp(rm, rm2, (size_t)rows * sizeof *rm) == 0, "lap case %d: not repeatable", it);
    }
    /* A case greedy gets wrong (it takes the 0.1 and leaves row 1 alone):
     * proves the optimum is more than a greedy pass. */
    const double g[4] = {0.1, 0.2, 0.15, 1.0};
    int rm[2], cm[2];
    const int pairs = vp_lap_solve(g, 2, 2, scratch, rm, cm);
    CHECK(pairs == 2 && rm[0] == 1 && rm[1] == 0, "lap: greedy trap: %d pairs, row0 -> %d", pairs, rm[0]);
    /* ties: lowest indices */
    const double tie[4] = {0.5, 0.5, 0.5, 0.5};
    vp_lap_solve(tie, 2, 2, scratch, rm, cm);
    CHECK(rm[0] == 0 && rm[1] == 1, "lap: ties %d %d", rm[0], rm[1]);
    printf("assignment: %d random cases against brute force\n", cases);
}

/* ---- modes -------------------------------------------------------------- */
static void print_state(const vp_kf_state *s)
{
    printf("state");
    for (int i = 0; i < 8; i++)
        printf(" %.17g", s->mean[i]);
    for (int i = 0; i < 64; i++)
        printf(" %.17g", s->cov[i]);
    printf("\n");
}

/* A box that accelerates, changes aspect and size, with measurement noise
 * and gaps (predict without update), so every term of the model moves. */
static int kalman_mode(void)
{
    uint64_t rs = 99;
    vp_kf_state s;
    double z[4] = {320.5, 240.25, 0.5, 120.0};
    printf("init %.17g %.17g %.17g %.17g\n", z[0], z[1], z[2], z[3]);
    vp_kf_initiate(&s, z);
    print_state(&s);
    for (int f = 1; f <= 40; f++) {
        printf("predict\n");
        vp_kf_predict(&s);
        print_state(&s);
        if (f % 7 == 3)
            continue; /* missed frame */
        z[0] = 320.5 + 4.0 * f + 0.05 * f * f + rng_range(&rs, -2, 2);
        z[1] = 240.25 - 2.0 * f + rng_range(&rs, -2, 2);
        z[2] = 0.5 + 0.004 * f + rng_range(&rs, -0.01, 0.01);
        z[3] = 120.0 + 1.5 * f + rng_range(&rs, -3, 3);
        printf("update %.17g %.17g %.17g %.17g\n", z[0], z[1], z[2], z[3]);
        if (vp_kf_update(&s, z) != 0) {
            fprintf(stderr, "kalman: update failed at step %d\n", f);
            return 1;
        }
        print_state(&s);
    }
    return 0;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench_one(int dim, vp_track_fusion fusion)
{
    enum { NOBJ = 50, FRAMES = 10000 };
    vp_track_params p;
    vp_track_params_default(&p);
    p.emb_dim = dim;
    p.emb_fusion = fusion;
    vp_tracker *t = make(&p);
    scene s;
    scene_init(&s, NOBJ, 11);
    static float emb[NOBJ * 128];
    double cpu = 0.0;
    int32_t max_id = 0;
    long total = 0;
    for (int f = 1; f <= FRAMES; f++) {
        vp_track_det d[NOBJ];
        int obj[NOBJ];
        int32_t ids[NOBJ];
        const int n = scene_step(&s, NOBJ, d, obj, dim ? emb : NULL, dim);
        const double t0 = cpu_seconds();
        vp_tracker_update(t, d, n, dim ? emb : NULL, f, ids);
        cpu += cpu_seconds() - t0;
        total += n;
        for (int i = 0; i < n; i++)
            max_id = ids[i] > max_id ? ids[i] : max_id;
    }
    printf("bench: %d objects (%.1f detections/frame), %d frames, emb_dim %d%s: %.4f ms CPU per frame "
           "(goal < 0.05 ms without embeddings); %d IDs given\n",
           NOBJ, (double)total / FRAMES, FRAMES, dim,
           !dim ? "" : fusion == VP_TRACK_FUSE_MIN ? " (min fusion)" : " (weighted fusion)", 1e3 * cpu / FRAMES, (int)max_id);
    vp_tracker_free(&t);
}

static int replay_mode(void)
{
    int dim = 0, fusion = 0;
    if (scanf("%d %d", &dim, &fusion) != 2 || dim < 0 || dim > 4096)
        return 2;
    vp_track_params p;
    vp_track_params_default(&p);
    p.emb_dim = dim;
    p.emb_fusion = fusion ? VP_TRACK_FUSE_MIN : VP_TRACK_FUSE_WEIGHTED;
    vp_tracker *t = make(&p);
    enum { MAXD = 1024 };
    static vp_track_det d[MAXD];
    static int32_t ids[MAXD];
    float *emb = malloc((size_t)MAXD * (size_t)(dim ? dim : 1) * sizeof *emb);
    long long frame;
    int n;
    while (emb && scanf(" F %lld %d", &frame, &n) == 2 && n >= 0 && n <= MAXD) {
        for (int i = 0; i < n; i++) {
            if (scanf("%f %f %f %f %f %d", &d[i].x0, &d[i].y0, &d[i].x1, &d[i].y1, &d[i].score, &d[i].cls) != 6)
                return 2;
            for (int k = 0; k < dim; k++)
                if (scanf("%f", &emb[(size_t)i * dim + k]) != 1)
                    return 2;
        }
        if (vp_tracker_update(t, d, n, dim ? emb : NULL, frame, ids))
            return 1;
        printf("%lld", frame);
        for (int i = 0; i < n; i++)
            printf(" %d", (int)ids[i]);
        printf("\n");
    }
    free(emb);
    vp_tracker_free(&t);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--replay") == 0)
        return replay_mode();
    if (argc == 2 && strcmp(argv[1], "--kalman") == 0)
        return kalman_mode();
    if (argc == 2 && strcmp(argv[1], "--bench") == 0) {
        bench_one(0, VP_TRACK_FUSE_WEIGHTED);
        bench_one(128, VP_TRACK_FUSE_WEIGHTED);
        bench_one(128, VP_TRACK_FUSE_MIN);
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: vp_track_test [--kalman | --bench | --replay]\n");
        return 2;
    }
    test_assignment();
    test_constant_velocity();
    test_crossing();
    test_occlusion();
    test_reentry();
    test_low_score();
    test_classes();
    test_appearance();
    test_appearance_min();
    test_determinism();
    test_bounds();
    if (g_fails) {
        printf("track: %d checks FAILED\n", g_fails);
        return 1;
    }
    printf("track: all checks passed\n");
    return 0;
}
