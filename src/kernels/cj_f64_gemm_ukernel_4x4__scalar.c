/* f64 GEMM micro-kernel in portable C: a 4 x 4 tile (contract: kernels/ukernel.h).
 *
 * The fallback for CPUs without AVX2 and for non-x86 builds, written for the auto-vectoriser
 * like the f32 4x8 one: a local tile with compile-time bounds, the inner loop along NR (the
 * contiguous axis of B and C), so each row becomes two 2-lane SSE2 (or NEON) multiply-adds.
 * 4 x 4 = 8 accumulator vectors + 2 B + 1 broadcast fit in 16 xmm registers. Products are
 * rounded before the add (no FMA in the baseline ISA). */
#include <stdint.h>
#include "kernels/ukernel.h"

#define MR 4
#define NR 4

void cj_f64_gemm_ukernel_4x4__scalar(int64_t kc, const void *a_, const void *b_, void *c_,
                                     int64_t ldc, int m, int n, int accumulate)
{
    const double *restrict a = (const double *)a_;
    const double *restrict b = (const double *)b_;
    double *restrict c = (double *)c_;

    if (kc <= 0 && accumulate) return; /* C += 0: leave it bit-for-bit unchanged (-0.0 stays) */

    double acc[MR][NR] = {{0}};
    for (int64_t k = 0; k < kc; k++, a += MR, b += NR) {
        /* Unrolling the rows lets -O2 keep the whole tile in registers (without it gcc -O2
         * vectorises the j loop but loads and stores acc[i] on every k). */
        _Pragma("GCC unroll 4") for (int i = 0; i < MR; i++) {
            const double ai = a[i];
            for (int j = 0; j < NR; j++) acc[i][j] += ai * b[j];
        }
    }

    if (m == MR && n == NR) {
        /* Constant bounds so that the stores vectorise too. */
        for (int i = 0; i < MR; i++) {
            double *ci = c + i * ldc;
            if (accumulate)
                for (int j = 0; j < NR; j++) ci[j] += acc[i][j];
            else
                for (int j = 0; j < NR; j++) ci[j] = acc[i][j];
        }
        return;
    }
    for (int i = 0; i < m; i++) {
        double *ci = c + i * ldc;
        for (int j = 0; j < n; j++) ci[j] = accumulate ? ci[j] + acc[i][j] : acc[i][j];
    }
}
