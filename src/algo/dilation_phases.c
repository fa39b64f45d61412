/* Dilated stride-1 convolutions over phase images (see dilation_phases.h). The moves between the
 * tensors and the phase batch go through per-axis maps: a gather writes every element of the
 * phase images from the map of its row and column (-1: zero), a scatter every element of the
 * tensor from the phase and phase row of its row and column, so neither needs a zeroing pass. */
#include "algo/dilation_phases.h"

#include "api/context.h"
#include "util/checked.h"
#include "util/error.h"

cj_conv_desc cj_phase_desc(const cj_conv_desc *d) {
    cj_conv_desc s = *d;
    s.n = d->n * d->dil_h * d->dil_w;
    s.h_out = cj_div_up(d->h_out, d->dil_h);
    s.w_out = cj_div_up(d->w_out, d->dil_w);
    s.h_in = s.h_out + d->kh - 1;
    s.w_in = s.w_out + d->kw - 1;
    s.pad_h = s.pad_w = 0;
    s.dil_h = s.dil_w = 1;
    return s;
}

/* One axis's maps (tensor extents len in, out_len out; dil phases; padding pad; sub_in / sub_out
 * positions per phase image). Phase image p's input position r reads tensor position p - pad +
 * dil * r (output p + dil * a reads it at tap i for r = a + i), its output position a is tensor
 * position p + dil * a; so tensor input position y is phase (y + pad) % dil's position
 * (y + pad) / dil, and output position y phase y % dil's position y / dil. */
typedef struct {
    int64_t *gather_in, *gather_out;   /* [p * sub + r]: the tensor position, -1 outside it */
    int64_t *scatter_in, *scatter_out; /* [2 * y], [2 * y + 1]: phase and position, -1 in none */
} axis_maps;

/* Elements of one axis's maps. */
static int64_t axis_elems(int64_t len, int64_t out_len, int64_t dil, int64_t sub_in, int64_t sub_out) {
    return dil * (sub_in + sub_out) + 2 * (len + out_len);
}

static void phase_maps(int64_t len, int64_t out_len, int64_t dil, int64_t pad, int64_t sub_in, int64_t sub_out,
                       int64_t *mem, axis_maps *m) {
    m->gather_in = mem;
    m->gather_out = m->gather_in + dil * sub_in;
    m->scatter_in = m->gather_out + dil * sub_out;
    m->scatter_out = m->scatter_in + 2 * len;
    for (int64_t p = 0; p < dil; p++) {
        for (int64_t r = 0; r < sub_in; r++) {
            const int64_t at = p - pad + dil * r;
            m->gather_in[p * sub_in + r] = at >= 0 && at < len ? at : -1;
        }
        for (int64_t a = 0; a < sub_out; a++) {
            const int64_t at = p + dil * a;
            m->gather_out[p * sub_out + a] = at < out_len ? at : -1;
        }
    }
    for (int64_t y = 0; y < len; y++) {
        const int64_t r = (y + pad) / dil, in = r < sub_in; /* past the last phase row: read by no output */
        m->scatter_in[2 * y] = in ? (y + pad) % dil : -1;
        m->scatter_in[2 * y + 1] = in ? r : -1;
    }
    for (int64_t y = 0; y < out_len; y++) {
        m->scatter_out[2 * y] = y % dil;
        m->scatter_out[2 * y + 1] = y / dil;
    }
}

typedef struct {
    const cj_conv_desc *d;
    cj_conv_desc s;
    axis_maps rows, cols;
    /* one move: the phase batch's planes (channels per image ch, extents sh x sw) and the
     * tensor's (extents th x tw); rmap / cmap: the axis maps of its side and direction */
    const char *from;
    char *to;
    int64_t ch, sh, sw, th, tw;
    const int64_t *rmap, *cmap;
    int gather; /* 1: tensor -> phase images; 0: phase images -> tensor */
    int64_t slots;
} phase_job;

