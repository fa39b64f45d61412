/* Finite-difference gradient check in f64: L = sum(conv2d(input, weight, bias) * R) for a fixed
 * random R, so grad_output = R, and cj_conv2d_backward's gradients must match central differences
 * of L computed with cj_conv2d (same algorithm). L is linear in each single variable, so the
 * central difference has no truncation error; only rounding, which the tolerance covers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const cj_algorithm algos[] = {CJ_ALGO_AUTO, CJ_ALGO_IM2COL_GEMM, CJ_ALGO_IMPLICIT_GEMM,
                                     CJ_ALGO_WINOGRAD, CJ_ALGO_FFT, CJ_ALGO_DIRECT};

static const ref_conv cfgs[] = {
    /* N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, groups */
    {2, 2, 5, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    {1, 4, 7, 6, 4, 3, 2, 1, 0, 2, 1, 1, 2, 2, 0, 0},
    {2, 3, 6, 6, 6, 2, 2, 2, 1, 2, 2, 2, 2, 3, 0, 0},
    {1, 2, 5, 5, 2, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},
    {2, 4, 6, 5, 2, 3, 3, 1, 2, 1, 3, 2, 1, 2, 0, 0},
};

static double loss(cj_context *ctx, const cj_tensor *in, const cj_tensor *w, const cj_tensor *b,
                   const cj_conv2d_params *p, cj_tensor *out, const double *R, int *ok)
{
    tu_fill_nan(out);
    cj_status st = cj_conv2d(ctx, in, w, b, p, out);
    if (st != CJ_OK) { *ok = 0; return NAN; }
    long double L = 0;
    int64_t n = tu_numel(out);
    for (int64_t i = 0; i < n; i++) L += (long double)((double *)out->data)[i] * R[i];
    return (double)L;
}

/* Compares the analytic gradient g of tensor t (f64) against central differences. */
static int fd_check(const char *name, cj_context *ctx, cj_tensor *t, const double *g, cj_tensor *in, cj_tensor *w,
                    cj_tensor *b, const cj_conv2d_params *p, cj_tensor *out, const double *R, double hrel)
{
    double *x = t->data;
    int64_t n = tu_numel(t), worst = -1;
    double worst_ratio = 0, worst_fd = 0;
    for (int64_t i = 0; i < n; i++) {
        double x0 = x[i], h = hrel * (fabs(x0) > 1 ? fabs(x0) : 1);
        int ok = 1;
        x[i] = x0 + h;
        double xp = x[i], Lp = loss(ctx, in, w, b, p, out, R, &ok);
        x[i] = x0 - h;
        double xm = x[i], Lm = loss(ctx, in, w, b, p, out, R, &ok);
        x[i] = x0;
        if (!ok) { printf("    %s: the forward call failed during differencing: %s\n", name, cj_last_error()); return 0; }
        double fd = (Lp - Lm) / (xp - xm);
        double ratio = fabs(fd - g[i]) / (1e-6 * (fabs(g[i]) > 1 ? fabs(g[i]) : 1));
        if (!(ratio <= worst_ratio) || worst < 0) { worst = i; worst_ratio = ratio; worst_fd = fd; }
    }
    if (worst_ratio <= 1) return 1;
    printf("    %s[%lld]: backward %.17g, central difference %.17g (%.3g x tolerance)\n", name, (long long)worst,
           g[worst], worst_fd, worst_ratio);
    return 0;
}

