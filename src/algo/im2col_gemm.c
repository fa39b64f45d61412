/* CJ_ALGO_IM2COL_GEMM: every configuration, every pass, as GEMMs over bounded im2col panels.
 *
 *   forward       Y_g[n]  (C_out/g x P)   = W_g (C_out/g x K)  * col (K x P)         K = C_in/g*kh*kw
 *   grad_input    col     (K_c x P)       = W_g^T rows (K_c x C_out/g) * dY_g[n] (C_out/g x P), col2im
 *   grad_weight   dW_g    (C_out/g x K)  += dY_g[n] (C_out/g x P) * col^T (P x K)
 *
 * P is a panel of output pixels sized so that one column panel fits in L2: the im2col matrix of a
 * whole image is never materialised, and scratch does not grow with N. Work is cut into tasks
 * (image, group, pixel panel or channel chunk, row chunk) and the tasks are split into one
 * contiguous range per thread slot, each slot with its own column and packing buffers. */
#include <string.h>

#include "algo/algo.h"
#include "algo/im2col.h"
#include "gemm/gemm.h"
#include "util/checked.h"
#include "util/error.h"

/* Tasks per thread to aim for before splitting work further (load balance vs. repeated im2col). */
#define TASKS_PER_THREAD 4

static const char *im2col_unsupported(const cj_conv_desc *d, cj_pass pass) {
    (void)d;
    (void)pass;
    return NULL;
}

/* Pixels per panel: a multiple of NR with rows x P elements within L2, at least one NR. */
static int64_t panel_pixels(const cj_conv_desc *d, const cj_gemm_config *cfg, int64_t rows) {
    const int64_t pixels = d->h_out * d->w_out;
    int64_t p = (int64_t)cj_cpu()->l2_bytes / (cj_max64(rows, 1) * (int64_t)d->elem);
    p = cj_max64(cfg->nr, p / cfg->nr * cfg->nr);
    return cj_min64(p, pixels);
}

static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* ---- forward ---------------------------------------------------------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const char *in, *w, *bias;
    char *out;
    char *packed_w;            /* per group, packed_w_bytes each */
    size_t packed_w_bytes;
    int64_t K, P, panels, row_chunks, rows_per_chunk, tasks, slots;
    char *slot_mem;            /* per slot: column panel, then GEMM packing buffer */
    size_t col_bytes, slot_bytes;
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
        const cj_matrix w = {j->w + (size_t)(g * d->cout_g * j->K) * d->elem, j->K, 1};
        cj_packed_a pa = {j->packed_w + (size_t)g * j->packed_w_bytes, 0, 0};
        cj_pack_a_rows(j->cfg, &w, d->cout_g, j->K, first * j->cfg->mr, last * j->cfg->mr, &pa);
        t += last - first;
    }
}

#define DEFINE_ADD_BIAS(T, suffix)                                                                \
    static void add_bias_##suffix(T *out, int64_t ldo, int64_t rows, int64_t cols, const T *bias) { \
        for (int64_t r = 0; r < rows; r++) {                                                       \
            const T b = bias[r];                                                                   \
            T *row = out + r * ldo;                                                                \
            for (int64_t c = 0; c < cols; c++) row[c] += b;                                        \
        }                                                                                          \
    }
DEFINE_ADD_BIAS(float, f32)
DEFINE_ADD_BIAS(double, f64)

