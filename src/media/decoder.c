/* vp_decoder: options, the choice between NVDEC and libavcodec (auto falls
 * back to the CPU unless gpu_only), and the common bookkeeping. */
#include "media/media_impl.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void vp_decoder_options_default(vp_decoder_options *o)
{
    memset(o, 0, sizeof *o);
    o->extra_surfaces = 4;
    o->output_surfaces = 4;
}

int vp_decoder_set_error(vp_decoder *d, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, sizeof d->err, fmt, ap);
    va_end(ap);
    VP_LOGD("%s", d->err);
    return status;
}

const char *vp_decoder_last_error(const vp_decoder *d) { return d ? d->err : ""; }
vp_hw vp_decoder_hw(const vp_decoder *d) { return d ? d->hw : VP_HW_AUTO; }
long vp_decoder_errors(const vp_decoder *d) { return d ? d->errors : 0; }

int vp_decoder_create(const vp_decoder_options *opts, vp_decoder **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err)
        err = dummy, errlen = sizeof dummy;
    err[0] = 0;
    *out = NULL;
    vp_decoder *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "decoder: out of memory");
        return VP_ERR_NOMEM;
    }
    if (opts)
        d->opt = *opts;
    else
        vp_decoder_options_default(&d->opt);
    if (d->opt.extra_surfaces < 0 || d->opt.extra_surfaces > 16)
        d->opt.extra_surfaces = 4;
    if (d->opt.output_surfaces < 1 || d->opt.output_surfaces > 64)
        d->opt.output_surfaces = 4;
    if (d->opt.thread_count < 0)
        d->opt.thread_count = 0;
    snprintf(d->name, sizeof d->name, "%s", d->opt.name && *d->opt.name ? d->opt.name : "decoder");
    d->opt.name = d->name;
    if (d->opt.codec == VP_CODEC_NONE) {
        snprintf(err, errlen, "decoder %s: no codec given", d->name);
        free(d);
        return VP_ERR_INVALID;
    }
    int rc = VP_ERR_UNSUPPORTED;
    char why[512] = "";
    if (d->opt.hw == VP_HW_NVDEC || d->opt.hw == VP_HW_AUTO) {
        d->hw = VP_HW_NVDEC;
        rc = vp_nvdec_create(d, why, sizeof why);
        if (rc == 0) {
            *out = d;
            return 0;
        }
        if (d->opt.hw == VP_HW_NVDEC || d->opt.gpu_only) {
            snprintf(err, errlen, "decoder %s: %s%s", d->name, why, d->opt.gpu_only ? " (gpu_only: no CPU fallback)" : "");
            free(d);
            return rc;
        }
        /* no driver or device is the normal case on CPU machines: info;
         * a GPU that is there but refuses (caps, sessions) is worth a warning */
        vp_log(rc == VP_ERR_NOT_FOUND ? VP_LOG_INFO : VP_LOG_WARN, "decoder %s: %s; decoding %s on the CPU", d->name,
               why, vp_codec_name(d->opt.codec));
    }
#ifdef VP_HAVE_FFMPEG
    d->hw = VP_HW_CPU;
    vp_media_ffmpeg_init();
    rc = vp_avdec_create(d, why, sizeof why);
    if (rc == 0) {
        *out = d;
        return 0;
    }
    snprintf(err, errlen, "decoder %s: %s", d->name, why);
#else
    if (d->opt.hw == VP_HW_CPU)
        snprintf(err, errlen, "decoder %s: this build has no CPU decoder (built without FFmpeg)", d->name);
    else
        snprintf(err, errlen, "decoder %s: %s, and this build has no CPU decoder (built without FFmpeg)", d->name, why);
    rc = VP_ERR_UNSUPPORTED;
#endif
    free(d);
    return rc;
}

int vp_decoder_send(vp_decoder *d, const vp_packet *pkt) { return d->ops->send(d, pkt); }

int vp_decoder_receive(vp_decoder *d, vp_frame **out)
{
    *out = NULL;
    int rc = d->ops->receive(d, out);
    if (rc == 0 && *out) {
        (*out)->index = d->out_count++;
        if ((*out)->pts == VP_NOPTS)
            (*out)->pts = (*out)->index;
    }
    return rc;
}

void vp_decoder_free(vp_decoder **pd)
{
    if (!pd || !*pd)
        return;
    vp_decoder *d = *pd;
    *pd = NULL;
    if (d->ops)
        d->ops->destroy(d);
    free(d);
}
