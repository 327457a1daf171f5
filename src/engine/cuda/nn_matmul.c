/*
 * MatMul and Gemm on the GPU through cuBLAS (float32, float16, float64).
 *
 * cuBLAS is column-major; a row-major matrix is its transpose in
 * column-major, so row-major Y = A B is computed as column-major
 * Y^T = B^T A^T: cuBLAS's first operand is our B, its m is our N, its n
 * our M. Gemm's transA / transB become the operations on those operands.
 *
 * MatMul (numpy semantics): 1-D operands are promoted to matrices, batch
 * axes broadcast. prepare() resolves the batch axes into one strided
 * batched call (cublasGemmStridedBatchedEx, stride 0 for a broadcast
 * operand) repeated over the outer batch axes where the strides are not
 * uniform; a B without batch axes against a contiguous A folds the batch
 * into M (one plain GEMM, the common "linear layer" case).
 *
 * Gemm: C (broadcast to [M, N]) is copied into Y first, and cuBLAS
 * accumulates alpha * A B + beta * Y.
 *
 * Precision: CUBLAS_COMPUTE_32F (no TF32) for float32, so results match
 * the CPU to float rounding; float16 operands also accumulate in float
 * (CUBLAS_COMPUTE_32F, tensor cores allowed), with float alpha / beta.
 * run() only enqueues on the engine's stream.
 */
#include "engine/cuda/nn.h"
#include "engine/ops/nn.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct mm_state {
    vp_dtype dt;
    cudaDataType_t type;                   /* of A, B, C and Y */
    cudaDataType_t stype;                  /* of the scalars alpha, beta */
    cublasComputeType_t compute;
    int gemm;
    /* One cuBLAS call, column-major terms (see the header). */
    cublasOperation_t op_a, op_b;
    int m, n, k, lda, ldb, ldc;
    long long stride_a, stride_b, stride_c; /* per batch entry, elements */
    int count;                             /* batch entries per call */
    /* Outer batch axes, looped on the host: sizes and element strides of
     * our A, our B and Y. */
    int n_outer;
    int64_t outer[VP_MAX_DIMS], oa[VP_MAX_DIMS], ob[VP_MAX_DIMS], oy[VP_MAX_DIMS];
    int64_t calls;
    /* Gemm */
    double alpha, beta;
    int fill_c;                            /* Y = broadcast C before the call */
    int64_t cs0, cs1, rows, cols;          /* C's strides over Y [rows, cols] */
    int k_zero;                            /* K == 0: Y = beta * C or zeros */
} mm_state;

void vp_cuda_matmul_release(void *state) { free(state); }

/* Element types: the one place that maps them to cuBLAS's (scalars are
 * float for the float32 compute type, double for float64). */
static int mm_types(vp_dtype dt, cudaDataType_t *t, cublasComputeType_t *ct)
{
    switch (dt) {
    case VP_DT_FLOAT: *t = CUDA_R_32F; *ct = CUBLAS_COMPUTE_32F; return VP_OK;
    case VP_DT_FLOAT16: *t = CUDA_R_16F; *ct = CUBLAS_COMPUTE_32F; return VP_OK;
    case VP_DT_DOUBLE: *t = CUDA_R_64F; *ct = CUBLAS_COMPUTE_64F; return VP_OK;
    default: return VP_ERR_UNSUPPORTED;
    }
}

static int fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }


/* Row-major Y[M,N] = A[M,K] B[K,N], each operand's rows lda/ldb apart,
 * as the column-major call. */
static void set_call(mm_state *st, int64_t m, int64_t n, int64_t k, int ta, int tb)
{
    st->m = (int)n;
    st->n = (int)m;
    st->k = (int)k;
    st->op_a = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    st->op_b = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    st->lda = (int)(tb ? k : n);
    st->ldb = (int)(ta ? m : k);
    st->ldc = (int)n;
    if (st->lda < 1)
        st->lda = 1;
    if (st->ldb < 1)
        st->ldb = 1;
    if (st->ldc < 1)
        st->ldc = 1;
}

