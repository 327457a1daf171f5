/*
 * Video encoding for the annotated-video sink, and still snapshots, through
 * libavcodec/libavformat/libswscale. Only in builds with FFmpeg
 * (VP_HAVE_FFMPEG); callers guard their use with that macro.
 *
 *   vp_encoder  host frames (YUV420P or NV12, 8-bit) -> one video file; the
 *               container follows the extension (.mp4, .mov, .mkv, .ts) or
 *               options.format. Codec: H.264 through libx264 when this
 *               libavcodec has it, else MPEG-4 part 2; h264_nvenc when asked
 *               (hw = NVENC or AUTO) and usable, else software, with the
 *               reason logged once as a warning (require_hw makes that an
 *               error instead).
 *
 * Picture size: the stream is width x height rounded down to even numbers
 * (4:2:0 encoders need even sizes; an odd frame loses its last column or
 * row). A frame of that size (or one more in either direction) is copied;
 * a frame of any other size (a source whose resolution changed) is scaled
 * to the stream's size with libswscale (bilinear, aspect ratio not kept),
 * logged once per change at info level.
 *
 * Colour: the stream is tagged with options.matrix/range. A frame of the
 * other range is converted; a frame of another matrix is encoded as is
 * (its colours shift slightly) with a warning once per change.
 *
 * Timestamps: frame pts are in options.time_base (default 1/fps) and are
 * rescaled to the container's. VP_NOPTS means "previous + 1". A pts not
 * after the previous one (a live source's discontinuity) is moved past it,
 * and every later pts by the same amount, so the file stays monotonic; an
 * info line says so.
 *
 * Errors: functions return 0 or a negative vp_status and leave one line in
 * vp_encoder_last_error (FFmpeg's reason through av_strerror). After a
 * write error (full disk, ...) the encoder is failed: the error is logged
 * once and later writes and close return the same status. Not thread-safe:
 * one thread per encoder.
 */
#ifndef VP_MEDIA_ENCODE_H
#define VP_MEDIA_ENCODE_H

#include "vidpipe/media.h"

#include <stddef.h>

typedef struct vp_encoder vp_encoder;

typedef enum vp_enc_codec {
    VP_ENC_CODEC_AUTO = 0, /* libx264 if present, else MPEG-4 part 2 */
    VP_ENC_CODEC_H264,     /* libx264 (or h264_nvenc with hw); error if absent */
    VP_ENC_CODEC_MPEG4,    /* libavcodec's mpeg4; never hardware */
} vp_enc_codec;

typedef enum vp_enc_hw {
    VP_ENC_HW_CPU = 0,   /* software encoder (default) */
    VP_ENC_HW_NVENC = 1, /* h264_nvenc, falling back to software unless require_hw */
    VP_ENC_HW_AUTO = 2,  /* as NVENC, but the fallback is logged at info level only */
} vp_enc_hw;

typedef struct vp_encoder_options {
    const char *name;         /* in messages; NULL: the path */
    const char *format;       /* container (libavformat short name, e.g. "mp4"); NULL: from the extension */
    vp_enc_codec codec;
    vp_enc_hw hw;
    int require_hw;           /* 1: NVENC unusable is an error (VP_ERR_NOT_FOUND) */
    int gpu;                  /* NVENC device ordinal (default 0) */
    vp_rational time_base;    /* unit of vp_frame.pts; {0, 0}: 1/fps */
    int crf;                  /* libx264 constant rate factor 0..51 (0 lossless), default 20; NVENC: cq; mpeg4: qscale = 2 + crf / 6 */
    int bitrate_kbps;         /* > 0: average bitrate instead of crf */
    int gop;                  /* keyframe interval in frames; 0: about 2 s */
    int max_b_frames;         /* -1 (default): the codec's default; 0: none */
    const char *preset;       /* libx264 preset; NULL: "veryfast" */
    int threads;              /* 0: libavcodec's choice */
    int matrix;               /* vp_color_matrix of the stream; -1 (default): BT.709 when height >= 720, else BT.601 */
    int range;                /* vp_color_range of the stream; -1 (default): limited */
} vp_encoder_options;

void vp_encoder_options_default(vp_encoder_options *o);

/*
 * Opens path for writing (truncates), sets the encoder up and writes the
 * container header, so a bad path, an unknown extension or a missing codec
 * fail here. fps > 0 is the nominal frame rate (container rate, default GOP
 * and time base). opts NULL: defaults. err (may be NULL) gets one line.
 * Returns 0, VP_ERR_INVALID (bad argument, unknown container), VP_ERR_IO
 * (cannot create the file), VP_ERR_UNSUPPORTED (codec absent),
 * VP_ERR_NOT_FOUND (require_hw and no NVENC), VP_ERR_BACKEND, VP_ERR_NOMEM.
 */
int vp_encoder_open(const char *path, int width, int height, vp_rational fps, const vp_encoder_options *opts,
                    vp_encoder **out, char *err, size_t errlen);

/* Encodes one host frame (YUV420P or NV12, 8-bit; device frames: download
 * them first with vp_frame_to_host). The frame is not kept. Returns 0,
 * VP_ERR_INVALID (NULL), VP_ERR_UNSUPPORTED (format or memory), VP_ERR_IO
 * (writing failed), VP_ERR_BACKEND (the encoder failed). */
int vp_encoder_write(vp_encoder *enc, const vp_frame *f);

/* Drains the encoder, writes the trailer, closes the file and frees
 * everything; *enc becomes NULL (NULL and *enc == NULL are fine: 0).
 * Returns 0 or the first error of the encoder's life (write, drain, trailer,
 * close: a full disk shows up here at the latest); the message is logged. */
int vp_encoder_close(vp_encoder **enc);

const char *vp_encoder_last_error(const vp_encoder *enc);
/* libavcodec's name of the encoder in use: "libx264", "h264_nvenc", "mpeg4". */
const char *vp_encoder_codec(const vp_encoder *enc);
/* Stream picture size (even numbers) and frames accepted so far. */
void vp_encoder_size(const vp_encoder *enc, int *width, int *height);
long vp_encoder_frames(const vp_encoder *enc);

/*
 * Writes one frame as a still picture: .jpg/.jpeg (MJPEG, full-range
 * 4:2:0, quality high) or .png (RGB24, converted with the frame's matrix and
 * range). Any size >= 1x1, YUV420P or NV12 host frame. err gets one line.
 * Returns 0, VP_ERR_INVALID (unknown extension, bad frame), VP_ERR_UNSUPPORTED,
 * VP_ERR_IO, VP_ERR_BACKEND or VP_ERR_NOMEM.
 */
int vp_snapshot_write(const char *path, const vp_frame *f, char *err, size_t errlen);

#endif
