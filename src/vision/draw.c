/*
 * Drawing on 8-bit 4:2:0 host frames (YUV420P, NV12): boxes, translucent
 * fills, labels in a built-in font, keypoints and skeletons, mask overlays.
 * Contracts in draw.h. Everything reduces to one clipped primitive,
 * paint_span (a rectangle of luma pixels and the chroma samples it touches),
 * or, for masks, to a per-pixel test, so clipping lives in two places.
 */
#include "vision/draw.h"

#include "media/media_impl.h"

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Line thickness is capped: the cost is length * thickness^2 and wider
 * annotation lines make no sense. Dot radii and text scales likewise. */
#define LINE_MAX_THICKNESS 64
#define DOT_MAX_RADIUS 4096
#define TEXT_MAX_SCALE 64

/* 5x7 glyphs for ASCII 32..126, one byte per row, top to bottom; bit 4 is
 * the leftmost column. Designed for vidpipe (upper case on the full 7 rows,
 * lower case with a 5-row x-height, descenders of g/j/p/q/y folded into the
 * cell since labels sit on a filled background). */
static const uint8_t font5x7[95][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* ' ' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}, /* '!' */
    {0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '"' */
    {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a}, /* '#' */
    {0x04, 0x0f, 0x14, 0x0e, 0x05, 0x1e, 0x04}, /* '$' */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, /* '%' */
    {0x0c, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0d}, /* '&' */
    {0x04, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00}, /* "'" */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, /* '(' */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, /* ')' */
    {0x00, 0x04, 0x15, 0x0e, 0x15, 0x04, 0x00}, /* '*' */
    {0x00, 0x04, 0x04, 0x1f, 0x04, 0x04, 0x00}, /* '+' */
    {0x00, 0x00, 0x00, 0x00, 0x06, 0x04, 0x08}, /* ',' */
    {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}, /* '-' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}, /* '.' */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* '/' */
    {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}, /* '0' */
    {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* '1' */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}, /* '2' */
    {0x1e, 0x01, 0x01, 0x0e, 0x01, 0x01, 0x1e}, /* '3' */
    {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}, /* '4' */
    {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}, /* '5' */
    {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}, /* '6' */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* '7' */
    {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}, /* '8' */
    {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}, /* '9' */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}, /* ':' */
    {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x04, 0x08}, /* ';' */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, /* '<' */
    {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}, /* '=' */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, /* '>' */
    {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* '?' */
    {0x0e, 0x11, 0x17, 0x15, 0x17, 0x10, 0x0f}, /* '@' */
    {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, /* 'A' */
    {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}, /* 'B' */
    {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}, /* 'C' */
    {0x1c, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1c}, /* 'D' */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}, /* 'E' */
    {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}, /* 'F' */
    {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f}, /* 'G' */
    {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}, /* 'H' */
    {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* 'I' */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c}, /* 'J' */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* 'K' */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f}, /* 'L' */
    {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}, /* 'M' */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* 'N' */
    {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}, /* 'O' */
    {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}, /* 'P' */
    {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d}, /* 'Q' */
    {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}, /* 'R' */
    {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}, /* 'S' */
    {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* 'T' */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}, /* 'U' */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04}, /* 'V' */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a}, /* 'W' */
    {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11}, /* 'X' */
    {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04}, /* 'Y' */
    {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f}, /* 'Z' */
    {0x0e, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0e}, /* '[' */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, /* '\\' */
    {0x0e, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0e}, /* ']' */
    {0x04, 0x0a, 0x11, 0x00, 0x00, 0x00, 0x00}, /* '^' */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}, /* '_' */
    {0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00}, /* '`' */
    {0x00, 0x00, 0x0e, 0x01, 0x0f, 0x11, 0x0f}, /* 'a' */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1e}, /* 'b' */
    {0x00, 0x00, 0x0e, 0x10, 0x10, 0x11, 0x0e}, /* 'c' */
    {0x01, 0x01, 0x0d, 0x13, 0x11, 0x11, 0x0f}, /* 'd' */
    {0x00, 0x00, 0x0e, 0x11, 0x1f, 0x10, 0x0e}, /* 'e' */
    {0x06, 0x09, 0x08, 0x1c, 0x08, 0x08, 0x08}, /* 'f' */
    {0x00, 0x0f, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* 'g' */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, /* 'h' */
    {0x04, 0x00, 0x0c, 0x04, 0x04, 0x04, 0x0e}, /* 'i' */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0c}, /* 'j' */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, /* 'k' */
    {0x0c, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}, /* 'l' */
    {0x00, 0x00, 0x1a, 0x15, 0x15, 0x11, 0x11}, /* 'm' */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, /* 'n' */
    {0x00, 0x00, 0x0e, 0x11, 0x11, 0x11, 0x0e}, /* 'o' */
    {0x00, 0x00, 0x1e, 0x11, 0x1e, 0x10, 0x10}, /* 'p' */
    {0x00, 0x00, 0x0d, 0x13, 0x0f, 0x01, 0x01}, /* 'q' */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, /* 'r' */
    {0x00, 0x00, 0x0e, 0x10, 0x0e, 0x01, 0x1e}, /* 's' */
    {0x08, 0x08, 0x1c, 0x08, 0x08, 0x09, 0x06}, /* 't' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0d}, /* 'u' */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0a, 0x04}, /* 'v' */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0a}, /* 'w' */
    {0x00, 0x00, 0x11, 0x0a, 0x04, 0x0a, 0x11}, /* 'x' */
    {0x00, 0x00, 0x11, 0x11, 0x0f, 0x01, 0x0e}, /* 'y' */
    {0x00, 0x00, 0x1f, 0x02, 0x04, 0x08, 0x1f}, /* 'z' */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02}, /* '{' */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* '|' */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08}, /* '}' */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00}, /* '~' */
};

