/* CJ_ALGO_DIRECT's shared pieces (see direct_common.h). */
#include <math.h>
#include <string.h>

#include "algo/direct_common.h"
#include "arch/cpu.h"
#include "kernels/gather.h"
#include "util/checked.h"

int cj_direct_mr_class(int64_t channels) {
    if (channels <= 1) return 0;
    return channels <= 4 ? 1 : 2;
}

int64_t cj_direct_even_tile(int64_t count, int64_t max) {
    return cj_div_up(count, cj_div_up(count, max));
}

/* A strided phase's data: n elements of in, every s-th, into o. */
#define DEFINE_GATHER(T, sfx)                                                                      \
    static void gather_##sfx(const T *in, int64_t s, int64_t n, T *o) {                            \
        for (int64_t m = 0; m < n; m++) o[m] = in[m * s];                                          \
    }
DEFINE_GATHER(float, f32)
DEFINE_GATHER(double, f64)

/* Staged positions [lo, hi) of phase p: the m with 0 <= m * stride + p - pad < len. */
static void phase_span(int64_t len, int64_t stride, int64_t pad, int64_t pl, int64_t p, int64_t *lo, int64_t *hi) {
    const int64_t first = pad - p, end = len + pad - p;
    *lo = cj_min64(pl, first <= 0 ? 0 : cj_div_up(first, stride));
    *hi = cj_max64(*lo, cj_min64(pl, end <= 0 ? 0 : cj_div_up(end, stride)));
}

/* Positions [m0, m1) of a phase: o[m] = src[at + m * stride] (elements of size e). */
static void stage_span(const cj_conv_desc *d, const void *src, int64_t at, int64_t stride, int64_t m0, int64_t m1,
                       char *o) {
    const size_t e = d->elem;
    if (m1 <= m0) return;
    const int64_t from = at + m0 * stride;
    if (stride == 1) memcpy(o + m0 * e, (const char *)src + from * e, (size_t)(m1 - m0) * e);
    else if (d->dtype == CJ_F64) gather_f64((const double *)src + from, stride, m1 - m0, (double *)o + m0);
    else gather_f32((const float *)src + from, stride, m1 - m0, (float *)o + m0);
}

/* The positions [*lo, *hi) where every phase holds data, when the vector de-interleave takes them
 * (f32 on AVX-512, 2..CJ_DEINTERLEAVE_MAX phases: one scalar load and store per element took 8%
 * of alexnet.conv1's forward); else false. */
static bool vector_span(const cj_conv_desc *d, int64_t len, int64_t stride, int64_t pad, int64_t pl, int64_t *lo,
                        int64_t *hi) {
#if defined(CJ_HAVE_X86_KERNELS)
    if (stride < 2 || stride > CJ_DEINTERLEAVE_MAX || d->dtype != CJ_F32 || cj_cpu()->isa < CJ_ISA_AVX512) return false;
    *lo = 0, *hi = pl;
    for (int64_t p = 0; p < stride; p++) {
        int64_t plo, phi;
        phase_span(len, stride, pad, pl, p, &plo, &phi);
        *lo = cj_max64(*lo, plo);
        *hi = cj_min64(*hi, phi);
    }
    return *hi > *lo;
#else
    (void)d, (void)len, (void)stride, (void)pad, (void)pl, (void)lo, (void)hi;
    return false;
#endif
}

