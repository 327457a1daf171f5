/*
 * vp_encoder and vp_snapshot_write on libavcodec, libavformat and
 * libswscale (contracts in encode.h).
 *
 * Every picture goes through one libswscale context into the encoder's own
 * YUV420P frame: that one path does the NV12 deinterleave, cropping odd
 * sizes to even, scaling after a resolution change and range conversion,
 * and for same-format same-range frames libswscale's unscaled path is a
 * plain copy, so the pixels reach the encoder unchanged. The context is
 * rebuilt only when the input's size, format or range changes.
 *
 * Failure model: the first error of a write (encoder or muxer, e.g. a full
 * disk) is turned into one line, logged once, and kept in enc->failed;
 * everything after it returns that status without touching FFmpeg again,
 * except close, which still tries to finish the file.
 */
#include "media/encode.h"

#include "base/log.h"
#include "media/media_impl.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/mathematics.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Converter from input frames to the encoder's picture, with its key. */
typedef struct scaler {
    struct SwsContext *ctx;
    int src_w, src_h;         /* the region of the input that is converted */
    enum AVPixelFormat src_fmt;
    int src_range;
} scaler;

struct vp_encoder {
    AVFormatContext *fmt;
    AVCodecContext *cc;
    AVStream *st;
    AVFrame *frame;           /* the encoder's input picture, YUV420P w x h */
    AVPacket *pkt;
    scaler sc;
    int w, h;                 /* stream size (even) */
    vp_rational fps;
    AVRational in_tb;         /* unit of vp_frame.pts */
    int64_t frame_dur;        /* one frame in in_tb (>= 1) */
    int64_t last_in, last_out, offset; /* pts of the last frame (input and codec units), shift added */
    int have_last;
    long frames;
    int failed;               /* first error's status, or 0 */
    int header_written;
    int mpeg4_quality;        /* mpeg4: lambda per frame, else 0 */
    vp_color_matrix matrix;
    vp_color_range range;
    int last_w, last_h;       /* input size last seen (for the change message) */
    int last_matrix;          /* input matrix last warned about */
    char name[256];
    char err[700];            /* "encoder NAME: message" */
};

/* "CALL: FFmpeg's reason" into buf */
static void av_reason(char *buf, size_t n, const char *call, int averr)
{
    char why[AV_ERROR_MAX_STRING_SIZE];
    if (av_strerror(averr, why, sizeof why) < 0)
        snprintf(why, sizeof why, "error %d", averr);
    snprintf(buf, n, "%s: %s", call, why);
}

static int set_error(vp_encoder *e, int status, const char *fmt, ...) VP_PRINTF(3, 4);
static int set_error(vp_encoder *e, int status, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(e->err, sizeof e->err, "encoder %s: %s", e->name, msg);
    return status;
}

/* A write-time failure: recorded once, logged once. */
static int fail(vp_encoder *e, int status, const char *call, int averr)
{
    if (e->failed)
        return e->failed;
    char why[300];
    av_reason(why, sizeof why, call, averr);
    set_error(e, status, "%s", why);
    VP_LOGE("%s", e->err);
    e->failed = status;
    return status;
}

/* Status for an FFmpeg I/O-side error: the disk or the path, or the library. */
static int io_status(int averr, const AVIOContext *pb)
{
    if ((pb && pb->error) || averr == AVERROR(ENOSPC) || averr == AVERROR(EIO) || averr == AVERROR(EPIPE) ||
        averr == AVERROR(ENOENT) || averr == AVERROR(EACCES) || averr == AVERROR(EROFS) ||
        averr == AVERROR(ENOTDIR) || averr == AVERROR(EISDIR) || averr == AVERROR(EDQUOT))
        return VP_ERR_IO;
    return averr == AVERROR(ENOMEM) ? VP_ERR_NOMEM : VP_ERR_BACKEND;
}

void vp_encoder_options_default(vp_encoder_options *o)
{
    memset(o, 0, sizeof *o);
    o->crf = 20;
    o->max_b_frames = -1;
    o->matrix = -1;
    o->range = -1;
}

