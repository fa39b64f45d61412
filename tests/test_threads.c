/* Concurrency and determinism: NTHREADS threads call cj_conv2d and cj_conv2d_backward at once
 *   - on one shared context (different buffers and shapes),
 *   - each on a context of its own with 1, 2 or 3 threads,
 *   - on the default context (ctx NULL),
 *   - on one shared context, every thread making the same calls in the same order (they contend
 *     for its cached scratch, so most run on fresh scratch).
 * An explicit algorithm must give results bit-identical to the same call made alone on a context
 * with the same thread count (baselines for 1, 2, 3 threads and the default context); AUTO (whose
 * choice may legitimately vary) must stay within SPEC's tolerance of the reference. Whether the
 * bits also agree across thread counts is printed, not required (see README, Determinism). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

#define NTHREADS 6
#define NJOBS 8
#define REPS 8

/* Baselines, one per kind of context a call can run on: 1, 2 (the shared one), 3 threads, default. */
enum { BASE_T1, BASE_T2, BASE_T3, BASE_NULL, NBASE };

typedef struct job {
    ref_conv c;
    cj_dtype dt;
    cj_algorithm algo;
    int skip;                               /* the algorithm does not support it */
    cj_tensor in, w, b, gout;               /* shared, read-only */
    void *base[NBASE][4];                   /* out, gin, gw, gb of the call made alone */
    double *ro, *rom, *rgi, *rgim, *rgw, *rgwm, *rgb, *rgbm;
} job;

static job jobs[NJOBS];
static const struct { ref_conv c; cj_dtype dt; cj_algorithm a; } specs[NJOBS] = {
    {{2, 16, 20, 20, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0}, CJ_F32, CJ_ALGO_IM2COL_GEMM},
    {{1, 8, 15, 17, 12, 3, 3, 1, 1, 2, 2, 1, 1, 2, 0, 0}, CJ_F64, CJ_ALGO_IMPLICIT_GEMM},
    {{2, 8, 16, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0}, CJ_F32, CJ_ALGO_WINOGRAD},
    {{1, 4, 20, 20, 6, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0}, CJ_F64, CJ_ALGO_FFT},
    {{2, 6, 12, 12, 6, 3, 3, 2, 2, 1, 1, 2, 2, 3, 0, 0}, CJ_F32, CJ_ALGO_DIRECT},
    {{1, 32, 10, 10, 64, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0}, CJ_F64, CJ_ALGO_IM2COL_GEMM},
    {{2, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0}, CJ_F32, CJ_ALGO_AUTO},
    {{1, 3, 30, 30, 8, 7, 7, 3, 3, 2, 2, 1, 1, 1, 0, 0}, CJ_F64, CJ_ALGO_AUTO},
};

static size_t bytes(const cj_tensor *t) { return (size_t)tu_numel(t) * tu_dtype_size(t->dtype); }

typedef struct outs { cj_tensor out, gin, gw, gb; } outs;

static void alloc_outs(const job *j, outs *o)
{
    const ref_conv *c = &j->c;
    int64_t k1[1] = {c->K};
    o->out = tu_tensor4(j->dt, c->N, c->K, c->Ho, c->Wo);
    o->gin = tu_tensor4(j->dt, c->N, c->C, c->H, c->W);
    o->gw = tu_tensor4(j->dt, c->K, c->C / c->groups, c->kh, c->kw);
    o->gb = tu_tensor(j->dt, 1, k1, 0);
}

static void free_outs(outs *o) { tu_free(&o->out); tu_free(&o->gin); tu_free(&o->gw); tu_free(&o->gb); }

static cj_status run(cj_context *ctx, const job *j, outs *o)
{
    cj_conv2d_params p = {{j->c.ph, j->c.pw}, {j->c.sh, j->c.sw}, {j->c.dh, j->c.dw}, j->c.groups, j->algo};
    tu_fill_nan(&o->out); tu_fill_nan(&o->gin); tu_fill_nan(&o->gw); tu_fill_nan(&o->gb);
    cj_status st = cj_conv2d(ctx, &j->in, &j->w, &j->b, &p, &o->out);
    if (st != CJ_OK) return st;
    return cj_conv2d_backward(ctx, &j->in, &j->w, &j->b, &p, &j->gout, &o->gin, &o->gw, &o->gb);
}

