/* im2col and col2im on panels of output pixels, one group of one image at a time.
 *
 * Row r of a column matrix is (c, i, j) = (r / (kh*kw), r / kw % kh, r % kw) counted from channel
 * c0 of the group; column q is output pixel p0 + q (pixels in row-major order y*W_out + x). */
#ifndef CJ_ALGO_IM2COL_H
#define CJ_ALGO_IM2COL_H
#include "algo/algo.h"

/* col[(c-c0)*kh*kw + i*kw + j][q] = image[c][y*sh - ph + i*dh][x*sw - pw + j*dw] (0 outside),
 * for channels [c0, c1) of image (the group's first channel of one image) and pixels [p0, p0+np).
 * ldcol: the column matrix's row stride in elements (>= np). */
void cj_im2col(const cj_conv_desc *d, const void *image, int64_t c0, int64_t c1, int64_t p0, int64_t np,
               void *col, int64_t ldcol);

/* The adjoint: image[c][...] += col[...] for the same index map (out-of-bounds terms dropped). */
void cj_col2im_add(const cj_conv_desc *d, const void *col, int64_t ldcol, int64_t c0, int64_t c1, int64_t p0,
                   int64_t np, void *image);

#endif
