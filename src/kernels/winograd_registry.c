/* The Winograd transforms for the selected ISA path (the same ladder as the GEMM kernels). */
#include "conjure.h"
#include "kernels/winograd_transforms.h"
#include "arch/cpu.h"

#define CJ_WINO_SET(prefix, lanes) \
    {prefix##_input, prefix##_grad_output, prefix##_output, prefix##_weight, prefix##_weight_grad, lanes}

static const cj_wino_transforms sets[][2] = {
    {CJ_WINO_SET(cj_f32_winograd_f4k3__scalar, 8), CJ_WINO_SET(cj_f64_winograd_f4k3__scalar, 4)},
#if CJ_HAVE_X86_KERNELS
    {CJ_WINO_SET(cj_f32_winograd_f4k3__avx2, 16), CJ_WINO_SET(cj_f64_winograd_f4k3__avx2, 8)},
    {CJ_WINO_SET(cj_f32_winograd_f4k3__avx512, 16), CJ_WINO_SET(cj_f64_winograd_f4k3__avx512, 8)},
#endif
};

const cj_wino_transforms *cj_wino_transforms_get(int dtype) {
    int level = (int)cj_cpu()->isa;
    const int built = (int)(sizeof sets / sizeof sets[0]) - 1;
    if (level > built) level = built;
    return &sets[level][dtype == CJ_F64 ? 1 : 0];
}
