/* im2col and col2im on panels of output pixels, one group of one image at a time.
 *
 * Row r of a group's column matrix is (c, i, j) = (r / (kh*kw), r / kw % kh, r % kw); column q of a
 * panel is output pixel p0 + q (pixels in row-major order y*W_out + x). A call covers rows
 * [r0, r1): a slab of the matrix, so that callers can keep it in L2. */
#ifndef CJ_ALGO_IM2COL_H
#define CJ_ALGO_IM2COL_H
#include "algo/algo.h"

/* col[r - r0][q] = image[c][y*sh - ph + i*dh][x*sw - pw + j*dw] (0 outside) for rows [r0, r1) and
 * pixels [p0, p0+np); image is the group's first channel of one image. ldcol: col's row stride in
 * elements (>= np). */
void cj_im2col(const cj_conv_desc *d, const void *image, int64_t r0, int64_t r1, int64_t p0, int64_t np,
               void *col, int64_t ldcol);

/* The adjoint: image[c][...] += col[...] for the same index map (out-of-bounds terms dropped). */
void cj_col2im_add(const cj_conv_desc *d, const void *col, int64_t ldcol, int64_t r0, int64_t r1, int64_t p0,
                   int64_t np, void *image);

#endif
