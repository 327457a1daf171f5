/*
 * vidpipe media layer: sources (demuxers) and decoders.
 *
 *   vp_source   reads compressed video as packets. Every H.264/HEVC packet
 *               leaves as Annex-B (start codes, parameter sets in band), one
 *               access unit per packet, whatever the container was. Two
 *               implementations: a built-in Annex-B reader for .h264/.h265
 *               elementary streams (no FFmpeg needed) and libavformat for
 *               containers and network URLs (when built with FFmpeg). Live
 *               sources reconnect with exponential back-off after a drop.
 *   vp_decoder  turns packets into frames: NVDEC (nvcuvid and the CUDA
 *               driver, both loaded at run time, on the device's primary
 *               context) or libavcodec on the CPU. Send/receive state machine
 *               as libavcodec's: send may answer VP_ERR_AGAIN (receive first),
 *               receive answers VP_ERR_AGAIN (send more) or VP_ERR_EOF (drained
 *               after a flush, i.e. send with NULL).
 *   vp_frame    one decoded picture, reference counted. An NVDEC frame is a
 *               mapped decoder surface in device memory; it is unmapped when
 *               its last reference goes. Frames stay valid after their decoder
 *               is freed.
 *
 * Errors: functions return 0 or a negative vp_status. The one-line message
 * (naming the source or decoder and what was wrong) is in the handle's
 * last-error string, or in err/errlen for the constructors.
 */
#ifndef VIDPIPE_MEDIA_H
#define VIDPIPE_MEDIA_H

#include "vidpipe/vidpipe.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Timestamp not known. */
#define VP_NOPTS INT64_MIN

typedef enum vp_codec {
    VP_CODEC_NONE = 0,
    VP_CODEC_H264,
    VP_CODEC_HEVC,
    VP_CODEC_AV1,
    VP_CODEC_VP9,
} vp_codec;

/* "h264", "hevc", "av1", "vp9", "none" */
const char *vp_codec_name(vp_codec c);

typedef struct vp_rational {
    int num, den;
} vp_rational;

/* ---------------------------------------------------------------- frames */

typedef enum vp_pixfmt {
    VP_PIX_NONE = 0,
    VP_PIX_NV12,      /* 8-bit Y plane + interleaved UV plane (4:2:0) */
    VP_PIX_P016,      /* 16-bit Y + interleaved UV, samples in the high bits (NVDEC 10/12-bit output) */
    VP_PIX_YUV420P,   /* 8-bit Y, U, V planes */
    VP_PIX_YUV420P10, /* 16-bit little-endian Y, U, V planes, samples in the low 10 bits */
} vp_pixfmt;

/* "nv12", "p016", "yuv420p", "yuv420p10", "none" */
const char *vp_pixfmt_name(vp_pixfmt f);

typedef enum vp_memory {
    VP_MEM_HOST = 0,
    VP_MEM_CUDA = 1, /* device memory of frame->device, on its primary context */
} vp_memory;

typedef enum vp_color_matrix {
    VP_MATRIX_BT601 = 0,
    VP_MATRIX_BT709 = 1,
    VP_MATRIX_BT2020 = 2,
} vp_color_matrix;

typedef enum vp_color_range {
    VP_RANGE_LIMITED = 0, /* Y 16..235, UV 16..240 (scaled for >8 bits) */
    VP_RANGE_FULL = 1,
} vp_color_range;

/*
 * A decoded picture. Created only by decoders (and vp_frame_to_host); read
 * the fields, never write them; never allocate one yourself. The planes hold
 * the visible area: width x height luma samples, (width+1)/2 x (height+1)/2
 * chroma samples (4:2:0). pitch is in bytes. For NV12/P016 data[1] is the
 * interleaved UV plane and data[2] is NULL.
 */