vp_ycc vp_draw_color(vp_rgb c, vp_color_matrix m, vp_color_range r)
{
    double kr, kb;
    switch (m) {
    case VP_MATRIX_BT709: kr = 0.2126, kb = 0.0722; break;
    case VP_MATRIX_BT2020: kr = 0.2627, kb = 0.0593; break;
    default: kr = 0.299, kb = 0.114; break;
    }
    double R = c.r / 255.0, G = c.g / 255.0, B = c.b / 255.0;
    double Y = kr * R + (1.0 - kr - kb) * G + kb * B;
    double Pb = (B - Y) / (2.0 * (1.0 - kb)), Pr = (R - Y) / (2.0 * (1.0 - kr));
    double y, cb, cr, lo = 0, hiy = 255, hic = 255;
    if (r == VP_RANGE_FULL) {
        y = 255.0 * Y, cb = 128.0 + 255.0 * Pb, cr = 128.0 + 255.0 * Pr;
    } else {
        y = 16.0 + 219.0 * Y, cb = 128.0 + 224.0 * Pb, cr = 128.0 + 224.0 * Pr;
        lo = 16, hiy = 235, hic = 240;
    }
    y = floor(y + 0.5), cb = floor(cb + 0.5), cr = floor(cr + 0.5);
    vp_ycc o;
    o.y = (uint8_t)(y < lo ? lo : y > hiy ? hiy : y);
    o.cb = (uint8_t)(cb < lo ? lo : cb > hic ? hic : cb);
    o.cr = (uint8_t)(cr < lo ? lo : cr > hic ? hic : cr);
    return o;
}

vp_rgb vp_draw_palette(int cls)
{
    /* Hue steps of 1 - 1/phi turns (40503/65536): consecutive ids land far
     * apart on the colour wheel and the sequence never repeats exactly. */
    unsigned u = cls < 0 ? 0u - (unsigned)cls : (unsigned)cls;
    unsigned h = (u * 40503u + 5000u) & 0xffffu;
    unsigned v = 235, s = 200; /* value and saturation out of 255 */
    unsigned sector = (h * 6u) >> 16, f = (h * 6u) & 0xffffu;
    unsigned p = v * (255u - s) / 255u;
    unsigned q = v * (255u * 65536u - s * f) / (255u * 65536u);
    unsigned t = v * (255u * 65536u - s * (65536u - f)) / (255u * 65536u);
    vp_rgb c;
    switch (sector) {
    case 0: c.r = (uint8_t)v, c.g = (uint8_t)t, c.b = (uint8_t)p; break;
    case 1: c.r = (uint8_t)q, c.g = (uint8_t)v, c.b = (uint8_t)p; break;
    case 2: c.r = (uint8_t)p, c.g = (uint8_t)v, c.b = (uint8_t)t; break;
    case 3: c.r = (uint8_t)p, c.g = (uint8_t)q, c.b = (uint8_t)v; break;
    case 4: c.r = (uint8_t)t, c.g = (uint8_t)p, c.b = (uint8_t)v; break;
    default: c.r = (uint8_t)v, c.g = (uint8_t)p, c.b = (uint8_t)q; break;
    }
    return c;
}

