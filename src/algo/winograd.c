/* CJ_ALGO_WINOGRAD: 3x3 kernels, stride 1, dilation 1, any padding and groups, as Winograd
 * F(4x4, 3x3) (6x6 tiles, 36 transform elements) for f32 and f64; kernels of one column or row of
 * 7 or 5 taps go to the one-axis form of winograd_1d.c from each pass below (its transforms and
 * GEMMs are its own; winograd_shared.h, the dilation phases and the few-terms fix are shared).
 *
 *   forward      V = B^T d B (input tiles), U = G g G^T (weights),
 *                M_e (C_out/g x tiles) = U_e (C_out/g x C_in/g) * V_e (C_in/g x tiles), e = 0..35,
 *                out tile = A^T M A + bias
 *   grad_input   the same over grad_output with the kernel rotated by 180 degrees, channels
 *                swapped and padding 2 - pad (negative padding crops)
 *   grad_weight  dW_e (C_out/g x C_in/g) += Z_e (C_out/g x tiles) * V_e^T, Z = A dY A^T, summed over
 *                the batch in the transformed domain, then dW = G^T dW_e G once
 *                (the adjoint of the forward map g -> A^T ((G g G^T) . V) A).
 *
 * The element-wise stage is 36 GEMMs per block of tiles on the GEMM engine: the transformed
 * weights are packed once per call as A, the transformed tiles are B. Tiles of the whole batch
 * are numbered together and cut into blocks of NB tiles (a multiple of NR); each thread slot
 * transforms one block at a time into its own buffers, so scratch depends on the channel counts
 * and NB, never on N or the image size. Tasks are (block, group, row chunk), cut into one
 * contiguous range per slot: results depend only on the thread count. grad_weight with an
 * accumulator beyond L2 shares instead: all slots transform a super-block of tiles (up to 16 MiB
 * of transforms) together, then split the 36 elements' GEMMs (wgrad_shared). */
#include <string.h>

#include "algo/algo.h"
#include "algo/dilation_phases.h"
#include "algo/few_terms.h"
#include "algo/winograd_1d.h"
#include "algo/winograd_shared.h"
#include "gemm/gemm.h"
#include "kernels/winograd_transforms.h"
#include "util/checked.h"
#include "util/error.h"

#define TILE 4    /* outputs per tile side */
#define ELEMS 36  /* transform elements per tile (6 x 6) */

static const char *wino_unsupported(const cj_conv_desc *d, cj_pass pass) {
    (void)pass;
    if ((d->kh != 3 || d->kw != 3) && !cj_winograd_1d_kernel(d))
        return "Winograd needs a 3x3 kernel (F(4x4,3x3)) or one row or column of 7 or 5 taps (F(2,7), F(4,5))";
    if (d->stride_h != 1 || d->stride_w != 1) return "Winograd needs stride 1";
    /* dilation: over phase images (dilation_phases.h), each holding an output row and column at
     * least, so that the phase batch stays within a few times the tensors */
    if (d->dil_h > d->h_out || d->dil_w > d->w_out) return "Winograd takes dilations up to the output's height and width";
    return NULL;
}

static bool dilated(const cj_conv_desc *d) { return d->dil_h > 1 || d->dil_w > 1; }

static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }


/* ---- forward and grad_input -------------------------------------------------------------------- */

/* One Winograd convolution dst = conv3x3(src, kernel) (+ bias): the forward pass, or grad_input
 * with src = grad_output and the rotated, transposed kernel. Per group, K source channels and M
 * destination channels. */
typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const cj_wino_transforms *tf;
    int rotate;                       /* grad_input: kernel[m][k] = w[k][m] rotated by 180 degrees */
    const char *src, *w, *bias;
    char *dst;
    int64_t src_c, src_h, src_w, dst_c, dst_h, dst_w, K, M, pad_h, pad_w;
    cj_wino_tiling t;
    int64_t rows_per_chunk, chunks, tasks, slots;
    char *packed_u;                   /* per (group, element): U_e packed as GEMM A */
    const char *prepared_u;           /* a plan's packed_u (wino_prepare), or NULL: made per call */
    size_t pu_bytes;
    int local_u;                      /* one tile block: each slot transforms its rows' weights */
    int64_t local_rows;               /* rows of U a slot transforms at a time (local_u) */
    size_t lu_bytes;                  /* one element's packed rows (local_u) */
    char *slot_mem;                   /* per slot: V, M, tile list, GEMM buffer, local U (local_u) */
    size_t v_bytes, m_bytes, tile_bytes, slot_bytes;
    int packed_v;                     /* V written as the GEMM's packed B panels (cj_gemm_b_prepacked) */
    int64_t vpad;                     /* V's columns per row: nb, rounded up to NR when packed_v */
    int64_t ve, me;                   /* element strides of V and M (unaliased) */
} conv_job;

