/* `conjure bench`: times conjure (and with --compare its peers) on every layer of a suite, per pass.
 * Each layer's buffers are allocated and filled with random values once; every algorithm and peer
 * then runs on the same data, back to back. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "commands.h"
#include "timing.h"

/* The GEMM family that --algo best chooses from. */
static const cj_algorithm gemm_family[] = {CJ_ALGO_IM2COL_GEMM, CJ_ALGO_IMPLICIT_GEMM, CJ_ALGO_DIRECT};

/* A layer's tensors: inputs random, outputs written by every run. */
typedef struct layer_buffers {
    cj_tensor input, weight, bias, grad_output;  /* inputs */
    cj_tensor output, grad_input, grad_weight, grad_bias;  /* outputs */
} layer_buffers;

static void fill_random(cj_tensor *t, uint64_t *state)
{
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= (size_t)t->shape[i];
    for (size_t i = 0; i < n; i++) {
        /* xorshift64*: a fixed seed makes runs comparable; values in [-1, 1) */
        *state ^= *state >> 12, *state ^= *state << 25, *state ^= *state >> 27;
        double u = (double)((*state * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53 * 2.0 - 1.0;
        if (t->dtype == CJ_F64)
            ((double *)t->data)[i] = u;
        else
            ((float *)t->data)[i] = (float)u;
    }
}

/* Sets up t with the given shape and a fresh buffer; returns -1 when out of memory. */
static int alloc_tensor(cj_tensor *t, cj_dtype dtype, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    t->dtype = dtype;
    t->ndim = ndim;
    t->shape[0] = a, t->shape[1] = b, t->shape[2] = c, t->shape[3] = d;
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)t->shape[i];
    t->data = malloc(n * bench_dtype_size(dtype));
    return t->data ? 0 : -1;
}

static void free_buffers(layer_buffers *b)
{
    cj_tensor *all[] = {&b->input, &b->weight, &b->bias, &b->grad_output,
                        &b->output, &b->grad_input, &b->grad_weight, &b->grad_bias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        free(all[i]->data);
        all[i]->data = NULL;
    }
}

static int alloc_buffers(layer_buffers *b, const bench_layer *l, cj_dtype dt)
{
    memset(b, 0, sizeof *b);
    int64_t cg = l->c / l->groups;
    if (alloc_tensor(&b->input, dt, 4, l->n, l->c, l->h, l->w) || alloc_tensor(&b->weight, dt, 4, l->k, cg, l->kh, l->kw) ||
        alloc_tensor(&b->bias, dt, 1, l->k, 0, 0, 0) ||
        alloc_tensor(&b->grad_output, dt, 4, l->n, l->k, l->out_h, l->out_w) ||
        alloc_tensor(&b->output, dt, 4, l->n, l->k, l->out_h, l->out_w) ||
        alloc_tensor(&b->grad_input, dt, 4, l->n, l->c, l->h, l->w) ||
        alloc_tensor(&b->grad_weight, dt, 4, l->k, cg, l->kh, l->kw) || alloc_tensor(&b->grad_bias, dt, 1, l->k, 0, 0, 0)) {
        fprintf(stderr, "conjure bench: %s: out of memory for the layer's tensors\n", l->name);
        free_buffers(b);
        return -1;
    }
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    fill_random(&b->input, &seed);
    fill_random(&b->weight, &seed);
    fill_random(&b->bias, &seed);
    fill_random(&b->grad_output, &seed);
    return 0;
}

/* One conjure call, as the timing loop's closure. */
typedef struct conjure_call {
    cj_context       *ctx;
    layer_buffers    *b;
    bench_pass        pass;
    cj_conv2d_params  params;
    cj_status         status;
    const cj_conv2d_plan *plan;  /* forward through this plan instead (--algo plan) */
} conjure_call;

static int run_conjure(void *arg)
{
    conjure_call *c = arg;
    layer_buffers *b = c->b;
    switch (c->pass) {
    case BENCH_FWD:
        c->status = c->plan ? cj_conv2d_plan_run(c->plan, &b->input, &b->output)
                            : cj_conv2d(c->ctx, &b->input, &b->weight, &b->bias, &c->params, &b->output);
        break;
    case BENCH_BWD_DATA:
        c->status = cj_conv2d_backward(c->ctx, &b->input, &b->weight, &b->bias, &c->params, &b->grad_output,
                                       &b->grad_input, NULL, NULL);
        break;
    case BENCH_BWD_WEIGHTS:
        c->status = cj_conv2d_backward(c->ctx, &b->input, &b->weight, &b->bias, &c->params, &b->grad_output,
                                       NULL, &b->grad_weight, &b->grad_bias);
        break;
    }
    return c->status != CJ_OK;
}

/* Times one algorithm; on success *ms is its median. */
static bench_outcome time_algorithm(conjure_call *c, cj_algorithm algo, double budget, double *ms)
{
    c->params.algorithm = algo;
    c->status = CJ_OK;
    int rc = bench_time(run_conjure, c, budget, ms);
    if (rc == 0)
        return BENCH_RAN;
    if (c->status == CJ_ERR_UNSUPPORTED)
        return BENCH_UNSUPPORTED;
    if (c->status == CJ_OK)
        fprintf(stderr, "conjure bench: out of memory for the timings\n");
    else
        fprintf(stderr, "conjure bench: %s %s %s: %s: %s\n", c->b->input.dtype == CJ_F64 ? "f64" : "f32",
                bench_pass_name(c->pass), cj_algorithm_name(algo), cj_status_string(c->status), cj_last_error());
    return BENCH_FAILED;
}

/* --algo plan: AUTO's forward through a plan made (weights prepared) before the timing. */
static void time_plan(conjure_call *c, double budget, bench_row *row)
{
    snprintf(row->algo, sizeof row->algo, "plan");
    row->outcome = BENCH_UNSUPPORTED; /* forward only */
    if (c->pass != BENCH_FWD)
        return;
    c->params.algorithm = CJ_ALGO_AUTO;
    cj_conv2d_plan *plan;
    c->status = cj_conv2d_plan_create(c->ctx, &c->b->input, &c->b->weight, &c->b->bias, &c->params, &plan);
    if (c->status != CJ_OK) {
        fprintf(stderr, "conjure bench: plan: %s: %s\n", cj_status_string(c->status), cj_last_error());
        row->outcome = BENCH_FAILED;
        return;
    }
    snprintf(row->algo, sizeof row->algo, "plan:%s", cj_algorithm_name(cj_conv2d_plan_algorithm(plan)));
    c->plan = plan;
    row->outcome = time_algorithm(c, CJ_ALGO_AUTO, budget, &row->ms);
    c->plan = NULL;
    cj_conv2d_plan_destroy(plan);
}

/* Fills the row's conjure cells for one --algo entry. */
static void time_entry(conjure_call *c, const bench_algo *entry, double budget, bench_row *row)
{
    if (entry->kind == BENCH_ALGO_PLAN) {
        time_plan(c, budget, row);
        return;
    }
    if (entry->kind == BENCH_ALGO_ONE) {
        snprintf(row->algo, sizeof row->algo, "%s", entry->name);
        row->outcome = time_algorithm(c, entry->algorithm, budget, &row->ms);
        if (entry->algorithm == CJ_ALGO_AUTO && row->outcome == BENCH_RAN) {
            /* AUTO's row names the algorithm it ran (after the timing, so autotune has measured) */
            static const cj_conv2d_pass query_pass[] = {[BENCH_FWD] = CJ_CONV2D_FORWARD,
                                                        [BENCH_BWD_DATA] = CJ_CONV2D_BACKWARD_DATA,
                                                        [BENCH_BWD_WEIGHTS] = CJ_CONV2D_BACKWARD_WEIGHTS};
            cj_algorithm chosen;
            if (cj_conv2d_query_algorithm(c->ctx, &c->b->input, &c->b->weight, &c->params, query_pass[c->pass],
                                          &chosen) == CJ_OK)
                snprintf(row->algo, sizeof row->algo, "auto:%s", cj_algorithm_name(chosen));
        }
        return;
    }
    row->outcome = BENCH_UNSUPPORTED;
    snprintf(row->algo, sizeof row->algo, "best");
    for (size_t i = 0; i < sizeof gemm_family / sizeof gemm_family[0]; i++) {
        double ms;
        bench_outcome o = time_algorithm(c, gemm_family[i], budget, &ms);
        if (o == BENCH_FAILED && row->outcome != BENCH_RAN)
            row->outcome = BENCH_FAILED;
        if (o == BENCH_RAN && (row->outcome != BENCH_RAN || ms < row->ms)) {
            row->outcome = BENCH_RAN;
            row->ms = ms;
            snprintf(row->algo, sizeof row->algo, "best:%s", cj_algorithm_name(gemm_family[i]));
        }
    }
}

/* The largest |a - b| over max |b|: a peer computing the same convolution agrees with conjure to
 * rounding (~1e-6 in f32); a wrong setup (padding, groups, layout) is off by O(1). */
static double relative_difference(const void *a, const void *b, size_t n, cj_dtype dt)
{
    double diff = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        double x = dt == CJ_F64 ? ((const double *)a)[i] : ((const float *)a)[i];
        double y = dt == CJ_F64 ? ((const double *)b)[i] : ((const float *)b)[i];
        double d = fabs(x - y);
        if (!(d <= diff)) /* NaN counts as a difference */
            diff = d;
        if (fabs(y) > mag)
            mag = fabs(y);
    }
    return mag > 0 ? diff / mag : diff;
}

