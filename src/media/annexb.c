/*
 * Built-in Annex-B elementary stream reader (.h264/.h265), so that a build
 * without FFmpeg can still read video files.
 *
 * It splits the byte stream at start codes (00 00 01, with an optional leading
 * zero_byte) into NAL units, and groups NAL units into access units with the
 * rules of H.264 7.4.1.2.3 and HEVC 7.4.2.4.4: after the first VCL NAL of an
 * access unit, the next access unit begins at an AUD, SPS, PPS, VPS or
 * (prefix) SEI NAL, at the other parameter/prefix types those clauses list,
 * or at a slice that starts a new picture (first_mb_in_slice == 0 in H.264,
 * first_slice_segment_in_pic_flag in HEVC). Streams with arbitrary slice
 * order (first_mb_in_slice != 0 first) are not split correctly; the Baseline
 * ASO feature is rare in practice.
 *
 * Packets carry no pts (VP_NOPTS) and dts = access unit index; decoders stamp
 * frames with their output index, in units of 1/frame_rate (the stream's
 * time base). The file is read in 1 MiB chunks; an access unit is a view into
 * the reader's buffer, valid until the next read.
 */
#include "media/media_impl.h"
#include "base/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    CHUNK = 1 << 20,
    MAX_AU = 64 << 20,       /* an access unit larger than this is not video */
    PROBE_BYTES = 1 << 20,   /* a start code must appear in the first MiB */
};

typedef struct annexb {
    FILE *fp;
    uint8_t *buf;
    size_t cap, len; /* valid bytes buf[0, len) */
    size_t au_start; /* first byte of the access unit being assembled */
    size_t scan;     /* next NAL unit to classify (start of its start code) */
    int eof;         /* no more bytes in the file */
    int vcl_seen, key;
    int64_t au_index;
    long skipped;    /* bytes before the first start code */
} annexb;

/* Reads the next chunk, first moving the current access unit to the front. */
static int refill(vp_source *s, annexb *r)
{
    if (r->eof)
        return 0;
    if (r->au_start > 0) {
        memmove(r->buf, r->buf + r->au_start, r->len - r->au_start);
        r->len -= r->au_start, r->scan -= r->au_start, r->au_start = 0;
    }
    if (r->len + CHUNK > r->cap) {
        if (r->len + CHUNK > (size_t)MAX_AU + CHUNK)
            return vp_source_set_error(s, VP_ERR_INVALID,
                                       "source %s: access unit larger than %d MiB: not an elementary video stream?",
                                       s->id, MAX_AU >> 20);
        size_t cap = r->cap ? r->cap * 2 : 2 * CHUNK;
        while (cap < r->len + CHUNK)
            cap *= 2;
        uint8_t *nb = realloc(r->buf, cap);
        if (!nb)
            return vp_source_set_error(s, VP_ERR_NOMEM, "source %s: out of memory", s->id);
        r->buf = nb, r->cap = cap;
    }
    size_t n = fread(r->buf + r->len, 1, CHUNK, r->fp);
    if (n < CHUNK) {
        if (ferror(r->fp))
            return vp_source_set_error(s, VP_ERR_IO, "source %s: read error: %s", s->id, strerror(errno));
        r->eof = 1;
    }
    r->len += n;
    return 0;
}

/* Offset of the next 00 00 01 at or after from, or (size_t)-1. */
static size_t find_start(const uint8_t *b, size_t from, size_t len)
{
    for (size_t i = from; i + 2 < len;) {
        if (b[i + 2] > 1)
            i += 3;
        else if (b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 1)
            return i;
        else
            i++;
    }
    return (size_t)-1;
}

/* H.264: does this NAL unit (header at p, n bytes) start a new access unit
 * once the current one has a VCL NAL? Sets *vcl and *key. */
static int h264_starts_au(const uint8_t *p, size_t n, int *vcl, int *key)
{
    int type = p[0] & 0x1f;
    *vcl = type >= 1 && type <= 5;
    *key = type == 5;
    if (*vcl)
        return n >= 2 && (p[1] & 0x80); /* ue(v) first_mb_in_slice == 0 */
    return type == 6 || type == 7 || type == 8 || type == 9 || (type >= 14 && type <= 18);
}

static int hevc_starts_au(const uint8_t *p, size_t n, int *vcl, int *key)
{
    int type = (p[0] >> 1) & 0x3f;
    *vcl = type <= 31;
    *key = type >= 16 && type <= 21;
    if (n < 2)
        return 0;
    int layer = ((p[0] & 1) << 5) | (p[1] >> 3);
    if (*vcl)
        return layer == 0 && n >= 3 && (p[2] & 0x80); /* first_slice_segment_in_pic_flag */
    return type == 32 || type == 33 || type == 34 || type == 35 || type == 39 || (type >= 41 && type <= 44) ||
           (type >= 48 && type <= 55);
}

