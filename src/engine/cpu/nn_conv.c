/*
 * Conv and ConvTranspose on the CPU, through oneDNN convolution and
 * deconvolution primitives.
 *
 * prepare() builds everything once: the primitive (weights in the layout
 * oneDNN prefers, src/dst layout decided by conv_src_dst_layout()), reorders
 * between our plain NC[D]HW tensors and the primitive's layouts when they
 * differ, and the node's fused post-ops (activation, residual Add) as oneDNN
 * post-ops. Constant weights (the usual case) are reordered once, here. run()
 * only binds data handles and executes, so it allocates nothing.
 *
 * Memory: the primitive's blocked src and dst, its user-mode scratchpad and
 * (when W is not constant) its reordered weights are per-run temporaries,
 * so they live in the plan's shared scratch (vp_op_ctx.scratch, sized from
 * the scratch_bytes set here), bound per run, rather than in private
 * buffers per conv: one region reused by every conv stays warm in cache.
 * Only the reordered constant weights are owned by the conv.
 *
 * Post-ops are fused only as far as oneDNN keeps the implementation it
 * uses without them (choose_postops); the rest run in C on the output. If
 * oneDNN declines the convolution itself (odd paddings, no implementation),
 * a direct plain-C convolution runs instead; it is also the reference for
 * what the primitives must compute.
 *
 * Constant weights: W flagged constant by the plan (in_const[1]: data
 * pointer stable, contents never change) is reordered once, at prepare, and
 * never checked again. Any other W is reordered on every run.
 */
#include "engine/cpu/nn.h"
#include "engine/ops/nn.h"
#include "base/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_CONV, KIND_CONVT } conv_kind;

/* Layout of the primitive's src and dst: the tensors between ops are plain,
 * so LAYOUT_ANY costs a reorder on each side (and buys oneDNN's blocked
 * kernels). */
typedef enum { LAYOUT_PLAIN, LAYOUT_ANY } conv_layout;

typedef struct conv_state {
    conv_kind kind;
    vp_nn_geom g;
    int naive;          /* 1: plain-C path, no oneDNN objects */
    int nhwc;           /* node->layout is NHWC: X, Y (and addends) channels-last, W [O,kH,kW,I] */
    int n_fused;        /* node->post[0..n_fused) are oneDNN post-ops of prim;
                           the rest run in C after it */
    int wei_const;      /* W is a constant: m_wei (owned) reordered once at prepare */
    /* Byte offsets in the shared scratch of the buffers bound per run (-1:
     * not used), and the bytes needed in all. */
    int64_t off_src, off_dst, off_wei, off_scr;
    size_t scratch_need;
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    dnnl_primitive_desc_t pd, pd_rsrc, pd_rdst, pd_rwei;
    dnnl_primitive_t prim, r_src, r_dst, r_wei;
    /* u_*: views of our plain tensors, handles bound per run. m_*: the
     * primitive's own buffers when its layout differs (NULL otherwise); all
     * but a constant m_wei point into the shared scratch, bound per run. */
    dnnl_memory_t u_src, u_dst, u_wei, u_bias, m_src, m_dst, m_wei, m_scratch;
    /* The first residual Add is a sum post-op: its addend is copied into the
     * primitive's dst (r_sum: plain -> dst layout) before it runs. Further
     * Adds are binary post-ops reading the plain addend. */
    int sum_input;      /* node input index of the sum addend, -1 if none */
    dnnl_primitive_desc_t pd_rsum;
    dnnl_primitive_t r_sum;
    dnnl_memory_t u_sum;
    dnnl_memory_t u_post[VP_MAX_POSTOPS]; /* addends of binary post-ops */
    int post_input[VP_MAX_POSTOPS];       /* their node input index */
    int post_index[VP_MAX_POSTOPS];       /* their index in the oneDNN chain */
    int n_bin;
    dnnl_exec_arg_t args[5 + VP_MAX_POSTOPS];
    int nargs;
} conv_state;

static void destroy_pd(dnnl_primitive_desc_t *p)
{
    if (*p)
        dnnl_primitive_desc_destroy(*p);
    *p = NULL;
}

static void destroy_prim(dnnl_primitive_t *p)
{
    if (*p)
        dnnl_primitive_destroy(*p);
    *p = NULL;
}

static void destroy_mem(dnnl_memory_t *m)
{
    if (*m)
        dnnl_memory_destroy(*m);
    *m = NULL;
}

