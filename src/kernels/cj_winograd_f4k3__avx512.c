/* Winograd F(4x4, 3x3) tile transforms, f32 and f64, built with this file's ISA flags (avx512). */
#include "kernels/winograd_transforms.h"
#include "kernels/winograd_lanes_f32.h"

#define WT_T float
#define WT_VL 16
#define WT_GATHER cj_wino_gather_f32
#define WT_SCATTER4 cj_wino_scatter4_f32
#define WT_KERNELS8 cj_wino_kernels8_f32
#define WT_NAME(x) cj_f32_winograd_f4k3__avx512_##x
#include "kernels/winograd_f4k3.inc"
#undef WT_T
#undef WT_VL
#undef WT_NAME

#define WT_T double
#define WT_VL 8
#define WT_NAME(x) cj_f64_winograd_f4k3__avx512_##x
#include "kernels/winograd_f4k3.inc"
