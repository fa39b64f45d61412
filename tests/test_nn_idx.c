/* The IDX reader of `conjure train` (tools/nn/idx.c) and the Fashion-MNIST loader on files this
 * test writes into a temporary directory: good files (gzip and plain), truncated ones (short data,
 * a gzip stream cut short), corrupt ones (bad checksum, bad magic, bad type, bad labels), and the
 * messages they give: each must name the file and say what was wrong. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "nn/fashion.h"
#include "nn/idx.h"
#include "testutil.h"

static char g_dir[256];

static const char *path_of(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

static void write_raw(const char *name, const void *data, size_t n)
{
    FILE *f = fopen(path_of(name), "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path_of(name));
        exit(1);
    }
}

static void write_gz(const char *name, const void *data, size_t n)
{
    gzFile f = gzopen(path_of(name), "wb");
    if (!f || gzwrite(f, data, (unsigned)n) != (int)n || gzclose(f) != Z_OK) {
        fprintf(stderr, "cannot write %s\n", path_of(name));
        exit(1);
    }
}

/* An IDX file of unsigned bytes with the given extents, data from a pattern; returns its size. */
static size_t make_idx(uint8_t *buf, int ndim, const uint32_t *dims, uint8_t (*value)(size_t i))
{
    size_t n = 4, count = 1;
    buf[0] = 0, buf[1] = 0, buf[2] = 0x08, buf[3] = (uint8_t)ndim;
    for (int d = 0; d < ndim; d++) {
        buf[n++] = (uint8_t)(dims[d] >> 24), buf[n++] = (uint8_t)(dims[d] >> 16);
        buf[n++] = (uint8_t)(dims[d] >> 8), buf[n++] = (uint8_t)dims[d];
        count *= dims[d];
    }
    for (size_t i = 0; i < count; i++)
        buf[n++] = value(i);
    return n;
}

static uint8_t pixel(size_t i) { return (uint8_t)((i * 37 + i / 7) & 0xff); }
static uint8_t label(size_t i) { return (uint8_t)(i % 10); }
static uint8_t bad_label(size_t i) { return (uint8_t)(i == 1 ? 12 : i % 10); }

/* Reading `name` must fail with a message holding the file name and `words`. */
static void expect_error(const char *name, const char *words)
{
    nn_idx idx;
    nn_error err = {{0}};
    const int rc = nn_idx_read(path_of(name), &idx, &err);
    tu_expect(rc != 0, "%s: read succeeded, expected an error about '%s'", name, words);
    tu_expect(rc != 0 && strstr(err.msg, path_of(name)) != NULL, "%s: message '%s' does not name the file", name,
              err.msg);
    tu_expect(rc != 0 && strstr(err.msg, words) != NULL, "%s: message '%s' does not say '%s'", name, err.msg,
              words);
    tu_expect(idx.data == NULL, "%s: data left allocated after a failure", name);
    printf("  %-22s -> %s\n", name, err.msg);
}

static void test_good(void)
{
    static uint8_t buf[4096];
    const uint32_t dims[3] = {3, 4, 5};
    const size_t n = make_idx(buf, 3, dims, pixel);
    write_gz("good.gz", buf, n);
    write_raw("good.raw", buf, n);
    const char *names[] = {"good.gz", "good.raw"};
    for (int k = 0; k < 2; k++) {
        nn_idx idx;
        nn_error err;
        const int rc = nn_idx_read(path_of(names[k]), &idx, &err);
        if (!tu_expect(rc == 0, "%s: %s", names[k], err.msg))
            continue;
        tu_expect(idx.ndim == 3 && idx.dims[0] == 3 && idx.dims[1] == 4 && idx.dims[2] == 5 && idx.count == 60,
                  "%s: extents %d: %u %u %u", names[k], idx.ndim, idx.dims[0], idx.dims[1], idx.dims[2]);
        int same = 1;
        for (size_t i = 0; i < idx.count; i++)
            same &= idx.data[i] == pixel(i);
        tu_expect(same, "%s: data differs from what was written", names[k]);
        nn_idx_free(&idx);
    }
}

