/* IMPLICIT_GEMM's grad_input with a stride on images large enough that its stride phases go in
 * several batches of images (implicit_gemm.c, PHASE_BATCH_BYTES: 2+ threads), the last batch
 * shorter: every image of every batch against the reference, at 1 thread (one image at a time),
 * 2 and 3, f32 and f64 (f64 images are past the batch size: one at a time there too). */
#include "conjure.h"
#include "reference.h"
#include "testutil.h"

static const ref_conv cases[] = {
    /* N  C   H    W    K   kh kw ph pw sh sw dh dw groups */
    {3, 48, 128, 128, 8, 3, 3, 1, 1, 2, 2, 1, 1, 1, 0, 0},  /* 3.1 MB per f32 image: batches of 2 and 1 */
    {5, 20, 200, 201, 16, 5, 5, 2, 2, 3, 3, 1, 1, 1, 0, 0}, /* 3.2 MB: 2, 2, 1; 9 phases of unequal size */
};

int main(void) {
    tu_rng rng = {tu_seed("test_implicit_batches", 4242)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_check_gradient_threads(&cases[i], CJ_F32, CJ_ALGO_IMPLICIT_GEMM, 0, 3, &rng);
        tu_check_gradient_threads(&cases[i], CJ_F64, CJ_ALGO_IMPLICIT_GEMM, 0, 3, &rng);
    }
    return tu_finish();
}
