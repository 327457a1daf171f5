/*
 * CPU decoder: libavcodec, frame- and slice-threaded, producing host frames
 * that hold a reference to libavcodec's AVFrame (no copy). The fallback when
 * NVDEC is not usable, and the reference NVDEC is compared with.
 */
#include "media/media_impl.h"
#include "base/log.h"

#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libavutil/pixdesc.h>
#include <stdlib.h>
#include <string.h>

typedef struct avdec {
    AVCodecContext *ctx;
    AVPacket *pkt;
    AVFrame *frame;
    int flushed;
} avdec;

typedef struct av_vframe {
    vp_frame_impl base;
    AVFrame *f;
} av_vframe;

static void av_vframe_release(vp_frame_impl *fi)
{
    av_vframe *v = (av_vframe *)fi;
    av_frame_free(&v->f);
    free(v);
}

static const vp_frame_ops av_vframe_ops = {.release = av_vframe_release};

static const char *av_err(int e, char *buf, size_t n)
{
    if (av_strerror(e, buf, n) < 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

/* Corrupt input is counted and logged (the first few, then every 100th). */
static void note_corrupt(vp_decoder *d, const char *where, int e)
{
    char eb[128];
    d->errors++;
    if (d->errors <= 3 || d->errors % 100 == 0)
        VP_LOGW("decoder %s: %s: %s (%ld so far), skipped", d->name, where, av_err(e, eb, sizeof eb), d->errors);
}

static int avdec_send(vp_decoder *d, const vp_packet *p)
{
    avdec *a = d->priv;
    char eb[128];
    int e;
    if (!p) {
        if (a->flushed)
            return 0;
        a->flushed = 1;
        e = avcodec_send_packet(a->ctx, NULL);
    } else {
        if (a->flushed)
            return vp_decoder_set_error(d, VP_ERR_INVALID, "decoder %s: packet sent after the flush", d->name);
        if (p->size > INT32_MAX - AV_INPUT_BUFFER_PADDING_SIZE)
            return vp_decoder_set_error(d, VP_ERR_INVALID, "decoder %s: packet of %zu bytes", d->name, p->size);
        av_packet_unref(a->pkt);
        if ((e = av_new_packet(a->pkt, (int)p->size)) < 0)
            return vp_decoder_set_error(d, VP_ERR_NOMEM, "decoder %s: %s", d->name, av_err(e, eb, sizeof eb));
        memcpy(a->pkt->data, p->data, p->size);
        a->pkt->pts = p->pts == VP_NOPTS ? AV_NOPTS_VALUE : p->pts;
        if (p->keyframe)
            a->pkt->flags |= AV_PKT_FLAG_KEY;
        e = avcodec_send_packet(a->ctx, a->pkt);
    }
    if (e == AVERROR(EAGAIN))
        return VP_ERR_AGAIN;
    if (e == AVERROR(ENOMEM))
        return vp_decoder_set_error(d, VP_ERR_NOMEM, "decoder %s: out of memory", d->name);
    if (e < 0 && e != AVERROR_EOF)
        note_corrupt(d, "packet rejected", e);
    return 0;
}

static vp_color_matrix matrix_of(const AVFrame *f)
{
    switch (f->colorspace) {
    case AVCOL_SPC_BT709: return VP_MATRIX_BT709;
    case AVCOL_SPC_BT470BG: case AVCOL_SPC_SMPTE170M: case AVCOL_SPC_FCC: return VP_MATRIX_BT601;
    case AVCOL_SPC_BT2020_NCL: case AVCOL_SPC_BT2020_CL: return VP_MATRIX_BT2020;
    default: return vp_default_matrix(f->height);
    }
}

static int avdec_receive(vp_decoder *d, vp_frame **out)
{
    avdec *a = d->priv;
    int e;
    for (;;) {
        e = avcodec_receive_frame(a->ctx, a->frame);
        if (e == AVERROR(EAGAIN))
            return VP_ERR_AGAIN;
        if (e == AVERROR_EOF)
            return VP_ERR_EOF;
        if (e == AVERROR(ENOMEM))
            return vp_decoder_set_error(d, VP_ERR_NOMEM, "decoder %s: out of memory", d->name);
        if (e < 0) {
            note_corrupt(d, "frame dropped", e);
            continue;
        }
        break;
    }
    vp_pixfmt fmt;
    switch (a->frame->format) {
    case AV_PIX_FMT_YUV420P: case AV_PIX_FMT_YUVJ420P: fmt = VP_PIX_YUV420P; break;
    case AV_PIX_FMT_YUV420P10LE: fmt = VP_PIX_YUV420P10; break;
    default: {
        const char *n = av_get_pix_fmt_name((enum AVPixelFormat)a->frame->format);
        av_frame_unref(a->frame);
        return vp_decoder_set_error(d, VP_ERR_UNSUPPORTED,
                                    "decoder %s: pixel format %s is not supported (4:2:0 at 8 or 10 bits are)", d->name,
                                    n ? n : "unknown");
    }
    }
    av_vframe *v = calloc(1, sizeof *v);
    if (!v || !(v->f = av_frame_alloc())) {
        free(v);
        av_frame_unref(a->frame);
        return vp_decoder_set_error(d, VP_ERR_NOMEM, "decoder %s: out of memory", d->name);
    }
    av_frame_move_ref(v->f, a->frame);
    vp_frame_impl_init(&v->base, &av_vframe_ops);
    vp_frame *f = &v->base.pub;
    AVFrame *af = v->f;
    f->format = fmt;
    f->width = af->width, f->height = af->height;
    f->bit_depth = fmt == VP_PIX_YUV420P10 ? 10 : 8;
    f->num_planes = 3;
    for (int i = 0; i < 3; i++)
        f->data[i] = af->data[i], f->pitch[i] = af->linesize[i];
    f->memory = VP_MEM_HOST;
    f->matrix = matrix_of(af);
    f->range = af->color_range == AVCOL_RANGE_JPEG || af->format == AV_PIX_FMT_YUVJ420P ? VP_RANGE_FULL : VP_RANGE_LIMITED;
    f->pts = af->pts == AV_NOPTS_VALUE ? VP_NOPTS : af->pts;
    *out = f;
    return 0;
}

static void avdec_destroy(vp_decoder *d)
{
    avdec *a = d->priv;
    if (!a)
        return;
    avcodec_free_context(&a->ctx);
    av_packet_free(&a->pkt);
    av_frame_free(&a->frame);
    free(a);
    d->priv = NULL;
}

static const vp_decoder_impl_ops avdec_ops = {
    .name = "libavcodec",
    .send = avdec_send,
    .receive = avdec_receive,
    .destroy = avdec_destroy,
};

int vp_avdec_create(vp_decoder *d, char *err, size_t errlen)
{
    const AVCodec *codec = NULL;
    char eb[128];
    switch (d->opt.codec) {
    case VP_CODEC_H264: codec = avcodec_find_decoder(AV_CODEC_ID_H264); break;
    case VP_CODEC_HEVC: codec = avcodec_find_decoder(AV_CODEC_ID_HEVC); break;
    case VP_CODEC_VP9: codec = avcodec_find_decoder(AV_CODEC_ID_VP9); break;
    case VP_CODEC_AV1: /* libavcodec's own AV1 decoder needs a hardware accelerator: prefer dav1d */
        codec = avcodec_find_decoder_by_name("libdav1d");
        if (!codec)
            codec = avcodec_find_decoder(AV_CODEC_ID_AV1);
        break;
    default: break;
    }
    if (!codec) {
        snprintf(err, errlen, "libavcodec has no %s decoder", vp_codec_name(d->opt.codec));
        return VP_ERR_UNSUPPORTED;
    }
    avdec *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return VP_ERR_NOMEM;
    }
    d->priv = a;
    d->ops = &avdec_ops;
    a->ctx = avcodec_alloc_context3(codec);
    a->pkt = av_packet_alloc();
    a->frame = av_frame_alloc();
    if (!a->ctx || !a->pkt || !a->frame) {
        avdec_destroy(d);
        snprintf(err, errlen, "out of memory");
        return VP_ERR_NOMEM;
    }
    a->ctx->thread_count = d->opt.thread_count;
    a->ctx->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    int e = avcodec_open2(a->ctx, codec, NULL);
    if (e < 0) {
        avdec_destroy(d);
        snprintf(err, errlen, "cannot open the libavcodec %s decoder: %s", codec->name, av_err(e, eb, sizeof eb));
        return VP_ERR_BACKEND;
    }
    VP_LOGD("decoder %s: libavcodec %s, %d threads", d->name, codec->name, a->ctx->thread_count);
    return 0;
}
