/* CJ_ALGO_DIRECT's channel-vector path (kernels/direct_ocv.h): f32 on AVX-512 and AVX2, for layers with 32
 * or more output channels per group, where vectors along the output channels fill every lane
 * whatever the row width (lenet.conv2's 14-wide rows left an eighth of the pixel-vector kernel's
 * lanes idle and reloaded each pixel vector per block of 8 channels: 52% of the FMA peak there).
 *
 * Forward: per task (image, group, band of output rows) the band's input rows are staged once
 * (direct_common.h); per output row, blocks of 32 output channels x tiles of up to 14 pixels are
 * accumulated in registers over (input channel, kernel row) sources and kernel-column taps, then
 * transposed into NCHW with the bias by the kernel. The weights are packed once per call as [group][block][c][i][j][32].
 *
 * grad_input, stride 1: the same correlation run over grad_output, with the kernel rotated by 180
 * degrees and its channel axes swapped, at padding (k-1)*dil - pad (at most the kernel's reach,
 * so never negative here). Each result element is owned by one task: the bits do not depend on
 * the thread count. */
#include <string.h>

#include "algo/direct.h"
#include "algo/direct_common.h"
#include "kernels/direct_ocv.h"
#include "util/checked.h"
#include "util/error.h"

#define BLOCK CJ_OCV_BLOCK

bool cj_direct_ocv_ok(const cj_conv_desc *d, cj_pass pass) {
#if defined(CJ_HAVE_X86_KERNELS)
    if (d->dtype != CJ_F32) return false;
    if (cj_cpu()->isa != CJ_ISA_AVX512 && cj_cpu()->isa != CJ_ISA_AVX2) return false;
    /* AVX2's register tiles (16 channels x 6 pixels) read a block's weights once per tile of 14
     * pixels (in chunks that stay in L1 for the tile's 4-6 register tiles): blocks beyond half
     * of L2 stream from L3 and the path runs at a third of the GEMMs' speed (deeplab.dil2, 590
     * KiB per block, on Zen 3: 650 ms against 250), and at 300 KiB it already trails them
     * (resnet50.res4.3x3.n1 6.7 ms against implicit GEMM's 5.4; alexnet.conv2 151 against FFT's
     * 102); lenet.conv2's grad_input, 200 KiB, takes 13.3 ms against FFT's 20.7. */
    const int64_t sources = pass == CJ_PASS_BACKWARD_DATA ? d->cout_g : d->cin_g;
    const int64_t block_bytes = sources * d->kh * d->kw * BLOCK * (int64_t)sizeof(float);
    if (cj_cpu()->isa == CJ_ISA_AVX2 && block_bytes > (int64_t)cj_cpu()->l2_bytes / 2) return false;
    /* One input channel too, since 5 and 3 evenly spaced taps run unrolled: on Zen 3 with AVX2 the
     * path takes lenet.conv1's forward in 1.39 ms against the plane kernels' (direct_dw.c) 1.97
     * at 1 thread, 0.70 against 0.98 at 2, and a 7x7 (16 x 1 x 48 x 48 -> 48) in 2.23 against
     * 5.50 (medians of 5 alternating runs). */
    if (pass != CJ_PASS_BACKWARD_DATA) return d->cout_g >= BLOCK;
    if (d->cin_g < BLOCK || d->stride_h != 1 || d->stride_w != 1) return false;
    return d->pad_h <= (d->kh - 1) * d->dil_h && d->pad_w <= (d->kw - 1) * d->dil_w;
#else
    (void)d, (void)pass;
    return false;
#endif
}

bool cj_direct_ocv_flatten(const cj_conv_desc *d, int threads, cj_conv_desc *flat) {
    if (d->kw != 1 || d->pad_w != 0 || d->stride_h != 1 || d->stride_w != 1 || d->h_out < 2) return false;
    /* lanes of the row's tiles that hold pixels; at most 7 pixels go two rows per call */
    const int64_t tiles = cj_div_up(d->w_out, CJ_OCV_MAX_NX);
    if (2 * d->w_out <= CJ_OCV_MAX_NX || 10 * d->w_out >= 9 * tiles * CJ_OCV_MAX_NX) return false;
    if (d->n * d->groups < CJ_DIRECT_TASKS_PER_THREAD * (int64_t)threads) return false;
    const int64_t plane = d->h_in * d->w_in, staged = plane + 2 * d->pad_h * d->w_in + 16;
    const int64_t dy = cj_round_up(d->cout_g, BLOCK) * d->h_out * d->w_out;
    if ((size_t)(d->cin_g * staged + dy) * d->elem > cj_cpu()->l2_bytes / 2) return false;
    *flat = *d;
    flat->h_in = flat->h_out = 1;
    flat->w_in = plane;
    flat->w_out = d->h_out * d->w_out;
    flat->kh = 1;
    flat->kw = d->kh;
    flat->pad_h = 0;
    flat->pad_w = d->pad_h * d->w_in;
    flat->dil_h = 1;
    flat->dil_w = d->dil_h * d->w_in;
    return true;
}

