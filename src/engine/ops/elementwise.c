/*
 * Op schemas (shape and type inference): elementwise family.
 *
 * Binary and variadic arithmetic, comparisons, logic and BitShift with numpy
 * multidirectional broadcasting, Where, unary math (including trigonometric
 * and hyperbolic functions, IsNaN, IsInf), activations, Shrink, Clip, Cast
 * and CastLike. Every op here keeps the element order: the output shape is
 * the broadcast of the input shapes (or input 0's shape), so inference is
 * only dtype checks plus vp_shape_broadcast. Dtypes are checked against the
 * ONNX type constraints of the newest opset (older opsets allow a subset, and
 * accepting more than a model's opset allows is harmless). Dtypes the engine
 * cannot hold (string, bfloat16, float8) are VP_ERR_UNSUPPORTED.
 */
#include "engine/ops.h"

#include <string.h>

/* Dtype sets as bit masks over vp_dtype. */
#define DT(d) (1u << (d))
#define FLT (DT(VP_DT_FLOAT) | DT(VP_DT_DOUBLE) | DT(VP_DT_FLOAT16))
#define SINT (DT(VP_DT_INT8) | DT(VP_DT_INT16) | DT(VP_DT_INT32) | DT(VP_DT_INT64))
#define UINT (DT(VP_DT_UINT8) | DT(VP_DT_UINT16) | DT(VP_DT_UINT32) | DT(VP_DT_UINT64))
#define NUM (FLT | SINT | UINT)
#define BOOL DT(VP_DT_BOOL)
#define ANY (NUM | BOOL)

static int has_dt(unsigned mask, vp_dtype dt)
{
    return dt > 0 && dt < 32 && (mask & DT(dt));
}

static const char *mask_name(unsigned mask)
{
    switch (mask) {
    case FLT: return "float16/float32/float64";
    case NUM: return "a numeric type";
    case BOOL: return "bool";
    case ANY: return "a numeric type or bool";
    case FLT | SINT: return "a signed numeric type";
    default: return "one of the types the op allows";
    }
}

/* Input i must be present and of a dtype in mask. Every infer below checks
 * input 0 first, so that check also makes sure output 0 exists (kernels
 * write it unconditionally). */
static int check_in(vp_op_ctx *c, int i, unsigned mask)
{
    if (i == 0 && (c->n_out < 1 || !c->out[0]))
        return vp_op_fail(c, VP_ERR_INVALID, "output 0 is required");
    if (i >= c->n_in || !c->in[i])
        return vp_op_fail(c, VP_ERR_INVALID, "input %d is required", i);
    vp_dtype dt = c->in[i]->dtype;
    /* string, and types vp_dtype cannot hold (bfloat16, float8: the loader
     * leaves them undefined), are valid ONNX the engine does not implement. */
    if (dt == VP_DT_STRING || vp_dtype_size(dt) == 0)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input %d: dtype %s is not supported", i,
                          dt == VP_DT_STRING ? "string" : "undefined (bfloat16/float8?)");
    if (!has_dt(mask, dt))
        return vp_op_fail(c, VP_ERR_INVALID, "input %d has dtype %s; expected %s", i,
                          vp_dtype_name(dt), mask_name(mask));
    return VP_OK;
}

static int check_same_dt(vp_op_ctx *c, int i, int j)
{
    if (c->in[i]->dtype != c->in[j]->dtype)
        return vp_op_fail(c, VP_ERR_INVALID, "inputs %d and %d differ in dtype (%s vs %s)", i, j,
                          vp_dtype_name(c->in[i]->dtype), vp_dtype_name(c->in[j]->dtype));
    return VP_OK;
}

/* Broadcast the shapes of inputs [0, n) into *out. */
static int bcast_inputs(vp_op_ctx *c, int n, vp_shape *out)
{
    vp_shape s = c->in[0]->shape;
    for (int i = 1; i < n; i++) {
        vp_shape r;
        if (vp_shape_broadcast(&s, &c->in[i]->shape, &r) != VP_OK) {
            char a[96], b[96];
            return vp_op_fail(c, VP_ERR_SHAPE, "input %d shape %s does not broadcast with %s", i,
                              vp_shape_str(&c->in[i]->shape, b, sizeof b),
                              vp_shape_str(&s, a, sizeof a));
        }
        s = r;
    }
    *out = s;
    return VP_OK;
}

