/* Depthwise plane kernels, f32 AVX2 (contract: dwconv.h). AVX2 has no masked FMA. correlate with an
 * undilated 3x3 or 7x7 kernel reads the plane in place, masking only the loads of the edge
 * columns (see correlate_inplace); everything else stages a band of source rows into a zero-padded
 * buffer so that the hot loops are plain loads and FMAs. A padding zero times a finite value adds
 * exactly nothing; where it could meet a non-finite one (a plane's weights in correlate, its
 * weight-gradient sums in wgrad come out non-finite) the plane is redone by the exact kernels.
 *
 * A tile is R destination rows x NV vectors of 8 lanes. Undilated 3x3, 5x5 and 7x7 kernels are
 * unrolled at compile time (every load at a constant offset) so that each staged row is loaded
 * once per tap column for all R rows it feeds; other kernels loop over their taps. */
#include <immintrin.h>
#include <string.h>

#include "kernels/avx2_lanes.h"
#include "kernels/dwconv.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* gcc turns the short zeroing loops of a staged row into memset calls, each dearer than the loop. */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_LIBCALLS
#endif

enum { LANES = 8, MAX_NV = CJ_DW_CHUNK / LANES };

/* Source rows sy0 .. sy0 + rows - 1 into stage rows of width sw, column sx holding source column
 * sx + off_w, zero outside the source. Rows are short (tens of floats): vector loops, not library
 * calls, whose call overhead would cost as much as the copy. The last vector of a row may spill
 * up to 7 floats into the next row (rewritten next) or the stage's slack. */
NO_LIBCALLS static void stage_rows(const cj_dw_plane *p, int64_t sy0, int64_t rows, int64_t sw, float *stage) {
    int64_t lo = -p->off_w, hi = p->src_w - p->off_w;
    lo = lo < 0 ? 0 : lo > sw ? sw : lo;
    hi = hi < lo ? lo : hi > sw ? sw : hi;
    const int64_t n = hi - lo;
    for (int64_t r = 0; r < rows; r++) {
        float *dst = stage + r * sw;
        const int64_t sy = sy0 + r;
        if (sy < 0 || sy >= p->src_h) {
            for (int64_t x = 0; x < sw; x += LANES) _mm256_storeu_ps(dst + x, _mm256_setzero_ps());
            continue;
        }
        /* Whole zero vectors on both sides (the copy rewrites what the left ones overshoot). */
        for (int64_t x = 0; x < lo; x += LANES) _mm256_storeu_ps(dst + x, _mm256_setzero_ps());
        const float *src = p->src + sy * p->src_w + lo + p->off_w;
        int64_t x = 0;
        for (; x + LANES <= n; x += LANES) _mm256_storeu_ps(dst + lo + x, _mm256_loadu_ps(src + x));
        if (x < n) _mm256_storeu_ps(dst + lo + x, _mm256_maskload_ps(src + x, cj_avx2_tail_mask(n - x)));
        for (x = hi; x < sw; x += LANES) _mm256_storeu_ps(dst + x, _mm256_setzero_ps());
    }
}

ALWAYS_INLINE __m256 load_lanes(const float *src, int64_t lanes) {
    return lanes >= LANES ? _mm256_loadu_ps(src) : _mm256_maskload_ps(src, cj_avx2_tail_mask(lanes));
}

/* R rows x NV vectors of an undilated K x K kernel: staged row s feeds destination
 * rows r = s - i for each kernel row i, so it is loaded once per tap column. */
ALWAYS_INLINE void correlate_tile_fixed(const float *st, int64_t sw, const __m256 *wv, float bias,
                                        float *dst, int64_t ld_dst, int64_t nx, const int K, const int R,
                                        const int NV) {
    __m256 acc[4][MAX_NV];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_set1_ps(bias);
#pragma GCC unroll 16
    for (int s = 0; s < R + K - 1; s++) {
        const float *row = st + s * sw;
#pragma GCC unroll 8
        for (int j = 0; j < K; j++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                const __m256 x = _mm256_loadu_ps(row + j + v * LANES);
#pragma GCC unroll 4
                for (int r = 0; r < R; r++) {
                    const int i = s - r;
                    if (i >= 0 && i < K) acc[r][v] = _mm256_fmadd_ps(wv[i * K + j], x, acc[r][v]);
                }
            }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) cj_avx2_store_lanes(dst + r * ld_dst + v * LANES, acc[r][v], nx - v * LANES);
}