#if defined(CJ_HAVE_X86_KERNELS)
typedef struct {
    const cj_conv_desc *d;      /* the correlation run: forward's own, or grad_input's */
    void (*kernel)(const cj_ocv_args *);
    const float *w;
    bool transposed;            /* w is the forward weight of the grad_input problem */
    const float *in, *bias;
    float *out;
    float *packed;              /* [group][block][cin_g][kh][kw][32] */
    int64_t blocks, block_elems;
    int64_t nx, tiles;          /* pixels per tile (the last may be narrower), tiles per row */
    bool pairs;                 /* rows of at most 7 pixels: two rows per kernel call */
    cj_direct_input_plan plan;
    int64_t slots;
    char *slot_mem;             /* per slot: staged band, 2 source lists, tap offsets, a zero row */
    size_t lists_bytes, slot_bytes;
} ocv_job;

/* Weight (output channel r, input channel q, tap i, j) of the problem run, as stored in w. */
static float weight_at(const ocv_job *j, int64_t g, int64_t r, int64_t q, int64_t i, int64_t jj) {
    const cj_conv_desc *d = j->d;
    const int64_t taps = d->kh * d->kw;
    if (!j->transposed) return j->w[((g * d->cout_g + r) * d->cin_g + q) * taps + i * d->kw + jj];
    /* grad_input: r = an input channel, q = an output channel of the original layer (whose
     * weight is [C_out][C_in/g] = [q][r]), the kernel rotated */
    return j->w[((g * d->cin_g + q) * d->cout_g + r) * taps + (d->kh - 1 - i) * d->kw + (d->kw - 1 - jj)];
}

static void pack_task(void *arg, size_t slot) {
    const ocv_job *j = arg;
    const cj_conv_desc *d = j->d;
    int64_t u0, u1;
    cj_split_range(d->groups * j->blocks, j->slots, (int64_t)slot, &u0, &u1);
    for (int64_t u = u0; u < u1; u++) {
        const int64_t g = u / j->blocks, r0 = u % j->blocks * BLOCK;
        float *dst = j->packed + u * j->block_elems;
        for (int64_t q = 0; q < d->cin_g; q++)
            for (int64_t i = 0; i < d->kh; i++)
                for (int64_t jj = 0; jj < d->kw; jj++, dst += BLOCK)
                    for (int64_t m = 0; m < BLOCK; m++)
                        dst[m] = r0 + m < d->cout_g ? weight_at(j, g, r0 + m, q, i, jj) : 0.0f;
    }
}

/* The sources of output rows y and y + 1 for one paired call: every (c, i) that either row reads,
 * in the same order for both, a row outside the image reading the zero row. Returns their count. */
static int64_t paired_sources(const cj_conv_desc *d, const cj_direct_input_plan *pl, const cj_direct_band *b,
                              const float *stage, const float *zero, int64_t y, const float **src,
                              const float **src2, int64_t *woff) {
    int64_t nsrc = 0;
    for (int64_t c = 0; c < d->cin_g; c++)
        for (int64_t i = 0; i < d->kh; i++) {
            const float *rows[2];
            for (int r = 0; r < 2; r++) {
                const int64_t ih = (y + r) * d->stride_h - d->pad_h + i * d->dil_h;
                rows[r] = ih < 0 || ih >= d->h_in ? zero : stage + (c * (b->r1 - b->r0) + ih - b->r0) * pl->row_elems;
            }
            if (rows[0] == zero && rows[1] == zero) continue;
            src[nsrc] = rows[0];
            src2[nsrc] = rows[1];
            woff[nsrc++] = (c * d->kh + i) * d->kw * BLOCK;
        }
    return nsrc;
}

static void run_task(void *arg, size_t slot) {
    const ocv_job *j = arg;
    const cj_conv_desc *d = j->d;
    const cj_direct_input_plan *pl = &j->plan;
    char *stage = j->slot_mem + slot * j->slot_bytes;
    const int64_t sources = d->cin_g * d->kh;
    const float **src = (const float **)(stage + pl->stage_bytes), **src2 = src + sources;
    int64_t *woff = (int64_t *)(src2 + sources), *tap_off = woff + sources;
    float *zero = (float *)(stage + pl->stage_bytes + j->lists_bytes);
    const int64_t plane = d->h_out * d->w_out;
    memset(zero, 0, sizeof(float) * (size_t)pl->row_elems);
    for (int64_t t = 0; t < d->kw; t++) tap_off[t] = cj_direct_tap_offset(d, pl->pl, t);
    /* where a staged row holds the image's pixels (at stride 1: past pad_w zeros; strided rows
     * interleave their phases' padding, told as none) */
    const int64_t data0 = d->stride_w == 1 ? d->pad_w : 0, data1 = d->stride_w == 1 ? d->pad_w + d->w_in : INT64_MAX;
    int64_t t0, t1;
    cj_split_range(pl->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const cj_direct_band band = cj_direct_stage_band(d, pl, j->in, t, stage);
        const int64_t n = band.n, g = band.g;
        for (int64_t y = band.y0; y < band.y1;) {
            const int rows = j->pairs && y + 1 < band.y1 ? 2 : 1;
            const int64_t nsrc = rows == 2 ? paired_sources(d, pl, &band, (const float *)stage, zero, y, src, src2, woff)
                                           : cj_direct_row_sources(d, pl, &band, stage, y, BLOCK, (const void **)src, woff);
            for (int64_t b = 0; b < j->blocks; b++) {
                const int64_t k0 = g * d->cout_g + b * BLOCK, mr = cj_min64(BLOCK, d->cout_g - b * BLOCK);
                float *out = j->out + (n * d->c_out + k0) * plane + y * d->w_out;
                cj_ocv_args a = {.nsrc = nsrc, .src = src, .woff = woff,
                                 .w = j->packed + (g * j->blocks + b) * j->block_elems,
                                 .ntaps = d->kw, .tap_off = tap_off, .src2 = rows == 2 ? src2 : NULL,
                                 .ld_out = plane, .out2 = d->w_out, .mr = mr, .bias = j->bias ? j->bias + k0 : NULL,
                                 .data0 = data0, .data1 = data1};
                for (int64_t xt = 0; xt < j->tiles; xt++) {
                    a.x0 = xt * j->nx;
                    a.nx = cj_min64(j->nx, d->w_out - a.x0);
                    a.out = out + a.x0;
                    j->kernel(&a);
                }
            }
            y += rows;
        }
    }
}

