/* Depthwise plane kernels, f32 AVX-512 (contract: dwconv.h). Undilated 3x3, 5x5 and 7x7 correlate
 * with finite weights in place by register tiles (correlate_inplace); the general path cuts a row
 * into chunks of up to 4 vectors (64 outputs); the masks of a chunk (per tap column and vector) are
 * computed once and reused by every row, so the hot loop is a masked load and a masked FMA per tap
 * and vector. */
#include <immintrin.h>

#include "kernels/dwconv.h"
#include "kernels/lane_bits.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Keeps a loaded vector in its register for every FMA that uses it: without it gcc folds the
 * (mostly cache-line-splitting, unaligned) load into each FMA as a memory operand, which on
 * Granite Rapids made the 3x3 tile's 27 loads 63 and ran it at ~45% of the FMA rate. It emits no
 * instruction. */
#define LOAD_ONCE(v) __asm__("" : "+v"(v))

enum { CHUNK_VECS = 4, LANES = 16 };

/* Lanes l with lo <= base + l < hi and l < limit (lanes past the destination row). */
static __mmask16 lane_mask(int64_t base, int64_t hi, int64_t limit) {
    return (__mmask16)cj_lane_bits(-base, hi - base < limit ? hi - base : limit, LANES);
}

/* masks[j][v]: the source lanes tap column j reads for vector v of the chunk at x0. */
static void chunk_masks(const cj_dw_plane *p, int64_t x0, int nv, __mmask16 masks[][CHUNK_VECS]) {
    for (int64_t j = 0; j < p->kw; j++)
        for (int v = 0; v < nv; v++) {
            const int64_t x = x0 + v * LANES;
            masks[j][v] = lane_mask(x + p->off_w + j * p->dil_w, p->src_w, p->dst_w - x);
        }
}

/* R output rows at once: R * NV independent accumulator chains keep the FMA pipe busy (one row
 * alone is bound by the FMA latency of its kh * kw long chain). */
static inline __attribute__((always_inline)) void correlate_rows(const cj_dw_plane *p, const float *w, float bias,
                                                                 int64_t x0, int64_t y,
                                                                 const __mmask16 masks[][CHUNK_VECS],
                                                                 const __mmask16 *store, const int NV, const int R) {
    const int64_t kh = p->kh, kw = p->kw, dil_w = p->dil_w, src_w = p->src_w;
    __m512 acc[4][CHUNK_VECS];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_set1_ps(bias);
    for (int64_t i = 0; i < kh; i++) {
        const float *row[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const int64_t sy = y + r + p->off_h + i * p->dil_h;
            row[r] = sy < 0 || sy >= p->src_h ? NULL : p->src + sy * src_w + x0 + p->off_w;
        }
        for (int64_t j = 0; j < kw; j++) {
            const __m512 wv = _mm512_set1_ps(w[i * kw + j]);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                if (!row[r]) continue;
                const float *s = row[r] + j * dil_w;
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) {
                    const __mmask16 m = masks[j][v];
                    acc[r][v] = _mm512_mask3_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, s + v * LANES), acc[r][v], m);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        float *d = p->dst + (y + r) * p->dst_w + x0;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(d + v * LANES, store[v], acc[r][v]);
    }
}

static inline __attribute__((always_inline)) void correlate_chunk(const cj_dw_plane *p, const float *w,
                                                                  float bias, int64_t x0, const int NV) {
    __mmask16 masks[CJ_DW_MAX_KW][CHUNK_VECS];
    __mmask16 store[CHUNK_VECS];
    chunk_masks(p, x0, NV, masks);
    for (int v = 0; v < NV; v++) store[v] = lane_mask(x0 + v * LANES, p->dst_w, LANES);
    /* 4 rows x up to 2 vectors, or 2 rows x 3-4 vectors: at most 8 accumulators. */
    const int R = NV <= 2 ? 4 : 2;
    int64_t y = 0;
    for (; y + R <= p->dst_h; y += R) correlate_rows(p, w, bias, x0, y, masks, store, NV, R);
    for (; y < p->dst_h; y++) correlate_rows(p, w, bias, x0, y, masks, store, NV, 1);
}