/* Any kernel: R rows x NV vectors, looping over the taps. */
ALWAYS_INLINE void correlate_tile_any(const cj_dw_plane *p, const float *st, int64_t sw, const float *w, float bias,
                                      float *dst, int64_t ld_dst, int64_t nx, const int R, const int NV) {
    __m256 acc[4][MAX_NV];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] = _mm256_set1_ps(bias);
    for (int64_t i = 0; i < p->kh; i++)
        for (int64_t j = 0; j < p->kw; j++) {
            const __m256 wv = _mm256_broadcast_ss(w + i * p->kw + j);
            const float *row = st + i * p->dil_h * sw + j * p->dil_w;
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(row + r * sw + v * LANES), acc[r][v]);
        }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) cj_avx2_store_lanes(dst + r * ld_dst + v * LANES, acc[r][v], nx - v * LANES);
}

/* The band's rows for the chunk at x0: tiles of R rows (8 accumulators), then single rows. */
ALWAYS_INLINE void correlate_chunk(const cj_dw_plane *p, const float *st, int64_t sw, const float *w,
                                   const __m256 *wv, float bias, int64_t y0, int64_t rows, int64_t x0, const int K,
                                   const int NV) {
    const int R = 4; /* x NV <= 2 vectors: 8 accumulators, measured best of 1-8 rows x 1-4 vectors */
    const int64_t nx = p->dst_w - x0;
    float *dst = p->dst + y0 * p->dst_w + x0;
    int64_t y = 0;
    for (; y + R <= rows; y += R) {
        if (K) correlate_tile_fixed(st + y * sw + x0, sw, wv, bias, dst + y * p->dst_w, p->dst_w, nx, K, R, NV);
        else correlate_tile_any(p, st + y * sw + x0, sw, w, bias, dst + y * p->dst_w, p->dst_w, nx, R, NV);
    }
    for (; y < rows; y++) {
        if (K) correlate_tile_fixed(st + y * sw + x0, sw, wv, bias, dst + y * p->dst_w, p->dst_w, nx, K, 1, NV);
        else correlate_tile_any(p, st + y * sw + x0, sw, w, bias, dst + y * p->dst_w, p->dst_w, nx, 1, NV);
    }
}

ALWAYS_INLINE void correlate_band(const cj_dw_plane *p, const float *st, int64_t sw, const float *w,
                                  const __m256 *wv, float bias, int64_t y0, int64_t rows, const int K) {
    for (int64_t x0 = 0; x0 < p->dst_w; x0 += CJ_DW_CHUNK) {
        if (p->dst_w - x0 > LANES) correlate_chunk(p, st, sw, w, wv, bias, y0, rows, x0, K, 2);
        else correlate_chunk(p, st, sw, w, wv, bias, y0, rows, x0, K, 1);
    }
}

/* In place, undilated K x K (3, 7): the source plane is read where it lies. A tile is R
 * destination rows; its R + K - 1 source rows are pointers, a row outside the plane pointing at a
 * zeroed row. A column of vectors whose taps reach past either end of the source rows (EDGE: the
 * first and last column or two) loads its 8 + K - 1 source columns of a row as two masked vectors
 * (zeros outside the row, nothing outside the plane read) and shifts the K tap vectors out of them
 * in registers; one masked load per tap would cost more, and in the unrolled tile it would also
 * make blocks that valgrind cannot translate. The zeros meet finite weights only (the caller
 * checks), so they add exactly nothing. */
enum { MAX_EDGE_COLUMNS = 3 };
typedef struct {
    int64_t columns;           /* vectors of 8 per destination row */
    int64_t first_inner;       /* columns [first_inner, end_inner) read no lane outside the rows */
    int64_t end_inner;
    __m256i left[MAX_EDGE_COLUMNS][2], right[MAX_EDGE_COLUMNS][2]; /* an edge column's lanes inside */
} column_plan;

/* Lanes j .. j + 7 of the 16 in lo, hi (mid = lanes 4 .. 11), j a constant 0 .. 7. */
ALWAYS_INLINE __m256 lanes_from(__m256 lo, __m256 mid, __m256 hi, const int j) {
    const __m256i l = _mm256_castps_si256(lo), m = _mm256_castps_si256(mid), h = _mm256_castps_si256(hi);
    switch (j) {
    case 0: return lo;
    case 1: return _mm256_castsi256_ps(_mm256_alignr_epi8(m, l, 4));
    case 2: return _mm256_castsi256_ps(_mm256_alignr_epi8(m, l, 8));
    case 3: return _mm256_castsi256_ps(_mm256_alignr_epi8(m, l, 12));
    case 4: return mid;
    case 5: return _mm256_castsi256_ps(_mm256_alignr_epi8(h, m, 4));
    case 6: return _mm256_castsi256_ps(_mm256_alignr_epi8(h, m, 8));
    default: return _mm256_castsi256_ps(_mm256_alignr_epi8(h, m, 12));
    }
}

