/* One-axis Winograd F(2, 7) and F(4, 5) tile transforms, f32 and f64, built with this file's ISA
 * flags (avx512). f32 has its own transforms here: a group of 16 consecutive tiles is cut into its
 * runs along the lines (Inception's 17-wide lines put two in most groups), each read or written by
 * one masked load or store per window element (a column kernel) or one masked gather or scatter
 * (a row kernel, whose tiles lie m apart), so that every group fills its 16 lanes; the input
 * transform writes the GEMMs' packed B panels. The generic transforms of winograd_1d.inc, whose
 * groups stop at a line's end, left half of a 7x1 layer's groups one lane wide and spent 38% of
 * its forward in the transforms; f64 takes them. */
#include <immintrin.h>

#include "kernels/lane_bits.h"
#include "kernels/winograd_1d.h"
#include "util/checked.h"

#define WT_T double
#define WT_VL 8
#define WT_NAME(x) cj_f64_winograd_1d__avx512_##x
#include "kernels/winograd_1d.inc"

enum { LANES = 16 };

/* Where a group's lanes read or write element i of their windows (channel 0): per run s, lane l
 * at base[s][i][l * step] for the lanes in mask[s][i] (those of the run whose element lies in the
 * plane). The step is 1 for a column kernel (masked loads and stores), m for a row kernel (masked
 * gathers and scatters). */
typedef struct {
    int runs;
    int64_t step;
    __m512i index; /* l * step */
    const float *base[LANES][CJ_WINO1D_ELEMS];
    __mmask16 mask[LANES][CJ_WINO1D_ELEMS];
} group_plan;

/* The plan of the group's n tiles for `count` elements from (y + oy, x + ox), element i further
 * along the axis. */
static void plan_group(group_plan *p, const float *tensor, int use_dst, const cj_wino1d_geometry *g,
                       const cj_wino_tile *t, int n, int64_t oy, int64_t ox, int count) {
    const int64_t step = cj_wino1d_step(g);
    p->runs = 0;
    p->step = step;
    p->index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                  _mm512_set1_epi32((int)step));
    for (int a = 0, len; a < n; a += len) {
        len = 1;
        while (a + len < n && t[a + len].src == t[a].src && t[a + len].dst == t[a].dst && t[a + len].y == t[a].y &&
               t[a + len].x == t[a].x + len * step)
            len++;
        const float *image = tensor + (use_dst ? t[a].dst : t[a].src);
        for (int i = 0; i < count; i++) {
            const int64_t yy = t[a].y + oy + i * g->dy, c0 = t[a].x + ox + i * g->dx;
            /* lane l (from a) at column c0 + (l - a) * step: inside for l - a in [first, end) */
            const int64_t first = c0 >= 0 ? 0 : (-c0 + step - 1) / step;
            const int64_t end = c0 >= g->w ? 0 : (g->w - c0 + step - 1) / step;
            const int inside = yy >= 0 && yy < g->h;
            p->mask[p->runs][i] = inside ? (__mmask16)(cj_lane_bits(a + first, a + end, LANES) &
                                                       cj_lane_bits(a, a + len, LANES))
                                         : 0;
            p->base[p->runs][i] = p->mask[p->runs][i] ? image + yy * g->w + c0 - a * step : image;
        }
        p->runs++;
    }
}

/* Lane l's bit moved to bit 2l + odd: a lane mask as the mask of the 32 positions from a
 * stride-2 run's base that its lanes read. */
static inline uint32_t positions2(__mmask16 lanes, int odd) {
    return (uint32_t)_pdep_u32((uint32_t)lanes, 0x55555555u) << odd;
}