/* n-ary op over inputs of one dtype in mask, broadcast; output dtype is the
 * input dtype, or bool when out_bool. */
static int infer_nary(vp_op_ctx *c, unsigned mask, int out_bool)
{
    int rc;
    vp_shape s;
    if (c->n_in < 1)
        return vp_op_fail(c, VP_ERR_INVALID, "needs at least one input");
    for (int i = 0; i < c->n_in; i++) {
        if ((rc = check_in(c, i, mask)))
            return rc;
        if (i && (rc = check_same_dt(c, 0, i)))
            return rc;
    }
    if ((rc = bcast_inputs(c, c->n_in, &s)))
        return rc;
    vp_set_out(c, 0, out_bool ? VP_DT_BOOL : c->in[0]->dtype, &s);
    return VP_OK;
}

static int infer_unary(vp_op_ctx *c, unsigned mask)
{
    int rc = check_in(c, 0, mask);
    if (rc)
        return rc;
    vp_set_out(c, 0, c->in[0]->dtype, &c->in[0]->shape);
    return VP_OK;
}

/* Binary / variadic ----------------------------------------------------- */
static int infer_arith(vp_op_ctx *c) { return infer_nary(c, NUM, 0); }
static int infer_float_nary(vp_op_ctx *c) { return infer_nary(c, FLT, 0); }
static int infer_compare(vp_op_ctx *c) { return infer_nary(c, NUM, 1); }
static int infer_equal(vp_op_ctx *c) { return infer_nary(c, ANY, 1); }
static int infer_logic(vp_op_ctx *c) { return infer_nary(c, BOOL, 1); }

static int infer_bitshift(vp_op_ctx *c)
{
    const char *dir = vp_attr_s(c->node, "direction", "");
    if (strcmp(dir, "LEFT") != 0 && strcmp(dir, "RIGHT") != 0)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute direction must be \"LEFT\" or \"RIGHT\", got \"%s\"",
                          dir);
    return infer_nary(c, UINT, 0);
}

static int infer_mod(vp_op_ctx *c)
{
    int64_t fmod_ = vp_attr_i(c->node, "fmod", 0);
    if (fmod_ != 0 && fmod_ != 1)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute fmod must be 0 or 1, got %lld",
                          (long long)fmod_);
    /* ONNX requires fmod=1 for floating inputs; fmod=0 on floats is still
     * well defined (numpy's mod, sign of the divisor), so it is accepted. */
    return infer_nary(c, NUM, 0);
}

static int infer_pow(vp_op_ctx *c)
{
    const unsigned base = FLT | DT(VP_DT_INT32) | DT(VP_DT_INT64);
    int rc;
    vp_shape s;
    if ((rc = check_in(c, 0, base)) || (rc = check_in(c, 1, NUM)))
        return rc;
    /* Before opset 12 base and exponent share one type. */
    if (c->opset < 12 && (rc = check_same_dt(c, 0, 1)))
        return rc;
    if ((rc = bcast_inputs(c, 2, &s)))
        return rc;
    vp_set_out(c, 0, c->in[0]->dtype, &s);
    return VP_OK;
}

static int infer_where(vp_op_ctx *c)
{
    int rc;
    vp_shape s;
    if ((rc = check_in(c, 0, BOOL)) || (rc = check_in(c, 1, ANY)) || (rc = check_in(c, 2, ANY)) ||
        (rc = check_same_dt(c, 1, 2)))
        return rc;
    if ((rc = bcast_inputs(c, 3, &s)))
        return rc;
    vp_set_out(c, 0, c->in[1]->dtype, &s);
    return VP_OK;
}

/* PRelu: slope broadcasts unidirectionally to X (output has X's shape). */
static int infer_prelu(vp_op_ctx *c)
{
    int rc;
    vp_shape s;
    if ((rc = check_in(c, 0, NUM)) || (rc = check_in(c, 1, NUM)) || (rc = check_same_dt(c, 0, 1)))
        return rc;
    if (vp_shape_broadcast(&c->in[0]->shape, &c->in[1]->shape, &s) != VP_OK ||
        !vp_shape_eq(&s, &c->in[0]->shape)) {
        char a[96], b[96];
        return vp_op_fail(c, VP_ERR_SHAPE, "slope shape %s does not broadcast to X shape %s",
                          vp_shape_str(&c->in[1]->shape, b, sizeof b),
                          vp_shape_str(&c->in[0]->shape, a, sizeof a));
    }
    vp_set_out(c, 0, c->in[0]->dtype, &s);
    return VP_OK;
}

