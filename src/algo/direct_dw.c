/* CJ_ALGO_DIRECT's depthwise fast path: when every output channel reads one input channel
 * (C_in/groups == 1), each (image, channel) plane is one call of a plane kernel (kernels/dwconv.h):
 * no packing, one pass over the data, which is what a memory-bound depthwise layer needs. With a
 * stride (AVX-512 only, up to CJ_DEINTERLEAVE_MAX) see the strided section below. At stride 1 the
 * AVX-512 kernels read the NCHW plane in place (register tiles for undilated 3x3,
 * 5x5 and 7x7 forward and grad_input, masked taps otherwise); the AVX2 ones read it in place too
 * for undilated 3x3 and 7x7 forward and grad_input, and otherwise stage bands of rows,
 * zero-padded, in a per-slot buffer (which also holds the in-place path's zero row). f32 only;
 * everything else takes the general path. Tasks are planes, split into one contiguous range per
 * slot. No software prefetch of the next plane: the planes of a slot's range follow one another in
 * memory, which the hardware prefetcher streams; asking for each next plane's lines (as before)
 * cost time on Zen 3, mobilenet.dw3x3 at 1 thread: forward 1.05 -> 0.92 ms, grad_input 0.95 ->
 * 0.91, grad_weight 1.32 -> 1.14 (medians of 3 alternating runs). */
#include <string.h>

#include "algo/direct.h"
#include "algo/direct_common.h"
#include "algo/stride_phases.h"
#include "kernels/dwconv.h"
#include "kernels/gather.h"
#include "util/checked.h"
#include "util/error.h"

bool cj_direct_dw_ok(const cj_conv_desc *d, cj_pass pass) {
#if defined(CJ_HAVE_X86_KERNELS)
    if (d->dtype != CJ_F32 || d->cin_g != 1 || d->kw > CJ_DW_MAX_KW) return false;
    if (pass == CJ_PASS_BACKWARD_DATA && d->cout_g != 1) return false; /* one grad_output plane per grad_input plane */
    /* With a stride: grad_weight from 100 output pixels a plane, below which its phases' planes are
     * too small for the kernel (8 x 576 x 14^2 s2: 1.95 ms against the general path's 1.78; at 28^2
     * 1.14 against 1.34) */
    if (d->stride_h != 1 || d->stride_w != 1)
        return cj_cpu()->isa == CJ_ISA_AVX512 && (pass != CJ_PASS_BACKWARD_WEIGHTS || d->h_out * d->w_out >= 100) &&
               d->stride_h <= CJ_DEINTERLEAVE_MAX &&
               d->stride_w <= CJ_DEINTERLEAVE_MAX && d->kh <= CJ_DW_MAX_KW /* a sub-kernel on the stack */ &&
               d->w_in < ((int64_t)1 << 30);
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
    float *stages; /* AVX2: CJ_DW_STAGE_FLOATS per slot; strided: strided_scratch_floats per slot */
} dw_job;

/* ---- strided planes (AVX-512) ---------------------------------------------------------------------
 * Forward: a kernel of its own (cj_f32_dwconv_strided__avx512). grad_weight: the input plane split
 * into its stride phases (cj_input_phase) in the slot's scratch, each the source of a stride-1
 * grad_weight with the taps that read it. grad_input: each stride phase of the grad_input plane is
 * a stride-1 correlation of grad_output with a sub-kernel (cj_grad_input_phase), computed into the
 * scratch and woven into the plane's rows. Neither multiplies a zero in for the stride. The
 * general path (staged rows per band of each channel) ran 8 x 96 x 112^2 3x3 s2 at 4 GFLOP/s. */
static bool dw_strided(const cj_conv_desc *d) { return d->stride_h != 1 || d->stride_w != 1; }

/* The forward plane's problem for the strided kernel. */
static cj_dw_plane forward_plane(const cj_conv_desc *d, const float *src, float *dst) {
    return (cj_dw_plane){.src = src, .src_h = d->h_in, .src_w = d->w_in, .dst = dst, .dst_h = d->h_out,
                         .dst_w = d->w_out, .kh = d->kh, .kw = d->kw, .off_h = -d->pad_h, .off_w = -d->pad_w,
                         .dil_h = d->dil_h, .dil_w = d->dil_w};
}

/* Floats of a slot's scratch for a strided plane, a multiple of 16: grad_input's or the input's
 * phases (a plane of h_in x w_in in all), or the forward kernel's split rows. */
static int64_t strided_scratch_floats(const cj_conv_desc *d) {
    const cj_dw_plane p = forward_plane(d, NULL, NULL);
    return cj_round_up(cj_max64(d->h_in * d->w_in, cj_dw_strided_scratch(&p, d->stride_w)), 16);
}

