/*
 * Fused preprocessing, CPU implementation: the CPU pipeline's production
 * path and the reference the CUDA kernel (cuda/preprocess.cu) is tested
 * against. Both compute, for every output pixel, exactly this:
 *
 * 1. Geometry (vp_pre_geometry): the content rectangle x0,y0,w,h of the
 *    destination and sx = src_w / w, sy = src_h / h (as float). Letterbox
 *    sizes and offsets are ultralytics' LetterBox's: r = min(dh/sh, dw/sw),
 *    w = max(round_half_even(sw*r), 1), x0 = floor((dw - w) / 2) (0 for
 *    top-left), likewise for y. Pixels outside the rectangle get the pad
 *    value (below). Stretch: the rectangle is the whole destination.
 *
 * 2. Sample position, half-pixel centres (OpenCV INTER_LINEAR, PyTorch
 *    align_corners=False): for content pixel (u, v) = (dx - x0, dy - y0)
 *        fx = fmaf(u + 0.5f, sx, -0.5f),  fy = fmaf(v + 0.5f, sy, -0.5f)
 *    (one rounding: fmaf here, __fmaf_rn on the GPU), then clamped to
 *    [0, sw-1] x [0, sh-1]: edge pixels repeat, as OpenCV's resize does.
 *
 * 3. Bilinear taps in a plane, at a clamped position (px, py):
 *        i0 = floor(px), i1 = min(i0 + 1, size - 1), a = px - i0   (exact)
 *        lerp(p, q, t) = p + t * (q - p)
 *        value = lerp(lerp(s[j0][i0], s[j0][i1], ax), lerp(s[j1][i0], s[j1][i1], ax), ay)
 *    on the raw integer samples converted to float. Luma (and packed RGB's
 *    three channels) at (fx, fy).
 *
 * 4. Chroma (4:2:0) at its own positions, MPEG-2/H.264/HEVC default siting
 *    ("left", chroma_sample_loc_type 0): chroma sample (i, j) sits at luma
 *    (2i, 2j + 0.5), horizontally co-sited with even luma columns and
 *    vertically half-way between two luma rows. So the chroma position of
 *    the (clamped) luma position is
 *        cx = fx * 0.5f,  cy = (fy - 0.5f) * 0.5f    (both exact in float)
 *    clamped to [0, cw-1] x [0, ch-1] (cw = ceil(sw/2), ch = ceil(sh/2)),
 *    then the same bilinear taps in the U and V planes. Chroma is
 *    interpolated once, straight from the subsampled planes.
 *
 * 5. Colour: R'G'B' = M * (Y, U, V) + off, on the interpolated raw values,
 *    with the range and bit-depth normalisation (H.273: limited Y' =
 *    (Y/2^(n-8) - 16)/219, C = (C/2^(n-8) - 128)/224; full Y' = Y/(2^n-1),
 *    C = (C - 2^(n-1))/(2^n-1); P016 words are MSB-aligned, so n-bit content
 *    counts as 2^(16-n) times larger) and the stream's matrix (Kr, Kb of
 *    BT.601 0.299/0.114, BT.709 0.2126/0.0722, BT.2020 0.2627/0.0593:
 *    R = Y + 2(1-Kr)Cr, B = Y + 2(1-Kb)Cb, G = Y - (2Kb(1-Kb)Cb + 2Kr(1-Kr)Cr)/Kg)
 *    folded into one 3x3 matrix + offset per output channel (rows follow the
 *    RGB/BGR order), computed in double once and rounded to float
 *    (vp_pre_prepare). Packed RGB: M selects the channel and divides by 255.
 *    Evaluated as ((m0*s0 + m1*s1) + m2*s2) + off, then clamped to [0, 1].
 *
 * 6. Normalisation: out = x * na + nb with na = 255*scale/std, nb = -mean/std
 *    (float, from double), i.e. (255*x*scale - mean)/std. The pad value is
 *    clamp(pad, 0, 255)/255 normalised the same way, once per call.
 *
 * 7. Store: FP32, or FP16 rounded to nearest-even (as __float2half_rn), NCHW
 *    or NHWC, at slot * 3*dh*dw elements from the batch base.
 *
 * Every float operation above is a single IEEE operation written out in
 * order, with no contraction (C11 without GNU extensions compiles with
 * -ffp-contract=off; the kernel uses __fmul_rn/__fadd_rn), so the two
 * implementations agree bit for bit.
 *
 * Speed: the destination is cut into tiles of TILE_W columns x TILE_H rows
 * spread over OpenMP threads; a tile computes its column taps once (on the
 * stack: no allocation), then each row computes its row taps and a float
 * span, which one store loop per dtype/layout writes out. Format dispatch is
 * outside the pixel loops (always-inline span function with constant
 * format arguments).
 */
