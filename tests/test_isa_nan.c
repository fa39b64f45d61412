/* NaN and infinity propagation, for every algorithm and every pass. One element of the input, the
 * weight, the bias (forward) or grad_output (backward) is set to NaN, +inf or -inf; every result
 * element with a term that involves it (computed from the shapes with a naive loop) must be
 * non-finite, and every element with no such term must stay finite and correct. Terms that read
 * the zero padding may go either way (0 * NaN), in forward and in the transposed correlation of
 * grad_input. Winograd and FFT mix a whole tile, so for them (and AUTO, which may pick them) only
 * elements in planes [n or k, c] that nothing touches must stay finite. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const cj_algorithm algos[] = {CJ_ALGO_AUTO, CJ_ALGO_IM2COL_GEMM, CJ_ALGO_IMPLICIT_GEMM,
                                     CJ_ALGO_WINOGRAD, CJ_ALGO_FFT, CJ_ALGO_DIRECT};
#define NALGO 6

static const ref_conv cfgs[] = {
    /* N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, groups */
    {2, 4, 6, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0},
    {1, 2, 8, 8, 3, 5, 5, 2, 2, 1, 1, 1, 1, 1, 0, 0},
    {2, 4, 7, 9, 6, 3, 2, 1, 2, 2, 1, 2, 1, 2, 0, 0},
    {1, 3, 5, 5, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    {2, 3, 9, 10, 5, 3, 3, 0, 2, 1, 1, 1, 1, 1, 0, 0},
    /* depthwise (the plane path: AVX2 pads with zeros, which must not meet a poison) */
    {2, 4, 6, 21, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 0, 0},
    {1, 2, 7, 9, 4, 5, 5, 2, 2, 1, 1, 1, 1, 2, 0, 0},
    /* depthwise with a stride (AVX-512's plane path in stride phases: a poison reaches only the
     * elements of its phases) */
    {2, 4, 9, 11, 4, 3, 3, 1, 1, 2, 2, 1, 1, 4, 0, 0},
    {1, 2, 10, 8, 2, 3, 3, 1, 0, 3, 2, 1, 1, 2, 0, 0},
    /* K = C*kh*kw = 864 > every KC (at most 768): the poison sits in one KC slab and must survive
     * the accumulation of the others */
    {1, 96, 5, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
};

enum { SRC_IN, SRC_W, SRC_B, SRC_GOUT };
static const char *src_name[] = {"input", "weight", "bias", "grad_output"};

/* Dependency marks: 2 = a term inside the input involves the poisoned element, 1 = only terms
 * reading the padding do, 0 = none. Naive enumeration of every (n,k,y,x,c,i,j) term. */
static void marks(const ref_conv *c, int src, int64_t s, char *m_out, char *m_gin, char *m_gw, char *m_gb)
{
    const int64_t Cg = c->C / c->groups, Kg = c->K / c->groups;
    memset(m_out, 0, (size_t)ref_out_numel(c));
    memset(m_gin, 0, (size_t)ref_in_numel(c));
    memset(m_gw, 0, (size_t)ref_w_numel(c));
    memset(m_gb, 0, (size_t)c->K);
#define MARK(arr, idx, v) do { if ((arr)[idx] < (v)) (arr)[idx] = (char)(v); } while (0)
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t k = 0; k < c->K; k++)
            for (int64_t y = 0; y < c->Ho; y++)
                for (int64_t x = 0; x < c->Wo; x++) {
                    int64_t oi = ((n * c->K + k) * c->Ho + y) * c->Wo + x, g = k / Kg;
                    if (src == SRC_B && k == s) MARK(m_out, oi, 2);
                    if (src == SRC_GOUT && oi == s) MARK(m_gb, k, 2);
                    for (int64_t ci = 0; ci < Cg; ci++)
                        for (int64_t i = 0; i < c->kh; i++)
                            for (int64_t j = 0; j < c->kw; j++) {
                                int64_t iy = y * c->sh - c->ph + i * c->dh, ix = x * c->sw - c->pw + j * c->dw;
                                int inb = iy >= 0 && iy < c->H && ix >= 0 && ix < c->W;
                                int64_t wi = ((k * Cg + ci) * c->kh + i) * c->kw + j;
                                int64_t ii = inb ? ((n * c->C + g * Cg + ci) * c->H + iy) * c->W + ix : -1;
                                /* out[oi] += in[ii] * w[wi] */
                                if (src == SRC_IN && ii == s) MARK(m_out, oi, 2);
                                if (src == SRC_W && wi == s) MARK(m_out, oi, inb ? 2 : 1);
                                /* gin[ii] += gout[oi] * w[wi] (inside terms only) */
                                if (inb && src == SRC_GOUT && oi == s) MARK(m_gin, ii, 2);
                                if (inb && src == SRC_W && wi == s) MARK(m_gin, ii, 2);
                                /* gw[wi] += in[ii] * gout[oi] */
                                if (src == SRC_IN && ii == s) MARK(m_gw, wi, 2);
                                if (src == SRC_GOUT && oi == s) MARK(m_gw, wi, inb ? 2 : 1);
                            }
                }
    /* grad_input computed as a correlation of the poisoned weight with grad_output zero-padded
     * (and zero-upsampled for strides), as implicit GEMM and Winograd do, multiplies the weight by
     * zeros that are not terms of the sum: positions reached only that way may go either way. */
    if (src == SRC_W) {
        const int64_t j = s % c->kw, i = s / c->kw % c->kh, ci = s / (c->kw * c->kh) % Cg;
        const int64_t k = s / (c->kw * c->kh * Cg), g = k / Kg;
        for (int64_t n = 0; n < c->N; n++)
            for (int64_t iy = 0; iy < c->H; iy++)
                for (int64_t ix = 0; ix < c->W; ix++) {
                    const int64_t ny = iy + c->ph - i * c->dh, nx = ix + c->pw - j * c->dw;
                    const int real = ny % c->sh == 0 && nx % c->sw == 0 && ny >= 0 && nx >= 0 &&
                                     ny / c->sh < c->Ho && nx / c->sw < c->Wo;
                    if (!real) MARK(m_gin, ((n * c->C + g * Cg + ci) * c->H + iy) * c->W + ix, 1);
                }
    }
#undef MARK
}