/* ---- the canvas: a validated frame and the pen colour in its space */
typedef struct canvas {
    uint8_t *y, *u, *v; /* NV12: u is the interleaved plane, v = u + 1 */
    int ypitch, upitch, vpitch;
    int cstep;          /* bytes between chroma samples: 1 planar, 2 NV12 */
    int w, h;           /* luma size */
    vp_ycc c;
} canvas;

static int canvas_init(vp_frame *f, vp_rgb c, canvas *cv)
{
    if (!f)
        return VP_ERR_INVALID;
    /* A frame somebody else also holds must not change under them. */
    if (atomic_load_explicit(&((vp_frame_impl *)f)->refs, memory_order_acquire) > 1)
        return VP_ERR_INVALID;
    if (f->memory != VP_MEM_HOST || (f->format != VP_PIX_YUV420P && f->format != VP_PIX_NV12))
        return VP_ERR_UNSUPPORTED;
    int cw = (f->width + 1) / 2;
    if (f->width < 1 || f->height < 1 || !f->data[0] || !f->data[1] || f->pitch[0] < f->width)
        return VP_ERR_INVALID;
    cv->y = f->data[0], cv->ypitch = f->pitch[0];
    cv->u = f->data[1], cv->upitch = f->pitch[1];
    if (f->format == VP_PIX_NV12) {
        if (f->pitch[1] < 2 * cw)
            return VP_ERR_INVALID;
        cv->v = f->data[1] + 1, cv->vpitch = f->pitch[1], cv->cstep = 2;
    } else {
        if (!f->data[2] || f->pitch[1] < cw || f->pitch[2] < cw)
            return VP_ERR_INVALID;
        cv->v = f->data[2], cv->vpitch = f->pitch[2], cv->cstep = 1;
    }
    cv->w = f->width, cv->h = f->height;
    cv->c = vp_draw_color(c, f->matrix, f->range);
    return 0;
}

static inline uint8_t blend(uint8_t in, uint8_t c, int a)
{
    return a >= 255 ? c : (uint8_t)(((int)in * (255 - a) + (int)c * a + 127) / 255);
}

static inline int clampi(long v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : (int)v; }

/* Paints luma pixels [x0, x1) x [y0, y1) (any ints: clipped here) and every
 * chroma sample whose 2x2 block meets them. */
static void paint_span(const canvas *cv, long x0, long y0, long x1, long y1, int alpha)
{
    int cx0 = clampi(x0, 0, cv->w), cx1 = clampi(x1, 0, cv->w);
    int cy0 = clampi(y0, 0, cv->h), cy1 = clampi(y1, 0, cv->h);
    if (cx0 >= cx1 || cy0 >= cy1 || alpha <= 0)
        return;
    for (int y = cy0; y < cy1; y++) {
        uint8_t *row = cv->y + (size_t)y * (size_t)cv->ypitch;
        if (alpha >= 255)
            memset(row + cx0, cv->c.y, (size_t)(cx1 - cx0));
        else
            for (int x = cx0; x < cx1; x++)
                row[x] = blend(row[x], cv->c.y, alpha);
    }
    /* (cx1 - 1) >> 1 < (w + 1) / 2 and (cy1 - 1) >> 1 < (h + 1) / 2: inside. */
    for (int j = cy0 >> 1; j <= (cy1 - 1) >> 1; j++) {
        uint8_t *ur = cv->u + (size_t)j * (size_t)cv->upitch, *vr = cv->v + (size_t)j * (size_t)cv->vpitch;
        for (int i = cx0 >> 1; i <= (cx1 - 1) >> 1; i++) {
            size_t o = (size_t)i * (size_t)cv->cstep;
            ur[o] = blend(ur[o], cv->c.cb, alpha);
            vr[o] = blend(vr[o], cv->c.cr, alpha);
        }
    }
}

int vp_draw_fill(vp_frame *f, int x0, int y0, int x1, int y1, vp_rgb c, int alpha)
{
    canvas cv;
    int rc = canvas_init(f, c, &cv);
    if (rc)
        return rc;
    paint_span(&cv, x0, y0, x1, y1, alpha > 255 ? 255 : alpha);
    return 0;
}