#include "vision/preprocess.h"

#include "base/log.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define TILE_W 256
#define TILE_H 32

#if defined(__GNUC__)
#define VP_INLINE static inline __attribute__((always_inline))
#else
#define VP_INLINE static inline
#endif

/* ---------------------------------------------------------------- names */

static const char *const format_names[VP_PRE_FORMAT_COUNT] = {
    "nv12", "p016", "yuv420p", "yuv420p10", "rgb24", "bgr24",
};
static const char *const matrix_names[] = {"bt601", "bt709", "bt2020"};

const char *vp_pre_format_name(int f)
{
    return f >= 0 && f < VP_PRE_FORMAT_COUNT ? format_names[f] : "unknown";
}

int vp_pre_format_parse(const char *s)
{
    for (int i = 0; s && i < VP_PRE_FORMAT_COUNT; i++)
        if (strcmp(s, format_names[i]) == 0)
            return i;
    return -1;
}

const char *vp_pre_matrix_name(int m)
{
    return m >= 0 && m < 3 ? matrix_names[m] : "unknown";
}

int vp_pre_matrix_parse(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, matrix_names[i]) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------- geometry */

void vp_pre_params_default(vp_pre_params *p)
{
    memset(p, 0, sizeof *p);
    p->dst_width = p->dst_height = 640;
    p->mode = VP_PRE_LETTERBOX;
    p->pad[0] = p->pad[1] = p->pad[2] = 114.0f;
    p->order = VP_PRE_RGB;
    p->scale = 1.0f / 255.0f;
    p->std[0] = p->std[1] = p->std[2] = 1.0f;
    p->dtype = VP_PRE_FP32;
    p->layout = VP_PRE_NCHW;
}

/* Python's round(): to nearest, ties to even (independent of fenv). */
static double round_half_even(double x)
{
    double f = floor(x), d = x - f;
    if (d > 0.5)
        return f + 1;
    if (d < 0.5)
        return f;
    return fmod(f, 2.0) == 0.0 ? f : f + 1;
}

int vp_pre_geometry(int sw, int sh, const vp_pre_params *p, vp_pre_geom *g)
{
    if (!p || !g) {
        VP_LOGE("preprocess: geometry: NULL %s", !p ? "params" : "output");
        return VP_ERR_INVALID;
    }
    if (sw < 1 || sh < 1 || sw > VP_PRE_MAX_DIM || sh > VP_PRE_MAX_DIM) {
        VP_LOGE("preprocess: source size %dx%d out of 1..%d", sw, sh, VP_PRE_MAX_DIM);
        return VP_ERR_INVALID;
    }
    int dw = p->dst_width, dh = p->dst_height;
    if (dw < 1 || dh < 1 || dw > VP_PRE_MAX_DIM || dh > VP_PRE_MAX_DIM) {
        VP_LOGE("preprocess: dst_width x dst_height %dx%d out of 1..%d", dw, dh, VP_PRE_MAX_DIM);
        return VP_ERR_INVALID;
    }
    memset(g, 0, sizeof *g);
    switch (p->mode) {
    case VP_PRE_STRETCH:
        g->w = dw;
        g->h = dh;
        break;
    case VP_PRE_LETTERBOX:
    case VP_PRE_LETTERBOX_TOPLEFT: {
        double rh = (double)dh / sh, rw = (double)dw / sw;
        double r = rh <= rw ? rh : rw;
        int w = (int)round_half_even((double)sw * r), h = (int)round_half_even((double)sh * r);
        w = w < 1 ? 1 : w > dw ? dw : w;
        h = h < 1 ? 1 : h > dh ? dh : h;
        g->w = w;
        g->h = h;
        g->gain = r;
        if (p->mode == VP_PRE_LETTERBOX) {
            g->x0 = (dw - w) / 2;
            g->y0 = (dh - h) / 2;
        }
        break;
    }
    default:
        VP_LOGE("preprocess: unknown resize mode %d", (int)p->mode);
        return VP_ERR_INVALID;
    }
    g->scale_x = (double)sw / g->w;
    g->scale_y = (double)sh / g->h;
    return VP_OK;
}

