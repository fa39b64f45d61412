/* The algorithm table (CJ_ALGO_AUTO's choice among them is auto.c). */
#include "algo/algo.h"

const cj_algo *cj_algo_get(cj_algorithm id) {
    switch (id) {
    case CJ_ALGO_IM2COL_GEMM: return &cj_algo_im2col_gemm;
    case CJ_ALGO_IMPLICIT_GEMM: return &cj_algo_implicit_gemm;
    case CJ_ALGO_DIRECT: return &cj_algo_direct;
    case CJ_ALGO_FFT: return &cj_algo_fft;
    case CJ_ALGO_WINOGRAD: return &cj_algo_winograd;
    default: return NULL;
    }
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
