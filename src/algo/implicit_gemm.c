/* CJ_ALGO_IMPLICIT_GEMM: every configuration and pass, as GEMMs whose B panels are packed straight
 * from the tensors (implicit_pack.c), so no column matrix is written or read back.
 *
 *   forward       Y_g = W_g * B, B packed from the input
 *   grad_weight   dW_g += dY_g * B^T, B^T packed from the input through a small transposed tile
 *   grad_input    a forward correlation of grad_output with the rotated, channel-swapped weight,
 *                 split into stride phases (sh*sw stride-1 sub-problems) so that no zero is
 *                 multiplied in and nothing is scattered by col2im. */
#include "algo/gemm_conv.h"
#include "algo/stride_phases.h"
#include "arch/cpu.h"
#include "kernels/gather.h"
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

/* Whether a phase's tap columns go by the AVX-512 gather (f32, MR 8, strides it can index):
 * decided once per phase, not per column. */
static int gather_applies(const cj_conv_desc *d, const cj_gemm_config *cfg) {
#if defined(CJ_HAVE_X86_KERNELS)
    return d->dtype == CJ_F32 && cj_cpu()->isa == CJ_ISA_AVX512 && cfg->mr == 8 &&
           d->kh * d->kw < ((int64_t)1 << 31) / 16;
#else
    (void)d, (void)cfg;
    return 0;
#endif
}
static void gather_panels_f32(const float *src, int64_t stride, int64_t rows, float *out, int64_t step) {
#if defined(CJ_HAVE_X86_KERNELS)
    cj_f32_gather_panels__avx512(src, stride, rows, out, step);
#else
    (void)src, (void)stride, (void)rows, (void)out, (void)step;
#endif
}
static void gather_panels_f64(const double *src, int64_t stride, int64_t rows, double *out, int64_t step) {
    (void)src, (void)stride, (void)rows, (void)out, (void)step; /* never asked: gather_applies is f32's */
}

/* The phase's weights, wt[g*cin_g + c][k][ty][tx] = w[g*cout_g + k][c][tap_y(taps_y-1-ty)][tap_x(
 * taps_x-1-tx)] (stride 1: the whole kernel reversed), written straight in the layout the
 * phase's forward GEMM packs its A in (cj_packed_a_at's; rows past cin_g zero), for kernels
 * (g, k) in [t0, t1): kernel k's cin_g * kh * kw contiguous values (in L1 after its first tap)
 * give each tap's column to every panel. resnet50.res5.3x3's grad_input at 1 thread spent 30%
 * rotating into a copy (loop set-up per element) and packing that, 15% this way; 19% with the
 * panels outer and the taps inner, and about 30% with the panels outermost (each reading a few
 * lines of every kernel: a miss a line). */
