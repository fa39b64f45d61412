/* Errors: a status plus this thread's message, set where the failure is found (zstd-style). */
#ifndef CJ_UTIL_ERROR_H
#define CJ_UTIL_ERROR_H
#include "conjure.h"

#if defined(__GNUC__)
#define CJ_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CJ_PRINTF(a, b)
#endif

/* Records the message for cj_last_error() and returns status. */
cj_status cj_fail(cj_status status, const char *fmt, ...) CJ_PRINTF(2, 3);
/* Clears this thread's message (at the start of every public call). */
void cj_clear_error(void);

/* Returns status with a message when cond holds. */
#define CJ_FAIL_IF(cond, status, ...) \
    do { if (cond) return cj_fail((status), __VA_ARGS__); } while (0)
/* Returns a non-OK status of a nested call unchanged (its message is already set). */
#define CJ_FORWARD(expr) \
    do { cj_status cj_forward_status_ = (expr); if (cj_forward_status_ != CJ_OK) return cj_forward_status_; } while (0)

#endif
