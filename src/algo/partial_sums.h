/* The fixed-order reduction of per-slot partial results (grad_weight is a sum over the batch;
 * each thread slot accumulates its share into its own copy). Adding the copies in slot order,
 * each thread taking a range of elements, keeps results bit-identical for a thread count. */
#ifndef CJ_ALGO_PARTIAL_SUMS_H
#define CJ_ALGO_PARTIAL_SUMS_H
#include "algo/algo.h"

/* dst[e] += partials[0][e] + ... + partials[copies-1][e] (added in that order), for e < count;
 * copy i starts at (char *)partials + i * stride bytes. */
void cj_sum_partials(cj_context *ctx, cj_dtype dtype, void *dst, const void *partials, size_t stride,
                     int64_t copies, int64_t count);

#endif
