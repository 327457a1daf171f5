/* Op registry: the per-family tables joined for lookup, and helpers shared by
 * op implementations. */
#include "engine/ops.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define VP_FAMILY_PTR(f) vp_ops_##f,
static const vp_op_def *const op_families[] = {VP_OP_FAMILIES(VP_FAMILY_PTR)};
#undef VP_FAMILY_PTR
#define VP_FAMILY_PTR(f) vp_cpu_##f,
static const vp_kernel *const cpu_families[] = {VP_OP_FAMILIES(VP_FAMILY_PTR)};
#undef VP_FAMILY_PTR
#define N_FAMILIES (sizeof op_families / sizeof op_families[0])

const vp_op_def *vp_op_find(const char *op_type)
{
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (const vp_op_def *d = op_families[f]; d->name; d++)
            if (strcmp(d->name, op_type) == 0)
                return d;
    return NULL;
}

const vp_kernel *vp_kernel_find_in(const vp_kernel *const *families, size_t n, const char *op_type)
{
    for (size_t f = 0; f < n; f++)
        for (const vp_kernel *k = families[f]; k->name; k++)
            if (strcmp(k->name, op_type) == 0)
                return k;
    return NULL;
}

const vp_kernel *vp_cpu_kernel_find(const char *op_type)
{
    return vp_kernel_find_in(cpu_families, N_FAMILIES, op_type);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int vp_cpu_supported_ops(const char **names, int max)
{
    int n = 0;
    for (size_t f = 0; f < N_FAMILIES; f++)
        for (const vp_op_def *d = op_families[f]; d->name; d++)
            if (d->is_view || vp_cpu_kernel_find(d->name)) {
                if (n < max)
                    names[n] = d->name;
                n++;
            }
    qsort(names, (size_t)(n < max ? n : max), sizeof names[0], cmp_str);
    return n;
}

int vp_op_fail(vp_op_ctx *c, int status, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return status;
}

int vp_norm_axis(int64_t axis, int rank)
{
    if (axis < -rank || axis >= rank)
        return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

int vp_read_ints(const vp_tensor *t, int64_t *buf, int max)
{
    if (!t || !t->data || (t->dtype != VP_DT_INT64 && t->dtype != VP_DT_INT32))
        return -1;
    int64_t n = vp_tensor_numel(t);
    if (n < 0 || n > max)
        return -1;
    for (int64_t i = 0; i < n; i++)
        buf[i] = vp_tensor_get_i64(t, i);
    return (int)n;
}

void vp_set_out(vp_op_ctx *c, int i, vp_dtype dt, const vp_shape *s)
{
    if (i < c->n_out && c->out[i]) {
        c->out[i]->dtype = dt;
        c->out[i]->shape = *s;
    }
}