static const char *container_for(const char *path)
{
    static const struct {
        const char *ext, *format;
    } map[] = {{".mp4", "mp4"}, {".m4v", "mp4"}, {".mov", "mov"}, {".mkv", "matroska"}, {".ts", "mpegts"}};
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash))
        return NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(dot, map[i].ext))
            return map[i].format;
    return NULL;
}

static void set_color(AVCodecContext *cc, vp_color_matrix m, vp_color_range r)
{
    switch (m) {
    case VP_MATRIX_BT709:
        cc->colorspace = AVCOL_SPC_BT709, cc->color_primaries = AVCOL_PRI_BT709, cc->color_trc = AVCOL_TRC_BT709;
        break;
    case VP_MATRIX_BT2020:
        cc->colorspace = AVCOL_SPC_BT2020_NCL, cc->color_primaries = AVCOL_PRI_BT2020;
        cc->color_trc = AVCOL_TRC_BT2020_10;
        break;
    default:
        cc->colorspace = AVCOL_SPC_SMPTE170M, cc->color_primaries = AVCOL_PRI_SMPTE170M;
        cc->color_trc = AVCOL_TRC_SMPTE170M;
        break;
    }
    cc->color_range = r == VP_RANGE_FULL ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
}

/* Allocates, configures and opens e->cc for codec. On failure returns a
 * negative AVERROR, frees the context and leaves the call in why. */
static int open_codec(vp_encoder *e, const AVCodec *codec, const vp_encoder_options *o, int global_header,
                      char *why, size_t whylen)
{
    AVCodecContext *cc = avcodec_alloc_context3(codec);
    if (!cc) {
        snprintf(why, whylen, "avcodec_alloc_context3: out of memory");
        return AVERROR(ENOMEM);
    }
    AVRational tb = e->in_tb;
    int rc = 0;
    const char *call = "avcodec_open2";
    if (codec->id == AV_CODEC_ID_MPEG4 && tb.den > 65535) {
        /* MPEG-4 part 2 codes the time base in 16 bits: the nearest
         * representable one; pts are rescaled into it. */
        av_reduce(&tb.num, &tb.den, tb.num, tb.den, 65535);
    }
    cc->width = e->w, cc->height = e->h;
    cc->pix_fmt = AV_PIX_FMT_YUV420P;
    cc->time_base = tb;
    cc->framerate = (AVRational){e->fps.num, e->fps.den};
    cc->sample_aspect_ratio = (AVRational){1, 1};
    cc->gop_size = o->gop > 0 ? o->gop : (int)av_clip64(av_rescale(2, e->fps.num, e->fps.den), 1, 600);
    if (o->max_b_frames >= 0)
        cc->max_b_frames = o->max_b_frames;
    cc->thread_count = o->threads;
    if (o->bitrate_kbps > 0)
        cc->bit_rate = (int64_t)o->bitrate_kbps * 1000;
    set_color(cc, e->matrix, e->range);
    if (global_header)
        cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;

    char val[32];
    if (!strcmp(codec->name, "libx264")) {
        call = "libx264 option preset";
        rc = av_opt_set(cc->priv_data, "preset", o->preset ? o->preset : "veryfast", 0);
        if (rc >= 0 && o->bitrate_kbps <= 0) {
            call = "libx264 option crf";
            snprintf(val, sizeof val, "%d", o->crf);
            rc = av_opt_set(cc->priv_data, "crf", val, 0);
        }
    } else if (!strcmp(codec->name, "h264_nvenc")) {
        call = "h264_nvenc option gpu";
        snprintf(val, sizeof val, "%d", o->gpu);
        rc = av_opt_set(cc->priv_data, "gpu", val, 0);
        if (rc >= 0 && o->bitrate_kbps <= 0) {
            call = "h264_nvenc option cq";
            snprintf(val, sizeof val, "%d", o->crf);
            rc = av_opt_set(cc->priv_data, "cq", val, 0);
        }
    } else if (codec->id == AV_CODEC_ID_MPEG4 && o->bitrate_kbps <= 0) {
        int q = 2 + o->crf / 6;
        cc->flags |= AV_CODEC_FLAG_QSCALE;
        cc->global_quality = FF_QP2LAMBDA * (q > 31 ? 31 : q);
        e->mpeg4_quality = cc->global_quality;
    }
    if (rc >= 0) {
        call = "avcodec_open2";
        rc = avcodec_open2(cc, codec, NULL);
    }
    if (rc < 0) {
        av_reason(why, whylen, call, rc);
        avcodec_free_context(&cc);
        e->mpeg4_quality = 0;
        return rc;
    }
    e->cc = cc;
    return 0;
}

