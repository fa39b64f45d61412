/* The GEMM-based convolution drivers shared by CJ_ALGO_IM2COL_GEMM and CJ_ALGO_IMPLICIT_GEMM:
 * the same task split, pixel tiling and GEMMs; they differ only in how B reaches the GEMM's
 * packed panels: through an explicit im2col slab (IM2COL), or packed straight from the input
 * tensor with no column matrix at all (IMPLICIT, implicit_pack.c). */
#ifndef CJ_ALGO_GEMM_CONV_H
#define CJ_ALGO_GEMM_CONV_H
#include "algo/algo.h"
#include "gemm/gemm.h"

typedef enum cj_gemm_conv_mode { CJ_GEMM_CONV_IM2COL, CJ_GEMM_CONV_IMPLICIT } cj_gemm_conv_mode;

/* packed_w: the weights as cj_gemm_conv_forward_pack wrote them (a plan's), or NULL: packed here
 * (or read in place, cj_gemm_conv_weights_in_place). */
cj_status cj_gemm_conv_forward(cj_context *ctx, const cj_conv_desc *d, cj_gemm_conv_mode mode, const void *in,
                               const void *w, const void *packed_w, const void *bias, void *out);
/* Weights a forward GEMM reads where they lie, by the kernel's strided-A twin: group g's A at
 * w + g * group_stride elements, row i lda further per row, column k koff[k] into it (NULL: k). */
typedef struct cj_weights_in_place {
    const void    *w;
    int64_t        group_stride, lda;
    const int32_t *koff;
} cj_weights_in_place;
/* Whether forward GEMMs over `pixels` output pixels (the batch's) read unpacked weights in place:
 * small GEMMs, on a kernel with a strided-A twin. */
int cj_gemm_conv_weights_in_place(int dtype, int64_t pixels);
cj_status cj_gemm_conv_forward_in_place(cj_context *ctx, const cj_conv_desc *d, cj_gemm_conv_mode mode,
                                        const void *in, const cj_weights_in_place *w, const void *bias, void *out);
/* The forward pass's packed weights (the GEMM's A panels of every group), made once for plans. */
size_t cj_gemm_conv_forward_packed_bytes(const cj_conv_desc *d);
void   cj_gemm_conv_forward_pack(cj_context *ctx, const cj_conv_desc *d, const void *w, void *packed_w);
/* grad_input as GEMM + col2im (any stride). */
cj_status cj_gemm_conv_backward_data_col2im(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                            const void *w, void *grad_in);
cj_status cj_gemm_conv_backward_weights(cj_context *ctx, const cj_conv_desc *d, cj_gemm_conv_mode mode,
                                        const void *in, const void *grad_out, void *grad_w);

/* The output pixels a GEMM's columns cover: `images` whole images side by side from n0, or one
 * panel [p0, p0+np) of one image. */
typedef struct cj_pixel_unit {
    int64_t n0, images;
    int64_t p0, np;
} cj_pixel_unit;

/* B of the forward GEMM (rows: the column-matrix rows of group g; columns: the unit's pixels),
 * packed straight from the input. */
typedef struct cj_implicit_b {
    const cj_conv_desc *d;
    const char         *in;       /* the input tensor */
    int64_t             g;
    cj_pixel_unit       unit;
} cj_implicit_b;
cj_gemm_b cj_implicit_b_forward(const cj_implicit_b *src);

/* B of the grad_weight GEMM (col^T: rows are the unit's pixels, columns the column-matrix rows),
 * packed from the input through `temp` (a slot-owned buffer of cj_implicit_b_transposed_temp
 * bytes). */
typedef struct cj_implicit_bt {
    cj_implicit_b src;
    void         *temp;
} cj_implicit_bt;
size_t    cj_implicit_b_transposed_temp(const cj_gemm_config *cfg);
/* A 1x1 kernel at stride 1 without padding: the column matrix is the input itself. */
int       cj_implicit_pointwise(const cj_conv_desc *d);
cj_gemm_b cj_implicit_b_transposed(const cj_implicit_bt *src);

#endif
