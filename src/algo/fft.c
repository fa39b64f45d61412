/* CJ_ALGO_FFT: tiled overlap-save FFT convolution, stride 1, dilation 1, kernels up to 16x16.
 *
 * Every pass is transform -> per-bin complex GEMM -> inverse transform on blocks of tiles
 * (fft_plan.h: tiles; fft_tiles.h: the transforms). With hats for spectra (per bin):
 *
 *   forward       Y^  (C_out/g x tiles) = conj(W^) (C_out/g x C_in/g) * X^       correlation
 *   grad_input    dX^ (C_in/g  x tiles) = W^T (C_in/g x C_out/g) * dY^           convolution
 *   grad_weight   dW^ (C_out/g x C_in/g) += conj(dY^) (C_out/g x tiles) * X^T    summed over the batch
 *
 * A complex product runs as a real GEMM on the core engine in the [re -im; im re] block form: a
 * complex channel index c becomes real rows/columns 2c (real part) and 2c+1 (imaginary part).
 * Spectra of a tile block are stored [bin][channel][re, im][tile] (CJ_FFT_BLOCK tiles), so
 * that each bin's operand is a row-major real matrix with 2 rows per channel.
 *
 * The kernel spectra are computed and packed once per call. Work is split as in im2col_gemm.c:
 * (group, tile) units cut into one contiguous range per thread slot, each slot with its own
 * buffers (a tile block's spectra: memory does not grow with N); grad_weight's slots accumulate
 * privately and are summed in slot order, so results depend only on the thread count. */
#include <string.h>

#include "algo/algo.h"
#include "algo/few_terms.h"
#include "algo/fft_plan.h"
#include "algo/fft_tiles.h"
#include "algo/partial_sums.h"
#include "gemm/gemm.h"
#include "util/checked.h"
#include "util/error.h"

#define L CJ_FFT_LANES
/* Tiles per block: the GEMM's column count (a multiple of every NR: 48, 24, 16, 8) and a
 * multiple of the lanes. */
#define CJ_FFT_BLOCK 48
/* Bytes of one block's output spectra (forward, grad_input) to aim for: output channels are done
 * in chunks of that size, which keeps them in the outer caches. */
#define CHUNK_BYTES (2u << 20)

static const char *fft_unsupported(const cj_conv_desc *d, cj_pass pass) {
    (void)pass;
    if (d->stride_h != 1 || d->stride_w != 1) return "FFT needs stride 1";
    if (d->dil_h != 1 || d->dil_w != 1) return "FFT needs dilation 1";
    if (d->kh > 16 || d->kw > 16) return "FFT takes kernels up to 16x16";
    return NULL;
}

static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }
static char *elems(const void *base, int64_t n, size_t elem) { return (char *)base + (size_t)n * elem; }

/* ---- packing complex matrices in real block form straight into the GEMM's A layout ------------- */

/* Which complex matrix, and how its real form is laid out (r: real row, s: real column):
 *   CONJ_W   conj(W^)   rows 2k+a, columns 2c+b: [wr wi; -wi wr]     (forward)
 *   W_T      W^T        rows 2c+a, columns 2k+b: [wr -wi; wi wr]     (grad_input)
 *   CONJ_DY  conj(dY^)  rows 2k+a, columns b*NB+t: [re im | -im re]   (grad_weight; B's rows are
 *            the tiles' real parts, then their imaginary parts) */
typedef enum { CONJ_W, W_T, CONJ_DY } complex_form;

typedef struct {
    complex_form form;
    const void *re, *im;   /* CONJ_W / W_T: [k][c] real and imaginary parts; CONJ_DY: [k][re, im][NB] */
    int64_t cin;           /* CONJ_W / W_T: the row length of re and im */
} complex_src;

