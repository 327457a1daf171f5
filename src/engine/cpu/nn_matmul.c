/*
 * MatMul and Gemm on the CPU.
 *
 * float32 goes through one oneDNN matmul primitive built in prepare():
 *   MatMul: numpy semantics; 1-D operands are promoted to matrices, both
 *           operands are padded with leading unit batch axes to the output
 *           rank, and oneDNN broadcasts unit batch axes itself.
 *   Gemm:   transA/transB are expressed as strides of the plain operands
 *           (no copies); alpha is the output scale. C enters as the matmul
 *           bias when alpha == beta == 1 (the usual Linear layer); otherwise
 *           Y is pre-filled with beta * C and a sum post-op accumulates
 *           alpha * A * B onto it.
 * Other element types, and anything oneDNN declines, use plain-C loops that
 * accumulate in double (int types are then exact up to 2^53).
 */
#include "engine/cpu/nn.h"
#include "engine/ops/nn.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

typedef struct mm_state {
    int naive;
    int gemm;
    int prefill;       /* Gemm: Y = beta * C before the primitive (sum post-op) */
    int bias;          /* Gemm: C bound as the primitive's bias */
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_memory_t m_a, m_b, m_y, m_c, m_scratch;
    dnnl_exec_arg_t args[5];
    int nargs;
} mm_state;

static void mm_clear(mm_state *st)
{
    if (st->prim)
        dnnl_primitive_destroy(st->prim);
    if (st->pd)
        dnnl_primitive_desc_destroy(st->pd);
    dnnl_memory_t *ms[] = {&st->m_a, &st->m_b, &st->m_y, &st->m_c, &st->m_scratch};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        if (*ms[i])
            dnnl_memory_destroy(*ms[i]);
        *ms[i] = NULL;
    }
    if (st->po)
        dnnl_post_ops_destroy(st->po);
    if (st->attr)
        dnnl_primitive_attr_destroy(st->attr);
    st->prim = NULL;
    st->pd = NULL;
    st->po = NULL;
    st->attr = NULL;
    st->nargs = 0;
}

void vp_nn_matmul_release(void *state)
{
    mm_state *st = state;
    if (!st)
        return;
    mm_clear(st);
    free(st);
}

/* f32 descriptor with explicit strides (NULL = dense row-major); a stride of
 * 0 is never used: broadcast axes have size 1. */
static dnnl_status_t md_strided(dnnl_memory_desc_t *md, int nd, const int64_t *dims,
                                const int64_t *strides)
{
    dnnl_dims_t d = {0}, s = {0};
    int64_t acc = 1;
    for (int i = nd - 1; i >= 0; i--) {
        d[i] = dims[i];
        s[i] = strides ? strides[i] : acc;
        acc *= dims[i];
    }
    return dnnl_memory_desc_init_by_strides(md, nd, d, dnnl_f32, s);
}


