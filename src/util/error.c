#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char t_message[512];

cj_status cj_fail(cj_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_message, sizeof t_message, fmt, ap);
    va_end(ap);
    return status;
}

void cj_clear_error(void) { t_message[0] = '\0'; }

const char *cj_last_error(void) { return t_message; }

const char *cj_status_string(cj_status status) {
    switch (status) {
    case CJ_OK: return "ok";
    case CJ_ERR_INVALID_ARGUMENT: return "invalid argument";
    case CJ_ERR_UNSUPPORTED: return "unsupported by the requested algorithm";
    case CJ_ERR_OUT_OF_MEMORY: return "out of memory";
    }
    return "unknown status";
}
