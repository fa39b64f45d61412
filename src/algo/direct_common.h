/* Pieces shared by CJ_ALGO_DIRECT's three passes: register-tile choice, row staging, weight
 * packing and the row-band split.
 *
 * Staging: a source row (input row for forward/grad_weight, grad_output row for grad_input) is
 * copied once into a zero-padded buffer split into `stride` phases of `pl` elements,
 *     staged[p * pl + m] = src[m * stride + p - pad]   (zero outside [0, len)),
 * so that the element a tap at shift q (q = j * dil) reads for output x, src[x * stride + q - pad],
 * is staged[(q % stride) * pl + q / stride + x]: contiguous in x for every stride, dilation and
 * padding, with no bounds test in the kernels. */
#ifndef CJ_ALGO_DIRECT_COMMON_H
#define CJ_ALGO_DIRECT_COMMON_H
#include <stdbool.h>

#include "algo/algo.h"
#include "kernels/direct_ukernels.h"

/* Tasks per thread to aim for before cutting images into row bands. */
#define CJ_DIRECT_TASKS_PER_THREAD 4

static inline size_t cj_direct_align64(size_t bytes) { return (bytes + 63) / 64 * 64; }
/* grad_bias[k] (f32) = the slots' double sums of channel k (sums[slot * c_out + k]) added in slot
 * order: bit-reproducible for a thread count. */
static inline void cj_direct_bias_from_slots(const double *sums, int64_t slots, int64_t c_out, float *grad_bias) {
    for (int64_t k = 0; k < c_out; k++) {
        double sum = 0.0;
        for (int64_t s = 0; s < slots; s++) sum += sums[s * c_out + k];
        grad_bias[k] = (float)sum;
    }
}

/* The MR class (index into cj_direct_mr) for blocks of `channels` channels. */
int cj_direct_mr_class(int64_t channels);
/* The tile along an axis of `count` units holding at most `max`: the fewest tiles, made even. */
int64_t cj_direct_even_tile(int64_t count, int64_t max);

/* Stages rows [r0, r1) of `planes` planes (plane_stride elements apart, rows of len elements,
 * row r at r * len) into dst: plane i's row r at dst + ((i * (r1 - r0) + r - r0) * stride * pl). */
void cj_direct_stage_rows(const cj_conv_desc *d, const void *src, int64_t planes, int64_t plane_stride,
                          int64_t len, int64_t r0, int64_t r1, int64_t stride, int64_t pad, int64_t pl,
                          void *dst);

/* Packs the weights into blocks of MR channels on the vector-broadcast side: for group g and
 * block b, dst[(g * blocks + b) * block_elems + (q * kh * kw + tap) * mr + m] = weight of
 * "row" channel b * mr + m and "column" channel q (zero past the last row channel). Forward: rows
 * are output channels, columns input channels; transposed (grad_input): the other way round. */
void cj_direct_pack_weights(cj_context *ctx, const cj_conv_desc *d, const void *w, bool transposed,
                            int64_t mr, void *dst);
/* Elements of one packed block. */
int64_t cj_direct_packed_block(const cj_conv_desc *d, bool transposed, int64_t mr);

/* Rows per band for an axis of `rows`, when `outer` tasks (images x groups) exist: enough bands
 * for CJ_DIRECT_TASKS_PER_THREAD tasks per thread. */
int64_t cj_direct_band_rows(int64_t rows, int64_t outer, int threads);

/* The staged-input geometry shared by forward and grad_weight: rows of pl elements per stride
 * phase, and bands of output rows sized for the threads and for half of L2. */
typedef struct cj_direct_input_plan {
    int64_t pl, row_elems;      /* staged row: stride_w phases of pl elements */
    int64_t band, bands, tasks; /* output rows per band; tasks = images x groups x bands */
    size_t stage_bytes;         /* one band's staged rows (all channels of a group) */
} cj_direct_input_plan;
cj_direct_input_plan cj_direct_plan_input(const cj_conv_desc *d, int64_t pl, int threads);
/* The input rows [r0, r1) that output rows [y0, y1) read (clipped to the image). */
void cj_direct_input_rows(const cj_conv_desc *d, int64_t y0, int64_t y1, int64_t *r0, int64_t *r1);

/* Where kernel column t reads in a staged row of stride_w phases of pl elements. */
static inline int64_t cj_direct_tap_offset(const cj_conv_desc *d, int64_t pl, int64_t t) {
    const int64_t q = t * d->dil_w;
    return (q % d->stride_w) * pl + q / d->stride_w;
}

/* Task t of an input plan: image n, group g, output rows [y0, y1), reading input rows [r0, r1). */
typedef struct cj_direct_band {
    int64_t n, g, y0, y1, r0, r1;
} cj_direct_band;
/* Task t's band, with its input rows (all channels of its group) staged into stage (when it reads any). */
cj_direct_band cj_direct_stage_band(const cj_conv_desc *d, const cj_direct_input_plan *pl, const void *in, int64_t t,
                                    void *stage);

/* The staged rows output row y of a band reads, one per (input channel c, kernel row i) inside the
 * image: src[s] the row, woff[s] = (c * kh + i) * kw * mr (its weights in blocks of mr per tap).
 * Returns their count. */
int64_t cj_direct_row_sources(const cj_conv_desc *d, const cj_direct_input_plan *pl, const cj_direct_band *b,
                              const void *stage, int64_t y, int64_t mr, const void **src, int64_t *woff);

/* Every weight finite: then multiplying the staged rows' zero padding adds exactly nothing. */
bool cj_direct_weights_finite(const cj_conv_desc *d, const void *w);

#endif