/* ---- In place, undilated K x K (3, 7), finite weights ------------------------------------------
 * A tile is R destination rows x one vector of 16 columns with the weights in registers; source
 * row s feeds destination rows r = s - i for each kernel row i, so it is loaded once per tap
 * column for all R rows. Source rows outside the plane point at a static zero row; columns whose
 * taps reach past either end of the source rows (at most MAX_EDGE_COLUMNS a side) load each tap
 * masked to the row (zeros outside it, nothing outside the plane read). Those zeros meet finite
 * weights only, so they add exactly nothing. The general path below spent a mask load, a masked
 * load and a masked FMA per tap, vector and row, with the kernel's loops at run time: 500 ns per
 * 28x28 3x3 plane on Granite Rapids, where AVX2's in-place tiles took 330. */
enum { MAX_EDGE_COLUMNS = 3, MAX_K = 7, ZERO_ROW = 4096 };
static const float zero_row[ZERO_ROW + 2 * LANES];

typedef struct {
    int64_t columns;     /* vectors of 16 per destination row */
    int64_t first_inner; /* columns [first_inner, end_inner) read no lane outside the rows */
    int64_t end_inner;
    __mmask16 left[MAX_EDGE_COLUMNS][MAX_K], right[MAX_EDGE_COLUMNS][MAX_K]; /* per tap column */
    __mmask16 last_store;                                                    /* the last column's lanes */
} column_plan;

/* R rows x one vector at destination column x0; rows[s] + x0 + j is where tap (s - r, j) of row r
 * reads. inside: per tap column, the lanes inside the source row (EDGE only). */
ALWAYS_INLINE void inplace_vector(const float *const *rows, const __mmask16 *inside, const __m512 *wv, __m512 bias,
                                  float *dst, int64_t dst_w, int64_t x0, __mmask16 store, const int K, const int R,
                                  const int EDGE) {
    __m512 acc[16], x[16 + MAX_K - 1];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) acc[r] = bias;
    /* Per tap column, its R + K - 1 source vectors, then the taps with the R rows innermost: each
     * row's sum has R independent FMAs between its dependent ones. (Rows innermost per source
     * vector instead put one row's K taps back to back: 72 cycles per 63-FMA 3x3 tile.) */
#pragma GCC unroll 8
    for (int j = 0; j < K; j++) {
#pragma GCC unroll 24
        for (int s = 0; s < R + K - 1; s++) {
            x[s] = EDGE ? _mm512_maskz_loadu_ps(inside[j], rows[s] + x0 + j) : _mm512_loadu_ps(rows[s] + x0 + j);
            LOAD_ONCE(x[s]);
        }
#pragma GCC unroll 8
        for (int i = 0; i < K; i++)
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) acc[r] = _mm512_fmadd_ps(wv[i * K + j], x[r + i], acc[r]);
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(dst + r * dst_w + x0, store, acc[r]);
}

/* Destination rows y .. y + R - 1, every column: the inner columns, then both edges' in one loop
 * (the edge tile compiled once per K and R). */
ALWAYS_INLINE void inplace_rows(const cj_dw_plane *p, const column_plan *cp, const __m512 *wv, __m512 bias, int64_t y,
                                const int K, const int R) {
    const int64_t src_w = p->src_w, dst_w = p->dst_w, sy0 = y + p->off_h, columns = cp->columns;
    const float *rows[16 + MAX_K - 1];
    const float *top = p->src + sy0 * src_w + p->off_w;
#pragma GCC unroll 24
    for (int s = 0; s < R + K - 1; s++)
        rows[s] = sy0 + s < 0 || sy0 + s >= p->src_h ? zero_row + LANES + p->off_w : top + s * src_w;
    float *dst = p->dst + y * dst_w;
    for (int64_t c = cp->first_inner; c < cp->end_inner; c++)
        inplace_vector(rows, NULL, wv, bias, dst, dst_w, c * LANES, c == columns - 1 ? cp->last_store : 0xFFFF, K, R,
                       0);
    for (int64_t c = 0; c < columns; c++) {
        if (c == cp->first_inner) c = cp->end_inner;
        if (c >= columns) break;
        const __mmask16 *inside = c < cp->first_inner ? cp->left[c] : cp->right[c - cp->end_inner];
        inplace_vector(rows, inside, wv, bias, dst, dst_w, c * LANES, c == columns - 1 ? cp->last_store : 0xFFFF, K,
                       R, 1);
    }
}