void cj_direct_stage_rows(const cj_conv_desc *d, const void *src, int64_t planes, int64_t plane_stride,
                          int64_t len, int64_t r0, int64_t r1, int64_t stride, int64_t pad, int64_t pl,
                          void *dst) {
    const int64_t rows = r1 - r0, row_elems = stride * pl;
    const size_t e = d->elem;
    /* Stride 1: the zero padding in one pass over the block, then only the data (zeroing the ends
     * of each 14-pixel row apart, two library calls per row, took 3% of lenet.conv2's grad_input).
     * Strided rows are mostly data (alexnet.conv1's phases: 57 of 64 positions): their phases'
     * ends are zeroed row by row, so that each element is written once. */
    const bool zero_first = stride == 1;
    if (zero_first) memset(dst, 0, (size_t)(planes * rows * row_elems) * e);
    int64_t vlo = 0, vhi = 0; /* positions the vector kernel stages, after the phases' other ones */
    const bool vector = vector_span(d, len, stride, pad, pl, &vlo, &vhi);
    for (int64_t p = 0; p < stride; p++) {
        int64_t lo, hi;
        phase_span(len, stride, pad, pl, p, &lo, &hi);
        for (int64_t i = 0; i < planes; i++)
            for (int64_t r = r0; r < r1; r++) {
                char *o = (char *)dst + (size_t)((i * rows + r - r0) * row_elems + p * pl) * e;
                const int64_t at = i * plane_stride + r * len + p - pad; /* position m: src[at + m * stride] */
                if (!zero_first) {
                    memset(o, 0, (size_t)lo * e);
                    memset(o + hi * e, 0, (size_t)(pl - hi) * e);
                }
                if (vector) {
                    stage_span(d, src, at, stride, lo, vlo, o);
                    stage_span(d, src, at, stride, vhi, hi, o);
                } else {
                    stage_span(d, src, at, stride, lo, hi, o);
                }
            }
    }
#if defined(CJ_HAVE_X86_KERNELS)
    if (!vector) return;
    for (int64_t i = 0; i < planes; i++)
        for (int64_t r = r0; r < r1; r++) {
            float *o = (float *)dst + (i * rows + r - r0) * row_elems + vlo;
            float *phase[CJ_DEINTERLEAVE_MAX];
            for (int64_t p = 0; p < stride; p++) phase[p] = o + p * pl;
            cj_f32_deinterleave__avx512((const float *)src + i * plane_stride + r * len + vlo * stride - pad, stride,
                                        vhi - vlo, phase);
        }
#endif
}

int64_t cj_direct_packed_block(const cj_conv_desc *d, bool transposed, int64_t mr) {
    return (transposed ? d->cout_g : d->cin_g) * d->kh * d->kw * mr;
}

typedef struct {
    const cj_conv_desc *d;
    const char *w;
    char *dst;
    bool transposed;
    int64_t mr, blocks, block_elems, parts;
} pack_job;

static void pack_task(void *arg, size_t part) {
    const pack_job *j = arg;
    const cj_conv_desc *d = j->d;
    const int64_t khkw = d->kh * d->kw;
    const int64_t rows = j->transposed ? d->cin_g : d->cout_g, cols = j->transposed ? d->cout_g : d->cin_g;
    /* Element (row r, column q, tap) of group g in the [C_out, C_in/g, kh, kw] weight tensor. */
    const int64_t rs = j->transposed ? khkw : d->cin_g * khkw, qs = j->transposed ? d->cin_g * khkw : khkw;
    int64_t t0, t1;
    cj_split_range(d->groups * j->blocks, j->parts, (int64_t)part, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t g = t / j->blocks, b = t % j->blocks;
        const int64_t base = g * d->cout_g * d->cin_g * khkw;
        for (int64_t q = 0; q < cols; q++)
            for (int64_t tap = 0; tap < khkw; tap++)
                for (int64_t m = 0; m < j->mr; m++) {
                    const int64_t r = b * j->mr + m;
                    const int64_t o = t * j->block_elems + (q * khkw + tap) * j->mr + m;
                    const int64_t i = base + r * rs + q * qs + tap;
                    if (d->dtype == CJ_F64) ((double *)j->dst)[o] = r < rows ? ((const double *)j->w)[i] : 0;
                    else ((float *)j->dst)[o] = r < rows ? ((const float *)j->w)[i] : 0;
                }
    }
}

void cj_direct_pack_weights(cj_context *ctx, const cj_conv_desc *d, const void *w, bool transposed,
                            int64_t mr, void *dst) {
    const int64_t rows = transposed ? d->cin_g : d->cout_g;
    pack_job j = {.d = d, .w = w, .dst = dst, .transposed = transposed, .mr = mr,
                  .blocks = cj_div_up(rows, mr), .block_elems = cj_direct_packed_block(d, transposed, mr)};
    j.parts = cj_min64(ctx->num_threads, d->groups * j.blocks);
    cj_parallel_for(ctx, (size_t)j.parts, pack_task, &j);
}

int64_t cj_direct_band_rows(int64_t rows, int64_t outer, int threads) {
    const int64_t want = CJ_DIRECT_TASKS_PER_THREAD * (int64_t)threads;
    if (threads <= 1 || outer >= want) return rows;
    return cj_div_up(rows, cj_min64(rows, cj_div_up(want, outer)));
}

