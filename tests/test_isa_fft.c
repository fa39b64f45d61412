/* Focused accuracy test of CJ_ALGO_FFT on mid-size layers (several tiles per image, several
 * lane groups and tile blocks, partial blocks, non-square kernels, groups) on every pass and dtype,
 * with 1 and 2 threads: each result within SPEC's FFT tolerance, the worst |err| / (tol * s)
 * printed (the figure the closing notes quote), and a repeated call bit-identical.
 * CJ_FFT_TEST_SUITE=1 adds lenet.conv2 and alexnet.conv2 of bench/layers.tsv and two layers of
 * bench/outside_layers.tsv (slow: the naive reference takes minutes) to measure their errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const ref_conv mid[] = {
    /* N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, groups */
    {2, 32, 27, 27, 32, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},
    {2, 32, 27, 27, 32, 7, 7, 3, 3, 1, 1, 1, 1, 1, 0, 0},
    {2, 32, 27, 27, 32, 1, 7, 0, 3, 1, 1, 1, 1, 1, 0, 0},
    {2, 32, 27, 27, 32, 7, 1, 3, 0, 1, 1, 1, 1, 1, 0, 0},
    {3, 12, 30, 41, 10, 4, 9, 0, 5, 1, 1, 1, 1, 2, 0, 0},
    {1, 4, 40, 40, 6, 16, 13, 7, 1, 1, 1, 1, 1, 1, 0, 0},
};
static const ref_conv suite[] = {
    {64, 32, 14, 14, 64, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},  /* lenet.conv2 */
    {8, 96, 27, 27, 256, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},  /* alexnet.conv2 */
    {8, 48, 35, 35, 64, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},   /* Inception-v3's 5x5 branch (outside_layers.tsv) */
    {8, 64, 56, 56, 64, 7, 7, 3, 3, 1, 1, 1, 1, 1, 0, 0},   /* a 7x7 at 56x56 (outside_layers.tsv) */
};

/* max over elements of |got - exact| / (tol * s); infinity for a non-finite result. */
static double worst_ratio(const cj_tensor *got, const double *exact, const double *mag, double tol) {
    double worst = 0;
    for (int64_t i = 0; i < tu_numel(got); i++) {
        const double err = fabs(tu_get(got, i) - exact[i]);
        const double r = isfinite(err) ? err / (tol * mag[i] + 1e-30) : INFINITY;
        if (r > worst) worst = r;
    }
    return worst;
}

static size_t nbytes(const cj_tensor *t) { return (size_t)tu_numel(t) * tu_dtype_size(t->dtype); }

static void run(ref_conv c, tu_rng *rng) {
    if (!ref_conv_init(&c)) { tu_fail("invalid configuration"); return; }
    const int64_t Cg = c.C / c.groups;
    double *in = tu_dalloc(ref_in_numel(&c)), *w = tu_dalloc(ref_w_numel(&c)), *b = tu_dalloc(c.K);
    double *gout = tu_dalloc(ref_out_numel(&c));
    double *exact[3], *mag[3];
    const int64_t numel[3] = {ref_out_numel(&c), ref_in_numel(&c), ref_w_numel(&c)};
    for (int i = 0; i < 3; i++) exact[i] = tu_dalloc(numel[i]), mag[i] = tu_dalloc(numel[i]);
    for (int di = 0; di < 2; di++) {
        const cj_dtype dt = di ? CJ_F64 : CJ_F32;
        cj_tensor tin = tu_tensor4(dt, c.N, c.C, c.H, c.W), tw = tu_tensor4(dt, c.K, Cg, c.kh, c.kw);
        int64_t kshape[1] = {c.K};
        cj_tensor tb = tu_tensor(dt, 1, kshape, 0), tgo = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
        tu_fill_uniform(rng, &tin, in);
        tu_fill_uniform(rng, &tw, w);
        tu_fill_uniform(rng, &tb, b);
        tu_fill_uniform(rng, &tgo, gout);
        ref_forward(&c, in, w, b, exact[0], mag[0]);
        ref_grad_input(&c, w, gout, exact[1], mag[1]);
        ref_grad_weight(&c, in, gout, exact[2], mag[2]);
        cj_tensor res[3] = {tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo), tu_tensor4(dt, c.N, c.C, c.H, c.W),
                            tu_tensor4(dt, c.K, Cg, c.kh, c.kw)};
        const double tol = tu_tol(CJ_ALGO_FFT, dt);
        cj_conv2d_params p = {{c.ph, c.pw}, {1, 1}, {1, 1}, c.groups, CJ_ALGO_FFT};
        for (int threads = 1; threads <= 2; threads++) {
            cj_context_options o = {.num_threads = threads};
            cj_context *ctx;
            if (cj_context_create(&o, &ctx) != CJ_OK) { tu_fail("cj_context_create"); continue; }
            static const char *names[3] = {"forward", "grad_input", "grad_weight"};
            char buf[400];
            for (int pass = 0; pass < 3; pass++) {
                void *first = malloc(nbytes(&res[pass]));
                for (int rep = 0; rep < 2; rep++) {
                    tu_fill_nan(&res[pass]);
                    cj_status st = pass == 0 ? cj_conv2d(ctx, &tin, &tw, &tb, &p, &res[0])
                                 : cj_conv2d_backward(ctx, &tin, &tw, NULL, &p, &tgo, pass == 1 ? &res[1] : NULL,
                                                      pass == 2 ? &res[2] : NULL, NULL);
                    tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_FFT, names[pass]);
                    if (!tu_expect(st == CJ_OK, "%s threads=%d: %s", buf, threads, cj_last_error())) break;
                    if (rep == 0) {
                        const double r = worst_ratio(&res[pass], exact[pass], mag[pass], tol);
                        printf("  %s threads=%d: max |err|/(tol*s) = %.3g\n", buf, threads, r);
                        tu_expect(r <= 1, "%s threads=%d: error above SPEC's tolerance", buf, threads);
                        memcpy(first, res[pass].data, nbytes(&res[pass]));
                    } else {
                        tu_expect(memcmp(first, res[pass].data, nbytes(&res[pass])) == 0,
                                  "%s threads=%d: a repeated call differs", buf, threads);
                    }
                }
                free(first);
            }
            cj_context_destroy(ctx);
        }
        for (int i = 0; i < 3; i++) tu_free(&res[i]);
        tu_free(&tin), tu_free(&tw), tu_free(&tb), tu_free(&tgo);
    }
    for (int i = 0; i < 3; i++) free(exact[i]), free(mag[i]);
    free(in), free(w), free(b), free(gout);
}

int main(void) {
    tu_isa_check();
    tu_rng rng = {tu_seed("test_isa_fft", 0xff7c0de)};
    for (size_t i = 0; i < sizeof mid / sizeof mid[0]; i++) run(mid[i], &rng);
    const char *s = getenv("CJ_FFT_TEST_SUITE");
    if (s && s[0] == '1')
        for (size_t i = 0; i < sizeof suite / sizeof suite[0]; i++) run(suite[i], &rng);
    return tu_finish();
}
