/*
 * CPU elementwise family: what elementwise.c (broadcasting binary, variadic
 * and ternary ops, the kernel table) and elementwise_unary.c (unary math,
 * activations, Clip, Cast) share.
 *
 * Kernels are generated per dtype from the type lists below, so the switch
 * on dtype happens once per call (a table lookup), never per element. Each
 * type is described as
 *   (tag, vp_dtype, storage type T, compute type C, wrap type U, load, store)
 * where C is what arithmetic is done in (float for float16), U is an
 * unsigned type at least as wide as int for integers, so that integer
 * add/sub/mul/neg wrap modulo 2^bits as ONNX Runtime and numpy do instead of
 * being undefined behaviour in C, and load/store convert T <-> C.
 */
#ifndef VP_ENGINE_CPU_ELEMENTWISE_H
#define VP_ENGINE_CPU_ELEMENTWISE_H

#include "engine/ops.h"

#include <stdint.h>

#define VP_EW_LD(x) (x)
#define VP_EW_ST(x) (x)
#define VP_EW_LDH(x) vp_half_to_float(x)
#define VP_EW_STH(x) vp_float_to_half(x)

/* Float types: M(a, b, <type description>) for each. */
#define VP_EW_FLT(M, a, b)                                                     \
    M(a, b, f32, VP_DT_FLOAT, float, float, float, VP_EW_LD, VP_EW_ST)          \
    M(a, b, f64, VP_DT_DOUBLE, double, double, double, VP_EW_LD, VP_EW_ST)      \
    M(a, b, f16, VP_DT_FLOAT16, uint16_t, float, float, VP_EW_LDH, VP_EW_STH)
#define VP_EW_SINT(M, a, b)                                                    \
    M(a, b, i8, VP_DT_INT8, int8_t, int8_t, uint32_t, VP_EW_LD, VP_EW_ST)       \
    M(a, b, i16, VP_DT_INT16, int16_t, int16_t, uint32_t, VP_EW_LD, VP_EW_ST)   \
    M(a, b, i32, VP_DT_INT32, int32_t, int32_t, uint32_t, VP_EW_LD, VP_EW_ST)   \
    M(a, b, i64, VP_DT_INT64, int64_t, int64_t, uint64_t, VP_EW_LD, VP_EW_ST)
#define VP_EW_UINT(M, a, b)                                                    \
    M(a, b, u8, VP_DT_UINT8, uint8_t, uint8_t, uint32_t, VP_EW_LD, VP_EW_ST)    \
    M(a, b, u16, VP_DT_UINT16, uint16_t, uint16_t, uint32_t, VP_EW_LD, VP_EW_ST) \
    M(a, b, u32, VP_DT_UINT32, uint32_t, uint32_t, uint32_t, VP_EW_LD, VP_EW_ST) \
    M(a, b, u64, VP_DT_UINT64, uint64_t, uint64_t, uint64_t, VP_EW_LD, VP_EW_ST)
#define VP_EW_BOOL(M, a, b)                                                    \
    M(a, b, b8, VP_DT_BOOL, uint8_t, uint8_t, uint32_t, VP_EW_LD, VP_EW_ST)

/* Size of per-dtype function tables (vp_dtype values are < 14). */
#define VP_EW_NDT 14

/* Elements below which a loop stays single-threaded: thread start-up costs
 * a few microseconds, about what one core needs for this many elements. */
#define VP_EW_PAR_MIN 32768
/* Elements per parallel work item. */
#define VP_EW_CHUNK 8192

/* Run fn(ctx, begin, count) over [0, n) in chunks, in parallel when large. */
void vp_ew_parallel(int64_t n, void (*fn)(void *ctx, int64_t begin, int64_t count), void *ctx);

/* Float32 Sigmoid and SiLU (x * Sigmoid(x), as an unfused Sigmoid -> Mul
 * computes it) over n elements, single-threaded (the caller splits work),
 * with the numerics of the Sigmoid kernel (vectorised exp, <= 2.5 ulp).
 * o may equal x. For fused activations (vp_cpu_act) to match the ops. */
void vp_ew_sigmoid_f32(float *o, const float *x, int64_t n);
void vp_ew_silu_f32(float *o, const float *x, int64_t n);

/* Run entry points implemented in elementwise_unary.c. */
#define VP_EW_UNARY_OPS(X)                                                     \
    X(Abs) X(Neg) X(Sign) X(Sqrt) X(Exp) X(Log) X(Tanh) X(Erf) X(Floor)        \
    X(Ceil) X(Round) X(Reciprocal) X(Sin) X(Cos) X(Not) X(Relu) X(Sigmoid)     \
    X(HardSigmoid) X(HardSwish) X(LeakyRelu) X(Elu) X(Selu) X(Celu)            \
    X(Softplus) X(Softsign) X(ThresholdedRelu) X(Gelu) X(Mish) X(Clip)         \
    X(Cast) X(CastLike) X(Tan) X(Asin) X(Acos) X(Atan) X(Sinh) X(Cosh)        \
    X(Asinh) X(Acosh) X(Atanh) X(IsNaN) X(IsInf) X(Shrink)

#define VP_EW_DECLARE_RUN(op) int vp_ew_run_##op(vp_op_ctx *c);
VP_EW_UNARY_OPS(VP_EW_DECLARE_RUN)
#undef VP_EW_DECLARE_RUN

#endif
