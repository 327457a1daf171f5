/* Tensor, shape and dtype helpers shared by the loader, the plan and ops. */
#include "engine/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t vp_dtype_size(vp_dtype dt)
{
    switch (dt) {
    case VP_DT_FLOAT: case VP_DT_INT32: case VP_DT_UINT32: return 4;
    case VP_DT_UINT8: case VP_DT_INT8: case VP_DT_BOOL: return 1;
    case VP_DT_UINT16: case VP_DT_INT16: case VP_DT_FLOAT16: return 2;
    case VP_DT_INT64: case VP_DT_DOUBLE: case VP_DT_UINT64: return 8;
    default: return 0;
    }
}

const char *vp_dtype_name(vp_dtype dt)
{
    switch (dt) {
    case VP_DT_FLOAT: return "float32";
    case VP_DT_UINT8: return "uint8";
    case VP_DT_INT8: return "int8";
    case VP_DT_UINT16: return "uint16";
    case VP_DT_INT16: return "int16";
    case VP_DT_INT32: return "int32";
    case VP_DT_INT64: return "int64";
    case VP_DT_STRING: return "string";
    case VP_DT_BOOL: return "bool";
    case VP_DT_FLOAT16: return "float16";
    case VP_DT_DOUBLE: return "float64";
    case VP_DT_UINT32: return "uint32";
    case VP_DT_UINT64: return "uint64";
    default: return "undefined";
    }
}

int64_t vp_shape_numel(const vp_shape *s)
{
    int64_t n = 1;
    if (s->rank < 0)
        return -1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] < 0)
            return -1;
        n *= s->d[i];
    }
    return n;
}

int64_t vp_tensor_numel(const vp_tensor *t) { return vp_shape_numel(&t->shape); }

size_t vp_tensor_bytes(const vp_tensor *t)
{
    int64_t n = vp_tensor_numel(t);
    return n < 0 ? 0 : (size_t)n * vp_dtype_size(t->dtype);
}

vp_tensor *vp_tensor_new(vp_dtype dt, const vp_shape *shape)
{
    vp_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->dtype = dt;
    t->shape = *shape;
    size_t bytes = vp_tensor_bytes(t);
    t->data = calloc(1, bytes ? bytes : 1);
    if (!t->data) {
        free(t);
        return NULL;
    }
    return t;
}

void vp_tensor_free(vp_tensor **t)
{
    if (!t || !*t)
        return;
    free((*t)->data);
    free(*t);
    *t = NULL;
}

vp_tensor *vp_tensor_clone(const vp_tensor *src)
{
    vp_tensor *t = vp_tensor_new(src->dtype, &src->shape);
    if (t && src->data)
        memcpy(t->data, src->data, vp_tensor_bytes(src));
    return t;
}

int64_t vp_tensor_get_i64(const vp_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case VP_DT_INT64: return ((const int64_t *)p)[i];
    case VP_DT_INT32: return ((const int32_t *)p)[i];
    case VP_DT_INT16: return ((const int16_t *)p)[i];
    case VP_DT_INT8: return ((const int8_t *)p)[i];
    case VP_DT_UINT8: case VP_DT_BOOL: return ((const uint8_t *)p)[i];
    case VP_DT_UINT16: return ((const uint16_t *)p)[i];
    case VP_DT_UINT32: return ((const uint32_t *)p)[i];
    case VP_DT_UINT64: return (int64_t)((const uint64_t *)p)[i];
    case VP_DT_FLOAT: return (int64_t)((const float *)p)[i];
    case VP_DT_DOUBLE: return (int64_t)((const double *)p)[i];
    case VP_DT_FLOAT16: return (int64_t)vp_half_to_float(((const uint16_t *)p)[i]);
    default: return 0;
    }
}

double vp_tensor_get_f64(const vp_tensor *t, int64_t i)
{
    const void *p = t->data;
    switch (t->dtype) {
    case VP_DT_FLOAT: return ((const float *)p)[i];
    case VP_DT_DOUBLE: return ((const double *)p)[i];
    case VP_DT_FLOAT16: return vp_half_to_float(((const uint16_t *)p)[i]);
    case VP_DT_UINT64: return (double)((const uint64_t *)p)[i];
    default: return (double)vp_tensor_get_i64(t, i);
    }
}

void vp_tensor_set_f64(vp_tensor *t, int64_t i, double v)
{
    void *p = t->data;
    switch (t->dtype) {
    case VP_DT_FLOAT: ((float *)p)[i] = (float)v; break;
    case VP_DT_DOUBLE: ((double *)p)[i] = v; break;
    case VP_DT_FLOAT16: ((uint16_t *)p)[i] = vp_float_to_half((float)v); break;
    case VP_DT_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
    case VP_DT_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case VP_DT_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case VP_DT_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case VP_DT_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case VP_DT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case VP_DT_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case VP_DT_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case VP_DT_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    default: break;
    }
}

const char *vp_shape_str(const vp_shape *s, char *buf, size_t len)
{
    size_t o = 0;
    if (s->rank < 0) {
        snprintf(buf, len, "[?]");
        return buf;
    }
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < s->rank && o < len; i++) {
        if (s->d[i] < 0)
            o += (size_t)snprintf(buf + o, len - o, "%s?", i ? "," : "");
        else
            o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)s->d[i]);
    }
    if (o < len)
        snprintf(buf + o, len - o, "]");
    return buf;
}

int vp_shape_eq(const vp_shape *a, const vp_shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->d[i] != b->d[i])
            return 0;
    return 1;
}

int vp_shape_broadcast(const vp_shape *a, const vp_shape *b, vp_shape *out)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    vp_shape o;
    o.rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da == db || db == 1)
            o.d[i] = da;
        else if (da == 1)
            o.d[i] = db;
        else
            return VP_ERR_SHAPE;
    }
    *out = o;
    return VP_OK;
}

float vp_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    float f;
    if (exp == 0) {
        f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    if (exp == 31)
        bits = sign | 0x7f800000u | (man << 13);
    else
        bits = sign | ((exp + 112) << 23) | (man << 13);
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t vp_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t man = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) /* inf / nan */
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++;
    return (uint16_t)half;
}