static inline __m512 read_element(const group_plan *p, int i, int64_t offset) {
    __m512 v = _mm512_setzero_ps();
    if (p->step == 1) {
        for (int s = 0; s < p->runs; s++) v = _mm512_mask_loadu_ps(v, p->mask[s][i], p->base[s][i] + offset);
    } else if (p->step == 2) {
        /* the run's 32 positions in two masked loads, their even ones gathered by one permute (a
         * gather took a quarter of a 1x7 forward) */
        const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        for (int s = 0; s < p->runs; s++) {
            const uint32_t at = positions2(p->mask[s][i], 0);
            if (!at) continue;
            const float *base = p->base[s][i] + offset;
            const __m512 lo = _mm512_maskz_loadu_ps((__mmask16)at, base);
            const __m512 hi = _mm512_maskz_loadu_ps((__mmask16)(at >> 16), base + LANES);
            v = _mm512_mask_mov_ps(v, p->mask[s][i], _mm512_permutex2var_ps(lo, evens, hi));
        }
    } else {
        for (int s = 0; s < p->runs; s++)
            v = _mm512_mask_i32gather_ps(v, p->mask[s][i], p->index, p->base[s][i] + offset, 4);
    }
    return v;
}

static inline void write_element(const group_plan *p, int j, int64_t offset, __m512 v) {
    if (p->step == 1)
        for (int s = 0; s < p->runs; s++) _mm512_mask_storeu_ps((float *)p->base[s][j] + offset, p->mask[s][j], v);
    else
        for (int s = 0; s < p->runs; s++)
            _mm512_mask_i32scatter_ps((float *)p->base[s][j] + offset, p->mask[s][j], p->index, v, 4);
}

static inline void store_elements(float *V, int64_t ld_e, __m512 v[CJ_WINO1D_ELEMS], __mmask16 lanes) {
    for (int e = 0; e < CJ_WINO1D_ELEMS; e++) _mm512_mask_storeu_ps(V + e * ld_e, lanes, v[e]);
}

/* The element at channel c, column t0 of a V matrix: packed, within the KC slice [pc, pc + kc) of
 * the channels, the 16 columns from t0 (a multiple of 16) lie in one NR panel. */
static inline int64_t column_at(const cj_wino_layout *L, int64_t c, int64_t pc, int64_t kc, int64_t t0) {
    if (!L->gemm) return c * L->ld_c + t0;
    const int64_t nr = L->gemm->nr;
    return pc * L->ld_c + t0 / nr * kc * nr + (c - pc) * nr + t0 % nr;
}

void cj_f32_winograd_1d__avx512_input(const void *src, const cj_wino1d_geometry *g, int64_t channels,
                                      const cj_wino_tile *tiles, int64_t ntiles, void *V_,
                                      const cj_wino_layout *layout) {
    float *V = V_;
    const __m512 c525 = _mm512_set1_ps(5.25f), c425 = _mm512_set1_ps(4.25f), c025 = _mm512_set1_ps(0.25f);
    const __m512 c125 = _mm512_set1_ps(1.25f), c05 = _mm512_set1_ps(0.5f), c25 = _mm512_set1_ps(2.5f);
    const __m512 c2 = _mm512_set1_ps(2.0f), c4 = _mm512_set1_ps(4.0f), c5 = _mm512_set1_ps(5.0f);
    /* packed panels: every column up to ld_c (lanes past the tiles read nothing: zeros) */
    const int64_t columns = layout->gemm ? layout->ld_c : ntiles;
    const int64_t kc_max = layout->gemm ? layout->gemm->kc : channels;
    group_plan p;
    for (int64_t t0 = 0; t0 < columns; t0 += LANES) {
        const int n = (int)(ntiles - t0 < 0 ? 0 : ntiles - t0 < LANES ? ntiles - t0 : LANES);
        plan_group(&p, src, 0, g, tiles + t0, n, -g->pad_h, -g->pad_w, CJ_WINO1D_ELEMS);
        const __mmask16 lanes = layout->gemm ? (__mmask16)0xFFFF : (__mmask16)cj_lane_bits(0, n, LANES);
        for (int64_t pc = 0; pc < channels; pc += kc_max) {
            const int64_t kc = cj_min64(kc_max, channels - pc);
            for (int64_t c = pc; c < pc + kc; c++) {
                const int64_t off = c * g->plane;
                __m512 d[CJ_WINO1D_ELEMS], v[CJ_WINO1D_ELEMS];
                for (int i = 0; i < CJ_WINO1D_ELEMS; i++) d[i] = read_element(&p, i, off);
                /* B^T d, as bt8 in winograd_1d.inc */
                v[0] = _mm512_fmadd_ps(c525, _mm512_sub_ps(d[2], d[4]), _mm512_sub_ps(d[6], d[0]));
                v[7] = _mm512_fmadd_ps(c525, _mm512_sub_ps(d[3], d[5]), _mm512_sub_ps(d[7], d[1]));
                const __m512 a1 = _mm512_fnmadd_ps(c425, d[4], _mm512_add_ps(d[2], d[6]));
                const __m512 b1 = _mm512_fnmadd_ps(c425, d[3], _mm512_add_ps(d[1], d[5]));
                v[1] = _mm512_add_ps(a1, b1);
                v[2] = _mm512_sub_ps(a1, b1);
                const __m512 a2 = _mm512_add_ps(_mm512_fnmadd_ps(c125, d[4], _mm512_mul_ps(c025, d[2])), d[6]);
                const __m512 b2 = _mm512_fmadd_ps(c2, d[5], _mm512_fnmadd_ps(c25, d[3], _mm512_mul_ps(c05, d[1])));
                v[3] = _mm512_add_ps(a2, b2);
                v[4] = _mm512_sub_ps(a2, b2);
                const __m512 a3 = _mm512_add_ps(_mm512_fnmadd_ps(c5, d[4], _mm512_mul_ps(c4, d[2])), d[6]);
                const __m512 b3 = _mm512_fmadd_ps(c05, d[5], _mm512_fnmadd_ps(c25, d[3], _mm512_mul_ps(c2, d[1])));
                v[5] = _mm512_add_ps(a3, b3);
                v[6] = _mm512_sub_ps(a3, b3);
                store_elements(V + column_at(layout, c, pc, kc, t0), layout->ld_e, v, lanes);
            }
        }
    }
}

