/* Depthwise plane kernels, f32, exact and portable (contract: dwconv.h): plain loops that skip
 * every tap outside the source. The AVX2 kernels hand a plane over to these when their zero
 * padding could meet a non-finite value (0 * inf is NaN where the convolution has no term). */
#include "kernels/dwconv.h"

void cj_f32_dwconv_plane_exact(const cj_dw_plane *p, const float *w, float bias) {
    for (int64_t y = 0; y < p->dst_h; y++)
        for (int64_t x = 0; x < p->dst_w; x++) {
            float acc = bias;
            for (int64_t i = 0; i < p->kh; i++) {
                const int64_t sy = y + p->off_h + i * p->dil_h;
                if (sy < 0 || sy >= p->src_h) continue;
                for (int64_t j = 0; j < p->kw; j++) {
                    const int64_t sx = x + p->off_w + j * p->dil_w;
                    if (sx >= 0 && sx < p->src_w) acc += w[i * p->kw + j] * p->src[sy * p->src_w + sx];
                }
            }
            p->dst[y * p->dst_w + x] = acc;
        }
}

void cj_f32_dwconv_wgrad_plane_exact(const cj_dw_plane *p, float *dw) {
    for (int64_t i = 0; i < p->kh; i++)
        for (int64_t j = 0; j < p->kw; j++) {
            float acc = 0.0f;
            for (int64_t y = 0; y < p->dst_h; y++) {
                const int64_t sy = y + p->off_h + i * p->dil_h;
                if (sy < 0 || sy >= p->src_h) continue;
                for (int64_t x = 0; x < p->dst_w; x++) {
                    const int64_t sx = x + p->off_w + j * p->dil_w;
                    if (sx >= 0 && sx < p->src_w) acc += p->dst[y * p->dst_w + x] * p->src[sy * p->src_w + sx];
                }
            }
            dw[i * p->kw + j] += acc;
        }
}
