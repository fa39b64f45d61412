/* The GEMM engine every algorithm shares: BLIS-style loops, packing, cache-derived blocking.
 *
 *   C[M x N] (+)= A[M x K] * B[K x N]        C row-major with leading dimension ldc
 *
 * A is packed once per call into a cj_packed_a (weights are constant across the spatial panels of
 * a convolution, so a driver packs them once and reuses them); B is read through a cj_gemm_b, a
 * "virtual" matrix whose pack function writes KC x NR micro-panels straight from wherever B lives
 * (a strided view by default; an im2col-free packer for implicit GEMM). One call runs on one
 * thread; drivers split the work between threads. */
#ifndef CJ_GEMM_GEMM_H
#define CJ_GEMM_GEMM_H
#include <stddef.h>
#include <stdint.h>
#include "kernels/ukernel.h"

/* Block sizes for one micro-kernel, derived from the cache sizes (see gemm_blocking.c). */
typedef struct cj_gemm_config {
    const cj_ukernel *uk;
    cj_ukernel_sa_fn uk_sa; /* uk's strided-A twin (cj_ukernel_strided_a), NULL: none */
    int     dtype;       /* CJ_F32 / CJ_F64 */
    size_t  elem;        /* bytes per element */
    int64_t mr, nr;
    int64_t kc;          /* depth of one packed panel: an A micro-panel (MR x KC) stays in L1 */
    int64_t nc;          /* width of one packed B block: KC x NC stays in L2 */
} cj_gemm_config;

/* The config for dtype on the CPU's selected ISA path. */
const cj_gemm_config *cj_gemm_config_get(int dtype);
/* The config for dtype with a given kernel (tests and benchmarks). */
void cj_gemm_config_init(cj_gemm_config *cfg, const cj_ukernel *uk);

/* A strided view: element (i, j) at data[i*rs + j*cs] (in elements). With seg_len > 0 the
 * columns come in segments of seg_len, segment s starting seg_stride elements after segment s-1:
 * element (i, j) at data[i*rs + (j / seg_len)*seg_stride + (j % seg_len)*cs]. That is how several
 * small images sit side by side on a GEMM's pixel axis without being copied together. */
typedef struct cj_matrix {
    const void *data;
    int64_t     rs, cs;
    int64_t     seg_len, seg_stride;
} cj_matrix;

/* A packed: for each KC slice of K, for each MR panel of M, a KC x MR panel (column by column).
 * The panels are zero-padded to a multiple of MR rows. */
typedef struct cj_packed_a {
    void   *data;
    int64_t m, k;
    int64_t lda; /* > 0: not packed but read in place by the kernel's strided-A twin (cfg->uk_sa,
                  * which the caller checked exists): rows lda apart, */
    const int32_t *koff; /* column k at koff[k] from its row's start (NULL: at k) */
} cj_packed_a;

size_t cj_packed_a_bytes(const cj_gemm_config *cfg, int64_t m, int64_t k);
/* Columns [pc, pc + kc) of A (pc a multiple of KC when packed) as an A of depth kc. */
cj_packed_a cj_packed_a_slice(const cj_gemm_config *cfg, const cj_packed_a *a, int64_t pc, int64_t kc);
/* Where element (i, k) of an m x K A lies once packed, in elements from the packed start: its KC
 * slice (from column pc, kc columns deep) at pc * m rounded up to MR, panel i / MR kc * MR into the
 * slice, column k - pc, row i % MR. For producers that write the layout themselves. */
static inline int64_t cj_packed_a_at(const cj_gemm_config *cfg, int64_t m, int64_t K, int64_t i, int64_t k) {
    const int64_t pc = k / cfg->kc * cfg->kc, kc = K - pc < cfg->kc ? K - pc : cfg->kc;
    const int64_t mpad = (m + cfg->mr - 1) / cfg->mr * cfg->mr;
    return pc * mpad + i / cfg->mr * kc * cfg->mr + (k - pc) * cfg->mr + i % cfg->mr;
}
/* Packs rows [0, m) and columns [0, k) of A into pa->data (cj_packed_a_bytes bytes, 64-aligned). */
void cj_pack_a(const cj_gemm_config *cfg, const cj_matrix *a, int64_t m, int64_t k, cj_packed_a *pa);
/* The same for rows [i0, i1) only (i0 a multiple of MR), so that threads can pack one matrix
 * together; pa->data must already be sized for all m rows. */
void cj_pack_a_rows(const cj_gemm_config *cfg, const cj_matrix *a, int64_t m, int64_t k, int64_t i0,
                    int64_t i1, cj_packed_a *pa);