static dnnl_status_t mm_try(mm_state *st, vp_op_ctx *c)
{
    dnnl_memory_desc_t a_md, b_md, y_md, c_md;
    dnnl_status_t s;
    int have_c = 0;
    if ((s = dnnl_primitive_attr_create(&st->attr)) != dnnl_success ||
        (s = dnnl_primitive_attr_set_scratchpad_mode(st->attr, dnnl_scratchpad_mode_user)) !=
            dnnl_success)
        return s;
    if (!st->gemm) {
        vp_nn_mm_dims d;
        vp_nn_matmul_dims(&c->in[0]->shape, &c->in[1]->shape, &d);
        if ((s = md_strided(&a_md, d.r, d.a, NULL)) != dnnl_success ||
            (s = md_strided(&b_md, d.r, d.b, NULL)) != dnnl_success ||
            (s = md_strided(&y_md, d.r, d.y, NULL)) != dnnl_success)
            return s;
    } else {
        const vp_tensor *a = c->in[0];
        const vp_tensor *cc = c->n_in > 2 ? c->in[2] : NULL;
        int ta = vp_attr_i(c->node, "transA", 0) != 0, tb = vp_attr_i(c->node, "transB", 0) != 0;
        float alpha = vp_attr_f(c->node, "alpha", 1.f), beta = vp_attr_f(c->node, "beta", 1.f);
        int64_t m = c->out[0]->shape.d[0], n = c->out[0]->shape.d[1];
        int64_t k = a->shape.d[ta ? 0 : 1];
        int64_t ad[2] = {m, k}, as[2] = {ta ? 1 : k, ta ? m : 1};
        int64_t bd[2] = {k, n}, bs[2] = {tb ? 1 : n, tb ? k : 1};
        int64_t yd[2] = {m, n};
        if ((s = md_strided(&a_md, 2, ad, as)) != dnnl_success ||
            (s = md_strided(&b_md, 2, bd, bs)) != dnnl_success ||
            (s = md_strided(&y_md, 2, yd, NULL)) != dnnl_success)
            return s;
        if (alpha != 1.f &&
            (s = dnnl_primitive_attr_set_output_scales(st->attr, 1, 0, &alpha)) != dnnl_success)
            return s;
        if (cc && beta != 0.f) {
            if (st->bias) {
                /* C is [n], [1|m, n], [m, 1] or a scalar: as a 2-D bias. */
                int64_t cd[2] = {1, 1};
                if (cc->shape.rank == 2) {
                    cd[0] = cc->shape.d[0];
                    cd[1] = cc->shape.d[1];
                } else if (cc->shape.rank == 1) {
                    cd[1] = cc->shape.d[0];
                }
                if ((s = md_strided(&c_md, 2, cd, NULL)) != dnnl_success)
                    return s;
                have_c = 1;
            } else {
                st->prefill = 1;
                if ((s = dnnl_post_ops_create(&st->po)) != dnnl_success ||
                    (s = dnnl_post_ops_append_sum(st->po, 1.f)) != dnnl_success ||
                    (s = dnnl_primitive_attr_set_post_ops(st->attr, st->po)) != dnnl_success)
                    return s;
            }
        }
    }
    dnnl_matmul_desc_t md;
    if ((s = dnnl_matmul_desc_init(&md, &a_md, &b_md, have_c ? &c_md : NULL, &y_md)) !=
            dnnl_success ||
        (s = dnnl_primitive_desc_create(&st->pd, &md, st->attr, c->cpu->eng, NULL)) !=
            dnnl_success)
        return s;
    dnnl_engine_t eng = c->cpu->eng;
    if ((s = dnnl_memory_create(&st->m_a, &a_md, eng, DNNL_MEMORY_NONE)) != dnnl_success ||
        (s = dnnl_memory_create(&st->m_b, &b_md, eng, DNNL_MEMORY_NONE)) != dnnl_success ||
        (s = dnnl_memory_create(&st->m_y, &y_md, eng, DNNL_MEMORY_NONE)) != dnnl_success)
        return s;
    if (have_c && (s = dnnl_memory_create(&st->m_c, &c_md, eng, DNNL_MEMORY_NONE)) != dnnl_success)
        return s;
    const dnnl_memory_desc_t *scr =
        dnnl_primitive_desc_query_md(st->pd, dnnl_query_scratchpad_md, 0);
    if (scr && dnnl_memory_desc_get_size(scr) > 0 &&
        (s = dnnl_memory_create(&st->m_scratch, scr, eng, DNNL_MEMORY_ALLOCATE)) != dnnl_success)
        return s;
    if ((s = dnnl_primitive_create(&st->prim, st->pd)) != dnnl_success)
        return s;
    int na = 0;
    st->args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, st->m_a};
    st->args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, st->m_b};
    st->args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, st->m_y};
    if (st->m_c)
        st->args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, st->m_c};
    if (st->m_scratch)
        st->args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, st->m_scratch};
    st->nargs = na;
    return dnnl_success;
}

static int mm_prepare(vp_op_ctx *c, int gemm)
{
    mm_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    st->gemm = gemm;
    st->naive = 1;
    if (c->in[0]->dtype == VP_DT_FLOAT && vp_tensor_numel(c->out[0]) > 0) {
        const vp_tensor *cc = gemm && c->n_in > 2 ? c->in[2] : NULL;
        int bias_ok = cc && vp_attr_f(c->node, "alpha", 1.f) == 1.f &&
                      vp_attr_f(c->node, "beta", 1.f) == 1.f;
        /* Tries: C as bias (when allowed), then pre-fill + sum. */
        for (int t = bias_ok ? 0 : 1; t < 2 && st->naive; t++) {
            mm_clear(st);
            st->bias = t == 0;
            st->prefill = 0;
            dnnl_status_t s = mm_try(st, c);
            if (s == dnnl_success)
                st->naive = 0;
            else
                VP_LOGD("%s %s: oneDNN matmul declined (status %d)", c->node->op_type,
                        c->node->name, (int)s);
        }
        if (st->naive)
            mm_clear(st);
    }
    c->state = st;
    return VP_OK;
}

