/* Direct convolution micro-kernels, AVX2 + FMA (16 ymm): smaller tiles than AVX-512 so that
 * accumulators, input vectors and the broadcast fit without spilling (8 x 1, 4 x 2, 1 x 4 gather;
 * 8 x 1, 4 x 2, 1 x 6 dot). Row tails load with maskload and store in pieces (AMD microcodes
 * masked stores: lenet.conv1's 28-wide rows spent most of their time in them). */
#include <immintrin.h>

#include "kernels/avx2_lanes.h"
#include "kernels/direct_ukernels.h"

#define NV_MAX_1 4
#define NV_MAX_4 2
#define NV_MAX_8 1
#define JT_MAX_1 6
#define JT_MAX_4 2
#define JT_MAX_8 1
#define V_BCAST(p) V_SET1(*(p))

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}
/* Lanes below n set (n < lanes). */
static inline __m256i mask_pd(int64_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

#define T float
#define V __m256
#define VL 8
#define SFX f32_avx2
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_STOREU(p, v) _mm256_storeu_ps(p, v)
#define V_HSUM(v) hsum_ps(v)
#define V_LOAD_PART(p, n) _mm256_maskload_ps(p, cj_avx2_tail_mask(n))
#define V_STORE_PART(p, v, n) cj_avx2_store_lanes(p, v, n)
#include "kernels/direct_ukernels.inc"

#define T double
#define V __m256d
#define VL 4
#define SFX f64_avx2
#define V_ZERO() _mm256_setzero_pd()
#define V_SET1(x) _mm256_set1_pd(x)
#define V_LOADU(p) _mm256_loadu_pd(p)
#define V_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define V_ADD(a, b) _mm256_add_pd(a, b)
#define V_STOREU(p, v) _mm256_storeu_pd(p, v)
#define V_HSUM(v) hsum_pd(v)
#define V_LOAD_PART(p, n) _mm256_maskload_pd(p, mask_pd(n))
#define V_STORE_PART(p, v, n) cj_avx2_store_lanes((float *)(p), _mm256_castpd_ps(v), 2 * (n))
#include "kernels/direct_ukernels.inc"
