/* CJ_ALGO_DIRECT grad_input, as a gather (no scatter, no col2im): every grad_input element is
 * accumulated once, in registers, from the grad_output values that reach it.
 *
 *   grad_in[c][h][w] = sum_{k, i, j} grad_out[k][y][x] * W[k][c][i][j],  y*sh = h + ph - i*dh,
 *                                                                          x*sw = w + pw - j*dw
 * The columns of one row split into stride phases w = rx + sw*t; in phase rx only the kernel
 * columns j with (rx + pw - j*dw) divisible by sw contribute, each at a fixed shift e_j:
 * x = t + e_j. So every phase is a stride-1 gather over grad_output rows staged with zero padding
 * (direct_common.h), and the rows h likewise take only the kernel rows i with y an integer. With
 * sw > 1 a phase is computed into a small row and interleaved into grad_in. Tasks are (image,
 * group, band of grad_in rows): each grad_in element is owned by one task, so results do not
 * depend on the thread count. */
#include <math.h>

#include "algo/direct.h"
#include "algo/direct_common.h"
#include "util/checked.h"
#include "util/error.h"

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

typedef struct {
    const cj_conv_desc *d;
    cj_direct_gather_fn kernel;
    const char *grad_out;
    char *grad_in;
    const char *packed;
    bool finite;                             /* every weight finite: the kernels are exact */
    int64_t mr, blocks, block_elems;
    const int64_t *ntaps, *tap_off, *tap_w;  /* per phase rx: ntaps[rx], lists at rx * kw */
    int64_t pad_l, pl, t_max, tmp_ld, band, bands, tasks, slots;
    char *slot_mem;
    size_t stage_bytes, tmp_bytes, slot_bytes;
} bwd_data_job;

/* grad_out rows [y0, y1) reach grad_in rows [h0, h1). */
static void dy_rows(const cj_conv_desc *d, int64_t h0, int64_t h1, int64_t *y0, int64_t *y1) {
    *y0 = cj_max64(0, -floor_div(-(h0 + d->pad_h - (d->kh - 1) * d->dil_h), d->stride_h));
    *y1 = cj_max64(*y0, cj_min64(d->h_out, floor_div(h1 - 1 + d->pad_h, d->stride_h) + 1));
}

/* Scatters phase rx of mr rows of tmp into grad_in rows (plane apart), columns rx + sw*t. */
#define DEFINE_INTERLEAVE(T, sfx)                                                                  \
    static void interleave_##sfx(const T *tmp, int64_t ld, int64_t mr, int64_t count, int64_t sw,  \
                                 T *dst, int64_t plane) {                                          \
        for (int64_t m = 0; m < mr; m++)                                                           \
            for (int64_t t = 0; t < count; t++) dst[m * plane + t * sw] = tmp[m * ld + t];         \
    }
DEFINE_INTERLEAVE(float, f32)
DEFINE_INTERLEAVE(double, f64)

/* The kernels multiply the staged rows' zero padding by the weights, which is exact for finite
 * weights but turns a non-finite weight into NaN in grad_input elements that do not depend on it.
 * With such weights, this scalar gather takes only the taps that land inside grad_output. */
#define DEFINE_CHECKED_GATHER(T, sfx)                                                              \
    static void checked_gather_##sfx(const cj_direct_gather_args *a, int64_t mr_pack, int64_t pad_l, \
                                     int64_t w_out) {                                              \
        for (int64_t m = 0; m < a->mr; m++)                                                        \
            for (int64_t x = 0; x < a->nx; x++) {                                                  \
                T sum = 0;                                                                         \
                for (int64_t s = 0; s < a->nsrc; s++)                                              \
                    for (int64_t t = 0; t < a->ntaps; t++) {                                       \
                        const int64_t at = a->tap_off[t] + x - pad_l;                              \
                        if (at < 0 || at >= w_out) continue;                                       \
                        sum += ((const T *)a->w)[a->woff[s] + a->tap_w[t] * mr_pack + m] *         \
                               ((const T *)a->src[s])[a->tap_off[t] + x];                          \
                    }                                                                              \
                ((T *)a->out)[m * a->ld_out + x] = sum;                                            \
            }                                                                                      \
    }
