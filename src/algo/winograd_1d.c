/* CJ_ALGO_WINOGRAD for kernels of one column or one row of 7 or 5 taps, stride 1 (winograd_1d.h):
 * Winograd F(2, 7) or F(4, 5) along the kernel's axis, tiles of m = 9 - r outputs on one line, 8
 * transform elements at the points 0, +-1, +-2, +-1/2, infinity (kernels/winograd_1d.h).
 *
 *   forward      V = B^T d (input windows), U = G g (weights),
 *                M_e (C_out/g x tiles) = U_e (C_out/g x C_in/g) * V_e (C_in/g x tiles), e = 0..7,
 *                out = A^T M + bias
 *   grad_input   the same over grad_output with the kernel reversed along its axis, channels
 *                swapped, padding r - 1 - pad along the axis and -pad across it (a crop)
 *   grad_weight  dW_e (C_out/g x C_in/g) += Z_e V_e^T with Z = A dY, summed over the batch, then
 *                dW = G^T dW_e (the adjoint of the forward map)
 *
 * The element-wise stage is 8 GEMMs per block of tiles where the direct sum takes r taps for each
 * of m outputs: 14 -> 8 multiplications per tile for 7 taps, 20 -> 8 for 5. In f32 the error
 * against the sum of |terms| stayed below 2e-6 in a float64 simulation (128-192 channels, uniform
 * inputs of either sign), far inside SPEC's 1e-4 for Winograd. Tiles of the whole batch are
 * numbered along the lines across the axis (consecutive tiles read at a fixed step, which the
 * transforms vectorise) and cut into blocks of NB; each thread slot transforms a block into its
 * own buffers, so scratch depends on the channels and NB, never on N. Each output element is made
 * by one task and each grad_weight sum in an order fixed by the thread count. */
#include <string.h>

#include "algo/winograd_1d.h"
#include "algo/winograd_shared.h"
#include "arch/cpu.h"
#include "gemm/gemm.h"
#include "kernels/winograd_1d.h"
#include "util/checked.h"
#include "util/error.h"

#define ELEMS CJ_WINO1D_ELEMS

/* The finite points; the eighth is infinity. */
static const double points[ELEMS - 1] = {0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5};

bool cj_winograd_1d_kernel(const cj_conv_desc *d) {
    const int64_t r = d->kh == 1 ? d->kw : d->kw == 1 ? d->kh : 0;
    return r == 7 || r == 5;
}

static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

/* ---- the axis, the weights' transform ---------------------------------------------------------- */

typedef struct {
    int vertical; /* an r x 1 kernel (else 1 x r) */
    int r, m;
} axis;

static axis axis_of(const cj_conv_desc *d) {
    axis a = {.vertical = d->kw == 1 && d->kh > 1};
    a.r = (int)(a.vertical ? d->kh : d->kw);
    a.m = ELEMS + 1 - a.r;
    return a;
}

/* A plane of h x w with windows offset (pad_h, pad_w) from their tiles' origins, along the axis. */
static cj_wino1d_geometry geometry(const axis *a, int64_t h, int64_t w, int64_t pad_h, int64_t pad_w) {
    return (cj_wino1d_geometry){h * w, h, w, pad_h, pad_w, a->vertical, !a->vertical, a->m};
}

/* A tile's extent: m outputs down a column kernel's axis, or across a row kernel's. */
static int64_t tile_rows(const axis *a) { return a->vertical ? a->m : 1; }
static int64_t tile_cols(const axis *a) { return a->vertical ? 1 : a->m; }

int64_t cj_winograd_1d_tiles(const cj_conv_desc *d) {
    const axis a = axis_of(d);
    return d->n * cj_div_up(d->h_out, tile_rows(&a)) * cj_div_up(d->w_out, tile_cols(&a));
}

/* G[e][t] = p_e^t / prod_{q != p_e} (p_e - q) for the finite points, G[7] = the last tap. */
static double g_coef(int e, int t, int r) {
    if (e == ELEMS - 1) return t == r - 1 ? 1.0 : 0.0;
    double f = 1.0, power = 1.0;
    for (int q = 0; q < ELEMS - 1; q++)
        if (q != e) f *= points[e] - points[q];
    for (int k = 0; k < t; k++) power *= points[e];
    return power / f;
}

