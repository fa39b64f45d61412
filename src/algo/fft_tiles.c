/* The portable build of the tile transforms, and the choice between ISA paths. */
#define CJ_FFT_KERNELS cj_fft_kernels_portable
#include "algo/fft_tiles.inc"

#include "arch/cpu.h"

const cj_fft_kernels *cj_fft_kernels_get(void) {
#if defined(CJ_HAVE_X86_KERNELS)
    switch (cj_cpu()->isa) {
    case CJ_ISA_AVX512: return &cj_fft_kernels_avx512;
    case CJ_ISA_AVX2: return &cj_fft_kernels_avx2;
    default: break;
    }
#endif
    return &cj_fft_kernels_portable;
}
