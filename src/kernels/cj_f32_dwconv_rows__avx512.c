/* Depthwise 3x3 kernels for narrow planes, f32 AVX-512 (contract: dwconv.h): undilated 3x3 with
 * one column of padding each side (source and destination rows equally wide, tap column j reading
 * source column x - 1 + j), rows of up to 64 values. A source row's NV vectors are loaded once,
 * whole (a row starts mid-line, so each is one line-splitting load), and tap columns 0 and 2 are
 * those vectors shifted by one lane, the neighbour vector's end lane brought in by valignd: 1 load
 * and 2 shuffles per 16 lanes where the column tiles of cj_f32_dwconv_plane__avx512.c spend 3
 * split loads, their bound. Lanes past the row load as zeros, which are the padding. Zeros meet
 * finite weights only in the forward kernel; the wgrad kernel checks its sums instead (as the
 * column path does). In L1, Granite Rapids, ns per plane, column tiles -> these: forward 7^2
 * 30 -> 20, 14^2 52 -> 33, 28^2 152 -> 108, 56^2 559 -> 466; wgrad 65 -> 54, 78 -> 69, 194 -> 140,
 * 684 -> 447. Source rows outside the plane add nothing (forward skips them, wgrad multiplies
 * zeros). No software prefetch of the next plane: asking for its lines into L2 a few per step
 * (planes stream from L3 at 1 thread) was worth 0-9% on 28^2 planes and cost 4-7% on 56^2. */
#include <immintrin.h>

#include "kernels/dwconv.h"
#include "kernels/lane_bits.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Keeps a loaded vector in its register for every instruction that uses it (see the plane file). */
#define LOAD_ONCE(v) __asm__("" : "+v"(v))

enum { LANES = 16, MAX_VECS = 4 };

int cj_dw_rows_3x3_fits(const cj_dw_plane *p) {
    return p->kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1 && p->off_w == -1 && p->src_w == p->dst_w &&
           p->dst_w >= 1 && p->dst_w <= MAX_VECS * LANES;
}

/* The lanes of a row's last vector that lie inside the row. */
static __mmask16 last_lanes(int64_t w, int nv) {
    return (__mmask16)cj_lane_bits(0, w - (int64_t)(nv - 1) * LANES, LANES);
}

/* x shifted one lane up (lane l holds x[l - 1]; lane 0 the previous vector's lane 15) and down. */
ALWAYS_INLINE __m512 shift_in_left(__m512 x, __m512 prev) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(x), _mm512_castps_si512(prev), 15));
}
ALWAYS_INLINE __m512 shift_in_right(__m512 x, __m512 next) {
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(x), 1));
}

/* ---- correlate -------------------------------------------------------------------------------- */

/* Destination rows y .. y + R - 1: R x NV accumulators, each source row loaded once and added to
 * the (up to three) rows it feeds. */
ALWAYS_INLINE void correlate_tile(const cj_dw_plane *p, const __m512 wv[9], __m512 bias, int64_t y, __mmask16 last,
                                  const int NV, const int R) {
    const int64_t w = p->dst_w;
    __m512 acc[16];
#pragma GCC unroll 16
    for (int a = 0; a < R * NV; a++) acc[a] = bias;
#pragma GCC unroll 16
    for (int s = 0; s < R + 2; s++) {
        const int64_t sy = y + p->off_h + s;
        if (sy < 0 || sy >= p->src_h) continue;
        const float *row = p->src + sy * w;
        __m512 x[MAX_VECS];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            x[v] = _mm512_maskz_loadu_ps(v == NV - 1 ? last : 0xFFFF, row + v * LANES);
            LOAD_ONCE(x[v]);
        }
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            const __m512 left = shift_in_left(x[v], v ? x[v - 1] : _mm512_setzero_ps());
            const __m512 right = shift_in_right(x[v], v + 1 < NV ? x[v + 1] : _mm512_setzero_ps());
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++) {
                const int r = s - i; /* the destination row kernel row i of source row s feeds */
                if (r < 0 || r >= R) continue;
                acc[r * NV + v] = _mm512_fmadd_ps(wv[i * 3 + 0], left, acc[r * NV + v]);
                acc[r * NV + v] = _mm512_fmadd_ps(wv[i * 3 + 1], x[v], acc[r * NV + v]);
                acc[r * NV + v] = _mm512_fmadd_ps(wv[i * 3 + 2], right, acc[r * NV + v]);
            }
        }
    }
    float *dst = p->dst + y * w;
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            _mm512_mask_storeu_ps(dst + r * w + v * LANES, v == NV - 1 ? last : 0xFFFF, acc[r * NV + v]);
}