/* Destroy every oneDNN object of st (keeps the geometry). */
static void conv_clear(conv_state *st)
{
    destroy_prim(&st->prim);
    destroy_prim(&st->r_src);
    destroy_prim(&st->r_dst);
    destroy_prim(&st->r_wei);
    destroy_prim(&st->r_sum);
    destroy_pd(&st->pd_rsum);
    destroy_mem(&st->u_sum);
    destroy_pd(&st->pd);
    destroy_pd(&st->pd_rsrc);
    destroy_pd(&st->pd_rdst);
    destroy_pd(&st->pd_rwei);
    destroy_mem(&st->u_src);
    destroy_mem(&st->u_dst);
    destroy_mem(&st->u_wei);
    destroy_mem(&st->u_bias);
    destroy_mem(&st->m_src);
    destroy_mem(&st->m_dst);
    destroy_mem(&st->m_wei);
    destroy_mem(&st->m_scratch);
    for (int i = 0; i < VP_MAX_POSTOPS; i++)
        destroy_mem(&st->u_post[i]);
    if (st->po)
        dnnl_post_ops_destroy(st->po);
    if (st->attr)
        dnnl_primitive_attr_destroy(st->attr);
    st->po = NULL;
    st->attr = NULL;
    st->n_bin = 0;
    st->sum_input = -1;
    st->nargs = 0;
    st->n_fused = 0;
    st->wei_const = 0;
    st->off_src = st->off_dst = st->off_wei = st->off_scr = -1;
    st->scratch_need = 0;
}

void vp_nn_conv_release(void *state)
{
    conv_state *st = state;
    if (!st)
        return;
    conv_clear(st);
    free(st);
}

/* B, or NULL. (The plan keeps input 2 for B: a fused residual addend is
 * appended after it, see fuse_chain() in passes.c.) */
static const vp_tensor *conv_bias(const vp_op_ctx *c)
{
    return c->n_in > 2 ? c->in[2] : NULL;
}

