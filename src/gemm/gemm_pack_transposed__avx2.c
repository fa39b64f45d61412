/* B panels from a transposed view (element (k, j) at src[j*cs + k], i.e. the rows of B are the
 * columns of a row-major matrix: col^T in grad_weight) with in-register transposes. The portable
 * loop moves one element per load and store; an 8x8 (f32) or 4x4 (f64) block transposed in
 * registers moves a whole vector per instruction, which is what keeps this packing off the
 * profile of grad_weight. */
#include <immintrin.h>
#include <stdint.h>

#include "gemm/gemm_pack_transposed.h"
#include "kernels/avx2_lanes.h"
#include "kernels/avx2_transpose.h"

static inline void transpose8_f32(const float *src, int64_t cs, float *dst, int64_t ld) {
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * cs);
    cj_avx2_transpose8(r);
    for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + j * ld, r[j]);
}

static inline void transpose4_f64(const double *src, int64_t cs, double *dst, int64_t ld) {
    const __m256d r0 = _mm256_loadu_pd(src + 0 * cs), r1 = _mm256_loadu_pd(src + 1 * cs);
    const __m256d r2 = _mm256_loadu_pd(src + 2 * cs), r3 = _mm256_loadu_pd(src + 3 * cs);
    const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
    const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    _mm256_storeu_pd(dst + 0 * ld, _mm256_permute2f128_pd(t0, t2, 0x20));
    _mm256_storeu_pd(dst + 1 * ld, _mm256_permute2f128_pd(t1, t3, 0x20));
    _mm256_storeu_pd(dst + 2 * ld, _mm256_permute2f128_pd(t0, t2, 0x31));
    _mm256_storeu_pd(dst + 3 * ld, _mm256_permute2f128_pd(t1, t3, 0x31));
}

/* One panel: columns [0, cols) of dst rows 0..kc-1, each row nr wide; the caller zero-fills the
 * columns past cols. Whole blocks in registers, the ragged edges element by element. */
#define DEFINE_PANEL(T, suffix, B, transpose)                                                     \
    void cj_pack_b_transposed_panel_##suffix##__avx2(const T *src, int64_t cs, int64_t kc,         \
                                                     int64_t cols, int64_t nr, T *dst) {           \
        const int64_t kfull = kc / B * B, jfull = cols / B * B;                                    \
        for (int64_t j = 0; j < jfull; j += B)                                                     \
            for (int64_t k = 0; k < kfull; k += B) transpose(src + j * cs + k, cs, dst + k * nr + j, nr); \
        for (int64_t j = 0; j < jfull; j++)                                                        \
            for (int64_t k = kfull; k < kc; k++) dst[k * nr + j] = src[j * cs + k];                \
        for (int64_t j = jfull; j < cols; j++)                                                     \
            for (int64_t k = 0; k < kc; k++) dst[k * nr + j] = src[j * cs + k];                    \
    }
DEFINE_PANEL(float, f32, 8, transpose8_f32)
DEFINE_PANEL(double, f64, 4, transpose4_f64)

/* An A panel of `rows` <= mr rows (mr 6 or 8, the f32 kernels' MR on AVX2 and AVX-512) and kc
 * columns, row-major with row stride rs: dst[k * mr + i] = src[i * rs + k], rows past `rows` zero.
 * Eight columns at a time through the 8x8 transpose; with mr = 6 each stored row of 8 spills 2
 * floats into the next row, which the next store overwrites, and the block's last row is stored
 * exactly, so nothing past the panel is written. */
void cj_pack_a_panel_f32__avx2(const float *src, int64_t rs, int64_t kc, int64_t rows, int64_t mr, float *dst) {
    const int64_t kfull = kc / 8 * 8;
    for (int64_t k = 0; k < kfull; k += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++) r[i] = i < rows ? _mm256_loadu_ps(src + i * rs + k) : _mm256_setzero_ps();
        cj_avx2_transpose8(r);
        float *out = dst + k * mr;
        for (int j = 0; j < 7; j++) _mm256_storeu_ps(out + j * mr, r[j]);
        cj_avx2_store_lanes(out + 7 * mr, r[7], mr);
    }
    for (int64_t k = kfull; k < kc; k++)
        for (int64_t i = 0; i < mr; i++) dst[k * mr + i] = i < rows ? src[i * rs + k] : 0.0f;
}
