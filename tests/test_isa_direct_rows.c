/* CJ_ALGO_DIRECT on the shapes its kernels cut differently from the grid's small cases: rows
 * wider than one register tile (several chunks, a partial last vector), depthwise with and without
 * a channel multiplier, dilation and padding wider than the kernel on the depthwise plane path,
 * kernel widths on both sides of the depthwise path's limit, planes that the AVX2 depthwise
 * kernels stage in several bands or cannot stage at all, and stride phases of grad_input with
 * rows whose phases differ in length, AVX-512's whole-row 3x3 planes, and depthwise layers with a
 * stride (AVX-512's plane path runs them in stride phases). Every pass against the
 * reference, at 1 and 2 threads; grad_bias too (the depthwise path sums it with grad_weight, in
 * bands of rows). */
#include <stdio.h>
#include <stdlib.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const ref_conv cases[] = {
    /* N  C   H   W    K   kh kw ph pw sh sw dh dw groups */
    {2, 4, 5, 97, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 0, 0},     /* depthwise, 97 = 6 vectors + 1 */
    {1, 3, 9, 70, 6, 5, 5, 2, 2, 1, 1, 1, 1, 3, 0, 0},     /* depthwise x2 multiplier, 5x5 */
    {1, 2, 11, 40, 2, 3, 3, 5, 4, 1, 1, 2, 3, 2, 0, 0},    /* depthwise, dilation, padding > kernel */
    {1, 2, 8, 33, 2, 8, 8, 3, 3, 1, 1, 1, 1, 2, 0, 0},     /* depthwise at the plane path's widest */
    {1, 2, 8, 33, 2, 9, 9, 4, 4, 1, 1, 1, 1, 2, 0, 0},     /* one past it: the general path */
    {2, 3, 13, 29, 3, 7, 7, 3, 3, 1, 1, 1, 1, 3, 0, 0},    /* depthwise 7x7 (unrolled on AVX2) */
    {1, 2, 12, 20, 2, 9, 3, 4, 1, 1, 1, 1, 1, 2, 0, 0},    /* depthwise, taller than AVX2's stage allows */
    /* AVX2's in-place depthwise planes (undilated 3x3, 5x5, 7x7): inner and edge columns, tiles of 7
     * rows with the last one overlapping, rows above and below the plane, edges of 1-3 columns */
    {2, 8, 28, 28, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8, 0, 0},    /* mobilenet's shape */
    {1, 2, 16, 8, 2, 3, 3, 0, 0, 1, 1, 1, 1, 2, 0, 0},     /* one partial column, no padding */
    {1, 2, 20, 41, 2, 3, 3, 2, 2, 1, 1, 1, 1, 2, 0, 0},    /* padding 2: grad_input reads from column 0 */
    {1, 2, 15, 50, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 0, 0},    /* padding > k-1: grad_input's offset > 0 */
    {1, 2, 10, 30, 2, 3, 3, 20, 20, 1, 1, 1, 1, 2, 0, 0},  /* 3 edge columns a side, the most in place */
    {1, 2, 10, 30, 2, 3, 3, 26, 26, 1, 1, 1, 1, 2, 0, 0},  /* 4: the staged path */
    {1, 3, 23, 17, 3, 5, 5, 2, 2, 1, 1, 1, 1, 3, 0, 0},    /* 5x5 */
    {1, 2, 7, 64, 2, 7, 7, 3, 3, 1, 1, 1, 1, 2, 0, 0},     /* 7x7, one tile exactly */
    /* AVX-512's whole-row 3x3 planes (padding 1 a side, rows of 1-4 vectors): tiles of 7, 4 and 3
     * rows, planes shorter than a tile, rows above and below the plane, wgrad's bands of 32 steps */
    {1, 2, 5, 7, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0},      /* 1 vector, shorter than a tile */
    {2, 2, 16, 16, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0},    /* 1 whole vector, the last tile overlapping */
    {1, 2, 10, 45, 2, 3, 3, 2, 1, 1, 1, 1, 1, 2, 0, 0},    /* 3 vectors, padding 2 above and below */
    {1, 2, 70, 64, 2, 3, 3, 0, 1, 1, 1, 1, 1, 2, 0, 0},    /* 4 whole vectors, no padding above, 3 bands */
    {1, 3, 9, 49, 6, 3, 3, 1, 1, 1, 1, 1, 1, 3, 0, 0},     /* 4 vectors (3 + 1 lane), x2 multiplier */
    {1, 2, 61, 300, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0},   /* depthwise planes staged in several bands */
    {1, 2, 3, 2800, 2, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0},   /* rows wider than AVX2's stage: general path */
    {2, 1, 12, 130, 9, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},   /* first layer, 9 = an 8 block + 1 */
    {1, 3, 23, 61, 5, 7, 7, 3, 3, 2, 3, 1, 1, 1, 0, 0},    /* stride phases of unequal length */
    {1, 3, 19, 50, 4, 11, 11, 0, 1, 4, 4, 1, 1, 1, 0, 0},  /* alexnet-like stride 4 */
    {1, 6, 7, 45, 6, 3, 3, 1, 1, 2, 2, 1, 1, 3, 0, 0},     /* small groups, stride 2 */
    /* depthwise with a stride (AVX-512's plane path: forward rows subsampled, grad_input's and
     * grad_weight's stride phases; AVX2 and scalar take the general path) */
    {2, 4, 15, 37, 4, 3, 3, 1, 1, 2, 2, 1, 1, 4, 0, 0},    /* MobileNet's s2 on odd sizes: phases unequal */
    {1, 3, 16, 40, 3, 3, 3, 1, 1, 2, 2, 1, 1, 3, 0, 0},    /* even sizes: equal phases */
    {1, 2, 30, 160, 2, 3, 3, 1, 1, 2, 2, 1, 1, 2, 0, 0},   /* rows of 5 output vectors, several woven blocks */
    {1, 2, 20, 35, 2, 5, 5, 2, 2, 2, 2, 1, 1, 2, 0, 0},    /* 5x5 s2 */
    {1, 2, 13, 13, 2, 7, 7, 3, 3, 2, 2, 1, 1, 2, 0, 0},    /* 7x7 s2 */
    {1, 2, 17, 50, 2, 3, 3, 1, 1, 3, 3, 1, 1, 2, 0, 0},    /* stride 3 */
    {1, 2, 19, 33, 2, 3, 5, 1, 2, 2, 3, 1, 1, 2, 0, 0},    /* strides and kernel sides unequal */
    {1, 2, 18, 41, 4, 3, 3, 1, 1, 2, 2, 1, 1, 2, 0, 0},    /* x2 multiplier: grad_input the general path */
    {1, 2, 21, 30, 2, 3, 3, 2, 2, 2, 2, 2, 2, 2, 0, 0},    /* dilation 2 at stride 2: one phase per tap */
    {1, 2, 22, 29, 2, 3, 3, 3, 1, 2, 2, 3, 1, 2, 0, 0},    /* dilation 3 at stride 2, padding unequal */
    {1, 2, 9, 70, 2, 1, 1, 0, 0, 2, 2, 1, 1, 2, 0, 0},     /* 1x1 s2: phases no tap reaches */
    {1, 2, 11, 12, 2, 3, 3, 0, 0, 4, 4, 1, 1, 2, 0, 0},    /* stride past the kernel */
    {2, 2, 1, 40, 2, 3, 3, 1, 1, 2, 2, 1, 1, 2, 0, 0},     /* one input row: an input phase with no rows */
    {1, 2, 3, 2, 2, 3, 3, 1, 1, 2, 2, 1, 1, 2, 0, 0},      /* a plane smaller than a vector */
};