/* R rows x one vector at destination column x0: rows[s] + x0 + j is where tap (s - r, j) of row r
 * reads. Sizes come as values, not through p: the vector stores may alias anything, which would
 * make the compiler reload p's fields after each. */
ALWAYS_INLINE void inplace_vector(const float *const *rows, const __m256i *inside, const __m256 *wv, __m256 bias,
                                  float *dst, int64_t dst_w, int64_t x0, const int K, const int R, const int EDGE) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) acc[r] = bias;
#pragma GCC unroll 16
    for (int s = 0; s < R + K - 1; s++) {
        const float *row = rows[s] + x0;
        __m256 lo = _mm256_setzero_ps(), mid = lo, hi = lo;
        if (EDGE) {
            lo = _mm256_maskload_ps(row, inside[0]);
            hi = _mm256_maskload_ps(row + LANES, inside[1]);
            mid = _mm256_permute2f128_ps(lo, hi, 0x21);
        }
#pragma GCC unroll 8
        for (int j = 0; j < K; j++) {
            const __m256 x = EDGE ? lanes_from(lo, mid, hi, j) : _mm256_loadu_ps(row + j);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const int i = s - r;
                if (i >= 0 && i < K) acc[r] = _mm256_fmadd_ps(wv[i * K + j], x, acc[r]);
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) cj_avx2_store_lanes(dst + r * dst_w + x0, acc[r], dst_w - x0);
}

/* Destination rows y .. y + R - 1, every column; source rows outside the plane read the zero row.
 * One loop takes both edges' columns so that the edge tile is compiled once per (K, R): the
 * unrolled tiles are large, and twice as many made the sanitizer and fuzzer builds of this file
 * take minutes. */
ALWAYS_INLINE void inplace_rows(const cj_dw_plane *p, const column_plan *cp, const float *zero_row,
                                const __m256 *wv, __m256 bias, int64_t y, const int K, const int R) {
    const int64_t src_w = p->src_w, dst_w = p->dst_w, first = cp->first_inner, end = cp->end_inner;
    const int64_t columns = cp->columns, sy0 = y + p->off_h;
    const float *rows[8 + 7 - 1];
    const float *top = p->src + sy0 * src_w + p->off_w;
#pragma GCC unroll 16
    for (int s = 0; s < R + K - 1; s++)
        rows[s] = sy0 + s < 0 || sy0 + s >= p->src_h ? zero_row + p->off_w : top + s * src_w;
    float *dst = p->dst + y * dst_w;
    for (int64_t c = 0; c < columns; c++) {
        if (c == first) {
            for (; c < end; c++) inplace_vector(rows, NULL, wv, bias, dst, dst_w, c * LANES, K, R, 0);
            if (c == columns) break;
        }
        const __m256i *inside = c < first ? cp->left[c] : cp->right[c - end];
        inplace_vector(rows, inside, wv, bias, dst, dst_w, c * LANES, K, R, 1);
    }
}

ALWAYS_INLINE void correlate_inplace(const cj_dw_plane *p, const column_plan *cp, const float *zero_row,
                                     const float *w, float bias, const int K) {
    /* 7 accumulators beside a 3x3's 9 weights fill the 16 registers. A 7x7's 49 weights live in
     * memory anyway, and 4 rows measured a little faster there (1.92 vs 1.99 us per 28x28 plane). */
    const int R = K == 7 ? 4 : 7;
    __m256 wv[K * K];
#pragma GCC unroll 64
    for (int t = 0; t < K * K; t++) wv[t] = _mm256_broadcast_ss(w + t);
    const __m256 b = _mm256_set1_ps(bias);
    const int64_t dst_h = p->dst_h;
    if (dst_h < R) { /* too short for one tile */
        for (int64_t y = 0; y < dst_h; y++) inplace_rows(p, cp, zero_row, wv, b, y, K, 1);
        return;
    }
    /* Whole tiles; the last one ends at the last row, redoing up to R - 1 rows (the same values). */
    for (int64_t y = 0;; y += R) {
        if (y > dst_h - R) y = dst_h - R;
        inplace_rows(p, cp, zero_row, wv, b, y, K, R);
        if (y == dst_h - R) break;
    }
}

