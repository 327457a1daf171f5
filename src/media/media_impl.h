/* Media layer internals: the frame record behind vp_frame, and the source
 * and decoder interfaces (static const tables of function pointers, one per
 * implementation, as the engine's backends). */
#ifndef VP_MEDIA_IMPL_H
#define VP_MEDIA_IMPL_H

#include "vidpipe/media.h"

#include <stdatomic.h>
#include <stdio.h>

typedef struct vp_frame_impl vp_frame_impl;

typedef struct vp_frame_ops {
    /* Releases everything the frame holds and frees the record. Required. */
    void (*release)(vp_frame_impl *f);
    /* Copies the planes into host frame dst (same format and size, allocated
     * by the caller). Required for device frames; NULL for host frames. */
    int (*download)(const vp_frame_impl *f, vp_frame *dst);
} vp_frame_ops;

/* Every frame record starts with this; implementations embed it first. */
struct vp_frame_impl {
    vp_frame pub;
    atomic_int refs;
    const vp_frame_ops *ops;
};

/* Initialises the common part (1 reference). */
void vp_frame_impl_init(vp_frame_impl *f, const vp_frame_ops *ops);
/* A host frame with its own planes (malloc), 1 reference. */
int vp_frame_alloc_host(vp_pixfmt fmt, int width, int height, vp_frame **out);
/* Bytes per sample of a format (1 or 2). */
int vp_pixfmt_bytes(vp_pixfmt f);
/* Default matrix for frames whose bitstream does not say. */
vp_color_matrix vp_default_matrix(int height);

/* ---- sources */
typedef struct vp_source_impl_ops {
    const char *name;
    int (*read)(vp_source *s, vp_packet *pkt);
    void (*interrupt)(vp_source *s);
    void (*close)(vp_source *s);
} vp_source_impl_ops;

struct vp_source {
    const vp_source_impl_ops *ops;
    void *priv;
    vp_source_options opt;
    vp_stream_info info;
    char id[256];
    char err[512];
};

int vp_source_set_error(vp_source *s, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

int vp_annexb_open(vp_source *s, const char *path, char *err, size_t errlen);
#ifdef VP_HAVE_FFMPEG
/* Routes libav* log messages into vp_log (debug level); idempotent. */
void vp_media_ffmpeg_init(void);
int vp_ffdemux_open(vp_source *s, const char *uri, char *err, size_t errlen);
#endif

/* ---- decoders */
typedef struct vp_decoder_impl_ops {
    const char *name;
    int (*send)(vp_decoder *d, const vp_packet *pkt);
    int (*receive)(vp_decoder *d, vp_frame **out);
    void (*destroy)(vp_decoder *d);
} vp_decoder_impl_ops;

struct vp_decoder {
    const vp_decoder_impl_ops *ops;
    void *priv;
    vp_decoder_options opt;
    vp_hw hw;
    long errors;
    int64_t out_count; /* frames handed out; synthetic pts when the input has none */
    char name[128];
    char err[512];
};

int vp_decoder_set_error(vp_decoder *d, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Implementation constructors: fill d->ops/d->priv or return a status with
 * one line in err. */
int vp_nvdec_create(vp_decoder *d, char *err, size_t errlen);
#ifdef VP_HAVE_FFMPEG
int vp_avdec_create(vp_decoder *d, char *err, size_t errlen);
#endif

/* ---- md5 (RFC 1321) */
typedef struct vp_md5 {
    uint32_t h[4];
    uint32_t k[64]; /* floor(|sin(i+1)| * 2^32) */
    uint64_t len;
    uint8_t buf[64];
} vp_md5;
void vp_md5_init(vp_md5 *m);
void vp_md5_update(vp_md5 *m, const void *data, size_t n);
void vp_md5_final(vp_md5 *m, uint8_t out[16]);

#endif
