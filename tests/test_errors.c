/* Every bad argument SPEC lists must give CJ_ERR_INVALID_ARGUMENT, leave every output byte
 * untouched, and leave a message in cj_last_error() that names the offending numbers. Plus the
 * small public functions: status strings, algorithm names, output shape, defaults, contexts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjure.h"
#include "reference.h"
#include "testutil.h"

#define SENT 0xA5
#define BUFN 8192 /* doubles per buffer: generous, so a bogus shape never makes a call run off */

/* Base valid configuration: N=2 C=6 H=9 W=7, K=9 3x2 kernel, pad (1,0), groups 3.
 * weight [9,2,3,2], output [2,9,9,6]. */
enum { BN = 2, BC = 6, BH = 9, BW = 7, BK = 9, BKH = 3, BKW = 2, BPH = 1, BPW = 0, BG = 3, BHO = 9, BWO = 6 };

typedef struct setup {
    cj_tensor in, w, b, out, gout, gin, gw, gb;
    const cj_tensor *pin, *pw, *pb, *pgout;
    cj_tensor *pout, *pgin, *pgw, *pgb;
    cj_conv2d_params p;
    const cj_conv2d_params *pp;
} setup;

static unsigned char *buf_in, *buf_w, *buf_b, *buf_out, *buf_gout, *buf_gin, *buf_gw, *buf_gb;
static cj_context *ctx;

static cj_tensor mk(cj_dtype dt, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, void *data)
{
    cj_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = ndim;
    t.shape[0] = a; t.shape[1] = b; t.shape[2] = c; t.shape[3] = d;
    t.data = data;
    return t;
}

static void base(setup *s)
{
    memset(s, 0, sizeof *s);
    s->in = mk(CJ_F32, 4, BN, BC, BH, BW, buf_in);
    s->w = mk(CJ_F32, 4, BK, BC / BG, BKH, BKW, buf_w);
    s->b = mk(CJ_F32, 1, BK, 0, 0, 0, buf_b);
    s->out = mk(CJ_F32, 4, BN, BK, BHO, BWO, buf_out);
    s->gout = mk(CJ_F32, 4, BN, BK, BHO, BWO, buf_gout);
    s->gin = mk(CJ_F32, 4, BN, BC, BH, BW, buf_gin);
    s->gw = mk(CJ_F32, 4, BK, BC / BG, BKH, BKW, buf_gw);
    s->gb = mk(CJ_F32, 1, BK, 0, 0, 0, buf_gb);
    s->pin = &s->in; s->pw = &s->w; s->pb = &s->b; s->pgout = &s->gout;
    s->pout = &s->out; s->pgin = &s->gin; s->pgw = &s->gw; s->pgb = &s->gb;
    cj_conv2d_params p = {{BPH, BPW}, {1, 1}, {1, 1}, BG, CJ_ALGO_AUTO};
    s->p = p;
    s->pp = &s->p;
}

static int all_sent(const unsigned char *b)
{
    for (size_t i = 0; i < BUFN * 8; i++)
        if (b[i] != SENT) return 0;
    return 1;
}

/* Does the message contain any of the '|'-separated numbers in `nums`? */
static int mentions(const char *msg, const char *nums)
{
    if (!nums || !*nums) return 1;
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", nums);
    for (char *tok = strtok(tmp, "|"); tok; tok = strtok(NULL, "|"))
        if (strstr(msg, tok)) return 1;
    return 0;
}

enum { FWD = 1, BWD = 2, BOTH = 3 };

static void expect_invalid(const char *label, setup *s, int which, const char *nums)
{
    if (which & FWD) {
        memset(buf_out, SENT, BUFN * 8);
        cj_status st = cj_conv2d(ctx, s->pin, s->pw, s->pb, s->pp, s->pout);
        const char *msg = cj_last_error();
        tu_expect(st == CJ_ERR_INVALID_ARGUMENT, "forward, %s: status %d (%s), want CJ_ERR_INVALID_ARGUMENT; message \"%s\"",
                  label, (int)st, cj_status_string(st), msg ? msg : "(NULL)");
        tu_expect(all_sent(buf_out), "forward, %s: output bytes were written by a failed call", label);
        tu_expect(msg && msg[0], "forward, %s: cj_last_error() is empty", label);
        if (msg && msg[0])
            tu_expect(mentions(msg, nums), "forward, %s: cj_last_error() \"%s\" names none of %s", label, msg, nums);
    }
    if (which & BWD) {
        memset(buf_gin, SENT, BUFN * 8);
        memset(buf_gw, SENT, BUFN * 8);
        memset(buf_gb, SENT, BUFN * 8);
        cj_status st = cj_conv2d_backward(ctx, s->pin, s->pw, s->pb, s->pp, s->pgout, s->pgin, s->pgw, s->pgb);
        const char *msg = cj_last_error();
        tu_expect(st == CJ_ERR_INVALID_ARGUMENT, "backward, %s: status %d (%s), want CJ_ERR_INVALID_ARGUMENT; message \"%s\"",
                  label, (int)st, cj_status_string(st), msg ? msg : "(NULL)");
        tu_expect(all_sent(buf_gin) && all_sent(buf_gw) && all_sent(buf_gb),
                  "backward, %s: a gradient buffer was written by a failed call", label);
        tu_expect(msg && msg[0], "backward, %s: cj_last_error() is empty", label);
        if (msg && msg[0])
            tu_expect(mentions(msg, nums), "backward, %s: cj_last_error() \"%s\" names none of %s", label, msg, nums);
    }
}

