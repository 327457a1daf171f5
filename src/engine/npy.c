/* Tensor files: NumPy .npy read/write and dispatch to TensorProto (.pb). */
#include "engine/graph.h"
#include "engine/onnx_load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int npy_dtype(const char *descr, vp_dtype *dt)
{
    static const struct { const char *d; vp_dtype t; } map[] = {
        {"<f4", VP_DT_FLOAT}, {"<f8", VP_DT_DOUBLE}, {"<f2", VP_DT_FLOAT16}, {"<i8", VP_DT_INT64},
        {"<i4", VP_DT_INT32}, {"<i2", VP_DT_INT16}, {"|i1", VP_DT_INT8},     {"|u1", VP_DT_UINT8},
        {"<u2", VP_DT_UINT16}, {"<u4", VP_DT_UINT32}, {"<u8", VP_DT_UINT64}, {"|b1", VP_DT_BOOL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(descr, map[i].d) == 0) {
            *dt = map[i].t;
            return 0;
        }
    return -1;
}

static const char *npy_descr(vp_dtype dt)
{
    switch (dt) {
    case VP_DT_FLOAT: return "<f4";
    case VP_DT_DOUBLE: return "<f8";
    case VP_DT_FLOAT16: return "<f2";
    case VP_DT_INT64: return "<i8";
    case VP_DT_INT32: return "<i4";
    case VP_DT_INT16: return "<i2";
    case VP_DT_INT8: return "|i1";
    case VP_DT_UINT8: return "|u1";
    case VP_DT_UINT16: return "<u2";
    case VP_DT_UINT32: return "<u4";
    case VP_DT_UINT64: return "<u8";
    case VP_DT_BOOL: return "|b1";
    default: return NULL;
    }
}

/* Parse the header dict {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), } */
static int parse_header(const char *h, vp_dtype *dt, vp_shape *s, char *err, size_t errlen, const char *path)
{
    const char *p = strstr(h, "'descr'");
    char descr[16] = {0};
    if (!p || !(p = strchr(p + 7, '\'')))
        goto bad;
    p++;
    const char *q = strchr(p, '\'');
    if (!q || q - p >= (long)sizeof descr)
        goto bad;
    memcpy(descr, p, (size_t)(q - p));
    if (npy_dtype(descr, dt)) {
        snprintf(err, errlen, "%s: unsupported .npy dtype '%s'", path, descr);
        return VP_ERR_UNSUPPORTED;
    }
    p = strstr(h, "'fortran_order'");
    if (!p || !(p = strchr(p + 15, ':')))
        goto bad;
    p += 1 + strspn(p + 1, " ");
    if (strncmp(p, "False", 5) != 0) {
        snprintf(err, errlen, "%s: Fortran-order .npy arrays are not supported", path);
        return VP_ERR_UNSUPPORTED;
    }
    p = strstr(h, "'shape'");
    if (!p || !(p = strchr(p, '(')))
        goto bad;
    p++;
    s->rank = 0;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (end == p || errno || d < 0 || s->rank >= VP_MAX_DIMS)
            goto bad;
        s->d[s->rank++] = d;
        p = end;
    }
    return VP_OK;
bad:
    snprintf(err, errlen, "%s: malformed .npy header", path);
    return VP_ERR_INVALID;
}

static int load_npy(const char *path, vp_tensor **out, char *err, size_t errlen)
{
    void *buf;
    size_t size;
    int rc = vp_read_file(path, &buf, &size, err, errlen);
    if (rc)
        return rc;
    const unsigned char *b = buf;
    rc = VP_ERR_INVALID;
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0) {
        snprintf(err, errlen, "%s: not a .npy file (bad magic)", path);
        goto out;
    }
    size_t hlen, hoff;
    if (b[6] == 1) {
        hlen = b[8] | (size_t)b[9] << 8;
        hoff = 10;
    } else if (size >= 12 && (b[6] == 2 || b[6] == 3)) {
        hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hoff = 12;
    } else {
        snprintf(err, errlen, "%s: unsupported .npy version %d", path, b[6]);
        goto out;
    }
    if (hoff + hlen > size || hlen > 65536) {
        snprintf(err, errlen, "%s: truncated .npy header", path);
        goto out;
    }
    char *h = malloc(hlen + 1);
    if (!h) {
        rc = VP_ERR_NOMEM;
        goto out;
    }
    memcpy(h, b + hoff, hlen);
    h[hlen] = 0;
    vp_dtype dt;
    vp_shape s;
    rc = parse_header(h, &dt, &s, err, errlen, path);
    free(h);
    if (rc)
        goto out;
    vp_tensor *t = vp_tensor_new(dt, &s);
    if (!t) {
        rc = VP_ERR_NOMEM;
        goto out;
    }
    size_t bytes = vp_tensor_bytes(t);
    if (size - hoff - hlen != bytes) {
        snprintf(err, errlen, "%s: %zu data bytes, the header's shape needs %zu", path, size - hoff - hlen, bytes);
        vp_tensor_free(&t);
        rc = VP_ERR_INVALID;
        goto out;
    }
    memcpy(t->data, b + hoff + hlen, bytes);
    *out = t;
    rc = VP_OK;
out:
    free(buf);
    return rc;
}

int vp_tensor_load(const char *path, vp_tensor **out, char *err, size_t errlen)
{
    size_t n = strlen(path);
    *out = NULL;
    if (n > 4 && strcmp(path + n - 4, ".npy") == 0)
        return load_npy(path, out, err, errlen);
    return vp_tensor_load_pb(path, out, err, errlen);
}

void vp_tensor_destroy(vp_tensor **t) { vp_tensor_free(t); }

int vp_tensor_save_npy(const char *path, const vp_tensor *t, char *err, size_t errlen)
{
    const char *d = npy_descr(t->dtype);
    char h[256], dims[200] = "";
    if (!d) {
        snprintf(err, errlen, "%s: cannot write %s to .npy", path, vp_dtype_name(t->dtype));
        return VP_ERR_UNSUPPORTED;
    }
    size_t o = 0;
    for (int i = 0; i < t->shape.rank; i++)
        o += (size_t)snprintf(dims + o, sizeof dims - o, "%lld,%s", (long long)t->shape.d[i],
                              i + 1 < t->shape.rank ? " " : "");
    if (t->shape.rank > 1)
        dims[o - 1] = 0; /* numpy writes (1,) for rank 1 and (1, 2) otherwise */
    int n = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", d, dims);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
        return VP_ERR_IO;
    }
    unsigned hl = (unsigned)(n + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(h, 1, (size_t)n, f) == (size_t)n;
    for (int i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t bytes = vp_tensor_bytes(t);
    ok = ok && fwrite(t->data, 1, bytes, f) == bytes;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        return VP_ERR_IO;
    }
    return VP_OK;
}
