/* CJ_ALGO_DIRECT on layers with 32 or more channels per group on the result side, which take its
 * channel-vector path on AVX-512 and AVX2 (src/algo/direct_ocv.c; the portable path runs the same
 * shapes through the pixel-vector kernels): output channels not a multiple of the 32-channel block, rows
 * cut into several tiles with a narrower last one, strides, dilations, padding beyond the kernel,
 * groups, rows of up to 7 pixels (two per kernel call), edge tiles skipping the padding, kh x 1 kernels
 * run over flattened planes, 1 and 2 threads. Forward (with and without bias), grad_input and grad_weight (whose
 * path needs 32+ output channels per group) against the float64 reference, and a NaN weight in grad_input, which must reach only
 * the elements that depend on it (the path is exact only for finite weights and steps aside). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const ref_conv cases[] = {
    /* N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, groups */
    {2, 32, 14, 14, 64, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},   /* lenet.conv2, smaller batch */
    {1, 40, 9, 31, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},    /* 40 channels: a block of 8; 3 tiles of 11, 11, 9 */
    {2, 8, 11, 29, 33, 3, 5, 0, 2, 1, 1, 1, 1, 1, 0, 0},    /* 33: one channel in the second block */
    {1, 6, 17, 19, 48, 3, 3, 1, 1, 2, 2, 1, 1, 1, 0, 0},    /* stride 2 (forward only takes the path) */
    {1, 64, 12, 15, 64, 3, 3, 2, 2, 1, 1, 2, 2, 2, 0, 0},   /* dilation 2, 2 groups of 32 */
    {1, 32, 6, 7, 32, 3, 3, 3, 2, 1, 1, 1, 1, 1, 0, 0},     /* padding 3 > kh - 1: grad_input steps aside */
    {2, 3, 23, 23, 32, 7, 7, 3, 3, 2, 2, 1, 1, 1, 0, 0},    /* a first layer */
    {2, 1, 28, 28, 32, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},    /* one input channel (lenet.conv1) */
    {1, 32, 5, 1, 32, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0},     /* 1x1, one-pixel rows */
    {3, 2, 9, 40, 32, 2, 17, 1, 8, 1, 1, 1, 1, 1, 0, 0},    /* 17 kernel columns: grad_weight in 2 tap chunks */
    {1, 4, 300, 20, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},   /* 300 rows: forward in bands */
    {2, 64, 7, 7, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},    /* 7-pixel rows: two per call, an odd one last */
    {1, 32, 5, 4, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0},    /* paired rows reading only padding */
    {1, 33, 6, 9, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},    /* AVX2: sources in two uneven chunks (50 + 49) */
    {2, 3, 47, 47, 40, 11, 11, 0, 0, 4, 4, 1, 1, 1, 0, 0}, /* AVX2: 11 taps unrolled at stride-4 phase offsets */
    {1, 8, 9, 26, 32, 2, 7, 1, 3, 1, 1, 1, 1, 1, 0, 0},    /* AVX2: 7 evenly spaced taps, unrolled likewise */
    {1, 4, 21, 23, 32, 5, 5, 2, 2, 2, 2, 1, 1, 1, 0, 0},   /* AVX2: 5 taps at stride-2 phase offsets */
    /* AVX2 edge tiles, which leave out the products reading a row's padding (taps one pixel apart) */
    {1, 32, 4, 13, 32, 1, 11, 0, 5, 1, 1, 1, 1, 1, 0, 0},  /* 11 taps, 5 positions skipped at each end */
    {2, 32, 6, 5, 32, 3, 5, 1, 2, 1, 1, 1, 1, 1, 0, 0},    /* one tile holding both ends (5-pixel rows, paired) */
    {1, 32, 5, 6, 32, 1, 7, 0, 3, 1, 1, 1, 1, 1, 0, 0},    /* likewise at 7 taps */
    {1, 32, 8, 16, 32, 3, 5, 1, 1, 1, 1, 1, 1, 1, 0, 0},   /* padding 1 < 5 / 2: forward skips nothing, grad_input (3) some */
    {1, 32, 9, 12, 32, 4, 4, 1, 1, 1, 1, 1, 1, 1, 0, 0},   /* 4 taps: grad_weight's 3-pixel blocks and a 2-pixel tail */
    {1, 32, 9, 20, 32, 1, 5, 0, 2, 1, 1, 1, 2, 1, 0, 0},   /* dilation 2: taps two pixels apart, nothing skipped */
    /* kh x 1 kernels on rows that fill their tiles poorly, with 8 images (every thread has 4+):
     * run over each image's flattened plane (cj_direct_ocv_flatten) */
    {8, 32, 9, 9, 40, 7, 1, 3, 0, 1, 1, 1, 1, 1, 0, 0},    /* Inception's 7x1 in small: 9-pixel rows */
    {8, 32, 10, 11, 32, 3, 1, 1, 0, 1, 1, 2, 1, 1, 0, 0},  /* dilation 2, padding 1: 8 output rows */
    {8, 48, 10, 10, 33, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0},  /* 1x1 on 10-pixel rows */
};