ALWAYS_INLINE void correlate_inplace(const cj_dw_plane *p, const column_plan *cp, const float *w, float bias,
                                     const int K, const int R) {
    __m512 wv[MAX_K * MAX_K];
#pragma GCC unroll 64
    for (int t = 0; t < K * K; t++) wv[t] = _mm512_set1_ps(w[t]);
    const __m512 b = _mm512_set1_ps(bias);
    const int64_t dst_h = p->dst_h;
    if (dst_h < R) { /* too short for one tile */
        for (int64_t y = 0; y < dst_h; y++) inplace_rows(p, cp, wv, b, y, K, 1);
        return;
    }
    /* Whole tiles; the last one ends at the last row, redoing up to R - 1 rows (the same values). */
    for (int64_t y = 0;; y += R) {
        if (y > dst_h - R) y = dst_h - R;
        inplace_rows(p, cp, wv, b, y, K, R);
        if (y == dst_h - R) break;
    }
}

/* The columns of the plane: inner ones, the edge ones' masks. 0 when the plan cannot hold the
 * plane (an edge wider than MAX_EDGE_COLUMNS vectors, or rows past the zero row). */
static int plan_columns(const cj_dw_plane *p, int64_t K, column_plan *cp) {
    if (p->src_w > ZERO_ROW || p->off_w < -LANES || p->off_w > LANES) return 0;
    cp->columns = (p->dst_w + LANES - 1) / LANES;
    /* Column c reads source columns c*16 + off_w .. c*16 + off_w + K - 1 + 15. */
    int64_t first = p->off_w >= 0 ? 0 : (-p->off_w + LANES - 1) / LANES;
    const int64_t last = p->src_w - p->off_w - K + 1 - LANES; /* the last inner column's x0, floored to columns */
    int64_t end = last < 0 ? 0 : last / LANES + 1;
    first = first > cp->columns ? cp->columns : first;
    end = end < first ? first : end > cp->columns ? cp->columns : end;
    cp->first_inner = first, cp->end_inner = end;
    if (first > MAX_EDGE_COLUMNS || cp->columns - end > MAX_EDGE_COLUMNS) return 0;
    cp->last_store = lane_mask(0, p->dst_w - (cp->columns - 1) * LANES, LANES);
    for (int64_t c = 0; c < cp->columns; c++) {
        if (c == first) c = end;
        if (c >= cp->columns) break;
        __mmask16 *m = c < first ? cp->left[c] : cp->right[c - end];
        for (int64_t j = 0; j < K; j++) m[j] = lane_mask(c * LANES + p->off_w + j, p->src_w, LANES);
    }
    return 1;
}

void cj_f32_dwconv_plane__avx512(const cj_dw_plane *p, const float *w, float bias) {
    if (cj_dw_rows_3x3_fits(p) && cj_dw_all_finite(w, 9)) {
        cj_f32_dwconv_rows_3x3__avx512(p, w, bias);
        return;
    }
    column_plan cp;
    const int K =
        p->kh == p->kw && p->dil_h == 1 && p->dil_w == 1 && (p->kh == 3 || p->kh == 5 || p->kh == 7) ? (int)p->kh : 0;
    if (K && plan_columns(p, K, &cp) && cj_dw_all_finite(w, K * K)) {
        /* Rows per tile (1 x 256 x 28^2 planes, min of 6 x 400 calls, Granite Rapids): 3x3 7 rows
         * 65-67 us, 4 rows 74-79, 10 rows 67-68, 14 rows 63-64 but single rows on planes under 14;
         * 7x7 (weights from memory) 6 rows 284-285 us, 4 rows 299-303, 8 rows 293. 5x5 (25 weights in
         * registers: EfficientNet-B0's 8 x 480 x 14^2, min of 2 x 6 x 20 calls) 4 rows 0.76-0.81 ms
         * forward, 0.78-0.79 grad_input; 6 rows 0.79 / 0.81; the general path 1.08-1.12 / 1.10-1.16. */
        if (K == 3) correlate_inplace(p, &cp, w, bias, 3, 7);
        else if (K == 5) correlate_inplace(p, &cp, w, bias, 5, 4);
        else correlate_inplace(p, &cp, w, bias, 7, 6);
        return;
    }
    for (int64_t x0 = 0; x0 < p->dst_w; x0 += CHUNK_VECS * LANES) {
        const int64_t left = (p->dst_w - x0 + LANES - 1) / LANES;
        switch (left >= CHUNK_VECS ? CHUNK_VECS : left) {
        case 1: correlate_chunk(p, w, bias, x0, 1); break;
        case 2: correlate_chunk(p, w, bias, x0, 2); break;
        case 3: correlate_chunk(p, w, bias, x0, 3); break;
        default: correlate_chunk(p, w, bias, x0, 4); break;
        }
    }
}

