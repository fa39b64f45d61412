/* Exact recomputation of the result elements that have few terms, for the algorithms that compute
 * in a transformed domain (Winograd, FFT).
 *
 * SPEC bounds each element's error by tol * s, s = |bias| + sum of |terms| of that element, while
 * a transform's rounding error scales with the magnitude of the whole tile the element shares
 * with its neighbours. An element with many terms has an s of the tile's order; one with a single
 * term (a corner that meets the input in one tap, a 1x1 kernel with one channel per group, a
 * weight tap that sees one input pixel of a one-image batch) has an s that may be a thousand
 * times smaller than the tile's, and fails the contract about once in a hundred such elements
 * (the fuzzer found both). The number of terms of an element is a matter of shape, not of data,
 * so these elements are known in advance: the transform pass computes them like every other,
 * then this recomputes them directly, with a double accumulator.
 *
 * Cost: at most max_terms multiply-adds per recomputed element; elements with many terms (every
 * element of a layer with 16+ channels per group) are never touched. */
#ifndef CJ_ALGO_FEW_TERMS_H
#define CJ_ALGO_FEW_TERMS_H
#include "algo/algo.h"

/* The default threshold: with 16 independent terms the chance that their magnitudes all fall a
 * thousand times below their tile's is negligible. */
#define CJ_FEW_TERMS 16

/* Recomputes every element of the pass's result with at most max_terms terms (those with none
 * get exactly the bias, or zero). The operands per pass:
 *   CJ_PASS_FORWARD           a = input, b = weight, bias (NULL: none), dst = output
 *   CJ_PASS_BACKWARD_DATA     a = grad_output, b = weight, dst = grad_input
 *   CJ_PASS_BACKWARD_WEIGHTS  a = input, b = grad_output, dst = grad_weight
 * Any stride and dilation. Allocates nothing. */
void cj_fix_few_terms(cj_context *ctx, const cj_conv_desc *d, cj_pass pass, int64_t max_terms, const void *a,
                      const void *b, const void *bias, void *dst);

#endif