/* The transformed weights of group g, MR-row panel p, written straight into the packed A layout
 * of gemm.h (cj_packed_a: per KC slice of K, MR-row panels of kc x MR, column by column; rows
 * past M zero), all 36 elements from one read of each kernel: element e's matrix at
 * base + e*e_bytes, of mpad rows, the panel at row row_off. */
static void weight_panel(const conv_job *j, int64_t g, int64_t p, char *base, size_t e_bytes, int64_t mpad,
                         int64_t row_off) {
    const cj_conv_desc *d = j->d;
    const int64_t mr = j->cfg->mr, m0 = p * mr;
    const int64_t lanes = j->tf->lanes, ld_e = (int64_t)(e_bytes / d->elem);
    /* Lane (row m) and depth (k) strides of the 3x3 kernels: w[k][m] rotated for grad_input. */
    const int64_t m_stride = j->rotate ? 9 : d->cin_g * 9, k_stride = j->rotate ? d->cin_g * 9 : 9;
    const char *w = j->w + (size_t)(g * d->cout_g * d->cin_g * 9 + m0 * m_stride) * d->elem;
    for (int64_t pc = 0; pc < j->K; pc += j->cfg->kc) {
        const int64_t kc = cj_min64(j->cfg->kc, j->K - pc);
        for (int64_t sub = 0; sub < mr; sub += lanes) {
            const int rows = (int)cj_max64(0, cj_min64(cj_min64(lanes, mr - sub), j->M - m0 - sub));
            const int out_lanes = (int)cj_min64(lanes, mr - sub);
            char *dst = base + (size_t)(pc * mpad + row_off * kc + sub) * d->elem;
            j->tf->weight(w + (size_t)(pc * k_stride + sub * m_stride) * d->elem, m_stride, k_stride, j->rotate,
                          rows, out_lanes, kc, dst, ld_e, mr);
        }
    }
}

static void weight_task(void *arg, size_t slot) {
    const conv_job *j = arg;
    const int64_t panels = cj_div_up(j->M, j->cfg->mr);
    int64_t t0, t1;
    cj_split_range(j->d->groups * panels, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++)
        weight_panel(j, t / panels, t % panels, j->packed_u + (size_t)(t / panels * ELEMS) * j->pu_bytes,
                     j->pu_bytes, panels * j->cfg->mr, t % panels * j->cfg->mr);
}

/* Element e's V as the GEMMs' B: the packed panels the input transform wrote, or rows of vpad tiles. */
static cj_gemm_b v_matrix(const conv_job *j, const char *V, int e) {
    const char *ve = V + (size_t)(e * j->ve) * j->d->elem;
    return j->packed_v ? cj_gemm_b_prepacked(j->d->dtype, ve, j->vpad) : cj_gemm_b_strided(j->d->dtype, ve, j->vpad, 1);
}

/* With a single tile block every row of U is used once: rather than a pass that writes all of U
 * (36x the weights, far past the caches for 512 channels) and GEMMs that read it back, a slot
 * transforms local_rows rows at a time into its own buffer and uses them while they are in cache. */
static void local_gemms(const conv_job *j, int64_t g, int64_t m0, int64_t m1, const char *V, int64_t count,
                        char *Mbuf, void *gemm_scratch, char *local) {
    const size_t elem = j->d->elem;
    const int64_t mr = j->cfg->mr, nb = j->t.nb;
    for (int64_t r0 = m0; r0 < m1; r0 += j->local_rows) {
        const int64_t rows = cj_min64(j->local_rows, m1 - r0);
        for (int64_t p = r0 / mr; p < cj_div_up(r0 + rows, mr); p++)
            weight_panel(j, g, p, local, j->lu_bytes, cj_round_up(rows, mr), p * mr - r0);
        for (int e = 0; e < ELEMS; e++) {
            const cj_packed_a pa = {local + (size_t)e * j->lu_bytes, rows, j->K, 0, NULL};
            const cj_gemm_b vb = v_matrix(j, V, e);
            cj_gemm(j->cfg, &pa, &vb, 0, count, Mbuf + (size_t)(e * j->me + r0 * nb) * elem, nb, 0, gemm_scratch);
        }
    }
}

/* A task's work, for cj_split_weighted: its block's tiles times its chunk's rows (the last block
 * of tiles is usually short: resnet50.res3.3x3 has 8 blocks of 48 tiles and one of 8, so split by
 * count one of 2 threads had 240 tiles and the other 152). */
static int64_t conv_task_weight(const void *arg, int64_t t) {
    const conv_job *j = arg;
    const int64_t key = t / j->chunks, chunk = t % j->chunks, b = key / j->d->groups;
    const int64_t rows = cj_min64(j->M, (chunk + 1) * j->rows_per_chunk) - chunk * j->rows_per_chunk;
    return cj_min64(j->t.nb, j->t.total - b * j->t.nb) * rows;
}

