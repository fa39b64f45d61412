/* CJ_ALGO_IM2COL_GEMM: every configuration and pass, as GEMMs over bounded im2col slabs and
 * col2im (the drivers are gemm_conv.c). The baseline every other algorithm is measured against. */
#include "algo/gemm_conv.h"

static const char *im2col_unsupported(const cj_conv_desc *d, cj_pass pass) {
    (void)d;
    (void)pass;
    return NULL; /* every configuration */
}

static cj_status im2col_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                const void *bias, void *out) {
    return cj_gemm_conv_forward(ctx, d, CJ_GEMM_CONV_IM2COL, in, w, NULL, bias, out);
}

static cj_status im2col_forward_prepared(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                         const void *packed_w, const void *bias, void *out) {
    return cj_gemm_conv_forward(ctx, d, CJ_GEMM_CONV_IM2COL, in, w, packed_w, bias, out);
}

static cj_status im2col_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                         const void *grad_out, void *grad_w) {
    return cj_gemm_conv_backward_weights(ctx, d, CJ_GEMM_CONV_IM2COL, in, grad_out, grad_w);
}

const cj_algo cj_algo_im2col_gemm = {
    .id = CJ_ALGO_IM2COL_GEMM,
    .unsupported = im2col_unsupported,
    .forward = im2col_forward,
    .backward_data = cj_gemm_conv_backward_data_col2im,
    .backward_weights = im2col_backward_weights,
    .prepared_bytes = cj_gemm_conv_forward_packed_bytes,
    .prepare = cj_gemm_conv_forward_pack,
    .forward_prepared = im2col_forward_prepared,
};