void cj_f32_winograd_1d__avx512_grad_output(const void *src, const cj_wino1d_geometry *g, int64_t channels,
                                            const cj_wino_tile *tiles, int64_t ntiles, void *Z_, int64_t ld_e,
                                            int64_t ld_c) {
    float *Z = Z_;
    const int m = g->m;
    group_plan p;
    for (int64_t t0 = 0; t0 < ntiles; t0 += LANES) {
        const int n = (int)(ntiles - t0 < LANES ? ntiles - t0 : LANES);
        plan_group(&p, src, 1, g, tiles + t0, n, 0, 0, m);
        const __mmask16 lanes = (__mmask16)cj_lane_bits(0, n, LANES);
        for (int64_t c = 0; c < channels; c++) {
            const int64_t off = c * g->plane;
            __m512 y[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            __m512 z[CJ_WINO1D_ELEMS];
            for (int i = 0; i < m; i++) y[i] = read_element(&p, i, off);
            /* A y, as a8 in winograd_1d.inc */
            __m512 e1 = y[0], o1 = y[1], e2 = y[0], o2 = _mm512_add_ps(y[1], y[1]);
            __m512 eh = y[0], oh = _mm512_mul_ps(_mm512_set1_ps(0.5f), y[1]);
            if (m == 4) {
                e1 = _mm512_add_ps(e1, y[2]);
                o1 = _mm512_add_ps(o1, y[3]);
                e2 = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), y[2], e2);
                o2 = _mm512_fmadd_ps(_mm512_set1_ps(8.0f), y[3], o2);
                eh = _mm512_fmadd_ps(_mm512_set1_ps(0.25f), y[2], eh);
                oh = _mm512_fmadd_ps(_mm512_set1_ps(0.125f), y[3], oh);
            }
            z[0] = y[0];
            z[1] = _mm512_add_ps(e1, o1);
            z[2] = _mm512_sub_ps(e1, o1);
            z[3] = _mm512_add_ps(e2, o2);
            z[4] = _mm512_sub_ps(e2, o2);
            z[5] = _mm512_add_ps(eh, oh);
            z[6] = _mm512_sub_ps(eh, oh);
            z[7] = y[m - 1];
            store_elements(Z + c * ld_c + t0, ld_e, z, lanes);
        }
    }
}

