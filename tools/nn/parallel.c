#include "nn/parallel.h"

#include "api/context.h"

typedef struct range_task {
    nn_range_fn fn;
    void       *arg;
    int64_t     total, parts;
} range_task;

static void range_slot(void *arg, size_t slot)
{
    const range_task *t = arg;
    int64_t begin, end;
    cj_split_range(t->total, t->parts, (int64_t)slot, &begin, &end);
    if (end > begin)
        t->fn(t->arg, begin, end);
}

void nn_parallel(cj_context *ctx, int64_t total, int64_t min_per_thread, nn_range_fn fn, void *arg)
{
    cj_context *c = cj_context_resolve(ctx);
    int64_t parts = c ? c->num_threads : 1;
    if (min_per_thread < 1)
        min_per_thread = 1;
    if (parts > total / min_per_thread)
        parts = total / min_per_thread;
    if (parts <= 1 || !c) {
        if (total > 0)
            fn(arg, 0, total);
        return;
    }
    range_task t = {fn, arg, total, parts};
    cj_parallel_for(c, (size_t)parts, range_slot, &t);
}
