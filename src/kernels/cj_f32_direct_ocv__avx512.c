/* The channel-vector direct convolution kernels, f32 AVX-512 (contract: direct_ocv.h): forward
 * tiles of one row or two, grad_weight tiles, and the 16 x 16 register transposes between vectors
 * of channels and NCHW rows. One function per tile width, so that the accumulators are registers
 * (28 of the 32 zmm at NX = 14, plus the two weight vectors). */
#include <immintrin.h>

#include "kernels/direct_ocv.h"

/* r[j] := column j of the 16 x 16 matrix whose rows are r[0..15]: pairs of rows interleaved by
 * 32 bits, then by 64 bits (4 x 4 blocks transposed within each 128-bit lane), then the 128-bit
 * lanes of four vectors transposed. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int a = 0; a < 16; a += 4) {
        const __m512d t0 = _mm512_castps_pd(t[a]), t1 = _mm512_castps_pd(t[a + 1]);
        const __m512d t2 = _mm512_castps_pd(t[a + 2]), t3 = _mm512_castps_pd(t[a + 3]);
        u[a] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[a + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[a + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[a + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    /* u[4a + b], lane L: rows 4a..4a+3 of column 4L + b */
#pragma GCC unroll 4
    for (int b = 0; b < 4; b++) {
        const __m512 v0 = _mm512_shuffle_f32x4(u[b], u[4 + b], 0x44), v1 = _mm512_shuffle_f32x4(u[b], u[4 + b], 0xEE);
        const __m512 v2 = _mm512_shuffle_f32x4(u[8 + b], u[12 + b], 0x44);
        const __m512 v3 = _mm512_shuffle_f32x4(u[8 + b], u[12 + b], 0xEE);
        r[b] = _mm512_shuffle_f32x4(v0, v2, 0x88);
        r[4 + b] = _mm512_shuffle_f32x4(v0, v2, 0xDD);
        r[8 + b] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[12 + b] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
    }
}

/* 16 channels (c0..c0+15) of nx pixels, one vector of channels per pixel in acc, into out (row m
 * at out + m * ld_out) plus the bias; channels >= mr are not written. */
static inline __attribute__((always_inline)) void store_channels(const cj_ocv_args *a, const __m512 *acc, int c0,
                                                                 const int NX, float *out) {
    __m512 r[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) r[i] = i < NX ? acc[i] : _mm512_setzero_ps();
    transpose16(r);
    const __mmask16 mask = (__mmask16)((1u << NX) - 1u);
#pragma GCC unroll 16
    for (int m = 0; m < 16; m++) {
        if (c0 + m >= a->mr) break;
        const __m512 v = a->bias ? _mm512_add_ps(r[m], _mm512_set1_ps(a->bias[c0 + m])) : r[m];
        _mm512_mask_storeu_ps(out + (c0 + m) * a->ld_out, mask, v);
    }
}

/* The output lines the tile's stores will write, fetched for writing while its sums run: the
 * stores (32 channel rows, 12 KB apart in alexnet.conv1's output) otherwise wait for each line
 * to come from memory, 12% of the kernel's samples there. alexnet.conv1 1.02-1.03x, lenet.conv2
 * and 8 x 64 x 56^2 3x3 1.02x; not in the two-row kernel, whose rows share lines and whose calls
 * are long (8 x 512 x 7^2: 0.95x with it). */
static inline __attribute__((always_inline)) void prefetch_out(const cj_ocv_args *a, const int NX) {
    for (int64_t m = 0; m < a->mr; m++) {
        __builtin_prefetch(a->out + m * a->ld_out, 1, 3);
        __builtin_prefetch(a->out + m * a->ld_out + NX - 1, 1, 3);
    }
}

