/* Errors of the nn module: a function that can fail returns 0 on success, or -1 after writing what
 * went wrong (with the file name and the numbers) into the caller's nn_error. */
#ifndef CJ_NN_ERROR_H
#define CJ_NN_ERROR_H

typedef struct nn_error {
    char msg[512];
} nn_error;

/* Formats the message into err (err may be NULL) and returns -1. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int nn_fail(nn_error *err, const char *fmt, ...);

#endif
