/* A fuzzer over the public API (libFuzzer entry point; fuzz_main.c replays files without it).
 *
 * The input bytes choose a convolution (dtype, shapes bounded so that the naive reference stays
 * fast, padding, stride, dilation, groups), an algorithm (including values that do not exist), a
 * call (forward, directly or through a plan made and run on the same tensors, backward with any
 * subset of gradients, output_shape), a context (the default one,
 * or 1 to 3 threads), the bias form (none, empty, [K], [K,1,1]), and at most one corruption that
 * SPEC says makes the call invalid: a NULL tensor, NULL data, a wrong or unknown dtype, a wrong
 * ndim, a negative, mismatched or overflowing extent, a bad parameter, or an output overlapping an
 * input or another output. Whatever the bytes, the call must either
 *   - fail (INVALID_ARGUMENT exactly when the harness built an invalid call; UNSUPPORTED only from
 *     an explicit algorithm other than IM2COL_GEMM) with a message and every buffer byte-identical
 *     to before, or
 *   - succeed on a valid call with every output within SPEC's tolerance of the reference, and its
 *     inputs unchanged.
 * Anything else aborts with a description (libFuzzer keeps the input as a crash). Every buffer is
 * its own exact-size allocation, so ASan sees any access beyond a tensor. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

/* The next byte, 0 once the input is exhausted (so short inputs give small valid calls). */
static unsigned take(reader *r)
{
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

enum corruption {
    OK_CALL, NULL_INPUT, NULL_WEIGHT, NULL_OUTPUT, NULL_INPUT_DATA, NULL_WEIGHT_DATA, WRONG_DTYPE,
    UNKNOWN_DTYPE, WRONG_NDIM, NEGATIVE_EXTENT, MISMATCHED_OUTPUT, OVERFLOW_EXTENTS, BAD_STRIDE,
    BAD_DILATION, BAD_PADDING, BAD_GROUPS, HUGE_PADDING, HUGE_DILATION, BIAS_SHAPE, BIAS_DTYPE,
    GRAD_BIAS_EMPTY, OVERLAP_INPUT, OVERLAP_OUTPUTS, NCORRUPTIONS
};
static const char *corruption_name[] = {
    "none", "input NULL", "weight NULL", "output NULL", "input data NULL", "weight data NULL",
    "wrong dtype", "unknown dtype", "wrong ndim", "negative extent", "mismatched output",
    "overflowing extents", "stride 0", "dilation 0", "negative padding", "groups not dividing",
    "padding INT64_MAX", "dilation INT64_MAX", "bias shape", "bias dtype", "grad_bias empty",
    "output overlapping an input", "outputs overlapping"};

enum { CALL_FORWARD, CALL_BACKWARD, CALL_SHAPE };

/* A buffer and a copy of its bytes before the call. */
typedef struct buf {
    unsigned char *p, *before;
    size_t bytes;
} buf;

static void buf_make(buf *b, size_t bytes)
{
    b->bytes = bytes;
    b->p = malloc(bytes ? bytes : 1);
    b->before = malloc(bytes ? bytes : 1);
    if (!b->p || !b->before) abort();
    memset(b->p, 0, b->bytes); /* defined bytes for those no fill below reaches (compared all the same) */
}
static void buf_snapshot(buf *b) { memcpy(b->before, b->p, b->bytes); }
static int buf_same(const buf *b) { return !memcmp(b->before, b->p, b->bytes); }
static void buf_free(buf *b) { free(b->p); free(b->before); }

static char g_desc[1024];

/* Outcome counts, printed at exit when CJ_FUZZ_STATS is set (the figures of a run). */
enum { OUT_CHECKED, OUT_UNSUPPORTED, OUT_REJECTED, NOUT };
static long g_outcomes[NOUT], g_rejected_by[NCORRUPTIONS], g_invalid_shape;

static void print_stats(void)
{
    fprintf(stderr, "fuzz_conv2d stats: %ld calls checked against the reference, %ld UNSUPPORTED, %ld invalid calls "
            "rejected (%ld of them uncorrupted: a kernel larger than the padded input, or an unknown algorithm)\n",
            g_outcomes[OUT_CHECKED], g_outcomes[OUT_UNSUPPORTED], g_outcomes[OUT_REJECTED], g_invalid_shape);
    for (int i = 1; i < NCORRUPTIONS; i++) fprintf(stderr, "  %-28s %ld\n", corruption_name[i], g_rejected_by[i]);
}

static cj_context *g_ctx[4]; /* [0] NULL: the default context; 1 to 3 threads */

static void setup_contexts(void)
{
    if (g_ctx[1]) return;
    if (getenv("CJ_FUZZ_STATS")) atexit(print_stats);
    for (int t = 1; t <= 3; t++) {
        cj_context_options o = {0};
        o.num_threads = t;
        if (cj_context_create(&o, &g_ctx[t]) != CJ_OK) abort();
    }
}

#define REQUIRE(cond, ...)                                                            \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz_conv2d: %s\n  ", g_desc);                           \
            fprintf(stderr, __VA_ARGS__);                                             \
            fprintf(stderr, "\n  last error: %s\n", cj_last_error());                 \
            abort();                                                                  \
        }                                                                             \
    } while (0)