ALWAYS_INLINE void correlate_plane(const cj_dw_plane *p, const float *w, float bias, const int NV, const int R) {
    __m512 wv[9];
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++) wv[t] = _mm512_set1_ps(w[t]);
    const __m512 b = _mm512_set1_ps(bias);
    const int64_t dst_h = p->dst_h, width = p->dst_w;
    const __mmask16 last = last_lanes(width, NV);
    if (dst_h < R) { /* too short for one tile */
        for (int64_t y = 0; y < dst_h; y++) correlate_tile(p, wv, b, y, last, NV, 1);
        return;
    }
    /* Whole tiles; the last one ends at the last row, redoing up to R - 1 rows (the same values). */
    for (int64_t y = 0;; y += R) {
        if (y > dst_h - R) y = dst_h - R;
        correlate_tile(p, wv, b, y, last, NV, R);
        if (y == dst_h - R) break;
    }
}

void cj_f32_dwconv_rows_3x3__avx512(const cj_dw_plane *p, const float *w, float bias) {
    /* Rows per tile: as many accumulators as leave registers for 9 weights and the source row. */
    switch ((p->dst_w + LANES - 1) / LANES) {
    case 1: correlate_plane(p, w, bias, 1, 7); break;
    case 2: correlate_plane(p, w, bias, 2, 7); break;
    case 3: correlate_plane(p, w, bias, 3, 4); break;
    default: correlate_plane(p, w, bias, 4, 3); break;
    }
}

/* ---- wgrad ------------------------------------------------------------------------------------ */

/* acc[i*3 + j] += g_i * tap column j, for kernel rows i = 0, 1, 2 (g0, g1, g2). */
ALWAYS_INLINE void wgrad_taps(__m512 acc[9], __m512 g0, __m512 g1, __m512 g2, __m512 left, __m512 mid,
                              __m512 right) {
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++) {
        const __m512 gi = i == 0 ? g0 : i == 1 ? g1 : g2;
        acc[i * 3 + 0] = _mm512_fmadd_ps(gi, left, acc[i * 3 + 0]);
        acc[i * 3 + 1] = _mm512_fmadd_ps(gi, mid, acc[i * 3 + 1]);
        acc[i * 3 + 2] = _mm512_fmadd_ps(gi, right, acc[i * 3 + 2]);
    }
}

/* Step t meets grad_output row t (g, NULL past the last) and source row t + off_h (row, NULL
 * outside the plane), whose vectors meet grad_output rows t, t - 1 and t - 2 (kernel rows 0, 1, 2:
 * g0, g1, g2, kept in registers). Two sets of sums give independent FMA chains: the step's parity
 * (SET) for one vector a row, the row's two vectors for two; with three or four a row the chains
 * are long enough with one set (and there are no registers for a second). */
ALWAYS_INLINE void wgrad_step(const float *row, const float *g, __mmask16 last, __m512 g0[MAX_VECS],
                              __m512 g1[MAX_VECS], __m512 g2[MAX_VECS], __m512 acc0[9], __m512 acc1[9], __m512 *gs,
                              const int SET, const int NV) {
    const __m512 zero = _mm512_setzero_ps();
    __m512 x[MAX_VECS];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        const __mmask16 lanes = v == NV - 1 ? last : 0xFFFF;
        g2[v] = g1[v];
        g1[v] = g0[v];
        g0[v] = g ? _mm512_maskz_loadu_ps(lanes, g + v * LANES) : zero;
        *gs = _mm512_add_ps(*gs, g0[v]); /* each grad_output row is loaded here once: grad_bias's terms */
        x[v] = row ? _mm512_maskz_loadu_ps(lanes, row + v * LANES) : zero;
        LOAD_ONCE(x[v]);
    }
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        const __m512 left = shift_in_left(x[v], v ? x[v - 1] : zero);
        const __m512 right = shift_in_right(x[v], v + 1 < NV ? x[v + 1] : zero);
        /* Two calls, not one through a chosen pointer: gcc kept the sums in registers only so. */
        if (NV == 1 ? SET : NV == 2 ? v : 0) wgrad_taps(acc1, g0[v], g1[v], g2[v], left, x[v], right);
        else wgrad_taps(acc0, g0[v], g1[v], g2[v], left, x[v], right);
    }
}

