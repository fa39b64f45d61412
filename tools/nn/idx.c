#include "nn/idx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Files larger than this are not (Fashion-)MNIST: refuse them before allocating. */
#define NN_IDX_MAX_BYTES ((size_t)1 << 31)

/* zlib's message without the "path: " it prefixes, so that ours names the file once. */
static const char *zlib_message(gzFile f, const char *path, int *code)
{
    const char *msg = gzerror(f, code);
    const size_t len = strlen(path);
    return strncmp(msg, path, len) == 0 && msg[len] == ':' && msg[len + 1] == ' ' ? msg + len + 2 : msg;
}

/* Reads exactly n bytes. Returns the count read (short at the end of the stream), or -1 on a
 * zlib error, with its message in *why. */
static long long read_full(gzFile f, const char *path, void *buf, size_t n, const char **why)
{
    size_t done = 0;
    while (done < n) {
        unsigned chunk = (unsigned)((n - done) > (1u << 30) ? (1u << 30) : (n - done));
        int got = gzread(f, (char *)buf + done, chunk);
        if (got < 0) {
            int code;
            *why = zlib_message(f, path, &code);
            return -1;
        }
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (long long)done;
}

/* A short read is either the end of the data or a stream error; say which. */
static int fail_short(gzFile f, const char *path, const char *what, long long got, size_t want,
                      const char *why, nn_error *err)
{
    if (got < 0)
        return nn_fail(err, "%s: corrupt file: %s (bad gzip data or checksum)", path, why);
    /* zlib reports a compressed stream cut short as Z_BUF_ERROR: that is a truncation too. */
    int code;
    const char *msg = zlib_message(f, path, &code);
    if (code != Z_OK && code != Z_STREAM_END && code != Z_BUF_ERROR)
        return nn_fail(err, "%s: corrupt file: %s (bad gzip data or checksum)", path, msg);
    return nn_fail(err, "%s: truncated file: it ends after %lld of the %zu bytes of the %s", path, got, want, what);
}

int nn_idx_read(const char *path, nn_idx *out, nn_error *err)
{
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return nn_fail(err, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    const char *why = NULL;
    int rc = -1;
    uint8_t head[4];
    long long got = read_full(f, path, head, sizeof head, &why);
    if (got != (long long)sizeof head) {
        fail_short(f, path, "IDX header", got, sizeof head, why, err);
        goto done;
    }
    if (head[0] != 0 || head[1] != 0) {
        nn_fail(err, "%s: not an IDX file (it starts with bytes 0x%02x 0x%02x, not two zeros)", path,
                head[0], head[1]);
        goto done;
    }
    if (head[2] != 0x08) {
        nn_fail(err, "%s: IDX element type 0x%02x is not read here (only 0x08, unsigned bytes)", path, head[2]);
        goto done;
    }
    if (head[3] < 1 || head[3] > NN_IDX_MAX_DIMS) {
        nn_fail(err, "%s: IDX header has %d dimensions (1 to %d are read)", path, head[3], NN_IDX_MAX_DIMS);
        goto done;
    }
    out->ndim = head[3];
    uint8_t dims[4 * NN_IDX_MAX_DIMS];
    got = read_full(f, path, dims, (size_t)(4 * out->ndim), &why);
    if (got != 4 * out->ndim) {
        fail_short(f, path, "IDX extents", got, (size_t)(4 * out->ndim), why, err);
        goto done;
    }
    size_t count = 1;
    for (int i = 0; i < out->ndim; i++) {
        const uint8_t *d = dims + 4 * i;
        out->dims[i] = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
        if (out->dims[i] != 0 && count > NN_IDX_MAX_BYTES / out->dims[i]) {
            nn_fail(err, "%s: IDX extents are too large (more than %zu bytes of data)", path, NN_IDX_MAX_BYTES);
            goto done;
        }
        count *= out->dims[i];
    }
    out->count = count;
    out->data = malloc(count ? count : 1);
    if (!out->data) {
        nn_fail(err, "%s: out of memory for %zu bytes", path, count);
        goto done;
    }
    got = read_full(f, path, out->data, count, &why);
    if (got != (long long)count) {
        fail_short(f, path, "data", got, count, why, err);
        goto done;
    }
    /* Read on to the end of the stream: that is where gzip checks its CRC and length. */
    uint8_t extra[256];
    got = read_full(f, path, extra, sizeof extra, &why);
    if (got < 0) {
        nn_fail(err, "%s: corrupt file: %s (bad gzip data or checksum)", path, why);
        goto done;
    }
    if (got > 0) {
        nn_fail(err, "%s: unexpected bytes after the %zu data bytes its header announces", path, count);
        goto done;
    }
    int code;
    const char *msg = zlib_message(f, path, &code);
    if (code == Z_BUF_ERROR) {
        nn_fail(err, "%s: truncated file: the gzip stream ends before its trailer", path);
        goto done;
    }
    if (code != Z_OK && code != Z_STREAM_END) {
        nn_fail(err, "%s: corrupt file: %s (bad gzip data or checksum)", path, msg);
        goto done;
    }
    rc = 0;
done:
    gzclose(f);
    if (rc != 0)
        nn_idx_free(out);
    return rc;
}

void nn_idx_free(nn_idx *idx)
{
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}
