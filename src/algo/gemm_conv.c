/* The GEMM drivers of CJ_ALGO_IM2COL_GEMM and CJ_ALGO_IMPLICIT_GEMM (gemm_conv.h): every
 * configuration, every pass, as GEMMs over bounded pixel panels.
 *
 *   forward       Y_g   (C_out/g x P)  = W_g (C_out/g x K) * col (K x P)          K = C_in/g*kh*kw
 *   grad_input    col   (K_c x P)      = W_g^T rows (K_c x C_out/g) * dY_g (C_out/g x P), col2im
 *   grad_weight   dW_g  (C_out/g x K) += dY_g (C_out/g x P) * col^T (P x K)
 *
 * The GEMM's pixel axis (P columns) is either a panel of one image or, for small images, several
 * whole images side by side (pixel_tiling), sized so that one column panel fits in L2: the
 * im2col matrix of a whole image is never materialised, and scratch does not grow with N.
 * Work is cut into tasks (pixel unit, group, row or channel chunk), and the tasks into one
 * contiguous range per thread slot, each slot with its own buffers: results depend only on the
 * thread count, never on timing. */
#include <stdint.h>
#include <string.h>

#include "algo/gemm_conv.h"
#include "algo/im2col.h"
#include "algo/partial_sums.h"
#include "gemm/gemm.h"
#include "util/checked.h"
#include "util/error.h"

/* Tasks per thread to aim for before cutting work finer (balance vs. repeated im2col). */
#define TASKS_PER_THREAD 4

static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* ---- the pixel axis ------------------------------------------------------------------------------ */

typedef struct {
    int64_t hw;       /* pixels per image */
    int64_t batch;    /* whole images per unit (> 1 only when panels == 1) */
    int64_t panels;   /* panels per image */
    int64_t P;        /* most columns of one unit */
    int64_t units;    /* units covering the batch: ceil(N / batch) * panels */
} pixel_tiling;

/* rows: the column matrix's row count, which sets how many pixels fit in the L2 budget (but
 * never fewer than 8 NR columns, or the kernel's NR-wide tiles go half empty). A large image is
 * cut into near-equal panels of NR multiples. A small one is batched with others, choosing the
 * image count whose column count best fills whole NR tiles (7x7 images: 1 image fills 49/96 of
 * its tiles, 7 images 343/384), unless one image fills 90% of them already: a unit of several
 * images was once computed into a panel and copied out, which at 14x14 with NR 16 (1 image fills
 * 196/208, 4 images all 784) cost more than the idle lanes (Zen 3). When K is one KC slice
 * it is now written straight into its planes (cj_gemm_c segments: only micro-tiles across an
 * image boundary go through a small tile; see in_place); the 90% rule was not re-measured. A batch is then shared out evenly over
 * the same number of units (Granite Rapids, NR 48: 8 images of 14x14 had gone in units of 7 and 1;
 * in units of 4 the forward of 256 -> 1024 channels at 2 threads went 4.98 -> 2.78 ms). */
static pixel_tiling tile_pixels(const cj_conv_desc *d, const cj_gemm_config *cfg, int64_t rows) {
    pixel_tiling t = {.hw = d->h_out * d->w_out, .batch = 1, .panels = 1};
    const int64_t nr = cfg->nr;
    int64_t target = (int64_t)cj_cpu()->l2_bytes / (cj_max64(rows, 1) * (int64_t)d->elem);
    target = cj_max64(8 * nr, target / nr * nr);
    if (t.hw <= target) {
        const int64_t most = cj_max64(1, (target + target / 2) / t.hw);
        const double one_image = (double)t.hw / (double)cj_round_up(t.hw, nr);
        const int64_t candidates = one_image >= 0.9 ? 1 : cj_min64(d->n, most);
        double best = 0;
        for (int64_t b = 1; b <= candidates; b++) {
            /* The same unit count with the images shared out evenly: a batch of 8 in units of 7
             * leaves a unit of 1, and the slot given it idles while the other computes 7 images. */
            const int64_t units = cj_div_up(d->n, b), even = cj_div_up(d->n, units);
            const double fill = (double)(d->n * t.hw) / (double)(units * cj_round_up(even * t.hw, nr));
            if (fill > best + 0.01) {
                best = fill;
                t.batch = even;
            }
        }
        t.P = t.batch * t.hw;
    } else {
        t.panels = cj_div_up(t.hw, target);
        t.P = cj_min64(t.hw, cj_round_up(cj_div_up(t.hw, t.panels), nr));
        t.panels = cj_div_up(t.hw, t.P);
    }
    t.units = cj_div_up(d->n, t.batch) * t.panels;
    return t;
}