DEFINE_CHECKED_GATHER(float, f32)
DEFINE_CHECKED_GATHER(double, f64)

static void bwd_data_task(void *arg, size_t slot) {
    const bwd_data_job *j = arg;
    const cj_conv_desc *d = j->d;
    const size_t e = d->elem;
    char *stage = j->slot_mem + slot * j->slot_bytes, *tmp = stage + j->stage_bytes;
    const void **src = (const void **)(tmp + j->tmp_bytes);
    int64_t *woff = (int64_t *)(src + d->cout_g * d->kh);
    const int64_t plane_in = d->h_in * d->w_in, plane_out = d->h_out * d->w_out;
    const int64_t sw = d->stride_w;
    int64_t t0, t1;
    cj_split_range(j->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t band = t % j->bands, g = (t / j->bands) % d->groups, n = t / j->bands / d->groups;
        const int64_t h0 = band * j->band, h1 = cj_min64(d->h_in, h0 + j->band);
        int64_t y0, y1;
        dy_rows(d, h0, h1, &y0, &y1);
        const char *dy = j->grad_out + (size_t)((n * d->c_out + g * d->cout_g) * plane_out) * e;
        cj_direct_stage_rows(d, dy, d->cout_g, plane_out, d->w_out, y0, y1, 1, j->pad_l, j->pl, stage);
        for (int64_t h = h0; h < h1; h++) {
            int64_t nsrc = 0;
            for (int64_t k = 0; k < d->cout_g; k++)
                for (int64_t i = 0; i < d->kh; i++) {
                    const int64_t num = h + d->pad_h - i * d->dil_h;
                    if (num < 0 || num % d->stride_h) continue;
                    const int64_t y = num / d->stride_h;
                    if (y >= d->h_out) continue;
                    src[nsrc] = stage + (size_t)((k * (y1 - y0) + y - y0) * j->pl) * e;
                    woff[nsrc++] = (k * d->kh + i) * d->kw * j->mr;
                }
            for (int64_t b = 0; b < j->blocks; b++) {
                const int64_t c = g * d->cin_g + b * j->mr, mr = cj_min64(j->mr, d->cin_g - b * j->mr);
                char *gi = j->grad_in + (size_t)((n * d->c_in + c) * plane_in + h * d->w_in) * e;
                for (int64_t rx = 0; rx < cj_min64(sw, d->w_in); rx++) {
                    const int64_t count = cj_div_up(d->w_in - rx, sw);
                    const cj_direct_gather_args a = {
                        .nsrc = nsrc, .src = src, .woff = woff,
                        .w = j->packed + (size_t)((g * j->blocks + b) * j->block_elems) * e,
                        .ntaps = j->ntaps[rx], .tap_off = j->tap_off + rx * d->kw, .tap_w = j->tap_w + rx * d->kw,
                        .mr = mr, .nx = count,
                        .out = sw == 1 ? gi : tmp, .ld_out = sw == 1 ? plane_in : j->tmp_ld,
                        .bias = NULL,
                    };
                    if (j->finite) j->kernel(&a);
                    else if (d->dtype == CJ_F64) checked_gather_f64(&a, j->mr, j->pad_l, d->w_out);
                    else checked_gather_f32(&a, j->mr, j->pad_l, d->w_out);
                    if (sw == 1) continue;
                    if (d->dtype == CJ_F64) interleave_f64((const double *)tmp, j->tmp_ld, mr, count, sw, (double *)gi + rx, plane_in);
                    else interleave_f32((const float *)tmp, j->tmp_ld, mr, count, sw, (float *)gi + rx, plane_in);
                }
            }
        }
    }
}

