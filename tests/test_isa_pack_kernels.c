/* The packers' SIMD kernels, each against its plain definition, with sources allocated to exactly
 * what they may read (AddressSanitizer and valgrind see any over-read) and a guard past what they
 * may write:
 *  - the strided row copy of the column-matrix packers (kernels/gather.h), every length 0-40;
 *  - the GEMM's A panels from row-major rows (gemm/gemm_pack_transposed.h), MR 6 and 8, every
 *    row count up to MR, depths 0-20 (the 8-column blocks and the tail). */
#include <stdlib.h>

#include "arch/cpu.h"
#include "gemm/gemm_pack_transposed.h"
#include "kernels/gather.h"
#include "testutil.h"

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

int main(void) {
    const int isa = tu_isa_check();
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
#else
    (void)isa;
    tu_pass();
#endif
    return tu_finish();
}
