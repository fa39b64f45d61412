#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#ifndef CJ_SOURCE_DIR
#define CJ_SOURCE_DIR "."
#endif

static const bench_algo known_algos[] = {
    {"auto", BENCH_ALGO_ONE, CJ_ALGO_AUTO},
    {"im2col_gemm", BENCH_ALGO_ONE, CJ_ALGO_IM2COL_GEMM},
    {"implicit_gemm", BENCH_ALGO_ONE, CJ_ALGO_IMPLICIT_GEMM},
    {"winograd", BENCH_ALGO_ONE, CJ_ALGO_WINOGRAD},
    {"fft", BENCH_ALGO_ONE, CJ_ALGO_FFT},
    {"direct", BENCH_ALGO_ONE, CJ_ALGO_DIRECT},
    {"best", BENCH_ALGO_BEST, CJ_ALGO_AUTO},
    {"plan", BENCH_ALGO_PLAN, CJ_ALGO_AUTO},
};

static void usage(FILE *to)
{
    fprintf(to,
            "usage: conjure bench [options]\n"
            "Times conjure's convolutions on a suite of layers: per layer and pass the median ms,\n"
            "GFLOP/s (2*N*K*C/groups*kh*kw*out_h*out_w per pass) and %% of this machine's FMA peak.\n\n"
            "  --layers FILE     the suite (default %s/bench/layers.tsv): tab-separated\n"
            "                    name N C H W K kh kw pad_h pad_w stride_h stride_w dil groups [note]\n"
            "  --filter SUBSTR   only the layers whose name contains SUBSTR\n"
            "  --threads T       threads (default: every core)\n"
            "  --algo A[,A...]   auto, im2col_gemm, implicit_gemm, winograd, fft, direct, best\n"
            "                    (the fastest of im2col_gemm, implicit_gemm, direct per row), or plan\n"
            "                    (auto's forward through a cj_conv2d_plan made before the timing,\n"
            "                    its weights prepared once); default auto\n"
            "  --dtype f32|f64   default f32\n"
            "  --pass P[,P...]   fwd, bwd_data (grad_input), bwd_weights (grad_weight + grad_bias);\n"
            "                    default all three\n"
            "  --budget SECONDS  time per layer, pass and algorithm: a warm-up, then runs until the\n"
            "                    budget is spent (at least 3); the median is reported (default 1)\n"
            "  --compare         also time the peers built in (oneDNN, im2col + OpenBLAS) and print\n"
            "                    peer_ms / conjure_ms (> 1: conjure is faster)%s\n"
            "  --csv             comma-separated output\n"
            "  --calibrate       instead of the suite, measure the decisions of AUTO's model that\n"
            "                    depend on the machine (at --threads, else at 1 thread and at every\n"
            "                    core) and save them where AUTO finds them: CONJURE_CALIBRATION, else\n"
            "                    $XDG_CACHE_HOME/conjure/calibration or ~/.cache/conjure/calibration\n",
            CJ_SOURCE_DIR, bench_peers()[0] ? "" : " [not in this build]");
}

