#define _POSIX_C_SOURCE 200809L
#include "nn/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/layers.h"
#include "nn/rng.h"
#include "util/memory.h"

#define C1 32                          /* conv1's output channels */
#define C2 64                          /* conv2's output channels */
#define KS 5                           /* kernel side */
#define S1 NN_INPUT_SIDE               /* 28: conv1's output side (pad 2 keeps it) */
#define S2 (S1 / 2)                    /* 14: after the first pool, conv2's output side */
#define S3 (S2 / 2)                    /* 7: after the second pool */
#define FLAT (C2 * S3 * S3)            /* 3136 */
#define HIDDEN 128

const char *const nn_phase_names[NN_NUM_PHASES] = {
    "conv1 forward", "conv1 grad_weight", "conv2 forward", "conv2 grad_input", "conv2 grad_weight",
    "other layers",
};

enum { P_C1W, P_C1B, P_C2W, P_C2B, P_F1W, P_F1B, P_F2W, P_F2B };

/* The activations of one batch and their gradients. */
enum {
    B_A1, B_P1, B_A2, B_P2, B_H, B_Z,           /* conv1 out, pool1 (ReLU'd), conv2 out, pool2, fc1, fc2 */
    B_GZ, B_GH, B_GP2, B_GA2, B_GP1, B_GA1,      /* their gradients */
    B_ARG1, B_ARG2,                              /* the pools' winners (uint32 offsets) */
    NUM_BUFFERS
};

struct nn_model {
    cj_context      *ctx;
    cj_conv2d_params conv;
    int              max_batch;
    float            mean, std;
    nn_param         params[NN_NUM_PARAMS];
    void            *buf[NUM_BUFFERS];
    nn_workspace     ws;
    int              timing;                 /* phase times count during training steps only */
    double           phase_s[NN_NUM_PHASES];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void param_shape(nn_param *p, const char *name, int ndim, const int64_t *shape, int64_t fan_in)
{
    p->name = name;
    p->ndim = ndim;
    p->count = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->count *= (size_t)shape[i];
    }
    p->fan_in = fan_in;
}

static void describe(nn_model *m)
{
    static const int64_t c1w[] = {C1, 1, KS, KS}, c1b[] = {C1}, c2w[] = {C2, C1, KS, KS}, c2b[] = {C2},
                         f1w[] = {HIDDEN, FLAT}, f1b[] = {HIDDEN}, f2w[] = {NN_CLASSES, HIDDEN},
                         f2b[] = {NN_CLASSES};
    param_shape(&m->params[P_C1W], "conv1.weight", 4, c1w, 1 * KS * KS);
    param_shape(&m->params[P_C1B], "conv1.bias", 1, c1b, 1 * KS * KS);
    param_shape(&m->params[P_C2W], "conv2.weight", 4, c2w, C1 * KS * KS);
    param_shape(&m->params[P_C2B], "conv2.bias", 1, c2b, C1 * KS * KS);
    param_shape(&m->params[P_F1W], "fc1.weight", 2, f1w, FLAT);
    param_shape(&m->params[P_F1B], "fc1.bias", 1, f1b, FLAT);
    param_shape(&m->params[P_F2W], "fc2.weight", 2, f2w, HIDDEN);
    param_shape(&m->params[P_F2B], "fc2.bias", 1, f2b, HIDDEN);
}

int nn_model_create(cj_context *ctx, cj_algorithm algo, int max_batch, nn_model **out, nn_error *err)
{
    *out = NULL;
    if (max_batch < 1)
        return nn_fail(err, "batch size %d: must be at least 1", max_batch);
    nn_model *m = calloc(1, sizeof *m);
    if (!m)
        return nn_fail(err, "out of memory for the model");
    const cj_conv2d_params conv = CJ_CONV2D_PARAMS_DEFAULT;
    m->ctx = ctx;
    m->conv = conv;
    m->conv.padding.height = m->conv.padding.width = KS / 2;
    m->conv.algorithm = algo;
    m->max_batch = max_batch;
    m->mean = 0.0f;
    m->std = 1.0f;
    describe(m);
    const size_t b = (size_t)max_batch;
    const size_t floats[NUM_BUFFERS] = {
        [B_A1] = b * C1 * S1 * S1, [B_P1] = b * C1 * S2 * S2, [B_A2] = b * C2 * S2 * S2, [B_P2] = b * FLAT,
        [B_H] = b * HIDDEN, [B_Z] = b * NN_CLASSES,
        [B_GZ] = b * NN_CLASSES, [B_GH] = b * HIDDEN, [B_GP2] = b * FLAT, [B_GA2] = b * C2 * S2 * S2,
        [B_GP1] = b * C1 * S2 * S2, [B_GA1] = b * C1 * S1 * S1,
    };
    const size_t offsets[NUM_BUFFERS] = {[B_ARG1] = b * C1 * S2 * S2, [B_ARG2] = b * FLAT};
    int ok = 1;
    for (int i = 0; i < NUM_BUFFERS; i++) {
        m->buf[i] = cj_alloc(floats[i] ? floats[i] * sizeof(float) : offsets[i] * sizeof(uint32_t));
        ok &= m->buf[i] != NULL;
    }
    for (int i = 0; i < NN_NUM_PARAMS; i++) {
        nn_param *p = &m->params[i];
        p->value = cj_calloc(p->count * sizeof(float));
        p->grad = cj_calloc(p->count * sizeof(float));
        p->velocity = cj_calloc(p->count * sizeof(float));
        ok &= p->value && p->grad && p->velocity;
    }
    if (!ok) {
        nn_model_destroy(m);
        return nn_fail(err, "out of memory for a model with batches of %d", max_batch);
    }
    *out = m;
    return 0;
}