static void outline(const canvas *cv, long x0, long y0, long x1, long y1, long t)
{
    if (x1 <= x0 || y1 <= y0 || t <= 0)
        return;
    if (2 * t >= x1 - x0 || 2 * t >= y1 - y0) {
        paint_span(cv, x0, y0, x1, y1, 255);
        return;
    }
    paint_span(cv, x0, y0, x1, y0 + t, 255);         /* top */
    paint_span(cv, x0, y1 - t, x1, y1, 255);         /* bottom */
    paint_span(cv, x0, y0 + t, x0 + t, y1 - t, 255); /* left, between the two */
    paint_span(cv, x1 - t, y0 + t, x1, y1 - t, 255); /* right */
}

int vp_draw_rect(vp_frame *f, int x0, int y0, int x1, int y1, int thickness, vp_rgb c)
{
    canvas cv;
    int rc = canvas_init(f, c, &cv);
    if (rc)
        return rc;
    outline(&cv, x0, y0, x1, y1, thickness); /* longs: no overflow of x0 + t */
    return 0;
}

/* Liang-Barsky: clips the segment to [lo, hi] in both axes; 0 when nothing
 * is left. */
static int clip_segment(double *x0, double *y0, double *x1, double *y1, double xlo, double ylo, double xhi,
                        double yhi)
{
    double t0 = 0, t1 = 1, dx = *x1 - *x0, dy = *y1 - *y0;
    const double p[4] = {-dx, dx, -dy, dy};
    const double q[4] = {*x0 - xlo, xhi - *x0, *y0 - ylo, yhi - *y0};
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0)
                return 0;
            continue;
        }
        double r = q[i] / p[i];
        if (p[i] < 0) {
            if (r > t1)
                return 0;
            if (r > t0)
                t0 = r;
        } else {
            if (r < t0)
                return 0;
            if (r < t1)
                t1 = r;
        }
    }
    double ox = *x0, oy = *y0;
    *x0 = ox + t0 * dx, *y0 = oy + t0 * dy;
    *x1 = ox + t1 * dx, *y1 = oy + t1 * dy;
    return 1;
}

static void line(const canvas *cv, double fx0, double fy0, double fx1, double fy1, int t)
{
    if (!isfinite(fx0) || !isfinite(fy0) || !isfinite(fx1) || !isfinite(fy1))
        return;
    t = t < 1 ? 1 : t > LINE_MAX_THICKNESS ? LINE_MAX_THICKNESS : t;
    /* Points whose square can reach the picture: [-t, w + t]. */
    if (!clip_segment(&fx0, &fy0, &fx1, &fy1, -t, -t, cv->w + t, cv->h + t))
        return;
    long x0 = lround(fx0), y0 = lround(fy0), x1 = lround(fx1), y1 = lround(fy1);
    long dx = labs(x1 - x0), dy = -labs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    long err = dx + dy, lo = t / 2, hi = t - t / 2;
    for (;;) {
        paint_span(cv, x0 - lo, y0 - lo, x0 + hi, y0 + hi, 255);
        if (x0 == x1 && y0 == y1)
            break;
        long e2 = 2 * err;
        if (e2 >= dy)
            err += dy, x0 += sx;
        if (e2 <= dx)
            err += dx, y0 += sy;
    }
}

int vp_draw_line(vp_frame *f, int x0, int y0, int x1, int y1, int thickness, vp_rgb c)
{
    canvas cv;
    int rc = canvas_init(f, c, &cv);
    if (rc)
        return rc;
    line(&cv, x0, y0, x1, y1, thickness);
    return 0;
}

static void dot(const canvas *cv, long cx, long cy, long r)
{
    r = r < 0 ? 0 : r > DOT_MAX_RADIUS ? DOT_MAX_RADIUS : r;
    for (long dy = -r; dy <= r; dy++) {
        long y = cy + dy;
        if (y < 0 || y >= cv->h)
            continue;
        /* widest dx with dx^2 + dy^2 <= r^2 + r (a rounder disc than r^2) */
        long lim = r * r + r - dy * dy, dx = (long)sqrt((double)lim);
        while (dx * dx > lim)
            dx--;
        while ((dx + 1) * (dx + 1) <= lim)
            dx++;
        paint_span(cv, cx - dx, y, cx + dx + 1, y + 1, 255);
    }
}

