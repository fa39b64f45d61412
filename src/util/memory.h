/* Aligned allocation. Every allocation of the library goes through here, so that a test build
 * can make the n-th one fail (CONJURE_FAIL_ALLOC_AT, honoured only in builds with
 * CJ_ALLOC_FAILURE_INJECTION). */
#ifndef CJ_UTIL_MEMORY_H
#define CJ_UTIL_MEMORY_H
#include <stddef.h>

#define CJ_ALIGNMENT 64

void *cj_alloc(size_t bytes);   /* 64-byte aligned; NULL on failure (bytes 0 gives a valid pointer) */
void *cj_calloc(size_t bytes);
void  cj_free(void *p);

#endif
