/* SIMD helpers of the packers: B from transposed views, A from row-major rows (see
 * gemm_pack_transposed__avx2.c). */
#ifndef CJ_GEMM_PACK_TRANSPOSED_H
#define CJ_GEMM_PACK_TRANSPOSED_H
#include <stdint.h>

void cj_pack_b_transposed_panel_f32__avx2(const float *src, int64_t cs, int64_t kc, int64_t cols, int64_t nr,
                                          float *dst);
void cj_pack_b_transposed_panel_f64__avx2(const double *src, int64_t cs, int64_t kc, int64_t cols,
                                          int64_t nr, double *dst);

/* A panel of the f32 GEMM (cj_pack_a's layout) from row-major rows, mr 6 or 8 (AVX2). */
void cj_pack_a_panel_f32__avx2(const float *src, int64_t rs, int64_t kc, int64_t rows, int64_t mr, float *dst);

#endif
