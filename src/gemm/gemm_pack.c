/* Packing of the GEMM operands into the micro-panel layouts of ukernel.h. */
#include <string.h>

#include "conjure.h"
#include "gemm/gemm.h"
#include "util/checked.h"
#include "util/memory.h"

size_t cj_packed_a_bytes(const cj_gemm_config *cfg, int64_t m, int64_t k) {
    return (size_t)(cj_round_up(m, cfg->mr) * k) * cfg->elem;
}

/* Calls copy(dst_offset, src_offset, count) for the runs of columns [j0, j0+n) of a view that
 * lie inside one segment (one run when the view is not segmented). Offsets are in elements. */
#define FOR_EACH_RUN(v, j0, n, body)                                                               \
    do {                                                                                           \
        for (int64_t run_j = (j0); run_j < (j0) + (n);) {                                          \
            const int64_t seg = (v)->seg_len > 0 ? run_j / (v)->seg_len : 0;                       \
            const int64_t off = (v)->seg_len > 0 ? run_j % (v)->seg_len : run_j;                   \
            const int64_t run_len = (v)->seg_len > 0 ? cj_min64((v)->seg_len - off, (j0) + (n) - run_j) \
                                                     : (j0) + (n) - run_j;                         \
            const int64_t run_dst = run_j - (j0);                                                  \
            const int64_t run_src = seg * (v)->seg_stride + off * (v)->cs;                         \
            body;                                                                                  \
            run_j += run_len;                                                                      \
        }                                                                                          \
    } while (0)

/* The in-register transposes exist on x86-64 with AVX2 (also on the AVX-512 path): B panels from
 * transposed views, and row-major A panels of f32 (the scalar loop moves an element per load and
 * store: 11% of resnet50.res4.3x3.n1's forward on Zen 3). */
#if defined(CJ_HAVE_X86_KERNELS)
#include "gemm/gemm_pack_transposed.h"
static int transposed_simd(void) { return cj_cpu()->isa >= CJ_ISA_AVX2; }
#define transposed_panel_f32 cj_pack_b_transposed_panel_f32__avx2
#define transposed_panel_f64 cj_pack_b_transposed_panel_f64__avx2
#define a_panel_f32 cj_pack_a_panel_f32__avx2
#else
static int transposed_simd(void) { return 0; }
#define transposed_panel_f32(...) ((void)0)
#define transposed_panel_f64(...) ((void)0)
#define a_panel_f32(...) ((void)0)
#endif
#define a_panel_f64(...) ((void)0)
static int a_panel_simd(size_t elem, int64_t mr) { return elem == 4 && transposed_simd() && (mr == 6 || mr == 8); }

/* One A block: rows [0, m) x columns [k0, k0+kc) as MR-row panels, each kc x MR column by column.
 * k outer, rows inner: MR read streams and one contiguous write stream. */
#define DEFINE_PACK_A(T, suffix)                                                                  \
    static void pack_a_block_##suffix(const cj_matrix *a, int64_t m, int64_t k0, int64_t kc,     \
                                      int64_t mr, T *restrict dst) {                               \
        const T *src = (const T *)a->data;                                                         \
        const int simd = a->cs == 1 && a_panel_simd(sizeof(T), mr);                                  \
        for (int64_t i0 = 0; i0 < m; i0 += mr) {                                                   \
            const int64_t rows = cj_min64(mr, m - i0);                                             \
            const T *base = src + i0 * a->rs;                                                      \
            FOR_EACH_RUN(a, k0, kc, {                                                              \
                const T *in = base + run_src;                                                      \
                T *out = dst + run_dst * mr;                                                       \
                if (simd)                                                                          \
                    a_panel_##suffix(in, a->rs, run_len, rows, mr, out);                           \
                else                                                                               \
                    for (int64_t k = 0; k < run_len; k++)                                          \
                        for (int64_t i = 0; i < rows; i++) out[k * mr + i] = in[i * a->rs + k * a->cs]; \
            });                                                                                    \
            for (int64_t i = rows; i < mr; i++)                                                    \
                for (int64_t k = 0; k < kc; k++) dst[k * mr + i] = 0;                              \
            dst += kc * mr;                                                                        \
        }                                                                                          \
    }
DEFINE_PACK_A(float, f32)
DEFINE_PACK_A(double, f64)

void cj_pack_a_rows(const cj_gemm_config *cfg, const cj_matrix *a, int64_t m, int64_t k, int64_t i0,
                    int64_t i1, cj_packed_a *pa) {
    pa->m = m;
    pa->k = k;
    i1 = cj_min64(i1, m);
    if (i1 <= i0) return;
    cj_matrix rows = *a;
    rows.data = (const char *)a->data + (size_t)(i0 * a->rs) * cfg->elem;
    for (int64_t k0 = 0; k0 < k; k0 += cfg->kc) {
        const int64_t kc = cj_min64(cfg->kc, k - k0);
        char *dst = (char *)pa->data + (size_t)cj_packed_a_at(cfg, m, k, i0, k0) * cfg->elem;
        if (cfg->dtype == CJ_F64) pack_a_block_f64(&rows, i1 - i0, k0, kc, cfg->mr, (double *)dst);
        else pack_a_block_f32(&rows, i1 - i0, k0, kc, cfg->mr, (float *)dst);
    }
}

