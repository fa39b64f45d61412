/* Validation of a public call's arguments into a cj_conv_desc: every check SPEC lists, made
 * before anything is written, each failure with a message that names the values. */
#ifndef CJ_API_VALIDATE_H
#define CJ_API_VALIDATE_H
#include "algo/algo.h"
#include "conjure.h"

/* input, weight, params (NULL: defaults) -> d, including H_out/W_out. fn names the caller. */
cj_status cj_validate_conv(const char *fn, const cj_tensor *input, const cj_tensor *weight,
                           const cj_conv2d_params *params, cj_conv_desc *d);
/* bias: NULL or empty (no bias), [C_out] or [C_out, 1, 1]; *has_bias says which. */
cj_status cj_validate_bias(const char *fn, const char *name, const cj_tensor *bias,
                           const cj_conv_desc *d, int *has_bias);
/* A tensor that must be exactly [a, b, c, e] of d's dtype (an output or grad_output). */
cj_status cj_validate_exact(const char *fn, const char *name, const cj_tensor *t, const cj_conv_desc *d,
                            int64_t a, int64_t b, int64_t c, int64_t e);
/* Rejects an output whose bytes overlap those of another tensor (either may be NULL or empty). */
cj_status cj_validate_no_overlap(const char *fn, const char *out_name, const cj_tensor *out,
                                 const char *other_name, const cj_tensor *other);
/* Bytes of a validated tensor's data (0 when empty). */
size_t cj_tensor_bytes(const cj_tensor *t);

#endif
