/* Naive reference convolution; see reference.h. Every function enumerates the same terms
 * (n, k, y, x, c, i, j) of SPEC's formula and differs only in which element it accumulates into. */
#include "reference.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ref_conv_init(ref_conv *c)
{
    if (c->N < 0 || c->C < 1 || c->H < 1 || c->W < 1 || c->K < 1 || c->kh < 1 || c->kw < 1) return 0;
    if (c->ph < 0 || c->pw < 0 || c->sh < 1 || c->sw < 1 || c->dh < 1 || c->dw < 1 || c->groups < 1) return 0;
    if (c->C % c->groups || c->K % c->groups) return 0;
    int64_t eh = c->H + 2 * c->ph - c->dh * (c->kh - 1) - 1;
    int64_t ew = c->W + 2 * c->pw - c->dw * (c->kw - 1) - 1;
    if (eh < 0 || ew < 0) return 0;
    c->Ho = eh / c->sh + 1;
    c->Wo = ew / c->sw + 1;
    return 1;
}

int64_t ref_in_numel(const ref_conv *c) { return c->N * c->C * c->H * c->W; }
int64_t ref_w_numel(const ref_conv *c) { return c->K * (c->C / c->groups) * c->kh * c->kw; }
int64_t ref_out_numel(const ref_conv *c) { return c->N * c->K * c->Ho * c->Wo; }

/* The callback-free core: for every term, the flat indices of the input, weight and output elements
 * it involves (input index -1 when the term reads the zero padding). */
#define FOR_EACH_TERM(c, BODY)                                                                     \
    do {                                                                                           \
        const int64_t Cg_ = (c)->C / (c)->groups, Kg_ = (c)->K / (c)->groups;                      \
        for (int64_t n = 0; n < (c)->N; n++)                                                       \
            for (int64_t k = 0; k < (c)->K; k++)                                                   \
                for (int64_t y = 0; y < (c)->Ho; y++)                                              \
                    for (int64_t x = 0; x < (c)->Wo; x++) {                                        \
                        const int64_t oi = ((n * (c)->K + k) * (c)->Ho + y) * (c)->Wo + x;         \
                        const int64_t g = k / Kg_;                                                 \
                        for (int64_t ci = 0; ci < Cg_; ci++)                                       \
                            for (int64_t i = 0; i < (c)->kh; i++)                                  \
                                for (int64_t j = 0; j < (c)->kw; j++) {                            \
                                    const int64_t iy = y * (c)->sh - (c)->ph + i * (c)->dh;        \
                                    const int64_t ix = x * (c)->sw - (c)->pw + j * (c)->dw;        \
                                    const int64_t wi = ((k * Cg_ + ci) * (c)->kh + i) * (c)->kw + j; \
                                    if (iy < 0 || iy >= (c)->H || ix < 0 || ix >= (c)->W) continue; \
                                    const int64_t ii =                                             \
                                        ((n * (c)->C + g * Cg_ + ci) * (c)->H + iy) * (c)->W + ix; \
                                    BODY                                                           \
                                }                                                                  \
                    }                                                                              \
    } while (0)

static void finish(int64_t n, const long double *acc, const long double *m, double *out, double *mag)
{
    for (int64_t e = 0; e < n; e++) {
        out[e] = (double)acc[e];
        if (mag) mag[e] = (double)m[e];
    }
}

static long double *zalloc(int64_t n)
{
    long double *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    if (!p) { fprintf(stderr, "reference: out of memory\n"); abort(); }
    return p;
}