static void conv_task(void *arg, size_t slot) {
    const conv_job *j = arg;
    const cj_conv_desc *d = j->d;
    const size_t elem = d->elem;
    const int64_t nb = j->t.nb, src_plane = j->src_h * j->src_w, dst_plane = j->dst_h * j->dst_w;
    char *V = j->slot_mem + slot * j->slot_bytes, *Mbuf = V + j->v_bytes;
    cj_wino_tile *tiles = (cj_wino_tile *)(Mbuf + j->m_bytes);
    char *gemm_scratch = (char *)tiles + j->tile_bytes;
    int64_t t0, t1, have = -1, block_have = -1, count = 0;
    cj_split_weighted(j->tasks, j->slots, (int64_t)slot, conv_task_weight, j, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t key = t / j->chunks, chunk = t % j->chunks;
        const int64_t b = key / d->groups, g = key % d->groups;
        if (b != block_have) {
            count = cj_wino_block_tiles(&j->t, b, j->src_c * src_plane, j->dst_c * dst_plane, tiles);
            block_have = b;
        }
        if (key != have) { /* row chunks of one (block, group) share its transformed input */
            const cj_wino_layout vl = {.ld_e = j->ve, .ld_c = j->vpad, .gemm = j->packed_v ? j->cfg : NULL,
                                       .k = j->K};
            j->tf->input(j->src + (size_t)(g * j->K * src_plane) * elem, src_plane, j->src_h, j->src_w,
                         j->pad_h, j->pad_w, j->K, tiles, count, V, &vl);
            have = key;
        }
        const int64_t m0 = chunk * j->rows_per_chunk, m1 = cj_min64(j->M, m0 + j->rows_per_chunk);
        if (j->local_u) {
            local_gemms(j, g, m0, m1, V, count, Mbuf, gemm_scratch,
                        gemm_scratch + align64(cj_gemm_scratch_bytes(j->cfg)));
        } else for (int e = 0; e < ELEMS; e++) {
            const cj_packed_a pa = {j->packed_u + (size_t)(g * ELEMS + e) * j->pu_bytes, j->M, j->K, 0, NULL};
            const cj_gemm_b vb = v_matrix(j, V, e);
            cj_gemm_rows(j->cfg, &pa, m0, m1 - m0, &vb, 0, count, Mbuf + (size_t)(e * j->me + m0 * nb) * elem,
                         nb, 0, gemm_scratch);
        }
        const char *bias = j->bias ? j->bias + (size_t)(g * j->M + m0) * elem : NULL;
        j->tf->output(Mbuf + (size_t)(m0 * nb) * elem, j->me, nb, m1 - m0, tiles, count, bias,
                      j->dst + (size_t)((g * j->M + m0) * dst_plane) * elem, dst_plane, j->dst_h, j->dst_w);
    }
}

/* Elements recomputed directly after the Winograd pass (few_terms.h): those with at most
 * CJ_FEW_TERMS terms, and for 3x3 every element whose window meets the source in 3 taps or fewer
 * (corners and rows at padding 2), whatever the channel count: F(6x6, 3x3) spreads a tile's
 * rounding more than FFT does, and these elements' sums are a third of the interior's or less. A
 * one-axis tile's window is the union of its m outputs' windows, so an output with a tap inside
 * the source shares its tile with at most m - 1 more rows of it: CJ_FEW_TERMS only (with 3 taps
 * too, Inception-v3's 7x1 grad_input at padding 0 spent 99% of its time recomputing). */
static int64_t few_terms(const cj_conv_desc *d, int64_t channels) {
    return cj_winograd_1d_kernel(d) ? CJ_FEW_TERMS : cj_max64(CJ_FEW_TERMS, 3 * channels);
}

static size_t packed_u_bytes(const conv_job *j) { return cj_wino_unaliased(cj_packed_a_bytes(j->cfg, j->M, j->K)); }

/* weight_task's work: every group's MR-row panels of U. */
static int64_t u_panels(const conv_job *j) { return j->d->groups * cj_div_up(j->M, j->cfg->mr); }

