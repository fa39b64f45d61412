/* CJ_ALGO_DIRECT's channel-vector grad_weight (kernels/direct_ocv.h): f32 on AVX-512 and AVX2, 32 or more
 * output channels per group, any stride, dilation and padding.
 *
 *   dW[k][c][i][j] = sum_{n, y, x} grad_out[n][k][y][x] * in[n][c][y*sh - ph + i*dh][x*sw - pw + j*dw]
 *
 * Vectors run along k: per band of output rows of one image and group, grad_output is moved
 * pixel-major (32 channels per pixel, zero past the group's last channel) and the input rows the
 * band reads are staged with zero padding (rows above and below the image included, so every
 * (y, i) has a row); a kernel call then sums the band for 32 channels x R (channel, kernel row)
 * sources x JT kernel columns in registers. Bands are sized so that both fit in half of L2.
 *
 * Threads split the (image, band) pairs, in order: slot 0 accumulates into grad_w, slot s > 0 into
 * its own copy, and the copies are added in slot order (partial_sums.h): the bits depend on the
 * thread count only. With fewer images than threads the bands are cut so that every thread has
 * one (split by images alone, vgg16.conv1_2's grad_weight at batch 1 took 18.0 ms on 2 threads as
 * on 1).
 * grad_bias is summed from the pixel-major bands too (per slot, then in slot order): a separate
 * pass re-read all of grad_output, 3% of lenet.conv2's grad_weight. */
#include <string.h>

#include "algo/direct.h"
#include "algo/direct_common.h"
#include "algo/partial_sums.h"
#include "kernels/direct_ocv.h"
#include "util/checked.h"
#include "util/error.h"

#define BLOCK CJ_OCV_BLOCK

/* Tiles of one tap chunk, taps per chunk and chunks: the widest chunk takes the fewest sources
 * per call, so has the most tiles. */
static int64_t tile_layout(const cj_conv_desc *d, int64_t *jt, int64_t *chunks) {
    *chunks = cj_div_up(d->kw, CJ_OCV_MAX_NX);
    *jt = cj_div_up(d->kw, *chunks);
    return cj_div_up(d->cin_g * d->kh, cj_ocv_wgrad_rows(*jt));
}

size_t cj_direct_ocv_weights_tile_bytes(const cj_conv_desc *d) {
    int64_t jt, chunks;
    const int64_t per_chunk = tile_layout(d, &jt, &chunks);
    return sizeof(float) * CJ_OCV_MAX_NX * CJ_OCV_BLOCK * (size_t)(cj_div_up(d->cout_g, CJ_OCV_BLOCK) * chunks * per_chunk);
}

#if defined(CJ_HAVE_X86_KERNELS)
typedef struct {
    const cj_conv_desc *d;
    void (*kernel)(const cj_ocv_wgrad_args *);
    void (*pixel_major)(const float *, int64_t, int64_t, int64_t, float *);
    const float *in, *grad_out;
    float *grad_w, *partials;      /* partials: slots - 1 copies of grad_w */
    float *grad_bias;              /* NULL: not wanted */
    double *bias_sums;             /* per slot, c_out sums (with grad_bias) */
    int64_t weights, partial_elems; /* elements of grad_w, and between its copies */
    int64_t blocks;                /* 32-channel blocks of a group's output channels */
    int64_t jt, chunks;            /* kernel columns per call, calls per kernel row */
    int64_t pl, row_elems;         /* a staged row: stride_w phases of pl elements */
    int64_t band, bands;           /* output rows per band */
    int64_t slots;
    int64_t tiles_per_chunk;       /* tiles of one (block, tap chunk) */
    char *slot_mem;                /* per slot: pixel-major grad_output band, staged band, tiles */
    size_t dy_bytes, stage_bytes, tiles_bytes, slot_bytes;
} wgrad_job;

/* Input rows a band of `rows` output rows reads, from its first: (rows - 1) * sh + (kh - 1) * dh + 1. */
static int64_t staged_rows(const cj_conv_desc *d, int64_t rows) {
    return (rows - 1) * d->stride_h + (d->kh - 1) * d->dil_h + 1;
}