static cj_status run(cj_context *ctx, ocv_job *j) {
    const cj_conv_desc *d = j->d;
    j->kernel = cj_cpu()->isa == CJ_ISA_AVX512 ? cj_f32_direct_ocv__avx512 : cj_f32_direct_ocv__avx2;
    j->blocks = cj_div_up(d->cout_g, BLOCK);
    j->block_elems = d->cin_g * d->kh * d->kw * BLOCK;
    j->tiles = cj_div_up(d->w_out, CJ_OCV_MAX_NX);
    j->nx = cj_div_up(d->w_out, j->tiles);
    /* A staged row holds the row's pixels plus the widest tap shift, per stride phase. */
    j->plan = cj_direct_plan_input(d, cj_round_up(d->w_out + (d->kw - 1) * d->dil_w / d->stride_w + 1, 16),
                                   ctx->num_threads);
    j->pairs = 2 * d->w_out <= CJ_OCV_MAX_NX;
    const int64_t sources = d->cin_g * d->kh;
    j->lists_bytes = cj_direct_align64((size_t)sources * (2 * sizeof(float *) + sizeof(int64_t)) +
                                       (size_t)d->kw * sizeof(int64_t));
    j->slot_bytes = j->plan.stage_bytes + j->lists_bytes + cj_direct_align64(sizeof(float) * (size_t)j->plan.row_elems);
    const size_t packed_bytes = cj_direct_align64(sizeof(float) * (size_t)(d->groups * j->blocks * j->block_elems));
    j->slots = cj_min64(ctx->num_threads, cj_max64(j->plan.tasks, d->groups * j->blocks));
    size_t total;
    CJ_FAIL_IF(!cj_size_mad(j->slot_bytes, (size_t)j->slots, packed_bytes, &total), CJ_ERR_OUT_OF_MEMORY,
               "direct convolution: the scratch size overflows");
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, total, &s));
    j->packed = s.ptr;
    j->slot_mem = (char *)s.ptr + packed_bytes;
    cj_parallel_for(ctx, (size_t)j->slots, pack_task, j);
    j->slots = cj_min64(j->slots, j->plan.tasks);
    cj_parallel_for(ctx, (size_t)j->slots, run_task, j);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}

cj_status cj_direct_ocv_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                const void *bias, void *out) {
    cj_conv_desc flat;
    if (cj_direct_ocv_flatten(d, ctx->num_threads, &flat)) d = &flat;
    ocv_job j = {.d = d, .w = w, .in = in, .bias = bias, .out = out};
    return run(ctx, &j);
}

cj_status cj_direct_ocv_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out, const void *w,
                                      void *grad_in) {
    cj_conv_desc flat;
    if (cj_direct_ocv_flatten(d, ctx->num_threads, &flat)) d = &flat;
    cj_conv_desc t = *d;
    t.c_in = d->c_out, t.h_in = d->h_out, t.w_in = d->w_out;
    t.c_out = d->c_in, t.h_out = d->h_in, t.w_out = d->w_in;
    t.cin_g = d->cout_g, t.cout_g = d->cin_g;
    t.pad_h = (d->kh - 1) * d->dil_h - d->pad_h;
    t.pad_w = (d->kw - 1) * d->dil_w - d->pad_w;
    ocv_job j = {.d = &t, .w = w, .transposed = true, .in = grad_out, .out = grad_in};
    return run(ctx, &j);
}
#else
cj_status cj_direct_ocv_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                const void *bias, void *out) {
    (void)ctx, (void)d, (void)in, (void)w, (void)bias, (void)out;
    return CJ_ERR_UNSUPPORTED;
}
cj_status cj_direct_ocv_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out, const void *w,
                                      void *grad_in) {
    (void)ctx, (void)d, (void)grad_out, (void)w, (void)grad_in;
    return CJ_ERR_UNSUPPORTED;
}
#endif