#define DEFINE_PACK_COMPLEX(T, sfx)                                                                 \
    /* CONJ_W / W_T: the MR panel of real rows [r0, r0 + mr) (r0 and mr even: mr / 2 complex rows \
     * from i0 = r0 / 2, complex_rows of them inside the matrix) over real columns [s0, s0 + kc)   \
     * (s0 and kc even). Complex column j of complex row i is x = re + i*im at [i][j] (CONJ_W) or  \
     * [j][i] (W_T); its real column 2j is (re, sign * im) down the row pair, 2j+1 (-sign * im,    \
     * re), sign = -1 for conj(W^), +1 for W^T. A panel column at a time: an element accessor per \
     * entry took 12% of Inception's 5x5 grad_input (1.07x faster this way, forward 1.04x). */    \
    static void weight_panel_##sfx(const complex_src *x, int64_t i0, int64_t complex_rows, int64_t mr, int64_t s0, \
                                   int64_t kc, T *out) {                                           \
        const bool conj = x->form == CONJ_W;                                                       \
        const T sign = conj ? (T)-1 : (T)1;                                                        \
        const int64_t row_step = conj ? x->cin : 1, col_step = conj ? 1 : x->cin;                  \
        const T *re = (const T *)x->re + i0 * row_step, *im = (const T *)x->im + i0 * row_step;     \
        for (int64_t kk = 0; kk < kc; kk += 2, out += 2 * mr) {                                    \
            const int64_t j = ((s0 + kk) >> 1) * col_step;                                         \
            int64_t q = 0;                                                                         \
            for (; q < complex_rows; q++) {                                                        \
                const T xr = re[q * row_step + j], xi = im[q * row_step + j];                       \
                out[2 * q] = xr;                                                                   \
                out[2 * q + 1] = sign * xi;                                                        \
                out[mr + 2 * q] = -sign * xi;                                                      \
                out[mr + 2 * q + 1] = xr;                                                          \
            }                                                                                      \
            for (; 2 * q < mr; q++) out[2 * q] = out[2 * q + 1] = out[mr + 2 * q] = out[mr + 2 * q + 1] = 0; \
        }                                                                                          \
    }                                                                                              \
    /* The layout of cj_pack_a: per KC slice, per MR panel, kc x MR column by column. */           \
    static void pack_complex_##sfx(const cj_gemm_config *cfg, const complex_src *x, int64_t m,     \
                                   int64_t k, T *dst) {                                            \
        const int64_t mr = cfg->mr, mpad = cj_round_up(m, mr);                                     \
        for (int64_t k0 = 0; k0 < k; k0 += cfg->kc) {                                              \
            const int64_t kc = cj_min64(cfg->kc, k - k0);                                          \
            if (x->form != CONJ_DY) {                                                              \
                for (int64_t r0 = 0; r0 < mpad; r0 += mr)                                          \
                    weight_panel_##sfx(x, r0 / 2, cj_min64(mr, m - r0) / 2, mr, k0, kc, dst + k0 * mpad + r0 * kc); \
                continue;                                                                          \
            }                                                                                      \
            for (int64_t r = 0; r < mpad; r++) {                                                   \
                T *out = dst + k0 * mpad + (r / mr) * mr * kc + r % mr;                            \
                if (r >= m) {                                                                      \
                    for (int64_t kk = 0; kk < kc; kk++) out[kk * mr] = 0;                          \
                    continue;                                                                      \
                }                                                                                  \
                /* The hot case (per bin and block): row 2k is [re | im], row 2k+1 [-im | re]. */   \
                const T *re = (const T *)x->re + (r >> 1) * 2 * CJ_FFT_BLOCK, *im = re + CJ_FFT_BLOCK; \
                const T *h1 = (r & 1) ? im : re, *h2 = (r & 1) ? re : im;                          \
                const T s1 = (r & 1) ? (T)-1 : (T)1;                                               \
                const int64_t split = cj_min64(kc, cj_max64(0, CJ_FFT_BLOCK - k0));                \
                for (int64_t kk = 0; kk < split; kk++) out[kk * mr] = s1 * h1[k0 + kk];            \
                for (int64_t kk = split; kk < kc; kk++) out[kk * mr] = h2[k0 + kk - CJ_FFT_BLOCK]; \
            }                                                                                      \
        }                                                                                          \
    }
DEFINE_PACK_COMPLEX(float, f32)
DEFINE_PACK_COMPLEX(double, f64)

static void pack_complex(const cj_conv_desc *d, const cj_gemm_config *cfg, const complex_src *x, int64_t m,
                         int64_t k, void *dst) {
    if (d->dtype == CJ_F64) pack_complex_f64(cfg, x, m, k, dst);
    else pack_complex_f32(cfg, x, m, k, dst);
}

