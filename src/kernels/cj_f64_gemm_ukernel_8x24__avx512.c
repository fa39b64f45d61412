/* f64 GEMM micro-kernel, AVX-512F: an 8 x 24 register tile (contract: kernels/ukernel.h).
 *
 * The f32 8x48 kernel's structure with 8-lane vectors: 8 rows x 3 zmm = 24 accumulators, 3 for
 * the B row, 1 for the broadcast A element (28 of 32 live, no spills). Per k: 24 FMAs against
 * 3 vector loads + 8 broadcasts; a k row of B (24 doubles) is 3 cache lines and a k column of
 * A (8 doubles) exactly one, which each step prefetches (B not: see the f32 kernel). MR = 8 for the same reason as
 * in f32: output channel counts are multiples of 8.
 *
 * Edges: all 8 rows computed (panels are zero-padded), and the columns up to the next whole
 * vector (8, 16 or 24, as in f32: the last panel of 64 columns is 16 wide); stores restricted to
 * rows < m and, with __mmask8 lane masks, to columns < n. accumulate == 0 never reads C. */
#include <immintrin.h>
#include <stdint.h>
#include "kernels/ukernel.h"

#define MR 8
#define NV 3                 /* zmm vectors per row */
#define VL 8                 /* doubles per zmm */
#define NR (NV * VL)

/* Prefetch distance, in k iterations, for the A panel. One k iteration is 24 FMAs (~12 cycles);
 * 8 iterations ahead covers an L2 hit. B's in-order stream from L2 is left to the hardware
 * prefetchers, as in f32: the engine's loops on a 384 x 336 B block ran at 84.3-86.0 GFLOP/s
 * without B prefetches, 75.9-85.3 with (6 alternating runs). */
#define PF_K 8
/* C is prefetched this many k iterations before the end (~400 cycles), late enough that the
 * streaming panels do not evict it again, early enough to hide an L2/L3 miss. */
#define PF_C_K 16

#define UNROLL _Pragma("GCC unroll 16")

/* One rank-1 update of the tile's first nv vectors with column k of A and row k of B.
 * The empty asm statements keep the broadcast and the B vectors alive until the end of their
 * row / step. Without them gcc lets the last FMA of a row write its result over a dead B or
 * broadcast register (the 132/213 forms), the accumulators then rotate through registers
 * across the unrolled steps and it spills 2 zmm per iteration; with them every FMA is the
 * in-place 231 form and the loop has no moves or spills. They emit no instructions.
 * nv is a constant at every call (inlined into tile()'s three copies). */
static inline __attribute__((always_inline)) void step(__m512d acc[MR][NV], const double *a,
                                                       const double *b, const int nv)
{
    __m512d bv[NV];
    UNROLL for (int v = 0; v < nv; v++) bv[v] = _mm512_load_pd(b + v * VL);
    UNROLL for (int i = 0; i < MR; i++) {
        const __m512d ai = _mm512_set1_pd(a[i]);
        UNROLL for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_pd(ai, bv[v], acc[i][v]);
        __asm__("" :: "v"(ai));
    }
    UNROLL for (int v = 0; v < nv; v++) __asm__("" :: "v"(bv[v]));
}

/* Four k iterations, prefetching A's column PF_K iterations ahead (one line each). */
static inline __attribute__((always_inline)) void step4(__m512d acc[MR][NV], const double *a,
                                                        const double *b, const int nv)
{
    UNROLL for (int kk = 0; kk < 4; kk++) {
        _mm_prefetch((const char *)(a + (PF_K + kk) * MR), _MM_HINT_T0);
        step(acc, a + kk * MR, b + kk * NR, nv);
    }
}

/* The tile's first nv vectors of columns (n <= nv * VL). */
static inline __attribute__((always_inline)) void tile(int64_t kc, const double *restrict a,
                                                       const double *restrict b, double *restrict c,
                                                       int64_t ldc, int m, int n, int accumulate,
                                                       const int nv)
{
    __m512d acc[MR][NV];
    UNROLL for (int i = 0; i < MR; i++)
        UNROLL for (int v = 0; v < nv; v++) acc[i][v] = _mm512_setzero_pd();

    int64_t k = 0;
    const int64_t k_pfc = kc - PF_C_K; /* where the C prefetch goes */
    for (; k + 4 <= k_pfc; k += 4, a += 4 * MR, b += 4 * NR) step4(acc, a, b, nv);
    /* C rows: 24 doubles span 4 lines at worst (c is not aligned); first and last byte of each
     * row's used part plus the lines in between. */
    for (int i = 0; i < m; i++) {
        const char *row = (const char *)(c + i * ldc);
        UNROLL for (int v = 0; v < nv; v++) _mm_prefetch(row + v * 64, _MM_HINT_T0);
        _mm_prefetch(row + nv * VL * sizeof(double) - 1, _MM_HINT_T0);
    }
    for (; k + 4 <= kc; k += 4, a += 4 * MR, b += 4 * NR) step4(acc, a, b, nv);
    for (; k < kc; k++, a += MR, b += NR) step(acc, a, b, nv);

    if (m == MR && n == nv * VL) {
        /* Full tile: plain unaligned loads and stores. */
        if (accumulate) {
            UNROLL for (int i = 0; i < MR; i++)
                UNROLL for (int v = 0; v < nv; v++)
                    acc[i][v] = _mm512_add_pd(acc[i][v], _mm512_loadu_pd(c + i * ldc + v * VL));
        }
        UNROLL for (int i = 0; i < MR; i++)
            UNROLL for (int v = 0; v < nv; v++) _mm512_storeu_pd(c + i * ldc + v * VL, acc[i][v]);
        return;
    }

    /* Edge tile: lane masks for columns < n (masked-off lanes are neither loaded nor stored, so
     * they cannot fault or be disturbed), and rows >= m skipped. */
    __mmask8 mask[NV];
    UNROLL for (int v = 0; v < nv; v++) {
        const int left = n - v * VL;
        mask[v] = left >= VL ? (__mmask8)0xFF : left <= 0 ? (__mmask8)0 : (__mmask8)((1u << left) - 1u);
    }
    UNROLL for (int i = 0; i < MR; i++) {
        if (i >= m) break;
        double *ci = c + i * ldc;
        UNROLL for (int v = 0; v < nv; v++) {
            __m512d r = acc[i][v];
            if (accumulate) r = _mm512_add_pd(r, _mm512_maskz_loadu_pd(mask[v], ci + v * VL));
            _mm512_mask_storeu_pd(ci + v * VL, mask[v], r);
        }
    }
}

/* Narrow edge tiles compute only the vectors they store (the f32 kernel says why); each column's
 * sum is the same FMA chain in every width. */
void cj_f64_gemm_ukernel_8x24__avx512(int64_t kc, const void *a_, const void *b_, void *c_,
                                      int64_t ldc, int m, int n, int accumulate)
{
    const double *a = (const double *)a_;
    const double *b = (const double *)b_;
    double *c = (double *)c_;

    if (kc <= 0 && accumulate) return; /* C += 0: leave it bit-for-bit unchanged (-0.0 stays) */
    if (n > 2 * VL) tile(kc, a, b, c, ldc, m, n, accumulate, 3);
    else if (n > VL) tile(kc, a, b, c, ldc, m, n, accumulate, 2);
    else tile(kc, a, b, c, ldc, m, n, accumulate, 1);
}