/* Picks and opens the encoder: NVENC when asked and usable, else libx264
 * or mpeg4 as the options say. */
static int choose_codec(vp_encoder *e, const vp_encoder_options *o, int global_header)
{
    char why[300];
    if (o->hw != VP_ENC_HW_CPU && o->codec != VP_ENC_CODEC_MPEG4) {
        const AVCodec *nv = avcodec_find_encoder_by_name("h264_nvenc");
        int rc = nv ? open_codec(e, nv, o, global_header, why, sizeof why) : AVERROR_ENCODER_NOT_FOUND;
        if (rc == 0)
            return 0;
        if (!nv)
            snprintf(why, sizeof why, "this libavcodec has no h264_nvenc");
        if (o->require_hw)
            return set_error(e, VP_ERR_NOT_FOUND, "NVENC unusable (%s) and require_hw is set", why);
        vp_log(o->hw == VP_ENC_HW_NVENC ? VP_LOG_WARN : VP_LOG_INFO,
               "encoder %s: NVENC unusable (%s): encoding in software", e->name, why);
    }
    const AVCodec *sw = NULL;
    if (o->codec != VP_ENC_CODEC_MPEG4)
        sw = avcodec_find_encoder_by_name("libx264");
    if (!sw && o->codec == VP_ENC_CODEC_H264)
        return set_error(e, VP_ERR_UNSUPPORTED, "this libavcodec has no libx264 H.264 encoder");
    if (!sw)
        sw = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    if (!sw)
        return set_error(e, VP_ERR_UNSUPPORTED, "this libavcodec has neither libx264 nor an MPEG-4 encoder");
    int rc = open_codec(e, sw, o, global_header, why, sizeof why);
    if (rc < 0)
        return set_error(e, rc == AVERROR(ENOMEM) ? VP_ERR_NOMEM : VP_ERR_BACKEND, "%s: %s", sw->name, why);
    return 0;
}

static void encoder_free(vp_encoder *e)
{
    if (e->fmt && e->fmt->pb && !(e->fmt->oformat->flags & AVFMT_NOFILE))
        avio_closep(&e->fmt->pb);
    avformat_free_context(e->fmt);
    avcodec_free_context(&e->cc);
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    sws_freeContext(e->sc.ctx);
    free(e);
}

