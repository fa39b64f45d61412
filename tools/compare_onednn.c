/* Peers: oneDNN (Intel's DNNL, Debian's libdnnl 2.x, C API) convolution. The primitive is created on
 * "any" memory formats so that oneDNN picks its favourite (blocked) layouts, then timed three ways:
 *   onednn_nchw      the direct convolution for a caller holding dense NCHW/OIHW buffers, as
 *                    conjure's callers do: the reorders into oneDNN's layouts and back are timed;
 *   onednn_blocked   the direct convolution in oneDNN's best case: the data already sits in its
 *                    layouts, only the primitive runs;
 *   onednn_winograd  its Winograd convolution the same way (its best case; n/a where oneDNN has no
 *                    Winograd kernel for the layer: it takes 3x3 stride-1 layers on AVX-512).
 * Backward passes use the backward_data / backward_weights primitives with the forward primitive
 * descriptor as their hint. oneDNN has no f64 convolution on CPU: those rows say n/a. */
#ifdef CJ_HAVE_DNNL
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include <dlfcn.h>
#include <dnnl.h>
#include <dnnl_debug.h>
#include <stdio.h>
#include <stdlib.h>

#include "peers.h"

/* Created on first use, freed by the peers' shutdown. */
static dnnl_engine_t engine;
static dnnl_stream_t stream;

/* One argument of the primitive: the memory on the caller's dense buffer and, when oneDNN chose
 * another layout, its own copy and the reorder between the two (into it for inputs, out of it for
 * outputs). */
typedef struct dnnl_slot {
    int              arg;       /* DNNL_ARG_* */
    int              is_output;
    dnnl_memory_t    user;
    dnnl_memory_t    inner;     /* == user when the layouts agree */
    dnnl_primitive_t reorder;   /* NULL when the layouts agree */
} dnnl_slot;

enum { MAX_SLOTS = 4 };

typedef struct dnnl_state {
    int              with_reorders;
    dnnl_primitive_t conv;
    dnnl_slot        slots[MAX_SLOTS];
    int              nslots;
    dnnl_exec_arg_t  exec_args[MAX_SLOTS];
    void            *result;     /* dense output of the pass */
    void            *grad_bias;  /* bwd_weights */
} dnnl_state;

/* Debian's libdnnl runs on OpenMP (libgomp, which it loads). The tool is not built with -fopenmp,
 * so the thread count is set through the symbol libgomp exports, found at run time. */
static void set_omp_threads(int n)
{
    void (*set)(int);
    *(void **)&set = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (set)
        set(n);
}

#define TRY(call)                                   \
    do {                                            \
        dnnl_status_t st_ = (call);                 \
        if (st_ != dnnl_success) {                  \
            *why = st_ == dnnl_unimplemented ? "n/a" : dnnl_status2str(st_); \
            goto fail;                              \
        }                                           \
    } while (0)

static void dnnl_destroy(void *state)
{
    dnnl_state *s = state;
    if (!s)
        return;
    for (int i = 0; i < s->nslots; i++) {
        dnnl_slot *slot = &s->slots[i];
        if (slot->reorder)
            dnnl_primitive_destroy(slot->reorder);
        if (slot->inner && slot->inner != slot->user)
            dnnl_memory_destroy(slot->inner);
        if (slot->user)
            dnnl_memory_destroy(slot->user);
    }
    if (s->conv)
        dnnl_primitive_destroy(s->conv);
    free(s->result);
    free(s->grad_bias);
    free(s);
}

/* Adds an argument: user memory on buf with the dense layout user_md, and the primitive's layout
 * inner_md (a copy and a reorder if they differ). */