/* Dense row-major f32 descriptor of nd dims; strides NULL = contiguous. */
static dnnl_status_t md_plain(dnnl_memory_desc_t *md, int nd, const int64_t *dims,
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

/* Descriptor of an activation as the plan stores it: NC[D]HW, or NHWC
 * (dims still in oneDNN's N, C, H, W order, strides channels-last). */
static dnnl_status_t md_act(const conv_state *st, dnnl_memory_desc_t *md, int nd, const int64_t *dims)
{
    if (!st->nhwc || nd != 4)
        return md_plain(md, nd, dims, NULL);
    int64_t str[4] = {dims[1] * dims[2] * dims[3], 1, dims[3] * dims[1], dims[1]};
    return md_plain(md, nd, dims, str);
}

/* The one place that decides the layout of the primitive's src and dst.
 *
 * Measured on a 16-core AVX-512 host (oneDNN 2.6, f32, batch 1, YOLOv8n and
 * ResNet50 conv shapes): letting oneDNN pick blocked layouts (nChw16c) and
 * paying a reorder on each side is 2x to 10x faster than forcing plain
 * NCHW, where oneDNN falls back to im2col + gemm; depthwise and first-layer
 * (3-channel) convs gain the most. So: always ANY. When activations stay
 * blocked between convs (planned), this is where the decision will take
 * the neighbours' layouts into account. */
static conv_layout conv_src_dst_layout(const conv_state *st)
{
    (void)st;
    return LAYOUT_ANY;
}

/* Try to append node->post[] as oneDNN post-ops to st->po/attr. Returns 0 if
 * every post-op is expressible, else -1 (the caller then runs them unfused).
 *
 * A residual Add as a binary post-op would read the plain addend while dst
 * is blocked, a combination oneDNN 2.6's fast convolutions (brgconv) do not
 * implement: it silently picks im2col + gemm instead, several times slower.
 * The first Add therefore becomes a sum post-op (dst += result), which every
 * implementation supports, at the price of copying the addend into dst's
 * layout first. */
static int build_postops(conv_state *st, const vp_node *nd, int n_fuse, int use_sum,
                         const dnnl_memory_desc_t *dst_plain)
{
    int idx = 0;
    for (int k = 0; k < n_fuse; k++) {
        const vp_postop *p = &nd->post[k];
        dnnl_status_t s = dnnl_success;
        if (p->kind == VP_POST_ADD && use_sum && st->sum_input < 0) {
            s = dnnl_post_ops_append_sum(st->po, 1.f);
            st->sum_input = p->input;
            idx++;
        } else if (p->kind == VP_POST_ADD) {
            s = dnnl_post_ops_append_binary(st->po, dnnl_binary_add, dst_plain);
            st->post_index[st->n_bin] = idx;
            st->post_input[st->n_bin++] = p->input;
            idx++;
        } else {
            switch (p->act) {
            case VP_ACT_NONE:
                break;
            case VP_ACT_RELU:
                s = dnnl_post_ops_append_eltwise(st->po, 1.f, dnnl_eltwise_relu, 0.f, 0.f);
                idx++;
                break;
            case VP_ACT_SIGMOID:
                s = dnnl_post_ops_append_eltwise(st->po, 1.f, dnnl_eltwise_logistic, 0.f, 0.f);
                idx++;
                break;
            case VP_ACT_SILU:
                s = dnnl_post_ops_append_eltwise(st->po, 1.f, dnnl_eltwise_swish, 1.f, 0.f);
                idx++;
                break;
            case VP_ACT_HARDSIGMOID:
                /* oneDNN 2.6 has no hardsigmoid: linear then clip to [0, 1]. */
                s = dnnl_post_ops_append_eltwise(st->po, 1.f, dnnl_eltwise_linear, p->alpha,
                                                 p->beta);
                if (s == dnnl_success)
                    s = dnnl_post_ops_append_eltwise(st->po, 1.f, dnnl_eltwise_clip, 0.f, 1.f);
                idx += 2;
                break;
            case VP_ACT_HARDSWISH:
                s = dnnl_post_ops_append_eltwise(st->po, 1.f, dnnl_eltwise_hardswish, 0.f, 0.f);
                idx++;
                break;
            case VP_ACT_CLIP:
                s = dnnl_post_ops_append_eltwise(st->po, 1.f, dnnl_eltwise_clip, p->alpha,
                                                 p->beta);
                idx++;
                break;
            default:
                return -1;
            }
        }
        if (s != dnnl_success)
            return -1;
    }
    (void)idx;
    return 0;
}

/* Create the primitive descriptor for the given layout with the first
 * n_fuse node post-ops fused (use_sum: the first Add as a sum post-op).
 * Returns the oneDNN status (no logging: failures are expected and handled
 * by falling back). */
static dnnl_status_t try_pd(conv_state *st, vp_op_ctx *c, conv_layout lay, int n_fuse,
                            int use_sum)
{
    const vp_nn_geom *g = &st->g;
    int nd = g->nsp + 2, grouped = g->group > 1;
    int64_t xd[VP_NN_MAX_SP + 2], yd[VP_NN_MAX_SP + 2], wd[VP_NN_MAX_SP + 3];
    dnnl_dims_t strides, dil, pl, pr;
    dnnl_memory_desc_t src_md, dst_md, wei_md, bias_md, dst_plain;
    dnnl_status_t s;

    xd[0] = yd[0] = g->n;
    xd[1] = g->cin;
    yd[1] = g->cout;
    for (int i = 0; i < g->nsp; i++) {
        xd[2 + i] = g->in[i];
        yd[2 + i] = g->out[i];
        strides[i] = g->stride[i];
        dil[i] = g->dil[i] - 1; /* oneDNN counts the gaps */
        pl[i] = g->pad_b[i];
        pr[i] = g->pad_e[i];
    }
    int wn = 0;
    if (grouped)
        wd[wn++] = g->group;
    wd[wn++] = g->cout / g->group;
    wd[wn++] = g->cin / g->group;
    for (int i = 0; i < g->nsp; i++)
        wd[wn++] = g->k[i];

    if ((s = md_act(st, &dst_plain, nd, yd)) != dnnl_success)
        return s;
    if (lay == LAYOUT_ANY) {
        dnnl_dims_t dx, dy;
        for (int i = 0; i < nd; i++) {
            dx[i] = xd[i];
            dy[i] = yd[i];
        }
        if ((s = dnnl_memory_desc_init_by_tag(&src_md, nd, dx, dnnl_f32,
                                              dnnl_format_tag_any)) != dnnl_success ||
            (s = dnnl_memory_desc_init_by_tag(&dst_md, nd, dy, dnnl_f32,
                                              dnnl_format_tag_any)) != dnnl_success)
            return s;
    } else {
        if ((s = md_act(st, &src_md, nd, xd)) != dnnl_success)
            return s;
        dst_md = dst_plain;
    }
    {
        dnnl_dims_t dw;
        for (int i = 0; i < wn; i++)
            dw[i] = wd[i];
        if ((s = dnnl_memory_desc_init_by_tag(&wei_md, wn, dw, dnnl_f32,
                                              dnnl_format_tag_any)) != dnnl_success)
            return s;
    }
    int has_bias = conv_bias(c) != NULL;
    if (has_bias && (s = md_plain(&bias_md, 1, &g->cout, NULL)) != dnnl_success)
        return s;

    if ((s = dnnl_primitive_attr_create(&st->attr)) != dnnl_success ||
        (s = dnnl_primitive_attr_set_scratchpad_mode(st->attr, dnnl_scratchpad_mode_user)) !=
            dnnl_success)
        return s;
    if (n_fuse > 0) {
        if ((s = dnnl_post_ops_create(&st->po)) != dnnl_success)
            return s;
        if (build_postops(st, c->node, n_fuse, use_sum, &dst_plain) != 0)
            return dnnl_unimplemented;
        if ((s = dnnl_primitive_attr_set_post_ops(st->attr, st->po)) != dnnl_success)
            return s;
        st->n_fused = n_fuse;
    }

    if (st->kind == KIND_CONV) {
        dnnl_convolution_desc_t cd;
        s = dnnl_dilated_convolution_forward_desc_init(
            &cd, dnnl_forward_inference, dnnl_convolution_auto, &src_md, &wei_md,
            has_bias ? &bias_md : NULL, &dst_md, strides, dil, pl, pr);
        if (s == dnnl_success)
            s = dnnl_primitive_desc_create(&st->pd, &cd, st->attr, c->cpu->eng, NULL);
    } else {
        dnnl_deconvolution_desc_t dd;
        s = dnnl_dilated_deconvolution_forward_desc_init(
            &dd, dnnl_forward_inference, dnnl_deconvolution_direct, &src_md, &wei_md,
            has_bias ? &bias_md : NULL, &dst_md, strides, dil, pl, pr);
        if (s == dnnl_success)
            s = dnnl_primitive_desc_create(&st->pd, &dd, st->attr, c->cpu->eng, NULL);
    }
    return s;
}

/* User-side (plain) descriptor of W in oneDNN's dims order. */
static dnnl_status_t wei_user_md(const conv_state *st, dnnl_memory_desc_t *md)
{
    const vp_nn_geom *g = &st->g;
    int64_t dims[VP_NN_MAX_SP + 3], str[VP_NN_MAX_SP + 3];
    int64_t ksz = 1, ocg = g->cout / g->group, icg = g->cin / g->group;
    int wn = 0, grouped = g->group > 1;
    for (int i = 0; i < g->nsp; i++)
        ksz *= g->k[i];
    if (grouped)
        dims[wn++] = g->group;
    dims[wn++] = ocg;
    dims[wn++] = icg;
    for (int i = 0; i < g->nsp; i++)
        dims[wn++] = g->k[i];
    /* spatial strides: contiguous */
    int64_t acc = 1;
    for (int i = wn - 1; i >= wn - g->nsp; i--) {
        str[i] = acc;
        acc *= dims[i];
    }
    int o = grouped ? 1 : 0;
    if (st->nhwc && st->kind == KIND_CONV && g->nsp == 2) {
        /* W [M, kH, kW, C/g] (channels-last plan): == [g, M/g, kH, kW, C/g] */
        str[o + 1] = 1;
        str[o + 3] = icg;
        str[o + 2] = g->k[1] * icg;
        str[o] = ksz * icg;
        if (grouped)
            str[0] = ocg * icg * ksz;
        return md_plain(md, wn, dims, str);
    }
    if (st->kind == KIND_CONV) {
        /* ONNX W [M, C/g, k...] == [g, M/g, C/g, k...] row-major */
        str[o + 1] = ksz;
        str[o] = icg * ksz;
    } else {
        /* ONNX W [C, M/g, k...] == [g, C/g, M/g, k...] row-major: oneDNN's
         * (oc, ic) are swapped relative to memory order. */
        str[o] = ksz;
        str[o + 1] = ocg * ksz;
    }
    if (grouped)
        str[0] = ocg * icg * ksz;
    return md_plain(md, wn, dims, str);
}

static int exec2(vp_op_ctx *c, dnnl_primitive_t p, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    VP_DNNL(dnnl_primitive_execute(p, c->cpu->stream, 2, a));
    return VP_OK;
}

/* Reserve bytes for a buffer in the shared scratch; returns its offset. */
static int64_t scratch_take(conv_state *st, size_t bytes)
{
    int64_t off = (int64_t)st->scratch_need;
    st->scratch_need += (bytes + 63) / 64 * 64;
    return off;
}

/* Reorders and memories around a created pd. */
static int build_memories(conv_state *st, vp_op_ctx *c)
{
    const vp_nn_geom *g = &st->g;
    dnnl_engine_t eng = c->cpu->eng;
    int nd = g->nsp + 2;
    int64_t xd[VP_NN_MAX_SP + 2], yd[VP_NN_MAX_SP + 2];
    dnnl_memory_desc_t x_md, y_md, w_md, b_md;
    xd[0] = yd[0] = g->n;
    xd[1] = g->cin;
    yd[1] = g->cout;
    for (int i = 0; i < g->nsp; i++) {
        xd[2 + i] = g->in[i];
        yd[2 + i] = g->out[i];
    }
    VP_DNNL(md_act(st, &x_md, nd, xd));
    VP_DNNL(md_act(st, &y_md, nd, yd));
    VP_DNNL(wei_user_md(st, &w_md));
    VP_DNNL(dnnl_memory_create(&st->u_src, &x_md, eng, DNNL_MEMORY_NONE));
    VP_DNNL(dnnl_memory_create(&st->u_dst, &y_md, eng, DNNL_MEMORY_NONE));
    VP_DNNL(dnnl_memory_create(&st->u_wei, &w_md, eng, DNNL_MEMORY_NONE));
    if (conv_bias(c)) {
        VP_DNNL(md_plain(&b_md, 1, &g->cout, NULL));
        VP_DNNL(dnnl_memory_create(&st->u_bias, &b_md, eng, DNNL_MEMORY_NONE));
    }

    const dnnl_memory_desc_t *p_src = dnnl_primitive_desc_query_md(st->pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *p_dst = dnnl_primitive_desc_query_md(st->pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *p_wei =
        dnnl_primitive_desc_query_md(st->pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *p_scr =
        dnnl_primitive_desc_query_md(st->pd, dnnl_query_scratchpad_md, 0);
    if (!p_src || !p_dst || !p_wei)
        return vp_op_fail(c, VP_ERR_BACKEND, "oneDNN primitive descriptor without src/dst/"
                          "weights descriptors");
    /* W constant (in_const[1], data bound at prepare): reordered once into
     * an owned buffer. Everything else per run lives in the shared scratch. */
    st->wei_const = c->in_const && c->in_const[1] && c->in[1]->data;
    if (!dnnl_memory_desc_equal(p_src, &x_md)) {
        st->off_src = scratch_take(st, dnnl_memory_desc_get_size(p_src));
        VP_DNNL(dnnl_memory_create(&st->m_src, p_src, eng, DNNL_MEMORY_NONE));
        VP_DNNL(dnnl_reorder_primitive_desc_create(&st->pd_rsrc, &x_md, eng, p_src, eng, NULL));
        VP_DNNL(dnnl_primitive_create(&st->r_src, st->pd_rsrc));
    }
    if (!dnnl_memory_desc_equal(p_dst, &y_md)) {
        st->off_dst = scratch_take(st, dnnl_memory_desc_get_size(p_dst));
        VP_DNNL(dnnl_memory_create(&st->m_dst, p_dst, eng, DNNL_MEMORY_NONE));
        VP_DNNL(dnnl_reorder_primitive_desc_create(&st->pd_rdst, p_dst, eng, &y_md, eng, NULL));
        VP_DNNL(dnnl_primitive_create(&st->r_dst, st->pd_rdst));
    }
    if (!dnnl_memory_desc_equal(p_wei, &w_md)) {
        if (!st->wei_const)
            st->off_wei = scratch_take(st, dnnl_memory_desc_get_size(p_wei));
        VP_DNNL(dnnl_memory_create(&st->m_wei, p_wei, eng,
                                   st->wei_const ? DNNL_MEMORY_ALLOCATE : DNNL_MEMORY_NONE));
        VP_DNNL(dnnl_reorder_primitive_desc_create(&st->pd_rwei, &w_md, eng, p_wei, eng, NULL));
        VP_DNNL(dnnl_primitive_create(&st->r_wei, st->pd_rwei));
    }
    if (p_scr && dnnl_memory_desc_get_size(p_scr) > 0) {
        st->off_scr = scratch_take(st, dnnl_memory_desc_get_size(p_scr));
        VP_DNNL(dnnl_memory_create(&st->m_scratch, p_scr, eng, DNNL_MEMORY_NONE));
    }
    for (int b = 0; b < st->n_bin; b++)
        VP_DNNL(dnnl_memory_create(&st->u_post[b], &y_md, eng, DNNL_MEMORY_NONE));
    if (st->sum_input >= 0) {
        VP_DNNL(dnnl_memory_create(&st->u_sum, &y_md, eng, DNNL_MEMORY_NONE));
        VP_DNNL(dnnl_reorder_primitive_desc_create(&st->pd_rsum, &y_md, eng, p_dst, eng, NULL));
        VP_DNNL(dnnl_primitive_create(&st->r_sum, st->pd_rsum));
    }
    VP_DNNL(dnnl_primitive_create(&st->prim, st->pd));

    /* Execution arguments: fixed objects, only their handles change. */
    dnnl_exec_arg_t *a = st->args;
    int n = 0;
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, st->m_src ? st->m_src : st->u_src};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, st->m_wei ? st->m_wei : st->u_wei};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, st->m_dst ? st->m_dst : st->u_dst};
    if (st->u_bias)
        a[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, st->u_bias};
    if (st->m_scratch)
        a[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, st->m_scratch};
    for (int b = 0; b < st->n_bin; b++)
        a[n++] = (dnnl_exec_arg_t){
            DNNL_ARG_ATTR_MULTIPLE_POST_OP(st->post_index[b]) | DNNL_ARG_SRC_1,
            st->u_post[b]};
    st->nargs = n;

    /* Constant weights: reorder once, now. */
    if (st->wei_const) {
        VP_DNNL(dnnl_memory_set_data_handle(st->u_wei, c->in[1]->data));
        if (st->r_wei) {
            int rc = exec2(c, st->r_wei, st->u_wei, st->m_wei);
            if (rc != VP_OK)
                return rc;
            VP_DNNL(dnnl_stream_wait(c->cpu->stream));
        }
    }
    return VP_OK;
}

static const char *impl_name(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success)
        return "";
    return impl ? impl : "";
}

