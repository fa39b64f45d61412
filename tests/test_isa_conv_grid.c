/* The correctness grid: every algorithm x dtype x pass on a generated list of configurations
 * (hand-picked edge cases, a few larger layers that cross the GEMM blocking edges, and seeded
 * random small ones), against the naive reference with SPEC's tolerance. Outputs are NaN-filled
 * before every call; an UNSUPPORTED answer must leave them untouched. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

enum { B_NULL, B_EMPTY, B_VEC, B_K11, B_MODES };
static const char *bias_mode_name[B_MODES] = {"NULL", "empty{0}", "[K]", "[K,1,1]"};

typedef struct gcfg {
    ref_conv c;
    int bias_mode;
    int gb_k11;      /* grad_bias as [K,1,1] (only with bias [K,1,1]) */
    int null_empty;  /* empty tensors (N = 0) get data NULL */
} gcfg;

#define NALGO 6
static const cj_algorithm algos[NALGO] = {CJ_ALGO_AUTO, CJ_ALGO_IM2COL_GEMM, CJ_ALGO_IMPLICIT_GEMM,
                                          CJ_ALGO_WINOGRAD, CJ_ALGO_FFT, CJ_ALGO_DIRECT};
enum { P_FWD, P_BWD_ALL, P_BWD_IN, P_BWD_W, P_BWD_B, NPASS };
static const char *pass_name[NPASS] = {"forward", "backward(all)", "backward(grad_input)",
                                       "backward(grad_weight)", "backward(grad_bias)"};
static int supported[2][NALGO][NPASS], tried[2][NALGO][NPASS];

#define C_(N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, g, bias) \
    {{N, C, H, W, K, kh, kw, ph, pw, sh, sw, dh, dw, g, 0, 0}, bias, 0, 0}