static double load(const char *p, size_t elem, int64_t i) {
    return elem == sizeof(float) ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

static void store(char *p, size_t elem, int64_t i, double v) {
    if (elem == sizeof(float)) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

/* ---- forward and grad_input -------------------------------------------------------------------- */

/* One convolution dst = conv(src, kernel) (+ bias) along the axis: the forward pass, or grad_input
 * with src = grad_output and the reversed, transposed kernel. Per group, K source and M destination
 * channels. */
typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const cj_wino1d_transforms *tf;
    axis a;
    int rotate;                     /* grad_input: kernel[m][k] = w[k][m] reversed */
    const char *src, *w, *bias;
    char *dst;
    int64_t src_c, dst_c, K, M;
    cj_wino1d_geometry in_g, out_g; /* the source plane with the windows' padding; the destination */
    cj_wino_tiling t;
    int64_t tasks, slots;
    int64_t u_slots;                /* slots transforming the weights (make_u) */
    char *packed_u;                 /* per (group, element): U_e packed as GEMM A */
    size_t pu_bytes;
    char *slot_mem;                 /* per slot: V, M, tile list, GEMM buffer */
    size_t v_bytes, m_bytes, tile_bytes, slot_bytes;
    int64_t ve, me;                 /* element strides of V and M */
    int packed_v;                   /* V written as the GEMMs' packed B panels (cj_gemm_b_prepacked) */
    int64_t vpad;                   /* V's columns per row: nb, rounded up to NR when packed_v */
} conv_job;

static size_t packed_u_bytes(const conv_job *j) { return cj_wino_unaliased(cj_packed_a_bytes(j->cfg, j->M, j->K)); }

/* G as the weight transform takes it: coef[t*8 + e]. */
static void g_table(int r, double coef[7 * ELEMS]) {
    for (int t = 0; t < r; t++)
        for (int e = 0; e < ELEMS; e++) coef[t * ELEMS + e] = g_coef(e, t, r);
}

/* U_e[row][k] for rows [r0, r1) of every group (row = group * M + destination channel), KCHUNK
 * kernels at a time through the transforms' weight (vectorised over the 8 elements), then placed
 * in the packed A layout (cj_packed_a_at, walked slice by slice); rows past M in a panel stay
 * zero. Scalar sums over double coefficients had been a sixth of a 7x1 forward. */
#define KCHUNK 64
static void weight_rows(const conv_job *j, int64_t r0, int64_t r1) {
    const cj_conv_desc *d = j->d;
    const size_t elem = d->elem;
    const int r = j->a.r;
    const int64_t mr = j->cfg->mr, kc_max = j->cfg->kc, mpad = cj_round_up(j->M, mr);
    double coef[7 * ELEMS];
    g_table(r, coef);
    _Alignas(64) double u[KCHUNK * ELEMS]; /* KCHUNK kernels' 8 values, of the layer's dtype */
    for (int64_t row = r0; row < r1; row++) {
        const int64_t g = row / j->M, mo = row % j->M;
        char *group_u = j->packed_u + (size_t)(g * ELEMS) * j->pu_bytes;
        /* kernel k's taps: forward w[g*M + mo][k][t], grad_input w[g*K + k][mo][r - 1 - t] */
        const char *w0 = j->w + (size_t)(j->rotate ? (g * j->K * d->cin_g + mo) * r + r - 1
                                                    : (g * j->M + mo) * d->cin_g * r) * elem;
        const int64_t k_stride = j->rotate ? d->cin_g * r : r, t_stride = j->rotate ? -1 : 1;
        for (int64_t pc = 0; pc < j->K; pc += kc_max) {
            const int64_t kc = cj_min64(kc_max, j->K - pc);
            const int64_t at0 = pc * mpad + mo / mr * kc * mr + mo % mr; /* element (mo, pc) */
            for (int64_t k0 = pc; k0 < pc + kc; k0 += KCHUNK) {
                const int64_t count = cj_min64(KCHUNK, pc + kc - k0);
                j->tf->weight(w0 + (size_t)(k0 * k_stride) * elem, k_stride, t_stride, r, count, coef, u);
                for (int e = 0; e < ELEMS; e++) {
                    char *dst = group_u + (size_t)e * j->pu_bytes + (size_t)(at0 + (k0 - pc) * mr) * elem;
                    if (elem == sizeof(float))
                        for (int64_t k = 0; k < count; k++) ((float *)dst)[k * mr] = ((const float *)u)[k * ELEMS + e];
                    else
                        for (int64_t k = 0; k < count; k++) ((double *)dst)[k * mr] = u[k * ELEMS + e];
                }
            }
        }
    }
}

static void weight_task(void *arg, size_t slot) {
    const conv_job *j = arg;
    int64_t r0, r1;
    cj_split_range(j->d->groups * j->M, j->u_slots, (int64_t)slot, &r0, &r1);
    weight_rows(j, r0, r1);
}

/* Writes U of every group and element into j->packed_u (zeroed first: the panels' padding rows). */
static void make_u(cj_context *ctx, conv_job *j) {
    memset(j->packed_u, 0, j->pu_bytes * (size_t)(j->d->groups * ELEMS));
    j->u_slots = cj_max64(1, cj_min64(ctx->num_threads, j->d->groups * j->M));
    cj_parallel_for(ctx, (size_t)j->u_slots, weight_task, j);
}

static void conv_task(void *arg, size_t slot) {
    const conv_job *j = arg;
    const cj_conv_desc *d = j->d;
    const size_t elem = d->elem;
    const int64_t nb = j->t.nb, src_plane = j->in_g.plane, dst_plane = j->out_g.plane;
    char *V = j->slot_mem + slot * j->slot_bytes, *Mbuf = V + j->v_bytes;
    cj_wino_tile *tiles = (cj_wino_tile *)(Mbuf + j->m_bytes);
    char *gemm_scratch = (char *)tiles + j->tile_bytes;
    int64_t t0, t1;
    cj_split_range(j->tasks, j->slots, (int64_t)slot, &t0, &t1);
    for (int64_t t = t0; t < t1; t++) {
        const int64_t b = t / d->groups, g = t % d->groups;
        const int64_t count = cj_wino_block_tiles(&j->t, b, j->src_c * src_plane, j->dst_c * dst_plane, tiles);
        const cj_wino_layout vl = {.ld_e = j->ve, .ld_c = j->vpad, .gemm = j->packed_v ? j->cfg : NULL, .k = j->K};
        j->tf->input(j->src + (size_t)(g * j->K * src_plane) * elem, &j->in_g, j->K, tiles, count, V, &vl);
        for (int e = 0; e < ELEMS; e++) {
            const cj_packed_a pa = {j->packed_u + (size_t)(g * ELEMS + e) * j->pu_bytes, j->M, j->K, 0, NULL};
            const char *ve = V + (size_t)(e * j->ve) * elem;
            const cj_gemm_b vb = j->packed_v ? cj_gemm_b_prepacked(d->dtype, ve, j->vpad)
                                             : cj_gemm_b_strided(d->dtype, ve, j->vpad, 1);
            cj_gemm(j->cfg, &pa, &vb, 0, count, Mbuf + (size_t)(e * j->me) * elem, nb, 0, gemm_scratch);
        }
        const char *bias = j->bias ? j->bias + (size_t)(g * j->M) * elem : NULL;
        j->tf->output(Mbuf, j->me, nb, j->M, tiles, count, bias, j->dst + (size_t)(g * j->M * dst_plane) * elem,
                      &j->out_g);
    }
}

/* The job's sizes and geometry, from its channels, planes and the windows' padding. */
static void setup(conv_job *j, int64_t src_h, int64_t src_w, int64_t dst_h, int64_t dst_w, int64_t pad_h,
                  int64_t pad_w) {
    const cj_conv_desc *d = j->d;
    j->cfg = cj_gemm_config_get(d->dtype);
    j->tf = cj_wino1d_transforms_get(d->dtype);
    j->a = axis_of(d);
    j->in_g = geometry(&j->a, src_h, src_w, pad_h, pad_w);
    j->out_g = geometry(&j->a, dst_h, dst_w, 0, 0);
    j->pu_bytes = packed_u_bytes(j);
}

static cj_status run_conv(cj_context *ctx, conv_job *j, const void *prepared_u) {
    const cj_conv_desc *d = j->d;
    const size_t elem = d->elem;
    j->t = cj_wino_make_tiling(d->n, j->out_g.h, j->out_g.w, tile_rows(&j->a), tile_cols(&j->a), d->groups,
                               ELEMS * (size_t)(j->K + j->M) * elem, j->cfg->nr, 4, ctx->num_threads);
    j->tasks = j->t.blocks * d->groups;
    j->slots = cj_max64(1, cj_min64(ctx->num_threads, j->tasks));
    /* The input transform writes the GEMMs' B panels where it can: each GEMM otherwise packs its V_e
     * (6% of a 7x1 forward). */
    j->packed_v = j->tf->panels && j->cfg->nr % 16 == 0;
    j->vpad = j->packed_v ? cj_round_up(j->t.nb, j->cfg->nr) : j->t.nb;
    j->ve = cj_wino_unaliased_elems(j->K * j->vpad, elem);
    j->me = cj_wino_unaliased_elems(j->M * j->t.nb, elem);
    j->v_bytes = align64(ELEMS * (size_t)j->ve * elem);
    j->m_bytes = align64(ELEMS * (size_t)j->me * elem);
    j->tile_bytes = align64(sizeof(cj_wino_tile) * (size_t)j->t.nb);
    j->slot_bytes = j->v_bytes + j->m_bytes + j->tile_bytes + align64(cj_gemm_scratch_bytes(j->cfg));
    const size_t u_total = prepared_u ? 0 : j->pu_bytes * (size_t)(d->groups * ELEMS);
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, u_total + j->slot_bytes * (size_t)j->slots, &s));
    j->packed_u = prepared_u ? (char *)prepared_u : s.ptr;
    j->slot_mem = (char *)s.ptr + u_total;
    if (!prepared_u) make_u(ctx, j);
    cj_parallel_for(ctx, (size_t)j->slots, conv_task, j);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}

