/*
 * CPU kernels: shape family.
 *
 * These kernels move bytes, so they work on element sizes and accept every
 * dtype; only ScatterND's reductions and Range compute, and switch on the
 * type for that. Layout ops describe their input as a strided view of the
 * output and hand it to vp_cpu_copy_view() (shape_copy.c), which merges
 * contiguous dimensions, uses memcpy runs, blocked transposes and OpenMP.
 * The view ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity) normally
 * alias their input; their kernel copies, for constant folding.
 * Parameters are decoded by the same functions infer() uses (ops/shape.c).
 */
#include "engine/cpu/shape.h"

#include <string.h>


/* Element count above which a gather-like loop goes parallel. */
#define PAR_ELEMS 32768

static size_t esize_of(const vp_tensor *t) { return vp_dtype_size(t->dtype); }

static int64_t index_at(const vp_tensor *t, int64_t i)
{
    return t->dtype == VP_DT_INT64 ? ((const int64_t *)t->data)[i]
                                   : ((const int32_t *)t->data)[i];
}

/* Views: a plain copy (the plan aliases them instead when it can). */
static int run_copy(vp_op_ctx *c)
{
    vp_cpu_copy_bytes(c->out[0]->data, c->in[0]->data, vp_tensor_bytes(c->in[0]));
    return VP_OK;
}

static int run_shape(vp_op_ctx *c)
{
    int r = c->in[0]->shape.rank;
    int64_t start = c->opset >= 15 ? vp_attr_i(c->node, "start", 0) : 0;
    if (start < 0)
        start += r;
    start = start < 0 ? 0 : start > r ? r : start;
    int64_t *o = c->out[0]->data;
    for (int64_t i = 0; i < c->out[0]->shape.d[0]; i++)
        o[i] = c->in[0]->shape.d[start + i];
    return VP_OK;
}

static int run_size(vp_op_ctx *c)
{
    *(int64_t *)c->out[0]->data = vp_tensor_numel(c->in[0]);
    return VP_OK;
}

static int run_transpose(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_tensor *y = c->out[0];
    int r = x->shape.rank, n;
    const int64_t *perm = vp_attr_ints(c->node, "perm", &n);
    int64_t ist[VP_MAX_DIMS], ost[VP_MAX_DIMS], ss[VP_MAX_DIMS];
    vp_cpu_dense_strides(&x->shape, ist);
    vp_cpu_dense_strides(&y->shape, ost);
    for (int k = 0; k < r; k++)
        ss[k] = ist[perm ? perm[k] : r - 1 - k];
    vp_cpu_copy_view(y->data, ost, x->data, ss, y->shape.d, r, esize_of(x));
    return VP_OK;
}

static int run_concat(vp_op_ctx *c)
{
    vp_tensor *y = c->out[0];
    int r = y->shape.rank;
    int axis = vp_norm_axis(vp_attr_i(c->node, "axis", 0), r);
    size_t es = esize_of(y);
    int64_t outer = 1, tail = 1;
    for (int k = 0; k < axis; k++)
        outer *= y->shape.d[k];
    for (int k = axis + 1; k < r; k++)
        tail *= y->shape.d[k];
    int64_t tot = y->shape.d[axis] * tail, off = 0;
    for (int i = 0; i < c->n_in; i++) {
        const vp_tensor *x = c->in[i];
        int64_t len = x->shape.d[axis] * tail;
        int64_t shape[2] = {outer, len}, ds[2] = {tot, 1}, ss[2] = {len, 1};
        char *dst = (char *)y->data + off * (int64_t)es;
        /* an input the plan had its producer write in place is already there */
        if (len > 0 && outer > 0 && (const void *)dst != x->data)
            vp_cpu_copy_view(dst, ds, x->data, ss, shape, 2, es);
        off += len;
    }
    return VP_OK;
}

