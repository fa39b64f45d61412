/* f32 GEMM micro-kernel, AVX-512F: an 8 x 48 register tile (contract: kernels/ukernel.h).
 *
 * Register budget (32 zmm): 8 rows x 3 vectors of 16 floats = 24 accumulators, 3 for the B row
 * of the current k and 1 for the broadcast A element (one vbroadcastss per row, reused by the
 * row's 3 FMAs): 28 live registers, no spills.
 *
 * Why 8 x 48: per k the kernel issues 24 FMAs against 3 vector loads + 8 broadcast loads, well
 * within the load ports, and 24 independent chains are far more than the 4-cycle FMA latency x
 * 1 zmm FMA/cycle (Zen 4 double-pumps 512-bit ops) needs. The large tile keeps the panel traffic
 * per flop low (1/MR + 1/NR), MR = 8 divides the output channel counts convolutions use
 * (multiples of 8..64), and one k row of B (192 bytes) is exactly 3 cache lines. Measured in L1 on Zen 4 (kc = 256): 8x48, 8x32, 14x32 and 6x64 all run at
 * 95-99% of the FMA peak, 12x32 at ~94%, 16x16 at ~73% (broadcast-load bound).
 *
 * Edges: the packed panels are zero-padded, so all 8 rows are always computed, and the columns
 * up to the next whole vector (16, 32 or 48: see the kernel's entry); only the stores (and the C
 * loads when accumulating) are restricted to rows < m and, with __mmask16 lane masks, to
 * columns < n. accumulate == 0 never reads C.
 *
 * Its twin cj_f32_gemm_ukernel_8x48_sa__avx512 (at the end) reads A unpacked, in place. */
#include <immintrin.h>
#include <stdint.h>
#include "kernels/ukernel.h"

#define MR 8
#define NV 3                 /* zmm vectors per row */
#define VL 16                /* floats per zmm */
#define NR (NV * VL)

/* Prefetch distance, in k iterations, for the A panel. One k iteration is 24 FMAs (~12 cycles at
 * two FMA pipes); 8 iterations ahead covers an L2 hit.
 * B is not prefetched: the engine streams each B micro-panel from L2 in order, and the hardware
 * prefetchers keep up with that stream alone; software prefetches of its 3 lines per k cost 3
 * load-port slots per 24 FMAs and slowed the kernel: min of 8 alternating runs of the engine's
 * ir / jr loops on a 768 x 336 B block (Xeon, AVX-512), 182 GFLOP/s without them, 172 with. */
#define PF_K 8
/* C is prefetched this many k iterations before the end (~400 cycles), late enough that the
 * streaming panels do not evict it again, early enough to hide an L2/L3 miss. */
#define PF_C_K 16

#define UNROLL _Pragma("GCC unroll 16")

/* One rank-1 update of the tile's first nv vectors with column k of A and row k of B.
 * The empty asm statements keep the broadcast and the B vectors alive until the end of their
 * row / step. Without them gcc lets the last FMA of a row write its result over a dead B or
 * broadcast register (the 132/213 forms), the accumulators then rotate through registers
 * across the unrolled steps and it spills 2 zmm per iteration; with them every FMA is the
 * in-place 231 form and the loop has no moves or spills. They emit no instructions.
 * nv is a constant at every call (the functions are inlined into tile()'s three copies). */
static inline __attribute__((always_inline)) void step(__m512 acc[MR][NV], const float *a,
                                                       const float *b, const int nv)
{
    __m512 bv[NV];
    UNROLL for (int v = 0; v < nv; v++) bv[v] = _mm512_load_ps(b + v * VL);
    UNROLL for (int i = 0; i < MR; i++) {
        const __m512 ai = _mm512_set1_ps(a[i]);
        UNROLL for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        __asm__("" :: "v"(ai));
    }
    UNROLL for (int v = 0; v < nv; v++) __asm__("" :: "v"(bv[v]));
}

/* step() with A's column k at row[i][at]: each broadcast straight from its row (gathered into an
 * array first, gcc loaded all 8 into registers ahead of the FMAs and spilled accumulators). */
static inline __attribute__((always_inline)) void step_rows(__m512 acc[MR][NV], const float *const row[MR],
                                                            int64_t at, const float *b, const int nv)
{
    __m512 bv[NV];
    UNROLL for (int v = 0; v < nv; v++) bv[v] = _mm512_load_ps(b + v * VL);
    UNROLL for (int i = 0; i < MR; i++) {
        const __m512 ai = _mm512_set1_ps(row[i][at]);
        UNROLL for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
        __asm__("" :: "v"(ai));
    }
    UNROLL for (int v = 0; v < nv; v++) __asm__("" :: "v"(bv[v]));
}