/* With st->pd the baseline (no post-ops), pick how much of node->post[] to
 * fuse. oneDNN accepts almost any post-op chain but may serve it with a
 * slower implementation (im2col + gemm, or even the reference one), so a
 * candidate is kept only if it runs on the baseline's implementation.
 * Candidates: the longest prefix of node->post[] first; a prefix holding an
 * Add is tried with the first Add as a sum post-op, then as a binary one.
 * Post-ops not fused run in C after the primitive. Leaves st->pd created. */
static dnnl_status_t choose_postops(conv_state *st, vp_op_ctx *c, conv_layout lay)
{
    const vp_node *nd = c->node;
    char base[128];
    snprintf(base, sizeof base, "%s", impl_name(st->pd));
    for (int len = nd->n_post; len > 0; len--) {
        int has_add = 0;
        for (int k = 0; k < len; k++)
            has_add |= nd->post[k].kind == VP_POST_ADD;
        for (int use_sum = has_add; use_sum >= 0; use_sum--) {
            conv_clear(st);
            dnnl_status_t s = try_pd(st, c, lay, len, use_sum);
            if (s == dnnl_success && strcmp(impl_name(st->pd), base) == 0)
                return dnnl_success;
            VP_LOGD("%s %s: fusing %d post-op(s)%s: %s instead of %s, not used", nd->op_type,
                    nd->name, len, use_sum ? " (Add as sum)" : "",
                    s == dnnl_success ? impl_name(st->pd) : "declined", base);
        }
    }
    conv_clear(st);
    return try_pd(st, c, lay, 0, 0);
}