void cj_direct_input_rows(const cj_conv_desc *d, int64_t y0, int64_t y1, int64_t *r0, int64_t *r1) {
    *r0 = cj_max64(0, y0 * d->stride_h - d->pad_h);
    *r1 = cj_max64(*r0, cj_min64(d->h_in, (y1 - 1) * d->stride_h - d->pad_h + (d->kh - 1) * d->dil_h + 1));
}

cj_direct_input_plan cj_direct_plan_input(const cj_conv_desc *d, int64_t pl, int threads) {
    cj_direct_input_plan p = {.pl = pl, .row_elems = d->stride_w * pl};
    p.band = cj_direct_band_rows(d->h_out, d->n * d->groups, threads);
    /* Keep the staged band within half of L2 while a band has more than one row. */
    const size_t budget = cj_cpu()->l2_bytes / 2;
    for (;;) {
        const int64_t rows_in = cj_min64(d->h_in, (p.band - 1) * d->stride_h + (d->kh - 1) * d->dil_h + 1);
        p.stage_bytes = cj_direct_align64((size_t)(d->cin_g * rows_in * p.row_elems) * d->elem);
        if (p.band == 1 || p.stage_bytes <= budget) break;
        p.band = cj_div_up(p.band, 2);
    }
    p.bands = cj_div_up(d->h_out, p.band);
    p.tasks = d->n * d->groups * p.bands;
    return p;
}

bool cj_direct_weights_finite(const cj_conv_desc *d, const void *w) {
    const int64_t count = d->c_out * d->cin_g * d->kh * d->kw;
    for (int64_t i = 0; i < count; i++) {
        const double v = d->dtype == CJ_F64 ? ((const double *)w)[i] : (double)((const float *)w)[i];
        if (!isfinite(v)) return false;
    }
    return true;
}

cj_direct_band cj_direct_stage_band(const cj_conv_desc *d, const cj_direct_input_plan *pl, const void *in, int64_t t,
                                    void *stage) {
    cj_direct_band b = {.n = t / pl->bands / d->groups, .g = (t / pl->bands) % d->groups};
    b.y0 = t % pl->bands * pl->band;
    b.y1 = cj_min64(d->h_out, b.y0 + pl->band);
    cj_direct_input_rows(d, b.y0, b.y1, &b.r0, &b.r1);
    const int64_t plane_in = d->h_in * d->w_in;
    const char *image = (const char *)in + (size_t)((b.n * d->c_in + b.g * d->cin_g) * plane_in) * d->elem;
    if (b.r1 > b.r0)
        cj_direct_stage_rows(d, image, d->cin_g, plane_in, d->w_in, b.r0, b.r1, d->stride_w, d->pad_w, pl->pl, stage);
    return b;
}

int64_t cj_direct_row_sources(const cj_conv_desc *d, const cj_direct_input_plan *pl, const cj_direct_band *b,
                              const void *stage, int64_t y, int64_t mr, const void **src, int64_t *woff) {
    /* The kernel rows inside the image, [i0, i1), are the same for every channel: the lists are
     * then filled by steps. (Six multiplications per source, recomputed for each of a row's 320
     * sources, took 5% of lenet.conv2's grad_input.) */
    const int64_t ih0 = y * d->stride_h - d->pad_h;
    int64_t i0 = 0, i1 = d->kh;
    while (i0 < i1 && ih0 + i0 * d->dil_h < 0) i0++;
    while (i1 > i0 && ih0 + (i1 - 1) * d->dil_h >= d->h_in) i1--;
    if (i0 == i1) return 0;
    const size_t row_bytes = (size_t)pl->row_elems * d->elem, channel_bytes = (size_t)(b->r1 - b->r0) * row_bytes;
    const char *first = (const char *)stage + (size_t)(ih0 + i0 * d->dil_h - b->r0) * row_bytes;
    const size_t src_step = (size_t)d->dil_h * row_bytes;
    const int64_t woff_step = d->kw * mr, channels = d->cin_g, rows = i1 - i0;
    int64_t nsrc = 0;
    for (int64_t c = 0; c < channels; c++) {
        const char *p = first + (size_t)c * channel_bytes;
        int64_t w = (c * d->kh + i0) * woff_step;
        for (int64_t i = 0; i < rows; i++, nsrc++, p += src_step, w += woff_step) {
            src[nsrc] = p;
            woff[nsrc] = w;
        }
    }
    return nsrc;
}
