#include "util/memory.h"

#include <stdlib.h>
#include <string.h>

#ifdef CJ_ALLOC_FAILURE_INJECTION
#include <pthread.h>
#include <stdatomic.h>
/* Allocations counted since the last arm (or the start), and the one to fail (0: none). The
 * environment sets the first target once; tests re-arm through cj_alloc_injection_arm instead of
 * setenv, which would race with the getenv of other threads. */
static atomic_long g_alloc_count, g_fail_at, g_live;
static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;
static void read_env(void) {
    const char *s = getenv("CONJURE_FAIL_ALLOC_AT");
    atomic_store(&g_fail_at, s ? atol(s) : 0);
}

int cj_alloc_injection_arm(long fail_at) {
    pthread_once(&g_env_once, read_env);
    atomic_store(&g_fail_at, fail_at);
    atomic_store(&g_alloc_count, 0);
    return 1;
}
long cj_alloc_injection_count(void) { return atomic_load(&g_alloc_count); }
long cj_alloc_live(void) { return atomic_load(&g_live); }
#else
int cj_alloc_injection_arm(long fail_at) {
    (void)fail_at;
    return 0;
}
long cj_alloc_injection_count(void) { return 0; }
long cj_alloc_live(void) { return 0; }
#endif

bool cj_alloc_injected_failure(void) {
#ifdef CJ_ALLOC_FAILURE_INJECTION
    pthread_once(&g_env_once, read_env);
    const long n = atomic_fetch_add(&g_alloc_count, 1) + 1, at = atomic_load(&g_fail_at);
    return at > 0 && n == at;
#else
    return false;
#endif
}

void *cj_alloc(size_t bytes) {
    if (cj_alloc_injected_failure()) return NULL;
    size_t rounded = (bytes + CJ_ALIGNMENT - 1) / CJ_ALIGNMENT * CJ_ALIGNMENT;
    if (rounded < bytes) return NULL;
    void *p = aligned_alloc(CJ_ALIGNMENT, rounded ? rounded : CJ_ALIGNMENT);
#ifdef CJ_ALLOC_FAILURE_INJECTION
    if (p) atomic_fetch_add(&g_live, 1);
#endif
    return p;
}

void *cj_calloc(size_t bytes) {
    void *p = cj_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void cj_free(void *p) {
#ifdef CJ_ALLOC_FAILURE_INJECTION
    if (p) atomic_fetch_sub(&g_live, 1);
#endif
    free(p);
}