/* A valid call on the base setup: OK and correct against the reference. */
static void expect_valid_base(const char *label)
{
    setup s;
    base(&s);
    ref_conv c = {BN, BC, BH, BW, BK, BKH, BKW, BPH, BPW, 1, 1, 1, 1, BG, 0, 0};
    ref_conv_init(&c);
    int64_t ni = ref_in_numel(&c), nw = ref_w_numel(&c), no = ref_out_numel(&c);
    double *in = tu_dalloc(ni), *w = tu_dalloc(nw), *b = tu_dalloc(BK), *out = tu_dalloc(no), *m = tu_dalloc(no);
    tu_to_double(&s.in, in);
    tu_to_double(&s.w, w);
    tu_to_double(&s.b, b);
    ref_forward(&c, in, w, b, out, m);
    tu_fill_nan(&s.out);
    cj_status st = cj_conv2d(ctx, s.pin, s.pw, s.pb, s.pp, s.pout);
    if (tu_expect(st == CJ_OK, "%s: valid call returned %s: %s", label, cj_status_string(st), cj_last_error()))
        tu_expect(tu_check_close("output", &s.out, out, m, tu_tol(CJ_ALGO_AUTO, CJ_F32)), "%s: wrong output", label);
    free(in); free(w); free(b); free(out); free(m);
}

static void fill_inputs(tu_rng *r)
{
    setup s;
    base(&s);
    tu_fill_uniform(r, &s.in, NULL);
    tu_fill_uniform(r, &s.w, NULL);
    tu_fill_uniform(r, &s.b, NULL);
    tu_fill_uniform(r, &s.gout, NULL);
}

