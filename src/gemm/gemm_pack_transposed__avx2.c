/* B panels from a transposed view (element (k, j) at src[j*cs + k], i.e. the rows of B are the
 * columns of a row-major matrix: col^T in grad_weight) with in-register transposes. The portable
 * loop moves one element per load and store; an 8x8 (f32) or 4x4 (f64) block transposed in
 * registers moves a whole vector per instruction, which is what keeps this packing off the
 * profile of grad_weight. */
#include <immintrin.h>
#include <stdint.h>

#include "gemm/gemm_pack_transposed.h"
#include "kernels/avx2_lanes.h"

static inline void transpose8_f32(const float *src, int64_t cs, float *dst, int64_t ld) {
    __m256 r0 = _mm256_loadu_ps(src + 0 * cs), r1 = _mm256_loadu_ps(src + 1 * cs);
    __m256 r2 = _mm256_loadu_ps(src + 2 * cs), r3 = _mm256_loadu_ps(src + 3 * cs);
    __m256 r4 = _mm256_loadu_ps(src + 4 * cs), r5 = _mm256_loadu_ps(src + 5 * cs);
    __m256 r6 = _mm256_loadu_ps(src + 6 * cs), r7 = _mm256_loadu_ps(src + 7 * cs);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst + 0 * ld, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * ld, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ld, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ld, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ld, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ld, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ld, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ld, _mm256_permute2f128_ps(u3, u7, 0x31));
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
        const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
        const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
        const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
        const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
        const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
        const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        const __m256 c[8] = {_mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
                             _mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
                             _mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
                             _mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31)};
        float *out = dst + k * mr;
        for (int j = 0; j < 7; j++) _mm256_storeu_ps(out + j * mr, c[j]);
        cj_avx2_store_lanes(out + 7 * mr, c[7], mr);
    }
    for (int64_t k = kfull; k < kc; k++)
        for (int64_t i = 0; i < mr; i++) dst[k * mr + i] = i < rows ? src[i * rs + k] : 0.0f;
}