static cj_pixel_unit unit_at(const pixel_tiling *t, const cj_conv_desc *d, int64_t u) {
    cj_pixel_unit r;
    const int64_t group = u / t->panels, panel = u % t->panels;
    r.n0 = group * t->batch;
    r.images = cj_min64(t->batch, d->n - r.n0);
    r.p0 = panel * t->P;
    r.np = cj_min64(t->P, t->hw - r.p0);
    return r;
}

/* Offset in elements of tensor[n][c] for an NCHW tensor with `channels` channels of `plane`. */
static int64_t plane_offset(int64_t n, int64_t channels, int64_t c, int64_t plane) {
    return (n * channels + c) * plane;
}

/* im2col of rows [r0, r1) of group g's column matrix for every image of the unit, side by side. */
static void unit_im2col(const cj_conv_desc *d, const char *in, int64_t g, int64_t r0, int64_t r1,
                        const cj_pixel_unit *u, char *col, int64_t ldcol) {
    const int64_t plane_in = d->h_in * d->w_in;
    for (int64_t i = 0; i < u->images; i++) {
        const char *image = in + (size_t)plane_offset(u->n0 + i, d->c_in, g * d->cin_g, plane_in) * d->elem;
        cj_im2col(d, image, r0, r1, u->p0, u->np, col + (size_t)(i * u->np) * d->elem, ldcol);
    }
}

/* Every pass's scratch: `count` shared blocks of `bytes` (packed weights, partial sums), then one
 * block of slot_bytes per thread slot at *slot_mem; the total is overflow-checked. */
static cj_status acquire_scratch(cj_context *ctx, const char *pass, size_t bytes, size_t count, size_t slot_bytes,
                                 int64_t slots, cj_scratch *s, char **slot_mem) {
    size_t shared, total;
    CJ_FAIL_IF(!cj_size_mad(bytes, count, 0, &shared) || !cj_size_mad(slot_bytes, (size_t)slots, shared, &total),
               CJ_ERR_OUT_OF_MEMORY, "gemm convolution %s: the scratch size overflows (%zu x %zu + %zu x %lld bytes)",
               pass, bytes, count, slot_bytes, (long long)slots);
    CJ_FORWARD(cj_scratch_acquire(ctx, total, s));
    *slot_mem = (char *)s->ptr + shared;
    return CJ_OK;
}

/* The packing phase fills the shared block (count x bytes: the packed weights), then the compute
 * phase runs the thread slots. pack NULL: nothing to pack (the block, if any, goes unused). */
static cj_status run_phases(cj_context *ctx, const char *pass, size_t bytes, size_t count, size_t slot_bytes,
                            int64_t slots, char **shared, char **slot_mem, cj_task_fn pack, cj_task_fn compute,
                            void *job) {
    cj_scratch s;
    CJ_FORWARD(acquire_scratch(ctx, pass, bytes, count, slot_bytes, slots, &s, slot_mem));
    if (pack) {
        *shared = s.ptr;
        cj_parallel_for(ctx, (size_t)slots, pack, job);
    }
    cj_parallel_for(ctx, (size_t)slots, compute, job);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}

/* ---- forward --------------------------------------------------------------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    cj_gemm_conv_mode mode;
    const char *in, *w, *bias;
    char *out;
    pixel_tiling px;
    int64_t K, row_chunks, rows_per_chunk, tasks, slots;
    char *packed_w;            /* per group, packed_w_bytes each (a plan's: read only) */
    size_t packed_w_bytes;
    char *slot_mem;            /* per slot: column slab, result panel, GEMM packing buffer */
    size_t col_bytes, result_bytes, slot_bytes;
    int in_place;              /* units of several images written straight into their planes */
    cj_weights_in_place wv;    /* wv.lda > 0: the weights read where they lie, not packed */
} fwd_job;

static void fwd_pack_task(void *arg, size_t slot) {
    const fwd_job *j = arg;
    const cj_conv_desc *d = j->d;
    const int64_t panels_per_group = cj_div_up(d->cout_g, j->cfg->mr);
    int64_t t0, t1;
    cj_split_range(d->groups * panels_per_group, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1;) {
        const int64_t g = t / panels_per_group, first = t % panels_per_group;
        const int64_t last = cj_min64(panels_per_group, first + (t1 - t));
        const cj_matrix w = {j->w + (size_t)(g * d->cout_g * j->K) * d->elem, j->K, 1, 0, 0};
        cj_packed_a pa = {j->packed_w + (size_t)g * j->packed_w_bytes, 0, 0, 0, NULL};
        cj_pack_a_rows(j->cfg, &w, d->cout_g, j->K, first * j->cfg->mr, last * j->cfg->mr, &pa);
        t += last - first;
    }
}

