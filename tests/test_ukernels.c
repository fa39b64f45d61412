/* Every GEMM micro-kernel in cj_ukernel_list() (i.e. in ukernels.inc) that this CPU can run,
 * against a float64 reference, on every edge the contract (kernels/ukernel.h) names:
 *   kc in {0, 1, 2, 3, 7, 8, 16, 17, 64, 257} (below, at and above the k unroll of 4, and a
 *   kc > 256 so the C-prefetch split of the k loop is taken), m in 1..MR, n in {1, NR-1, NR}
 *   and every n in 1..NR for kc = 17, accumulate 0 and 1.
 * C sits inside a larger buffer with ldc > NR and an unaligned start; every element outside the
 * m x n tile (the rest of each row, the rows after m, a row before) must keep its bits. With
 * accumulate == 0 the tile is pre-filled with NaN, which must be overwritten, never read.
 * A and B are zero-padded past m / n as packing leaves them. A kernel's strided-A twin
 * (cj_ukernel_strided_a) runs every case too, twice: on A row-major, and on rows whose columns
 * lie backwards, one element in (an offset table, as grad_input's rotated weights are read).
 * The seed is fixed and printed; CJ_TEST_SEED overrides it. Exit 0 on success, 1 on failure,
 * 77 if no kernel can run. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm/gemm.h"
#include "kernels/ukernel.h"

enum { DT_F32 = 1, DT_F64 = 2 }; /* cj_dtype values */

/* ---- xorshift64* ----------------------------------------------------------------------------- */
static uint64_t rng_state;
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}
/* Uniform in [-1, 1) with 53 random bits. */
static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-52 - 1.0; }

