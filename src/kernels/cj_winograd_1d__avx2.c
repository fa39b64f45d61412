/* One-axis Winograd F(2, 7) and F(4, 5) tile transforms, f32 and f64, built with this file's ISA
 * flags (avx2). */
#include "kernels/winograd_1d.h"

#define WT_T float
#define WT_VL 16
#define WT_NAME(x) cj_f32_winograd_1d__avx2_##x
#include "kernels/winograd_1d.inc"
#undef WT_T
#undef WT_VL
#undef WT_NAME

#define WT_T double
#define WT_VL 8
#define WT_NAME(x) cj_f64_winograd_1d__avx2_##x
#include "kernels/winograd_1d.inc"
