/* IMPLICIT_GEMM's grad_input with a stride on images large enough that its stride phases go in
 * several batches of images (implicit_gemm.c, PHASE_BATCH_BYTES: 2+ threads), the last batch
 * shorter: every image of every batch against the reference, at 1 thread (one image at a time),
 * 2 and 3, f32 and f64 (f64 images are past the batch size: one at a time there too). */
#include <stdio.h>
#include <stdlib.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const ref_conv cases[] = {
    /* N  C   H    W    K   kh kw ph pw sh sw dh dw groups */
    {3, 48, 128, 128, 8, 3, 3, 1, 1, 2, 2, 1, 1, 1, 0, 0},  /* 3.1 MB per f32 image: batches of 2 and 1 */
    {5, 20, 200, 201, 16, 5, 5, 2, 2, 3, 3, 1, 1, 1, 0, 0}, /* 3.2 MB: 2, 2, 1; 9 phases of unequal size */
};

static void run(const ref_conv *c0, cj_dtype dt, tu_rng *rng) {
    ref_conv c = *c0;
    if (!ref_conv_init(&c)) { tu_fail("invalid case"); return; }
    const int64_t cg = c.C / c.groups;
    cj_tensor in = tu_tensor4(dt, c.N, c.C, c.H, c.W), w = tu_tensor4(dt, c.K, cg, c.kh, c.kw);
    cj_tensor gout = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo), gin = tu_tensor4(dt, c.N, c.C, c.H, c.W);
    double *dw = tu_dalloc(ref_w_numel(&c)), *dgo = tu_dalloc(ref_out_numel(&c)), *din = tu_dalloc(ref_in_numel(&c));
    double *exact = tu_dalloc(ref_in_numel(&c)), *mag = tu_dalloc(ref_in_numel(&c));
    tu_fill_uniform(rng, &in, din);
    tu_fill_uniform(rng, &w, dw);
    tu_fill_uniform(rng, &gout, dgo);
    ref_grad_input(&c, dw, dgo, exact, mag);
    const cj_conv2d_params p = {{c.ph, c.pw}, {c.sh, c.sw}, {c.dh, c.dw}, c.groups, CJ_ALGO_IMPLICIT_GEMM};
    char buf[256];
    for (int threads = 1; threads <= 3; threads++) {
        cj_context *ctx = NULL;
        cj_context_options o = {0};
        o.num_threads = threads;
        if (cj_context_create(&o, &ctx) != CJ_OK) { tu_fail("cj_context_create failed"); break; }
        tu_fill_nan(&gin);
        snprintf(buf, sizeof buf, "%s, %d threads",
                 tu_cfg_str(buf + 128, 128, &c, dt, CJ_ALGO_IMPLICIT_GEMM, "grad_input"), threads);
        if (tu_expect(cj_conv2d_backward(ctx, &in, &w, NULL, &p, &gout, &gin, NULL, NULL) == CJ_OK, "%s: %s", buf,
                      cj_last_error())) {
            tu_expect(tu_check_close(buf, &gin, exact, mag, tu_tol(CJ_ALGO_IMPLICIT_GEMM, dt)), "wrong grad_input values");
        }
        cj_context_destroy(ctx);
    }
    free(dw), free(dgo), free(din), free(exact), free(mag);
    tu_free(&in), tu_free(&w), tu_free(&gout), tu_free(&gin);
}

int main(void) {
    tu_rng rng = {tu_seed("test_implicit_batches", 4242)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run(&cases[i], CJ_F32, &rng);
        run(&cases[i], CJ_F64, &rng);
    }
    return tu_finish();
}
