#include "nn_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_next(const char *cmd, int argc, char **argv, int *i, const cli_option *opts, int num_opts,
             const char **value)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    const size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    *value = NULL;
    for (int k = 0; k < num_opts; k++) {
        if (strlen(opts[k].name) != len || strncmp(arg, opts[k].name, len))
            continue;
        if (!opts[k].has_value) {
            if (eq) {
                fprintf(stderr, "conjure %s: %s takes no value\n", cmd, opts[k].name);
                return -1;
            }
            return k;
        }
        *value = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
        if (!*value) {
            fprintf(stderr, "conjure %s: %s needs a value\n", cmd, opts[k].name);
            return -1;
        }
        return k;
    }
    fprintf(stderr, "conjure %s: unknown option '%s' (conjure %s --help)\n", cmd, arg, cmd);
    return -1;
}

int cli_double(const char *cmd, const char *opt, const char *s, double min, double max, double *out)
{
    char *end;
    const double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= min && v <= max)) {
        fprintf(stderr, "conjure %s: %s wants a number in [%g, %g], not '%s'\n", cmd, opt, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    const long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "conjure %s: %s wants a whole number in [%ld, %ld], not '%s'\n", cmd, opt, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_algo(const char *cmd, const char *s, cj_algorithm *out)
{
    static const cj_algorithm all[] = {CJ_ALGO_AUTO, CJ_ALGO_IM2COL_GEMM, CJ_ALGO_IMPLICIT_GEMM,
                                       CJ_ALGO_WINOGRAD, CJ_ALGO_FFT, CJ_ALGO_DIRECT};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, cj_algorithm_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    fprintf(stderr, "conjure %s: unknown algorithm '%s' (auto, im2col_gemm, implicit_gemm, winograd, fft, "
                    "direct)\n", cmd, s);
    return -1;
}

cj_context *cli_context(const char *cmd, int threads)
{
    cj_context_options o = {0};
    o.num_threads = threads;
    cj_context *ctx = NULL;
    const cj_status st = cj_context_create(&o, &ctx);
    if (st != CJ_OK) {
        fprintf(stderr, "conjure %s: cannot create a context: %s\n", cmd, cj_last_error());
        return NULL;
    }
    return ctx;
}

int cli_load(const char *cmd, const char *dir, const char *which, nn_split *out)
{
    nn_error err;
    if (nn_split_load(dir, which, out, &err) != 0) {
        fprintf(stderr, "conjure %s: %s\n", cmd, err.msg);
        return -1;
    }
    return 0;
}
