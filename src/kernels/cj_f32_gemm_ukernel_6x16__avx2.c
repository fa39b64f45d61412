/* f32 GEMM micro-kernel, AVX2 + FMA: a 6 x 16 register tile (contract: kernels/ukernel.h).
 *
 * Register budget (16 ymm): 6 rows x 2 vectors of 8 floats = 12 accumulators, 2 for the B row
 * of the current k, 1 for the broadcast A element: 15 live registers, no spills. This is the
 * classic Haswell shape (BLIS, laser): with 2 FMA pipes x 4-cycle latency at least 8
 * independent accumulators are needed, and 12 leave slack for the loads. Per k: 12 FMAs
 * against 2 vector loads + 6 broadcasts. Measured on Zen 4 (in L1, kc = 256): 6x16 runs at
 * ~82% of the FMA peak (median; up to 98% in some runs, the machine is noisy), 4x24 (MR
 * dividing 64, but 12 accumulators + 3 B + 1 broadcast = all 16 registers) spills or, without
 * the keep-alive asm below, shuffles registers and ran at 66-91%; 8x8 is broadcast bound
 * (~70%). MR = 6 costs at most one partial tile per 64 rows. On AVX-512 machines the 8x48
 * kernel is used instead; this one serves Haswell..Zen 3.
 *
 * Edges: the packed panels are zero-padded, so the full tile is always computed; the stores
 * (and the C loads when accumulating) are restricted to rows < m and, with vmaskmov lane masks,
 * to columns < n. accumulate == 0 never reads C. */
#include <immintrin.h>
#include <stdint.h>
#include "kernels/ukernel.h"

#define MR 6
#define NV 2                 /* ymm vectors per row */
#define VL 8                 /* floats per ymm */
#define NR (NV * VL)
#define LINE (64 / (int)sizeof(float)) /* elements per cache line */

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
static inline __attribute__((always_inline)) void step(__m256 acc[MR][NV], const float *a,
                                                       const float *b)
{
    __m256 bv[NV];
    UNROLL for (int v = 0; v < NV; v++) bv[v] = _mm256_load_ps(b + v * VL);
    UNROLL for (int i = 0; i < MR; i++) {
        const __m256 ai = _mm256_broadcast_ss(a + i);
        UNROLL for (int v = 0; v < NV; v++) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
        __asm__("" :: "x"(ai));
    }
    UNROLL for (int v = 0; v < NV; v++) __asm__("" :: "x"(bv[v]));
}

/* Four k iterations, prefetching every cache line of the A and B panels PF_K iterations
 * ahead (4 B rows = 4 lines, 4 A columns = 1.5 lines). */
static inline __attribute__((always_inline)) void step4(__m256 acc[MR][NV], const float *a,
                                                        const float *b)
{
    UNROLL for (int off = 0; off < 4 * NR; off += LINE)
        _mm_prefetch((const char *)(b + PF_K * NR + off), _MM_HINT_T0);
    UNROLL for (int off = 0; off < 4 * MR; off += LINE)
        _mm_prefetch((const char *)(a + PF_K * MR + off), _MM_HINT_T0);
    UNROLL for (int kk = 0; kk < 4; kk++) step(acc, a + kk * MR, b + kk * NR);
}

void cj_f32_gemm_ukernel_6x16__avx2(int64_t kc, const void *a_, const void *b_, void *c_,
                                    int64_t ldc, int m, int n, int accumulate)
{
    const float *restrict a = (const float *)a_;
    const float *restrict b = (const float *)b_;
    float *restrict c = (float *)c_;

    if (kc <= 0 && accumulate) return; /* C += 0: leave it bit-for-bit unchanged (-0.0 stays) */

    __m256 acc[MR][NV];
    UNROLL for (int i = 0; i < MR; i++)
        UNROLL for (int v = 0; v < NV; v++) acc[i][v] = _mm256_setzero_ps();

    int64_t k = 0;
    const int64_t k_pfc = kc - PF_C_K;
    for (; k + 4 <= k_pfc; k += 4, a += 4 * MR, b += 4 * NR) step4(acc, a, b);
    /* A C row (64 bytes, unaligned) touches at most 2 lines: its first and last byte. */
    for (int i = 0; i < m; i++) {
        const char *row = (const char *)(c + i * ldc);
        _mm_prefetch(row, _MM_HINT_T0);
        _mm_prefetch(row + NR * sizeof(float) - 1, _MM_HINT_T0);
    }
    for (; k + 4 <= kc; k += 4, a += 4 * MR, b += 4 * NR) step4(acc, a, b);
    for (; k < kc; k++, a += MR, b += NR) step(acc, a, b);

    if (m == MR && n == NR) {
        if (accumulate) {
            UNROLL for (int i = 0; i < MR; i++)
                UNROLL for (int v = 0; v < NV; v++)
                    acc[i][v] = _mm256_add_ps(acc[i][v], _mm256_loadu_ps(c + i * ldc + v * VL));
        }
        UNROLL for (int i = 0; i < MR; i++)
            UNROLL for (int v = 0; v < NV; v++) _mm256_storeu_ps(c + i * ldc + v * VL, acc[i][v]);
        return;
    }

    /* Edge tile. A window into this table gives the lane mask for `left` valid lanes: masked
     * lanes are neither read (no fault, no NaN picked up) nor written. */
    static const int32_t mask_table[2 * VL] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    __m256i mask[NV];
    UNROLL for (int v = 0; v < NV; v++) {
        int left = n - v * VL;
        left = left < 0 ? 0 : left > VL ? VL : left;
        mask[v] = _mm256_loadu_si256((const __m256i *)(mask_table + VL - left));
    }
    UNROLL for (int i = 0; i < MR; i++) {
        if (i >= m) break;
        float *ci = c + i * ldc;
        UNROLL for (int v = 0; v < NV; v++) {
            __m256 r = acc[i][v];
            if (accumulate) r = _mm256_add_ps(r, _mm256_maskload_ps(ci + v * VL, mask[v]));
            _mm256_maskstore_ps(ci + v * VL, mask[v], r);
        }
    }
}