static cj_status run_conv(cj_context *ctx, conv_job *j) {
    const cj_conv_desc *d = j->d;
    const size_t elem = d->elem;
    j->cfg = cj_gemm_config_get(d->dtype);
    j->tf = cj_wino_transforms_get(d->dtype);
    j->t = cj_wino_make_tiling(d->n, j->dst_h, j->dst_w, TILE, TILE, d->groups,
                               ELEMS * (size_t)(j->K + j->M) * elem, j->cfg->nr, 4, ctx->num_threads);
    const int64_t base = j->t.blocks * d->groups;
    const int64_t pieces = cj_pieces_per_task(base, ctx->num_threads, CJ_WINO_TASKS_PER_THREAD);
    j->rows_per_chunk = cj_round_up(cj_div_up(j->M, pieces), j->cfg->mr);
    j->chunks = cj_div_up(j->M, j->rows_per_chunk);
    j->tasks = base * j->chunks;
    /* U to make here, all of it (slots enough for its panels too) or per slot (local_u), unless a
     * plan made it once already. */
    const int make_u = !j->prepared_u;
    j->local_u = make_u && j->t.blocks == 1;
    const int64_t u_tasks = make_u && !j->local_u ? u_panels(j) : 0;
    j->slots = cj_max64(1, cj_min64(ctx->num_threads, cj_max64(j->tasks, u_tasks)));
    j->pu_bytes = j->local_u ? 0 : packed_u_bytes(j);
    j->local_rows = cj_min64(j->rows_per_chunk, 4 * j->cfg->mr);
    j->lu_bytes = j->local_u ? cj_wino_unaliased(cj_packed_a_bytes(j->cfg, j->local_rows, j->K)) : 0;
    /* The input transform writes the GEMMs' B panels when its lane groups fit whole in a panel:
     * each of the 36 GEMMs per row chunk otherwise packs V_e again (resnet50.res5.3x3's forward:
     * 15% of its time in cj_pack_b_strided, 512 rows in chunks of 32). */
    j->packed_v = j->cfg->nr % j->tf->lanes == 0;
    j->vpad = j->packed_v ? cj_round_up(j->t.nb, j->cfg->nr) : j->t.nb;
    j->ve = cj_wino_unaliased_elems(j->K * j->vpad, elem);
    j->me = cj_wino_unaliased_elems(j->M * j->t.nb, elem);
    j->v_bytes = align64(ELEMS * (size_t)j->ve * elem);
    j->m_bytes = align64(ELEMS * (size_t)j->me * elem);
    j->tile_bytes = align64(sizeof(cj_wino_tile) * (size_t)j->t.nb);
    j->slot_bytes = j->v_bytes + j->m_bytes + j->tile_bytes + align64(cj_gemm_scratch_bytes(j->cfg)) +
                    j->lu_bytes * ELEMS;
    const size_t packed_total = make_u ? j->pu_bytes * (size_t)(d->groups * ELEMS) : 0;
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, packed_total + j->slot_bytes * (size_t)j->slots, &s));
    j->packed_u = make_u ? s.ptr : (char *)j->prepared_u;
    j->slot_mem = (char *)s.ptr + packed_total;
    if (make_u && !j->local_u) cj_parallel_for(ctx, (size_t)j->slots, weight_task, j);
    const int64_t work_slots = j->slots;
    j->slots = cj_min64(work_slots, j->tasks);
    cj_parallel_for(ctx, (size_t)j->slots, conv_task, j);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}

static conv_job forward_job(const cj_conv_desc *d, const void *in, const void *w, const void *bias, void *out) {
    return (conv_job){.d = d, .rotate = 0, .src = in, .w = w, .bias = bias, .dst = out,
                      .src_c = d->c_in, .src_h = d->h_in, .src_w = d->w_in,
                      .dst_c = d->c_out, .dst_h = d->h_out, .dst_w = d->w_out,
                      .K = d->cin_g, .M = d->cout_g, .pad_h = d->pad_h, .pad_w = d->pad_w};
}

/* The passes below leave the elements with few terms to the public entries (end of file), which
 * recompute them on the layer's own shape: over phase images (dilated layers) each phase's
 * border would count as such, nearly all of them padding (deeplab.dil2's grad_input took 4.6 s). */

/* prepared_u: a plan's transformed weights (wino_prepare), or NULL. */
static cj_status forward_with(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                              const void *prepared_u, const void *bias, void *out) {
    if (cj_winograd_1d_kernel(d)) return cj_winograd_1d_forward(ctx, d, in, w, prepared_u, bias, out);
    conv_job j = forward_job(d, in, w, bias, out);
    j.prepared_u = prepared_u;
    return run_conv(ctx, &j);
}

static cj_status wino_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                              const void *bias, void *out) {
    return forward_with(ctx, d, in, w, NULL, bias, out);
}

/* Plans: the forward pass's U of every group and element, packed as run_conv reads it. It is 4x
 * the weights (36 elements for 9 taps); made once, it spares each call the transform, and calls
 * whose tiles fit one block (a small batch) the per-slot transform of local_u. */
static size_t wino_prepared_bytes(const cj_conv_desc *d) {
    if (cj_winograd_1d_kernel(d)) return cj_winograd_1d_prepared_bytes(d);
    conv_job j = forward_job(d, NULL, NULL, NULL, NULL);
    j.cfg = cj_gemm_config_get(d->dtype);
    return packed_u_bytes(&j) * (size_t)(d->groups * ELEMS);
}

