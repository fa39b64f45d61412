/* Stride phases woven back into a row, f32 AVX-512 (contract: gather.h), the inverse of
 * cj_f32_deinterleave: the depthwise path's strided grad_input computes each stride phase of a
 * grad_input plane apart (stride_phases.h) and then stores its rows, where one scalar store per
 * element would cost more than the phases' FMAs. Per block of 16 * S outputs each phase
 * contributes one vector, and each output vector takes its lanes from the phases through one
 * masked permute per phase. */
#include <immintrin.h>

#include "kernels/gather.h"
#include "kernels/lane_bits.h"

/* S: the stride (a constant in the common cases, so that the vectors stay in registers). */
static inline __attribute__((always_inline)) void interleave(float *dst, const int S, int64_t n,
                                                             const float *const *src) {
    __m512i index[CJ_DEINTERLEAVE_MAX];
    __mmask16 from[CJ_DEINTERLEAVE_MAX][CJ_DEINTERLEAVE_MAX]; /* [vector][phase]: the lanes it fills */
    for (int k = 0; k < S; k++) {
        /* lane l of output vector k is the block's element e = 16k + l: phase e % S, its lane e / S
         * (constants where S is one: the set-up runs once per row) */
        int lane_of[16], phase_of[16];
        for (int l = 0; l < 16; l++) phase_of[l] = (16 * k + l) % S, lane_of[l] = (16 * k + l) / S;
        index[k] = _mm512_loadu_si512(lane_of);
        const __m512i phase = _mm512_loadu_si512(phase_of);
        for (int p = 0; p < S; p++) from[k][p] = _mm512_cmpeq_epi32_mask(phase, _mm512_set1_epi32(p));
    }
    /* whole blocks, then the last one masked: rows are short (23-56 elements per phase here) */
    for (int64_t m = 0; m < n; m += 16) {
        const int64_t left = n - m < 16 ? n - m : 16;
        const __mmask16 part = (__mmask16)cj_lane_bits(0, left, 16);
        __m512 v[CJ_DEINTERLEAVE_MAX];
        for (int p = 0; p < S; p++) v[p] = _mm512_maskz_loadu_ps(part, src[p] + m);
        float *block = dst + m * S;
        for (int k = 0; k < S; k++) {
            const int64_t fill = left * S - 16 * k; /* this vector's elements inside the row */
            if (fill <= 0) break;
            __m512 out = _mm512_setzero_ps();
            for (int p = 0; p < S; p++)
                if (from[k][p]) out = _mm512_mask_permutexvar_ps(out, from[k][p], index[k], v[p]);
            _mm512_mask_storeu_ps(block + 16 * k, (__mmask16)cj_lane_bits(0, fill, 16), out);
        }
    }
}

void cj_f32_interleave__avx512(float *dst, int64_t stride, int64_t n, const float *const *src) {
    switch (stride) {
    case 2: interleave(dst, 2, n, src); break;
    case 3: interleave(dst, 3, n, src); break;
    case 4: interleave(dst, 4, n, src); break;
    default: interleave(dst, (int)stride, n, src); break;
    }
}