/* ---- the kernel spectra: transformed and packed once per call ---------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const cj_fft_kernels *fk;
    const cj_fft_plan *p;
    int transposed;            /* 0: forward's conj(W^) (rows k); 1: grad_input's W^T (rows c) */
    const char *w;
    int64_t pairs, pairs_pad;  /* (k, c) pairs per group, padded to the lanes */
    char *spec;                /* [group][bin][re, im][pairs_pad] */
    char *packed;              /* per (group, bin): packed_bytes */
    size_t packed_bytes;
    int64_t m, k;              /* the real A: m x k */
    char *slot_mem;            /* per slot: a lane block */
    size_t slot_bytes;
    int64_t slots;
} kernel_job;

#define DEFINE_KERNEL_MOVES(T, sfx)                                                                 \
    /* Lanes = consecutive (k, c) planes of the weight, at the tile's top left, scaled by 1/(th*tw) \
     * (the inverse transforms are unnormalised). */                                               \
    static void weight_lanes_##sfx(const kernel_job *j, const T *w, int64_t count, T *lanes) {     \
        const cj_conv_desc *d = j->d;                                                              \
        const T scale = (T)(1.0 / (j->p->th * j->p->tw));                                          \
        memset(lanes, 0, (size_t)(j->p->th * j->p->tw * L) * sizeof(T));                           \
        for (int64_t l = 0; l < count; l++)                                                        \
            for (int64_t y = 0; y < d->kh; y++)                                                    \
                for (int64_t x = 0; x < d->kw; x++)                                                \
                    lanes[(y * j->p->tw + x) * L + l] = scale * w[(l * d->kh + y) * d->kw + x];    \
    }
DEFINE_KERNEL_MOVES(float, f32)
DEFINE_KERNEL_MOVES(double, f64)

static void kernel_transform_task(void *arg, size_t slot) {
    const kernel_job *j = arg;
    const cj_conv_desc *d = j->d;
    const cj_fft_plan *p = j->p;
    const int64_t groups_of_lanes = j->pairs_pad / L;
    char *lanes = j->slot_mem + slot * j->slot_bytes;
    int64_t u0, u1;
    cj_split_range(d->groups * groups_of_lanes, j->slots, (int64_t)slot, &u0, &u1);
    for (int64_t u = u0; u < u1; u++) {
        const int64_t g = u / groups_of_lanes, p0 = u % groups_of_lanes * L;
        const int64_t count = cj_min64(L, j->pairs - p0);
        const char *w = elems(j->w, (g * j->pairs + p0) * d->kh * d->kw, d->elem);
        char *out = elems(j->spec, g * p->F * 2 * j->pairs_pad + p0, d->elem);
        if (d->dtype == CJ_F64) {
            weight_lanes_f64(j, (const double *)w, count, (double *)lanes);
            j->fk->r2c_f64(p->th, p->tw, (int)d->kh, (double *)lanes, (double *)out, 2 * j->pairs_pad, j->pairs_pad);
        } else {
            weight_lanes_f32(j, (const float *)w, count, (float *)lanes);
            j->fk->r2c_f32(p->th, p->tw, (int)d->kh, (float *)lanes, (float *)out, 2 * j->pairs_pad, j->pairs_pad);
        }
    }
}

static void kernel_pack_task(void *arg, size_t slot) {
    const kernel_job *j = arg;
    const cj_conv_desc *d = j->d;
    int64_t u0, u1;
    cj_split_range(d->groups * j->p->F, j->slots, (int64_t)slot, &u0, &u1);
    for (int64_t u = u0; u < u1; u++) { /* u = group * F + bin */
        const char *re = elems(j->spec, u * 2 * j->pairs_pad, d->elem);
        const complex_src x = {j->transposed ? W_T : CONJ_W, re, elems(re, j->pairs_pad, d->elem), d->cin_g};
        pack_complex(d, j->cfg, &x, j->m, j->k, j->packed + (size_t)u * j->packed_bytes);
    }
}

/* Sizes the job; kernel_bytes() is what kernel_run needs: the packed A matrices (kept for the
 * pass) followed by temporaries that the pass may reuse afterwards (from byte packed_total on). */