static void fwd_task(void *arg, size_t slot) {
    const fwd_job *j = arg;
    const cj_conv_desc *d = j->d;
    const cj_gemm_config *cfg = j->cfg;
    const int64_t hw = d->h_out * d->w_out, plane_in = d->h_in * d->w_in;
    char *col = j->slot_mem + slot * j->slot_bytes, *gemm_scratch = col + j->col_bytes;
    int64_t t0, t1, last_panel_key = -1;
    cj_split_range(j->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t chunk = t % j->row_chunks, panel_key = t / j->row_chunks;
        const int64_t panel = panel_key % j->panels, ng = panel_key / j->panels;
        const int64_t g = ng % d->groups, n = ng / d->groups;
        const int64_t p0 = panel * j->P, np = cj_min64(j->P, hw - p0);
        const int64_t m0 = chunk * j->rows_per_chunk, m = cj_min64(j->rows_per_chunk, d->cout_g - m0);
        if (panel_key != last_panel_key) { /* consecutive row chunks share one column panel */
            const char *image = j->in + (size_t)((n * d->c_in + g * d->cin_g) * plane_in) * d->elem;
            cj_im2col(d, image, 0, d->cin_g, p0, np, col, j->P);
            last_panel_key = panel_key;
        }
        const cj_packed_a pa = {j->packed_w + (size_t)g * j->packed_w_bytes, d->cout_g, j->K};
        const cj_gemm_b b = cj_gemm_b_strided(d->dtype, col, j->P, 1);
        const int64_t k0 = g * d->cout_g + m0;
        char *c = j->out + (size_t)((n * d->c_out + k0) * hw + p0) * d->elem;
        cj_gemm_rows(cfg, &pa, m0, m, &b, 0, np, c, hw, 0, gemm_scratch);
        if (j->bias) {
            if (d->dtype == CJ_F64) add_bias_f64((double *)c, hw, m, np, (const double *)j->bias + k0);
            else add_bias_f32((float *)c, hw, m, np, (const float *)j->bias + k0);
        }
    }
}

/* Splits `rows` into chunks (multiples of mr) when there are too few tasks for the threads. */
static int64_t row_chunk_rows(int64_t rows, int64_t mr, int64_t tasks, int64_t threads) {
    if (threads <= 1 || tasks >= TASKS_PER_THREAD * threads) return rows;
    const int64_t want = cj_div_up(TASKS_PER_THREAD * threads, tasks);
    const int64_t per = cj_round_up(cj_div_up(rows, want), mr);
    return cj_max64(per, cj_min64(rows, 2 * mr));
}

static cj_status im2col_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                const void *bias, void *out) {
    const cj_gemm_config *cfg = cj_gemm_config_get(d->dtype);
    fwd_job j = {.d = d, .cfg = cfg, .in = in, .w = w, .bias = bias, .out = out};
    j.K = d->cin_g * d->kh * d->kw;
    j.P = panel_pixels(d, cfg, j.K);
    j.panels = cj_div_up(d->h_out * d->w_out, j.P);
    const int64_t base_tasks = d->n * d->groups * j.panels;
    j.rows_per_chunk = row_chunk_rows(d->cout_g, cfg->mr, base_tasks, ctx->num_threads);
    j.row_chunks = cj_div_up(d->cout_g, j.rows_per_chunk);
    j.tasks = base_tasks * j.row_chunks;
    j.slots = cj_min64(ctx->num_threads, j.tasks);
    j.packed_w_bytes = align64(cj_packed_a_bytes(cfg, d->cout_g, j.K));
    j.col_bytes = align64((size_t)(j.K * j.P) * d->elem);
    j.slot_bytes = j.col_bytes + align64(cj_gemm_scratch_bytes(cfg));
    const size_t total = j.packed_w_bytes * (size_t)d->groups + j.slot_bytes * (size_t)j.slots;
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, total, &s));
    j.packed_w = s.ptr;
    j.slot_mem = (char *)s.ptr + j.packed_w_bytes * (size_t)d->groups;
    cj_parallel_for(ctx, (size_t)j.slots, fwd_pack_task, &j);
    cj_parallel_for(ctx, (size_t)j.slots, fwd_task, &j);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}

/* ---- grad_input --------------------------------------------------------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const char *grad_out, *w;
    char *grad_in;
    int64_t K, khkw, P, chans_per_chunk, chunks, tasks, slots;
    char *packed_wt;           /* per (group, channel chunk), packed_bytes each */
    size_t packed_bytes;
    char *slot_mem;
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
        const cj_matrix wt = {j->w + (size_t)(g * d->cout_g * j->K + c0 * j->khkw) * d->elem, 1, j->K};
        cj_packed_a pa = {j->packed_wt + (size_t)t * j->packed_bytes, 0, 0};
        cj_pack_a(j->cfg, &wt, (c1 - c0) * j->khkw, d->cout_g, &pa);
    }
}

