/* Depthwise plane kernels: one input plane against one small kernel, stride 1, any padding and
 * dilation, vectorised along W (16 consecutive outputs per zmm) reading the NCHW plane in place:
 * borders are masked loads and masked FMAs, so a tap outside the source adds nothing at all (not
 * 0 * w, which would turn a non-finite weight into NaN where nothing depends on it).
 *
 *   correlate:  dst[y][x] = bias + sum_{i,j} w[i*kw + j] * src[y + off_h + i*dil_h][x + off_w + j*dil_w]
 *   wgrad:      dw[i*kw + j] += sum_{y,x} dst[y][x] * src[y + off_h + i*dil_h][x + off_w + j*dil_w]
 * (taps outside src skipped). Forward: src = input, dst = output, off = -pad. grad_input: src =
 * grad_output, dst = grad_input, the kernel flipped, off = pad - (k-1)*dil. grad_weight: dst =
 * grad_output (read), src = input. */
#ifndef CJ_KERNELS_DWCONV_H
#define CJ_KERNELS_DWCONV_H
#include <math.h>
#include <stdint.h>

typedef struct cj_dw_plane {
    const float *src;
    int64_t src_h, src_w;
    float *dst;                  /* written by correlate, read by wgrad */
    int64_t dst_h, dst_w;
    int64_t kh, kw, off_h, off_w, dil_h, dil_w;
} cj_dw_plane;

/* kw <= CJ_DW_MAX_KW (wgrad keeps one sum per tap column in registers). */
enum { CJ_DW_MAX_KW = 8 };

/* Whether all n values are finite: the SIMD kernels' zero padding adds exactly nothing only then
 * (their weights in correlate, their sums in wgrad); else the plane takes an exact path. */
static inline int cj_dw_all_finite(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

/* The sum of a plane's count values, for grad_bias while the plane is in cache: blocks of 128
 * summed in f32 by 32 partial sums, each block's total carried in double (as cj_bias_grad sums:
 * the error stays within a few units of f32 rounding times the sum of |terms|). */
static inline double cj_dw_plane_sum(const float *g, int64_t count) {
    double acc = 0.0;
    int64_t p = 0;
    for (; p + 128 <= count; p += 128) {
        float s[32];
        for (int j = 0; j < 32; j++) s[j] = g[p + j];
        for (int i = 32; i < 128; i += 32)
            for (int j = 0; j < 32; j++) s[j] += g[p + i + j];
        for (int j = 0; j < 16; j++) s[j] += s[j + 16];
        for (int j = 0; j < 8; j++) s[j] += s[j + 8];
        acc += (double)(((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
    }
    for (; p < count; p++) acc += (double)g[p];
    return acc;
}

/* Exact portable kernels: every tap outside the source skipped. */
void cj_f32_dwconv_plane_exact(const cj_dw_plane *p, const float *w, float bias);
void cj_f32_dwconv_wgrad_plane_exact(const cj_dw_plane *p, float *dw);

/* The AVX2 kernels stage bands of source rows, zero-padded, in a caller's buffer of
 * CJ_DW_STAGE_FLOATS floats (64 KiB: the band stays in L1/L2 while every tap reads it). A staged
 * row holds the destination row rounded up to whole chunks of CJ_DW_CHUNK lanes plus the widest
 * tap shift; a band needs CJ_DW_MIN_ROWS destination rows plus the kernel's height. They also
 * need kh <= CJ_DW_MAX_KW (wgrad keeps kh x kw sums on the stack). */
enum { CJ_DW_STAGE_FLOATS = 16384, CJ_DW_STAGE_SLACK = 8, CJ_DW_CHUNK = 16, CJ_DW_MIN_ROWS = 4 };

static inline int64_t cj_dw_stage_width(int64_t dst_w, int64_t kw, int64_t dil_w) {
    return (dst_w + CJ_DW_CHUNK - 1) / CJ_DW_CHUNK * CJ_DW_CHUNK + (kw - 1) * dil_w;
}

static inline int cj_dw_stage_fits(int64_t dst_w, int64_t kh, int64_t kw, int64_t dil_h, int64_t dil_w) {
    if (kh > CJ_DW_MAX_KW || kw > CJ_DW_MAX_KW || dil_h > CJ_DW_STAGE_FLOATS || dil_w > CJ_DW_STAGE_FLOATS ||
        dst_w > CJ_DW_STAGE_FLOATS)
        return 0;
    return cj_dw_stage_width(dst_w, kw, dil_w) * (CJ_DW_MIN_ROWS + (kh - 1) * dil_h) <=
           CJ_DW_STAGE_FLOATS - CJ_DW_STAGE_SLACK;
}

#if defined(CJ_HAVE_X86_KERNELS)
void cj_f32_dwconv_plane__avx512(const cj_dw_plane *p, const float *w, float bias);
/* wgrad kernels: gsum NULL, or where the plane's grad_output sum (cj_dw_plane_sum's) is added. */
void cj_f32_dwconv_wgrad_plane__avx512(const cj_dw_plane *p, float *dw, double *gsum);
/* Narrow undilated 3x3 planes with one column of padding (cj_f32_dwconv_rows__avx512.c), which
 * the two kernels above call when cj_dw_rows_3x3_fits: correlate needs finite weights; wgrad
 * returns 0 (dw and gsum untouched) when a sum is not finite. */
int cj_dw_rows_3x3_fits(const cj_dw_plane *p);
void cj_f32_dwconv_rows_3x3__avx512(const cj_dw_plane *p, const float *w, float bias);
int cj_f32_dwconv_wgrad_rows_3x3__avx512(const cj_dw_plane *p, float *dw, double *gsum);
/* A strided forward plane (cj_f32_dwconv_strided__avx512.c): dst[y][x] = bias + sum_{i,j}
 * w[i*kw + j] * src[y*stride_h + off_h + i*dil_h][x*stride_w + off_w + j*dil_w], rows outside src
 * skipped, columns outside it read as zero (forward's padding: a non-finite weight may then turn
 * such a term into NaN, which SPEC allows in the padding). Each input row a tap row reads is split
 * into its stride_w phases in scratch (cj_dw_strided_scratch floats, 64-byte aligned), where every
 * tap reads 16 consecutive outputs' inputs as one vector (stride_w 2: the input rows read where they
 * lie). stride_w <= CJ_DEINTERLEAVE_MAX, src_w < 2^30. */
int64_t cj_dw_strided_scratch(const cj_dw_plane *p, int64_t stride_w);
void cj_f32_dwconv_strided__avx512(const cj_dw_plane *p, int64_t stride_h, int64_t stride_w, const float *w,
                                   float bias, float *scratch);
/* stage: CJ_DW_STAGE_FLOATS floats, 32-byte aligned; the plane must pass cj_dw_stage_fits. */
void cj_f32_dwconv_plane__avx2(const cj_dw_plane *p, const float *w, float bias, float *stage);
void cj_f32_dwconv_wgrad_plane__avx2(const cj_dw_plane *p, float *dw, float *stage, double *gsum);
#endif

#endif
