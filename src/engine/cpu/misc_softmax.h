/*
 * Float32 Softmax / LogSoftmax row kernels, written once on GCC vector
 * extensions and instantiated by cpu/misc.c per vector width, the widest
 * the CPU has being chosen at run time:
 *   MV_W 16, target("avx512f"), fused multiply-adds;
 *   MV_W 8, target("avx2,fma"), fused multiply-adds;
 *   MV_W 4, baseline SSE2 (32-byte vectors lowered to SSE2 are several
 *   times slower than 16-byte ones, so the fallback gets its own width).
 * Explicit vectors because the auto-vectoriser does not if-convert the
 * float compare-selects that exp and max need under the default
 * -ftrapping-math. Before each inclusion define MV_W, MV_SUFFIX (appended to
 * every name), MV_TARGET (an attribute, possibly empty) and MV_FMA(a, b, c)
 * (a * b + c, fused where the target has it); enum SM_* and SM_CHUNK come
 * from misc.c. This header has no include guard on purpose.
 */
#define MV_CAT2(a, b) a##b
#define MV_CAT(a, b) MV_CAT2(a, b)
#define MV(name) MV_CAT(name, MV_SUFFIX)

typedef float MV(vf) __attribute__((vector_size(4 * MV_W)));
typedef int32_t MV(vi) __attribute__((vector_size(4 * MV_W)));
typedef uint32_t MV(vu) __attribute__((vector_size(4 * MV_W)));

/* Vectors go through macros and pointers, never by value through a
 * function: GCC attaches an ABI note to functions taking 32-byte vectors. */
#define MV_SEL(m, a, b) ((MV(vf))(((MV(vi))(a) & (m)) | ((MV(vi))(b) & ~(m))))
#define MV_LOAD(dst, p) memcpy(&(dst), (p), sizeof(dst))
#define MV_STORE(p, src) memcpy((p), &(src), sizeof(src))

static inline __attribute__((always_inline)) MV_TARGET void MV(mv_splat)(MV(vf) *v, float a)
{
    for (int j = 0; j < MV_W; j++)
        (*v)[j] = a;
}

/* exp in place, no libm: exp(x) = 2^k exp(r), k = round(x / ln 2),
 * |r| <= ln2/2, exp(r) by a degree-6 polynomial (within 3e-7 relative).
 * Only called with x <= 0 (softmax subtracts the max first), so no upper
 * clamp; 0 below -87.3, where the true value is subnormal. A NaN runs
 * through the arithmetic and comes out NaN. */
static inline __attribute__((always_inline)) MV_TARGET void MV(mv_exp)(MV(vf) *px)
{
    const float magic = 12582912.f; /* 1.5 * 2^23: adding it rounds to an integer */
    MV(vf) x = *px, lo;
    MV(mv_splat)(&lo, -87.3f);
    MV(vi) under = x < lo;
    MV(vf) xc = MV_SEL(under, lo, x);
    MV(vf) c0, c1, c2;
    MV(mv_splat)(&c0, 1.44269504088896341f);
    MV(mv_splat)(&c1, magic);
    MV(vf) t = MV_FMA(xc, c0, c1);
    MV(vf) k = t - magic;
    MV(mv_splat)(&c0, -0.693145751953125f);
    MV(vf) r = MV_FMA(k, c0, xc);
    MV(mv_splat)(&c0, -1.42860682030941723212e-6f);
    r = MV_FMA(k, c0, r);
    MV(mv_splat)(&c0, 1.f / 720.f);
    MV(mv_splat)(&c1, 1.f / 120.f);
    MV(vf) p = MV_FMA(r, c0, c1);
    MV(mv_splat)(&c2, 1.f / 24.f);
    p = MV_FMA(p, r, c2);
    MV(mv_splat)(&c2, 1.f / 6.f);
    p = MV_FMA(p, r, c2);
    MV(mv_splat)(&c2, 0.5f);
    p = MV_FMA(p, r, c2);
    MV(mv_splat)(&c2, 1.f);
    p = MV_FMA(p, r, c2);
    p = MV_FMA(p, r, c2);
    MV(vu) sb = ((MV(vu))t - (0x4B400000u - 127u)) << 23; /* 2^k: k sits in t's low mantissa bits */
    MV(vf) v = p * (MV(vf))sb;
    *px = (MV(vf))((MV(vi))v & ~under);
}