/* Output rows [y0, y1) of image n, group g: grad_output pixel-major and the input rows staged. */
static void load_band(const wgrad_job *j, int64_t n, int64_t g, int64_t y0, int64_t y1, float *dyt, float *stage) {
    const cj_conv_desc *d = j->d;
    const int64_t plane_out = d->h_out * d->w_out, plane_in = d->h_in * d->w_in, rows = y1 - y0;
    const int64_t px = rows * d->w_out;
    for (int64_t b = 0; b < j->blocks; b++)
        j->pixel_major(j->grad_out + (n * d->c_out + g * d->cout_g + b * BLOCK) * plane_out + y0 * d->w_out, plane_out,
                       cj_min64(BLOCK, d->cout_g - b * BLOCK), px, dyt + b * px * BLOCK);
    const int64_t srows = staged_rows(d, rows), first = y0 * d->stride_h - d->pad_h;
    const int64_t ih0 = cj_max64(0, first), ih1 = cj_max64(ih0, cj_min64(d->h_in, first + srows));
    for (int64_t c = 0; c < d->cin_g; c++) {
        float *base = stage + c * srows * j->row_elems;
        const float *plane = j->in + (n * d->c_in + g * d->cin_g + c) * plane_in;
        /* rows of the padding above and below the image (or all, if the band reads none) */
        for (int64_t r = 0; r < srows; r++)
            if (first + r < ih0 || first + r >= ih1) memset(base + r * j->row_elems, 0, sizeof(float) * (size_t)j->row_elems);
        if (ih1 > ih0)
            cj_direct_stage_rows(d, plane, 1, plane_in, d->w_in, ih0, ih1, d->stride_w, d->pad_w, j->pl,
                                 base + (ih0 - first) * j->row_elems);
    }
}

/* sums[m] += grad_output of channel m over the band's px pixels of a pixel-major block: runs of
 * 64 pixels in f32 (32 independent lanes), each run carried into the double sums. */
static void band_bias_sums(const float *dyt, int64_t px, int64_t channels, double *sums) {
    for (int64_t p0 = 0; p0 < px; p0 += 64) {
        float s[BLOCK] = {0};
        for (int64_t p = p0; p < px && p < p0 + 64; p++)
            for (int m = 0; m < BLOCK; m++) s[m] += dyt[p * BLOCK + m];
        for (int64_t m = 0; m < channels; m++) sums[m] += (double)s[m];
    }
}

/* The tiles of the sums: per (block, tap chunk, run of sources) one of TILE floats, summed over
 * the slot's whole share of the batch before anything is written to grad_w. */
#define TILE (CJ_OCV_MAX_NX * BLOCK)

static int64_t tile_index(const wgrad_job *j, int64_t b, int64_t chunk, int64_t s0, int64_t per_call) {
    return (b * j->chunks + chunk) * j->tiles_per_chunk + s0 / per_call;
}

/* Visits every kernel call of a block: the tap chunk (first tap j0, jt taps), the sources [s0, s0
 * + real) of the call and its row count per_call (rows beyond real repeat the last one). */
#define FOR_EACH_CALL(j, ...)                                                                      \
    for (int64_t chunk = 0; chunk < (j)->chunks; chunk++) {                                        \
        const int64_t j0 = chunk * (j)->jt, jt = cj_min64((j)->jt, (j)->d->kw - j0);               \
        const int64_t per_call = cj_ocv_wgrad_rows(jt), sources = (j)->d->cin_g * (j)->d->kh;      \
        for (int64_t s0 = 0; s0 < sources; s0 += per_call) {                                       \
            const int64_t real = cj_min64(per_call, sources - s0);                                 \
            __VA_ARGS__;                                                                           \
        }                                                                                          \
    }

