/* The weights file of `conjure train --save` and `conjure predict --load`.
 *
 * Little-endian throughout:
 *
 *   bytes 0..7   magic "CJWEIGHT"
 *   uint32       format version, 1
 *   uint32       T, the number of tensors that follow (9 for this network)
 *   T times:
 *     uint32     L, then L bytes: the tensor's name (ASCII, no terminating zero)
 *     uint32     D (1..4), then D uint32 extents
 *     float32    the elements, product of the extents of them, in C (row-major) order
 *
 * The tensors, in order: "input.norm" [2] (the mean and standard deviation the inputs were
 * normalised with: x = (pixel / 255 - mean) / std), then PyTorch's names and shapes for the
 * network: conv1.weight [32, 1, 5, 5], conv1.bias [32], conv2.weight [64, 32, 5, 5],
 * conv2.bias [64], fc1.weight [128, 3136], fc1.bias [128], fc2.weight [10, 128], fc2.bias [10].
 * A reader checks every name and extent, and that nothing follows the last tensor. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"

static const char k_magic[8] = {'C', 'J', 'W', 'E', 'I', 'G', 'H', 'T'};
#define WEIGHTS_VERSION 1
#define NORM_NAME "input.norm"

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int write_u32(FILE *f, uint32_t v)
{
    uint8_t b[4];
    put_u32(b, v);
    return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

static int write_floats(FILE *f, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        if (write_u32(f, bits) != 0)
            return -1;
    }
    return 0;
}

static int write_tensor(FILE *f, const char *name, int ndim, const int64_t *shape, const float *v, size_t n)
{
    const uint32_t len = (uint32_t)strlen(name);
    if (write_u32(f, len) != 0 || fwrite(name, 1, len, f) != len || write_u32(f, (uint32_t)ndim) != 0)
        return -1;
    for (int i = 0; i < ndim; i++)
        if (write_u32(f, (uint32_t)shape[i]) != 0)
            return -1;
    return write_floats(f, v, n);
}

int nn_model_save(nn_model *m, const char *path, nn_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return nn_fail(err, "%s: cannot create: %s", path, strerror(errno));
    float norm[2];
    nn_model_get_norm(m, &norm[0], &norm[1]);
    const int64_t norm_shape[1] = {2};
    const nn_param *p = nn_model_params(m);
    int bad = fwrite(k_magic, 1, sizeof k_magic, f) != sizeof k_magic || write_u32(f, WEIGHTS_VERSION) != 0 ||
              write_u32(f, NN_NUM_PARAMS + 1) != 0 || write_tensor(f, NORM_NAME, 1, norm_shape, norm, 2) != 0;
    for (int i = 0; i < NN_NUM_PARAMS && !bad; i++)
        bad = write_tensor(f, p[i].name, p[i].ndim, p[i].shape, p[i].value, p[i].count) != 0;
    const int write_errno = errno;
    if (fclose(f) != 0 && !bad)
        return nn_fail(err, "%s: cannot write: %s", path, strerror(errno));
    if (bad)
        return nn_fail(err, "%s: cannot write: %s", path, strerror(write_errno));
    return 0;
}

/* Reads n bytes or fails naming what was being read. */
static int read_bytes(FILE *f, const char *path, void *dst, size_t n, const char *what, nn_error *err)
{
    if (fread(dst, 1, n, f) == n)
        return 0;
    if (ferror(f))
        return nn_fail(err, "%s: read error in %s: %s", path, what, strerror(errno));
    return nn_fail(err, "%s: truncated file: it ends in %s", path, what);
}

/* Reads one tensor whose name and shape must be exactly these, into v. */
static int read_tensor(FILE *f, const char *path, const char *name, int ndim, const int64_t *shape, float *v,
                       size_t n, nn_error *err)
{
    char what[96];
    snprintf(what, sizeof what, "the header of tensor %s", name);
    uint8_t b[4 * 5];
    if (read_bytes(f, path, b, 4, what, err) != 0)
        return -1;
    const uint32_t len = get_u32(b);
    char got[64];
    if (len != strlen(name) || len >= sizeof got)
        return nn_fail(err, "%s: expected tensor %s here, found a name of %u bytes", path, name, len);
    if (read_bytes(f, path, got, len, what, err) != 0)
        return -1;
    got[len] = '\0';
    if (strcmp(got, name))
        return nn_fail(err, "%s: expected tensor %s here, found '%s'", path, name, got);
    if (read_bytes(f, path, b, 4, what, err) != 0)
        return -1;
    if (get_u32(b) != (uint32_t)ndim)
        return nn_fail(err, "%s: tensor %s has %u dimensions, this network's has %d", path, name, get_u32(b), ndim);
    if (read_bytes(f, path, b, 4 * (size_t)ndim, what, err) != 0)
        return -1;
    for (int i = 0; i < ndim; i++)
        if (get_u32(b + 4 * i) != (uint32_t)shape[i])
            return nn_fail(err, "%s: tensor %s has extent %u in dimension %d, this network's has %lld", path, name,
                           get_u32(b + 4 * i), i, (long long)shape[i]);
    snprintf(what, sizeof what, "the elements of tensor %s", name);
    for (size_t i = 0; i < n; i++) {
        if (read_bytes(f, path, b, 4, what, err) != 0)
            return -1;
        const uint32_t bits = get_u32(b);
        memcpy(&v[i], &bits, 4);
    }
    return 0;
}

static int load_from(FILE *f, nn_model *m, const char *path, nn_error *err)
{
    uint8_t head[16];
    if (read_bytes(f, path, head, sizeof head, "the file header", err) != 0)
        return -1;
    if (memcmp(head, k_magic, sizeof k_magic))
        return nn_fail(err, "%s: not a conjure weights file (it does not start with CJWEIGHT)", path);
    if (get_u32(head + 8) != WEIGHTS_VERSION)
        return nn_fail(err, "%s: weights format version %u, this conjure reads version %d", path,
                       get_u32(head + 8), WEIGHTS_VERSION);
    if (get_u32(head + 12) != NN_NUM_PARAMS + 1)
        return nn_fail(err, "%s: %u tensors, this network has %d", path, get_u32(head + 12), NN_NUM_PARAMS + 1);
    float norm[2];
    const int64_t norm_shape[1] = {2};
    if (read_tensor(f, path, NORM_NAME, 1, norm_shape, norm, 2, err) != 0)
        return -1;
    if (!(norm[1] > 0.0f))
        return nn_fail(err, "%s: the normalisation's standard deviation is %g, must be positive", path, norm[1]);
    nn_param *p = nn_model_params(m);
    for (int i = 0; i < NN_NUM_PARAMS; i++)
        if (read_tensor(f, path, p[i].name, p[i].ndim, p[i].shape, p[i].value, p[i].count, err) != 0)
            return -1;
    if (fgetc(f) != EOF)
        return nn_fail(err, "%s: unexpected bytes after the last tensor", path);
    nn_model_set_norm(m, norm[0], norm[1]);
    return 0;
}

int nn_model_load(nn_model *m, const char *path, nn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return nn_fail(err, "%s: cannot open: %s", path, strerror(errno));
    const int rc = load_from(f, m, path, err);
    fclose(f);
    return rc;
}