static conv_job forward_job(const cj_conv_desc *d, const void *in, const void *w, const void *bias, void *out) {
    conv_job j = {.d = d, .rotate = 0, .src = in, .w = w, .bias = bias, .dst = out, .src_c = d->c_in,
                  .dst_c = d->c_out, .K = d->cin_g, .M = d->cout_g};
    setup(&j, d->h_in, d->w_in, d->h_out, d->w_out, d->pad_h, d->pad_w);
    return j;
}

cj_status cj_winograd_1d_forward(cj_context *ctx, const cj_conv_desc *d, const void *in, const void *w,
                                 const void *prepared_u, const void *bias, void *out) {
    conv_job j = forward_job(d, in, w, bias, out);
    return run_conv(ctx, &j, prepared_u);
}

size_t cj_winograd_1d_prepared_bytes(const cj_conv_desc *d) {
    const conv_job j = forward_job(d, NULL, NULL, NULL, NULL);
    return j.pu_bytes * (size_t)(d->groups * ELEMS);
}

void cj_winograd_1d_prepare(cj_context *ctx, const cj_conv_desc *d, const void *w, void *prepared) {
    conv_job j = forward_job(d, NULL, w, NULL, NULL);
    j.packed_u = prepared;
    make_u(ctx, &j);
}