void nn_model_destroy(nn_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < NUM_BUFFERS; i++)
        cj_free(m->buf[i]);
    for (int i = 0; i < NN_NUM_PARAMS; i++) {
        cj_free(m->params[i].value);
        cj_free(m->params[i].grad);
        cj_free(m->params[i].velocity);
    }
    nn_workspace_free(&m->ws);
    free(m);
}

void nn_model_init(nn_model *m, uint64_t seed)
{
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    for (int i = 0; i < NN_NUM_PARAMS; i++) {
        nn_param *p = &m->params[i];
        const float bound = 1.0f / sqrtf((float)p->fan_in);
        for (size_t j = 0; j < p->count; j++)
            p->value[j] = (2.0f * nn_rng_uniform(&rng) - 1.0f) * bound;
        memset(p->velocity, 0, p->count * sizeof(float));
    }
}

nn_param *nn_model_params(nn_model *m) { return m->params; }

void nn_model_set_norm(nn_model *m, float mean, float std)
{
    m->mean = mean;
    m->std = std;
}

void nn_model_get_norm(const nn_model *m, float *mean, float *std)
{
    *mean = m->mean;
    *std = m->std;
}

void nn_model_phase_times(const nn_model *m, double seconds[NN_NUM_PHASES])
{
    memcpy(seconds, m->phase_s, sizeof m->phase_s);
}

static cj_tensor tensor4(void *data, int64_t n, int64_t c, int64_t h, int64_t w)
{
    return (cj_tensor){CJ_F32, 4, {n, c, h, w}, data};
}

static cj_tensor tensor1(void *data, int64_t n)
{
    return (cj_tensor){CJ_F32, 1, {n, 0, 0, 0}, data};
}

static int conv_failed(const char *what, cj_status st, nn_error *err)
{
    return nn_fail(err, "%s: %s: %s", what, cj_status_string(st), cj_last_error());
}

/* Adds the time since *t to phase and restarts *t. */
static void lap(nn_model *m, nn_phase phase, double *t)
{
    const double t1 = now();
    if (m->timing)
        m->phase_s[phase] += t1 - *t;
    *t = t1;
}

int nn_model_forward(nn_model *m, const float *x, int batch, const float **logits, nn_error *err)
{
    if (batch < 1 || batch > m->max_batch)
        return nn_fail(err, "batch of %d images: the model takes 1 to %d", batch, m->max_batch);
    const int64_t n = batch;
    float *a1 = m->buf[B_A1], *p1 = m->buf[B_P1], *a2 = m->buf[B_A2], *p2 = m->buf[B_P2];
    float *h = m->buf[B_H], *z = m->buf[B_Z];
    nn_param *P = m->params;
    double t = now();
    cj_tensor in = tensor4((void *)x, n, 1, S1, S1), w1 = tensor4(P[P_C1W].value, C1, 1, KS, KS),
              b1 = tensor1(P[P_C1B].value, C1), o1 = tensor4(a1, n, C1, S1, S1);
    cj_status st = cj_conv2d(m->ctx, &in, &w1, &b1, &m->conv, &o1);
    if (st != CJ_OK)
        return conv_failed("conv1", st, err);
    lap(m, NN_PHASE_CONV1_FWD, &t);
    nn_maxpool2_forward(m->ctx, a1, n * C1, S1, S1, 1, p1, m->buf[B_ARG1]);
    lap(m, NN_PHASE_OTHER, &t);
    cj_tensor in2 = tensor4(p1, n, C1, S2, S2), w2 = tensor4(P[P_C2W].value, C2, C1, KS, KS),
              b2 = tensor1(P[P_C2B].value, C2), o2 = tensor4(a2, n, C2, S2, S2);
    st = cj_conv2d(m->ctx, &in2, &w2, &b2, &m->conv, &o2);
    if (st != CJ_OK)
        return conv_failed("conv2", st, err);
    lap(m, NN_PHASE_CONV2_FWD, &t);
    nn_maxpool2_forward(m->ctx, a2, n * C2, S2, S2, 1, p2, m->buf[B_ARG2]);
    if (nn_linear_forward(m->ctx, &m->ws, p2, P[P_F1W].value, P[P_F1B].value, n, FLAT, HIDDEN, h, err) != 0)
        return -1;
    nn_relu_forward(m->ctx, h, (size_t)(n * HIDDEN));
    if (nn_linear_forward(m->ctx, &m->ws, h, P[P_F2W].value, P[P_F2B].value, n, HIDDEN, NN_CLASSES, z, err) != 0)
        return -1;
    lap(m, NN_PHASE_OTHER, &t);
    *logits = z;
    return 0;
}