static int conv_prepare(vp_op_ctx *c, conv_kind kind)
{
    int rc;
    if (c->in[0]->dtype != VP_DT_FLOAT)
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "CPU %s supports float32 only, X is %s",
                          c->node->op_type, vp_dtype_name(c->in[0]->dtype));
    conv_state *st = calloc(1, sizeof *st);
    if (!st)
        return VP_ERR_NOMEM;
    st->kind = kind;
    st->nhwc = c->node->layout == VP_LAYOUT_NHWC;
    rc = kind == KIND_CONV ? vp_nn_conv_geom(c, &st->g) : vp_nn_convt_geom(c, &st->g);
    if (rc != VP_OK) {
        free(st);
        return rc;
    }
    /* Baseline: the primitive without post-ops, in the chosen layout, else
     * plain; if oneDNN declines both, the C path. */
    conv_layout lay = conv_src_dst_layout(st);
    conv_clear(st);
    dnnl_status_t s = try_pd(st, c, lay, 0, 0);
    if (s != dnnl_success && lay != LAYOUT_PLAIN) {
        conv_clear(st);
        lay = LAYOUT_PLAIN;
        s = try_pd(st, c, lay, 0, 0);
    }
    if (s == dnnl_success && c->node->n_post > 0)
        s = choose_postops(st, c, lay);
    if (s != dnnl_success && st->nhwc) {
        vp_nn_conv_release(st);
        return vp_op_fail(c, VP_ERR_UNSUPPORTED, "oneDNN declined a channels-last %s (status %d)",
                          c->node->op_type, (int)s);
    }
    if (s != dnnl_success) {
        conv_clear(st);
        st->naive = 1;
        VP_LOGD("%s %s: oneDNN declined (status %d), using the plain-C path",
                c->node->op_type, c->node->name, (int)s);
    } else if ((rc = build_memories(st, c)) != VP_OK) {
        vp_nn_conv_release(st);
        return rc;
    }
    c->scratch_bytes = st->scratch_need;
    if (!st->naive)
        VP_LOGD("%s %s: oneDNN %s, src %s, dst %s, %d of %d post-op(s) fused%s",
                c->node->op_type, c->node->name, impl_name(st->pd),
                st->r_src ? "reordered" : "plain", st->r_dst ? "reordered" : "plain",
                st->n_fused, c->node->n_post, st->sum_input >= 0 ? " (Add as sum)" : "");
    c->state = st;
    return VP_OK;
}