static int check(const char *what, const cj_tensor *t, const char *mark, const double *exact, const double *mag,
                 double tol, int lenient)
{
    int64_t n = tu_numel(t), plane = t->ndim == 4 ? t->shape[2] * t->shape[3] : 1;
    int bad = 0;
    for (int64_t e = 0; e < n; e++) {
        double v = tu_get(t, e);
        if (mark[e] == 2) {
            if (isfinite(v)) {
                if (bad++ < 3) printf("    %s[%lld] = %.9g is finite but depends on the poisoned element\n", what, (long long)e, v);
            }
            continue;
        }
        if (mark[e] == 1) continue;
        if (lenient) {
            int touched = 0;
            for (int64_t q = e / plane * plane; q < (e / plane + 1) * plane; q++) touched |= mark[q] != 0;
            if (touched) continue;
        }
        if (!isfinite(v) || !(fabs(v - exact[e]) <= tol * mag[e] + 1e-30)) {
            if (bad++ < 3)
                printf("    %s[%lld] = %.9g does not depend on the poisoned element; exact %.9g\n", what, (long long)e, v,
                       exact[e]);
        }
    }
    return bad == 0;
}

int main(void)
{
    tu_isa_check();
    tu_rng rng = {tu_seed("test_isa_nan", 4242)};
    cj_context *ctx = NULL;
    if (cj_context_create(NULL, &ctx) != CJ_OK) { tu_fail("cj_context_create failed"); return tu_finish(); }
    int ran[NALGO] = {0}, unsup[NALGO] = {0};
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        ref_conv c = cfgs[ci];
        if (!ref_conv_init(&c)) { tu_fail("config %zu invalid", ci); continue; }
        int64_t ni = ref_in_numel(&c), nw = ref_w_numel(&c), no = ref_out_numel(&c), k1[1] = {c.K};
        double *din = tu_dalloc(ni), *dw = tu_dalloc(nw), *db = tu_dalloc(c.K), *dgo = tu_dalloc(no);
        double *ro = tu_dalloc(no), *rom = tu_dalloc(no), *rgi = tu_dalloc(ni), *rgim = tu_dalloc(ni);
        double *rgw = tu_dalloc(nw), *rgwm = tu_dalloc(nw), *rgb = tu_dalloc(c.K), *rgbm = tu_dalloc(c.K);
        char *m_out = malloc((size_t)no), *m_gin = malloc((size_t)ni), *m_gw = malloc((size_t)nw), *m_gb = malloc((size_t)c.K);
        for (int di = 0; di < 2; di++) {
            cj_dtype dt = di ? CJ_F64 : CJ_F32;
            cj_tensor in = tu_tensor4(dt, c.N, c.C, c.H, c.W), w = tu_tensor4(dt, c.K, c.C / c.groups, c.kh, c.kw);
            cj_tensor b = tu_tensor(dt, 1, k1, 0), gb = tu_tensor(dt, 1, k1, 0);
            cj_tensor out = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo), gout = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
            cj_tensor gin = tu_tensor4(dt, c.N, c.C, c.H, c.W), gw = tu_tensor4(dt, c.K, c.C / c.groups, c.kh, c.kw);
            tu_fill_uniform(&rng, &in, din);
            tu_fill_uniform(&rng, &w, dw);
            tu_fill_uniform(&rng, &b, db);
            tu_fill_uniform(&rng, &gout, dgo);
            ref_forward(&c, din, dw, db, ro, rom);
            ref_grad_input(&c, dw, dgo, rgi, rgim);
            ref_grad_weight(&c, din, dgo, rgw, rgwm);
            ref_grad_bias(&c, dgo, rgb, rgbm);
            for (int pass = 0; pass < 2; pass++) {
                static const int fsrc[] = {SRC_IN, SRC_W, SRC_B}, bsrc[] = {SRC_IN, SRC_W, SRC_GOUT};
                for (int si = 0; si < 3; si++) {
                    int src = pass ? bsrc[si] : fsrc[si];
                    cj_tensor *t = src == SRC_IN ? &in : src == SRC_W ? &w : src == SRC_B ? &b : &gout;
                    int64_t n = tu_numel(t);
                    int64_t pos[3] = {0, n - 1, tu_range(&rng, 0, n - 1)};
                    for (int pi = 0; pi < 3; pi++)
                        for (int vi = 0; vi < 3; vi++) {
                            static const char *poison_name[] = {"NaN", "+inf", "-inf"};
                            double poison = vi == 0 ? NAN : vi == 1 ? INFINITY : -INFINITY;
                            marks(&c, src, pos[pi], m_out, m_gin, m_gw, m_gb);
                            double saved = tu_get(t, pos[pi]);
                            tu_set(t, pos[pi], poison);
                            for (int ai = 0; ai < NALGO; ai++) {
                                cj_algorithm a = algos[ai];
                                cj_conv2d_params p = {{c.ph, c.pw}, {c.sh, c.sw}, {c.dh, c.dw}, c.groups, a};
                                int lenient = a == CJ_ALGO_AUTO || a == CJ_ALGO_WINOGRAD || a == CJ_ALGO_FFT;
                                double tol = tu_tol(a, dt);
                                cj_status st;
                                int ok = 1;
                                if (!pass) {
                                    tu_fill_nan(&out);
                                    st = cj_conv2d(ctx, &in, &w, &b, &p, &out);
                                    if (st == CJ_OK) ok = check("output", &out, m_out, ro, rom, tol, lenient);
                                } else {
                                    tu_fill_nan(&gin); tu_fill_nan(&gw); tu_fill_nan(&gb);
                                    st = cj_conv2d_backward(ctx, &in, &w, &b, &p, &gout, &gin, &gw, &gb);
                                    if (st == CJ_OK) {
                                        ok &= check("grad_input", &gin, m_gin, rgi, rgim, tol, lenient);
                                        ok &= check("grad_weight", &gw, m_gw, rgw, rgwm, tol, lenient);
                                        ok &= check("grad_bias", &gb, m_gb, rgb, rgbm, tol, lenient);
                                    }
                                }
                                char desc[400];
                                tu_cfg_str(desc, sizeof desc, &c, dt, a, pass ? "backward" : "forward");
                                if (st == CJ_ERR_UNSUPPORTED) {
                                    unsup[ai]++;
                                    tu_expect(a != CJ_ALGO_AUTO && a != CJ_ALGO_IM2COL_GEMM, "%s: UNSUPPORTED", desc);
                                    continue;
                                }
                                ran[ai]++;
                                if (!tu_expect(st == CJ_OK, "%s: %s: %s", desc, cj_status_string(st), cj_last_error())) continue;
                                tu_expect(ok, "%s: %s at %s[%lld]", desc, poison_name[vi], src_name[src], (long long)pos[pi]);
                            }
                            tu_set(t, pos[pi], saved);
                        }
                }
            }
            tu_free(&in); tu_free(&w); tu_free(&b); tu_free(&gb); tu_free(&out); tu_free(&gout); tu_free(&gin); tu_free(&gw);
        }
        free(din); free(dw); free(db); free(dgo); free(ro); free(rom); free(rgi); free(rgim);
        free(rgw); free(rgwm); free(rgb); free(rgbm); free(m_out); free(m_gin); free(m_gw); free(m_gb);
    }
    for (int ai = 0; ai < NALGO; ai++)
        printf("  %-14s ran %d calls, unsupported %d\n", cj_algorithm_name(algos[ai]), ran[ai], unsup[ai]);
    cj_context_destroy(ctx);
    return tu_finish();
}
