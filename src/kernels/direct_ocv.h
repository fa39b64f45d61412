/* The direct convolution's channel-vector micro-kernels (f32, AVX-512 and AVX2, which splits the
 * tile into register tiles of its own): vectorised along output
 * channels instead of pixels, as oneDNN's direct convolution is. A tile is 32 output channels
 * (two vectors) x NX <= CJ_OCV_MAX_NX consecutive pixels of one output row, 2 * NX accumulators;
 * every (source row, tap) step loads the tap's two weight vectors and broadcasts each of the NX
 * input pixels into two FMAs. Nothing is wasted on a row whose width is not a multiple of 16 (the
 * pixel-vector kernels of direct_ukernels.h leave 2 of 16 lanes idle on 14-wide rows and reload a
 * pixel vector per output channel block), and the loads per FMA stay near one half.
 *
 *   out[m * ld_out + x] = bias[m] + sum_s sum_t w[woff[s] + t * 32 + m] * src[s][tap_off[t] + x0 + x]
 * for m < mr (<= 32), x < nx. src rows are staged (zero padded, stride phases: direct_common.h).
 * The sums, one vector of channels per pixel, reach the NCHW output through 16 x 16 transposes in
 * registers and masked stores.
 * Rows of at most CJ_OCV_MAX_NX / 2 pixels go two at a time (src2 not NULL: the second row's
 * sources, with the same weights as src's, in the same order), written at out + out2, and each
 * weight load feeds twice the pixels (7x7 images are bound by the weight stream).
 * A kernel may leave out the products that read staged positions outside [data0, data1), the
 * rows' zero padding: they are no terms of the convolution, and add nothing with finite weights
 * (AVX2 leaves out those of its edge register tiles). (0, INT64_MAX) tells of no padding. */
#ifndef CJ_KERNELS_DIRECT_OCV_H
#define CJ_KERNELS_DIRECT_OCV_H
#include <stdint.h>

enum { CJ_OCV_BLOCK = 32, CJ_OCV_MAX_NX = 14 };

typedef struct cj_ocv_args {
    int64_t nsrc;
    const float *const *src;   /* staged rows */
    const int64_t *woff;       /* per source: offset in elements into w */
    const float *w;            /* per source: ntaps x 32 weights */
    int64_t ntaps;
    const int64_t *tap_off;    /* per tap: offset in elements into every staged row */
    int64_t x0, nx;            /* the tile's first pixel and width (1..CJ_OCV_MAX_NX, or half that with src2) */
    const float *const *src2;  /* NULL, or a second row's staged rows */
    float *out;                /* channel 0, pixel x0 of the row */
    int64_t ld_out, out2;      /* elements between channels; from the first row's outputs to the second's */
    int64_t mr;                /* channels written */
    const float *bias;         /* mr values, or NULL */
    int64_t data0, data1;      /* only positions [data0, data1) of any staged row may be nonzero */
} cj_ocv_args;

/* grad_weight's kernel, the same vectors the other way round: sums over the rows of one image
 * of grad_output (pixel-major, 32 output channels per pixel) times R staged input rows, each at
 * JT taps, in 2 * R * JT accumulators (R * JT <= CJ_OCV_MAX_NX):
 *   tile[(r * jt + t) * 32 + m] += sum_{y < nrows} sum_{x < nx}
 *                                 dy[y * dy_step + x * 32 + m] * src[r][y * src_step + tap_off[t] + x]
 * jt in 1..CJ_OCV_MAX_NX; r < cj_ocv_wgrad_rows(jt): rows beyond the caller's need point at
 * anything readable and their sums are ignored. The sums are added to the tile's (the caller
 * keeps one tile per (block, sources, taps) and sums a whole batch share into it). */
typedef struct cj_ocv_wgrad_args {
    const float *dy;
    int64_t dy_step, nrows, nx;
    const float *const *src;   /* cj_ocv_wgrad_rows(jt) staged rows of the first output row */
    int64_t src_step;
    const int64_t *tap_off;    /* jt offsets into every staged row */
    int64_t jt;
    float *tile;
} cj_ocv_wgrad_args;

static inline int64_t cj_ocv_wgrad_rows(int64_t jt) { return CJ_OCV_MAX_NX / jt; }

#if defined(CJ_HAVE_X86_KERNELS)
void cj_f32_direct_ocv__avx512(const cj_ocv_args *a);
void cj_f32_direct_ocv__avx2(const cj_ocv_args *a);
void cj_f32_direct_ocv_wgrad__avx2(const cj_ocv_wgrad_args *a);
void cj_f32_pixel_major32__avx2(const float *src, int64_t plane, int64_t channels, int64_t px, float *dst);
void cj_f32_direct_ocv_wgrad__avx512(const cj_ocv_wgrad_args *a);
/* grad_weight's pixel-major grad_output: dst[p * 32 + m] = src[m * plane + p] for p < px, m < 32,
 * channels m >= channels read as zero (16 x 16 transposes in registers). */
void cj_f32_pixel_major32__avx512(const float *src, int64_t plane, int64_t channels, int64_t px, float *dst);
#endif

#endif