/* dst[r][0:cols] = src[r][0:cols], for rows of two strides. */
static void copy_rows(const cj_conv_desc *d, char *dst, int64_t ldd, const char *src, int64_t lds, int64_t rows,
                      int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        memcpy(dst + (size_t)(r * ldd) * d->elem, src + (size_t)(r * lds) * d->elem, (size_t)cols * d->elem);
}

/* A slot's tasks come in runs that share a (unit, group) key and differ only in row chunk: each
 * run walks K in KC slabs, im2col-ing a slab once (it stays in L2) and running every chunk's rows
 * of the GEMM on it, accumulating into C from the second slab on. */
static void fwd_task(void *arg, size_t slot) {
    const fwd_job *j = arg;
    const cj_conv_desc *d = j->d;
    const cj_gemm_config *cfg = j->cfg;
    const int64_t hw = j->px.hw, ldcol = j->px.P;
    char *col = j->slot_mem + slot * j->slot_bytes, *result = col + j->col_bytes;
    char *gemm_scratch = result + j->result_bytes;
    int64_t t0, t1;
    cj_split_range(j->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1;) {
        const int64_t key = t / j->row_chunks, run_end = cj_min64(t1, (key + 1) * j->row_chunks);
        const int64_t m0 = (t % j->row_chunks) * j->rows_per_chunk;
        const int64_t m1 = cj_min64(d->cout_g, (m0 / j->rows_per_chunk + run_end - t) * j->rows_per_chunk);
        const int64_t g = key % d->groups;
        const cj_pixel_unit u = unit_at(&j->px, d, key / d->groups);
        const int64_t cols = u.images * u.np;
        char *out = j->out + (size_t)(plane_offset(u.n0, d->c_out, g * d->cout_g + m0, hw) + u.p0) * d->elem;
        /* Several images: C's columns in segments of one image each, written into their planes,
         * or a panel copied out after the GEMM (see in_place). */
        const int panel = u.images > 1 && !j->in_place;
        const char *bias = j->bias ? j->bias + (size_t)(g * d->cout_g + m0) * d->elem : NULL;
        const cj_gemm_c c = panel ? (cj_gemm_c){result, ldcol, 0, 0, bias}
                                  : (cj_gemm_c){out, hw, u.images > 1 ? hw : 0, d->c_out * hw, bias};
        /* the group's weights: packed, or where they lie (wv) */
        const cj_packed_a pa = j->wv.lda ? (cj_packed_a){(char *)j->wv.w + (size_t)(g * j->wv.group_stride) * d->elem,
                                                         d->cout_g, j->K, j->wv.lda, j->wv.koff}
                                         : (cj_packed_a){j->packed_w + (size_t)g * j->packed_w_bytes, d->cout_g, j->K, 0, NULL};
        if (j->mode == CJ_GEMM_CONV_IMPLICIT) { /* B packed from the input, inside the GEMM */
            const cj_implicit_b src = {d, j->in, g, u};
            const cj_gemm_b b = cj_implicit_b_forward(&src);
            cj_gemm_rows_c(cfg, &pa, m0, m1 - m0, &b, 0, cols, &c, 0, gemm_scratch);
        } else
        for (int64_t pc = 0; pc < j->K; pc += cfg->kc) {
            const int64_t kc = cj_min64(cfg->kc, j->K - pc);
            unit_im2col(d, j->in, g, pc, pc + kc, &u, col, ldcol);
            /* The weights' KC block at pc, seen as a matrix of depth kc. */
            const cj_packed_a slab_a = cj_packed_a_slice(cfg, &pa, pc, kc);
            const cj_gemm_b b = cj_gemm_b_strided(d->dtype, col, ldcol, 1);
            cj_gemm_rows_c(cfg, &slab_a, m0, m1 - m0, &b, 0, cols, &c, pc > 0, gemm_scratch);
        }
        for (int64_t i = 0; i < u.images && panel; i++)
            copy_rows(d, out + (size_t)(i * d->c_out * hw) * d->elem, hw, result + (size_t)(i * u.np) * d->elem, ldcol,
                      m1 - m0, u.np);
        t = run_end;
    }
}


static size_t fwd_packed_w_bytes(const cj_gemm_config *cfg, const cj_conv_desc *d) {
    return align64(cj_packed_a_bytes(cfg, d->cout_g, d->cin_g * d->kh * d->kw));
}

size_t cj_gemm_conv_forward_packed_bytes(const cj_conv_desc *d) {
    return fwd_packed_w_bytes(cj_gemm_config_get(d->dtype), d) * (size_t)d->groups;
}

void cj_gemm_conv_forward_pack(cj_context *ctx, const cj_conv_desc *d, const void *w, void *packed_w) {
    const cj_gemm_config *cfg = cj_gemm_config_get(d->dtype);
    fwd_job j = {.d = d, .cfg = cfg, .w = w, .K = d->cin_g * d->kh * d->kw, .packed_w = packed_w,
                 .packed_w_bytes = fwd_packed_w_bytes(cfg, d)};
    j.slots = cj_min64(ctx->num_threads, d->groups * cj_div_up(d->cout_g, cfg->mr));
    cj_parallel_for(ctx, (size_t)j.slots, fwd_pack_task, &j);
}

