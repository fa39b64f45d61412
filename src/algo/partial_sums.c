/* cj_sum_partials (see partial_sums.h). */
#include "algo/partial_sums.h"

typedef struct {
    cj_dtype dtype;
    char *dst;
    const char *partials;
    size_t stride;
    int64_t copies, count, parts;
} sum_job;

static void sum_task(void *arg, size_t part) {
    const sum_job *j = arg;
    int64_t e0, e1;
    cj_split_range(j->count, j->parts, (int64_t)part, &e0, &e1);
    for (int64_t c = 0; c < j->copies; c++) {
        const char *p = j->partials + (size_t)c * j->stride;
        if (j->dtype == CJ_F64)
            for (int64_t e = e0; e < e1; e++) ((double *)j->dst)[e] += ((const double *)p)[e];
        else
            for (int64_t e = e0; e < e1; e++) ((float *)j->dst)[e] += ((const float *)p)[e];
    }
}

void cj_sum_partials(cj_context *ctx, cj_dtype dtype, void *dst, const void *partials, size_t stride,
                     int64_t copies, int64_t count) {
    if (copies <= 0) return;
    sum_job j = {.dtype = dtype, .dst = dst, .partials = partials, .stride = stride, .copies = copies,
                 .count = count, .parts = ctx->num_threads};
    cj_parallel_for(ctx, (size_t)j.parts, sum_task, &j);
}
