/* Finite-difference checks of the gradients of `conjure train`'s layers other than the convolutions
 * (tools/nn/layers.c: ReLU, 2x2 max-pool, linear, softmax cross-entropy), of the SGD update, and of
 * the whole model's backprop (which wires them to conjure's conv2d passes).
 *
 * Each check takes a scalar L = sum(output * R) with a fixed random R (or the loss itself), and
 * compares the analytic gradient with (L(x + h) - L(x - h)) / 2h, L summed in double. Inputs are
 * kept away from the kinks of ReLU and max-pool (|x| and the gaps between pooled values exceed h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"
#include "nn/model.h"
#include "testutil.h"

static tu_rng g_rng;

static float *floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

static void fill(float *p, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = scale * (float)tu_uniform(&g_rng);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* |analytic - numeric| <= tol * max(1, |numeric|) for every element; reports the worst. */
static void compare(const char *what, const float *analytic, const double *numeric, size_t n, double tol)
{
    double worst = 0.0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs(analytic[i] - numeric[i]) / fmax(1.0, fabs(numeric[i]));
        if (e > worst || isnan(e))
            worst = e, at = i;
    }
    tu_expect(worst <= tol, "%s: element %zu: analytic %.6g, numeric %.6g (error %.3g > %.3g)", what, at,
              analytic[at], numeric[at], worst, tol);
    printf("  %-34s worst relative error %.2e\n", what, worst);
}

/* ---- linear ---- */
typedef struct linear_case {
    cj_context  *ctx;
    nn_workspace ws;
    int64_t      batch, in, out;
    float       *x, *w, *b, *y, *r;
} linear_case;

static double linear_loss(linear_case *c)
{
    nn_error err;
    if (nn_linear_forward(c->ctx, &c->ws, c->x, c->w, c->b, c->batch, c->in, c->out, c->y, &err) != 0) {
        tu_fail("linear forward: %s", err.msg);
        return 0.0;
    }
    return dot(c->y, c->r, (size_t)(c->batch * c->out));
}

/* d loss / d v[i] for every i, central differences. */
static void numeric_grad(double (*loss)(void *), void *arg, float *v, size_t n, float h, double *out)
{
    for (size_t i = 0; i < n; i++) {
        const float keep = v[i];
        v[i] = keep + h;
        const double up = loss(arg);
        v[i] = keep - h;
        const double down = loss(arg);
        v[i] = keep;
        out[i] = (up - down) / (2.0 * (double)h);
    }
}

static double linear_loss_fn(void *c) { return linear_loss(c); }

static void test_linear(cj_context *ctx)
{
    /* in and out span two GEMM column panels (NR <= 48): 2 threads split them. */
    linear_case c = {ctx, {0}, 4, 53, 50, NULL, NULL, NULL, NULL, NULL};
    const size_t nx = (size_t)(c.batch * c.in), nw = (size_t)(c.out * c.in), ny = (size_t)(c.batch * c.out);
    c.x = floats(nx), c.w = floats(nw), c.b = floats((size_t)c.out), c.y = floats(ny), c.r = floats(ny);
    fill(c.x, nx, 1.0f), fill(c.w, nw, 0.3f), fill(c.b, (size_t)c.out, 0.5f), fill(c.r, ny, 1.0f);
    float *gx = floats(nx), *gw = floats(nw), *gb = floats((size_t)c.out);
    double *num = tu_dalloc((int64_t)nw);
    nn_error err;
    /* y itself against a double reference. */
    linear_loss(&c);
    double worst = 0.0;
    for (int64_t bi = 0; bi < c.batch; bi++)
        for (int64_t o = 0; o < c.out; o++) {
            double s = c.b[o];
            for (int64_t i = 0; i < c.in; i++)
                s += (double)c.x[bi * c.in + i] * c.w[o * c.in + i];
            worst = fmax(worst, fabs(s - c.y[bi * c.out + o]));
        }
    tu_expect(worst < 1e-4, "linear forward: off by %g from the double reference", worst);
    /* dL/dy = r */
    if (!tu_expect(nn_linear_backward(ctx, &c.ws, c.x, c.w, c.r, c.batch, c.in, c.out, gx, gw, gb, &err) == 0,
                   "linear backward: %s", err.msg))
        return;
    numeric_grad(linear_loss_fn, &c, c.x, nx, 1e-2f, num);
    compare("linear grad_input", gx, num, nx, 2e-3);
    numeric_grad(linear_loss_fn, &c, c.w, nw, 1e-2f, num);
    compare("linear grad_weight", gw, num, nw, 2e-3);
    numeric_grad(linear_loss_fn, &c, c.b, (size_t)c.out, 1e-2f, num);
    compare("linear grad_bias", gb, num, (size_t)c.out, 2e-3);
    nn_workspace_free(&c.ws);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(gx), free(gw), free(gb), free(num);
}

/* ---- ReLU and max-pool ---- */
typedef struct pool_case {
    int64_t   planes, h, w;
    float    *x, *y, *r;
    uint32_t *arg;
    int       relu;   /* the model's order: pool, then ReLU */
} pool_case;