/* ---- elements of either dtype ---------------------------------------------------------------- */
static double get(const void *p, int dt, int64_t i)
{
    return dt == DT_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static void set(void *p, int dt, int64_t i, double v)
{
    if (dt == DT_F32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}
static size_t esize(int dt) { return dt == DT_F32 ? sizeof(float) : sizeof(double); }

static void *xalloc64(size_t bytes)
{
    bytes = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

#define SENTINEL (-777.25)  /* outside the tile; exactly representable in f32 */
#define KC_MAX 257

static long n_cases, n_failed;

/* One kernel call on one (kc, m, n, accumulate) case; returns 0 if it passed. sa: call the
 * kernel's strided-A twin instead, on rows lda = kc + 3 apart, allocated to exactly its m rows
 * (AddressSanitizer sees a read of a row past m): column k at k, or (indexed) at kc - k. */
static int run_case(const cj_ukernel *uk, cj_ukernel_sa_fn sa, int indexed, int64_t kc, int m, int n,
                    int accumulate)
{
    const int dt = uk->dtype, mr = uk->mr, nr = uk->nr;
    const size_t es = esize(dt);
    const int64_t ldc = nr + 5;          /* > NR, and odd: rows start at varying alignments */
    const int64_t rows = mr + 2;         /* one guard row before the tile, one after row MR */
    const int64_t lead = 3;              /* c is not 64-byte aligned */
    const int64_t cn = lead + rows * ldc;

    void *a = xalloc64((size_t)(kc * mr) * es), *b = xalloc64((size_t)(kc * nr) * es);
    void *cbuf = xalloc64((size_t)cn * es), *cref = xalloc64((size_t)cn * es);
    double *want = malloc(sizeof(double) * (size_t)(mr * nr)), *mag = malloc(sizeof(double) * (size_t)(mr * nr));

    /* Panels: random inside the m x n problem, zero in the packing padding. */
    for (int64_t k = 0; k < kc; k++) {
        for (int i = 0; i < mr; i++) set(a, dt, k * mr + i, i < m ? rng_uniform() : 0.0);
        for (int j = 0; j < nr; j++) set(b, dt, k * nr + j, j < n ? rng_uniform() : 0.0);
    }
    /* C: sentinels everywhere, then the tile: NaN (accumulate == 0) or random values. */
    for (int64_t x = 0; x < cn; x++) set(cbuf, dt, x, SENTINEL);
    char *c = (char *)cbuf + (size_t)(lead + ldc) * es; /* row 0 of the tile */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) set(c, dt, i * ldc + j, accumulate ? rng_uniform() : NAN);
    memcpy(cref, cbuf, (size_t)cn * es);

    /* Reference in double, with the magnitude sum |C| + sum |a*b| the tolerance scales with. */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = accumulate ? get(c, dt, i * ldc + j) : 0.0, t = fabs(s);
            for (int64_t k = 0; k < kc; k++) {
                const double p = get(a, dt, k * mr + i) * get(b, dt, k * nr + j);
                s += p;
                t += fabs(p);
            }
            want[i * nr + j] = s;
            mag[i * nr + j] = t;
        }

    if (sa) {
        const int64_t lda = kc + 3;
        char *arows = malloc((size_t)((m - 1) * lda + kc + 1) * es);
        int32_t *koff = malloc(sizeof(int32_t) * (size_t)(kc + 1));
        if (!arows || !koff) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        for (int64_t k = 0; k < kc; k++) koff[k] = (int32_t)(indexed ? kc - k : k);
        for (int i = 0; i < m; i++)
            for (int64_t k = 0; k < kc; k++) set(arows, dt, i * lda + koff[k], get(a, dt, k * mr + i));
        sa(kc, arows, lda, indexed ? koff : NULL, b, c, ldc, m, n, accumulate);
        free(arows);
        free(koff);
    } else {
        uk->fn(kc, a, b, c, ldc, m, n, accumulate);
    }
    n_cases++;

    int bad = 0;
    const double rel = dt == DT_F32 ? 1e-6 : 1e-14, tiny = dt == DT_F32 ? 1e-30 : 1e-300;
    for (int64_t x = 0; x < cn && !bad; x++) {
        const int64_t r = (x - lead) / ldc - 1, col = (x - lead) % ldc;
        const int in_tile = x >= lead && r >= 0 && r < m && col < n;
        const double got = get(cbuf, dt, x);
        if (!in_tile) {
            if (memcmp((char *)cbuf + x * es, (char *)cref + x * es, es) != 0) {
                bad = 1;
                printf("FAIL %s kc=%" PRId64 " m=%d n=%d accumulate=%d: element outside the tile "
                       "(row %" PRId64 ", col %" PRId64 ") changed to %g\n",
                       uk->name, kc, m, n, accumulate, r, col, got);
            }
            continue;
        }
        const double w = want[r * nr + col];
        int ok;
        if (kc == 0 && accumulate) /* C += nothing: bit-for-bit unchanged */
            ok = memcmp((char *)cbuf + x * es, (char *)cref + x * es, es) == 0;
        else
            ok = fabs(got - w) <= rel * mag[r * nr + col] + tiny; /* false for NaN */
        if (!ok) {
            bad = 1;
            printf("FAIL %s kc=%" PRId64 " m=%d n=%d accumulate=%d: C[%" PRId64 "][%" PRId64
                   "] = %.17g, want %.17g (tolerance %.3g)\n",
                   uk->name, kc, m, n, accumulate, r, col, got, w, rel * mag[r * nr + col] + tiny);
        }
    }
    free(a);
    free(b);
    free(cbuf);
    free(cref);
    free(want);
    free(mag);
    return bad;
}

static void check(const cj_ukernel *uk, cj_ukernel_sa_fn sa, int indexed, int64_t kc, int m, int n,
                  int accumulate)
{
    if (run_case(uk, sa, indexed, kc, m, n, accumulate)) {
        if (++n_failed >= 10) {
            printf("stopping after %ld failures\n", n_failed);
            exit(1);
        }
    }
}

/* cj_ukernel_select: the first listed kernel of the dtype on the path, or of a lower path. */
static void check_select(void)
{
    int count;
    const cj_ukernel *list = cj_ukernel_list(&count);
    for (int dt = DT_F32; dt <= DT_F64; dt++)
        for (int isa = CJ_ISA_SCALAR; isa <= CJ_ISA_AVX512; isa++) {
            const cj_ukernel *want = NULL;
            for (int level = isa; level >= CJ_ISA_SCALAR && !want; level--)
                for (int i = 0; i < count && !want; i++)
                    if (list[i].dtype == dt && (int)list[i].isa == level) want = &list[i];
            const cj_ukernel *got = cj_ukernel_select(dt, (cj_isa)isa);
            n_cases++;
            if (!got || got != want) {
                printf("FAIL cj_ukernel_select(dtype %d, %s) = %s, want %s\n", dt,
                       cj_isa_name((cj_isa)isa), got ? got->name : "NULL", want ? want->name : "NULL");
                n_failed++;
            }
        }
}

int main(void)
{
    uint64_t seed = 0x5EEDC0DE2024ULL;
    const char *env = getenv("CJ_TEST_SEED");
    if (env && *env) seed = strtoull(env, NULL, 0);
    if (!seed) seed = 1; /* xorshift's one forbidden state */
    rng_state = seed;
    printf("test_ukernels: seed 0x%" PRIx64 " (CJ_TEST_SEED overrides)\n", seed);

    check_select();

    static const int64_t kcs[] = {0, 1, 2, 3, 7, 8, 16, 17, 64, KC_MAX};
    const cj_cpu_info *cpu = cj_cpu();
    int count, ran = 0;
    const cj_ukernel *list = cj_ukernel_list(&count);
    for (int u = 0; u < count; u++) {
        const cj_ukernel *uk = &list[u];
        /* the GEMM engine's straddling tiles (gemm.c) hold one micro-tile on the stack */
        if ((size_t)(uk->mr * uk->nr) * esize(uk->dtype) > CJ_GEMM_MAX_TILE_BYTES) {
            printf("FAIL %s: its %dx%d tile exceeds CJ_GEMM_MAX_TILE_BYTES\n", uk->name, uk->mr, uk->nr);
            n_failed++;
        }
        if (cpu->isa_max < uk->isa) {
            printf("skipped %s: needs %s, this CPU has %s\n", uk->name, cj_isa_name(uk->isa),
                   cj_isa_name(cpu->isa_max));
            continue;
        }
        /* the kernel, then its strided-A twin if it has one: rows contiguous, then indexed */
        for (int twin = 0; twin <= 2; twin++) {
            const cj_ukernel_sa_fn sa = twin ? cj_ukernel_strided_a(uk) : NULL;
            const int indexed = twin == 2;
            if (twin && !sa) break;
            const long before = n_cases, failed_before = n_failed;
            for (size_t t = 0; t < sizeof kcs / sizeof kcs[0]; t++) {
                const int64_t kc = kcs[t];
                for (int m = 1; m <= uk->mr; m++)
                    for (int acc = 0; acc <= 1; acc++) {
                        if (kc == 17) { /* every n once */
                            for (int n = 1; n <= uk->nr; n++) check(uk, sa, indexed, kc, m, n, acc);
                        } else {
                            const int ns[3] = {1, uk->nr - 1, uk->nr};
                            for (int q = 0; q < 3; q++) check(uk, sa, indexed, kc, m, ns[q], acc);
                        }
                    }
            }
            const char *which = twin == 2 ? " (A indexed)" : twin ? " (A in place)" : "";
            printf("%-36s %dx%d%s  %ld cases%s\n", uk->name, uk->mr, uk->nr, which,
                   n_cases - before, n_failed > failed_before ? "  FAILED" : "  ok");
        }
        ran++;
    }
    printf("test_ukernels: %d of %d kernels run, %ld cases, %ld failed\n", ran, count, n_cases, n_failed);
    if (n_failed) return 1;
    return ran ? 0 : 77;
}
