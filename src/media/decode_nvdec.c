/*
 * NVDEC decoder: NVIDIA's bitstream parser (cuvidCreateVideoParser) drives
 * cuvidDecodePicture; pictures ready for display are queued and mapped
 * (cuvidMapVideoFrame) when the caller receives them. A frame is the mapped
 * surface itself (device pointer + pitch, NV12 or P016 at the visible size):
 * no copy. Its last unref unmaps it.
 *
 * libcuda and libnvcuvid are loaded at run time through the loader of
 * Debian's libffmpeg-nvenc-dev (<ffnvcodec/dynlink_loader.h>), so the same
 * binary runs where no NVIDIA driver exists: creation then fails with
 * VP_ERR_NOT_FOUND and "auto" falls back to the CPU.
 *
 * Ownership: the function tables and the retained primary context live in an
 * nv_lib, one per decoder, referenced by the decoder and by every frame and
 * session still alive. A session is one CUvideodecoder; a change of
 * resolution or format makes a new session, and the old one lives on until
 * its last mapped frame is released. The device's primary context is used
 * (cuDevicePrimaryCtxRetain) so that frames are valid in the CUDA runtime's
 * context of the engine plugin.
 *
 * Back-pressure: pictures the parser has displayed but we have not mapped yet
 * still occupy decode surfaces, so send answers VP_ERR_AGAIN once the queue
 * reaches the extra surfaces beyond the stream's minimum (as FFmpeg's
 * cuviddec does). Parser callbacks cannot return errors to us, so they store
 * the first one, which send returns.
 */
#include "media/media_impl.h"
#include "base/log.h"

#ifndef VP_HAVE_NVDEC
/* Built without the ffnvcodec headers: NVDEC is never available. */
int vp_nvdec_probe(int device, vp_codec codec, int bit_depth, char *why, size_t whylen)
{
    if (why && whylen)
        snprintf(why, whylen, "NVDEC: not built in (no ffnvcodec headers at build time)");
    return VP_ERR_NOT_FOUND;
}

int vp_nvdec_create(vp_decoder *d, char *err, size_t errlen)
{
    return vp_nvdec_probe(d->opt.device, d->opt.codec, 8, err, errlen);
}
#else

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct nv_loadlog {
    char msg[256];
} nv_loadlog;

/* The loader's messages ("Cannot load libnvcuvid.so.1\n") go into the
 * caller's buffer instead of stderr. */
static void nv_loader_log(void *ctx, const char *fmt, ...)
{
    nv_loadlog *l = ctx;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->msg, sizeof l->msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(l->msg);
    while (n && (l->msg[n - 1] == '\n' || l->msg[n - 1] == '\r'))
        l->msg[--n] = 0;
}

#define FFNV_LOG_FUNC(logctx, msg, ...) nv_loader_log((logctx), (msg), __VA_ARGS__)
#define FFNV_DEBUG_LOG_FUNC(logctx, msg, ...) ((void)(logctx))
#include <ffnvcodec/dynlink_loader.h>

enum { QCAP = 64 };

typedef struct nv_lib {
    CudaFunctions *cu;
    CuvidFunctions *cv;
    CUdevice dev;
    int ordinal;
    CUcontext ctx;      /* the device's primary context (retained) */
    CUvideoctxlock lock;
    atomic_int refs;
} nv_lib;

typedef struct nv_session {
    nv_lib *lib;
    CUvideodecoder dec;
    atomic_int refs;
    int coded_w, coded_h, width, height, surface_h, bit_depth, surfaces;
    cudaVideoChromaFormat chroma;
    vp_pixfmt fmt;
    vp_color_matrix matrix;
    vp_color_range range;
} nv_session;

typedef struct nv_frame {
    vp_frame_impl base;
    nv_session *ses;
    CUdeviceptr ptr;
} nv_frame;

typedef struct nv_queued {
    CUVIDPARSERDISPINFO di;
    nv_session *ses; /* referenced */
} nv_queued;

typedef struct nvdec {
    vp_decoder *d;
    nv_lib *lib;
    CUvideoparser parser;
    nv_session *ses;
    nv_queued q[QCAP];
    int qhead, qcount;
    int eos, flushed, saw_pts;
    int cb_status;          /* first error of a parser callback */
    unsigned min_surfaces;
} nvdec;

