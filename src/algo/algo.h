/* The table every algorithm fills, and the validated description of one convolution that the API
 * layer hands to it. Algorithms know nothing of ISAs (they call the GEMM engine and kernels) and
 * nothing of validation (every extent here is valid and every product fits in int64). */
#ifndef CJ_ALGO_ALGO_H
#define CJ_ALGO_ALGO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/context.h"
#include "conjure.h"

typedef struct cj_conv_desc {
    cj_dtype dtype;
    size_t   elem;                    /* bytes per element */
    int64_t  n, c_in, h_in, w_in;     /* input */
    int64_t  c_out, kh, kw;           /* weight [c_out, c_in/groups, kh, kw] */
    int64_t  h_out, w_out;
    int64_t  pad_h, pad_w, stride_h, stride_w, dil_h, dil_w;
    int64_t  groups, cin_g, cout_g;   /* channels per group */
} cj_conv_desc;

typedef enum cj_pass { CJ_PASS_FORWARD, CJ_PASS_BACKWARD_DATA, CJ_PASS_BACKWARD_WEIGHTS } cj_pass;

typedef struct cj_algo {
    cj_algorithm id;
    /* NULL when the algorithm supports the pass, else the reason (for cj_last_error). */
    const char *(*unsupported)(const cj_conv_desc *d, cj_pass pass);
    /* out = conv(in, w) + bias (bias NULL: none). n >= 1. */
    cj_status (*forward)(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                         const void *bias, void *out);
    /* grad_in = conv_transpose(grad_out, w). n >= 1. */
    cj_status (*backward_data)(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                               const void *w, void *grad_in);
    /* grad_w = sum over the batch of grad_out x in. n >= 1. */
    cj_status (*backward_weights)(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                  const void *grad_out, void *grad_w);
    /* Optional (NULL: none): backward_weights that also writes grad_bias (as cj_bias_grad does),
     * from the same reads of grad_out where it can: on a memory-bound layer a second pass over
     * grad_out costs a fifth of the time. */
    cj_status (*backward_weights_bias)(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                       const void *grad_out, void *grad_w, void *grad_bias);
    /* Plans (api/plan.c), optional: NULL when the forward pass has no form of the weights worth
     * making once. prepared_bytes: the size of the weights in the form the forward pass computes
     * with (it does not depend on n); prepare writes that form; forward_prepared is forward
     * reading it instead of making it from w (w is passed too, for what reads the plain weights). */
    size_t (*prepared_bytes)(const cj_conv_desc *d);
    void (*prepare)(cj_context *ctx, const cj_conv_desc *d, const void *w, void *prepared);
    cj_status (*forward_prepared)(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                  const void *prepared, const void *bias, void *out);
} cj_algo;

/* The algorithms that exist; NULL for one not built yet. */
const cj_algo *cj_algo_get(cj_algorithm id);

extern const cj_algo cj_algo_im2col_gemm;
extern const cj_algo cj_algo_implicit_gemm;
extern const cj_algo cj_algo_direct;
extern const cj_algo cj_algo_fft;
extern const cj_algo cj_algo_winograd;

/* grad_bias[k] = sum over n, y, x of grad_out[n, k, y, x] (shared by every algorithm). */
void cj_bias_grad(cj_context *ctx, const cj_conv_desc *d, const void *grad_out, void *grad_bias);

#endif
