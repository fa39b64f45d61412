/* CPU features and cache sizes, detected once; CONJURE_ARCH=scalar|avx2|avx512 forces a lower path. */
#ifndef CJ_ARCH_CPU_H
#define CJ_ARCH_CPU_H
#include <stddef.h>

typedef enum cj_isa { CJ_ISA_SCALAR = 0, CJ_ISA_AVX2 = 1, CJ_ISA_AVX512 = 2 } cj_isa;

typedef struct cj_cpu_info {
    cj_isa isa;          /* the path in use: the best the CPU and OS support, or lower if forced */
    cj_isa isa_max;      /* the best the CPU and OS support */
    size_t l1d_bytes;    /* per core */
    size_t l2_bytes;     /* per core */
    size_t l3_bytes;     /* shared */
    char model[48];      /* vendor, family and model from cpuid ("AuthenticAMD family 25 model 1"):
                            which CPU a calibration (algo/auto_switches.h) was measured on */
} cj_cpu_info;

/* Detected on first use (thread-safe) and constant afterwards. */
const cj_cpu_info *cj_cpu(void);
const char *cj_isa_name(cj_isa isa);

#endif