#define DEFINE_MOVES(T, sfx)                                                                        \
    /* Phase plane u = ((n * dh + p) * dw + q) * ch + c, from the tensor's plane n * ch + c. */     \
    static void gather_plane_##sfx(const phase_job *j, int64_t u) {                                \
        const int64_t dh = j->d->dil_h, dw = j->d->dil_w, c = u % j->ch, b = u / j->ch;            \
        const int64_t q = b % dw, p = b / dw % dh, n = b / (dh * dw);                              \
        const T *src = (const T *)j->from + (n * j->ch + c) * j->th * j->tw;                       \
        T *dst = (T *)j->to + u * j->sh * j->sw;                                                   \
        const int64_t *rmap = j->rmap + p * j->sh, *cmap = j->cmap + q * j->sw;                    \
        for (int64_t r = 0; r < j->sh; r++, dst += j->sw) {                                        \
            if (rmap[r] < 0) {                                                                     \
                for (int64_t x = 0; x < j->sw; x++) dst[x] = 0;                                    \
                continue;                                                                          \
            }                                                                                      \
            const T *row = src + rmap[r] * j->tw;                                                  \
            for (int64_t x = 0; x < j->sw; x++) dst[x] = cmap[x] < 0 ? (T)0 : row[cmap[x]];        \
        }                                                                                          \
    }                                                                                              \
    /* The tensor's plane u = n * ch + c: each element from the phase image that holds it (0 where \
     * none does). */                                                                             \
    static void scatter_plane_##sfx(const phase_job *j, int64_t u) {                               \
        const int64_t dh = j->d->dil_h, dw = j->d->dil_w, n = u / j->ch, c = u % j->ch;            \
        T *dst = (T *)j->to + u * j->th * j->tw;                                                   \
        for (int64_t y = 0; y < j->th; y++, dst += j->tw) {                                        \
            const int64_t p = j->rmap[2 * y], r = j->rmap[2 * y + 1];                              \
            for (int64_t x = 0; x < j->tw; x++) {                                                  \
                const int64_t q = j->cmap[2 * x], s = j->cmap[2 * x + 1];                          \
                dst[x] = p < 0 || q < 0 ? (T)0                                                     \
                                        : ((const T *)j->from)[((((n * dh + p) * dw + q) * j->ch + c) * j->sh + r) * j->sw + s]; \
            }                                                                                      \
        }                                                                                          \
    }
DEFINE_MOVES(float, f32)
DEFINE_MOVES(double, f64)

static void move_task(void *arg, size_t slot) {
    phase_job *j = arg;
    const bool f64 = j->d->dtype == CJ_F64;
    const int64_t planes = j->gather ? j->s.n * j->ch : j->d->n * j->ch;
    int64_t u0, u1;
    cj_split_range(planes, j->slots, (int64_t)slot, &u0, &u1);
    if (j->gather) {
        for (int64_t u = u0; u < u1; u++) f64 ? gather_plane_f64(j, u) : gather_plane_f32(j, u);
        return;
    }
    for (int64_t u = u0; u < u1; u++) f64 ? scatter_plane_f64(j, u) : scatter_plane_f32(j, u);
}

/* Tensor <-> phase batch for one tensor: the input side (ch channels, the input's extents and
 * maps) or the output side. */
static void move(cj_context *ctx, phase_job *j, bool input_side, int64_t ch, const void *from, void *to, int gather) {
    const cj_conv_desc *d = j->d;
    j->ch = ch;
    j->sh = input_side ? j->s.h_in : j->s.h_out;
    j->sw = input_side ? j->s.w_in : j->s.w_out;
    j->th = input_side ? d->h_in : d->h_out;
    j->tw = input_side ? d->w_in : d->w_out;
    j->from = from;
    j->to = to;
    j->gather = gather;
    j->rmap = gather ? (input_side ? j->rows.gather_in : j->rows.gather_out)
                     : (input_side ? j->rows.scatter_in : j->rows.scatter_out);
    j->cmap = gather ? (input_side ? j->cols.gather_in : j->cols.gather_out)
                     : (input_side ? j->cols.scatter_in : j->cols.scatter_out);
    j->slots = cj_min64(ctx->num_threads, cj_max64(1, (gather ? j->s.n : d->n) * ch));
    cj_parallel_for(ctx, (size_t)j->slots, move_task, j);
}