/* ---- error helpers */
static const char *cu_name(const nv_lib *l, CUresult r)
{
    const char *s = NULL;
    if (l && l->cu && l->cu->cuGetErrorName && l->cu->cuGetErrorName(r, &s) == CUDA_SUCCESS && s)
        return s;
    return "CUDA error";
}

/* ---- nv_lib: function tables, device, primary context */
static void nv_lib_unref(nv_lib **pl)
{
    nv_lib *l = *pl;
    *pl = NULL;
    if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
        return;
    if (l->lock)
        l->cv->cuvidCtxLockDestroy(l->lock);
    if (l->ctx)
        l->cu->cuDevicePrimaryCtxRelease(l->dev);
    cuvid_free_functions(&l->cv);
    cuda_free_functions(&l->cu);
    free(l);
}

static nv_lib *nv_lib_ref(nv_lib *l)
{
    atomic_fetch_add(&l->refs, 1);
    return l;
}

/* Loads the driver libraries and retains the primary context of device. */
static int nv_lib_create(int device, nv_lib **out, char *err, size_t errlen)
{
    nv_loadlog log = {""};
    CUresult r;
    int count = 0;
    *out = NULL;
    nv_lib *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "NVDEC: out of memory");
        return VP_ERR_NOMEM;
    }
    atomic_init(&l->refs, 1);
    l->ordinal = device;
    if (cuda_load_functions(&l->cu, &log) < 0) {
        if (strstr(log.msg, "libcuda"))
            snprintf(err, errlen, "NVDEC: libcuda.so.1 not found (no NVIDIA driver)");
        else
            snprintf(err, errlen, "NVDEC: CUDA driver unusable: %s", log.msg[0] ? log.msg : "cannot load it");
        nv_lib_unref(&l);
        return VP_ERR_NOT_FOUND;
    }
    if (cuvid_load_functions(&l->cv, &log) < 0) {
        if (strstr(log.msg, "libnvcuvid"))
            snprintf(err, errlen, "NVDEC: libnvcuvid.so.1 not found");
        else
            snprintf(err, errlen, "NVDEC: libnvcuvid.so.1 unusable: %s", log.msg[0] ? log.msg : "cannot load it");
        nv_lib_unref(&l);
        return VP_ERR_NOT_FOUND;
    }
    if ((r = l->cu->cuInit(0)) != CUDA_SUCCESS) {
        snprintf(err, errlen, "NVDEC: cuInit failed: %s", cu_name(l, r));
        nv_lib_unref(&l);
        return VP_ERR_NOT_FOUND;
    }
    if ((r = l->cu->cuDeviceGetCount(&count)) != CUDA_SUCCESS || device < 0 || device >= count) {
        snprintf(err, errlen, "NVDEC: no CUDA device %d (%d found%s%s)", device, count, r ? ", " : "",
                 r ? cu_name(l, r) : "");
        nv_lib_unref(&l);
        return VP_ERR_NOT_FOUND;
    }
    if ((r = l->cu->cuDeviceGet(&l->dev, device)) != CUDA_SUCCESS) {
        snprintf(err, errlen, "NVDEC: cuDeviceGet(%d) failed: %s", device, cu_name(l, r));
        nv_lib_unref(&l);
        return VP_ERR_BACKEND;
    }
    if ((r = l->cu->cuDevicePrimaryCtxRetain(&l->ctx, l->dev)) != CUDA_SUCCESS) {
        l->ctx = NULL;
        snprintf(err, errlen, "NVDEC: cuDevicePrimaryCtxRetain(%d) failed: %s", device, cu_name(l, r));
        nv_lib_unref(&l);
        return VP_ERR_BACKEND;
    }
    if ((r = l->cv->cuvidCtxLockCreate(&l->lock, l->ctx)) != CUDA_SUCCESS) {
        l->lock = NULL;
        snprintf(err, errlen, "NVDEC: cuvidCtxLockCreate failed: %s", cu_name(l, r));
        nv_lib_unref(&l);
        return VP_ERR_BACKEND;
    }
    *out = l;
    return 0;
}

static int nv_push(nv_lib *l)
{
    CUresult r = l->cu->cuCtxPushCurrent(l->ctx);
    if (r != CUDA_SUCCESS) {
        VP_LOGE("NVDEC: cuCtxPushCurrent failed: %s", cu_name(l, r));
        return VP_ERR_BACKEND;
    }
    return 0;
}

