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
#include "kernels/lane_bits.h"
#include "kernels/winograd_transforms.h"

#define CJ_WINO_LANES 16

/* A window row's columns [lo, hi) of 8 (clamped). AVX-512 builds use its mask registers: one uop
 * per load, where AVX2's vmaskmovps is two on Intel. */
#ifdef __AVX512VL__
typedef __mmask8 lane_mask;
static inline __attribute__((always_inline)) lane_mask columns_mask(int64_t lo, int64_t hi) {
    return (lane_mask)cj_lane_bits(lo, hi, 8);
}
static inline __attribute__((always_inline)) __m256 masked_load(const float *p, lane_mask m) {
    return _mm256_maskz_loadu_ps(m, p);
}
#else
typedef __m256i lane_mask;
static inline __attribute__((always_inline)) lane_mask columns_mask(int64_t lo, int64_t hi) {
    return cj_avx2_range_mask(lo, hi);
}
static inline __attribute__((always_inline)) __m256 masked_load(const float *p, lane_mask m) {
    return _mm256_maskload_ps(p, m);
}
#endif

/* buf[i*n + j][l] = plane_l[(y_l + i)*w + x_l + j] for the n x n windows (n <= 8) of the lanes g
 * (plane at src + its base, origin (y_l, x_l)); zero outside the h x w plane and for lanes >= count. Prefetches
 * the same windows of the plane h*w further on. */
static inline void cj_wino_gather_f32(float (*restrict buf)[CJ_WINO_LANES], int n, const float *src,
                                      const cj_wino_lanes *g, int count, int64_t h, int64_t w) {
    for (int half = 0; half < CJ_WINO_LANES; half += 8) {
        lane_mask mask[8];
        int64_t origin[8], top[8]; /* the window's first row: offset from src (may be before the plane), row */
        int64_t all_lo = 0, all_hi = n; /* window rows inside the plane in every lane */
        for (int k = 0; k < 8; k++) {
            const int l = half + k;
            const int live = l < count;
            const int64_t x = live ? cj_wino_lane_x(g, l) : 0;
            top[k] = live ? cj_wino_lane_y(g, l) : h;
            mask[k] = live ? columns_mask(-x, w - x < n ? w - x : n) : columns_mask(0, 0);
            origin[k] = live ? cj_wino_lane_base(g, l) + top[k] * w + x : 0;
            all_lo = -top[k] > all_lo ? -top[k] : all_lo;
            all_hi = h - top[k] < all_hi ? h - top[k] : all_hi;
        }
        for (int i = 0; i < n; i++) {
            __m256 r[8];
            if (i >= all_lo && i < all_hi) { /* no row checks: they were most of the gather's work */
                for (int k = 0; k < 8; k++) r[k] = masked_load(src + origin[k] + i * w, mask[k]);
            } else {
                for (int k = 0; k < 8; k++) {
                    const int64_t y = top[k] + i;
                    r[k] = y >= 0 && y < h ? masked_load(src + origin[k] + i * w, mask[k]) : _mm256_setzero_ps();
                }
            }
            /* The same rows of the next channel, whose plane follows (the callers go channel by
             * channel over planes h*w apart; a prefetch past the tensor is harmless): the first and
             * last lane's lines of 8 lanes, so the rows are in cache when that channel's turn comes
             * (vgg16.conv1_2 forward 19.4-20.2 -> 17.7-18.0 ms at 1 thread, with tile groups the outer loop). */
            _mm_prefetch((const char *)(src + h * w + origin[0] + i * w), _MM_HINT_T0);
            _mm_prefetch((const char *)(src + h * w + origin[7] + i * w), _MM_HINT_T0);
            cj_avx2_transpose8(r);
            for (int j = 0; j < n; j++) _mm256_storeu_ps(&buf[i * n + j][half], r[j]);
        }
    }
}

/* The 4x4 output tiles y[i*4 + j][l] (+ bias) to row y_l + i, column x_l + j of lane l's plane
 * (g: at dst + its base), for lanes < count; the parts past the h x w plane are dropped. */
static inline void cj_wino_scatter4_f32(float *dst, const cj_wino_lanes *g, int count, int64_t h, int64_t w,
                                        float (*restrict y)[CJ_WINO_LANES], float bias) {
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
                const int64_t row = cj_wino_lane_y(g, l) + i, x = cj_wino_lane_x(g, l);
                if (row >= h) continue;
                const __m128 v = k < 4 ? _mm256_castps256_ps128(u[k]) : _mm256_extractf128_ps(u[k - 4], 1);
                float *out = dst + cj_wino_lane_base(g, l) + row * w + x;
                if (x + 4 <= w) {
                    _mm_storeu_ps(out, v);
                } else {
                    float part[4];
                    _mm_storeu_ps(part, v);
                    for (int64_t j = 0; j < w - x; j++) out[j] = part[j];
                }
            }
        }
    }
}

/* lanes[q*ld + l] = tap q (8 - q when rotate) of the 3x3 kernel at src + l*m_stride, for l < 8 and
 * q < 9: a whole panel row's kernels by 9 gathers and 8-lane stores, where the portable copy wrote
 * a float at a time that the transform then read by vectors (store forwarding cannot serve it). */
static inline void cj_wino_kernels8_f32(float *lanes, int ld, const float *src, int64_t m_stride, int rotate) {
    const __m256i at = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)m_stride));
    for (int q = 0; q < 9; q++) {
        const int tap = rotate ? 8 - q : q;
        _mm256_storeu_ps(lanes + q * ld, _mm256_i32gather_ps(src + tap, at, 4));
    }
}

#endif
