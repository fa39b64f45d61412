/* Overflow-checked size arithmetic: the one place where extents are multiplied. */
#ifndef CJ_UTIL_CHECKED_H
#define CJ_UTIL_CHECKED_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* *out = a * b; false on overflow (or a negative operand). */
static inline bool cj_mul_i64(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return false;
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool cj_add_i64(int64_t a, int64_t b, int64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
/* Product of n extents, false on overflow. */
static inline bool cj_product_i64(const int64_t *v, int n, int64_t *out) {
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        if (!cj_mul_i64(p, v[i], &p)) return false;
    *out = p;
    return true;
}
/* *out = a * b + c in size_t, false on overflow: scratch totals (a shared part plus a part per
 * thread slot), which the validated extents bound but whose products are checked all the same. */
static inline bool cj_size_mad(size_t a, size_t b, size_t c, size_t *out) {
    return !__builtin_mul_overflow(a, b, out) && !__builtin_add_overflow(*out, c, out);
}
static inline int64_t cj_gcd64(int64_t a, int64_t b) {
    while (b) {
        const int64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}
static inline int64_t cj_div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t cj_round_up(int64_t a, int64_t b) { return cj_div_up(a, b) * b; }
static inline int64_t cj_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t cj_max64(int64_t a, int64_t b) { return a > b ? a : b; }

#endif