int vp_encoder_open(const char *path, int width, int height, vp_rational fps, const vp_encoder_options *opts,
                    vp_encoder **out, char *err, size_t errlen)
{
    vp_encoder_options def;
    char dummy[1];
    if (!err || !errlen)
        err = dummy, errlen = sizeof dummy;
    if (!opts) {
        vp_encoder_options_default(&def);
        opts = &def;
    }
    if (out)
        *out = NULL;
    if (!out || !path || !*path) {
        snprintf(err, errlen, "encoder: NULL path or output handle");
        return VP_ERR_INVALID;
    }
    vp_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "encoder %s: out of memory", path);
        return VP_ERR_NOMEM;
    }
    snprintf(e->name, sizeof e->name, "%s", opts->name ? opts->name : path);
    e->last_matrix = -1;
    int rc = 0, averr;
    if (width < 2 || height < 2 || width > 16384 || height > 16384) {
        rc = set_error(e, VP_ERR_INVALID, "picture size %dx%d outside 2x2..16384x16384", width, height);
        goto fail;
    }
    if (fps.num <= 0 || fps.den <= 0) {
        rc = set_error(e, VP_ERR_INVALID, "frame rate %d/%d is not positive", fps.num, fps.den);
        goto fail;
    }
    if (opts->time_base.num < 0 || opts->time_base.den < 0 || (opts->time_base.num > 0) != (opts->time_base.den > 0)) {
        rc = set_error(e, VP_ERR_INVALID, "time base %d/%d is not positive", opts->time_base.num, opts->time_base.den);
        goto fail;
    }
    if (opts->crf < 0 || opts->crf > 51 || opts->matrix < -1 || opts->matrix > VP_MATRIX_BT2020 ||
        opts->range < -1 || opts->range > VP_RANGE_FULL) {
        rc = set_error(e, VP_ERR_INVALID, "crf %d (0..51), matrix %d or range %d out of range", opts->crf,
                       opts->matrix, opts->range);
        goto fail;
    }
    e->w = width & ~1, e->h = height & ~1;
    e->fps = fps;
    e->in_tb = opts->time_base.num > 0 ? (AVRational){opts->time_base.num, opts->time_base.den}
                                       : (AVRational){fps.den, fps.num};
    e->frame_dur = av_rescale_q(1, (AVRational){fps.den, fps.num}, e->in_tb);
    if (e->frame_dur < 1)
        e->frame_dur = 1;
    e->matrix = opts->matrix >= 0 ? (vp_color_matrix)opts->matrix : vp_default_matrix(height);
    e->range = opts->range >= 0 ? (vp_color_range)opts->range : VP_RANGE_LIMITED;
    vp_media_ffmpeg_init();

    const char *fmtname = opts->format ? opts->format : container_for(path);
    if (!fmtname) {
        rc = set_error(e, VP_ERR_INVALID,
                       "cannot tell the container from the name (known: .mp4 .m4v .mov .mkv .ts; or set format)");
        goto fail;
    }
    const AVOutputFormat *of = av_guess_format(fmtname, NULL, NULL);
    if (!of) {
        rc = set_error(e, VP_ERR_INVALID, "libavformat has no muxer '%s'", fmtname);
        goto fail;
    }
    if ((averr = avformat_alloc_output_context2(&e->fmt, of, NULL, path)) < 0) {
        char why[300];
        av_reason(why, sizeof why, "avformat_alloc_output_context2", averr);
        rc = set_error(e, io_status(averr, NULL), "%s", why);
        goto fail;
    }
    if ((rc = choose_codec(e, opts, (of->flags & AVFMT_GLOBALHEADER) != 0)))
        goto fail;

    char why[300];
    e->st = avformat_new_stream(e->fmt, NULL);
    if (!e->st) {
        rc = set_error(e, VP_ERR_NOMEM, "avformat_new_stream: out of memory");
        goto fail;
    }
    if ((averr = avcodec_parameters_from_context(e->st->codecpar, e->cc)) < 0) {
        av_reason(why, sizeof why, "avcodec_parameters_from_context", averr);
        rc = set_error(e, VP_ERR_BACKEND, "%s", why);
        goto fail;
    }
    e->st->time_base = e->cc->time_base; /* a wish: the muxer may pick its own */
    e->st->avg_frame_rate = e->cc->framerate;
    if (!(of->flags & AVFMT_NOFILE) && (averr = avio_open(&e->fmt->pb, path, AVIO_FLAG_WRITE)) < 0) {
        av_reason(why, sizeof why, "cannot create the file", averr);
        rc = set_error(e, VP_ERR_IO, "%s", why);
        goto fail;
    }
    if ((averr = avformat_write_header(e->fmt, NULL)) < 0) {
        av_reason(why, sizeof why, "avformat_write_header", averr);
        rc = set_error(e, io_status(averr, e->fmt->pb), "%s", why);
        goto fail;
    }
    e->header_written = 1;
    e->frame = av_frame_alloc();
    e->pkt = av_packet_alloc();
    if (!e->frame || !e->pkt) {
        rc = set_error(e, VP_ERR_NOMEM, "av_frame_alloc/av_packet_alloc: out of memory");
        goto fail;
    }
    e->frame->format = AV_PIX_FMT_YUV420P, e->frame->width = e->w, e->frame->height = e->h;
    e->frame->color_range = e->cc->color_range, e->frame->colorspace = e->cc->colorspace;
    e->frame->color_primaries = e->cc->color_primaries, e->frame->color_trc = e->cc->color_trc;
    if ((averr = av_frame_get_buffer(e->frame, 0)) < 0) {
        av_reason(why, sizeof why, "av_frame_get_buffer", averr);
        rc = set_error(e, VP_ERR_NOMEM, "%s", why);
        goto fail;
    }
    VP_LOGI("encoder %s: %s %dx%d %d/%d fps, %s, time base %d/%d", e->name, e->cc->codec->name, e->w, e->h,
            fps.num, fps.den, of->name, e->in_tb.num, e->in_tb.den);
    *out = e;
    return 0;