static double pool_loss_fn(void *arg)
{
    pool_case *c = arg;
    nn_maxpool2_forward(NULL, c->x, c->planes, c->h, c->w, c->relu, c->y, c->arg);
    return dot(c->y, c->r, (size_t)(c->planes * (c->h / 2) * (c->w / 2)));
}

static void test_pool(int64_t planes, int64_t h, int64_t w, int relu)
{
    pool_case c = {planes, h, w, NULL, NULL, NULL, NULL, relu};
    const size_t nx = (size_t)(planes * h * w), ny = (size_t)(planes * (h / 2) * (w / 2));
    c.x = floats(nx), c.y = floats(ny), c.r = floats(ny);
    c.arg = calloc(ny ? ny : 1, sizeof *c.arg);
    /* Distinct values 0.1 apart, shuffled, centred on 0 but never within 0.05 of it. */
    for (size_t i = 0; i < nx; i++)
        c.x[i] = 0.1f * ((float)i - (float)nx / 2.0f) + 0.05f;
    for (size_t i = nx; i > 1; i--) {
        const size_t j = (size_t)tu_range(&g_rng, 0, (int64_t)i - 1);
        const float t = c.x[i - 1];
        c.x[i - 1] = c.x[j], c.x[j] = t;
    }
    fill(c.r, ny, 1.0f);
    pool_loss_fn(&c);
    /* Forward against a direct maximum. */
    int ok = 1;
    for (int64_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < h / 2; i++)
            for (int64_t j = 0; j < w / 2; j++) {
                const float *q = c.x + (p * h + 2 * i) * w + 2 * j;
                float m = fmaxf(fmaxf(q[0], q[1]), fmaxf(q[w], q[w + 1]));
                if (relu)
                    m = fmaxf(m, 0.0f);
                ok &= c.y[(p * (h / 2) + i) * (w / 2) + j] == m;
            }
    tu_expect(ok, "max-pool %lldx%lld forward differs from the direct maximum", (long long)h, (long long)w);
    float *gy = floats(ny), *gx = floats(nx);
    memcpy(gy, c.r, ny * sizeof *gy);
    fill(gx, nx, 100.0f); /* garbage: the backward must write every element */
    nn_maxpool2_backward(NULL, gy, relu ? c.y : NULL, c.arg, planes, h, w, gx);
    double *num = tu_dalloc((int64_t)nx);
    numeric_grad(pool_loss_fn, &c, c.x, nx, 1e-2f, num);
    char what[64];
    snprintf(what, sizeof what, "%smax-pool %lldx%lld grad_input", relu ? "ReLU(" : "", (long long)h, (long long)w);
    if (relu)
        strcat(what, ")");
    compare(what, gx, num, nx, 1e-3);
    free(c.x), free(c.y), free(c.r), free(c.arg), free(gy), free(gx), free(num);
}

/* Ties go to the first element in row order, as PyTorch's max_pool2d. */
static void test_pool_ties(void)
{
    const float x[2 * 4] = {1, 1, 3, 2,
                            1, 0, 3, 3};
    float y[2];
    uint32_t arg[2];
    nn_maxpool2_forward(NULL, x, 1, 2, 4, 0, y, arg);
    tu_expect(y[0] == 1 && y[1] == 3 && arg[0] == 0 && arg[1] == 2, "max-pool ties: y %g %g, winners %u %u", y[0],
              y[1], arg[0], arg[1]);
}

/* ---- softmax cross-entropy ---- */
typedef struct xent_case {
    float   *z;
    uint8_t  labels[6];
    int64_t  batch, classes;
} xent_case;

static double xent_loss_fn(void *arg)
{
    xent_case *c = arg;
    return nn_softmax_xent(c->z, c->labels, c->batch, c->classes, NULL);
}

static void test_xent(void)
{
    xent_case c = {NULL, {3, 0, 9, 9, 5, 1}, 6, 10};
    const size_t n = (size_t)(c.batch * c.classes);
    c.z = floats(n);
    fill(c.z, n, 4.0f);
    c.z[7] = 60.0f; /* a large logit: the shift by the maximum keeps exp finite */
    float *g = floats(n);
    const double loss = nn_softmax_xent(c.z, c.labels, c.batch, c.classes, g);
    tu_expect(isfinite(loss) && loss > 0.0, "softmax cross-entropy: loss %g", loss);
    double *num = tu_dalloc((int64_t)n);
    numeric_grad(xent_loss_fn, &c, c.z, n, 1e-2f, num);
    compare("softmax cross-entropy grad", g, num, n, 1e-3);
    free(c.z), free(g), free(num);
}

static double relu_loss_fn(void *arg)
{
    float **xr = arg, y[64];
    memcpy(y, xr[0], sizeof y);
    nn_relu_forward(NULL, y, 64);
    return dot(y, xr[1], 64);
}

