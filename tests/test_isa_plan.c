/* Plans (cj_conv2d_plan_*), on every ISA path:
 *   - every algorithm (and AUTO) on configurations each can run: the plan's forward against the
 *     reference within the algorithm's tolerance, at the creation's batch and at other ones (1 and
 *     larger, and 0), after the caller's weight and bias buffers were overwritten (the plan keeps
 *     copies), and bit-identical to cj_conv2d with the same algorithm on the same context (the
 *     prepared weights are the ones a call makes for itself, so any difference is a wrong layout
 *     or offset in the prepared path: Winograd's U and the GEMM drivers' packed panels);
 *   - AUTO's plan runs the algorithm cj_conv2d_query_algorithm names; an algorithm that cannot do
 *     the configuration is CJ_ERR_UNSUPPORTED with no plan;
 *   - bad arguments: INVALID_ARGUMENT with a message, no plan made, nothing written;
 *   - several threads running one plan at once get the bits of a run alone. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const cj_algorithm algos[] = {CJ_ALGO_AUTO, CJ_ALGO_IM2COL_GEMM, CJ_ALGO_IMPLICIT_GEMM,
                                     CJ_ALGO_WINOGRAD, CJ_ALGO_FFT, CJ_ALGO_DIRECT};
#define NALGO (int)(sizeof algos / sizeof algos[0])

/* N here is the creation's batch; runs also use 1 and N + 3. */
static const ref_conv cfgs[] = {
    /* N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, groups */
    {2, 16, 20, 20, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},   /* Winograd with several tile blocks */
    {1, 32, 6, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},     /* one block: the per-slot U path */
    {2, 12, 9, 8, 18, 3, 3, 0, 2, 1, 1, 1, 1, 3, 0, 0},     /* groups, uneven padding */
    {2, 24, 7, 9, 20, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0},     /* 1x1 */
    {3, 8, 11, 10, 8, 3, 3, 1, 1, 2, 2, 1, 1, 8, 0, 0},     /* depthwise, strided */
    {2, 6, 13, 12, 10, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},    /* 5x5: FFT, DIRECT */
    {1, 5, 15, 14, 7, 3, 3, 2, 2, 1, 2, 2, 2, 1, 0, 0},     /* dilation, stride */
    {2, 3, 17, 17, 16, 7, 7, 3, 3, 2, 2, 1, 1, 1, 0, 0},    /* a first layer */
    {2, 20, 17, 17, 24, 7, 1, 3, 0, 1, 1, 1, 1, 1, 0, 0},   /* one-axis Winograd's U: a column */
    {2, 12, 9, 14, 18, 1, 5, 1, 2, 1, 1, 1, 1, 3, 0, 0},    /* a row, groups, padding across */
};
#define NCFG (int)(sizeof cfgs / sizeof cfgs[0])

static size_t nbytes(const cj_tensor *t) { return (size_t)tu_numel(t) * tu_dtype_size(t->dtype); }

static cj_conv2d_params params_of(const ref_conv *c, cj_algorithm a) {
    cj_conv2d_params p = {{c->ph, c->pw}, {c->sh, c->sw}, {c->dh, c->dw}, c->groups, a};
    return p;
}

/* One run of the plan at batch n against the reference and against cj_conv2d with the plan's
 * algorithm (w, b: the values the plan was made with). */