int vp_draw_dot(vp_frame *f, int cx, int cy, int radius, vp_rgb c)
{
    canvas cv;
    int rc = canvas_init(f, c, &cv);
    if (rc)
        return rc;
    dot(&cv, cx, cy, radius);
    return 0;
}

int vp_draw_text_width(const char *s, int scale)
{
    if (!s)
        return 0;
    scale = scale < 1 ? 1 : scale > TEXT_MAX_SCALE ? TEXT_MAX_SCALE : scale;
    size_t n = strlen(s), cell = (size_t)(VP_FONT_CELL_W * scale);
    return n > (size_t)INT_MAX / cell ? INT_MAX : (int)(n * cell);
}

static void text(canvas *cv, long x, long y, const char *s, int scale, vp_ycc fg, const vp_ycc *bg)
{
    scale = scale < 1 ? 1 : scale > TEXT_MAX_SCALE ? TEXT_MAX_SCALE : scale;
    long cw = VP_FONT_CELL_W * scale, ch = VP_FONT_CELL_H * scale;
    if (y >= cv->h || y + ch <= 0)
        return;
    for (; *s; s++, x += cw) {
        if (x >= cv->w)
            break;
        if (x + cw <= 0)
            continue;
        unsigned char chr = (unsigned char)*s;
        const uint8_t *g = font5x7[(chr < 32 || chr > 126 ? '?' : chr) - 32];
        if (bg) {
            cv->c = *bg;
            paint_span(cv, x, y, x + cw, y + ch, 255);
        }
        cv->c = fg;
        /* glyph in the cell's top-left 5x7, one pixel of margin right and below */
        for (int row = 0; row < 7; row++)
            for (int col = 0; col < 5; col++)
                if (g[row] >> (4 - col) & 1)
                    paint_span(cv, x + (long)col * scale, y + (long)row * scale, x + (long)(col + 1) * scale,
                               y + (long)(row + 1) * scale, 255);
    }
}

int vp_draw_text(vp_frame *f, int x, int y, const char *s, int scale, vp_rgb fg, const vp_rgb *bg)
{
    canvas cv;
    int rc = canvas_init(f, fg, &cv);
    if (rc)
        return rc;
    if (!s)
        return VP_ERR_INVALID;
    vp_ycc fy = cv.c, by;
    if (bg)
        by = vp_draw_color(*bg, f->matrix, f->range);
    text(&cv, x, y, s, scale, fy, bg ? &by : NULL);
    return 0;
}

static void mask_overlay(const canvas *cv, const uint8_t *mask, int mw, int mh, double rx0, double ry0,
                         double rx1, double ry1, int alpha)
{
    if (!isfinite(rx0) || !isfinite(ry0) || !isfinite(rx1) || !isfinite(ry1) || rx1 <= rx0 || ry1 <= ry0 ||
        alpha <= 0)
        return;
    double sx = mw / (rx1 - rx0), sy = mh / (ry1 - ry0);
    /* Pixels whose centre can be inside: clipped to the picture first, so a
     * huge rectangle costs at most the frame. */
    int px0 = clampi((long)fmax(fmin(floor(rx0), cv->w), -1), 0, cv->w);
    int px1 = clampi((long)fmax(fmin(ceil(rx1), cv->w), -1), 0, cv->w);
    int py0 = clampi((long)fmax(fmin(floor(ry0), cv->h), -1), 0, cv->h);
    int py1 = clampi((long)fmax(fmin(ceil(ry1), cv->h), -1), 0, cv->h);
    for (int y = py0; y < py1; y++) {
        double cy = y + 0.5;
        if (cy < ry0 || cy >= ry1)
            continue;
        int my = clampi((long)((cy - ry0) * sy), 0, mh - 1);
        const uint8_t *mrow = mask + (size_t)my * (size_t)mw;
        uint8_t *row = cv->y + (size_t)y * (size_t)cv->ypitch;
        for (int x = px0; x < px1; x++) {
            double cx = x + 0.5;
            if (cx < rx0 || cx >= rx1)
                continue;
            if (mrow[clampi((long)((cx - rx0) * sx), 0, mw - 1)])
                row[x] = blend(row[x], cv->c.y, alpha);
        }
    }
    /* Chroma: sample (i, j) covers luma [2i, 2i+2) x [2j, 2j+2); its centre
     * (2i + 1, 2j + 1) decides. */
    int cw = (cv->w + 1) / 2, chh = (cv->h + 1) / 2;
    for (int j = py0 >> 1; j < chh && 2 * j < py1; j++) {
        double cy = 2 * j + 1.0;
        if (cy < ry0 || cy >= ry1)
            continue;
        int my = clampi((long)((cy - ry0) * sy), 0, mh - 1);
        const uint8_t *mrow = mask + (size_t)my * (size_t)mw;
        uint8_t *ur = cv->u + (size_t)j * (size_t)cv->upitch, *vr = cv->v + (size_t)j * (size_t)cv->vpitch;
        for (int i = px0 >> 1; i < cw && 2 * i < px1; i++) {
            double cx = 2 * i + 1.0;
            if (cx < rx0 || cx >= rx1)
                continue;
            if (mrow[clampi((long)((cx - rx0) * sx), 0, mw - 1)]) {
                size_t o = (size_t)i * (size_t)cv->cstep;
                ur[o] = blend(ur[o], cv->c.cb, alpha);
                vr[o] = blend(vr[o], cv->c.cr, alpha);
            }
        }
    }
}