static dnnl_status_t add_slot(dnnl_state *s, int arg, int is_output, const dnnl_memory_desc_t *user_md,
                              const dnnl_memory_desc_t *inner_md, void *buf)
{
    dnnl_slot *slot = &s->slots[s->nslots++];
    slot->arg = arg;
    slot->is_output = is_output;
    dnnl_status_t st = dnnl_memory_create(&slot->user, user_md, engine, buf);
    if (st != dnnl_success)
        return st;
    slot->inner = slot->user;
    if (dnnl_memory_desc_equal(user_md, inner_md))
        return dnnl_success;
    if ((st = dnnl_memory_create(&slot->inner, inner_md, engine, DNNL_MEMORY_ALLOCATE)) != dnnl_success) {
        slot->inner = NULL;
        return st;
    }
    dnnl_primitive_desc_t rpd;
    st = is_output ? dnnl_reorder_primitive_desc_create(&rpd, inner_md, engine, user_md, engine, NULL)
                   : dnnl_reorder_primitive_desc_create(&rpd, user_md, engine, inner_md, engine, NULL);
    if (st != dnnl_success)
        return st;
    st = dnnl_primitive_create(&slot->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    return st;
}

static dnnl_status_t run_reorder(const dnnl_slot *slot)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, slot->is_output ? slot->inner : slot->user},
                               {DNNL_ARG_TO, slot->is_output ? slot->user : slot->inner}};
    return dnnl_primitive_execute(slot->reorder, stream, 2, args);
}

/* The dense memory descriptors of a layer: src [N,C,H,W], weights [K,C/g,kh,kw] (or [g,K/g,C/g,kh,kw]
 * when grouped, the same bytes), bias [K], dst [N,K,out_h,out_w]; and the same with format "any". */
typedef struct layer_mds {
    dnnl_memory_desc_t src, wei, bias, dst, src_any, wei_any, dst_any;
} layer_mds;

static dnnl_status_t init_mds(const bench_layer *l, layer_mds *m)
{
    dnnl_dims_t src = {l->n, l->c, l->h, l->w}, dst = {l->n, l->k, l->out_h, l->out_w}, bias = {l->k};
    dnnl_dims_t wei = {l->k, l->c / l->groups, l->kh, l->kw};
    dnnl_dims_t gwei = {l->groups, l->k / l->groups, l->c / l->groups, l->kh, l->kw};
    int grouped = l->groups > 1;
    const dnnl_data_type_t f32 = dnnl_f32;
    dnnl_status_t st;
    if ((st = dnnl_memory_desc_init_by_tag(&m->src, 4, src, f32, dnnl_nchw)) ||
        (st = dnnl_memory_desc_init_by_tag(&m->src_any, 4, src, f32, dnnl_format_tag_any)) ||
        (st = dnnl_memory_desc_init_by_tag(&m->dst, 4, dst, f32, dnnl_nchw)) ||
        (st = dnnl_memory_desc_init_by_tag(&m->dst_any, 4, dst, f32, dnnl_format_tag_any)) ||
        (st = dnnl_memory_desc_init_by_tag(&m->bias, 1, bias, f32, dnnl_x)) ||
        (st = dnnl_memory_desc_init_by_tag(&m->wei, grouped ? 5 : 4, grouped ? gwei : wei, f32,
                                           grouped ? dnnl_goihw : dnnl_oihw)) ||
        (st = dnnl_memory_desc_init_by_tag(&m->wei_any, grouped ? 5 : 4, grouped ? gwei : wei, f32,
                                           dnnl_format_tag_any)))
        return st;
    return dnnl_success;
}

