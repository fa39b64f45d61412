/* Shared helpers of the test programs: seeded RNG, tensors, the accuracy check of SPEC, the
 * ISA-skip rule, tolerances, and the pass/fail counter whose last line CI reads. */
#ifndef CJ_TEST_UTIL_H
#define CJ_TEST_UTIL_H
#include <stddef.h>
#include <stdint.h>

#include "conjure.h"
#include "reference.h"

/* ---- RNG: splitmix64. The seed is fixed by default (reproducible), CJ_TEST_SEED overrides. ---- */
typedef struct tu_rng { uint64_t s; } tu_rng;
uint64_t tu_next(tu_rng *r);
double   tu_uniform(tu_rng *r);                       /* [-1, 1] */
int64_t  tu_range(tu_rng *r, int64_t lo, int64_t hi); /* [lo, hi] inclusive */
/* Prints the program name and seed, returns the seed (CJ_TEST_SEED env or default_seed). */
uint64_t tu_seed(const char *prog, uint64_t default_seed);

/* ---- tensors ---- */
size_t   tu_dtype_size(cj_dtype dt);
int64_t  tu_numel(const cj_tensor *t);           /* product of the extents (0 for ndim 0: empty) */
/* A tensor of that shape with malloc'ed data (at least one element is allocated, so data is
 * never NULL unless null_if_empty and the tensor is empty). */
cj_tensor tu_tensor(cj_dtype dt, int ndim, const int64_t *shape, int null_if_empty);
cj_tensor tu_tensor4(cj_dtype dt, int64_t a, int64_t b, int64_t c, int64_t d);
void     tu_free(cj_tensor *t);
/* Uniform [-1,1], rounded to the dtype; also writes the stored values to out (may be NULL). */
void     tu_fill_uniform(tu_rng *r, cj_tensor *t, double *out);
void     tu_fill_nan(cj_tensor *t);
void     tu_fill_byte(cj_tensor *t, unsigned char b);   /* a sentinel byte pattern */
int      tu_all_nan(const cj_tensor *t);                /* every element NaN (bit pattern of tu_fill_nan) */
int      tu_all_byte(const cj_tensor *t, unsigned char b);
void     tu_to_double(const cj_tensor *t, double *out);
void     tu_from_double(cj_tensor *t, const double *in);
double   tu_get(const cj_tensor *t, int64_t i);
void     tu_set(cj_tensor *t, int64_t i, double v);
double  *tu_dalloc(int64_t n);                          /* zeroed, at least one element */

/* ---- accuracy: |got - exact| <= tol * s (+ 1e-30 floor). Reports the worst element; counts
 * nothing itself, so its result must reach tu_expect (the attribute makes dropping it a warning). ---- */
__attribute__((warn_unused_result))
int      tu_check_close(const char *what, const cj_tensor *got, const double *exact, const double *mag,
                        double tol);
double   tu_tol(cj_algorithm algo, cj_dtype dt);
const char *tu_dtype_name(cj_dtype dt);

/* Formats a configuration: N,C,H,W,K,kh,kw,pad,stride,dil,groups plus dtype, algo and pass. */
const char *tu_cfg_str(char *buf, size_t n, const ref_conv *c, cj_dtype dt, cj_algorithm algo,
                       const char *pass);

/* ---- one gradient of a case by `algo` on contexts of 1 .. max_threads threads, each checked against
 * the reference (grad_weight: 1, grad_input: 0); the inputs drawn from rng once for all. ---- */
void     tu_check_gradient_threads(const ref_conv *c, cj_dtype dt, cj_algorithm algo, int grad_weight,
                                   int max_threads, tu_rng *rng);

/* ---- ISA: exits 77 if CONJURE_ARCH names a path above cj_cpu()->isa_max; returns the path. ---- */
int      tu_isa_check(void);

/* ---- the counter ---- */
void     tu_pass(void);
void     tu_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cond ? pass : fail(fmt...). Returns cond. */
int      tu_expect(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int      tu_failed(void);
/* Prints "P passed, F failed" and returns the exit code (0 iff nothing failed). */
int      tu_finish(void);

#endif
