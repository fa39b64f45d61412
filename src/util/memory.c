#include "util/memory.h"

#include <stdlib.h>
#include <string.h>

#ifdef CJ_ALLOC_FAILURE_INJECTION
#include <stdatomic.h>
static atomic_long g_alloc_count;
static long fail_at(void) {
    const char *s = getenv("CONJURE_FAIL_ALLOC_AT");
    return s ? atol(s) : 0;
}
#endif

void *cj_alloc(size_t bytes) {
#ifdef CJ_ALLOC_FAILURE_INJECTION
    long n = atomic_fetch_add(&g_alloc_count, 1) + 1, at = fail_at();
    if (at > 0 && n == at) return NULL;
#endif
    size_t rounded = (bytes + CJ_ALIGNMENT - 1) / CJ_ALIGNMENT * CJ_ALIGNMENT;
    if (rounded < bytes) return NULL;
    return aligned_alloc(CJ_ALIGNMENT, rounded ? rounded : CJ_ALIGNMENT);
}

void *cj_calloc(size_t bytes) {
    void *p = cj_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void cj_free(void *p) { free(p); }