static void kernel_init(kernel_job *j, const cj_conv_desc *d, const cj_gemm_config *cfg, const cj_fft_plan *p,
                        int transposed, const void *w, int64_t slots) {
    *j = (kernel_job){.d = d, .cfg = cfg, .fk = cj_fft_kernels_get(), .p = p, .transposed = transposed, .w = w};
    j->pairs = d->cout_g * d->cin_g;
    j->pairs_pad = cj_round_up(j->pairs, L);
    j->m = 2 * (transposed ? d->cin_g : d->cout_g);
    j->k = 2 * (transposed ? d->cout_g : d->cin_g);
    j->packed_bytes = align64(cj_packed_a_bytes(cfg, j->m, j->k));
    j->slots = slots;
    j->slot_bytes = align64((size_t)(p->th * p->tw * L) * d->elem);
}

static size_t kernel_packed_total(const kernel_job *j) { return j->packed_bytes * (size_t)(j->d->groups * j->p->F); }

static size_t kernel_temp_bytes(const kernel_job *j) {
    return align64((size_t)(j->d->groups * j->p->F * 2 * j->pairs_pad) * j->d->elem) + j->slot_bytes * (size_t)j->slots;
}

static void kernel_run(cj_context *ctx, kernel_job *j, char *mem) {
    j->packed = mem;
    j->spec = mem + kernel_packed_total(j);
    j->slot_mem = j->spec + align64((size_t)(j->d->groups * j->p->F * 2 * j->pairs_pad) * j->d->elem);
    cj_parallel_for(ctx, (size_t)j->slots, kernel_transform_task, j);
    cj_parallel_for(ctx, (size_t)j->slots, kernel_pack_task, j);
}

/* ---- transform helpers shared by the passes ------------------------------------------------------ */

/* Spectra of channels [0, channels) of a tensor (first channel ch0) for tiles [t0, t0 + nt):
 * spec[bin][c][re, im][CJ_FFT_BLOCK], lanes [0, upto) written (upto a multiple of the lanes),
 * those past nt zero. */
static void transform_block(const cj_conv_desc *d, const cj_fft_kernels *fk, const cj_fft_plan *p,
                            const cj_fft_src *s, int64_t ch0, int64_t channels, int64_t t0, int64_t nt,
                            int64_t upto, char *spec, char *lanes) {
    const ptrdiff_t fstride = (ptrdiff_t)(channels * 2 * CJ_FFT_BLOCK);
    const int rows = (int)cj_min64(p->th, s->lim_h);
    for (int64_t c = 0; c < channels; c++)
        for (int64_t l0 = 0; l0 < upto; l0 += L) {
            cj_fft_gather(p, d, s, ch0 + c, t0 + l0, cj_max64(0, cj_min64(L, nt - l0)), lanes);
            char *out = elems(spec, c * 2 * CJ_FFT_BLOCK + l0, d->elem);
            if (d->dtype == CJ_F64)
                fk->r2c_f64(p->th, p->tw, rows, (const double *)lanes, (double *)out, fstride, CJ_FFT_BLOCK);
            else
                fk->r2c_f32(p->th, p->tw, rows, (const float *)lanes, (float *)out, fstride, CJ_FFT_BLOCK);
        }
}

/* The inverse of channel c's spectra (first element `in`, bins fstride apart, imaginary parts
 * pstride after the real ones) into a lane block's rows [0, rows). */
static void inverse_lanes(const cj_conv_desc *d, const cj_fft_kernels *fk, const cj_fft_plan *p, int rows,
                          const char *in, ptrdiff_t fstride, ptrdiff_t pstride, char *lanes, char *work) {
    if (d->dtype == CJ_F64)
        fk->c2r_f64(p->th, p->tw, rows, (const double *)in, fstride, pstride, (double *)lanes, (double *)work);
    else
        fk->c2r_f32(p->th, p->tw, rows, (const float *)in, fstride, pstride, (float *)lanes, (float *)work);
}

