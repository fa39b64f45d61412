/* See stride_phases.h. */
#include "algo/stride_phases.h"

#include "util/checked.h"

cj_phase_axis cj_grad_input_phase(int64_t r, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in) {
    cj_phase_axis a = {0, stride / cj_gcd64(stride, dil), 0, 0, dil / cj_gcd64(stride, dil), 0};
    a.out = r < in ? (in - r + stride - 1) / stride : 0;
    a.first = -1;
    for (int64_t i = 0; i < k && i < a.step; i++)
        if (((r + pad - i * dil) % stride + stride) % stride == 0) {
            a.first = i;
            break;
        }
    if (a.first < 0) return a; /* no tap reaches this phase: its gradient is zero */
    a.taps = (k - 1 - a.first) / a.step + 1;
    const int64_t e0 = (a.first * dil - r - pad) / stride; /* exact: the numerator is a multiple */
    a.pad = e0 + (a.taps - 1) * a.dil;
    return a;
}

cj_phase_axis cj_input_phase(int64_t r, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in) {
    cj_phase_axis a = {0, stride / cj_gcd64(stride, dil), 0, 0, dil / cj_gcd64(stride, dil), 0};
    a.out = r < in ? (in - r + stride - 1) / stride : 0;
    a.first = -1;
    for (int64_t i = 0; i < k && i < a.step; i++)
        if (((i * dil - pad - r) % stride + stride) % stride == 0) {
            a.first = i;
            break;
        }
    if (a.first < 0) return a; /* no tap reads this phase */
    a.taps = (k - 1 - a.first) / a.step + 1;
    a.pad = -((a.first * dil - pad - r) / stride); /* q_first = -pad: exact, the numerator is a multiple */
    return a;
}
