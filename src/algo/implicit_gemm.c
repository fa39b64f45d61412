/* CJ_ALGO_IMPLICIT_GEMM: every configuration and pass, as GEMMs whose B panels are packed straight
 * from the tensors (implicit_pack.c), so no column matrix is written or read back.
 *
 *   forward       Y_g = W_g * B, B packed from the input
 *   grad_weight   dW_g += dY_g * B^T, B^T packed from the input through a small transposed tile
 *   grad_input    a forward correlation of grad_output with the rotated, channel-swapped weight,
 *                 split into stride phases (sh*sw stride-1 sub-problems) so that no zero is
 *                 multiplied in and nothing is scattered by col2im. */
#include "algo/gemm_conv.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/memory.h"

static const char *implicit_unsupported(const cj_conv_desc *d, cj_pass pass) {
    (void)d;
    (void)pass;
    return NULL; /* every configuration */
}

static cj_status implicit_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                  const void *bias, void *out) {
    return cj_gemm_conv_forward(ctx, d, CJ_GEMM_CONV_IMPLICIT, in, w, NULL, bias, out);
}

static cj_status implicit_forward_prepared(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                           const void *packed_w, const void *bias, void *out) {
    return cj_gemm_conv_forward(ctx, d, CJ_GEMM_CONV_IMPLICIT, in, w, packed_w, bias, out);
}

static cj_status implicit_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                           const void *grad_out, void *grad_w) {
    return cj_gemm_conv_backward_weights(ctx, d, CJ_GEMM_CONV_IMPLICIT, in, grad_out, grad_w);
}

/* One stride phase of grad_input (see phase_plan): the input rows y = ry + sh*u (and columns
 * x = rx + sw*v) receive only the kernel taps i = i0 + T*m with (ry + ph - i*dh) divisible by sh,
 * which reach grad_output rows u - e_i with e_i in steps of D = dh / gcd(sh, dh). That is a stride-1
 * correlation of grad_output with a sub-kernel of those taps, rotated, dilation D, padding
 * e_i0 + (taps-1)*D: the same implicit GEMM forward, with no zeros multiplied in for the stride. */
typedef struct {
    int64_t first, step, taps; /* kernel taps first, first+step, ... (taps of them; 0: none) */
    int64_t pad, dil, out;     /* the sub-problem's padding, dilation and output extent */
} phase_axis;

static phase_axis phase_plan(int64_t r, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in) {
    phase_axis a = {0, stride / cj_gcd64(stride, dil), 0, 0, dil / cj_gcd64(stride, dil), 0};
    a.out = r < in ? (in - r + stride - 1) / stride : 0;
    a.first = -1;
    for (int64_t i = 0; i < k && i < a.step; i++)
        if (((r + pad - i * dil) % stride + stride) % stride == 0) {
            a.first = i;
            break;
        }
    if (a.first < 0) return a; /* no tap reaches this phase: its gradient is zero */
    a.taps = (k - 1 - a.first) / a.step + 1;
    const int64_t e0 = (a.first * dil - r - pad) / stride; /* exact: the numerator is a multiple */
    a.pad = e0 + (a.taps - 1) * a.dil;
    return a;
}

/* wt[g*cin_g + c][k][ty][tx] = w[g*cout_g + k][c][tap_y(taps_y-1-ty)][tap_x(taps_x-1-tx)] for the
 * rows (g*cin_g + c) in [r0, r1). When the phase takes every tap (stride 1), the sub-kernel is the
 * whole kernel reversed. */