/* The same for one float (loop tails): every element gets the same rounding. */
static inline __attribute__((always_inline)) MV_TARGET float MV(mv_exp1)(float x)
{
    MV(vf) v;
    MV(mv_splat)(&v, x);
    MV(mv_exp)(&v);
    return v[0];
}

static MV_TARGET void MV(softmax_row)(const float *x, float *y, int64_t n, int kind)
{
    int64_t i = 0;
    /* a NaN is skipped by the max but then poisons the sum: all NaN, as numpy */
    MV(vf) vm, v, acc;
    MV(mv_splat)(&vm, x[0]);
    for (; i + MV_W <= n; i += MV_W) {
        MV_LOAD(v, x + i);
        vm = MV_SEL(v > vm, v, vm);
    }
    float m = vm[0], s;
    for (int j = 1; j < MV_W; j++)
        m = vm[j] > m ? vm[j] : m;
    for (; i < n; i++)
        m = x[i] > m ? x[i] : m;
    MV(mv_splat)(&acc, 0.f);
    for (i = 0; i + MV_W <= n; i += MV_W) {
        MV_LOAD(v, x + i);
        v = v - m;
        MV(mv_exp)(&v);
        if (kind == SM_SOFT)
            MV_STORE(y + i, v);
        acc += v;
    }
    s = 0.f;
    for (int j = 0; j < MV_W; j++)
        s += acc[j];
    for (; i < n; i++) {
        float e = MV(mv_exp1)(x[i] - m);
        if (kind == SM_SOFT)
            y[i] = e;
        s += e;
    }
    if (kind == SM_SOFT) {
        float inv = 1.f / s;
        for (i = 0; i < n; i++)
            y[i] *= inv;
    } else {
        float ls = logf(s);
        for (i = 0; i < n; i++)
            y[i] = (x[i] - m) - ls;
    }
}

/* d rows of stride `inner`, for inner positions [0, w), w <= SM_CHUNK */
static MV_TARGET void MV(softmax_cols)(const float *x, float *y, int64_t d, int64_t inner, int64_t w, int kind)
{
    float m[SM_CHUNK], s[SM_CHUNK];
    int64_t wv = w - w % MV_W; /* vector part; the rest element by element */
    MV(vf) a, b;
    for (int64_t j = 0; j < w; j++)
        m[j] = x[j];
    for (int64_t k = 1; k < d; k++) {
        const float *xr = x + k * inner;
        for (int64_t j = 0; j < wv; j += MV_W) {
            MV_LOAD(a, xr + j);
            MV_LOAD(b, m + j);
            b = MV_SEL(a > b, a, b);
            MV_STORE(m + j, b);
        }
        for (int64_t j = wv; j < w; j++)
            m[j] = xr[j] > m[j] ? xr[j] : m[j];
    }
    for (int64_t j = 0; j < w; j++)
        s[j] = 0.f;
    for (int64_t k = 0; k < d; k++) {
        const float *xr = x + k * inner;
        float *yr = y + k * inner;
        for (int64_t j = 0; j < wv; j += MV_W) {
            MV_LOAD(a, xr + j);
            MV_LOAD(b, m + j);
            a = a - b;
            MV(mv_exp)(&a);
            if (kind == SM_SOFT)
                MV_STORE(yr + j, a);
            MV_LOAD(b, s + j);
            b += a;
            MV_STORE(s + j, b);
        }
        for (int64_t j = wv; j < w; j++) {
            float e = MV(mv_exp1)(xr[j] - m[j]);
            if (kind == SM_SOFT)
                yr[j] = e;
            s[j] += e;
        }
    }
    if (kind == SM_SOFT) {
        for (int64_t j = 0; j < w; j++)
            s[j] = 1.f / s[j];
        for (int64_t k = 0; k < d; k++)
            for (int64_t j = 0; j < w; j++)
                y[k * inner + j] *= s[j];
    } else {
        for (int64_t j = 0; j < w; j++)
            s[j] = logf(s[j]);
        for (int64_t k = 0; k < d; k++)
            for (int64_t j = 0; j < w; j++)
                y[k * inner + j] = (x[k * inner + j] - m[j]) - s[j];
    }
}

#undef MV_SEL
#undef MV_LOAD
#undef MV_STORE
#undef MV
#undef MV_CAT
#undef MV_CAT2
