/*
 * CPU kernels of the misc family: entry points defined in cpu/misc_*.c and
 * listed in the table in cpu/misc.c, plus element load/store helpers for
 * the generic (any dtype) paths.
 *
 * Float32 has dedicated fast paths everywhere; the other dtypes go through
 * ld_f64/st_f64 (a switch per element), which is exact for every float type
 * and for integers up to 2^53, and rounds half to even and saturates when
 * storing into an integer type (as ONNX's reference saturate_cast does).
 */
#ifndef VP_ENGINE_CPU_MISC_H
#define VP_ENGINE_CPU_MISC_H

#include "engine/ops/misc.h"

#include <math.h>
#include <stdint.h>

/* Hot leaf loops get an AVX2 clone, chosen at load time (ifunc), while the
 * build itself targets baseline x86-64. Plain "avx2" rather than an
 * architecture level: virtual machines often hide one of a level's other
 * features (MOVBE, LZCNT...), which would silently select the SSE2 clone.
 * Only leaf functions (no OpenMP regions inside) carry it. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define VP_MISC_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef VP_MISC_CLONES
#define VP_MISC_CLONES
#endif

int vp_cpu_resize_prepare(vp_op_ctx *c);
int vp_cpu_resize_run(vp_op_ctx *c);
void vp_cpu_resize_release(void *state);

int vp_cpu_einsum_run(vp_op_ctx *c);

int vp_cpu_nms_prepare(vp_op_ctx *c);
int vp_cpu_nms_run(vp_op_ctx *c);

static inline double vp_misc_ld(const void *p, vp_dtype dt, int64_t i)
{
    switch (dt) {
    case VP_DT_FLOAT: return ((const float *)p)[i];
    case VP_DT_DOUBLE: return ((const double *)p)[i];
    case VP_DT_FLOAT16: return vp_half_to_float(((const uint16_t *)p)[i]);
    case VP_DT_INT8: return ((const int8_t *)p)[i];
    case VP_DT_UINT8: case VP_DT_BOOL: return ((const uint8_t *)p)[i];
    case VP_DT_INT16: return ((const int16_t *)p)[i];
    case VP_DT_UINT16: return ((const uint16_t *)p)[i];
    case VP_DT_INT32: return ((const int32_t *)p)[i];
    case VP_DT_UINT32: return ((const uint32_t *)p)[i];
    case VP_DT_INT64: return (double)((const int64_t *)p)[i];
    case VP_DT_UINT64: return (double)((const uint64_t *)p)[i];
    default: return 0;
    }
}

static inline double vp_misc_sat(double v, double lo, double hi)
{
    v = nearbyint(v);
    return v < lo ? lo : v > hi ? hi : v;
}

/* Store v as element i; integer targets round half to even and saturate. */
static inline void vp_misc_st(void *p, vp_dtype dt, int64_t i, double v)
{
    if (dt != VP_DT_FLOAT && dt != VP_DT_DOUBLE && dt != VP_DT_FLOAT16 && isnan(v))
        v = 0;
    switch (dt) {
    case VP_DT_FLOAT: ((float *)p)[i] = (float)v; break;
    case VP_DT_DOUBLE: ((double *)p)[i] = v; break;
    case VP_DT_FLOAT16: ((uint16_t *)p)[i] = vp_float_to_half((float)v); break;
    case VP_DT_INT8: ((int8_t *)p)[i] = (int8_t)vp_misc_sat(v, -128, 127); break;
    case VP_DT_UINT8: ((uint8_t *)p)[i] = (uint8_t)vp_misc_sat(v, 0, 255); break;
    case VP_DT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case VP_DT_INT16: ((int16_t *)p)[i] = (int16_t)vp_misc_sat(v, -32768, 32767); break;
    case VP_DT_UINT16: ((uint16_t *)p)[i] = (uint16_t)vp_misc_sat(v, 0, 65535); break;
    case VP_DT_INT32: ((int32_t *)p)[i] = (int32_t)vp_misc_sat(v, -2147483648.0, 2147483647.0); break;
    case VP_DT_UINT32: ((uint32_t *)p)[i] = (uint32_t)vp_misc_sat(v, 0, 4294967295.0); break;
    case VP_DT_INT64: ((int64_t *)p)[i] = (int64_t)vp_misc_sat(v, -9223372036854775808.0, 9223372036854774784.0); break;
    case VP_DT_UINT64: ((uint64_t *)p)[i] = (uint64_t)vp_misc_sat(v, 0, 18446744073709549568.0); break;
    default: break;
    }
}

/* Integer element as int64 (uint64 wraps), for exact integer paths. */
static inline int64_t vp_misc_ldi(const void *p, vp_dtype dt, int64_t i)
{
    switch (dt) {
    case VP_DT_INT8: return ((const int8_t *)p)[i];
    case VP_DT_UINT8: case VP_DT_BOOL: return ((const uint8_t *)p)[i];
    case VP_DT_INT16: return ((const int16_t *)p)[i];
    case VP_DT_UINT16: return ((const uint16_t *)p)[i];
    case VP_DT_INT32: return ((const int32_t *)p)[i];
    case VP_DT_UINT32: return ((const uint32_t *)p)[i];
    case VP_DT_INT64: return ((const int64_t *)p)[i];
    case VP_DT_UINT64: return (int64_t)((const uint64_t *)p)[i];
    default: return 0;
    }
}

/* Store an integer, truncating to the type's width (two's complement wrap). */
static inline void vp_misc_sti(void *p, vp_dtype dt, int64_t i, int64_t v)
{
    switch (dt) {
    case VP_DT_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case VP_DT_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case VP_DT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case VP_DT_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case VP_DT_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case VP_DT_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case VP_DT_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case VP_DT_INT64: ((int64_t *)p)[i] = v; break;
    case VP_DT_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    default: break;
    }
}

static inline int vp_misc_is_int(vp_dtype dt)
{
    return dt != VP_DT_FLOAT && dt != VP_DT_DOUBLE && dt != VP_DT_FLOAT16;
}

#endif