static void wino_prepare(cj_context *ctx, const cj_conv_desc *d, const void *w, void *prepared) {
    if (cj_winograd_1d_kernel(d)) {
        cj_winograd_1d_prepare(ctx, d, w, prepared);
        return;
    }
    conv_job j = forward_job(d, NULL, w, NULL, NULL);
    j.cfg = cj_gemm_config_get(d->dtype);
    j.tf = cj_wino_transforms_get(d->dtype);
    j.packed_u = prepared;
    j.pu_bytes = packed_u_bytes(&j);
    j.slots = cj_min64(ctx->num_threads, u_panels(&j));
    cj_parallel_for(ctx, (size_t)j.slots, weight_task, &j);
}

/* grad_in[c, y, x] = sum_k,i,j dY[k, y + pad - i, x + pad - j] w[k, c, i, j]: a stride-1 3x3
 * correlation of dY with the rotated kernel at padding 2 - pad. */
static cj_status wino_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                    const void *w, void *grad_in) {
    if (cj_winograd_1d_kernel(d)) return cj_winograd_1d_backward_data(ctx, d, grad_out, w, grad_in);
    conv_job j = {.d = d, .rotate = 1, .src = grad_out, .w = w, .bias = NULL, .dst = grad_in,
                  .src_c = d->c_out, .src_h = d->h_out, .src_w = d->w_out,
                  .dst_c = d->c_in, .dst_h = d->h_in, .dst_w = d->w_in,
                  .K = d->cout_g, .M = d->cin_g, .pad_h = 2 - d->pad_h, .pad_w = 2 - d->pad_w};
    return run_conv(ctx, &j);
}

/* ---- grad_weight ------------------------------------------------------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const cj_wino_transforms *tf;
    const char *in, *grad_out;
    char *grad_w;
    cj_wino_tiling t;
    int64_t cols_per_chunk, chunks, parts, tasks, slots;
    char *acc;                        /* per part: [group][element][C_out/g][C_in/g] */
    size_t acc_bytes;
    char *slot_mem;                   /* per slot: V, Z, packed Z_e, tile list, GEMM buffer */
    size_t v_bytes, z_bytes, pz_bytes, tile_bytes, slot_bytes;
    int64_t ve, ze;                   /* element strides of V and Z (unaliased) */
} wgrad_job;

/* Block b's contribution to columns chunk of group g's accumulator acc (accumulate: add to it). */
static void wgrad_block(const wgrad_job *j, int64_t g, int64_t chunk, int64_t b, char *acc, int accumulate,
                        char *V, char *Z, char *pz, cj_wino_tile *tiles, void *gemm_scratch) {
    const cj_conv_desc *d = j->d;
    const size_t elem = d->elem;
    const int64_t nb = j->t.nb, plane_in = d->h_in * d->w_in, plane_out = d->h_out * d->w_out;
    const int64_t M = d->cout_g, N = d->cin_g;
    const int64_t c0 = chunk * j->cols_per_chunk, c1 = cj_min64(N, c0 + j->cols_per_chunk);
    const int64_t count = cj_wino_block_tiles(&j->t, b, d->c_in * plane_in, d->c_out * plane_out, tiles);
    j->tf->grad_output(j->grad_out + (size_t)(g * M * plane_out) * elem, plane_out, d->h_out, d->w_out,
                       M, tiles, count, Z, j->ze, nb);
    const cj_wino_layout vl = {.ld_e = j->ve, .ld_c = nb};
    j->tf->input(j->in + (size_t)((g * N + c0) * plane_in) * elem, plane_in, d->h_in, d->w_in, d->pad_h,
                 d->pad_w, c1 - c0, tiles, count, V, &vl);
    for (int e = 0; e < ELEMS; e++) {
        const cj_packed_a pa = cj_wino_z_matrix(j->cfg, Z + (size_t)(e * j->ze) * elem, M, count, nb, pz);
        /* B = V_e^T: element (tile, channel) at V_e[channel * nb + tile]. */
        const cj_gemm_b vt = cj_gemm_b_strided(d->dtype, V + (size_t)(e * j->ve) * elem, 1, nb);
        char *c = acc + (size_t)((g * ELEMS + e) * M * N + c0) * elem;
        cj_gemm(j->cfg, &pa, &vt, 0, c1 - c0, c, N, accumulate, gemm_scratch);
    }
}

static int64_t tasks_per_part(const wgrad_job *j) { return j->d->groups * j->chunks; }

/* A block's work in wgrad_task's split of the batch: its tiles. */
static int64_t wgrad_block_weight(const void *arg, int64_t b) {
    const wgrad_job *j = arg;
    return cj_min64(j->t.nb, j->t.total - b * j->t.nb);
}

