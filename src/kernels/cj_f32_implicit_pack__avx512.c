/* Implicit GEMM's B panels at stride_w 1 or 2, f32 AVX-512 (contract: implicit_pack.h), for panels
 * of three vectors (NR = 48, AVX-512's GEMM kernel). The AVX2 packer's scheme with native masks:
 * per panel row, each segment whose input row exists contributes, per vector, the input window its
 * lanes read: at stride 1 one masked load based so that lane L reads its own input column, at
 * stride 2 two masked loads of the 32 columns that 16 lanes span, their even columns then gathered
 * by one two-source permute. The masks keep the segment's lanes whose column is inside the input
 * row (none: nothing is read); masked-off lanes read as +0, so the segments' vectors merge by OR
 * (each lane comes from at most one segment). Masks and column shifts are set once per panel, input
 * rows once per kernel row; a segment loads only the vectors its lanes reach (a segment of a
 * 17-wide row meets 1 or 2 of the 3). With g->prefetch, the channel that many ahead is prefetched
 * as each channel starts (cj_pack_prefetch_plan). */
#include <immintrin.h>

#include "kernels/implicit_pack.h"
#include "kernels/lane_bits.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

enum { LANES = 16, VECS = 3, NR = VECS * LANES, MAX_SEG = CJ_PACK_MAX_SEGMENTS, MAX_TAPS = CJ_PACK_MAX_TAPS };

/* Per kernel column j and segment: lane L of the panel reads input column S*L + shift; per vector
 * k, S masked loads of 16 input columns from column S*16*k + 16h + shift. */
typedef struct {
    __mmask16 mask[MAX_TAPS][MAX_SEG][VECS][2]; /* [j][s][k][half]; half 1 used at stride 2 only */
    int64_t shift[MAX_TAPS][MAX_SEG];
    unsigned char vecs[MAX_TAPS][MAX_SEG]; /* bit k: vector k has a lane to load */
} tap_table;

/* Positions [lo, hi) of a 16-wide load (clamped); at stride 2 only the even ones. */
static __mmask16 positions(int64_t lo, int64_t hi, int S) {
    return (__mmask16)(cj_lane_bits(lo, hi, LANES) & (S == 2 ? 0x5555u : 0xFFFFu));
}

static void build_taps(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, const int S, tap_table *t) {
    for (int64_t j = 0; j < g->kw; j++)
        for (int s = 0; s < nseg; s++) {
            int64_t lo, hi;
            cj_pack_tap_lanes(g, &seg[s], j, S, &t->shift[j][s], &lo, &hi);
            t->vecs[j][s] = 0;
            for (int k = 0; k < VECS; k++)
                if (lo < (k + 1) * LANES && hi > k * LANES) t->vecs[j][s] |= (unsigned char)(1u << k);
            for (int k = 0; k < VECS; k++)
                for (int h = 0; h < S; h++) {
                    /* Position p of this load is input column S*16*k + 16h + p + sh: lane
                     * (16Sk + 16h + p)/S, used when the position is a multiple of S. */
                    const int64_t at = S * LANES * k + LANES * h;
                    t->mask[j][s][k][h] = positions(S * lo - at, S * hi - at, S);
                }
        }
}

/* Lanes l of vector k: stride 1, base[16k + l]; stride 2, base[32k + 2l]. */
ALWAYS_INLINE __m512 load_vector(const float *base, const __mmask16 *mask, int k, const int S) {
    if (S == 1) return _mm512_maskz_loadu_ps(mask[0], base + LANES * k);
    const __m512 a = _mm512_maskz_loadu_ps(mask[0], base + 2 * LANES * k);
    const __m512 b = _mm512_maskz_loadu_ps(mask[1], base + 2 * LANES * k + LANES);
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(a, evens, b);
}

ALWAYS_INLINE void pack_rows(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, int64_t r0,
                             int64_t r1, float *panel, const tap_table *t, const int S) {
    const int64_t khkw = g->kh * g->kw;
    int64_t c = r0 / khkw, i = r0 % khkw / g->kw, j = r0 % g->kw;
    const float *rows[MAX_SEG];
    cj_pack_input_rows(g, seg, nseg, c, i, rows);
    cj_pack_prefetch_plan plan;
    cj_pack_prefetch_start(g, seg, nseg, c, r1, &plan);
    for (int64_t r = r0; r < r1; r++, panel += NR) {
        __m512 v[VECS];
#pragma GCC unroll 3
        for (int k = 0; k < VECS; k++) v[k] = _mm512_setzero_ps();
        for (int s = 0; s < nseg; s++) {
            if (!rows[s]) continue;
            const float *base = rows[s] + t->shift[j][s];
            const unsigned vecs = t->vecs[j][s];
#pragma GCC unroll 3
            for (int k = 0; k < VECS; k++)
                if (vecs >> k & 1) v[k] = _mm512_or_ps(v[k], load_vector(base, t->mask[j][s][k], k, S));
        }
#pragma GCC unroll 3
        for (int k = 0; k < VECS; k++) _mm512_storeu_ps(panel + k * LANES, v[k]);
        if (++j == g->kw) {
            j = 0;
            if (++i == g->kh) {
                i = 0;
                c++;
            }
            if (r + 1 < r1) cj_pack_input_rows(g, seg, nseg, c, i, rows);
            if (i == 0 && (c + g->prefetch) * khkw < r1) cj_pack_prefetch_channel(&plan, c + g->prefetch);
        }
    }
}

