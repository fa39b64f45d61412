/* Packing the GEMM's B panels straight from the input tensor: implicit GEMM's only difference
 * from im2col + GEMM. A KC x NR micro-panel of the column matrix is exactly the im2col of NR
 * pixels with a row stride of NR, so the packer reuses cj_im2col on each panel (split where the
 * panel's pixels cross from one image to the next); no column matrix is ever written. f32 panels
 * at stride_w 1 or 2 on AVX2 and AVX-512 take kernels/implicit_pack.h instead: masked vector loads
 * per run of pixels, a quarter of cj_im2col's instructions (resnet50.res3.3x3, AVX2). */
#include <string.h>

#include "algo/gemm_conv.h"
#include "algo/im2col.h"
#include "arch/cpu.h"
#include "kernels/implicit_pack.h"
#include "util/checked.h"

/* im2col of rows [r0, r1) and unit columns [q0, q0+count) into dst with row stride ld. */
static void unit_columns(const cj_implicit_b *s, int64_t r0, int64_t r1, int64_t q0, int64_t count, char *dst,
                         int64_t ld) {
    const cj_conv_desc *d = s->d;
    const cj_pixel_unit *u = &s->unit;
    const int64_t plane_in = d->h_in * d->w_in;
    for (int64_t q = q0; q < q0 + count;) {
        const int64_t i = q / u->np, p = q % u->np, len = cj_min64(u->np - p, q0 + count - q);
        const char *image = s->in + (size_t)(((u->n0 + i) * d->c_in + s->g * d->cin_g) * plane_in) * d->elem;
        cj_im2col(d, image, r0, r1, u->p0 + p, len, dst + (size_t)(q - q0) * d->elem, ld);
        q += len;
    }
}

static void zero_columns(char *dst, int64_t rows, int64_t from, int64_t nr, size_t elem) {
    if (from >= nr) return;
    for (int64_t k = 0; k < rows; k++) memset(dst + (size_t)(k * nr + from) * elem, 0, (size_t)(nr - from) * elem);
}

#if defined(CJ_HAVE_X86_KERNELS)
/* Unit columns [q0, q0+count) as segments (runs of pixels in one output row of one image); -1 when
 * there are more than the kernel takes (output rows much narrower than the panel). */
static int panel_segments(const cj_implicit_b *s, int64_t q0, int64_t count, cj_pack_segment *seg) {
    const cj_conv_desc *d = s->d;
    const cj_pixel_unit *u = &s->unit;
    const int64_t plane_in = d->h_in * d->w_in, wo = d->w_out;
    int n = 0;
    for (int64_t q = q0; q < q0 + count;) {
        const int64_t i = q / u->np, p = q % u->np, pixel = u->p0 + p, x = pixel % wo;
        const int64_t len = cj_min64(cj_min64(wo - x, u->np - p), q0 + count - q);
        if (n == CJ_PACK_MAX_SEGMENTS) return -1;
        seg[n++] = (cj_pack_segment){
            .image = (const float *)s->in + ((u->n0 + i) * d->c_in + s->g * d->cin_g) * plane_in,
            .y = pixel / wo, .x = x, .lane = q - q0, .lanes = len};
        q += len;
    }
    return n;
}

/* Channels the AVX-512 packer prefetches ahead when an image's input is more than half of L2, so
 * that its channels come from L3: 1 thread, vgg16.conv3_2 forward and grad_input 1.04x, 2 threads
 * 1.02x, 1 x 64 x 224^2 (12.8 MB) level; below that the loads already hit L2 or the hardware
 * prefetchers cover them, and the prefetches cost 1-2% (resnet50.res3.3x3, 400 KB an image, and
 * every smaller layer). 8 channels ahead, 1.01x over 2. */
static int64_t prefetch_distance(const cj_conv_desc *d) {
    return (size_t)(d->cin_g * d->h_in * d->w_in) * d->elem > cj_cpu()->l2_bytes / 2 ? 8 : 0;
}

/* f32 at stride_w 1 or 2 with AVX2's 16-column or AVX-512's 48-column panels: that ISA's kernel;
 * 0: take the generic packer. */
