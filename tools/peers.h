/* Peers for `conjure bench --compare`: other libraries timed on the same layer, pass and buffers,
 * right after conjure. Each peer fills this table; peers.c lists the ones this build has. */
#ifndef CJ_TOOLS_PEERS_H
#define CJ_TOOLS_PEERS_H
#include <stddef.h>

#include "conjure.h"
#include "layers.h"

typedef enum bench_pass { BENCH_FWD = 0, BENCH_BWD_DATA = 1, BENCH_BWD_WEIGHTS = 2 } bench_pass;
#define BENCH_NUM_PASSES 3

/* One layer-pass with the user's dense NCHW buffers (filled with random values by bench.c).
 * Peers read the inputs of their pass and write their results into buffers of their own. */
typedef struct bench_problem {
    const bench_layer *layer;
    bench_pass pass;
    cj_dtype   dtype;
    int        threads;
    const void *input;        /* [N, C, H, W] */
    const void *weight;       /* [K, C/groups, kh, kw] */
    const void *bias;         /* [K] */
    const void *grad_output;  /* [N, K, out_h, out_w] */
} bench_problem;

typedef struct bench_peer {
    const char *name;  /* the column's name */
    /* Prepares the peer for problem (plans, scratch, its output buffers): not timed. Returns NULL
     * when it cannot run it, with *why a short reason for the table ("n/a f64", "no memory"). */
    void *(*create)(const bench_problem *problem, const char **why);
    /* The timed call: returns 0 on success. */
    int (*run)(void *state);
    /* The dense NCHW result of the pass (output, grad_input or grad_weight) after run, for a check
     * against conjure's; NULL when the peer keeps it in a layout of its own. */
    const void *(*result)(void *state);
    void (*destroy)(void *state);
    /* Frees what the peer keeps between problems (engines, thread pools); may be NULL. */
    void (*shutdown)(void);
    /* Writes the library's name, version and variant for the header; may be NULL. */
    void (*describe)(char *buf, size_t size);
} bench_peer;

/* The peers built into this binary, NULL-terminated (just NULL without oneDNN and OpenBLAS).
 * Each one sets its own thread count to problem->threads in create(). */
const bench_peer *const *bench_peers(void);

size_t bench_dtype_size(cj_dtype dtype);
const char *bench_pass_name(bench_pass pass);

#endif