static int run_split(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    int64_t sizes[1024];
    int axis;
    if (c->n_out > 1024)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "too many outputs");
    int st = vp_shapeop_split(c, &axis, sizes);
    if (st)
        return st;
    size_t es = esize_of(x);
    int r = x->shape.rank;
    int64_t outer = 1, tail = 1;
    for (int k = 0; k < axis; k++)
        outer *= x->shape.d[k];
    for (int k = axis + 1; k < r; k++)
        tail *= x->shape.d[k];
    int64_t tot = x->shape.d[axis] * tail, off = 0;
    for (int i = 0; i < c->n_out; i++) {
        int64_t len = sizes[i] * tail;
        int64_t shape[2] = {outer, len}, ds[2] = {len, 1}, ss[2] = {tot, 1};
        if (c->out[i] && len > 0 && outer > 0)
            vp_cpu_copy_view(c->out[i]->data, ds, (const char *)x->data + off * (int64_t)es, ss,
                             shape, 2, es);
        off += len;
    }
    return VP_OK;
}

static int run_slice(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_tensor *y = c->out[0];
    int64_t start[VP_MAX_DIMS], step[VP_MAX_DIMS], ist[VP_MAX_DIMS], ost[VP_MAX_DIMS],
        ss[VP_MAX_DIMS];
    vp_shape o;
    int st = vp_shapeop_slice(c, start, step, &o);
    if (st)
        return st;
    if (vp_shape_numel(&o) == 0)
        return VP_OK;
    int r = x->shape.rank;
    size_t es = esize_of(x);
    vp_cpu_dense_strides(&x->shape, ist);
    vp_cpu_dense_strides(&o, ost);
    int64_t base = 0;
    for (int k = 0; k < r; k++) {
        base += start[k] * ist[k];
        ss[k] = step[k] * ist[k];
    }
    vp_cpu_copy_view(y->data, ost, (const char *)x->data + base * (int64_t)es, ss, o.d, r, es);
    return VP_OK;
}

static int run_gather(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0], *idx = c->in[1];
    vp_tensor *y = c->out[0];
    int r = x->shape.rank;
    int axis = vp_norm_axis(vp_attr_i(c->node, "axis", 0), r);
    int64_t outer = 1, inner = 1, n_ax = x->shape.d[axis], nidx = vp_tensor_numel(idx);
    for (int k = 0; k < axis; k++)
        outer *= x->shape.d[k];
    for (int k = axis + 1; k < r; k++)
        inner *= x->shape.d[k];
    for (int64_t j = 0; j < nidx; j++) {
        int64_t v = index_at(idx, j);
        if (v < -n_ax || v >= n_ax)
            return vp_op_fail(c, VP_ERR_INVALID, "index %lld out of range for axis %d of size "
                              "%lld", (long long)v, axis, (long long)n_ax);
    }
    size_t es = esize_of(x), run = (size_t)inner * es;
    const char *src = x->data;
    char *dst = y->data;
    int64_t units = outer * nidx;
    /* Gathering single small elements (last axis, shape vectors): a
     * fixed-size copy instead of a memcpy call per element. */
#define GATHER_LOOP(SZ)                                                                    \
    _Pragma("omp parallel for schedule(static) if (units * inner > PAR_ELEMS)")            \
    for (int64_t u = 0; u < units; u++) {                                                  \
        int64_t o = u / nidx, j = u % nidx, v = index_at(idx, j);                          \
        if (v < 0)                                                                         \
            v += n_ax;                                                                     \
        memcpy(dst + (size_t)u * SZ, src + (size_t)(o * n_ax + v) * SZ, SZ);               \
    }
    switch (run) {
    case 1: GATHER_LOOP(1) break;
    case 2: GATHER_LOOP(2) break;
    case 4: GATHER_LOOP(4) break;
    case 8: GATHER_LOOP(8) break;
    default: GATHER_LOOP(run) break;
    }
#undef GATHER_LOOP
    return VP_OK;
}