/* Unary ------------------------------------------------------------------ */
static int infer_un_float(vp_op_ctx *c) { return infer_unary(c, FLT); }
static int infer_un_num(vp_op_ctx *c) { return infer_unary(c, NUM); }
static int infer_un_signed(vp_op_ctx *c) { return infer_unary(c, FLT | SINT); }
static int infer_un_bool(vp_op_ctx *c) { return infer_unary(c, BOOL); }

/* IsNaN, IsInf: float in, bool out. */
static int infer_isclass(vp_op_ctx *c)
{
    int rc = check_in(c, 0, FLT);
    if (rc)
        return rc;
    vp_set_out(c, 0, VP_DT_BOOL, &c->in[0]->shape);
    return VP_OK;
}

static int infer_celu(vp_op_ctx *c)
{
    if (vp_attr_f(c->node, "alpha", 1.f) == 0.f)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute alpha must be non-zero");
    return infer_unary(c, FLT);
}

static int infer_gelu(vp_op_ctx *c)
{
    const char *ap = vp_attr_s(c->node, "approximate", "none");
    if (strcmp(ap, "none") != 0 && strcmp(ap, "tanh") != 0)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute approximate must be \"none\" or \"tanh\", got \"%s\"",
                          ap);
    return infer_unary(c, FLT);
}

static int infer_clip(vp_op_ctx *c)
{
    int rc;
    if (c->opset < 11) {
        if (c->n_in != 1)
            return vp_op_fail(c, VP_ERR_INVALID, "Clip-%d takes one input, got %d", c->opset, c->n_in);
        return infer_unary(c, FLT);
    }
    if ((rc = check_in(c, 0, NUM)))
        return rc;
    for (int i = 1; i < c->n_in && i < 3; i++) {
        if (!c->in[i])
            continue;
        if ((rc = check_same_dt(c, 0, i)))
            return rc;
        /* The spec says scalar; exporters also emit shape [1]. */
        if (vp_tensor_numel(c->in[i]) != 1) {
            char b[96];
            return vp_op_fail(c, VP_ERR_SHAPE, "input %d (%s) must be a scalar, has shape %s", i,
                              i == 1 ? "min" : "max", vp_shape_str(&c->in[i]->shape, b, sizeof b));
        }
    }
    vp_set_out(c, 0, c->in[0]->dtype, &c->in[0]->shape);
    return VP_OK;
}

/* Cast targets the engine can hold; string, bfloat16 and float8 are not. */
static int cast_target(vp_op_ctx *c, int64_t to, const char *what)
{
    if (to <= 0 || to > 23)
        return vp_op_fail(c, VP_ERR_INVALID, "%s: %lld is not an ONNX data type", what, (long long)to);
    if (to == VP_DT_STRING || !has_dt(ANY, (vp_dtype)to))
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "%s: cast to data type %lld (%s) is not supported",
                          what, (long long)to,
                          to == VP_DT_STRING ? "string" : to == 16 ? "bfloat16" : "float8/int4/complex");
    return VP_OK;
}

static int infer_cast(vp_op_ctx *c)
{
    const vp_attr *a = vp_attr_find(c->node, "to");
    int rc;
    if (!a || a->type != VP_ATTR_INT)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute 'to' (int) is required");
    if ((rc = check_in(c, 0, ANY)) || (rc = cast_target(c, a->i, "attribute 'to'")))
        return rc;
    vp_set_out(c, 0, (vp_dtype)a->i, &c->in[0]->shape);
    return VP_OK;
}

static int infer_castlike(vp_op_ctx *c)
{
    int rc;
    if ((rc = check_in(c, 0, ANY)))
        return rc;
    if (c->n_in < 2 || !c->in[1])
        return vp_op_fail(c, VP_ERR_INVALID, "input 1 (target_type) is required");
    if ((rc = cast_target(c, c->in[1]->dtype, "input 1 (target_type)")))
        return rc;
    vp_set_out(c, 0, c->in[1]->dtype, &c->in[0]->shape);
    return VP_OK;
}