/* ---- forward and grad_input: one driver, roles swapped ---------------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const cj_fft_kernels *fk;
    cj_fft_plan p;
    cj_fft_src src;            /* the transformed tensor */
    cj_fft_dst dst;            /* the result */
    int64_t src_ch, dst_ch;    /* channels per group of each */
    const char *bias;          /* forward only */
    const char *packed;        /* per (group, bin) */
    size_t packed_bytes;
    int64_t chunk;             /* result channels per GEMM chunk */
    int64_t slots;
    char *slot_mem;            /* per slot: lane block, work, source spectra, result spectra, GEMM */
    size_t lanes_bytes, work_bytes, x_bytes, y_bytes, slot_bytes;
} apply_job;

static void apply_task(void *arg, size_t slot) {
    const apply_job *j = arg;
    const cj_conv_desc *d = j->d;
    const cj_fft_plan *p = &j->p;
    const int64_t NB = CJ_FFT_BLOCK;
    char *lanes = j->slot_mem + slot * j->slot_bytes, *work = lanes + j->lanes_bytes;
    char *x = work + j->work_bytes, *y = x + j->x_bytes, *gemm_scratch = y + j->y_bytes;
    const int rows = (int)(j->dst.crop_h + p->sh);
    int64_t u0, u1;
    cj_split_range(d->groups * p->tiles, j->slots, (int64_t)slot, &u0, &u1);
    for (int64_t u = u0; u < u1;) {
        const int64_t g = u / p->tiles, t0 = u % p->tiles;
        const int64_t nt = cj_min64(cj_min64(NB, p->tiles - t0), u1 - u);
        const int64_t cols = cj_round_up(nt, L);
        transform_block(d, j->fk, p, &j->src, g * j->src_ch, j->src_ch, t0, nt, cols, x, lanes);
        for (int64_t k0 = 0; k0 < j->dst_ch; k0 += j->chunk) {
            const int64_t kn = cj_min64(j->chunk, j->dst_ch - k0);
            for (int64_t f = 0; f < p->F; f++) {
                const cj_packed_a a = {(char *)j->packed + (size_t)(g * p->F + f) * j->packed_bytes,
                                       2 * j->dst_ch, 2 * j->src_ch, 0, NULL};
                const cj_gemm_b b = cj_gemm_b_strided(d->dtype, elems(x, f * j->src_ch * 2 * NB, d->elem), NB, 1);
                cj_gemm_rows(j->cfg, &a, 2 * k0, 2 * kn, &b, 0, cols, elems(y, f * 2 * j->chunk * NB, d->elem),
                             NB, 0, gemm_scratch);
            }
            for (int64_t k = 0; k < kn; k++) {
                const int64_t ch = g * j->dst_ch + k0 + k;
                const char *bias = j->bias ? elems(j->bias, ch, d->elem) : NULL;
                for (int64_t l0 = 0; l0 < nt; l0 += L) {
                    inverse_lanes(d, j->fk, p, rows, elems(y, 2 * k * NB + l0, d->elem), 2 * j->chunk * NB, NB,
                                  lanes, work);
                    cj_fft_scatter(p, d, &j->dst, ch, t0 + l0, cj_min64(L, nt - l0), lanes, bias);
                }
            }
        }
        u += nt;
    }
}

static cj_status fft_apply(cj_context *ctx, const cj_conv_desc *d, cj_pass pass, const void *w, apply_job *j) {
    const cj_gemm_config *cfg = cj_gemm_config_get(d->dtype);
    const int transposed = pass == CJ_PASS_BACKWARD_DATA;
    j->d = d;
    j->cfg = cfg;
    j->fk = cj_fft_kernels_get();
    cj_fft_plan_init(&j->p, d, pass, CJ_FFT_BLOCK);
    const cj_fft_plan *p = &j->p;
    j->src_ch = transposed ? d->cout_g : d->cin_g;
    j->dst_ch = transposed ? d->cin_g : d->cout_g;
    /* Chunks of whole complex channels that start on MR rows: a multiple of lcm(2, MR) / 2. */
    const int64_t unit = cfg->mr % 2 == 0 ? cfg->mr / 2 : cfg->mr;
    const size_t per_channel = (size_t)(p->F * 2 * CJ_FFT_BLOCK) * d->elem;
    j->chunk = cj_min64(j->dst_ch, cj_max64(unit, (int64_t)(CHUNK_BYTES / per_channel) / unit * unit));
    j->slots = cj_min64(ctx->num_threads, cj_div_up(d->groups * p->tiles, L));
    j->lanes_bytes = align64((size_t)(p->th * p->tw * L) * d->elem);
    j->work_bytes = align64(cj_fft_work_elems(p->th, p->tw) * d->elem);
    j->x_bytes = align64(per_channel * (size_t)j->src_ch);
    j->y_bytes = align64(per_channel * (size_t)j->chunk);
    j->slot_bytes = j->lanes_bytes + j->work_bytes + j->x_bytes + j->y_bytes + align64(cj_gemm_scratch_bytes(cfg));
    kernel_job kj;
    kernel_init(&kj, d, cfg, p, transposed, w, ctx->num_threads);
    const size_t packed_total = kernel_packed_total(&kj);
    const size_t temp = kernel_temp_bytes(&kj), slots_total = j->slot_bytes * (size_t)j->slots;
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, packed_total + (temp > slots_total ? temp : slots_total), &s));
    kernel_run(ctx, &kj, s.ptr);
    j->packed = kj.packed;
    j->packed_bytes = kj.packed_bytes;
    j->slot_mem = (char *)s.ptr + packed_total;
    cj_parallel_for(ctx, (size_t)j->slots, apply_task, j);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}