/* With several threads, a library's idle workers busy-wait for a while after each call (OpenBLAS's
 * for up to ~2^28 cycles) and would steal cores from the next library timed. Before timing a
 * library other than the one that ran last, this waits for them to go to sleep. */
static void settle(int threads)
{
    if (threads > 1)
        bench_sleep(0.1);
}

/* Times every peer on the problem and checks its result against conjure's (in ref, n elements). */
static void time_peers(const bench_peer *const *peers, const bench_problem *prob, double budget,
                       const void *ref, size_t n, bench_row *row)
{
    for (int p = 0; peers[p] && p < BENCH_MAX_PEERS; p++) {
        bench_peer_result *pr = &row->peers[p];
        memset(pr, 0, sizeof *pr);
        void *state = peers[p]->create(prob, &pr->why);
        if (!state) {
            pr->outcome = BENCH_UNSUPPORTED;
            continue;
        }
        settle(prob->threads);
        if (bench_time(peers[p]->run, state, budget, &pr->ms) != 0) {
            pr->outcome = BENCH_FAILED;
            pr->why = "failed";
        } else if (ref && peers[p]->result(state)) {
            double rel = relative_difference(peers[p]->result(state), ref, n, prob->dtype);
            double tol = prob->dtype == CJ_F64 ? 1e-9 : 1e-3;
            if (!(rel <= tol)) {
                pr->mismatch = 1;
                fprintf(stderr, "conjure bench: warning: %s %s: %s differs from conjure: max |diff| / max |conjure| "
                        "= %.3g\n", prob->layer->name, bench_pass_name(prob->pass), peers[p]->name, rel);
            }
        }
        peers[p]->destroy(state);
    }
}

