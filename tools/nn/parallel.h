/* Element-wise work split over a conjure context's threads: [0, total) in one contiguous range per
 * thread. No reductions cross ranges, so results do not depend on the thread count. */
#ifndef CJ_NN_PARALLEL_H
#define CJ_NN_PARALLEL_H
#include <stdint.h>

#include "conjure.h"

typedef void (*nn_range_fn)(void *arg, int64_t begin, int64_t end);

/* fn(arg, begin, end) over [0, total) on ctx's threads (NULL: the default context); ranges smaller
 * than min_per_thread items are not worth a thread's wake-up and are merged. */
void nn_parallel(cj_context *ctx, int64_t total, int64_t min_per_thread, nn_range_fn fn, void *arg);

#endif
