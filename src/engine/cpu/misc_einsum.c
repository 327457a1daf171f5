/*
 * CPU kernel: Einsum.
 *
 * The equation is parsed (ops/misc_einsum.c) into labels with an extent and
 * a per-input element stride; the kernel walks the output labels (one
 * output element per iteration, in parallel) and, inside, the summed labels
 * with an odometer, multiplying the inputs' elements. Diagonals and
 * broadcasting fall out of the strides. Float32 accumulates in float32
 * like numpy's einsum, the other float types in double, integers in int64.
 * This is the correctness path: exported models rarely use Einsum on hot
 * paths, and those that do (attention written as einsum) get reasonable
 * speed from the contiguous innermost summed label.
 */
#include "engine/cpu/misc.h"

#include <string.h>

#define PAR_MIN 32768

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
        float accf = 0;
        int64_t acci = 0;
        for (int64_t s = 0; s < n_sum; s++) {
            if (dt == VP_DT_FLOAT) {
                float v = 1;
                for (int t = 0; t < nin; t++)
                    v *= ((const float *)x[t])[off[t]];
                accf += v;
            } else if (is_int) {
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
        if (dt == VP_DT_FLOAT)
            ((float *)yt->data)[e] = accf;
        else if (is_int)
            vp_misc_sti(yt->data, dt, e, acci);
        else
            vp_misc_st(yt->data, dt, e, acc);
    }
    return VP_OK;
}