const vp_op_def vp_ops_elementwise[] = {
    /* name, min_inputs, max_inputs, is_view, infer */
    {"Add", 2, 2, 0, infer_arith},
    {"Sub", 2, 2, 0, infer_arith},
    {"Mul", 2, 2, 0, infer_arith},
    {"Div", 2, 2, 0, infer_arith},
    {"Mod", 2, 2, 0, infer_mod},
    {"Pow", 2, 2, 0, infer_pow},
    {"Max", 1, -1, 0, infer_arith},
    {"Min", 1, -1, 0, infer_arith},
    {"Sum", 1, -1, 0, infer_float_nary},
    {"Mean", 1, -1, 0, infer_float_nary},
    {"Equal", 2, 2, 0, infer_equal},
    {"Less", 2, 2, 0, infer_compare},
    {"Greater", 2, 2, 0, infer_compare},
    {"LessOrEqual", 2, 2, 0, infer_compare},
    {"GreaterOrEqual", 2, 2, 0, infer_compare},
    {"And", 2, 2, 0, infer_logic},
    {"Or", 2, 2, 0, infer_logic},
    {"Xor", 2, 2, 0, infer_logic},
    {"Not", 1, 1, 0, infer_un_bool},
    {"Where", 3, 3, 0, infer_where},
    {"Abs", 1, 1, 0, infer_un_num},
    {"Neg", 1, 1, 0, infer_un_signed},
    {"Sign", 1, 1, 0, infer_un_num},
    {"Sqrt", 1, 1, 0, infer_un_float},
    {"Exp", 1, 1, 0, infer_un_float},
    {"Log", 1, 1, 0, infer_un_float},
    {"Tanh", 1, 1, 0, infer_un_float},
    {"Erf", 1, 1, 0, infer_un_float},
    {"Floor", 1, 1, 0, infer_un_float},
    {"Ceil", 1, 1, 0, infer_un_float},
    {"Round", 1, 1, 0, infer_un_float},
    {"Reciprocal", 1, 1, 0, infer_un_float},
    {"Sin", 1, 1, 0, infer_un_float},
    {"Cos", 1, 1, 0, infer_un_float},
    {"Relu", 1, 1, 0, infer_un_signed},
    {"Sigmoid", 1, 1, 0, infer_un_float},
    {"HardSigmoid", 1, 1, 0, infer_un_float},
    {"HardSwish", 1, 1, 0, infer_un_float},
    {"LeakyRelu", 1, 1, 0, infer_un_float},
    {"Elu", 1, 1, 0, infer_un_float},
    {"Selu", 1, 1, 0, infer_un_float},
    {"Celu", 1, 1, 0, infer_celu},
    {"Softplus", 1, 1, 0, infer_un_float},
    {"Softsign", 1, 1, 0, infer_un_float},
    {"ThresholdedRelu", 1, 1, 0, infer_un_float},
    {"Gelu", 1, 1, 0, infer_gelu},
    {"Mish", 1, 1, 0, infer_un_float},
    {"PRelu", 2, 2, 0, infer_prelu},
    {"Tan", 1, 1, 0, infer_un_float},
    {"Asin", 1, 1, 0, infer_un_float},
    {"Acos", 1, 1, 0, infer_un_float},
    {"Atan", 1, 1, 0, infer_un_float},
    {"Sinh", 1, 1, 0, infer_un_float},
    {"Cosh", 1, 1, 0, infer_un_float},
    {"Asinh", 1, 1, 0, infer_un_float},
    {"Acosh", 1, 1, 0, infer_un_float},
    {"Atanh", 1, 1, 0, infer_un_float},
    {"IsNaN", 1, 1, 0, infer_isclass},
    {"IsInf", 1, 1, 0, infer_isclass},
    {"Shrink", 1, 1, 0, infer_un_num},
    {"BitShift", 2, 2, 0, infer_bitshift},
    {"Clip", 1, 3, 0, infer_clip},
    {"Cast", 1, 1, 0, infer_cast},
    {"CastLike", 2, 2, 0, infer_castlike},
    {0},
};