static void run(cj_context *ctx, const ref_conv *c0, cj_dtype dt, tu_rng *rng) {
    ref_conv c = *c0;
    if (!ref_conv_init(&c)) { tu_fail("invalid case"); return; }
    const int64_t cg = c.C / c.groups;
    cj_tensor in = tu_tensor4(dt, c.N, c.C, c.H, c.W), w = tu_tensor4(dt, c.K, cg, c.kh, c.kw);
    cj_tensor b = tu_tensor4(dt, c.K, 1, 1, 1), out = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
    cj_tensor gout = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo), gin = tu_tensor4(dt, c.N, c.C, c.H, c.W);
    cj_tensor gw = tu_tensor4(dt, c.K, cg, c.kh, c.kw), gb = tu_tensor4(dt, c.K, 1, 1, 1);
    b.ndim = gb.ndim = 1;
    double *din = tu_dalloc(ref_in_numel(&c)), *dw = tu_dalloc(ref_w_numel(&c)), *db = tu_dalloc(c.K);
    double *dgo = tu_dalloc(ref_out_numel(&c)), *exact = tu_dalloc(ref_in_numel(&c) + ref_w_numel(&c) + ref_out_numel(&c));
    double *mag = tu_dalloc(ref_in_numel(&c) + ref_w_numel(&c) + ref_out_numel(&c));
    tu_fill_uniform(rng, &in, din);
    tu_fill_uniform(rng, &w, dw);
    tu_fill_uniform(rng, &b, db);
    tu_fill_uniform(rng, &gout, dgo);
    cj_conv2d_params p = CJ_CONV2D_PARAMS_DEFAULT;
    p.padding = (cj_size2d){c.ph, c.pw};
    p.stride = (cj_size2d){c.sh, c.sw};
    p.dilation = (cj_size2d){c.dh, c.dw};
    p.groups = c.groups;
    p.algorithm = CJ_ALGO_DIRECT;
    const double tol = tu_tol(CJ_ALGO_DIRECT, dt);
    char buf[256];
    tu_fill_nan(&out);
    if (tu_expect(cj_conv2d(ctx, &in, &w, &b, &p, &out) == CJ_OK, "%s: %s", tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_DIRECT, "forward"), cj_last_error())) {
        ref_forward(&c, din, dw, db, exact, mag);
        tu_expect(tu_check_close(tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_DIRECT, "forward"), &out, exact, mag, tol),
                  "wrong forward values");
    }
    tu_fill_nan(&gin);
    tu_fill_nan(&gw);
    tu_fill_nan(&gb);
    if (tu_expect(cj_conv2d_backward(ctx, &in, &w, &b, &p, &gout, &gin, &gw, &gb) == CJ_OK, "%s: %s",
                  tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_DIRECT, "backward"), cj_last_error())) {
        ref_grad_input(&c, dw, dgo, exact, mag);
        tu_expect(tu_check_close(tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_DIRECT, "grad_input"), &gin, exact, mag, tol),
                  "wrong grad_input values");
        ref_grad_weight(&c, din, dgo, exact, mag);
        tu_expect(tu_check_close(tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_DIRECT, "grad_weight"), &gw, exact, mag, tol),
                  "wrong grad_weight values");
        ref_grad_bias(&c, dgo, exact, mag);
        tu_expect(tu_check_close(tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_DIRECT, "grad_bias"), &gb, exact, mag, tol),
                  "wrong grad_bias values");
    }
    free(din), free(dw), free(db), free(dgo), free(exact), free(mag);
    tu_free(&in), tu_free(&w), tu_free(&b), tu_free(&out), tu_free(&gout), tu_free(&gin), tu_free(&gw), tu_free(&gb);
}

int main(void) {
    tu_isa_check();
    tu_rng rng = {tu_seed("test_isa_direct_rows", 777)};
    for (int threads = 1; threads <= 2; threads++) {
        cj_context *ctx = NULL;
        cj_context_options o = {0};
        o.num_threads = threads;
        if (cj_context_create(&o, &ctx) != CJ_OK) { tu_fail("cj_context_create failed"); return tu_finish(); }
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            run(ctx, &cases[i], CJ_F32, &rng);
            run(ctx, &cases[i], CJ_F64, &rng);
        }
        cj_context_destroy(ctx);
    }
    return tu_finish();
}