static void check_run(cj_context *ctx, const cj_conv2d_plan *plan, const ref_conv *made, int64_t n, cj_dtype dt,
                      const cj_tensor *w, const cj_tensor *b, const double *wd, const double *bd, tu_rng *rng,
                      const char *what) {
    ref_conv c = *made;
    c.N = n;
    ref_conv_init(&c);
    cj_tensor in = tu_tensor4(dt, c.N, c.C, c.H, c.W), out = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
    cj_tensor direct_out = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
    double *ind = tu_dalloc(ref_in_numel(&c)), *ref = tu_dalloc(ref_out_numel(&c)), *mag = tu_dalloc(ref_out_numel(&c));
    tu_fill_uniform(rng, &in, ind);
    tu_fill_byte(&out, 0xA5);
    char msg[512];
    snprintf(msg, sizeof msg, "%s, run at N=%lld", what, (long long)n);
    cj_status st = cj_conv2d_plan_run(plan, &in, &out);
    if (tu_expect(st == CJ_OK, "%s: %s (%s)", msg, cj_status_string(st), cj_last_error()) && n > 0) {
        const cj_algorithm a = cj_conv2d_plan_algorithm(plan);
        ref_forward(&c, ind, wd, bd, ref, mag);
        tu_expect(tu_check_close(msg, &out, ref, mag, tu_tol(a, dt)), "%s: wrong values", msg);
        const cj_conv2d_params p = params_of(&c, a);
        st = cj_conv2d(ctx, &in, w, b, &p, &direct_out);
        tu_expect(st == CJ_OK && !memcmp(out.data, direct_out.data, nbytes(&out)),
                  "%s: differs from cj_conv2d with %s (%s)", msg, cj_algorithm_name(a), cj_status_string(st));
    }
    tu_free(&in); tu_free(&out); tu_free(&direct_out);
    free(ind); free(ref); free(mag);
}

static void check_config(cj_context *ctx, const ref_conv *made, cj_dtype dt, tu_rng *rng) {
    ref_conv c = *made;
    ref_conv_init(&c);
    int64_t k1[1] = {c.K};
    cj_tensor w = tu_tensor4(dt, c.K, c.C / c.groups, c.kh, c.kw), b = tu_tensor(dt, 1, k1, 0);
    cj_tensor w_copy = tu_tensor4(dt, c.K, c.C / c.groups, c.kh, c.kw), b_copy = tu_tensor(dt, 1, k1, 0);
    double *wd = tu_dalloc(ref_w_numel(&c)), *bd = tu_dalloc(c.K);
    tu_fill_uniform(rng, &w, wd);
    tu_fill_uniform(rng, &b, bd);
    memcpy(w_copy.data, w.data, nbytes(&w));
    memcpy(b_copy.data, b.data, nbytes(&b));
    /* The creation's input is a shape: no data. The query wants a tensor with data. */
    cj_tensor shape = {dt, 4, {c.N, c.C, c.H, c.W}, NULL}, probe = tu_tensor4(dt, c.N, c.C, c.H, c.W);
    for (int ai = 0; ai < NALGO; ai++) {
        char what[400];
        tu_cfg_str(what, sizeof what, &c, dt, algos[ai], "plan");
        const cj_conv2d_params p = params_of(&c, algos[ai]);
        cj_algorithm query = CJ_ALGO_AUTO;
        const cj_status qst = cj_conv2d_query_algorithm(ctx, &probe, &w, &p, CJ_CONV2D_FORWARD, &query);
        cj_conv2d_plan *plan = (cj_conv2d_plan *)&plan; /* not NULL: creation must clear it */
        const cj_status st = cj_conv2d_plan_create(ctx, &shape, &w, &b, &p, &plan);
        if (qst == CJ_ERR_UNSUPPORTED) {
            tu_expect(st == CJ_ERR_UNSUPPORTED && plan == NULL && *cj_last_error(),
                      "%s: the algorithm cannot do it, yet plan_create says %s", what, cj_status_string(st));
            continue;
        }
        if (!tu_expect(st == CJ_OK && plan, "%s: %s (%s)", what, cj_status_string(st), cj_last_error())) continue;
        tu_expect(cj_conv2d_plan_algorithm(plan) == query, "%s: the plan runs %s, the query names %s", what,
                  cj_algorithm_name(cj_conv2d_plan_algorithm(plan)), cj_algorithm_name(query));
        tu_expect(cj_conv2d_plan_bytes(plan) >= nbytes(&w) + nbytes(&b), "%s: the plan holds %zu bytes", what,
                  cj_conv2d_plan_bytes(plan));
        /* The caller's buffers change after creation: the plan must not see it. */
        tu_fill_nan(&w);
        tu_fill_nan(&b);
        const int64_t batches[] = {c.N, 1, c.N + 3, 0};
        for (int bi = 0; bi < 4; bi++) check_run(ctx, plan, &c, batches[bi], dt, &w_copy, &b_copy, wd, bd, rng, what);
        cj_conv2d_plan_destroy(plan);
        memcpy(w.data, w_copy.data, nbytes(&w));
        memcpy(b.data, b_copy.data, nbytes(&b));
    }
    tu_free(&w); tu_free(&b); tu_free(&w_copy); tu_free(&b_copy); tu_free(&probe);
    free(wd); free(bd);
}

