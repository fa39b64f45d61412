/* The channel-vector direct convolution kernels, f32 AVX2 (contract: direct_ocv.h). The caller's
 * tiles are 32 channels x up to 14 pixels (forward) or sums (grad_weight), more than the 16 ymm
 * registers hold, so they run as register tiles of 16 channels (two vectors) x up to SUB pixels or
 * sums: 2 * SUB accumulators, the two weight (grad_output) vectors and a broadcast. Each register
 * tile reloads the vectors of every step from L1; forward sums reach NCHW, and grad_output becomes
 * pixel-major, through 8 x 8 transposes in registers. A paired forward call (src2) runs its two
 * rows one after the other. */
#include <immintrin.h>
#include <stdbool.h>

#include "kernels/avx2_lanes.h"
#include "kernels/avx2_transpose.h"
#include "kernels/direct_ocv.h"

enum { SUB = 6, HALF = 16, MOST_UNROLLED = 11 /* the most taps source_taps unrolls */ };

/* 8 channels (c0..c0+7) of NX pixels, one vector of channels per pixel, into out (channel m at
 * out + m * ld_out) plus the bias; channels >= mr are not written. */
static inline __attribute__((always_inline)) void store_channels(const cj_ocv_args *a, const __m256 *acc, int64_t c0,
                                                                 float *out, const int NX) {
    __m256 r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) r[i] = i < NX ? acc[i] : _mm256_setzero_ps();
    cj_avx2_transpose8(r);
#pragma GCC unroll 8
    for (int m = 0; m < 8; m++) {
        if (c0 + m >= a->mr) break;
        const __m256 v = a->bias ? _mm256_add_ps(r[m], _mm256_set1_ps(a->bias[c0 + m])) : r[m];
        cj_avx2_store_lanes(out + (c0 + m) * a->ld_out, v, NX);
    }
}

/* A row's pass over one chunk of its sources. */
typedef struct {
    int64_t s0, s1;            /* this chunk's sources */
    float *sums;               /* the row's partial sums between chunks: [half][pixel][16 channels] */
    const int64_t *tap_delta;  /* unrolled taps: bytes from each tap's pixels to the next's */
} chunk;

/* One (source, tap) step: the tap's 16 weights w times pixels p[0..NX-1] into the sums. */
static inline __attribute__((always_inline)) void tap(const float *w, const float *p, __m256 *lo, __m256 *hi,
                                                      const int NX) {
    const __m256 w0 = _mm256_loadu_ps(w), w1 = _mm256_loadu_ps(w + 8);
#pragma GCC unroll 6
    for (int x = 0; x < NX; x++) {
        const __m256 b = _mm256_broadcast_ss(p + x);
        lo[x] = _mm256_fmadd_ps(w0, b, lo[x]);
        hi[x] = _mm256_fmadd_ps(w1, b, hi[x]);
    }
}

/* NT (3, 5, 7 or 11) taps of one source as one block of assembly, the first tap's pixels at p and
 * the next ones delta[t] bytes further each: the same loads and FMAs as NT calls of tap(), with
 * every register fixed. gcc's own schedule of those calls (accumulators rotated through
 * vfmadd132ps and register copies, a stack reload per source) reached 91 GFLOP/s on lenet.conv2's
 * calls in L1 on Zen 3; the steps written out reach 97 (103.5, the FMA peak, without the calls'
 * edges). All twelve accumulators are operands whatever NX (those past NX are unused, held at
 * zero) in ymm0-11, the two weight vectors go in ymm12-13, broadcasts in ymm14-15. Reads only the
 * weights, pixels and deltas, which nothing writes while the kernel runs.
 * FORM 0: any steps between the taps, added to p from delta[]. FORM 1 + EDGE: taps one pixel
 * apart, whose pixels are displacements from p (pixel x at tap t reads position x + t): no step
 * per tap (lenet.conv2 on Zen 3, grad_input 13.54 -> 13.30 ms, forward 14.63 -> 14.21, medians
 * of 15 and 9 alternating runs), and an edge tile (EDGE bits) leaves out the products that read the
 * staged row's zero padding, bit 0 those of the first NT / 2 positions the tile reads, bit 1 those
 * of the last NT / 2, as the assembler's .if decides: a 14-pixel row of 5 taps does 64 of its 70
 * products per source (lenet.conv2). */