/* The input plane's stride phases (cj_input_phase) in the slot's scratch: phase (ry, rx) at
 * phase[ry * sw + rx], qy[ry].out rows of qx[rx].out. */
typedef struct {
    cj_phase_axis qy[CJ_DEINTERLEAVE_MAX], qx[CJ_DEINTERLEAVE_MAX];
    float *phase[CJ_DEINTERLEAVE_MAX * CJ_DEINTERLEAVE_MAX];
} input_phases;

static void split_input(const cj_conv_desc *d, const float *in, float *scratch, input_phases *ph) {
    const int64_t sh = d->stride_h, sw = d->stride_w;
    for (int64_t r = 0; r < sh; r++) ph->qy[r] = cj_input_phase(r, sh, d->pad_h, d->dil_h, d->kh, d->h_in);
    for (int64_t r = 0; r < sw; r++) ph->qx[r] = cj_input_phase(r, sw, d->pad_w, d->dil_w, d->kw, d->w_in);
    float *at = scratch;
    for (int64_t ry = 0; ry < sh; ry++)
        for (int64_t rx = 0; rx < sw; rx++) ph->phase[ry * sw + rx] = at, at += ph->qy[ry].out * ph->qx[rx].out;
    for (int64_t r = 0; r < d->h_in; r++) {
        const float *src = in + r * d->w_in;
        float *dst[CJ_DEINTERLEAVE_MAX];
        for (int64_t rx = 0; rx < sw; rx++) dst[rx] = ph->phase[r % sh * sw + rx] + r / sh * ph->qx[rx].out;
        if (sw == 1) memcpy(dst[0], src, sizeof(float) * (size_t)d->w_in);
        else cj_f32_split_row__avx512(src, d->w_in, sw, dst);
    }
}

/* The stride-1 problem of input phase (ry, rx) with its sub-kernel's taps in order; dst the
 * output (or grad_output) plane. */
static cj_dw_plane phase_plane(const cj_conv_desc *d, const input_phases *ph, int64_t ry, int64_t rx, float *dst) {
    const cj_phase_axis *y = &ph->qy[ry], *x = &ph->qx[rx];
    return (cj_dw_plane){.src = ph->phase[ry * d->stride_w + rx], .src_h = y->out, .src_w = x->out, .dst = dst,
                         .dst_h = d->h_out, .dst_w = d->w_out, .kh = y->taps, .kw = x->taps, .off_h = -y->pad,
                         .off_w = -x->pad, .dil_h = y->dil, .dil_w = x->dil};
}

static bool phase_read(const input_phases *ph, int64_t ry, int64_t rx) {
    return ph->qy[ry].taps && ph->qx[rx].taps && ph->qy[ry].out && ph->qx[rx].out;
}

static void backward_data_strided_plane(const cj_conv_desc *d, const float *dy, const float *w, float *gin,
                                        float *phases) {
    const int64_t sh = d->stride_h, sw = d->stride_w;
    cj_phase_axis px[CJ_DEINTERLEAVE_MAX];
    for (int64_t rx = 0; rx < sw; rx++) px[rx] = cj_grad_input_phase(rx, sw, d->pad_w, d->dil_w, d->kw, d->w_in);
    float sub[CJ_DW_MAX_KW * CJ_DW_MAX_KW];
    for (int64_t ry = 0; ry < sh; ry++) {
        const cj_phase_axis py = cj_grad_input_phase(ry, sh, d->pad_h, d->dil_h, d->kh, d->h_in);
        if (py.out == 0) continue;
        float *phase[CJ_DEINTERLEAVE_MAX];
        float *at = phases;
        for (int64_t rx = 0; rx < sw; rx++) {
            phase[rx] = at;
            at += py.out * px[rx].out;
            if (px[rx].out == 0) continue;
            if (py.taps == 0 || px[rx].taps == 0) { /* no tap reaches the phase */
                memset(phase[rx], 0, sizeof(float) * (size_t)(py.out * px[rx].out));
                continue;
            }
            /* the sub-kernel rotated: its tap (a, b) is kernel tap first + (taps - 1 - a) * step */
            for (int64_t a = 0; a < py.taps; a++)
                for (int64_t b = 0; b < px[rx].taps; b++)
                    sub[a * px[rx].taps + b] = w[(py.first + (py.taps - 1 - a) * py.step) * d->kw + px[rx].first +
                                                 (px[rx].taps - 1 - b) * px[rx].step];
            const cj_dw_plane p = {.src = dy, .src_h = d->h_out, .src_w = d->w_out, .dst = phase[rx],
                                   .dst_h = py.out, .dst_w = px[rx].out, .kh = py.taps, .kw = px[rx].taps,
                                   .off_h = -py.pad, .off_w = -px[rx].pad, .dil_h = py.dil, .dil_w = px[rx].dil};
            cj_f32_dwconv_plane__avx512(&p, sub, 0.0f);
        }
        /* rows ry, ry + sh, ...: phase rx's row u holds columns rx, rx + sw, ...; a phase further
         * into the stride is never longer (ceil((w_in - rx) / sw)), so the last one's length is
         * woven for all and the longer ones add their last element */
        const int64_t woven = px[sw - 1].out;
        for (int64_t u = 0; u < py.out; u++) {
            float *row = gin + (ry + sh * u) * d->w_in;
            const float *src[CJ_DEINTERLEAVE_MAX];
            for (int64_t rx = 0; rx < sw; rx++) src[rx] = phase[rx] + u * px[rx].out;
            if (sw == 1) {
                memcpy(row, src[0], sizeof(float) * (size_t)d->w_in);
                continue;
            }
            cj_f32_interleave__avx512(row, sw, woven, src);
            for (int64_t rx = 0; rx < sw; rx++)
                if (px[rx].out > woven) row[rx + sw * woven] = src[rx][woven];
        }
    }
}

