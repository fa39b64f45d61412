/* Depthwise forward with a stride, f32 AVX-512 (contract: dwconv.h). stride_w 2 (plane_s2) reads
 * the input rows where they lie: each step sums 64 columns of the stride-1 row and keeps the even
 * ones. Other strides split each tap row's input row into its stride_w phases (phase r: columns
 * r, r + stride_w, ...) in a buffer with zero margins, so that tap j reads, for outputs x..x+15,
 * 16 consecutive elements of phase (j*dil_w + off_w) mod stride_w from x + floor((j*dil_w +
 * off_w) / stride_w). Either way one FMA per tap and vector from an unaligned load; those loads
 * split cache lines and bound the kernel (Granite Rapids, 3x3 s2, 112^2 planes in L2: about 2.9 us
 * a plane by either path, against 0.56 us for the stride-1 kernels' 56^2 planes, which shift
 * loaded rows instead; row copies between zero margins and running the stride-1 kernels on the
 * input's phases, summing the partial planes, ran no faster). */
#include <immintrin.h>
#include <string.h>

#include "kernels/dwconv.h"
#include "kernels/gather.h"
#include "kernels/lane_bits.h"

enum { LANES = 16, NV = 4 /* output vectors summed at once */ };

typedef struct {
    int64_t left;  /* zero elements before a phase's first */
    int64_t width; /* elements per phase buffer, a multiple of LANES */
} layout;

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

static layout plan(const cj_dw_plane *p, int64_t sw) {
    const int64_t lo = floor_div(p->off_w, sw), hi = floor_div((p->kw - 1) * p->dil_w + p->off_w, sw);
    const int64_t phase_len = (p->src_w + sw - 1) / sw;
    layout l;
    l.left = lo < 0 ? -lo : 0;
    /* the last group of NV vectors loads up to here (its vectors past dst_w are computed, not stored) */
    const int64_t reach = (p->dst_w + NV * LANES - 1) / (NV * LANES) * (NV * LANES) + (hi > 0 ? hi : 0);
    l.width = (l.left + (reach > phase_len ? reach : phase_len) + LANES - 1) / LANES * LANES;
    return l;
}

int64_t cj_dw_strided_scratch(const cj_dw_plane *p, int64_t stride_w) {
    if (stride_w == 2) return 0; /* the rows read where they lie */
    return (int64_t)p->kh * stride_w * plan(p, stride_w).width;
}

/* Input row `row` into phases buf[r] (from element l->left on) for r < sw (sw != 2: plane_s2). */
static void split_row(const float *row, int64_t n, int64_t sw, float *buf, const layout *l) {
    float *dst[CJ_DEINTERLEAVE_MAX];
    for (int64_t r = 0; r < sw; r++) dst[r] = buf + r * l->width + l->left;
    cj_f32_split_row__avx512(row, n, sw, dst);
}

/* One output row: NV vectors at x per step (independent sums: one chain would wait on each FMA's
 * latency, and at 56 outputs a row a chain was 5x slower than the stride-1 kernels), the last group
 * stored masked; KW taps per tap row, weights broadcast once per plane (wrow[k][j]). */
static inline __attribute__((always_inline)) void row_sums(const float *const *rows, const __m512 *const *wrow,
                                                           int nrows, const int64_t *tap_at, float *out,
                                                           int64_t dst_w, float bias, const int KW) {
    for (int64_t x = 0; x < dst_w; x += NV * LANES) {
        __m512 acc[NV];
        for (int v = 0; v < NV; v++) acc[v] = _mm512_set1_ps(bias);
        for (int k = 0; k < nrows; k++) {
            const float *r = rows[k] + x;
#pragma GCC unroll 8
            for (int j = 0; j < KW; j++) {
                const float *at = r + tap_at[j];
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++)
                    acc[v] = _mm512_fmadd_ps(wrow[k][j], _mm512_loadu_ps(at + v * LANES), acc[v]);
            }
        }
        if (x + NV * LANES <= dst_w) {
            for (int v = 0; v < NV; v++) _mm512_storeu_ps(out + x + v * LANES, acc[v]);
            continue;
        }
        for (int v = 0; v < NV; v++)
            _mm512_mask_storeu_ps(out + x + v * LANES, (__mmask16)cj_lane_bits(0, dst_w - x - v * LANES, LANES),
                                  acc[v]);
    }
}

/* stride_w 2: the input rows read where they lie, a column block of 32 outputs at a time down
 * the whole plane. A block sums 64 consecutive columns of the stride-1 rows (four independent
 * vectors) and keeps the even ones: twice the FMAs of the outputs, but nothing copied or split
 * (splitting three input rows into phases per row of 56 outputs cost more than the FMAs, and so
 * did copying them between zero margins). Columns outside a row load as zero through masks,
 * which depend on the block only. */