/* grad_in[c][y][x] = sum_k,t dY[k][y + pad_h - t][x] w[k][c][t] (a column kernel; a row one
 * likewise along x): the correlation of dY with the reversed kernel at padding r - 1 - pad along
 * the axis, and -pad across it (row y of grad_in reads row y + pad_h of dY). */
cj_status cj_winograd_1d_backward_data(cj_context *ctx, const cj_conv_desc *d, const void *grad_out, const void *w,
                                       void *grad_in) {
    conv_job j = {.d = d, .rotate = 1, .src = grad_out, .w = w, .bias = NULL, .dst = grad_in, .src_c = d->c_out,
                  .dst_c = d->c_in, .K = d->cout_g, .M = d->cin_g};
    const axis a = axis_of(d);
    const int64_t pad_h = a.vertical ? a.r - 1 - d->pad_h : -d->pad_h;
    const int64_t pad_w = a.vertical ? -d->pad_w : a.r - 1 - d->pad_w;
    setup(&j, d->h_out, d->w_out, d->h_in, d->w_in, pad_h, pad_w);
    return run_conv(ctx, &j, NULL);
}

/* ---- grad_weight ------------------------------------------------------------------------------- */

typedef struct {
    const cj_conv_desc *d;
    const cj_gemm_config *cfg;
    const cj_wino1d_transforms *tf;
    axis a;
    const char *in, *grad_out;
    char *grad_w;
    cj_wino1d_geometry in_g, out_g;
    cj_wino_tiling t;
    int64_t parts;                    /* accumulators: one per slot, each over its range of blocks */
    char *acc;                        /* per part: [group][element][C_out/g][C_in/g] */
    size_t acc_bytes;
    char *slot_mem;                   /* per slot: V, Z, packed Z_e, tile list, GEMM buffer */
    size_t v_bytes, z_bytes, pz_bytes, tile_bytes, slot_bytes;
    int64_t ve, ze;
} wgrad_job;

