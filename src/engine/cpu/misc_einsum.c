/*
 * CPU kernel: Einsum.
 *
 * The equation is parsed (ops/misc_einsum.c) into labels with an extent and
 * a per-input element stride; the kernel walks the output labels (one
 * output element per iteration, in parallel) and, inside, the summed labels
 * with an odometer, multiplying the inputs' elements. Diagonals and
 * broadcasting fall out of the strides. Float types accumulate in double,
 * integers in int64 (wrapping).
 * Float32 with one or two inputs (transposes, traces, batched matrix
 * products, attention written as einsum) runs the innermost summed label
 * as a tight strided dot product (double sums, 4 partial ones when both
 * operands are contiguous along it); everything else takes the general
 * loop.
 */
#include "engine/cpu/misc.h"

#include <string.h>

#define PAR_MIN 32768

/* sum over q < n of a[q * sa] (* b[q * sb] when b is given), accumulated
 * in double: this backend is the numerical reference */
VP_MISC_CLONES
static double dot_f32(const float *a, int64_t sa, const float *b, int64_t sb, int64_t n)
{
    if (!b) {
        double acc = 0;
        for (int64_t q = 0; q < n; q++)
            acc += a[q * sa];
        return acc;
    }
    if (sa == 1 && sb == 1) {
        double p[4] = {0};
        int64_t q = 0;
        for (; q + 4 <= n; q += 4)
            for (int j = 0; j < 4; j++)
                p[j] += (double)a[q + j] * b[q + j];
        for (; q < n; q++)
            p[0] += (double)a[q] * b[q];
        return (p[0] + p[1]) + (p[2] + p[3]);
    }
    double acc = 0;
    for (int64_t q = 0; q < n; q++)
        acc += (double)a[q * sa] * b[q * sb];
    return acc;
}

/* Float32, one or two inputs: the innermost summed label as dot_f32, an
 * odometer over the other summed labels. */
static void einsum_f32(const vp_einsum_plan *p, const float *const *x, float *y, int64_t n_out)
{
    int nin = p->n_in, no = p->n_out_labels, ns = p->n_labels - no;
    int64_t n_sum = 1, last = ns > 0 ? p->size[p->n_labels - 1] : 1;
    for (int l = no; l < p->n_labels; l++)
        n_sum *= p->size[l];
    int64_t sa = ns > 0 ? p->stride[0][p->n_labels - 1] : 0;
    int64_t sb = ns > 0 && nin > 1 ? p->stride[1][p->n_labels - 1] : 0;
    int64_t n_outer = last > 0 ? n_sum / last : 0; /* iterations of the other summed labels */
#pragma omp parallel for schedule(static) if (n_out * n_sum * nin > PAR_MIN && n_out > 1)
    for (int64_t e = 0; e < n_out; e++) {
        int64_t off[2] = {0, 0}, rem = e, idx[VP_EINSUM_MAX_LABELS] = {0};
        for (int l = no - 1; l >= 0; l--) {
            int64_t i = rem % p->size[l];
            rem /= p->size[l];
            for (int t = 0; t < nin; t++)
                off[t] += i * p->stride[t][l];
        }
        double acc = 0;
        for (int64_t s = 0; s < n_outer; s++) {
            acc += dot_f32(x[0] + off[0], sa, nin > 1 ? x[1] + off[1] : NULL, sb, last);
            /* odometer over the summed labels but the innermost */
            for (int k = ns - 2; k >= 0; k--) {
                int l = no + k;
                for (int t = 0; t < nin; t++)
                    off[t] += p->stride[t][l];
                if (++idx[k] < p->size[l])
                    break;
                for (int t = 0; t < nin; t++)
                    off[t] -= p->stride[t][l] * p->size[l];
                idx[k] = 0;
            }
        }
        y[e] = (float)acc;
    }
}

int vp_cpu_einsum_run(vp_op_ctx *c)
{
    vp_einsum_plan p;
    int rc = vp_misc_einsum_plan(c, &p);
    if (rc)
        return rc;
    vp_tensor *yt = c->out[0];
    vp_dtype dt = yt->dtype;
    int64_t n_out = vp_tensor_numel(yt), n_sum = 1, work;
    int nin = p.n_in, no = p.n_out_labels, ns = p.n_labels - p.n_out_labels;
    for (int l = no; l < p.n_labels; l++)
        n_sum *= p.size[l];
    work = n_out * n_sum * nin;
    const void *x[VP_EINSUM_MAX_IN];
    for (int t = 0; t < nin; t++)
        x[t] = c->in[t]->data;
    int is_int = vp_misc_is_int(dt);
    if (dt == VP_DT_FLOAT && nin <= 2) {
        const float *xf[2] = {x[0], nin > 1 ? x[1] : NULL};
        einsum_f32(&p, xf, yt->data, n_out);
        return VP_OK;
    }
#pragma omp parallel for schedule(static) if (work > PAR_MIN && n_out > 1)
    for (int64_t e = 0; e < n_out; e++) {
        int64_t off[VP_EINSUM_MAX_IN] = {0}, rem = e;
        for (int l = no - 1; l >= 0; l--) {
            int64_t i = rem % p.size[l];
            rem /= p.size[l];
            for (int t = 0; t < nin; t++)
                off[t] += i * p.stride[t][l];
        }
        int64_t idx[VP_EINSUM_MAX_LABELS] = {0};
        double acc = 0;
        int64_t acci = 0;
        for (int64_t s = 0; s < n_sum; s++) {
            if (is_int) {
                uint64_t v = 1; /* unsigned: wrap-around without UB */
                for (int t = 0; t < nin; t++)
                    v *= (uint64_t)vp_misc_ldi(x[t], dt, off[t]);
                acci = (int64_t)((uint64_t)acci + v);
            } else {
                double v = 1;
                for (int t = 0; t < nin; t++)
                    v *= vp_misc_ld(x[t], dt, off[t]);
                acc += v;
            }
            /* odometer over the summed labels, innermost last */
            for (int k = ns - 1; k >= 0; k--) {
                int l = no + k;
                for (int t = 0; t < nin; t++)
                    off[t] += p.stride[t][l];
                if (++idx[k] < p.size[l])
                    break;
                for (int t = 0; t < nin; t++)
                    off[t] -= p.stride[t][l] * p.size[l];
                idx[k] = 0;
            }
        }
        if (is_int)
            vp_misc_sti(yt->data, dt, e, acci);
        else
            vp_misc_st(yt->data, dt, e, acc);
    }
    return VP_OK;
}