static void bad_arguments(void)
{
    setup s;
    char lab[160];

    /* NULL tensors and NULL data */
    base(&s); s.pin = NULL; expect_invalid("input NULL", &s, BOTH, "");
    base(&s); s.pw = NULL; expect_invalid("weight NULL", &s, BOTH, "");
    base(&s); s.pout = NULL; expect_invalid("output NULL", &s, FWD, "");
    base(&s); s.pgout = NULL; expect_invalid("grad_output NULL", &s, BWD, "");
    base(&s); s.in.data = NULL; expect_invalid("input data NULL", &s, BOTH, "");
    base(&s); s.w.data = NULL; expect_invalid("weight data NULL", &s, BOTH, "");
    base(&s); s.out.data = NULL; expect_invalid("output data NULL", &s, FWD, "");
    base(&s); s.b.data = NULL; expect_invalid("bias [9] with data NULL", &s, FWD, "");
    base(&s); s.gout.data = NULL; expect_invalid("grad_output data NULL", &s, BWD, "");
    base(&s); s.gin.data = NULL; expect_invalid("grad_input data NULL", &s, BWD, "");
    base(&s); s.gw.data = NULL; expect_invalid("grad_weight data NULL", &s, BWD, "");
    base(&s); s.gb.data = NULL; expect_invalid("grad_bias data NULL", &s, BWD, "");

    /* unknown dtype / algorithm */
    base(&s); s.in.dtype = (cj_dtype)7; expect_invalid("input dtype 7", &s, BOTH, "7");
    base(&s); s.w.dtype = (cj_dtype)7; expect_invalid("weight dtype 7", &s, BOTH, "7");
    base(&s); s.out.dtype = (cj_dtype)7; expect_invalid("output dtype 7", &s, FWD, "7");
    base(&s); s.b.dtype = (cj_dtype)7; expect_invalid("bias dtype 7", &s, FWD, "7");
    base(&s); s.gout.dtype = (cj_dtype)7; expect_invalid("grad_output dtype 7", &s, BWD, "7");
    base(&s); s.gin.dtype = (cj_dtype)7; expect_invalid("grad_input dtype 7", &s, BWD, "7");
    base(&s); s.gw.dtype = (cj_dtype)7; expect_invalid("grad_weight dtype 7", &s, BWD, "7");
    base(&s); s.gb.dtype = (cj_dtype)7; expect_invalid("grad_bias dtype 7", &s, BWD, "7");
    base(&s); s.in.dtype = s.w.dtype = s.b.dtype = s.out.dtype = s.gout.dtype = s.gin.dtype = s.gw.dtype =
        s.gb.dtype = (cj_dtype)0;
    expect_invalid("all dtypes 0", &s, BOTH, "0");
    base(&s); s.p.algorithm = (cj_algorithm)99; expect_invalid("algorithm 99", &s, BOTH, "99");
    base(&s); s.p.algorithm = (cj_algorithm)-1; expect_invalid("algorithm -1", &s, BOTH, "-1");
    base(&s); s.p.algorithm = (cj_algorithm)6; expect_invalid("algorithm 6", &s, BOTH, "6");

    /* wrong ndim */
    base(&s); s.in.ndim = 3; expect_invalid("input ndim 3", &s, BOTH, "3");
    base(&s); s.in.ndim = 5; expect_invalid("input ndim 5", &s, BOTH, "5");
    base(&s); s.in.ndim = -1; expect_invalid("input ndim -1", &s, BOTH, "-1");
    base(&s); s.w.ndim = 3; expect_invalid("weight ndim 3", &s, BOTH, "3");
    base(&s); s.out.ndim = 3; expect_invalid("output ndim 3", &s, FWD, "3");
    base(&s); s.gout.ndim = 3; expect_invalid("grad_output ndim 3", &s, BWD, "3");
    base(&s); s.gin.ndim = 3; expect_invalid("grad_input ndim 3", &s, BWD, "3");
    base(&s); s.gw.ndim = 2; expect_invalid("grad_weight ndim 2", &s, BWD, "2");

    /* dtype mismatch between tensors */
    base(&s); s.in.dtype = CJ_F64; expect_invalid("input f64, rest f32", &s, BOTH, "");
    base(&s); s.w.dtype = CJ_F64; expect_invalid("weight f64, rest f32", &s, BOTH, "");
    base(&s); s.b.dtype = CJ_F64; expect_invalid("bias f64, rest f32", &s, FWD, "");
    base(&s); s.out.dtype = CJ_F64; expect_invalid("output f64, rest f32", &s, FWD, "");
    base(&s); s.gout.dtype = CJ_F64; expect_invalid("grad_output f64, rest f32", &s, BWD, "");
    base(&s); s.gin.dtype = CJ_F64; expect_invalid("grad_input f64, rest f32", &s, BWD, "");
    base(&s); s.gw.dtype = CJ_F64; expect_invalid("grad_weight f64, rest f32", &s, BWD, "");
    base(&s); s.gb.dtype = CJ_F64; expect_invalid("grad_bias f64, rest f32", &s, BWD, "");

    /* channel mismatches */
    base(&s); s.w.shape[1] = 3; s.gw.shape[1] = 3;
    expect_invalid("weight has 3 input channels per group, input 6 with groups 3", &s, BOTH, "3|6");
    base(&s); s.in.shape[1] = 9; s.gin.shape[1] = 9;
    expect_invalid("input 9 channels, weight 2 per group x 3 groups", &s, BOTH, "9");
    base(&s); s.w.shape[0] = 8; s.gw.shape[0] = 8; s.out.shape[1] = 8; s.gout.shape[1] = 8; s.b.shape[0] = 8; s.gb.shape[0] = 8;
    expect_invalid("C_out 8 not divisible by groups 3", &s, BOTH, "8");

    /* output / grad_output shapes off by one in each dim, both ways */
    for (int d = 0; d < 4; d++)
        for (int delta = -1; delta <= 1; delta += 2) {
            base(&s);
            s.out.shape[d] += delta;
            snprintf(lab, sizeof lab, "output shape[%d] = %lld", d, (long long)s.out.shape[d]);
            char num[32];
            snprintf(num, sizeof num, "%lld", (long long)s.out.shape[d]);
            expect_invalid(lab, &s, FWD, num);
            base(&s);
            s.gout.shape[d] += delta;
            snprintf(lab, sizeof lab, "grad_output shape[%d] = %lld", d, (long long)s.gout.shape[d]);
            snprintf(num, sizeof num, "%lld", (long long)s.gout.shape[d]);
            expect_invalid(lab, &s, BWD, num);
            base(&s);
            s.gin.shape[d] += delta;
            snprintf(lab, sizeof lab, "grad_input shape[%d] = %lld", d, (long long)s.gin.shape[d]);
            snprintf(num, sizeof num, "%lld", (long long)s.gin.shape[d]);
            expect_invalid(lab, &s, BWD, num);
            base(&s);
            s.gw.shape[d] += delta;
            snprintf(lab, sizeof lab, "grad_weight shape[%d] = %lld", d, (long long)s.gw.shape[d]);
            snprintf(num, sizeof num, "%lld", (long long)s.gw.shape[d]);
            expect_invalid(lab, &s, BWD, num);
        }
    /* bias and grad_bias of wrong length or rank */
    base(&s); s.b.shape[0] = 10; expect_invalid("bias [10], C_out 9", &s, BOTH, "10");
    base(&s); s.b.shape[0] = 8; expect_invalid("bias [8], C_out 9", &s, BOTH, "8");
    base(&s); s.b = mk(CJ_F32, 2, BK, 1, 0, 0, buf_b); expect_invalid("bias [9,1]", &s, BOTH, "2");
    base(&s); s.b = mk(CJ_F32, 2, 1, BK, 0, 0, buf_b); expect_invalid("bias [1,9]", &s, BOTH, "");
    base(&s); s.b = mk(CJ_F32, 3, BK, 1, 2, 0, buf_b); expect_invalid("bias [9,1,2]", &s, BOTH, "2");
    base(&s); s.b = mk(CJ_F32, 3, BK, 2, 1, 0, buf_b); expect_invalid("bias [9,2,1]", &s, BOTH, "2");
    base(&s); s.b = mk(CJ_F32, 4, BK, 1, 1, 1, buf_b); expect_invalid("bias [9,1,1,1]", &s, BOTH, "4");
    base(&s); s.b = mk(CJ_F32, 3, 10, 1, 1, 0, buf_b); expect_invalid("bias [10,1,1]", &s, BOTH, "10");
    base(&s); s.gb.shape[0] = 10; expect_invalid("grad_bias [10]", &s, BWD, "10");
    base(&s); s.gb = mk(CJ_F32, 2, BK, 1, 0, 0, buf_gb); expect_invalid("grad_bias [9,1]", &s, BWD, "2");
    base(&s); s.gb = mk(CJ_F32, 3, BK, 1, 2, 0, buf_gb); expect_invalid("grad_bias [9,1,2]", &s, BWD, "2");
    base(&s); s.gb = mk(CJ_F32, 3, 10, 1, 1, 0, buf_gb); expect_invalid("grad_bias [10,1,1]", &s, BWD, "10");
    base(&s); s.gb = mk(CJ_F32, 1, 0, 0, 0, 0, buf_gb); expect_invalid("grad_bias [0]", &s, BWD, "0|empty|9");

    /* negative extents */
    base(&s); s.in.shape[0] = -2; s.out.shape[0] = s.gout.shape[0] = s.gin.shape[0] = -2;
    expect_invalid("N = -2", &s, BOTH, "-2");
    base(&s); s.in.shape[2] = -9; s.gin.shape[2] = -9; expect_invalid("H_in = -9", &s, BOTH, "-9");
    base(&s); s.in.shape[3] = -7; s.gin.shape[3] = -7; expect_invalid("W_in = -7", &s, BOTH, "-7");
    base(&s); s.w.shape[2] = -3; s.gw.shape[2] = -3; expect_invalid("kH = -3", &s, BOTH, "-3");
    base(&s); s.w.shape[0] = -9; s.gw.shape[0] = -9; expect_invalid("C_out = -9", &s, BOTH, "-9");
    base(&s); s.out.shape[2] = -9; expect_invalid("output H = -9", &s, FWD, "-9");
    base(&s); s.b.shape[0] = -9; expect_invalid("bias [-9]", &s, BOTH, "-9");

    /* zero C_in / C_out / kH / kW / H / W (shapes otherwise consistent) */
    base(&s); s.in.shape[1] = 0; s.gin.shape[1] = 0; s.w.shape[1] = 0; s.gw.shape[1] = 0;
    expect_invalid("C_in = 0", &s, BOTH, "0");
    base(&s); s.w.shape[0] = 0; s.gw.shape[0] = 0; s.out.shape[1] = 0; s.gout.shape[1] = 0;
    s.b.shape[0] = 0; s.gb.shape[0] = 0;
    expect_invalid("C_out = 0", &s, BOTH, "0");
    base(&s); s.w.shape[2] = 0; s.gw.shape[2] = 0; expect_invalid("kH = 0", &s, BOTH, "0");
    base(&s); s.w.shape[3] = 0; s.gw.shape[3] = 0; expect_invalid("kW = 0", &s, BOTH, "0");
    base(&s); s.in.shape[2] = 0; s.gin.shape[2] = 0; expect_invalid("H_in = 0", &s, BOTH, "0");
    base(&s); s.in.shape[3] = 0; s.gin.shape[3] = 0; expect_invalid("W_in = 0", &s, BOTH, "0");

    /* params */
    base(&s); s.p.padding.height = -1; expect_invalid("padding.height = -1", &s, BOTH, "-1");
    base(&s); s.p.padding.width = -3; expect_invalid("padding.width = -3", &s, BOTH, "-3");
    base(&s); s.p.stride.height = 0; expect_invalid("stride.height = 0", &s, BOTH, "0");
    base(&s); s.p.stride.width = -2; expect_invalid("stride.width = -2", &s, BOTH, "-2");
    base(&s); s.p.dilation.height = 0; expect_invalid("dilation.height = 0", &s, BOTH, "0");
    base(&s); s.p.dilation.width = -4; expect_invalid("dilation.width = -4", &s, BOTH, "-4");
    base(&s); s.p.groups = 0; expect_invalid("groups = 0", &s, BOTH, "0");
    base(&s); s.p.groups = -3; expect_invalid("groups = -3", &s, BOTH, "-3");
    /* groups not dividing: weight made consistent per group where possible */
    base(&s); s.p.groups = 4; expect_invalid("groups 4 divides neither C_in 6 nor C_out 9", &s, BOTH, "4");
    base(&s); s.p.groups = 9; s.w.shape[1] = 1; s.gw.shape[1] = 1;
    expect_invalid("groups 9 divides C_out 9 but not C_in 6", &s, BOTH, "9|6");
    base(&s); s.p.groups = 2; s.w.shape[1] = 3; s.gw.shape[1] = 3;
    expect_invalid("groups 2 divides C_in 6 but not C_out 9", &s, BOTH, "2|9");

    /* H_out / W_out < 1 */
    base(&s); s.in.shape[2] = 1; s.gin.shape[2] = 1; s.p.padding.height = 0; s.out.shape[2] = 0; s.gout.shape[2] = 0;
    expect_invalid("kernel 3 rows on 1 input row, no padding (H_out = -1)", &s, BOTH, "");
    base(&s); s.in.shape[3] = 1; s.gin.shape[3] = 1; s.out.shape[3] = 0; s.gout.shape[3] = 0;
    expect_invalid("kernel 2 columns on 1 input column (W_out = 0)", &s, BOTH, "");
    base(&s); s.p.dilation.height = 6; s.out.shape[2] = 0; s.gout.shape[2] = 0;
    expect_invalid("dilation 6 spans 13 rows > 11 padded (H_out < 1)", &s, BOTH, "6|13|11");

    /* sizes whose products overflow int64 */
    base(&s);
    s.in.shape[0] = (int64_t)1 << 40; s.in.shape[2] = (int64_t)1 << 40;
    s.out.shape[0] = s.gout.shape[0] = s.gin.shape[0] = (int64_t)1 << 40;
    s.out.shape[2] = s.gout.shape[2] = s.gin.shape[2] = (int64_t)1 << 40;
    s.gin.shape[2] = (int64_t)1 << 40;
    expect_invalid("input {1<<40, 6, 1<<40, 7} overflows", &s, BOTH, "");
    base(&s);
    s.in = mk(CJ_F32, 4, (int64_t)1 << 40, (int64_t)1 << 40, 9, 7, buf_in);
    s.gin = s.in; s.gin.data = buf_gin;
    s.w.shape[1] = ((int64_t)1 << 40) / 1; s.p.groups = 1; s.gw.shape[1] = (int64_t)1 << 40;
    s.out.shape[0] = s.gout.shape[0] = (int64_t)1 << 40;
    expect_invalid("input {1<<40, 1<<40, 9, 7} overflows", &s, BOTH, "");
    base(&s); s.p.padding.height = INT64_MAX / 2; expect_invalid("padding.height = INT64_MAX/2", &s, BOTH, "");
    base(&s); s.p.dilation.width = INT64_MAX; expect_invalid("dilation.width = INT64_MAX", &s, BOTH, "");
    base(&s); s.p.padding.width = INT64_MAX; expect_invalid("padding.width = INT64_MAX", &s, BOTH, "");
    base(&s);
    s.w = mk(CJ_F32, 4, (int64_t)1 << 40, BC / BG, (int64_t)1 << 40, BKW, buf_w);
    s.gw = s.w; s.gw.data = buf_gw;
    expect_invalid("weight {1<<40, 2, 1<<40, 2}", &s, BOTH, "");
}