/* The band's sums for block b added to its tiles. */
static void band_sums(const wgrad_job *j, int64_t b, int64_t rows, const float *dyt, const float *stage, float *tiles) {
    const cj_conv_desc *d = j->d;
    const int64_t srows = staged_rows(d, rows), sources = d->cin_g * d->kh;
    /* A call is a few thousand FMAs: its set-up (tap offsets per chunk, sources stepped through
     * (channel, kernel row) without dividing) was 3% of lenet.conv2's grad_weight. */
    for (int64_t chunk = 0; chunk < j->chunks; chunk++) {
        const int64_t j0 = chunk * j->jt, jt = cj_min64(j->jt, d->kw - j0), per_call = cj_ocv_wgrad_rows(jt);
        int64_t tap_off[CJ_OCV_MAX_NX];
        for (int64_t t = 0; t < jt; t++) tap_off[t] = cj_direct_tap_offset(d, j->pl, j0 + t);
        cj_ocv_wgrad_args a = {.dy = dyt + b * rows * d->w_out * BLOCK, .dy_step = d->w_out * BLOCK, .nrows = rows,
                               .nx = d->w_out, .src_step = d->stride_h * j->row_elems, .tap_off = tap_off, .jt = jt};
        const float *src[CJ_OCV_MAX_NX];
        a.src = src;
        int64_t c = 0, i = 0; /* source s0 */
        for (int64_t s0 = 0; s0 < sources; s0 += per_call) {
            const int64_t real = cj_min64(per_call, sources - s0);
            for (int64_t r = 0; r < real; r++) {
                src[r] = stage + (c * srows + i * d->dil_h) * j->row_elems;
                if (++i == d->kh) i = 0, c++;
            }
            for (int64_t r = real; r < per_call; r++) src[r] = src[real - 1];
            a.tile = tiles + tile_index(j, b, chunk, s0, per_call) * TILE;
            j->kernel(&a);
        }
    }
}

/* Group g's tiles into its weights in acc. */
static void store_tiles(const wgrad_job *j, int64_t g, const float *tiles, float *acc) {
    const cj_conv_desc *d = j->d;
    const int64_t khkw = d->kh * d->kw;
    for (int64_t b = 0; b < j->blocks; b++) {
        const int64_t mr = cj_min64(BLOCK, d->cout_g - b * BLOCK);
        FOR_EACH_CALL(j, {
            const float *tile = tiles + tile_index(j, b, chunk, s0, per_call) * TILE;
            for (int64_t r = 0; r < real; r++) {
                const int64_t s = s0 + r, c = s / d->kh, i = s % d->kh;
                for (int64_t m = 0; m < mr; m++) {
                    float *w = acc + ((g * d->cout_g + b * BLOCK + m) * d->cin_g + c) * khkw + i * d->kw + j0;
                    for (int64_t t = 0; t < jt; t++) w[t] = tile[(r * jt + t) * BLOCK + m];
                }
            }
        });
    }
}

static void wgrad_task(void *arg, size_t slot) {
    const wgrad_job *j = arg;
    const cj_conv_desc *d = j->d;
    char *mem = j->slot_mem + slot * j->slot_bytes;
    float *dyt = (float *)mem, *stage = (float *)(mem + j->dy_bytes), *tiles = (float *)(mem + j->dy_bytes + j->stage_bytes);
    float *acc = slot == 0 ? j->grad_w : j->partials + (slot - 1) * j->partial_elems;
    double *bias_sums = j->grad_bias ? j->bias_sums + slot * (size_t)d->c_out : NULL;
    if (bias_sums) memset(bias_sums, 0, sizeof(double) * (size_t)d->c_out);
    int64_t u0, u1; /* (image, band) pairs n * bands + band */
    cj_split_range(d->n * j->bands, j->slots, (int64_t)slot, &u0, &u1);
    for (int64_t g = 0; g < d->groups; g++) {
        memset(tiles, 0, j->tiles_bytes);
        for (int64_t u = u0; u < u1; u++) {
            const int64_t n = u / j->bands, band = u % j->bands;
            const int64_t y0 = band * j->band, y1 = cj_min64(d->h_out, y0 + j->band), px = (y1 - y0) * d->w_out;
            load_band(j, n, g, y0, y1, dyt, stage);
            for (int64_t b = 0; b < j->blocks; b++) {
                band_sums(j, b, y1 - y0, dyt, stage, tiles);
                if (bias_sums)
                    band_bias_sums(dyt + b * px * BLOCK, px, cj_min64(BLOCK, d->cout_g - b * BLOCK),
                                   bias_sums + g * d->cout_g + b * BLOCK);
            }
        }
        store_tiles(j, g, tiles, acc);
    }
}