static cj_status fft_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                             const void *bias, void *out) {
    apply_job j = {
        .src = {in, d->c_in, d->h_in, d->w_in, -d->pad_h, -d->pad_w, CJ_FFT_MAX, CJ_FFT_MAX, 0, d->h_in, 0, d->w_in},
        /* Output row y has a term iff its window [y - pad_h, y - pad_h + kh) meets the input. */
        .dst = {out, d->c_out, d->h_out, d->w_out, 0, 0, d->pad_h - d->kh + 1, d->h_in + d->pad_h,
                d->pad_w - d->kw + 1, d->w_in + d->pad_w},
        .bias = bias,
    };
    CJ_FORWARD(fft_apply(ctx, d, CJ_PASS_FORWARD, w, &j));
    cj_fix_few_terms(ctx, d, CJ_PASS_FORWARD, CJ_FEW_TERMS, in, w, bias, out);
    return CJ_OK;
}

/* grad_input is the full convolution of grad_output with the kernel: the valid part of a tile's
 * circular result starts at (kh-1, kw-1), so the tile over input rows [y0, y0 + sh) reads
 * grad_output from row y0 + pad_h - (kh - 1). */
static cj_status fft_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out, const void *w,
                                   void *grad_in) {
    apply_job j = {
        /* Only the outputs whose window meets the input (rows [pad_h - kh + 1, h_in + pad_h)). */
        .src = {grad_out, d->c_out, d->h_out, d->w_out, d->pad_h - (d->kh - 1), d->pad_w - (d->kw - 1),
                CJ_FFT_MAX, CJ_FFT_MAX, cj_max64(0, d->pad_h - d->kh + 1), cj_min64(d->h_out, d->h_in + d->pad_h),
                cj_max64(0, d->pad_w - d->kw + 1), cj_min64(d->w_out, d->w_in + d->pad_w)},
        .dst = {grad_in, d->c_in, d->h_in, d->w_in, d->kh - 1, d->kw - 1, 0, d->h_in, 0, d->w_in},
    };
    CJ_FORWARD(fft_apply(ctx, d, CJ_PASS_BACKWARD_DATA, w, &j));
    cj_fix_few_terms(ctx, d, CJ_PASS_BACKWARD_DATA, CJ_FEW_TERMS, grad_out, w, NULL, grad_in);
    return CJ_OK;
}

/* ---- grad_weight ------------------------------------------------------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const cj_fft_kernels *fk;
    cj_fft_plan p;
    cj_fft_src x_src, dy_src;
    char *grad_w;
    int64_t slots;
    size_t acc_elems;          /* groups * F * 2 C_out/g * C_in/g, plus a lane group of padding */
    char *acc;                 /* per slot: acc_bytes; slot 0's ends up with the sum */
    size_t acc_bytes;
    char *slot_mem;            /* per slot: lane block, work, X^, dY^, packed conj(dY^), GEMM */
    size_t lanes_bytes, work_bytes, x_bytes, dy_bytes, pa_bytes, slot_bytes;
} weights_job;

