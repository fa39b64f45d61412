/* Moving f32 Winograd tiles between NCHW planes and the transforms' lane layout (buf[element][lane],
 * 16 tiles side by side) with vector loads and in-register transposes, for the AVX2 and AVX-512
 * builds of winograd_f4k3.inc (both compile these AVX2 intrinsics).
 *
 * Why: the portable gather copied a 6x6 window one float at a time into a lane of buf (576 scalar
 * loads and stores per channel and 16 tiles) and the transform then read buf by vectors, which
 * cannot be forwarded from those narrow stores; on resnet50.res2.3x3 the input transform took 37%
 * and the output transform 21% of Winograd's forward time (perf, Granite Rapids). Here each lane's
 * window row is one masked load (the mask keeps the plane's columns, so border tiles need no other
 * path and nothing outside the plane is read), 8 lanes' rows are transposed in registers and
 * stored as whole vectors. */
#ifndef CJ_KERNELS_WINOGRAD_LANES_F32_H
#define CJ_KERNELS_WINOGRAD_LANES_F32_H
#include <immintrin.h>
#include <stdint.h>

#include "kernels/avx2_lanes.h"
#include "kernels/avx2_transpose.h"

#define CJ_WINO_LANES 16

/* buf[i*n + j][l] = plane_l[(y_l + i)*w + x_l + j] for the n x n windows (n <= 8) at (ys[l], xs[l])
 * of the planes at src + base[l]; zero outside the h x w plane and for lanes >= count. */
static inline void cj_wino_gather_f32(float (*restrict buf)[CJ_WINO_LANES], int n, const float *src,
                                      const int64_t *base, const int64_t *ys, const int64_t *xs, int count,
                                      int64_t h, int64_t w) {
    for (int half = 0; half < CJ_WINO_LANES; half += 8) {
        __m256i mask[8];
        int64_t origin[8]; /* offset of the window's first row from src (may be before the plane) */
        for (int k = 0; k < 8; k++) {
            const int l = half + k;
            const int live = l < count;
            mask[k] = live ? cj_avx2_range_mask(-xs[l], w - xs[l] < n ? w - xs[l] : n) : _mm256_setzero_si256();
            origin[k] = live ? base[l] + ys[l] * w + xs[l] : 0;
        }
        for (int i = 0; i < n; i++) {
            __m256 r[8];
            for (int k = 0; k < 8; k++) {
                const int l = half + k;
                const int64_t y = l < count ? ys[l] + i : -1;
                r[k] = y >= 0 && y < h ? _mm256_maskload_ps(src + origin[k] + i * w, mask[k]) : _mm256_setzero_ps();
            }
            cj_avx2_transpose8(r);
            for (int j = 0; j < n; j++) _mm256_storeu_ps(&buf[i * n + j][half], r[j]);
        }
    }
}

/* The 4x4 output tiles y[i*4 + j][l] (+ bias) to dst at row ys[l] + i, column xs[l] + j of the
 * planes at dst + base[l], for lanes < count; the parts past the h x w plane are dropped. */
static inline void cj_wino_scatter4_f32(float *dst, const int64_t *base, const int64_t *ys, const int64_t *xs,
                                        int count, int64_t h, int64_t w, float (*restrict y)[CJ_WINO_LANES],
                                        float bias) {
    const __m256 b = _mm256_set1_ps(bias);
    for (int half = 0; half < count; half += 8) {
        for (int i = 0; i < 4; i++) {
            __m256 a[4], t[4], u[4];
            for (int j = 0; j < 4; j++) a[j] = _mm256_add_ps(_mm256_loadu_ps(&y[i * 4 + j][half]), b);
            /* u[k]: row i of lane half + k (low 128 bits) and of lane half + k + 4 (high) */
            t[0] = _mm256_unpacklo_ps(a[0], a[1]);
            t[1] = _mm256_unpackhi_ps(a[0], a[1]);
            t[2] = _mm256_unpacklo_ps(a[2], a[3]);
            t[3] = _mm256_unpackhi_ps(a[2], a[3]);
            u[0] = _mm256_shuffle_ps(t[0], t[2], 0x44);
            u[1] = _mm256_shuffle_ps(t[0], t[2], 0xEE);
            u[2] = _mm256_shuffle_ps(t[1], t[3], 0x44);
            u[3] = _mm256_shuffle_ps(t[1], t[3], 0xEE);
            for (int k = 0; k < 8 && half + k < count; k++) {
                const int l = half + k;
                const int64_t row = ys[l] + i;
                if (row >= h) continue;
                const __m128 v = k < 4 ? _mm256_castps256_ps128(u[k]) : _mm256_extractf128_ps(u[k - 4], 1);
                float *out = dst + base[l] + row * w + xs[l];
                if (xs[l] + 4 <= w) {
                    _mm_storeu_ps(out, v);
                } else {
                    float part[4];
                    _mm_storeu_ps(part, v);
                    for (int64_t j = 0; j < w - xs[l]; j++) out[j] = part[j];
                }
            }
        }
    }
}

#endif
