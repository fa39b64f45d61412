/* CJ_ALGO_DIRECT grad_weight: for every weight, a dot product of grad_output rows with staged
 * input rows shifted by the weight's tap,
 *   dW[k][c][i][j] = sum_{n, y} sum_x grad_out[n][k][y][x] * in[n][c][y*sh - ph + i*dh][x*sw - pw + j*dw]
 * computed by the dot micro-kernels for a block of MR output channels x JT kernel columns at a
 * time (the staged row of (c, i) is loaded once per JT taps, the grad_output rows once per
 * block), reduced over the rows of a task in vector registers.
 *
 * Tasks are (image, group, band of output rows). Slot 0 accumulates into grad_w, slot s > 0 into
 * its own partial copy; the copies are then added in slot order, so results are bit-identical for
 * a given thread count. The depthwise path also sums grad_bias, per slot in double, from the
 * planes of grad_out it reads anyway. */
#include <string.h>

#include "algo/direct.h"
#include "algo/direct_common.h"
#include "algo/partial_sums.h"
#include "util/checked.h"
#include "util/error.h"

typedef struct {
    const cj_conv_desc *d;
    const cj_direct_kernels *kern;
    int cls;
    bool dw;                   /* the depthwise path: tasks are (image, output channel) planes */
    const char *in, *grad_out;
    char *grad_w;
    int64_t mr, blocks, jt, tasks, slots;
    cj_direct_input_plan plan;
    char *partials;
    size_t weight_bytes, partial_stride;
    char *slot_mem;
    size_t slot_bytes;
    double *bias_sums; /* depthwise with grad_bias: c_out per slot */
} bwd_weights_job;

static void bwd_weights_task(void *arg, size_t slot) {
    const bwd_weights_job *j = arg;
    const cj_conv_desc *d = j->d;
    const size_t e = d->elem;
    const int64_t khkw = d->kh * d->kw, plane_out = d->h_out * d->w_out;
    const cj_direct_input_plan *pl = &j->plan;
    char *stage = j->slot_mem + slot * j->slot_bytes;
    const void **dy = (const void **)(stage + pl->stage_bytes), **src = dy + pl->band;
    int64_t *tap_off = (int64_t *)(src + pl->band);
    for (int64_t t = 0; t < d->kw; t++) tap_off[t] = cj_direct_tap_offset(d, pl->pl, t);
    char *acc = slot == 0 ? j->grad_w : j->partials + (slot - 1) * j->partial_stride;
    memset(acc, 0, j->weight_bytes);
    int64_t t0, t1;
    cj_split_range(j->tasks, j->slots, (int64_t)slot, &t0, &t1);
    if (j->dw) {
        double *bias_sums = j->bias_sums ? j->bias_sums + slot * (size_t)d->c_out : NULL;
        if (bias_sums) memset(bias_sums, 0, (size_t)d->c_out * sizeof(double));
        cj_direct_dw_wgrad_planes(d, j->in, j->grad_out, t0, t1, acc, bias_sums, pl->stage_bytes ? stage : NULL);
        return;
    }
    for (int64_t t = t0; t < t1; t++) {
        const cj_direct_band band = cj_direct_stage_band(d, pl, j->in, t, stage);
        const int64_t n = band.n, g = band.g, y0 = band.y0, y1 = band.y1, r0 = band.r0, r1 = band.r1;
        if (r0 == r1) continue; /* the band sees only padding */
        for (int64_t b = 0; b < j->blocks; b++) {
            const int64_t k = g * d->cout_g + b * j->mr, mr = cj_min64(j->mr, d->cout_g - b * j->mr);
            const char *dy_block = j->grad_out + (size_t)((n * d->c_out + k) * plane_out) * e;
            for (int64_t c = 0; c < d->cin_g; c++)
                for (int64_t i = 0; i < d->kh; i++) {
                    int64_t rows = 0;
                    for (int64_t y = y0; y < y1; y++) {
                        const int64_t ih = y * d->stride_h - d->pad_h + i * d->dil_h;
                        if (ih < 0 || ih >= d->h_in) continue;
                        dy[rows] = dy_block + (size_t)(y * d->w_out) * e;
                        src[rows++] = stage + (size_t)((c * (r1 - r0) + ih - r0) * pl->row_elems) * e;
                    }
                    if (rows == 0) continue;
                    for (int64_t j0 = 0; j0 < d->kw; j0 += j->jt) {
                        const int64_t jt = cj_min64(j->jt, d->kw - j0);
                        const cj_direct_dot_args a = {
                            .nrows = rows, .dy = dy, .ld_dy = plane_out, .src = src, .tap_off = tap_off + j0,
                            .mr = mr, .nx = d->w_out,
                            .dw = acc + (size_t)((k * d->cin_g + c) * khkw + i * d->kw + j0) * e,
                            .ld_dw = d->cin_g * khkw,
                        };
                        j->kern->dot[j->cls][jt - 1](&a);
                    }
                }
        }
    }
}