typedef struct vp_frame {
    vp_pixfmt format;
    int width, height;        /* visible size in pixels */
    int bit_depth;            /* 8 or 10 (12) bits per sample as coded */
    int num_planes;           /* 2 (NV12, P016) or 3 (YUV420P, YUV420P10) */
    uint8_t *data[3];         /* host or device pointers, see memory */
    int pitch[3];             /* bytes per row of each plane */
    vp_memory memory;
    int device;               /* CUDA device ordinal when memory is VP_MEM_CUDA, else -1 */
    vp_color_matrix matrix;   /* from the bitstream; unspecified: BT.709 when height >= 720, else BT.601 */
    vp_color_range range;     /* from the bitstream; unspecified: limited */
    int64_t pts;              /* in the source's time base, or the output index when the input had none */
    int64_t index;            /* output order of this decoder, from 0 */
} vp_frame;

/* Adds a reference; returns f. Thread-safe. */
vp_frame *vp_frame_ref(vp_frame *f);
/* Drops a reference and sets *f to NULL; the last one releases the frame
 * (unmaps the NVDEC surface). NULL and *f == NULL are fine. Thread-safe. */
void vp_frame_unref(vp_frame **f);

/* A host copy of any frame (device frames are copied over PCIe; host frames
 * are copied too). The copy has the same format and a reference count of 1. */
int vp_frame_to_host(const vp_frame *src, vp_frame **dst);

/*
 * MD5 of the visible luma samples and of the chroma samples, in a canonical
 * form independent of the frame's layout and memory: rows top to bottom,
 * only visible samples; 8-bit formats as bytes; deeper formats as 16-bit
 * little-endian values right-aligned (P016 is shifted down by 16-bit_depth);
 * chroma as interleaved U,V pairs (planar formats are interleaved first).
 * So an NV12 NVDEC frame and a YUV420P libavcodec frame of the same picture
 * give the same digests. y_hex and uv_hex receive 32 hex digits + NUL.
 */
int vp_frame_md5(const vp_frame *f, char y_hex[33], char uv_hex[33]);

/* --------------------------------------------------------------- sources */

typedef struct vp_source vp_source;

typedef enum vp_demuxer {
    VP_DEMUX_AUTO = 0, /* .h264/.264/.avc/.h265/.265/.hevc -> Annex-B reader, else FFmpeg */
    VP_DEMUX_ANNEXB,   /* built-in Annex-B elementary stream reader */
    VP_DEMUX_FFMPEG,   /* libavformat */
} vp_demuxer;

typedef enum vp_rtsp_transport {
    VP_RTSP_TCP = 0, /* interleaved in the RTSP connection: default, survives NAT and loss */
    VP_RTSP_UDP = 1,
} vp_rtsp_transport;

typedef struct vp_source_options {
    const char *id;            /* name in log and error messages; NULL: the URI */
    vp_demuxer demuxer;
    vp_codec codec;            /* Annex-B reader: NONE = from the file extension */
    vp_rational frame_rate;    /* Annex-B reader: rate of the synthetic timestamps (default 25/1) */
    vp_rtsp_transport rtsp_transport;
    int live;                  /* -1 auto (network URL), 0 file, 1 live: reconnect after a drop */
    int timeout_ms;            /* network open/read timeout (default 5000) */
    int reconnect_delay_ms;    /* first back-off delay (default 1000); doubles per failed try */
    int reconnect_max_delay_ms;/* cap of the back-off (default 30000) */
    int max_reconnects;        /* consecutive failed tries before giving up; 0 = forever */
} vp_source_options;

void vp_source_options_default(vp_source_options *o);

typedef struct vp_stream_info {
    vp_codec codec;
    int width, height;         /* coded picture size when known from the container, else 0 */
    int bit_depth;             /* when known, else 0 */
    vp_rational time_base;     /* unit of packet and frame pts */
    vp_rational frame_rate;    /* average rate when known, else {0, 1} */
    int live;                  /* 1 when the source reconnects after drops */
    const char *demuxer;       /* "annexb" or the libavformat format name */
} vp_stream_info;

