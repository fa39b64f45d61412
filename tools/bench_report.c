/* The output of `conjure bench`: a table for people, or CSV (--csv) with '#' comment lines for the
 * header. Also keeps the per-pass geometric means of the peer ratios printed at the end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum { ALGO_WIDTH = 20, PEER_MS_WIDTH = 14, RATIO_WIDTH = 7 };

static int peer_width(const bench_peer *p)
{
    int w = (int)strlen(p->name);
    return w > PEER_MS_WIDTH ? w : PEER_MS_WIDTH;
}

static const char *comment(const bench_report *r)
{
    return r->opt->csv ? "# " : "";
}

void bench_report_begin(bench_report *r, const bench_options *opt, const bench_peer *const *peers,
                        const bench_layer *layers, size_t num_layers, const bench_peak *peak, int threads)
{
    memset(r, 0, sizeof *r);
    r->opt = opt;
    r->peers = peers;
    while (peers[r->num_peers] && r->num_peers < BENCH_MAX_PEERS)
        r->num_peers++;
    r->threads = threads;
    double per_thread = opt->dtype == CJ_F64 ? peak->f64_gflops : peak->f32_gflops;
    r->peak_gflops = per_thread * threads;
    r->name_width = 5;
    for (size_t i = 0; i < num_layers; i++)
        if ((int)strlen(layers[i].name) > r->name_width)
            r->name_width = (int)strlen(layers[i].name);

    const char *c = comment(r);
    printf("%sconjure %d.%d.%d bench: %s, %s, %d thread%s, %s, budget %g s per run\n", c, CJ_VERSION_MAJOR,
           CJ_VERSION_MINOR, CJ_VERSION_PATCH, peak->cpu, peak->isa, threads, threads == 1 ? "" : "s",
           opt->dtype == CJ_F64 ? "f64" : "f32", opt->budget_s);
    printf("%sFMA peak (measured): f32 %.1f GFLOP/s, f64 %.1f GFLOP/s per thread; %% peak below is of "
           "%.1f GFLOP/s\n", c, peak->f32_gflops, peak->f64_gflops, r->peak_gflops);
    printf("%slayers: %s\n", c, opt->layers_path);
    char calibration[512];
    cj_calibration_describe(calibration, sizeof calibration);
    printf("%sAUTO's machine-dependent decisions: %s\n", c, calibration);
    for (int p = 0; p < r->num_peers; p++) {
        char desc[256];
        if (!peers[p]->describe)
            continue;
        peers[p]->describe(desc, sizeof desc);
        printf("%speer: %s\n", c, desc);
    }
    if (r->num_peers)
        printf("%sratio x = peer_ms / conjure_ms: > 1 means conjure is faster; '!' marks a peer whose "
               "result differs from conjure's\n", c);
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    if (coretype && *coretype)
        printf("%swarning: OPENBLAS_CORETYPE=%s is set and may hold OpenBLAS below this CPU's best kernels; "
               "unset it for a fair comparison (OPENBLAS_CORETYPE= conjure bench ...)\n", c, coretype);

    if (opt->csv) {
        printf("layer,pass,algo,dtype,threads,ms,gflops,peak_pct,status");
        for (int p = 0; p < r->num_peers; p++)
            printf(",%s_ms,%s_ratio", peers[p]->name, peers[p]->name);
        printf("\n");
    } else {
        printf("\n%-*s  %-11s  %-*s %10s %9s %6s", r->name_width, "layer", "pass", ALGO_WIDTH, "algo", "ms",
               "GFLOP/s", "%peak");
        for (int p = 0; p < r->num_peers; p++)
            printf(" | %*s %*s", peer_width(peers[p]), peers[p]->name, RATIO_WIDTH, "x");
        printf("\n");
    }
    fflush(stdout);
}

static const char *outcome_name(bench_outcome o)
{
    return o == BENCH_RAN ? "ok" : o == BENCH_UNSUPPORTED ? "unsupported" : "failed";
}

/* One peer's cells (ms, ratio), accumulating the ratio into the geometric mean. */
static void peer_cells(bench_report *r, const bench_row *row, int p)
{
    const bench_peer_result *pr = &row->peers[p];
    char ms[32] = "", ratio[32] = "";
    if (pr->outcome == BENCH_RAN) {
        snprintf(ms, sizeof ms, "%.3f%s", pr->ms, pr->mismatch ? "!" : "");
        if (row->outcome == BENCH_RAN && row->ms > 0) {
            double x = pr->ms / row->ms;
            snprintf(ratio, sizeof ratio, "%.2f", x);
            r->log_ratio_sum[row->algo_index][row->pass][p] += log(x);
            r->ratio_count[row->algo_index][row->pass][p]++;
        }
    } else {
        snprintf(ms, sizeof ms, "%s", pr->why ? pr->why : outcome_name(pr->outcome));
    }
    if (r->opt->csv)
        printf(",%s,%s", pr->outcome == BENCH_RAN ? ms : "", ratio);
    else
        printf(" | %*s %*s", peer_width(r->peers[p]), ms, RATIO_WIDTH, *ratio ? ratio : "-");
}

