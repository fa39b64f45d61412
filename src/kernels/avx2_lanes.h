/* Partial vectors for the AVX2 kernels: the mask of a vector's first lanes (for masked loads,
 * which read nothing past them), and stores of the first `lanes` floats in pieces of 4, 2 and 1
 * (AMD's masked stores are microcoded and slow). */
#ifndef CJ_KERNELS_AVX2_LANES_H
#define CJ_KERNELS_AVX2_LANES_H
#include <immintrin.h>
#include <stdint.h>

/* Lanes 0 .. lanes-1 set (lanes <= 8). */
static inline __attribute__((always_inline)) __m256i cj_avx2_tail_mask(int64_t lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Lanes lo .. hi-1 set (any lo, hi; clamped to the vector's 8 lanes). */
static inline __attribute__((always_inline)) __m256i cj_avx2_range_mask(int64_t lo, int64_t hi) {
    lo = lo < 0 ? 0 : lo > 8 ? 8 : lo;
    hi = hi < 0 ? 0 : hi > 8 ? 8 : hi;
    return _mm256_andnot_si256(cj_avx2_tail_mask(lo), cj_avx2_tail_mask(hi));
}

static inline __attribute__((always_inline)) void cj_avx2_store_lanes(float *dst, __m256 v, int64_t lanes) {
    if (lanes >= 8) {
        _mm256_storeu_ps(dst, v);
        return;
    }
    if (lanes <= 0) return;
    __m128 part = _mm256_castps256_ps128(v);
    if (lanes & 4) {
        _mm_storeu_ps(dst, part);
        dst += 4;
        part = _mm256_extractf128_ps(v, 1);
    }
    if (lanes & 2) {
        _mm_storel_pi((__m64 *)dst, part);
        dst += 2;
        part = _mm_movehl_ps(part, part);
    }
    if (lanes & 1) _mm_store_ss(dst, part);
}

#endif