/* The columns of the plane: inner ones and the edge ones' masks. 0 when an edge has more columns
 * than the plan holds (padding wider than ~2 vectors: the staged path takes the plane). */
static int plan_columns(const cj_dw_plane *p, int64_t K, column_plan *cp) {
    cp->columns = (p->dst_w + LANES - 1) / LANES;
    /* Column c reads source columns c*8 + off_w .. c*8 + off_w + K - 1 + 7. */
    int64_t first = p->off_w >= 0 ? 0 : (-p->off_w + LANES - 1) / LANES;
    int64_t last = p->src_w - p->off_w - K + 1 - LANES; /* the last inner column's x0, floored to columns */
    int64_t end = last < 0 ? 0 : last / LANES + 1;
    first = first > cp->columns ? cp->columns : first;
    end = end < first ? first : end > cp->columns ? cp->columns : end;
    cp->first_inner = first, cp->end_inner = end;
    if (first > MAX_EDGE_COLUMNS || cp->columns - end > MAX_EDGE_COLUMNS) return 0;
    for (int64_t c = 0; c < cp->columns; c++) {
        if (c == first) c = end;
        if (c >= cp->columns) break;
        __m256i *m = c < first ? cp->left[c] : cp->right[c - end];
        /* Lane l of half h holds source column sx + 8h + l: inside when -sx-8h <= l < src_w-sx-8h. */
        const int64_t sx = c * LANES + p->off_w;
        for (int64_t h = 0; h < 2; h++) m[h] = cj_avx2_range_mask(-sx - h * LANES, p->src_w - sx - h * LANES);
    }
    return 1;
}

/* Destination rows per band: as many as the stage holds. */
static int64_t band_rows(const cj_dw_plane *p, int64_t sw) {
    return (CJ_DW_STAGE_FLOATS - CJ_DW_STAGE_SLACK) / sw - (p->kh - 1) * p->dil_h;
}

void cj_f32_dwconv_plane__avx2(const cj_dw_plane *p, const float *w, float bias, float *stage) {
    const int64_t taps = p->kh * p->kw;
    if (!cj_dw_all_finite(w, taps)) {
        cj_f32_dwconv_plane_exact(p, w, bias);
        return;
    }
    const int K = p->kh == p->kw && p->dil_h == 1 && p->dil_w == 1 && (p->kh == 3 || p->kh == 5 || p->kh == 7)
                      ? (int)p->kh
                      : 0;
    __m256 wv[CJ_DW_MAX_KW * CJ_DW_MAX_KW];
    for (int64_t t = 0; K && t < taps; t++) wv[t] = _mm256_set1_ps(w[t]);
    /* In place for 3x3 and 7x7 (MobileNet's, ConvNeXt's); 5x5 gained only 5% there (945 against
     * 1005 ns per 28x28 plane) and its unrolled tiles cost the sanitizer and fuzzer builds minutes. */
    column_plan cp;
    if ((K == 3 || K == 7) && p->src_w <= CJ_DW_STAGE_FLOATS && plan_columns(p, K, &cp)) {
        for (int64_t x = 0; x < p->src_w; x++) stage[x] = 0.0f; /* the zero row */
        if (K == 3) correlate_inplace(p, &cp, stage, w, bias, 3);
        else correlate_inplace(p, &cp, stage, w, bias, 7);
        return;
    }
    const int64_t sw = cj_dw_stage_width(p->dst_w, p->kw, p->dil_w), band = band_rows(p, sw);
    for (int64_t y0 = 0; y0 < p->dst_h; y0 += band) {
        const int64_t rows = p->dst_h - y0 < band ? p->dst_h - y0 : band;
        stage_rows(p, y0 + p->off_h, rows + (p->kh - 1) * p->dil_h, sw, stage);
        switch (K) {
        case 3: correlate_band(p, stage, sw, w, wv, bias, y0, rows, 3); break;
        case 5: correlate_band(p, stage, sw, w, wv, bias, y0, rows, 5); break;
        case 7: correlate_band(p, stage, sw, w, wv, bias, y0, rows, 7); break;
        default: correlate_band(p, stage, sw, w, wv, bias, y0, rows, 0); break;
        }
    }
}

static float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* Undilated 3x3: all nine sums in registers, each staged row loaded once for the three
 * destination rows it meets (y = s - i for kernel row i). */
