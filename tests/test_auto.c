/* CJ_ALGO_AUTO's two modes and the public query: cj_conv2d_query_algorithm names an algorithm
 * that supports the configuration and pass (the explicit one when one is requested); a context
 * with autotune measures on the first call, gives correct results, and afterwards reports and
 * runs the algorithm it measured, bit for bit the same as calling that algorithm explicitly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const ref_conv cfgs[] = {
    /* N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, groups */
    {2, 16, 12, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},  /* Winograd-shaped */
    {2, 8, 10, 10, 8, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},    /* FFT-shaped */
    {2, 8, 9, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8, 0, 0},      /* depthwise */
    {1, 32, 7, 7, 16, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0},    /* pointwise */
    {2, 6, 11, 9, 4, 3, 2, 1, 0, 2, 2, 2, 1, 2, 0, 0},     /* strided, dilated, grouped */
    {2, 48, 17, 17, 48, 7, 1, 3, 0, 1, 1, 1, 1, 1, 0, 0},  /* one-axis Winograd-shaped (AVX-512) */
};

static const cj_conv2d_pass passes[] = {CJ_CONV2D_FORWARD, CJ_CONV2D_BACKWARD_DATA, CJ_CONV2D_BACKWARD_WEIGHTS};

static cj_conv2d_params params_of(const ref_conv *c, cj_algorithm a) {
    cj_conv2d_params p = CJ_CONV2D_PARAMS_DEFAULT;
    p.padding = (cj_size2d){c->ph, c->pw};
    p.stride = (cj_size2d){c->sh, c->sw};
    p.dilation = (cj_size2d){c->dh, c->dw};
    p.groups = c->groups;
    p.algorithm = a;
    return p;
}

/* Runs one pass with algorithm a into out (output, grad_input or grad_weight). */
static cj_status run(cj_context *ctx, const ref_conv *c, cj_algorithm a, cj_conv2d_pass pass, const cj_tensor *in,
                     const cj_tensor *w, const cj_tensor *gout, cj_tensor *out) {
    const cj_conv2d_params p = params_of(c, a);
    switch (pass) {
    case CJ_CONV2D_FORWARD: return cj_conv2d(ctx, in, w, NULL, &p, out);
    case CJ_CONV2D_BACKWARD_DATA: return cj_conv2d_backward(ctx, in, w, NULL, &p, gout, out, NULL, NULL);
    case CJ_CONV2D_BACKWARD_WEIGHTS: return cj_conv2d_backward(ctx, in, w, NULL, &p, gout, NULL, out, NULL);
    }
    return CJ_ERR_INVALID_ARGUMENT;
}