static void nv_pop(nv_lib *l)
{
    CUcontext dummy;
    CUresult r = l->cu->cuCtxPopCurrent(&dummy);
    if (r != CUDA_SUCCESS)
        VP_LOGE("NVDEC: cuCtxPopCurrent failed: %s", cu_name(l, r));
}

static cudaVideoCodec nv_codec(vp_codec c)
{
    switch (c) {
    case VP_CODEC_H264: return cudaVideoCodec_H264;
    case VP_CODEC_HEVC: return cudaVideoCodec_HEVC;
    case VP_CODEC_AV1: return cudaVideoCodec_AV1;
    case VP_CODEC_VP9: return cudaVideoCodec_VP9;
    default: return cudaVideoCodec_NumCodecs;
    }
}

/* Decoder capabilities for codec at bit depth, 4:2:0. */
static int nv_caps(nv_lib *l, vp_codec codec, int bit_depth, CUVIDDECODECAPS *caps, char *err, size_t errlen)
{
    memset(caps, 0, sizeof *caps);
    caps->eCodecType = nv_codec(codec);
    caps->eChromaFormat = cudaVideoChromaFormat_420;
    caps->nBitDepthMinus8 = (unsigned)(bit_depth - 8);
    if (nv_push(l)) {
        snprintf(err, errlen, "NVDEC: cannot make the CUDA context current");
        return VP_ERR_BACKEND;
    }
    CUresult r = l->cv->cuvidGetDecoderCaps(caps);
    nv_pop(l);
    if (r != CUDA_SUCCESS) {
        snprintf(err, errlen, "NVDEC: cuvidGetDecoderCaps failed: %s", cu_name(l, r));
        return VP_ERR_BACKEND;
    }
    if (!caps->bIsSupported) {
        snprintf(err, errlen, "NVDEC: this GPU does not decode %s %d-bit 4:2:0", vp_codec_name(codec), bit_depth);
        return VP_ERR_UNSUPPORTED;
    }
    return 0;
}

int vp_nvdec_probe(int device, vp_codec codec, int bit_depth, char *why, size_t whylen)
{
    char dummy[8];
    if (!why)
        why = dummy, whylen = sizeof dummy;
    why[0] = 0;
    nv_lib *l;
    int rc = nv_lib_create(device, &l, why, whylen);
    if (rc)
        return rc;
    if (codec != VP_CODEC_NONE) {
        CUVIDDECODECAPS caps;
        rc = nv_caps(l, codec, bit_depth ? bit_depth : 8, &caps, why, whylen);
    }
    nv_lib_unref(&l);
    return rc;
}

/* ---- sessions */
static void nv_session_unref(nv_session **ps)
{
    nv_session *s = *ps;
    *ps = NULL;
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->dec) {
        int pushed = nv_push(s->lib) == 0;
        CUresult r = s->lib->cv->cuvidDestroyDecoder(s->dec);
        if (r != CUDA_SUCCESS)
            VP_LOGE("NVDEC: cuvidDestroyDecoder failed: %s", cu_name(s->lib, r));
        if (pushed)
            nv_pop(s->lib);
    }
    nv_lib_unref(&s->lib);
    free(s);
}

static vp_color_matrix nv_matrix(const CUVIDEOFORMAT *f)
{
    switch (f->video_signal_description.matrix_coefficients) {
    case 1: return VP_MATRIX_BT709;
    case 5: case 6: return VP_MATRIX_BT601;
    case 9: case 10: return VP_MATRIX_BT2020;
    default: return vp_default_matrix(f->display_area.bottom - f->display_area.top);
    }
}

/* ---- parser callbacks (called inside cuvidParseVideoData, context pushed) */
static int nv_fail(nvdec *n, int status, const char *fmt, ...)
{
    if (n->cb_status)
        return 0;
    va_list ap;
    char line[400];
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    n->cb_status = status;
    vp_decoder_set_error(n->d, status, "decoder %s: %s", n->d->name, line);
    return 0;
}

