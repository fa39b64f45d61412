/* The tile transforms built for AVX-512: the 16 lanes are one zmm of f32 (two of f64). */
#pragma GCC target("prefer-vector-width=512")
#define CJ_FFT_KERNELS cj_fft_kernels_avx512
#include "algo/fft_tiles.inc"
