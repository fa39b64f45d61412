/* A short training run of `conjure train`'s model on a small synthetic set (10 classes of noisy
 * 28x28 patterns): the loss must fall. Also: the same seed and thread count give bit-identical
 * weights; a saved model loads back to the same predictions; a damaged weights file is refused
 * with a message naming it. Seconds, not minutes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/evaluate.h"
#include "nn/fashion.h"
#include "nn/model.h"
#include "nn/rng.h"
#include "testutil.h"

#define N_IMAGES 640
#define BATCH 32

/* Each class: a bright bar at its own place and angle over noise. */
static void make_split(nn_split *s, uint64_t seed)
{
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    s->n = N_IMAGES;
    s->pixels = malloc((size_t)N_IMAGES * NN_FASHION_PIXELS);
    s->labels = malloc(N_IMAGES);
    if (!s->pixels || !s->labels)
        exit(1);
    for (size_t i = 0; i < N_IMAGES; i++) {
        const int c = (int)nn_rng_below(&rng, NN_FASHION_CLASSES);
        s->labels[i] = (uint8_t)c;
        uint8_t *img = s->pixels + i * NN_FASHION_PIXELS;
        for (int y = 0; y < NN_FASHION_SIDE; y++)
            for (int x = 0; x < NN_FASHION_SIDE; x++) {
                const int on = c < 5 ? (y / 3 == 2 + c) : (x / 3 == c - 3);
                const int v = (on ? 180 : 30) + (int)nn_rng_below(&rng, 70);
                img[y * NN_FASHION_SIDE + x] = (uint8_t)v;
            }
    }
}

/* Trains for `steps` batches; the mean loss of the first and last 5 steps. */
static int train(nn_model *m, const nn_split *s, int steps, double *first, double *last)
{
    float mean, std;
    nn_split_stats(s, &mean, &std);
    nn_model_set_norm(m, mean, std);
    float *x = malloc((size_t)BATCH * NN_FASHION_PIXELS * sizeof *x);
    uint8_t labels[BATCH];
    uint32_t order[N_IMAGES];
    for (uint32_t i = 0; i < N_IMAGES; i++)
        order[i] = i;
    nn_rng rng;
    nn_rng_seed(&rng, 5);
    *first = *last = 0.0;
    for (int k = 0; k < steps; k++) {
        const size_t b0 = (size_t)(k * BATCH) % N_IMAGES;
        if (b0 == 0)
            nn_rng_shuffle(&rng, order, N_IMAGES);
        nn_split_gather(s, order + b0, BATCH, mean, std, x, labels);
        double loss;
        nn_error err;
        if (nn_model_train_step(m, x, labels, BATCH, 0.01f, 0.9f, &loss, &err) != 0) {
            tu_fail("train step %d: %s", k, err.msg);
            free(x);
            return -1;
        }
        if (k < 5)
            *first += loss / 5;
        if (k >= steps - 5)
            *last += loss / 5;
    }
    free(x);
    return 0;
}

static nn_model *new_model(cj_context *ctx)
{
    nn_model *m = NULL;
    nn_error err;
    if (nn_model_create(ctx, CJ_ALGO_AUTO, BATCH, &m, &err) != 0) {
        fprintf(stderr, "model: %s\n", err.msg);
        exit(1);
    }
    nn_model_init(m, 3);
    return m;
}

static int same_weights(nn_model *a, nn_model *b)
{
    nn_param *pa = nn_model_params(a), *pb = nn_model_params(b);
    for (int t = 0; t < NN_NUM_PARAMS; t++)
        if (memcmp(pa[t].value, pb[t].value, pa[t].count * sizeof(float)))
            return 0;
    return 1;
}

