/* CJ_ALGO_DIRECT: every configuration, every pass, without im2col or the GEMM engine. Each output
 * row is accumulated in registers straight from staged input rows (direct_common.h): a tile of MR
 * channels x NV vectors of pixels along the row, looping over (input channel, kernel row) sources
 * and kernel-column taps. This file holds the forward pass and the algorithm table; the gradients
 * are in direct_bwd_data.c and direct_bwd_weights.c.
 *
 * Work is cut into tasks (image, group, band of output rows), and the tasks into one contiguous
 * range per thread slot; every output element is computed by one task in a fixed order, so the
 * result does not depend on the thread count at all. */
#include "algo/direct.h"
#include "algo/direct_common.h"
#include "util/checked.h"
#include "util/error.h"

static const char *direct_unsupported(const cj_conv_desc *d, cj_pass pass) {
    (void)d;
    (void)pass;
    return NULL; /* every configuration */
}

typedef struct {
    const cj_conv_desc *d;
    cj_direct_gather_fn kernel;
    const char *in, *bias;
    char *out;
    const char *packed;
    int64_t mr, blocks, block_elems;
    cj_direct_input_plan plan;
    int64_t slots;
    char *slot_mem;
    size_t slot_bytes;
} fwd_job;

static void fwd_task(void *arg, size_t slot) {
    const fwd_job *j = arg;
    const cj_conv_desc *d = j->d;
    const size_t e = d->elem;
    const cj_direct_input_plan *pl = &j->plan;
    char *stage = j->slot_mem + slot * j->slot_bytes;
    const void **src = (const void **)(stage + pl->stage_bytes);
    int64_t *woff = (int64_t *)(src + d->cin_g * d->kh);
    int64_t *tap_off = woff + d->cin_g * d->kh, *tap_w = tap_off + d->kw;
    for (int64_t t = 0; t < d->kw; t++) {
        tap_off[t] = cj_direct_tap_offset(d, pl->pl, t);
        tap_w[t] = t;
    }
    const int64_t plane_out = d->h_out * d->w_out;
    int64_t t0, t1;
    cj_split_range(pl->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const cj_direct_band band = cj_direct_stage_band(d, pl, j->in, t, stage);
        const int64_t n = band.n, g = band.g;
        for (int64_t y = band.y0; y < band.y1; y++) {
            const int64_t nsrc = cj_direct_row_sources(d, pl, &band, stage, y, j->mr, src, woff);
            for (int64_t b = 0; b < j->blocks; b++) {
                const int64_t k = g * d->cout_g + b * j->mr;
                const cj_direct_gather_args a = {
                    .nsrc = nsrc, .src = src, .woff = woff,
                    .w = j->packed + (size_t)((g * j->blocks + b) * j->block_elems) * e,
                    .ntaps = d->kw, .tap_off = tap_off, .tap_w = tap_w,
                    .mr = cj_min64(j->mr, d->cout_g - b * j->mr), .nx = d->w_out,
                    .out = j->out + (size_t)((n * d->c_out + k) * plane_out + y * d->w_out) * e,
                    .ld_out = plane_out,
                    .bias = j->bias ? j->bias + (size_t)k * e : NULL,
                };
                j->kernel(&a);
            }
        }
    }
}

static cj_status direct_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                const void *bias, void *out) {
    if (cj_direct_ocv_ok(d, CJ_PASS_FORWARD)) return cj_direct_ocv_forward(ctx, d, in, w, bias, out);
    if (cj_direct_dw_ok(d, CJ_PASS_FORWARD)) return cj_direct_dw_forward(ctx, d, in, w, bias, out);
    const cj_direct_kernels *kern = cj_direct_kernels_get(d->dtype);
    const int cls = cj_direct_mr_class(d->cout_g);
    const int64_t nv = cj_direct_even_tile(cj_div_up(d->w_out, kern->vl), kern->nv_max[cls]);
    fwd_job j = {.d = d, .kernel = kern->gather[cls][nv - 1], .in = in, .bias = bias, .out = out};
    j.mr = cj_direct_mr[cls];
    j.blocks = cj_div_up(d->cout_g, j.mr);
    j.block_elems = cj_direct_packed_block(d, false, j.mr);
    /* Each phase holds the outputs' row rounded up to whole tiles, plus the widest tap shift. */
    j.plan = cj_direct_plan_input(
        d, cj_round_up(cj_round_up(d->w_out, nv * kern->vl) + (d->kw - 1) * d->dil_w / d->stride_w + 1, 16),
        ctx->num_threads);
    j.slots = cj_min64(ctx->num_threads, j.plan.tasks);
    const int64_t sources = d->cin_g * d->kh;
    j.slot_bytes = j.plan.stage_bytes + cj_direct_align64((size_t)sources * (sizeof(void *) + sizeof(int64_t)) +
                                                     (size_t)(2 * d->kw) * sizeof(int64_t));
    const size_t packed_bytes = cj_direct_align64((size_t)(d->groups * j.blocks * j.block_elems) * d->elem);
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, packed_bytes + j.slot_bytes * (size_t)j.slots, &s));
    j.packed = s.ptr;
    j.slot_mem = (char *)s.ptr + packed_bytes;
    cj_direct_pack_weights(ctx, d, w, false, j.mr, s.ptr);
    cj_parallel_for(ctx, (size_t)j.slots, fwd_task, &j);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}

const cj_algo cj_algo_direct = {
    .id = CJ_ALGO_DIRECT,
    .unsupported = direct_unsupported,
    .forward = direct_forward,
    .backward_data = cj_direct_backward_data,
    .backward_weights = cj_direct_backward_weights,
    .backward_weights_bias = cj_direct_backward_weights_bias,
};