int main(void) {
    tu_rng rng = {tu_seed("test_auto", 777)};
    cj_context *model = NULL, *tuned = NULL;
    cj_context_options tune = {.num_threads = 2, .autotune = 1};
    if (cj_context_create(NULL, &model) != CJ_OK || cj_context_create(&tune, &tuned) != CJ_OK) {
        tu_fail("cj_context_create failed");
        return tu_finish();
    }
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        ref_conv c = cfgs[ci];
        if (!tu_expect(ref_conv_init(&c), "config %zu invalid", ci)) continue;
        const cj_dtype dt = CJ_F64;
        cj_tensor in = tu_tensor4(dt, c.N, c.C, c.H, c.W), w = tu_tensor4(dt, c.K, c.C / c.groups, c.kh, c.kw);
        cj_tensor gout = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
        double *din = tu_dalloc(tu_numel(&in)), *dw = tu_dalloc(tu_numel(&w)), *dgo = tu_dalloc(tu_numel(&gout));
        tu_fill_uniform(&rng, &in, din);
        tu_fill_uniform(&rng, &w, dw);
        tu_fill_uniform(&rng, &gout, dgo);
        for (size_t pi = 0; pi < 3; pi++) {
            const cj_conv2d_pass pass = passes[pi];
            cj_tensor out = pass == CJ_CONV2D_FORWARD         ? tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo)
                            : pass == CJ_CONV2D_BACKWARD_DATA ? tu_tensor4(dt, c.N, c.C, c.H, c.W)
                                                              : tu_tensor4(dt, c.K, c.C / c.groups, c.kh, c.kw);
            cj_tensor again = tu_tensor4(dt, out.shape[0], out.shape[1], out.shape[2], out.shape[3]);
            double *exact = tu_dalloc(tu_numel(&out)), *mag = tu_dalloc(tu_numel(&out));
            if (pass == CJ_CONV2D_FORWARD) ref_forward(&c, din, dw, NULL, exact, mag);
            else if (pass == CJ_CONV2D_BACKWARD_DATA) ref_grad_input(&c, dw, dgo, exact, mag);
            else ref_grad_weight(&c, din, dgo, exact, mag);
            /* The model's answer supports the configuration: the explicit algorithm runs it. */
            cj_conv2d_params p = params_of(&c, CJ_ALGO_AUTO);
            cj_algorithm chosen = (cj_algorithm)-1;
            tu_expect(cj_conv2d_query_algorithm(model, &in, &w, &p, pass, &chosen) == CJ_OK && chosen != CJ_ALGO_AUTO,
                      "config %zu pass %d: query failed: %s", ci, (int)pass, cj_last_error());
            tu_fill_nan(&out);
            tu_expect(run(model, &c, chosen, pass, &in, &w, &gout, &out) == CJ_OK,
                      "config %zu pass %d: the model's choice %s cannot run it: %s", ci, (int)pass,
                      cj_algorithm_name(chosen), cj_last_error());
            /* An explicit algorithm reports itself. */
            p.algorithm = CJ_ALGO_IM2COL_GEMM;
            tu_expect(cj_conv2d_query_algorithm(model, &in, &w, &p, pass, &chosen) == CJ_OK &&
                          chosen == CJ_ALGO_IM2COL_GEMM, "config %zu: explicit query", ci);
            /* Autotune: measure on the first call, correct result, then the remembered choice. */
            tu_fill_nan(&out);
            tu_expect(run(tuned, &c, CJ_ALGO_AUTO, pass, &in, &w, &gout, &out) == CJ_OK, "config %zu: autotuned call: %s",
                      ci, cj_last_error());
            p.algorithm = CJ_ALGO_AUTO;
            tu_expect(cj_conv2d_query_algorithm(tuned, &in, &w, &p, pass, &chosen) == CJ_OK, "tuned query");
            char what[64];
            snprintf(what, sizeof what, "config %zu pass %d auto(%s)", ci, (int)pass, cj_algorithm_name(chosen));
            tu_expect(tu_check_close(what, &out, exact, mag, tu_tol(chosen, dt)), "%s: wrong values", what);
            tu_fill_nan(&again);
            tu_expect(run(tuned, &c, chosen, pass, &in, &w, &gout, &again) == CJ_OK, "explicit rerun");
            tu_fill_nan(&out);
            run(tuned, &c, CJ_ALGO_AUTO, pass, &in, &w, &gout, &out);
            tu_expect(memcmp(out.data, again.data, (size_t)tu_numel(&out) * sizeof(double)) == 0,
                      "%s: the remembered choice is not what AUTO runs", what);
            tu_free(&out);
            tu_free(&again);
            free(exact);
            free(mag);
        }
        tu_free(&in);
        tu_free(&w);
        tu_free(&gout);
        free(din);
        free(dw);
        free(dgo);
    }
    cj_conv2d_params p = CJ_CONV2D_PARAMS_DEFAULT;
    cj_tensor t = tu_tensor4(CJ_F32, 1, 1, 3, 3), k = tu_tensor4(CJ_F32, 1, 1, 3, 3);
    cj_algorithm a;
    tu_expect(cj_conv2d_query_algorithm(model, &t, &k, &p, (cj_conv2d_pass)7, &a) == CJ_ERR_INVALID_ARGUMENT,
              "an unknown pass is rejected");
    tu_expect(cj_conv2d_query_algorithm(model, &t, &k, &p, CJ_CONV2D_FORWARD, NULL) == CJ_ERR_INVALID_ARGUMENT,
              "a NULL result pointer is rejected");
    tu_free(&t);
    tu_free(&k);
    cj_context_destroy(model);
    cj_context_destroy(tuned);
    return tu_finish();
}
