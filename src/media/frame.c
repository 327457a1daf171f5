/* vp_frame: reference counting, host copies, canonical MD5 digests, and the
 * small name tables of the media API. */
#include "media/media_impl.h"

#include <stdlib.h>
#include <string.h>

const char *vp_codec_name(vp_codec c)
{
    switch (c) {
    case VP_CODEC_H264: return "h264";
    case VP_CODEC_HEVC: return "hevc";
    case VP_CODEC_AV1: return "av1";
    case VP_CODEC_VP9: return "vp9";
    default: return "none";
    }
}

const char *vp_pixfmt_name(vp_pixfmt f)
{
    switch (f) {
    case VP_PIX_NV12: return "nv12";
    case VP_PIX_P016: return "p016";
    case VP_PIX_YUV420P: return "yuv420p";
    case VP_PIX_YUV420P10: return "yuv420p10";
    default: return "none";
    }
}

const char *vp_hw_name(vp_hw h)
{
    switch (h) {
    case VP_HW_NVDEC: return "nvdec";
    case VP_HW_CPU: return "cpu";
    default: return "auto";
    }
}

int vp_pixfmt_bytes(vp_pixfmt f) { return f == VP_PIX_P016 || f == VP_PIX_YUV420P10 ? 2 : 1; }

vp_color_matrix vp_default_matrix(int height) { return height >= 720 ? VP_MATRIX_BT709 : VP_MATRIX_BT601; }

void vp_frame_impl_init(vp_frame_impl *f, const vp_frame_ops *ops)
{
    atomic_init(&f->refs, 1);
    f->ops = ops;
    f->pub.device = -1;
}

vp_frame *vp_frame_ref(vp_frame *f)
{
    if (f)
        atomic_fetch_add_explicit(&((vp_frame_impl *)f)->refs, 1, memory_order_relaxed);
    return f;
}

void vp_frame_unref(vp_frame **pf)
{
    if (!pf || !*pf)
        return;
    vp_frame_impl *f = (vp_frame_impl *)*pf;
    *pf = NULL;
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        f->ops->release(f);
}

/* ---- host frames with their own memory: one malloc for record and planes */
typedef struct host_frame {
    vp_frame_impl base;
    uint8_t *mem;
} host_frame;

static void host_release(vp_frame_impl *f)
{
    free(((host_frame *)f)->mem);
    free(f);
}

static const vp_frame_ops host_ops = {.release = host_release};

int vp_frame_alloc_host(vp_pixfmt fmt, int width, int height, vp_frame **out)
{
    *out = NULL;
    if (fmt == VP_PIX_NONE || width < 1 || height < 1 || width > 65536 || height > 65536)
        return VP_ERR_INVALID;
    host_frame *h = calloc(1, sizeof *h);
    if (!h)
        return VP_ERR_NOMEM;
    vp_frame_impl_init(&h->base, &host_ops);
    vp_frame *f = &h->base.pub;
    int bps = vp_pixfmt_bytes(fmt), cw = (width + 1) / 2, ch = (height + 1) / 2;
    f->format = fmt, f->width = width, f->height = height;
    f->bit_depth = fmt == VP_PIX_YUV420P10 ? 10 : fmt == VP_PIX_P016 ? 16 : 8;
    f->memory = VP_MEM_HOST;
    f->matrix = vp_default_matrix(height);
    f->range = VP_RANGE_LIMITED;
    f->pts = VP_NOPTS;
    size_t ysz, csz;
    if (fmt == VP_PIX_NV12 || fmt == VP_PIX_P016) {
        f->num_planes = 2;
        f->pitch[0] = width * bps, f->pitch[1] = cw * 2 * bps;
        ysz = (size_t)f->pitch[0] * (size_t)height, csz = (size_t)f->pitch[1] * (size_t)ch;
        h->mem = malloc(ysz + csz);
        if (h->mem)
            f->data[0] = h->mem, f->data[1] = h->mem + ysz;
    } else {
        f->num_planes = 3;
        f->pitch[0] = width * bps, f->pitch[1] = f->pitch[2] = cw * bps;
        ysz = (size_t)f->pitch[0] * (size_t)height, csz = (size_t)f->pitch[1] * (size_t)ch;
        h->mem = malloc(ysz + 2 * csz);
        if (h->mem)
            f->data[0] = h->mem, f->data[1] = h->mem + ysz, f->data[2] = h->mem + ysz + csz;
    }
    if (!h->mem) {
        free(h);
        return VP_ERR_NOMEM;
    }
    *out = f;
    return 0;
}

static void copy_plane(uint8_t *dst, int dpitch, const uint8_t *src, int spitch, size_t row_bytes, int rows)
{
    for (int y = 0; y < rows; y++)
        memcpy(dst + (size_t)y * (size_t)dpitch, src + (size_t)y * (size_t)spitch, row_bytes);
}