static int nv_on_sequence(void *user, CUVIDEOFORMAT *f)
{
    nvdec *n = user;
    vp_decoder *d = n->d;
    nv_lib *l = n->lib;
    char why[256];
    int depth = 8 + f->bit_depth_luma_minus8;
    int w = f->display_area.right - f->display_area.left, h = f->display_area.bottom - f->display_area.top;
    if (f->chroma_format != cudaVideoChromaFormat_420)
        return nv_fail(n, VP_ERR_UNSUPPORTED, "NVDEC: only 4:2:0 streams are supported (chroma format %d)",
                       (int)f->chroma_format);
    if (w <= 0 || h <= 0 || (unsigned)w > f->coded_width || (unsigned)h > f->coded_height)
        return nv_fail(n, VP_ERR_INVALID, "NVDEC: bad display area %dx%d in a %ux%u picture", w, h, f->coded_width,
                       f->coded_height);
    CUVIDDECODECAPS caps;
    int rc = nv_caps(l, d->opt.codec, depth, &caps, why, sizeof why);
    if (rc)
        return nv_fail(n, rc, "%s", why);
    if (f->coded_width > caps.nMaxWidth || f->coded_height > caps.nMaxHeight ||
        f->coded_width < caps.nMinWidth || f->coded_height < caps.nMinHeight ||
        (f->coded_width >> 4) * (f->coded_height >> 4) > caps.nMaxMBCount)
        return nv_fail(n, VP_ERR_UNSUPPORTED, "NVDEC: %ux%u is outside this GPU's %s range (%ux%u .. %ux%u)",
                       f->coded_width, f->coded_height, vp_codec_name(d->opt.codec), caps.nMinWidth, caps.nMinHeight,
                       caps.nMaxWidth, caps.nMaxHeight);
    cudaVideoSurfaceFormat sf = depth > 8 ? cudaVideoSurfaceFormat_P016 : cudaVideoSurfaceFormat_NV12;
    if (!(caps.nOutputFormatMask & (1u << sf)))
        return nv_fail(n, VP_ERR_UNSUPPORTED, "NVDEC: this GPU cannot output %s for %d-bit %s",
                       depth > 8 ? "P016" : "NV12", depth, vp_codec_name(d->opt.codec));
    int surfaces = f->min_num_decode_surfaces + d->opt.extra_surfaces;
    if (surfaces < 2)
        surfaces = 2;
    nv_session *old = n->ses;
    if (old && old->coded_w == (int)f->coded_width && old->coded_h == (int)f->coded_height && old->width == w &&
        old->height == h && old->bit_depth == depth && old->surfaces >= surfaces)
        return old->surfaces; /* same stream parameters: keep the decoder */

    nv_session *s = calloc(1, sizeof *s);
    if (!s)
        return nv_fail(n, VP_ERR_NOMEM, "NVDEC: out of memory");
    atomic_init(&s->refs, 1);
    s->lib = nv_lib_ref(l);
    s->coded_w = (int)f->coded_width, s->coded_h = (int)f->coded_height;
    s->width = w, s->height = h, s->bit_depth = depth, s->surfaces = surfaces;
    s->surface_h = h;
    s->fmt = depth > 8 ? VP_PIX_P016 : VP_PIX_NV12;
    s->matrix = nv_matrix(f);
    s->range = f->video_signal_description.video_full_range_flag ? VP_RANGE_FULL : VP_RANGE_LIMITED;

    CUVIDDECODECREATEINFO ci;
    memset(&ci, 0, sizeof ci);
    ci.ulWidth = f->coded_width;
    ci.ulHeight = f->coded_height;
    ci.ulNumDecodeSurfaces = (tcu_ulong)surfaces;
    ci.CodecType = f->codec;
    ci.ChromaFormat = f->chroma_format;
    ci.ulCreationFlags = cudaVideoCreate_PreferCUVID;
    ci.bitDepthMinus8 = f->bit_depth_luma_minus8;
    ci.ulMaxWidth = f->coded_width;
    ci.ulMaxHeight = f->coded_height;
    ci.display_area.left = (short)f->display_area.left;
    ci.display_area.top = (short)f->display_area.top;
    ci.display_area.right = (short)f->display_area.right;
    ci.display_area.bottom = (short)f->display_area.bottom;
    ci.OutputFormat = sf;
    ci.DeinterlaceMode = f->progressive_sequence ? cudaVideoDeinterlaceMode_Weave : cudaVideoDeinterlaceMode_Adaptive;
    ci.ulTargetWidth = (tcu_ulong)w;
    ci.ulTargetHeight = (tcu_ulong)h;
    ci.ulNumOutputSurfaces = (tcu_ulong)d->opt.output_surfaces;
    ci.vidLock = l->lock;
    CUresult r = l->cv->cuvidCreateDecoder(&s->dec, &ci);
    if (r != CUDA_SUCCESS) {
        s->dec = NULL;
        nv_session_unref(&s);
        return nv_fail(n, VP_ERR_BACKEND,
                       "NVDEC: cuvidCreateDecoder %s %dx%d %d-bit failed: %s (decoder sessions or memory exhausted?)",
                       vp_codec_name(d->opt.codec), w, h, depth, cu_name(l, r));
    }
    VP_LOGI("decoder %s: NVDEC %s %dx%d (coded %ux%u) %d-bit, %d surfaces", d->name, vp_codec_name(d->opt.codec), w, h,
            f->coded_width, f->coded_height, depth, surfaces);
    n->ses = s;
    nv_session_unref(&old); /* frames and queued pictures keep it alive */
    return surfaces;
}

