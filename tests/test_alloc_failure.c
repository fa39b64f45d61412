/* Allocation failures. In a build with CONJURE_ALLOC_FAILURE_INJECTION (make test-sanitize builds
 * one, under ASan) every call below is first run to count the allocations it makes; then, for
 * every n up to that count, run again with the n-th allocation failing. Each run must return
 * CJ_ERR_OUT_OF_MEMORY (with a message) or succeed with the right bits, must leave as many live
 * blocks as it found (the library's own count; LeakSanitizer checks the rest at exit), and the
 * next call without failure must give the same bits as a call that never failed. The calls: a
 * context creation, forward, backward (every gradient) and a plan's creation, run and destruction
 * on a fresh context, on a context whose cached scratch is taken (the uncached path), and on the
 * default context; every algorithm; and the default context's own creation on first use.
 * Skipped (77) in a build without injection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/context.h"
#include "conjure.h"
#include "testutil.h"
#include "util/memory.h"

static const cj_algorithm algos[] = {CJ_ALGO_AUTO, CJ_ALGO_IM2COL_GEMM, CJ_ALGO_IMPLICIT_GEMM,
                                     CJ_ALGO_WINOGRAD, CJ_ALGO_FFT, CJ_ALGO_DIRECT};
#define NALGO (int)(sizeof algos / sizeof algos[0])

/* 3x3 stride 1 so that every algorithm can run them: grouped, and small images (batched). */
static const ref_conv cfgs[] = {
    /* N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, groups */
    {2, 4, 9, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0},
    {3, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
};

enum { CTX_FRESH, CTX_BUSY, CTX_DEFAULT, NCTX };
static const char *ctx_name[] = {"a fresh context", "a context with its scratch taken", "the default context"};

typedef struct problem {
    cj_dtype dt;
    cj_conv2d_params p;
    cj_tensor in, w, b, gout;        /* inputs */
    cj_tensor out, gin, gw, gb;      /* outputs */
} problem;

static size_t nbytes(const cj_tensor *t) { return (size_t)tu_numel(t) * tu_dtype_size(t->dtype); }

enum { CALL_FORWARD, CALL_BACKWARD, CALL_PLAN, NCALL };
static const char *call_name[] = {"forward", "backward", "plan"};

/* A plan made, run and destroyed. */
static cj_status plan_forward(cj_context *ctx, problem *q)
{
    cj_conv2d_plan *plan = NULL;
    cj_status st = cj_conv2d_plan_create(ctx, &q->in, &q->w, &q->b, &q->p, &plan);
    if (st == CJ_OK) st = cj_conv2d_plan_run(plan, &q->in, &q->out);
    cj_conv2d_plan_destroy(plan);
    return st;
}

/* One unit: (create a context,) the call, (destroy it). Returns the first failure. */
static cj_status run_unit(problem *q, int ctx_kind, int call)
{
    cj_context *ctx = NULL;
    cj_context_options o = {0};
    o.num_threads = 2;
    if (ctx_kind != CTX_DEFAULT) {
        cj_status st = cj_context_create(&o, &ctx);
        if (st != CJ_OK) return st;
    }
    cj_scratch held = {0};
    if (ctx_kind == CTX_BUSY) { /* the cached block exists (1 byte) and is held: calls allocate afresh */
        cj_status st = cj_scratch_acquire(ctx, 1, &held);
        if (st != CJ_OK) {
            cj_context_destroy(ctx);
            return st;
        }
    }
    tu_fill_byte(&q->out, 0xA5); tu_fill_byte(&q->gin, 0xA5); tu_fill_byte(&q->gw, 0xA5); tu_fill_byte(&q->gb, 0xA5);
    cj_status st = call == CALL_BACKWARD
                       ? cj_conv2d_backward(ctx, &q->in, &q->w, &q->b, &q->p, &q->gout, &q->gin, &q->gw, &q->gb)
                   : call == CALL_PLAN ? plan_forward(ctx, q)
                                       : cj_conv2d(ctx, &q->in, &q->w, &q->b, &q->p, &q->out);
    if (ctx_kind == CTX_BUSY) cj_scratch_release(ctx, &held);
    cj_context_destroy(ctx);
    return st;
}

static int same(const problem *q, int call, void *const base[4])
{
    if (call != CALL_BACKWARD) return !memcmp(q->out.data, base[0], nbytes(&q->out));
    return !memcmp(q->gin.data, base[1], nbytes(&q->gin)) && !memcmp(q->gw.data, base[2], nbytes(&q->gw)) &&
           !memcmp(q->gb.data, base[3], nbytes(&q->gb));
}

int main(void)
{
    tu_rng rng = {tu_seed("test_alloc_failure", 77)};
    if (!cj_alloc_injection_arm(0)) {
        printf("built without CONJURE_ALLOC_FAILURE_INJECTION (make test-sanitize has it); skipped\n");
        return 77;
    }
    long units = 0, failed_sites = 0, oom = 0;

    /* First, before anything uses it: the default context's creation failing (its thread pool
     * counts as an allocation). The call fails, and the next one must create it after all (it
     * once stayed broken for the life of the process). */
    {
        cj_tensor in = tu_tensor4(CJ_F32, 1, 1, 3, 3), w = tu_tensor4(CJ_F32, 1, 1, 2, 2);
        cj_tensor out = tu_tensor4(CJ_F32, 1, 1, 2, 2);
        tu_fill_uniform(&rng, &in, NULL);
        tu_fill_uniform(&rng, &w, NULL);
        cj_alloc_injection_arm(1);
        cj_status st = cj_conv2d(NULL, &in, &w, NULL, NULL, &out);
        cj_alloc_injection_arm(0);
        failed_sites++;
        tu_expect(st == CJ_ERR_OUT_OF_MEMORY || (st == CJ_OK && cj_context_num_threads(NULL) == 1),
                  "ctx NULL with its pool's creation failing: %s (%s)", cj_status_string(st), cj_last_error());
        st = cj_conv2d(NULL, &in, &w, NULL, NULL, &out);
        tu_expect(st == CJ_OK, "ctx NULL after its creation failed once: %s (%s)", cj_status_string(st), cj_last_error());
        tu_free(&in); tu_free(&w); tu_free(&out);
    }

    /* cj_context_create alone. */
    cj_context *c = NULL;
    cj_alloc_injection_arm(0);
    tu_expect(cj_context_create(NULL, &c) == CJ_OK, "cj_context_create: %s", cj_last_error());
    long count = cj_alloc_injection_count();
    cj_context_destroy(c);
    for (long n = 1; n <= count; n++) {
        const long live = cj_alloc_live();
        c = NULL;
        cj_alloc_injection_arm(n);
        cj_status st = cj_context_create(NULL, &c);
        cj_alloc_injection_arm(0);
        tu_expect(st == CJ_ERR_OUT_OF_MEMORY && c == NULL && *cj_last_error(),
                  "cj_context_create with allocation %ld of %ld failing: %s (%s)", n, count, cj_status_string(st),
                  cj_last_error());
        cj_context_destroy(c);
        tu_expect(cj_alloc_live() == live, "cj_context_create failing at %ld leaks %ld blocks", n, cj_alloc_live() - live);
        failed_sites++;
    }

    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++)
        for (int di = 0; di < 2; di++) {
            ref_conv rc = cfgs[ci];
            if (!ref_conv_init(&rc)) { tu_fail("config %zu invalid", ci); continue; }
            problem q;
            memset(&q, 0, sizeof q);
            q.dt = di ? CJ_F64 : CJ_F32;
            int64_t k1[1] = {rc.K};
            q.in = tu_tensor4(q.dt, rc.N, rc.C, rc.H, rc.W);
            q.w = tu_tensor4(q.dt, rc.K, rc.C / rc.groups, rc.kh, rc.kw);
            q.b = tu_tensor(q.dt, 1, k1, 0);
            q.gout = tu_tensor4(q.dt, rc.N, rc.K, rc.Ho, rc.Wo);
            q.out = tu_tensor4(q.dt, rc.N, rc.K, rc.Ho, rc.Wo);
            q.gin = tu_tensor4(q.dt, rc.N, rc.C, rc.H, rc.W);
            q.gw = tu_tensor4(q.dt, rc.K, rc.C / rc.groups, rc.kh, rc.kw);
            q.gb = tu_tensor(q.dt, 1, k1, 0);
            tu_fill_uniform(&rng, &q.in, NULL);
            tu_fill_uniform(&rng, &q.w, NULL);
            tu_fill_uniform(&rng, &q.b, NULL);
            tu_fill_uniform(&rng, &q.gout, NULL);
            for (int ai = 0; ai < NALGO; ai++)
                for (int call = 0; call < NCALL; call++)
                    for (int kind = 0; kind < NCTX; kind++) {
                        char d[400];
                        tu_cfg_str(d, sizeof d, &rc, q.dt, algos[ai], call_name[call]);
                        cj_conv2d_params p = {{rc.ph, rc.pw}, {rc.sh, rc.sw}, {rc.dh, rc.dw}, rc.groups, algos[ai]};
                        q.p = p;
                        /* The baseline (which also warms the default context's scratch), then the count. */
                        cj_alloc_injection_arm(0);
                        cj_status st = run_unit(&q, kind, call);
                        if (st == CJ_ERR_UNSUPPORTED && algos[ai] != CJ_ALGO_AUTO && algos[ai] != CJ_ALGO_IM2COL_GEMM)
                            continue;
                        if (!tu_expect(st == CJ_OK, "%s on %s: %s: %s", d, ctx_name[kind], cj_status_string(st),
                                       cj_last_error()))
                            continue;
                        void *base[4] = {malloc(nbytes(&q.out)), malloc(nbytes(&q.gin)), malloc(nbytes(&q.gw)),
                                         malloc(nbytes(&q.gb))};
                        memcpy(base[0], q.out.data, nbytes(&q.out));
                        memcpy(base[1], q.gin.data, nbytes(&q.gin));
                        memcpy(base[2], q.gw.data, nbytes(&q.gw));
                        memcpy(base[3], q.gb.data, nbytes(&q.gb));
                        cj_alloc_injection_arm(0);
                        run_unit(&q, kind, call);
                        count = cj_alloc_injection_count();
                        units++;
                        for (long n = 1; n <= count; n++) {
                            const long live = cj_alloc_live();
                            cj_alloc_injection_arm(n);
                            st = run_unit(&q, kind, call);
                            cj_alloc_injection_arm(0);
                            failed_sites++;
                            tu_expect(cj_alloc_live() == live, "%s on %s, allocation %ld of %ld failing: %ld blocks leaked",
                                      d, ctx_name[kind], n, count, cj_alloc_live() - live);
                            if (st == CJ_ERR_OUT_OF_MEMORY) {
                                oom++;
                                tu_expect(*cj_last_error() != '\0', "%s: OUT_OF_MEMORY without a message", d);
                            } else {
                                tu_expect(st == CJ_OK && same(&q, call, base),
                                          "%s on %s, allocation %ld of %ld failing: %s (%s)%s", d, ctx_name[kind], n,
                                          count, cj_status_string(st), cj_last_error(),
                                          st == CJ_OK ? ", different bits" : "");
                            }
                            /* the library is still usable, and gives the same bits */
                            st = run_unit(&q, kind, call);
                            tu_expect(st == CJ_OK && same(&q, call, base),
                                      "%s on %s: the call after allocation %ld failed: %s (%s)", d, ctx_name[kind], n,
                                      cj_status_string(st), cj_last_error());
                        }
                        for (int i = 0; i < 4; i++) free(base[i]);
                    }
            tu_free(&q.in); tu_free(&q.w); tu_free(&q.b); tu_free(&q.gout);
            tu_free(&q.out); tu_free(&q.gin); tu_free(&q.gw); tu_free(&q.gb);
        }
    printf("%ld calls counted; %ld runs with one allocation failing, %ld of them returned OUT_OF_MEMORY\n", units,
           failed_sites, oom);
    return tu_finish();
}
