/* Direct convolution micro-kernels, portable C: "vectors" of one element (the compiler may still
 * vectorise), and the kernel table per dtype for the ISA path in use. */
#include "kernels/direct_ukernels.h"

#define NV_MAX_1 4
#define NV_MAX_4 4
#define NV_MAX_8 2
#define JT_MAX_1 8
#define JT_MAX_4 4
#define JT_MAX_8 2
#define V_BCAST(p) V_SET1(*(p))

#define T float
#define V float
#define SFX f32_scalar
#include "kernels/direct_scalar_vocab.h"
#include "kernels/direct_ukernels.inc"

#define T double
#define V double
#define SFX f64_scalar
#include "kernels/direct_scalar_vocab.h"
#include "kernels/direct_ukernels.inc"

const cj_direct_kernels *cj_direct_kernels_get(cj_dtype dtype) {
    const int f64 = dtype == CJ_F64;
#if defined(CJ_HAVE_X86_KERNELS)
    switch (cj_cpu()->isa) {
    case CJ_ISA_AVX512: return f64 ? &cj_direct_kernels_f64_avx512 : &cj_direct_kernels_f32_avx512;
    case CJ_ISA_AVX2: return f64 ? &cj_direct_kernels_f64_avx2 : &cj_direct_kernels_f32_avx2;
    default: break;
    }
#endif
    return f64 ? &cj_direct_kernels_f64_scalar : &cj_direct_kernels_f32_scalar;
}
