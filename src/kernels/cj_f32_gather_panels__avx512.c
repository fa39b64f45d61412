/* Strided values into 8-row panel pieces, f32 AVX-512 (contract: gather.h): implicit GEMM's
 * grad_input packs each tap column of its rotated weights this way (every kh*kw-th value of a
 * kernel's block), where the scalar loop took 25% of vgg16.conv5_1's grad_input at batch 1. One
 * masked gather of 16 values fills two pieces. */
#include <immintrin.h>

#include "kernels/gather.h"

void cj_f32_gather_panels__avx512(const float *src, int64_t stride, int64_t rows, float *out, int64_t step) {
    const __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32((int)stride));
    for (int64_t r = 0; r < rows; r += 16, src += 16 * stride, out += 2 * step) {
        const int64_t live = rows - r;
        const __mmask16 lanes = live >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << live) - 1u);
        const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), lanes, index, src, 4);
        _mm256_storeu_ps(out, _mm512_castps512_ps256(v));
        if (live > 8) _mm256_storeu_ps(out + step, _mm512_extractf32x8_ps(v, 1));
    }
}
