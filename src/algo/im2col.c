/* Both loops walk the panel one output row (y) at a time and split each row into the stretch of
 * x whose input column is inside the image and the padding on either side, so that the inner
 * loop has no bounds test (a plain copy when the stride is 1). The valid stretch depends only on
 * the kernel column j, so it is computed once per column-matrix row, and the walk over output
 * rows advances y and x without dividing: divisions per segment cost more than the short copies
 * themselves on 3x3 layers. */
#include "algo/im2col.h"

#include <string.h>

#include "arch/cpu.h"
#include "kernels/gather.h"
#include "util/checked.h"

/* The x for which ix = x*sw + off lies in [0, w_in): [first, past), clamped to [0, wo]. It runs
 * for every column-matrix row of every packed panel (implicit GEMM's are NR pixels wide), so
 * stride 1 takes no division. */
static void valid_x(int64_t off, int64_t sw, int64_t w_in, int64_t wo, int64_t *first, int64_t *past) {
    if (sw == 1) {
        *first = cj_min64(wo, cj_max64(0, -off));
        *past = cj_max64(*first, cj_min64(wo, w_in - off));
        return;
    }
    *first = cj_min64(wo, off >= 0 ? 0 : cj_div_up(-off, sw));
    *past = cj_max64(*first, cj_min64(wo, w_in - off <= 0 ? 0 : cj_div_up(w_in - off, sw)));
}

/* Visits the output-row segments of pixels [p0, p0+np), pixel p0 being (y0, x0): for each, y, the
 * x range [xa, xb) and the offset q of pixel (y, xa) within the panel. */
#define FOR_EACH_ROW_SEGMENT(wo, y0, x0, np, ...)                                              \
    do {                                                                                          \
        int64_t y = (y0), xa = (x0), q = 0;                                                       \
        while (q < (np)) {                                                                        \
            const int64_t xb = cj_min64((wo), xa + ((np) - q));                                   \
            __VA_ARGS__;                                                                          \
            q += xb - xa;                                                                         \
            xa = 0;                                                                               \
            y++;                                                                                  \
        }                                                                                         \
    } while (0)

