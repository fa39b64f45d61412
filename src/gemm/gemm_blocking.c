/* Block sizes derived from the cache sizes (after Low et al., "Analytical modeling is enough for
 * high-performance BLIS", TOMS 2016), for our loop order:
 *
 *   jc (NC columns of B) -> pc (KC of K: pack B's KC x NC block) -> ir (MR rows of A) -> jr (NR)
 *
 * Kernels broadcast A and stream B as vectors, so the operand reused across the innermost loop is
 * the A micro-panel (MR x KC): it stays in L1 while the B block streams from L2.
 *  - KC: the A micro-panel takes half of L1, leaving the other half for the B rows in flight and
 *    the C tile: KC = (L1/2) / (MR * elem). 32 KiB L1, f32 MR=8 -> 512; f64 MR=8 -> 256.
 *  - NC: the packed B block (KC x NC) takes half of L2 (the rest holds A panels, C lines and the
 *    other stream): NC = (L2/2) / (KC * elem), a multiple of NR. 1 MiB L2, f32 -> 256 -> 240.
 * Both are clamped to sane ranges so that odd cache reports from virtual machines cannot starve
 * the kernel (KC >= 64 amortises the C tile load/store; NC >= 4 NR amortises the pack calls). */
#include "gemm/gemm.h"

#include <pthread.h>

#include "conjure.h"
#include "util/checked.h"

void cj_gemm_config_init(cj_gemm_config *cfg, const cj_ukernel *uk) {
    const cj_cpu_info *cpu = cj_cpu();
    cfg->uk = uk;
    cfg->uk_sa = cj_ukernel_strided_a(uk);
    cfg->dtype = uk->dtype;
    cfg->elem = uk->dtype == CJ_F64 ? sizeof(double) : sizeof(float);
    cfg->mr = uk->mr;
    cfg->nr = uk->nr;
    int64_t kc = (int64_t)(cpu->l1d_bytes / 2) / (cfg->mr * (int64_t)cfg->elem);
    kc = cj_max64(64, cj_min64(kc, 768)) / 8 * 8;
    int64_t nc = (int64_t)(cpu->l2_bytes / 2) / (kc * (int64_t)cfg->elem);
    nc = cj_max64(4 * cfg->nr, nc / cfg->nr * cfg->nr);
    cfg->kc = kc;
    cfg->nc = nc;
}

static cj_gemm_config g_configs[2];
static pthread_once_t g_configs_once = PTHREAD_ONCE_INIT;

static void configs_init(void) {
    const cj_isa isa = cj_cpu()->isa;
    cj_gemm_config_init(&g_configs[0], cj_ukernel_select(CJ_F32, isa));
    cj_gemm_config_init(&g_configs[1], cj_ukernel_select(CJ_F64, isa));
}

const cj_gemm_config *cj_gemm_config_get(int dtype) {
    pthread_once(&g_configs_once, configs_init);
    return &g_configs[dtype == CJ_F64 ? 1 : 0];
}