/* Four k iterations, prefetching A's columns PF_K iterations ahead (4 columns are 2 lines). */
static inline __attribute__((always_inline)) void step4(__m512 acc[MR][NV], const float *a,
                                                        const float *b, const int nv)
{
    _mm_prefetch((const char *)(a + PF_K * MR), _MM_HINT_T0);
    _mm_prefetch((const char *)(a + PF_K * MR + 16), _MM_HINT_T0);
    UNROLL for (int kk = 0; kk < 4; kk++) step(acc, a + kk * MR, b + kk * NR, nv);
}

static inline __attribute__((always_inline)) void store_tile(__m512 acc[MR][NV], float *restrict c, int64_t ldc,
                                                             int m, int n, int accumulate, const int nv);

/* The tile's first nv vectors of columns (n <= nv * VL): the rest of the B panel is zero padding
 * or columns past n, which nothing reads. */
static inline __attribute__((always_inline)) void tile(int64_t kc, const float *restrict a,
                                                       const float *restrict b, float *restrict c,
                                                       int64_t ldc, int m, int n, int accumulate,
                                                       const int nv)
{
    __m512 acc[MR][NV];
    UNROLL for (int i = 0; i < MR; i++)
        UNROLL for (int v = 0; v < nv; v++) acc[i][v] = _mm512_setzero_ps();

    int64_t k = 0;
    const int64_t k_pfc = kc - PF_C_K; /* where the C prefetch goes */
    for (; k + 4 <= k_pfc; k += 4, a += 4 * MR, b += 4 * NR) step4(acc, a, b, nv);
    /* C rows: 48 floats span 4 lines at worst (c is not aligned); first and last byte of each
     * row's used part plus the lines in between. */
    for (int i = 0; i < m; i++) {
        const char *row = (const char *)(c + i * ldc);
        UNROLL for (int v = 0; v < nv; v++) _mm_prefetch(row + v * 64, _MM_HINT_T0);
        _mm_prefetch(row + nv * VL * sizeof(float) - 1, _MM_HINT_T0);
    }
    for (; k + 4 <= kc; k += 4, a += 4 * MR, b += 4 * NR) step4(acc, a, b, nv);
    for (; k < kc; k++, a += MR, b += NR) step(acc, a, b, nv);
    store_tile(acc, c, ldc, m, n, accumulate, nv);
}

/* C (+)= the tile's sums: rows < m, columns < n. */
static inline __attribute__((always_inline)) void store_tile(__m512 acc[MR][NV], float *restrict c, int64_t ldc,
                                                             int m, int n, int accumulate, const int nv)
{
    if (m == MR && n == nv * VL) {
        /* Full tile: plain unaligned loads and stores. */
        if (accumulate) {
            UNROLL for (int i = 0; i < MR; i++)
                UNROLL for (int v = 0; v < nv; v++)
                    acc[i][v] = _mm512_add_ps(acc[i][v], _mm512_loadu_ps(c + i * ldc + v * VL));
        }
        UNROLL for (int i = 0; i < MR; i++)
            UNROLL for (int v = 0; v < nv; v++) _mm512_storeu_ps(c + i * ldc + v * VL, acc[i][v]);
        return;
    }

    /* Edge tile: lane masks for columns < n (masked-off lanes are neither loaded nor stored, so
     * they cannot fault or be disturbed), and rows >= m skipped. */
    __mmask16 mask[NV];
    UNROLL for (int v = 0; v < nv; v++) {
        const int left = n - v * VL;
        mask[v] = left >= VL ? (__mmask16)0xFFFF : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u);
    }
    UNROLL for (int i = 0; i < MR; i++) {
        if (i >= m) break;
        float *ci = c + i * ldc;
        UNROLL for (int v = 0; v < nv; v++) {
            __m512 r = acc[i][v];
            if (accumulate) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask[v], ci + v * VL));
            _mm512_mask_storeu_ps(ci + v * VL, mask[v], r);
        }
    }
}

/* Narrow edge tiles (n <= 16 or 32: the last panel of 64 or 128 columns) compute only the vectors
 * they store: a full 48-wide tile there spent 2/3 or 1/3 of its FMAs on padding (Winograd's
 * grad_weight GEMMs are 64 x 64 on 64-channel layers). Each column's sum is the same FMA chain in
 * every width, so results do not depend on which copy ran. */