static int run_gather_elements(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0], *idx = c->in[1];
    vp_tensor *y = c->out[0];
    int r = x->shape.rank;
    int axis = vp_norm_axis(vp_attr_i(c->node, "axis", 0), r);
    int64_t n = vp_tensor_numel(idx), n_ax = x->shape.d[axis];
    int64_t xst[VP_MAX_DIMS];
    vp_cpu_dense_strides(&x->shape, xst);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = index_at(idx, i);
        if (v < -n_ax || v >= n_ax)
            return vp_op_fail(c, VP_ERR_INVALID, "index %lld out of range for axis %d of size "
                              "%lld", (long long)v, axis, (long long)n_ax);
    }
    size_t es = esize_of(x);
    const char *src = x->data;
    char *dst = y->data;
#pragma omp parallel for schedule(static) if (n > PAR_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, off = 0;
        for (int k = r - 1; k >= 0; k--) {
            int64_t ik = rem % idx->shape.d[k];
            rem /= idx->shape.d[k];
            if (k == axis) {
                ik = index_at(idx, i);
                if (ik < 0)
                    ik += n_ax;
            }
            off += ik * xst[k];
        }
        memcpy(dst + (size_t)i * es, src + (size_t)off * es, es);
    }
    return VP_OK;
}

static int run_expand(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_tensor *y = c->out[0];
    int ro = y->shape.rank, ri = x->shape.rank;
    int64_t ist[VP_MAX_DIMS], ost[VP_MAX_DIMS], ss[VP_MAX_DIMS];
    vp_cpu_dense_strides(&x->shape, ist);
    vp_cpu_dense_strides(&y->shape, ost);
    for (int k = 0; k < ro; k++) {
        int ki = k - (ro - ri);
        ss[k] = ki >= 0 && x->shape.d[ki] != 1 ? ist[ki] : 0;
    }
    vp_cpu_copy_view(y->data, ost, x->data, ss, y->shape.d, ro, esize_of(x));
    return VP_OK;
}

/* Tile as a copy of 2r dims: output dim k is [repeat, d_k], the repeat dim
 * reading the source with stride 0. */
static int run_tile(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_tensor *y = c->out[0];
    int r = x->shape.rank;
    int64_t ist[VP_MAX_DIMS], ost[VP_MAX_DIMS];
    int64_t shape[VP_COPY_MAX_DIMS], ds[VP_COPY_MAX_DIMS], ss[VP_COPY_MAX_DIMS];
    if (vp_tensor_numel(y) == 0)
        return VP_OK;
    vp_cpu_dense_strides(&x->shape, ist);
    vp_cpu_dense_strides(&y->shape, ost);
    for (int k = 0; k < r; k++) {
        int64_t d = x->shape.d[k];
        shape[2 * k] = y->shape.d[k] / d;
        shape[2 * k + 1] = d;
        ds[2 * k] = d * ost[k];
        ds[2 * k + 1] = ost[k];
        ss[2 * k] = 0;
        ss[2 * k + 1] = ist[k];
    }
    vp_cpu_copy_view(y->data, ds, x->data, ss, shape, 2 * r, esize_of(x));
    return VP_OK;
}

/* Source index for output position i of a padded axis of n elements. */
static int64_t pad_map(int64_t i, int64_t n, int mode)
{
    if (i >= 0 && i < n)
        return i;
    switch (mode) {
    case VP_PAD_EDGE:
        return i < 0 ? 0 : n - 1;
    case VP_PAD_WRAP:
        return ((i % n) + n) % n;
    default: { /* reflect, repeated as numpy.pad does for wide pads */
        if (n == 1)
            return 0;
        int64_t p = 2 * (n - 1), m = ((i % p) + p) % p;
        return m < n ? m : p - m;
    }
    }
}