static void test_weights_file(nn_model *m, const nn_split *s, cj_context *ctx)
{
    char path[256], bad[300];
    snprintf(path, sizeof path, "%s/conjure-weights-%ld.bin", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (long)getpid());
    nn_error err;
    if (!tu_expect(nn_model_save(m, path, &err) == 0, "save: %s", err.msg))
        return;
    nn_model *loaded = new_model(ctx);
    nn_model_init(loaded, 99);
    if (tu_expect(nn_model_load(loaded, path, &err) == 0, "load: %s", err.msg)) {
        tu_expect(same_weights(m, loaded), "the loaded weights differ from the saved ones");
        float m1, s1, m2, s2;
        nn_model_get_norm(m, &m1, &s1);
        nn_model_get_norm(loaded, &m2, &s2);
        tu_expect(m1 == m2 && s1 == s2, "normalisation %g/%g loaded as %g/%g", m1, s1, m2, s2);
        nn_scores a, b;
        tu_expect(nn_evaluate(m, s, BATCH, &a, &err) == 0 && nn_evaluate(loaded, s, BATCH, &b, &err) == 0 &&
                      !memcmp(a.confusion, b.confusion, sizeof a.confusion),
                  "the loaded model predicts differently");
        printf("  saved and loaded: accuracy on the synthetic set %.1f%%\n", nn_accuracy_percent(&a));
    }
    /* Cut short: every prefix shorter than the file is refused, naming the file. */
    FILE *f = fopen(path, "rb");
    static uint8_t buf[2 << 20];
    const size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    snprintf(bad, sizeof bad, "%s.bad", path);
    const size_t cuts[] = {0, 5, 16, 30, n / 2, n - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        f = fopen(bad, "wb");
        if (!f || fwrite(buf, 1, cuts[k], f) != cuts[k] || fclose(f) != 0)
            continue;
        const int rc = nn_model_load(loaded, bad, &err);
        tu_expect(rc != 0 && strstr(err.msg, bad) && strstr(err.msg, "truncated"),
                  "weights cut to %zu bytes: %s", cuts[k], rc ? err.msg : "accepted");
    }
    printf("  weights cut short -> %s\n", err.msg);
    buf[0] = 'X';
    buf[n] = 0;
    f = fopen(bad, "wb");
    if (f && fwrite(buf, 1, n + 1, f) == n + 1 && fclose(f) == 0) {
        tu_expect(nn_model_load(loaded, bad, &err) != 0 && strstr(err.msg, "not a conjure weights file"),
                  "bad magic: %s", err.msg);
        buf[0] = 'C';
        f = fopen(bad, "wb");
        if (f && fwrite(buf, 1, n + 1, f) == n + 1 && fclose(f) == 0)
            tu_expect(nn_model_load(loaded, bad, &err) != 0 && strstr(err.msg, "unexpected bytes"),
                      "trailing byte: %s", err.msg);
    }
    remove(bad);
    remove(path);
    nn_model_destroy(loaded);
}

int main(void)
{
    tu_seed("test_nn_train", 0);
    nn_split s;
    make_split(&s, 17);
    cj_context *ctx1 = NULL, *ctx2 = NULL;
    cj_context_options o = {0};
    o.num_threads = 1;
    cj_status st = cj_context_create(&o, &ctx1);
    o.num_threads = 2;
    if (st != CJ_OK || cj_context_create(&o, &ctx2) != CJ_OK) {
        fprintf(stderr, "cannot create a context: %s\n", cj_last_error());
        return 1;
    }
    /* The loss falls: 40 steps of 32 (two passes over the set). */
    nn_model *m = new_model(ctx1);
    double first, last;
    if (train(m, &s, 40, &first, &last) == 0) {
        printf("  loss over the first 5 steps %.4f, the last 5 %.4f\n", first, last);
        tu_expect(last < 0.5 * first, "the loss did not fall enough: %.4f -> %.4f", first, last);
    }
    test_weights_file(m, &s, ctx1);

    /* The same seed and thread count: the same weights, bit for bit (1 and 2 threads). */
    cj_context *ctxs[2] = {ctx1, ctx2};
    for (int k = 0; k < 2; k++) {
        nn_model *a = new_model(ctxs[k]), *b = new_model(ctxs[k]);
        double fa, la, fb, lb;
        if (train(a, &s, 6, &fa, &la) == 0 && train(b, &s, 6, &fb, &lb) == 0)
            tu_expect(same_weights(a, b) && la == lb, "%d threads: two runs with one seed differ", k + 1);
        nn_model_destroy(a);
        nn_model_destroy(b);
    }
    nn_model_destroy(m);
    cj_context_destroy(ctx1);
    cj_context_destroy(ctx2);
    nn_split_free(&s);
    return tu_finish();
}