int vp_frame_to_host(const vp_frame *src, vp_frame **dst)
{
    *dst = NULL;
    if (!src)
        return VP_ERR_INVALID;
    const vp_frame_impl *si = (const vp_frame_impl *)src;
    if (src->memory != VP_MEM_HOST && !si->ops->download)
        return VP_ERR_UNSUPPORTED;
    vp_frame *d;
    int rc = vp_frame_alloc_host(src->format, src->width, src->height, &d);
    if (rc)
        return rc;
    d->bit_depth = src->bit_depth, d->matrix = src->matrix, d->range = src->range;
    d->pts = src->pts, d->index = src->index;
    if (src->memory != VP_MEM_HOST) {
        if ((rc = si->ops->download(si, d))) {
            vp_frame_unref(&d);
            return rc;
        }
    } else {
        int bps = vp_pixfmt_bytes(src->format), cw = (src->width + 1) / 2, ch = (src->height + 1) / 2;
        copy_plane(d->data[0], d->pitch[0], src->data[0], src->pitch[0], (size_t)(src->width * bps), src->height);
        if (src->num_planes == 2) {
            copy_plane(d->data[1], d->pitch[1], src->data[1], src->pitch[1], (size_t)(cw * 2 * bps), ch);
        } else {
            copy_plane(d->data[1], d->pitch[1], src->data[1], src->pitch[1], (size_t)(cw * bps), ch);
            copy_plane(d->data[2], d->pitch[2], src->data[2], src->pitch[2], (size_t)(cw * bps), ch);
        }
    }
    *dst = d;
    return 0;
}

static void to_hex(const uint8_t d[16], char hex[33])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++)
        hex[2 * i] = digits[d[i] >> 4], hex[2 * i + 1] = digits[d[i] & 15];
    hex[32] = 0;
}

/* Appends n samples starting at p (stride step samples) to the digest in the
 * canonical form: bytes for 8-bit formats, right-aligned 16-bit LE otherwise. */
static void md5_samples(vp_md5 *m, const uint8_t *p, int n, int step, int bps, int shift, uint8_t *tmp)
{
    if (bps == 1) {
        if (step == 1) {
            vp_md5_update(m, p, (size_t)n);
            return;
        }
        for (int i = 0; i < n; i++)
            tmp[i] = p[(size_t)i * (size_t)step];
        vp_md5_update(m, tmp, (size_t)n);
        return;
    }
    for (int i = 0; i < n; i++) {
        const uint8_t *s = p + (size_t)i * (size_t)step * 2;
        unsigned v = (unsigned)s[0] | (unsigned)s[1] << 8; /* stored little-endian */
        v >>= shift;
        tmp[2 * i] = (uint8_t)v, tmp[2 * i + 1] = (uint8_t)(v >> 8);
    }
    vp_md5_update(m, tmp, (size_t)n * 2);
}

int vp_frame_md5(const vp_frame *f, char y_hex[33], char uv_hex[33])
{
    if (!f)
        return VP_ERR_INVALID;
    vp_frame *h = NULL;
    int rc;
    if (f->memory != VP_MEM_HOST) {
        if ((rc = vp_frame_to_host(f, &h)))
            return rc;
        f = h;
    }
    int bps = vp_pixfmt_bytes(f->format), cw = (f->width + 1) / 2, ch = (f->height + 1) / 2;
    int shift = f->format == VP_PIX_P016 && f->bit_depth > 8 && f->bit_depth < 16 ? 16 - f->bit_depth : 0;
    uint8_t *tmp = malloc((size_t)(f->width + 2) * 2 * 2);
    if (!tmp) {
        vp_frame_unref(&h);
        return VP_ERR_NOMEM;
    }
    vp_md5 m;
    uint8_t dig[16];
    vp_md5_init(&m);
    for (int y = 0; y < f->height; y++)
        md5_samples(&m, f->data[0] + (size_t)y * (size_t)f->pitch[0], f->width, 1, bps, shift, tmp);
    vp_md5_final(&m, dig);
    to_hex(dig, y_hex);
    vp_md5_init(&m);
    for (int y = 0; y < ch; y++) {
        if (f->num_planes == 2) {
            md5_samples(&m, f->data[1] + (size_t)y * (size_t)f->pitch[1], 2 * cw, 1, bps, shift, tmp);
        } else {
            /* interleave U and V of this row */
            const uint8_t *u = f->data[1] + (size_t)y * (size_t)f->pitch[1];
            const uint8_t *v = f->data[2] + (size_t)y * (size_t)f->pitch[2];
            uint8_t *row = tmp + (size_t)(f->width + 2) * 2; /* second half of tmp */
            for (int x = 0; x < cw; x++)
                for (int b = 0; b < bps; b++) {
                    row[(2 * x) * bps + b] = u[x * bps + b];
                    row[(2 * x + 1) * bps + b] = v[x * bps + b];
                }
            md5_samples(&m, row, 2 * cw, 1, bps, shift, tmp);
        }
    }
    vp_md5_final(&m, dig);
    to_hex(dig, uv_hex);
    free(tmp);
    vp_frame_unref(&h);
    return 0;
}
