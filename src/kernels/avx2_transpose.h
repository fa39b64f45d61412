/* The 8 x 8 in-register transpose of the AVX2 kernels (the channel-vector direct convolution's
 * stores and grad_output staging, the GEMM packers' transposed panels). */
#ifndef CJ_KERNELS_AVX2_TRANSPOSE_H
#define CJ_KERNELS_AVX2_TRANSPOSE_H
#include <immintrin.h>

/* r[j] := column j of the 8 x 8 matrix whose rows are r[0..7]. */
static inline __attribute__((always_inline)) void cj_avx2_transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[4a + b]: rows 4a..4a+3 of column b (low lane) and of column b + 4 (high lane) */
#pragma GCC unroll 2
    for (int a = 0; a < 8; a += 4) {
        u[a] = _mm256_shuffle_ps(t[a], t[a + 2], 0x44);
        u[a + 1] = _mm256_shuffle_ps(t[a], t[a + 2], 0xEE);
        u[a + 2] = _mm256_shuffle_ps(t[a + 1], t[a + 3], 0x44);
        u[a + 3] = _mm256_shuffle_ps(t[a + 1], t[a + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++) {
        r[b] = _mm256_permute2f128_ps(u[b], u[4 + b], 0x20);
        r[4 + b] = _mm256_permute2f128_ps(u[b], u[4 + b], 0x31);
    }
}

#endif