static void *dnnl_create(const bench_problem *p, int with_reorders, dnnl_alg_kind_t alg, const char **why)
{
    if (p->dtype != CJ_F32) {
        *why = "n/a f64";
        return NULL;
    }
    dnnl_state *s = calloc(1, sizeof *s);
    dnnl_primitive_desc_t fwd_pd = NULL, pd = NULL;
    if (!s) {
        *why = "no memory";
        return NULL;
    }
    s->with_reorders = with_reorders;
    set_omp_threads(p->threads);
    if (!engine) {
        TRY(dnnl_engine_create(&engine, dnnl_cpu, 0));
        TRY(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    }
    const bench_layer *l = p->layer;
    layer_mds m;
    TRY(init_mds(l, &m));
    /* oneDNN counts dilation from 0 (0 = dense) and wants the right/bottom padding that makes its
     * output size formula give out_h, out_w exactly. */
    dnnl_dims_t strides = {l->stride_h, l->stride_w}, dil = {l->dil - 1, l->dil - 1};
    dnnl_dims_t pad_l = {l->pad_h, l->pad_w};
    dnnl_dims_t pad_r = {(l->out_h - 1) * l->stride_h + l->dil * (l->kh - 1) + 1 - l->h - l->pad_h,
                         (l->out_w - 1) * l->stride_w + l->dil * (l->kw - 1) + 1 - l->w - l->pad_w};
    dnnl_convolution_desc_t fwd_d, d;
    TRY(dnnl_dilated_convolution_forward_desc_init(&fwd_d, dnnl_forward_training, alg,
                                                   &m.src_any, &m.wei_any, &m.bias, &m.dst_any, strides, dil,
                                                   pad_l, pad_r));
    TRY(dnnl_primitive_desc_create(&fwd_pd, &fwd_d, NULL, engine, NULL));

    size_t esize = sizeof(float);
    /* Casts drop const: oneDNN memory objects are not const, but inputs are only read. */
    switch (p->pass) {
    case BENCH_FWD:
        s->result = malloc(bench_elems_output(l) * esize);
        if (!s->result)
            goto oom;
        pd = fwd_pd, fwd_pd = NULL;
        TRY(add_slot(s, DNNL_ARG_SRC, 0, &m.src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                     (void *)p->input));
        TRY(add_slot(s, DNNL_ARG_WEIGHTS, 0, &m.wei, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                     (void *)p->weight));
        TRY(add_slot(s, DNNL_ARG_BIAS, 0, &m.bias, &m.bias, (void *)p->bias));
        TRY(add_slot(s, DNNL_ARG_DST, 1, &m.dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                     s->result));
        break;
    case BENCH_BWD_DATA:
        s->result = malloc(bench_elems_input(l) * esize);
        if (!s->result)
            goto oom;
        TRY(dnnl_dilated_convolution_backward_data_desc_init(&d, alg, &m.src_any, &m.wei_any,
                                                             &m.dst_any, strides, dil, pad_l, pad_r));
        TRY(dnnl_primitive_desc_create(&pd, &d, NULL, engine, fwd_pd));
        TRY(add_slot(s, DNNL_ARG_DIFF_DST, 0, &m.dst,
                     dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), (void *)p->grad_output));
        TRY(add_slot(s, DNNL_ARG_WEIGHTS, 0, &m.wei, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                     (void *)p->weight));
        TRY(add_slot(s, DNNL_ARG_DIFF_SRC, 1, &m.src,
                     dnnl_primitive_desc_query_md(pd, dnnl_query_diff_src_md, 0), s->result));
        break;
    case BENCH_BWD_WEIGHTS:
        s->result = malloc(bench_elems_weight(l) * esize);
        s->grad_bias = malloc((size_t)l->k * esize);
        if (!s->result || !s->grad_bias)
            goto oom;
        TRY(dnnl_dilated_convolution_backward_weights_desc_init(&d, alg, &m.src_any,
                                                                &m.wei_any, &m.bias, &m.dst_any, strides, dil,
                                                                pad_l, pad_r));
        TRY(dnnl_primitive_desc_create(&pd, &d, NULL, engine, fwd_pd));
        TRY(add_slot(s, DNNL_ARG_SRC, 0, &m.src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                     (void *)p->input));
        TRY(add_slot(s, DNNL_ARG_DIFF_DST, 0, &m.dst,
                     dnnl_primitive_desc_query_md(pd, dnnl_query_diff_dst_md, 0), (void *)p->grad_output));
        TRY(add_slot(s, DNNL_ARG_DIFF_WEIGHTS, 1, &m.wei,
                     dnnl_primitive_desc_query_md(pd, dnnl_query_diff_weights_md, 0), s->result));
        TRY(add_slot(s, DNNL_ARG_DIFF_BIAS, 1, &m.bias, &m.bias, s->grad_bias));
        break;
    }
    TRY(dnnl_primitive_create(&s->conv, pd));
    for (int i = 0; i < s->nslots; i++) {
        s->exec_args[i].arg = s->slots[i].arg;
        s->exec_args[i].memory = s->slots[i].inner;
    }
    /* The blocked case starts from data already in oneDNN's layouts. */
    if (!with_reorders)
        for (int i = 0; i < s->nslots; i++)
            if (s->slots[i].reorder && !s->slots[i].is_output)
                TRY(run_reorder(&s->slots[i]));
    TRY(dnnl_stream_wait(stream));
    dnnl_primitive_desc_destroy(pd);
    if (fwd_pd)
        dnnl_primitive_desc_destroy(fwd_pd);
    return s;
oom:
    *why = "no memory";
fail:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (fwd_pd)
        dnnl_primitive_desc_destroy(fwd_pd);
    dnnl_destroy(s);
    return NULL;
}

