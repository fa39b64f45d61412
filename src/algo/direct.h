/* CJ_ALGO_DIRECT's gradient passes, defined in their own files (direct_bwd_data.c,
 * direct_bwd_weights.c) and entered in the algorithm table in direct.c. */
#ifndef CJ_ALGO_DIRECT_H
#define CJ_ALGO_DIRECT_H
#include "algo/algo.h"

cj_status cj_direct_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                  const void *w, void *grad_in);
cj_status cj_direct_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                     const void *grad_out, void *grad_w);

#endif