fail:
    snprintf(err, errlen, "%s", e->err);
    VP_LOGD("%s", e->err);
    if (e->header_written) /* a file with a header and nothing else: finish it quietly */
        av_write_trailer(e->fmt);
    encoder_free(e);
    return rc;
}

static enum AVPixelFormat av_format_of(vp_pixfmt f)
{
    return f == VP_PIX_NV12 ? AV_PIX_FMT_NV12 : f == VP_PIX_YUV420P ? AV_PIX_FMT_YUV420P : AV_PIX_FMT_NONE;
}

/* (Re)builds sc for the given source when its key changed. The ranges are
 * set before sws_init_context, so libswscale picks its unscaled copy only
 * when no range conversion is needed. Returns 0 or a negative AVERROR. */
static int scaler_get(scaler *sc, int sw, int sh, enum AVPixelFormat sf, int src_range, int dw, int dh,
                      enum AVPixelFormat df, int dst_range, int flags)
{
    if (sc->ctx && sc->src_w == sw && sc->src_h == sh && sc->src_fmt == sf && sc->src_range == src_range)
        return 0;
    sws_freeContext(sc->ctx);
    sc->ctx = sws_alloc_context();
    if (!sc->ctx)
        return AVERROR(ENOMEM);
    int rc = 0;
    rc = rc < 0 ? rc : av_opt_set_int(sc->ctx, "srcw", sw, 0);
    rc = rc < 0 ? rc : av_opt_set_int(sc->ctx, "srch", sh, 0);
    rc = rc < 0 ? rc : av_opt_set_int(sc->ctx, "src_format", sf, 0);
    rc = rc < 0 ? rc : av_opt_set_int(sc->ctx, "src_range", src_range, 0);
    rc = rc < 0 ? rc : av_opt_set_int(sc->ctx, "dstw", dw, 0);
    rc = rc < 0 ? rc : av_opt_set_int(sc->ctx, "dsth", dh, 0);
    rc = rc < 0 ? rc : av_opt_set_int(sc->ctx, "dst_format", df, 0);
    rc = rc < 0 ? rc : av_opt_set_int(sc->ctx, "dst_range", dst_range, 0);
    rc = rc < 0 ? rc : av_opt_set_int(sc->ctx, "sws_flags", flags, 0);
    rc = rc < 0 ? rc : sws_init_context(sc->ctx, NULL, NULL);
    if (rc < 0) {
        sws_freeContext(sc->ctx);
        sc->ctx = NULL;
        return rc;
    }
    sc->src_w = sw, sc->src_h = sh, sc->src_fmt = sf, sc->src_range = src_range;
    return 0;
}

/* Checks a frame the encoder or the snapshot can take. */
static int frame_ok(const vp_frame *f, char *why, size_t n)
{
    if (!f) {
        snprintf(why, n, "NULL frame");
        return VP_ERR_INVALID;
    }
    if (f->memory != VP_MEM_HOST) {
        snprintf(why, n, "frame in device memory: download it first (vp_frame_to_host)");
        return VP_ERR_UNSUPPORTED;
    }
    if (av_format_of(f->format) == AV_PIX_FMT_NONE) {
        snprintf(why, n, "frame format %s: only yuv420p and nv12 are encoded", vp_pixfmt_name(f->format));
        return VP_ERR_UNSUPPORTED;
    }
    if (f->width < 1 || f->height < 1 || !f->data[0] || !f->data[1] || (f->num_planes == 3 && !f->data[2])) {
        snprintf(why, n, "frame %dx%d without planes", f->width, f->height);
        return VP_ERR_INVALID;
    }
    return 0;
}