int vp_nn_conv_prepare(vp_op_ctx *c) { return conv_prepare(c, KIND_CONV); }
int vp_nn_convt_prepare(vp_op_ctx *c) { return conv_prepare(c, KIND_CONVT); }

/* Plain-C direct convolution ------------------------------------------- */

/* Spatial sizes padded to 3 axes (leading 1s) for the C loops. */
typedef struct sp3 {
    int64_t in[3], out[3], k[3], s[3], d[3], p[3];
} sp3;

static void to_sp3(const vp_nn_geom *g, sp3 *t)
{
    int off = 3 - g->nsp;
    for (int i = 0; i < 3; i++) {
        t->in[i] = t->out[i] = t->k[i] = t->s[i] = t->d[i] = 1;
        t->p[i] = 0;
    }
    for (int i = 0; i < g->nsp; i++) {
        t->in[off + i] = g->in[i];
        t->out[off + i] = g->out[i];
        t->k[off + i] = g->k[i];
        t->s[off + i] = g->stride[i];
        t->d[off + i] = g->dil[i];
        t->p[off + i] = g->pad_b[i];
    }
}

static void naive_conv(const vp_nn_geom *g, const float *x, const float *w, const float *b,
                       float *y)
{
    sp3 t;
    to_sp3(g, &t);
    int64_t icg = g->cin / g->group, ocg = g->cout / g->group;
    int64_t isz = t.in[0] * t.in[1] * t.in[2], osz = t.out[0] * t.out[1] * t.out[2];
    int64_t ksz = t.k[0] * t.k[1] * t.k[2];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t oc = 0; oc < g->cout; oc++) {
            int64_t grp = oc / ocg;
            float *yo = y + (n * g->cout + oc) * osz;
            for (int64_t o0 = 0; o0 < t.out[0]; o0++)
                for (int64_t o1 = 0; o1 < t.out[1]; o1++)
                    for (int64_t o2 = 0; o2 < t.out[2]; o2++) {
                        double acc = b ? b[oc] : 0.0;
                        for (int64_t ic = 0; ic < icg; ic++) {
                            const float *xi = x + (n * g->cin + grp * icg + ic) * isz;
                            const float *wk = w + (oc * icg + ic) * ksz;
                            for (int64_t k0 = 0; k0 < t.k[0]; k0++) {
                                int64_t i0 = o0 * t.s[0] - t.p[0] + k0 * t.d[0];
                                if (i0 < 0 || i0 >= t.in[0])
                                    continue;
                                for (int64_t k1 = 0; k1 < t.k[1]; k1++) {
                                    int64_t i1 = o1 * t.s[1] - t.p[1] + k1 * t.d[1];
                                    if (i1 < 0 || i1 >= t.in[1])
                                        continue;
                                    for (int64_t k2 = 0; k2 < t.k[2]; k2++) {
                                        int64_t i2 = o2 * t.s[2] - t.p[2] + k2 * t.d[2];
                                        if (i2 < 0 || i2 >= t.in[2])
                                            continue;
                                        acc += (double)xi[(i0 * t.in[1] + i1) * t.in[2] + i2] *
                                               wk[(k0 * t.k[1] + k1) * t.k[2] + k2];
                                    }
                                }
                            }
                        }
                        yo[(o0 * t.out[1] + o1) * t.out[2] + o2] = (float)acc;
                    }
        }
}

