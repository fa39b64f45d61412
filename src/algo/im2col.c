/* Both loops walk the panel one output row (y) at a time and split each row into the stretch of
 * x whose input column is inside the image and the padding on either side, so that the inner
 * loop has no bounds test (a plain copy when the stride is 1). */
#include "algo/im2col.h"

#include <string.h>

#include "util/checked.h"

/* The x in [xa, xb) for which ix = x*sw + off lies in [0, w_in). */
static void valid_x(int64_t xa, int64_t xb, int64_t off, int64_t sw, int64_t w_in, int64_t *lo, int64_t *hi) {
    /* smallest x with x*sw + off >= 0, and smallest x with x*sw + off >= w_in */
    int64_t first = off >= 0 ? 0 : cj_div_up(-off, sw);
    int64_t past = w_in - off <= 0 ? 0 : cj_div_up(w_in - off, sw);
    /* xa <= lo <= hi <= xb, also when no x is valid (first past xb, or past before xa) */
    *lo = cj_min64(cj_max64(xa, first), xb);
    *hi = cj_max64(*lo, cj_min64(xb, past));
}

#define DEFINE_IM2COL(T, suffix)                                                                   \
    static void im2col_##suffix(const cj_conv_desc *d, const T *image, int64_t c0, int64_t c1,    \
                                int64_t p0, int64_t np, T *col, int64_t ldcol) {                   \
        const int64_t wo = d->w_out, plane = d->h_in * d->w_in;                                    \
        int64_t r = 0;                                                                             \
        for (int64_t c = c0; c < c1; c++)                                                          \
            for (int64_t i = 0; i < d->kh; i++)                                                    \
                for (int64_t j = 0; j < d->kw; j++, r++) {                                         \
                    T *dst = col + r * ldcol;                                                      \
                    const int64_t xoff = j * d->dil_w - d->pad_w;                                  \
                    for (int64_t p = p0; p < p0 + np;) {                                           \
                        const int64_t y = p / wo, xa = p % wo;                                     \
                        const int64_t xb = cj_min64(wo, xa + (p0 + np - p));                       \
                        T *out = dst + (p - p0) - xa;                                              \
                        const int64_t iy = y * d->stride_h - d->pad_h + i * d->dil_h;              \
                        if (iy < 0 || iy >= d->h_in) {                                             \
                            for (int64_t x = xa; x < xb; x++) out[x] = 0;                          \
                        } else {                                                                   \
                            const T *src = image + c * plane + iy * d->w_in;                       \
                            int64_t lo, hi;                                                        \
                            valid_x(xa, xb, xoff, d->stride_w, d->w_in, &lo, &hi);                 \
                            for (int64_t x = xa; x < lo; x++) out[x] = 0;                          \
                            if (d->stride_w == 1)                                                  \
                                memcpy(out + lo, src + lo + xoff, (size_t)(hi - lo) * sizeof(T));  \
                            else                                                                   \
                                for (int64_t x = lo; x < hi; x++) out[x] = src[x * d->stride_w + xoff]; \
                            for (int64_t x = hi; x < xb; x++) out[x] = 0;                          \
                        }                                                                          \
                        p += xb - xa;                                                              \
                    }                                                                              \
                }                                                                                  \
    }                                                                                              \
    static void col2im_##suffix(const cj_conv_desc *d, const T *col, int64_t ldcol, int64_t c0,   \
                                int64_t c1, int64_t p0, int64_t np, T *image) {                    \
        const int64_t wo = d->w_out, plane = d->h_in * d->w_in;                                    \
        int64_t r = 0;                                                                             \
        for (int64_t c = c0; c < c1; c++)                                                          \
            for (int64_t i = 0; i < d->kh; i++)                                                    \
                for (int64_t j = 0; j < d->kw; j++, r++) {                                         \
                    const T *srcrow = col + r * ldcol;                                             \
                    const int64_t xoff = j * d->dil_w - d->pad_w;                                  \
                    for (int64_t p = p0; p < p0 + np;) {                                           \
                        const int64_t y = p / wo, xa = p % wo;                                     \
                        const int64_t xb = cj_min64(wo, xa + (p0 + np - p));                       \
                        const int64_t iy = y * d->stride_h - d->pad_h + i * d->dil_h;              \
                        if (iy >= 0 && iy < d->h_in) {                                             \
                            const T *in = srcrow + (p - p0) - xa;                                  \
                            T *dst = image + c * plane + iy * d->w_in;                             \
                            int64_t lo, hi;                                                        \
                            valid_x(xa, xb, xoff, d->stride_w, d->w_in, &lo, &hi);                 \
                            if (d->stride_w == 1)                                                  \
                                for (int64_t x = lo; x < hi; x++) dst[x + xoff] += in[x];          \
                            else                                                                   \
                                for (int64_t x = lo; x < hi; x++) dst[x * d->stride_w + xoff] += in[x]; \
                        }                                                                          \
                        p += xb - xa;                                                              \
                    }                                                                              \
                }                                                                                  \
    }
DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)

void cj_im2col(const cj_conv_desc *d, const void *image, int64_t c0, int64_t c1, int64_t p0, int64_t np,
               void *col, int64_t ldcol) {
    if (d->dtype == CJ_F64) im2col_f64(d, image, c0, c1, p0, np, col, ldcol);
    else im2col_f32(d, image, c0, c1, p0, np, col, ldcol);
}

void cj_col2im_add(const cj_conv_desc *d, const void *col, int64_t ldcol, int64_t c0, int64_t c1, int64_t p0,
                   int64_t np, void *image) {
    if (d->dtype == CJ_F64) col2im_f64(d, col, ldcol, c0, c1, p0, np, image);
    else col2im_f32(d, col, ldcol, c0, c1, p0, np, image);
}