int vp_draw_mask(vp_frame *f, const uint8_t *mask, int mask_w, int mask_h, float rx0, float ry0, float rx1,
                 float ry1, vp_rgb c, int alpha)
{
    canvas cv;
    int rc = canvas_init(f, c, &cv);
    if (rc)
        return rc;
    if (!mask || mask_w < 1 || mask_h < 1)
        return VP_ERR_INVALID;
    mask_overlay(&cv, mask, mask_w, mask_h, rx0, ry0, rx1, ry1, alpha > 255 ? 255 : alpha);
    return 0;
}

/* ---- detections */

const int vp_coco_skeleton[VP_COCO_SKELETON_LEN][2] = {
    {15, 13}, {13, 11}, {16, 14}, {14, 12}, {11, 12}, {5, 11}, {6, 12}, {5, 6}, {5, 7}, {6, 8},
    {7, 9},   {8, 10},  {1, 2},   {0, 1},   {0, 2},   {1, 3},  {2, 4},  {3, 5}, {4, 6},
};

void vp_draw_style_default(vp_draw_style *s)
{
    memset(s, 0, sizeof *s);
    s->box_thickness = 2;
    s->fill_alpha = 0;
    s->mask_alpha = 110;
    s->font_scale = 1;
    s->show_score = 1, s->show_track = 1;
    s->text_auto = 1;
    s->text_color = (vp_rgb){255, 255, 255};
    s->color = (vp_rgb){0, 255, 0};
    s->keypoint_threshold = 0.5f;
    s->keypoint_radius = 3;
    s->line_thickness = 2;
    s->skeleton = vp_coco_skeleton;
    s->skeleton_len = VP_COCO_SKELETON_LEN;
}

/* Float coordinate to a pixel edge: rounded, NaN/inf rejected, clamped far
 * outside any picture so later arithmetic cannot overflow. */
static int coord(float v, long *out)
{
    if (!isfinite(v))
        return 0;
    double d = v < -1e7f ? -1e7 : v > 1e7f ? 1e7 : v;
    *out = lround(d);
    return 1;
}

static int keypoint(const vp_draw_det *d, const vp_draw_style *st, int k, double *x, double *y)
{
    const float *p = d->keypoints + (size_t)k * (size_t)d->keypoint_dims;
    if (!isfinite(p[0]) || !isfinite(p[1]))
        return 0;
    if (d->keypoint_dims >= 3 && !(p[2] >= st->keypoint_threshold))
        return 0;
    *x = fmax(-1e7, fmin(1e7, p[0])), *y = fmax(-1e7, fmin(1e7, p[1]));
    return 1;
}

static void label_text(const vp_draw_det *d, const vp_draw_style *st, char *buf, size_t n)
{
    int len;
    if (d->label)
        len = snprintf(buf, n, "%s", d->label);
    else
        len = snprintf(buf, n, "cls %d", d->cls);
    if (len < 0 || (size_t)len >= n)
        return;
    if (st->show_score && d->score >= 0 && isfinite(d->score)) {
        int k = snprintf(buf + len, n - (size_t)len, "%s%.2f", len ? " " : "", (double)d->score);
        if (k < 0 || (size_t)k >= n - (size_t)len)
            return;
        len += k;
    }
    if (st->show_track && d->track_id > 0)
        snprintf(buf + len, n - (size_t)len, "%s#%d", len ? " " : "", d->track_id);
}