/* Adds destination row y times its source row (kernel row i) to the per-tap sums a. */
static inline __attribute__((always_inline)) void wgrad_row(const cj_dw_plane *p, int64_t x0, int64_t y, int64_t i,
                                                            const __mmask16 masks[][CHUNK_VECS],
                                                            const __mmask16 *rows, __m512 *a, const int NV) {
    const int64_t sy = y + p->off_h + i * p->dil_h, kw = p->kw, dil_w = p->dil_w;
    if (y >= p->dst_h || sy < 0 || sy >= p->src_h) return;
    const float *row = p->src + sy * p->src_w + x0 + p->off_w, *g = p->dst + y * p->dst_w + x0;
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
        const __m512 gv = _mm512_maskz_loadu_ps(rows[v], g + v * LANES);
#pragma GCC unroll 8
        for (int j = 0; j < CJ_DW_MAX_KW; j++) {
            if (j >= kw) break;
            const __mmask16 m = masks[j][v];
            a[j] = _mm512_mask3_fmadd_ps(gv, _mm512_maskz_loadu_ps(m, row + j * dil_w + v * LANES), a[j], m);
        }
    }
}

/* Two sets of per-tap sums, for even and odd rows: twice the independent FMA chains. */
static inline __attribute__((always_inline)) void wgrad_chunk(const cj_dw_plane *p, float *dw, int64_t x0,
                                                              const int NV) {
    __mmask16 masks[CJ_DW_MAX_KW][CHUNK_VECS], rows[CHUNK_VECS];
    chunk_masks(p, x0, NV, masks);
    for (int v = 0; v < NV; v++) rows[v] = lane_mask(x0 + v * LANES, p->dst_w, LANES);
    const int64_t kw = p->kw;
    for (int64_t i = 0; i < p->kh; i++) {
        __m512 even[CJ_DW_MAX_KW], odd[CJ_DW_MAX_KW];
#pragma GCC unroll 8
        for (int j = 0; j < CJ_DW_MAX_KW; j++) even[j] = odd[j] = _mm512_setzero_ps();
        for (int64_t y = 0; y < p->dst_h; y += 2) {
            wgrad_row(p, x0, y, i, masks, rows, even, NV);
            wgrad_row(p, x0, y + 1, i, masks, rows, odd, NV);
        }
        /* Constant indices (the loop unrolls), or the sums would be forced out of registers. */
#pragma GCC unroll 8
        for (int j = 0; j < CJ_DW_MAX_KW; j++) {
            if (j >= kw) break;
            dw[i * kw + j] += _mm512_reduce_add_ps(_mm512_add_ps(even[j], odd[j]));
        }
    }
}

/* Small kernels (kh <= 3, kw <= 4, e.g. 3x3): every source row is loaded once for all the kernel
 * rows it meets, and all kh x kw sums stay in registers: about half the loads of wgrad_chunk. */
static inline __attribute__((always_inline)) void wgrad_chunk_small(const cj_dw_plane *p, float *dw, int64_t x0,
                                                                    const int NV) {
    __mmask16 masks[CJ_DW_MAX_KW][CHUNK_VECS], rows[CHUNK_VECS];
    chunk_masks(p, x0, NV, masks);
    for (int v = 0; v < NV; v++) rows[v] = lane_mask(x0 + v * LANES, p->dst_w, LANES);
    const int64_t kh = p->kh, kw = p->kw, dil_w = p->dil_w;
    __m512 acc[3][4];
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    for (int64_t sy = 0; sy < p->src_h; sy++) {
        const float *g[3];
        int any = 0;
#pragma GCC unroll 3
        for (int i = 0; i < 3; i++) {
            const int64_t y = sy - p->off_h - i * p->dil_h;
            g[i] = i < kh && y >= 0 && y < p->dst_h ? p->dst + y * p->dst_w + x0 : NULL;
            any |= g[i] != NULL;
        }
        if (!any) continue;
        const float *row = p->src + sy * p->src_w + x0 + p->off_w;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            __m512 src[4];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++)
                src[j] = j < kw ? _mm512_maskz_loadu_ps(masks[j][v], row + j * dil_w + v * LANES) : _mm512_setzero_ps();
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++) {
                if (!g[i]) continue;
                const __m512 gv = _mm512_maskz_loadu_ps(rows[v], g[i] + v * LANES);
#pragma GCC unroll 4
                for (int j = 0; j < 4; j++)
                    if (j < kw) acc[i][j] = _mm512_mask3_fmadd_ps(gv, src[j], acc[i][j], masks[j][v]);
            }
        }
    }
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++)
            if (i < kh && j < kw) dw[i * kw + j] += _mm512_reduce_add_ps(acc[i][j]);
}