static int run_pad(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_tensor *y = c->out[0];
    int64_t pb[VP_MAX_DIMS], pe[VP_MAX_DIMS];
    int mode;
    int st = vp_shapeop_pad(c, pb, pe, &mode);
    if (st)
        return st;
    int r = x->shape.rank;
    size_t es = esize_of(x);
    int64_t ist[VP_MAX_DIMS], ost[VP_MAX_DIMS], len[VP_MAX_DIMS];
    vp_cpu_dense_strides(&x->shape, ist);
    vp_cpu_dense_strides(&y->shape, ost);
    /* Negative pads crop the input first; what remains is padded. */
    int64_t soff = 0, doff = 0, empty = 0;
    for (int k = 0; k < r; k++) {
        int64_t cb = pb[k] < 0 ? -pb[k] : 0, ce = pe[k] < 0 ? -pe[k] : 0;
        len[k] = x->shape.d[k] - cb - ce;
        if (len[k] <= 0)
            empty = 1;
        soff += cb * ist[k];
        pb[k] = pb[k] > 0 ? pb[k] : 0;
        doff += pb[k] * ost[k];
    }
    int64_t n_out = vp_tensor_numel(y);
    if (n_out == 0)
        return VP_OK;
    const char *src = (const char *)x->data + soff * (int64_t)es;
    char *dst = y->data;
    if (mode == VP_PAD_CONSTANT) {
        unsigned char val[8] = {0};
        if (c->opset < 11) {
            vp_tensor v = {.dtype = x->dtype, .shape = {.rank = 0}, .data = val};
            vp_tensor_set_f64(&v, 0, vp_attr_f(c->node, "value", 0.f));
        } else if (c->n_in > 2 && c->in[2]) {
            memcpy(val, c->in[2]->data, es);
        }
        vp_cpu_fill(dst, val, n_out, es);
        if (!empty)
            vp_cpu_copy_view(dst + doff * (int64_t)es, ost, src, ist, len, r, es);
        return VP_OK;
    }
    if (r == 0) {
        memcpy(dst, src, es);
        return VP_OK;
    }
    /* edge / reflect / wrap: per output row, map each outer index to its
     * source row, then the innermost axis: borders by element, middle by
     * memcpy. */
    int64_t L = y->shape.d[r - 1], n_in_row = len[r - 1], b = pb[r - 1];
    int64_t rows = n_out / L;
#pragma omp parallel for schedule(static) if (n_out > PAR_ELEMS)
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row, so = 0;
        for (int k = r - 2; k >= 0; k--) {
            int64_t i = rem % y->shape.d[k];
            rem /= y->shape.d[k];
            so += pad_map(i - pb[k], len[k], mode) * ist[k];
        }
        const char *s = src + so * (int64_t)es;
        char *d = dst + row * L * (int64_t)es;
        for (int64_t j = 0; j < b; j++)
            memcpy(d + j * (int64_t)es, s + pad_map(j - b, n_in_row, mode) * (int64_t)es, es);
        memcpy(d + b * (int64_t)es, s, (size_t)n_in_row * es);
        for (int64_t j = b + n_in_row; j < L; j++)
            memcpy(d + j * (int64_t)es, s + pad_map(j - b, n_in_row, mode) * (int64_t)es, es);
    }
    return VP_OK;
}

/* DepthToSpace / SpaceToDepth as 6-d transposes. */
static int run_depth_space(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_tensor *y = c->out[0];
    int64_t b = vp_attr_i(c->node, "blocksize", 1);
    const int64_t *d = x->shape.d;
    vp_shape in6 = {.rank = 6};
    int perm[6];
    if (strcmp(c->node->op_type, "DepthToSpace") == 0) {
        int64_t cc = d[1] / (b * b);
        if (strcmp(vp_attr_s(c->node, "mode", "DCR"), "CRD") == 0) {
            vp_shape s = {6, {d[0], cc, b, b, d[2], d[3]}};
            int p[6] = {0, 1, 4, 2, 5, 3};
            in6 = s;
            memcpy(perm, p, sizeof perm);
        } else {
            vp_shape s = {6, {d[0], b, b, cc, d[2], d[3]}};
            int p[6] = {0, 3, 4, 1, 5, 2};
            in6 = s;
            memcpy(perm, p, sizeof perm);
        }
    } else {
        vp_shape s = {6, {d[0], d[1], d[2] / b, b, d[3] / b, b}};
        int p[6] = {0, 3, 5, 1, 2, 4};
        in6 = s;
        memcpy(perm, p, sizeof perm);
    }
    int64_t ist[6], ost[6], shape[6], ss[6];
    vp_cpu_dense_strides(&in6, ist);
    for (int k = 0; k < 6; k++) {
        shape[k] = in6.d[perm[k]];
        ss[k] = ist[perm[k]];
    }
    int64_t acc = 1;
    for (int k = 5; k >= 0; k--) {
        ost[k] = acc;
        acc *= shape[k];
    }
    vp_cpu_copy_view(y->data, ost, x->data, ss, shape, 6, esize_of(x));
    return VP_OK;
}