#define AS_PIX(t, i, off, b, first, end, adj)                                                      \
    ".if " #i "+" #t " >= " first "\n\t.if " #i "+" #t " < " end "\n\t"                            \
    "vbroadcastss " #off "+" #t "*4*" adj "(%[p]), %%" #b "\n\t"                                   \
    "vfmadd231ps %%ymm12, %%" #b ", %[lo" #i "]\n\t"                                               \
    "vfmadd231ps %%ymm13, %%" #b ", %[hi" #i "]\n\t"                                               \
    ".endif\n\t.endif\n\t"
#define AS_PIXELS1(t, f, e, a) AS_PIX(t, 0, 0, ymm14, f, e, a)
#define AS_PIXELS2(t, f, e, a) AS_PIXELS1(t, f, e, a) AS_PIX(t, 1, 4, ymm15, f, e, a)
#define AS_PIXELS3(t, f, e, a) AS_PIXELS2(t, f, e, a) AS_PIX(t, 2, 8, ymm14, f, e, a)
#define AS_PIXELS4(t, f, e, a) AS_PIXELS3(t, f, e, a) AS_PIX(t, 3, 12, ymm15, f, e, a)
#define AS_PIXELS5(t, f, e, a) AS_PIXELS4(t, f, e, a) AS_PIX(t, 4, 16, ymm14, f, e, a)
#define AS_PIXELS6(t, f, e, a) AS_PIXELS5(t, f, e, a) AS_PIX(t, 5, 20, ymm15, f, e, a)
/* tap t: its weights at t * 128 bytes, then (FORM 0) the step to tap t + 1's pixels */
#define AS_TAP(nx, t, f, e, a)                                                                     \
    "vmovups " #t "*128(%[w]), %%ymm12\n\t"                                                        \
    "vmovups " #t "*128+32(%[w]), %%ymm13\n\t" AS_PIXELS##nx(t, f, e, a)                           \
    ".if " a " == 0\n\tadd " #t "*8(%[d]), %[p]\n\t.endif\n\t"
#define AS_LAST(nx, t, f, e, a)                                                                    \
    "vmovups " #t "*128(%[w]), %%ymm12\n\t"                                                        \
    "vmovups " #t "*128+32(%[w]), %%ymm13\n\t" AS_PIXELS##nx(t, f, e, a)
#define AS_TAPS3(nx, f, e, a) AS_TAP(nx, 0, f, e, a) AS_TAP(nx, 1, f, e, a) AS_LAST(nx, 2, f, e, a)
#define AS_TAPS5(nx, f, e, a)                                                                      \
    AS_TAP(nx, 0, f, e, a) AS_TAP(nx, 1, f, e, a) AS_TAP(nx, 2, f, e, a) AS_TAP(nx, 3, f, e, a)    \
    AS_LAST(nx, 4, f, e, a)
#define AS_TAPS7(nx, f, e, a)                                                                      \
    AS_TAP(nx, 0, f, e, a) AS_TAP(nx, 1, f, e, a) AS_TAP(nx, 2, f, e, a) AS_TAP(nx, 3, f, e, a)    \
    AS_TAP(nx, 4, f, e, a) AS_TAP(nx, 5, f, e, a) AS_LAST(nx, 6, f, e, a)
#define AS_TAPS11(nx, f, e, a)                                                                     \
    AS_TAP(nx, 0, f, e, a) AS_TAP(nx, 1, f, e, a) AS_TAP(nx, 2, f, e, a) AS_TAP(nx, 3, f, e, a)    \
    AS_TAP(nx, 4, f, e, a) AS_TAP(nx, 5, f, e, a) AS_TAP(nx, 6, f, e, a) AS_TAP(nx, 7, f, e, a)    \
    AS_TAP(nx, 8, f, e, a) AS_TAP(nx, 9, f, e, a) AS_LAST(nx, 10, f, e, a)
/* the first position kept and the end of those kept, as assembler expressions ('/' starts a
 * comment in x86 gas: halves are shifts) */