/* grad_w's kh x kw taps += the plane's sums; gsum: see cj_direct_dw_wgrad_planes. */
static void wgrad_strided_plane(const cj_conv_desc *d, const float *in, const float *dy, float *dw, double *gsum,
                                float *scratch) {
    const int64_t sh = d->stride_h, sw = d->stride_w;
    input_phases ph;
    split_input(d, in, scratch, &ph);
    const cj_phase_axis *qy = ph.qy, *qx = ph.qx;
    float sub[CJ_DW_MAX_KW * CJ_DW_MAX_KW];
    for (int64_t ry = 0; ry < sh; ry++)
        for (int64_t rx = 0; rx < sw; rx++) {
            if (!phase_read(&ph, ry, rx)) continue;
            memset(sub, 0, sizeof sub);
            const cj_dw_plane p = phase_plane(d, &ph, ry, rx, (float *)dy);
            cj_f32_dwconv_wgrad_plane__avx512(&p, sub, gsum);
            gsum = NULL; /* the plane's sum once */
            for (int64_t a = 0; a < qy[ry].taps; a++)
                for (int64_t b = 0; b < qx[rx].taps; b++)
                    dw[(qy[ry].first + a * qy[ry].step) * d->kw + qx[rx].first + b * qx[rx].step] +=
                        sub[a * qx[rx].taps + b];
        }
    if (gsum) *gsum += cj_dw_plane_sum(dy, d->h_out * d->w_out); /* no phase read: still the bias's sum */
}

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
    if (dw_strided(d)) {
        float *scratch = j->stages + (size_t)slot * (size_t)strided_scratch_floats(d);
        for (int64_t t = t0; t < t1; t++) {
            const int64_t k = t % d->c_out;
            if (j->backward)
                backward_data_strided_plane(d, j->src + t * plane_out, j->w + k * taps, j->dst + t * plane_in, scratch);
            else {
                const cj_dw_plane p = forward_plane(d, j->src + input_plane(d, t), j->dst + t * plane_out);
                cj_f32_dwconv_strided__avx512(&p, d->stride_h, d->stride_w, j->w + k * taps,
                                              j->bias ? j->bias[k] : 0.0f, scratch);
            }
        }
        return;
    }
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
    const size_t stage_bytes = cj_direct_dw_stage_bytes(d, j.slots);
    if (stage_bytes) {
        CJ_FORWARD(cj_scratch_acquire(ctx, stage_bytes, &s));
        j.stages = s.ptr;
    }
    cj_parallel_for(ctx, (size_t)j.slots, dw_task, &j);
    if (j.stages) cj_scratch_release(ctx, &s);
    return CJ_OK;
}
#endif

size_t cj_direct_dw_stage_bytes(const cj_conv_desc *d, int64_t slots) {
#if defined(CJ_HAVE_X86_KERNELS)
    if (cj_cpu()->isa != CJ_ISA_AVX512) return (size_t)slots * CJ_DW_STAGE_FLOATS * sizeof(float);
    if (dw_strided(d)) return (size_t)slots * (size_t)strided_scratch_floats(d) * sizeof(float);
#endif
    (void)d, (void)slots;
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
        if (dw_strided(d)) wgrad_strided_plane(d, p.src, p.dst, dw, gsum, stage);
        else if (cj_cpu()->isa != CJ_ISA_AVX512) cj_f32_dwconv_wgrad_plane__avx2(&p, dw, stage, gsum);
        else cj_f32_dwconv_wgrad_plane__avx512(&p, dw, gsum);
    }
#else
    (void)d, (void)in, (void)grad_out, (void)t0, (void)t1, (void)grad_w, (void)bias_sums, (void)stage;
#endif
}
