/* A naive reference for conv2d forward and its three gradients, straight from SPEC's formula.
 * Inputs are double, accumulation is long double; every result element also gets its magnitude
 * s = |bias| + sum |term| (SPEC's accuracy measure). Obviously-correct loops, no cleverness. */
#ifndef CJ_TEST_REFERENCE_H
#define CJ_TEST_REFERENCE_H
#include <stdint.h>

typedef struct ref_conv {
    int64_t N, C, H, W;      /* input [N, C, H, W] */
    int64_t K, kh, kw;       /* weight [K, C/groups, kh, kw] */
    int64_t ph, pw, sh, sw, dh, dw, groups;
    int64_t Ho, Wo;          /* filled by ref_conv_init */
} ref_conv;

/* Computes Ho, Wo (SPEC's formula, floor division); returns 0 if the configuration is invalid. */
int ref_conv_init(ref_conv *c);
int64_t ref_in_numel(const ref_conv *c);
int64_t ref_w_numel(const ref_conv *c);
int64_t ref_out_numel(const ref_conv *c);

/* out[N,K,Ho,Wo] = bias + correlation. bias may be NULL. mag may be NULL. */
void ref_forward(const ref_conv *c, const double *in, const double *w, const double *bias,
                 double *out, double *mag);
/* gin[N,C,H,W] = d(sum out*gout)/d in. */
void ref_grad_input(const ref_conv *c, const double *w, const double *gout, double *gin, double *mag);
/* gw[K,C/g,kh,kw]. */
void ref_grad_weight(const ref_conv *c, const double *in, const double *gout, double *gw, double *mag);
/* gb[K] = sum over n,y,x of gout. */
void ref_grad_bias(const ref_conv *c, const double *gout, double *gb, double *mag);

/* Checks the reference against hand-computed tiny cases; returns the number of mismatches (printed). */
int ref_selftest(void);

#endif