static int pack_panel_simd(const cj_implicit_b *s, int64_t r0, int64_t r1, int64_t q0, int64_t count, int64_t nr,
                           float *panel) {
    const cj_conv_desc *d = s->d;
    const cj_isa isa = cj_cpu()->isa;
    const int avx512 = nr == CJ_PACK_NR_AVX512 && isa >= CJ_ISA_AVX512;
    if (d->dtype != CJ_F32 || !cj_pack_panel_ok(d->kh, d->kw, d->stride_w) ||
        !(avx512 || (nr == CJ_PACK_NR_AVX2 && isa >= CJ_ISA_AVX2)))
        return 0;
    cj_pack_segment seg[CJ_PACK_MAX_SEGMENTS];
    const int nseg = panel_segments(s, q0, count, seg);
    if (nseg < 0) return 0;
    const cj_pack_geometry g = {.h_in = d->h_in, .w_in = d->w_in, .kh = d->kh, .kw = d->kw, .pad_h = d->pad_h,
                                .pad_w = d->pad_w, .dil_h = d->dil_h, .dil_w = d->dil_w, .stride_h = d->stride_h,
                                .stride_w = d->stride_w, .w_out = d->w_out, .prefetch = prefetch_distance(d)};
    if (avx512) cj_f32_pack_panel__avx512(&g, seg, nseg, r0, r1, panel);
    else cj_f32_pack_panel__avx2(&g, seg, nseg, r0, r1, panel);
    return 1;
}
#else
static int pack_panel_simd(const cj_implicit_b *s, int64_t r0, int64_t r1, int64_t q0, int64_t count, int64_t nr,
                           float *panel) {
    (void)s, (void)r0, (void)r1, (void)q0, (void)count, (void)nr, (void)panel;
    return 0;
}
#endif

static void pack_forward(const cj_gemm_b *b, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int64_t nr,
                         void *dst) {
    const cj_implicit_b *s = b->user;
    const size_t elem = s->d->elem;
    char *panel = dst;
    for (int64_t j0 = 0; j0 < nc; j0 += nr, panel += (size_t)(kc * nr) * elem) {
        const int64_t cols = cj_min64(nr, nc - j0);
        if (pack_panel_simd(s, k0, k0 + kc, n0 + j0, cols, nr, (float *)panel)) continue;
        unit_columns(s, k0, k0 + kc, n0 + j0, cols, panel, nr);
        zero_columns(panel, kc, cols, nr, elem);
    }
}

/* A 1x1 kernel with stride 1 and no padding reads the input as it is: B is the input tensor itself
 * (rows = channels, columns = pixels, images side by side as segments), packed by plain copies. */
int cj_implicit_pointwise(const cj_conv_desc *d) {
    /* (the extents check matters for the sub-problems of grad_input, whose output is a stride
     * phase smaller than their input) */
    return d->kh == 1 && d->kw == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 && d->pad_w == 0 &&
           d->h_out == d->h_in && d->w_out == d->w_in;
}

cj_gemm_b cj_implicit_b_forward(const cj_implicit_b *src) {
    const cj_conv_desc *d = src->d;
    if (cj_implicit_pointwise(d)) {
        const int64_t hw = d->h_in * d->w_in;
        const char *base = src->in + (size_t)((src->unit.n0 * d->c_in + src->g * d->cin_g) * hw + src->unit.p0) * d->elem;
        return cj_gemm_b_segmented(d->dtype, base, hw, src->unit.np, d->c_in * hw);
    }
    cj_gemm_b b = {.pack = pack_forward, .dtype = d->dtype, .user = src};
    return b;
}

size_t cj_implicit_b_transposed_temp(const cj_gemm_config *cfg) {
    return (size_t)(cfg->nr * cfg->kc) * cfg->elem;
}

/* Panel of col^T: rows k = pixels [k0, k0+kc), columns = column-matrix rows [r, r+cols). The
 * im2col of those rows and pixels lands in temp (cols x kc) and is transposed into the panel. */
static void pack_transposed(const cj_gemm_b *b, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int64_t nr,
                            void *dst) {
    const cj_implicit_bt *t = b->user;
    const cj_implicit_b *s = &t->src;
    const size_t elem = s->d->elem;
    char *panel = dst;
    for (int64_t j0 = 0; j0 < nc; j0 += nr, panel += (size_t)(kc * nr) * elem) {
        const int64_t cols = cj_min64(nr, nc - j0);
        unit_columns(s, n0 + j0, n0 + j0 + cols, k0, kc, t->temp, kc);
        const cj_gemm_b view = cj_gemm_b_strided(s->d->dtype, t->temp, 1, kc);
        cj_pack_b_strided(&view, 0, kc, 0, cols, nr, panel);
    }
}

cj_gemm_b cj_implicit_b_transposed(const cj_implicit_bt *src) {
    const cj_conv_desc *d = src->src.d;
    const cj_pixel_unit *u = &src->src.unit;
    if (cj_implicit_pointwise(d) && u->images == 1) { /* col^T is the input transposed: a strided view */
        const int64_t hw = d->h_in * d->w_in;
        const char *base = src->src.in + (size_t)((u->n0 * d->c_in + src->src.g * d->cin_g) * hw + u->p0) * d->elem;
        return cj_gemm_b_strided(d->dtype, base, 1, hw);
    }
    cj_gemm_b b = {.pack = pack_transposed, .dtype = src->src.d->dtype, .user = src};
    return b;
}
