/* A dilated stride-1 convolution as one undilated convolution over a batch of phase images, so
 * that the algorithms that need dilation 1 (Winograd) run it too.
 *
 * With dilation (dh, dw) and stride 1, output row y = p + dh * a (phase p < dh) reads at tap i
 * input row p - pad_h + dh * (a + i): only rows congruent to p - pad_h modulo dh. So output phase
 * (p, q) is the undilated, unpadded convolution of a phase image whose row r is input row p -
 * pad_h + dh * r (zero outside the input), column likewise. Distinct phases read distinct
 * residues, so every input element lies in at most one phase image:
 *   forward:      gather the phase images, convolve, scatter the outputs;
 *   grad_input:   gather grad_output by output phase, run grad_input, scatter (elements no output
 *                 reads are zero);
 *   grad_weight:  gather both; the sum over the phase batch is the sum over images and phases.
 * Every phase gets ceil(H_out / dh) x ceil(W_out / dw) outputs, so that they batch as one call;
 * the phases with fewer compute a row or column that nothing keeps (its inputs are zeros). The
 * batch goes in chunks of images whose phase tensors take at most 32 MiB (scratch that does not
 * grow with N); grad_weight adds the chunks' sums in chunk order. */
#ifndef CJ_ALGO_DILATION_PHASES_H
#define CJ_ALGO_DILATION_PHASES_H
#include "algo/algo.h"

/* The undilated problem over the phase batch of d (stride 1, dilation above 1 on an axis). */
cj_conv_desc cj_phase_desc(const cj_conv_desc *d);

/* The passes of d through `inner`'s, run on cj_phase_desc(d); prepared: a plan's weights for
 * inner->forward_prepared (the weights do not change), or NULL. */
cj_status cj_phases_forward(const cj_algo *inner, cj_context *ctx, const cj_conv_desc *d, const void *in,
                            const void *w, const void *prepared, const void *bias, void *out);
cj_status cj_phases_backward_data(const cj_algo *inner, cj_context *ctx, const cj_conv_desc *d,
                                  const void *grad_out, const void *w, void *grad_in);
cj_status cj_phases_backward_weights(const cj_algo *inner, cj_context *ctx, const cj_conv_desc *d, const void *in,
                                     const void *grad_out, void *grad_w);

#endif