/* Overlap: outputs sharing memory with inputs. */
static void overlaps(void)
{
    size_t nbytes = 4 * BUFN * 8;
    unsigned char *big = malloc(nbytes), *copy = malloc(nbytes);
    setup s;
    struct { const char *label; size_t in_off, out_off; } fc[] = {
        {"output is the input buffer", 0, 0},
        {"output starts inside the input", 0, 4 * 100},
        {"input starts inside the output", 4 * 100, 0},
        {"output overlaps the input's last element", 0, 4 * (BN * BC * BH * BW - 1)},
    };
    for (size_t i = 0; i < sizeof fc / sizeof fc[0]; i++) {
        base(&s);
        memset(big, SENT, nbytes);
        s.in.data = big + fc[i].in_off;
        s.out.data = big + fc[i].out_off;
        memcpy(copy, big, nbytes);
        cj_status st = cj_conv2d(ctx, s.pin, s.pw, s.pb, s.pp, s.pout);
        tu_expect(st == CJ_ERR_INVALID_ARGUMENT, "forward, %s: status %s", fc[i].label, cj_status_string(st));
        tu_expect(memcmp(big, copy, nbytes) == 0, "forward, %s: memory written by a failed call", fc[i].label);
        tu_expect(cj_last_error()[0] != 0, "forward, %s: empty cj_last_error()", fc[i].label);
    }
    /* output overlapping the weight, and the bias */
    base(&s); memset(big, SENT, nbytes); s.w.data = big; s.out.data = big + 8; memcpy(copy, big, nbytes);
    tu_expect(cj_conv2d(ctx, s.pin, s.pw, s.pb, s.pp, s.pout) == CJ_ERR_INVALID_ARGUMENT && memcmp(big, copy, nbytes) == 0,
              "forward, output overlapping the weight: not rejected or memory written");
    base(&s); memset(big, SENT, nbytes); s.b.data = big + 4 * 100; s.out.data = big; memcpy(copy, big, nbytes);
    tu_expect(cj_conv2d(ctx, s.pin, s.pw, s.pb, s.pp, s.pout) == CJ_ERR_INVALID_ARGUMENT && memcmp(big, copy, nbytes) == 0,
              "forward, output overlapping the bias: not rejected or memory written");
    /* backward: grad_input over grad_output, grad_weight over input, grad_bias over grad_output */
    struct { const char *label; int which; size_t off; } bc[] = {
        {"grad_input is the grad_output buffer", 0, 0},
        {"grad_input starts inside grad_output", 0, 4 * 37},
        {"grad_weight overlaps the input", 1, 4 * 11},
        {"grad_bias overlaps grad_output", 2, 4 * 3},
        {"grad_input overlaps the weight", 3, 4 * 5},
    };
    for (size_t i = 0; i < sizeof bc / sizeof bc[0]; i++) {
        base(&s);
        memset(big, SENT, nbytes);
        memset(buf_gin, SENT, BUFN * 8);
        memset(buf_gw, SENT, BUFN * 8);
        memset(buf_gb, SENT, BUFN * 8);
        switch (bc[i].which) {
        case 0: s.gout.data = big; s.gin.data = big + bc[i].off; break;
        case 1: s.in.data = big; s.gw.data = big + bc[i].off; break;
        case 2: s.gout.data = big; s.gb.data = big + bc[i].off; break;
        case 3: s.w.data = big + bc[i].off; s.gin.data = big; break;
        }
        memcpy(copy, big, nbytes);
        cj_status st = cj_conv2d_backward(ctx, s.pin, s.pw, s.pb, s.pp, s.pgout, s.pgin, s.pgw, s.pgb);
        tu_expect(st == CJ_ERR_INVALID_ARGUMENT, "backward, %s: status %s", bc[i].label, cj_status_string(st));
        tu_expect(memcmp(big, copy, nbytes) == 0 && all_sent(buf_gin) && all_sent(buf_gw) && all_sent(buf_gb),
                  "backward, %s: memory written by a failed call", bc[i].label);
        tu_expect(cj_last_error()[0] != 0, "backward, %s: empty cj_last_error()", bc[i].label);
    }
    free(big);
    free(copy);
}

