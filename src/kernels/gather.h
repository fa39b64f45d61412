/* Strided row copies for the column-matrix packers (im2col.c):
 *   dst[x] = src[2 * x] for x < n (reads src[0 .. 2n - 2] only). */
#ifndef CJ_KERNELS_GATHER_H
#define CJ_KERNELS_GATHER_H
#include <stdint.h>

#if defined(CJ_HAVE_X86_KERNELS)
void cj_f32_gather_stride2__avx2(float *dst, const float *src, int64_t n);
#endif

#endif