/* Block b's contribution to every group's accumulator in acc (accumulate: add to it). */
static void wgrad_block(const wgrad_job *j, int64_t b, char *acc, int accumulate, char *V, char *Z, char *pz,
                        cj_wino_tile *tiles, void *gemm_scratch) {
    const cj_conv_desc *d = j->d;
    const size_t elem = d->elem;
    const int64_t nb = j->t.nb, M = d->cout_g, K = d->cin_g;
    const int64_t count = cj_wino_block_tiles(&j->t, b, d->c_in * j->in_g.plane, d->c_out * j->out_g.plane, tiles);
    for (int64_t g = 0; g < d->groups; g++) {
        j->tf->grad_output(j->grad_out + (size_t)(g * M * j->out_g.plane) * elem, &j->out_g, M, tiles, count, Z,
                           j->ze, nb);
        const cj_wino_layout vl = {.ld_e = j->ve, .ld_c = nb};
        j->tf->input(j->in + (size_t)(g * K * j->in_g.plane) * elem, &j->in_g, K, tiles, count, V, &vl);
        for (int e = 0; e < ELEMS; e++) {
            const cj_packed_a pa = cj_wino_z_matrix(j->cfg, Z + (size_t)(e * j->ze) * elem, M, count, nb, pz);
            /* B = V_e^T: element (tile, channel) at V_e[channel * nb + tile] */
            const cj_gemm_b vt = cj_gemm_b_strided(d->dtype, V + (size_t)(e * j->ve) * elem, 1, nb);
            cj_gemm(j->cfg, &pa, &vt, 0, K, acc + (size_t)((g * ELEMS + e) * M * K) * elem, K, accumulate,
                    gemm_scratch);
        }
    }
}

static void wgrad_task(void *arg, size_t slot) {
    const wgrad_job *j = arg;
    char *V = j->slot_mem + slot * j->slot_bytes, *Z = V + j->v_bytes, *pz = Z + j->z_bytes;
    cj_wino_tile *tiles = (cj_wino_tile *)(pz + j->pz_bytes);
    char *gemm_scratch = (char *)tiles + j->tile_bytes;
    int64_t b0, b1;
    cj_split_range(j->t.blocks, j->parts, (int64_t)slot, &b0, &b1);
    for (int64_t b = b0; b < b1; b++)
        wgrad_block(j, b, j->acc + slot * j->acc_bytes, b > b0, V, Z, pz, tiles, gemm_scratch);
}

typedef struct {
    const wgrad_job *j;
    int64_t parts;
} finish_job;

