/*
 * Drawing results onto host frames, in place: the pixel half of the
 * annotated-video sink (src/media/encode.h is the other half).
 *
 * Frames: 8-bit 4:2:0, VP_PIX_YUV420P or VP_PIX_NV12, host memory, laid out
 * as vp_frame documents (data[], pitch[], any width/height >= 1, odd sizes
 * included). vp_frame is read-only for its users and reference counted, so
 * drawing needs a private copy: vp_frame_to_host() returns one with a single
 * reference. Every function here refuses a frame with more than one
 * reference (VP_ERR_INVALID): another holder would see the change. (A CPU
 * decoder's own frame may still be a reference picture of the decoder; draw
 * on a copy.)
 *
 * Geometry: luma pixel coordinates, x to the right, y down; pixel (i, j)
 * covers [i, i+1) x [j, j+1). Rectangles are half-open [x0, x1) x [y0, y1).
 * Everything is clipped to the picture: shapes partly or wholly outside,
 * empty or inverted boxes, NaN or huge coordinates and thicknesses are
 * fine and never touch memory outside the visible planes.
 *
 * Chroma (4:2:0): a chroma sample takes the colour when any luma pixel of
 * its 2x2 block is painted (for masks: when the block's centre is inside
 * the mask). So a one-pixel line is coloured, and colour may reach one luma
 * pixel past an odd edge.
 *
 * Colours are RGB (gamma-encoded sRGB-like values 0..255) and are converted
 * to Y'CbCr with the frame's matrix (BT.601/709/2020) and range.
 *
 * Cost: proportional to the painted area; no allocation; thread-safe on
 * different frames (no global mutable state).
 */
#ifndef VP_VISION_DRAW_H
#define VP_VISION_DRAW_H

#include "vidpipe/media.h"

#include <stdint.h>

typedef struct vp_rgb {
    uint8_t r, g, b;
} vp_rgb;

typedef struct vp_ycc {
    uint8_t y, cb, cr;
} vp_ycc;

/* RGB -> Y'CbCr of matrix m and range r, rounded to nearest, clamped to
 * 0..255 (full range) or 16..235 / 16..240 (limited range). */
vp_ycc vp_draw_color(vp_rgb c, vp_color_matrix m, vp_color_range r);

/* Colour of class cls (any int; negative classes map like their absolute
 * value): deterministic, fully saturated-ish hues spaced by the golden
 * angle, so neighbouring class ids differ strongly. Integer arithmetic only:
 * the same on every platform. */
vp_rgb vp_draw_palette(int cls);

/* ---- primitives. Each returns 0, VP_ERR_INVALID (NULL or shared frame)
 * or VP_ERR_UNSUPPORTED (not an 8-bit 4:2:0 host frame). */

/* Filled rectangle [x0, x1) x [y0, y1), blended with alpha (0 = nothing,
 * 255 = opaque): out = (in * (255 - alpha) + colour * alpha) / 255. */
int vp_draw_fill(vp_frame *f, int x0, int y0, int x1, int y1, vp_rgb c, int alpha);

/* Opaque outline of [x0, x1) x [y0, y1), thickness pixels wide, drawn inside
 * the rectangle (a rectangle thinner than 2 * thickness is filled). */
int vp_draw_rect(vp_frame *f, int x0, int y0, int x1, int y1, int thickness, vp_rgb c);

/* Opaque line from pixel (x0, y0) to (x1, y1) inclusive (Bresenham), each
 * point a thickness x thickness square centred on it; thickness clamped to
 * 1..64 (the cost is length * thickness^2). The segment is clipped to the
 * picture first, so far-away endpoints cost nothing. */
int vp_draw_line(vp_frame *f, int x0, int y0, int x1, int y1, int thickness, vp_rgb c);

/* Opaque disc of the given radius (0: one pixel; clamped to 4096) centred
 * on pixel (cx, cy). */
int vp_draw_dot(vp_frame *f, int cx, int cy, int radius, vp_rgb c);

/* Built-in font: glyphs 5x7 in a 6x8 cell, ASCII 32..126 (other bytes draw
 * as '?'), scale 1..64 multiplies the cell (so text is 6 * scale pixels per
 * character wide and 8 * scale high). */