/* Undilated 3x3 in place: the nine sums for the whole plane in registers, twice (even and odd
 * steps, for independent FMA chains). Step t meets grad_output row t (zero past the last) and
 * source row t + off_h: that source row's three tap vectors are loaded once and multiplied by
 * grad_output rows t, t - 1 and t - 2 (kernel rows 0, 1, 2), which stay in registers. Lanes past
 * the grad_output row load as zeros; source rows outside the plane read the zero row. */
ALWAYS_INLINE void wgrad_step_3x3(const float *row, const float *g, __mmask16 g_lanes, const __mmask16 *inside,
                                  __m512 gv[3], __m512 acc[3][3], __m512 *gs, const int EDGE) {
    gv[2] = gv[1];
    gv[1] = gv[0];
    gv[0] = g ? _mm512_maskz_loadu_ps(g_lanes, g) : _mm512_setzero_ps();
    *gs = _mm512_add_ps(*gs, gv[0]); /* each grad_output row is loaded here once: grad_bias's terms */
#pragma GCC unroll 3
    for (int j = 0; j < 3; j++) {
        __m512 x = EDGE ? _mm512_maskz_loadu_ps(inside[j], row + j) : _mm512_loadu_ps(row + j);
        LOAD_ONCE(x);
#pragma GCC unroll 3
        for (int i = 0; i < 3; i++) acc[i][j] = _mm512_fmadd_ps(gv[i], x, acc[i][j]);
    }
}

/* One column's contribution over steps [t0, t1), added to total[i*3 + j], and its grad_output
 * values to gtotal (in double: a lane sums at most a band of rows in f32). Its sums are local so
 * that they stay in registers (kept across columns, gcc spilled them to the stack at every step). */
ALWAYS_INLINE void wgrad_column_3x3(const cj_dw_plane *p, int64_t x0, int64_t t0, int64_t t1, __mmask16 g_lanes,
                                    const __mmask16 *inside, __m512 *total, __m512d gtotal[2], const int EDGE) {
    const int64_t src_w = p->src_w, dst_w = p->dst_w, dst_h = p->dst_h;
    const float *zeros = zero_row + LANES + p->off_w + x0, *g = p->dst + x0;
    __m512 even[3][3], odd[3][3], gv[3], gs = _mm512_setzero_ps();
    gv[0] = t0 >= 1 && t0 - 1 < dst_h ? _mm512_maskz_loadu_ps(g_lanes, g + (t0 - 1) * dst_w) : _mm512_setzero_ps();
    gv[1] = t0 >= 2 && t0 - 2 < dst_h ? _mm512_maskz_loadu_ps(g_lanes, g + (t0 - 2) * dst_w) : _mm512_setzero_ps();
    gv[2] = _mm512_setzero_ps();
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++) even[i][j] = odd[i][j] = _mm512_setzero_ps();
    for (int64_t t = t0; t < t1; t += 2) {
        int64_t sy = t + p->off_h;
        const float *row = sy < 0 || sy >= p->src_h ? zeros : p->src + sy * src_w + p->off_w + x0;
        wgrad_step_3x3(row, t < dst_h ? g + t * dst_w : NULL, g_lanes, inside, gv, even, &gs, EDGE);
        if (t + 1 == t1) break;
        sy++;
        row = sy < 0 || sy >= p->src_h ? zeros : p->src + sy * src_w + p->off_w + x0;
        wgrad_step_3x3(row, t + 1 < dst_h ? g + (t + 1) * dst_w : NULL, g_lanes, inside, gv, odd, &gs, EDGE);
    }
