/* CJ_ALGO_WINOGRAD's one-axis form (winograd_1d.c): kernels of one column (r x 1) or one row
 * (1 x r) of r = 7 or 5 taps, as Inception's factorised 7x1 / 1x7 convolutions, stride 1. The
 * dilation and the elements with few terms are winograd.c's business, as for 3x3. */
#ifndef CJ_ALGO_WINOGRAD_1D_H
#define CJ_ALGO_WINOGRAD_1D_H
#include "algo/algo.h"

/* Whether the kernel is one this form takes (its stride and dilation not looked at). */
bool cj_winograd_1d_kernel(const cj_conv_desc *d);

/* The tiles of m outputs covering the batch's output (AUTO's measure of the layer). */
int64_t cj_winograd_1d_tiles(const cj_conv_desc *d);

/* prepared_u: cj_winograd_1d_prepare's transformed weights, or NULL (made per call). */
cj_status cj_winograd_1d_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                 const void *prepared_u, const void *bias, void *out);
cj_status cj_winograd_1d_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out, const void *w,
                                       void *grad_in);
cj_status cj_winograd_1d_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                          const void *grad_out, void *grad_w);

/* Plans: the forward pass's transformed weights, packed as it reads them. */
size_t cj_winograd_1d_prepared_bytes(const cj_conv_desc *d);
void cj_winograd_1d_prepare(cj_context *ctx, const cj_conv_desc *d, const void *w, void *prepared);

#endif
