/* Direct convolution micro-kernels, AVX-512 (32 zmm): gather tiles up to 8 channels x 3 vectors
 * (24 accumulators + 3 input vectors + 1 broadcast), dot tiles up to 8 x 3 / 4 x 5 / 1 x 8. Row
 * tails use masked loads and stores, which never touch the masked-off elements. */
#include <immintrin.h>

#include "kernels/direct_ukernels.h"

#define NV_MAX_1 4
#define NV_MAX_4 4
#define NV_MAX_8 3
#define JT_MAX_1 8
#define JT_MAX_4 5
#define JT_MAX_8 3
#define V_BCAST(p) V_SET1(*(p))

#define T float
#define V __m512
#define VL 16
#define SFX f32_avx512
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_STOREU(p, v) _mm512_storeu_ps(p, v)
#define V_HSUM(v) _mm512_reduce_add_ps(v)
#define V_LOAD_PART(p, n) _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define V_STORE_PART(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#include "kernels/direct_ukernels.inc"

#define T double
#define V __m512d
#define VL 8
#define SFX f64_avx512
#define V_ZERO() _mm512_setzero_pd()
#define V_SET1(x) _mm512_set1_pd(x)
#define V_LOADU(p) _mm512_loadu_pd(p)
#define V_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define V_ADD(a, b) _mm512_add_pd(a, b)
#define V_STOREU(p, v) _mm512_storeu_pd(p, v)
#define V_HSUM(v) _mm512_reduce_add_pd(v)
#define V_LOAD_PART(p, n) _mm512_maskz_loadu_pd((__mmask8)((1u << (n)) - 1), p)
#define V_STORE_PART(p, v, n) _mm512_mask_storeu_pd(p, (__mmask8)((1u << (n)) - 1), v)
#include "kernels/direct_ukernels.inc"