/* Stride 1 with output rows as wide as the input's (3x3 pad 1, 1x7 pad 3, ...; not so grad_input's
 * stride phases, whose outputs are cut from a wider one): the pixels of one
 * image in a panel are consecutive in its plane, and so are the input elements a tap reads for
 * them, whatever rows they cross. Lane L of such a run reads base[L + (i*dil_h - pad_h)*w_in +
 * j*dil_w - pad_w] where its input row and column exist, so a panel row is one masked load per
 * vector and run, not one per vector and segment (a panel of 14-wide rows has 4-5 segments). */
typedef struct {
    const float *base;        /* lane L of channel 0 reads base[L + the tap's offset] */
    uint64_t rows[MAX_TAPS];  /* per kernel row: the run's lanes whose input row exists */
    uint64_t cols[MAX_TAPS];  /* per kernel column: the run's lanes whose input column exists */
} flat_run;

static int same_width(const cj_pack_geometry *g) {
    return g->stride_h == 1 && g->stride_w == 1 && g->w_out == g->w_in;
}

static int flat_runs(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, flat_run *runs) {
    int n = 0;
    for (int s = 0; s < nseg;) {
        const int e = cj_pack_image_end(seg, nseg, s);
        flat_run *run = &runs[n++];
        run->base = seg[s].image + seg[s].y * g->w_in + seg[s].x - seg[s].lane;
        for (int64_t i = 0; i < g->kh; i++) run->rows[i] = 0;
        for (int64_t j = 0; j < g->kw; j++) run->cols[j] = 0;
        for (int q = s; q <= e; q++) {
            const uint64_t lanes = ((((uint64_t)1 << seg[q].lanes) - 1) << seg[q].lane);
            for (int64_t i = 0; i < g->kh; i++) {
                const int64_t iy = seg[q].y + i * g->dil_h - g->pad_h;
                if (iy >= 0 && iy < g->h_in) run->rows[i] |= lanes;
            }
            for (int64_t j = 0; j < g->kw; j++) {
                int64_t shift, lo, hi;
                cj_pack_tap_lanes(g, &seg[q], j, 1, &shift, &lo, &hi);
                if (hi > lo) run->cols[j] |= ((((uint64_t)1 << (hi - lo)) - 1) << lo);
            }
        }
        s = e + 1;
    }
    return n;
}

static void pack_rows_flat(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, int64_t r0, int64_t r1,
                           float *panel) {
    flat_run runs[MAX_SEG];
    const int nrun = flat_runs(g, seg, nseg, runs);
    const int64_t khkw = g->kh * g->kw, plane = g->h_in * g->w_in;
    int64_t c = r0 / khkw, i = r0 % khkw / g->kw, j = r0 % g->kw;
    cj_pack_prefetch_plan plan;
    cj_pack_prefetch_start(g, seg, nseg, c, r1, &plan);
    for (int64_t r = r0; r < r1; r++, panel += NR) {
        const int64_t offset = c * plane + (i * g->dil_h - g->pad_h) * g->w_in + j * g->dil_w - g->pad_w;
        __m512 v[VECS];
#pragma GCC unroll 3
        for (int k = 0; k < VECS; k++) v[k] = _mm512_setzero_ps();
        for (int q = 0; q < nrun; q++) {
            const uint64_t live = runs[q].rows[i] & runs[q].cols[j];
            const float *at = runs[q].base + offset;
#pragma GCC unroll 3
            for (int k = 0; k < VECS; k++) {
                const __mmask16 m = (__mmask16)(live >> (LANES * k));
                if (m) v[k] = _mm512_or_ps(v[k], _mm512_maskz_loadu_ps(m, at + LANES * k));
            }
        }
#pragma GCC unroll 3
        for (int k = 0; k < VECS; k++) _mm512_storeu_ps(panel + k * LANES, v[k]);
        if (++j == g->kw) {
            j = 0;
            if (++i == g->kh) {
                i = 0;
                c++;
                if ((c + g->prefetch) * khkw < r1) cj_pack_prefetch_channel(&plan, c + g->prefetch);
            }
        }
    }
}

void cj_f32_pack_panel__avx512(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, int64_t r0,
                               int64_t r1, float *panel) {
    tap_table t;
    if (same_width(g)) {
        pack_rows_flat(g, seg, nseg, r0, r1, panel);
    } else if (g->stride_w == 1) {
        build_taps(g, seg, nseg, 1, &t);
        pack_rows(g, seg, nseg, r0, r1, panel, &t, 1);
    } else {
        build_taps(g, seg, nseg, 2, &t);
        pack_rows(g, seg, nseg, r0, r1, panel, &t, 2);
    }
}