/* B, read through its pack function. */
typedef struct cj_gemm_b cj_gemm_b;
/* Writes B[k0 : k0+kc, n0 : n0+nc] into dst as ceil(nc/nr) micro-panels of kc x nr, each row by
 * row (element (k, j) of panel p at dst[p*kc*nr + k*nr + j]), columns past nc zero-filled. */
typedef void (*cj_pack_b_fn)(const cj_gemm_b *b, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                             int64_t nr, void *dst);
struct cj_gemm_b {
    cj_pack_b_fn pack;
    int          dtype;
    cj_matrix    view;   /* for cj_pack_b_strided */
    const void  *user;   /* for custom packers */
    const void  *packed; /* non-NULL: B already packed (cj_gemm_b_prepacked), pack unused */
    int64_t      npad;   /* its column count, a multiple of NR */
};
/* The pack function of a strided view. */
void cj_pack_b_strided(const cj_gemm_b *b, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                       int64_t nr, void *dst);
cj_gemm_b cj_gemm_b_strided(int dtype, const void *data, int64_t rs, int64_t cs);
/* A row-major B (unit column stride) whose columns are segments of seg_len, seg_stride apart. */
cj_gemm_b cj_gemm_b_segmented(int dtype, const void *data, int64_t rs, int64_t seg_len, int64_t seg_stride);

/* B already in the engine's packed layout, so that a producer writing it (Winograd's input
 * transform) spares the GEMM calls that read it repeatedly a pack each: for every KC slice of K
 * (from row pc, kc rows), at element pc*npad, the npad/NR micro-panels of kc x NR, row by row.
 * cj_gemm_b_prepacked_at gives an element's place; calls must start at a column multiple of NR. */
cj_gemm_b cj_gemm_b_prepacked(int dtype, const void *data, int64_t npad);
static inline int64_t cj_gemm_b_prepacked_at(const cj_gemm_config *cfg, int64_t K, int64_t npad, int64_t k,
                                             int64_t n) {
    const int64_t pc = k / cfg->kc * cfg->kc, kc = K - pc < cfg->kc ? K - pc : cfg->kc;
    return pc * npad + n / cfg->nr * kc * cfg->nr + (k - pc) * cfg->nr + n % cfg->nr;
}

/* Scratch one cj_gemm call needs for packing B (64-aligned). */
size_t cj_gemm_scratch_bytes(const cj_gemm_config *cfg);

/* C, row-major with leading dimension ldc; with seg_len > 0 its columns come in segments of
 * seg_len, segment s starting seg_stride elements after segment s-1 (element (i, j) at
 * data[(j / seg_len) * seg_stride + i * ldc + j % seg_len]): several images side by side on a
 * GEMM's pixel axis written straight into their NCHW planes. */
typedef struct cj_gemm_c {
    void   *data;
    int64_t ldc, seg_len, seg_stride;
    /* non-NULL: row i of C gets row_bias[i] added where its sum starts (a call that does not
     * accumulate), to each micro-tile as it is stored: a convolution's bias without a pass over
     * its output (15% of a 1x1 layer's forward: 8 x 64 x 56^2 -> 256) */
    const void *row_bias;
} cj_gemm_c;
/* The largest micro-tile (MR x NR elements) of any kernel, in bytes. */
enum { CJ_GEMM_MAX_TILE_BYTES = 2048 };

/* C[0:m, 0:n] = (accumulate ? C : 0) + A[0:m, :] * B[:, 0:n], with A packed (its m and k) and
 * columns n0.. n0+n of B; one thread. scratch: cj_gemm_scratch_bytes(cfg) bytes. */
void cj_gemm(const cj_gemm_config *cfg, const cj_packed_a *a, const cj_gemm_b *b, int64_t n0, int64_t n,
             void *c, int64_t ldc, int accumulate, void *scratch);

/* The same on a sub-range of A's rows [m0, m0+m) (m0 a multiple of MR), for splitting M
 * between threads; c addresses C's element (m0, 0). */
void cj_gemm_rows(const cj_gemm_config *cfg, const cj_packed_a *a, int64_t m0, int64_t m,
                  const cj_gemm_b *b, int64_t n0, int64_t n, void *c, int64_t ldc, int accumulate,
                  void *scratch);
/* cj_gemm_rows with C a cj_gemm_c: micro-tiles across a segment boundary go through a small
 * tile, the others straight into C. */
void cj_gemm_rows_c(const cj_gemm_config *cfg, const cj_packed_a *a, int64_t m0, int64_t m, const cj_gemm_b *b,
                    int64_t n0, int64_t n, const cj_gemm_c *c, int accumulate, void *scratch);

#endif