/* Weights a plan has not packed are read where they are, when the kernel can (W_g is row-major,
 * K deep), for layers of at most this many output pixels: packing costs a write and a re-read of
 * all the weights per call, against GEMMs over few pixels. 1 thread, min of 2 alternations:
 * resnet50.res4.3x3.n1 (196 pixels) 1.320 -> 1.153 ms, vgg16.conv5_1.n1 5.16 -> 4.60,
 * res5.3x3 (392) 9.25 -> 8.80; at 2 threads res4.3x3 (1568) 4.48 -> 4.32. With many pixels
 * the packed panel's single stream wins: vgg16.conv3_2 (25088) and deeplab.dil2 (3136) lost 2%
 * read in place (8 row streams of A per kernel call). */
#define IN_PLACE_W_PIXELS 2048

int cj_gemm_conv_weights_in_place(int dtype, int64_t pixels) {
    return cj_gemm_config_get(dtype)->uk_sa != NULL && pixels <= IN_PLACE_W_PIXELS;
}

/* The forward pass with the weights packed (packed_w: given, or NULL: packed here from w) or read
 * in place (wv). */
static cj_status forward(cj_context *ctx, const cj_conv_desc *d, cj_gemm_conv_mode mode, const void *in,
                         const void *w, const void *packed_w, const cj_weights_in_place *wv, const void *bias,
                         void *out) {
    const cj_gemm_config *cfg = cj_gemm_config_get(d->dtype);
    fwd_job j = {.d = d, .cfg = cfg, .mode = mode, .in = in, .w = w, .bias = bias, .out = out,
                 .packed_w = (char *)packed_w};
    if (wv) j.wv = *wv;
    j.K = d->cin_g * d->kh * d->kw;
    j.px = tile_pixels(d, cfg, cj_min64(j.K, cfg->kc));
    const int64_t base_tasks = j.px.units * d->groups;
    const int64_t pieces = cj_pieces_per_task(base_tasks, ctx->num_threads, TASKS_PER_THREAD);
    j.rows_per_chunk = cj_round_up(cj_div_up(d->cout_g, pieces), cfg->mr);
    j.row_chunks = cj_div_up(d->cout_g, j.rows_per_chunk);
    j.tasks = base_tasks * j.row_chunks;
    j.slots = cj_min64(ctx->num_threads, j.tasks);
    j.packed_w_bytes = fwd_packed_w_bytes(cfg, d);
    j.col_bytes = mode == CJ_GEMM_CONV_IMPLICIT ? 0 : align64((size_t)(cj_min64(j.K, cfg->kc) * j.px.P) * d->elem);
    /* In place when K is one KC slice. With several, every micro-tile across an image boundary is
     * gathered and scattered again per slice, and at 7x7 (49 pixels, NR 48) nearly all of them
     * cross one: resnet50.res5.3x3 by IMPLICIT, 1 thread, forward 9.64 -> 9.94 ms and grad_input
     * 11.37 -> 12.33 in place, where resnet50.res4.1x1's grad_input (K 256) gained 5.36 -> 4.58. */
    j.in_place = j.K <= cfg->kc;
    j.result_bytes = j.px.batch > 1 && !j.in_place ? align64((size_t)(d->cout_g * j.px.P) * d->elem) : 0;
    j.slot_bytes = j.col_bytes + j.result_bytes + align64(cj_gemm_scratch_bytes(cfg));
    /* weights read in place still reserve their packed block: scratch must not change with N */
    const int pack = !packed_w && !j.wv.lda;
    return run_phases(ctx, "forward", packed_w ? 0 : j.packed_w_bytes, (size_t)d->groups, j.slot_bytes, j.slots,
                      &j.packed_w, &j.slot_mem, pack ? fwd_pack_task : NULL, fwd_task, &j);
}

cj_status cj_gemm_conv_forward(cj_context *ctx, const cj_conv_desc *d, cj_gemm_conv_mode mode, const void *in,
                               const void *w, const void *packed_w, const void *bias, void *out) {
    const int64_t K = d->cin_g * d->kh * d->kw;
    const cj_weights_in_place wv = {w, d->cout_g * K, K, NULL}; /* W_g row-major */
    const int read_in_place = !packed_w && cj_gemm_conv_weights_in_place(d->dtype, d->n * d->h_out * d->w_out);
    return forward(ctx, d, mode, in, w, packed_w, read_in_place ? &wv : NULL, bias, out);
}