#define AS_FIRST(nt, edge) "((" #edge "&1)*(" #nt ">>1))"
#define AS_END(nt, nx, edge) "(" #nx "+" #nt "-1-(" #edge ">>1)*(" #nt ">>1))"
#define AS_RUN(nt, nx, adj, edge)                                                                  \
    __asm__(AS_TAPS##nt(nx, AS_FIRST(nt, edge), AS_END(nt, nx, edge), #adj)                        \
            : [lo0] "+x"(lo[0]), [lo1] "+x"(lo[1]), [lo2] "+x"(lo[2]), [lo3] "+x"(lo[3]), [lo4] "+x"(lo[4]), \
              [lo5] "+x"(lo[5]), [hi0] "+x"(hi[0]), [hi1] "+x"(hi[1]), [hi2] "+x"(hi[2]), [hi3] "+x"(hi[3]), \
              [hi4] "+x"(hi[4]), [hi5] "+x"(hi[5]), [p] "+r"(p)                                    \
            : [w] "r"(w), [d] "r"(delta)                                                           \
            : "xmm12", "xmm13", "xmm14", "xmm15")
enum { FORMS = 5 };
#define AS_FORMS(nt, nx)                                                                           \
    case (nt * 8 + nx) * FORMS + 0: AS_RUN(nt, nx, 0, 0); break;                                   \
    case (nt * 8 + nx) * FORMS + 1: AS_RUN(nt, nx, 1, 0); break;                                   \
    case (nt * 8 + nx) * FORMS + 2: AS_RUN(nt, nx, 1, 1); break;                                   \
    case (nt * 8 + nx) * FORMS + 3: AS_RUN(nt, nx, 1, 2); break;                                   \
    case (nt * 8 + nx) * FORMS + 4: AS_RUN(nt, nx, 1, 3); break;
#define AS_WIDTHS(nt)                                                                              \
    AS_FORMS(nt, 1) AS_FORMS(nt, 2) AS_FORMS(nt, 3) AS_FORMS(nt, 4) AS_FORMS(nt, 5) AS_FORMS(nt, 6)

static inline __attribute__((always_inline)) void source_taps(const float *w, const float *p, const int64_t *delta,
                                                              __m256 *lo, __m256 *hi, const int NX, const int NT,
                                                              const int FORM) {
    switch ((NT * 8 + NX) * FORMS + FORM) {
        AS_WIDTHS(3)
        AS_WIDTHS(5)
        AS_WIDTHS(7)
        AS_WIDTHS(11)
    default: __builtin_unreachable();
    }
}

/* Channels h0..h0+15 of pixels xs..xs+NX-1 (relative to the tile's x0) of one row, over the
 * chunk's sources: started from the sums of the chunks before it, stored to out after the last.
 * The taps: NT (3, 5, 7 or 11) of them as source_taps' assembly of that FORM; 0: a->ntaps looped. */
static inline __attribute__((always_inline)) void body(const cj_ocv_args *a, const float *const *src, const chunk *c,
                                                       int64_t h0, int64_t xs, float *out, const int NX,
                                                       const int NT, const int FORM) {
    __m256 lo[SUB], hi[SUB];
    float *sums = c->sums + (h0 / HALF * CJ_OCV_MAX_NX + xs) * HALF;
#pragma GCC unroll 6
    for (int x = NX; x < SUB; x++) lo[x] = hi[x] = _mm256_setzero_ps(); /* source_taps' unused operands */
#pragma GCC unroll 6
    for (int x = 0; x < NX; x++) {
        lo[x] = c->s0 ? _mm256_loadu_ps(sums + x * HALF) : _mm256_setzero_ps();
        hi[x] = c->s0 ? _mm256_loadu_ps(sums + x * HALF + 8) : _mm256_setzero_ps();
    }
    for (int64_t s = c->s0; s < c->s1 && NT; s++)
        source_taps(a->w + a->woff[s] + h0, src[s] + a->x0 + xs + a->tap_off[0], c->tap_delta, lo, hi, NX, NT,
                    FORM);
    for (int64_t s = c->s0; s < c->s1 && !NT; s++) {
        const float *row = src[s] + a->x0 + xs;
        const float *w = a->w + a->woff[s] + h0;
        for (int64_t t = 0; t < a->ntaps; t++, w += CJ_OCV_BLOCK) tap(w, row + a->tap_off[t], lo, hi, NX);
    }
    if (c->s1 < a->nsrc) {
#pragma GCC unroll 6
        for (int x = 0; x < NX; x++) {
            _mm256_storeu_ps(sums + x * HALF, lo[x]);
            _mm256_storeu_ps(sums + x * HALF + 8, hi[x]);
        }
        return;
    }
    store_channels(a, lo, h0, out + xs, NX);
    store_channels(a, hi, h0 + 8, out + xs, NX);
}

