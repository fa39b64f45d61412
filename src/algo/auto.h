/* CJ_ALGO_AUTO: which algorithm runs a configuration and pass. Two modes:
 *  - the model (default): rules from the shape (auto.c says which and why);
 *  - measured (context option autotune): the first call of a configuration times every algorithm
 *    that supports it on the caller's own buffers and the context remembers the fastest, keyed
 *    by every parameter, the pass and the thread count. */
#ifndef CJ_ALGO_AUTO_H
#define CJ_ALGO_AUTO_H
#include "algo/algo.h"

/* The buffers of one pass, for measuring candidates (unused members NULL). */
typedef struct cj_pass_buffers {
    const void *in, *w, *bias, *grad_out;
    void       *out;       /* output, grad_input or grad_weight */
    void       *grad_bias; /* grad_weight's pass: NULL, or grad_bias to write too */
} cj_pass_buffers;

/* The model's choice at this thread count (its machine-dependent decisions: auto_switches.h):
 * always an algorithm that supports (d, pass). */
const cj_algo *cj_auto_model(const cj_conv_desc *d, cj_pass pass, int threads);
/* The same with the switches given. */
struct cj_auto_switches;
const cj_algo *cj_auto_model_with(const cj_conv_desc *d, cj_pass pass, const struct cj_auto_switches *sw);

/* AUTO's choice on ctx: the cached measurement if there is one, else (autotune) a measurement on
 * bufs, else the model. bufs NULL: never measure (a query). */
cj_status cj_auto_choose(cj_context *ctx, const cj_conv_desc *d, cj_pass pass, const cj_pass_buffers *bufs,
                         const cj_algo **out);

/* Runs one pass of one algorithm on bufs (grad_weight's pass: grad_bias too, when bufs has it). */
cj_status cj_algo_run(const cj_algo *a, cj_context *ctx, const cj_conv_desc *d, cj_pass pass,
                      const cj_pass_buffers *bufs);
/* The same, and how long it took (wall clock, seconds): the measured mode's and the calibration's. */
cj_status cj_algo_run_timed(const cj_algo *a, cj_context *ctx, const cj_conv_desc *d, cj_pass pass,
                            const cj_pass_buffers *bufs, double *seconds);

/* The context's cache of measured choices. */
typedef struct cj_auto_cache cj_auto_cache;
cj_auto_cache *cj_auto_cache_create(void);
void           cj_auto_cache_destroy(cj_auto_cache *cache);

#endif