static void test_bad(void)
{
    static uint8_t buf[8192], gz[8192];
    const uint32_t dims[3] = {10, 28, 28};
    const size_t n = make_idx(buf, 3, dims, pixel);

    write_gz("short-data.gz", buf, n - 100);          /* the header announces 100 more bytes */
    expect_error("short-data.gz", "truncated file: it ends after 7740 of the 7840 bytes of the data");
    write_gz("short-header.gz", buf, 9);              /* cut inside the extents */
    expect_error("short-header.gz", "truncated file: it ends after 5 of the 12 bytes of the IDX extents");
    write_gz("empty.gz", buf, 0);
    expect_error("empty.gz", "truncated file: it ends after 0 of the 4 bytes of the IDX header");

    /* A gzip stream cut short: the compressed bytes of the good file without their last 40. */
    write_gz("full.gz", buf, n);
    FILE *f = fopen(path_of("full.gz"), "rb");
    const size_t gz_n = fread(gz, 1, sizeof gz, f);
    fclose(f);
    write_raw("cut-stream.gz", gz, gz_n - 40);
    expect_error("cut-stream.gz", "truncated file");
    /* Only the 8-byte trailer missing: the data is all there, the checksum is not. */
    write_raw("cut-trailer.gz", gz, gz_n - 8);
    expect_error("cut-trailer.gz", "truncated file");
    /* The trailer's CRC-32 altered: the data decompresses, its checksum does not match. */
    gz[gz_n - 8] ^= 0x5a;
    write_raw("bad-crc.gz", gz, gz_n);
    expect_error("bad-crc.gz", "corrupt file: incorrect data check");
    gz[gz_n - 8] ^= 0x5a;
    /* Garbage in the deflate stream itself (past the 10-byte gzip header). */
    for (size_t i = 12; i < 40; i++)
        gz[i] ^= 0xff;
    write_raw("bad-deflate.gz", gz, gz_n);
    expect_error("bad-deflate.gz", "file");

    uint8_t bad[sizeof buf];
    memcpy(bad, buf, n);
    bad[0] = 0x1f;
    write_gz("bad-magic.gz", bad, n);
    expect_error("bad-magic.gz", "not an IDX file");
    memcpy(bad, buf, n);
    bad[2] = 0x0d;
    write_gz("bad-type.gz", bad, n);
    expect_error("bad-type.gz", "element type 0x0d");
    memcpy(bad, buf, n);
    bad[3] = 9;
    write_gz("bad-ndim.gz", bad, n);
    expect_error("bad-ndim.gz", "9 dimensions");
    memcpy(bad, buf, n);
    bad[4] = bad[8] = bad[12] = 0xff;                 /* extents of ~2^32 each */
    write_gz("huge.gz", bad, n);
    expect_error("huge.gz", "too large");
    memcpy(bad, buf, n);
    memcpy(bad + n, "extra", 5);
    write_gz("trailing.gz", bad, n + 5);
    expect_error("trailing.gz", "unexpected bytes after the 7840 data bytes");
    expect_error("missing.gz", "cannot open");
}

/* A Fashion-MNIST directory of 3 images: loads; bad label values and counts are caught. */
static void test_fashion(void)
{
    static uint8_t buf[8192];
    const uint32_t idims[3] = {3, 28, 28}, ldims[1] = {3}, ldims2[1] = {2};
    write_gz("t10k-images-idx3-ubyte.gz", buf, make_idx(buf, 3, idims, pixel));
    write_gz("t10k-labels-idx1-ubyte.gz", buf, make_idx(buf, 1, ldims, label));
    nn_split s;
    nn_error err;
    if (tu_expect(nn_split_load(g_dir, "test", &s, &err) == 0, "fashion load: %s", err.msg)) {
        tu_expect(s.n == 3 && s.labels[2] == 2 && s.pixels[100] == pixel(100), "fashion load: wrong contents");
        float mean, std;
        nn_split_stats(&s, &mean, &std);
        tu_expect(mean > 0.0f && std > 0.0f, "fashion stats: mean %g std %g", mean, std);
        nn_split_free(&s);
    }
    write_gz("t10k-labels-idx1-ubyte.gz", buf, make_idx(buf, 1, ldims, bad_label));
    tu_expect(nn_split_load(g_dir, "test", &s, &err) != 0 && strstr(err.msg, "label 1 is 12"),
              "a label of 12 was not caught: %s", err.msg);
    write_gz("t10k-labels-idx1-ubyte.gz", buf, make_idx(buf, 1, ldims2, label));
    tu_expect(nn_split_load(g_dir, "test", &s, &err) != 0 && strstr(err.msg, "2 labels") &&
                  strstr(err.msg, "3 images"), "2 labels for 3 images not caught: %s", err.msg);
    /* No training files in the directory: the message names the package. */
    tu_expect(nn_split_load(g_dir, "train", &s, &err) != 0 && strstr(err.msg, NN_FASHION_PACKAGE) &&
                  strstr(err.msg, "train-images-idx3-ubyte.gz"), "missing files: %s", err.msg);
    printf("  missing training files -> %s\n", err.msg);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s/conjure-idx-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    printf("test_nn_idx: files in %s\n", g_dir);
    test_good();
    test_bad();
    test_fashion();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return tu_finish();
}
