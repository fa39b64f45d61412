#include "nn/matmul.h"

#include "api/context.h"
#include "gemm/gemm.h"
#include "util/memory.h"

/* Multiply-adds below which a product runs on the calling thread alone. */
#define SMALL_PRODUCT ((int64_t)1 << 20)

typedef struct matmul_task {
    const cj_gemm_config *cfg;
    const cj_packed_a    *pa;
    const cj_gemm_b      *b;
    int64_t               n, panels, slots;
    float                *c;
    int64_t               ldc;
    int                   accumulate;
    char                 *scratch;       /* one cj_gemm_scratch_bytes block per slot */
    size_t                scratch_bytes;
} matmul_task;

/* Slot i computes a contiguous run of NR-wide column panels of C. */
static void matmul_slot(void *arg, size_t slot)
{
    const matmul_task *t = arg;
    int64_t p0, p1;
    cj_split_range(t->panels, t->slots, (int64_t)slot, &p0, &p1);
    const int64_t j0 = p0 * t->cfg->nr, j1 = p1 * t->cfg->nr < t->n ? p1 * t->cfg->nr : t->n;
    if (j1 <= j0)
        return;
    cj_gemm(t->cfg, t->pa, t->b, j0, j1 - j0, t->c + j0, t->ldc, t->accumulate,
            t->scratch + slot * t->scratch_bytes);
}

static int reserve(nn_workspace *ws, size_t bytes, nn_error *err)
{
    if (ws->bytes >= bytes)
        return 0;
    cj_free(ws->ptr);
    ws->ptr = cj_alloc(bytes);
    ws->bytes = ws->ptr ? bytes : 0;
    if (!ws->ptr)
        return nn_fail(err, "out of memory for a %zu-byte matrix-product workspace", bytes);
    return 0;
}

void nn_workspace_free(nn_workspace *ws)
{
    cj_free(ws->ptr);
    ws->ptr = NULL;
    ws->bytes = 0;
}

int nn_matmul(cj_context *ctx, nn_workspace *ws, int64_t m, int64_t n, int64_t k, nn_view a, nn_view b,
              float *c, int64_t ldc, int accumulate, nn_error *err)
{
    cj_context *cx = cj_context_resolve(ctx);
    if (!cx)
        return nn_fail(err, "%s", cj_last_error());
    if (m <= 0 || n <= 0)
        return 0;
    const cj_gemm_config *cfg = cj_gemm_config_get(CJ_F32);
    const int64_t panels = (n + cfg->nr - 1) / cfg->nr;
    /* A small product is not worth waking the other threads for. */
    const int64_t slots = m * n * k < SMALL_PRODUCT ? 1 : cx->num_threads < panels ? cx->num_threads : panels;
    /* 64-byte multiples keep every block of the workspace aligned. */
    const size_t a_bytes = (cj_packed_a_bytes(cfg, m, k) + 63) & ~(size_t)63;
    const size_t s_bytes = (cj_gemm_scratch_bytes(cfg) + 63) & ~(size_t)63;
    if (reserve(ws, a_bytes + (size_t)slots * s_bytes, err) != 0)
        return -1;
    cj_packed_a pa = {ws->ptr, m, k, 0, NULL};
    const cj_matrix av = {a.data, a.rs, a.cs, 0, 0};
    cj_pack_a(cfg, &av, m, k, &pa);
    const cj_gemm_b bv = cj_gemm_b_strided(CJ_F32, b.data, b.rs, b.cs);
    matmul_task t = {cfg, &pa, &bv, n, panels, slots, c, ldc, accumulate, (char *)ws->ptr + a_bytes, s_bytes};
    cj_parallel_for(cx, (size_t)slots, matmul_slot, &t);
    return 0;
}