/* Runs every selected pass and algorithm (and peer) on one layer; returns the number of failures. */
static int bench_layer_run(const bench_options *o, bench_report *r, cj_context *ctx, int threads,
                           const bench_layer *l)
{
    layer_buffers b;
    if (alloc_buffers(&b, l, o->dtype) != 0)
        return 1;
    int failures = 0;
    conjure_call call = {ctx, &b, BENCH_FWD,
                         {{l->pad_h, l->pad_w}, {l->stride_h, l->stride_w}, {l->dil, l->dil}, l->groups,
                          CJ_ALGO_AUTO},
                         CJ_OK, NULL};
    bench_problem prob = {l, BENCH_FWD, o->dtype, threads, b.input.data, b.weight.data, b.bias.data,
                          b.grad_output.data};
    for (int pass = 0; pass < BENCH_NUM_PASSES; pass++) {
        if (!o->passes[pass])
            continue;
        bench_row rows[BENCH_MAX_ALGOS];
        int any_ran = 0;
        call.pass = prob.pass = (bench_pass)pass;
        if (r->num_peers)
            settle(threads);
        for (int a = 0; a < o->num_algos; a++) {
            bench_row *row = &rows[a];
            memset(row, 0, sizeof *row);
            row->layer = l;
            row->pass = (bench_pass)pass;
            row->algo_index = a;
            time_entry(&call, &o->algos[a], o->budget_s, row);
            any_ran |= row->outcome == BENCH_RAN;
            failures += row->outcome == BENCH_FAILED;
        }
        if (r->num_peers) {
            /* The last successful conjure run left its result in the output buffer. */
            const cj_tensor *ref = pass == BENCH_FWD ? &b.output : pass == BENCH_BWD_DATA ? &b.grad_input
                                                                                          : &b.grad_weight;
            size_t n = pass == BENCH_FWD ? bench_elems_output(l) : pass == BENCH_BWD_DATA ? bench_elems_input(l)
                                                                                          : bench_elems_weight(l);
            time_peers(r->peers, &prob, o->budget_s, any_ran ? ref->data : NULL, n, &rows[0]);
            for (int a = 1; a < o->num_algos; a++)
                memcpy(rows[a].peers, rows[0].peers, sizeof rows[0].peers);
        }
        for (int a = 0; a < o->num_algos; a++)
            bench_report_row(r, &rows[a]);
    }
    free_buffers(&b);
    return failures;
}