static int run_trilu(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_tensor *y = c->out[0];
    int r = x->shape.rank;
    int upper = vp_attr_i(c->node, "upper", 1) != 0;
    int64_t k = c->n_in > 1 && c->in[1] ? ((const int64_t *)c->in[1]->data)[0] : 0;
    int64_t N = x->shape.d[r - 2], M = x->shape.d[r - 1];
    int64_t rows = vp_tensor_numel(x) / (M ? M : 1);
    size_t es = esize_of(x);
    if (M == 0 || rows == 0)
        return VP_OK;
    /* Keep i + k in range so it cannot overflow; beyond +-(N+M) all agree. */
    if (k > N + M)
        k = N + M;
    if (k < -(N + M))
        k = -(N + M);
#pragma omp parallel for schedule(static) if (rows * M > PAR_ELEMS)
    for (int64_t row = 0; row < rows; row++) {
        int64_t i = row % N;
        const char *s = (const char *)x->data + (size_t)(row * M) * es;
        char *d = (char *)y->data + (size_t)(row * M) * es;
        /* upper keeps j >= i + k; lower keeps j <= i + k */
        int64_t cut = upper ? i + k : i + k + 1;
        cut = cut < 0 ? 0 : cut > M ? M : cut;
        if (upper) {
            memset(d, 0, (size_t)cut * es);
            memcpy(d + (size_t)cut * es, s + (size_t)cut * es, (size_t)(M - cut) * es);
        } else {
            memcpy(d, s, (size_t)cut * es);
            memset(d + (size_t)cut * es, 0, (size_t)(M - cut) * es);
        }
    }
    return VP_OK;
}

/* ScatterND reductions, by type. */
enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

#define DEF_REDUCE(NAME, T)                                                                \
    static void NAME(void *dst, const void *src, int64_t n, int red)                      \
    {                                                                                      \
        T *d = dst;                                                                        \
        const T *s = src;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                  \
            switch (red) {                                                                 \
            case RED_ADD: d[i] = (T)(d[i] + s[i]); break;                                  \
            case RED_MUL: d[i] = (T)(d[i] * s[i]); break;                                  \
            case RED_MAX: d[i] = d[i] > s[i] ? d[i] : s[i]; break;                         \
            default: d[i] = d[i] < s[i] ? d[i] : s[i]; break;                              \
            }                                                                              \
        }                                                                                  \
    }
DEF_REDUCE(reduce_f32, float)
DEF_REDUCE(reduce_f64, double)
DEF_REDUCE(reduce_i8, int8_t)
DEF_REDUCE(reduce_u8, uint8_t)
DEF_REDUCE(reduce_i16, int16_t)
DEF_REDUCE(reduce_u16, uint16_t)
DEF_REDUCE(reduce_i32, int32_t)
DEF_REDUCE(reduce_u32, uint32_t)
DEF_REDUCE(reduce_i64, int64_t)
DEF_REDUCE(reduce_u64, uint64_t)

static void reduce_f16(void *dst, const void *src, int64_t n, int red)
{
    uint16_t *d = dst;
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) {
        float a = vp_half_to_float(d[i]), b = vp_half_to_float(s[i]);
        float v = red == RED_ADD ? a + b : red == RED_MUL ? a * b : red == RED_MAX ? (a > b ? a : b)
                                                                                   : (a < b ? a : b);
        d[i] = vp_float_to_half(v);
    }
}

static void reduce_bool(void *dst, const void *src, int64_t n, int red)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    for (int64_t i = 0; i < n; i++)
        d[i] = red == RED_ADD || red == RED_MAX ? (d[i] || s[i]) : (d[i] && s[i]);
}