/* Register tiles of n pixels: any taps looped (NT 0), or 3, 5, 7 or 11 taps unrolled in each
 * FORM of source_taps. */
#define OCV_TILE(n, suffix, nt, form)                                                              \
    static void ocv_##n##suffix(const cj_ocv_args *a, const float *const *src, const chunk *c, int64_t h0, \
                                int64_t xs, float *out) {                                          \
        body(a, src, c, h0, xs, out, n, nt, form);                                                 \
    }
#define OCV_TAPS(n, nt)                                                                            \
    OCV_TILE(n, _t##nt##_f0, nt, 0)                                                                \
    OCV_TILE(n, _t##nt##_f1, nt, 1)                                                                \
    OCV_TILE(n, _t##nt##_f2, nt, 2)                                                                \
    OCV_TILE(n, _t##nt##_f3, nt, 3)                                                                \
    OCV_TILE(n, _t##nt##_f4, nt, 4)
#define OCV_WIDTH(n)                                                                               \
    OCV_TILE(n, , 0, 0)                                                                            \
    OCV_TAPS(n, 3)                                                                                 \
    OCV_TAPS(n, 5)                                                                                 \
    OCV_TAPS(n, 7)                                                                                 \
    OCV_TAPS(n, 11)
OCV_WIDTH(1)
OCV_WIDTH(2)
OCV_WIDTH(3)
OCV_WIDTH(4)
OCV_WIDTH(5)
OCV_WIDTH(6)

typedef void (*ocv_fn)(const cj_ocv_args *, const float *const *, const chunk *, int64_t, int64_t, float *);

enum { MOST_SUBS = (CJ_OCV_MAX_NX + SUB - 1) / SUB };

/* A call's register tiles and the steps between their unrolled taps: the same for every chunk of
 * both rows of a paired call. */
typedef struct {
    int64_t subs;
    ocv_fn fn[MOST_SUBS];
    int64_t xs[MOST_SUBS];     /* each one's first pixel, from the tile's x0 */
    int64_t tap_delta[MOST_UNROLLED];
} tiles;

/* The register tiles of a's tile, unrolled for 3, 5, 7 or 11 taps, and the steps between the
 * taps. Unrolled (in C, before the assembly): lenet.conv2, min / median of 7 alternating runs on
 * Zen 3, forward 18.6 / 25.1 -> 17.6 / 24.4 ms, grad_input 20.0 / 25.1 -> 18.1 / 19.8 (the kernel
 * alone in L1 77 -> 86 GFLOP/s); strided layers, whose taps alternate between stride phases:
 * resnet50.conv1 forward 25.9 -> 23.6 ms, alexnet.conv1 22.3 -> 21.1, resnet50.res3.3x3s2 31.5 ->
 * 28.5 (medians of 3 alternating runs). As assembly: the kernel alone 91 -> 97 GFLOP/s on 14-pixel
 * tiles, 76 -> 98 on 12; lenet.conv2 forward 14.6 -> 13.7 ms, grad_input 15.8 -> 14.7 (medians of
 * 5 alternating runs).
 * The pixels go in register tiles of at most SUB that differ by a pixel at most, the wider ones at
 * both ends, where edge tiles leave products out: an accumulator's chain of dependent FMAs per
 * source must stay under its tile's FMAs per source over the two FMA pipes, or the tile runs at
 * the FMA latency (14 pixels: 5 + 4 + 5, not 5 + 5 + 4). An edge tile's variant leaves out the
 * products of the first (bit 0) or last (bit 1) NT / 2 positions it reads when those are padding,
 * which they are a run of only when the taps are one pixel apart (stride and dilation 1). With
 * edge tiles (and direct_common.c's staging and source lists trimmed): lenet.conv2 at 1 thread,
 * forward 14.8 -> 13.6 ms, grad_input 15.8 -> 13.3 (medians of 5 alternating runs). */
static void tiles_for(const cj_ocv_args *a, tiles *out) {
#define OCV_BY_WIDTH(nt, f) {ocv_1_t##nt##_f##f, ocv_2_t##nt##_f##f, ocv_3_t##nt##_f##f, \
                             ocv_4_t##nt##_f##f, ocv_5_t##nt##_f##f, ocv_6_t##nt##_f##f}
#define OCV_BY_FORM(nt) {OCV_BY_WIDTH(nt, 0), OCV_BY_WIDTH(nt, 1), OCV_BY_WIDTH(nt, 2), OCV_BY_WIDTH(nt, 3), \
                         OCV_BY_WIDTH(nt, 4)}
    static const ocv_fn any[1][SUB] = {{ocv_1, ocv_2, ocv_3, ocv_4, ocv_5, ocv_6}};
    static const ocv_fn three[FORMS][SUB] = OCV_BY_FORM(3), five[FORMS][SUB] = OCV_BY_FORM(5);
    static const ocv_fn seven[FORMS][SUB] = OCV_BY_FORM(7), eleven[FORMS][SUB] = OCV_BY_FORM(11);
#undef OCV_BY_FORM
#undef OCV_BY_WIDTH
    const ocv_fn(*by_form)[SUB] = a->ntaps == 3 ? three : a->ntaps == 5 ? five : a->ntaps == 7 ? seven
                                : a->ntaps == 11 ? eleven : any;
    bool adjacent = by_form != any; /* taps one pixel apart */
    for (int64_t t = 0; by_form != any && t + 1 < a->ntaps; t++) {
        out->tap_delta[t] = (a->tap_off[t + 1] - a->tap_off[t]) * (int64_t)sizeof(float);
        if (out->tap_delta[t] != (int64_t)sizeof(float)) adjacent = false;
    }
    const int64_t skip = a->ntaps / 2; /* positions an edge tile leaves out */
    out->subs = (a->nx + SUB - 1) / SUB;
    const int64_t narrow = a->nx / out->subs, wide = a->nx % out->subs;
    for (int64_t i = 0, xs = 0; i < out->subs; i++) {
        /* the first (wide + 1) / 2 tiles and the last wide / 2 are a pixel wider */
        const int64_t n = narrow + (i < (wide + 1) / 2 || i >= out->subs - wide / 2);
        const int64_t first = a->x0 + xs + a->tap_off[0], end = first + n + a->ntaps - 1; /* positions read */
        const int edge = (first + skip <= a->data0) | (end - skip >= a->data1) << 1;
        out->fn[i] = by_form[adjacent ? 1 + edge : 0][n - 1];
        out->xs[i] = xs;
        xs += n;
    }
}

/* Source taps per chunk of sources: 8 KiB of each half's weights, so that the register tiles
 * after the first find them in L1 (a whole block, up to half of L2, came from L2 for each of a
 * row's 4-6 register tiles). 16 KiB of each half's, 32 KiB of both halves' lines with the staged
 * rows on top, left lenet.conv2 on Zen 3 (32 KiB of L1) slower: grad_input 13.93 against 13.24
 * ms, forward 13.99 against 13.52 (medians of 9 alternating runs; 10 and 6 KiB: grad_input 13.39
 * and 13.60). */
enum { CHUNK_WEIGHTS = 8 * 1024 / 64 };

/* One row: per chunk of sources, the register tiles for each half of the channels. */
static void row(const cj_ocv_args *a, const tiles *tl, const float *const *src, float *out) {
    const int64_t chunks = (a->nsrc * a->ntaps + CHUNK_WEIGHTS - 1) / CHUNK_WEIGHTS;
    const int64_t per_chunk = chunks ? (a->nsrc + chunks - 1) / chunks : 0;
    float sums[2 * CJ_OCV_MAX_NX * HALF];
    chunk c = {.s0 = 0, .sums = sums, .tap_delta = tl->tap_delta};
    do { /* once at least: a row without sources still gets its bias */
        c.s1 = a->nsrc - c.s0 < per_chunk ? a->nsrc : c.s0 + per_chunk;
        for (int64_t h0 = 0; h0 < a->mr; h0 += HALF)
            for (int64_t i = 0; i < tl->subs; i++) tl->fn[i](a, src, &c, h0, tl->xs[i], out);
        c.s0 = c.s1;
    } while (c.s0 < a->nsrc);
}

void cj_f32_direct_ocv__avx2(const cj_ocv_args *a) {
    tiles tl;
    tiles_for(a, &tl);
    row(a, &tl, a->src, a->out);
    if (a->src2) row(a, &tl, a->src2, a->out + a->out2);
}

/* grad_weight: sums q0..q0+NQ-1 (q = r * jt + t) of channels h0..h0+15, NQ <= SUB, loaded from
 * the tile and stored back. */
static inline __attribute__((always_inline)) void wgrad_body(const cj_ocv_wgrad_args *a, int64_t h0, int64_t q0,
                                                             const int NQ) {
    __m256 lo[SUB], hi[SUB];
    float *tile = a->tile + q0 * CJ_OCV_BLOCK + h0;
#pragma GCC unroll 6
    for (int i = 0; i < NQ; i++) {
        lo[i] = _mm256_loadu_ps(tile + i * CJ_OCV_BLOCK);
        hi[i] = _mm256_loadu_ps(tile + i * CJ_OCV_BLOCK + 8);
    }
    /* each sum's first pixel (the divisions once, not per row: they cost as much as a row's FMAs) */
    const float *first[SUB];
#pragma GCC unroll 6
    for (int i = 0; i < NQ; i++) first[i] = a->src[(q0 + i) / a->jt] + a->tap_off[(q0 + i) % a->jt];
    for (int64_t y = 0; y < a->nrows; y++) {
        const float *dy = a->dy + y * a->dy_step + h0;
        const float *p[SUB];
#pragma GCC unroll 6
        for (int i = 0; i < NQ; i++) p[i] = first[i] + y * a->src_step;
        for (int64_t x = 0; x < a->nx; x++) {
            const __m256 d0 = _mm256_loadu_ps(dy + x * CJ_OCV_BLOCK), d1 = _mm256_loadu_ps(dy + x * CJ_OCV_BLOCK + 8);
#pragma GCC unroll 6
            for (int i = 0; i < NQ; i++) {
                const __m256 b = _mm256_broadcast_ss(p[i] + x);
                lo[i] = _mm256_fmadd_ps(d0, b, lo[i]);
                hi[i] = _mm256_fmadd_ps(d1, b, hi[i]);
            }
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < NQ; i++) {
        _mm256_storeu_ps(tile + i * CJ_OCV_BLOCK, lo[i]);
        _mm256_storeu_ps(tile + i * CJ_OCV_BLOCK + 8, hi[i]);
    }
}

#define WGRAD_SUMS(n)                                                                              \
    static void wgrad_##n(const cj_ocv_wgrad_args *a, int64_t h0, int64_t q0) { wgrad_body(a, h0, q0, n); }
WGRAD_SUMS(1)
WGRAD_SUMS(2)
WGRAD_SUMS(3)
WGRAD_SUMS(4)
WGRAD_SUMS(5)
WGRAD_SUMS(6)

/* The rows x taps sums of the caller's tile in even groups of at most SUB, for each half of the
 * channels (the tile's channels past the layer's are zero in dy: their sums stay zero). */
void cj_f32_direct_ocv_wgrad__avx2(const cj_ocv_wgrad_args *a) {
    static void (*const by_sums[SUB])(const cj_ocv_wgrad_args *, int64_t, int64_t) = {
        wgrad_1, wgrad_2, wgrad_3, wgrad_4, wgrad_5, wgrad_6};
    const int64_t sums = cj_ocv_wgrad_rows(a->jt) * a->jt, groups = (sums + SUB - 1) / SUB;
    const int64_t width = (sums + groups - 1) / groups;
    for (int64_t h0 = 0; h0 < CJ_OCV_BLOCK; h0 += HALF)
        for (int64_t q0 = 0; q0 < sums; q0 += width) {
            const int64_t n = sums - q0 < width ? sums - q0 : width;
            by_sums[n - 1](a, h0, q0);
        }
}

void cj_f32_pixel_major32__avx2(const float *src, int64_t plane, int64_t channels, int64_t px, float *dst) {
    for (int64_t p0 = 0; p0 < px; p0 += 8) {
        const int64_t np = px - p0 < 8 ? px - p0 : 8;
        const __m256i mask = cj_avx2_tail_mask(np);
#pragma GCC unroll 4
        for (int64_t m0 = 0; m0 < CJ_OCV_BLOCK; m0 += 8) {
            __m256 r[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                r[i] = m0 + i < channels ? _mm256_maskload_ps(src + (m0 + i) * plane + p0, mask) : _mm256_setzero_ps();
            cj_avx2_transpose8(r);
            for (int64_t i = 0; i < np; i++) _mm256_storeu_ps(dst + (p0 + i) * CJ_OCV_BLOCK + m0, r[i]);
        }
    }
}
