/* `conjure bench`: its options, the results of one table row, and the report that prints them. */
#ifndef CJ_TOOLS_BENCH_H
#define CJ_TOOLS_BENCH_H
#include <stdio.h>

#include "conjure.h"
#include "layers.h"
#include "peak.h"
#include "peers.h"

enum { BENCH_MAX_ALGOS = 8, BENCH_MAX_PEERS = 4 };

/* An --algo entry: one algorithm; "best" = the fastest of the GEMM family on each row; "plan" =
 * AUTO's forward through a cj_conv2d_plan made before the timing. */
typedef enum bench_algo_kind { BENCH_ALGO_ONE, BENCH_ALGO_BEST, BENCH_ALGO_PLAN } bench_algo_kind;
typedef struct bench_algo {
    const char     *name;
    bench_algo_kind kind;
    cj_algorithm    algorithm;
} bench_algo;

typedef struct bench_options {
    const char *layers_path;
    const char *filter;       /* NULL: every layer */
    int         threads;      /* 0: every core */
    cj_dtype    dtype;
    int         passes[BENCH_NUM_PASSES];  /* which passes run */
    bench_algo  algos[BENCH_MAX_ALGOS];
    int         num_algos;
    double      budget_s;     /* per layer, pass and algorithm (or peer) */
    int         compare;
    int         csv;
    int         calibrate;    /* measure AUTO's switches instead of the suite */
} bench_options;

/* Parses the arguments after "bench". Returns 0 to run, 1 when --help was printed, -1 on a bad
 * argument (after printing why). */
int bench_parse_options(int argc, char **argv, bench_options *o);

typedef enum bench_outcome { BENCH_RAN = 0, BENCH_UNSUPPORTED, BENCH_FAILED } bench_outcome;

typedef struct bench_peer_result {
    bench_outcome outcome;
    double        ms;
    const char   *why;       /* when not run: a short reason */
    int           mismatch;  /* its result differs from conjure's */
} bench_peer_result;

typedef struct bench_row {
    const bench_layer *layer;
    bench_pass         pass;
    char               algo[40];  /* "im2col_gemm", or "best:direct" */
    int                algo_index;
    bench_outcome      outcome;
    double             ms;
    bench_peer_result  peers[BENCH_MAX_PEERS];
} bench_row;

/* The header, the rows and the closing geometric means, as a table or as CSV. */
typedef struct bench_report {
    const bench_options *opt;
    const bench_peer *const *peers;  /* NULL-terminated; empty without --compare */
    int    num_peers;
    int    threads;
    double peak_gflops;              /* all threads, this dtype */
    int    name_width;
    double log_ratio_sum[BENCH_MAX_ALGOS][BENCH_NUM_PASSES][BENCH_MAX_PEERS];
    int    ratio_count[BENCH_MAX_ALGOS][BENCH_NUM_PASSES][BENCH_MAX_PEERS];
} bench_report;

void bench_report_begin(bench_report *r, const bench_options *opt, const bench_peer *const *peers,
                        const bench_layer *layers, size_t num_layers, const bench_peak *peak, int threads);
void bench_report_row(bench_report *r, const bench_row *row);
void bench_report_end(bench_report *r);

#endif
