/* CJ_ALGO_DIRECT's passes defined outside direct.c (which holds the forward pass and the table):
 * the gradients (direct_bwd_data.c, direct_bwd_weights.c) and the depthwise path (direct_dw.c). */
#ifndef CJ_ALGO_DIRECT_H
#define CJ_ALGO_DIRECT_H
#include "algo/algo.h"

cj_status cj_direct_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                  const void *w, void *grad_in);
cj_status cj_direct_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                     const void *grad_out, void *grad_w);
/* The same with grad_bias (NULL: none): the depthwise path sums it from the same reads of
 * grad_out, the others by cj_bias_grad after grad_weight. */
cj_status cj_direct_backward_weights_bias(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                          const void *grad_out, void *grad_w, void *grad_bias);

/* The depthwise fast path (direct_dw.c): C_in/groups == 1, f32 on AVX-512 (stride up to
 * CJ_DEINTERLEAVE_MAX) and AVX2 (stride 1, where the rows' band must fit the kernels' stage). */
bool cj_direct_dw_ok(const cj_conv_desc *d, cj_pass pass);
/* Scratch of the path's `slots` thread slots (AVX2's row stages; with AVX-512 a strided layer's
 * pieces of a plane, else none). */
size_t cj_direct_dw_stage_bytes(const cj_conv_desc *d, int64_t slots);
cj_status cj_direct_dw_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                               const void *bias, void *out);
cj_status cj_direct_dw_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                     const void *w, void *grad_in);
/* The channel-vector paths (direct_ocv.c, direct_ocv_weights.c), by shape: f32 on AVX-512, 32+
 * output channels per group (forward, grad_weight) or input channels per group (grad_input: stride
 * 1, padding within the kernel's reach). grad_input also needs finite weights, which its caller
 * checks (the staged padding is multiplied like any input: a non-finite weight would spread NaN to
 * elements that do not depend on it).
 * Taken before the depthwise path: one input channel with 32+ outputs (lenet.conv1) runs 3x
 * faster on them. */
bool cj_direct_ocv_ok(const cj_conv_desc *d, cj_pass pass);
/* The same convolution described over each image's flattened plane, where that fills the
 * channel-vector tiles better: a kh x 1 kernel at stride 1 without horizontal padding reads, for
 * output pixel p = y * W + x, the plane's elements p + (i * dil_h - pad_h) * W, zero outside the
 * plane; that is a 1 x kh kernel at dilation dil_h * W and padding pad_h * W on a 1 x (H * W)
 * image, whose tensors have the same memory layout. Taken when the output rows are tiled poorly
 * (Inception's 17-wide 7x1 rows: 9 + 8 pixels in tiles of 14), every thread still has images of
 * its own (a flat image is one row: its rows cannot be split), and a flat image's staged input
 * and grad_output fit in half of L2 (grad_weight cannot cut its band below a row). Returns
 * whether *flat was written. */
bool cj_direct_ocv_flatten(const cj_conv_desc *d, int threads, cj_conv_desc *flat);
cj_status cj_direct_ocv_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                const void *bias, void *out);
cj_status cj_direct_ocv_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out, const void *w,
                                      void *grad_in);
/* Bytes of grad_weight's register-tile sums per thread slot, which every image of its share
 * reads and writes once: beyond L2 they cost more than the FMAs of small images. */
size_t cj_direct_ocv_weights_tile_bytes(const cj_conv_desc *d);
/* grad_bias NULL: not wanted; else summed from the pixel-major grad_output the bands make anyway. */
cj_status cj_direct_ocv_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *grad_out,
                                         void *grad_w, void *grad_bias);
/* grad_w[k] += the contribution of plane t = n * C_out + k (image n, output channel k), for t in
 * [t0, t1), and bias_sums[k] (NULL: none) += the sum of grad_out's plane t; stage: the slot's share
 * of cj_direct_dw_stage_bytes (NULL when that is 0). */
void cj_direct_dw_wgrad_planes(const cj_conv_desc *d, const void *in, const void *grad_out, int64_t t0, int64_t t1,
                               void *grad_w, double *bias_sums, void *stage);

#endif
