/* Depthwise plane kernels, f32 AVX-512 (contract: dwconv.h). A row is cut into chunks of up to
 * 4 vectors (64 outputs); the masks of a chunk (per tap column and vector) are computed once and
 * reused by every row, so the hot loop is a masked load and a masked FMA per tap and vector. */
#include <immintrin.h>

#include "kernels/dwconv.h"

enum { CHUNK_VECS = 4, LANES = 16 };

/* Lanes l with lo <= base + l < hi and l < limit (lanes past the destination row). */
static __mmask16 lane_mask(int64_t base, int64_t hi, int64_t limit) {
    int64_t a = base < 0 ? -base : 0, b = hi - base;
    if (b > limit) b = limit;
    if (b > LANES) b = LANES;
    if (b <= a) return 0;
    const uint32_t upto = b >= 32 ? 0xffffffffu : (1u << b) - 1, below = (1u << a) - 1;
    return (__mmask16)(upto & ~below);
}

/* masks[j][v]: the source lanes tap column j reads for vector v of the chunk at x0. */
static void chunk_masks(const cj_dw_plane *p, int64_t x0, int nv, __mmask16 masks[][CHUNK_VECS]) {
    for (int64_t j = 0; j < p->kw; j++)
        for (int v = 0; v < nv; v++) {
            const int64_t x = x0 + v * LANES;
            masks[j][v] = lane_mask(x + p->off_w + j * p->dil_w, p->src_w, p->dst_w - x);
        }
}

static inline __attribute__((always_inline)) void correlate_chunk(const cj_dw_plane *p, const float *w,
                                                                  float bias, int64_t x0, const int NV) {
    __mmask16 masks[CJ_DW_MAX_KW][CHUNK_VECS];
    __mmask16 store[CHUNK_VECS];
    chunk_masks(p, x0, NV, masks);
    for (int v = 0; v < NV; v++) store[v] = lane_mask(x0 + v * LANES, p->dst_w, LANES);
    for (int64_t y = 0; y < p->dst_h; y++) {
        __m512 acc[CHUNK_VECS];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[v] = _mm512_set1_ps(bias);
        for (int64_t i = 0; i < p->kh; i++) {
            const int64_t sy = y + p->off_h + i * p->dil_h;
            if (sy < 0 || sy >= p->src_h) continue;
            const float *row = p->src + sy * p->src_w + x0 + p->off_w;
            for (int64_t j = 0; j < p->kw; j++) {
                const __m512 wv = _mm512_set1_ps(w[i * p->kw + j]);
                const float *s = row + j * p->dil_w;
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) {
                    const __mmask16 m = masks[j][v];
                    acc[v] = _mm512_mask3_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, s + v * LANES), acc[v], m);
                }
            }
        }
        float *d = p->dst + y * p->dst_w + x0;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(d + v * LANES, store[v], acc[v]);
    }
}

void cj_f32_dwconv_plane__avx512(const cj_dw_plane *p, const float *w, float bias) {
    for (int64_t x0 = 0; x0 < p->dst_w; x0 += CHUNK_VECS * LANES) {
        const int64_t left = (p->dst_w - x0 + LANES - 1) / LANES;
        switch (left >= CHUNK_VECS ? CHUNK_VECS : left) {
        case 1: correlate_chunk(p, w, bias, x0, 1); break;
        case 2: correlate_chunk(p, w, bias, x0, 2); break;
        case 3: correlate_chunk(p, w, bias, x0, 3); break;
        default: correlate_chunk(p, w, bias, x0, 4); break;
        }
    }
}

static inline __attribute__((always_inline)) void wgrad_chunk(const cj_dw_plane *p, float *dw, int64_t x0,
                                                              const int NV) {
    __mmask16 masks[CJ_DW_MAX_KW][CHUNK_VECS], rows[CHUNK_VECS];
    chunk_masks(p, x0, NV, masks);
    for (int v = 0; v < NV; v++) rows[v] = lane_mask(x0 + v * LANES, p->dst_w, LANES);
    const int64_t kw = p->kw;
    for (int64_t i = 0; i < p->kh; i++) {
        __m512 acc[CJ_DW_MAX_KW];
#pragma GCC unroll 16
        for (int j = 0; j < CJ_DW_MAX_KW; j++) acc[j] = _mm512_setzero_ps();
        for (int64_t y = 0; y < p->dst_h; y++) {
            const int64_t sy = y + p->off_h + i * p->dil_h;
            if (sy < 0 || sy >= p->src_h) continue;
            const float *row = p->src + sy * p->src_w + x0 + p->off_w, *g = p->dst + y * p->dst_w + x0;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                const __m512 gv = _mm512_maskz_loadu_ps(rows[v], g + v * LANES);
#pragma GCC unroll 16
                for (int j = 0; j < CJ_DW_MAX_KW; j++) {
                    if (j >= kw) break;
                    const __mmask16 m = masks[j][v];
                    const __m512 s = _mm512_maskz_loadu_ps(m, row + j * p->dil_w + v * LANES);
                    acc[j] = _mm512_mask3_fmadd_ps(gv, s, acc[j], m);
                }
            }
        }
        /* Constant indices (the loop unrolls), or acc would be forced out of registers. */
#pragma GCC unroll 16
        for (int j = 0; j < CJ_DW_MAX_KW; j++) {
            if (j >= kw) break;
            dw[i * kw + j] += _mm512_reduce_add_ps(acc[j]);
        }
    }
}

void cj_f32_dwconv_wgrad_plane__avx512(const cj_dw_plane *p, float *dw) {
    for (int64_t x0 = 0; x0 < p->dst_w; x0 += CHUNK_VECS * LANES) {
        const int64_t left = (p->dst_w - x0 + LANES - 1) / LANES;
        switch (left >= CHUNK_VECS ? CHUNK_VECS : left) {
        case 1: wgrad_chunk(p, dw, x0, 1); break;
        case 2: wgrad_chunk(p, dw, x0, 2); break;
        case 3: wgrad_chunk(p, dw, x0, 3); break;
        default: wgrad_chunk(p, dw, x0, 4); break;
        }
    }
}
