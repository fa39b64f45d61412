/* Aligned allocation. Every allocation of the library goes through here, so that a test build
 * can make the n-th one fail (CONJURE_FAIL_ALLOC_AT, honoured only in builds with
 * CJ_ALLOC_FAILURE_INJECTION). Also the read prefetch of a short range. */
#ifndef CJ_UTIL_MEMORY_H
#define CJ_UTIL_MEMORY_H
#include <stdbool.h>
#include <stddef.h>

#define CJ_ALIGNMENT 64

/* Asks for the cache lines of [p, p + bytes) ahead of their reads: for short runs (a plane or a
 * row of a few KiB) that the hardware prefetcher meets too briefly to ramp up on. */
static inline void cj_prefetch_range(const void *p, size_t bytes) {
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch((const char *)p + off, 0, 3);
}

void *cj_alloc(size_t bytes);   /* 64-byte aligned; NULL on failure (bytes 0 gives a valid pointer) */
void *cj_calloc(size_t bytes);
void  cj_free(void *p);

/* Test hooks of the failure-injection build (CJ_ALLOC_FAILURE_INJECTION; CMake option
 * CONJURE_ALLOC_FAILURE_INJECTION): arm restarts the count and makes the fail_at-th allocation
 * from now fail (0: none), returning 0 in a build without injection; count is the number of
 * allocations since the last arm; live is the number of blocks allocated and not yet freed
 * (0 without injection), the tests' own leak count. */
int  cj_alloc_injection_arm(long fail_at);
/* Counts one allocation and says whether it is the one to fail (always false without injection):
 * for resources allocated elsewhere, such as a thread pool, so that their failure is tested too. */
bool cj_alloc_injected_failure(void);
long cj_alloc_injection_count(void);
long cj_alloc_live(void);

#endif