int nn_model_backprop(nn_model *m, const float *x, const uint8_t *labels, int batch, double *loss,
                      nn_error *err)
{
    const float *z;
    if (nn_model_forward(m, x, batch, &z, err) != 0)
        return -1;
    const int64_t n = batch;
    float *p1 = m->buf[B_P1], *p2 = m->buf[B_P2], *h = m->buf[B_H];
    float *gz = m->buf[B_GZ], *gh = m->buf[B_GH], *gp2 = m->buf[B_GP2], *ga2 = m->buf[B_GA2];
    float *gp1 = m->buf[B_GP1], *ga1 = m->buf[B_GA1];
    nn_param *P = m->params;
    double t = now();
    *loss = nn_softmax_xent(z, labels, n, NN_CLASSES, gz);
    if (nn_linear_backward(m->ctx, &m->ws, h, P[P_F2W].value, gz, n, HIDDEN, NN_CLASSES, gh, P[P_F2W].grad,
                           P[P_F2B].grad, err) != 0)
        return -1;
    nn_relu_backward(m->ctx, h, gh, (size_t)(n * HIDDEN));
    if (nn_linear_backward(m->ctx, &m->ws, p2, P[P_F1W].value, gh, n, FLAT, HIDDEN, gp2, P[P_F1W].grad,
                           P[P_F1B].grad, err) != 0)
        return -1;
    nn_maxpool2_backward(m->ctx, gp2, p2, m->buf[B_ARG2], n * C2, S2, S2, ga2);
    lap(m, NN_PHASE_OTHER, &t);
    cj_tensor in2 = tensor4(p1, n, C1, S2, S2), w2 = tensor4(P[P_C2W].value, C2, C1, KS, KS),
              go2 = tensor4(ga2, n, C2, S2, S2), gi2 = tensor4(gp1, n, C1, S2, S2),
              gw2 = tensor4(P[P_C2W].grad, C2, C1, KS, KS), gb2 = tensor1(P[P_C2B].grad, C2);
    /* Two calls rather than one, so that each pass is timed on its own. */
    cj_status st = cj_conv2d_backward(m->ctx, &in2, &w2, NULL, &m->conv, &go2, &gi2, NULL, NULL);
    if (st != CJ_OK)
        return conv_failed("conv2 grad_input", st, err);
    lap(m, NN_PHASE_CONV2_BWD_DATA, &t);
    st = cj_conv2d_backward(m->ctx, &in2, &w2, NULL, &m->conv, &go2, NULL, &gw2, &gb2);
    if (st != CJ_OK)
        return conv_failed("conv2 grad_weight", st, err);
    lap(m, NN_PHASE_CONV2_BWD_WEIGHTS, &t);
    nn_maxpool2_backward(m->ctx, gp1, p1, m->buf[B_ARG1], n * C1, S1, S1, ga1);
    lap(m, NN_PHASE_OTHER, &t);
    cj_tensor in1 = tensor4((void *)x, n, 1, S1, S1), w1 = tensor4(P[P_C1W].value, C1, 1, KS, KS),
              go1 = tensor4(ga1, n, C1, S1, S1), gw1 = tensor4(P[P_C1W].grad, C1, 1, KS, KS),
              gb1 = tensor1(P[P_C1B].grad, C1);
    st = cj_conv2d_backward(m->ctx, &in1, &w1, NULL, &m->conv, &go1, NULL, &gw1, &gb1);
    if (st != CJ_OK)
        return conv_failed("conv1 grad_weight", st, err);
    lap(m, NN_PHASE_CONV1_BWD_WEIGHTS, &t);
    return 0;
}

int nn_model_train_step(nn_model *m, const float *x, const uint8_t *labels, int batch, float lr,
                        float momentum, double *loss, nn_error *err)
{
    m->timing = 1;
    const int rc = nn_model_backprop(m, x, labels, batch, loss, err);
    double t = now();
    nn_sgd_tensor update[NN_NUM_PARAMS];
    for (int i = 0; i < NN_NUM_PARAMS; i++)
        update[i] = (nn_sgd_tensor){m->params[i].value, m->params[i].velocity, m->params[i].grad, m->params[i].count};
    if (rc == 0)
        nn_sgd_step(m->ctx, update, NN_NUM_PARAMS, lr, momentum);
    lap(m, NN_PHASE_OTHER, &t);
    m->timing = 0;
    return rc;
}