static void small_functions(void)
{
    const cj_status sts[4] = {CJ_OK, CJ_ERR_INVALID_ARGUMENT, CJ_ERR_UNSUPPORTED, CJ_ERR_OUT_OF_MEMORY};
    tu_expect(CJ_OK == 0 && CJ_ERR_INVALID_ARGUMENT == 1 && CJ_ERR_UNSUPPORTED == 2 && CJ_ERR_OUT_OF_MEMORY == 3,
              "cj_status values are not the stable 0..3");
    tu_expect(CJ_F32 == 1 && CJ_F64 == 2, "cj_dtype values are not 1, 2");
    for (int i = 0; i < 4; i++) {
        const char *a = cj_status_string(sts[i]);
        tu_expect(a && a[0], "cj_status_string(%d) is NULL or empty", i);
        for (int j = 0; j < i; j++)
            if (a) tu_expect(strcmp(a, cj_status_string(sts[j])) != 0, "cj_status_string(%d) == cj_status_string(%d)", i, j);
    }
    tu_expect(cj_status_string((cj_status)42) != NULL, "cj_status_string(42) is NULL");
    tu_expect(cj_status_string((cj_status)-1) != NULL, "cj_status_string(-1) is NULL");
    const cj_algorithm al[6] = {CJ_ALGO_AUTO, CJ_ALGO_IM2COL_GEMM, CJ_ALGO_IMPLICIT_GEMM, CJ_ALGO_WINOGRAD, CJ_ALGO_FFT, CJ_ALGO_DIRECT};
    for (int i = 0; i < 6; i++) {
        tu_expect((int)al[i] == i, "algorithm enum value %d is %d", i, (int)al[i]);
        const char *a = cj_algorithm_name(al[i]);
        tu_expect(a && a[0], "cj_algorithm_name(%d) is NULL or empty", i);
        for (int j = 0; j < i; j++)
            if (a) tu_expect(strcmp(a, cj_algorithm_name(al[j])) != 0, "cj_algorithm_name(%d) == cj_algorithm_name(%d)", i, j);
    }
    tu_expect(cj_algorithm_name((cj_algorithm)99) != NULL, "cj_algorithm_name(99) is NULL");
    tu_expect(cj_algorithm_name((cj_algorithm)-1) != NULL, "cj_algorithm_name(-1) is NULL");

    cj_conv2d_params d = CJ_CONV2D_PARAMS_DEFAULT;
    tu_expect(d.padding.height == 0 && d.padding.width == 0 && d.stride.height == 1 && d.stride.width == 1 &&
                  d.dilation.height == 1 && d.dilation.width == 1 && d.groups == 1 && d.algorithm == CJ_ALGO_AUTO,
              "CJ_CONV2D_PARAMS_DEFAULT is not padding 0, stride 1, dilation 1, groups 1, AUTO");

    /* cj_conv2d_output_shape */
    setup s;
    base(&s);
    int64_t sh[4] = {-5, -5, -5, -5};
    cj_status st = cj_conv2d_output_shape(&s.in, &s.w, &s.p, sh);
    tu_expect(st == CJ_OK && sh[0] == BN && sh[1] == BK && sh[2] == BHO && sh[3] == BWO,
              "cj_conv2d_output_shape(base): %s, [%lld,%lld,%lld,%lld], want [2,9,9,6]", cj_status_string(st),
              (long long)sh[0], (long long)sh[1], (long long)sh[2], (long long)sh[3]);
    struct { int64_t H, W, kh, kw, ph, pw, sh, sw, dh, dw, N; } oc[] = {
        {9, 7, 3, 2, 1, 0, 2, 3, 1, 1, 2}, {9, 7, 3, 2, 0, 0, 1, 1, 4, 6, 1}, {1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 3},
        {28, 28, 5, 5, 2, 2, 3, 3, 1, 1, 0}, {227, 227, 11, 11, 0, 0, 4, 4, 1, 1, 1}, {10, 11, 3, 4, 5, 6, 7, 8, 2, 3, 1},
    };
    for (size_t i = 0; i < sizeof oc / sizeof oc[0]; i++) {
        cj_tensor in = mk(CJ_F64, 4, oc[i].N, 4, oc[i].H, oc[i].W, buf_in);
        cj_tensor w = mk(CJ_F64, 4, 5, 4, oc[i].kh, oc[i].kw, buf_w);
        cj_conv2d_params p = {{oc[i].ph, oc[i].pw}, {oc[i].sh, oc[i].sw}, {oc[i].dh, oc[i].dw}, 1, CJ_ALGO_DIRECT};
        int64_t eh = (oc[i].H + 2 * oc[i].ph - oc[i].dh * (oc[i].kh - 1) - 1) / oc[i].sh + 1;
        int64_t ew = (oc[i].W + 2 * oc[i].pw - oc[i].dw * (oc[i].kw - 1) - 1) / oc[i].sw + 1;
        st = cj_conv2d_output_shape(&in, &w, &p, sh);
        tu_expect(st == CJ_OK && sh[0] == oc[i].N && sh[1] == 5 && sh[2] == eh && sh[3] == ew,
                  "cj_conv2d_output_shape case %zu: %s [%lld,%lld,%lld,%lld], want [%lld,5,%lld,%lld]", i,
                  cj_status_string(st), (long long)sh[0], (long long)sh[1], (long long)sh[2], (long long)sh[3],
                  (long long)oc[i].N, (long long)eh, (long long)ew);
    }
    st = cj_conv2d_output_shape(&s.in, &s.w, NULL, sh);
    /* params NULL: defaults (groups 1 -> weight with 2 channels mismatches C_in 6) */
    tu_expect(st == CJ_ERR_INVALID_ARGUMENT, "cj_conv2d_output_shape with params NULL on a groups-3 weight: %s",
              cj_status_string(st));
    s.w.shape[1] = BC;
    st = cj_conv2d_output_shape(&s.in, &s.w, NULL, sh);
    tu_expect(st == CJ_OK && sh[2] == BH - BKH + 1 && sh[3] == BW - BKW + 1,
              "cj_conv2d_output_shape with params NULL: %s [%lld,%lld,%lld,%lld]", cj_status_string(st),
              (long long)sh[0], (long long)sh[1], (long long)sh[2], (long long)sh[3]);
    base(&s);
    s.p.stride.height = 0;
    st = cj_conv2d_output_shape(&s.in, &s.w, &s.p, sh);
    tu_expect(st == CJ_ERR_INVALID_ARGUMENT && cj_last_error()[0], "cj_conv2d_output_shape with stride 0: %s",
              cj_status_string(st));
    base(&s);
    st = cj_conv2d_output_shape(NULL, &s.w, &s.p, sh);
    tu_expect(st == CJ_ERR_INVALID_ARGUMENT, "cj_conv2d_output_shape(input NULL): %s", cj_status_string(st));
    st = cj_conv2d_output_shape(&s.in, &s.w, &s.p, NULL);
    tu_expect(st == CJ_ERR_INVALID_ARGUMENT, "cj_conv2d_output_shape(out_shape NULL): %s", cj_status_string(st));
}

