/*
 * FFmpeg source: libavformat for containers (MP4, MKV, MPEG-TS, FLV, ...)
 * and network URLs (rtsp, rtmp, http, hls, ...).
 *
 * The best video stream is picked; H.264 and HEVC packets go through the
 * h264_mp4toannexb / hevc_mp4toannexb bitstream filters so that every packet
 * leaves as Annex-B with parameter sets in band (the filters pass streams
 * that are Annex-B already, as MPEG-TS, through). Timestamps stay in the
 * stream's time base (vp_stream_info.time_base).
 *
 * Blocking I/O is bounded: an interrupt callback aborts any open or read that
 * takes longer than timeout_ms, or when vp_source_interrupt is called. A live
 * source (rtsp/rtmp/srt/udp/rtp/tcp by default) that drops or stalls is
 * closed and opened again, after 1 s, 2 s, 4 s ... (capped), with one
 * warning line per attempt; the first packet afterwards has discontinuity set.
 */
#include "media/media_impl.h"
#include "base/log.h"

#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>
#include <libavutil/pixdesc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct ffdemux {
    char *uri;
    AVFormatContext *fmt;
    AVBSFContext *bsf;
    AVPacket *in, *out; /* out: the packet handed to the caller, kept until the next read */
    int stream;
    int live;
    int bsf_flushed;
    int discont;
    int timed_out;      /* the interrupt callback fired because of the deadline */
    int64_t deadline;   /* monotonic ms; 0 = none */
    atomic_int stop;
    long packets;
} ffdemux;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int interrupt_cb(void *opaque)
{
    ffdemux *fd = opaque;
    if (atomic_load_explicit(&fd->stop, memory_order_relaxed))
        return 1;
    if (fd->deadline && mono_ms() > fd->deadline) {
        fd->timed_out = 1;
        return 1;
    }
    return 0;
}

static void arm(vp_source *s, ffdemux *fd)
{
    fd->timed_out = 0;
    fd->deadline = mono_ms() + s->opt.timeout_ms;
}

static const char *av_err(int e, char *buf, size_t n)
{
    if (av_strerror(e, buf, n) < 0)
        snprintf(buf, n, "error %d", e);
    return buf;
}

static void close_input(ffdemux *fd)
{
    av_bsf_free(&fd->bsf);
    avformat_close_input(&fd->fmt);
    if (fd->in)
        av_packet_unref(fd->in);
    if (fd->out)
        av_packet_unref(fd->out);
    fd->bsf_flushed = 0;
}

static vp_codec map_codec(enum AVCodecID id)
{
    switch (id) {
    case AV_CODEC_ID_H264: return VP_CODEC_H264;
    case AV_CODEC_ID_HEVC: return VP_CODEC_HEVC;
    case AV_CODEC_ID_AV1: return VP_CODEC_AV1;
    case AV_CODEC_ID_VP9: return VP_CODEC_VP9;
    default: return VP_CODEC_NONE;
    }
}

