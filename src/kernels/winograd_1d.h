/* The tile transforms of one-axis Winograd F(m, r) (winograd_1d.inc), one set per dtype and ISA
 * path: kernels of one column (r x 1) or one row (1 x r) of r = 7 or 5 taps, m = 9 - r outputs
 * per tile, 8 transform elements at the points 0, +-1, +-2, +-1/2 and infinity.
 *
 * A tile is named as in winograd_transforms.h (its image's offsets in the two tensors and its
 * output origin (y, x)). Along the kernel's axis (dy, dx) = (1, 0) for a column, (0, 1) for a row,
 * the tile's input window holds the 8 elements (y - pad_h + i*dy, x - pad_w + i*dx), its outputs
 * the m elements (y + j*dy, x + j*dx); elements outside the plane read as zero and are not
 * written. Transformed values live at V[e*ld_e + c*ld_c + t] for element e (0..7), channel c and
 * tile t: the element-wise GEMMs' rows. */
#ifndef CJ_KERNELS_WINOGRAD_1D_H
#define CJ_KERNELS_WINOGRAD_1D_H
#include <stdint.h>

#include "kernels/winograd_transforms.h"

#define CJ_WINO1D_ELEMS 8

/* The geometry every transform of one call shares. */
typedef struct cj_wino1d_geometry {
    int64_t plane, h, w;   /* the plane the transform reads (input, grad_output) or writes (output) */
    int64_t pad_h, pad_w;  /* the input window's offset from the tile's origin (input transform) */
    int dy, dx;            /* the kernel's axis */
    int m;                 /* outputs per tile (9 - the taps) */
} cj_wino1d_geometry;

/* How far apart consecutive tiles of a line lie: 1 across a column kernel's lines, m along a row
 * kernel's. */
static inline int64_t cj_wino1d_step(const cj_wino1d_geometry *g) { return g->dy ? 1 : g->m; }

typedef struct cj_wino1d_transforms {
    /* V = B^T d of the input windows of `channels` planes, `plane` apart, at layout's places
     * (winograd_transforms.h): the GEMM's packed B panels only where `panels` says so, and
     * then every column up to layout->ld_c, zero past the tiles. */
    void (*input)(const void *src, const cj_wino1d_geometry *g, int64_t channels, const cj_wino_tile *tiles,
                  int64_t ntiles, void *V, const cj_wino_layout *layout);
    /* Whether input writes packed panels (whole lane groups of 16 tiles in NR-wide panels: AVX-512
     * f32), else plain rows only. */
    int panels;
    /* Z = A y of the grad_output windows (m elements from the origin, in the image at the tiles'
     * dst offsets; the weight gradient). */
    void (*grad_output)(const void *src, const cj_wino1d_geometry *g, int64_t channels, const cj_wino_tile *tiles,
                        int64_t ntiles, void *Z, int64_t ld_e, int64_t ld_c);
    /* The m outputs A^T M + bias[c] (bias NULL: none) of each tile, clipped to the plane. */
    void (*output)(const void *M, int64_t ld_e, int64_t ld_c, int64_t channels, const cj_wino_tile *tiles,
                   int64_t ntiles, const void *bias, void *dst, const cj_wino1d_geometry *g);
    /* The 8 transformed values sum_t G[e][t] g[t] of `count` kernels, kernel k's tap t at
     * w[k*k_stride + t*t_stride] (t_stride -1 reverses it), into U[k*8 + e]; G given as
     * coef[t*8 + e], t < r. */
    void (*weight)(const void *w, int64_t k_stride, int64_t t_stride, int r, int64_t count, const double *coef,
                   void *U);
} cj_wino1d_transforms;

/* The transforms for dtype (CJ_F32 / CJ_F64) on the CPU's selected ISA path. */
const cj_wino1d_transforms *cj_wino1d_transforms_get(int dtype);

#define CJ_WINO1D_DECLARE(prefix)                                                                          \
    void prefix##_input(const void *, const cj_wino1d_geometry *, int64_t, const cj_wino_tile *, int64_t, void *, \
                        const cj_wino_layout *);                                                            \
    void prefix##_grad_output(const void *, const cj_wino1d_geometry *, int64_t, const cj_wino_tile *, int64_t,  \
                              void *, int64_t, int64_t);                                                    \
    void prefix##_output(const void *, int64_t, int64_t, int64_t, const cj_wino_tile *, int64_t, const void *, \
                         void *, const cj_wino1d_geometry *);                                       \
    void prefix##_weight(const void *, int64_t, int64_t, int, int64_t, const double *, void *);
CJ_WINO1D_DECLARE(cj_f32_winograd_1d__scalar)
CJ_WINO1D_DECLARE(cj_f64_winograd_1d__scalar)
CJ_WINO1D_DECLARE(cj_f32_winograd_1d__avx2)
CJ_WINO1D_DECLARE(cj_f64_winograd_1d__avx2)
CJ_WINO1D_DECLARE(cj_f32_winograd_1d__avx512)
CJ_WINO1D_DECLARE(cj_f64_winograd_1d__avx512)
#undef CJ_WINO1D_DECLARE

#endif