#define DEFINE_WEIGHTS_HELPERS(T, sfx)                                                              \
    /* Kernel taps of one lane block (lanes = input channels), scaled. A tap that reads only    \
     * padding for every output (tap row i with i - pad_h >= h_in or i - pad_h + h_out <= 0) has  \
     * no term: exactly zero, as SPEC allows it no error. */                                       \
    static void store_taps_##sfx(const cj_fft_plan *p, const cj_conv_desc *d, const T *lanes,      \
                                 int64_t count, T scale, T *w) {                                   \
        for (int64_t l = 0; l < count; l++)                                                        \
            for (int64_t y = 0; y < d->kh; y++)                                                    \
                for (int64_t x = 0; x < d->kw; x++) {                                              \
                    const int dead = y - d->pad_h >= d->h_in || y - d->pad_h + d->h_out <= 0 ||    \
                                     x - d->pad_w >= d->w_in || x - d->pad_w + d->w_out <= 0;      \
                    w[(l * d->kh + y) * d->kw + x] = dead ? (T)0 : scale * lanes[(y * p->tw + x) * L + l]; \
                }                                                                                  \
    }
DEFINE_WEIGHTS_HELPERS(float, f32)
DEFINE_WEIGHTS_HELPERS(double, f64)

static void weights_task(void *arg, size_t slot) {
    const weights_job *j = arg;
    const cj_conv_desc *d = j->d;
    const cj_fft_plan *p = &j->p;
    const int64_t NB = CJ_FFT_BLOCK, cin = d->cin_g, cout = d->cout_g;
    char *lanes = j->slot_mem + slot * j->slot_bytes, *x = lanes + j->lanes_bytes + j->work_bytes;
    char *dy = x + j->x_bytes, *pa_mem = dy + j->dy_bytes, *gemm_scratch = pa_mem + j->pa_bytes;
    char *acc = j->acc + slot * j->acc_bytes;
    memset(acc, 0, j->acc_bytes);
    int64_t u0, u1;
    cj_split_range(d->groups * p->tiles, j->slots, (int64_t)slot, &u0, &u1);
    for (int64_t u = u0; u < u1;) {
        const int64_t g = u / p->tiles, t0 = u % p->tiles;
        const int64_t nt = cj_min64(cj_min64(NB, p->tiles - t0), u1 - u);
        /* Every lane of the block: the GEMM's depth runs over all of them. */
        transform_block(d, j->fk, p, &j->x_src, g * cin, cin, t0, nt, NB, x, lanes);
        transform_block(d, j->fk, p, &j->dy_src, g * cout, cout, t0, nt, NB, dy, lanes);
        for (int64_t f = 0; f < p->F; f++) {
            const complex_src conj_dy = {CONJ_DY, elems(dy, f * cout * 2 * NB, d->elem), NULL, 0};
            pack_complex(d, j->cfg, &conj_dy, 2 * cout, 2 * NB, pa_mem);
            const cj_packed_a pa = {pa_mem, 2 * cout, 2 * NB, 0, NULL};
            /* B (2 NB x C_in/g): element (t, c) = X^[bin][c][t]: a transposed view. */
            const cj_gemm_b b = cj_gemm_b_strided(d->dtype, elems(x, f * cin * 2 * NB, d->elem), 1, 2 * NB);
            char *c = elems(acc, (g * p->F + f) * 2 * cout * cin, d->elem);
            cj_gemm(j->cfg, &pa, &b, 0, cin, c, cin, 1, gemm_scratch);
        }
        u += nt;
    }
}


/* grad_w = the inverse of the summed spectra, lanes = input channels of one (group, k). */
static void weights_inverse_task(void *arg, size_t slot) {
    const weights_job *j = arg;
    const cj_conv_desc *d = j->d;
    const cj_fft_plan *p = &j->p;
    const int64_t cin = d->cin_g, cout = d->cout_g, lane_groups = cj_div_up(cin, L);
    char *lanes = j->slot_mem + slot * j->slot_bytes, *work = lanes + j->lanes_bytes;
    const double scale = 1.0 / (p->th * p->tw);
    int64_t u0, u1;
    cj_split_range(d->groups * cout * lane_groups, j->slots, (int64_t)slot, &u0, &u1);
    for (int64_t u = u0; u < u1; u++) {
        const int64_t gk = u / lane_groups, c0 = u % lane_groups * L, g = gk / cout, k = gk % cout;
        const char *in = elems(j->acc, g * p->F * 2 * cout * cin + 2 * k * cin + c0, d->elem);
        inverse_lanes(d, j->fk, p, (int)d->kh, in, 2 * cout * cin, cin, lanes, work);
        char *w = elems(j->grad_w, (gk * cin + c0) * d->kh * d->kw, d->elem);
        if (d->dtype == CJ_F64) store_taps_f64(p, d, (const double *)lanes, cj_min64(L, cin - c0), scale, (double *)w);
        else store_taps_f32(p, d, (const float *)lanes, cj_min64(L, cin - c0), (float)scale, (float *)w);
    }
}