int main(void)
{
    tu_rng rng = {tu_seed("test_gradcheck", 31337)};
    cj_context *ctx = NULL;
    if (cj_context_create(NULL, &ctx) != CJ_OK) { tu_fail("cj_context_create failed"); return tu_finish(); }
    int nchecked = 0;
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        ref_conv c = cfgs[ci];
        if (!ref_conv_init(&c)) { tu_fail("config %zu invalid", ci); continue; }
        int64_t k1[1] = {c.K};
        cj_tensor in = tu_tensor4(CJ_F64, c.N, c.C, c.H, c.W), w = tu_tensor4(CJ_F64, c.K, c.C / c.groups, c.kh, c.kw);
        cj_tensor b = tu_tensor(CJ_F64, 1, k1, 0), out = tu_tensor4(CJ_F64, c.N, c.K, c.Ho, c.Wo);
        cj_tensor gout = tu_tensor4(CJ_F64, c.N, c.K, c.Ho, c.Wo);
        cj_tensor gin = tu_tensor4(CJ_F64, c.N, c.C, c.H, c.W), gw = tu_tensor4(CJ_F64, c.K, c.C / c.groups, c.kh, c.kw);
        cj_tensor gb = tu_tensor(CJ_F64, 1, k1, 0);
        tu_fill_uniform(&rng, &in, NULL);
        tu_fill_uniform(&rng, &w, NULL);
        tu_fill_uniform(&rng, &b, NULL);
        double *R = tu_dalloc(tu_numel(&gout));
        tu_fill_uniform(&rng, &gout, R);
        for (size_t ai = 0; ai < sizeof algos / sizeof algos[0]; ai++) {
            cj_algorithm a = algos[ai];
            cj_conv2d_params p = {{c.ph, c.pw}, {c.sh, c.sw}, {c.dh, c.dw}, c.groups, a};
            char desc[400];
            tu_cfg_str(desc, sizeof desc, &c, CJ_F64, a, "gradcheck");
            tu_fill_nan(&gin); tu_fill_nan(&gw); tu_fill_nan(&gb);
            cj_status st = cj_conv2d_backward(ctx, &in, &w, &b, &p, &gout, &gin, &gw, &gb);
            tu_fill_nan(&out);
            cj_status sf = cj_conv2d(ctx, &in, &w, &b, &p, &out);
            if (st == CJ_ERR_UNSUPPORTED || sf == CJ_ERR_UNSUPPORTED) {
                tu_expect(a != CJ_ALGO_AUTO && a != CJ_ALGO_IM2COL_GEMM, "%s: UNSUPPORTED", desc);
                printf("  %s: unsupported, skipped\n", desc);
                continue;
            }
            if (!tu_expect(st == CJ_OK && sf == CJ_OK, "%s: backward %s, forward %s: %s", desc, cj_status_string(st),
                           cj_status_string(sf), cj_last_error()))
                continue;
            /* Winograd/FFT (and AUTO, which may pick them) may round at 1e-12 relative; a larger step keeps
             * that from being amplified by 1/h. The difference is exact in h otherwise. */
            double hrel = (a == CJ_ALGO_WINOGRAD || a == CJ_ALGO_FFT || a == CJ_ALGO_AUTO) ? 1e-2 : 1e-6;
            double *g = tu_dalloc(tu_numel(&gin));
            tu_to_double(&gin, g);
            int ok = fd_check("grad_input", ctx, &in, g, &in, &w, &b, &p, &out, R, hrel);
            free(g);
            g = tu_dalloc(tu_numel(&gw));
            tu_to_double(&gw, g);
            ok &= fd_check("grad_weight", ctx, &w, g, &in, &w, &b, &p, &out, R, hrel);
            free(g);
            g = tu_dalloc(c.K);
            tu_to_double(&gb, g);
            ok &= fd_check("grad_bias", ctx, &b, g, &in, &w, &b, &p, &out, R, hrel);
            if (nchecked == 0) {
                /* the check itself must catch a wrong gradient */
                g[0] += 1e-4 * (1 + fabs(g[0]));
                printf("  self-check: a grad_bias off by 1e-4 relative must be reported:\n");
                tu_expect(!fd_check("grad_bias", ctx, &b, g, &in, &w, &b, &p, &out, R, hrel),
                          "the finite-difference check missed a wrong gradient");
            }
            free(g);
            tu_expect(ok, "%s", desc);
            nchecked++;
        }
        free(R);
        tu_free(&in); tu_free(&w); tu_free(&b); tu_free(&out); tu_free(&gout); tu_free(&gin); tu_free(&gw); tu_free(&gb);
    }
    printf("%d (configuration, algorithm) pairs checked\n", nchecked);
    cj_context_destroy(ctx);
    return tu_finish();
}