int vp_nn_matmul_prepare(vp_op_ctx *c) { return mm_prepare(c, 0); }
int vp_nn_gemm_prepare(vp_op_ctx *c) { return mm_prepare(c, 1); }

/* Plain-C paths ----------------------------------------------------------- */

/* Element access as double for the generic loops. */
#define DEFINE_MM_LOOPS(SUF, T)                                                              \
    /* Y[i, j] = alpha * sum_k A[i*sa0 + k*sa1] * B[k*sb0 + j*sb1] (+ beta * C added by the  \
     * caller through cfun) */                                                               \
    static void gemm_##SUF(int64_t m, int64_t n, int64_t k, const T *a, int64_t sa0,         \
                           int64_t sa1, const T *b, int64_t sb0, int64_t sb1, T *y,          \
                           double alpha, const T *cm, const int64_t *cstr, double beta)      \
    {                                                                                        \
        _Pragma("omp parallel for schedule(static) if (m * n * k > 65536)")                  \
        for (int64_t i = 0; i < m; i++)                                                      \
            for (int64_t j = 0; j < n; j++) {                                                \
                double acc = 0;                                                              \
                for (int64_t q = 0; q < k; q++)                                              \
                    acc += (double)a[i * sa0 + q * sa1] * (double)b[q * sb0 + j * sb1];      \
                acc *= alpha;                                                                \
                if (cm)                                                                      \
                    acc += beta * (double)cm[i * cstr[0] + j * cstr[1]];                     \
                y[i * n + j] = (T)acc;                                                       \
            }                                                                                \
    }

DEFINE_MM_LOOPS(f32, float)
DEFINE_MM_LOOPS(f64, double)
DEFINE_MM_LOOPS(i32, int32_t)
DEFINE_MM_LOOPS(i64, int64_t)
DEFINE_MM_LOOPS(u32, uint32_t)
DEFINE_MM_LOOPS(u64, uint64_t)

static int gemm_any(vp_op_ctx *c, vp_dtype dt, int64_t m, int64_t n, int64_t k,
                    const void *a, int64_t sa0, int64_t sa1, const void *b, int64_t sb0,
                    int64_t sb1, void *y, double alpha, const void *cm, const int64_t *cs,
                    double beta)
{
    switch (dt) {
#define CASE(DT, SUF, T)                                                                     \
    case DT:                                                                                 \
        gemm_##SUF(m, n, k, a, sa0, sa1, b, sb0, sb1, y, alpha, cm, cs, beta);               \
        return VP_OK;
    CASE(VP_DT_FLOAT, f32, float)
    CASE(VP_DT_DOUBLE, f64, double)
    CASE(VP_DT_INT32, i32, int32_t)
    CASE(VP_DT_INT64, i64, int64_t)
    CASE(VP_DT_UINT32, u32, uint32_t)
    CASE(VP_DT_UINT64, u64, uint64_t)
#undef CASE
    default:
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CPU %s does not support %s",
                          c->node->op_type, vp_dtype_name(dt));
    }
}

