/* A row split into its stride phases, f32 AVX-512 (contract: gather.h): the direct convolution
 * stages each input row of a strided layer as its phases, and one scalar load and store per
 * element took 8% of alexnet.conv1's forward (stride 4). Per block of 16 outputs a phase reads
 * `stride` consecutive vectors; each contributes the lanes it holds through one masked permute. */
#include <immintrin.h>

#include "kernels/gather.h"

/* S: the stride (a constant in the common cases, so that the vectors stay in registers). */
static inline __attribute__((always_inline)) void deinterleave(const float *src, const int S, int64_t n,
                                                               float *const *dst) {
    __m512i index[CJ_DEINTERLEAVE_MAX];
    __mmask16 from[CJ_DEINTERLEAVE_MAX][CJ_DEINTERLEAVE_MAX]; /* [phase][vector]: the lanes it fills */
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int p = 0; p < S; p++) {
        /* output lane m of phase p is the block's element m*S + p: vector (m*S+p) / 16, lane (m*S+p) % 16 */
        const __m512i pos = _mm512_add_epi32(_mm512_mullo_epi32(lanes, _mm512_set1_epi32(S)), _mm512_set1_epi32(p));
        index[p] = _mm512_and_si512(pos, _mm512_set1_epi32(15));
        const __m512i vec = _mm512_srli_epi32(pos, 4);
        for (int k = 0; k < S; k++) from[p][k] = _mm512_cmpeq_epi32_mask(vec, _mm512_set1_epi32(k));
    }
    int64_t m = 0;
    for (; m + 16 <= n; m += 16) {
        const float *block = src + m * S;
        __m512 v[CJ_DEINTERLEAVE_MAX];
        for (int k = 0; k < S; k++) v[k] = _mm512_loadu_ps(block + 16 * k);
        for (int p = 0; p < S; p++) {
            __m512 out = _mm512_setzero_ps();
            for (int k = 0; k < S; k++)
                if (from[p][k]) out = _mm512_mask_permutexvar_ps(out, from[p][k], index[p], v[k]);
            _mm512_storeu_ps(dst[p] + m, out);
        }
    }
    for (; m < n; m++)
        for (int p = 0; p < S; p++) dst[p][m] = src[m * S + p];
}

void cj_f32_deinterleave__avx512(const float *src, int64_t stride, int64_t n, float *const *dst) {
    switch (stride) {
    case 2: deinterleave(src, 2, n, dst); break;
    case 3: deinterleave(src, 3, n, dst); break;
    case 4: deinterleave(src, 4, n, dst); break;
    default: deinterleave(src, (int)stride, n, dst); break;
    }
}
