/* CPU feature and cache detection. cpuid + xgetbv on x86-64 (no dependency: the three paths we
 * choose between need only the AVX2/FMA/AVX-512F bits and the OS's register-state support);
 * cache sizes from sysconf, with conservative defaults where the C library does not know them. */
#include "arch/cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static cj_isa detect_isa(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return CJ_ISA_SCALAR;
    const int has_fma = (ecx >> 12) & 1, has_osxsave = (ecx >> 27) & 1, has_avx = (ecx >> 28) & 1;
    if (!has_osxsave || !has_avx || !has_fma) return CJ_ISA_SCALAR;
    const unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return CJ_ISA_SCALAR; /* the OS does not save XMM/YMM state */
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return CJ_ISA_SCALAR;
    const int has_avx2 = (ebx >> 5) & 1;
    /* The AVX-512 files are built with F, VL, DQ and BW (every AVX-512 CPU since Skylake-SP). */
    const unsigned avx512_bits = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
    const int has_avx512 = (ebx & avx512_bits) == avx512_bits;
    if (!has_avx2) return CJ_ISA_SCALAR;
    /* AVX-512 needs the OS to save opmask and both halves of ZMM0-31 (XCR0 bits 5, 6, 7). */
    if (has_avx512 && (xcr0 & 0xe6) == 0xe6) return CJ_ISA_AVX512;
    return CJ_ISA_AVX2;
}

static void describe_model(char *out, size_t size) {
    unsigned int eax, ebx, ecx, edx, regs[3];
    if (!__get_cpuid(0, &eax, &regs[0], &regs[2], &regs[1])) {
        snprintf(out, size, "unknown x86-64");
        return;
    }
    char vendor[13];
    memcpy(vendor, regs, 12);
    vendor[12] = '\0';
    __get_cpuid(1, &eax, &ebx, &ecx, &edx);
    /* the displayed family and model: base plus extended fields (Intel SDM, AMD APM) */
    unsigned family = (eax >> 8) & 0xf, model = (eax >> 4) & 0xf;
    if (family == 0xf) family += (eax >> 20) & 0xff;
    if (family >= 6) model |= ((eax >> 16) & 0xf) << 4;
    snprintf(out, size, "%s family %u model %u", vendor, family, model);
}
#else
static cj_isa detect_isa(void) { return CJ_ISA_SCALAR; }
static void describe_model(char *out, size_t size) { snprintf(out, size, "not x86-64"); }
#endif

static size_t cache_size(int name, size_t fallback) {
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    long v = sysconf(name);
    if (v > 0) return (size_t)v;
#else
    (void)name;
#endif
    return fallback;
}

static cj_isa isa_from_env(cj_isa max) {
    const char *s = getenv("CONJURE_ARCH");
    if (!s || !*s) return max;
    cj_isa want = max;
    if (strcmp(s, "scalar") == 0) want = CJ_ISA_SCALAR;
    else if (strcmp(s, "avx2") == 0) want = CJ_ISA_AVX2;
    else if (strcmp(s, "avx512") == 0) want = CJ_ISA_AVX512;
    /* A path above what the CPU has cannot be forced: it would fault. */
    return want < max ? want : max;
}

static cj_cpu_info g_cpu;
static pthread_once_t g_cpu_once = PTHREAD_ONCE_INIT;

static void cpu_init(void) {
    g_cpu.isa_max = detect_isa();
#if !defined(CJ_HAVE_X86_KERNELS)
    g_cpu.isa_max = CJ_ISA_SCALAR; /* built without the SIMD kernels */
#endif
    g_cpu.isa = isa_from_env(g_cpu.isa_max);
    describe_model(g_cpu.model, sizeof g_cpu.model);
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    g_cpu.l1d_bytes = cache_size(_SC_LEVEL1_DCACHE_SIZE, 32 * 1024);
    g_cpu.l2_bytes = cache_size(_SC_LEVEL2_CACHE_SIZE, 512 * 1024);
    g_cpu.l3_bytes = cache_size(_SC_LEVEL3_CACHE_SIZE, 8 * 1024 * 1024);
#else
    g_cpu.l1d_bytes = 32 * 1024;
    g_cpu.l2_bytes = 512 * 1024;
    g_cpu.l3_bytes = 8 * 1024 * 1024;
#endif
    /* Guard against nonsense from virtual machines. */
    if (g_cpu.l1d_bytes < 16 * 1024 || g_cpu.l1d_bytes > 256 * 1024) g_cpu.l1d_bytes = 32 * 1024;
    if (g_cpu.l2_bytes < 128 * 1024 || g_cpu.l2_bytes > 16 * 1024 * 1024) g_cpu.l2_bytes = 512 * 1024;
}

const cj_cpu_info *cj_cpu(void) {
    pthread_once(&g_cpu_once, cpu_init);
    return &g_cpu;
}

const char *cj_isa_name(cj_isa isa) {
    switch (isa) {
    case CJ_ISA_SCALAR: return "scalar";
    case CJ_ISA_AVX2: return "avx2";
    case CJ_ISA_AVX512: return "avx512";
    }
    return "unknown";
}
