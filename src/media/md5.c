/* MD5 (RFC 1321), for the per-frame digests that compare decoders with each
 * other and with ffmpeg. Written from the RFC's description; the sine table
 * is computed into the context at init (64 sin() calls per digest, nothing
 * global). */
#include "media/media_impl.h"

#include <math.h>
#include <string.h>

static const uint8_t md5_shift[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

static uint32_t rotl32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void md5_block(vp_md5 *m, const uint8_t *p)
{
    uint32_t w[16];
    const uint32_t *k = m->k;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
               (uint32_t)p[4 * i + 3] << 24;
    uint32_t a = m->h[0], b = m->h[1], c = m->h[2], d = m->h[3];
    for (int i = 0; i < 64; i++) {
        uint32_t f;
        int g;
        if (i < 16)
            f = (b & c) | (~b & d), g = i;
        else if (i < 32)
            f = (d & b) | (~d & c), g = (5 * i + 1) & 15;
        else if (i < 48)
            f = b ^ c ^ d, g = (3 * i + 5) & 15;
        else
            f = c ^ (b | ~d), g = (7 * i) & 15;
        f += a + k[i] + w[g];
        a = d, d = c, c = b;
        b += rotl32(f, md5_shift[i]);
    }
    m->h[0] += a, m->h[1] += b, m->h[2] += c, m->h[3] += d;
}

void vp_md5_init(vp_md5 *m)
{
    m->h[0] = 0x67452301u, m->h[1] = 0xefcdab89u, m->h[2] = 0x98badcfeu, m->h[3] = 0x10325476u;
    m->len = 0;
    for (int i = 0; i < 64; i++)
        m->k[i] = (uint32_t)floor(fabs(sin((double)(i + 1))) * 4294967296.0);
}

void vp_md5_update(vp_md5 *m, const void *data, size_t n)
{
    const uint8_t *p = data;
    size_t fill = (size_t)(m->len & 63);
    m->len += n;
    if (fill) {
        size_t take = 64 - fill < n ? 64 - fill : n;
        memcpy(m->buf + fill, p, take);
        p += take, n -= take;
        if (fill + take < 64)
            return;
        md5_block(m, m->buf);
    }
    for (; n >= 64; p += 64, n -= 64)
        md5_block(m, p);
    memcpy(m->buf, p, n);
}

void vp_md5_final(vp_md5 *m, uint8_t out[16])
{
    uint64_t bits = m->len * 8;
    uint8_t pad[72] = {0x80};
    size_t fill = (size_t)(m->len & 63);
    size_t padlen = fill < 56 ? 56 - fill : 120 - fill;
    for (int i = 0; i < 8; i++)
        pad[padlen + (size_t)i] = (uint8_t)(bits >> (8 * i));
    vp_md5_update(m, pad, padlen + 8);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (uint8_t)(m->h[i] >> (8 * j));
}
