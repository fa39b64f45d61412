/* The micro-kernel registry: the table is generated from ukernels.inc, the same list the tests
 * and benchmarks iterate, so a kernel cannot be selectable without being tested. */
#include <stddef.h>
#include "kernels/ukernel.h"

static const cj_ukernel kernels[] = {
#define CJ_UKERNEL(name, isa, dtype, mr, nr) {#name, isa, dtype, mr, nr, name},
#include "kernels/ukernels.inc"
#undef CJ_UKERNEL
};

const cj_ukernel *cj_ukernel_list(int *count)
{
    if (count) *count = (int)(sizeof kernels / sizeof kernels[0]);
    return kernels;
}

/* The first listed kernel for dtype on the isa path; a path with no kernel for dtype (e.g. an
 * aarch64 build asked for AVX2) falls back to the next lower one, down to the portable C
 * kernels, which exist for every dtype. */
const cj_ukernel *cj_ukernel_select(int dtype, cj_isa isa)
{
    const size_t count = sizeof kernels / sizeof kernels[0];
    for (int level = (int)isa; level >= (int)CJ_ISA_SCALAR; level--)
        for (size_t i = 0; i < count; i++)
            if (kernels[i].dtype == dtype && (int)kernels[i].isa == level) return &kernels[i];
    return NULL; /* unknown dtype */
}

cj_ukernel_sa_fn cj_ukernel_strided_a(const cj_ukernel *uk)
{
#if CJ_HAVE_X86_KERNELS
    if (uk && uk->fn == cj_f32_gemm_ukernel_8x48__avx512) return cj_f32_gemm_ukernel_8x48_sa__avx512;
#endif
    (void)uk;
    return NULL;
}