void bench_report_row(bench_report *r, const bench_row *row)
{
    const bench_options *o = r->opt;
    double gflops = 0, pct = 0;
    if (row->outcome == BENCH_RAN && row->ms > 0) {
        gflops = bench_layer_flops(row->layer) / (row->ms * 1e6);
        pct = r->peak_gflops > 0 ? 100.0 * gflops / r->peak_gflops : 0;
    }
    const char *pass = bench_pass_name(row->pass);
    if (o->csv) {
        printf("%s,%s,%s,%s,%d,", row->layer->name, pass, row->algo, o->dtype == CJ_F64 ? "f64" : "f32",
               r->threads);
        if (row->outcome == BENCH_RAN)
            printf("%.4f,%.2f,%.1f", row->ms, gflops, pct);
        else
            printf(",,");
        printf(",%s", outcome_name(row->outcome));
    } else {
        printf("%-*s  %-11s  %-*s ", r->name_width, row->layer->name, pass, ALGO_WIDTH, row->algo);
        if (row->outcome == BENCH_RAN)
            printf("%10.3f %9.1f %5.1f%%", row->ms, gflops, pct);
        else
            printf("%10s %9s %6s", outcome_name(row->outcome), "", "");
    }
    for (int p = 0; p < r->num_peers; p++)
        peer_cells(r, row, p);
    printf("\n");
    fflush(stdout);
}

void bench_report_end(bench_report *r)
{
    const bench_options *o = r->opt;
    if (!r->num_peers)
        return;
    if (!o->csv)
        printf("\ngeometric mean of peer_ms / conjure_ms (> 1: conjure is faster)\n");
    for (int a = 0; a < o->num_algos; a++)
        for (int pass = 0; pass < BENCH_NUM_PASSES; pass++) {
            if (!o->passes[pass])
                continue;
            if (o->csv)
                printf("geomean,%s,%s,%s,%d,,,,", bench_pass_name((bench_pass)pass), o->algos[a].name,
                       o->dtype == CJ_F64 ? "f64" : "f32", r->threads);
            else
                printf("%-*s  %-11s  %-*s %10s %9s %6s", r->name_width, "geomean",
                       bench_pass_name((bench_pass)pass), ALGO_WIDTH, o->algos[a].name, "", "", "");
            for (int p = 0; p < r->num_peers; p++) {
                int n = r->ratio_count[a][pass][p];
                char g[32] = "-";
                if (n)
                    snprintf(g, sizeof g, "%.2f", exp(r->log_ratio_sum[a][pass][p] / n));
                if (o->csv)
                    printf(",,%s", n ? g : "");
                else
                    printf(" | %*s %*s", peer_width(r->peers[p]), "", RATIO_WIDTH, g);
            }
            printf("\n");
        }
}