static const void *field(const outs *o, int i)
{
    return i == 0 ? o->out.data : i == 1 ? o->gin.data : i == 2 ? o->gw.data : o->gb.data;
}
static size_t field_bytes(const outs *o, int i)
{
    return bytes(i == 0 ? &o->out : i == 1 ? &o->gin : i == 2 ? &o->gw : &o->gb);
}
static const char *field_name[] = {"output", "grad_input", "grad_weight", "grad_bias"};

/* The first of the four results that differs from base (-1: none). */
static int differs(const outs *o, void *const base[4])
{
    for (int i = 0; i < 4; i++)
        if (memcmp(field(o, i), base[i], field_bytes(o, i))) return i;
    return -1;
}

static void keep(const outs *o, void *base[4])
{
    for (int i = 0; i < 4; i++) {
        base[i] = malloc(field_bytes(o, i) ? field_bytes(o, i) : 1);
        memcpy(base[i], field(o, i), field_bytes(o, i));
    }
}

/* 0 if the results are right: bit-identical to the baseline (explicit algorithm) or within tolerance. */
static int verify(const job *j, const outs *o, int base, char *why, size_t n)
{
    if (j->algo == CJ_ALGO_AUTO) {
        double tol = tu_tol(CJ_ALGO_AUTO, j->dt);
        int ok = tu_check_close("output", &o->out, j->ro, j->rom, tol) & tu_check_close("grad_input", &o->gin, j->rgi, j->rgim, tol) &
                 tu_check_close("grad_weight", &o->gw, j->rgw, j->rgwm, tol) & tu_check_close("grad_bias", &o->gb, j->rgb, j->rgbm, tol);
        if (!ok) snprintf(why, n, "AUTO result outside the tolerance");
        return !ok;
    }
    const int d = differs(o, j->base[base]);
    if (d >= 0) snprintf(why, n, "%s differs from the same call made alone", field_name[d]);
    return d >= 0;
}

enum { MODE_SHARED, MODE_OWN, MODE_NULL, MODE_SAME, NMODE };
static const char *mode_name[] = {"one shared context", "a context per thread (1 to 3 threads)",
                                  "the default context (NULL)", "one shared context, the same calls"};

typedef struct targ {
    int tid, mode;
    cj_context *shared;
    int fails, calls;
    char first[600];
} targ;

static void *worker(void *arg)
{
    targ *a = arg;
    cj_context *ctx = a->mode == MODE_SHARED || a->mode == MODE_SAME ? a->shared : NULL;
    const int base = a->mode == MODE_NULL ? BASE_NULL : a->mode == MODE_OWN ? BASE_T1 + a->tid % 3 : BASE_T2;
    if (a->mode == MODE_OWN) {
        cj_context_options o;
        memset(&o, 0, sizeof o);
        o.num_threads = 1 + a->tid % 3;
        if (cj_context_create(&o, &ctx) != CJ_OK) {
            a->fails++;
            snprintf(a->first, sizeof a->first, "cj_context_create failed in thread %d", a->tid);
            return NULL;
        }
    }
    /* Two jobs per thread, in an order that differs between threads; or, in MODE_SAME, every job
     * in one order for all. */
    const job *mine[NJOBS];
    int count = 0;
    if (a->mode == MODE_SAME)
        for (int i = 0; i < NJOBS; i++) mine[count++] = &jobs[i];
    else
        for (int i = a->tid; i < NJOBS; i += NTHREADS) mine[count++] = &jobs[i];
    outs o[NJOBS];
    for (int i = 0; i < count; i++) alloc_outs(mine[i], &o[i]);
    for (int r = 0; r < REPS; r++)
        for (int k = 0; k < count; k++) {
            const int pick = a->mode == MODE_SAME ? k : (k + r + a->tid) % count;
            const job *j = mine[pick];
            outs *oo = &o[pick];
            if (j->skip) continue;
            a->calls++;
            cj_status st = run(ctx, j, oo);
            char why[200] = "";
            int bad = st != CJ_OK;
            if (bad) snprintf(why, sizeof why, "status %s: %s", cj_status_string(st), cj_last_error());
            else bad = verify(j, oo, base, why, sizeof why);
            if (bad && a->fails++ == 0) {
                char d[400];
                tu_cfg_str(d, sizeof d, &j->c, j->dt, j->algo, "forward+backward");
                snprintf(a->first, sizeof a->first, "thread %d rep %d: %s: %s", a->tid, r, d, why);
            }
        }
    for (int i = 0; i < count; i++) free_outs(&o[i]);
    if (a->mode == MODE_OWN) cj_context_destroy(ctx);
    return NULL;
}

