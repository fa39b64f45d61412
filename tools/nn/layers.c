#include "nn/layers.h"

#include <math.h>
#include <string.h>

#include "nn/parallel.h"

/* Element-wise layers run on the context's threads in ranges of at least this many items: below
 * that, waking a thread costs more than it saves. */
#define MIN_ELEMENTS_PER_THREAD 65536

/* The operands of a ReLU over its ranges. */
typedef struct elementwise {
    float       *x;
    const float *y;
} elementwise;

/* The operands of a max-pool over ranges of planes. */
typedef struct pool_task {
    const float    *in;
    float          *out;
    const uint32_t *arg_in;
    uint32_t       *arg_out;
    const float    *relu_out;   /* backward: the ReLU'd pooled output (its mask), or NULL */
    int64_t         h, w;
    int             relu;       /* forward: apply the ReLU */
} pool_task;

static void relu_range(void *arg, int64_t begin, int64_t end)
{
    float *restrict x = ((elementwise *)arg)->x;
    for (int64_t i = begin; i < end; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void nn_relu_forward(cj_context *ctx, float *x, size_t n)
{
    elementwise e = {.x = x};
    nn_parallel(ctx, (int64_t)n, MIN_ELEMENTS_PER_THREAD, relu_range, &e);
}

static void relu_backward_range(void *arg, int64_t begin, int64_t end)
{
    const elementwise *e = arg;
    const float *restrict y = e->y;
    float *restrict g = e->x;
    for (int64_t i = begin; i < end; i++)
        g[i] = y[i] > 0.0f ? g[i] : 0.0f;
}

void nn_relu_backward(cj_context *ctx, const float *y, float *g, size_t n)
{
    elementwise e = {.x = g, .y = y};
    nn_parallel(ctx, (int64_t)n, MIN_ELEMENTS_PER_THREAD, relu_backward_range, &e);
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

static void pool_range(void *arg, int64_t p0, int64_t p1)
{
    const pool_task *t = arg;
    const int64_t h = t->h, w = t->w, ho = h / 2, wo = w / 2;
    for (int64_t p = p0; p < p1; p++)
        for (int64_t i = 0; i < ho; i++)
            pool_row(t->in + p * h * w, 2 * i, w, wo, t->out + (p * ho + i) * wo, t->arg_out + (p * ho + i) * wo);
    if (t->relu) {
        float *restrict y = t->out;
        for (int64_t i = p0 * ho * wo; i < p1 * ho * wo; i++)
            y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    }
}

void nn_maxpool2_forward(cj_context *ctx, const float *x, int64_t planes, int64_t h, int64_t w, int relu,
                         float *y, uint32_t *arg)
{
    pool_task t = {.in = x, .out = y, .arg_out = arg, .h = h, .w = w, .relu = relu};
    nn_parallel(ctx, planes, MIN_ELEMENTS_PER_THREAD / (h * w) + 1, pool_range, &t);
}

static void unpool_range(void *arg, int64_t p0, int64_t p1)
{
    /* Zeros, then one store per window: the windows do not overlap, so no two outputs share a
     * winner (cheaper than writing all four elements of each window). */
    const pool_task *t = arg;
    const int64_t h = t->h, w = t->w, per_plane = (h / 2) * (w / 2);
    memset(t->out + p0 * h * w, 0, (size_t)((p1 - p0) * h * w) * sizeof(float));
    for (int64_t p = p0; p < p1; p++) {
        float *gp = t->out + p * h * w;
        const float *g = t->in + p * per_plane, *y = t->relu_out ? t->relu_out + p * per_plane : NULL;
        const uint32_t *a = t->arg_in + p * per_plane;
        if (y) {
            for (int64_t q = 0; q < per_plane; q++)
                gp[a[q]] = y[q] > 0.0f ? g[q] : 0.0f;
        } else {
            for (int64_t q = 0; q < per_plane; q++)
                gp[a[q]] = g[q];
        }
    }
}

void nn_maxpool2_backward(cj_context *ctx, const float *gy, const float *relu_out, const uint32_t *arg,
                          int64_t planes, int64_t h, int64_t w, float *gx)
{
    pool_task t = {.in = gy, .out = gx, .arg_in = arg, .relu_out = relu_out, .h = h, .w = w};
    nn_parallel(ctx, planes, MIN_ELEMENTS_PER_THREAD / (h * w) + 1, unpool_range, &t);
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

typedef struct sgd_task {
    const nn_sgd_tensor *t;
    int                  count;
    float                lr, momentum;
} sgd_task;

/* Items [begin, end) of the tensors laid end to end. */
static void sgd_range(void *arg, int64_t begin, int64_t end)
{
    const sgd_task *s = arg;
    int64_t offset = 0;
    for (int k = 0; k < s->count && offset < end; offset += (int64_t)s->t[k].n, k++) {
        const int64_t lo = begin > offset ? begin - offset : 0;
        const int64_t hi = end - offset < (int64_t)s->t[k].n ? end - offset : (int64_t)s->t[k].n;
        float *restrict w = s->t[k].w, *restrict v = s->t[k].v;
        const float *restrict g = s->t[k].g;
        for (int64_t i = lo; i < hi; i++) {
            v[i] = s->momentum * v[i] + g[i];
            w[i] -= s->lr * v[i];
        }
    }
}

void nn_sgd_step(cj_context *ctx, const nn_sgd_tensor *tensors, int count, float lr, float momentum)
{
    sgd_task s = {tensors, count, lr, momentum};
    int64_t total = 0;
    for (int k = 0; k < count; k++)
        total += (int64_t)tensors[k].n;
    nn_parallel(ctx, total, MIN_ELEMENTS_PER_THREAD, sgd_range, &s);
}
