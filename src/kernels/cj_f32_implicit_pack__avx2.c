/* Implicit GEMM's B panels at stride_w 1 or 2, f32 AVX2 (contract: implicit_pack.h), for panels of
 * two vectors (NR = 16, AVX2's GEMM kernel). Per panel row, each segment whose input row exists
 * contributes, per vector, the input window its lanes read: at stride 1 one masked load based so
 * that lane L reads its own input column, at stride 2 two masked loads of the 16 columns that 8
 * lanes span, their even columns then gathered by two shuffles. The masks keep the segment's lanes
 * whose column is inside the input row (none: nothing is read). Masked-off lanes read as +0, so the
 * segments' vectors merge by OR (each lane comes from at most one segment). What depends only on
 * the kernel column j (masks, column shifts) is set up once per panel and the input rows once per
 * kernel row, so a panel row costs a few instructions per segment. */
#include <immintrin.h>

#include "kernels/avx2_lanes.h"
#include "kernels/implicit_pack.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum { LANES = 8, NR = 2 * LANES, MAX_SEG = CJ_PACK_MAX_SEGMENTS, MAX_TAPS = CJ_PACK_MAX_TAPS };

/* Per kernel column j and segment: lane L of the panel reads input column S*L + shift; per vector
 * k, S masked loads of 8 input columns from column S*8*k + shift (lanes [lo, hi) kept). */
typedef struct {
    __m256i mask[MAX_TAPS][MAX_SEG][2][2]; /* [j][s][k][half]; half 1 used at stride 2 only */
    int64_t shift[MAX_TAPS][MAX_SEG];
} tap_table;

static void build_taps(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, const int S, tap_table *t) {
    for (int64_t j = 0; j < g->kw; j++)
        for (int s = 0; s < nseg; s++) {
            int64_t lo, hi;
            cj_pack_tap_lanes(g, &seg[s], j, S, &t->shift[j][s], &lo, &hi);
            for (int k = 0; k < 2; k++)
                for (int h = 0; h < S; h++) {
                    /* Position p of this load is input column S*8*k + 8h + p + sh: lane (8Sk + 8h + p)/S,
                     * used when the position is a multiple of S. */
                    const int64_t at = S * LANES * k + LANES * h;
                    __m256i m = cj_avx2_range_mask(S * lo - at, S * hi - at);
                    if (S == 2) /* odd positions are not read */
                        m = _mm256_and_si256(m, _mm256_setr_epi32(-1, 0, -1, 0, -1, 0, -1, 0));
                    t->mask[j][s][k][h] = m;
                }
        }
}

/* Lanes l of vector k: stride 1, base[8k + l]; stride 2, base[16k + 2l]. */
ALWAYS_INLINE __m256 load_vector(const float *base, const __m256i *mask, int k, const int S) {
    if (S == 1) return _mm256_maskload_ps(base + LANES * k, mask[0]);
    const __m256 a = _mm256_maskload_ps(base + 2 * LANES * k, mask[0]);
    const __m256 b = _mm256_maskload_ps(base + 2 * LANES * k + LANES, mask[1]);
    /* evens of a and b per 128-bit half (a0 a2 b0 b2 | a4 a6 b4 b6), then the halves' 64-bit pairs
     * in order: a0 a2 a4 a6 b0 b2 b4 b6 */
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
}

ALWAYS_INLINE void pack_rows(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, int64_t r0,
                             int64_t r1, float *panel, const tap_table *t, const int S) {
    const int64_t khkw = g->kh * g->kw;
    int64_t c = r0 / khkw, i = r0 % khkw / g->kw, j = r0 % g->kw;
    const float *rows[MAX_SEG];
    cj_pack_input_rows(g, seg, nseg, c, i, rows);
    for (int64_t r = r0; r < r1; r++, panel += NR) {
        __m256 v0 = _mm256_setzero_ps(), v1 = v0;
        for (int s = 0; s < nseg; s++) {
            if (!rows[s]) continue;
            const float *base = rows[s] + t->shift[j][s];
            v0 = _mm256_or_ps(v0, load_vector(base, t->mask[j][s][0], 0, S));
            v1 = _mm256_or_ps(v1, load_vector(base, t->mask[j][s][1], 1, S));
        }
        _mm256_storeu_ps(panel, v0);
        _mm256_storeu_ps(panel + LANES, v1);
        if (++j == g->kw) {
            j = 0;
            if (++i == g->kh) {
                i = 0;
                c++;
            }
            if (r + 1 < r1) cj_pack_input_rows(g, seg, nseg, c, i, rows);
        }
    }
}

void cj_f32_pack_panel__avx2(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, int64_t r0,
                             int64_t r1, float *panel) {
    tap_table t;
    if (g->stride_w == 1) {
        build_taps(g, seg, nseg, 1, &t);
        pack_rows(g, seg, nseg, r0, r1, panel, &t, 1);
    } else {
        build_taps(g, seg, nseg, 2, &t);
        pack_rows(g, seg, nseg, r0, r1, panel, &t, 2);
    }
}