static inline __attribute__((always_inline)) void plane_s2(const cj_dw_plane *p, int64_t sh, const __m512 *wv,
                                                           float bias, const int KW) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t x = 0; x < p->dst_w; x += 2 * LANES) {
        const int64_t c = 2 * x + p->off_w; /* the input column of stride-1 column 2x's tap 0 */
        __mmask16 m[CJ_DW_MAX_KW][4];
        for (int j = 0; j < KW; j++)
            for (int v = 0; v < 4; v++) { /* the lanes of column c + j*dil_w + 16v on that lie in the row */
                const int64_t at = c + j * p->dil_w + v * LANES;
                m[j][v] = (__mmask16)cj_lane_bits(-at, p->src_w - at, LANES);
            }
        __mmask16 store[2];
        for (int h = 0; h < 2; h++) store[h] = (__mmask16)cj_lane_bits(0, p->dst_w - x - h * LANES, LANES);
        for (int64_t y = 0; y < p->dst_h; y++) {
            __m512 acc[4];
            for (int v = 0; v < 4; v++) acc[v] = _mm512_set1_ps(bias);
            for (int64_t i = 0; i < p->kh; i++) {
                const int64_t r = y * sh + p->off_h + i * p->dil_h;
                if (r < 0 || r >= p->src_h) continue;
                const float *row = p->src + r * p->src_w + c;
#pragma GCC unroll 8
                for (int j = 0; j < KW; j++)
#pragma GCC unroll 4
                    for (int v = 0; v < 4; v++)
                        acc[v] = _mm512_fmadd_ps(
                            wv[i * KW + j], _mm512_maskz_loadu_ps(m[j][v], row + j * p->dil_w + v * LANES), acc[v]);
            }
            float *out = p->dst + y * p->dst_w + x;
            _mm512_mask_storeu_ps(out, store[0], _mm512_permutex2var_ps(acc[0], even, acc[1]));
            _mm512_mask_storeu_ps(out + LANES, store[1], _mm512_permutex2var_ps(acc[2], even, acc[3]));
        }
    }
}

void cj_f32_dwconv_strided__avx512(const cj_dw_plane *p, int64_t sh, int64_t sw, const float *w, float bias,
                                   float *scratch) {
    __m512 wv[CJ_DW_MAX_KW * CJ_DW_MAX_KW];
    for (int64_t t = 0; t < p->kh * p->kw; t++) wv[t] = _mm512_set1_ps(w[t]);
    if (sw == 2) {
        switch (p->kw) {
        case 1: plane_s2(p, sh, wv, bias, 1); break;
        case 2: plane_s2(p, sh, wv, bias, 2); break;
        case 3: plane_s2(p, sh, wv, bias, 3); break;
        case 4: plane_s2(p, sh, wv, bias, 4); break;
        case 5: plane_s2(p, sh, wv, bias, 5); break;
        case 6: plane_s2(p, sh, wv, bias, 6); break;
        case 7: plane_s2(p, sh, wv, bias, 7); break;
        default: plane_s2(p, sh, wv, bias, 8); break;
        }
        return;
    }
    const layout l = plan(p, sw);
    memset(scratch, 0, sizeof(float) * (size_t)cj_dw_strided_scratch(p, sw));
    /* per tap column j: its phase and the offset of output 0's element in that phase's buffer */
    int64_t tap_at[CJ_DW_MAX_KW];
    for (int64_t j = 0; j < p->kw; j++) {
        const int64_t q = j * p->dil_w + p->off_w, r = q - floor_div(q, sw) * sw;
        tap_at[j] = r * l.width + l.left + floor_div(q, sw);
    }
    for (int64_t y = 0; y < p->dst_h; y++) {
        const float *rows[CJ_DW_MAX_KW]; /* the tap rows inside src: their phases and weights */
        const __m512 *wrow[CJ_DW_MAX_KW];
        int nrows = 0;
        for (int64_t i = 0; i < p->kh; i++) {
            const int64_t r = y * sh + p->off_h + i * p->dil_h;
            if (r < 0 || r >= p->src_h) continue;
            float *buf = scratch + i * sw * l.width;
            split_row(p->src + r * p->src_w, p->src_w, sw, buf, &l);
            rows[nrows] = buf;
            wrow[nrows++] = wv + i * p->kw;
        }
        float *out = p->dst + y * p->dst_w;
        switch (p->kw) {
        case 1: row_sums(rows, wrow, nrows, tap_at, out, p->dst_w, bias, 1); break;
        case 2: row_sums(rows, wrow, nrows, tap_at, out, p->dst_w, bias, 2); break;
        case 3: row_sums(rows, wrow, nrows, tap_at, out, p->dst_w, bias, 3); break;
        case 4: row_sums(rows, wrow, nrows, tap_at, out, p->dst_w, bias, 4); break;
        case 5: row_sums(rows, wrow, nrows, tap_at, out, p->dst_w, bias, 5); break;
        case 6: row_sums(rows, wrow, nrows, tap_at, out, p->dst_w, bias, 6); break;
        case 7: row_sums(rows, wrow, nrows, tap_at, out, p->dst_w, bias, 7); break;
        default: row_sums(rows, wrow, nrows, tap_at, out, p->dst_w, bias, 8); break;
        }
    }
}
