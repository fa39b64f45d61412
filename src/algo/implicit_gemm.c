/* CJ_ALGO_IMPLICIT_GEMM: every configuration and pass, as GEMMs whose B panels are packed straight
 * from the tensors (implicit_pack.c), so no column matrix is written or read back.
 *
 *   forward       Y_g = W_g * B, B packed from the input
 *   grad_weight   dW_g += dY_g * B^T, B^T packed from the input through a small transposed tile
 *   grad_input    stride 1: a forward convolution of grad_output with the rotated, channel-swapped
 *                 weight (padding dil*(k-1) - pad), so the same implicit GEMM with no col2im
 *                 scatter; stride > 1: GEMM + col2im (a stride-phase split is not built yet). */
#include "algo/gemm_conv.h"
#include "util/error.h"
#include "util/memory.h"

static const char *implicit_unsupported(const cj_conv_desc *d, cj_pass pass) {
    (void)d;
    (void)pass;
    return NULL; /* every configuration */
}

static cj_status implicit_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                  const void *bias, void *out) {
    return cj_gemm_conv_forward(ctx, d, CJ_GEMM_CONV_IMPLICIT, in, w, bias, out);
}

static cj_status implicit_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                           const void *grad_out, void *grad_w) {
    return cj_gemm_conv_backward_weights(ctx, d, CJ_GEMM_CONV_IMPLICIT, in, grad_out, grad_w);
}

/* wt[g*cin_g + c][k][i][j] = w[g*cout_g + k][c][kh-1-i][kw-1-j] */
#define DEFINE_ROTATE(T, suffix)                                                                  \
    static void rotate_##suffix(const cj_conv_desc *d, const T *w, T *wt) {                        \
        const int64_t khkw = d->kh * d->kw;                                                        \
        for (int64_t g = 0; g < d->groups; g++)                                                    \
            for (int64_t k = 0; k < d->cout_g; k++)                                                \
                for (int64_t c = 0; c < d->cin_g; c++) {                                           \
                    const T *src = w + ((g * d->cout_g + k) * d->cin_g + c) * khkw;                \
                    T *dst = wt + ((g * d->cin_g + c) * d->cout_g + k) * khkw;                     \
                    for (int64_t t = 0; t < khkw; t++) dst[t] = src[khkw - 1 - t];                 \
                }                                                                                  \
    }
DEFINE_ROTATE(float, f32)
DEFINE_ROTATE(double, f64)

static cj_status implicit_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                        const void *w, void *grad_in) {
    if (d->stride_h != 1 || d->stride_w != 1) return cj_gemm_conv_backward_data_col2im(ctx, d, grad_out, w, grad_in);
    /* grad_in = conv(grad_out, rotate(w)) with the roles of the two channel counts swapped. */
    cj_conv_desc t = *d;
    t.c_in = d->c_out, t.h_in = d->h_out, t.w_in = d->w_out;
    t.c_out = d->c_in, t.h_out = d->h_in, t.w_out = d->w_in;
    t.cin_g = d->cout_g, t.cout_g = d->cin_g;
    t.pad_h = d->dil_h * (d->kh - 1) - d->pad_h; /* negative: the transposed problem crops */
    t.pad_w = d->dil_w * (d->kw - 1) - d->pad_w;
    void *wt = cj_alloc((size_t)(d->c_out * d->cin_g * d->kh * d->kw) * d->elem);
    CJ_FAIL_IF(!wt, CJ_ERR_OUT_OF_MEMORY, "implicit_gemm: cannot allocate the rotated weight (%lld elements)",
               (long long)(d->c_out * d->cin_g * d->kh * d->kw));
    if (d->dtype == CJ_F64) rotate_f64(d, w, wt);
    else rotate_f32(d, w, wt);
    const cj_status st = cj_gemm_conv_forward(ctx, &t, CJ_GEMM_CONV_IMPLICIT, grad_out, wt, NULL, grad_in);
    cj_free(wt);
    return st;
}

const cj_algo cj_algo_implicit_gemm = {
    .id = CJ_ALGO_IMPLICIT_GEMM,
    .unsupported = implicit_unsupported,
    .forward = implicit_forward,
    .backward_data = implicit_backward_data,
    .backward_weights = implicit_backward_weights,
};