static void wgrad_task(void *arg, size_t slot) {
    const wgrad_job *j = arg;
    char *V = j->slot_mem + slot * j->slot_bytes, *Z = V + j->v_bytes, *pz = Z + j->z_bytes;
    cj_wino_tile *tiles = (cj_wino_tile *)(pz + j->pz_bytes);
    char *gemm_scratch = (char *)tiles + j->tile_bytes;
    int64_t t0, t1;
    cj_split_range(j->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        /* Task (part, group, column chunk) owns those columns of its part's accumulator for its
         * part of the batch (a fixed range of blocks): each accumulator element is summed in one
         * order for a given thread count, and the parts are added in order at the end. */
        const int64_t per_part = tasks_per_part(j), part = t / per_part, r = t % per_part;
        int64_t b0, b1;
        cj_split_weighted(j->t.blocks, j->parts, part, wgrad_block_weight, j, &b0, &b1);
        for (int64_t b = b0; b < b1; b++)
            wgrad_block(j, r / j->chunks, r % j->chunks, b, j->acc + (size_t)part * j->acc_bytes, b > b0, V, Z, pz,
                        tiles, gemm_scratch);
    }
}

typedef struct {
    const wgrad_job *j;
    int64_t parts;
} finish_job;

static void finish_task(void *arg, size_t part) {
    const finish_job *f = arg;
    int64_t r0, r1;
    cj_split_range(f->j->d->c_out, f->parts, (int64_t)part, &r0, &r1);
    const wgrad_job *j = f->j;
    const cj_conv_desc *d = j->d;
    const int64_t M = d->cout_g, N = d->cin_g;
    for (int64_t row = r0; row < r1; row++) { /* row = (group, k): grad_w[row][c] for every c */
        const int64_t g = row / M, k = row % M;
        j->tf->weight_grad(j->acc + (size_t)((g * ELEMS * M + k) * N) * d->elem, j->parts,
                           (int64_t)(j->acc_bytes / d->elem), M * N, N, j->grad_w + (size_t)(row * N * 9) * d->elem);
    }
}

/* grad_weight's end for both paths: G^T dW_e G from the accumulator (its parts added in order),
 * the scratch released. */
static cj_status wgrad_finish(cj_context *ctx, const wgrad_job *j, cj_scratch *s) {
    finish_job f = {j, cj_min64(ctx->num_threads, j->d->c_out)};
    cj_parallel_for(ctx, (size_t)f.parts, finish_task, &f);
    cj_scratch_release(ctx, s);
    return CJ_OK;
}

/* Large accumulators (beyond L2): the tiles go in super-blocks of up to SHARED_BYTES of transforms,
 * which all slots fill together (Z by grad_output channel, V by input channel, each transformed
 * once), then each slot runs the GEMMs of its own transform elements with the super-block's tiles
 * as their depth. So no slot repeats another's transforms, and an accumulator element's C block is
 * read and written once per super-block instead of once per L2-sized block of tiles (for 512
 * channels the accumulator is 36 MiB). Each element is summed by one slot in super-block order,
 * so the result does not depend on the thread count. */
#define SHARED_BYTES ((size_t)16 << 20)

typedef struct {
    const wgrad_job *j;
    int64_t g, count;                 /* group, tiles in this super-block */
    const cj_wino_tile *tiles;
    char *V, *Z;                      /* [e][channel][tile], NB tiles per channel */
    int accumulate;
} shared_step;

static void shared_transform_task(void *arg, size_t slot) {
    const shared_step *st = arg;
    const wgrad_job *j = st->j;
    const cj_conv_desc *d = j->d;
    const int64_t M = d->cout_g, N = d->cin_g, nb = j->t.nb;
    const int64_t plane_in = d->h_in * d->w_in, plane_out = d->h_out * d->w_out;
    int64_t r0, r1; /* rows [0, M) are grad_output channels, [M, M + N) input channels */
    cj_split_range(M + N, j->slots, (int64_t)slot, &r0, &r1);
    const int64_t z1 = cj_min64(r1, M);
    if (r0 < z1)
        j->tf->grad_output(j->grad_out + (size_t)((st->g * M + r0) * plane_out) * d->elem, plane_out, d->h_out,
                           d->w_out, z1 - r0, st->tiles, st->count, st->Z + (size_t)(r0 * nb) * d->elem, j->ze, nb);
    const int64_t v0 = cj_max64(r0, M) - M, v1 = r1 - M;
    const cj_wino_layout vl = {.ld_e = j->ve, .ld_c = nb};
    if (v0 < v1)
        j->tf->input(j->in + (size_t)((st->g * N + v0) * plane_in) * d->elem, plane_in, d->h_in, d->w_in, d->pad_h,
                     d->pad_w, v1 - v0, st->tiles, st->count, st->V + (size_t)(v0 * nb) * d->elem, &vl);
}