/* Visits rows [r0, r1) of the column matrix as (r, c, i, j), advancing c, i, j without dividing. */
#define FOR_EACH_ROW(d, r0, r1, ...)                                                              \
    do {                                                                                          \
        const int64_t khkw_ = (d)->kh * (d)->kw;                                                  \
        int64_t c = (r0) / khkw_, i = (r0) % khkw_ / (d)->kw, j = (r0) % (d)->kw;                \
        for (int64_t r = (r0); r < (r1); r++) {                                                   \
            __VA_ARGS__;                                                                          \
            if (++j == (d)->kw) {                                                                 \
                j = 0;                                                                            \
                if (++i == (d)->kh) {                                                             \
                    i = 0;                                                                        \
                    c++;                                                                          \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    } while (0)

/* dst[x] = src[2x], x < n: stride-2 layers' rows (AVX2: kernels/gather.h, 2-3x the scalar loop). */
static inline void gather2_f32(float *dst, const float *src, int64_t n, int simd) {
#if defined(CJ_HAVE_X86_KERNELS)
    if (simd) {
        cj_f32_gather_stride2__avx2(dst, src, n);
        return;
    }
#endif
    (void)simd;
    for (int64_t x = 0; x < n; x++) dst[x] = src[2 * x];
}

static inline void gather2_f64(double *dst, const double *src, int64_t n, int simd) {
    (void)simd;
    for (int64_t x = 0; x < n; x++) dst[x] = src[2 * x];
}

#define DEFINE_IM2COL(T, suffix)                                                                   \
    static void im2col_##suffix(const cj_conv_desc *d, const T *image, int64_t r0, int64_t r1,    \
                                int64_t p0, int64_t np, T *col, int64_t ldcol) {                   \
        const int64_t wo = d->w_out, plane = d->h_in * d->w_in, sw = d->stride_w;                  \
        const int simd = sw == 2 && cj_cpu()->isa >= CJ_ISA_AVX2;                                   \
        const int64_t y0 = p0 / wo, x0 = p0 % wo; /* once: the rows below revisit the same pixels */ \
        FOR_EACH_ROW(d, r0, r1, {                                                                  \
                    T *dst = col + (r - r0) * ldcol;                                               \
                    const int64_t xoff = j * d->dil_w - d->pad_w;                                  \
                    int64_t first, past;                                                           \
                    valid_x(xoff, sw, d->w_in, wo, &first, &past);                                 \
                    FOR_EACH_ROW_SEGMENT(wo, y0, x0, np, {                                             \
                        T *out = dst + q - xa; /* out[x] is pixel (y, x) */                        \
                        const int64_t iy = y * d->stride_h - d->pad_h + i * d->dil_h;              \
                        if (iy < 0 || iy >= d->h_in) {                                             \
                            for (int64_t x = xa; x < xb; x++) out[x] = 0;                          \
                        } else {                                                                   \
                            const T *src = image + c * plane + iy * d->w_in + xoff;                \
                            const int64_t lo = cj_min64(cj_max64(xa, first), xb);                  \
                            const int64_t hi = cj_max64(lo, cj_min64(xb, past));                   \
                            for (int64_t x = xa; x < lo; x++) out[x] = 0;                          \
                            if (sw == 1)                                                           \
                                for (int64_t x = lo; x < hi; x++) out[x] = src[x];                 \
                            else if (sw == 2)                                                      \
                                gather2_##suffix(out + lo, src + 2 * lo, hi - lo, simd);           \
                            else                                                                   \
                                for (int64_t x = lo; x < hi; x++) out[x] = src[x * sw];            \
                            for (int64_t x = hi; x < xb; x++) out[x] = 0;                          \
                        }                                                                          \
                    });                                                                            \
        });                                                                                        \
    }                                                                                              \
    static void col2im_##suffix(const cj_conv_desc *d, const T *col, int64_t ldcol, int64_t r0,   \
                                int64_t r1, int64_t p0, int64_t np, T *image) {                    \
        const int64_t wo = d->w_out, plane = d->h_in * d->w_in, sw = d->stride_w;                  \
        const int64_t y0 = p0 / wo, x0 = p0 % wo;                                                  \
        FOR_EACH_ROW(d, r0, r1, {                                                                  \
                    const T *srcrow = col + (r - r0) * ldcol;                                      \
                    const int64_t xoff = j * d->dil_w - d->pad_w;                                  \
                    int64_t first, past;                                                           \
                    valid_x(xoff, sw, d->w_in, wo, &first, &past);                                 \
                    FOR_EACH_ROW_SEGMENT(wo, y0, x0, np, {                                             \
                        const int64_t iy = y * d->stride_h - d->pad_h + i * d->dil_h;              \
                        if (iy >= 0 && iy < d->h_in) {                                             \
                            const T *in = srcrow + q - xa;                                         \
                            T *dst = image + c * plane + iy * d->w_in + xoff;                      \
                            const int64_t lo = cj_max64(xa, first), hi = cj_min64(xb, past);       \
                            if (sw == 1)                                                           \
                                for (int64_t x = lo; x < hi; x++) dst[x] += in[x];                 \
                            else                                                                   \
                                for (int64_t x = lo; x < hi; x++) dst[x * sw] += in[x];            \
                        }                                                                          \
                    });                                                                            \
        });                                                                                        \
    }
DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)

void cj_im2col(const cj_conv_desc *d, const void *image, int64_t r0, int64_t r1, int64_t p0, int64_t np,
               void *col, int64_t ldcol) {
    if (d->dtype == CJ_F64) im2col_f64(d, image, r0, r1, p0, np, col, ldcol);
    else im2col_f32(d, image, r0, r1, p0, np, col, ldcol);
}

void cj_col2im_add(const cj_conv_desc *d, const void *col, int64_t ldcol, int64_t r0, int64_t r1, int64_t p0,
                   int64_t np, void *image) {
    if (d->dtype == CJ_F64) col2im_f64(d, col, ldcol, r0, r1, p0, np, image);
    else col2im_f32(d, col, ldcol, r0, r1, p0, np, image);
}