size_t vp_pre_slot_elems(const vp_pre_params *p)
{
    return 3u * (size_t)p->dst_width * (size_t)p->dst_height;
}

/* ------------------------------------------------------------- prepare */

static int bad(const char *what, long v)
{
    VP_LOGE("preprocess: invalid %s (%ld)", what, v);
    return VP_ERR_INVALID;
}

int vp_pre_prepare(const vp_pre_src *src, const vp_pre_params *p, vp_pre_plan *pl)
{
    if (!src || !p || !pl) {
        VP_LOGE("preprocess: NULL %s", !src ? "source" : !p ? "params" : "plan");
        return VP_ERR_INVALID;
    }
    memset(pl, 0, sizeof *pl);
    int f = (int)src->format;
    if (f < 0 || f >= VP_PRE_FORMAT_COUNT)
        return bad("source format", f);
    if ((int)p->order != VP_PRE_RGB && (int)p->order != VP_PRE_BGR)
        return bad("channel order", (long)p->order);
    if ((int)p->dtype != VP_PRE_FP32 && (int)p->dtype != VP_PRE_FP16)
        return bad("output dtype", (long)p->dtype);
    if ((int)p->layout != VP_PRE_NCHW && (int)p->layout != VP_PRE_NHWC)
        return bad("output layout", (long)p->layout);
    vp_pre_geom g;
    int rc = vp_pre_geometry(src->width, src->height, p, &g);
    if (rc)
        return rc;

    int packed = f == VP_PRE_RGB24 || f == VP_PRE_BGR24;
    int wide = f == VP_PRE_P016 || f == VP_PRE_YUV420P10;
    int nplanes = packed ? 1 : (f == VP_PRE_NV12 || f == VP_PRE_P016) ? 2 : 3;
    int bits = src->bit_depth;
    if (bits == 0)
        bits = wide ? 10 : 8;
    if (wide ? (bits < 9 || bits > 16) : bits != 8) {
        VP_LOGE("preprocess: bit_depth %d impossible for %s (%s)", src->bit_depth, vp_pre_format_name(f),
                wide ? "9..16" : "8");
        return VP_ERR_INVALID;
    }
    int bps = wide ? 2 : 1;
    int sw = src->width, sh = src->height, cw = packed ? sw : (sw + 1) / 2, ch = packed ? sh : (sh + 1) / 2;
    for (int i = 0; i < nplanes; i++) {
        size_t row = i == 0 ? (size_t)sw * (packed ? 3 : bps)
                     : nplanes == 2 ? (size_t)cw * 2 * bps : (size_t)cw * bps;
        if (!src->plane[i]) {
            VP_LOGE("preprocess: %s source: plane %d is NULL", vp_pre_format_name(f), i);
            return VP_ERR_INVALID;
        }
        if (src->pitch[i] < row) {
            VP_LOGE("preprocess: %s %dx%d source: pitch[%d] = %zu < %zu bytes of a row",
                    vp_pre_format_name(f), sw, sh, i, src->pitch[i], row);
            return VP_ERR_INVALID;
        }
        if (wide && (((uintptr_t)src->plane[i] | src->pitch[i]) & 1)) {
            VP_LOGE("preprocess: %s source: plane %d or its pitch is not 2-byte aligned",
                    vp_pre_format_name(f), i);
            return VP_ERR_INVALID;
        }
        pl->plane[i] = src->plane[i];
        pl->pitch[i] = src->pitch[i];
    }
    if (!isfinite(p->scale))
        return bad("scale (not finite)", 0);
    for (int c = 0; c < 3; c++) {
        if (!isfinite(p->mean[c]) || !isfinite(p->std[c]) || p->std[c] == 0.0f || !isfinite(p->pad[c])) {
            VP_LOGE("preprocess: channel %d: mean %g, std %g, pad %g: need finite values and std != 0", c,
                    (double)p->mean[c], (double)p->std[c], (double)p->pad[c]);
            return VP_ERR_INVALID;
        }
    }

    pl->format = f;
    pl->sw = sw;
    pl->sh = sh;
    pl->cw = cw;
    pl->ch = ch;
    pl->dw = p->dst_width;
    pl->dh = p->dst_height;
    pl->x0 = g.x0;
    pl->y0 = g.y0;
    pl->w = g.w;
    pl->h = g.h;
    pl->sx = (float)g.scale_x;
    pl->sy = (float)g.scale_y;
    pl->dtype = (int)p->dtype;
    pl->layout = (int)p->layout;

    /* Raw samples -> R'G'B' rows (R, G, B), in double. */
    double m[3][3] = {{0}}, off[3] = {0};
    if (packed) {
        int r = f == VP_PRE_RGB24 ? 0 : 2; /* component index of R in memory */
        m[0][r] = m[1][1] = m[2][2 - r] = 1.0 / 255.0;
    } else {
        static const double kr_kb[3][2] = {{0.299, 0.114}, {0.2126, 0.0722}, {0.2627, 0.0593}};
        int mi = (int)src->matrix;
        if (mi < 0 || mi > 2)
            return bad("colour matrix", mi);
        if ((int)src->range != VP_PRE_RANGE_LIMITED && (int)src->range != VP_PRE_RANGE_FULL)
            return bad("colour range", (long)src->range);
        double kr = kr_kb[mi][0], kb = kr_kb[mi][1], kg = 1.0 - kr - kb;
        /* Words hold content << shift (P016: MSB-aligned). */
        double unit = ldexp(1.0, (f == VP_PRE_P016 ? 16 - bits : 0));
        double ky, oy, kc, oc;
        if (src->range == VP_PRE_RANGE_LIMITED) {
            double s8 = ldexp(unit, bits - 8); /* one 8-bit code value in raw units */
            ky = 1.0 / (219.0 * s8);
            oy = -16.0 / 219.0;
            kc = 1.0 / (224.0 * s8);
            oc = -128.0 / 224.0;
        } else {
            double maxv = (ldexp(1.0, bits) - 1.0) * unit;
            ky = kc = 1.0 / maxv;
            oy = 0.0;
            oc = -ldexp(unit, bits - 1) / maxv;
        }
        double cr_r = 2.0 * (1.0 - kr), cb_b = 2.0 * (1.0 - kb);
        double cb_g = -2.0 * kb * (1.0 - kb) / kg, cr_g = -2.0 * kr * (1.0 - kr) / kg;
        /* R */
        m[0][0] = ky; m[0][2] = cr_r * kc; off[0] = oy + cr_r * oc;
        /* G */
        m[1][0] = ky; m[1][1] = cb_g * kc; m[1][2] = cr_g * kc; off[1] = oy + (cb_g + cr_g) * oc;
        /* B */
        m[2][0] = ky; m[2][1] = cb_b * kc; off[2] = oy + cb_b * oc;
    }
    for (int c = 0; c < 3; c++) {
        int rgb = p->order == VP_PRE_RGB ? c : 2 - c;
        for (int k = 0; k < 3; k++)
            pl->m[c][k] = (float)m[rgb][k];
        pl->off[c] = (float)off[rgb];
        pl->na[c] = (float)(255.0 * (double)p->scale / (double)p->std[c]);
        pl->nb[c] = (float)(-(double)p->mean[c] / (double)p->std[c]);
        float pad = p->pad[c] < 0.0f ? 0.0f : p->pad[c] > 255.0f ? 255.0f : p->pad[c];
        float x = pad / 255.0f;
        pl->padv[c] = x * pl->na[c] + pl->nb[c];
    }
    return VP_OK;
}