static const gcfg fixed[] = {
    /* 1x1 kernels */
    C_(2, 3, 5, 4, 4, 1, 1, 0, 0, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, B_NULL),
    C_(1, 5, 3, 3, 2, 1, 1, 1, 0, 2, 1, 1, 1, 1, B_K11),
    /* odd sizes */
    C_(1, 3, 7, 5, 2, 3, 2, 0, 0, 1, 1, 1, 1, 1, B_VEC),
    C_(2, 3, 7, 5, 5, 3, 2, 1, 1, 1, 1, 1, 1, 1, B_EMPTY),
    C_(1, 1, 1, 9, 2, 1, 3, 0, 1, 1, 1, 1, 1, 1, B_VEC),
    /* kernel larger than the unpadded input */
    C_(1, 1, 3, 2, 2, 5, 4, 2, 2, 1, 1, 1, 1, 1, B_VEC),
    C_(2, 2, 2, 2, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_NULL),
    C_(1, 2, 4, 4, 2, 7, 7, 3, 3, 1, 1, 1, 1, 1, B_K11),
    C_(1, 1, 1, 1, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_VEC),
    /* stride larger than the kernel */
    C_(2, 3, 9, 11, 2, 2, 2, 0, 0, 3, 4, 1, 1, 1, B_VEC),
    C_(1, 2, 10, 10, 3, 1, 1, 0, 0, 3, 3, 1, 1, 1, B_NULL),
    C_(1, 2, 12, 12, 3, 3, 3, 1, 1, 5, 5, 1, 1, 1, B_VEC),
    /* padding >= kernel */
    C_(1, 2, 4, 5, 3, 2, 3, 3, 4, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 1, 3, 3, 1, 3, 3, 3, 3, 2, 2, 1, 1, 1, B_NULL),
    C_(1, 2, 5, 5, 2, 3, 3, 4, 4, 1, 1, 1, 1, 1, B_EMPTY),
    /* dilation 2 and 3 */
    C_(1, 3, 9, 8, 2, 3, 3, 0, 0, 1, 1, 2, 2, 1, B_VEC),
    C_(2, 1, 10, 11, 3, 3, 2, 0, 0, 1, 1, 3, 3, 1, B_NULL),
    C_(1, 2, 12, 12, 2, 3, 3, 3, 3, 2, 2, 3, 3, 1, B_K11),
    C_(1, 2, 7, 7, 2, 2, 2, 2, 2, 1, 1, 2, 2, 1, B_VEC),
    /* one column or row of 7 or 5 taps (Winograd's one-axis form): padding across the axis and
     * beyond the kernel's reach, groups, dilation along and across the axis */
    C_(2, 3, 9, 7, 4, 7, 1, 3, 0, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 4, 6, 11, 2, 1, 7, 1, 3, 1, 1, 1, 1, 2, B_NULL),
    C_(1, 2, 8, 5, 3, 5, 1, 6, 1, 1, 1, 2, 1, 1, B_K11),
    C_(2, 2, 4, 9, 2, 1, 5, 0, 2, 1, 1, 1, 2, 1, B_VEC),
    /* groups 2 and 3 */
    C_(2, 4, 6, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, B_VEC),
    C_(1, 6, 5, 6, 3, 2, 3, 0, 0, 1, 1, 1, 1, 3, B_NULL),
    C_(2, 6, 8, 8, 9, 3, 3, 1, 1, 1, 1, 1, 1, 3, B_K11),
    C_(1, 6, 9, 9, 6, 5, 5, 2, 2, 1, 1, 1, 1, 2, B_VEC),
    /* depthwise: groups = C_in = C_out, and C_out = 2*C_in */
    C_(2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, B_VEC),
    C_(1, 3, 7, 9, 6, 3, 3, 1, 1, 2, 2, 1, 1, 3, B_VEC),
    C_(1, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 8, B_NULL),
    C_(1, 16, 10, 10, 16, 5, 5, 2, 2, 1, 1, 1, 1, 16, B_NULL),
    C_(1, 5, 11, 11, 5, 3, 3, 2, 2, 1, 1, 2, 2, 5, B_K11),
    /* N = 0 (with data NULL and non-NULL below) */
    C_(0, 3, 5, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_VEC),
    C_(0, 3, 5, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_VEC),
    C_(0, 4, 6, 6, 4, 3, 3, 0, 0, 2, 2, 1, 1, 2, B_K11),
    C_(0, 2, 8, 8, 2, 5, 5, 2, 2, 1, 1, 1, 1, 1, B_NULL),
    /* N > 1 */
    C_(4, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_VEC),
    C_(3, 2, 5, 7, 3, 2, 2, 0, 1, 1, 2, 1, 1, 1, B_NULL),
    /* non-square everything */
    C_(2, 3, 9, 11, 4, 3, 2, 1, 2, 2, 1, 1, 2, 1, B_VEC),
    C_(1, 4, 13, 8, 6, 2, 3, 2, 0, 1, 3, 3, 1, 2, B_K11),
    C_(2, 3, 8, 10, 3, 3, 5, 0, 2, 1, 1, 1, 1, 1, B_VEC),
    /* shapes Winograd and FFT take */
    C_(1, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_VEC),
    C_(2, 5, 13, 11, 7, 3, 3, 0, 0, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 3, 20, 17, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_NULL),
    C_(1, 2, 3, 3, 2, 3, 3, 0, 0, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 2, 16, 16, 3, 5, 5, 2, 2, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 2, 19, 21, 3, 7, 4, 3, 1, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 2, 20, 20, 2, 16, 16, 0, 0, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 2, 40, 37, 2, 16, 16, 8, 8, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 1, 20, 20, 2, 17, 17, 1, 1, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 2, 33, 35, 3, 1, 16, 0, 7, 1, 1, 1, 1, 1, B_K11),
    /* larger layers: GEMM blocking edges (K above 256/512, M above 8/16, spatial above 48*k) */
    C_(2, 64, 28, 28, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 256, 14, 14, 256, 1, 1, 0, 0, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 8, 27, 27, 16, 5, 5, 2, 2, 1, 1, 1, 1, 1, B_VEC),
    C_(1, 3, 67, 67, 16, 11, 11, 2, 2, 4, 4, 1, 1, 1, B_VEC),
    C_(1, 600, 5, 7, 19, 1, 1, 0, 0, 1, 1, 1, 1, 1, B_NULL),
    C_(1, 3, 70, 90, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_VEC),
    C_(2, 40, 12, 12, 24, 3, 3, 1, 1, 2, 2, 1, 1, 2, B_K11),
    /* small images side by side in one GEMM unit: written in place (K within one KC slice) and
     * through a panel (K over several) */
    C_(3, 40, 6, 6, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_VEC),
    C_(3, 160, 7, 7, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, B_VEC),
    /* grad_input's GEMM over several KC slices (100 x 3 x 3 = 900 deep), 12 rows (not a whole
     * number of MR panels), in two groups */
    C_(2, 24, 6, 6, 200, 3, 3, 1, 1, 1, 1, 1, 1, 2, B_NULL),
    /* output rows as wide as the input's, several images a unit: the AVX-512 packer's runs of
     * whole images (1x7, 7x1, dilated) */
    C_(3, 6, 9, 10, 5, 1, 7, 0, 3, 1, 1, 1, 1, 1, B_VEC),
    C_(3, 6, 10, 9, 5, 7, 1, 3, 0, 1, 1, 1, 1, 1, B_NULL),
    C_(4, 6, 8, 9, 5, 3, 3, 2, 2, 1, 1, 2, 2, 1, B_VEC),
};
#define NFIXED ((int)(sizeof fixed / sizeof fixed[0]))
#define NRANDOM 150