/* Transposed convolution: every input element scatters its kernel-weighted
 * copy into the output; each (n, oc) plane is owned by one thread. */
static void naive_convt(const vp_nn_geom *g, const float *x, const float *w, const float *b,
                        float *y)
{
    sp3 t;
    to_sp3(g, &t);
    int64_t icg = g->cin / g->group, ocg = g->cout / g->group;
    int64_t isz = t.in[0] * t.in[1] * t.in[2], osz = t.out[0] * t.out[1] * t.out[2];
    int64_t ksz = t.k[0] * t.k[1] * t.k[2];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t oc = 0; oc < g->cout; oc++) {
            int64_t grp = oc / ocg, ocl = oc % ocg;
            float *yo = y + (n * g->cout + oc) * osz;
            for (int64_t i = 0; i < osz; i++)
                yo[i] = b ? b[oc] : 0.f;
            for (int64_t ic = 0; ic < icg; ic++) {
                int64_t c_in = grp * icg + ic;
                const float *xi = x + (n * g->cin + c_in) * isz;
                const float *wk = w + (c_in * ocg + ocl) * ksz;
                for (int64_t i0 = 0; i0 < t.in[0]; i0++)
                    for (int64_t i1 = 0; i1 < t.in[1]; i1++)
                        for (int64_t i2 = 0; i2 < t.in[2]; i2++) {
                            float xv = xi[(i0 * t.in[1] + i1) * t.in[2] + i2];
                            for (int64_t k0 = 0; k0 < t.k[0]; k0++) {
                                int64_t o0 = i0 * t.s[0] - t.p[0] + k0 * t.d[0];
                                if (o0 < 0 || o0 >= t.out[0])
                                    continue;
                                for (int64_t k1 = 0; k1 < t.k[1]; k1++) {
                                    int64_t o1 = i1 * t.s[1] - t.p[1] + k1 * t.d[1];
                                    if (o1 < 0 || o1 >= t.out[1])
                                        continue;
                                    for (int64_t k2 = 0; k2 < t.k[2]; k2++) {
                                        int64_t o2 = i2 * t.s[2] - t.p[2] + k2 * t.d[2];
                                        if (o2 < 0 || o2 >= t.out[2])
                                            continue;
                                        yo[(o0 * t.out[1] + o1) * t.out[2] + o2] +=
                                            xv * wk[(k0 * t.k[1] + k1) * t.k[2] + k2];
                                    }
                                }
                            }
                        }
            }
        }
}

