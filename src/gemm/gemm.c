/* The BLIS-style loops around the micro-kernel (loop order and block sizes: gemm_blocking.c). */
#include "gemm/gemm.h"

#include <string.h>

#include "conjure.h"
#include "util/checked.h"

size_t cj_gemm_scratch_bytes(const cj_gemm_config *cfg) {
    return (size_t)(cfg->kc * cfg->nc) * cfg->elem;
}

/* Copies a rows x cols micro-tile between C's segments (from C's element (i, j)) and a tile
 * with rows nr apart, in runs that stay inside one segment. */
static void copy_tile(const cj_gemm_config *cfg, const cj_gemm_c *c, int64_t i, int64_t j, int rows, int cols,
                      unsigned char *tile, int to_c) {
    const size_t elem = cfg->elem;
    for (int q = 0; q < cols;) {
        const int64_t col = j + q, s = col / c->seg_len, off = col % c->seg_len;
        const int run = (int)cj_min64(cols - q, c->seg_len - off);
        char *at = (char *)c->data + (size_t)(s * c->seg_stride + i * c->ldc + off) * elem;
        for (int r = 0; r < rows; r++) {
            char *g = at + (size_t)(r * c->ldc) * elem;
            unsigned char *t = tile + (size_t)(r * cfg->nr + q) * elem;
            if (to_c) memcpy(g, t, (size_t)run * elem);
            else memcpy(t, g, (size_t)run * elem);
        }
        q += run;
    }
}

/* tile[r][j] += bias[r] for a rows x cols tile, rows ld apart (in L1: the kernel just stored it). */
static void add_row_bias(const cj_gemm_config *cfg, void *tile, int64_t ld, const void *bias, int rows, int cols) {
    if (cfg->dtype == CJ_F64) {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) ((double *)tile)[r * ld + j] += ((const double *)bias)[r];
    } else {
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) ((float *)tile)[r * ld + j] += ((const float *)bias)[r];
    }
}

/* One kernel call on the A micro-panel a: packed (lda 0) or read in place (its lda and koff). */
static void kernel(const cj_gemm_config *cfg, int64_t kc, const cj_packed_a *a, const void *bpanel,
                   void *c, int64_t ldc, int rows, int cols, int acc) {
    if (a->lda) cfg->uk_sa(kc, a->data, a->lda, a->koff, bpanel, c, ldc, rows, cols, acc);
    else cfg->uk->fn(kc, a->data, bpanel, c, ldc, rows, cols, acc);
}

/* A micro-tile whose columns straddle a boundary between C's segments: the kernel writes a small
 * tile (C's values gathered into it first when accumulating), which is then scattered. */
static void straddling_tile(const cj_gemm_config *cfg, int64_t kc, const cj_packed_a *a, const void *bpanel,
                            const cj_gemm_c *c, int64_t i, int64_t j, int rows, int cols, int acc) {
    _Alignas(64) unsigned char tile[CJ_GEMM_MAX_TILE_BYTES];
    if (acc) copy_tile(cfg, c, i, j, rows, cols, tile, 0);
    kernel(cfg, kc, a, bpanel, tile, cfg->nr, rows, cols, acc);
    if (c->row_bias && !acc)
        add_row_bias(cfg, tile, cfg->nr, (const char *)c->row_bias + (size_t)i * cfg->elem, rows, cols);
    copy_tile(cfg, c, i, j, rows, cols, tile, 1);
}

/* The micro-tile of C at element (i, j): one kernel call where the tile lies inside a segment. */
static void micro_tile(const cj_gemm_config *cfg, int64_t kc, const cj_packed_a *a, const void *bpanel,
                       const cj_gemm_c *c, int64_t i, int64_t j, int rows, int cols, int acc) {
    int64_t at = i * c->ldc + j;
    if (c->seg_len) {
        const int64_t s = j / c->seg_len, off = j % c->seg_len;
        if (off + cols > c->seg_len) {
            straddling_tile(cfg, kc, a, bpanel, c, i, j, rows, cols, acc);
            return;
        }
        at = s * c->seg_stride + i * c->ldc + off;
    }
    char *tile = (char *)c->data + (size_t)at * cfg->elem;
    kernel(cfg, kc, a, bpanel, tile, c->ldc, rows, cols, acc);
    if (c->row_bias && !acc)
        add_row_bias(cfg, tile, c->ldc, (const char *)c->row_bias + (size_t)i * cfg->elem, rows, cols);
}

