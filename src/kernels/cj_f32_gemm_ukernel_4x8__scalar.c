/* f32 GEMM micro-kernel in portable C: a 4 x 8 tile (contract: kernels/ukernel.h).
 *
 * The fallback for CPUs without AVX2 and for non-x86 builds. Written for the auto-vectoriser:
 * the tile lives in a local array with compile-time bounds and the inner loop runs along NR,
 * the contiguous axis of both B and C, so gcc -O2/-O3 turns each row into two 4-lane SSE2
 * (or NEON) multiply-adds with A broadcast. 4 x 8 = 8 accumulator vectors + 2 B + 1 broadcast
 * fit in the 16 xmm registers of baseline x86-64 without spilling. Each product is rounded
 * before the add (no FMA in the baseline ISA), which the tests' tolerance allows for. */
#include <stdint.h>
#include "kernels/ukernel.h"

#define MR 4
#define NR 8

void cj_f32_gemm_ukernel_4x8__scalar(int64_t kc, const void *a_, const void *b_, void *c_,
                                     int64_t ldc, int m, int n, int accumulate)
{
    const float *restrict a = (const float *)a_;
    const float *restrict b = (const float *)b_;
    float *restrict c = (float *)c_;

    if (kc <= 0 && accumulate) return; /* C += 0: leave it bit-for-bit unchanged (-0.0 stays) */

    float acc[MR][NR] = {{0}};
    for (int64_t k = 0; k < kc; k++, a += MR, b += NR) {
        /* Unrolling the rows lets -O2 keep the whole tile in registers (without it gcc -O2
         * vectorises the j loop but loads and stores acc[i] on every k). */
        _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++) {
            const float ai = a[i];
            for (int j = 0; j < NR; j++) acc[i][j] += ai * b[j];
        }
    }

    if (m == MR && n == NR) {
        /* Constant bounds so that the stores vectorise too. */
        for (int i = 0; i < MR; i++) {
            float *ci = c + i * ldc;
            if (accumulate)
                for (int j = 0; j < NR; j++) ci[j] += acc[i][j];
            else
                for (int j = 0; j < NR; j++) ci[j] = acc[i][j];
        }
        return;
    }
    for (int i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (int j = 0; j < n; j++) ci[j] = accumulate ? ci[j] + acc[i][j] : acc[i][j];
    }
}