static inline __attribute__((always_inline)) void ocv_body(const cj_ocv_args *a, const int NX) {
    __m512 lo[CJ_OCV_MAX_NX], hi[CJ_OCV_MAX_NX];
    prefetch_out(a, NX);
#pragma GCC unroll 14
    for (int x = 0; x < NX; x++) lo[x] = hi[x] = _mm512_setzero_ps();
    for (int64_t s = 0; s < a->nsrc; s++) {
        const float *row = a->src[s] + a->x0;
        const float *w = a->w + a->woff[s];
        for (int64_t t = 0; t < a->ntaps; t++, w += CJ_OCV_BLOCK) {
            const float *p = row + a->tap_off[t];
            const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
#pragma GCC unroll 14
            for (int x = 0; x < NX; x++) {
                const __m512 b = _mm512_set1_ps(p[x]);
                lo[x] = _mm512_fmadd_ps(w0, b, lo[x]);
                hi[x] = _mm512_fmadd_ps(w1, b, hi[x]);
            }
        }
    }
    store_channels(a, lo, 0, NX, a->out);
    store_channels(a, hi, 16, NX, a->out);
}

/* Two rows of NX pixels: 4 * NX accumulators. */
static inline __attribute__((always_inline)) void ocv_body2(const cj_ocv_args *a, const int NX) {
    enum { HALF = CJ_OCV_MAX_NX / 2 };
    __m512 lo[2][HALF], hi[2][HALF];
#pragma GCC unroll 7
    for (int x = 0; x < NX; x++) lo[0][x] = hi[0][x] = lo[1][x] = hi[1][x] = _mm512_setzero_ps();
    for (int64_t s = 0; s < a->nsrc; s++) {
        const float *row0 = a->src[s] + a->x0, *row1 = a->src2[s] + a->x0;
        const float *w = a->w + a->woff[s];
        for (int64_t t = 0; t < a->ntaps; t++, w += CJ_OCV_BLOCK) {
            const float *p0 = row0 + a->tap_off[t], *p1 = row1 + a->tap_off[t];
            const __m512 w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16);
#pragma GCC unroll 7
            for (int x = 0; x < NX; x++) {
                const __m512 b0 = _mm512_set1_ps(p0[x]), b1 = _mm512_set1_ps(p1[x]);
                lo[0][x] = _mm512_fmadd_ps(w0, b0, lo[0][x]);
                hi[0][x] = _mm512_fmadd_ps(w1, b0, hi[0][x]);
                lo[1][x] = _mm512_fmadd_ps(w0, b1, lo[1][x]);
                hi[1][x] = _mm512_fmadd_ps(w1, b1, hi[1][x]);
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < 2; r++) {
        store_channels(a, lo[r], 0, NX, a->out + r * a->out2);
        store_channels(a, hi[r], 16, NX, a->out + r * a->out2);
    }
}

#define OCV_PAIR(n)                                                                                \
    static void ocv2_##n(const cj_ocv_args *a) { ocv_body2(a, n); }
OCV_PAIR(1)
OCV_PAIR(2)
OCV_PAIR(3)
OCV_PAIR(4)
OCV_PAIR(5)
OCV_PAIR(6)
OCV_PAIR(7)

#define OCV_WIDTH(n)                                                                               \
    static void ocv_##n(const cj_ocv_args *a) { ocv_body(a, n); }
OCV_WIDTH(1)
OCV_WIDTH(2)
OCV_WIDTH(3)
OCV_WIDTH(4)
OCV_WIDTH(5)
OCV_WIDTH(6)
OCV_WIDTH(7)
OCV_WIDTH(8)
OCV_WIDTH(9)
OCV_WIDTH(10)
OCV_WIDTH(11)
OCV_WIDTH(12)
OCV_WIDTH(13)
OCV_WIDTH(14)

void cj_f32_direct_ocv__avx512(const cj_ocv_args *a) {
    static void (*const by_width[CJ_OCV_MAX_NX])(const cj_ocv_args *) = {
        ocv_1, ocv_2, ocv_3, ocv_4, ocv_5, ocv_6, ocv_7, ocv_8, ocv_9, ocv_10, ocv_11, ocv_12, ocv_13, ocv_14};
    static void (*const pairs_by_width[CJ_OCV_MAX_NX / 2])(const cj_ocv_args *) = {
        ocv2_1, ocv2_2, ocv2_3, ocv2_4, ocv2_5, ocv2_6, ocv2_7};
    if (a->src2) pairs_by_width[a->nx - 1](a);
    else by_width[a->nx - 1](a);
}

/* grad_weight: R source rows x JT taps x 2 vectors of output channels. */
static inline __attribute__((always_inline)) void wgrad_body(const cj_ocv_wgrad_args *a, const int R, const int JT) {
    enum { MAX = CJ_OCV_MAX_NX };
    __m512 lo[MAX], hi[MAX];
#pragma GCC unroll 14
    for (int q = 0; q < R * JT; q++) {
        lo[q] = _mm512_loadu_ps(a->tile + q * 32);
        hi[q] = _mm512_loadu_ps(a->tile + q * 32 + 16);
    }
    for (int64_t y = 0; y < a->nrows; y++) {
        const float *dy = a->dy + y * a->dy_step;
        const float *p[MAX];
#pragma GCC unroll 14
        for (int r = 0; r < R; r++)
#pragma GCC unroll 14
            for (int t = 0; t < JT; t++) p[r * JT + t] = a->src[r] + y * a->src_step + a->tap_off[t];
        for (int64_t x = 0; x < a->nx; x++) {
            const __m512 d0 = _mm512_loadu_ps(dy + x * 32), d1 = _mm512_loadu_ps(dy + x * 32 + 16);
#pragma GCC unroll 14
            for (int q = 0; q < R * JT; q++) {
                const __m512 b = _mm512_set1_ps(p[q][x]);
                lo[q] = _mm512_fmadd_ps(d0, b, lo[q]);
                hi[q] = _mm512_fmadd_ps(d1, b, hi[q]);
            }
        }
    }
#pragma GCC unroll 14
    for (int q = 0; q < R * JT; q++) {
        _mm512_storeu_ps(a->tile + q * 32, lo[q]);
        _mm512_storeu_ps(a->tile + q * 32 + 16, hi[q]);
    }
}

/* grad_weight with contiguous taps (stride 1, no dilation: tap t reads position u = x + t): the B
 * pixels of a block keep their grad_output vectors in registers and each source value src[u] is
 * broadcast once for every tap t it meets there (x = u - t in the block), so a broadcast feeds up
 * to JT FMA pairs instead of one. Loads per FMA: (2B + R (B + JT - 1)) / (2 R B JT), 0.3 for 5x5
 * against wgrad_body's (2 + R JT) / (2 R JT), 0.6. The same (x, t) products as wgrad_body, in
 * another order. All R rows at once (in groups, each group would read grad_output again: slower at
 * 3x3 and 7x7), B as large as the 32 registers allow after the 2 R JT sums. Used for 4 and 5 taps
 * (B 3 and 4): 1 thread, min of 2 x 6 rounds, lenet.conv2 7.15 -> 6.84 ms, alexnet.conv2 40.3 ->
 * 37.7, 8 x 64 x 28^2 4x4 4.15 -> 4.02; 3x3 (B 3) ran 3% slower, 7x7 (groups of 1 row, B 4) 4%. */
enum { SLIDE_B = 4 };

static inline __attribute__((always_inline)) void wgrad_slide(const cj_ocv_wgrad_args *a, const int R, const int JT) {
    enum { MAX = CJ_OCV_MAX_NX };
    const int B = (30 - 2 * R * JT) / 2 < SLIDE_B ? (30 - 2 * R * JT) / 2 : SLIDE_B;
    __m512 lo[MAX], hi[MAX];
#pragma GCC unroll 14
    for (int q = 0; q < R * JT; q++) {
        lo[q] = _mm512_loadu_ps(a->tile + q * 32);
        hi[q] = _mm512_loadu_ps(a->tile + q * 32 + 16);
    }
    const int64_t nx = a->nx, first = a->tap_off[0];
    for (int64_t y = 0; y < a->nrows; y++) {
        const float *dy = a->dy + y * a->dy_step;
        const float *s[MAX];
#pragma GCC unroll 14
        for (int r = 0; r < R; r++) s[r] = a->src[r] + y * a->src_step + first;
        int64_t x = 0;
        for (; x + B <= nx; x += B) {
            __m512 d0[SLIDE_B], d1[SLIDE_B];
#pragma GCC unroll 4
            for (int b = 0; b < B; b++) {
                d0[b] = _mm512_loadu_ps(dy + (x + b) * 32);
                d1[b] = _mm512_loadu_ps(dy + (x + b) * 32 + 16);
            }
#pragma GCC unroll 14
            for (int r = 0; r < R; r++)
#pragma GCC unroll 16
                for (int u = 0; u < B + JT - 1; u++) {
                    const __m512 v = _mm512_set1_ps(s[r][x + u]);
#pragma GCC unroll 14
                    for (int t = 0; t < JT; t++) {
                        const int b = u - t;
                        if (b < 0 || b >= B) continue;
                        lo[r * JT + t] = _mm512_fmadd_ps(d0[b], v, lo[r * JT + t]);
                        hi[r * JT + t] = _mm512_fmadd_ps(d1[b], v, hi[r * JT + t]);
                    }
                }
        }
        for (; x < nx; x++) { /* the last nx % B pixels, one at a time */
            const __m512 d0 = _mm512_loadu_ps(dy + x * 32), d1 = _mm512_loadu_ps(dy + x * 32 + 16);
#pragma GCC unroll 14
            for (int r = 0; r < R; r++)
#pragma GCC unroll 14
                for (int t = 0; t < JT; t++) {
                    const __m512 v = _mm512_set1_ps(s[r][x + t]);
                    lo[r * JT + t] = _mm512_fmadd_ps(d0, v, lo[r * JT + t]);
                    hi[r * JT + t] = _mm512_fmadd_ps(d1, v, hi[r * JT + t]);
                }
        }
    }
#pragma GCC unroll 14
    for (int q = 0; q < R * JT; q++) {
        _mm512_storeu_ps(a->tile + q * 32, lo[q]);
        _mm512_storeu_ps(a->tile + q * 32 + 16, hi[q]);
    }
}

static int taps_contiguous(const cj_ocv_wgrad_args *a) {
    for (int64_t t = 1; t < a->jt; t++)
        if (a->tap_off[t] != a->tap_off[0] + t) return 0;
    return 1;
}

#define WGRAD_TAPS(jt)                                                                             \
    static void wgrad_##jt(const cj_ocv_wgrad_args *a) {                                           \
        if ((jt) >= 4 && (jt) <= 5 && taps_contiguous(a)) wgrad_slide(a, (int)cj_ocv_wgrad_rows(jt), jt); \
        else wgrad_body(a, (int)cj_ocv_wgrad_rows(jt), jt);                                        \
    }