static void bwd_data_task(void *arg, size_t slot) {
    const bwd_data_job *j = arg;
    const cj_conv_desc *d = j->d;
    const int64_t hw = d->h_out * d->w_out, plane_in = d->h_in * d->w_in;
    char *col = j->slot_mem + slot * j->slot_bytes, *gemm_scratch = col + j->col_bytes;
    int64_t t0, t1;
    cj_split_range(j->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t chunk = t % j->chunks, ng = t / j->chunks;
        const int64_t g = ng % d->groups, n = ng / d->groups;
        const int64_t c0 = chunk * j->chans_per_chunk, c1 = cj_min64(d->cin_g, c0 + j->chans_per_chunk);
        char *image = j->grad_in + (size_t)((n * d->c_in + g * d->cin_g) * plane_in) * d->elem;
        memset(image + (size_t)(c0 * plane_in) * d->elem, 0, (size_t)((c1 - c0) * plane_in) * d->elem);
        const cj_packed_a pa = {j->packed_wt + (size_t)(g * j->chunks + chunk) * j->packed_bytes,
                                (c1 - c0) * j->khkw, d->cout_g};
        const char *dy = j->grad_out + (size_t)((n * d->c_out + g * d->cout_g) * hw) * d->elem;
        const cj_gemm_b b = cj_gemm_b_strided(d->dtype, dy, hw, 1);
        for (int64_t p0 = 0; p0 < hw; p0 += j->P) {
            const int64_t np = cj_min64(j->P, hw - p0);
            cj_gemm(j->cfg, &pa, &b, p0, np, col, j->P, 0, gemm_scratch);
            cj_col2im_add(d, col, j->P, c0, c1, p0, np, image);
        }
    }
}

static cj_status im2col_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out,
                                      const void *w, void *grad_in) {
    const cj_gemm_config *cfg = cj_gemm_config_get(d->dtype);
    bwd_data_job j = {.d = d, .cfg = cfg, .grad_out = grad_out, .w = w, .grad_in = grad_in};
    j.khkw = d->kh * d->kw;
    j.K = d->cin_g * j.khkw;
    /* Channel chunks split an image between threads (each chunk owns its channels of grad_in,
     * so no two tasks ever add into the same element). */
    const int64_t base_tasks = d->n * d->groups;
    j.chunks = 1;
    if (ctx->num_threads > 1 && base_tasks < TASKS_PER_THREAD * ctx->num_threads)
        j.chunks = cj_min64(d->cin_g, cj_div_up(TASKS_PER_THREAD * ctx->num_threads, base_tasks));
    j.chans_per_chunk = cj_div_up(d->cin_g, j.chunks);
    j.chunks = cj_div_up(d->cin_g, j.chans_per_chunk);
    j.tasks = base_tasks * j.chunks;
    j.slots = cj_min64(ctx->num_threads, j.tasks);
    const int64_t rows = j.chans_per_chunk * j.khkw;
    j.P = panel_pixels(d, cfg, rows);
    j.packed_bytes = align64(cj_packed_a_bytes(cfg, rows, d->cout_g));
    j.col_bytes = align64((size_t)(rows * j.P) * d->elem);
    j.slot_bytes = j.col_bytes + align64(cj_gemm_scratch_bytes(cfg));
    const size_t packed_total = j.packed_bytes * (size_t)(d->groups * j.chunks);
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, packed_total + j.slot_bytes * (size_t)j.slots, &s));
    j.packed_wt = s.ptr;
    j.slot_mem = (char *)s.ptr + packed_total;
    cj_parallel_for(ctx, (size_t)cj_min64(ctx->num_threads, d->groups * j.chunks), bwd_data_pack_task, &j);
    cj_parallel_for(ctx, (size_t)j.slots, bwd_data_task, &j);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}

/* ---- grad_weight ---------------------------------------------------------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const char *in, *grad_out;
    char *grad_w;
    int64_t K, P, panels, tasks, slots;
    char *partials;            /* slots 1.. accumulate here, partial_stride apart; slot 0 into grad_w */
    size_t weight_bytes, partial_stride;
    char *slot_mem;            /* per slot: column panel, packed grad_output panel, GEMM buffer */
    size_t col_bytes, packed_bytes, slot_bytes;
} bwd_weights_job;

