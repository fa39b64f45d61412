/* Implicit GEMM's unit-stride B panels, f32 AVX2 (contract: implicit_pack.h), for panels of two
 * vectors (NR = 16, AVX2's GEMM kernel). Per panel row, each segment whose input row exists
 * contributes one masked load per vector, based so that lane L of the panel reads its own input
 * column; the mask keeps the segment's lanes whose column is inside the input row (none: nothing is
 * read). Masked-off lanes read as +0, so the segments' vectors merge by OR (each lane comes from at
 * most one segment). What depends only on the kernel column j (masks, column shifts) is set up once
 * per panel and the input rows once per kernel row, so a panel row costs a few instructions per
 * segment. */
#include <immintrin.h>

#include "kernels/implicit_pack.h"

enum { LANES = 8, NR = 2 * LANES, MAX_SEG = CJ_PACK_MAX_SEGMENTS };

/* The input rows of kernel row i in channel c per segment, NULL outside the image. */
static void input_rows(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, int64_t c, int64_t i,
                       const float **rows) {
    for (int s = 0; s < nseg; s++) {
        const int64_t iy = seg[s].y * g->stride_h - g->pad_h + i * g->dil_h;
        rows[s] = iy < 0 || iy >= g->h_in ? NULL : seg[s].image + (c * g->h_in + iy) * g->w_in;
    }
}

void cj_f32_pack_panel_w1__avx2(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, int64_t r0,
                                int64_t r1, int64_t nr, float *panel) {
    (void)nr; /* == NR, checked by the caller through cj_pack_panel_w1_ok */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    /* Per kernel column j and segment: lane L reads input column L + shift; masks of its lanes
     * inside the input row, per vector. */
    __m256i masks[CJ_PACK_MAX_TAPS][MAX_SEG][2];
    int64_t shift[CJ_PACK_MAX_TAPS][MAX_SEG];
    for (int64_t j = 0; j < g->kw; j++)
        for (int s = 0; s < nseg; s++) {
            const cj_pack_segment *q = &seg[s];
            const int64_t first = q->x + j * g->dil_w - g->pad_w; /* input column of lane q->lane */
            const int64_t sh = first - q->lane;
            int64_t lo = first < 0 ? q->lane - first : q->lane, hi = q->lane + q->lanes;
            if (hi > g->w_in - sh) hi = g->w_in - sh;
            if (hi < lo) hi = lo;
            shift[j][s] = sh;
            for (int k = 0; k < 2; k++) {
                const __m256i at = _mm256_add_epi32(lane, _mm256_set1_epi32(k * LANES));
                masks[j][s][k] = _mm256_and_si256(_mm256_cmpgt_epi32(at, _mm256_set1_epi32((int)lo - 1)),
                                                  _mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), at));
            }
        }
    const int64_t khkw = g->kh * g->kw;
    int64_t c = r0 / khkw, i = r0 % khkw / g->kw, j = r0 % g->kw;
    const float *rows[MAX_SEG];
    input_rows(g, seg, nseg, c, i, rows);
    for (int64_t r = r0; r < r1; r++, panel += NR) {
        __m256 v0 = _mm256_setzero_ps(), v1 = v0;
        for (int s = 0; s < nseg; s++) {
            if (!rows[s]) continue;
            const float *base = rows[s] + shift[j][s];
            v0 = _mm256_or_ps(v0, _mm256_maskload_ps(base, masks[j][s][0]));
            v1 = _mm256_or_ps(v1, _mm256_maskload_ps(base + LANES, masks[j][s][1]));
        }
        _mm256_storeu_ps(panel, v0);
        _mm256_storeu_ps(panel + LANES, v1);
        if (++j == g->kw) {
            j = 0;
            if (++i == g->kh) {
                i = 0;
                c++;
            }
            if (r + 1 < r1) input_rows(g, seg, nseg, c, i, rows);
        }
    }
}
