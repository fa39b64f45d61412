/* `conjure train`: trains the Fashion-MNIST network of nn/model.h with SGD and momentum, showing a
 * progress bar, a line per epoch, the time to first reach 90% test accuracy, and a loss/accuracy
 * plot. Both convolutions run through conjure's public API; see the README for the figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "nn/evaluate.h"
#include "nn/plot.h"
#include "nn/rng.h"
#include "nn_cli.h"
#include "progress.h"
#include "timing.h"

#define TARGET_ACCURACY 90.0
#define MOMENTUM 0.9f
#define CURVE_POINTS_PER_EPOCH 50

typedef struct train_options {
    int          epochs, threads, batch;
    double       lr;
    uint64_t     seed;
    cj_algorithm algo;
    const char  *save, *plot, *data;
    long         limit;   /* training images used, 0: all */
} train_options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: conjure train [options]\n"
            "Trains a CNN on Fashion-MNIST (conv 5x5 32, pool, conv 5x5 64, pool, linear 128, linear 10)\n"
            "with SGD and momentum 0.9; both convolutions, forward and backward, run on conjure.\n\n"
            "  --epochs N      passes over the training set (default 3)\n"
            "  --threads T     threads (default: every core)\n"
            "  --batch B       images per step (default 64)\n"
            "  --lr RATE       learning rate (default 0.01)\n"
            "  --seed S        seed of the initialisation and the shuffles (default 1)\n"
            "  --algo A        convolution algorithm: auto, im2col_gemm, implicit_gemm, winograd, fft,\n"
            "                  direct (default auto)\n"
            "  --save FILE     write the trained weights (format: README, `conjure predict --load FILE`)\n"
            "  --plot FILE     the loss/accuracy curves as SVG (default conjure-train.svg; 'none': no plot)\n"
            "  --data DIR      the IDX files (default %s, from Debian's %s)\n"
            "  --limit N       train on the first N training images only (a quick look)\n",
            NN_FASHION_DIR, NN_FASHION_PACKAGE);
}

/* 1: --help shown; 0: parsed; -1: bad options (printed). */
static int parse(int argc, char **argv, train_options *o)
{
    static const cli_option opts[] = {{"--help", 0}, {"-h", 0}, {"--epochs", 1}, {"--threads", 1}, {"--batch", 1},
                                      {"--lr", 1}, {"--seed", 1}, {"--algo", 1}, {"--save", 1}, {"--plot", 1},
                                      {"--data", 1}, {"--limit", 1}};
    *o = (train_options){.epochs = 3, .batch = 64, .lr = 0.01, .seed = 1, .algo = CJ_ALGO_AUTO,
                         .plot = "conjure-train.svg"};
    for (int i = 1; i < argc; i++) {
        const char *v;
        long n;
        const int k = cli_next("train", argc, argv, &i, opts, (int)(sizeof opts / sizeof opts[0]), &v);
        if (k < 0)
            return -1;
        const char *name = opts[k].name;
        if (k <= 1) {
            usage(stdout);
            return 1;
        } else if (!strcmp(name, "--epochs")) {
            if (cli_long("train", name, v, 1, 1000, &n) != 0) return -1;
            o->epochs = (int)n;
        } else if (!strcmp(name, "--threads")) {
            if (cli_long("train", name, v, 1, 1024, &n) != 0) return -1;
            o->threads = (int)n;
        } else if (!strcmp(name, "--batch")) {
            if (cli_long("train", name, v, 1, 4096, &n) != 0) return -1;
            o->batch = (int)n;
        } else if (!strcmp(name, "--lr")) {
            if (cli_double("train", name, v, 0.0, 100.0, &o->lr) != 0) return -1;
        } else if (!strcmp(name, "--seed")) {
            if (cli_long("train", name, v, 0, 2147483647L, &n) != 0) return -1;
            o->seed = (uint64_t)n;
        } else if (!strcmp(name, "--algo")) {
            if (cli_algo("train", v, &o->algo) != 0) return -1;
        } else if (!strcmp(name, "--save")) {
            o->save = v;
        } else if (!strcmp(name, "--plot")) {
            o->plot = strcmp(v, "none") ? v : NULL;
        } else if (!strcmp(name, "--data")) {
            o->data = v;
        } else if (!strcmp(name, "--limit")) {
            if (cli_long("train", name, v, 1, 1L << 30, &o->limit) != 0) return -1;
        }
    }
    return 0;
}