cj_status cj_gemm_conv_forward_in_place(cj_context *ctx, const cj_conv_desc *d, cj_gemm_conv_mode mode,
                                        const void *in, const cj_weights_in_place *w, const void *bias, void *out) {
    return forward(ctx, d, mode, in, NULL, NULL, w, bias, out);
}

/* ---- grad_input ---------------------------------------------------------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const char *grad_out, *w;
    char *grad_in;
    pixel_tiling px;
    int64_t K, khkw, chans_per_chunk, chunks, image_groups, tasks, slots;
    char *packed_wt;           /* per (group, channel chunk), packed_bytes each */
    size_t packed_bytes;
    char *slot_mem;            /* per slot: column panel, GEMM packing buffer */
    size_t col_bytes, slot_bytes;
} bwd_data_job;

static void bwd_data_pack_task(void *arg, size_t slot) {
    const bwd_data_job *j = arg;
    const cj_conv_desc *d = j->d;
    int64_t t0, t1;
    cj_split_range(d->groups * j->chunks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t g = t / j->chunks, chunk = t % j->chunks;
        const int64_t c0 = chunk * j->chans_per_chunk, c1 = cj_min64(d->cin_g, c0 + j->chans_per_chunk);
        /* W_g^T restricted to the chunk's rows: element (r, m) = W[g*cout_g + m][c0*khkw + r]. */
        const cj_matrix wt = {j->w + (size_t)(g * d->cout_g * j->K + c0 * j->khkw) * d->elem, 1, j->K, 0, 0};
        cj_packed_a pa = {j->packed_wt + (size_t)t * j->packed_bytes, 0, 0, 0, NULL};
        cj_pack_a(j->cfg, &wt, (c1 - c0) * j->khkw, d->cout_g, &pa);
    }
}

static void bwd_data_task(void *arg, size_t slot) {
    const bwd_data_job *j = arg;
    const cj_conv_desc *d = j->d;
    const int64_t hw = j->px.hw, plane_in = d->h_in * d->w_in;
    char *col = j->slot_mem + slot * j->slot_bytes, *gemm_scratch = col + j->col_bytes;
    int64_t t0, t1;
    cj_split_range(j->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        /* A task owns channels [c0, c1) of its images' grad_in: no two tasks add to one element. */
        const int64_t chunk = t % j->chunks, g = (t / j->chunks) % d->groups;
        const int64_t image_group = t / j->chunks / d->groups;
        const int64_t c0 = chunk * j->chans_per_chunk, c1 = cj_min64(d->cin_g, c0 + j->chans_per_chunk);
        const cj_packed_a pa = {j->packed_wt + (size_t)(g * j->chunks + chunk) * j->packed_bytes,
                                (c1 - c0) * j->khkw, d->cout_g, 0, NULL};
        for (int64_t panel = 0; panel < j->px.panels; panel++) {
            const cj_pixel_unit u = unit_at(&j->px, d, image_group * j->px.panels + panel);
            if (panel == 0)
                for (int64_t i = 0; i < u.images; i++)
                    memset(j->grad_in + (size_t)plane_offset(u.n0 + i, d->c_in, g * d->cin_g + c0, plane_in) * d->elem,
                           0, (size_t)((c1 - c0) * plane_in) * d->elem);
            const char *dy = j->grad_out + (size_t)(plane_offset(u.n0, d->c_out, g * d->cout_g, hw) + u.p0) * d->elem;
            const cj_gemm_b b = cj_gemm_b_segmented(d->dtype, dy, hw, u.np, d->c_out * hw);
            cj_gemm(j->cfg, &pa, &b, 0, u.images * u.np, col, j->px.P, 0, gemm_scratch);
            for (int64_t i = 0; i < u.images; i++) {
                char *image = j->grad_in + (size_t)plane_offset(u.n0 + i, d->c_in, g * d->cin_g, plane_in) * d->elem;
                cj_col2im_add(d, col + (size_t)(i * u.np) * d->elem, j->px.P, c0 * j->khkw, c1 * j->khkw,
                              u.p0, u.np, image);
            }
        }
    }
}