static int nv_on_decode(void *user, CUVIDPICPARAMS *pp)
{
    nvdec *n = user;
    if (!n->ses)
        return nv_fail(n, VP_ERR_INVALID, "NVDEC: picture before any sequence header");
    CUresult r = n->lib->cv->cuvidDecodePicture(n->ses->dec, pp);
    if (r != CUDA_SUCCESS)
        return nv_fail(n, VP_ERR_BACKEND, "NVDEC: cuvidDecodePicture failed: %s", cu_name(n->lib, r));
    return 1;
}

static int nv_on_display(void *user, CUVIDPARSERDISPINFO *di)
{
    nvdec *n = user;
    if (!di) {
        n->eos = 1;
        return 1;
    }
    if (n->qcount == QCAP || !n->ses)
        return nv_fail(n, VP_ERR_INTERNAL, "NVDEC: display queue overflow");
    nv_queued *q = &n->q[(n->qhead + n->qcount) % QCAP];
    q->di = *di;
    q->ses = n->ses;
    atomic_fetch_add(&n->ses->refs, 1);
    n->qcount++;
    return 1;
}

/* ---- frames */
static void nv_frame_release(vp_frame_impl *fi)
{
    nv_frame *f = (nv_frame *)fi;
    nv_lib *l = f->ses->lib;
    if (nv_push(l) == 0) {
        CUresult r = l->cv->cuvidUnmapVideoFrame(f->ses->dec, f->ptr);
        if (r != CUDA_SUCCESS)
            VP_LOGE("NVDEC: cuvidUnmapVideoFrame failed: %s", cu_name(l, r));
        nv_pop(l);
    }
    nv_session_unref(&f->ses);
    free(f);
}

static int nv_frame_download(const vp_frame_impl *fi, vp_frame *dst)
{
    const nv_frame *f = (const nv_frame *)fi;
    nv_lib *l = f->ses->lib;
    const vp_frame *src = &fi->pub;
    int bps = vp_pixfmt_bytes(src->format);
    if (nv_push(l))
        return VP_ERR_BACKEND;
    int rc = 0;
    for (int p = 0; p < 2 && !rc; p++) {
        CUDA_MEMCPY2D c;
        memset(&c, 0, sizeof c);
        c.srcMemoryType = CU_MEMORYTYPE_DEVICE;
        c.srcDevice = (CUdeviceptr)(uintptr_t)src->data[p];
        c.srcPitch = (size_t)src->pitch[p];
        c.dstMemoryType = CU_MEMORYTYPE_HOST;
        c.dstHost = dst->data[p];
        c.dstPitch = (size_t)dst->pitch[p];
        c.WidthInBytes = (size_t)(p == 0 ? src->width : (src->width + 1) / 2 * 2) * (size_t)bps;
        c.Height = (size_t)(p == 0 ? src->height : (src->height + 1) / 2);
        CUresult r = l->cu->cuMemcpy2D(&c);
        if (r != CUDA_SUCCESS) {
            VP_LOGE("NVDEC: cuMemcpy2D of a %dx%d frame to the host failed: %s", src->width, src->height, cu_name(l, r));
            rc = VP_ERR_BACKEND;
        }
    }
    nv_pop(l);
    return rc;
}