/* Keeps the layers whose name contains filter (all when NULL); returns how many are left. */
static size_t filter_layers(bench_layer *layers, size_t n, const char *filter)
{
    if (!filter)
        return n;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (strstr(layers[i].name, filter))
            layers[kept++] = layers[i];
    return kept;
}

static void print_line(const char *line, void *user)
{
    (void)user;
    printf("  %s\n", line);
    fflush(stdout);
}

/* --calibrate: AUTO's switches at the thread counts asked (or 1 and every core), saved. */
static int calibrate(const bench_options *o)
{
    int counts[2] = {o->threads, 0}, num = 1;
    if (!o->threads) {
        cj_context *all;
        if (cj_context_create(NULL, &all) != CJ_OK) {
            fprintf(stderr, "conjure bench: cannot create a context: %s\n", cj_last_error());
            return 1;
        }
        counts[0] = 1;
        counts[1] = cj_context_num_threads(all);
        num = counts[1] > 1 ? 2 : 1;
        cj_context_destroy(all);
    }
    for (int i = 0; i < num; i++) {
        cj_context_options copt = {0};
        copt.num_threads = counts[i];
        cj_context *ctx;
        if (cj_context_create(&copt, &ctx) != CJ_OK) {
            fprintf(stderr, "conjure bench: cannot create a context: %s\n", cj_last_error());
            return 1;
        }
        printf("AUTO's switches at %d thread%s (probe layer timed with the switch on and off, fastest of 7):\n",
               counts[i], counts[i] == 1 ? "" : "s");
        cj_status st = cj_calibrate(ctx, NULL, print_line, NULL);
        cj_context_destroy(ctx);
        if (st != CJ_OK) {
            fprintf(stderr, "conjure bench: calibration failed: %s: %s\n", cj_status_string(st), cj_last_error());
            return 1;
        }
    }
    char where[512];
    cj_calibration_describe(where, sizeof where);
    printf("saved: %s\n", where);
    return 0;
}

int cj_cmd_bench(int argc, char **argv)
{
    bench_options o;
    int rc = bench_parse_options(argc, argv, &o);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (o.calibrate)
        return calibrate(&o);
    bench_layer *layers;
    size_t num_layers;
    if (bench_layers_read(o.layers_path, &layers, &num_layers) != 0)
        return 1;
    num_layers = filter_layers(layers, num_layers, o.filter);
    if (num_layers == 0) {
        fprintf(stderr, "conjure bench: no layer of %s matches '%s'\n", o.layers_path, o.filter);
        free(layers);
        return 1;
    }
    cj_context_options copt = {0};
    copt.num_threads = o.threads;
    cj_context *ctx;
    cj_status st = cj_context_create(&copt, &ctx);
    if (st != CJ_OK) {
        fprintf(stderr, "conjure bench: cannot create a context: %s: %s\n", cj_status_string(st), cj_last_error());
        free(layers);
        return 1;
    }
    int threads = cj_context_num_threads(ctx);
    bench_peak peak;
    bench_peak_measure(&peak);
    static const bench_peer *const no_peers[] = {NULL};
    const bench_peer *const *peers = o.compare ? bench_peers() : no_peers;

    bench_report report;
    bench_report_begin(&report, &o, peers, layers, num_layers, &peak, threads);
    int failures = 0;
    for (size_t i = 0; i < num_layers; i++)
        failures += bench_layer_run(&o, &report, ctx, threads, &layers[i]);
    bench_report_end(&report);

    for (int p = 0; peers[p]; p++)
        if (peers[p]->shutdown)
            peers[p]->shutdown();
    cj_context_destroy(ctx);
    free(layers);
    if (failures)
        fprintf(stderr, "conjure bench: %d run%s failed (see above)\n", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
