/* What `conjure train` and `conjure predict` share: option parsing, the context, the data. */
#ifndef CJ_TOOLS_NN_CLI_H
#define CJ_TOOLS_NN_CLI_H
#include "conjure.h"
#include "nn/fashion.h"

/* One option: "--name value", "--name=value" or a flag "--name". */
typedef struct cli_option {
    const char *name;
    int         has_value;
} cli_option;

/* Reads argv[*i] against the known options: returns the index of the option (its value, if it has
 * one, in *value, and *i advanced past it), or -1 after printing why (unknown, value missing). */
int cli_next(const char *cmd, int argc, char **argv, int *i, const cli_option *opts, int num_opts,
             const char **value);

/* A whole number in [min, max] or a number in [min, max]; -1 after printing why. */
int cli_long(const char *cmd, const char *opt, const char *s, long min, long max, long *out);
int cli_double(const char *cmd, const char *opt, const char *s, double min, double max, double *out);

/* An algorithm name (auto, im2col_gemm, implicit_gemm, winograd, fft, direct); -1 after printing. */
int cli_algo(const char *cmd, const char *s, cj_algorithm *out);

/* A context with `threads` threads (0: every core); NULL after printing why. */
cj_context *cli_context(const char *cmd, int threads);

/* Loads a split of Fashion-MNIST (dir NULL: the package's); -1 after printing why. */
int cli_load(const char *cmd, const char *dir, const char *which, nn_split *out);

#endif