static void *create_nchw(const bench_problem *p, const char **why)
{
    return dnnl_create(p, 1, dnnl_convolution_direct, why);
}

static void *create_blocked(const bench_problem *p, const char **why)
{
    return dnnl_create(p, 0, dnnl_convolution_direct, why);
}

static void *create_winograd(const bench_problem *p, const char **why)
{
    return dnnl_create(p, 0, dnnl_convolution_winograd, why);
}

static int dnnl_run(void *state)
{
    dnnl_state *s = state;
    for (int i = 0; s->with_reorders && i < s->nslots; i++)
        if (s->slots[i].reorder && !s->slots[i].is_output && run_reorder(&s->slots[i]) != dnnl_success)
            return -1;
    if (dnnl_primitive_execute(s->conv, stream, s->nslots, s->exec_args) != dnnl_success)
        return -1;
    for (int i = 0; s->with_reorders && i < s->nslots; i++)
        if (s->slots[i].reorder && s->slots[i].is_output && run_reorder(&s->slots[i]) != dnnl_success)
            return -1;
    return dnnl_stream_wait(stream) == dnnl_success ? 0 : -1;
}

/* Only the variant with reorders leaves the result in the dense buffer. */
static const void *dnnl_result(void *state)
{
    dnnl_state *s = state;
    return s->with_reorders ? s->result : NULL;
}

static void dnnl_shutdown(void)
{
    if (stream)
        dnnl_stream_destroy(stream);
    if (engine)
        dnnl_engine_destroy(engine);
    stream = NULL, engine = NULL;
}

static void dnnl_describe(char *buf, size_t size)
{
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, size, "oneDNN %d.%d.%d (onednn_nchw: direct convolution, NCHW buffers, reorders timed; "
             "onednn_blocked: direct, its own layouts; onednn_winograd: Winograd, its own layouts)", v->major,
             v->minor, v->patch);
}

const bench_peer bench_peer_onednn_nchw = {
    .name = "onednn_nchw",
    .create = create_nchw,
    .run = dnnl_run,
    .result = dnnl_result,
    .destroy = dnnl_destroy,
    .shutdown = dnnl_shutdown,
    .describe = dnnl_describe,
};

const bench_peer bench_peer_onednn_blocked = {
    .name = "onednn_blocked",
    .create = create_blocked,
    .run = dnnl_run,
    .result = dnnl_result,
    .destroy = dnnl_destroy,
    .shutdown = NULL, /* the engine is shared with onednn_nchw, which frees it */
};

const bench_peer bench_peer_onednn_winograd = {
    .name = "onednn_winograd",
    .create = create_winograd,
    .run = dnnl_run,
    .result = dnnl_result,
    .destroy = dnnl_destroy,
    .shutdown = NULL,
};

#else
typedef int cj_compare_onednn_not_built;
#endif
