/* What the public calls share once their arguments are valid: the default parameters, and which
 * algorithm runs a pass (conv2d.c). */
#ifndef CJ_API_DISPATCH_H
#define CJ_API_DISPATCH_H
#include "algo/algo.h"
#include "algo/auto.h"
#include "conjure.h"

/* CJ_CONV2D_PARAMS_DEFAULT, for a NULL params. */
extern const cj_conv2d_params cj_default_params;

/* The explicit algorithm for one pass, if it exists and supports it (AUTO is resolved later,
 * once the context is known: cj_resolve_algorithm). fn names the caller in the message. */
cj_status cj_check_explicit(const char *fn, cj_algorithm requested, const cj_conv_desc *d, cj_pass pass);

/* The algorithm that runs the pass: the explicit one, or AUTO's choice on ctx (which may time the
 * candidates on bufs when the context autotunes; bufs NULL: never). */
cj_status cj_resolve_algorithm(cj_context *ctx, cj_algorithm requested, const cj_conv_desc *d, cj_pass pass,
                               const cj_pass_buffers *bufs, const cj_algo **out);

#endif
