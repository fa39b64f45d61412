/* The GEMM engine writing C in segments (cj_gemm_rows_c; several images side by side on the pixel
 * axis, each segment an image's planes): against a double reference, f32 and f64, on this ISA
 * path's kernel. Segments of lengths that are not multiples of NR (so that micro-tiles straddle
 * boundaries, even two of them when a segment is shorter than NR), K over several KC slices (later
 * slices accumulate: a straddling tile must gather C first), a row range not starting at 0,
 * accumulate 0 (C prefilled with NaN, never to be read) and 1. Elements between the segments
 * must keep their bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm/gemm.h"
#include "testutil.h"

static double get(const void *p, cj_dtype dt, int64_t i) {
    return dt == CJ_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static void set(void *p, cj_dtype dt, int64_t i, double v) {
    if (dt == CJ_F32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

static void run(cj_dtype dt, int64_t seg_len, int64_t segs, int accumulate, tu_rng *rng) {
    const cj_gemm_config *cfg = cj_gemm_config_get(dt);
    const size_t es = tu_dtype_size(dt);
    const int64_t M = 2 * cfg->mr + 3, K = 2 * cfg->kc + 5, N = seg_len * segs;
    const int64_t m0 = cfg->mr, m = M - m0; /* rows [m0, M) */
    const int64_t ldc = seg_len + 2, seg_stride = M * ldc + 7; /* gaps inside and between segments */
    const int64_t cn = segs * seg_stride;
    void *a = malloc((size_t)(M * K) * es), *b = malloc((size_t)(K * N) * es), *c = malloc((size_t)cn * es);
    /* the packed blocks are 64-byte aligned, as the engine's callers give them */
    void *c0 = malloc((size_t)cn * es), *scratch = aligned_alloc(64, round64(cj_gemm_scratch_bytes(cfg)));
    cj_packed_a pa = {aligned_alloc(64, round64(cj_packed_a_bytes(cfg, M, K))), 0, 0, 0, NULL};
    if (!a || !b || !c || !c0 || !scratch || !pa.data) {
        tu_fail("out of memory");
        goto done;
    }
    for (int64_t i = 0; i < M * K; i++) set(a, dt, i, tu_uniform(rng));
    for (int64_t i = 0; i < K * N; i++) set(b, dt, i, tu_uniform(rng));
    for (int64_t i = 0; i < cn; i++) set(c, dt, i, -777.25);
    /* the rows [m0, M) of each segment's columns: NaN or a value to accumulate onto */
    for (int64_t s = 0; s < segs; s++)
        for (int64_t i = m0; i < M; i++)
            for (int64_t j = 0; j < seg_len; j++) set(c, dt, s * seg_stride + i * ldc + j, accumulate ? tu_uniform(rng) : NAN);
    memcpy(c0, c, (size_t)cn * es);
    const cj_matrix av = {a, K, 1, 0, 0};
    cj_pack_a(cfg, &av, M, K, &pa);
    const cj_gemm_b bv = cj_gemm_b_strided(dt, b, N, 1);
    /* C's view starts at row m0 of segment 0, as a driver's row range does */
    const cj_gemm_c cv = {(char *)c + (size_t)(m0 * ldc) * es, ldc, seg_len, seg_stride, NULL};
    cj_gemm_rows_c(cfg, &pa, m0, m, &bv, 0, N, &cv, accumulate, scratch);
    int bad = 0;
    for (int64_t x = 0; x < cn && !bad; x++) {
        const int64_t s = x / seg_stride, i = x % seg_stride / ldc, j = x % seg_stride % ldc;
        const int inside = x % seg_stride < M * ldc && i >= m0 && j < seg_len;
        if (!inside) {
            bad = memcmp((char *)c + x * es, (char *)c0 + x * es, es) != 0;
            tu_expect(!bad, "%s seg_len %lld: element outside C (segment %lld row %lld col %lld) changed",
                      tu_dtype_name(dt), (long long)seg_len, (long long)s, (long long)i, (long long)j);
            continue;
        }
        const int64_t col = s * seg_len + j;
        double want = accumulate ? get(c0, dt, x) : 0.0, mag = fabs(want);
        for (int64_t k = 0; k < K; k++) {
            const double p = get(a, dt, i * K + k) * get(b, dt, k * N + col);
            want += p;
            mag += fabs(p);
        }
        const double got = get(c, dt, x), tol = (dt == CJ_F32 ? 1e-6 : 1e-14) * (mag + 1e-30);
        bad = !(fabs(got - want) <= tol);
        tu_expect(!bad, "%s seg_len %lld accumulate %d: C(%lld, %lld) = %g, want %g", tu_dtype_name(dt),
                  (long long)seg_len, accumulate, (long long)i, (long long)col, got, want);
    }
    if (!bad) tu_pass();
done:
    free(a), free(b), free(c), free(c0), free(scratch), free(pa.data);
}

int main(void) {
    tu_isa_check();
    tu_rng rng = {tu_seed("test_isa_gemm_segments", 11)};
    for (int dt = 0; dt < 2; dt++) {
        const cj_dtype t = dt ? CJ_F64 : CJ_F32;
        const int64_t nr = cj_gemm_config_get(t)->nr;
        const int64_t lens[] = {nr + 5, 2 * nr - 3, nr / 2 + 1, 7};
        for (int l = 0; l < 4; l++)
            for (int accumulate = 0; accumulate < 2; accumulate++) run(t, lens[l], 4, accumulate, &rng);
    }
    return tu_finish();
}