void cj_f32_gemm_ukernel_8x48__avx512(int64_t kc, const void *a_, const void *b_, void *c_,
                                      int64_t ldc, int m, int n, int accumulate)
{
    const float *a = (const float *)a_;
    const float *b = (const float *)b_;
    float *c = (float *)c_;

    if (kc <= 0 && accumulate) return; /* C += 0: leave it bit-for-bit unchanged (-0.0 stays) */
    if (n > 2 * VL) tile(kc, a, b, c, ldc, m, n, accumulate, 3);
    else if (n > VL) tile(kc, a, b, c, ldc, m, n, accumulate, 2);
    else tile(kc, a, b, c, ldc, m, n, accumulate, 1);
}

/* A read in place (kernels/ukernel.h, cj_ukernel_sa_fn): row i of A at a + i * lda, column k at
 * koff[k] (koff NULL: at k, contiguous), so a GEMM whose A is a convolution's weights as given
 * packs nothing: the forward pass's row-major W_g, or grad_input's rotated W^T (koff walks each
 * kernel's taps backwards). Rows >= m read row 0 and are not stored. Contiguous rows prefetch
 * their next line per 16 k (a line holds 16 of their elements); indexed ones the column 64 k
 * ahead every 8 k (grad_input's 8 rows of a 3x3 kernel share 5 lines, left behind every 9 k). */
static inline __attribute__((always_inline)) void tile_sa(int64_t kc, const float *restrict a, int64_t lda,
                                                          const int32_t *restrict koff, const float *restrict b,
                                                          float *restrict c, int64_t ldc, int m, int n,
                                                          int accumulate, const int nv, const int indexed)
{
    __m512 acc[MR][NV];
    UNROLL for (int i = 0; i < MR; i++)
        UNROLL for (int v = 0; v < nv; v++) acc[i][v] = _mm512_setzero_ps();
    const float *row[MR];
    UNROLL for (int i = 0; i < MR; i++) row[i] = a + (i < m ? i : 0) * lda;
    int64_t k = 0;
    for (; k + 4 <= kc; k += 4, b += 4 * NR) {
        if (!indexed && (k & 15) == 0)
            UNROLL for (int i = 0; i < MR; i++) _mm_prefetch((const char *)(row[i] + k + 64), _MM_HINT_T0);
        if (indexed && (k & 7) == 0 && k + 64 < kc)
            UNROLL for (int i = 0; i < MR; i++) _mm_prefetch((const char *)(row[i] + koff[k + 64]), _MM_HINT_T0);
        UNROLL for (int kk = 0; kk < 4; kk++)
            step_rows(acc, row, indexed ? koff[k + kk] : k + kk, b + kk * NR, nv);
    }
    for (; k < kc; k++, b += NR) {
        step_rows(acc, row, indexed ? koff[k] : k, b, nv);
    }
    store_tile(acc, c, ldc, m, n, accumulate, nv);
}

/* The contiguous and the indexed reads are separate copies, so neither tests koff per k. */
static inline __attribute__((always_inline)) void tile_sa_width(int64_t kc, const float *a, int64_t lda,
                                                                const int32_t *koff, const float *b, float *c,
                                                                int64_t ldc, int m, int n, int accumulate,
                                                                const int indexed)
{
    if (n > 2 * VL) tile_sa(kc, a, lda, koff, b, c, ldc, m, n, accumulate, 3, indexed);
    else if (n > VL) tile_sa(kc, a, lda, koff, b, c, ldc, m, n, accumulate, 2, indexed);
    else tile_sa(kc, a, lda, koff, b, c, ldc, m, n, accumulate, 1, indexed);
}

void cj_f32_gemm_ukernel_8x48_sa__avx512(int64_t kc, const void *a_, int64_t lda, const int32_t *koff,
                                         const void *b_, void *c_, int64_t ldc, int m, int n, int accumulate)
{
    const float *a = (const float *)a_;
    const float *b = (const float *)b_;
    float *c = (float *)c_;

    if (kc <= 0 && accumulate) return;
    if (koff) tile_sa_width(kc, a, lda, koff, b, c, ldc, m, n, accumulate, 1);
    else tile_sa_width(kc, a, lda, NULL, b, c, ldc, m, n, accumulate, 0);
}