/* Sends frame (NULL: drain) and writes every packet that comes out. */
static int encode_and_mux(vp_encoder *e, AVFrame *frame)
{
    int rc = avcodec_send_frame(e->cc, frame);
    if (rc < 0)
        return fail(e, rc == AVERROR(ENOMEM) ? VP_ERR_NOMEM : VP_ERR_BACKEND, "avcodec_send_frame", rc);
    for (;;) {
        rc = avcodec_receive_packet(e->cc, e->pkt);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF)
            return 0;
        if (rc < 0)
            return fail(e, VP_ERR_BACKEND, "avcodec_receive_packet", rc);
        av_packet_rescale_ts(e->pkt, e->cc->time_base, e->st->time_base);
        e->pkt->stream_index = e->st->index;
        rc = av_interleaved_write_frame(e->fmt, e->pkt); /* takes the packet's data, unrefs it */
        if (rc < 0)
            return fail(e, io_status(rc, e->fmt->pb), "writing a packet", rc);
        if (e->fmt->pb && e->fmt->pb->error < 0)
            return fail(e, VP_ERR_IO, "writing a packet", e->fmt->pb->error);
    }
}

int vp_encoder_write(vp_encoder *e, const vp_frame *f)
{
    if (!e)
        return VP_ERR_INVALID;
    if (e->failed)
        return e->failed;
    char why[200];
    int rc = frame_ok(f, why, sizeof why);
    if (rc)
        return set_error(e, rc, "%s", why);

    /* Same size (or one more: an odd source cropped to even): copied; else scaled. */
    int crop = (f->width == e->w || f->width == e->w + 1) && (f->height == e->h || f->height == e->h + 1);
    int sw = crop ? e->w : f->width, sh = crop ? e->h : f->height;
    if (f->width != e->last_w || f->height != e->last_h) {
        if (!crop)
            VP_LOGI("encoder %s: frames of %dx%d scaled to the stream's %dx%d", e->name, f->width, f->height, e->w,
                    e->h);
        e->last_w = f->width, e->last_h = f->height;
    }
    if ((int)f->matrix != e->last_matrix) {
        if (f->matrix != e->matrix)
            VP_LOGW("encoder %s: frames in matrix %d, the stream is tagged %d: colours shift slightly", e->name,
                    (int)f->matrix, (int)e->matrix);
        e->last_matrix = (int)f->matrix;
    }
    int src_full = f->range == VP_RANGE_FULL, dst_full = e->range == VP_RANGE_FULL;
    if ((rc = scaler_get(&e->sc, sw, sh, av_format_of(f->format), src_full, e->w, e->h, AV_PIX_FMT_YUV420P, dst_full,
                         SWS_BILINEAR)) < 0)
        return fail(e, rc == AVERROR(ENOMEM) ? VP_ERR_NOMEM : VP_ERR_BACKEND, "sws_init_context", rc);
    if ((rc = av_frame_make_writable(e->frame)) < 0)
        return fail(e, VP_ERR_NOMEM, "av_frame_make_writable", rc);
    const uint8_t *src[4] = {f->data[0], f->data[1], f->num_planes == 3 ? f->data[2] : NULL, NULL};
    const int pitch[4] = {f->pitch[0], f->pitch[1], f->num_planes == 3 ? f->pitch[2] : 0, 0};
    rc = sws_scale(e->sc.ctx, src, pitch, 0, sh, e->frame->data, e->frame->linesize);
    if (rc <= 0)
        return fail(e, VP_ERR_BACKEND, "sws_scale", rc < 0 ? rc : AVERROR_UNKNOWN);

    /* Timestamps: input units -> codec units, kept strictly increasing. */
    int64_t in = f->pts != VP_NOPTS ? f->pts : e->have_last ? e->last_in + e->frame_dur : 0;
    int64_t dur = av_rescale_q(e->frame_dur, e->in_tb, e->cc->time_base);
    int64_t out = av_rescale_q(in, e->in_tb, e->cc->time_base) + e->offset;
    if (dur < 1)
        dur = 1;
    if (e->have_last && out <= e->last_out) {
        int64_t shift = e->last_out + dur - out;
        if (in <= e->last_in)
            VP_LOGI("encoder %s: pts %lld after %lld (a discontinuity): later frames shifted by %lld", e->name,
                    (long long)in, (long long)e->last_in, (long long)shift);
        e->offset += shift, out += shift;
    }
    e->last_in = in, e->last_out = out, e->have_last = 1;
    e->frame->pts = out;
    if (e->mpeg4_quality)
        e->frame->quality = e->mpeg4_quality;
    if ((rc = encode_and_mux(e, e->frame)))
        return rc;
    e->frames++;
    return 0;
}