#define DEFINE_PHASE_WEIGHT(T, suffix)                                                            \
    static void phase_weight_##suffix(const cj_conv_desc *d, const cj_gemm_config *cfg, const int64_t *tap_src, \
                                      int64_t taps, int gather, const T *w, char *packed,          \
                                      size_t group_bytes, int64_t t0, int64_t t1) {                \
        const int64_t mr = cfg->mr, rows = d->cin_g, khkw = d->kh * d->kw, K = d->cout_g * taps;   \
        for (int64_t t = t0; t < t1; t++) {                                                        \
            const int64_t g = t / d->cout_g, k = t % d->cout_g;                                    \
            T *base = (T *)(packed + (size_t)g * group_bytes);                                     \
            const T *wk = w + t * rows * khkw;                                                     \
            for (int64_t tq = 0; tq < taps; tq++) {                                                \
                const int64_t q = k * taps + tq, at = cj_packed_a_at(cfg, rows, K, 0, q);          \
                const int64_t step = cj_packed_a_at(cfg, rows, K, mr, q) - at; /* panel to panel */ \
                const T *src = wk + tap_src[tq];                                                   \
                T *out = base + at;                                                                \
                if (gather) {                                                                      \
                    gather_panels_##suffix(src, khkw, rows, out, step);                            \
                    continue;                                                                      \
                }                                                                                  \
                for (int64_t c0 = 0; c0 < rows; c0 += mr, out += step) {                           \
                    const int64_t live = cj_min64(mr, rows - c0);                                  \
                    for (int64_t i = 0; i < live; i++) out[i] = src[(c0 + i) * khkw];              \
                    for (int64_t i = live; i < mr; i++) out[i] = 0;                                \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* Row phase ry of one image, channels [c0, c1), column phases [0, count):                     \
     * grad_in[c][ry + sh*u][rx + sw*v] = phases[rx][c][u][v] (phases[rx] NULL: zero). Two column    \
     * phases (stride 2) are interleaved in one contiguous pass over the row, which the compiler     \
     * vectorises; strided single stores took 19% of resnet50.res3.3x3s2's grad_input. */          \
    static void phase_rows_##suffix(const cj_conv_desc *d, int64_t ry, const cj_phase_axis *py,        \
                                    const cj_phase_axis *px, const T *const *phases, int64_t count,    \
                                    T *grad_in, int64_t c0, int64_t c1) {                           \
        const int64_t sw = d->stride_w;                                                            \
        const int pair = sw == 2 && count == 2 && phases[0] && phases[1];                          \
        for (int64_t c = c0; c < c1; c++)                                                          \
            for (int64_t u = 0; u < py->out; u++) {                                                \
                T *row = grad_in + (c * d->h_in + ry + d->stride_h * u) * d->w_in;                  \
                if (pair) { /* px[0].out is px[1].out or one more */                              \
                    const T *a = phases[0] + (c * py->out + u) * px[0].out;                         \
                    const T *b = phases[1] + (c * py->out + u) * px[1].out;                         \
                    for (int64_t v = 0; v < px[1].out; v++) {                                      \
                        row[2 * v] = a[v];                                                         \
                        row[2 * v + 1] = b[v];                                                     \
                    }                                                                              \
                    if (px[0].out > px[1].out) row[2 * px[1].out] = a[px[1].out];                  \
                    continue;                                                                      \
                }                                                                                  \
                for (int64_t rx = 0; rx < count; rx++) {                                           \
                    const T *src = phases[rx] ? phases[rx] + (c * py->out + u) * px[rx].out : NULL; \
                    for (int64_t v = 0; v < px[rx].out; v++) row[rx + sw * v] = src ? src[v] : (T)0; \
                }                                                                                  \
            }                                                                                      \
    }
DEFINE_PHASE_WEIGHT(float, f32)
DEFINE_PHASE_WEIGHT(double, f64)

/* The phase's weights, kernels split between the threads (a 256 x 256 3x3 kernel was 0.3-0.5 ms
 * on one thread, while the GEMM after it runs on all). */
typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const int64_t *tap_src; /* per sub-kernel tap: its kernel tap i*kw + j */
    int64_t taps;
    int gather; /* gather_applies */
    const void *w;
    char *packed;
    size_t group_bytes;
    int64_t kernels, slots;
} phase_weight_job;

static void phase_weight_task(void *arg, size_t slot) {
    const phase_weight_job *j = arg;
    int64_t t0, t1;
    cj_split_range(j->kernels, j->slots, (int64_t)slot, &t0, &t1);
    if (j->d->dtype == CJ_F64)
        phase_weight_f64(j->d, j->cfg, j->tap_src, j->taps, j->gather, j->w, j->packed, j->group_bytes, t0, t1);
    else phase_weight_f32(j->d, j->cfg, j->tap_src, j->taps, j->gather, j->w, j->packed, j->group_bytes, t0, t1);
}

/* The kernel tap (i * kw + j) behind each of the phase's sub-kernel taps, which run backwards. */
static void phase_taps(const cj_conv_desc *d, const cj_phase_axis *py, const cj_phase_axis *px, int64_t *tap_src) {
    for (int64_t ty = 0; ty < py->taps; ty++)
        for (int64_t tx = 0; tx < px->taps; tx++) {
            const int64_t i = py->first + (py->taps - 1 - ty) * py->step;
            const int64_t j = px->first + (px->taps - 1 - tx) * px->step;
            tap_src[ty * px->taps + tx] = i * d->kw + j;
        }
}

/* The phase's weights packed for its sub-problem t, from its taps' tap_src. */
static void pack_phase_weights(cj_context *ctx, const cj_conv_desc *d, const cj_conv_desc *t, const cj_phase_axis *py,
                               const cj_phase_axis *px, const void *w, char *packed, const int64_t *tap_src) {
    const cj_gemm_config *cfg = cj_gemm_config_get(d->dtype);
    phase_weight_job pw = {d, cfg, tap_src, py->taps * px->taps, gather_applies(d, cfg), w, packed,
                           cj_gemm_conv_forward_packed_bytes(t) / (size_t)d->groups, d->c_out,
                           cj_min64(ctx->num_threads, d->c_out)};
    cj_parallel_for(ctx, (size_t)pw.slots, phase_weight_task, &pw);
}

/* The stride-1 phase's rotated weights where they lie (cj_weights_in_place), from its taps'
 * tap_src (every kernel tap): its GEMM's row c is input channel c, column k * kh * kw + tq kernel
 * k's tap tap_src[tq]. The packing it spares was 18% of resnet50.res4.3x3.n1's grad_input (a GEMM
 * over 196 pixels). */
static cj_weights_in_place phase_weights_in_place(const cj_conv_desc *d, const int64_t *tap_src, const void *w,
                                                  int32_t *koff) {
    const int64_t khkw = d->kh * d->kw;
    for (int64_t k = 0; k < d->cout_g; k++)
        for (int64_t tq = 0; tq < khkw; tq++) koff[k * khkw + tq] = (int32_t)(k * d->cin_g * khkw + tap_src[tq]);
    return (cj_weights_in_place){w, d->cout_g * d->cin_g * khkw, khkw, koff};
}

#define MAX_STRIDE_PHASES 16 /* column phases done together; wider strides go in runs of this many */
/* Images per GEMM of a stride phase with 2+ threads: as many as fit this much grad_input (at
 * least one). One image at a time ran 3 parallel sections per image and row phase, and the
 * 784-pixel GEMMs of resnet50.res3.3x3s2 left a thread waiting in each: 2 threads, min of 2 x 6
 * rounds, res3.3x3s2 6.45 -> 5.92 ms, 5 x 20 x 200^2 5x5 s3 3.93 -> 3.19, 8 x 96 x 28^2 s2 1.27 ->
 * 1.17. At 1 thread there is no one to wait for, and the batch's phases falling out of L2 before
 * they are stored cost 2-8%: one image there. */
#define PHASE_BATCH_BYTES ((size_t)8 << 20)

/* phase_rows over the threads, channels split, for the images of a batch: image i's column phase
 * r starts i phase sizes into phases[r], its grad_in one input image after image i - 1's. */
typedef struct {
    const cj_conv_desc *d;
    int64_t ry;
    const cj_phase_axis *py, *px;
    const void *const *phases;
    int64_t count, images;
    void *grad_in;
    int64_t slots;
} phase_rows_job;

static void phase_rows_task(void *arg, size_t slot) {
    const phase_rows_job *j = arg;
    const cj_conv_desc *d = j->d;
    int64_t c0, c1;
    cj_split_range(d->c_in, j->slots, (int64_t)slot, &c0, &c1);
    for (int64_t i = 0; i < j->images; i++) {
        const void *phases[MAX_STRIDE_PHASES];
        for (int64_t r = 0; r < j->count; r++)
            phases[r] = j->phases[r] ? (const char *)j->phases[r] +
                                           (size_t)(i * d->c_in * j->py->out * j->px[r].out) * d->elem
                                     : NULL;
        void *grad_in = (char *)j->grad_in + (size_t)(i * d->c_in * d->h_in * d->w_in) * d->elem;
        if (d->dtype == CJ_F64)
            phase_rows_f64(d, j->ry, j->py, j->px, (const double *const *)phases, j->count, grad_in, c0, c1);
        else
            phase_rows_f32(d, j->ry, j->py, j->px, (const float *const *)phases, j->count, grad_in, c0, c1);
    }
}

/* grad_input. Stride 1 is the single phase (0, 0) with every tap: the rotated kernel with padding
 * dil*(k-1) - pad, one GEMM problem for the whole batch. With a stride, one image and one row
 * phase and a batch of images at a time: each column phase's GEMM result goes to its part of a
 * buffer of the batch's size (the column phases' widths add up to w_in), then the row's phases
 * are stored together (so scratch holds at most PHASE_BATCH_BYTES of grad_input or one image,
 * never the whole batch, and the weights of a row's column phases). */
static cj_status implicit_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                        const void *w, void *grad_in) {
    const int64_t out_plane = d->c_out * d->h_out * d->w_out, in_plane = d->c_in * d->h_in * d->w_in;
    const int single = d->stride_h == 1 && d->stride_w == 1;
    const int64_t run = cj_min64(d->stride_w, MAX_STRIDE_PHASES); /* column phases at a time */
    /* Room for any phase's packed weights: those of the whole kernel (the GEMM's rows cin_g, its
     * depth cout_g * kh * kw), and the sub-kernel's taps. */
    cj_conv_desc whole = *d;
    whole.cout_g = d->cin_g, whole.cin_g = d->cout_g;
    const size_t wt_bytes = cj_gemm_conv_forward_packed_bytes(&whole);
    const size_t taps_bytes = (size_t)(d->kh * d->kw) * sizeof(int64_t);
    /* Stride 1: the weights read where they lie (phase_weights_in_place) when a forward GEMM over
     * the same pixels would. Not 1x1 kernels: the 8 rows of a column then share one line and the
     * next column is a kernel (C_in/g elements) further: 8 x 2048 x 7^2 -> 512 went 4.50 -> 10.0
     * ms. Nor stride phases: each image's GEMMs read the weights again, in sub-kernels whose few
     * taps leave most of each line unread: 8 x 256 x 28^2 3x3 s2 10.4 -> 12.9 ms. */
    const int in_place = single && d->kh * d->kw > 1 && d->cout_g * d->cin_g * d->kh * d->kw <= INT32_MAX &&
                         cj_gemm_conv_weights_in_place(d->dtype, d->n * d->h_in * d->w_in);
    const size_t koff_bytes = in_place ? (size_t)(d->cout_g * d->kh * d->kw) * sizeof(int32_t) : 0;
    const size_t packed_bytes = in_place ? 0 : wt_bytes * (size_t)run;
    /* images per batch, evened out over the batch count */
    const int64_t batch_max =
        ctx->num_threads == 1 ? 1 : cj_max64(1, cj_min64(d->n, (int64_t)(PHASE_BATCH_BYTES / ((size_t)in_plane * d->elem))));
    const int64_t batch = cj_div_up(d->n, cj_div_up(d->n, batch_max));
    const size_t phase_bytes = single ? 0 : (size_t)(batch * in_plane) * d->elem; /* every column phase of a batch */
    const size_t mem_bytes = packed_bytes + taps_bytes + phase_bytes + koff_bytes;
    char *mem = cj_alloc(mem_bytes);
    CJ_FAIL_IF(!mem, CJ_ERR_OUT_OF_MEMORY, "implicit_gemm: cannot allocate %zu bytes for grad_input", mem_bytes);
    int64_t *tap_src = (int64_t *)(mem + packed_bytes); /* after 64-byte multiples */
    char *phase_mem = (char *)tap_src + taps_bytes;
    int32_t *koff = (int32_t *)(phase_mem + phase_bytes); /* in_place (stride 1): no phases */
    cj_status st = CJ_OK;
    for (int64_t ry = 0; ry < d->stride_h && st == CJ_OK; ry++) {
        const cj_phase_axis py = cj_grad_input_phase(ry, d->stride_h, d->pad_h, d->dil_h, d->kh, d->h_in);
        if (py.out == 0) continue;
        for (int64_t rx0 = 0; rx0 < d->stride_w && st == CJ_OK; rx0 += run) {
            const int64_t count = cj_min64(run, d->stride_w - rx0);
            cj_phase_axis px[MAX_STRIDE_PHASES];
            cj_conv_desc t[MAX_STRIDE_PHASES];
            const void *phases[MAX_STRIDE_PHASES];
            size_t offset = 0;
            for (int64_t r = 0; r < count; r++) {
                px[r] = cj_grad_input_phase(rx0 + r, d->stride_w, d->pad_w, d->dil_w, d->kw, d->w_in);
                /* The sub-problem: input = grad_output, output = this phase of grad_input. */
                t[r] = *d;
                t[r].c_in = d->c_out, t[r].h_in = d->h_out, t[r].w_in = d->w_out;
                t[r].c_out = d->c_in, t[r].h_out = py.out, t[r].w_out = px[r].out;
                t[r].cin_g = d->cout_g, t[r].cout_g = d->cin_g;
                t[r].kh = py.taps, t[r].kw = px[r].taps, t[r].stride_h = t[r].stride_w = 1;
                t[r].dil_h = py.dil, t[r].dil_w = px[r].dil, t[r].pad_h = py.pad, t[r].pad_w = px[r].pad;
                t[r].n = single ? d->n : 1;
                const int empty = py.taps == 0 || px[r].taps == 0 || px[r].out == 0;
                phases[r] = empty ? NULL : phase_mem + offset;
                offset += (size_t)(batch * d->c_in * py.out * px[r].out) * d->elem;
                phase_taps(d, &py, &px[r], tap_src);
                if (!empty && !in_place)
                    pack_phase_weights(ctx, d, &t[r], &py, &px[r], w, mem + wt_bytes * (size_t)r, tap_src);
            }
            if (single) { /* the phase is the whole of grad_input, for the whole batch at once */
                if (in_place) {
                    const cj_weights_in_place wv = phase_weights_in_place(d, tap_src, w, koff);
                    st = cj_gemm_conv_forward_in_place(ctx, &t[0], CJ_GEMM_CONV_IMPLICIT, grad_out, &wv, NULL, grad_in);
                } else st = cj_gemm_conv_forward(ctx, &t[0], CJ_GEMM_CONV_IMPLICIT, grad_out, NULL, mem, NULL, grad_in);
                continue;
            }
            for (int64_t n = 0; n < d->n && st == CJ_OK; n += batch) {
                const int64_t images = cj_min64(batch, d->n - n);
                const char *dy = (const char *)grad_out + (size_t)(n * out_plane) * d->elem;
                for (int64_t r = 0; r < count && st == CJ_OK; r++) {
                    t[r].n = images;
                    if (phases[r])
                        st = cj_gemm_conv_forward(ctx, &t[r], CJ_GEMM_CONV_IMPLICIT, dy, NULL,
                                                  mem + wt_bytes * (size_t)r, NULL, (void *)phases[r]);
                }
                if (st != CJ_OK) break;
                /* phase_rows indexes phases by column phase from 0: shift the run's grad_in */
                phase_rows_job pr = {d, ry, &py, px, phases, count, images,
                                     (char *)grad_in + (size_t)(n * in_plane + rx0) * d->elem,
                                     cj_min64(ctx->num_threads, d->c_in)};
                cj_parallel_for(ctx, (size_t)pr.slots, phase_rows_task, &pr);
            }
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
