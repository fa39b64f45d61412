/* The packers' SIMD kernels, each against its plain definition, with sources allocated to exactly
 * what they may read (AddressSanitizer and valgrind see any over-read) and a guard past what they
 * may write:
 *  - the strided row copy of the column-matrix packers (kernels/gather.h), every length 0-40;
 *  - the split of a row into its stride phases (kernels/gather.h, AVX-512), strides 2-16, lengths
 *    0-40 (the 16-element blocks and the tail);
 *  - the GEMM's A panels from row-major rows (gemm/gemm_pack_transposed.h), MR 6 and 8, every
 *    row count up to MR, depths 0-20 (the 8-column blocks and the tail);
 *  - the implicit packer's prefetch plan (kernels/implicit_pack.h): it covers every input element
 *    a panel reads and stays inside the input, for panels of one row, several rows and two images,
 *    with strides, dilation and tall kernels; and it does not fetch whole rows for a part of one. */
#include <stdlib.h>

#include "arch/cpu.h"
#include "gemm/gemm_pack_transposed.h"
#include "kernels/gather.h"
#include "kernels/implicit_pack.h"
#include "testutil.h"

/* Whether byte address a lies in one of the plan's runs for channel c. */
static int plan_covers(const cj_pack_prefetch_plan *plan, int64_t c, const float *a) {
    for (int r = 0; r < plan->runs; r++) {
        const char *lo = plan->at[r] + c * plan->plane_bytes;
        if ((const char *)a >= lo && (const char *)a < lo + 64 * plan->lines[r]) return 1;
    }
    return 0;
}

/* A panel of nr pixels from pixel p0 of a batch of 2 images (pixels in row-major order, the next
 * image after the last pixel of one), as the packer's caller cuts it into segments. */
static void check_prefetch_plan(const char *what, cj_pack_geometry g, int64_t p0, int64_t nr, int64_t max_lines) {
    const int64_t h_out = (g.h_in + 2 * g.pad_h - (g.kh - 1) * g.dil_h - 1) / g.stride_h + 1;
    const int64_t w_out = (g.w_in + 2 * g.pad_w - (g.kw - 1) * g.dil_w - 1) / g.stride_w + 1, hw = h_out * w_out;
    const int64_t channels = 3, plane = g.h_in * g.w_in;
    float *input = malloc(sizeof(float) * (size_t)(2 * channels * plane));
    if (!input) {
        tu_fail("out of memory");
        return;
    }
    cj_pack_segment seg[CJ_PACK_MAX_SEGMENTS];
    int nseg = 0;
    for (int64_t q = 0; q < nr && p0 + q < 2 * hw && nseg < CJ_PACK_MAX_SEGMENTS;) {
        const int64_t p = (p0 + q) % hw, y = p / w_out, x = p % w_out, len = nr - q < w_out - x ? nr - q : w_out - x;
        seg[nseg++] = (cj_pack_segment){input + (p0 + q) / hw * channels * plane, y, x, q, len};
        q += len;
    }
    cj_pack_prefetch_plan plan;
    cj_pack_prefetch_plan_init(&g, seg, nseg, &plan);
    int covered = 1, inside = 1, lines = 0;
    for (int r = 0; r < plan.runs; r++) {
        lines += plan.lines[r];
        const uintptr_t first = (uintptr_t)plan.at[r], last = first + 64 * (uintptr_t)(plan.lines[r] - 1);
        int in_an_image = 0;
        for (int i = 0; i < 2; i++) {
            const uintptr_t lo = (uintptr_t)(input + i * channels * plane) & ~(uintptr_t)63;
            in_an_image |= first >= lo && last < (uintptr_t)(input + i * channels * plane + plane);
        }
        inside &= in_an_image;
    }
    for (int64_t c = 0; c < channels; c++)
        for (int s = 0; s < nseg; s++)
            for (int64_t i = 0; i < g.kh; i++)
                for (int64_t j = 0; j < g.kw; j++)
                    for (int64_t l = 0; l < seg[s].lanes; l++) {
                        const int64_t iy = seg[s].y * g.stride_h - g.pad_h + i * g.dil_h;
                        const int64_t ix = (seg[s].x + l) * g.stride_w - g.pad_w + j * g.dil_w;
                        if (iy >= 0 && iy < g.h_in && ix >= 0 && ix < g.w_in)
                            covered &= plan_covers(&plan, c, seg[s].image + (c * g.h_in + iy) * g.w_in + ix);
                    }
    tu_expect(covered, "prefetch plan, %s: an element the panel reads is in no run", what);
    tu_expect(inside, "prefetch plan, %s: a run leaves channel 0 of its image", what);
    tu_expect(lines <= max_lines, "prefetch plan, %s: %d lines for what needs at most %lld", what, lines,
              (long long)max_lines);
    free(input);
}