int main(void)
{
    tu_rng rng = {tu_seed("test_threads", 9001)};
    cj_context *shared = NULL;
    cj_context_options opt;
    memset(&opt, 0, sizeof opt);
    opt.num_threads = 2;
    if (cj_context_create(&opt, &shared) != CJ_OK) { tu_fail("cj_context_create failed"); return tu_finish(); }
    printf("shared context: %d threads; default context: %d threads\n", cj_context_num_threads(shared),
           cj_context_num_threads(NULL));

    for (int i = 0; i < NJOBS; i++) {
        job *j = &jobs[i];
        j->c = specs[i].c;
        j->dt = specs[i].dt;
        j->algo = specs[i].a;
        if (!ref_conv_init(&j->c)) { tu_fail("job %d invalid", i); j->skip = 1; continue; }
        const ref_conv *c = &j->c;
        int64_t k1[1] = {c->K};
        j->in = tu_tensor4(j->dt, c->N, c->C, c->H, c->W);
        j->w = tu_tensor4(j->dt, c->K, c->C / c->groups, c->kh, c->kw);
        j->b = tu_tensor(j->dt, 1, k1, 0);
        j->gout = tu_tensor4(j->dt, c->N, c->K, c->Ho, c->Wo);
        int64_t ni = ref_in_numel(c), nw = ref_w_numel(c), no = ref_out_numel(c);
        double *din = tu_dalloc(ni), *dw = tu_dalloc(nw), *db = tu_dalloc(c->K), *dgo = tu_dalloc(no);
        tu_fill_uniform(&rng, &j->in, din);
        tu_fill_uniform(&rng, &j->w, dw);
        tu_fill_uniform(&rng, &j->b, db);
        tu_fill_uniform(&rng, &j->gout, dgo);
        j->ro = tu_dalloc(no); j->rom = tu_dalloc(no); j->rgi = tu_dalloc(ni); j->rgim = tu_dalloc(ni);
        j->rgw = tu_dalloc(nw); j->rgwm = tu_dalloc(nw); j->rgb = tu_dalloc(c->K); j->rgbm = tu_dalloc(c->K);
        ref_forward(c, din, dw, db, j->ro, j->rom);
        ref_grad_input(c, dw, dgo, j->rgi, j->rgim);
        ref_grad_weight(c, din, dgo, j->rgw, j->rgwm);
        ref_grad_bias(c, dgo, j->rgb, j->rgbm);
        free(din); free(dw); free(db); free(dgo);

        /* the baselines: the call alone, on the shared context and on the default one */
        char d[400];
        tu_cfg_str(d, sizeof d, c, j->dt, j->algo, "forward+backward alone");
        outs o;
        alloc_outs(j, &o);
        cj_status st = run(shared, j, &o);
        if (st == CJ_ERR_UNSUPPORTED && j->algo != CJ_ALGO_AUTO && j->algo != CJ_ALGO_IM2COL_GEMM) {
            printf("  %s: unsupported, skipped\n", d);
            j->skip = 1;
            free_outs(&o);
            continue;
        }
        if (!tu_expect(st == CJ_OK, "%s: %s: %s", d, cj_status_string(st), cj_last_error())) { j->skip = 1; free_outs(&o); continue; }
        double tol = tu_tol(j->algo, j->dt);
        tu_expect(tu_check_close("output", &o.out, j->ro, j->rom, tol) & tu_check_close("grad_input", &o.gin, j->rgi, j->rgim, tol) &
                      tu_check_close("grad_weight", &o.gw, j->rgw, j->rgwm, tol) & tu_check_close("grad_bias", &o.gb, j->rgb, j->rgbm, tol),
                  "%s: wrong result", d);
        keep(&o, j->base[BASE_T2]);
        /* the same call again, alone: must already be reproducible */
        st = run(shared, j, &o);
        if (j->algo != CJ_ALGO_AUTO)
            tu_expect(st == CJ_OK && differs(&o, j->base[BASE_T2]) < 0, "%s: two identical calls alone give different bits", d);
        st = run(NULL, j, &o);
        tu_expect(st == CJ_OK, "%s on ctx NULL: %s: %s", d, cj_status_string(st), cj_last_error());
        keep(&o, j->base[BASE_NULL]);
        for (int t = 1; t <= 3; t += 2) { /* contexts of 1 and 3 threads */
            cj_context *tc = NULL;
            cj_context_options to = {0};
            to.num_threads = t;
            if (!tu_expect(cj_context_create(&to, &tc) == CJ_OK, "cj_context_create(%d threads)", t)) continue;
            st = run(tc, j, &o);
            tu_expect(st == CJ_OK, "%s on %d threads: %s: %s", d, t, cj_status_string(st), cj_last_error());
            keep(&o, j->base[t == 1 ? BASE_T1 : BASE_T3]);
            cj_context_destroy(tc);
        }
        if (j->algo != CJ_ALGO_AUTO) { /* informative: which results change bits with the thread count */
            printf("  %s: bits equal on 1, 2, 3 threads:", d);
            for (int i = 0; i < 4; i++)
                printf(" %s %s", field_name[i],
                       memcmp(j->base[BASE_T1][i], j->base[BASE_T2][i], field_bytes(&o, i)) ||
                               memcmp(j->base[BASE_T1][i], j->base[BASE_T3][i], field_bytes(&o, i)) ? "no" : "yes");
            printf("\n");
        }
        free_outs(&o);
    }

    int total = 0;
    for (int mode = 0; mode < NMODE; mode++) {
        pthread_t th[NTHREADS];
        targ args[NTHREADS];
        for (int t = 0; t < NTHREADS; t++) {
            memset(&args[t], 0, sizeof args[t]);
            args[t].tid = t;
            args[t].mode = mode;
            args[t].shared = shared;
            if (pthread_create(&th[t], NULL, worker, &args[t]) != 0) { tu_fail("pthread_create failed"); return tu_finish(); }
        }
        int calls = 0;
        for (int t = 0; t < NTHREADS; t++) {
            pthread_join(th[t], NULL);
            calls += args[t].calls;
            tu_expect(args[t].fails == 0, "%d threads on %s: thread %d had %d bad calls of %d; first: %s", NTHREADS,
                      mode_name[mode], t, args[t].fails, args[t].calls, args[t].first);
        }
        printf("%d threads on %s: %d forward+backward calls, each compared bit for bit (AUTO: to the reference)\n",
               NTHREADS, mode_name[mode], calls);
        total += calls;
    }
    printf("%d concurrent forward+backward calls in all\n", total);

    cj_context_destroy(shared);
    for (int i = 0; i < NJOBS; i++) {
        job *j = &jobs[i];
        tu_free(&j->in); tu_free(&j->w); tu_free(&j->b); tu_free(&j->gout);
        for (int b = 0; b < NBASE; b++)
            for (int i = 0; i < 4; i++) free(j->base[b][i]);
        free(j->ro); free(j->rom); free(j->rgi); free(j->rgim); free(j->rgw); free(j->rgwm); free(j->rgb); free(j->rgbm);
    }
    return tu_finish();
}