/* Everything a run holds, so that one cleanup frees it whatever failed. */
typedef struct run {
    train_options o;
    cj_context   *ctx;
    nn_split      train, test;
    nn_model     *model;
    float        *x;
    uint8_t      *labels;
    uint32_t     *order;
    nn_curve      loss_curve, acc_curve;
} run;

static void print_phase_split(const nn_model *m, double epoch_s)
{
    double t[NN_NUM_PHASES], total = 0.0;
    nn_model_phase_times(m, t);
    for (int p = 0; p < NN_NUM_PHASES; p++)
        total += t[p];
    if (total <= 0.0)
        return;
    printf("where a training step's time goes (all epochs):");
    for (int p = 0; p < NN_NUM_PHASES; p++)
        printf("%s %s %.1f%%", p ? "," : "", nn_phase_names[p], 100.0 * t[p] / total);
    printf("\n  (steps %.1f s of %.1f s of training; the rest: batch assembly)\n", total, epoch_s);
}

/* One epoch of training; returns the mean loss, or a negative value on failure (printed). */
static double train_epoch(run *r, int epoch, nn_rng *rng, float mean, float std)
{
    const size_t n = r->train.n, batch = (size_t)r->o.batch, batches = (n + batch - 1) / batch;
    const size_t window = batches / CURVE_POINTS_PER_EPOCH ? batches / CURVE_POINTS_PER_EPOCH : 1;
    nn_rng_shuffle(rng, r->order, n);
    progress bar;
    progress_start(&bar, epoch, r->o.epochs, batches);
    double sum = 0.0, window_sum = 0.0;
    for (size_t b = 0; b < batches; b++) {
        const size_t b0 = b * batch, count = n - b0 < batch ? n - b0 : batch;
        nn_split_gather(&r->train, r->order + b0, count, mean, std, r->x, r->labels);
        double loss;
        nn_error err;
        if (nn_model_train_step(r->model, r->x, r->labels, (int)count, (float)r->o.lr, MOMENTUM, &loss, &err) != 0) {
            progress_clear(&bar);
            fprintf(stderr, "conjure train: %s\n", err.msg);
            return -1.0;
        }
        sum += loss;
        window_sum += loss;
        if ((b + 1) % window == 0 || b + 1 == batches) {
            const size_t in_window = (b + 1) % window ? (b + 1) % window : window;
            if (nn_curve_add(&r->loss_curve, epoch - 1 + (double)(b + 1) / (double)batches,
                             window_sum / (double)in_window) != 0) {
                progress_clear(&bar);
                fprintf(stderr, "conjure train: out of memory for the loss curve\n");
                return -1.0;
            }
            window_sum = 0.0;
        }
        progress_update(&bar, b + 1, b0 + count, sum / (double)(b + 1));
    }
    progress_clear(&bar);
    return sum / (double)batches;
}

