/* Peer: im2col + OpenBLAS GEMM, the classic Caffe-style convolution. One image's im2col matrix
 * [C*kh*kw, out_h*out_w] at a time, one GEMM per group; OpenBLAS threads the GEMMs. */
#ifdef CJ_HAVE_OPENBLAS
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peers.h"

typedef struct blas_state blas_state;
struct blas_state {
    bench_problem p;
    int (*run)(blas_state *s);
    void *col;        /* one image's im2col matrix */
    void *result;     /* output (fwd), grad_input (bwd_data) or grad_weight (bwd_weights) */
    void *grad_bias;  /* bwd_weights */
};

/* The geometry of one group's GEMMs. */
typedef struct blas_dims {
    int64_t kg, ckk, hw;  /* output channels per group, rows of the im2col matrix per group, pixels */
} blas_dims;

static blas_dims dims_of(const bench_layer *l)
{
    blas_dims d = {l->k / l->groups, (l->c / l->groups) * l->kh * l->kw, l->out_h * l->out_w};
    return d;
}

/* The typed code, once per dtype. */
#define DEFINE_BLAS_PEER(T, SFX, GEMM)                                                                  \
    /* col[(c*kh + i)*kw + j][y*out_w + x] = img[c][y*sh - ph + i*dil][x*sw - pw + j*dil], 0 outside */ \
    static void im2col_##SFX(const bench_layer *l, const T *img, T *col)                                \
    {                                                                                                   \
        for (int64_t c = 0; c < l->c; c++)                                                              \
            for (int64_t i = 0; i < l->kh; i++)                                                         \
                for (int64_t j = 0; j < l->kw; j++)                                                     \
                    for (int64_t y = 0; y < l->out_h; y++) {                                            \
                        int64_t iy = y * l->stride_h - l->pad_h + i * l->dil;                           \
                        T *dst = col + (((c * l->kh + i) * l->kw + j) * l->out_h + y) * l->out_w;       \
                        if (iy < 0 || iy >= l->h) {                                                     \
                            memset(dst, 0, (size_t)l->out_w * sizeof(T));                               \
                            continue;                                                                   \
                        }                                                                               \
                        const T *src = img + (c * l->h + iy) * l->w;                                    \
                        for (int64_t x = 0; x < l->out_w; x++) {                                        \
                            int64_t ix = x * l->stride_w - l->pad_w + j * l->dil;                       \
                            dst[x] = ix >= 0 && ix < l->w ? src[ix] : (T)0;                             \
                        }                                                                               \
                    }                                                                                   \
    }                                                                                                   \
    /* The adjoint of im2col: img += scatter(col). */                                                  \
    static void col2im_##SFX(const bench_layer *l, const T *col, T *img)                                \
    {                                                                                                   \
        for (int64_t c = 0; c < l->c; c++)                                                              \
            for (int64_t i = 0; i < l->kh; i++)                                                         \
                for (int64_t j = 0; j < l->kw; j++)                                                     \
                    for (int64_t y = 0; y < l->out_h; y++) {                                            \
                        int64_t iy = y * l->stride_h - l->pad_h + i * l->dil;                           \
                        if (iy < 0 || iy >= l->h)                                                       \
                            continue;                                                                   \
                        const T *src = col + (((c * l->kh + i) * l->kw + j) * l->out_h + y) * l->out_w; \
                        T *dst = img + (c * l->h + iy) * l->w;                                          \
                        for (int64_t x = 0; x < l->out_w; x++) {                                        \
                            int64_t ix = x * l->stride_w - l->pad_w + j * l->dil;                       \
                            if (ix >= 0 && ix < l->w)                                                   \
                                dst[ix] += src[x];                                                      \
                        }                                                                               \
                    }                                                                                   \
    }                                                                                                   \
    static int fwd_##SFX(blas_state *s)                                                                 \
    {                                                                                                   \
        const bench_layer *l = s->p.layer;                                                              \
        blas_dims d = dims_of(l);                                                                       \
        const T *x = s->p.input, *w = s->p.weight, *b = s->p.bias;                                      \
        T *y = s->result, *col = s->col;                                                                \
        for (int64_t n = 0; n < l->n; n++) {                                                            \
            T *yn = y + n * l->k * d.hw;                                                                \
            im2col_##SFX(l, x + n * l->c * l->h * l->w, col);                                           \
            /* the bias goes in first, the GEMM adds onto it (beta = 1) */                              \
            for (int64_t k = 0; k < l->k; k++)                                                          \
                for (int64_t q = 0; q < d.hw; q++)                                                      \
                    yn[k * d.hw + q] = b[k];                                                            \
            for (int64_t g = 0; g < l->groups; g++)                                                     \
                GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, d.kg, d.hw, d.ckk, 1, w + g * d.kg * d.ckk, \
                     d.ckk, col + g * d.ckk * d.hw, d.hw, 1, yn + g * d.kg * d.hw, d.hw);               \
        }                                                                                               \
        return 0;                                                                                       \
    }                                                                                                   \
    static int bwd_data_##SFX(blas_state *s)                                                            \
    {                                                                                                   \
        const bench_layer *l = s->p.layer;                                                              \
        blas_dims d = dims_of(l);                                                                       \
        const T *w = s->p.weight, *dy = s->p.grad_output;                                               \
        T *dx = s->result, *col = s->col;                                                               \
        for (int64_t n = 0; n < l->n; n++) {                                                            \
            const T *dyn = dy + n * l->k * d.hw;                                                        \
            for (int64_t g = 0; g < l->groups; g++)                                                     \
                GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, d.ckk, d.hw, d.kg, 1, w + g * d.kg * d.ckk, \
                     d.ckk, dyn + g * d.kg * d.hw, d.hw, 0, col + g * d.ckk * d.hw, d.hw);              \
            T *dxn = dx + n * l->c * l->h * l->w;                                                       \
            memset(dxn, 0, (size_t)(l->c * l->h * l->w) * sizeof(T));                                   \
            col2im_##SFX(l, col, dxn);                                                                  \
        }                                                                                               \
        return 0;                                                                                       \
    }                                                                                                   \
    static int bwd_weights_##SFX(blas_state *s)                                                         \
    {                                                                                                   \
        const bench_layer *l = s->p.layer;                                                              \
        blas_dims d = dims_of(l);                                                                       \
        const T *x = s->p.input, *dy = s->p.grad_output;                                                \
        T *dw = s->result, *db = s->grad_bias, *col = s->col;                                           \
        memset(dw, 0, bench_elems_weight(l) * sizeof(T));                                               \
        memset(db, 0, (size_t)l->k * sizeof(T));                                                        \
        for (int64_t n = 0; n < l->n; n++) {                                                            \
            const T *dyn = dy + n * l->k * d.hw;                                                        \
            im2col_##SFX(l, x + n * l->c * l->h * l->w, col);                                           \
            for (int64_t g = 0; g < l->groups; g++)                                                     \
                GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, d.kg, d.ckk, d.hw, 1, dyn + g * d.kg * d.hw, \
                     d.hw, col + g * d.ckk * d.hw, d.hw, 1, dw + g * d.kg * d.ckk, d.ckk);              \
            for (int64_t k = 0; k < l->k; k++) {                                                        \
                T sum = 0;                                                                              \
                for (int64_t q = 0; q < d.hw; q++)                                                      \
                    sum += dyn[k * d.hw + q];                                                           \
                db[k] += sum;                                                                           \
            }                                                                                           \
        }                                                                                               \
        return 0;                                                                                       \
    }                                                                                                   \
    static int (*const runs_##SFX[BENCH_NUM_PASSES])(blas_state *) = {fwd_##SFX, bwd_data_##SFX,        \
                                                                       bwd_weights_##SFX};

DEFINE_BLAS_PEER(float, f32, cblas_sgemm)
DEFINE_BLAS_PEER(double, f64, cblas_dgemm)

static void blas_destroy(void *state)
{
    blas_state *s = state;
    if (!s)
        return;
    free(s->col);
    free(s->result);
    free(s->grad_bias);
    free(s);
}

static void *blas_create(const bench_problem *p, const char **why)
{
    const bench_layer *l = p->layer;
    size_t esize = bench_dtype_size(p->dtype);
    size_t result_elems = p->pass == BENCH_FWD        ? bench_elems_output(l)
                          : p->pass == BENCH_BWD_DATA ? bench_elems_input(l)
                                                      : bench_elems_weight(l);
    blas_state *s = calloc(1, sizeof *s);
    if (!s) {
        *why = "no memory";
        return NULL;
    }
    s->p = *p;
    s->run = p->dtype == CJ_F64 ? runs_f64[p->pass] : runs_f32[p->pass];
    s->col = malloc((size_t)(l->c * l->kh * l->kw * l->out_h * l->out_w) * esize);
    s->result = malloc(result_elems * esize);
    s->grad_bias = malloc((size_t)l->k * esize);
    if (!s->col || !s->result || !s->grad_bias) {
        blas_destroy(s);
        *why = "no memory";
        return NULL;
    }
    openblas_set_num_threads(p->threads);
    return s;
}

static int blas_run(void *state)
{
    blas_state *s = state;
    return s->run(s);
}

static const void *blas_result(void *state)
{
    return ((blas_state *)state)->result;
}

static void blas_describe(char *buf, size_t size)
{
    snprintf(buf, size, "OpenBLAS, %s kernels (im2col of one image + sgemm/dgemm per group)",
             openblas_get_corename());
}

const bench_peer bench_peer_openblas = {
    .name = "openblas",
    .create = blas_create,
    .run = blas_run,
    .result = blas_result,
    .destroy = blas_destroy,
    .shutdown = NULL,
    .describe = blas_describe,
};

#else
/* ISO C wants a translation unit to declare something. */
typedef int cj_compare_openblas_not_built;
#endif