static void contexts_and_defaults(tu_rng *r)
{
    cj_context *c = NULL;
    cj_status st = cj_context_create(NULL, &c);
    tu_expect(st == CJ_OK && c, "cj_context_create(NULL options): %s", cj_status_string(st));
    if (c) tu_expect(cj_context_num_threads(c) >= 1, "default context has %d threads", cj_context_num_threads(c));
    cj_context_destroy(c);
    for (int n = 1; n <= 3; n++) {
        cj_context_options o;
        memset(&o, 0, sizeof o);
        o.num_threads = n;
        c = NULL;
        st = cj_context_create(&o, &c);
        if (tu_expect(st == CJ_OK && c, "cj_context_create(num_threads %d): %s", n, cj_status_string(st))) {
            tu_expect(cj_context_num_threads(c) == n, "context created with %d threads reports %d", n,
                      cj_context_num_threads(c));
            /* a call on it works */
            cj_context *save = ctx;
            ctx = c;
            expect_valid_base("call on a context with explicit thread count");
            ctx = save;
            cj_context_destroy(c);
        }
    }
    cj_context_options o;
    memset(&o, 0, sizeof o);
    o.num_threads = -1;
    c = NULL;
    st = cj_context_create(&o, &c);
    tu_expect(st == CJ_ERR_INVALID_ARGUMENT, "cj_context_create(num_threads -1): %s, want INVALID_ARGUMENT",
              cj_status_string(st));
    if (st == CJ_ERR_INVALID_ARGUMENT)
        tu_expect(mentions(cj_last_error(), "-1"), "cj_context_create(num_threads -1): message \"%s\" lacks -1",
                  cj_last_error());
    if (st == CJ_OK) cj_context_destroy(c);
    st = cj_context_create(NULL, NULL);
    tu_expect(st == CJ_ERR_INVALID_ARGUMENT, "cj_context_create(out NULL): %s", cj_status_string(st));
    cj_context_destroy(NULL);
    tu_pass();
    tu_expect(cj_context_num_threads(NULL) >= 1, "cj_context_num_threads(NULL) = %d", cj_context_num_threads(NULL));

    /* params NULL = defaults, ctx NULL = default context: compare to the reference */
    ref_conv rc = {2, 3, 8, 7, 4, 3, 2, 0, 0, 1, 1, 1, 1, 1, 0, 0};
    ref_conv_init(&rc);
    for (int di = 0; di < 2; di++) {
        cj_dtype dt = di ? CJ_F64 : CJ_F32;
        cj_tensor in = tu_tensor4(dt, rc.N, rc.C, rc.H, rc.W), w = tu_tensor4(dt, rc.K, rc.C, rc.kh, rc.kw);
        cj_tensor out = tu_tensor4(dt, rc.N, rc.K, rc.Ho, rc.Wo), gout = tu_tensor4(dt, rc.N, rc.K, rc.Ho, rc.Wo);
        cj_tensor gin = tu_tensor4(dt, rc.N, rc.C, rc.H, rc.W), gw = tu_tensor4(dt, rc.K, rc.C, rc.kh, rc.kw);
        int64_t k1[1] = {rc.K};
        cj_tensor b = tu_tensor(dt, 1, k1, 0), gb = tu_tensor(dt, 1, k1, 0);
        cj_tensor b0;
        memset(&b0, 0, sizeof b0);
        b0.dtype = dt; /* ndim 0: an empty tensor, i.e. no bias */
        double *din = tu_dalloc(ref_in_numel(&rc)), *dw = tu_dalloc(ref_w_numel(&rc)), *db = tu_dalloc(rc.K);
        double *dgo = tu_dalloc(ref_out_numel(&rc));
        tu_fill_uniform(r, &in, din);
        tu_fill_uniform(r, &w, dw);
        tu_fill_uniform(r, &b, db);
        tu_fill_uniform(r, &gout, dgo);
        double *ro = tu_dalloc(ref_out_numel(&rc)), *rm = tu_dalloc(ref_out_numel(&rc));
        double *ro0 = tu_dalloc(ref_out_numel(&rc)), *rm0 = tu_dalloc(ref_out_numel(&rc));
        double *rgi = tu_dalloc(ref_in_numel(&rc)), *rgim = tu_dalloc(ref_in_numel(&rc));
        double *rgw = tu_dalloc(ref_w_numel(&rc)), *rgwm = tu_dalloc(ref_w_numel(&rc));
        double *rgb = tu_dalloc(rc.K), *rgbm = tu_dalloc(rc.K);
        ref_forward(&rc, din, dw, db, ro, rm);
        ref_forward(&rc, din, dw, NULL, ro0, rm0);
        ref_grad_input(&rc, dw, dgo, rgi, rgim);
        ref_grad_weight(&rc, din, dgo, rgw, rgwm);
        ref_grad_bias(&rc, dgo, rgb, rgbm);
        double tol = tu_tol(CJ_ALGO_AUTO, dt);
        tu_fill_nan(&out);
        st = cj_conv2d(NULL, &in, &w, &b, NULL, &out);
        if (tu_expect(st == CJ_OK, "%s: cj_conv2d(ctx NULL, params NULL): %s: %s", tu_dtype_name(dt), cj_status_string(st), cj_last_error()))
            tu_expect(tu_check_close("output", &out, ro, rm, tol), "%s: cj_conv2d(ctx NULL, params NULL) wrong", tu_dtype_name(dt));
        tu_fill_nan(&out);
        st = cj_conv2d(ctx, &in, &w, &b0, NULL, &out);
        if (tu_expect(st == CJ_OK, "%s: cj_conv2d(bias ndim 0): %s: %s", tu_dtype_name(dt), cj_status_string(st), cj_last_error()))
            tu_expect(tu_check_close("output", &out, ro0, rm0, tol), "%s: cj_conv2d(bias ndim 0) wrong", tu_dtype_name(dt));
        tu_fill_nan(&gin); tu_fill_nan(&gw); tu_fill_nan(&gb);
        st = cj_conv2d_backward(NULL, &in, &w, &b, NULL, &gout, &gin, &gw, &gb);
        if (tu_expect(st == CJ_OK, "%s: cj_conv2d_backward(ctx NULL, params NULL): %s: %s", tu_dtype_name(dt), cj_status_string(st), cj_last_error()))
            tu_expect(tu_check_close("grad_input", &gin, rgi, rgim, tol) & tu_check_close("grad_weight", &gw, rgw, rgwm, tol) &
                          tu_check_close("grad_bias", &gb, rgb, rgbm, tol),
                      "%s: cj_conv2d_backward(ctx NULL, params NULL) wrong", tu_dtype_name(dt));
        /* backward with bias NULL still gives grad_bias [K] */
        tu_fill_nan(&gb);
        st = cj_conv2d_backward(ctx, &in, &w, NULL, NULL, &gout, NULL, NULL, &gb);
        if (tu_expect(st == CJ_OK, "%s: cj_conv2d_backward(bias NULL, grad_bias only): %s: %s", tu_dtype_name(dt), cj_status_string(st), cj_last_error()))
            tu_expect(tu_check_close("grad_bias", &gb, rgb, rgbm, tol), "%s: grad_bias with bias NULL wrong", tu_dtype_name(dt));
        /* all gradients NULL: nothing to do, still valid */
        st = cj_conv2d_backward(ctx, &in, &w, NULL, NULL, &gout, NULL, NULL, NULL);
        tu_expect(st == CJ_OK, "%s: cj_conv2d_backward with every gradient NULL: %s: %s", tu_dtype_name(dt), cj_status_string(st), cj_last_error());
        free(din); free(dw); free(db); free(dgo); free(ro); free(rm); free(ro0); free(rm0);
        free(rgi); free(rgim); free(rgw); free(rgwm); free(rgb); free(rgbm);
        tu_free(&in); tu_free(&w); tu_free(&out); tu_free(&gout); tu_free(&gin); tu_free(&gw); tu_free(&b); tu_free(&gb);
    }
}

int main(void)
{
    tu_rng rng = {tu_seed("test_errors", 777)};
    unsigned char **bufs[8] = {&buf_in, &buf_w, &buf_b, &buf_out, &buf_gout, &buf_gin, &buf_gw, &buf_gb};
    for (int i = 0; i < 8; i++) *bufs[i] = calloc(BUFN, 8);
    cj_status st = cj_context_create(NULL, &ctx);
    if (st != CJ_OK) {
        tu_fail("cj_context_create: %s", cj_status_string(st));
        return tu_finish();
    }
    fill_inputs(&rng);
    expect_valid_base("base configuration before any failure");
    bad_arguments();
    expect_valid_base("base configuration after the failures");
    overlaps();
    small_functions();
    contexts_and_defaults(&rng);
    expect_valid_base("base configuration at the end");
    cj_context_destroy(ctx);
    for (int i = 0; i < 8; i++) free(*bufs[i]);
    return tu_finish();
}