/* Opens the input and the bitstream filter; fills s->info. One line in err. */
static int open_input(vp_source *s, ffdemux *fd, char *err, size_t errlen)
{
    char eb[128];
    AVDictionary *dict = NULL;
    int e, rc;
    if (!strncasecmp(fd->uri, "rtsp://", 7) || !strncasecmp(fd->uri, "rtsps://", 8)) {
        av_dict_set(&dict, "rtsp_transport", s->opt.rtsp_transport == VP_RTSP_UDP ? "udp" : "tcp", 0);
        av_dict_set_int(&dict, "timeout", (int64_t)s->opt.timeout_ms * 1000, 0);
    }
    fd->fmt = avformat_alloc_context();
    if (!fd->fmt) {
        av_dict_free(&dict);
        snprintf(err, errlen, "source %s: out of memory", s->id);
        return VP_ERR_NOMEM;
    }
    fd->fmt->interrupt_callback.callback = interrupt_cb;
    fd->fmt->interrupt_callback.opaque = fd;
    arm(s, fd);
    e = avformat_open_input(&fd->fmt, fd->uri, NULL, &dict);
    av_dict_free(&dict);
    if (e < 0) {
        snprintf(err, errlen, "source %s: cannot open: %s", s->id,
                 fd->timed_out ? "timed out" : av_err(e, eb, sizeof eb));
        return e == AVERROR(ENOENT) ? VP_ERR_NOT_FOUND : e == AVERROR_INVALIDDATA ? VP_ERR_INVALID : VP_ERR_IO;
    }
    arm(s, fd);
    if ((e = avformat_find_stream_info(fd->fmt, NULL)) < 0) {
        snprintf(err, errlen, "source %s: cannot read stream information: %s", s->id,
                 fd->timed_out ? "timed out" : av_err(e, eb, sizeof eb));
        rc = VP_ERR_INVALID;
        goto fail;
    }
    fd->stream = av_find_best_stream(fd->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (fd->stream < 0) {
        snprintf(err, errlen, "source %s: no video stream (%u stream%s of other kinds)", s->id, fd->fmt->nb_streams,
                 fd->fmt->nb_streams == 1 ? "" : "s");
        rc = VP_ERR_UNSUPPORTED;
        goto fail;
    }
    AVStream *st = fd->fmt->streams[fd->stream];
    vp_codec codec = map_codec(st->codecpar->codec_id);
    if (codec == VP_CODEC_NONE) {
        snprintf(err, errlen, "source %s: video codec %s is not supported (H.264, HEVC, AV1 and VP9 are)", s->id,
                 avcodec_get_name(st->codecpar->codec_id));
        rc = VP_ERR_UNSUPPORTED;
        goto fail;
    }
    if (s->info.codec != VP_CODEC_NONE && s->info.codec != codec) {
        snprintf(err, errlen, "source %s: the codec changed from %s to %s", s->id, vp_codec_name(s->info.codec),
                 vp_codec_name(codec));
        rc = VP_ERR_UNSUPPORTED;
        goto fail;
    }
    for (unsigned i = 0; i < fd->fmt->nb_streams; i++)
        if ((int)i != fd->stream)
            fd->fmt->streams[i]->discard = AVDISCARD_ALL;
    const char *bsf_name = codec == VP_CODEC_H264 ? "h264_mp4toannexb" : codec == VP_CODEC_HEVC ? "hevc_mp4toannexb" : "null";
    const AVBitStreamFilter *bsf = av_bsf_get_by_name(bsf_name);
    if (!bsf) {
        snprintf(err, errlen, "source %s: libavcodec has no %s bitstream filter", s->id, bsf_name);
        rc = VP_ERR_UNSUPPORTED;
        goto fail;
    }
    if ((e = av_bsf_alloc(bsf, &fd->bsf)) < 0 || (e = avcodec_parameters_copy(fd->bsf->par_in, st->codecpar)) < 0) {
        snprintf(err, errlen, "source %s: %s: %s", s->id, bsf_name, av_err(e, eb, sizeof eb));
        rc = VP_ERR_NOMEM;
        goto fail;
    }
    fd->bsf->time_base_in = st->time_base;
    if ((e = av_bsf_init(fd->bsf)) < 0) {
        snprintf(err, errlen, "source %s: %s: %s", s->id, bsf_name, av_err(e, eb, sizeof eb));
        rc = VP_ERR_INVALID;
        goto fail;
    }
    s->info.codec = codec;
    s->info.width = st->codecpar->width;
    s->info.height = st->codecpar->height;
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get((enum AVPixelFormat)st->codecpar->format);
    s->info.bit_depth = desc ? desc->comp[0].depth : st->codecpar->bits_per_raw_sample;
    s->info.time_base = (vp_rational){fd->bsf->time_base_out.num, fd->bsf->time_base_out.den};
    AVRational fr = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    s->info.frame_rate = fr.num > 0 && fr.den > 0 ? (vp_rational){fr.num, fr.den} : (vp_rational){0, 1};
    s->info.live = fd->live;
    s->info.demuxer = fd->fmt->iformat->name;
    fd->deadline = 0;
    return 0;
fail:
    close_input(fd);
    fd->deadline = 0;
    return rc;
}

/* Sleeps ms milliseconds unless interrupted; returns 1 when interrupted. */
static int nap(ffdemux *fd, int ms)
{
    for (int slept = 0; slept < ms; slept += 50) {
        if (atomic_load(&fd->stop))
            return 1;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&fd->stop);
}

/* The live input dropped: close it and open it again with back-off. */
static int reconnect(vp_source *s, ffdemux *fd, const char *why)
{
    char msg[512];
    int delay = s->opt.reconnect_delay_ms;
    close_input(fd);
    snprintf(msg, sizeof msg, "%s", why);
    for (int tries = 0;; tries++) {
        if (atomic_load(&fd->stop))
            return VP_ERR_EOF;
        if (s->opt.max_reconnects > 0 && tries >= s->opt.max_reconnects) {
            vp_source_set_error(s, VP_ERR_IO, "source %s: giving up after %d reconnection attempts (%s)", s->id, tries, msg);
            VP_LOGE("%s", s->err);
            return VP_ERR_EOF;
        }
        VP_LOGW("source %s: %s (%s), reconnecting in %g s", s->id, tries ? "reconnection failed" : "connection lost", msg,
                delay / 1000.0);
        if (nap(fd, delay))
            return VP_ERR_EOF;
        char err[512];
        if (open_input(s, fd, err, sizeof err) == 0) {
            VP_LOGW("source %s: reconnected", s->id);
            fd->discont = 1;
            return 0;
        }
        /* keep the reason, without the "source ID: " prefix already in our line */
        const char *r = strstr(err, ": ");
        snprintf(msg, sizeof msg, "%s", r ? r + 2 : err);
        delay = delay > s->opt.reconnect_max_delay_ms / 2 ? s->opt.reconnect_max_delay_ms : delay * 2;
    }
}

static int ffdemux_read(vp_source *s, vp_packet *pkt)
{
    ffdemux *fd = s->priv;
    char eb[128];
    int e, rc;
    av_packet_unref(fd->out);
    for (;;) {
        if (atomic_load(&fd->stop))
            return VP_ERR_EOF;
        if (fd->bsf) {
            e = av_bsf_receive_packet(fd->bsf, fd->out);
            if (e == 0) {
                pkt->data = fd->out->data;
                pkt->size = (size_t)fd->out->size;
                pkt->pts = fd->out->pts == AV_NOPTS_VALUE ? VP_NOPTS : fd->out->pts;
                pkt->dts = fd->out->dts == AV_NOPTS_VALUE ? VP_NOPTS : fd->out->dts;
                pkt->keyframe = !!(fd->out->flags & AV_PKT_FLAG_KEY);
                pkt->discontinuity = fd->discont;
                fd->discont = 0;
                fd->packets++;
                return 0;
            }
            if (e == AVERROR_EOF)
                return VP_ERR_EOF;
            if (e != AVERROR(EAGAIN))
                VP_LOGW("source %s: bitstream filter: %s, packet dropped", s->id, av_err(e, eb, sizeof eb));
        }
        if (!fd->fmt) { /* a failed reconnect left no input */
            if ((rc = reconnect(s, fd, "no input")))
                return rc;
            continue;
        }
        arm(s, fd);
        e = av_read_frame(fd->fmt, fd->in);
        fd->deadline = 0;
        if (e < 0) {
            if (atomic_load(&fd->stop))
                return VP_ERR_EOF;
            if (fd->live) {
                const char *why = fd->timed_out ? "no data" : e == AVERROR_EOF ? "end of stream" : av_err(e, eb, sizeof eb);
                char whybuf[160];
                if (fd->timed_out)
                    snprintf(whybuf, sizeof whybuf, "no data for %g s", s->opt.timeout_ms / 1000.0), why = whybuf;
                if ((rc = reconnect(s, fd, why)))
                    return rc;
                continue;
            }
            if (e != AVERROR_EOF)
                VP_LOGW("source %s: read error after %ld packets: %s; treating it as the end", s->id, fd->packets,
                        fd->timed_out ? "timed out" : av_err(e, eb, sizeof eb));
            if (fd->bsf_flushed)
                return VP_ERR_EOF;
            fd->bsf_flushed = 1;
            if ((e = av_bsf_send_packet(fd->bsf, NULL)) < 0)
                return VP_ERR_EOF;
            continue;
        }
        if (fd->in->stream_index != fd->stream) {
            av_packet_unref(fd->in);
            continue;
        }
        if ((e = av_bsf_send_packet(fd->bsf, fd->in)) < 0) {
            VP_LOGW("source %s: bitstream filter: %s, packet dropped", s->id, av_err(e, eb, sizeof eb));
            av_packet_unref(fd->in);
        }
    }
}

static void ffdemux_interrupt(vp_source *s)
{
    ffdemux *fd = s->priv;
    atomic_store(&fd->stop, 1);
}

static void ffdemux_close(vp_source *s)
{
    ffdemux *fd = s->priv;
    if (!fd)
        return;
    close_input(fd);
    av_packet_free(&fd->in);
    av_packet_free(&fd->out);
    free(fd->uri);
    free(fd);
    s->priv = NULL;
    avformat_network_deinit();
}

static const vp_source_impl_ops ffdemux_ops = {
    .name = "ffmpeg",
    .read = ffdemux_read,
    .interrupt = ffdemux_interrupt,
    .close = ffdemux_close,
};

static int is_live_url(const char *uri)
{
    static const char *const schemes[] = {"rtsp://", "rtsps://", "rtmp://", "rtmps://", "srt://", "udp://", "rtp://", "tcp://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
        if (!strncasecmp(uri, schemes[i], strlen(schemes[i])))
            return 1;
    return 0;
}

int vp_ffdemux_open(vp_source *s, const char *uri, char *err, size_t errlen)
{
    ffdemux *fd = calloc(1, sizeof *fd);
    if (!fd || !(fd->uri = strdup(uri)) || !(fd->in = av_packet_alloc()) || !(fd->out = av_packet_alloc())) {
        if (fd) {
            av_packet_free(&fd->in);
            free(fd->uri);
        }
        free(fd);
        snprintf(err, errlen, "source %s: out of memory", s->id);
        return VP_ERR_NOMEM;
    }
    atomic_init(&fd->stop, 0);
    avformat_network_init();
    s->priv = fd;
    s->ops = &ffdemux_ops;
    fd->live = s->opt.live < 0 ? is_live_url(uri) : s->opt.live;
    int rc = open_input(s, fd, err, errlen);
    if (rc) {
        ffdemux_close(s);
        return rc;
    }
    return 0;
}