static cj_status fft_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *grad_out,
                                      void *grad_w) {
    const cj_gemm_config *cfg = cj_gemm_config_get(d->dtype);
    weights_job j = {.d = d, .cfg = cfg, .fk = cj_fft_kernels_get(), .grad_w = grad_w};
    cj_fft_plan_init(&j.p, d, CJ_PASS_BACKWARD_WEIGHTS, CJ_FFT_BLOCK);
    const cj_fft_plan *p = &j.p;
    const int64_t NB = CJ_FFT_BLOCK;
    /* Both tiles start at the output tile's origin; dY^'s tile holds only the sh x sw outputs
     * the tile owns (the rest zero), so that the circular correlation has no wrap-around on
     * the kh x kw taps. */
    j.x_src = (cj_fft_src){in, d->c_in, d->h_in, d->w_in, -d->pad_h, -d->pad_w, CJ_FFT_MAX, CJ_FFT_MAX,
                           0, d->h_in, 0, d->w_in};
    j.dy_src = (cj_fft_src){grad_out, d->c_out, d->h_out, d->w_out, 0, 0, p->sh, p->sw, 0, d->h_out, 0, d->w_out};
    j.slots = cj_min64(ctx->num_threads, cj_div_up(d->groups * p->tiles, L));
    j.acc_elems = (size_t)(d->groups * p->F * 2 * d->cout_g * d->cin_g);
    j.acc_bytes = align64((j.acc_elems + L) * d->elem);
    j.lanes_bytes = align64((size_t)(p->th * p->tw * L) * d->elem);
    j.work_bytes = align64(cj_fft_work_elems(p->th, p->tw) * d->elem);
    j.x_bytes = align64((size_t)(p->F * d->cin_g * 2 * NB) * d->elem);
    j.dy_bytes = align64((size_t)(p->F * d->cout_g * 2 * NB) * d->elem);
    j.pa_bytes = align64(cj_packed_a_bytes(cfg, 2 * d->cout_g, 2 * NB));
    j.slot_bytes = j.lanes_bytes + j.work_bytes + j.x_bytes + j.dy_bytes + j.pa_bytes +
                   align64(cj_gemm_scratch_bytes(cfg));
    const int64_t inv_slots = ctx->num_threads;
    const size_t slots_total = j.slot_bytes * (size_t)cj_max64(j.slots, inv_slots);
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, j.acc_bytes * (size_t)j.slots + slots_total, &s));
    j.acc = s.ptr;
    j.slot_mem = (char *)s.ptr + j.acc_bytes * (size_t)j.slots;
    cj_parallel_for(ctx, (size_t)j.slots, weights_task, &j);
    /* slot 0's accumulator += the others', in slot order */
    cj_sum_partials(ctx, d->dtype, j.acc, j.acc + j.acc_bytes, j.acc_bytes, j.slots - 1, (int64_t)j.acc_elems);
    j.slots = inv_slots;
    cj_parallel_for(ctx, (size_t)j.slots, weights_inverse_task, &j);
    cj_scratch_release(ctx, &s);
    cj_fix_few_terms(ctx, d, CJ_PASS_BACKWARD_WEIGHTS, CJ_FEW_TERMS, in, grad_out, NULL, grad_w);
    return CJ_OK;
}

const cj_algo cj_algo_fft = {
    .id = CJ_ALGO_FFT,
    .unsupported = fft_unsupported,
    .forward = fft_forward,
    .backward_data = fft_backward_data,
    .backward_weights = fft_backward_weights,
};