#pragma GCC unroll 3
    for (int i = 0; i < 3; i++)
#pragma GCC unroll 3
        for (int j = 0; j < 3; j++) total[i * 3 + j] = _mm512_add_ps(total[i * 3 + j], _mm512_add_ps(even[i][j], odd[i][j]));
    gtotal[0] = _mm512_add_pd(gtotal[0], _mm512_cvtps_pd(_mm512_castps512_ps256(gs)));
    gtotal[1] = _mm512_add_pd(gtotal[1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(gs, 1)));
}

/* 1 when the plane was done in place (its sums finite; *gsum added to), 0 when the caller must run
 * another path: a non-finite sum may come from a zero meeting an infinity where the exact kernel
 * skips the tap. */
static int wgrad_inplace_3x3(const cj_dw_plane *p, const column_plan *cp, float *dw, double *gsum) {
    __m512 total[9];
    __m512d gtotal[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
    for (int t = 0; t < 9; t++) total[t] = _mm512_setzero_ps();
    const __mmask16 all = 0xFFFF;
    /* Bands of steps, every column in each: a column's walk down a large plane missed the cache at
     * each row (112x112: 6 us per plane, about the old path's time); a band's rows stay in L1. */
    const int64_t steps = p->dst_h + 2, band = 32;
    for (int64_t t0 = 0; t0 < steps; t0 += band) {
        const int64_t t1 = steps - t0 < band ? steps : t0 + band;
        for (int64_t c = cp->first_inner; c < cp->end_inner; c++)
            wgrad_column_3x3(p, c * LANES, t0, t1, c == cp->columns - 1 ? cp->last_store : all, NULL, total, gtotal, 0);
        for (int64_t c = 0; c < cp->columns; c++) {
            if (c == cp->first_inner) c = cp->end_inner;
            if (c >= cp->columns) break;
            const __mmask16 *inside = c < cp->first_inner ? cp->left[c] : cp->right[c - cp->end_inner];
            wgrad_column_3x3(p, c * LANES, t0, t1, c == cp->columns - 1 ? cp->last_store : all, inside, total, gtotal,
                             1);
        }
    }
    float sums[9];
    for (int t = 0; t < 9; t++) sums[t] = _mm512_reduce_add_ps(total[t]);
    if (!cj_dw_all_finite(sums, 9)) return 0;
    for (int t = 0; t < 9; t++) dw[t] += sums[t];
    if (gsum) *gsum += _mm512_reduce_add_pd(_mm512_add_pd(gtotal[0], gtotal[1]));
    return 1;
}

void cj_f32_dwconv_wgrad_plane__avx512(const cj_dw_plane *p, float *dw, double *gsum) {
    if (cj_dw_rows_3x3_fits(p) && cj_f32_dwconv_wgrad_rows_3x3__avx512(p, dw, gsum)) return;
    column_plan cp;
    if (p->kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1 && plan_columns(p, 3, &cp) &&
        wgrad_inplace_3x3(p, &cp, dw, gsum))
        return;
    if (gsum) *gsum += cj_dw_plane_sum(p->dst, p->dst_h * p->dst_w);
    for (int64_t x0 = 0; x0 < p->dst_w; x0 += CHUNK_VECS * LANES) {
        const int64_t left = (p->dst_w - x0 + LANES - 1) / LANES;
        if (p->kh <= 3 && p->kw <= 4) {
            switch (left >= CHUNK_VECS ? CHUNK_VECS : left) {
            case 1: wgrad_chunk_small(p, dw, x0, 1); break;
            case 2: wgrad_chunk_small(p, dw, x0, 2); break;
            case 3: wgrad_chunk_small(p, dw, x0, 3); break;
            default: wgrad_chunk_small(p, dw, x0, 4); break;
            }
            continue;
        }
        switch (left >= CHUNK_VECS ? CHUNK_VECS : left) {
        case 1: wgrad_chunk(p, dw, x0, 1); break;
        case 2: wgrad_chunk(p, dw, x0, 2); break;
        case 3: wgrad_chunk(p, dw, x0, 3); break;
        default: wgrad_chunk(p, dw, x0, 4); break;
        }
    }
}