int vp_encoder_close(vp_encoder **pe)
{
    if (!pe || !*pe)
        return 0;
    vp_encoder *e = *pe;
    *pe = NULL;
    int averr;
    if (!e->failed)
        encode_and_mux(e, NULL); /* drain; a failure lands in e->failed */
    if (e->header_written) {
        /* even after a failure: what was written stays playable if it can */
        averr = av_write_trailer(e->fmt);
        if (averr < 0)
            fail(e, io_status(averr, e->fmt->pb), "av_write_trailer", averr);
    }
    if (e->fmt->pb && !(e->fmt->oformat->flags & AVFMT_NOFILE)) {
        avio_flush(e->fmt->pb);
        if (e->fmt->pb->error < 0)
            fail(e, VP_ERR_IO, "writing the file", e->fmt->pb->error);
        if ((averr = avio_closep(&e->fmt->pb)) < 0)
            fail(e, VP_ERR_IO, "closing the file", averr);
    }
    int rc = e->failed;
    if (!rc)
        VP_LOGI("encoder %s: %ld frames written", e->name, e->frames);
    encoder_free(e);
    return rc;
}

const char *vp_encoder_last_error(const vp_encoder *e) { return e ? e->err : ""; }
const char *vp_encoder_codec(const vp_encoder *e) { return e && e->cc ? e->cc->codec->name : ""; }
long vp_encoder_frames(const vp_encoder *e) { return e ? e->frames : 0; }

void vp_encoder_size(const vp_encoder *e, int *width, int *height)
{
    if (width)
        *width = e ? e->w : 0;
    if (height)
        *height = e ? e->h : 0;
}

/* ---------------------------------------------------------------- snapshots */

