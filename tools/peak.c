#include "peak.h"

#include <stdio.h>
#include <string.h>

#include "timing.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BENCH_X86 1
#endif

/* One FMA loop: CHAINS chains, each c = c*a + b, started from different values so that the
 * compiler cannot merge them into one. They must cover 2 FMA pipes x the FMA latency (4-5 cycles
 * on AMD, 4 on Intel: 8-10) and, with a and b, fit the vector registers: 16 chains where there are
 * 32 registers (AVX-512), 12 where there are 16 (AVX2: 16 chains spilled there and measured half
 * the peak). Returns a value derived from every chain so that none of them is dead code. */
#define DEFINE_FMA_LOOP(fn, attr, V, ELEM, SET1, FMA, ADD, STORE, CHAINS)                              \
    attr static double fn(long iters)                                                                \
    {                                                                                                \
        const V a = SET1((ELEM)0.9999), b = SET1((ELEM)1e-4);                                        \
        V c[CHAINS];                                                                                 \
        for (int j = 0; j < CHAINS; j++)                                                             \
            c[j] = SET1((ELEM)(1 + 0.01 * j));                                                       \
        for (long i = 0; i < iters; i++) {                                                           \
            _Pragma("GCC unroll 16") for (int j = 0; j < CHAINS; j++) c[j] = FMA(c[j], a, b);        \
        }                                                                                            \
        for (int j = 1; j < CHAINS; j++)                                                             \
            c[0] = ADD(c[0], c[j]);                                                                  \
        ELEM out[64 / sizeof(ELEM)];                                                                 \
        STORE(out, c[0]);                                                                            \
        return (double)out[0];                                                                       \
    }

/* The portable loop: a multiply and an add (2 flops per lane), one lane. */
#define SCALAR_SET1(x) (x)
#define SCALAR_FMA(c, a, b) ((c) * (a) + (b))
#define SCALAR_ADD(x, y) ((x) + (y))
#define SCALAR_STORE(p, v) ((p)[0] = (v))
DEFINE_FMA_LOOP(fma_loop_scalar_f32, , float, float, SCALAR_SET1, SCALAR_FMA, SCALAR_ADD, SCALAR_STORE, 12)
DEFINE_FMA_LOOP(fma_loop_scalar_f64, , double, double, SCALAR_SET1, SCALAR_FMA, SCALAR_ADD, SCALAR_STORE, 12)

#ifdef BENCH_X86
/* The tools are built for the baseline ISA, so these functions carry their ISA in a target
 * attribute and run only when __builtin_cpu_supports says the CPU has it. */
#define AVX2_ATTR __attribute__((target("avx2,fma")))
#define AVX512_ATTR __attribute__((target("avx512f")))
DEFINE_FMA_LOOP(fma_loop_avx2_f32, AVX2_ATTR, __m256, float, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps,
                _mm256_storeu_ps, 12)
DEFINE_FMA_LOOP(fma_loop_avx2_f64, AVX2_ATTR, __m256d, double, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd,
                _mm256_storeu_pd, 12)
DEFINE_FMA_LOOP(fma_loop_avx512_f32, AVX512_ATTR, __m512, float, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
                _mm512_storeu_ps, 16)
DEFINE_FMA_LOOP(fma_loop_avx512_f64, AVX512_ATTR, __m512d, double, _mm512_set1_pd, _mm512_fmadd_pd,
                _mm512_add_pd, _mm512_storeu_pd, 16)
#endif

/* Best GFLOP/s over repeated calls for about budget_s seconds: the best call is the one that ran
 * at full clock, after the core has ramped up. */
static double measure(double (*loop)(long), int lanes, int chains, double budget_s)
{
    const long iters = 1L << 15;
    const double flops = chains * 2.0 * lanes * (double)iters;
    volatile double sink = 0;
    double best = 0, start = bench_now();
    do {
        double t0 = bench_now();
        sink = sink + loop(iters);
        double dt = bench_now() - t0;
        if (dt > 0 && flops / dt > best)
            best = flops / dt;
    } while (bench_now() - start < budget_s);
    return best * 1e-9;
}

static void read_cpu_name(char *name, size_t size)
{
    snprintf(name, size, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (colon && !strncmp(line, "model name", 10)) {
            char *v = colon + 1 + strspn(colon + 1, " \t");
            v[strcspn(v, "\n")] = '\0';
            snprintf(name, size, "%s", v);
            break;
        }
    }
    fclose(f);
}

void bench_peak_measure(bench_peak *peak)
{
    const double budget = 0.025; /* per dtype: ~50 ms in all */
    read_cpu_name(peak->cpu, sizeof peak->cpu);
#ifdef BENCH_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        peak->isa = "AVX-512F";
        peak->f32_gflops = measure(fma_loop_avx512_f32, 16, 16, budget);
        peak->f64_gflops = measure(fma_loop_avx512_f64, 8, 16, budget);
        return;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        peak->isa = "AVX2+FMA";
        peak->f32_gflops = measure(fma_loop_avx2_f32, 8, 12, budget);
        peak->f64_gflops = measure(fma_loop_avx2_f64, 4, 12, budget);
        return;
    }
#endif
    peak->isa = "scalar";
    peak->f32_gflops = measure(fma_loop_scalar_f32, 1, 12, budget);
    peak->f64_gflops = measure(fma_loop_scalar_f64, 1, 12, budget);
}
