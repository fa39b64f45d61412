/* The micro-kernel contract every GEMM micro-kernel meets (the BLIS "ukernel", row-major C).
 *
 *   C[0:m, 0:n] = A_panel * B_panel          (accumulate == 0: C is not read)
 *   C[0:m, 0:n] += A_panel * B_panel         (accumulate != 0)
 *
 * a    packed A micro-panel, kc x MR, column by column: element (i, k) at a[k*MR + i]
 * b    packed B micro-panel, kc x NR, row by row:       element (k, j) at b[k*NR + j]
 * c    row-major: element (i, j) at c[i*ldc + j]; only 0 <= i < m, 0 <= j < n is read or written
 * m, n 1..MR and 1..NR: edge tiles are handled inside the kernel (panels are zero-padded by packing)
 * kc   >= 0; kc == 0 with accumulate == 0 writes zeros
 * a, b and c have no alignment requirement (use unaligned loads; packed blocks start 64-aligned,
 * but micro-panels inside them need not).
 * Kernels know nothing of convolutions: the vector axis is NR (C's contiguous axis), A is broadcast. */
#ifndef CJ_KERNELS_UKERNEL_H
#define CJ_KERNELS_UKERNEL_H
#include <stdint.h>
#include "arch/cpu.h"

typedef void (*cj_ukernel_fn)(int64_t kc, const void *a, const void *b, void *c, int64_t ldc,
                              int m, int n, int accumulate);

typedef struct cj_ukernel {
    const char   *name;      /* cj_<dtype>_gemm_ukernel_<MR>x<NR>__<isa> */
    cj_isa        isa;
    int           dtype;     /* CJ_F32 or CJ_F64 (cj_dtype values) */
    int           mr, nr;
    cj_ukernel_fn fn;
} cj_ukernel;

/* Declarations of every kernel listed in ukernels.inc. */
#define CJ_UKERNEL(name, isa, dtype, mr, nr) \
    void name(int64_t kc, const void *a, const void *b, void *c, int64_t ldc, int m, int n, int accumulate);
#include "kernels/ukernels.inc"
#undef CJ_UKERNEL

/* A kernel's twin that reads A in place instead of packed: element (i, k) of A at
 * a[i * lda + koff[k]] (koff NULL: a[i * lda + k], rows contiguous); rows >= m are never read.
 * Otherwise the contract above. */
typedef void (*cj_ukernel_sa_fn)(int64_t kc, const void *a, int64_t lda, const int32_t *koff, const void *b, void *c,
                                 int64_t ldc, int m, int n, int accumulate);
#if CJ_HAVE_X86_KERNELS
void cj_f32_gemm_ukernel_8x48_sa__avx512(int64_t kc, const void *a, int64_t lda, const int32_t *koff, const void *b,
                                         void *c, int64_t ldc, int m, int n, int accumulate);
#endif
/* uk's twin, NULL if it has none. */
cj_ukernel_sa_fn cj_ukernel_strided_a(const cj_ukernel *uk);

/* All kernels built into this binary (including those the CPU cannot run), and their count. */
const cj_ukernel *cj_ukernel_list(int *count);
/* The kernel for dtype on the given ISA path (the best one the path has). */
const cj_ukernel *cj_ukernel_select(int dtype, cj_isa isa);

#endif
