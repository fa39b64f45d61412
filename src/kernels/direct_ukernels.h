/* The direct convolution's two micro-kernel families, vectorised along a row of pixels (NCHW's
 * contiguous axis). Kernels know nothing of convolutions: the drivers hand them staged rows (zero
 * padded and split into stride phases, so every tap reads a contiguous, in-bounds stretch) and
 * lists of row pointers and tap offsets.
 *
 * gather (forward, grad_input): for m < mr, x < nx
 *     out[m*ld_out + x] = bias[m] + sum_s sum_t w[woff[s] + tap_w[t]*MR + m] * src[s][tap_off[t] + x]
 *   Every src[s] must be readable up to tap_off[t] + round_up(nx, NV*VL) (the staged rows are
 *   padded for it); nsrc == 0 or ntaps == 0 writes bias (or zeros). Outputs m >= mr are not
 *   written, so packed weights are zero-padded to MR rows.
 * dot (grad_weight): for m < mr, t < JT
 *     dw[m*ld_dw + t] += sum_r sum_{x < nx} dy[r][m*ld_dy + x] * src[r][tap_off[t] + x]
 *   reading nothing past nx in either operand (so a NaN beyond the row cannot leak in). */
#ifndef CJ_KERNELS_DIRECT_UKERNELS_H
#define CJ_KERNELS_DIRECT_UKERNELS_H
#include <stdint.h>

#include "arch/cpu.h"
#include "conjure.h"

typedef struct cj_direct_gather_args {
    int64_t nsrc;
    const void *const *src;    /* staged rows */
    const int64_t *woff;       /* per source: offset in elements into w */
    const void *w;             /* packed weights: MR values per tap */
    int64_t ntaps;
    const int64_t *tap_off;    /* per tap: offset in elements into every staged row */
    const int64_t *tap_w;      /* per tap: index of its MR weights after woff */
    int64_t mr, nx;
    void *out;
    int64_t ld_out;
    const void *bias;          /* mr values, or NULL */
} cj_direct_gather_args;

typedef struct cj_direct_dot_args {
    int64_t nrows;
    const void *const *dy;     /* per row: the first channel's grad_output row */
    int64_t ld_dy;             /* elements between channels */
    const void *const *src;    /* per row: staged input row */
    const int64_t *tap_off;    /* JT offsets into every staged row */
    int64_t mr, nx;
    void *dw;
    int64_t ld_dw;
} cj_direct_dot_args;

typedef void (*cj_direct_gather_fn)(const cj_direct_gather_args *a);
typedef void (*cj_direct_dot_fn)(const cj_direct_dot_args *a);

/* Register tiles: MR (channels per block) in {1, 4, 8}; gather kernels hold MR x NV vectors of
 * outputs (NV <= nv_max), dot kernels MR x JT vectors of partial sums (JT <= jt_max). */
enum { CJ_DIRECT_MR_CLASSES = 3, CJ_DIRECT_MAX_NV = 4, CJ_DIRECT_MAX_JT = 8 };
static const int64_t cj_direct_mr[CJ_DIRECT_MR_CLASSES] = {1, 4, 8};

typedef struct cj_direct_kernels {
    int64_t vl;                                   /* elements per vector */
    int64_t nv_max[CJ_DIRECT_MR_CLASSES], jt_max[CJ_DIRECT_MR_CLASSES];
    cj_direct_gather_fn gather[CJ_DIRECT_MR_CLASSES][CJ_DIRECT_MAX_NV];
    cj_direct_dot_fn dot[CJ_DIRECT_MR_CLASSES][CJ_DIRECT_MAX_JT];
} cj_direct_kernels;

/* The kernels of dtype for the ISA path in use (cj_cpu()->isa). */
const cj_direct_kernels *cj_direct_kernels_get(cj_dtype dtype);

extern const cj_direct_kernels cj_direct_kernels_f32_scalar, cj_direct_kernels_f64_scalar;
#if defined(CJ_HAVE_X86_KERNELS)
extern const cj_direct_kernels cj_direct_kernels_f32_avx2, cj_direct_kernels_f64_avx2;
extern const cj_direct_kernels cj_direct_kernels_f32_avx512, cj_direct_kernels_f64_avx512;
#endif

#endif