cj_status cj_direct_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                     const void *grad_out, void *grad_w) {
    return cj_direct_backward_weights_bias(ctx, d, in, grad_out, grad_w, NULL);
}

cj_status cj_direct_backward_weights_bias(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                          const void *grad_out, void *grad_w, void *grad_bias) {
    if (cj_direct_ocv_ok(d, CJ_PASS_BACKWARD_WEIGHTS)) {
        return cj_direct_ocv_backward_weights(ctx, d, in, grad_out, grad_w, grad_bias);
    }
    const cj_direct_kernels *kern = cj_direct_kernels_get(d->dtype);
    bwd_weights_job j = {.d = d, .kern = kern, .in = in, .grad_out = grad_out, .grad_w = grad_w};
    j.cls = cj_direct_mr_class(d->cout_g);
    j.mr = cj_direct_mr[j.cls];
    j.blocks = cj_div_up(d->cout_g, j.mr);
    j.jt = cj_direct_even_tile(d->kw, kern->jt_max[j.cls]);
    /* The dot kernels read exactly w_out elements per tap: no tile rounding. */
    j.plan = cj_direct_plan_input(d, cj_round_up(d->w_out + (d->kw - 1) * d->dil_w / d->stride_w + 1, 16),
                                  ctx->num_threads);
    j.tasks = j.plan.tasks;
    j.dw = cj_direct_dw_ok(d, CJ_PASS_BACKWARD_WEIGHTS);
    if (j.dw) {
        j.tasks = d->n * d->c_out;
        j.plan.stage_bytes = cj_direct_dw_stage_bytes(d, 1);
    }
    j.slots = cj_min64(ctx->num_threads, j.tasks);
    j.slot_bytes = j.plan.stage_bytes + cj_direct_align64((size_t)(2 * j.plan.band) * sizeof(void *) +
                                                     (size_t)d->kw * sizeof(int64_t));
    j.weight_bytes = (size_t)(d->c_out * d->cin_g * d->kh * d->kw) * d->elem;
    j.partial_stride = cj_direct_align64(j.weight_bytes);
    const size_t partial_total = j.partial_stride * (size_t)(j.slots - 1);
    const size_t bias_bytes = j.dw && grad_bias ? (size_t)(j.slots * d->c_out) * sizeof(double) : 0;
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, partial_total + j.slot_bytes * (size_t)j.slots + bias_bytes, &s));
    j.partials = s.ptr;
    j.slot_mem = (char *)s.ptr + partial_total;
    if (bias_bytes) j.bias_sums = (double *)(j.slot_mem + j.slot_bytes * (size_t)j.slots);
    cj_parallel_for(ctx, (size_t)j.slots, bwd_weights_task, &j);
    cj_sum_partials(ctx, d->dtype, grad_w, j.partials, j.partial_stride, j.slots - 1,
                    d->c_out * d->cin_g * d->kh * d->kw);
    if (bias_bytes) {
        cj_direct_bias_from_slots(j.bias_sums, j.slots, d->c_out, grad_bias); /* the depthwise path is f32 only */
    } else if (grad_bias) {
        cj_bias_grad(ctx, d, grad_out, grad_bias);
    }
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}