static int matmul_plan(vp_op_ctx *c, mm_state *st)
{
    vp_nn_mm_dims d; /* ops/nn.h: shared with the CPU kernel */
    vp_nn_matmul_dims(&c->in[0]->shape, &c->in[1]->shape, &d);
    int r = d.r, nb = 0;
    int64_t m = d.y[r - 2], n = d.y[r - 1], k = d.a[r - 1];
    /* Batch axes of Y with extent > 1, with element strides (0: broadcast). */
    int64_t ys[VP_MAX_DIMS], sa[VP_MAX_DIMS], sb[VP_MAX_DIMS], sy[VP_MAX_DIMS];
    int64_t accA = m * k, accB = k * n, accY = m * n, nbatch = 1;
    int a_full = 1, b_none = 1;
    for (int i = r - 3; i >= 0; i--) {
        if (d.y[i] != 1) {
            int j = nb++;
            ys[j] = d.y[i];
            sa[j] = d.a[i] == 1 ? 0 : accA;
            sb[j] = d.b[i] == 1 ? 0 : accB;
            sy[j] = accY;
            a_full &= sa[j] != 0;
            b_none &= sb[j] == 0;
        }
        accA *= d.a[i];
        accB *= d.b[i];
        accY *= d.y[i];
        nbatch *= d.y[i];
    }
    /* ys..sy are innermost first from here on. */
    if (b_none && a_full) {
        /* A [batch.., M, K] contiguous and one B: fold the batch into M. */
        m *= nbatch;
        nb = 0;
    }
    if (!fits_int(m) || !fits_int(n) || !fits_int(k))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "MatMul dimensions beyond cuBLAS's int");
    set_call(st, m, n, k, 0, 0);
    /* Innermost batch axes with uniform strides go into one call. */
    int inner = 0;
    int64_t cnt = 1;
    if (nb > 0) {
        inner = 1;
        cnt = ys[0];
        while (inner < nb && sa[inner] == sa[0] * cnt && sb[inner] == sb[0] * cnt) {
            cnt *= ys[inner];
            inner++;
        }
        st->stride_a = sb[0]; /* cuBLAS's A is our B */
        st->stride_b = sa[0];
        st->stride_c = sy[0];
    }
    if (!fits_int(cnt))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "MatMul batch beyond cuBLAS's int");
    st->count = (int)cnt;
    st->n_outer = 0;
    st->calls = 1;
    for (int j = nb - 1; j >= inner; j--) { /* outermost first */
        int o = st->n_outer++;
        st->outer[o] = ys[j];
        st->oa[o] = sa[j];
        st->ob[o] = sb[j];
        st->oy[o] = sy[j];
        st->calls *= ys[j];
    }
    st->k_zero = k == 0;
    st->alpha = 1.0;
    st->beta = 0.0;
    return VP_OK;
}

static int gemm_plan(vp_op_ctx *c, mm_state *st)
{
    const vp_tensor *a = c->in[0], *cc = c->n_in > 2 ? c->in[2] : NULL;
    int ta = vp_attr_i(c->node, "transA", 0) != 0, tb = vp_attr_i(c->node, "transB", 0) != 0;
    int64_t m = c->out[0]->shape.d[0], n = c->out[0]->shape.d[1];
    int64_t k = a->shape.d[ta ? 0 : 1];
    if (!fits_int(m) || !fits_int(n) || !fits_int(k))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "Gemm dimensions beyond cuBLAS's int");
    set_call(st, m, n, k, ta, tb);
    st->count = 1;
    st->calls = 1;
    st->alpha = vp_attr_f(c->node, "alpha", 1.f);
    st->beta = vp_attr_f(c->node, "beta", 1.f);
    st->rows = m;
    st->cols = n;
    st->fill_c = cc && st->beta != 0.0;
    if (!st->fill_c)
        st->beta = 0.0;
    if (st->fill_c) {
        /* Strides of C broadcast to [m, n] (0 along broadcast axes). */
        st->cs0 = st->cs1 = 0;
        if (cc->shape.rank == 2) {
            st->cs0 = cc->shape.d[0] == 1 ? 0 : cc->shape.d[1];
            st->cs1 = cc->shape.d[1] == 1 ? 0 : 1;
        } else if (cc->shape.rank == 1) {
            st->cs1 = cc->shape.d[0] == 1 ? 0 : 1;
        }
    }
    st->k_zero = k == 0;
    return VP_OK;
}