#define DEFINE_PHASE_WEIGHT(T, suffix)                                                            \
    static void phase_weight_##suffix(const cj_conv_desc *d, const phase_axis *py, const phase_axis *px, \
                                      const T *w, T *wt, int64_t r0, int64_t r1) {                 \
        const int64_t taps = py->taps * px->taps, khkw = d->kh * d->kw;                            \
        const int whole = taps == khkw;                                                            \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            const int64_t g = r / d->cin_g, c = r % d->cin_g;                                      \
            for (int64_t k = 0; k < d->cout_g; k++) {                                              \
                const T *src = w + ((g * d->cout_g + k) * d->cin_g + c) * khkw;                    \
                T *dst = wt + (r * d->cout_g + k) * taps;                                          \
                if (whole) {                                                                       \
                    for (int64_t q = 0; q < khkw; q++) dst[q] = src[khkw - 1 - q];                 \
                    continue;                                                                      \
                }                                                                                  \
                for (int64_t ty = 0; ty < py->taps; ty++)                                          \
                    for (int64_t tx = 0; tx < px->taps; tx++) {                                    \
                        const int64_t i = py->first + (py->taps - 1 - ty) * py->step;              \
                        const int64_t j = px->first + (px->taps - 1 - tx) * px->step;              \
                        dst[ty * px->taps + tx] = src[i * d->kw + j];                              \
                    }                                                                              \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* grad_in[c][ry + sh*u][rx + sw*v] = phase[c][u][v] (or 0 when phase is NULL) */              \
    static void phase_store_##suffix(const cj_conv_desc *d, int64_t ry, int64_t rx, const phase_axis *py, \
                                     const phase_axis *px, const T *phase, T *grad_in) {           \
        for (int64_t c = 0; c < d->c_in; c++)                                                      \
            for (int64_t u = 0; u < py->out; u++) {                                                \
                T *row = grad_in + (c * d->h_in + ry + d->stride_h * u) * d->w_in + rx;             \
                const T *src = phase ? phase + (c * py->out + u) * px->out : NULL;                  \
                for (int64_t v = 0; v < px->out; v++) row[d->stride_w * v] = src ? src[v] : (T)0;  \
            }                                                                                      \
    }
DEFINE_PHASE_WEIGHT(float, f32)
DEFINE_PHASE_WEIGHT(double, f64)

/* The phase's weights, rows split between the threads (a 256 x 256 3x3 kernel was 0.3-0.5 ms on
 * one thread, while the GEMM after it runs on all). */
typedef struct {
    const cj_conv_desc *d;
    const phase_axis *py, *px;
    const void *w;
    void *wt;
    int64_t slots;
} phase_weight_job;

static void phase_weight_task(void *arg, size_t slot) {
    const phase_weight_job *j = arg;
    int64_t r0, r1;
    cj_split_range(j->d->c_in, j->slots, (int64_t)slot, &r0, &r1);
    if (j->d->dtype == CJ_F64) phase_weight_f64(j->d, j->py, j->px, j->w, j->wt, r0, r1);
    else phase_weight_f32(j->d, j->py, j->px, j->w, j->wt, r0, r1);
}

/* grad_input, one image and one stride phase at a time (the phase's result is scattered to its
 * strided positions, so scratch holds one image's phase, never the batch). Stride 1 is the
 * single phase (0, 0) with every tap: the rotated kernel with padding dil*(k-1) - pad. */
static cj_status implicit_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                        const void *w, void *grad_in) {
    const int64_t out_plane = d->c_out * d->h_out * d->w_out, in_plane = d->c_in * d->h_in * d->w_in;
    const int single = d->stride_h == 1 && d->stride_w == 1;
    const size_t wt_bytes = (size_t)(d->c_out * d->cin_g * d->kh * d->kw) * d->elem;
    const size_t phase_bytes = single ? 0 : (size_t)in_plane * d->elem; /* >= any phase of one image */
    char *mem = cj_alloc(wt_bytes + phase_bytes);
    CJ_FAIL_IF(!mem, CJ_ERR_OUT_OF_MEMORY, "implicit_gemm: cannot allocate %zu bytes for grad_input",
               wt_bytes + phase_bytes);
    char *phase = mem + wt_bytes;
    cj_status st = CJ_OK;
    for (int64_t ry = 0; ry < d->stride_h && st == CJ_OK; ry++)
        for (int64_t rx = 0; rx < d->stride_w && st == CJ_OK; rx++) {
            const phase_axis py = phase_plan(ry, d->stride_h, d->pad_h, d->dil_h, d->kh, d->h_in);
            const phase_axis px = phase_plan(rx, d->stride_w, d->pad_w, d->dil_w, d->kw, d->w_in);
            if (py.out == 0 || px.out == 0) continue;
            /* The sub-problem: input = grad_output, output = this phase of grad_input. */
            cj_conv_desc t = *d;
            t.c_in = d->c_out, t.h_in = d->h_out, t.w_in = d->w_out;
            t.c_out = d->c_in, t.h_out = py.out, t.w_out = px.out;
            t.cin_g = d->cout_g, t.cout_g = d->cin_g;
            t.kh = py.taps, t.kw = px.taps, t.stride_h = t.stride_w = 1;
            t.dil_h = py.dil, t.dil_w = px.dil, t.pad_h = py.pad, t.pad_w = px.pad;
            const int empty = py.taps == 0 || px.taps == 0;
            if (!empty) {
                phase_weight_job pw = {d, &py, &px, w, mem, cj_min64(ctx->num_threads, d->c_in)};
                cj_parallel_for(ctx, (size_t)pw.slots, phase_weight_task, &pw);
            }
            if (single) { /* the phase is the whole of grad_input, for the whole batch at once */
                st = cj_gemm_conv_forward(ctx, &t, CJ_GEMM_CONV_IMPLICIT, grad_out, mem, NULL, NULL, grad_in);
                continue;
            }
            t.n = 1;
            for (int64_t n = 0; n < d->n && st == CJ_OK; n++) {
                const char *dy = (const char *)grad_out + (size_t)(n * out_plane) * d->elem;
                char *dx = (char *)grad_in + (size_t)(n * in_plane) * d->elem;
                if (!empty) st = cj_gemm_conv_forward(ctx, &t, CJ_GEMM_CONV_IMPLICIT, dy, mem, NULL, NULL, phase);
                if (d->dtype == CJ_F64)
                    phase_store_f64(d, ry, rx, &py, &px, empty ? NULL : (const double *)phase, (double *)dx);
                else
                    phase_store_f32(d, ry, rx, &py, &px, empty ? NULL : (const float *)phase, (float *)dx);
            }
        }
    cj_free(mem);
    return st;
}

const cj_algo cj_algo_implicit_gemm = {
    .id = CJ_ALGO_IMPLICIT_GEMM,
    .unsupported = implicit_unsupported,
    .forward = implicit_forward,
    .backward_data = implicit_backward_data,
    .backward_weights = implicit_backward_weights,
    .prepared_bytes = cj_gemm_conv_forward_packed_bytes,
    .prepare = cj_gemm_conv_forward_pack,
    .forward_prepared = implicit_forward_prepared,
};
