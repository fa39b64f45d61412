/* IMPLICIT_GEMM's grad_weight of 1x1 stride-1 layers with at least as many input as output
 * channels, which with AVX-512 runs as dW_g^T = X_g dY_g^T (gemm_conv.c, pointwise_transposed):
 * units of several images (their columns found through koff) and of one image, groups, and 1-3
 * threads (each slot's transposed sum added in order, then transposed into grad_weight), f32 and
 * f64, against the reference. The other ISA paths run the same cases the usual way. */
#include <stdio.h>
#include <stdlib.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const ref_conv cases[] = {
    /* N  C   H   W   K  kh kw ph pw sh sw dh dw groups */
    {6, 64, 10, 10, 16, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0}, /* 100 pixels an image: all 6 in one unit */
    {2, 32, 48, 48, 8, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0},  /* 2304 pixels (48 NR): a unit per image */
    {4, 48, 9, 9, 24, 1, 1, 0, 0, 1, 1, 1, 1, 3, 0, 0},   /* 3 groups of 16 -> 8 */
    {5, 40, 7, 11, 40, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0},  /* as many outputs as inputs, odd sizes */
};

static void run(const ref_conv *c0, cj_dtype dt, tu_rng *rng) {
    ref_conv c = *c0;
    if (!ref_conv_init(&c)) { tu_fail("invalid case"); return; }
    const int64_t cg = c.C / c.groups;
    cj_tensor in = tu_tensor4(dt, c.N, c.C, c.H, c.W), w = tu_tensor4(dt, c.K, cg, c.kh, c.kw);
    cj_tensor gout = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo), gw = tu_tensor4(dt, c.K, cg, c.kh, c.kw);
    double *din = tu_dalloc(ref_in_numel(&c)), *dw = tu_dalloc(ref_w_numel(&c)), *dgo = tu_dalloc(ref_out_numel(&c));
    double *exact = tu_dalloc(ref_w_numel(&c)), *mag = tu_dalloc(ref_w_numel(&c));
    tu_fill_uniform(rng, &in, din);
    tu_fill_uniform(rng, &w, dw);
    tu_fill_uniform(rng, &gout, dgo);
    ref_grad_weight(&c, din, dgo, exact, mag);
    const cj_conv2d_params p = {{c.ph, c.pw}, {c.sh, c.sw}, {c.dh, c.dw}, c.groups, CJ_ALGO_IMPLICIT_GEMM};
    char buf[256];
    for (int threads = 1; threads <= 3; threads++) {
        cj_context *ctx = NULL;
        cj_context_options o = {0};
        o.num_threads = threads;
        if (cj_context_create(&o, &ctx) != CJ_OK) { tu_fail("cj_context_create failed"); break; }
        tu_fill_nan(&gw);
        snprintf(buf, sizeof buf, "%s, %d threads",
                 tu_cfg_str(buf + 128, 128, &c, dt, CJ_ALGO_IMPLICIT_GEMM, "grad_weight"), threads);
        if (tu_expect(cj_conv2d_backward(ctx, &in, &w, NULL, &p, &gout, NULL, &gw, NULL) == CJ_OK, "%s: %s", buf,
                      cj_last_error())) {
            tu_expect(tu_check_close(buf, &gw, exact, mag, tu_tol(CJ_ALGO_IMPLICIT_GEMM, dt)), "wrong grad_weight values");
        }
        cj_context_destroy(ctx);
    }
    free(din), free(dw), free(dgo), free(exact), free(mag);
    tu_free(&in), tu_free(&w), tu_free(&gout), tu_free(&gw);
}

int main(void) {
    tu_rng rng = {tu_seed("test_isa_pointwise_wgrad", 1357)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run(&cases[i], CJ_F32, &rng);
        run(&cases[i], CJ_F64, &rng);
    }
    return tu_finish();
}