typedef void (*reduce_fn)(void *, const void *, int64_t, int);

static reduce_fn reduce_for(vp_dtype dt)
{
    switch (dt) {
    case VP_DT_FLOAT: return reduce_f32;
    case VP_DT_DOUBLE: return reduce_f64;
    case VP_DT_FLOAT16: return reduce_f16;
    case VP_DT_INT8: return reduce_i8;
    case VP_DT_UINT8: return reduce_u8;
    case VP_DT_INT16: return reduce_i16;
    case VP_DT_UINT16: return reduce_u16;
    case VP_DT_INT32: return reduce_i32;
    case VP_DT_UINT32: return reduce_u32;
    case VP_DT_INT64: return reduce_i64;
    case VP_DT_UINT64: return reduce_u64;
    case VP_DT_BOOL: return reduce_bool;
    default: return NULL;
    }
}

static int run_scatter_nd(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0], *idx = c->in[1], *upd = c->in[2];
    vp_tensor *y = c->out[0];
    const char *rs = vp_attr_s(c->node, "reduction", "none");
    int red = strcmp(rs, "add") == 0 ? RED_ADD : strcmp(rs, "mul") == 0 ? RED_MUL
            : strcmp(rs, "max") == 0 ? RED_MAX : strcmp(rs, "min") == 0 ? RED_MIN : RED_NONE;
    reduce_fn fn = reduce_for(x->dtype);
    if (red != RED_NONE && !fn)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "reduction %s on %s", rs,
                          vp_dtype_name(x->dtype));
    int r = x->shape.rank, q = idx->shape.rank;
    int k = (int)idx->shape.d[q - 1];
    int64_t xst[VP_MAX_DIMS];
    vp_cpu_dense_strides(&x->shape, xst);
    int64_t slice = k < r ? xst[k - 1] : 1;
    int64_t nupd = k ? vp_tensor_numel(idx) / k : 0;
    size_t es = esize_of(x);
    const int64_t *iv = idx->data;
    for (int64_t u = 0; u < nupd; u++)
        for (int j = 0; j < k; j++) {
            int64_t v = iv[u * k + j], dj = x->shape.d[j];
            if (v < -dj || v >= dj)
                return vp_op_fail(c, VP_ERR_INVALID, "index %lld out of range for axis %d of "
                                  "size %lld", (long long)v, j, (long long)dj);
        }
    vp_cpu_copy_bytes(y->data, x->data, vp_tensor_bytes(x));
    /* Sequential: with a reduction, repeated indices must all apply. */
    for (int64_t u = 0; u < nupd; u++) {
        int64_t off = 0;
        for (int j = 0; j < k; j++) {
            int64_t v = iv[u * k + j];
            off += (v < 0 ? v + x->shape.d[j] : v) * xst[j];
        }
        char *d = (char *)y->data + (size_t)off * es;
        const char *s = (const char *)upd->data + (size_t)(u * slice) * es;
        if (red == RED_NONE)
            memcpy(d, s, (size_t)slice * es);
        else
            fn(d, s, slice, red);
    }
    return VP_OK;
}

static int run_constant(vp_op_ctx *c)
{
    const vp_node *nd = c->node;
    vp_tensor *y = c->out[0];
    const vp_attr *a;
    if ((a = vp_attr_find(nd, "value")) != NULL)
        memcpy(y->data, a->t->data, vp_tensor_bytes(a->t));
    else if ((a = vp_attr_find(nd, "value_float")) != NULL)
        *(float *)y->data = a->f;
    else if ((a = vp_attr_find(nd, "value_int")) != NULL)
        *(int64_t *)y->data = a->i;
    else if ((a = vp_attr_find(nd, "value_floats")) != NULL)
        memcpy(y->data, a->floats, (size_t)a->n * sizeof(float));
    else if ((a = vp_attr_find(nd, "value_ints")) != NULL)
        memcpy(y->data, a->ints, (size_t)a->n * sizeof(int64_t));
    else
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "no supported value attribute");
    return VP_OK;
}