/* Forward through a plan: made, run, destroyed (the plan's creation reads the input's shape only,
 * so a corruption of its data must be caught by the run). */
static cj_status plan_forward(cj_context *ctx, const cj_tensor *in, const cj_tensor *w, const cj_tensor *bias,
                              const cj_conv2d_params *p, cj_tensor *out)
{
    cj_conv2d_plan *plan = NULL;
    cj_status st = cj_conv2d_plan_create(ctx, in, w, bias, p, &plan);
    if (st == CJ_OK) st = cj_conv2d_plan_run(plan, in, out);
    else if (plan) abort(); /* a failed creation must leave no plan */
    cj_conv2d_plan_destroy(plan);
    return st;
}

static int64_t extent(unsigned byte, int64_t lo, int64_t span) { return lo + (int64_t)(byte % (unsigned)span); }

static cj_tensor tensor4(cj_dtype dt, int64_t a, int64_t b, int64_t c, int64_t d, void *data)
{
    cj_tensor t = {dt, 4, {a, b, c, d}, data};
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_contexts();
    reader r = {data, size};
    const unsigned flags = take(&r);
    const cj_dtype dt = flags & 1 ? CJ_F64 : CJ_F32;
    cj_context *ctx = g_ctx[(flags >> 1) & 3];
    const int call = ((flags >> 3) & 3) == 3 ? CALL_SHAPE : ((flags >> 3) & 3) ? CALL_BACKWARD : CALL_FORWARD;
    const int null_empty = (flags >> 5) & 1; /* empty tensors with NULL data (valid) */

    ref_conv c;
    memset(&c, 0, sizeof c);
    /* flags bits 6 and 7 both set: a wide layer, 32-40 channels each way in one group (DIRECT's
     * channel-vector paths, several register blocks in every algorithm), on fewer and smaller
     * images and kernels so that the reference stays as fast */
    const int wide = (flags >> 6) == 3;
    const unsigned gbyte = take(&r), cbyte_in = take(&r), kbyte = take(&r);
    c.groups = wide ? 1 : extent(gbyte, 1, 3);
    c.C = wide ? extent(cbyte_in, 32, 9) : extent(cbyte_in, 1, 4) * c.groups;
    c.K = wide ? extent(kbyte, 32, 9) : extent(kbyte, 1, 4) * c.groups;
    c.N = extent(take(&r), 0, wide ? 2 : 4);
    c.H = extent(take(&r), 1, wide ? 8 : 12);
    c.W = extent(take(&r), 1, wide ? 8 : 12);
    c.kh = extent(take(&r), 1, wide ? 3 : 5);
    c.kw = extent(take(&r), 1, wide ? 3 : 5);
    c.ph = extent(take(&r), 0, 4);
    c.pw = extent(take(&r), 0, 4);
    c.sh = extent(take(&r), 1, 3);
    c.sw = extent(take(&r), 1, 3);
    c.dh = extent(take(&r), 1, 3);
    c.dw = extent(take(&r), 1, 3);
    const unsigned algo_byte = take(&r) % 9;
    const cj_algorithm algo = algo_byte <= 5 ? (cj_algorithm)algo_byte : algo_byte == 6 ? (cj_algorithm)6
                              : algo_byte == 7 ? (cj_algorithm)-1 : (cj_algorithm)1000;
    const int bias_form = (int)(take(&r) % 5); /* NULL, ndim 0, [0], [K], [K,1,1] */
    const unsigned grads = take(&r) % 8;       /* bit 0 grad_input, 1 grad_weight, 2 grad_bias */
    const int via_plan = call == CALL_FORWARD && (grads & 1); /* forward: bit 0 says through a plan */
    const unsigned cbyte = take(&r);
    /* Half the inputs are valid calls; the other half carry one corruption. */
    const enum corruption bad = cbyte < 128 ? OK_CALL : (enum corruption)(1 + cbyte % (NCORRUPTIONS - 1));
    const unsigned aux = take(&r);
    const uint64_t seed = (uint64_t)take(&r) | (uint64_t)take(&r) << 8;
    /* NULL params (the defaults) unless the corruption is in the params. */
    const int null_params = (flags >> 6) & 1 && !(bad >= BAD_STRIDE && bad <= HUGE_DILATION) &&
                            bad != OVERLAP_INPUT && bad != OVERLAP_OUTPUTS;

    if (null_params) { /* NULL params: the defaults */
        c.ph = c.pw = 0;
        c.sh = c.sw = c.dh = c.dw = c.groups = 1;
    }
    const cj_algorithm used = null_params ? CJ_ALGO_AUTO : algo;
    const int fits = ref_conv_init(&c);
    const int valid = fits && bad == OK_CALL && (int)used >= 0 && (int)used <= 5;
    if (!fits) c.Ho = c.Wo = 1; /* the kernel does not fit: give the output some shape */

    cj_conv2d_params p = {{c.ph, c.pw}, {c.sh, c.sw}, {c.dh, c.dw}, c.groups, algo};
    snprintf(g_desc, sizeof g_desc,
             "%s dtype=%s ctx=%d N=%lld C=%lld H=%lld W=%lld K=%lld k=%lldx%lld pad=%lldx%lld stride=%lldx%lld "
             "dil=%lldx%lld groups=%lld algo=%d bias_form=%d grads=%u corruption=%s%s%s",
             call == CALL_FORWARD ? (via_plan ? "forward by a plan" : "forward")
                                  : call == CALL_BACKWARD ? "backward" : "output_shape",
             tu_dtype_name(dt), (flags >> 1) & 3, (long long)c.N, (long long)c.C, (long long)c.H, (long long)c.W,
             (long long)c.K, (long long)c.kh, (long long)c.kw, (long long)c.ph, (long long)c.pw, (long long)c.sh,
             (long long)c.sw, (long long)c.dh, (long long)c.dw, (long long)c.groups, (int)algo, bias_form, grads,
             corruption_name[bad], null_params ? " params=NULL" : "", null_empty ? " empty-data=NULL" : "");

    const size_t el = tu_dtype_size(dt);
    const int64_t ni = c.N * c.C * c.H * c.W, nw = c.K * (c.C / c.groups) * c.kh * c.kw, no = c.N * c.K * c.Ho * c.Wo;
    /* Buffers: input, weight, bias, output, grad_output, grad_input, grad_weight, grad_bias. An
     * overlap corruption puts an output inside the input's (or another output's) block. */
    enum { B_IN, B_W, B_B, B_OUT, B_GOUT, B_GIN, B_GW, B_GB, NB };
    buf b[NB];
    const int64_t numel[NB] = {ni, nw, c.K, no, no, ni, nw, c.K};
    for (int i = 0; i < NB; i++) buf_make(&b[i], (size_t)numel[i] * el);
    tu_rng rng = {seed};
    cj_tensor in = tensor4(dt, c.N, c.C, c.H, c.W, b[B_IN].p), w = tensor4(dt, c.K, c.C / c.groups, c.kh, c.kw, b[B_W].p);
    cj_tensor gout = tensor4(dt, c.N, c.K, c.Ho, c.Wo, b[B_GOUT].p);
    cj_tensor bias = {dt, 1, {c.K}, b[B_B].p};
    if (bias_form == 1) bias = (cj_tensor){dt, 0, {0}, NULL};
    if (bias_form == 2) bias = (cj_tensor){dt, 1, {0}, NULL};
    if (bias_form == 4) bias = (cj_tensor){dt, 3, {c.K, 1, 1}, b[B_B].p};
    tu_fill_uniform(&rng, &in, NULL);
    tu_fill_uniform(&rng, &w, NULL);
    if (bias_form >= 3) tu_fill_uniform(&rng, &bias, NULL);
    tu_fill_uniform(&rng, &gout, NULL);
    cj_tensor out = tensor4(dt, c.N, c.K, c.Ho, c.Wo, b[B_OUT].p), gin = tensor4(dt, c.N, c.C, c.H, c.W, b[B_GIN].p);
    cj_tensor gw = tensor4(dt, c.K, c.C / c.groups, c.kh, c.kw, b[B_GW].p), gb = {dt, 1, {c.K}, b[B_GB].p};
    if (bias_form == 4) gb = (cj_tensor){dt, 3, {c.K, 1, 1}, b[B_GB].p};
    for (int i = B_OUT; i < NB; i++)
        if (i != B_GOUT) memset(b[i].p, 0xFF, b[i].bytes); /* NaN in both dtypes: an unwritten output shows */
    if (null_empty) {
        if (ni == 0) in.data = gin.data = NULL;
        if (no == 0) out.data = gout.data = NULL;
    }
    cj_tensor *pin = &in, *pw = &w, *pout = &out, *pgout = &gout;
    cj_tensor *pgin = grads & 1 ? &gin : NULL, *pgw = grads & 2 ? &gw : NULL, *pgb = grads & 4 ? &gb : NULL;
    cj_tensor *pb = bias_form == 0 ? NULL : &bias;

    /* The corruption. Each leaves the call invalid whatever the other bytes chose. */
    const int64_t huge = (int64_t)1 << 62;
    switch (bad) {
    case OK_CALL: break;
    case NULL_INPUT: pin = NULL; break;
    case NULL_WEIGHT: pw = NULL; break;
    case NULL_OUTPUT: if (call == CALL_FORWARD) pout = NULL; else pgout = NULL; break;
    case NULL_INPUT_DATA: in.data = NULL; if (ni == 0) in.ndim = 2; break; /* empty: NULL is fine, ndim is not */
    case NULL_WEIGHT_DATA: w.data = NULL; break;
    case WRONG_DTYPE: w.dtype = dt == CJ_F32 ? CJ_F64 : CJ_F32; break;
    case UNKNOWN_DTYPE: in.dtype = (cj_dtype)(aux & 1 ? 0 : 3 + aux); break;
    case WRONG_NDIM: w.ndim = (int)(aux % 4); break; /* 0..3: never the 4 it must be */
    case NEGATIVE_EXTENT: in.shape[aux % 4] = -1 - (int64_t)(aux >> 2); break;
    case MISMATCHED_OUTPUT: /* one extent of the output (forward) or grad_output off by one */
        if (call == CALL_FORWARD) out.shape[aux % 4] += 1;
        else gout.shape[aux % 4] += aux & 4 ? 1 : -1;
        break;
    case OVERFLOW_EXTENTS:
        if (aux & 4 && call != CALL_SHAPE) {
            in.shape[0] = (int64_t)1 << 40; /* a huge batch that fits int64 but not the buffers: the
                                                output's N does not match, so nothing may be read */
        } else { /* element counts beyond int64 */
            in.shape[aux % 4] = huge;
            in.shape[(aux + 1) % 4] = huge;
        }
        break;
    case BAD_STRIDE: if (aux & 1) p.stride.height = 0; else p.stride.width = -(int64_t)aux; break;
    case BAD_DILATION: if (aux & 1) p.dilation.height = -1; else p.dilation.width = 0; break;
    case BAD_PADDING: if (aux & 1) p.padding.height = -1; else p.padding.width = INT64_MIN; break;
    case BAD_GROUPS: p.groups = aux & 1 ? 0 : c.C + 1; break; /* C+1 never divides C */
    case HUGE_PADDING: if (aux & 1) p.padding.height = INT64_MAX; else p.padding.width = INT64_MAX / 2; break;
    case HUGE_DILATION: /* only on an axis whose kernel extent is > 1: with 1 the dilation is unused */
        if (c.kh > 1) p.dilation.height = aux & 1 ? INT64_MAX : INT64_MAX / 2 + 1;
        else if (c.kw > 1) p.dilation.width = aux & 1 ? INT64_MAX : INT64_MAX / 2 + 1;
        else p.padding.width = INT64_MAX;
        break;
    case BIAS_SHAPE:
        bias = (cj_tensor){dt, 2, {c.K, 1}, b[B_B].p};
        if (aux & 1) bias.ndim = 1, bias.shape[0] = c.K + 1;
        pb = &bias;
        break;
    case BIAS_DTYPE: bias = (cj_tensor){dt == CJ_F32 ? CJ_F64 : CJ_F32, 1, {c.K}, b[B_B].p}; pb = &bias; break;
    case GRAD_BIAS_EMPTY: gb = (cj_tensor){dt, 0, {0}, NULL}; pgb = &gb; break;
    case OVERLAP_INPUT:
        /* An output starting inside an input's bytes (whole or partial overlap). An empty
         * output (N = 0) overlaps nothing: then the call is made invalid another way. */
        if (call == CALL_FORWARD) {
            if (no > 0) out.data = b[B_IN].p + (size_t)(aux % (unsigned)ni) * el;
            else p.groups = 0;
        } else {
            pgw = &gw;
            gw.data = aux & 1 || no == 0 ? b[B_W].p + (size_t)((aux >> 1) % (unsigned)nw) * el : b[B_GOUT].p;
        }
        break;
    case OVERLAP_OUTPUTS:
        if (call == CALL_BACKWARD) {
            pgw = &gw;
            if (pgin && ni > 0) gin.data = b[B_GW].p;
            else pgb = &gb, gb.data = b[B_GW].p;
        } else {
            p.stride.height = 0; /* one output only: invalid another way */
        }
        break;
    default: break;
    }
    /* output_shape reads only input, weight and params: a corruption elsewhere is made visible. */
    const int shape_sees = bad <= NULL_WEIGHT || (bad >= NULL_INPUT_DATA && bad <= OVERFLOW_EXTENTS && bad != MISMATCHED_OUTPUT) ||
                           (bad >= BAD_STRIDE && bad <= HUGE_DILATION);
    if (call == CALL_SHAPE && !shape_sees) in.ndim = 3;
    const int forward_sees = bad != GRAD_BIAS_EMPTY;
    if (call == CALL_FORWARD && !forward_sees) w.ndim = 5;

    for (int i = 0; i < NB; i++) buf_snapshot(&b[i]);
    const cj_conv2d_params *pp = null_params ? NULL : &p;

    cj_status st;
    int64_t shape[4] = {-7, -7, -7, -7};
    if (call == CALL_FORWARD) st = via_plan ? plan_forward(ctx, pin, pw, pb, pp, pout) : cj_conv2d(ctx, pin, pw, pb, pp, pout);
    else if (call == CALL_BACKWARD) st = cj_conv2d_backward(ctx, pin, pw, pb, pp, pgout, pgin, pgw, pgb);
    else st = cj_conv2d_output_shape(pin, pw, pp, shape);

    int untouched = 1;
    for (int i = 0; i < NB; i++) untouched &= buf_same(&b[i]);
    /* A plan's creation reads the input's shape, the weight, the bias and the params only: a
     * corruption of the input's data or of the output shows at its run, so the creation may say
     * UNSUPPORTED first (an explicit algorithm that cannot do the shape), as it would for the
     * valid call. */
    const int seen_at_run = via_plan && (bad == NULL_OUTPUT || bad == NULL_INPUT_DATA || bad == MISMATCHED_OUTPUT ||
                                         (bad == OVERFLOW_EXTENTS && (aux & 4)) || bad == OVERLAP_INPUT);
    if (!valid && !(seen_at_run && st == CJ_ERR_UNSUPPORTED)) {
        REQUIRE(st == CJ_ERR_INVALID_ARGUMENT, "an invalid call returned %s", cj_status_string(st));
        REQUIRE(*cj_last_error() != '\0', "INVALID_ARGUMENT without a message");
        REQUIRE(untouched, "a call that returned INVALID_ARGUMENT wrote to a buffer");
        REQUIRE(shape[0] == -7, "output_shape wrote its result on failure");
        g_outcomes[OUT_REJECTED]++;
        g_rejected_by[bad]++;
        if (bad == OK_CALL) g_invalid_shape++;
    } else if (st == CJ_ERR_UNSUPPORTED) { /* a valid call, or one whose fault a plan sees at its run */
        REQUIRE(used != CJ_ALGO_AUTO && used != CJ_ALGO_IM2COL_GEMM, "UNSUPPORTED from %s",
                cj_algorithm_name(used));
        REQUIRE(*cj_last_error() != '\0', "UNSUPPORTED without a message");
        REQUIRE(untouched, "a call that returned UNSUPPORTED wrote to a buffer");
        g_outcomes[OUT_UNSUPPORTED]++;
    } else {
        REQUIRE(st == CJ_OK, "a valid call returned %s", cj_status_string(st));
        const int inputs_same = buf_same(&b[B_IN]) && buf_same(&b[B_W]) && buf_same(&b[B_B]) && buf_same(&b[B_GOUT]);
        REQUIRE(inputs_same, "a call wrote to one of its inputs");
        const double tol = tu_tol(used, dt);
        double *din = tu_dalloc(ni), *dw = tu_dalloc(nw), *db = tu_dalloc(c.K), *dgo = tu_dalloc(no);
        const int64_t most = ni > nw ? (ni > no ? ni : no) : (nw > no ? nw : no);
        double *ex = tu_dalloc(most), *mag = tu_dalloc(most);
        cj_tensor tin = in, tgout = gout;
        tin.data = b[B_IN].p;
        tgout.data = b[B_GOUT].p;
        tu_to_double(&tin, din);
        tu_to_double(&w, dw);
        if (bias_form >= 3) tu_to_double(&bias, db);
        tu_to_double(&tgout, dgo);
        if (call == CALL_SHAPE) {
            REQUIRE(shape[0] == c.N && shape[1] == c.K && shape[2] == c.Ho && shape[3] == c.Wo,
                    "output_shape gave [%lld, %lld, %lld, %lld]", (long long)shape[0], (long long)shape[1],
                    (long long)shape[2], (long long)shape[3]);
        } else if (call == CALL_FORWARD) {
            ref_forward(&c, din, dw, bias_form >= 3 ? db : NULL, ex, mag);
            out.data = b[B_OUT].p;
            REQUIRE(tu_check_close("output", &out, ex, mag, tol), "forward result outside the tolerance");
        } else {
            if (pgin) {
                ref_grad_input(&c, dw, dgo, ex, mag);
                gin.data = b[B_GIN].p;
                REQUIRE(tu_check_close("grad_input", &gin, ex, mag, tol), "grad_input outside the tolerance");
            }
            if (pgw) {
                ref_grad_weight(&c, din, dgo, ex, mag);
                REQUIRE(tu_check_close("grad_weight", &gw, ex, mag, tol), "grad_weight outside the tolerance");
            }
            if (pgb) {
                ref_grad_bias(&c, dgo, ex, mag);
                REQUIRE(tu_check_close("grad_bias", &gb, ex, mag, tol), "grad_bias outside the tolerance");
            }
            REQUIRE(pgin || buf_same(&b[B_GIN]), "grad_input written though not asked for");
            REQUIRE(pgw || buf_same(&b[B_GW]), "grad_weight written though not asked for");
            REQUIRE(pgb || buf_same(&b[B_GB]), "grad_bias written though not asked for");
        }
        free(din); free(dw); free(db); free(dgo); free(ex); free(mag);
        g_outcomes[OUT_CHECKED]++;
    }
    for (int i = 0; i < NB; i++) buf_free(&b[i]);
    return 0;
}