static const vp_frame_ops nv_frame_ops = {.release = nv_frame_release, .download = nv_frame_download};

/* ---- decoder interface */
static int nvdec_send(vp_decoder *d, const vp_packet *p)
{
    nvdec *n = d->priv;
    if (n->cb_status)
        return n->cb_status;
    if (n->flushed)
        return p ? vp_decoder_set_error(d, VP_ERR_INVALID, "decoder %s: packet sent after the flush", d->name) : 0;
    if (p && n->qcount >= d->opt.extra_surfaces - 1 && n->qcount > 0)
        return VP_ERR_AGAIN;
    CUVIDSOURCEDATAPACKET sp;
    memset(&sp, 0, sizeof sp);
    if (p) {
        if (p->size > 0xffffffffu)
            return vp_decoder_set_error(d, VP_ERR_INVALID, "decoder %s: packet of %zu bytes", d->name, p->size);
        sp.payload = p->data;
        sp.payload_size = (tcu_ulong)p->size;
        /* a packet is one whole access unit (media.h): the parser may decode
         * it now instead of waiting for the next picture's first slice, one
         * frame period of latency less on a live stream */
        sp.flags = CUVID_PKT_ENDOFPICTURE;
        if (p->pts != VP_NOPTS) {
            sp.flags |= CUVID_PKT_TIMESTAMP;
            sp.timestamp = p->pts;
            n->saw_pts = 1;
        }
        if (p->discontinuity)
            sp.flags |= CUVID_PKT_DISCONTINUITY;
    } else {
        sp.flags = CUVID_PKT_ENDOFSTREAM;
        n->flushed = 1;
    }
    if (nv_push(n->lib))
        return vp_decoder_set_error(d, VP_ERR_BACKEND, "decoder %s: cannot make the CUDA context current", d->name);
    CUresult r = n->lib->cv->cuvidParseVideoData(n->parser, &sp);
    nv_pop(n->lib);
    if (n->cb_status)
        return n->cb_status;
    if (r != CUDA_SUCCESS) {
        /* the parser rejects what it cannot parse: corrupt data, decoding goes on */
        d->errors++;
        if (d->errors <= 3 || d->errors % 100 == 0)
            VP_LOGW("decoder %s: NVDEC parser rejected a packet: %s (%ld so far), skipped", d->name, cu_name(n->lib, r),
                    d->errors);
    }
    if (!p)
        n->eos = 1; /* the ENDOFSTREAM call has displayed everything */
    return 0;
}

static int nvdec_receive(vp_decoder *d, vp_frame **out)
{
    nvdec *n = d->priv;
    if (n->qcount == 0) {
        if (n->cb_status)
            return n->cb_status;
        return n->eos ? VP_ERR_EOF : VP_ERR_AGAIN;
    }
    nv_queued *q = &n->q[n->qhead];
    nv_session *s = q->ses;
    nv_lib *l = n->lib;
    CUVIDPROCPARAMS pp;
    memset(&pp, 0, sizeof pp);
    pp.progressive_frame = q->di.progressive_frame;
    pp.top_field_first = q->di.top_field_first;
    pp.second_field = 0;
    pp.unpaired_field = q->di.repeat_first_field < 0;
    CUdeviceptr ptr = 0;
    unsigned pitch = 0;
    if (nv_push(l))
        return vp_decoder_set_error(d, VP_ERR_BACKEND, "decoder %s: cannot make the CUDA context current", d->name);
    CUresult r = l->cv->cuvidMapVideoFrame(s->dec, q->di.picture_index, &ptr, &pitch, &pp);
    nv_pop(l);
    if (r != CUDA_SUCCESS)
        return vp_decoder_set_error(d, VP_ERR_BACKEND,
                                    "decoder %s: cuvidMapVideoFrame failed: %s (more than %d frames held?)", d->name,
                                    cu_name(l, r), d->opt.output_surfaces);
    nv_frame *f = calloc(1, sizeof *f);
    if (!f) {
        if (nv_push(l) == 0) {
            CUresult u = l->cv->cuvidUnmapVideoFrame(s->dec, ptr);
            if (u != CUDA_SUCCESS)
                VP_LOGE("NVDEC: cuvidUnmapVideoFrame failed: %s", cu_name(l, u));
            nv_pop(l);
        }
        return vp_decoder_set_error(d, VP_ERR_NOMEM, "decoder %s: out of memory", d->name);
    }
    /* the queue's session reference moves to the frame */
    n->qhead = (n->qhead + 1) % QCAP;
    n->qcount--;
    vp_frame_impl_init(&f->base, &nv_frame_ops);
    f->ses = s;
    f->ptr = ptr;
    vp_frame *v = &f->base.pub;
    v->format = s->fmt;
    v->width = s->width, v->height = s->height;
    v->bit_depth = s->bit_depth;
    v->num_planes = 2;
    v->data[0] = (uint8_t *)(uintptr_t)ptr;
    v->data[1] = (uint8_t *)(uintptr_t)(ptr + (CUdeviceptr)pitch * (CUdeviceptr)((s->surface_h + 1) & ~1));
    v->pitch[0] = v->pitch[1] = (int)pitch;
    v->memory = VP_MEM_CUDA;
    v->device = l->ordinal;
    v->matrix = s->matrix;
    v->range = s->range;
    v->pts = n->saw_pts ? (int64_t)q->di.timestamp : VP_NOPTS;
    *out = v;
    return 0;
}

