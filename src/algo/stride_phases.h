/* Stride phases: a strided convolution axis split into stride-1 pieces, which the stride-1 code
 * paths then run with no zero multiplied in for the stride.
 *
 * grad_input (cj_grad_input_phase): the input rows y = r + stride*u receive only the kernel taps
 * i = first + step*m with (r + pad - i*dil) divisible by stride, which reach grad_output rows
 * u - e_i with e_i in steps of dil / gcd(stride, dil). That is a stride-1 correlation of
 * grad_output with a sub-kernel of those taps, rotated, dilation dil / gcd, padding
 * e_first + (taps-1) * that dilation, `out` rows long (implicit GEMM's and the depthwise path's
 * strided grad_input).
 *
 * Input phases (cj_input_phase): output row y reads, at tap i, input row y*stride + i*dil - pad,
 * which lies in phase r = (i*dil - pad) mod stride (the rows r, r + stride, ...; `out` of them) at
 * its row y + q_i. The taps of phase r are first + step*m, and q_i = -pad' + m * dil' with the
 * phase's pad' and dil': a stride-1 correlation of the phase with a sub-kernel of those taps in
 * order (the depthwise path's strided grad_weight).
 *
 * taps = 0: no tap reaches the phase (its grad_input is zero; the input phase is read by none). */
#ifndef CJ_ALGO_STRIDE_PHASES_H
#define CJ_ALGO_STRIDE_PHASES_H
#include <stdint.h>

typedef struct {
    int64_t first, step, taps; /* kernel taps first, first+step, ... (taps of them; 0: none) */
    int64_t pad, dil, out;     /* the sub-problem's padding, dilation and extent of the phase */
} cj_phase_axis;

/* Phase r (0 <= r < stride) of an axis of `in` input rows, a kernel of k taps. */
cj_phase_axis cj_grad_input_phase(int64_t r, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in);
cj_phase_axis cj_input_phase(int64_t r, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in);

#endif
