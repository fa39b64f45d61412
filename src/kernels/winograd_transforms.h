/* The Winograd F(4x4, 3x3) tile transforms (winograd_f4k3.inc), one set per dtype and ISA path.
 *
 * A tile is named by the offsets of its image in the source and destination tensors and by its
 * output origin (y, x): the input window starts at (y - pad_h, x - pad_w), the output tile and the
 * grad_output window at (y, x). Transformed values live at V[e*ld_e + c*ld_c + t] for transform
 * element e (0..35, row-major 6x6), channel c and tile t: tiles are the contiguous axis, the N
 * axis of the element-wise GEMMs (the input transform may write GEMM panels instead:
 * cj_wino_layout). */
#ifndef CJ_KERNELS_WINOGRAD_TRANSFORMS_H
#define CJ_KERNELS_WINOGRAD_TRANSFORMS_H
#include <stdint.h>

#include "gemm/gemm.h"

typedef struct cj_wino_tile {
    int64_t src, dst; /* element offsets of the tile's image (channel 0) in the two tensors */
    int64_t y, x;     /* output origin */
} cj_wino_tile;

/* The windows of a group of tiles, lane l for tile t[l]: the image at the tile's src (or dst)
 * offset, origin (y - pad_h, x - pad_w). Read straight from the tile list: copying them into
 * per-lane arrays first stalled each channel's gather on store forwarding (perf: 30% of the
 * input transform, f32 AVX-512). */
typedef struct cj_wino_lanes {
    const cj_wino_tile *t;
    int use_dst;
    int64_t pad_h, pad_w;
} cj_wino_lanes;

static inline int64_t cj_wino_lane_base(const cj_wino_lanes *g, int l) { return g->use_dst ? g->t[l].dst : g->t[l].src; }
static inline int64_t cj_wino_lane_y(const cj_wino_lanes *g, int l) { return g->t[l].y - g->pad_h; }
static inline int64_t cj_wino_lane_x(const cj_wino_lanes *g, int l) { return g->t[l].x - g->pad_w; }

/* Where the input transform puts element e of channel c and tile t: V[e*ld_e + c*ld_c + t], or with
 * gemm set, at e*ld_e + cj_gemm_b_prepacked_at(gemm, k, ld_c, c, t): the GEMM's packed B panels
 * (ld_c their padded column count), which the element-wise GEMMs then read without packing. */
typedef struct cj_wino_layout {
    int64_t ld_e, ld_c;
    const cj_gemm_config *gemm; /* NULL: plain rows */
    int64_t k;                  /* the packed matrix's rows (channels) */
} cj_wino_layout;

static inline int64_t cj_wino_at(const cj_wino_layout *L, int64_t c, int64_t t) {
    return L->gemm ? cj_gemm_b_prepacked_at(L->gemm, L->k, L->ld_c, c, t) : c * L->ld_c + t;
}

typedef struct cj_wino_transforms {
    /* V = B^T d B of the 6x6 input windows of `channels` planes of h x w, `plane` apart. Packed
     * (layout->gemm), every column up to ld_c is written, zero past the tiles. */
    void (*input)(const void *src, int64_t plane, int64_t h, int64_t w, int64_t pad_h, int64_t pad_w,
                  int64_t channels, const cj_wino_tile *tiles, int64_t ntiles, void *V,
                  const cj_wino_layout *layout);
    /* Z = A y A^T of the 4x4 grad_output windows (weight gradient). */
    void (*grad_output)(const void *src, int64_t plane, int64_t h, int64_t w, int64_t channels,
                        const cj_wino_tile *tiles, int64_t ntiles, void *Z, int64_t ld_e, int64_t ld_c);
    /* dst tile = A^T M A + bias[c] (bias NULL: none), clipped to the h x w plane. */
    void (*output)(const void *M, int64_t ld_e, int64_t ld_c, int64_t channels, const cj_wino_tile *tiles,
                   int64_t ntiles, const void *bias, void *dst, int64_t plane, int64_t h, int64_t w);
    /* U = G g G^T of up to `lanes` kernels at a time (see winograd_f4k3.inc). */
    void (*weight)(const void *w, int64_t m_stride, int64_t k_stride, int rotate, int rows, int out_lanes,
                   int64_t kc, void *U, int64_t ld_e, int64_t ld_k);
    /* grad_w = G^T (sum over slots) G of transformed weight gradients, channel by channel. */
    void (*weight_grad)(const void *acc, int64_t slots, int64_t slot_stride, int64_t ld_e, int64_t count,
                        void *out);
    int lanes; /* tiles or kernels one call transforms together */
} cj_wino_transforms;

/* The transforms for dtype (CJ_F32 / CJ_F64) on the CPU's selected ISA path. */
const cj_wino_transforms *cj_wino_transforms_get(int dtype);

#define CJ_WINO_DECLARE(prefix)                                                                     \
    void prefix##_input(const void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,          \
                        const cj_wino_tile *, int64_t, void *, const cj_wino_layout *);              \
    void prefix##_grad_output(const void *, int64_t, int64_t, int64_t, int64_t, const cj_wino_tile *, \
                              int64_t, void *, int64_t, int64_t);                                    \
    void prefix##_output(const void *, int64_t, int64_t, int64_t, const cj_wino_tile *, int64_t,     \
                         const void *, void *, int64_t, int64_t, int64_t);                          \
    void prefix##_weight(const void *, int64_t, int64_t, int, int, int, int64_t, void *, int64_t, int64_t); \
    void prefix##_weight_grad(const void *, int64_t, int64_t, int64_t, int64_t, void *);
CJ_WINO_DECLARE(cj_f32_winograd_f4k3__scalar)
CJ_WINO_DECLARE(cj_f64_winograd_f4k3__scalar)
CJ_WINO_DECLARE(cj_f32_winograd_f4k3__avx2)
CJ_WINO_DECLARE(cj_f64_winograd_f4k3__avx2)
CJ_WINO_DECLARE(cj_f32_winograd_f4k3__avx512)
CJ_WINO_DECLARE(cj_f64_winograd_f4k3__avx512)
#undef CJ_WINO_DECLARE

#endif
