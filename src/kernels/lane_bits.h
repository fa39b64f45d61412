/* Lane masks as bits, for the AVX-512 kernels' __mmask8 / __mmask16 (and any other width up to 32). */
#ifndef CJ_KERNELS_LANE_BITS_H
#define CJ_KERNELS_LANE_BITS_H
#include <stdint.h>

/* Bits lo .. hi-1 set, any lo and hi clamped to [0, width) (width <= 32). */
static inline __attribute__((always_inline)) uint32_t cj_lane_bits(int64_t lo, int64_t hi, int width) {
    lo = lo < 0 ? 0 : lo > width ? width : lo;
    hi = hi < lo ? lo : hi > width ? width : hi;
    return (uint32_t)((((uint64_t)1 << hi) - 1u) & ~(((uint64_t)1 << lo) - 1u));
}

#endif
