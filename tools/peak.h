/* This machine's FMA peak, measured (not looked up): the widest vector FMA the CPU has, run in
 * 16 independent chains so that latency never limits it. */
#ifndef CJ_TOOLS_PEAK_H
#define CJ_TOOLS_PEAK_H

typedef struct bench_peak {
    char        cpu[128];      /* the CPU's model name */
    const char *isa;           /* "AVX-512F", "AVX2+FMA" or "scalar" */
    double      f32_gflops;    /* per thread */
    double      f64_gflops;    /* per thread */
} bench_peak;

/* Measures on the calling thread for about 50 ms per dtype. */
void bench_peak_measure(bench_peak *peak);

#endif
