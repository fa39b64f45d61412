/* Tile choice, tile positions, and the gathers/scatters between tensors and lane blocks. */
#include "algo/fft_plan.h"

#include <string.h>

#include "algo/fft_tiles.h"
#include "util/checked.h"

/* Estimated time of one tile size pair, in flop-like units:
 *  - the per-bin GEMMs: 8 real flops per bin and channel pair per tile, over whole blocks (a
 *    partial block still runs the micro-kernel's full width);
 *  - the tile transforms, per tile and channel: their butterflies (about 10 flops each, weighted
 *    3x because they run from L1 at a fraction of the GEMM's rate) and the element moves of the
 *    gather and scatter;
 *  - the kernel side, paid once per call: a transform per channel pair, and the packed spectra
 *    (4 F real elements per pair), which every block streams from memory again (weighted 16 flops
 *    per element: about what the FMA rate gets done while one element arrives from DRAM).
 * Within 3% the smaller spectrum wins (less memory per block): measured on lenet.conv2 and
 * alexnet.conv2, 8x16 beats both 8x8 and 8x32, which this model puts within 1-5% of it. */
static double plan_cost(const cj_conv_desc *d, int64_t hr, int64_t wr, int th, int tw, int64_t block) {
    const int64_t tiles = d->n * cj_div_up(hr, th - d->kh + 1) * cj_div_up(wr, tw - d->kw + 1);
    const double lanes = (double)cj_round_up(tiles, CJ_FFT_LANES);
    const double blocks = (double)cj_div_up(tiles, block);
    const double bins = (double)th * (double)(tw / 2 + 1);
    const double pairs = (double)d->cin_g * (double)d->cout_g;
    int lh = 0, lw = 0;
    while ((1 << lh) < th) lh++;
    while ((1 << lw) < tw) lw++;
    const double butterflies = (double)(th / 2) * (tw / 2) * lw + (double)(tw / 2 + 1) * (th / 2) * lh;
    const double transform = 30.0 * butterflies + 30.0 * th * tw;
    const double gemm = 8.0 * bins * pairs * blocks * (double)block;
    const double tile_side = transform * (double)(d->cin_g + d->cout_g) * lanes;
    const double kernel_side = pairs * (transform + 4.0 * bins * 16.0 * blocks);
    return (double)d->groups * (gemm + tile_side + kernel_side);
}

void cj_fft_plan_init(cj_fft_plan *p, const cj_conv_desc *d, cj_pass pass, int64_t block) {
    const int64_t hr = pass == CJ_PASS_BACKWARD_DATA ? d->h_in : d->h_out;
    const int64_t wr = pass == CJ_PASS_BACKWARD_DATA ? d->w_in : d->w_out;
    /* Every (th, tw) by spectrum size th * (tw/2 + 1), smallest first. */
    static const int pairs[9][2] = {{8, 8}, {8, 16}, {16, 8}, {8, 32}, {16, 16}, {32, 8}, {16, 32}, {32, 16}, {32, 32}};
    double best = -1;
    for (int i = 0; i < 9; i++) {
        const int th = pairs[i][0], tw = pairs[i][1];
        if (th <= d->kh || tw <= d->kw) continue;
        const double cost = plan_cost(d, hr, wr, th, tw, block);
        if (best < 0 || cost < 0.97 * best) {
            best = cost;
            p->th = th;
            p->tw = tw;
        }
    }
    p->fw = p->tw / 2 + 1;
    p->F = p->th * p->fw;
    p->sh = p->th - d->kh + 1;
    p->sw = p->tw - d->kw + 1;
    p->nty = cj_div_up(hr, p->sh);
    p->ntx = cj_div_up(wr, p->sw);
    p->per_image = p->nty * p->ntx;
    p->tiles = d->n * p->per_image;
}

/* Tile t: its image and region origin. */
static void tile_origin(const cj_fft_plan *p, int64_t t, int64_t *n, int64_t *y0, int64_t *x0) {
    const int64_t r = t % p->per_image;
    *n = t / p->per_image;
    *y0 = r / p->ntx * p->sh;
    *x0 = r % p->ntx * p->sw;
}