/* Steps [t0, t1) (at most a band: the grad_output sum gs is f32), added to total and gtotal. The
 * sums are local to the band so that gcc keeps them in registers (declared in the caller, they
 * were stored to the stack at every step: 28 x 28 planes 207 ns instead of 142). */
ALWAYS_INLINE void wgrad_band(const cj_dw_plane *p, int64_t t0, int64_t t1, __mmask16 last, __m512 total[9],
                              __m512d *gtotal, const int NV) {
    const int64_t w = p->dst_w, dst_h = p->dst_h;
    __m512 acc0[9], acc1[9], g0[MAX_VECS], g1[MAX_VECS], g2[MAX_VECS], gs = _mm512_setzero_ps();
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++) acc0[t] = acc1[t] = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        const __mmask16 lanes = v == NV - 1 ? last : 0xFFFF;
        const float *g = p->dst + v * LANES;
        g0[v] = t0 >= 1 && t0 - 1 < dst_h ? _mm512_maskz_loadu_ps(lanes, g + (t0 - 1) * w) : _mm512_setzero_ps();
        g1[v] = t0 >= 2 && t0 - 2 < dst_h ? _mm512_maskz_loadu_ps(lanes, g + (t0 - 2) * w) : _mm512_setzero_ps();
        g2[v] = _mm512_setzero_ps();
    }
    for (int64_t t = t0; t < t1; t += 2) {
        int64_t sy = t + p->off_h;
        const float *row = sy >= 0 && sy < p->src_h ? p->src + sy * w : NULL;
        wgrad_step(row, t < dst_h ? p->dst + t * w : NULL, last, g0, g1, g2, acc0, acc1, &gs, 0, NV);
        if (t + 1 == t1) break;
        sy++;
        row = sy >= 0 && sy < p->src_h ? p->src + sy * w : NULL;
        wgrad_step(row, t + 1 < dst_h ? p->dst + (t + 1) * w : NULL, last, g0, g1, g2, acc0, acc1, &gs, 1, NV);
    }
#pragma GCC unroll 9
    for (int t = 0; t < 9; t++) total[t] = _mm512_add_ps(total[t], _mm512_add_ps(acc0[t], acc1[t]));
    *gtotal = _mm512_add_pd(*gtotal, _mm512_cvtps_pd(_mm512_castps512_ps256(gs)));
    *gtotal = _mm512_add_pd(*gtotal, _mm512_cvtps_pd(_mm512_extractf32x8_ps(gs, 1)));
}

ALWAYS_INLINE int wgrad_plane(const cj_dw_plane *p, float *dw, double *gsum, const int NV) {
    const int64_t steps = p->dst_h + 2, band = 32;
    const __mmask16 last = last_lanes(p->dst_w, NV);
    __m512 total[9];
    __m512d gtotal = _mm512_setzero_pd();
    for (int t = 0; t < 9; t++) total[t] = _mm512_setzero_ps();
    for (int64_t t0 = 0; t0 < steps; t0 += band)
        wgrad_band(p, t0, steps - t0 < band ? steps : t0 + band, last, total, &gtotal, NV);
    float sums[9];
    for (int t = 0; t < 9; t++) sums[t] = _mm512_reduce_add_ps(total[t]);
    if (!cj_dw_all_finite(sums, 9)) return 0;
    for (int t = 0; t < 9; t++) dw[t] += sums[t];
    if (gsum) *gsum += _mm512_reduce_add_pd(gtotal);
    return 1;
}

int cj_f32_dwconv_wgrad_rows_3x3__avx512(const cj_dw_plane *p, float *dw, double *gsum) {
    switch ((p->dst_w + LANES - 1) / LANES) {
    case 1: return wgrad_plane(p, dw, gsum, 1);
    case 2: return wgrad_plane(p, dw, gsum, 2);
    case 3: return wgrad_plane(p, dw, gsum, 3);
    default: return wgrad_plane(p, dw, gsum, 4);
    }
}
