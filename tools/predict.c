/* `conjure predict --load FILE`: the test accuracy and confusion matrix of weights saved by
 * `conjure train --save FILE`. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "nn/evaluate.h"
#include "nn_cli.h"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: conjure predict --load FILE [options]\n"
            "Classifies the Fashion-MNIST test set with weights saved by `conjure train --save FILE`:\n"
            "prints the accuracy and the confusion matrix.\n\n"
            "  --load FILE     the weights (required)\n"
            "  --threads T     threads (default: every core)\n"
            "  --batch B       images per forward pass (default 64)\n"
            "  --algo A        convolution algorithm (default auto)\n"
            "  --data DIR      the IDX files (default %s, from Debian's %s)\n",
            NN_FASHION_DIR, NN_FASHION_PACKAGE);
}

static void print_confusion(const nn_scores *s)
{
    printf("\nconfusion matrix (rows: true class, columns: predicted class)\n%13s", "");
    for (int c = 0; c < NN_CLASSES; c++)
        printf(" %5d", c);
    printf("  recall\n");
    for (int t = 0; t < NN_CLASSES; t++) {
        uint64_t row = 0;
        for (int c = 0; c < NN_CLASSES; c++)
            row += s->confusion[t][c];
        printf("%d %-11s", t, nn_fashion_class_names[t]);
        for (int c = 0; c < NN_CLASSES; c++)
            printf(" %5llu", (unsigned long long)s->confusion[t][c]);
        printf("  %5.1f%%\n", row ? 100.0 * (double)s->confusion[t][t] / (double)row : 0.0);
    }
}

int cj_cmd_predict(int argc, char **argv)
{
    static const cli_option opts[] = {{"--help", 0}, {"-h", 0}, {"--load", 1}, {"--threads", 1}, {"--batch", 1},
                                      {"--algo", 1}, {"--data", 1}};
    const char *load = NULL, *data = NULL;
    long threads = 0, batch = 64;
    cj_algorithm algo = CJ_ALGO_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *v;
        const int k = cli_next("predict", argc, argv, &i, opts, (int)(sizeof opts / sizeof opts[0]), &v);
        if (k < 0)
            return 2;
        const char *name = opts[k].name;
        if (k <= 1) {
            usage(stdout);
            return 0;
        }
        int bad = 0;
        if (!strcmp(name, "--load")) load = v;
        else if (!strcmp(name, "--data")) data = v;
        else if (!strcmp(name, "--threads")) bad = cli_long("predict", name, v, 1, 1024, &threads);
        else if (!strcmp(name, "--batch")) bad = cli_long("predict", name, v, 1, 4096, &batch);
        else if (!strcmp(name, "--algo")) bad = cli_algo("predict", v, &algo);
        if (bad)
            return 2;
    }
    if (!load) {
        fprintf(stderr, "conjure predict: --load FILE is required (weights from conjure train --save FILE)\n");
        return 2;
    }
    nn_split test = {0};
    cj_context *ctx = NULL;
    nn_model *model = NULL;
    nn_error err;
    nn_scores scores;
    int rc = 1;
    if (cli_load("predict", data, "test", &test) != 0 || !(ctx = cli_context("predict", (int)threads)))
        goto done;
    if (nn_model_create(ctx, algo, (int)batch, &model, &err) != 0 || nn_model_load(model, load, &err) != 0 ||
        nn_evaluate(model, &test, (int)batch, &scores, &err) != 0) {
        fprintf(stderr, "conjure predict: %s\n", err.msg);
        goto done;
    }
    printf("conjure predict: %s on %zu Fashion-MNIST test images: accuracy %.2f%% (%llu correct), mean loss %.4f\n",
           load, test.n, nn_accuracy_percent(&scores), (unsigned long long)scores.correct, scores.loss);
    print_confusion(&scores);
    rc = 0;
done:
    nn_model_destroy(model);
    cj_context_destroy(ctx);
    nn_split_free(&test);
    return rc;
}