static int run_constant_of_shape(vp_op_ctx *c)
{
    vp_tensor *y = c->out[0];
    const vp_tensor *v = vp_attr_t(c->node, "value");
    unsigned char zero[8] = {0};
    vp_cpu_fill(y->data, v ? v->data : zero, vp_tensor_numel(y), esize_of(y));
    return VP_OK;
}

/* Range: output[i] = start + i * delta, as ONNX's pseudocode says (not an
 * accumulation, which drifts for floats). Floats are computed in double and
 * rounded once, as numpy.arange (the reference) does; integers in int64,
 * wrapping rather than overflowing. */
static void range_fill(vp_tensor *y, const vp_tensor *s, const vp_tensor *d)
{
    int64_t n = vp_tensor_numel(y);
    if (y->dtype == VP_DT_FLOAT || y->dtype == VP_DT_DOUBLE) {
        double a = vp_tensor_get_f64(s, 0), dl = vp_tensor_get_f64(d, 0);
        for (int64_t i = 0; i < n; i++)
            vp_tensor_set_f64(y, i, a + (double)i * dl);
    } else {
        uint64_t a = (uint64_t)vp_tensor_get_i64(s, 0), dl = (uint64_t)vp_tensor_get_i64(d, 0);
        int64_t *o64 = y->data;
        int32_t *o32 = y->data;
        int16_t *o16 = y->data;
        for (int64_t i = 0; i < n; i++) {
            int64_t v = (int64_t)(a + (uint64_t)i * dl);
            if (y->dtype == VP_DT_INT64)
                o64[i] = v;
            else if (y->dtype == VP_DT_INT32)
                o32[i] = (int32_t)v;
            else
                o16[i] = (int16_t)v;
        }
    }
}

static int run_range(vp_op_ctx *c)
{
    range_fill(c->out[0], c->in[0], c->in[2]);
    return VP_OK;
}

static int run_nonzero(vp_op_ctx *c)
{
    const vp_tensor *x = c->in[0];
    vp_tensor *y = c->out[0];
    int r = x->shape.rank;
    int64_t n = vp_tensor_numel(x), nnz = y->shape.d[1], j = 0;
    int64_t *o = y->data;
    for (int64_t i = 0; i < n && j < nnz; i++) {
        if (!vp_shapeop_is_nonzero(x, i))
            continue;
        int64_t rem = i;
        for (int k = r - 1; k >= 0; k--) {
            o[k * nnz + j] = rem % x->shape.d[k];
            rem /= x->shape.d[k];
        }
        j++;
    }
    if (j != nnz)
        return vp_op_fail(c, VP_ERR_SHAPE, "input has %lld non-zeros, the plan expected %lld",
                          (long long)j, (long long)nnz);
    return VP_OK;
}

const vp_kernel vp_cpu_shape[] = {
    {.name = "Reshape", .run = run_copy},
    {.name = "Flatten", .run = run_copy},
    {.name = "Squeeze", .run = run_copy},
    {.name = "Unsqueeze", .run = run_copy},
    {.name = "Identity", .run = run_copy},
    {.name = "Shape", .run = run_shape},
    {.name = "Size", .run = run_size},
    {.name = "Transpose", .run = run_transpose},
    {.name = "Concat", .run = run_concat},
    {.name = "Split", .run = run_split},
    {.name = "Slice", .run = run_slice},
    {.name = "Gather", .run = run_gather},
    {.name = "GatherElements", .run = run_gather_elements},
    {.name = "Expand", .run = run_expand},
    {.name = "Tile", .run = run_tile},
    {.name = "Pad", .run = run_pad},
    {.name = "DepthToSpace", .run = run_depth_space},
    {.name = "SpaceToDepth", .run = run_depth_space},
    {.name = "Trilu", .run = run_trilu},
    {.name = "ScatterND", .run = run_scatter_nd},
    {.name = "Constant", .run = run_constant},
    {.name = "ConstantOfShape", .run = run_constant_of_shape},
    {.name = "Range", .run = run_range},
    {.name = "NonZero", .run = run_nonzero},
    {0},
};