/* The job and its maps, and one block for them and the two phase tensors (a_elems + b_elems
 * elements). */
static cj_status phase_init(cj_context *ctx, phase_job *j, const cj_conv_desc *d, int64_t a_elems, int64_t b_elems,
                            cj_scratch *block, char **a, char **b) {
    *j = (phase_job){.d = d, .s = cj_phase_desc(d)};
    const int64_t dh = d->dil_h, dw = d->dil_w;
    const int64_t row_elems = axis_elems(d->h_in, d->h_out, dh, j->s.h_in, j->s.h_out);
    const int64_t map_elems = row_elems + axis_elems(d->w_in, d->w_out, dw, j->s.w_in, j->s.w_out);
    size_t tensors, total;
    CJ_FAIL_IF(!cj_size_mad((size_t)a_elems + (size_t)b_elems, d->elem, 0, &tensors) ||
                   !cj_size_mad((size_t)map_elems, sizeof(int64_t), tensors + 64, &total),
               CJ_ERR_OUT_OF_MEMORY, "dilated convolution: the phase buffers' size overflows");
    CJ_FORWARD(cj_scratch_acquire(ctx, total, block));
    *a = block->ptr;
    *b = *a + (size_t)a_elems * d->elem;
    int64_t *maps = (int64_t *)((char *)block->ptr + (tensors + 63) / 64 * 64);
    phase_maps(d->h_in, d->h_out, dh, d->pad_h, j->s.h_in, j->s.h_out, maps, &j->rows);
    phase_maps(d->w_in, d->w_out, dw, d->pad_w, j->s.w_in, j->s.w_out, maps + row_elems, &j->cols);
    return CJ_OK;
}

static int64_t input_elems(const cj_conv_desc *s) { return s->n * s->c_in * s->h_in * s->w_in; }
static int64_t output_elems(const cj_conv_desc *s) { return s->n * s->c_out * s->h_out * s->w_out; }

/* Phase tensors of at most this many bytes: the batch goes in chunks of images, so that the
 * scratch does not grow with N (at least one image a chunk). */
#define CHUNK_BYTES ((int64_t)32 << 20)

/* Images per chunk. */
static int64_t chunk_images(const cj_conv_desc *d) {
    cj_conv_desc one = *d;
    one.n = 1;
    const cj_conv_desc s = cj_phase_desc(&one);
    const int64_t per_image = (input_elems(&s) + output_elems(&s)) * (int64_t)d->elem;
    return cj_max64(1, cj_min64(d->n, CHUNK_BYTES / cj_max64(1, per_image)));
}

/* A pass's phase tensors and its walk through the batch in chunks. */
typedef struct {
    phase_job j;
    cj_scratch block;
    cj_conv_desc part;            /* the current chunk's problem */
    char *in_side, *out_side;     /* phase tensors: input / grad_input, output / grad_output */
    char *extra;                  /* after out_side: the extra elements phases_begin was asked for */
    int64_t step, in_image, out_image; /* images per chunk; elements per image of the tensors */
} phases;

/* extra_when_chunked: elements to allocate after the output side when the batch takes several
 * chunks. */
static cj_status phases_begin(cj_context *ctx, const cj_conv_desc *d, int64_t extra_when_chunked, phases *ph) {
    ph->part = *d;
    ph->part.n = ph->step = chunk_images(d);
    const int64_t extra_elems = ph->step < d->n ? extra_when_chunked : 0;
    ph->in_image = d->c_in * d->h_in * d->w_in;
    ph->out_image = d->c_out * d->h_out * d->w_out;
    const cj_conv_desc s = cj_phase_desc(&ph->part);
    CJ_FORWARD(phase_init(ctx, &ph->j, &ph->part, input_elems(&s), output_elems(&s) + extra_elems, &ph->block,
                          &ph->in_side, &ph->out_side));
    ph->extra = ph->out_side + (size_t)output_elems(&s) * d->elem;
    return CJ_OK;
}