static gcfg random_cfg(tu_rng *r)
{
    gcfg g;
    memset(&g, 0, sizeof g);
    ref_conv *c = &g.c;
    c->groups = tu_range(r, 1, 3);
    c->C = c->groups * tu_range(r, 1, 4);
    c->K = c->groups * tu_range(r, 1, 4);
    c->N = tu_range(r, 0, 19) == 0 ? 0 : tu_range(r, 1, 3);
    int kind = (int)tu_range(r, 0, 9);
    if (kind < 3) { /* Winograd's shape */
        c->kh = c->kw = 3;
        c->sh = c->sw = c->dh = c->dw = 1;
    } else if (kind < 5) { /* FFT's */
        c->kh = tu_range(r, 1, 7);
        c->kw = tu_range(r, 1, 7);
        c->sh = c->sw = c->dh = c->dw = 1;
    } else {
        c->kh = tu_range(r, 1, 5);
        c->kw = tu_range(r, 1, 5);
        c->sh = tu_range(r, 1, 3);
        c->sw = tu_range(r, 1, 3);
        c->dh = tu_range(r, 1, 3);
        c->dw = tu_range(r, 1, 3);
    }
    c->ph = tu_range(r, 0, 3);
    c->pw = tu_range(r, 0, 3);
    int64_t eh = c->dh * (c->kh - 1) + 1 - 2 * c->ph, ew = c->dw * (c->kw - 1) + 1 - 2 * c->pw;
    c->H = (eh > 1 ? eh : 1) + tu_range(r, 0, 7);
    c->W = (ew > 1 ? ew : 1) + tu_range(r, 0, 7);
    g.bias_mode = (int)tu_range(r, 0, B_MODES - 1);
    g.gb_k11 = g.bias_mode == B_K11 && tu_range(r, 0, 1);
    g.null_empty = (int)tu_range(r, 0, 1);
    return g;
}

/* One configuration's data, in double, and the reference results. */
typedef struct cdata {
    double *in, *w, *b, *gout;
    double *out, *out_m, *gin, *gin_m, *gw, *gw_m, *gb, *gb_m;
} cdata;

static char cfgbuf[512];
static const char *desc(const gcfg *g, cj_dtype dt, cj_algorithm a, int pass)
{
    char tmp[400];
    tu_cfg_str(tmp, sizeof tmp, &g->c, dt, a, pass_name[pass]);
    snprintf(cfgbuf, sizeof cfgbuf, "%s bias=%s grad_bias=%s empty-data=%s", tmp, bias_mode_name[g->bias_mode],
             g->gb_k11 ? "[K,1,1]" : "[K]", g->null_empty ? "NULL" : "non-NULL");
    return cfgbuf;
}

static int same_bytes(const cj_tensor *t, const void *copy)
{
    if (!t || !t->data) return 1;
    return memcmp(t->data, copy, (size_t)tu_numel(t) * tu_dtype_size(t->dtype)) == 0;
}

