/* SPEC's accuracy contract on the elements with few terms, for the transform algorithms (Winograd,
 * FFT), every pass and dtype: shapes where elements have a single term (a 1x1 kernel with one
 * channel per group, corners at full padding, a one-pixel output for grad_weight), and data where
 * half the values are 1e-4 times the others, so that a single-term element is often thousands of
 * times smaller than its tile. A transform computes such an element with its tile's rounding
 * error, far above 1e-4 * s; src/algo/few_terms.c recomputes them (the fuzzer found the FFT
 * cases). Each result is checked element by element against the float64 reference. */
#include <stdio.h>
#include <stdlib.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

typedef struct {
    cj_algorithm algo;
    ref_conv c;  /* N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, groups */
} few_case;

static const few_case cases[] = {
    /* every output and grad_input element has one term */
    {CJ_ALGO_FFT, {2, 3, 12, 12, 3, 1, 1, 0, 0, 1, 1, 1, 1, 3, 0, 0}},
    {CJ_ALGO_FFT, {2, 4, 10, 9, 4, 1, 1, 3, 1, 1, 1, 1, 1, 4, 0, 0}},
    /* full padding: corners (and rows at padding 3 > kh - 1) meet the input in one tap */
    {CJ_ALGO_FFT, {3, 1, 10, 5, 4, 2, 4, 3, 3, 1, 1, 1, 1, 1, 0, 0}},
    {CJ_ALGO_FFT, {1, 2, 9, 9, 2, 5, 5, 4, 4, 1, 1, 1, 1, 2, 0, 0}},
    /* grad_weight: a one-pixel output, each tap sees one input pixel */
    {CJ_ALGO_FFT, {1, 2, 5, 5, 2, 5, 5, 0, 0, 1, 1, 1, 1, 1, 0, 0}},
    {CJ_ALGO_WINOGRAD, {1, 1, 3, 3, 2, 3, 3, 0, 0, 1, 1, 1, 1, 1, 0, 0}},
    /* Winograd corners at padding 2, and grad_input at padding 0 (corners of the full correlation) */
    {CJ_ALGO_WINOGRAD, {2, 1, 14, 13, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0}},
    {CJ_ALGO_WINOGRAD, {2, 2, 13, 14, 2, 3, 3, 0, 0, 1, 1, 1, 1, 2, 0, 0}},
};

/* Uniform values, half of them (at random) scaled by 1e-4. */
static void fill_mixed(tu_rng *rng, cj_tensor *t, double *out) {
    for (int64_t i = 0; i < tu_numel(t); i++) {
        const double v = tu_uniform(rng) * (tu_next(rng) & 1 ? 1e-4 : 1.0);
        tu_set(t, i, v);
        out[i] = tu_get(t, i);
    }
}

static void run(const few_case *fc, cj_dtype dt, tu_rng *rng) {
    ref_conv c = fc->c;
    if (!ref_conv_init(&c)) { tu_fail("invalid configuration"); return; }
    const int64_t cg = c.C / c.groups, kshape[1] = {c.K};
    cj_tensor in = tu_tensor4(dt, c.N, c.C, c.H, c.W), w = tu_tensor4(dt, c.K, cg, c.kh, c.kw);
    cj_tensor bias = tu_tensor(dt, 1, kshape, 0), gout = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
    cj_tensor res[3] = {tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo), tu_tensor4(dt, c.N, c.C, c.H, c.W),
                        tu_tensor4(dt, c.K, cg, c.kh, c.kw)};
    double *din = tu_dalloc(tu_numel(&in)), *dw = tu_dalloc(tu_numel(&w)), *db = tu_dalloc(c.K);
    double *dgo = tu_dalloc(tu_numel(&gout));
    fill_mixed(rng, &in, din);
    fill_mixed(rng, &w, dw);
    fill_mixed(rng, &bias, db);
    fill_mixed(rng, &gout, dgo);
    for (int k = 0; k < c.K; k += 2) { /* some channels without bias: s is the terms' alone */
        tu_set(&bias, k, 0);
        db[k] = 0;
    }
    const cj_conv2d_params p = {{c.ph, c.pw}, {1, 1}, {1, 1}, c.groups, fc->algo};
    static const char *names[3] = {"forward", "grad_input", "grad_weight"};
    for (int pass = 0; pass < 3; pass++) {
        const int64_t n = tu_numel(&res[pass]);
        double *exact = tu_dalloc(n), *mag = tu_dalloc(n);
        if (pass == 0) ref_forward(&c, din, dw, db, exact, mag);
        else if (pass == 1) ref_grad_input(&c, dw, dgo, exact, mag);
        else ref_grad_weight(&c, din, dgo, exact, mag);
        tu_fill_nan(&res[pass]);
        const cj_status st = pass == 0 ? cj_conv2d(NULL, &in, &w, &bias, &p, &res[0])
                                       : cj_conv2d_backward(NULL, &in, &w, NULL, &p, &gout,
                                                            pass == 1 ? &res[1] : NULL, pass == 2 ? &res[2] : NULL, NULL);
        char buf[400];
        tu_cfg_str(buf, sizeof buf, &c, dt, fc->algo, names[pass]);
        if (tu_expect(st == CJ_OK, "%s: %s", buf, cj_last_error()))
            tu_expect(tu_check_close(names[pass], &res[pass], exact, mag, tu_tol(fc->algo, dt)),
                      "%s: an element outside SPEC's tolerance", buf);
        free(exact), free(mag);
    }
    for (int i = 0; i < 3; i++) tu_free(&res[i]);
    tu_free(&in), tu_free(&w), tu_free(&bias), tu_free(&gout);
    free(din), free(dw), free(db), free(dgo);
}

int main(void) {
    tu_isa_check();
    tu_rng rng = {tu_seed("test_isa_few_terms", 0xfe77e4)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int d = 0; d < 2; d++) run(&cases[i], d ? CJ_F64 : CJ_F32, &rng);
    return tu_finish();
}