static int train(run *r)
{
    train_options *o = &r->o;
    if (cli_load("train", o->data, "train", &r->train) != 0 || cli_load("train", o->data, "test", &r->test) != 0)
        return 1;
    float mean, std;
    nn_split_stats(&r->train, &mean, &std); /* of the whole training set, even with --limit */
    if (o->limit > 0 && (size_t)o->limit < r->train.n)
        r->train.n = (size_t)o->limit;
    r->ctx = cli_context("train", o->threads);
    if (!r->ctx)
        return 1;
    nn_error err;
    if (nn_model_create(r->ctx, o->algo, o->batch, &r->model, &err) != 0) {
        fprintf(stderr, "conjure train: %s\n", err.msg);
        return 1;
    }
    nn_model_init(r->model, o->seed);
    nn_model_set_norm(r->model, mean, std);
    r->x = malloc((size_t)o->batch * NN_FASHION_PIXELS * sizeof *r->x);
    r->labels = malloc((size_t)o->batch);
    r->order = malloc(r->train.n * sizeof *r->order);
    if (!r->x || !r->labels || !r->order) {
        fprintf(stderr, "conjure train: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < r->train.n; i++)
        r->order[i] = (uint32_t)i;
    nn_rng shuffle_rng;
    nn_rng_seed(&shuffle_rng, o->seed ^ 0x5eed5eed5eed5eedull); /* a stream apart from the initialisation's */

    printf("conjure train: Fashion-MNIST, %zu training and %zu test images from %s\n", r->train.n, r->test.n,
           o->data ? o->data : NN_FASHION_DIR);
    printf("  threads %d, convolutions %s, batch %d, lr %g, momentum %.1f, seed %llu, epochs %d; "
           "inputs normalised by mean %.4f, std %.4f\n", cj_context_num_threads(r->ctx),
           cj_algorithm_name(o->algo), o->batch, o->lr, (double)MOMENTUM, (unsigned long long)o->seed, o->epochs,
           (double)mean, (double)std);
    fflush(stdout);

    const double start = bench_now();
    double train_s = 0.0, eval_s = 0.0, reached_s = -1.0;
    int reached_epoch = 0;
    for (int epoch = 1; epoch <= o->epochs; epoch++) {
        const double t0 = bench_now();
        const double loss = train_epoch(r, epoch, &shuffle_rng, mean, std);
        if (loss < 0.0)
            return 1;
        const double t1 = bench_now();
        progress_note(r->test.n);
        nn_scores scores;
        if (nn_evaluate(r->model, &r->test, o->batch, &scores, &err) != 0) {
            fprintf(stderr, "conjure train: %s\n", err.msg);
            return 1;
        }
        const double t2 = bench_now(), acc = nn_accuracy_percent(&scores);
        train_s += t1 - t0;
        eval_s += t2 - t1;
        if (nn_curve_add(&r->acc_curve, epoch, acc) != 0) {
            fprintf(stderr, "conjure train: out of memory for the accuracy curve\n");
            return 1;
        }
        printf("epoch %d: train loss %.4f, test accuracy %.2f%%, %.1f s\n", epoch, loss, acc, t1 - t0);
        fflush(stdout);
        if (reached_s < 0.0 && acc >= TARGET_ACCURACY) {
            reached_s = t2 - start;
            reached_epoch = epoch;
        }
    }
    if (reached_s >= 0.0)
        printf("reached %.0f%% test accuracy after %.1f s (epoch %d; wall time of training and testing)\n",
               TARGET_ACCURACY, reached_s, reached_epoch);
    else
        printf("did not reach %.0f%% test accuracy in %d epochs\n", TARGET_ACCURACY, o->epochs);
    printf("training %.1f s per epoch, testing %.1f s per epoch\n", train_s / o->epochs, eval_s / o->epochs);
    print_phase_split(r->model, train_s);
    if (o->save) {
        if (nn_model_save(r->model, o->save, &err) != 0) {
            fprintf(stderr, "conjure train: %s\n", err.msg);
            return 1;
        }
        printf("weights written to %s (conjure predict --load %s)\n", o->save, o->save);
    }
    if (o->plot) {
        char title[160];
        const int threads = cj_context_num_threads(r->ctx);
        snprintf(title, sizeof title, "conjure train: Fashion-MNIST, batch %d, lr %g, seed %llu, %s, %d thread%s",
                 o->batch, o->lr, (unsigned long long)o->seed, cj_algorithm_name(o->algo), threads,
                 threads == 1 ? "" : "s");
        if (nn_plot_svg(o->plot, title, &r->loss_curve, &r->acc_curve, o->epochs, &err) != 0) {
            fprintf(stderr, "conjure train: %s\n", err.msg);
            return 1;
        }
        printf("curves written to %s\n", o->plot);
    }
    return 0;
}

int cj_cmd_train(int argc, char **argv)
{
    run r;
    memset(&r, 0, sizeof r);
    const int parsed = parse(argc, argv, &r.o);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;
    const int rc = train(&r);
    nn_model_destroy(r.model);
    cj_context_destroy(r.ctx);
    nn_split_free(&r.train);
    nn_split_free(&r.test);
    free(r.x);
    free(r.labels);
    free(r.order);
    nn_curve_free(&r.loss_curve);
    nn_curve_free(&r.acc_curve);
    return rc;
}