#define VP_FONT_CELL_W 6
#define VP_FONT_CELL_H 8
/* Width in pixels of s at scale (the cells, no trailing spacing trimmed). */
int vp_draw_text_width(const char *s, int scale);
/* Text with its cell's top-left corner at (x, y); fg opaque; bg (may be
 * NULL: transparent) fills every cell first. '\n' is not special. */
int vp_draw_text(vp_frame *f, int x, int y, const char *s, int scale, vp_rgb fg, const vp_rgb *bg);

/* Binary mask overlay: mask is mask_w x mask_h bytes, row-major, nonzero =
 * inside, spanning the rectangle [rx0, rx1) x [ry0, ry1) of the frame (in
 * luma pixels, may reach outside the picture: e.g. a letterboxed model
 * input). Each frame pixel inside the rectangle samples the mask at its
 * centre (nearest neighbour) and blends c with alpha where the mask is set. */
int vp_draw_mask(vp_frame *f, const uint8_t *mask, int mask_w, int mask_h, float rx0, float ry0, float rx1,
                 float ry1, vp_rgb c, int alpha);

/* ---- detections */

/* Where a detection's mask lies. */
typedef enum vp_draw_mask_space {
    VP_DRAW_MASK_BOX = 0,   /* the mask spans the detection's box */
    VP_DRAW_MASK_FRAME = 1, /* the mask spans the whole frame */
    VP_DRAW_MASK_RECT = 2,  /* the mask spans mask_rect (frame pixels) */
} vp_draw_mask_space;

/* One result to draw, in frame (luma) pixels. All optional parts may be
 * absent (NULL / 0 / -1). */
typedef struct vp_draw_det {
    float x0, y0, x1, y1;   /* box corners; x1 <= x0 or y1 <= y0: no box (keypoints/mask still drawn) */
    float score;            /* shown as "%.2f" when style->show_score and score >= 0 */
    int cls;                /* class id: colour (palette) and, without label, "cls N" */
    int track_id;           /* shown as "#N" when > 0 and style->show_track (0: not tracked) */
    const char *label;      /* class name; NULL: "cls N"; "" with no score/track: no label */
    const float *keypoints; /* num_keypoints * keypoint_dims floats: x, y[, confidence] */
    int num_keypoints;
    int keypoint_dims;      /* 2 or 3 */
    const uint8_t *mask;    /* mask_w * mask_h bytes, nonzero = inside */
    int mask_w, mask_h;
    vp_draw_mask_space mask_space;
    float mask_rect[4];     /* x0, y0, x1, y1 for VP_DRAW_MASK_RECT */
} vp_draw_det;

typedef struct vp_draw_style {
    int box_thickness;      /* pixels, default 2; 0: no outline */
    int fill_alpha;         /* 0..255 translucent box fill, default 0 (none) */
    int mask_alpha;         /* 0..255, default 110 */
    int font_scale;         /* >= 1, default 1; 0: no labels */
    int show_score, show_track; /* default 1, 1 */
    int text_auto;          /* 1 (default): black or white text, whichever contrasts with the class colour */
    vp_rgb text_color;      /* text_auto 0: this colour (default white) */
    int fixed_color;        /* 1: every class in color instead of the palette */
    vp_rgb color;
    float keypoint_threshold; /* dims 3: keypoints with confidence below are skipped (default 0.5) */
    int keypoint_radius;    /* default 3 */
    int line_thickness;     /* skeleton, default 2 */
    const int (*skeleton)[2]; /* pairs of keypoint indices; NULL: no lines */
    int skeleton_len;
} vp_draw_style;

/* COCO's 17-keypoint skeleton (0-based indices, as ultralytics draws it). */
#define VP_COCO_SKELETON_LEN 19
extern const int vp_coco_skeleton[VP_COCO_SKELETON_LEN][2];

/* Defaults above, with the COCO skeleton. */
void vp_draw_style_default(vp_draw_style *s);

/* Draws n detections in order: mask, fill, outline, skeleton and keypoints,
 * then the label (above the box when it fits, else inside its top edge).
 * style NULL: defaults. Keypoint indices in the skeleton outside
 * [0, num_keypoints) are skipped. Returns as the primitives, or
 * VP_ERR_INVALID for n < 0 or d NULL with n > 0. */
int vp_draw_detections(vp_frame *f, const vp_draw_det *d, int n, const vp_draw_style *style);

#endif