static int mm_prepare(vp_op_ctx *c, int gemm)
{
    cudaDataType_t t;
    cublasComputeType_t ct;
    vp_dtype dt = c->in[0]->dtype;
    if (mm_types(dt, &t, &ct) != VP_OK)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s does not support %s",
                          c->node->op_type, vp_dtype_name(dt));
    for (int i = 1; i < c->n_in && i < 3; i++)
        if (c->in[i] && c->in[i]->dtype != dt)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CUDA %s: input %d is %s but A is %s",
                              c->node->op_type, i, vp_dtype_name(c->in[i]->dtype),
                              vp_dtype_name(dt));
    mm_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    st->dt = dt;
    st->type = t;
    st->stype = dt == VP_DT_DOUBLE ? CUDA_R_64F : CUDA_R_32F;
    st->compute = ct;
    st->gemm = gemm;
    int rc = gemm ? gemm_plan(c, st) : matmul_plan(c, st);
    if (rc != VP_OK) {
        free(st);
        return rc;
    }
    c->state = st;
    return VP_OK;
}

int vp_cuda_matmul_prepare(vp_op_ctx *c) { return mm_prepare(c, 0); }
int vp_cuda_gemm_prepare(vp_op_ctx *c) { return mm_prepare(c, 1); }

/* K == 0: the product is empty, Y = beta * C (Gemm) or zeros. */
static int mm_k_zero(vp_op_ctx *c, const mm_state *st)
{
    vp_cuda_ctx *ctx = c->dev;
    void *y = c->out[0]->data;
    int64_t numel = vp_tensor_numel(c->out[0]);
    if (!st->fill_c) {
        VP_CUDA(cudaMemsetAsync(y, 0, (size_t)numel * vp_dtype_size(st->dt), ctx->stream));
        return VP_OK;
    }
    int rc = vp_cuda_fill_bcast2d(ctx->stream, st->dt, st->rows, st->cols, c->in[2]->data,
                                  st->cs0, st->cs1, y);
    if (rc != VP_OK || st->beta == 1.0)
        return rc;
    if (!fits_int(numel))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "Gemm output beyond cuBLAS's int");
    float bf = (float)st->beta;
    const void *beta = st->dt == VP_DT_DOUBLE ? (const void *)&st->beta : (const void *)&bf;
    VP_CUBLAS(cublasScalEx(ctx->cublas, (int)numel, beta, st->stype, y, st->type, 1, st->stype));
    return VP_OK;
}

int vp_cuda_matmul_run(vp_op_ctx *c)
{
    const mm_state *st = c->state;
    vp_cuda_ctx *ctx = c->dev;
    int rc;
    if (!st)
        return vp_op_fail(c, VP_ERR_INTERNAL, "matmul kernel run without prepare");
    if (vp_tensor_numel(c->out[0]) == 0)
        return VP_OK;
    if (st->k_zero) {
        if ((rc = mm_k_zero(c, st)) != VP_OK)
            return rc;
        return c->node->n_post ? vp_cuda_apply_postops(c) : VP_OK;
    }
    cudaDataType_t t = st->type;
    size_t es = vp_dtype_size(st->dt);
    const char *a = c->in[0]->data, *b = c->in[1]->data;
    char *y = c->out[0]->data;
    if (st->fill_c &&
        (rc = vp_cuda_fill_bcast2d(ctx->stream, st->dt, st->rows, st->cols, c->in[2]->data,
                                   st->cs0, st->cs1, y)) != VP_OK)
        return rc;
    float af = (float)st->alpha, bf = (float)st->beta;
    const void *alpha = st->dt == VP_DT_DOUBLE ? (const void *)&st->alpha : (const void *)&af;
    const void *beta = st->dt == VP_DT_DOUBLE ? (const void *)&st->beta : (const void *)&bf;
    for (int64_t call = 0; call < st->calls; call++) {
        /* Offsets of the outer batch entry (mixed radix, innermost last). */
        int64_t rem = call, offa = 0, offb = 0, offy = 0;
        for (int o = st->n_outer - 1; o >= 0; o--) {
            int64_t idx = rem % st->outer[o];
            rem /= st->outer[o];
            offa += idx * st->oa[o];
            offb += idx * st->ob[o];
            offy += idx * st->oy[o];
        }
        /* cuBLAS's A is our B and its B our A (see the header). */
        VP_CUBLAS(cublasGemmStridedBatchedEx(
            ctx->cublas, st->op_a, st->op_b, st->m, st->n, st->k, alpha, b + (size_t)offb * es,
            t, st->lda, st->stride_a, a + (size_t)offa * es, t, st->ldb, st->stride_b, beta,
            y + (size_t)offy * es, t, st->ldc, st->stride_c, st->count, st->compute,
            CUBLAS_GEMM_DEFAULT));
    }
    return c->node->n_post ? vp_cuda_apply_postops(c) : VP_OK;
}