ALWAYS_INLINE void wgrad_chunk_3x3(const cj_dw_plane *p, const float *st, int64_t sw, int64_t y0, int64_t rows,
                                   int64_t x0, float *sums, const int NV) {
    __m256 acc[3][3];
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++) acc[i][j] = _mm256_setzero_ps();
    const int64_t nx = p->dst_w - x0;
    for (int64_t s = 0; s < rows + 2; s++) {
        const float *row = st + s * sw + x0;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __m256 src[3];
#pragma GCC unroll 3
            for (int j = 0; j < 3; j++) src[j] = _mm256_loadu_ps(row + j + v * LANES);
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++) {
                const int64_t y = s - i;
                if (y < 0 || y >= rows) continue;
                const __m256 g = load_lanes(p->dst + (y0 + y) * p->dst_w + x0 + v * LANES, nx - v * LANES);
#pragma GCC unroll 3
                for (int j = 0; j < 3; j++) acc[i][j] = _mm256_fmadd_ps(g, src[j], acc[i][j]);
            }
        }
    }
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++) sums[i * 3 + j] += hsum(acc[i][j]);
}

/* Any kernel: for each kernel row, one sum per tap column in registers. */
ALWAYS_INLINE void wgrad_chunk_any(const cj_dw_plane *p, const float *st, int64_t sw, int64_t y0, int64_t rows,
                                   int64_t x0, float *sums, const int NV) {
    const int64_t nx = p->dst_w - x0, kw = p->kw, dil_w = p->dil_w;
    for (int64_t i = 0; i < p->kh; i++) {
        __m256 acc[CJ_DW_MAX_KW];
#pragma GCC unroll 8
        for (int j = 0; j < CJ_DW_MAX_KW; j++) acc[j] = _mm256_setzero_ps();
        for (int64_t y = 0; y < rows; y++) {
            const float *row = st + (y + i * p->dil_h) * sw + x0, *g = p->dst + (y0 + y) * p->dst_w + x0;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                const __m256 gv = load_lanes(g + v * LANES, nx - v * LANES);
#pragma GCC unroll 8
                for (int j = 0; j < CJ_DW_MAX_KW; j++) {
                    if (j >= kw) break;
                    acc[j] = _mm256_fmadd_ps(gv, _mm256_loadu_ps(row + j * dil_w + v * LANES), acc[j]);
                }
            }
        }
#pragma GCC unroll 8
        for (int j = 0; j < CJ_DW_MAX_KW; j++) {
            if (j >= kw) break;
            sums[i * kw + j] += hsum(acc[j]);
        }
    }
}

ALWAYS_INLINE void wgrad_band(const cj_dw_plane *p, const float *st, int64_t sw, int64_t y0, int64_t rows,
                              float *sums, const int is3x3) {
    for (int64_t x0 = 0; x0 < p->dst_w; x0 += CJ_DW_CHUNK) {
        const int wide = p->dst_w - x0 > LANES; /* a chunk of two vectors, or the last of one */
        if (is3x3 && wide) wgrad_chunk_3x3(p, st, sw, y0, rows, x0, sums, 2);
        else if (is3x3) wgrad_chunk_3x3(p, st, sw, y0, rows, x0, sums, 1);
        else if (wide) wgrad_chunk_any(p, st, sw, y0, rows, x0, sums, 2);
        else wgrad_chunk_any(p, st, sw, y0, rows, x0, sums, 1);
    }
}

void cj_f32_dwconv_wgrad_plane__avx2(const cj_dw_plane *p, float *dw, float *stage, double *gsum) {
    const int64_t taps = p->kh * p->kw;
    float sums[CJ_DW_MAX_KW * CJ_DW_MAX_KW] = {0};
    const int is3x3 = p->kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1;
    const int64_t sw = cj_dw_stage_width(p->dst_w, p->kw, p->dil_w), band = band_rows(p, sw);
    for (int64_t y0 = 0; y0 < p->dst_h; y0 += band) {
        const int64_t rows = p->dst_h - y0 < band ? p->dst_h - y0 : band;
        stage_rows(p, y0 + p->off_h, rows + (p->kh - 1) * p->dil_h, sw, stage);
        if (is3x3) wgrad_band(p, stage, sw, y0, rows, sums, 1);
        else wgrad_band(p, stage, sw, y0, rows, sums, 0);
    }
    /* A finite sum had only finite terms, so its padding terms were exact zeros. */
    if (!cj_dw_all_finite(sums, taps)) {
        cj_f32_dwconv_wgrad_plane_exact(p, dw);
    } else {
        for (int64_t t = 0; t < taps; t++) dw[t] += sums[t];
    }
    if (gsum) *gsum += cj_dw_plane_sum(p->dst, p->dst_h * p->dst_w); /* the plane is in cache now */
}