cj_status cj_direct_ocv_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *grad_out,
                                         void *grad_w, void *grad_bias) {
    cj_conv_desc flat;
    if (cj_direct_ocv_flatten(d, ctx->num_threads, &flat)) d = &flat;
    wgrad_job j = {.d = d, .in = in, .grad_out = grad_out, .grad_w = grad_w, .grad_bias = grad_bias};
    const bool avx512 = cj_cpu()->isa == CJ_ISA_AVX512;
    j.kernel = avx512 ? cj_f32_direct_ocv_wgrad__avx512 : cj_f32_direct_ocv_wgrad__avx2;
    j.pixel_major = avx512 ? cj_f32_pixel_major32__avx512 : cj_f32_pixel_major32__avx2;
    j.weights = d->c_out * d->cin_g * d->kh * d->kw;
    j.blocks = cj_div_up(d->cout_g, BLOCK);
    j.tiles_per_chunk = tile_layout(d, &j.jt, &j.chunks);
    j.tiles_bytes = cj_direct_ocv_weights_tile_bytes(d);
    j.pl = cj_round_up(d->w_out + (d->kw - 1) * d->dil_w / d->stride_w + 1, 16);
    j.row_elems = d->stride_w * j.pl;
    /* The band: whole images while both buffers fit in half of L2, else halved until they do; at
     * most a share of an image that gives every thread a band when images are fewer. */
    const size_t budget = cj_cpu()->l2_bytes / 2;
    j.band = cj_div_up(d->h_out, cj_min64(d->h_out, cj_div_up(ctx->num_threads, cj_max64(d->n, 1))));
    for (;;) {
        j.dy_bytes = cj_direct_align64(sizeof(float) * (size_t)(j.blocks * j.band * d->w_out * BLOCK));
        j.stage_bytes = cj_direct_align64(sizeof(float) * (size_t)(d->cin_g * staged_rows(d, j.band) * j.row_elems));
        if (j.band == 1 || j.dy_bytes + j.stage_bytes <= budget) break;
        j.band = cj_div_up(j.band, 2);
    }
    j.bands = cj_div_up(d->h_out, j.band);
    j.slots = cj_max64(1, cj_min64(ctx->num_threads, d->n * j.bands));
    j.slot_bytes = j.dy_bytes + j.stage_bytes + cj_direct_align64(j.tiles_bytes);
    const size_t partial_bytes = cj_direct_align64(sizeof(float) * (size_t)j.weights);
    j.partial_elems = (int64_t)(partial_bytes / sizeof(float));
    const size_t bias_bytes = grad_bias ? cj_direct_align64(sizeof(double) * (size_t)(j.slots * d->c_out)) : 0;
    size_t shared, total;
    CJ_FAIL_IF(!cj_size_mad(partial_bytes, (size_t)(j.slots - 1), bias_bytes, &shared) ||
                   !cj_size_mad(j.slot_bytes, (size_t)j.slots, shared, &total),
               CJ_ERR_OUT_OF_MEMORY, "direct grad_weight: the scratch size overflows");
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, total, &s));
    j.bias_sums = s.ptr; /* before the partials */
    j.partials = (float *)((char *)s.ptr + bias_bytes);
    j.slot_mem = (char *)s.ptr + shared;
    cj_parallel_for(ctx, (size_t)j.slots, wgrad_task, &j);
    cj_sum_partials(ctx, CJ_F32, grad_w, j.partials, partial_bytes, j.slots - 1, j.weights);
    if (grad_bias) cj_direct_bias_from_slots(j.bias_sums, j.slots, d->c_out, grad_bias);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}
#else
cj_status cj_direct_ocv_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *grad_out,
                                         void *grad_w, void *grad_bias) {
    (void)ctx, (void)d, (void)in, (void)grad_out, (void)grad_w, (void)grad_bias;
    return CJ_ERR_UNSUPPORTED;
}
#endif
