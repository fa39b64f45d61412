/* CJ_ALGO_DIRECT's depthwise fast path: when every output channel reads one input channel
 * (C_in/groups == 1) with stride 1, each (image, channel) plane is one call of a plane kernel
 * (kernels/dwconv.h): no packing, one pass over the data, which is what a memory-bound depthwise
 * layer needs. The AVX-512 kernels read the NCHW plane in place (register tiles for undilated 3x3,
 * 5x5 and 7x7 forward and grad_input, masked taps otherwise); the AVX2 ones read it in place too
 * for undilated 3x3 and 7x7 forward and grad_input, and otherwise stage bands of rows,
 * zero-padded, in a per-slot buffer (which also holds the in-place path's zero row). f32 only;
 * everything else takes the general path. Tasks are planes, split into one contiguous range per
 * slot. No software prefetch of the next plane: the planes of a slot's range follow one another in
 * memory, which the hardware prefetcher streams; asking for each next plane's lines (as before)
 * cost time on Zen 3, mobilenet.dw3x3 at 1 thread: forward 1.05 -> 0.92 ms, grad_input 0.95 ->
 * 0.91, grad_weight 1.32 -> 1.14 (medians of 3 alternating runs). */
#include "algo/direct.h"
#include "algo/direct_common.h"
#include "kernels/dwconv.h"
#include "util/checked.h"
#include "util/error.h"

bool cj_direct_dw_ok(const cj_conv_desc *d, cj_pass pass) {
#if defined(CJ_HAVE_X86_KERNELS)
    if (d->dtype != CJ_F32 || d->cin_g != 1 || d->stride_h != 1 || d->stride_w != 1 || d->kw > CJ_DW_MAX_KW)
        return false;
    if (pass == CJ_PASS_BACKWARD_DATA && d->cout_g != 1) return false; /* one grad_output plane per grad_input plane */
    if (cj_cpu()->isa == CJ_ISA_AVX512) return true;
    /* The AVX2 kernels' band: forward reads input rows of w_out outputs, grad_input grad_output
     * rows of w_in. */
    const int64_t dst_w = pass == CJ_PASS_BACKWARD_DATA ? d->w_in : d->w_out;
    return cj_cpu()->isa == CJ_ISA_AVX2 && cj_dw_stage_fits(dst_w, d->kh, d->kw, d->dil_h, d->dil_w);
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
    float *stages; /* AVX2: CJ_DW_STAGE_FLOATS per slot */
} dw_job;

/* Where plane t = n * C_out + k (image n, output channel k) reads its input: plane
 * (n, k / cout_g), in elements from the tensor's start. */
static int64_t input_plane(const cj_conv_desc *d, int64_t t) {
    return (t / d->c_out * d->c_in + t % d->c_out / d->cout_g) * d->h_in * d->w_in;
}

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
        const int64_t k = t % d->c_out;
        const float *w = j->w + k * taps;
        if (j->backward) {
            for (int64_t i = 0; i < taps; i++) flipped[i] = w[taps - 1 - i];
            p.src = j->src + t * plane_out;
            p.dst = j->dst + t * plane_in;
            w = flipped;
        } else {
            p.src = j->src + input_plane(d, t);
            p.dst = j->dst + t * plane_out;
        }
        const float bias = j->bias ? j->bias[k] : 0.0f;
        if (j->stages) cj_f32_dwconv_plane__avx2(&p, w, bias, j->stages + slot * CJ_DW_STAGE_FLOATS);
        else cj_f32_dwconv_plane__avx512(&p, w, bias);
    }
}

static cj_status dw_run(cj_context *ctx, const cj_conv_desc *d, const void *src, const void *w, const void *bias,
                        void *dst, bool backward) {
    dw_job j = {.d = d, .src = src, .w = w, .bias = bias, .dst = dst, .backward = backward};
    j.slots = cj_min64(ctx->num_threads, d->n * d->c_out);
    cj_scratch s = {0};
    const size_t stage_bytes = cj_direct_dw_stage_bytes(j.slots);
    if (stage_bytes) {
        CJ_FORWARD(cj_scratch_acquire(ctx, stage_bytes, &s));
        j.stages = s.ptr;
    }
    cj_parallel_for(ctx, (size_t)j.slots, dw_task, &j);
    if (j.stages) cj_scratch_release(ctx, &s);
    return CJ_OK;
}
#endif

size_t cj_direct_dw_stage_bytes(int64_t slots) {
#if defined(CJ_HAVE_X86_KERNELS)
    if (cj_cpu()->isa != CJ_ISA_AVX512) return (size_t)slots * CJ_DW_STAGE_FLOATS * sizeof(float);
#endif
    (void)slots;
    return 0;
}

cj_status cj_direct_dw_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                               const void *bias, void *out) {
#if defined(CJ_HAVE_X86_KERNELS)
    return dw_run(ctx, d, in, w, bias, out, false);
#else
    return CJ_OK;
#endif
}

cj_status cj_direct_dw_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                     const void *w, void *grad_in) {
#if defined(CJ_HAVE_X86_KERNELS)
    return dw_run(ctx, d, grad_out, w, NULL, grad_in, true);
#else
    return CJ_OK;
#endif
}

void cj_direct_dw_wgrad_planes(const cj_conv_desc *d, const void *in, const void *grad_out, int64_t t0, int64_t t1,
                               void *grad_w, double *bias_sums, void *stage) {
#if defined(CJ_HAVE_X86_KERNELS)
    const int64_t plane_out = d->h_out * d->w_out;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t k = t % d->c_out;
        const cj_dw_plane p = {
            .src = (const float *)in + input_plane(d, t),
            .src_h = d->h_in, .src_w = d->w_in,
            .dst = (float *)grad_out + t * plane_out,
            .dst_h = d->h_out, .dst_w = d->w_out,
            .kh = d->kh, .kw = d->kw, .off_h = -d->pad_h, .off_w = -d->pad_w, .dil_h = d->dil_h, .dil_w = d->dil_w,
        };
        float *dw = (float *)grad_w + k * d->kh * d->kw;
        double *gsum = bias_sums ? bias_sums + k : NULL;
        if (stage) cj_f32_dwconv_wgrad_plane__avx2(&p, dw, stage, gsum);
        else cj_f32_dwconv_wgrad_plane__avx512(&p, dw, gsum);
    }
#else
    (void)d, (void)in, (void)grad_out, (void)t0, (void)t1, (void)grad_w, (void)bias_sums, (void)stage;
#endif
}