void ref_forward(const ref_conv *c, const double *in, const double *w, const double *bias,
                 double *out, double *mag)
{
    int64_t no = ref_out_numel(c);
    long double *acc = zalloc(no), *m = zalloc(no);
    if (bias)
        for (int64_t n = 0; n < c->N; n++)
            for (int64_t k = 0; k < c->K; k++)
                for (int64_t p = 0; p < c->Ho * c->Wo; p++) {
                    int64_t oi = (n * c->K + k) * c->Ho * c->Wo + p;
                    acc[oi] = bias[k];
                    m[oi] = fabsl((long double)bias[k]);
                }
    FOR_EACH_TERM(c, {
        long double t = (long double)in[ii] * (long double)w[wi];
        acc[oi] += t;
        m[oi] += fabsl(t);
    });
    finish(no, acc, m, out, mag);
    free(acc);
    free(m);
}

void ref_grad_input(const ref_conv *c, const double *w, const double *gout, double *gin, double *mag)
{
    int64_t ni = ref_in_numel(c);
    long double *acc = zalloc(ni), *m = zalloc(ni);
    FOR_EACH_TERM(c, {
        long double t = (long double)gout[oi] * (long double)w[wi];
        acc[ii] += t;
        m[ii] += fabsl(t);
    });
    finish(ni, acc, m, gin, mag);
    free(acc);
    free(m);
}

void ref_grad_weight(const ref_conv *c, const double *in, const double *gout, double *gw, double *mag)
{
    int64_t nw = ref_w_numel(c);
    long double *acc = zalloc(nw), *m = zalloc(nw);
    FOR_EACH_TERM(c, {
        long double t = (long double)in[ii] * (long double)gout[oi];
        acc[wi] += t;
        m[wi] += fabsl(t);
    });
    finish(nw, acc, m, gw, mag);
    free(acc);
    free(m);
}

void ref_grad_bias(const ref_conv *c, const double *gout, double *gb, double *mag)
{
    long double *acc = zalloc(c->K), *m = zalloc(c->K);
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t k = 0; k < c->K; k++)
            for (int64_t p = 0; p < c->Ho * c->Wo; p++) {
                long double t = gout[(n * c->K + k) * c->Ho * c->Wo + p];
                acc[k] += t;
                m[k] += fabsl(t);
            }
    finish(c->K, acc, m, gb, mag);
    free(acc);
    free(m);
}

/* ---- self-test against hand-computed cases ------------------------------------------------ */

static int expect(const char *what, const double *got, const double *want, int64_t n)
{
    int bad = 0;
    for (int64_t e = 0; e < n; e++)
        if (fabs(got[e] - want[e]) > 1e-12 * (1 + fabs(want[e]))) {
            fprintf(stderr, "reference self-test: %s[%lld] = %.17g, hand-computed %.17g\n", what,
                    (long long)e, got[e], want[e]);
            bad++;
        }
    return bad;
}

