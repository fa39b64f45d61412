/* CJ_ALGO_DIRECT's depthwise fast path: when every output channel reads one input channel
 * (C_in/groups == 1) with stride 1, each (image, channel) plane is one call of a plane kernel that
 * reads the NCHW plane in place (kernels/dwconv.h): no staging, no packing, one pass over the
 * data, which is what a memory-bound depthwise layer needs. f32 on the AVX-512 path; everything
 * else takes the general path. Tasks are planes, split into one contiguous range per slot. */
#include "algo/direct.h"
#include "algo/direct_common.h"
#include "kernels/dwconv.h"
#include "util/checked.h"

bool cj_direct_dw_ok(const cj_conv_desc *d, cj_pass pass) {
#if defined(CJ_HAVE_X86_KERNELS)
    if (d->dtype != CJ_F32 || cj_cpu()->isa != CJ_ISA_AVX512) return false;
    if (d->cin_g != 1 || d->stride_h != 1 || d->stride_w != 1 || d->kw > CJ_DW_MAX_KW) return false;
    return pass != CJ_PASS_BACKWARD_DATA || d->cout_g == 1; /* one grad_output plane per grad_input plane */
#else
    (void)d;
    (void)pass;
    return false;
#endif
}

#if defined(CJ_HAVE_X86_KERNELS)
typedef struct {
    const cj_conv_desc *d;
    const float *src, *w, *bias;
    float *dst;
    bool backward;
    int64_t slots;
} dw_job;

/* Forward: plane (n, k) of the output from plane (n, k / cout_g) of the input. grad_input: plane
 * (n, c) of grad_input from plane (n, c) of grad_output with the kernel flipped. */
static void dw_task(void *arg, size_t slot) {
    const dw_job *j = arg;
    const cj_conv_desc *d = j->d;
    const int64_t taps = d->kh * d->kw, planes = d->n * d->c_out;
    const int64_t plane_in = d->h_in * d->w_in, plane_out = d->h_out * d->w_out;
    float flipped[CJ_DW_MAX_KW * CJ_DW_MAX_KW];
    cj_dw_plane p = {.kh = d->kh, .kw = d->kw, .dil_h = d->dil_h, .dil_w = d->dil_w};
    if (j->backward) {
        p.src_h = d->h_out, p.src_w = d->w_out, p.dst_h = d->h_in, p.dst_w = d->w_in;
        p.off_h = d->pad_h - (d->kh - 1) * d->dil_h, p.off_w = d->pad_w - (d->kw - 1) * d->dil_w;
    } else {
        p.src_h = d->h_in, p.src_w = d->w_in, p.dst_h = d->h_out, p.dst_w = d->w_out;
        p.off_h = -d->pad_h, p.off_w = -d->pad_w;
    }
    int64_t t0, t1;
    cj_split_range(planes, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t n = t / d->c_out, k = t % d->c_out;
        const float *w = j->w + k * taps;
        if (j->backward) {
            for (int64_t i = 0; i < taps; i++) flipped[i] = w[taps - 1 - i];
            p.src = j->src + t * plane_out;
            p.dst = j->dst + t * plane_in;
            w = flipped;
        } else {
            p.src = j->src + (n * d->c_in + k / d->cout_g) * plane_in;
            p.dst = j->dst + t * plane_out;
        }
        cj_f32_dwconv_plane__avx512(&p, w, j->bias ? j->bias[k] : 0.0f);
    }
}

static void dw_run(cj_context *ctx, const cj_conv_desc *d, const void *src, const void *w, const void *bias,
                   void *dst, bool backward) {
    dw_job j = {.d = d, .src = src, .w = w, .bias = bias, .dst = dst, .backward = backward};
    j.slots = cj_min64(ctx->num_threads, d->n * d->c_out);
    cj_parallel_for(ctx, (size_t)j.slots, dw_task, &j);
}
#endif

cj_status cj_direct_dw_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                               const void *bias, void *out) {
#if defined(CJ_HAVE_X86_KERNELS)
    dw_run(ctx, d, in, w, bias, out, false);
#endif
    return CJ_OK;
}

cj_status cj_direct_dw_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                     const void *w, void *grad_in) {
#if defined(CJ_HAVE_X86_KERNELS)
    dw_run(ctx, d, grad_out, w, NULL, grad_in, true);
#endif
    return CJ_OK;
}

void cj_direct_dw_wgrad_plane(const cj_conv_desc *d, const void *in, const void *grad_out, int64_t n,
                              int64_t k, void *grad_w) {
#if defined(CJ_HAVE_X86_KERNELS)
    const cj_dw_plane p = {
        .src = (const float *)in + (n * d->c_in + k / d->cout_g) * d->h_in * d->w_in,
        .src_h = d->h_in, .src_w = d->w_in,
        .dst = (float *)grad_out + (n * d->c_out + k) * d->h_out * d->w_out,
        .dst_h = d->h_out, .dst_w = d->w_out,
        .kh = d->kh, .kw = d->kw, .off_h = -d->pad_h, .off_w = -d->pad_w, .dil_h = d->dil_h, .dil_w = d->dil_w,
    };
    cj_f32_dwconv_wgrad_plane__avx512(&p, (float *)grad_w + k * d->kh * d->kw);
#endif
}
