#define _POSIX_C_SOURCE 200809L
#include "nn/fashion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <math.h>

#include "nn/idx.h"

const char *const nn_fashion_class_names[NN_FASHION_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* dir/stem.gz if it exists, else dir/stem if it exists; 0 when neither does. */
static int find_file(const char *dir, const char *stem, char *path, size_t len)
{
    snprintf(path, len, "%s/%s.gz", dir, stem);
    if (exists(path))
        return 1;
    snprintf(path, len, "%s/%s", dir, stem);
    if (exists(path))
        return 1;
    snprintf(path, len, "%s/%s.gz", dir, stem); /* the name the error message shows */
    return 0;
}

static int read_part(const char *dir, int is_default, const char *stem, nn_idx *idx, nn_error *err)
{
    char path[4096];
    if (!find_file(dir, stem, path, sizeof path)) {
        if (is_default)
            return nn_fail(err, "Fashion-MNIST not found: %s does not exist. Install Debian's %s package "
                                "(apt-get install %s, or make demo), or point --data at a directory "
                                "holding the IDX files", path, NN_FASHION_PACKAGE, NN_FASHION_PACKAGE);
        return nn_fail(err, "Fashion-MNIST not found: %s does not exist (nor without .gz); --data wants the "
                            "directory of the IDX files (the %s package puts them in %s)",
                       path, NN_FASHION_PACKAGE, NN_FASHION_DIR);
    }
    return nn_idx_read(path, idx, err);
}

int nn_split_load(const char *dir, const char *which, nn_split *out, nn_error *err)
{
    memset(out, 0, sizeof *out);
    const int is_default = dir == NULL;
    if (!dir)
        dir = NN_FASHION_DIR;
    const char *prefix = strcmp(which, "train") ? "t10k" : "train";
    char images_stem[64], labels_stem[64];
    snprintf(images_stem, sizeof images_stem, "%s-images-idx3-ubyte", prefix);
    snprintf(labels_stem, sizeof labels_stem, "%s-labels-idx1-ubyte", prefix);
    nn_idx images, labels;
    if (read_part(dir, is_default, images_stem, &images, err) != 0)
        return -1;
    if (read_part(dir, is_default, labels_stem, &labels, err) != 0) {
        nn_idx_free(&images);
        return -1;
    }
    int rc = -1;
    if (images.ndim != 3 || images.dims[1] != NN_FASHION_SIDE || images.dims[2] != NN_FASHION_SIDE) {
        nn_fail(err, "%s/%s: the images are not N x %d x %d (the file has %d dimensions: %u x %u x %u)", dir,
                images_stem, NN_FASHION_SIDE, NN_FASHION_SIDE, images.ndim, images.dims[0],
                images.ndim > 1 ? images.dims[1] : 0, images.ndim > 2 ? images.dims[2] : 0);
    } else if (labels.ndim != 1 || labels.dims[0] != images.dims[0]) {
        nn_fail(err, "%s/%s: %u labels (%d-dimensional) for %u images", dir, labels_stem, labels.dims[0],
                labels.ndim, images.dims[0]);
    } else if (images.dims[0] == 0) {
        nn_fail(err, "%s/%s: no images", dir, images_stem);
    } else {
        rc = 0;
        for (size_t i = 0; i < labels.count; i++)
            if (labels.data[i] >= NN_FASHION_CLASSES) {
                rc = nn_fail(err, "%s/%s: label %zu is %d, not a class number 0..%d", dir, labels_stem, i,
                             labels.data[i], NN_FASHION_CLASSES - 1);
                break;
            }
    }
    if (rc != 0) {
        nn_idx_free(&images);
        nn_idx_free(&labels);
        return -1;
    }
    out->n = images.dims[0];
    out->pixels = images.data;
    out->labels = labels.data;
    return 0;
}

void nn_split_free(nn_split *s)
{
    free(s->pixels);
    free(s->labels);
    memset(s, 0, sizeof *s);
}

void nn_split_stats(const nn_split *s, float *mean, float *std)
{
    /* Integer sums are exact, so the statistics do not depend on summation order. */
    uint64_t sum = 0, sum_sq = 0;
    const size_t total = s->n * NN_FASHION_PIXELS;
    for (size_t i = 0; i < total; i++) {
        sum += s->pixels[i];
        sum_sq += (uint64_t)s->pixels[i] * s->pixels[i];
    }
    const double m = (double)sum / (double)total;
    const double var = (double)sum_sq / (double)total - m * m;
    *mean = (float)(m / 255.0);
    *std = (float)(var > 0 ? sqrt(var) / 255.0 : 1.0);
}

void nn_split_gather(const nn_split *s, const uint32_t *index, size_t n, float mean, float std,
                     float *x, uint8_t *labels)
{
    /* (p / 255 - mean) / std as one multiply-add, from a table of the 256 values. */
    float table[256];
    for (int p = 0; p < 256; p++)
        table[p] = ((float)p / 255.0f - mean) / std;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *src = s->pixels + (size_t)index[i] * NN_FASHION_PIXELS;
        float *dst = x + i * NN_FASHION_PIXELS;
        for (int p = 0; p < NN_FASHION_PIXELS; p++)
            dst[p] = table[src[p]];
        labels[i] = s->labels[index[i]];
    }
}