static void nvdec_destroy(vp_decoder *d)
{
    nvdec *n = d->priv;
    if (!n)
        return;
    if (n->parser) {
        CUresult r = n->lib->cv->cuvidDestroyVideoParser(n->parser);
        if (r != CUDA_SUCCESS)
            VP_LOGE("decoder %s: cuvidDestroyVideoParser failed: %s", d->name, cu_name(n->lib, r));
    }
    while (n->qcount) {
        nv_session_unref(&n->q[n->qhead].ses);
        n->qhead = (n->qhead + 1) % QCAP;
        n->qcount--;
    }
    nv_session_unref(&n->ses);
    nv_lib_unref(&n->lib);
    free(n);
    d->priv = NULL;
}

static const vp_decoder_impl_ops nvdec_ops = {
    .name = "nvdec",
    .send = nvdec_send,
    .receive = nvdec_receive,
    .destroy = nvdec_destroy,
};

int vp_nvdec_create(vp_decoder *d, char *err, size_t errlen)
{
    if (nv_codec(d->opt.codec) == cudaVideoCodec_NumCodecs) {
        snprintf(err, errlen, "NVDEC: codec %s is not supported", vp_codec_name(d->opt.codec));
        return VP_ERR_UNSUPPORTED;
    }
    nvdec *n = calloc(1, sizeof *n);
    if (!n) {
        snprintf(err, errlen, "NVDEC: out of memory");
        return VP_ERR_NOMEM;
    }
    n->d = d;
    int rc = nv_lib_create(d->opt.device, &n->lib, err, errlen);
    if (rc) {
        free(n);
        return rc;
    }
    d->priv = n;
    d->ops = &nvdec_ops;
    CUVIDDECODECAPS caps;
    if ((rc = nv_caps(n->lib, d->opt.codec, 8, &caps, err, errlen))) {
        nvdec_destroy(d);
        d->ops = NULL;
        return rc;
    }
    CUVIDPARSERPARAMS pp;
    memset(&pp, 0, sizeof pp);
    pp.CodecType = nv_codec(d->opt.codec);
    pp.ulMaxNumDecodeSurfaces = 1; /* the sequence callback returns the real count */
    pp.ulMaxDisplayDelay = 0;      /* lowest latency; the queue gives the pipelining */
    pp.pUserData = n;
    pp.pfnSequenceCallback = nv_on_sequence;
    pp.pfnDecodePicture = nv_on_decode;
    pp.pfnDisplayPicture = nv_on_display;
    CUresult r = n->lib->cv->cuvidCreateVideoParser(&n->parser, &pp);
    if (r != CUDA_SUCCESS) {
        n->parser = NULL;
        snprintf(err, errlen, "NVDEC: cuvidCreateVideoParser failed: %s", cu_name(n->lib, r));
        nvdec_destroy(d);
        d->ops = NULL;
        return VP_ERR_BACKEND;
    }
    return 0;
}
#endif /* VP_HAVE_NVDEC */