void cj_f32_winograd_1d__avx512_output(const void *M_, int64_t ld_e, int64_t ld_c, int64_t channels,
                                       const cj_wino_tile *tiles, int64_t ntiles, const void *bias_, void *dst,
                                       const cj_wino1d_geometry *g) {
    const float *M = M_, *bias = bias_;
    const int m = g->m;
    group_plan p;
    for (int64_t t0 = 0; t0 < ntiles; t0 += LANES) {
        const int n = (int)(ntiles - t0 < LANES ? ntiles - t0 : LANES);
        plan_group(&p, dst, 1, g, tiles + t0, n, 0, 0, m);
        const __mmask16 lanes = (__mmask16)cj_lane_bits(0, n, LANES);
        for (int64_t c = 0; c < channels; c++) {
            __m512 v[CJ_WINO1D_ELEMS], o[4];
            for (int e = 0; e < CJ_WINO1D_ELEMS; e++) v[e] = _mm512_maskz_loadu_ps(lanes, M + e * ld_e + c * ld_c + t0);
            /* A^T v, as at8 in winograd_1d.inc */
            const __m512 s1 = _mm512_add_ps(v[1], v[2]), d1 = _mm512_sub_ps(v[1], v[2]);
            const __m512 s2 = _mm512_add_ps(v[3], v[4]), d2 = _mm512_sub_ps(v[3], v[4]);
            const __m512 sh = _mm512_add_ps(v[5], v[6]), dh = _mm512_sub_ps(v[5], v[6]);
            o[0] = _mm512_add_ps(_mm512_add_ps(v[0], s1), _mm512_add_ps(s2, sh));
            if (m == 2) {
                o[1] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(0.5f), dh, _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d2, d1)),
                                     v[7]);
            } else {
                o[1] = _mm512_fmadd_ps(_mm512_set1_ps(0.5f), dh, _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d2, d1));
                o[2] = _mm512_fmadd_ps(_mm512_set1_ps(0.25f), sh, _mm512_fmadd_ps(_mm512_set1_ps(4.0f), s2, s1));
                o[3] = _mm512_add_ps(
                    _mm512_fmadd_ps(_mm512_set1_ps(0.125f), dh, _mm512_fmadd_ps(_mm512_set1_ps(8.0f), d2, d1)), v[7]);
            }
            const __m512 b = _mm512_set1_ps(bias ? bias[c] : 0.0f);
            const int64_t off = c * g->plane;
            if (p.step == 2 && m == 2) {
                /* a row kernel's two outputs per tile interleaved into 32 positions, two stores */
                const __m512 o0 = _mm512_add_ps(o[0], b), o1 = _mm512_add_ps(o[1], b);
                const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
                const __m512i second = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
                const __m512 lo = _mm512_permutex2var_ps(o0, first, o1), hi = _mm512_permutex2var_ps(o0, second, o1);
                for (int s = 0; s < p.runs; s++) {
                    const uint32_t at = positions2(p.mask[s][0], 0) | positions2(p.mask[s][1], 1);
                    if (!at) continue;
                    float *base = (float *)p.base[s][0] + off; /* element 1's is one further */
                    _mm512_mask_storeu_ps(base, (__mmask16)at, lo);
                    _mm512_mask_storeu_ps(base + LANES, (__mmask16)(at >> 16), hi);
                }
                continue;
            }
            for (int j = 0; j < m; j++) write_element(&p, j, off, _mm512_add_ps(o[j], b));
        }
    }
}

/* Per kernel one 8-lane vector of elements, a broadcast tap times G's column per tap (the generic
 * loop, compiled here, became lane shuffles: 9% of a 7x1 forward). */
void cj_f32_winograd_1d__avx512_weight(const void *w_, int64_t k_stride, int64_t t_stride, int r, int64_t count,
                                       const double *coef, void *U_) {
    const float *w = w_;
    float *U = U_;
    __m256 c[7];
    for (int t = 0; t < r; t++) c[t] = _mm512_cvtpd_ps(_mm512_loadu_pd(coef + t * CJ_WINO1D_ELEMS));
    for (int64_t k = 0; k < count; k++) {
        const float *tap = w + k * k_stride;
        __m256 u = _mm256_mul_ps(c[0], _mm256_set1_ps(tap[0]));
        for (int t = 1; t < r; t++) u = _mm256_fmadd_ps(c[t], _mm256_set1_ps(tap[t * t_stride]), u);
        _mm256_storeu_ps(U + k * CJ_WINO1D_ELEMS, u);
    }
}
