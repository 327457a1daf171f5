/* vp_source: options, the choice of demuxer, and the common error string. */
#include "media/media_impl.h"
#include "base/log.h"

#ifdef VP_HAVE_FFMPEG
#include <libavutil/log.h>
#include <pthread.h>
#endif
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void vp_source_options_default(vp_source_options *o)
{
    memset(o, 0, sizeof *o);
    o->frame_rate = (vp_rational){25, 1};
    o->live = -1;
    o->timeout_ms = 5000;
    o->reconnect_delay_ms = 1000;
    o->reconnect_max_delay_ms = 30000;
}

#ifdef VP_HAVE_FFMPEG
/* FFmpeg's own messages ("[h264 @ 0x...] error while decoding MB ...") go to
 * our log at debug level: callers get one line of ours per problem instead. */
static void ff_log(void *avcl, int level, const char *fmt, va_list vl)
{
    char line[1024];
    int prefix = 1;
    if (level > AV_LOG_WARNING || !vp_log_enabled(VP_LOG_DEBUG))
        return;
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &prefix);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    vp_log(VP_LOG_DEBUG, "ffmpeg: %s", line);
}

static void ff_log_install(void) { av_log_set_callback(ff_log); }

/* libavutil's log callback is process-wide; installed once. */
void vp_media_ffmpeg_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ff_log_install);
}
#endif

int vp_media_have_ffmpeg(void)
{
#ifdef VP_HAVE_FFMPEG
    return 1;
#else
    return 0;
#endif
}

int vp_source_set_error(vp_source *s, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    VP_LOGD("%s", s->err);
    return status;
}

const char *vp_source_last_error(const vp_source *s) { return s ? s->err : ""; }

/* The codec an elementary-stream file name implies, or NONE. */
static vp_codec codec_from_extension(const char *uri)
{
    const char *dot = strrchr(uri, '.');
    if (!dot || strchr(dot, '/'))
        return VP_CODEC_NONE;
    static const struct {
        const char *ext;
        vp_codec codec;
    } map[] = {{".h264", VP_CODEC_H264}, {".264", VP_CODEC_H264}, {".avc", VP_CODEC_H264}, {".h265", VP_CODEC_HEVC},
               {".265", VP_CODEC_HEVC},  {".hevc", VP_CODEC_HEVC}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcasecmp(dot, map[i].ext))
            return map[i].codec;
    return VP_CODEC_NONE;
}

int vp_source_open(const char *uri, const vp_source_options *opts, vp_source **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err)
        err = dummy, errlen = sizeof dummy;
    err[0] = 0;
    *out = NULL;
    if (!uri || !*uri) {
        snprintf(err, errlen, "source: empty URI");
        return VP_ERR_INVALID;
    }
    vp_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "source %s: out of memory", uri);
        return VP_ERR_NOMEM;
    }
    if (opts)
        s->opt = *opts;
    else
        vp_source_options_default(&s->opt);
    if (s->opt.frame_rate.num <= 0 || s->opt.frame_rate.den <= 0)
        s->opt.frame_rate = (vp_rational){25, 1};
    if (s->opt.timeout_ms <= 0)
        s->opt.timeout_ms = 5000;
    if (s->opt.reconnect_delay_ms <= 0)
        s->opt.reconnect_delay_ms = 1000;
    if (s->opt.reconnect_max_delay_ms < s->opt.reconnect_delay_ms)
        s->opt.reconnect_max_delay_ms = s->opt.reconnect_delay_ms;
    snprintf(s->id, sizeof s->id, "%s", s->opt.id && *s->opt.id ? s->opt.id : uri);
    s->opt.id = s->id;

    vp_demuxer dm = s->opt.demuxer;
    vp_codec ext = codec_from_extension(uri);
    if (dm == VP_DEMUX_AUTO)
        dm = ext != VP_CODEC_NONE && !strstr(uri, "://") ? VP_DEMUX_ANNEXB : VP_DEMUX_FFMPEG;
    if (dm == VP_DEMUX_ANNEXB && s->opt.codec == VP_CODEC_NONE)
        s->opt.codec = ext;
    int rc;
    if (dm == VP_DEMUX_ANNEXB) {
        rc = vp_annexb_open(s, uri, err, errlen);
    } else {
#ifdef VP_HAVE_FFMPEG
        vp_media_ffmpeg_init();
        rc = vp_ffdemux_open(s, uri, err, errlen);
#else
        snprintf(err, errlen,
                 "source %s: this build has no FFmpeg; it reads only H.264/HEVC elementary streams "
                 "(.h264, .264, .h265, .265, .hevc)",
                 s->id);
        rc = VP_ERR_UNSUPPORTED;
#endif
    }
    if (rc) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void vp_source_info(const vp_source *s, vp_stream_info *info)
{
    if (s)
        *info = s->info;
    else
        memset(info, 0, sizeof *info);
}

int vp_source_read(vp_source *s, vp_packet *pkt)
{
    memset(pkt, 0, sizeof *pkt);
    pkt->pts = pkt->dts = VP_NOPTS;
    return s->ops->read(s, pkt);
}

void vp_source_interrupt(vp_source *s)
{
    if (s && s->ops->interrupt)
        s->ops->interrupt(s);
}

void vp_source_close(vp_source **ps)
{
    if (!ps || !*ps)
        return;
    vp_source *s = *ps;
    *ps = NULL;
    s->ops->close(s);
    free(s);
}