cj_packed_a cj_packed_a_slice(const cj_gemm_config *cfg, const cj_packed_a *a, int64_t pc, int64_t kc) {
    /* packed: the slice's panels start at pc * mpad; in place: pc columns into each row, or koff + pc */
    const int64_t at = a->lda ? (a->koff ? 0 : pc) : pc * cj_round_up(a->m, cfg->mr);
    return (cj_packed_a){(char *)a->data + (size_t)at * cfg->elem, a->m, kc, a->lda, a->koff ? a->koff + pc : NULL};
}

void cj_gemm_rows_c(const cj_gemm_config *cfg, const cj_packed_a *a, int64_t m0, int64_t m, const cj_gemm_b *b,
                    int64_t n0, int64_t n, const cj_gemm_c *c, int accumulate, void *scratch) {
    const int64_t mr = cfg->mr, nr = cfg->nr, K = a->k;
    const size_t elem = cfg->elem;
    if (m <= 0 || n <= 0) return;
    if (K == 0) {
        /* C = 0 (or unchanged when accumulating): the kernel with kc = 0 writes zeros. */
        const cj_packed_a none = {a->data, a->m, 0, 0, NULL};
        if (!accumulate)
            for (int64_t i = 0; i < m; i += mr)
                for (int64_t j = 0; j < n; j += nr)
                    micro_tile(cfg, 0, &none, scratch, c, i, j, (int)cj_min64(mr, m - i), (int)cj_min64(nr, n - j), 0);
        return;
    }
    for (int64_t jc = 0; jc < n; jc += cfg->nc) {
        const int64_t nc = cj_min64(cfg->nc, n - jc);
        for (int64_t pc = 0; pc < K; pc += cfg->kc) {
            const int64_t kc = cj_min64(cfg->kc, K - pc);
            const char *bblock = scratch;
            if (b->packed) bblock = (const char *)b->packed + (size_t)(pc * b->npad + (n0 + jc) * kc) * elem;
            else b->pack(b, pc, kc, n0 + jc, nc, nr, scratch);
            const cj_packed_a slice = cj_packed_a_slice(cfg, a, pc, kc);
            const int acc = accumulate || pc > 0;
            for (int64_t ir = 0; ir < m; ir += mr) {
                const int rows = (int)cj_min64(mr, m - ir);
                cj_packed_a apanel = slice; /* its micro-panel of rows m0 + ir.. */
                apanel.data = (char *)slice.data + (size_t)((m0 + ir) * (a->lda ? a->lda : kc)) * elem;
                for (int64_t jr = 0; jr < nc; jr += nr)
                    micro_tile(cfg, kc, &apanel, bblock + (size_t)(jr * kc) * elem, c, ir, jc + jr, rows,
                               (int)cj_min64(nr, nc - jr), acc);
            }
        }
    }
}

void cj_gemm_rows(const cj_gemm_config *cfg, const cj_packed_a *a, int64_t m0, int64_t m,
                  const cj_gemm_b *b, int64_t n0, int64_t n, void *c, int64_t ldc, int accumulate,
                  void *scratch) {
    const cj_gemm_c view = {c, ldc, 0, 0, NULL};
    cj_gemm_rows_c(cfg, a, m0, m, b, n0, n, &view, accumulate, scratch);
}

void cj_gemm(const cj_gemm_config *cfg, const cj_packed_a *a, const cj_gemm_b *b, int64_t n0, int64_t n,
             void *c, int64_t ldc, int accumulate, void *scratch) {
    cj_gemm_rows(cfg, a, 0, a->m, b, n0, n, c, ldc, accumulate, scratch);
}