/* Bad arguments, on a plan for the first configuration. */
static void check_errors(cj_context *ctx, tu_rng *rng) {
    cj_tensor shape = {CJ_F32, 4, {2, 4, 8, 8}, NULL};
    cj_tensor w = tu_tensor4(CJ_F32, 6, 4, 3, 3), in = tu_tensor4(CJ_F32, 2, 4, 8, 8);
    cj_tensor out = tu_tensor4(CJ_F32, 2, 6, 8, 8);
    tu_fill_uniform(rng, &w, NULL);
    tu_fill_uniform(rng, &in, NULL);
    const cj_conv2d_params p = {{1, 1}, {1, 1}, {1, 1}, 1, CJ_ALGO_AUTO};
    cj_conv2d_plan *plan = NULL;

    tu_expect(cj_conv2d_plan_create(ctx, &shape, &w, NULL, &p, NULL) == CJ_ERR_INVALID_ARGUMENT && *cj_last_error(),
              "plan_create with out NULL");
    const cj_conv2d_params bad_stride = {{1, 1}, {0, 1}, {1, 1}, 1, CJ_ALGO_AUTO};
    plan = (cj_conv2d_plan *)&plan;
    tu_expect(cj_conv2d_plan_create(ctx, &shape, &w, NULL, &bad_stride, &plan) == CJ_ERR_INVALID_ARGUMENT && !plan,
              "plan_create with stride 0: %s", cj_last_error());
    cj_tensor wrong_c = {CJ_F32, 4, {2, 5, 8, 8}, NULL};
    tu_expect(cj_conv2d_plan_create(ctx, &wrong_c, &w, NULL, &p, &plan) == CJ_ERR_INVALID_ARGUMENT && !plan,
              "plan_create with 5 input channels for a 4-channel weight: %s", cj_last_error());
    tu_expect(cj_conv2d_plan_create(ctx, NULL, &w, NULL, &p, &plan) == CJ_ERR_INVALID_ARGUMENT && !plan,
              "plan_create with input NULL");
    tu_expect(cj_conv2d_plan_run(NULL, &in, &out) == CJ_ERR_INVALID_ARGUMENT && *cj_last_error(), "plan_run NULL");
    tu_expect(cj_conv2d_plan_algorithm(NULL) == CJ_ALGO_AUTO && cj_conv2d_plan_bytes(NULL) == 0,
              "NULL plan's algorithm and bytes");
    cj_conv2d_plan_destroy(NULL);

    if (!tu_expect(cj_conv2d_plan_create(ctx, &shape, &w, NULL, &p, &plan) == CJ_OK, "plan_create: %s",
                   cj_last_error()))
        return;
    /* Each bad run writes nothing. */
    struct { cj_tensor in, out; const char *what; } bad[] = {
        {tu_tensor4(CJ_F32, 2, 4, 9, 8), tu_tensor4(CJ_F32, 2, 6, 9, 8), "another input height"},
        {tu_tensor4(CJ_F32, 2, 3, 8, 8), tu_tensor4(CJ_F32, 2, 6, 8, 8), "another channel count"},
        {tu_tensor4(CJ_F64, 2, 4, 8, 8), tu_tensor4(CJ_F64, 2, 6, 8, 8), "f64 input for an f32 plan"},
        {tu_tensor4(CJ_F32, 2, 4, 8, 8), tu_tensor4(CJ_F32, 2, 6, 8, 7), "an output one column short"},
        {tu_tensor4(CJ_F32, 3, 4, 8, 8), tu_tensor4(CJ_F32, 2, 6, 8, 8), "an output of another batch"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tu_fill_uniform(rng, &bad[i].in, NULL);
        tu_fill_byte(&bad[i].out, 0x5A);
        const cj_status st = cj_conv2d_plan_run(plan, &bad[i].in, &bad[i].out);
        tu_expect(st == CJ_ERR_INVALID_ARGUMENT && *cj_last_error() && tu_all_byte(&bad[i].out, 0x5A),
                  "plan_run with %s: %s (%s)", bad[i].what, cj_status_string(st), cj_last_error());
        tu_free(&bad[i].in);
        tu_free(&bad[i].out);
    }
    /* An output overlapping the input. */
    cj_tensor big = tu_tensor4(CJ_F32, 2, 6, 8, 8);
    cj_tensor alias_in = {CJ_F32, 4, {2, 4, 8, 8}, big.data};
    tu_expect(cj_conv2d_plan_run(plan, &alias_in, &big) == CJ_ERR_INVALID_ARGUMENT, "plan_run with an output over the input");
    tu_free(&big);
    cj_conv2d_plan_destroy(plan);
    tu_free(&w); tu_free(&in); tu_free(&out);
}

/* Threads running one plan at once. */
typedef struct {
    const cj_conv2d_plan *plan;
    const cj_tensor *in;
    cj_tensor out;
    int ok;
} run_arg;

static void *run_thread(void *arg) {
    run_arg *r = arg;
    r->ok = 1;
    for (int rep = 0; rep < 4 && r->ok; rep++) r->ok = cj_conv2d_plan_run(r->plan, r->in, &r->out) == CJ_OK;
    return NULL;
}

static void check_threads(cj_context *ctx, tu_rng *rng) {
    enum { THREADS = 4 };
    const cj_algorithm plan_algos[] = {CJ_ALGO_WINOGRAD, CJ_ALGO_IMPLICIT_GEMM, CJ_ALGO_DIRECT};
    for (int ai = 0; ai < 3; ai++) {
        cj_tensor shape = {CJ_F32, 4, {2, 16, 12, 12}, NULL};
        cj_tensor w = tu_tensor4(CJ_F32, 16, 16, 3, 3), in = tu_tensor4(CJ_F32, 2, 16, 12, 12);
        cj_tensor alone = tu_tensor4(CJ_F32, 2, 16, 12, 12);
        tu_fill_uniform(rng, &w, NULL);
        tu_fill_uniform(rng, &in, NULL);
        const cj_conv2d_params p = {{1, 1}, {1, 1}, {1, 1}, 1, plan_algos[ai]};
        cj_conv2d_plan *plan = NULL;
        if (tu_expect(cj_conv2d_plan_create(ctx, &shape, &w, NULL, &p, &plan) == CJ_OK, "%s", cj_last_error()) &&
            tu_expect(cj_conv2d_plan_run(plan, &in, &alone) == CJ_OK, "%s", cj_last_error())) {
            pthread_t t[THREADS];
            run_arg r[THREADS];
            for (int i = 0; i < THREADS; i++) {
                r[i] = (run_arg){plan, &in, tu_tensor4(CJ_F32, 2, 16, 12, 12), 0};
                pthread_create(&t[i], NULL, run_thread, &r[i]);
            }
            for (int i = 0; i < THREADS; i++) {
                pthread_join(t[i], NULL);
                tu_expect(r[i].ok && !memcmp(r[i].out.data, alone.data, nbytes(&alone)),
                          "%s plan run by %d threads at once: thread %d differs or failed",
                          cj_algorithm_name(plan_algos[ai]), THREADS, i);
                tu_free(&r[i].out);
            }
        }
        cj_conv2d_plan_destroy(plan);
        tu_free(&w); tu_free(&in); tu_free(&alone);
    }
}

int main(void) {
    tu_isa_check();
    tu_rng rng = {tu_seed("test_isa_plan", 41)};
    cj_context *ctx = NULL;
    cj_context_options o = {0};
    o.num_threads = 2;
    if (cj_context_create(&o, &ctx) != CJ_OK) {
        tu_fail("cj_context_create: %s", cj_last_error());
        return tu_finish();
    }
    for (int ci = 0; ci < NCFG; ci++)
        for (int di = 0; di < 2; di++) check_config(ctx, &cfgs[ci], di ? CJ_F64 : CJ_F32, &rng);
    check_errors(ctx, &rng);
    check_errors(NULL, &rng); /* the default context */
    check_threads(ctx, &rng);
    cj_context_destroy(ctx);
    return tu_finish();
}