void cj_pack_a(const cj_gemm_config *cfg, const cj_matrix *a, int64_t m, int64_t k, cj_packed_a *pa) {
    cj_pack_a_rows(cfg, a, m, k, 0, m, pa);
}


/* Rows ahead that a contiguous B block's packing prefetches. */
#define PACK_AHEAD 4

#define DEFINE_PACK_B(T, suffix)                                                                  \
    static void pack_b_strided_##suffix(const cj_matrix *v, int64_t k0, int64_t kc, int64_t n0,  \
                                        int64_t nc, int64_t nr, T *restrict dst) {                 \
        const T *src = (const T *)v->data;                                                         \
        const int64_t first = v->seg_len > 0 ? n0 % v->seg_len : 0;                                 \
        if (v->cs == 1 && (v->seg_len == 0 || first + nc <= v->seg_len)) {                         \
            /* The block is one run of each source row (the usual case): row by row, so the    \
             * reads are kc long sequential streams the prefetcher follows (panel by panel they \
             * would be kc streams of nr elements each, as many as the rows: a miss per line), \
             * with copy loops the compiler vectorises in place. */                                \
            const T *base = src + (v->seg_len > 0 ? n0 / v->seg_len * v->seg_stride + first : n0); \
            for (int64_t k = 0; k < kc; k++) {                                                     \
                const T *row = base + (k0 + k) * v->rs;                                            \
                /* A row's run is short (a few KiB): ask for a later row's lines ahead. */         \
                if (k + PACK_AHEAD < kc) cj_prefetch_range(row + PACK_AHEAD * v->rs, (size_t)nc * sizeof(T)); \
                for (int64_t j0 = 0; j0 < nc; j0 += nr) {                                          \
                    const int64_t cols = cj_min64(nr, nc - j0);                                    \
                    T *out = dst + j0 * kc + k * nr;                                               \
                    for (int64_t j = 0; j < cols; j++) out[j] = row[j0 + j];                       \
                    for (int64_t j = cols; j < nr; j++) out[j] = 0;                                \
                }                                                                                  \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t j0 = 0; j0 < nc; j0 += nr, dst += kc * nr) {                                  \
            const int64_t cols = cj_min64(nr, nc - j0);                                            \
            if (v->cs == 1) {                                                                      \
                for (int64_t k = 0; k < kc; k++) {                                                 \
                    const T *row = src + (k0 + k) * v->rs;                                         \
                    T *out = dst + k * nr;                                                         \
                    FOR_EACH_RUN(v, n0 + j0, cols,                                                 \
                                 memcpy(out + run_dst, row + run_src, (size_t)run_len * sizeof(T))); \
                    for (int64_t j = cols; j < nr; j++) out[j] = 0;                                \
                }                                                                                  \
            } else if (v->rs == 1 && transposed_simd()) {                                          \
                transposed_panel_##suffix(src + (n0 + j0) * v->cs + k0, v->cs, kc, cols, nr, dst); \
                for (int64_t k = 0; k < kc; k++)                                                   \
                    for (int64_t j = cols; j < nr; j++) dst[k * nr + j] = 0;                       \
            } else {                                                                               \
                /* Transposed view: a blocked transpose, 8 k at a time, so that both the reads    \
                 * (8 along each source column) and the writes (8 rows of the panel) stay in L1. */ \
                for (int64_t kb = 0; kb < kc; kb += 8) {                                           \
                    const int64_t ke = cj_min64(kc, kb + 8);                                       \
                    for (int64_t j = 0; j < cols; j++) {                                           \
                        const T *col = src + (n0 + j0 + j) * v->cs + k0 * v->rs;                   \
                        for (int64_t k = kb; k < ke; k++) dst[k * nr + j] = col[k * v->rs];        \
                    }                                                                              \
                }                                                                                  \
                for (int64_t k = 0; k < kc; k++)                                                   \
                    for (int64_t j = cols; j < nr; j++) dst[k * nr + j] = 0;                       \
            }                                                                                      \
        }                                                                                          \
    }
DEFINE_PACK_B(float, f32)
DEFINE_PACK_B(double, f64)

void cj_pack_b_strided(const cj_gemm_b *b, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                       int64_t nr, void *dst) {
    if (b->dtype == CJ_F64) pack_b_strided_f64(&b->view, k0, kc, n0, nc, nr, (double *)dst);
    else pack_b_strided_f32(&b->view, k0, kc, n0, nc, nr, (float *)dst);
}

cj_gemm_b cj_gemm_b_strided(int dtype, const void *data, int64_t rs, int64_t cs) {
    cj_gemm_b b = {.pack = cj_pack_b_strided, .dtype = dtype, .view = {data, rs, cs, 0, 0}, .user = NULL};
    return b;
}

cj_gemm_b cj_gemm_b_prepacked(int dtype, const void *data, int64_t npad) {
    cj_gemm_b b = {.pack = NULL, .dtype = dtype, .packed = data, .npad = npad};
    return b;
}

cj_gemm_b cj_gemm_b_segmented(int dtype, const void *data, int64_t rs, int64_t seg_len, int64_t seg_stride) {
    cj_gemm_b b = {.pack = cj_pack_b_strided, .dtype = dtype, .view = {data, rs, 1, seg_len, seg_stride},
                   .user = NULL};
    return b;
}
