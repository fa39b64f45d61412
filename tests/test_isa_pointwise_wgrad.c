/* IMPLICIT_GEMM's grad_weight of 1x1 stride-1 layers with at least as many input as output
 * channels, which with AVX-512 runs as dW_g^T = X_g dY_g^T (gemm_conv.c, pointwise_transposed):
 * units of several images (their columns found through koff) and of one image, groups, and 1-3
 * threads (each slot's transposed sum added in order, then transposed into grad_weight), f32 and
 * f64, against the reference. The other ISA paths run the same cases the usual way. */
#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const ref_conv cases[] = {
    /* N  C   H   W   K  kh kw ph pw sh sw dh dw groups */
    {6, 64, 10, 10, 16, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0}, /* 100 pixels an image: all 6 in one unit */
    {2, 32, 48, 48, 8, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0},  /* 2304 pixels (48 NR): a unit per image */
    {4, 48, 9, 9, 24, 1, 1, 0, 0, 1, 1, 1, 1, 3, 0, 0},   /* 3 groups of 16 -> 8 */
    {5, 40, 7, 11, 40, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0},  /* as many outputs as inputs, odd sizes */
};

int main(void) {
    tu_rng rng = {tu_seed("test_isa_pointwise_wgrad", 1357)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_check_gradient_threads(&cases[i], CJ_F32, CJ_ALGO_IMPLICIT_GEMM, 1, 3, &rng);
        tu_check_gradient_threads(&cases[i], CJ_F64, CJ_ALGO_IMPLICIT_GEMM, 1, 3, &rng);
    }
    return tu_finish();
}