#define L CJ_FFT_LANES

#define DEFINE_MOVES(T, sfx)                                                                        \
    static void gather_##sfx(const cj_fft_plan *p, const cj_fft_src *s, int64_t c, int64_t t0,     \
                             int64_t nt, T *restrict lanes) {                                      \
        memset(lanes, 0, (size_t)(p->th * p->tw * L) * sizeof(T));                                 \
        for (int64_t l = 0; l < nt; l++) {                                                         \
            int64_t n, y0, x0;                                                                     \
            tile_origin(p, t0 + l, &n, &y0, &x0);                                                  \
            y0 += s->off_h;                                                                        \
            x0 += s->off_w;                                                                        \
            const T *plane = (const T *)s->data + (n * s->channels + c) * s->h * s->w;             \
            const int64_t ylo = cj_max64(0, s->h0 - y0), yhi = cj_min64(cj_min64(p->th, s->lim_h), s->h1 - y0); \
            const int64_t xlo = cj_max64(0, s->w0 - x0), xhi = cj_min64(cj_min64(p->tw, s->lim_w), s->w1 - x0); \
            for (int64_t y = ylo; y < yhi; y++) {                                                  \
                const T *row = plane + (y0 + y) * s->w + x0;                                       \
                T *dst = lanes + y * p->tw * L + l;                                                \
                for (int64_t x = xlo; x < xhi; x++) dst[x * L] = row[x];                           \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void scatter_##sfx(const cj_fft_plan *p, const cj_fft_dst *o, int64_t c, int64_t t0,    \
                              int64_t nt, const T *restrict lanes, const T *bias) {                \
        const T b = bias ? *bias : (T)0;                                                           \
        for (int64_t l = 0; l < nt; l++) {                                                         \
            int64_t n, y0, x0;                                                                     \
            tile_origin(p, t0 + l, &n, &y0, &x0);                                                  \
            T *plane = (T *)o->data + (n * o->channels + c) * o->h * o->w;                         \
            const int64_t rows = cj_min64(p->sh, o->h - y0), cols = cj_min64(p->sw, o->w - x0);    \
            const int64_t xlo = cj_min64(cols, cj_max64(0, o->live_w0 - x0));                      \
            const int64_t xhi = cj_max64(xlo, cj_min64(cols, o->live_w1 - x0));                    \
            for (int64_t y = 0; y < rows; y++) {                                                   \
                T *row = plane + (y0 + y) * o->w + x0;                                             \
                const T *src = lanes + ((o->crop_h + y) * p->tw + o->crop_w) * L + l;              \
                const int live = y0 + y >= o->live_h0 && y0 + y < o->live_h1;                      \
                const int64_t lo = live ? xlo : cols, hi = live ? xhi : cols;                      \
                for (int64_t x = 0; x < lo; x++) row[x] = b;                                       \
                for (int64_t x = lo; x < hi; x++) row[x] = src[x * L] + b;                         \
                for (int64_t x = hi; x < cols; x++) row[x] = b;                                     \
            }                                                                                      \
        }                                                                                          \
    }
DEFINE_MOVES(float, f32)
DEFINE_MOVES(double, f64)

void cj_fft_gather(const cj_fft_plan *p, const cj_conv_desc *d, const cj_fft_src *s, int64_t c,
                   int64_t t0, int64_t nt, void *lanes) {
    if (d->dtype == CJ_F64) gather_f64(p, s, c, t0, nt, lanes);
    else gather_f32(p, s, c, t0, nt, lanes);
}

void cj_fft_scatter(const cj_fft_plan *p, const cj_conv_desc *d, const cj_fft_dst *o, int64_t c,
                    int64_t t0, int64_t nt, const void *lanes, const void *bias) {
    if (d->dtype == CJ_F64) scatter_f64(p, o, c, t0, nt, lanes, bias);
    else scatter_f32(p, o, c, t0, nt, lanes, bias);
}