/* grad_w[row][k][t] = sum_e G[e][t] * (the parts' dW_e[row][k], added in order). */
static void finish_task(void *arg, size_t part) {
    const finish_job *f = arg;
    const wgrad_job *j = f->j;
    const cj_conv_desc *d = j->d;
    const size_t elem = d->elem;
    const int64_t M = d->cout_g, K = d->cin_g, r = j->a.r;
    double coef[7 * ELEMS];
    g_table((int)r, coef);
    int64_t r0, r1;
    cj_split_range(d->c_out, f->parts, (int64_t)part, &r0, &r1);
    for (int64_t row = r0; row < r1; row++) {
        const int64_t g = row / M, mo = row % M;
        for (int64_t k = 0; k < K; k++) {
            double dw[ELEMS];
            for (int e = 0; e < ELEMS; e++) {
                const int64_t at = ((g * ELEMS + e) * M + mo) * K + k;
                dw[e] = load(j->acc, elem, at);
                for (int64_t p = 1; p < j->parts; p++)
                    dw[e] += load(j->acc + (size_t)p * j->acc_bytes, elem, at);
            }
            for (int64_t t = 0; t < r; t++) {
                double v = 0.0;
                for (int e = 0; e < ELEMS; e++)
                    if (coef[t * ELEMS + e] != 0.0) v += coef[t * ELEMS + e] * dw[e];
                store(j->grad_w, elem, (row * K + k) * r + t, v);
            }
        }
    }
}

cj_status cj_winograd_1d_backward_weights(cj_context *ctx, const cj_conv_desc *d, const void *in,
                                          const void *grad_out, void *grad_w) {
    const size_t elem = d->elem;
    wgrad_job j = {.d = d, .in = in, .grad_out = grad_out, .grad_w = grad_w};
    j.cfg = cj_gemm_config_get(d->dtype);
    j.tf = cj_wino1d_transforms_get(d->dtype);
    j.a = axis_of(d);
    j.in_g = geometry(&j.a, d->h_in, d->w_in, d->pad_h, d->pad_w);
    j.out_g = geometry(&j.a, d->h_out, d->w_out, 0, 0);
    /* NB is the GEMMs' depth here: deeper blocks amortise the accumulator's trips through cache. */
    j.t = cj_wino_make_tiling(d->n, d->h_out, d->w_out, tile_rows(&j.a), tile_cols(&j.a), 1,
                              ELEMS * (size_t)(d->cin_g + d->cout_g) * elem, j.cfg->nr, 8, ctx->num_threads);
    /* Each slot sums a fixed range of blocks into its own accumulator; the parts are added in order. */
    j.parts = cj_max64(1, cj_min64(ctx->num_threads, j.t.blocks));
    j.acc_bytes = align64(ELEMS * (size_t)(d->c_out * d->cin_g) * elem);
    j.ve = cj_wino_unaliased_elems(d->cin_g * j.t.nb, elem);
    j.ze = cj_wino_unaliased_elems(d->cout_g * j.t.nb, elem);
    j.v_bytes = align64(ELEMS * (size_t)j.ve * elem);
    j.z_bytes = align64(ELEMS * (size_t)j.ze * elem);
    j.pz_bytes = cj_wino_z_matrix_bytes(j.cfg, d->cout_g, j.t.nb);
    j.tile_bytes = align64(sizeof(cj_wino_tile) * (size_t)j.t.nb);
    j.slot_bytes = j.v_bytes + j.z_bytes + j.pz_bytes + j.tile_bytes + align64(cj_gemm_scratch_bytes(j.cfg));
    const size_t acc_total = j.acc_bytes * (size_t)j.parts;
    cj_scratch s;
    CJ_FORWARD(cj_scratch_acquire(ctx, acc_total + j.slot_bytes * (size_t)j.parts, &s));
    j.acc = s.ptr;
    j.slot_mem = (char *)s.ptr + acc_total;
    cj_parallel_for(ctx, (size_t)j.parts, wgrad_task, &j);
    finish_job f = {&j, cj_min64(ctx->num_threads, d->c_out)};
    cj_parallel_for(ctx, (size_t)f.parts, finish_task, &f);
    cj_scratch_release(ctx, &s);
    return CJ_OK;
}