static void test_relu(void)
{
    float x[64], r[64], y[64], g[64];
    for (int i = 0; i < 64; i++) /* never within 0.05 of the kink */
        x[i] = (float)(i % 2 ? 1 : -1) * (0.05f + 0.5f * (float)(tu_uniform(&g_rng) + 1.0));
    fill(r, 64, 1.0f);
    memcpy(y, x, sizeof y);
    nn_relu_forward(NULL, y, 64);
    memcpy(g, r, sizeof g);
    nn_relu_backward(NULL, y, g, 64);
    double num[64];
    float *xr[2] = {x, r};
    numeric_grad(relu_loss_fn, xr, x, 64, 1e-2f, num);
    compare("ReLU grad_input", g, num, 64, 1e-4);
}

/* Two tensors laid end to end, long enough to be split between 2 threads across their boundary. */
static void test_sgd(cj_context *ctx2)
{
    enum { N0 = 70001, N1 = 90007 };
    float *w = floats(N0 + N1), *v = floats(N0 + N1), *g = floats(N0 + N1), *ref = floats(N0 + N1);
    fill(w, N0 + N1, 1.0f), fill(g, N0 + N1, 1.0f);
    memcpy(ref, w, (N0 + N1) * sizeof *w);
    const nn_sgd_tensor t[2] = {{w, v, g, N0}, {w + N0, v + N0, g + N0, N1}};
    nn_sgd_step(ctx2, t, 2, 0.1f, 0.9f);
    nn_sgd_step(ctx2, t, 2, 0.1f, 0.9f);
    /* v1 = g, v2 = 1.9 g: w = w0 - 0.1 g - 0.19 g */
    int ok = 1;
    for (int i = 0; i < N0 + N1; i++) {
        const float v1 = g[i], w1 = ref[i] - 0.1f * v1, v2 = 0.9f * v1 + g[i], w2 = w1 - 0.1f * v2;
        ok &= w[i] == w2 && v[i] == v2;
    }
    tu_expect(ok, "SGD with momentum over two tensors differs from the formula");
    free(w), free(v), free(g), free(ref);
}

/* ---- the whole model: a few elements of every parameter against finite differences ---- */
typedef struct model_case {
    nn_model *m;
    float    *x;
    uint8_t   labels[3];
} model_case;

static double model_loss_fn(void *arg)
{
    model_case *c = arg;
    const float *z;
    nn_error err;
    if (nn_model_forward(c->m, c->x, 3, &z, &err) != 0) {
        tu_fail("model forward: %s", err.msg);
        return 0.0;
    }
    return nn_softmax_xent(z, c->labels, 3, NN_CLASSES, NULL);
}

static void test_model(cj_context *ctx)
{
    model_case c = {NULL, floats(3 * NN_INPUT_SIDE * NN_INPUT_SIDE), {2, 7, 4}};
    nn_error err;
    if (!tu_expect(nn_model_create(ctx, CJ_ALGO_AUTO, 3, &c.m, &err) == 0, "model: %s", err.msg))
        return;
    nn_model_init(c.m, 7);
    fill(c.x, 3 * NN_INPUT_SIDE * NN_INPUT_SIDE, 1.5f);
    double loss;
    if (!tu_expect(nn_model_backprop(c.m, c.x, c.labels, 3, &loss, &err) == 0, "backprop: %s", err.msg))
        return;
    nn_param *p = nn_model_params(c.m);
    for (int t = 0; t < NN_NUM_PARAMS; t++) {
        /* Six elements spread over the tensor; float32 through four layers: a looser tolerance. */
        float analytic[6];
        double numeric[6];
        for (int k = 0; k < 6; k++) {
            const size_t i = (size_t)k * (p[t].count - 1) / 5;
            analytic[k] = p[t].grad[i];
            numeric_grad(model_loss_fn, &c, p[t].value + i, 1, 1e-2f, &numeric[k]);
        }
        char what[64];
        snprintf(what, sizeof what, "model d loss / d %s", p[t].name);
        compare(what, analytic, numeric, 6, 2e-2);
    }
    nn_model_destroy(c.m);
    free(c.x);
}

int main(void)
{
    g_rng.s = tu_seed("test_nn_gradcheck", 11);
    /* Two threads for the linear layer (its columns are split between them), one for the model:
     * an idle pool thread spins, and the model check makes many small calls. */
    cj_context *ctx1 = NULL, *ctx2 = NULL;
    cj_context_options o = {0};
    o.num_threads = 2;
    cj_status st = cj_context_create(&o, &ctx2);
    o.num_threads = 1;
    if (st != CJ_OK || cj_context_create(&o, &ctx1) != CJ_OK) {
        fprintf(stderr, "cannot create a context: %s\n", cj_last_error());
        return 1;
    }
    test_linear(ctx2);
    test_pool(3, 6, 8, 0);
    test_pool(2, 5, 7, 1); /* odd sides: the last row and column are dropped */
    test_pool_ties();
    test_xent();
    test_relu();
    test_sgd(ctx2);
    test_model(ctx1);
    cj_context_destroy(ctx1);
    cj_context_destroy(ctx2);
    return tu_finish();
}