static void check_prefetch_plans(void) {
    const cj_pack_geometry k3 = {.h_in = 56, .w_in = 56, .kh = 3, .kw = 3, .pad_h = 1, .pad_w = 1, .dil_h = 1,
                                 .dil_w = 1, .stride_h = 1, .stride_w = 1, .prefetch = 8};
    check_prefetch_plan("56 wide, two rows", k3, 40, 48, 4 * 5);
    check_prefetch_plan("56 wide, first row", k3, 0, 48, 2 * 4);
    check_prefetch_plan("56 wide, across two images", k3, 56 * 56 - 20, 48, 3 * 5 + 2 * 5);
    cj_pack_geometry g = k3;
    g.h_in = g.w_in = 14;
    check_prefetch_plan("14 wide, five rows", g, 14 * 5 + 3, 48, 7 * 2);
    g.h_in = g.w_in = 224;
    check_prefetch_plan("224 wide, part of a row", g, 224 * 7 + 100, 48, 3 * 5); /* not 3 rows x 14 lines */
    g = k3, g.stride_h = g.stride_w = 2;
    check_prefetch_plan("stride 2", g, 28 * 3 + 10, 48, 24); /* 7 rows, 4 of them partial */
    g = k3, g.dil_h = g.dil_w = 2, g.pad_h = g.pad_w = 2;
    check_prefetch_plan("dilation 2", g, 100, 48, 6 * 4);
    g = k3, g.kh = 7, g.kw = 1, g.pad_h = 3, g.pad_w = 0;
    check_prefetch_plan("7x1", g, 56 * 10 + 30, 48, 8 * 4);
    g = k3, g.kh = 1, g.kw = 7, g.pad_h = 0, g.pad_w = 3;
    check_prefetch_plan("1x7", g, 56 * 10 + 30, 48, 2 * 5);
    g = k3, g.h_in = g.w_in = 7;
    check_prefetch_plan("7 wide, across two images", g, 30, 48, 8 + 8);
}

#if defined(CJ_HAVE_X86_KERNELS)
static void check_a_panels(void) {
    for (int64_t mr = 6; mr <= 8; mr += 2)
        for (int64_t rows = 1; rows <= mr; rows++)
            for (int64_t kc = 0; kc <= 20; kc++) {
                const int64_t rs = kc + 3, len = (rows - 1) * rs + kc + (kc == 0);
                float *src = malloc(sizeof(float) * (size_t)len), *dst = malloc(sizeof(float) * (size_t)(kc * mr + 1));
                if (!src || !dst) {
                    tu_fail("out of memory");
                    free(src);
                    free(dst);
                    return;
                }
                for (int64_t i = 0; i < len; i++) src[i] = (float)i + 0.25f;
                dst[kc * mr] = -1.0f;
                cj_pack_a_panel_f32__avx2(src, rs, kc, rows, mr, dst);
                int ok = dst[kc * mr] == -1.0f;
                for (int64_t k = 0; k < kc; k++)
                    for (int64_t i = 0; i < mr; i++) ok &= dst[k * mr + i] == (i < rows ? src[i * rs + k] : 0.0f);
                tu_expect(ok, "A panel mr %lld rows %lld kc %lld: wrong element or a write past the panel",
                          (long long)mr, (long long)rows, (long long)kc);
                free(src);
                free(dst);
            }
}
#endif

#if defined(CJ_HAVE_X86_KERNELS)
static void check_deinterleave(void) {
    for (int64_t s = 2; s <= CJ_DEINTERLEAVE_MAX; s++)
        for (int64_t n = 0; n <= 40; n++) {
            const int64_t len = n * s;
            float *src = malloc(sizeof(float) * (size_t)(len ? len : 1));
            float *out = malloc(sizeof(float) * (size_t)(s * (n + 1)));
            if (!src || !out) {
                tu_fail("out of memory");
                free(src);
                free(out);
                return;
            }
            for (int64_t i = 0; i < len; i++) src[i] = (float)i + 0.25f;
            float *phase[CJ_DEINTERLEAVE_MAX];
            for (int64_t p = 0; p < s; p++) {
                phase[p] = out + p * (n + 1);
                phase[p][n] = -1.0f; /* the guard past each phase */
            }
            cj_f32_deinterleave__avx512(src, s, n, phase);
            int ok = 1;
            for (int64_t p = 0; p < s; p++) {
                ok &= phase[p][n] == -1.0f;
                for (int64_t m = 0; m < n; m++) ok &= phase[p][m] == src[m * s + p];
            }
            tu_expect(ok, "deinterleave stride %lld, n = %lld: a phase differs, or a write past its end",
                      (long long)s, (long long)n);
            free(src);
            free(out);
        }
}
#endif

int main(void) {
    const int isa = tu_isa_check();
    check_prefetch_plans();
#if defined(CJ_HAVE_X86_KERNELS)
    if (isa < CJ_ISA_AVX2) {
        tu_pass(); /* the scalar path has no kernel of its own */
        return tu_finish();
    }
    for (int64_t n = 0; n <= 40; n++) {
        const int64_t len = n ? 2 * n - 1 : 1;
        float *src = malloc(sizeof(float) * (size_t)len), *dst = malloc(sizeof(float) * (size_t)(n + 1));
        if (!src || !dst) {
            tu_fail("out of memory");
            free(src);
            free(dst);
            return tu_finish();
        }
        for (int64_t i = 0; i < len; i++) src[i] = (float)i + 0.5f;
        dst[n] = -1.0f;
        cj_f32_gather_stride2__avx2(dst, src, n);
        int ok = dst[n] == -1.0f;
        for (int64_t x = 0; x < n; x++) ok &= dst[x] == src[2 * x];
        tu_expect(ok, "n = %lld: dst[x] != src[2x], or a write past dst[n-1]", (long long)n);
        free(src);
        free(dst);
    }
    check_a_panels();
    if (isa >= CJ_ISA_AVX512) check_deinterleave();
#else
    (void)isa;
    tu_pass();
#endif
    return tu_finish();
}
