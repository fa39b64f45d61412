#include "nn/layers.h"

#include <math.h>
#include <string.h>

void nn_relu_forward(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void nn_relu_backward(const float *restrict y, float *restrict g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = y[i] > 0.0f ? g[i] : 0.0f;
}

/* One output row from input rows `row` and `row + 1` of a plane x. Branch-free (the winners are
 * random: branches would mispredict) and restrict-qualified, so that the compiler vectorizes it;
 * strict '>' keeps the first of equal values in row order, as PyTorch does (ties are common: a
 * uniform background gives equal outputs). */
static void pool_row(const float *restrict x, int64_t row, int64_t w, int64_t wo, float *restrict y,
                     uint32_t *restrict arg)
{
    const float *restrict r0 = x + row * w, *restrict r1 = r0 + w;
    const uint32_t base = (uint32_t)(row * w), down = (uint32_t)w;
    for (int64_t j = 0; j < wo; j++) {
        const float a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
        const uint32_t kab = b > a, kcd = d > c;
        const float mab = b > a ? b : a, mcd = d > c ? d : c;
        const uint32_t lower = mcd > mab;
        y[j] = mcd > mab ? mcd : mab;
        arg[j] = base + 2 * (uint32_t)j + kab + lower * (down + kcd - kab);
    }
}

void nn_maxpool2_forward(const float *x, int64_t planes, int64_t h, int64_t w, float *y, uint32_t *arg)
{
    const int64_t ho = h / 2, wo = w / 2;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < ho; i++)
            pool_row(x + p * h * w, 2 * i, w, wo, y + (p * ho + i) * wo, arg + (p * ho + i) * wo);
}

void nn_maxpool2_backward(const float *gy, const uint32_t *arg, int64_t planes, int64_t h, int64_t w, float *gx)
{
    /* Zeros, then one store per window: the windows do not overlap, so no two outputs share a
     * winner (cheaper than writing all four elements of each window). */
    const int64_t per_plane = (h / 2) * (w / 2);
    memset(gx, 0, (size_t)(planes * h * w) * sizeof *gx);
    for (int64_t p = 0; p < planes; p++) {
        float *gp = gx + p * h * w;
        const float *g = gy + p * per_plane;
        const uint32_t *a = arg + p * per_plane;
        for (int64_t q = 0; q < per_plane; q++)
            gp[a[q]] = g[q];
    }
}

int nn_linear_forward(cj_context *ctx, nn_workspace *ws, const float *x, const float *w, const float *bias,
                      int64_t batch, int64_t in, int64_t out, float *y, nn_error *err)
{
    for (int64_t b = 0; b < batch; b++)
        for (int64_t o = 0; o < out; o++)
            y[b * out + o] = bias[o];
    /* y += x * w^T: w read transposed through its strides. */
    return nn_matmul(ctx, ws, batch, out, in, nn_rows(x, in), nn_cols(w, in), y, out, 1, err);
}

int nn_linear_backward(cj_context *ctx, nn_workspace *ws, const float *x, const float *w, const float *gy,
                       int64_t batch, int64_t in, int64_t out, float *gx, float *gw, float *gbias,
                       nn_error *err)
{
    for (int64_t o = 0; o < out; o++)
        gbias[o] = 0.0f;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t o = 0; o < out; o++)
            gbias[o] += gy[b * out + o];
    /* gw = gy^T * x: [out x batch] * [batch x in]. */
    if (nn_matmul(ctx, ws, out, in, batch, nn_cols(gy, out), nn_rows(x, in), gw, in, 0, err) != 0)
        return -1;
    /* gx = gy * w: [batch x out] * [out x in]. */
    if (gx && nn_matmul(ctx, ws, batch, in, out, nn_rows(gy, out), nn_rows(w, in), gx, in, 0, err) != 0)
        return -1;
    return 0;
}

double nn_softmax_xent(const float *logits, const uint8_t *labels, int64_t batch, int64_t classes, float *grad)
{
    double total = 0.0;
    for (int64_t b = 0; b < batch; b++) {
        const float *z = logits + b * classes;
        /* Shifted by the maximum so that exp never overflows. */
        double zmax = z[0];
        for (int64_t c = 1; c < classes; c++)
            zmax = z[c] > zmax ? z[c] : zmax;
        double sum = 0.0;
        for (int64_t c = 0; c < classes; c++)
            sum += exp(z[c] - zmax);
        const double log_sum = log(sum);
        total += log_sum - (z[labels[b]] - zmax);
        if (grad)
            for (int64_t c = 0; c < classes; c++) {
                const double p = exp(z[c] - zmax - log_sum);
                grad[b * classes + c] = (float)((p - (c == labels[b])) / (double)batch);
            }
    }
    return batch > 0 ? total / (double)batch : 0.0;
}

void nn_sgd_step(float *w, float *v, const float *g, size_t n, float lr, float momentum)
{
    for (size_t i = 0; i < n; i++) {
        v[i] = momentum * v[i] + g[i];
        w[i] -= lr * v[i];
    }
}
