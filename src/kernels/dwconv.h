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

#if defined(CJ_HAVE_X86_KERNELS)
void cj_f32_dwconv_plane__avx512(const cj_dw_plane *p, const float *w, float bias);
void cj_f32_dwconv_wgrad_plane__avx512(const cj_dw_plane *p, float *dw);
#endif

#endif