cj_status cj_direct_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                  const void *w, void *grad_in) {
    if (cj_direct_dw_ok(d, CJ_PASS_BACKWARD_DATA)) return cj_direct_dw_backward_data(ctx, d, grad_out, w, grad_in);
    /* one scan of the weights serves both paths */
    const bool finite = cj_direct_weights_finite(d, w);
    if (finite && cj_direct_ocv_ok(d, CJ_PASS_BACKWARD_DATA))
        return cj_direct_ocv_backward_data(ctx, d, grad_out, w, grad_in);
    const cj_direct_kernels *kern = cj_direct_kernels_get(d->dtype);
    const int cls = cj_direct_mr_class(d->cin_g);
    const int64_t sw = d->stride_w, kw = d->kw;
    bwd_data_job j = {.d = d, .grad_out = grad_out, .grad_in = grad_in};
    j.t_max = cj_div_up(d->w_in, sw);
    j.finite = finite;
    const int64_t nv = cj_direct_even_tile(cj_div_up(j.t_max, kern->vl), kern->nv_max[cls]);
    j.kernel = kern->gather[cls][nv - 1];
    j.mr = cj_direct_mr[cls];
    j.blocks = cj_div_up(d->cin_g, j.mr);
    j.block_elems = cj_direct_packed_block(d, true, j.mr);
    j.tmp_ld = cj_round_up(j.t_max, 16);
    /* The widest left shift (most negative e_j) sets the staged rows' zero padding. */
    j.pad_l = cj_max64(0, cj_div_up((kw - 1) * d->dil_w - d->pad_w, sw));
    j.pl = cj_round_up(cj_round_up(j.t_max, nv * kern->vl) + j.pad_l + (sw - 1 + d->pad_w) / sw + 1, 16);
    j.band = cj_direct_band_rows(d->h_in, d->n * d->groups, ctx->num_threads);
    const size_t budget = cj_cpu()->l2_bytes / 2;
    for (;;) {
        int64_t rows = 0; /* the most grad_output rows any band reaches */
        for (int64_t h0 = 0; h0 < d->h_in; h0 += j.band) {
            int64_t y0, y1;
            dy_rows(d, h0, cj_min64(d->h_in, h0 + j.band), &y0, &y1);
            rows = cj_max64(rows, y1 - y0);
        }
        j.stage_bytes = cj_direct_align64((size_t)(d->cout_g * rows * j.pl) * d->elem);
        if (j.band == 1 || j.stage_bytes <= budget) break;
        j.band = cj_div_up(j.band, 2);
    }
    j.bands = cj_div_up(d->h_in, j.band);
    j.tasks = d->n * d->groups * j.bands;
    j.slots = cj_min64(ctx->num_threads, j.tasks);
    j.tmp_bytes = sw > 1 ? cj_direct_align64((size_t)(j.mr * j.tmp_ld) * d->elem) : 0;
    j.slot_bytes = j.stage_bytes + j.tmp_bytes +
                   cj_direct_align64((size_t)(d->cout_g * d->kh) * (sizeof(void *) + sizeof(int64_t)));
    const size_t packed_bytes = cj_direct_align64((size_t)(d->groups * j.blocks * j.block_elems) * d->elem);
    const size_t taps_bytes = cj_direct_align64((size_t)(sw * (2 * kw + 1)) * sizeof(int64_t));
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, packed_bytes + taps_bytes + j.slot_bytes * (size_t)j.slots, &s));
    j.packed = s.ptr;
    int64_t *ntaps = (int64_t *)((char *)s.ptr + packed_bytes), *tap_off = ntaps + sw, *tap_w = tap_off + sw * kw;
    for (int64_t rx = 0; rx < sw; rx++) {
        ntaps[rx] = 0;
        for (int64_t t = 0; t < kw; t++) {
            const int64_t num = rx + d->pad_w - t * d->dil_w;
            if (floor_div(num, sw) * sw != num) continue;
            tap_off[rx * kw + ntaps[rx]] = num / sw + j.pad_l;
            tap_w[rx * kw + ntaps[rx]++] = t;
        }
    }
    j.ntaps = ntaps;
    j.tap_off = tap_off;
    j.tap_w = tap_w;
    j.slot_mem = (char *)s.ptr + packed_bytes + taps_bytes;
    cj_direct_pack_weights(ctx, d, w, true, j.mr, s.ptr);
    cj_parallel_for(ctx, (size_t)j.slots, bwd_data_task, &j);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}
