/* Every second float of a row, f32 AVX2 (contract: gather.h): im2col and implicit GEMM's packing
 * of stride-2 layers, where the plain loop (one scalar load and store per element) took a
 * quarter of resnet50.res3.3x3s2's forward on Zen 3. Two loads of 8 floats, the even lanes picked
 * within each 128-bit half, then the halves put in order. */
#include <immintrin.h>

#include "kernels/gather.h"

void cj_f32_gather_stride2__avx2(float *dst, const float *src, int64_t n) {
    int64_t x = 0;
    /* a block reads src[2x .. 2x + 15]; the last element a call may read is src[2(n-1)] */
    for (; x + 8 < n; x += 8) {
        const __m256 a = _mm256_loadu_ps(src + 2 * x), b = _mm256_loadu_ps(src + 2 * x + 8);
        /* per 128-bit half: a0 a2 b0 b2 | a4 a6 b4 b6 */
        const __m256 even = _mm256_shuffle_ps(a, b, 0x88);
        _mm256_storeu_ps(dst + x, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xD8)));
    }
    for (; x < n; x++) dst[x] = src[2 * x];
}