static int annexb_read(vp_source *s, vp_packet *pkt)
{
    annexb *r = s->priv;
    int rc;
    for (;;) {
        /* the NAL unit at r->scan begins with a start code; find where it ends */
        if (r->len < r->scan + 8 && !r->eof) {
            if ((rc = refill(s, r)))
                return rc;
            continue;
        }
        size_t hdr = r->scan + 3;
        if (r->scan + 3 < r->len && r->buf[r->scan + 2] == 0)
            hdr++; /* 4-byte start code */
        size_t next = hdr <= r->len ? find_start(r->buf, hdr, r->len) : (size_t)-1;
        if (next == (size_t)-1 && !r->eof) {
            if ((rc = refill(s, r)))
                return rc;
            continue;
        }
        if (r->scan >= r->len || hdr >= r->len) { /* end of file */
            if (r->vcl_seen || r->len > r->au_start + 4)
                break;
            return VP_ERR_EOF;
        }
        size_t end = next == (size_t)-1 ? r->len : next;
        if (next != (size_t)-1 && next > hdr && r->buf[next - 1] == 0)
            end = next - 1; /* the zero_byte of a 4-byte start code belongs to the next NAL */
        const uint8_t *p = r->buf + hdr;
        size_t n = end - hdr;
        int vcl = 0, key = 0, starts = 0;
        if (n >= 1 && !(p[0] & 0x80))
            starts = s->info.codec == VP_CODEC_H264 ? h264_starts_au(p, n, &vcl, &key) : hevc_starts_au(p, n, &vcl, &key);
        if (starts && r->vcl_seen) {
            /* the access unit is [au_start, scan) */
            pkt->data = r->buf + r->au_start;
            pkt->size = r->scan - r->au_start;
            pkt->keyframe = r->key;
            pkt->dts = r->au_index++;
            r->au_start = r->scan;
            r->vcl_seen = r->key = 0;
            return 0;
        }
        r->vcl_seen |= vcl;
        r->key |= key;
        if (next == (size_t)-1) {
            r->scan = r->len;
            break;
        }
        r->scan = end;
    }
    /* last access unit of the file */
    pkt->data = r->buf + r->au_start;
    pkt->size = r->len - r->au_start;
    pkt->keyframe = r->key;
    pkt->dts = r->au_index++;
    r->au_start = r->scan = r->len;
    r->vcl_seen = r->key = 0;
    return 0;
}

static void annexb_close(vp_source *s)
{
    annexb *r = s->priv;
    if (!r)
        return;
    if (r->fp)
        fclose(r->fp);
    free(r->buf);
    free(r);
}

static const vp_source_impl_ops annexb_ops = {
    .name = "annexb",
    .read = annexb_read,
    .close = annexb_close,
};

int vp_annexb_open(vp_source *s, const char *path, char *err, size_t errlen)
{
    if (s->opt.codec != VP_CODEC_H264 && s->opt.codec != VP_CODEC_HEVC) {
        snprintf(err, errlen, "source %s: the Annex-B reader needs H.264 or HEVC (name the file .h264 or .h265)", s->id);
        return VP_ERR_UNSUPPORTED;
    }
    annexb *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "source %s: out of memory", s->id);
        return VP_ERR_NOMEM;
    }
    s->priv = r;
    s->ops = &annexb_ops;
    s->info.codec = s->opt.codec;
    s->info.time_base = (vp_rational){s->opt.frame_rate.den, s->opt.frame_rate.num};
    s->info.frame_rate = s->opt.frame_rate;
    s->info.demuxer = "annexb";
    int rc;
    r->fp = fopen(path, "rb");
    if (!r->fp) {
        snprintf(err, errlen, "source %s: cannot open %s: %s", s->id, path, strerror(errno));
        rc = errno == ENOENT ? VP_ERR_NOT_FOUND : VP_ERR_IO;
        goto fail;
    }
    /* find the first start code within PROBE_BYTES */
    size_t first = (size_t)-1;
    while (first == (size_t)-1) {
        if ((rc = refill(s, r))) {
            snprintf(err, errlen, "%s", s->err);
            goto fail;
        }
        first = find_start(r->buf, 0, r->len);
        if (first == (size_t)-1 && (r->eof || r->len >= PROBE_BYTES))
            break;
    }
    if (r->len == 0) {
        snprintf(err, errlen, "source %s: empty file", s->id);
        rc = VP_ERR_INVALID;
        goto fail;
    }
    if (first == (size_t)-1) {
        snprintf(err, errlen, "source %s: no start code in the first %zu bytes: not an %s Annex-B elementary stream",
                 s->id, r->len < PROBE_BYTES ? r->len : (size_t)PROBE_BYTES, s->opt.codec == VP_CODEC_H264 ? "H.264" : "HEVC");
        rc = VP_ERR_INVALID;
        goto fail;
    }
    if (first > 0 && r->buf[first - 1] == 0)
        first--;
    if (first > 0)
        VP_LOGW("source %s: skipped %zu bytes before the first start code", s->id, first);
    r->au_start = r->scan = first;
    return 0;
fail:
    annexb_close(s);
    s->priv = NULL;
    return rc;
}