static int matmul_naive(vp_op_ctx *c)
{
    vp_nn_mm_dims d; /* ops/nn.h: shared with the CUDA kernel */
    vp_nn_matmul_dims(&c->in[0]->shape, &c->in[1]->shape, &d);
    int r = d.r;
    vp_dtype dt = c->in[0]->dtype;
    size_t es = vp_dtype_size(dt);
    int64_t m = d.y[r - 2], n = d.y[r - 1], k = d.a[r - 1];
    /* Element strides of the batch axes; broadcast (unit) axes get 0. */
    int64_t sa[VP_MAX_DIMS], sb[VP_MAX_DIMS], accA = m * k, accB = k * n, nb = 1;
    for (int i = r - 3; i >= 0; i--) {
        sa[i] = d.a[i] == 1 ? 0 : accA;
        sb[i] = d.b[i] == 1 ? 0 : accB;
        accA *= d.a[i];
        accB *= d.b[i];
    }
    for (int i = 0; i < r - 2; i++)
        nb *= d.y[i];
    for (int64_t bi = 0; bi < nb; bi++) {
        int64_t rem = bi, oa = 0, ob = 0;
        for (int i = r - 3; i >= 0; i--) {
            int64_t idx = rem % d.y[i];
            rem /= d.y[i];
            oa += idx * sa[i];
            ob += idx * sb[i];
        }
        int rc = gemm_any(c, dt, m, n, k, (const char *)c->in[0]->data + (size_t)oa * es, k, 1,
                          (const char *)c->in[1]->data + (size_t)ob * es, n, 1,
                          (char *)c->out[0]->data + (size_t)(bi * m * n) * es, 1.0, NULL, NULL,
                          0.0);
        if (rc != VP_OK)
            return rc;
    }
    return VP_OK;
}

/* Strides of C broadcast to [m, n] (0 along broadcast axes). */
static void gemm_c_strides(const vp_tensor *cc, int64_t cs[2])
{
    cs[0] = cs[1] = 0;
    if (cc->shape.rank == 2) {
        cs[0] = cc->shape.d[0] == 1 ? 0 : cc->shape.d[1];
        cs[1] = cc->shape.d[1] == 1 ? 0 : 1;
    } else if (cc->shape.rank == 1) {
        cs[1] = cc->shape.d[0] == 1 ? 0 : 1;
    }
}

static int gemm_naive(vp_op_ctx *c)
{
    const vp_tensor *a = c->in[0], *cc = c->n_in > 2 ? c->in[2] : NULL;
    int ta = vp_attr_i(c->node, "transA", 0) != 0, tb = vp_attr_i(c->node, "transB", 0) != 0;
    double alpha = vp_attr_f(c->node, "alpha", 1.f), beta = vp_attr_f(c->node, "beta", 1.f);
    int64_t m = c->out[0]->shape.d[0], n = c->out[0]->shape.d[1];
    int64_t k = a->shape.d[ta ? 0 : 1], cs[2] = {0, 0};
    if (cc)
        gemm_c_strides(cc, cs);
    return gemm_any(c, a->dtype, m, n, k, a->data, ta ? 1 : k, ta ? m : 1, c->in[1]->data,
                    tb ? 1 : n, tb ? k : 1, c->out[0]->data, alpha, cc ? cc->data : NULL, cs,
                    beta);
}

int vp_nn_matmul_run(vp_op_ctx *c)
{
    mm_state *st = c->state;
    int rc;
    if (!st)
        return vp_op_fail(c, VP_ERR_INTERNAL, "matmul kernel run without prepare");
    if (vp_tensor_numel(c->out[0]) == 0)
        return VP_OK;
    if (st->naive) {
        rc = st->gemm ? gemm_naive(c) : matmul_naive(c);
        return rc != VP_OK ? rc : vp_apply_postops(c);
    }
    if (st->prefill) {
        /* Y = beta * C broadcast; the primitive's sum post-op adds alpha*A*B. */
        const vp_tensor *cc = c->in[2];
        const float *cp = cc->data;
        float *y = c->out[0]->data, beta = vp_attr_f(c->node, "beta", 1.f);
        int64_t m = c->out[0]->shape.d[0], n = c->out[0]->shape.d[1], cs[2];
        gemm_c_strides(cc, cs);
#pragma omp parallel for schedule(static) if (m * n > 65536)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                y[i * n + j] = beta * cp[i * cs[0] + j * cs[1]];
    }
    VP_DNNL(dnnl_memory_set_data_handle(st->m_a, c->in[0]->data));
    VP_DNNL(dnnl_memory_set_data_handle(st->m_b, c->in[1]->data));
    VP_DNNL(dnnl_memory_set_data_handle(st->m_y, c->out[0]->data));
    if (st->m_c)
        VP_DNNL(dnnl_memory_set_data_handle(st->m_c, c->in[2]->data));
    VP_DNNL(dnnl_primitive_execute(st->prim, c->cpu->stream, st->nargs, st->args));
    VP_DNNL(dnnl_stream_wait(c->cpu->stream));
    return vp_apply_postops(c);
}