/* Points the job at the chunk of images from n0. */
static void phases_chunk(phases *ph, const cj_conv_desc *d, int64_t n0) {
    ph->part.n = cj_min64(ph->step, d->n - n0);
    ph->j.d = &ph->part;
    ph->j.s = cj_phase_desc(&ph->part);
}

/* Image n0 of a tensor of per_image elements an image. */
static char *image_at(const void *t, int64_t n0, int64_t per_image, size_t elem) {
    return (char *)t + (size_t)(n0 * per_image) * elem;
}

cj_status cj_phases_forward(const cj_algo *inner, cj_context *ctx, const cj_conv_desc *d, const void *in,
                            const void *w, const void *prepared, const void *bias, void *out) {
    phases ph;
    CJ_FORWARD(phases_begin(ctx, d, 0, &ph));
    cj_status st = CJ_OK;
    for (int64_t n0 = 0; n0 < d->n && st == CJ_OK; n0 += ph.step) {
        phases_chunk(&ph, d, n0);
        move(ctx, &ph.j, true, d->c_in, image_at(in, n0, ph.in_image, d->elem), ph.in_side, 1);
        st = prepared ? inner->forward_prepared(ctx, &ph.j.s, ph.in_side, w, prepared, bias, ph.out_side)
                      : inner->forward(ctx, &ph.j.s, ph.in_side, w, bias, ph.out_side);
        if (st == CJ_OK)
            move(ctx, &ph.j, false, d->c_out, ph.out_side, image_at(out, n0, ph.out_image, d->elem), 0);
    }
    cj_scratch_release(ctx, &ph.block);
    return st;
}

cj_status cj_phases_backward_data(const cj_algo *inner, cj_context *ctx, const cj_conv_desc *d,
                                  const void *grad_out, const void *w, void *grad_in) {
    phases ph;
    CJ_FORWARD(phases_begin(ctx, d, 0, &ph));
    cj_status st = CJ_OK;
    for (int64_t n0 = 0; n0 < d->n && st == CJ_OK; n0 += ph.step) {
        phases_chunk(&ph, d, n0);
        move(ctx, &ph.j, false, d->c_out, image_at(grad_out, n0, ph.out_image, d->elem), ph.out_side, 1);
        st = inner->backward_data(ctx, &ph.j.s, ph.out_side, w, ph.in_side);
        if (st == CJ_OK)
            move(ctx, &ph.j, true, d->c_in, ph.in_side, image_at(grad_in, n0, ph.in_image, d->elem), 0);
    }
    cj_scratch_release(ctx, &ph.block);
    return st;
}

/* sum[i] += part[i] */
static void add_weights(const cj_conv_desc *d, void *sum, const void *part, int64_t count) {
    if (d->dtype == CJ_F64)
        for (int64_t i = 0; i < count; i++) ((double *)sum)[i] += ((const double *)part)[i];
    else
        for (int64_t i = 0; i < count; i++) ((float *)sum)[i] += ((const float *)part)[i];
}

/* Chunks after the first add their sums (in the extra elements) into grad_w in chunk order: the
 * bits do not depend on the thread count. */
cj_status cj_phases_backward_weights(const cj_algo *inner, cj_context *ctx, const cj_conv_desc *d, const void *in,
                                     const void *grad_out, void *grad_w) {
    const int64_t weights = d->c_out * d->cin_g * d->kh * d->kw;
    phases ph;
    CJ_FORWARD(phases_begin(ctx, d, weights, &ph));
    cj_status st = CJ_OK;
    for (int64_t n0 = 0; n0 < d->n && st == CJ_OK; n0 += ph.step) {
        phases_chunk(&ph, d, n0);
        move(ctx, &ph.j, true, d->c_in, image_at(in, n0, ph.in_image, d->elem), ph.in_side, 1);
        move(ctx, &ph.j, false, d->c_out, image_at(grad_out, n0, ph.out_image, d->elem), ph.out_side, 1);
        st = inner->backward_weights(ctx, &ph.j.s, ph.in_side, ph.out_side, n0 == 0 ? grad_w : ph.extra);
        if (st == CJ_OK && n0 > 0) add_weights(d, grad_w, ph.extra, weights);
    }
    cj_scratch_release(ctx, &ph.block);
    return st;
}