static void shared_gemm_task(void *arg, size_t slot) {
    const shared_step *st = arg;
    const wgrad_job *j = st->j;
    const cj_conv_desc *d = j->d;
    const size_t elem = d->elem;
    const int64_t M = d->cout_g, N = d->cin_g, nb = j->t.nb;
    char *pz = j->slot_mem + slot * j->slot_bytes, *gemm_scratch = pz + j->pz_bytes;
    int64_t e0, e1;
    cj_split_range(ELEMS, j->slots, (int64_t)slot, &e0, &e1);
    for (int64_t e = e0; e < e1; e++) {
        /* packed, not read in place (cj_wino_z_matrix): these GEMMs are 16-96 tiles deep on 256-512
         * channels, and read in place they ran slower (1 thread, min of 5 order-swapped alternations:
         * 1 x 512 x 14^2 -> 512 0.80x, resnet50.res5.3x3 0.95x, vgg16.conv5_1 0.97x) */
        const cj_packed_a pa = cj_wino_z_packed(j->cfg, st->Z + (size_t)(e * j->ze) * elem, M, st->count, nb, pz);
        const cj_gemm_b vt = cj_gemm_b_strided(d->dtype, st->V + (size_t)(e * j->ve) * elem, 1, nb);
        cj_gemm(j->cfg, &pa, &vt, 0, N, j->acc + (size_t)((st->g * ELEMS + e) * M * N) * elem, N, st->accumulate,
                gemm_scratch);
    }
}

/* The super-block path (j->t and j->acc_bytes set): j->t's blocks widened to super-blocks, j->acc
 * one part; slot memory: packed Z_e and the GEMM's buffer per slot, then the shared tiles, V and Z. */
static cj_status wgrad_shared(cj_context *ctx, wgrad_job *j) {
    const cj_conv_desc *d = j->d;
    const size_t elem = d->elem;
    const int64_t M = d->cout_g, N = d->cin_g, nr = j->cfg->nr;
    const int64_t most = cj_max64(nr, (int64_t)(SHARED_BYTES / (ELEMS * (size_t)(M + N) * elem)) / nr * nr);
    j->t.nb = cj_min64(most, j->t.total);
    j->t.blocks = cj_div_up(j->t.total, j->t.nb);
    const int64_t nb = j->t.nb;
    j->parts = 1;
    j->slots = cj_min64(ctx->num_threads, ELEMS);
    j->pz_bytes = align64(cj_packed_a_bytes(j->cfg, M, nb));
    j->slot_bytes = j->pz_bytes + align64(cj_gemm_scratch_bytes(j->cfg));
    const size_t tile_bytes = align64(sizeof(cj_wino_tile) * (size_t)nb);
    j->ve = cj_wino_unaliased_elems(N * nb, elem);
    j->ze = cj_wino_unaliased_elems(M * nb, elem);
    const size_t v_bytes = align64(ELEMS * (size_t)j->ve * elem), z_bytes = align64(ELEMS * (size_t)j->ze * elem);
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, j->acc_bytes + j->slot_bytes * (size_t)j->slots + tile_bytes + v_bytes + z_bytes,
                                  &s));
    j->acc = s.ptr;
    j->slot_mem = j->acc + j->acc_bytes;
    cj_wino_tile *tiles = (cj_wino_tile *)(j->slot_mem + j->slot_bytes * (size_t)j->slots);
    shared_step st = {.j = j, .tiles = tiles, .V = (char *)tiles + tile_bytes};
    st.Z = st.V + v_bytes;
    for (int64_t g = 0; g < d->groups; g++)
        for (int64_t b = 0; b < j->t.blocks; b++) {
            st.g = g;
            st.count = cj_wino_block_tiles(&j->t, b, d->c_in * d->h_in * d->w_in, d->c_out * d->h_out * d->w_out, tiles);
            st.accumulate = b > 0;
            cj_parallel_for(ctx, (size_t)j->slots, shared_transform_task, &st);
            cj_parallel_for(ctx, (size_t)j->slots, shared_gemm_task, &st);
        }
    return wgrad_finish(ctx, j, &s);
}