cj_status cj_gemm_conv_backward_data_col2im(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                            const void *w, void *grad_in) {
    const cj_gemm_config *cfg = cj_gemm_config_get(d->dtype);
    bwd_data_job j = {.d = d, .cfg = cfg, .grad_out = grad_out, .w = w, .grad_in = grad_in};
    j.khkw = d->kh * d->kw;
    j.K = d->cin_g * j.khkw;
    /* Tile with the whole K first to learn the image grouping, then cut channels for threads. */
    j.px = tile_pixels(d, cfg, j.K);
    j.image_groups = cj_div_up(d->n, j.px.batch);
    j.chans_per_chunk = cj_div_up(d->cin_g, cj_pieces_per_task(j.image_groups * d->groups, ctx->num_threads, TASKS_PER_THREAD));
    j.chunks = cj_div_up(d->cin_g, j.chans_per_chunk);
    j.tasks = j.image_groups * d->groups * j.chunks;
    j.slots = cj_min64(ctx->num_threads, j.tasks);
    const int64_t rows = j.chans_per_chunk * j.khkw;
    j.packed_bytes = align64(cj_packed_a_bytes(cfg, rows, d->cout_g));
    j.col_bytes = align64((size_t)(rows * j.px.P) * d->elem);
    j.slot_bytes = j.col_bytes + align64(cj_gemm_scratch_bytes(cfg));
    return run_phases(ctx, "grad_input", j.packed_bytes, (size_t)(d->groups * j.chunks), j.slot_bytes, j.slots,
                      &j.packed_wt, &j.slot_mem, bwd_data_pack_task, bwd_data_task, &j);
}

/* ---- grad_weight ----------------------------------------------------------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    cj_gemm_conv_mode mode;
    const char *in, *grad_out;
    char *grad_w;
    pixel_tiling px;
    int64_t K, rows_per_chunk, chunks, slab, tasks, slots;
    char *partials;            /* slots 1.. accumulate here, partial_stride apart; slot 0 into grad_w
                                * (transposed: every slot, dW_g^T) */
    size_t weight_bytes, partial_stride;
    char *slot_mem;            /* per slot: column slab, packed grad_output panel, GEMM buffer */
    size_t col_bytes, packed_bytes, slot_bytes;
    int transposed;            /* dW_g^T = X_g dY_g^T (pointwise_transposed) */
} bwd_weights_job;

/* ---- grad_weight of 1x1 layers as dW_g^T = X_g dY_g^T ------------------------------------------- */

/* A pointwise layer's grad_weight with at least as many input as output channels, by IMPLICIT
 * with a kernel that reads A in place (AVX-512 f32): the transposed product dW_g^T (C_in/g x
 * C_out/g) = X_g (C_in/g x P) * dY_g^T (P x C_out/g). Its A, the input's channel rows, is read
 * where it lies (the unit's column k at koff[k] when images sit side by side), and its B is
 * grad_output transposed into panels: the smaller of the two operands to transpose, where dW_g =
 * dY_g X_g^T packs dY_g into A panels and transposes the whole input into B. Each slot sums
 * into its own transposed copy; the copies are added in slot order and transposed into grad_w.
 *
 * The transposed product trades transposing the input (N*P x C_in/g) and packing dY_g for
 * transposing dY_g and, once per call, the C_in/g x C_out/g result: a gain from N*P of about
 * 2 C_out/g; taken from 4 C_out/g. 1 / 2 threads, min of 5 order-swapped alternations, against
 * dW_g = dY_g X_g^T: 8 x 256 x 56^2 -> 64 1.20-1.22 / 1.21-1.23x, 8 x 1024 x 14^2 -> 256
 * 1.12-1.15 / 1.06-1.12x, 8 x 512 x 28^2 -> 128 1.12x, 8 x 256 x 56^2 -> 256 1.05x; below it
 * 1 x 1024 x 14^2 -> 256 (196 pixels) 0.78x and 8 x 2048 x 7^2 -> 512 (392) 0.95x, the result's
 * transpose a pass over 1-4 MB against so few pixels. */
#define TRANSPOSED_MIN_PIXELS 4

static int pointwise_transposed(const cj_conv_desc *d, const cj_gemm_config *cfg, cj_gemm_conv_mode mode) {
    return mode == CJ_GEMM_CONV_IMPLICIT && cfg->uk_sa && cj_implicit_pointwise(d) && d->cin_g >= d->cout_g &&
           d->n * d->h_out * d->w_out >= TRANSPOSED_MIN_PIXELS * d->cout_g &&
           d->n * d->c_in * d->h_in * d->w_in <= INT32_MAX; /* koff's range */
}

/* B = dY_g^T for a unit: rows k are its pixels (image k / np, pixel p0 + k % np), columns its
 * output channels; dy at grad_output's element (n0, g * C_out/g, p0). */
typedef struct {
    const cj_conv_desc *d;
    const char *dy;
    int64_t np;
} dy_transposed;

static void pack_dy_transposed(const cj_gemm_b *b, int64_t k0, int64_t kc, int64_t n0, int64_t nc, int64_t nr,
                               void *dst) {
    const dy_transposed *t = b->user;
    const cj_conv_desc *d = t->d;
    const int64_t hw = d->h_out * d->w_out;
    for (int64_t j0 = 0; j0 < nc; j0 += nr) {
        char *panel = (char *)dst + (size_t)(j0 * kc) * d->elem;
        /* one image's run of rows at a time: within it, row k is a column of dY_g (stride 1) */
        for (int64_t k = k0; k < k0 + kc;) {
            const int64_t image = k / t->np, p = k % t->np, len = cj_min64(t->np - p, k0 + kc - k);
            const char *run_start = t->dy + (size_t)(image * d->c_out * hw + p) * d->elem;
            const cj_gemm_b run = cj_gemm_b_strided(d->dtype, run_start, 1, hw);
            cj_pack_b_strided(&run, 0, len, n0 + j0, cj_min64(nr, nc - j0), nr,
                              panel + (size_t)((k - k0) * nr) * d->elem);
            k += len;
        }
    }
}

