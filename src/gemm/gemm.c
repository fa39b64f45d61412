/* The BLIS-style loops around the micro-kernel (loop order and block sizes: gemm_blocking.c). */
#include "gemm/gemm.h"

#include "util/checked.h"

size_t cj_gemm_scratch_bytes(const cj_gemm_config *cfg) {
    return (size_t)(cfg->kc * cfg->nc) * cfg->elem;
}

void cj_gemm_rows(const cj_gemm_config *cfg, const cj_packed_a *a, int64_t m0, int64_t m,
                  const cj_gemm_b *b, int64_t n0, int64_t n, void *c, int64_t ldc, int accumulate,
                  void *scratch) {
    const int64_t mr = cfg->mr, nr = cfg->nr, K = a->k, mpad = cj_round_up(a->m, mr);
    const size_t elem = cfg->elem;
    const cj_ukernel_fn kernel = cfg->uk->fn;
    char *const cbase = (char *)c;
    if (m <= 0 || n <= 0) return;
    if (K == 0) {
        /* C = 0 (or unchanged when accumulating): the kernel with kc = 0 writes zeros. */
        if (!accumulate)
            for (int64_t i = 0; i < m; i += mr)
                for (int64_t j = 0; j < n; j += nr)
                    kernel(0, a->data, scratch, cbase + (size_t)(i * ldc + j) * elem, ldc,
                           (int)cj_min64(mr, m - i), (int)cj_min64(nr, n - j), 0);
        return;
    }
    for (int64_t jc = 0; jc < n; jc += cfg->nc) {
        const int64_t nc = cj_min64(cfg->nc, n - jc);
        for (int64_t pc = 0; pc < K; pc += cfg->kc) {
            const int64_t kc = cj_min64(cfg->kc, K - pc);
            const char *bblock = scratch;
            if (b->packed) bblock = (const char *)b->packed + (size_t)(pc * b->npad + (n0 + jc) * kc) * elem;
            else b->pack(b, pc, kc, n0 + jc, nc, nr, scratch);
            const char *ablock = (const char *)a->data + (size_t)(pc * mpad) * elem;
            const int acc = accumulate || pc > 0;
            for (int64_t ir = 0; ir < m; ir += mr) {
                const char *apanel = ablock + (size_t)((m0 + ir) * kc) * elem;
                const int rows = (int)cj_min64(mr, m - ir);
                char *crow = cbase + (size_t)(ir * ldc + jc) * elem;
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    const char *bpanel = bblock + (size_t)(jr * kc) * elem;
                    kernel(kc, apanel, bpanel, crow + (size_t)jr * elem, ldc, rows,
                           (int)cj_min64(nr, nc - jr), acc);
                }
            }
        }
    }
}

void cj_gemm(const cj_gemm_config *cfg, const cj_packed_a *a, const cj_gemm_b *b, int64_t n0, int64_t n,
             void *c, int64_t ldc, int accumulate, void *scratch) {
    cj_gemm_rows(cfg, a, 0, a->m, b, n0, n, c, ldc, accumulate, scratch);
}