static void *dup_bytes(const cj_tensor *t)
{
    size_t n = t && t->data ? (size_t)tu_numel(t) * tu_dtype_size(t->dtype) : 0;
    void *p = malloc(n ? n : 1);
    if (n) memcpy(p, t->data, n);
    return p;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void run_config_(cj_context *ctx, const gcfg *g, tu_rng *rng);

/* Runs one configuration; reports the slow ones so the grid's run time stays visible. */
static void run_config(cj_context *ctx, const gcfg *g, tu_rng *rng)
{
    double t0 = now();
    run_config_(ctx, g, rng);
    double dt = now() - t0;
    if (dt > 1.0) {
        char buf[400];
        printf("  (%.1f s) %s\n", dt, tu_cfg_str(buf, sizeof buf, &g->c, CJ_F32, CJ_ALGO_AUTO, "all"));
    }
}

static void run_config_(cj_context *ctx, const gcfg *g, tu_rng *rng)
{
    const ref_conv *c = &g->c;
    const int64_t Cg = c->C / c->groups;
    for (int di = 0; di < 2; di++) {
        cj_dtype dt = di ? CJ_F64 : CJ_F32;
        int ne = g->null_empty;
        int64_t si[4] = {c->N, c->C, c->H, c->W}, sw_[4] = {c->K, Cg, c->kh, c->kw};
        int64_t so[4] = {c->N, c->K, c->Ho, c->Wo};
        cj_tensor in = tu_tensor(dt, 4, si, ne), w = tu_tensor(dt, 4, sw_, ne);
        cj_tensor gout = tu_tensor(dt, 4, so, ne), out = tu_tensor(dt, 4, so, ne);
        cj_tensor gin = tu_tensor(dt, 4, si, ne), gw = tu_tensor(dt, 4, sw_, ne);
        int64_t sk[3] = {c->K, 1, 1}, s0[1] = {0};
        cj_tensor bias_t;
        const cj_tensor *bias = NULL;
        if (g->bias_mode == B_EMPTY) { bias_t = tu_tensor(dt, 1, s0, ne); bias = &bias_t; }
        else if (g->bias_mode == B_VEC) { bias_t = tu_tensor(dt, 1, sk, 0); bias = &bias_t; }
        else if (g->bias_mode == B_K11) { bias_t = tu_tensor(dt, 3, sk, 0); bias = &bias_t; }
        cj_tensor gb = tu_tensor(dt, g->gb_k11 ? 3 : 1, sk, 0);

        cdata d;
        d.in = tu_dalloc(ref_in_numel(c));
        d.w = tu_dalloc(ref_w_numel(c));
        d.b = tu_dalloc(c->K);
        d.gout = tu_dalloc(ref_out_numel(c));
        if (in.data) tu_fill_uniform(rng, &in, d.in);
        tu_fill_uniform(rng, &w, d.w);
        if (bias && bias->data && tu_numel(bias) > 0) tu_fill_uniform(rng, &bias_t, d.b);
        if (gout.data) tu_fill_uniform(rng, &gout, d.gout);
        int has_bias = g->bias_mode == B_VEC || g->bias_mode == B_K11;
        d.out = tu_dalloc(ref_out_numel(c)); d.out_m = tu_dalloc(ref_out_numel(c));
        d.gin = tu_dalloc(ref_in_numel(c)); d.gin_m = tu_dalloc(ref_in_numel(c));
        d.gw = tu_dalloc(ref_w_numel(c)); d.gw_m = tu_dalloc(ref_w_numel(c));
        d.gb = tu_dalloc(c->K); d.gb_m = tu_dalloc(c->K);
        ref_forward(c, d.in, d.w, has_bias ? d.b : NULL, d.out, d.out_m);
        ref_grad_input(c, d.w, d.gout, d.gin, d.gin_m);
        ref_grad_weight(c, d.in, d.gout, d.gw, d.gw_m);
        ref_grad_bias(c, d.gout, d.gb, d.gb_m);

        void *in_copy = dup_bytes(&in), *w_copy = dup_bytes(&w), *gout_copy = dup_bytes(&gout);
        void *b_copy = dup_bytes(bias);

        for (int ai = 0; ai < NALGO; ai++) {
            cj_algorithm a = algos[ai];
            cj_conv2d_params p = {{c->ph, c->pw}, {c->sh, c->sw}, {c->dh, c->dw}, c->groups, a};
            for (int pass = 0; pass < NPASS; pass++) {
                cj_tensor *o_gin = NULL, *o_gw = NULL, *o_gb = NULL, *o_out = NULL;
                cj_status st;
                tu_fill_nan(&out);
                tu_fill_nan(&gin);
                tu_fill_nan(&gw);
                tu_fill_nan(&gb);
                if (pass == P_FWD) {
                    o_out = &out;
                    st = cj_conv2d(ctx, &in, &w, bias, &p, &out);
                } else {
                    if (pass == P_BWD_ALL || pass == P_BWD_IN) o_gin = &gin;
                    if (pass == P_BWD_ALL || pass == P_BWD_W) o_gw = &gw;
                    if (pass == P_BWD_ALL || pass == P_BWD_B) o_gb = &gb;
                    st = cj_conv2d_backward(ctx, &in, &w, bias, &p, &gout, o_gin, o_gw, o_gb);
                }
                tried[di][ai][pass]++;
                const char *what = desc(g, dt, a, pass);
                if (st == CJ_ERR_UNSUPPORTED) {
                    tu_expect(a != CJ_ALGO_AUTO && a != CJ_ALGO_IM2COL_GEMM,
                              "%s returned CJ_ERR_UNSUPPORTED (it must support every configuration): %s",
                              what, cj_last_error());
                    int untouched = tu_all_nan(&out) && tu_all_nan(&gin) && tu_all_nan(&gw) && tu_all_nan(&gb);
                    tu_expect(untouched, "%s: returned UNSUPPORTED but wrote to an output", what);
                    tu_expect(cj_last_error()[0] != '\0', "%s: UNSUPPORTED with an empty cj_last_error()", what);
                    continue;
                }
                if (st != CJ_OK) {
                    tu_fail("%s: status %d (%s): %s", what, (int)st, cj_status_string(st), cj_last_error());
                    continue;
                }
                supported[di][ai][pass]++;
                double tol = tu_tol(a, dt);
                int ok = 1;
                if (o_out) ok &= tu_check_close("output", &out, d.out, d.out_m, tol);
                if (o_gin) ok &= tu_check_close("grad_input", &gin, d.gin, d.gin_m, tol);
                if (o_gw) ok &= tu_check_close("grad_weight", &gw, d.gw, d.gw_m, tol);
                if (o_gb) ok &= tu_check_close("grad_bias", &gb, d.gb, d.gb_m, tol);
                /* outputs not asked for must stay untouched */
                if (pass != P_FWD) {
                    if (!o_gin && !tu_all_nan(&gin)) { printf("    grad_input written though NULL was passed\n"); ok = 0; }
                    if (!o_gw && !tu_all_nan(&gw)) { printf("    grad_weight written though NULL was passed\n"); ok = 0; }
                    if (!o_gb && !tu_all_nan(&gb)) { printf("    grad_bias written though NULL was passed\n"); ok = 0; }
                }
                if (!same_bytes(&in, in_copy) || !same_bytes(&w, w_copy) || !same_bytes(&gout, gout_copy) ||
                    (bias && !same_bytes(bias, b_copy))) {
                    printf("    an input tensor was modified\n");
                    ok = 0;
                }
                tu_expect(ok, "%s", what);
            }
        }
        free(in_copy); free(w_copy); free(gout_copy); free(b_copy);
        free(d.in); free(d.w); free(d.b); free(d.gout); free(d.out); free(d.out_m); free(d.gin);
        free(d.gin_m); free(d.gw); free(d.gw_m); free(d.gb); free(d.gb_m);
        tu_free(&in); tu_free(&w); tu_free(&gout); tu_free(&out); tu_free(&gin); tu_free(&gw); tu_free(&gb);
        if (bias) tu_free(&bias_t);
    }
}

int main(void)
{
    tu_isa_check();
    tu_rng rng = {tu_seed("test_isa_conv_grid", 20240611)};
    if (ref_selftest() != 0) {
        tu_fail("the reference implementation fails its hand-computed self-test");
        return tu_finish();
    }
    cj_context *ctx = NULL;
    cj_status st = cj_context_create(NULL, &ctx);
    if (st != CJ_OK) {
        tu_fail("cj_context_create(NULL): %s", cj_status_string(st));
        return tu_finish();
    }

    int ncfg = 0;
    for (int i = 0; i < NFIXED; i++) {
        gcfg g = fixed[i];
        if (g.c.N == 0 && i % 2 == 0) g.null_empty = 1;
        if (!ref_conv_init(&g.c)) { tu_fail("grid entry %d is not a valid configuration", i); continue; }
        run_config(i % 3 == 2 ? NULL : ctx, &g, &rng);
        ncfg++;
        /* every bias representation on one small configuration, grad_bias in both shapes */
        if (i == 0) {
            for (int bm = 0; bm < B_MODES; bm++)
                for (int k11 = 0; k11 <= (bm == B_K11); k11++) {
                    gcfg h = g;
                    h.bias_mode = bm;
                    h.gb_k11 = k11;
                    run_config(ctx, &h, &rng);
                    ncfg++;
                }
        }
    }
    for (int i = 0; i < NRANDOM; i++) {
        gcfg g = random_cfg(&rng);
        if (!ref_conv_init(&g.c)) { tu_fail("random configuration %d is invalid (generator bug)", i); continue; }
        run_config(i % 4 == 3 ? NULL : ctx, &g, &rng);
        ncfg++;
    }
    cj_context_destroy(ctx);

    printf("%d configurations x 2 dtypes x %d algorithms x %d passes\n", ncfg, NALGO, NPASS);
    printf("supported (configurations the algorithm ran, of those tried):\n");
    for (int di = 0; di < 2; di++)
        for (int ai = 0; ai < NALGO; ai++) {
            printf("  %-4s %-14s", di ? "f64" : "f32", cj_algorithm_name(algos[ai]));
            for (int p = 0; p < NPASS; p++)
                printf("  %s %d/%d", p == P_FWD ? "fwd" : p == P_BWD_ALL ? "bwd" : p == P_BWD_IN ? "gin"
                                                        : p == P_BWD_W   ? "gw"  : "gb",
                       supported[di][ai][p], tried[di][ai][p]);
            printf("\n");
        }
    return tu_finish();
}
