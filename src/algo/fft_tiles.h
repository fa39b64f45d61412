/* Fixed-size 2-D real FFTs of tiles (8, 16 or 32 in either dimension), vectorised across
 * CJ_FFT_LANES tiles at once: lane l of every array is one tile, so every butterfly is one vector
 * operation over the lanes and no transposes are needed.
 *
 * Spatial tiles live in a "lane block" [th][tw][L] (element (y, x) of lane l at
 * ((y * tw + x) * L + l)). Spectra have F = th * (tw/2 + 1) complex bins (the other half of a real
 * signal's spectrum is the conjugate); bin f = u * (tw/2 + 1) + v (u along y, v along x) of lane l
 * has its real part at out[f * fstride + l] and its imaginary part pstride elements further on, so
 * the callers can write spectra straight into their GEMM operands.
 *
 * r2c is the unnormalised forward DFT (exp(-2 pi i ...)); c2r the unnormalised inverse, so
 * c2r(r2c(x)) = th * tw * x: the drivers fold 1 / (th * tw) into the kernel transform. */
#ifndef CJ_ALGO_FFT_TILES_H
#define CJ_ALGO_FFT_TILES_H
#include <stddef.h>

#define CJ_FFT_LANES 16
#define CJ_FFT_MAX 32

/* Elements of the work buffer c2r needs: th * (tw/2 + 1) * 2 * CJ_FFT_LANES. */
static inline size_t cj_fft_work_elems(int th, int tw) {
    return (size_t)th * (size_t)(tw / 2 + 1) * 2 * CJ_FFT_LANES;
}

typedef struct cj_fft_kernels {
    /* in: a lane block [th][tw][L] whose rows from `rows` on are zero (not read); out: the
     * spectra as described above. */
    void (*r2c_f32)(int th, int tw, int rows, const float *in, float *out, ptrdiff_t fstride, ptrdiff_t pstride);
    void (*r2c_f64)(int th, int tw, int rows, const double *in, double *out, ptrdiff_t fstride,
                    ptrdiff_t pstride);
    /* in: spectra (not modified); out: rows [0, rows) of a lane block [th][tw][L] (rows rounded up
     * to even are written); work: cj_fft_work_elems(th, tw) elements. */
    void (*c2r_f32)(int th, int tw, int rows, const float *in, ptrdiff_t fstride, ptrdiff_t pstride,
                    float *out, float *work);
    void (*c2r_f64)(int th, int tw, int rows, const double *in, ptrdiff_t fstride, ptrdiff_t pstride,
                    double *out, double *work);
} cj_fft_kernels;

/* The kernels of the CPU's selected ISA path. */
const cj_fft_kernels *cj_fft_kernels_get(void);

extern const cj_fft_kernels cj_fft_kernels_portable;
#if defined(CJ_HAVE_X86_KERNELS)
extern const cj_fft_kernels cj_fft_kernels_avx2;
extern const cj_fft_kernels cj_fft_kernels_avx512;
#endif

#endif
