/* The algorithm table and CJ_ALGO_AUTO's choice. Only IM2COL_GEMM exists so far, so AUTO routes to
 * it; as algorithms land, cj_algo_choose grows into the cost model. */
#include "algo/algo.h"

const cj_algo *cj_algo_get(cj_algorithm id) {
    switch (id) {
    case CJ_ALGO_IM2COL_GEMM: return &cj_algo_im2col_gemm;
    case CJ_ALGO_WINOGRAD: return &cj_algo_winograd;
    default: return NULL;
    }
}

const cj_algo *cj_algo_choose(const cj_conv_desc *d, cj_pass pass) {
    (void)d;
    (void)pass;
    return &cj_algo_im2col_gemm;
}

const char *cj_algorithm_name(cj_algorithm algorithm) {
    switch (algorithm) {
    case CJ_ALGO_AUTO: return "auto";
    case CJ_ALGO_IM2COL_GEMM: return "im2col_gemm";
    case CJ_ALGO_IMPLICIT_GEMM: return "implicit_gemm";
    case CJ_ALGO_WINOGRAD: return "winograd";
    case CJ_ALGO_FFT: return "fft";
    case CJ_ALGO_DIRECT: return "direct";
    }
    return "unknown";
}
