/*
 * Resize (opset 10..19) and Upsample (7..9): attribute and input parsing,
 * shared by shape inference and the CPU kernel (cpu/misc_resize.c).
 *
 * Semantics follow ONNX's reference implementation, which is what the
 * backend node tests encode: the output size from scales is
 * floor(scale * in); the coordinate transform uses the given scale (not
 * out/in) and the "float output length" scale * in; an axis whose scale is 1
 * and whose size does not change is copied unchanged. Upsample and Resize-10
 * predate coordinate_transformation_mode: they map asymmetrically, and
 * nearest takes floor when upsampling and ceil when downsampling, as ONNX
 * Runtime does.
 */
#include "engine/ops/misc.h"

#include <math.h>
#include <string.h>

static int pick(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static const char *const coord_names[] = {
    [VP_RS_HALF_PIXEL] = "half_pixel",
    [VP_RS_HALF_PIXEL_SYMMETRIC] = "half_pixel_symmetric",
    [VP_RS_PYTORCH_HALF_PIXEL] = "pytorch_half_pixel",
    [VP_RS_ALIGN_CORNERS] = "align_corners",
    [VP_RS_ASYMMETRIC] = "asymmetric",
    [VP_RS_TF_HALF_PIXEL_FOR_NN] = "tf_half_pixel_for_nn",
    [VP_RS_TF_CROP_AND_RESIZE] = "tf_crop_and_resize",
};
static const char *const nearest_names[] = {
    [VP_RS_ROUND_PREFER_FLOOR] = "round_prefer_floor",
    [VP_RS_ROUND_PREFER_CEIL] = "round_prefer_ceil",
    [VP_RS_FLOOR] = "floor",
    [VP_RS_CEIL] = "ceil",
};

static int is_float_dt(vp_dtype dt)
{
    return dt == VP_DT_FLOAT || dt == VP_DT_DOUBLE || dt == VP_DT_FLOAT16;
}

/* An optional tensor input that is present and not empty. */
static const vp_tensor *given(const vp_op_ctx *c, int i)
{
    if (i >= c->n_in || !c->in[i] || vp_tensor_numel(c->in[i]) <= 0)
        return NULL;
    return c->in[i];
}

static int parse_modes(vp_op_ctx *c, vp_resize_params *p, int legacy)
{
    const vp_node *n = c->node;
    const char *mode = vp_attr_s(n, "mode", "nearest");
    if (strcmp(mode, "nearest") == 0)
        p->mode = VP_RS_NEAREST;
    else if (strcmp(mode, "linear") == 0 || (legacy && strcmp(mode, "bilinear") == 0))
        p->mode = VP_RS_LINEAR;
    else if (!legacy && strcmp(mode, "cubic") == 0)
        p->mode = VP_RS_CUBIC;
    else
        return vp_op_fail(c, VP_ERR_INVALID, "attribute mode='%s': nearest, linear%s expected", mode,
                          legacy ? "" : " or cubic");
    if (legacy) {
        p->coord = VP_RS_ASYMMETRIC;
        p->nearest = VP_RS_SIMPLE;
        return VP_OK;
    }
    const char *cm = vp_attr_s(n, "coordinate_transformation_mode", "half_pixel");
    p->coord = pick(cm, coord_names, (int)(sizeof coord_names / sizeof coord_names[0]));
    if (p->coord < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute coordinate_transformation_mode='%s' is not known", cm);
    const char *nm = vp_attr_s(n, "nearest_mode", "round_prefer_floor");
    p->nearest = pick(nm, nearest_names, (int)(sizeof nearest_names / sizeof nearest_names[0]));
    if (p->nearest < 0)
        return vp_op_fail(c, VP_ERR_INVALID, "attribute nearest_mode='%s' is not known", nm);
    p->cubic_a = vp_attr_f(n, "cubic_coeff_a", -0.75f);
    p->exclude_outside = vp_attr_i(n, "exclude_outside", 0) != 0;
    p->extrapolation = vp_attr_f(n, "extrapolation_value", 0.f);
    /* antialias only changes linear and cubic filters */
    p->antialias = vp_attr_i(n, "antialias", 0) != 0 && p->mode != VP_RS_NEAREST;
    return VP_OK;
}

int vp_misc_resize_params(vp_op_ctx *c, vp_resize_params *p)
{
    const vp_node *n = c->node;
    const vp_tensor *x = c->in[0];
    int upsample = strcmp(n->op_type, "Upsample") == 0;
    int legacy = upsample || c->opset < 11;
    int r = x->shape.rank;
    memset(p, 0, sizeof *p);
    p->rank = r;
    if (r < 1)
        return vp_op_fail(c, VP_ERR_SHAPE, "input 0 must have rank >= 1");
    int rc = parse_modes(c, p, legacy);
    if (rc)
        return rc;

    /* axes (opset 18): scales/sizes/roi describe only these axes */
    int axes[VP_MAX_DIMS], na = r;
    for (int i = 0; i < r; i++)
        axes[i] = i;
    if (!legacy) {
        int cnt;
        const int64_t *a = vp_attr_ints(n, "axes", &cnt);
        if (a) {
            int seen[VP_MAX_DIMS] = {0};
            if (cnt > r)
                return vp_op_fail(c, VP_ERR_INVALID, "attribute axes has %d entries, rank is %d", cnt, r);
            for (int i = 0; i < cnt; i++) {
                axes[i] = vp_norm_axis(a[i], r);
                if (axes[i] < 0 || seen[axes[i]]++)
                    return vp_op_fail(c, VP_ERR_INVALID, "attribute axes[%d]=%lld is out of range or repeated",
                                      i, (long long)a[i]);
            }
            na = cnt;
        }
    }

    /* resize order: the listed axes first, as given, then the others
     * (which are unchanged, so their place does not matter) */
    {
        int listed[VP_MAX_DIMS] = {0}, k = 0;
        for (int i = 0; i < na; i++) {
            p->order[k++] = axes[i];
            listed[axes[i]] = 1;
        }
        for (int i = 0; i < r; i++)
            if (!listed[i])
                p->order[k++] = i;
    }
    for (int i = 0; i < r; i++) {
        p->out[i] = x->shape.d[i];
        p->scale[i] = 1.0;
        p->roi_lo[i] = 0.0;
        p->roi_hi[i] = 1.0;
    }

    /* where the scales / sizes / roi come from */
    double sc[VP_MAX_DIMS];
    int have_scales = 0;
    const vp_tensor *roi = NULL, *scales = NULL, *sizes = NULL;
    if (upsample && c->opset < 9) {
        int cnt;
        const float *f = vp_attr_floats(n, "scales", &cnt);
        if (!f || cnt != r)
            return vp_op_fail(c, VP_ERR_INVALID, "attribute scales must have %d entries", r);
        for (int i = 0; i < r; i++)
            sc[i] = f[i];
        have_scales = 1;
    } else if (legacy) {
        scales = given(c, 1);
        if (!scales)
            return vp_op_fail(c, VP_ERR_INVALID, "input 1 (scales) is required");
    } else {
        roi = given(c, 1);
        scales = given(c, 2);
        sizes = given(c, 3);
        if (scales && sizes)
            return vp_op_fail(c, VP_ERR_INVALID, "only one of input 2 (scales) and input 3 (sizes) may be given");
        if (!scales && !sizes)
            return vp_op_fail(c, VP_ERR_INVALID, "one of input 2 (scales) and input 3 (sizes) is required");
    }
    if (scales) {
        if (!scales->data)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input %d (scales) must be constant", legacy ? 1 : 2);
        if (!is_float_dt(scales->dtype) || vp_tensor_numel(scales) != na)
            return vp_op_fail(c, VP_ERR_INVALID, "input scales must be %d floats", na);
        for (int i = 0; i < na; i++)
            sc[i] = vp_tensor_get_f64(scales, i);
        have_scales = 1;
    }
    if (have_scales) {
        for (int i = 0; i < na; i++) {
            int d = axes[i];
            if (!(sc[i] > 0.0) || !isfinite(sc[i]))
                return vp_op_fail(c, VP_ERR_INVALID, "scales[%d]=%g must be positive", i, sc[i]);
            p->scale[d] = sc[i];
            /* floor(scale * in), in double as ONNX's reference computes it */
            double o = floor(sc[i] * (double)x->shape.d[d]);
            if (o > (double)(INT64_C(1) << 40))
                return vp_op_fail(c, VP_ERR_INVALID, "scales[%d]=%g gives an implausible size", i, sc[i]);
            p->out[d] = (int64_t)o;
        }
    } else {
        int64_t sz[VP_MAX_DIMS];
        if (!sizes->data)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 3 (sizes) must be constant");
        if (vp_read_ints(sizes, sz, VP_MAX_DIMS) != na)
            return vp_op_fail(c, VP_ERR_INVALID, "input 3 (sizes) must be %d int64", na);
        const char *pol = vp_attr_s(n, "keep_aspect_ratio_policy", "stretch");
        int policy = strcmp(pol, "stretch") == 0 ? 0 : strcmp(pol, "not_larger") == 0 ? 1
                   : strcmp(pol, "not_smaller") == 0 ? 2 : -1;
        if (policy < 0)
            return vp_op_fail(c, VP_ERR_INVALID, "attribute keep_aspect_ratio_policy='%s' is not known", pol);
        double keep = policy == 1 ? INFINITY : -INFINITY;
        for (int i = 0; i < na; i++) {
            int d = axes[i];
            if (sz[i] < 0)
                return vp_op_fail(c, VP_ERR_INVALID, "sizes[%d]=%lld is negative", i, (long long)sz[i]);
            if (x->shape.d[d] == 0)
                return vp_op_fail(c, VP_ERR_SHAPE, "cannot resize an empty axis %d", d);
            p->out[d] = sz[i];
            p->scale[d] = (double)sz[i] / (double)x->shape.d[d];
            keep = policy == 1 ? fmin(keep, p->scale[d]) : fmax(keep, p->scale[d]);
        }
        if (policy) {
            for (int i = 0; i < na; i++) {
                int d = axes[i];
                p->scale[d] = keep;
                p->out[d] = (int64_t)(keep * (double)x->shape.d[d] + 0.5); /* round half up */
            }
        }
    }
    if (roi && p->coord == VP_RS_TF_CROP_AND_RESIZE) {
        if (!roi->data)
            return vp_op_fail(c, VP_ERR_UNSUPPORTED, "input 1 (roi) must be constant");
        if (!is_float_dt(roi->dtype) || vp_tensor_numel(roi) != 2 * na)
            return vp_op_fail(c, VP_ERR_INVALID, "input 1 (roi) must be %d floats", 2 * na);
        p->roi_f32 = roi->dtype == VP_DT_FLOAT;
        for (int i = 0; i < na; i++) {
            p->roi_lo[axes[i]] = vp_tensor_get_f64(roi, i);
            p->roi_hi[axes[i]] = vp_tensor_get_f64(roi, na + i);
            if (!isfinite(p->roi_lo[axes[i]]) || !isfinite(p->roi_hi[axes[i]]))
                return vp_op_fail(c, VP_ERR_INVALID, "input 1 (roi) has a non-finite value");
        }
    }
    for (int d = 0; d < r; d++) {
        /* math.isclose(scale, 1) with its default relative tolerance */
        int unit = fabs(p->scale[d] - 1.0) <= 1e-9 * fmax(fabs(p->scale[d]), 1.0);
        int full = p->coord != VP_RS_TF_CROP_AND_RESIZE ||
                   (p->roi_lo[d] == 0.0 && fabs(p->roi_hi[d] - 1.0) <= 1e-9);
        p->identity[d] = unit && p->out[d] == x->shape.d[d] && full;
    }
    return VP_OK;
}