int ref_selftest(void)
{
    int bad = 0;
    /* Case 1: in 1x1x3x3 = 1..9, w 1x1x2x2 = [1 2; 3 4], pad 1, stride 2, bias 10.
     * Padded input (5x5) rows: 0 0 0 0 0 / 0 1 2 3 0 / 0 4 5 6 0 / 0 7 8 9 0 / 0 0 0 0 0.
     * Ho = (3+2-1-1)/2+1 = 2. Windows at (0,0): [0 0;0 1] -> 4*1 = 4; (0,2): [0 0;2 3] -> 3*2+4*3 = 18;
     * (2,0): [0 4;0 7] -> 2*4+4*7 = 36; (2,2): [5 6;8 9] -> 5+12+24+36 = 77. Plus bias 10. */
    {
        ref_conv c = {1, 1, 3, 3, 1, 2, 2, 1, 1, 2, 2, 1, 1, 1, 0, 0};
        double in[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[4] = {1, 2, 3, 4}, b[1] = {10};
        double out[4], mag[4];
        if (!ref_conv_init(&c) || c.Ho != 2 || c.Wo != 2) { fprintf(stderr, "reference self-test: shape\n"); return 1; }
        ref_forward(&c, in, w, b, out, mag);
        bad += expect("case1 out", out, (double[]){14, 28, 46, 87}, 4);
        bad += expect("case1 mag", mag, (double[]){14, 28, 46, 87}, 4);
        /* gout = [1 -1; 2 0.5]. gin[iy,ix] = sum gout[y,x] * w[i,j] with iy = 2y-1+i, ix = 2x-1+j:
         * in(0,0): y0x0 i1j1 -> 1*4 = 4; in(0,1): y0x1 i1j0 -> -1*3 = -3; in(0,2): y0x1 i1j1 -> -4;
         * in(1,0): y1x0 i0j1 -> 2*2 = 4; in(1,1): y1x1 i0j0 -> 0.5; in(1,2): y1x1 i0j1 -> 1;
         * in(2,0): y1x0 i1j1 -> 8; in(2,1): y1x1 i1j0 -> 1.5; in(2,2): y1x1 i1j1 -> 2. */
        double gout[4] = {1, -1, 2, 0.5}, gin[9], gmag[9], gw[4], wmag[4], gb[1], bmag[1];
        ref_grad_input(&c, w, gout, gin, gmag);
        bad += expect("case1 gin", gin, (double[]){4, -3, -4, 4, 0.5, 1, 8, 1.5, 2}, 9);
        bad += expect("case1 gin mag", gmag, (double[]){4, 3, 4, 4, 0.5, 1, 8, 1.5, 2}, 9);
        /* gw[i,j] = sum gout[y,x] * in[2y-1+i, 2x-1+j]:
         * (0,0): only y1x1 -> 0.5*in(1,1)=2.5; (0,1): y1x0 in(1,0)=4 -> 8, y1x1 in(1,2)=6 -> 3: 11;
         * (1,0): y0x1 in(0,1)=2 -> -2, y1x1 in(2,1)=8 -> 4: 2;
         * (1,1): y0x0 in(0,0)=1 -> 1, y0x1 in(0,2)=3 -> -3, y1x0 in(2,0)=7 -> 14, y1x1 in(2,2)=9 -> 4.5: 16.5 */
        ref_grad_weight(&c, in, gout, gw, wmag);
        bad += expect("case1 gw", gw, (double[]){2.5, 11, 2, 16.5}, 4);
        bad += expect("case1 gw mag", wmag, (double[]){2.5, 11, 6, 22.5}, 4);
        ref_grad_bias(&c, gout, gb, bmag);
        bad += expect("case1 gb", gb, (double[]){2.5}, 1);
        bad += expect("case1 gb mag", bmag, (double[]){4.5}, 1);
    }
    /* Case 2: groups 2, dilation 2. in 1x2x3x3: channel 0 = 1..9, channel 1 = 10*(1..9); w 2x1x2x1 =
     * k0 [1; 2], k1 [1; -1]; dilation_h 2 -> taps rows y and y+2; Ho = 3-2-1+1 = 1, Wo = 3.
     * k0 (channel 0): row0 + 2*row2 = (1+14, 2+16, 3+18) = 15 18 21;
     * k1 (channel 1): row0 - row2 = (10-70, 20-80, 30-90) = -60 -60 -60. */
    {
        ref_conv c = {1, 2, 3, 3, 2, 2, 1, 0, 0, 1, 1, 2, 1, 2, 0, 0};
        double in[18], w[4] = {1, 2, 1, -1}, out[6], mag[6];
        for (int e = 0; e < 9; e++) { in[e] = e + 1; in[9 + e] = 10 * (e + 1); }
        if (!ref_conv_init(&c) || c.Ho != 1 || c.Wo != 3) { fprintf(stderr, "reference self-test: shape 2\n"); return bad + 1; }
        ref_forward(&c, in, w, NULL, out, mag);
        bad += expect("case2 out", out, (double[]){15, 18, 21, -60, -60, -60}, 6);
        bad += expect("case2 mag", mag, (double[]){15, 18, 21, 80, 100, 120}, 6);
    }
    if (bad) fprintf(stderr, "reference self-test: %d mismatches\n", bad);
    return bad;
}
