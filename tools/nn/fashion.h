/* Fashion-MNIST: 60,000 training and 10,000 test images of 28x28 grey pixels in 10 classes, read
 * from the gzip IDX files of Debian's dataset-fashion-mnist package (or a directory of one's own). */
#ifndef CJ_NN_FASHION_H
#define CJ_NN_FASHION_H
#include <stddef.h>
#include <stdint.h>

#include "nn/error.h"

#define NN_FASHION_DIR     "/usr/share/datasets/fashion-mnist"
#define NN_FASHION_PACKAGE "dataset-fashion-mnist"
#define NN_FASHION_SIDE    28
#define NN_FASHION_PIXELS  (NN_FASHION_SIDE * NN_FASHION_SIDE)
#define NN_FASHION_CLASSES 10

extern const char *const nn_fashion_class_names[NN_FASHION_CLASSES];

/* One split: n images of NN_FASHION_PIXELS bytes each, and their labels (0..9). */
typedef struct nn_split {
    size_t   n;
    uint8_t *pixels;
    uint8_t *labels;
} nn_split;

/* Loads "train" or "test" (train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz, or t10k-*;
 * the same names without .gz are read too) from dir, NULL for the package's directory. Checks that
 * the images are N x 28 x 28, the labels N class numbers below 10. A missing file names the package
 * to install. */
int nn_split_load(const char *dir, const char *which, nn_split *out, nn_error *err);
void nn_split_free(nn_split *s);

/* Mean and standard deviation of the pixels scaled to [0, 1], over the whole split. */
void nn_split_stats(const nn_split *s, float *mean, float *std);

/* Fills x[i] (NN_FASHION_PIXELS floats each) with image index[i] scaled to [0, 1] and normalised,
 * (p / 255 - mean) / std, and labels[i] with its label, for i in [0, n). */
void nn_split_gather(const nn_split *s, const uint32_t *index, size_t n, float mean, float std,
                     float *x, uint8_t *labels);

#endif