static cj_status wino_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                       const void *grad_out, void *grad_w) {
    if (cj_winograd_1d_kernel(d)) return cj_winograd_1d_backward_weights(ctx, d, in, grad_out, grad_w);
    const size_t elem = d->elem;
    wgrad_job j = {.d = d, .in = in, .grad_out = grad_out, .grad_w = grad_w};
    j.cfg = cj_gemm_config_get(d->dtype);
    j.tf = cj_wino_transforms_get(d->dtype);
    /* NB is the GEMMs' depth here: deeper blocks amortise the accumulator's trips through cache. */
    j.t = cj_wino_make_tiling(d->n, d->h_out, d->w_out, TILE, TILE, d->groups,
                              ELEMS * (size_t)(d->cin_g + d->cout_g) * elem, j.cfg->nr, 8,
                              1); /* threads split columns, not blocks */
    j.acc_bytes = align64(ELEMS * (size_t)(d->c_out * d->cin_g) * elem);
    /* Super-blocks for accumulators beyond L2, but at 1 thread only from 4x L2: below that the
     * per-block path's accumulator stays in L3 and its transforms in L2 (1 thread, min of 3 runs of
     * 6 calls: resnet50.res3.3x3, 2.3 MiB, 11.0 ms against 13.4 for super-blocks; res4.3x3, 9 MiB,
     * 13.0 against 14.0; res5.3x3, 36 MiB, 23.9 against 24.2; vgg16.conv5_1 51.7 against 73.8). */
    const size_t l2 = cj_cpu()->l2_bytes;
    if (j.acc_bytes > l2 && (ctx->num_threads > 1 || j.acc_bytes > 4 * l2)) return wgrad_shared(ctx, &j);
    /* Else threads split the batch when it has a block per thread (each gets a copy of the
     * accumulator, added at the end), else the accumulator's columns (each thread transforms every
     * block's grad_output tiles). */
    const int split_batch = j.t.blocks >= ctx->num_threads;
    j.parts = split_batch ? ctx->num_threads : 1;
    j.cols_per_chunk = split_batch ? d->cin_g
                                   : cj_div_up(d->cin_g, cj_pieces_per_task(d->groups, ctx->num_threads, CJ_WINO_TASKS_PER_THREAD));
    j.chunks = cj_div_up(d->cin_g, j.cols_per_chunk);
    j.tasks = j.parts * d->groups * j.chunks;
    j.slots = cj_min64(ctx->num_threads, j.tasks);
    j.ve = cj_wino_unaliased_elems(d->cin_g * j.t.nb, elem);
    j.ze = cj_wino_unaliased_elems(d->cout_g * j.t.nb, elem);
    j.v_bytes = align64(ELEMS * (size_t)j.ve * elem);
    j.z_bytes = align64(ELEMS * (size_t)j.ze * elem);
    j.pz_bytes = cj_wino_z_matrix_bytes(j.cfg, d->cout_g, j.t.nb);
    j.tile_bytes = align64(sizeof(cj_wino_tile) * (size_t)j.t.nb);
    j.slot_bytes = j.v_bytes + j.z_bytes + j.pz_bytes + j.tile_bytes + align64(cj_gemm_scratch_bytes(j.cfg));
    const size_t acc_total = j.acc_bytes * (size_t)j.parts;
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, acc_total + j.slot_bytes * (size_t)j.slots, &s));
    j.acc = s.ptr;
    j.slot_mem = (char *)s.ptr + acc_total;
    cj_parallel_for(ctx, (size_t)j.slots, wgrad_task, &j);
    return wgrad_finish(ctx, &j, &s);
}

/* The passes at dilation 1, which the dilated ones run over phase images. */
static const cj_algo undilated = {
    .id = CJ_ALGO_WINOGRAD,
    .forward = wino_forward,
    .backward_data = wino_backward_data,
    .backward_weights = wino_backward_weights,
    .forward_prepared = forward_with,
};

/* The public passes: dilated layers over phase images, then the elements with few terms. */
static cj_status any_forward_prepared(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                      const void *prepared_u, const void *bias, void *out) {
    CJ_FORWARD(dilated(d) ? cj_phases_forward(&undilated, ctx, d, in, w, prepared_u, bias, out)
                          : forward_with(ctx, d, in, w, prepared_u, bias, out));
    cj_fix_few_terms(ctx, d, CJ_PASS_FORWARD, few_terms(d, d->cin_g), in, w, bias, out);
    return CJ_OK;
}

static cj_status any_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                             const void *bias, void *out) {
    return any_forward_prepared(ctx, d, in, w, NULL, bias, out);
}

static cj_status any_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out, const void *w,
                                   void *grad_in) {
    CJ_FORWARD(dilated(d) ? cj_phases_backward_data(&undilated, ctx, d, grad_out, w, grad_in)
                          : wino_backward_data(ctx, d, grad_out, w, grad_in));
    cj_fix_few_terms(ctx, d, CJ_PASS_BACKWARD_DATA, few_terms(d, d->cout_g), grad_out, w, NULL, grad_in);
    return CJ_OK;
}

static cj_status any_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *grad_out,
                                      void *grad_w) {
    CJ_FORWARD(dilated(d) ? cj_phases_backward_weights(&undilated, ctx, d, in, grad_out, grad_w)
                          : wino_backward_weights(ctx, d, in, grad_out, grad_w));
    cj_fix_few_terms(ctx, d, CJ_PASS_BACKWARD_WEIGHTS, CJ_FEW_TERMS, in, grad_out, NULL, grad_w);
    return CJ_OK;
}

const cj_algo cj_algo_winograd = {
    .id = CJ_ALGO_WINOGRAD,
    .unsupported = wino_unsupported,
    .forward = any_forward,
    .backward_data = any_backward_data,
    .backward_weights = any_backward_weights,
    .prepared_bytes = wino_prepared_bytes,
    .prepare = wino_prepare,
    .forward_prepared = any_forward_prepared,
};
