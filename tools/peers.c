#include "peers.h"

extern const bench_peer bench_peer_onednn_nchw, bench_peer_onednn_blocked, bench_peer_onednn_winograd, bench_peer_openblas;

static const bench_peer *const peers[] = {
#ifdef CJ_HAVE_DNNL
    &bench_peer_onednn_nchw,
    &bench_peer_onednn_blocked,
    &bench_peer_onednn_winograd,
#endif
#ifdef CJ_HAVE_OPENBLAS
    &bench_peer_openblas,
#endif
    NULL,
};

const bench_peer *const *bench_peers(void)
{
    return peers;
}

size_t bench_dtype_size(cj_dtype dtype)
{
    return dtype == CJ_F64 ? sizeof(double) : sizeof(float);
}

const char *bench_pass_name(bench_pass pass)
{
    static const char *const names[BENCH_NUM_PASSES] = {"fwd", "bwd_data", "bwd_weights"};
    return (unsigned)pass < BENCH_NUM_PASSES ? names[pass] : "?";
}
