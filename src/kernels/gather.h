/* Strided copies for the packers:
 *   cj_f32_gather_stride2: dst[x] = src[2 * x] for x < n (reads src[0 .. 2n - 2] only), the
 *   column-matrix packers' (im2col.c) stride-2 rows;
 *   cj_f32_gather_panels: src[r * stride] for r < rows into pieces of 8, piece p at out + p*step,
 *   the last piece zero-filled past rows (reads those values only); stride * 15 < 2^31;
 *   cj_f32_deinterleave: dst[p][m] = src[m * stride + p] for m < n and every phase p < stride,
 *   2 <= stride <= CJ_DEINTERLEAVE_MAX (reads src[0 .. n * stride - 1] only), the direct
 *   convolution's staging of strided rows (direct_common.c) and the depthwise path's input phases;
 *   cj_f32_interleave, its inverse: dst[m * stride + p] = src[p][m] for m < n and every phase
 *   p < stride, same strides (writes dst[0 .. n * stride - 1] only), the depthwise path's strided
 *   grad_input storing its phases (direct_dw.c). */
#ifndef CJ_KERNELS_GATHER_H
#define CJ_KERNELS_GATHER_H
#include <stdint.h>

#if defined(CJ_HAVE_X86_KERNELS)
void cj_f32_gather_stride2__avx2(float *dst, const float *src, int64_t n);
void cj_f32_gather_panels__avx512(const float *src, int64_t stride, int64_t rows, float *out, int64_t step);
enum { CJ_DEINTERLEAVE_MAX = 16 };
void cj_f32_deinterleave__avx512(const float *src, int64_t stride, int64_t n, float *const *dst);
void cj_f32_interleave__avx512(float *dst, int64_t stride, int64_t n, const float *const *src);
/* A row of len elements into its stride phases (2 <= stride <= CJ_DEINTERLEAVE_MAX): phase p gets
 * elements p, p + stride, ..., ceil((len - p) / stride) of them. */
static inline void cj_f32_split_row__avx512(const float *src, int64_t len, int64_t stride, float *const *dst) {
    const int64_t whole = len / stride;
    if (whole) cj_f32_deinterleave__avx512(src, stride, whole, dst);
    for (int64_t p = 0; p < len - whole * stride; p++) dst[p][whole] = src[whole * stride + p];
}
#endif

#endif