/* Splits a comma list and calls add(item) on each; returns -1 as soon as add fails. */
static int for_each_item(const char *list, int (*add)(bench_options *, const char *), bench_options *o)
{
    char item[64];
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof item) {
            fprintf(stderr, "conjure bench: bad list '%s'\n", list);
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (add(o, item) != 0)
            return -1;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

static int add_algo(bench_options *o, const char *name)
{
    for (size_t i = 0; i < sizeof known_algos / sizeof known_algos[0]; i++) {
        if (strcmp(name, known_algos[i].name))
            continue;
        if (o->num_algos == BENCH_MAX_ALGOS) {
            fprintf(stderr, "conjure bench: at most %d algorithms\n", BENCH_MAX_ALGOS);
            return -1;
        }
        o->algos[o->num_algos++] = known_algos[i];
        return 0;
    }
    fprintf(stderr, "conjure bench: unknown algorithm '%s' (auto, im2col_gemm, implicit_gemm, winograd, "
                    "fft, direct, best, plan)\n", name);
    return -1;
}

static int add_pass(bench_options *o, const char *name)
{
    for (int p = 0; p < BENCH_NUM_PASSES; p++)
        if (!strcmp(name, bench_pass_name((bench_pass)p))) {
            o->passes[p] = 1;
            return 0;
        }
    fprintf(stderr, "conjure bench: unknown pass '%s' (fwd, bwd_data, bwd_weights)\n", name);
    return -1;
}

static int parse_number(const char *opt, const char *s, double min, double max, double *v)
{
    char *end;
    double x = strtod(s, &end);
    if (end == s || *end != '\0' || !(x >= min && x <= max)) {
        fprintf(stderr, "conjure bench: %s wants a number in [%g, %g], not '%s'\n", opt, min, max, s);
        return -1;
    }
    *v = x;
    return 0;
}

int bench_parse_options(int argc, char **argv, bench_options *o)
{
    static char default_layers[] = CJ_SOURCE_DIR "/bench/layers.tsv";
    memset(o, 0, sizeof *o);
    o->layers_path = default_layers;
    o->dtype = CJ_F32;
    o->budget_s = 1.0;
    int have_pass = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        /* Options with a value take it from the next argument or after '='. */
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        char name[32];
        if (name_len >= sizeof name)
            name_len = sizeof name - 1;
        memcpy(name, arg, name_len);
        name[name_len] = '\0';
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(name, "--compare")) {
            o->compare = 1;
            continue;
        }
        if (!strcmp(name, "--csv")) {
            o->csv = 1;
            continue;
        }
        if (!strcmp(name, "--calibrate")) {
            o->calibrate = 1;
            continue;
        }
        static const char *const with_value[] = {"--layers", "--filter", "--threads", "--algo",
                                                 "--dtype", "--pass", "--budget"};
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
            known |= !strcmp(name, with_value[k]);
        if (!known) {
            fprintf(stderr, "conjure bench: unknown option '%s' (conjure bench --help)\n", arg);
            return -1;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            fprintf(stderr, "conjure bench: %s needs a value\n", name);
            return -1;
        }
        double v;
        if (!strcmp(name, "--layers")) {
            o->layers_path = value;
        } else if (!strcmp(name, "--filter")) {
            o->filter = value;
        } else if (!strcmp(name, "--threads")) {
            if (parse_number(name, value, 1, 4096, &v) != 0)
                return -1;
            if (v != (int)v) {
                fprintf(stderr, "conjure bench: --threads wants a whole number, not '%s'\n", value);
                return -1;
            }
            o->threads = (int)v;
        } else if (!strcmp(name, "--algo")) {
            if (for_each_item(value, add_algo, o) != 0)
                return -1;
        } else if (!strcmp(name, "--dtype")) {
            if (strcmp(value, "f32") && strcmp(value, "f64")) {
                fprintf(stderr, "conjure bench: --dtype is f32 or f64, not '%s'\n", value);
                return -1;
            }
            o->dtype = strcmp(value, "f64") ? CJ_F32 : CJ_F64;
        } else if (!strcmp(name, "--pass")) {
            have_pass = 1;
            if (for_each_item(value, add_pass, o) != 0)
                return -1;
        } else if (!strcmp(name, "--budget")) {
            if (parse_number(name, value, 0, 3600, &o->budget_s) != 0)
                return -1;
        }
    }
    if (!have_pass)
        for (int p = 0; p < BENCH_NUM_PASSES; p++)
            o->passes[p] = 1;
    if (o->num_algos == 0)
        add_algo(o, "auto");
    if (o->compare && !bench_peers()[0]) {
        fprintf(stderr, "conjure bench: --compare needs oneDNN or OpenBLAS at build time "
                        "(apt-get install libdnnl-dev libopenblas-dev, then rebuild)\n");
        return -1;
    }
    return 0;
}
