/* The strided row copy of the column-matrix packers (kernels/gather.h): every length from 0 to
 * 40 (the vector blocks and the scalar tail), reading no float past src[2(n-1)] (the source is
 * allocated to exactly that size, so AddressSanitizer and valgrind see any over-read) and
 * writing none past dst[n-1]. */
#include <stdlib.h>

#include "arch/cpu.h"
#include "kernels/gather.h"
#include "testutil.h"

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
#else
    (void)isa;
    tu_pass();
#endif
    return tu_finish();
}