WGRAD_TAPS(1)
WGRAD_TAPS(2)
WGRAD_TAPS(3)
WGRAD_TAPS(4)
WGRAD_TAPS(5)
WGRAD_TAPS(6)
WGRAD_TAPS(7)
WGRAD_TAPS(8)
WGRAD_TAPS(9)
WGRAD_TAPS(10)
WGRAD_TAPS(11)
WGRAD_TAPS(12)
WGRAD_TAPS(13)
WGRAD_TAPS(14)

void cj_f32_direct_ocv_wgrad__avx512(const cj_ocv_wgrad_args *a) {
    static void (*const by_taps[CJ_OCV_MAX_NX])(const cj_ocv_wgrad_args *) = {
        wgrad_1, wgrad_2, wgrad_3, wgrad_4, wgrad_5, wgrad_6, wgrad_7,
        wgrad_8, wgrad_9, wgrad_10, wgrad_11, wgrad_12, wgrad_13, wgrad_14};
    by_taps[a->jt - 1](a);
}

void cj_f32_pixel_major32__avx512(const float *src, int64_t plane, int64_t channels, int64_t px, float *dst) {
    for (int64_t p0 = 0; p0 < px; p0 += 16) {
        const int64_t np = px - p0 < 16 ? px - p0 : 16;
        const __mmask16 mask = (__mmask16)((1u << np) - 1u);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512 r[16];
#pragma GCC unroll 16
            for (int i = 0; i < 16; i++) {
                const int64_t m = h * 16 + i;
                r[i] = m < channels ? _mm512_maskz_loadu_ps(mask, src + m * plane + p0) : _mm512_setzero_ps();
            }
            transpose16(r);
            for (int64_t i = 0; i < np; i++) _mm512_storeu_ps(dst + (p0 + i) * 32 + h * 16, r[i]);
        }
    }
}
