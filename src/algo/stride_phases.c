/* See stride_phases.h. */
#include "algo/stride_phases.h"

#include "util/checked.h"

/* The taps of phase r and q = (first*dil - pad - r) / stride, the row (in phase units) its first
 * tap reaches: both directions pick the taps with i*dil - pad ≡ r (mod stride). */
static cj_phase_axis phase_taps(int64_t r, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in,
                                int64_t *q) {
    cj_phase_axis a = {0, stride / cj_gcd64(stride, dil), 0, 0, dil / cj_gcd64(stride, dil), 0};
    a.out = r < in ? (in - r + stride - 1) / stride : 0;
    a.first = -1;
    for (int64_t i = 0; i < k && i < a.step; i++)
        if (((i * dil - pad - r) % stride + stride) % stride == 0) {
            a.first = i;
            break;
        }
    if (a.first < 0) return a; /* no tap reaches this phase */
    a.taps = (k - 1 - a.first) / a.step + 1;
    *q = (a.first * dil - pad - r) / stride; /* exact: the numerator is a multiple */
    return a;
}

cj_phase_axis cj_grad_input_phase(int64_t r, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in) {
    int64_t e0 = 0;
    cj_phase_axis a = phase_taps(r, stride, pad, dil, k, in, &e0);
    if (a.taps) a.pad = e0 + (a.taps - 1) * a.dil;
    return a;
}

cj_phase_axis cj_input_phase(int64_t r, int64_t stride, int64_t pad, int64_t dil, int64_t k, int64_t in) {
    int64_t q0 = 0;
    cj_phase_axis a = phase_taps(r, stride, pad, dil, k, in, &q0);
    if (a.taps) a.pad = -q0;
    return a;
}