static void bwd_weights_task(void *arg, size_t slot) {
    const bwd_weights_job *j = arg;
    const cj_conv_desc *d = j->d;
    const int64_t hw = d->h_out * d->w_out, plane_in = d->h_in * d->w_in;
    char *col = j->slot_mem + slot * j->slot_bytes;
    char *packed = col + j->col_bytes, *gemm_scratch = packed + j->packed_bytes;
    char *acc = slot == 0 ? j->grad_w : j->partials + (slot - 1) * j->partial_stride;
    memset(acc, 0, j->weight_bytes);
    int64_t t0, t1;
    cj_split_range(j->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t panel = t % j->panels, ng = t / j->panels;
        const int64_t g = ng % d->groups, n = ng / d->groups;
        const int64_t p0 = panel * j->P, np = cj_min64(j->P, hw - p0);
        const char *image = j->in + (size_t)((n * d->c_in + g * d->cin_g) * plane_in) * d->elem;
        cj_im2col(d, image, 0, d->cin_g, p0, np, col, j->P);
        const cj_matrix dy = {j->grad_out + (size_t)((n * d->c_out + g * d->cout_g) * hw + p0) * d->elem, hw, 1};
        cj_packed_a pa = {packed, 0, 0};
        cj_pack_a(j->cfg, &dy, d->cout_g, np, &pa);
        const cj_gemm_b b = cj_gemm_b_strided(d->dtype, col, 1, j->P); /* col^T */
        char *c = acc + (size_t)(g * d->cout_g * j->K) * d->elem;
        cj_gemm(j->cfg, &pa, &b, 0, j->K, c, j->K, 1, gemm_scratch);
    }
}

typedef struct {
    const bwd_weights_job *j;
    int64_t count, parts;
} reduce_job;

static void reduce_task(void *arg, size_t part) {
    const reduce_job *r = arg;
    const bwd_weights_job *j = r->j;
    int64_t e0, e1;
    cj_split_range(r->count, r->parts, (int64_t)part, &e0, &e1);
    for (int64_t s = 1; s < j->slots; s++) { /* fixed order: bit-reproducible for a thread count */
        const char *src = j->partials + (s - 1) * j->partial_stride;
        if (j->d->dtype == CJ_F64) {
            double *dst = (double *)j->grad_w;
            for (int64_t e = e0; e < e1; e++) dst[e] += ((const double *)src)[e];
        } else {
            float *dst = (float *)j->grad_w;
            for (int64_t e = e0; e < e1; e++) dst[e] += ((const float *)src)[e];
        }
    }
}

static cj_status im2col_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                         const void *grad_out, void *grad_w) {
    const cj_gemm_config *cfg = cj_gemm_config_get(d->dtype);
    bwd_weights_job j = {.d = d, .cfg = cfg, .in = in, .grad_out = grad_out, .grad_w = grad_w};
    j.K = d->cin_g * d->kh * d->kw;
    j.P = panel_pixels(d, cfg, j.K);
    j.panels = cj_div_up(d->h_out * d->w_out, j.P);
    j.tasks = d->n * d->groups * j.panels;
    j.slots = cj_min64(ctx->num_threads, j.tasks);
    j.weight_bytes = (size_t)(d->c_out * j.K) * d->elem;
    j.col_bytes = align64((size_t)(j.K * j.P) * d->elem);
    j.packed_bytes = align64(cj_packed_a_bytes(cfg, d->cout_g, j.P));
    j.slot_bytes = j.col_bytes + j.packed_bytes + align64(cj_gemm_scratch_bytes(cfg));
    j.partial_stride = align64(j.weight_bytes);
    const size_t partial_total = j.partial_stride * (size_t)(j.slots - 1);
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, partial_total + j.slot_bytes * (size_t)j.slots, &s));
    j.partials = s.ptr;
    j.slot_mem = (char *)s.ptr + partial_total;
    cj_parallel_for(ctx, (size_t)j.slots, bwd_weights_task, &j);
    if (j.slots > 1) {
        reduce_job r = {&j, d->c_out * j.K, ctx->num_threads};
        cj_parallel_for(ctx, (size_t)r.parts, reduce_task, &r);
    }
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}

const cj_algo cj_algo_im2col_gemm = {
    .id = CJ_ALGO_IM2COL_GEMM,
    .unsupported = im2col_unsupported,
    .forward = im2col_forward,
    .backward_data = im2col_backward_data,
    .backward_weights = im2col_backward_weights,
};
