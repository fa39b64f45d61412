/* Implicit GEMM's B panels at stride_w 1 or 2, f32: KC rows x NR pixels of the column matrix, read
 * straight from the input. The panel's pixels come as segments, runs of consecutive output pixels
 * in one output row of one image; a segment's pixels read input columns stride_w apart, so each row
 * of the panel is a few masked vector loads per segment (the masks clip the input row's ends and
 * the segment's lanes), merged and stored: no per-element work.
 *
 *   panel[(r - r0) * nr + lane] = input[c][iy][ix] (0 outside the input), for r = (c, i, j) and the
 *   pixel (y, x) at that lane: iy = y * stride_h - pad_h + i * dil_h, ix = x * stride_w - pad_w + j * dil_w. */
#ifndef CJ_KERNELS_IMPLICIT_PACK_H
#define CJ_KERNELS_IMPLICIT_PACK_H
#include <stdint.h>

typedef struct cj_pack_geometry {
    int64_t h_in, w_in, kh, kw, pad_h, pad_w, dil_h, dil_w, stride_h, stride_w;
} cj_pack_geometry;

typedef struct cj_pack_segment {
    const float *image;   /* channel 0 of the group in the segment's image */
    int64_t      y, x;    /* output row, first output column */
    int64_t      lane, lanes; /* panel columns [lane, lane + lanes) */
} cj_pack_segment;

/* At most this many segments per panel and kernels this high and wide, stride_w 1 or 2; panels of
 * 16 columns (AVX2) or 48 (AVX-512). cj_pack_panel_ok says whether a kernel takes a call; callers
 * fall back otherwise. */
enum { CJ_PACK_MAX_SEGMENTS = 8, CJ_PACK_NR_AVX2 = 16, CJ_PACK_NR_AVX512 = 48, CJ_PACK_MAX_TAPS = 16 };

static inline int cj_pack_panel_ok(int64_t kh, int64_t kw, int64_t stride_w) {
    return kh <= CJ_PACK_MAX_TAPS && kw <= CJ_PACK_MAX_TAPS && (stride_w == 1 || stride_w == 2);
}

/* The input rows of kernel row i in channel c per segment, NULL outside the image. */
static inline void cj_pack_input_rows(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, int64_t c,
                                      int64_t i, const float **rows) {
    for (int s = 0; s < nseg; s++) {
        const int64_t iy = seg[s].y * g->stride_h - g->pad_h + i * g->dil_h;
        rows[s] = iy < 0 || iy >= g->h_in ? NULL : seg[s].image + (c * g->h_in + iy) * g->w_in;
    }
}

/* For kernel column j and segment q at stride_w S: lane L of the panel reads input column S*L +
 * *shift; lanes [*lo, *hi) of the segment read inside [0, w_in). */
static inline void cj_pack_tap_lanes(const cj_pack_geometry *g, const cj_pack_segment *q, int64_t j, int64_t S,
                                     int64_t *shift, int64_t *lo, int64_t *hi) {
    const int64_t first = q->x * S + j * g->dil_w - g->pad_w; /* input column of lane q->lane */
    const int64_t sh = first - S * q->lane;
    int64_t a = q->lane, b = q->lane + q->lanes;
    if (sh < 0 && a < (-sh + S - 1) / S) a = (-sh + S - 1) / S;
    if (b > (g->w_in - sh + S - 1) / S) b = (g->w_in - sh + S - 1) / S;
    *shift = sh, *lo = a, *hi = b;
}

#if defined(CJ_HAVE_X86_KERNELS)
/* Rows [r0, r1) of one panel of CJ_PACK_NR_AVX2 (CJ_PACK_NR_AVX512) columns; columns no segment
 * covers are zero. */
void cj_f32_pack_panel__avx2(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, int64_t r0,
                             int64_t r1, float *panel);
void cj_f32_pack_panel__avx512(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg, int64_t r0,
                               int64_t r1, float *panel);
#endif

#endif