/* ------------------------------------------------------------ the pixels */

/* Float -> IEEE half, round to nearest even (as __float2half_rn); finite
 * inputs overflow to infinity. */
VP_INLINE uint16_t f2h(float f)
{
    uint32_t x, ax;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    ax = x & 0x7fffffffu;
    if (ax >= 0x47800000u) /* >= 65536, inf, nan */
        return (uint16_t)(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (ax < 0x38800000u) { /* below 2^-14: subnormal or zero. Adding 0.5 puts the value's
                               2^-24 units in the low mantissa bits, rounded to even. */
        float t;
        memcpy(&t, &ax, 4);
        t += 0.5f;
        uint32_t b;
        memcpy(&b, &t, 4);
        return (uint16_t)(sign | (b - 0x3f000000u));
    }
    /* Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to
     * nearest even; a carry into the exponent is the correct result, up to
     * infinity for values in [65520, 65536). */
    ax += 0xc8000fffu + ((ax >> 13) & 1u);
    return (uint16_t)(sign | (ax >> 13));
}

typedef struct tap {
    int i0, i1;  /* byte offsets of the two samples in their row */
    float a;     /* weight of i1 */
} tap;

/* fminf(fmaxf(x, lo), hi) for the non-NaN values that occur here (never
 * -0 either: see finish()), without libm calls: GCC may not inline
 * fminf/fmaxf (NaN semantics) and they were a fifth of the time. */
VP_INLINE float clampf(float x, float lo, float hi)
{
    x = x > lo ? x : lo;
    return x < hi ? x : hi;
}

/* Clamped luma coordinate of content index u (step 2). */
VP_INLINE float luma_pos(int u, float s, int size)
{
    return clampf(fmaf((float)u + 0.5f, s, -0.5f), 0.0f, (float)(size - 1));
}

VP_INLINE tap make_tap(float pos, int size, int stride)
{
    int i0 = (int)pos; /* pos >= 0: truncation is floor */
    int i1 = i0 + 1 < size ? i0 + 1 : size - 1;
    tap t = {i0 * stride, i1 * stride, pos - (float)i0};
    return t;
}

VP_INLINE float lerp(float p, float q, float t)
{
    return p + t * (q - p);
}

VP_INLINE float rd(const uint8_t *row, int off, int wide)
{
    if (wide) {
        uint16_t v;
        memcpy(&v, row + off, 2);
        return (float)v;
    }
    return (float)row[off];
}

VP_INLINE float bilin(const uint8_t *r0, const uint8_t *r1, tap tx, float ay, int wide)
{
    float t = lerp(rd(r0, tx.i0, wide), rd(r0, tx.i1, wide), tx.a);
    float b = lerp(rd(r1, tx.i0, wide), rd(r1, tx.i1, wide), tx.a);
    return lerp(t, b, ay);
}

/* Colour coefficients, copied into a local in each span: stores to the
 * float output buffer could otherwise alias them and force reloads. */
typedef struct colour {
    float m[3][3], off[3], na[3], nb[3];
} colour;

VP_INLINE colour colour_of(const vp_pre_plan *pl)
{
    colour c;
    memcpy(c.m, pl->m, sizeof c.m);
    memcpy(c.off, pl->off, sizeof c.off);
    memcpy(c.na, pl->na, sizeof c.na);
    memcpy(c.nb, pl->nb, sizeof c.nb);
    return c;
}

/* Colour + clamp + normalisation (steps 5, 6) into buf[c][k]. Samples are
 * >= 0; the sum ends with off != 0 (or, packed RGB, non-negative terms), so
 * it is never -0 and the clamp agrees with the GPU's fmaxf/fminf bit for
 * bit. */
VP_INLINE void finish(const colour *cc, float s0, float s1, float s2, float (*buf)[TILE_W], int k)
{
    for (int c = 0; c < 3; c++) {
        float x = cc->m[c][0] * s0 + cc->m[c][1] * s1;
        x = x + cc->m[c][2] * s2;
        x = x + cc->off[c];
        x = clampf(x, 0.0f, 1.0f);
        buf[c][k] = x * cc->na[c] + cc->nb[c];
    }
}

/* Column taps of one tile: luma (or packed) and chroma, content columns
 * [u0, u0+n). */
typedef struct coltabs {
    tap l[TILE_W], c[TILE_W];
} coltabs;

/* One span of content pixels of one row: n pixels from content column u0
 * (column taps lt/ct[0..n)), row v; format fixed by the constant args. */
VP_INLINE void span(const vp_pre_plan *pl, const coltabs *ct, int n, int v, float (*buf)[TILE_W], int k0,
                    int packed, int wide, int interleaved)
{
    const colour cc = colour_of(pl);
    float fy = luma_pos(v, pl->sy, pl->sh);
    tap ty = make_tap(fy, pl->sh, 1);
    const uint8_t *p0 = pl->plane[0];
    const uint8_t *l0 = p0 + (size_t)ty.i0 * pl->pitch[0], *l1 = p0 + (size_t)ty.i1 * pl->pitch[0];
    if (packed) {
        for (int k = 0; k < n; k++) {
            tap tx = ct->l[k];
            tap t1 = {tx.i0 + 1, tx.i1 + 1, tx.a}, t2 = {tx.i0 + 2, tx.i1 + 2, tx.a};
            finish(&cc, bilin(l0, l1, tx, ty.a, 0), bilin(l0, l1, t1, ty.a, 0), bilin(l0, l1, t2, ty.a, 0), buf,
                   k0 + k);
        }
        return;
    }
    float cy = clampf((fy - 0.5f) * 0.5f, 0.0f, (float)(pl->ch - 1));
    tap tc = make_tap(cy, pl->ch, 1);
    const uint8_t *u0r, *u1r, *v0r, *v1r;
    const uint8_t *pu = pl->plane[1];
    u0r = pu + (size_t)tc.i0 * pl->pitch[1];
    u1r = pu + (size_t)tc.i1 * pl->pitch[1];
    if (interleaved) {
        int b = wide ? 2 : 1; /* V follows U */
        v0r = u0r + b;
        v1r = u1r + b;
    } else {
        const uint8_t *pv = pl->plane[2];
        v0r = pv + (size_t)tc.i0 * pl->pitch[2];
        v1r = pv + (size_t)tc.i1 * pl->pitch[2];
    }
    for (int k = 0; k < n; k++) {
        float y = bilin(l0, l1, ct->l[k], ty.a, wide);
        float u = bilin(u0r, u1r, ct->c[k], tc.a, wide);
        float vv = bilin(v0r, v1r, ct->c[k], tc.a, wide);
        finish(&cc, y, u, vv, buf, k0 + k);
    }
}

static void build_coltabs(const vp_pre_plan *pl, int u0, int n, coltabs *ct)
{
    int f = pl->format;
    int packed = f == VP_PRE_RGB24 || f == VP_PRE_BGR24;
    int bps = f == VP_PRE_P016 || f == VP_PRE_YUV420P10 ? 2 : 1;
    int lstride = packed ? 3 : bps;
    int cstride = f == VP_PRE_NV12 || f == VP_PRE_P016 ? 2 * bps : bps;
    for (int k = 0; k < n; k++) {
        float fx = luma_pos(u0 + k, pl->sx, pl->sw);
        ct->l[k] = make_tap(fx, pl->sw, lstride);
        if (!packed)
            ct->c[k] = make_tap(clampf(fx * 0.5f, 0.0f, (float)(pl->cw - 1)), pl->cw, cstride);
    }
}

/* Write n pixels of row dy from column dx of buf to the slot (step 7). */
static void store(const vp_pre_plan *pl, void *slot, int dy, int dx, int n, float (*buf)[TILE_W])
{
    size_t plane = (size_t)pl->dw * pl->dh;
    size_t pix = (size_t)dy * pl->dw + dx;
    if (pl->dtype == VP_PRE_FP32) {
        float *o = slot;
        if (pl->layout == VP_PRE_NCHW) {
            for (int c = 0; c < 3; c++)
                memcpy(o + c * plane + pix, buf[c], (size_t)n * sizeof(float));
        } else {
            o += pix * 3;
            for (int k = 0; k < n; k++) {
                o[3 * k] = buf[0][k];
                o[3 * k + 1] = buf[1][k];
                o[3 * k + 2] = buf[2][k];
            }
        }
    } else {
        uint16_t *o = slot;
        if (pl->layout == VP_PRE_NCHW) {
            for (int c = 0; c < 3; c++) {
                uint16_t *oc = o + c * plane + pix;
                for (int k = 0; k < n; k++)
                    oc[k] = f2h(buf[c][k]);
            }
        } else {
            o += pix * 3;
            for (int k = 0; k < n; k++) {
                o[3 * k] = f2h(buf[0][k]);
                o[3 * k + 1] = f2h(buf[1][k]);
                o[3 * k + 2] = f2h(buf[2][k]);
            }
        }
    }
}

/* One tile: destination columns [tx, tx+tw), rows [ty, ty+th). */
static void tile(const vp_pre_plan *pl, void *slot, int tx, int tw, int ty, int th)
{
    float buf[3][TILE_W];
    coltabs ct;
    /* content columns of this tile: [a, b) in destination coordinates */
    int a = tx > pl->x0 ? tx : pl->x0, b = tx + tw < pl->x0 + pl->w ? tx + tw : pl->x0 + pl->w;
    int has_cols = a < b;
    if (has_cols)
        build_coltabs(pl, a - pl->x0, b - a, &ct);
    int f = pl->format;
    for (int dy = ty; dy < ty + th; dy++) {
        int in_row = dy >= pl->y0 && dy < pl->y0 + pl->h;
        int ca = in_row && has_cols ? a : tx + tw, cb = in_row && has_cols ? b : tx + tw;
        for (int c = 0; c < 3; c++) {
            for (int k = 0; k < ca - tx; k++)
                buf[c][k] = pl->padv[c];
            for (int k = cb - tx; k < tw; k++)
                buf[c][k] = pl->padv[c];
        }
        if (ca < cb) {
            int v = dy - pl->y0, n = cb - ca, k0 = ca - tx;
            switch (f) {
            case VP_PRE_NV12: span(pl, &ct, n, v, buf, k0, 0, 0, 1); break;
            case VP_PRE_P016: span(pl, &ct, n, v, buf, k0, 0, 1, 1); break;
            case VP_PRE_YUV420P: span(pl, &ct, n, v, buf, k0, 0, 0, 0); break;
            case VP_PRE_YUV420P10: span(pl, &ct, n, v, buf, k0, 0, 1, 0); break;
            default: span(pl, &ct, n, v, buf, k0, 1, 0, 0); break;
            }
        }
        store(pl, slot, dy, tx, tw, buf);
    }
}

int vp_preprocess_cpu(const vp_pre_src *src, const vp_pre_params *p, void *dst_batch, int slot, int threads)
{
    vp_pre_plan pl;
    int rc = vp_pre_prepare(src, p, &pl);
    if (rc)
        return rc;
    if (!dst_batch || slot < 0) {
        VP_LOGE("preprocess: %s", !dst_batch ? "NULL destination tensor" : "negative batch slot");
        return VP_ERR_INVALID;
    }
    size_t esz = pl.dtype == VP_PRE_FP16 ? 2 : 4;
    void *base = (uint8_t *)dst_batch + (size_t)slot * vp_pre_slot_elems(p) * esz;
    int ntx = (pl.dw + TILE_W - 1) / TILE_W, nty = (pl.dh + TILE_H - 1) / TILE_H;
    int ntiles = ntx * nty;
    int nt = threads > 0 ? threads : omp_get_max_threads();
    if (nt > ntiles)
        nt = ntiles;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
    for (int t = 0; t < ntiles; t++) {
        int tx = (t % ntx) * TILE_W, ty = (t / ntx) * TILE_H;
        int tw = pl.dw - tx < TILE_W ? pl.dw - tx : TILE_W;
        int th = pl.dh - ty < TILE_H ? pl.dh - ty : TILE_H;
        tile(&pl, base, tx, tw, ty, th);
    }
    return VP_OK;
}