/* Run ------------------------------------------------------------------ */

/* node->post[first..] on the plain output (those the primitive did not do). */
static int apply_postops_from(vp_op_ctx *c, int first)
{
    const vp_node *nd = c->node;
    float *y = c->out[0]->data;
    int64_t n = vp_tensor_numel(c->out[0]);
    for (int k = first; k < nd->n_post; k++) {
        const vp_postop *p = &nd->post[k];
        if (p->kind == VP_POST_ACT) {
            vp_cpu_act(y, n, p->act, p->alpha, p->beta);
        } else {
            const float *a = c->in[p->input]->data;
#pragma omp parallel for schedule(static) if (n > 65536)
            for (int64_t i = 0; i < n; i++)
                y[i] += a[i];
        }
    }
    return VP_OK;
}

int vp_nn_conv_run(vp_op_ctx *c)
{
    conv_state *st = c->state;
    const vp_tensor *bt = conv_bias(c);
    const float *bias = bt ? bt->data : NULL;
    int rc;
    if (!st)
        return vp_op_fail(c, VP_ERR_INTERNAL, "conv kernel run without prepare");
    if (st->naive) {
        if (st->kind == KIND_CONV)
            naive_conv(&st->g, c->in[0]->data, c->in[1]->data, bias, c->out[0]->data);
        else
            naive_convt(&st->g, c->in[0]->data, c->in[1]->data, bias, c->out[0]->data);
        return apply_postops_from(c, 0);
    }
    dnnl_stream_t strm = c->cpu->stream;
    if (st->scratch_need && (!c->scratch || c->scratch_bytes < st->scratch_need))
        return vp_op_fail(c, VP_ERR_INTERNAL, "conv needs %zu bytes of scratch, got %zu",
                          st->scratch_need, c->scratch ? c->scratch_bytes : (size_t)0);
    char *scr = c->scratch;
    if (st->off_src >= 0)
        VP_DNNL(dnnl_memory_set_data_handle(st->m_src, scr + st->off_src));
    if (st->off_dst >= 0)
        VP_DNNL(dnnl_memory_set_data_handle(st->m_dst, scr + st->off_dst));
    if (st->off_wei >= 0)
        VP_DNNL(dnnl_memory_set_data_handle(st->m_wei, scr + st->off_wei));
    if (st->off_scr >= 0)
        VP_DNNL(dnnl_memory_set_data_handle(st->m_scratch, scr + st->off_scr));
    /* Weights: reordered once at prepare when constant, else every run. */
    if (!st->wei_const) {
        VP_DNNL(dnnl_memory_set_data_handle(st->u_wei, c->in[1]->data));
        if (st->r_wei && (rc = exec2(c, st->r_wei, st->u_wei, st->m_wei)) != VP_OK)
            return rc;
    }
    VP_DNNL(dnnl_memory_set_data_handle(st->u_src, c->in[0]->data));
    VP_DNNL(dnnl_memory_set_data_handle(st->u_dst, c->out[0]->data));
    if (st->u_bias)
        VP_DNNL(dnnl_memory_set_data_handle(st->u_bias, (void *)bias));
    for (int b = 0; b < st->n_bin; b++)
        VP_DNNL(dnnl_memory_set_data_handle(st->u_post[b], c->in[st->post_input[b]]->data));
    if (st->r_src && (rc = exec2(c, st->r_src, st->u_src, st->m_src)) != VP_OK)
        return rc;
    if (st->r_sum) {
        /* Sum post-op: dst starts as the addend (skipped when the plan
         * already made the addend the output buffer). */
        const void *addend = c->in[st->sum_input]->data;
        if (st->m_dst || addend != c->out[0]->data) {
            VP_DNNL(dnnl_memory_set_data_handle(st->u_sum, (void *)addend));
            if ((rc = exec2(c, st->r_sum, st->u_sum, st->m_dst ? st->m_dst : st->u_dst)) != VP_OK)
                return rc;
        }
    }
    VP_DNNL(dnnl_primitive_execute(st->prim, strm, st->nargs, st->args));
    if (st->r_dst && (rc = exec2(c, st->r_dst, st->m_dst, st->u_dst)) != VP_OK)
        return rc;
    VP_DNNL(dnnl_stream_wait(strm));
    return apply_postops_from(c, st->n_fused);
}
