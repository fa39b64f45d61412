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
    int64_t w_out;    /* the output row's width (a segment's y and x are in its rows) */
    int64_t prefetch; /* channels ahead to prefetch (cj_pack_prefetch_plan; AVX-512 only), 0: none */
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

/* The last of the segments from s on that share segment s's image (consecutive pixels of it). */
static inline int cj_pack_image_end(const cj_pack_segment *seg, int nseg, int s) {
    int e = s;
    while (e + 1 < nseg && seg[e + 1].image == seg[s].image) e++;
    return e;
}

/* What a panel reads of one channel, as runs of whole lines, so that the packer can prefetch the
 * channels ahead of it into L1: a KC slice walks the channels planes apart, which the hardware
 * prefetchers do not follow across pages, and without this the first loads of each channel's rows
 * wait on L3 (vgg16.conv3_2 forward, 1 thread: 4% of the layer). Runs past CJ_PACK_PREFETCH_RUNS
 * are left out (tall strides or dilations). */
enum { CJ_PACK_PREFETCH_RUNS = 32 };
typedef struct cj_pack_prefetch_plan {
    const char *at[CJ_PACK_PREFETCH_RUNS]; /* a run's first line in channel 0 */
    int         lines[CJ_PACK_PREFETCH_RUNS];
    int         runs;
    int64_t     plane_bytes;
} cj_pack_prefetch_plan;

/* Per input row the segments' kernel rows reach, the columns from the leftmost to the rightmost
 * any of them reads there. */
static inline void cj_pack_prefetch_plan_init(const cj_pack_geometry *g, const cj_pack_segment *seg, int nseg,
                                              cj_pack_prefetch_plan *plan) {
    const int64_t reach = (g->kh - 1) * g->dil_h, span = (g->kw - 1) * g->dil_w;
    plan->runs = 0;
    plan->plane_bytes = g->h_in * g->w_in * (int64_t)sizeof(float);
    for (int s = 0; s < nseg;) {
        const int e = cj_pack_image_end(seg, nseg, s);
        const int64_t y0 = seg[s].y * g->stride_h - g->pad_h, y1 = seg[e].y * g->stride_h - g->pad_h + reach;
        for (int64_t iy = y0 < 0 ? 0 : y0; iy <= y1 && iy < g->h_in && plan->runs < CJ_PACK_PREFETCH_RUNS; iy++) {
            int64_t lo = g->w_in, hi = -1;
            for (int q = s; q <= e; q++) {
                const int64_t top = seg[q].y * g->stride_h - g->pad_h, x = seg[q].x * g->stride_w - g->pad_w;
                const int64_t right = x + (seg[q].lanes - 1) * g->stride_w + span;
                if (iy < top || iy > top + reach) continue;
                lo = x < lo ? x : lo;
                hi = right > hi ? right : hi;
            }
            lo = lo < 0 ? 0 : lo;
            hi = hi >= g->w_in ? g->w_in - 1 : hi;
            if (lo > hi) continue;
            const float *row = seg[s].image + iy * g->w_in;
            const uintptr_t first = (uintptr_t)(row + lo) & ~(uintptr_t)63, last = (uintptr_t)(row + hi) & ~(uintptr_t)63;
            plan->at[plan->runs] = (const char *)first;
            plan->lines[plan->runs++] = (int)((last - first) / 64 + 1);
        }
        s = e + 1;
    }
}

/* Always inline: a function whose only effects are prefetches counts as pure to gcc, and its calls
 * are deleted. */
static inline __attribute__((always_inline)) void cj_pack_prefetch_channel(const cj_pack_prefetch_plan *plan,
                                                                           int64_t c) {
    for (int r = 0; r < plan->runs; r++)
        for (int l = 0; l < plan->lines[r]; l++) __builtin_prefetch(plan->at[r] + c * plan->plane_bytes + 64 * l, 0, 3);
}

/* A panel's plan (none without g->prefetch) for rows [r0, r1) from channel c, and the channels
 * after c it will not reach the prefetch of as it goes. */
static inline __attribute__((always_inline)) void cj_pack_prefetch_start(const cj_pack_geometry *g,
                                                                         const cj_pack_segment *seg, int nseg,
                                                                         int64_t c, int64_t r1,
                                                                         cj_pack_prefetch_plan *plan) {
    plan->runs = 0;
    if (!g->prefetch) return;
    cj_pack_prefetch_plan_init(g, seg, nseg, plan);
    for (int64_t q = 1; q <= g->prefetch && (c + q) * g->kh * g->kw < r1; q++) cj_pack_prefetch_channel(plan, c + q);
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
