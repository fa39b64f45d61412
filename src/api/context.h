/* Contexts: the thread pool, reusable scratch memory, and the parallel-for the drivers use. */
#ifndef CJ_API_CONTEXT_H
#define CJ_API_CONTEXT_H
#include <pthread.h>
#include <pthreadpool.h>
#include <stdbool.h>
#include <stddef.h>

#include "conjure.h"
#include "util/checked.h"

/* A cached scratch block, reused across calls while one call at a time holds it. */
typedef struct cj_scratch_slot {
    pthread_mutex_t lock;
    void           *block;
    size_t          bytes;
} cj_scratch_slot;

/* Two blocks: a call's, and that of a call it makes inside (Winograd over a dilated layer's phase
 * images holds the phase tensors while the undilated pass takes its own scratch). */
enum { CJ_SCRATCH_SLOTS = 2 };

struct cj_context {
    pthreadpool_t   pool;         /* NULL: run on the calling thread */
    bool            owns_pool;
    int             num_threads;
    cj_scratch_slot scratch[CJ_SCRATCH_SLOTS];
    struct cj_auto_cache *auto_cache; /* AUTO's measured choices; NULL: AUTO follows its model */
};

/* The context a public call runs on (ctx itself, or the process-wide default). NULL when the
 * default context cannot be created (the error is set). */
cj_context *cj_context_resolve(cj_context *ctx);

/* Scratch for one call: a free cached block of the context, else a fresh allocation, so that
 * concurrent calls on one context never share memory. */
typedef struct cj_scratch {
    void            *ptr;
    cj_scratch_slot *slot; /* the cached block's slot; NULL: allocated for this call */
} cj_scratch;
cj_status cj_scratch_acquire(cj_context *ctx, size_t bytes, cj_scratch *s);
void      cj_scratch_release(cj_context *ctx, cj_scratch *s);

/* Runs fn(arg, i) for i in [0, n) on the context's threads. The drivers pass n = num_threads
 * "slots" and split their work statically between slots, which keeps results bit-identical for a
 * given thread count and gives each slot its own scratch. */
typedef void (*cj_task_fn)(void *arg, size_t i);
void cj_parallel_for(cj_context *ctx, size_t n, cj_task_fn fn, void *arg);

/* Splits [0, total) into `parts` contiguous ranges as evenly as possible; range `part`. */
static inline void cj_split_range(int64_t total, int64_t parts, int64_t part, int64_t *begin, int64_t *end) {
    const int64_t base = total / parts, extra = total % parts;
    *begin = part * base + (part < extra ? part : extra);
    *end = *begin + base + (part < extra ? 1 : 0);
}

/* Splits tasks [0, tasks) into `parts` contiguous ranges of near-equal weight (weight(arg, t) > 0
 * per task: each task goes to the part that holds its midpoint); range `part`. For tasks of unequal
 * size, where cj_split_range's equal counts leave a thread idle; deterministic like it. */
void cj_split_weighted(int64_t tasks, int64_t parts, int64_t part, int64_t (*weight)(const void *arg, int64_t t),
                       const void *arg, int64_t *begin, int64_t *end);

/* How many pieces to cut each of `tasks` tasks into so that every one of `threads` threads gets
 * the same number: none when there are at least per_thread tasks per thread, else
 * threads / gcd(tasks, threads). */
static inline int64_t cj_pieces_per_task(int64_t tasks, int64_t threads, int64_t per_thread) {
    if (threads <= 1 || tasks >= per_thread * threads) return 1;
    return threads / cj_gcd64(tasks, threads);
}

#endif
