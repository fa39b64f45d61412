/* f64 GEMM micro-kernel, AVX2 + FMA: a 6 x 8 register tile (contract: kernels/ukernel.h).
 *
 * The f32 6x16 kernel with 4-lane vectors: 6 rows x 2 ymm = 12 accumulators, 2 for the B row,
 * 1 for the broadcast A element (15 of 16 registers, no spills); 12 independent accumulators
 * cover 2 FMA pipes x 4-cycle latency with slack. Per k: 12 FMAs against 2 vector loads + 6
 * broadcasts; a k row of B (8 doubles) is exactly one cache line.
 *
 * Edges: the full tile is computed (panels are zero-padded); stores and accumulating loads are
 * restricted to rows < m and, with vmaskmov lane masks, to columns < n. accumulate == 0 never
 * reads C. */
#include <immintrin.h>
#include <stdint.h>
#include "kernels/ukernel.h"

#define MR 6
#define NV 2                 /* ymm vectors per row */
#define VL 4                 /* doubles per ymm */
#define NR (NV * VL)
#define LINE (64 / (int)sizeof(double)) /* elements per cache line */

/* Prefetch distance in k iterations: one iteration is 12 FMAs (~6 cycles at 2 FMAs/cycle), so
 * 16 iterations (~100 cycles) ahead covers an L2 hit. */
#define PF_K 16
/* C is prefetched this many k iterations before the end (~200 cycles). */
#define PF_C_K 32

#define UNROLL _Pragma("GCC unroll 16")

/* One rank-1 update with column k of A and row k of B. The empty asm statements keep the
 * broadcast and the B vectors alive to the end of their row / step, so that gcc uses the
 * in-place FMA form instead of rotating the accumulators through registers (which made it
 * spill); they emit no instructions. */
static inline __attribute__((always_inline)) void step(__m256d acc[MR][NV], const double *a,
                                                       const double *b)
{
    __m256d bv[NV];
    UNROLL for (int v = 0; v < NV; v++) bv[v] = _mm256_load_pd(b + v * VL);
    UNROLL for (int i = 0; i < MR; i++) {
        const __m256d ai = _mm256_broadcast_sd(a + i);
        UNROLL for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_pd(ai, bv[v], acc[i][v]);
        __asm__("" :: "x"(ai));
    }
    UNROLL for (int v = 0; v < NV; v++) __asm__("" :: "x"(bv[v]));
}

/* Four k iterations, prefetching every cache line of the A and B panels PF_K iterations
 * ahead (4 B rows = 4 lines, 4 A columns = 3 lines). */
static inline __attribute__((always_inline)) void step4(__m256d acc[MR][NV], const double *a,
                                                        const double *b)
{
    UNROLL for (int off = 0; off < 4 * NR; off += LINE)
        _mm_prefetch((const char *)(b + PF_K * NR + off), _MM_HINT_T0);
    UNROLL for (int off = 0; off < 4 * MR; off += LINE)
        _mm_prefetch((const char *)(a + PF_K * MR + off), _MM_HINT_T0);
    UNROLL for (int kk = 0; kk < 4; kk++) step(acc, a + kk * MR, b + kk * NR);
}

void cj_f64_gemm_ukernel_6x8__avx2(int64_t kc, const void *a_, const void *b_, void *c_,
                                    int64_t ldc, int m, int n, int accumulate)
{
    const double *restrict a = (const double *)a_;
    const double *restrict b = (const double *)b_;
    double *restrict c = (double *)c_;

    if (kc <= 0 && accumulate) return; /* C += 0: leave it bit-for-bit unchanged (-0.0 stays) */

    __m256d acc[MR][NV];
    UNROLL for (int i = 0; i < MR; i++)
        UNROLL for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_pd();

    int64_t k = 0;
    const int64_t k_pfc = kc - PF_C_K;
    for (; k + 4 <= k_pfc; k += 4, a += 4 * MR, b += 4 * NR) step4(acc, a, b);
    /* A C row (64 bytes, unaligned) touches at most 2 lines: its first and last byte. */
    for (int i = 0; i < m; i++) {
        const char *row = (const char *)(c + i * ldc);
        _mm_prefetch(row, _MM_HINT_T0);
        _mm_prefetch(row + NR * sizeof(double) - 1, _MM_HINT_T0);
    }
    for (; k + 4 <= kc; k += 4, a += 4 * MR, b += 4 * NR) step4(acc, a, b);
    for (; k < kc; k++, a += MR, b += NR) step(acc, a, b);

    if (m == MR && n == NR) {
        if (accumulate) {
            UNROLL for (int i = 0; i < MR; i++)
                UNROLL for (int v = 0; v < NV; v++)
                    acc[i][v] = _mm256_add_pd(acc[i][v], _mm256_loadu_pd(c + i * ldc + v * VL));
        }
        UNROLL for (int i = 0; i < MR; i++)
            UNROLL for (int v = 0; v < NV; v++) _mm256_storeu_pd(c + i * ldc + v * VL, acc[i][v]);
        return;
    }

    /* Edge tile. A window into this table gives the lane mask for `left` valid lanes: masked
     * lanes are neither read (no fault, no NaN picked up) nor written. */
    static const int64_t mask_table[2 * VL] = {-1, -1, -1, -1, 0, 0, 0, 0};
    __m256i mask[NV];
    UNROLL for (int v = 0; v < NV; v++) {
        int left = n - v * VL;
        left = left < 0 ? 0 : left > VL ? VL : left;
        mask[v] = _mm256_loadu_si256((const __m256i *)(mask_table + VL - left));
    }
    UNROLL for (int i = 0; i < MR; i++) {
        if (i >= m) break;
        double *ci = c + i * ldc;
        UNROLL for (int v = 0; v < NV; v++) {
            __m256d r = acc[i][v];
            if (accumulate) r = _mm256_add_pd(r, _mm256_maskload_pd(ci + v * VL, mask[v]));
            _mm256_maskstore_pd(ci + v * VL, mask[v], r);
        }
    }
}