static void draw_one(canvas *cv, const vp_frame *f, const vp_draw_det *d, const vp_draw_style *st)
{
    vp_rgb rgb = st->fixed_color ? st->color : vp_draw_palette(d->cls);
    vp_ycc col = vp_draw_color(rgb, f->matrix, f->range);
    long x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    int has_box = coord(d->x0, &x0) && coord(d->y0, &y0) && coord(d->x1, &x1) && coord(d->y1, &y1) &&
                  x1 > x0 && y1 > y0;
    cv->c = col;

    if (d->mask && d->mask_w > 0 && d->mask_h > 0 && st->mask_alpha > 0) {
        double r[4] = {0, 0, 0, 0};
        int ok = 1;
        if (d->mask_space == VP_DRAW_MASK_FRAME)
            r[2] = cv->w, r[3] = cv->h;
        else if (d->mask_space == VP_DRAW_MASK_RECT)
            r[0] = d->mask_rect[0], r[1] = d->mask_rect[1], r[2] = d->mask_rect[2], r[3] = d->mask_rect[3];
        else if (isfinite(d->x0) && isfinite(d->y0) && isfinite(d->x1) && isfinite(d->y1))
            r[0] = d->x0, r[1] = d->y0, r[2] = d->x1, r[3] = d->y1;
        else
            ok = 0;
        if (ok)
            mask_overlay(cv, d->mask, d->mask_w, d->mask_h, r[0], r[1], r[2], r[3],
                         st->mask_alpha > 255 ? 255 : st->mask_alpha);
    }
    if (has_box && st->fill_alpha > 0)
        paint_span(cv, x0, y0, x1, y1, st->fill_alpha > 255 ? 255 : st->fill_alpha);
    if (has_box && st->box_thickness > 0)
        outline(cv, x0, y0, x1, y1, st->box_thickness);

    if (d->keypoints && d->num_keypoints > 0 && d->keypoint_dims >= 2) {
        if (st->skeleton && st->line_thickness > 0)
            for (int i = 0; i < st->skeleton_len; i++) {
                int a = st->skeleton[i][0], b = st->skeleton[i][1];
                double ax, ay, bx, by;
                if (a < 0 || b < 0 || a >= d->num_keypoints || b >= d->num_keypoints)
                    continue;
                if (keypoint(d, st, a, &ax, &ay) && keypoint(d, st, b, &bx, &by))
                    line(cv, ax, ay, bx, by, st->line_thickness);
            }
        for (int k = 0; k < d->num_keypoints; k++) {
            double x, y;
            if (keypoint(d, st, k, &x, &y))
                dot(cv, lround(x), lround(y), st->keypoint_radius);
        }
    }

    if (has_box && st->font_scale > 0) {
        char buf[128];
        label_text(d, st, buf, sizeof buf);
        if (!buf[0])
            return;
        int scale = st->font_scale > TEXT_MAX_SCALE ? TEXT_MAX_SCALE : st->font_scale;
        long th = (long)VP_FONT_CELL_H * scale + 2;
        long tw = (long)vp_draw_text_width(buf, scale) + 2;
        long ly = y0 - th >= 0 ? y0 - th : y0; /* above the box, else inside its top edge */
        vp_rgb tcol = st->text_color;
        if (st->text_auto) {
            /* black on light colours, white on dark ones (BT.601 luma) */
            int luma = (299 * rgb.r + 587 * rgb.g + 114 * rgb.b) / 1000;
            tcol = luma > 150 ? (vp_rgb){0, 0, 0} : (vp_rgb){255, 255, 255};
        }
        cv->c = col;
        paint_span(cv, x0, ly, x0 + tw, ly + th, 255);
        text(cv, x0 + 1, ly + 1, buf, scale, vp_draw_color(tcol, f->matrix, f->range), NULL);
    }
}

int vp_draw_detections(vp_frame *f, const vp_draw_det *d, int n, const vp_draw_style *style)
{
    canvas cv;
    int rc = canvas_init(f, (vp_rgb){0, 0, 0}, &cv);
    if (rc)
        return rc;
    if (n < 0 || (n > 0 && !d))
        return VP_ERR_INVALID;
    vp_draw_style def;
    if (!style) {
        vp_draw_style_default(&def);
        style = &def;
    }
    for (int i = 0; i < n; i++)
        draw_one(&cv, f, &d[i], style);
    return 0;
}