/* Rows [r0, r1) (input channels, r0 a multiple of MR) of the unit's contribution to dW_g^T at acc. */
static void pointwise_unit(const bwd_weights_job *j, int64_t g, const cj_pixel_unit *u, int64_t r0, int64_t r1,
                           char *acc, int32_t *koff, void *gemm_scratch) {
    const cj_conv_desc *d = j->d;
    const int64_t hw = j->px.hw, cols = u->images * u->np;
    if (u->images > 1) /* one image: its columns are contiguous from the row start, and koff goes unused */
        for (int64_t i = 0; i < u->images; i++)
            for (int64_t p = 0; p < u->np; p++) koff[i * u->np + p] = (int32_t)(i * d->c_in * hw + p);
    const cj_packed_a x = {(char *)j->in + (size_t)(plane_offset(u->n0, d->c_in, g * d->cin_g, hw) + u->p0) * d->elem,
                           d->cin_g, cols, hw, u->images > 1 ? koff : NULL};
    const char *dy = j->grad_out + (size_t)(plane_offset(u->n0, d->c_out, g * d->cout_g, hw) + u->p0) * d->elem;
    const dy_transposed t = {d, dy, u->np};
    const cj_gemm_b dyt = {.pack = pack_dy_transposed, .dtype = d->dtype, .user = &t};
    cj_gemm_rows(j->cfg, &x, r0, r1 - r0, &dyt, 0, d->cout_g,
                 acc + (size_t)((g * d->cin_g + r0) * d->cout_g) * d->elem, d->cout_g, 1, gemm_scratch);
}

typedef struct {
    const bwd_weights_job *j;
    int64_t parts;
} transpose_job;

/* grad_w[g][k][c] = slot 0's dW_g^T[c][k] (the slots' sum by then), rows (g, k) split by part:
 * each group's rows as one B panel N wide packed from the transposed view, which moves 8 x 8
 * blocks through registers (a scalar strided walk took 23% of a 1 x 1024 x 14^2 -> 256 grad_weight). */
static void transpose_task(void *arg, size_t part) {
    const transpose_job *t = arg;
    const bwd_weights_job *j = t->j;
    const cj_conv_desc *d = j->d;
    const int64_t M = d->cout_g, N = d->cin_g;
    int64_t r0, r1;
    cj_split_range(d->c_out, t->parts, (int64_t)part, &r0, &r1);
    for (int64_t row = r0; row < r1;) {
        const int64_t g = row / M, k = row % M, rows = cj_min64(M - k, r1 - row);
        const cj_gemm_b view = cj_gemm_b_strided(d->dtype, j->partials + (size_t)(g * N * M) * d->elem, 1, M);
        cj_pack_b_strided(&view, k, rows, 0, N, N, j->grad_w + (size_t)(row * N) * d->elem);
        row += rows;
    }
}

