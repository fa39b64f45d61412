/* The tile transforms built for AVX2 + FMA (8 f32 / 4 f64 lanes per vector). */
#define CJ_FFT_KERNELS cj_fft_kernels_avx2
#include "algo/fft_tiles.inc"