static void run(ref_conv c, tu_rng *rng) {
    if (!ref_conv_init(&c)) { tu_fail("invalid configuration"); return; }
    const cj_dtype dt = CJ_F32;
    const int64_t cg = c.C / c.groups, kshape[1] = {c.K};
    cj_tensor in = tu_tensor4(dt, c.N, c.C, c.H, c.W), w = tu_tensor4(dt, c.K, cg, c.kh, c.kw);
    cj_tensor bias = tu_tensor(dt, 1, kshape, 0), gout = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
    cj_tensor out = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo), gin = tu_tensor4(dt, c.N, c.C, c.H, c.W);
    cj_tensor gw = tu_tensor4(dt, c.K, cg, c.kh, c.kw);
    double *din = tu_dalloc(tu_numel(&in)), *dw = tu_dalloc(tu_numel(&w)), *db = tu_dalloc(c.K);
    double *dgo = tu_dalloc(tu_numel(&gout));
    int64_t most = tu_numel(&out) > tu_numel(&gin) ? tu_numel(&out) : tu_numel(&gin);
    if (tu_numel(&gw) > most) most = tu_numel(&gw);
    double *exact = tu_dalloc(most), *mag = tu_dalloc(most);
    tu_fill_uniform(rng, &in, din);
    tu_fill_uniform(rng, &w, dw);
    tu_fill_uniform(rng, &bias, db);
    tu_fill_uniform(rng, &gout, dgo);
    const cj_conv2d_params p = {{c.ph, c.pw}, {c.sh, c.sw}, {c.dh, c.dw}, c.groups, CJ_ALGO_DIRECT};
    const double tol = tu_tol(CJ_ALGO_DIRECT, dt);
    char buf[400];
    for (int threads = 1; threads <= 2; threads++) {
        cj_context_options o = {.num_threads = threads};
        cj_context *ctx;
        if (!tu_expect(cj_context_create(&o, &ctx) == CJ_OK, "cj_context_create")) continue;
        for (int with_bias = 0; with_bias <= 1; with_bias++) {
            ref_forward(&c, din, dw, with_bias ? db : NULL, exact, mag);
            tu_fill_nan(&out);
            const cj_status st = cj_conv2d(ctx, &in, &w, with_bias ? &bias : NULL, &p, &out);
            tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_DIRECT, with_bias ? "forward+bias" : "forward");
            if (tu_expect(st == CJ_OK, "%s threads=%d: %s", buf, threads, cj_last_error()))
                tu_expect(tu_check_close("output", &out, exact, mag, tol), "%s threads=%d: wrong output", buf, threads);
        }
        ref_grad_input(&c, dw, dgo, exact, mag);
        tu_fill_nan(&gin);
        const cj_status st = cj_conv2d_backward(ctx, &in, &w, NULL, &p, &gout, &gin, NULL, NULL);
        tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_DIRECT, "grad_input");
        if (tu_expect(st == CJ_OK, "%s threads=%d: %s", buf, threads, cj_last_error()))
            tu_expect(tu_check_close("grad_input", &gin, exact, mag, tol), "%s threads=%d: wrong grad_input", buf, threads);
        ref_grad_weight(&c, din, dgo, exact, mag);
        tu_fill_nan(&gw);
        const cj_status sw = cj_conv2d_backward(ctx, &in, &w, NULL, &p, &gout, NULL, &gw, NULL);
        tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_DIRECT, "grad_weight");
        if (tu_expect(sw == CJ_OK, "%s threads=%d: %s", buf, threads, cj_last_error()))
            tu_expect(tu_check_close("grad_weight", &gw, exact, mag, tol), "%s threads=%d: wrong grad_weight", buf, threads);
        cj_context_destroy(ctx);
    }
    /* A NaN weight: the grad_input elements with a term involving it are NaN in the reference, and
     * must be non-finite; every other element must stay finite and within the tolerance. */
    tu_set(&w, 0, NAN);
    dw[0] = NAN;
    ref_grad_input(&c, dw, dgo, exact, mag);
    tu_fill_nan(&gin);
    const cj_status st = cj_conv2d_backward(NULL, &in, &w, NULL, &p, &gout, &gin, NULL, NULL);
    tu_cfg_str(buf, sizeof buf, &c, dt, CJ_ALGO_DIRECT, "grad_input, a NaN weight");
    if (tu_expect(st == CJ_OK, "%s: %s", buf, cj_last_error())) {
        int64_t wrong = 0;
        for (int64_t i = 0; i < tu_numel(&gin); i++) {
            const double g = tu_get(&gin, i);
            if (isnan(exact[i]) ? !isnan(g) : !(fabs(g - exact[i]) <= tol * mag[i] + 1e-30)) wrong++;
        }
        tu_expect(wrong == 0, "%s: %lld elements wrong (NaN where finite, or the reverse)", buf, (long long)wrong);
    }
    tu_free(&in), tu_free(&w), tu_free(&bias), tu_free(&gout), tu_free(&out), tu_free(&gin), tu_free(&gw);
    free(din), free(dw), free(db), free(dgo), free(exact), free(mag);
}

int main(void) {
    tu_isa_check();
    tu_rng rng = {tu_seed("test_isa_direct_ocv", 0x0c7ec)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run(cases[i], &rng);
    return tu_finish();
}