static void bwd_weights_task(void *arg, size_t slot) {
    const bwd_weights_job *j = arg;
    const cj_conv_desc *d = j->d;
    const int64_t hw = j->px.hw;
    char *col = j->slot_mem + slot * j->slot_bytes;
    char *packed = col + j->col_bytes, *gemm_scratch = packed + j->packed_bytes;
    char *acc = j->transposed ? j->partials + slot * j->partial_stride
                : slot == 0    ? j->grad_w
                               : j->partials + (slot - 1) * j->partial_stride;
    memset(acc, 0, j->weight_bytes);
    int64_t t0, t1;
    cj_split_range(j->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        /* A task adds one pixel unit's contribution to columns [r0, r1) of dW_g: it packs the
         * unit's grad_output once, then im2col-s the rows slab by slab (each slab stays in L2). */
        const int64_t chunk = t % j->chunks, g = (t / j->chunks) % d->groups;
        const cj_pixel_unit u = unit_at(&j->px, d, t / j->chunks / d->groups);
        const int64_t r0 = chunk * j->rows_per_chunk, r1 = cj_min64(j->K, r0 + j->rows_per_chunk);
        if (j->transposed) {
            pointwise_unit(j, g, &u, r0, r1, acc, (int32_t *)col, gemm_scratch);
            continue;
        }
        const int64_t cols = u.images * u.np;
        const cj_matrix dy = {j->grad_out + (size_t)(plane_offset(u.n0, d->c_out, g * d->cout_g, hw) + u.p0) * d->elem,
                              hw, 1, u.np, d->c_out * hw};
        cj_packed_a pa = {packed, 0, 0, 0, NULL};
        cj_pack_a(j->cfg, &dy, d->cout_g, cols, &pa);
        if (j->mode == CJ_GEMM_CONV_IMPLICIT) { /* col^T packed from the input, inside the GEMM */
            const cj_implicit_bt src = {{d, j->in, g, u}, col};
            const cj_gemm_b b = cj_implicit_b_transposed(&src);
            char *c = acc + (size_t)(g * d->cout_g * j->K) * d->elem;
            cj_gemm(j->cfg, &pa, &b, r0, r1 - r0, c + (size_t)r0 * d->elem, j->K, 1, gemm_scratch);
        } else
        for (int64_t r = r0; r < r1; r += j->slab) {
            const int64_t rows = cj_min64(j->slab, r1 - r);
            unit_im2col(d, j->in, g, r, r + rows, &u, col, j->px.P);
            const cj_gemm_b b = cj_gemm_b_strided(d->dtype, col, 1, j->px.P); /* col^T */
            char *c = acc + (size_t)(g * d->cout_g * j->K + r) * d->elem;
            cj_gemm(j->cfg, &pa, &b, 0, rows, c, j->K, 1, gemm_scratch);
        }
    }
}

cj_status cj_gemm_conv_backward_weights(cj_context *ctx, const cj_conv_desc *d, cj_gemm_conv_mode mode,
                                        const void *in, const void *grad_out, void *grad_w) {
    const cj_gemm_config *cfg = cj_gemm_config_get(d->dtype);
    bwd_weights_job j = {.d = d, .cfg = cfg, .mode = mode, .in = in, .grad_out = grad_out, .grad_w = grad_w};
    j.K = d->cin_g * d->kh * d->kw;
    j.transposed = pointwise_transposed(d, cfg, mode);
    j.px = tile_pixels(d, cfg, cj_min64(j.K, cfg->kc));
    j.rows_per_chunk = cj_div_up(j.K, cj_pieces_per_task(j.px.units * d->groups, ctx->num_threads, TASKS_PER_THREAD));
    if (j.transposed) j.rows_per_chunk = cj_round_up(j.rows_per_chunk, cfg->mr); /* A's rows: whole panels */
    j.chunks = cj_div_up(j.K, j.rows_per_chunk);
    j.tasks = j.px.units * d->groups * j.chunks;
    j.slots = cj_min64(ctx->num_threads, j.tasks);
    /* The slab: as many rows as fit half of L2 beside the pixel panel, in whole NR tiles. */
    const int64_t fit = (int64_t)cj_cpu()->l2_bytes / 2 / (j.px.P * (int64_t)d->elem);
    j.slab = cj_min64(j.rows_per_chunk, cj_max64(cfg->nr, fit / cfg->nr * cfg->nr));
    j.weight_bytes = (size_t)(d->c_out * j.K) * d->elem;
    j.partial_stride = align64(j.weight_bytes);
    /* the slot's column buffer: the unit's koff (transposed), the im2col temp or the slab */
    j.col_bytes = align64(j.transposed                     ? (size_t)j.px.P * sizeof(int32_t)
                          : mode == CJ_GEMM_CONV_IMPLICIT ? cj_implicit_b_transposed_temp(cfg)
                                                          : (size_t)(j.slab * j.px.P) * d->elem);
    j.packed_bytes = j.transposed ? 0 : align64(cj_packed_a_bytes(cfg, d->cout_g, j.px.P));
    j.slot_bytes = j.col_bytes + j.packed_bytes + align64(cj_gemm_scratch_bytes(cfg));
    const int64_t copies = j.transposed ? j.slots : j.slots - 1;
    cj_scratch s;
    CJ_FORWARD(acquire_scratch(ctx, "grad_weight", j.partial_stride, (size_t)copies, j.slot_bytes, j.slots, &s,
                               &j.slot_mem));
    j.partials = s.ptr;
    cj_parallel_for(ctx, (size_t)j.slots, bwd_weights_task, &j);
    /* slot 0's sum (grad_w, or its transposed copy) += the other slots' partials, in slot order */
    char *sum = j.transposed ? j.partials : grad_w;
    const char *others = j.transposed ? j.partials + j.partial_stride : j.partials;
    cj_sum_partials(ctx, d->dtype, sum, others, j.partial_stride, j.slots - 1, d->c_out * j.K);
    if (j.transposed) {
        transpose_job t = {&j, cj_min64(ctx->num_threads, d->c_out)};
        cj_parallel_for(ctx, (size_t)t.parts, transpose_task, &t);
    }
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}
