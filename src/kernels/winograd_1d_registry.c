/* The one-axis Winograd transforms for the selected ISA path (the same ladder as the GEMM kernels). */
#include "arch/cpu.h"
#include "conjure.h"
#include "kernels/winograd_1d.h"

#define CJ_WINO1D_SET(prefix, panels) {prefix##_input, panels, prefix##_grad_output, prefix##_output, prefix##_weight}

static const cj_wino1d_transforms sets[][2] = {
    {CJ_WINO1D_SET(cj_f32_winograd_1d__scalar, 0), CJ_WINO1D_SET(cj_f64_winograd_1d__scalar, 0)},
#if CJ_HAVE_X86_KERNELS
    {CJ_WINO1D_SET(cj_f32_winograd_1d__avx2, 0), CJ_WINO1D_SET(cj_f64_winograd_1d__avx2, 0)},
    {CJ_WINO1D_SET(cj_f32_winograd_1d__avx512, 1), CJ_WINO1D_SET(cj_f64_winograd_1d__avx512, 0)},
#endif
};

const cj_wino1d_transforms *cj_wino1d_transforms_get(int dtype) {
    int level = (int)cj_cpu()->isa;
    const int built = (int)(sizeof sets / sizeof sets[0]) - 1;
    if (level > built) level = built;
    return &sets[level][dtype == CJ_F64 ? 1 : 0];
}