/* One compressed access unit. Owned by the source; valid until the next
 * vp_source_read or vp_source_close. */
typedef struct vp_packet {
    const uint8_t *data;
    size_t size;
    int64_t pts, dts;          /* in the stream's time base, or VP_NOPTS */
    int keyframe;              /* IDR/IRAP/intra-only frame */
    int discontinuity;         /* first packet after a reconnect */
} vp_packet;

/* Opens a file or URL. On failure returns the status and writes one line to
 * err (may be NULL). */
int vp_source_open(const char *uri, const vp_source_options *opts, vp_source **out, char *err, size_t errlen);
void vp_source_info(const vp_source *s, vp_stream_info *info);
/* Next packet; VP_ERR_EOF at the end of a file (or when a live source gave
 * up reconnecting). Other errors leave the message in vp_source_last_error. */
int vp_source_read(vp_source *s, vp_packet *pkt);
const char *vp_source_last_error(const vp_source *s);
/* Makes a blocked vp_source_read return (VP_ERR_EOF) as soon as possible;
 * may be called from another thread. */
void vp_source_interrupt(vp_source *s);
void vp_source_close(vp_source **s);

/* Whether this build has FFmpeg (libavformat/libavcodec). */
int vp_media_have_ffmpeg(void);

/* -------------------------------------------------------------- decoders */

typedef struct vp_decoder vp_decoder;

typedef enum vp_hw {
    VP_HW_AUTO = 0, /* NVDEC when usable for the stream, else CPU (unless gpu_only) */
    VP_HW_NVDEC = 1,
    VP_HW_CPU = 2,
} vp_hw;

/* "auto", "nvdec", "cpu" */
const char *vp_hw_name(vp_hw h);

typedef struct vp_decoder_options {
    const char *name;          /* name in messages (e.g. the source id); NULL: "decoder" */
    vp_codec codec;
    vp_hw hw;
    int gpu_only;              /* auto: falling back to the CPU is an error */
    int device;                /* CUDA device ordinal (default 0) */
    int thread_count;          /* CPU decoder threads; 0 = libavcodec's choice */
    int extra_surfaces;        /* NVDEC decode surfaces beyond the stream's minimum (default 4) */
    int output_surfaces;       /* NVDEC frames that may be mapped (held) at once (default 4) */
} vp_decoder_options;

void vp_decoder_options_default(vp_decoder_options *o);

/* Creates a decoder. VP_ERR_NOT_FOUND: the requested hardware is not usable
 * here (no driver, no device); VP_ERR_UNSUPPORTED: the codec is not decodable
 * by this build. err gets one line. */
int vp_decoder_create(const vp_decoder_options *opts, vp_decoder **out, char *err, size_t errlen);
/* The implementation in use: VP_HW_NVDEC or VP_HW_CPU. */
vp_hw vp_decoder_hw(const vp_decoder *d);
/* Feeds one packet (copied; pkt may be reused after return); NULL flushes.
 * VP_ERR_AGAIN: receive frames first. Corrupt data is logged as a warning,
 * counted, and skipped (returns 0): decoding goes on. */
int vp_decoder_send(vp_decoder *d, const vp_packet *pkt);
/* Next frame (a new reference for the caller), VP_ERR_AGAIN or VP_ERR_EOF. */
int vp_decoder_receive(vp_decoder *d, vp_frame **out);
/* Packets rejected as corrupt so far. */
long vp_decoder_errors(const vp_decoder *d);
const char *vp_decoder_last_error(const vp_decoder *d);
/* Frees the decoder; frames still referenced stay valid. */
void vp_decoder_free(vp_decoder **d);

/* Probes NVDEC (driver libraries, device, caps for codec at bit_depth; codec
 * NONE: only the libraries and device). 0 when usable, else a status and a
 * line in why. */
int vp_nvdec_probe(int device, vp_codec codec, int bit_depth, char *why, size_t whylen);

#ifdef __cplusplus
}
#endif
#endif
