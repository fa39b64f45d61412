/* Winograd on layers large enough to exercise the tile transforms at full width (whole vector
 * groups of tiles, several tile blocks per call, edge tiles on both sides, channel counts that
 * fill the GEMM panels), every pass and dtype, against the reference with SPEC's WINOGRAD
 * tolerance. Prints the worst |err| / (tol * s) per pass: the accuracy margin the grid's small
 * configurations cannot show. Also: repeated calls are bit-identical (no state leaks between
 * calls through the cached scratch). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const ref_conv cfgs[] = {
    /* N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, groups */
    {2, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},  /* a mid-size ResNet-like layer */
    {3, 12, 23, 19, 20, 3, 3, 0, 2, 1, 1, 1, 1, 4, 0, 0},  /* groups, odd sizes, padding 0 and 2 */
    /* grad_weight's accumulator beyond L2 (2.1 MiB in f64, 1.05 in f32): the super-block path; in
     * f64 its 36 tiles are two super-blocks (16 MiB of transforms hold 32 tiles of 1461 channels).
     * Few output channels keep the reference cheap. */
    {9, 1456, 8, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    /* one-axis F(2,7) and F(4,5): Inception's 7x1 and 1x7 (several tile blocks, whole and partial
     * lane groups, odd line lengths), 5-tap ones with groups, padding beyond the kernel's reach
     * (a negative crop in grad_input) and padding across the axis, where the windows' edges fall
     * inside a lane group */
    {3, 40, 17, 17, 48, 7, 1, 3, 0, 1, 1, 1, 1, 1, 0, 0},
    {3, 40, 17, 17, 48, 1, 7, 0, 3, 1, 1, 1, 1, 1, 0, 0},
    {2, 12, 23, 37, 20, 5, 1, 6, 1, 1, 1, 1, 1, 4, 0, 0},
    {2, 12, 19, 26, 9, 1, 5, 2, 4, 1, 1, 1, 1, 3, 0, 0},
    {1, 3, 9, 40, 5, 7, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0},
    /* 800 source channels: the packed V of the forward (and of grad_input, from 800 output
     * channels) spans two KC slices (768 deep with AVX-512's f32 kernel) */
    {1, 800, 9, 9, 5, 7, 1, 3, 0, 1, 1, 1, 1, 1, 0, 0},
    {1, 5, 9, 9, 800, 7, 1, 3, 0, 1, 1, 1, 1, 1, 0, 0},
};

static double worst_ratio(const cj_tensor *got, const double *exact, const double *mag, double tol) {
    double worst = 0;
    for (int64_t i = 0; i < tu_numel(got); i++) {
        const double r = fabs(tu_get(got, i) - exact[i]) / (tol * mag[i] + 1e-30);
        if (!(r <= worst)) worst = r;
    }
    return worst;
}

static void check(const char *what, const char *cfg, const cj_tensor *got, const double *exact,
                  const double *mag, double tol) {
    printf("  %-11s worst |err|/(tol*s) = %.3g  %s\n", what, worst_ratio(got, exact, mag, tol), cfg);
    tu_expect(tu_check_close(what, got, exact, mag, tol), "%s: %s", what, cfg);
}

static void run(cj_context *ctx, tu_rng *rng, const ref_conv *c0, cj_dtype dt) {
    ref_conv c = *c0;
    if (!ref_conv_init(&c)) { tu_fail("invalid configuration"); return; }
    char cfg[256];
    tu_cfg_str(cfg, sizeof cfg, &c, dt, CJ_ALGO_WINOGRAD, "all");
    const double tol = tu_tol(CJ_ALGO_WINOGRAD, dt);
    cj_tensor in = tu_tensor4(dt, c.N, c.C, c.H, c.W), w = tu_tensor4(dt, c.K, c.C / c.groups, c.kh, c.kw);
    const int64_t kshape[1] = {c.K};
    cj_tensor b = tu_tensor(dt, 1, kshape, 0), gout = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
    cj_tensor out = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo), gin = tu_tensor4(dt, c.N, c.C, c.H, c.W);
    cj_tensor gw = tu_tensor4(dt, c.K, c.C / c.groups, c.kh, c.kw), again = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
    double *din = tu_dalloc(ref_in_numel(&c)), *dw = tu_dalloc(ref_w_numel(&c)), *db = tu_dalloc(c.K);
    double *dgout = tu_dalloc(ref_out_numel(&c));
    double *ro = tu_dalloc(ref_out_numel(&c)), *rom = tu_dalloc(ref_out_numel(&c));
    double *rgi = tu_dalloc(ref_in_numel(&c)), *rgim = tu_dalloc(ref_in_numel(&c));
    double *rgw = tu_dalloc(ref_w_numel(&c)), *rgwm = tu_dalloc(ref_w_numel(&c));
    tu_fill_uniform(rng, &in, din);
    tu_fill_uniform(rng, &w, dw);
    tu_fill_uniform(rng, &b, db);
    tu_fill_uniform(rng, &gout, dgout);
    ref_forward(&c, din, dw, db, ro, rom);
    ref_grad_input(&c, dw, dgout, rgi, rgim);
    ref_grad_weight(&c, din, dgout, rgw, rgwm);

    cj_conv2d_params p = {{c.ph, c.pw}, {1, 1}, {1, 1}, c.groups, CJ_ALGO_WINOGRAD};
    tu_fill_nan(&out);
    tu_fill_nan(&gin);
    tu_fill_nan(&gw);
    tu_expect(cj_conv2d(ctx, &in, &w, &b, &p, &out) == CJ_OK, "forward: %s", cj_last_error());
    check("output", cfg, &out, ro, rom, tol);
    tu_expect(cj_conv2d_backward(ctx, &in, &w, &b, &p, &gout, &gin, &gw, NULL) == CJ_OK, "backward: %s",
              cj_last_error());
    check("grad_input", cfg, &gin, rgi, rgim, tol);
    check("grad_weight", cfg, &gw, rgw, rgwm, tol);
    tu_fill_nan(&again);
    tu_expect(cj_conv2d(ctx, &in, &w, &b, &p, &again) == CJ_OK, "forward again: %s", cj_last_error());
    tu_expect(memcmp(out.data, again.data, (size_t)tu_numel(&out) * tu_dtype_size(dt)) == 0,
              "a repeated forward call differs: %s", cfg);

    tu_free(&in); tu_free(&w); tu_free(&b); tu_free(&gout); tu_free(&out); tu_free(&gin); tu_free(&gw);
    tu_free(&again);
    free(din); free(dw); free(db); free(dgout); free(ro); free(rom); free(rgi); free(rgim); free(rgw); free(rgwm);
}

int main(void) {
    tu_isa_check();
    tu_rng rng = {tu_seed("test_isa_winograd", 0x5eed4)};
    for (int threads = 1; threads <= 2; threads++) {
        cj_context *ctx = NULL;
        cj_context_options o = {.num_threads = threads};
        if (cj_context_create(&o, &ctx) != CJ_OK) { tu_fail("context: %s", cj_last_error()); continue; }
        printf("%d thread(s)\n", threads);
        for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
            run(ctx, &rng, &cfgs[i], CJ_F32);
            run(ctx, &rng, &cfgs[i], CJ_F64);
        }
        cj_context_destroy(ctx);
    }
    return tu_finish();
}
