/* The tiling of one FFT convolution pass: the tile size chosen per layer, where each tile sits,
 * and the moves between NCHW tensors and lane blocks (fft_tiles.h).
 *
 * Overlap-save: a th x tw tile of the source, transformed, multiplied by the kernel's spectrum
 * and transformed back, holds a circular result of which (th - kh + 1) x (tw - kw + 1) elements
 * are free of wrap-around; consecutive tiles step by that much over the region being computed
 * (the output for forward and grad_weight, the input for grad_input). */
#ifndef CJ_ALGO_FFT_PLAN_H
#define CJ_ALGO_FFT_PLAN_H
#include <stdint.h>

#include "algo/algo.h"

typedef struct cj_fft_plan {
    int     th, tw;          /* tile size: 8, 16 or 32, larger than the kernel */
    int     fw, F;           /* tw/2 + 1 bins per spectrum row; th * fw bins */
    int64_t sh, sw;          /* step between tiles: th - kh + 1, tw - kw + 1 */
    int64_t nty, ntx;        /* tiles across the region */
    int64_t per_image, tiles;/* tiles per image, over the batch */
} cj_fft_plan;

/* The tile size with the least estimated time for this pass, with blocks of `block` tiles. */
void cj_fft_plan_init(cj_fft_plan *p, const cj_conv_desc *d, cj_pass pass, int64_t block);

/* An NCHW tensor read as tiles: tile t's origin in it is its region origin + (off_h, off_w);
 * rows >= lim_h and columns >= lim_w of a tile read as zero, as does everything outside the
 * window of rows [h0, h1) and columns [w0, w1) of the tensor (elements that contribute nothing:
 * reading them would only spread a NaN there across the tile). */
typedef struct cj_fft_src {
    const char *data;
    int64_t     channels, h, w;
    int64_t     off_h, off_w, lim_h, lim_w;
    int64_t     h0, h1, w0, w1;
} cj_fft_src;

/* Channel c of tiles [t0, t0 + nt) (nt <= CJ_FFT_LANES) into a lane block; lanes >= nt are zero. */
void cj_fft_gather(const cj_fft_plan *p, const cj_conv_desc *d, const cj_fft_src *s, int64_t c,
                   int64_t t0, int64_t nt, void *lanes);

/* An NCHW tensor written from tiles: the valid part of tile t starts at (crop_h, crop_w) in the
 * tile and lands at its region origin. Elements outside rows [live_h0, live_h1) or columns
 * [live_w0, live_w1) have no term at all (their window lies in the padding): they get exactly the
 * bias, not the transforms' rounding noise, since SPEC allows them no error. */
typedef struct cj_fft_dst {
    char   *data;
    int64_t channels, h, w;
    int64_t crop_h, crop_w;
    int64_t live_h0, live_h1, live_w0, live_w1;
} cj_fft_dst;

/* The valid parts of tiles [t0, t0 + nt) of a lane block into channel c, plus *bias (bias NULL:
 * nothing added). */
void cj_fft_scatter(const cj_fft_plan *p, const cj_conv_desc *d, const cj_fft_dst *o, int64_t c,
                    int64_t t0, int64_t nt, const void *lanes, const void *bias);

#endif