static int snapshot_encode(const char *path, const vp_frame *f, int png, char *err, size_t errlen)
{
    const AVCodec *codec = avcodec_find_encoder(png ? AV_CODEC_ID_PNG : AV_CODEC_ID_MJPEG);
    enum AVPixelFormat df = png ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_YUVJ420P;
    AVCodecContext *cc = NULL;
    AVFrame *fr = NULL;
    AVPacket *pkt = NULL;
    scaler sc = {0};
    FILE *fp = NULL;
    int rc = 0, averr = 0;
    const char *call = "";
    char why[300];
    if (!codec) {
        snprintf(err, errlen, "snapshot %s: this libavcodec has no %s encoder", path, png ? "PNG" : "MJPEG");
        return VP_ERR_UNSUPPORTED;
    }
    if (!(cc = avcodec_alloc_context3(codec)) || !(fr = av_frame_alloc()) || !(pkt = av_packet_alloc())) {
        call = "allocation", averr = AVERROR(ENOMEM);
        goto fail;
    }
    cc->width = f->width, cc->height = f->height, cc->pix_fmt = df;
    cc->time_base = (AVRational){1, 25};
    cc->color_range = AVCOL_RANGE_JPEG;
    if (!png) {
        cc->flags |= AV_CODEC_FLAG_QSCALE;
        cc->global_quality = FF_QP2LAMBDA * 2;
    }
    call = "avcodec_open2";
    if ((averr = avcodec_open2(cc, codec, NULL)) < 0)
        goto fail;
    fr->format = df, fr->width = f->width, fr->height = f->height, fr->color_range = AVCOL_RANGE_JPEG;
    call = "av_frame_get_buffer";
    if ((averr = av_frame_get_buffer(fr, 0)) < 0)
        goto fail;
    call = "sws_init_context";
    if ((averr = scaler_get(&sc, f->width, f->height, av_format_of(f->format), f->range == VP_RANGE_FULL, f->width,
                            f->height, df, 1, SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT)) < 0)
        goto fail;
    if (png) {
        /* libswscale's YUV -> RGB uses BT.601 unless told the frame's matrix. */
        int cs = f->matrix == VP_MATRIX_BT709 ? SWS_CS_ITU709 : f->matrix == VP_MATRIX_BT2020 ? SWS_CS_BT2020
                                                                                               : SWS_CS_ITU601;
        call = "sws_setColorspaceDetails";
        if (sws_setColorspaceDetails(sc.ctx, sws_getCoefficients(cs), f->range == VP_RANGE_FULL,
                                     sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16) < 0) {
            averr = AVERROR(EINVAL);
            goto fail;
        }
    }
    const uint8_t *src[4] = {f->data[0], f->data[1], f->num_planes == 3 ? f->data[2] : NULL, NULL};
    const int pitch[4] = {f->pitch[0], f->pitch[1], f->num_planes == 3 ? f->pitch[2] : 0, 0};
    call = "sws_scale";
    if ((averr = sws_scale(sc.ctx, src, pitch, 0, f->height, fr->data, fr->linesize)) <= 0) {
        averr = averr < 0 ? averr : AVERROR_UNKNOWN;
        goto fail;
    }
    if (!png)
        fr->quality = cc->global_quality;
    fr->pts = 0;
    call = "avcodec_send_frame";
    if ((averr = avcodec_send_frame(cc, fr)) < 0 || (averr = avcodec_send_frame(cc, NULL)) < 0)
        goto fail;
    call = "avcodec_receive_packet";
    if ((averr = avcodec_receive_packet(cc, pkt)) < 0)
        goto fail;
    if (!(fp = fopen(path, "wb"))) {
        snprintf(err, errlen, "snapshot %s: cannot create the file: %s", path, strerror(errno));
        rc = VP_ERR_IO;
        goto done;
    }
    int werr = fwrite(pkt->data, 1, (size_t)pkt->size, fp) != (size_t)pkt->size ? errno : 0;
    if (fclose(fp) != 0 && !werr)
        werr = errno;
    fp = NULL;
    if (werr) {
        snprintf(err, errlen, "snapshot %s: writing the file: %s", path, strerror(werr));
        rc = VP_ERR_IO;
    }
    goto done;
fail:
    av_reason(why, sizeof why, call, averr);
    snprintf(err, errlen, "snapshot %s: %s", path, why);
    rc = averr == AVERROR(ENOMEM) ? VP_ERR_NOMEM : VP_ERR_BACKEND;
done:
    sws_freeContext(sc.ctx);
    av_packet_free(&pkt);
    av_frame_free(&fr);
    avcodec_free_context(&cc);
    return rc;
}

int vp_snapshot_write(const char *path, const vp_frame *f, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen)
        err = dummy, errlen = sizeof dummy;
    err[0] = 0;
    if (!path || !*path) {
        snprintf(err, errlen, "snapshot: NULL path");
        return VP_ERR_INVALID;
    }
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    int png;
    if (dot && (!slash || dot > slash) && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")))
        png = 0;
    else if (dot && (!slash || dot > slash) && !strcasecmp(dot, ".png"))
        png = 1;
    else {
        snprintf(err, errlen, "snapshot %s: unknown picture type (known: .jpg .jpeg .png)", path);
        return VP_ERR_INVALID;
    }
    char why[200];
    int rc = frame_ok(f, why, sizeof why);
    if (rc) {
        snprintf(err, errlen, "snapshot %s: %s", path, why);
        return rc;
    }
    vp_media_ffmpeg_init();
    return snapshot_encode(path, f, png, err, errlen);
}
