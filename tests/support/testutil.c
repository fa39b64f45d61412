/* See testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/cpu.h"

/* ---- RNG ---- */
uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *r) { return (double)(tu_next(r) >> 11) * (2.0 / 9007199254740992.0) - 1.0; }

int64_t tu_range(tu_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(tu_next(r) % (uint64_t)(hi - lo + 1));
}

uint64_t tu_seed(const char *prog, uint64_t default_seed)
{
    uint64_t seed = default_seed;
    const char *e = getenv("CJ_TEST_SEED");
    if (e && *e) seed = strtoull(e, NULL, 0);
    printf("%s: seed %llu (set CJ_TEST_SEED to override)\n", prog, (unsigned long long)seed);
    fflush(stdout);
    return seed;
}

/* ---- tensors ---- */
size_t tu_dtype_size(cj_dtype dt) { return dt == CJ_F64 ? 8 : 4; }

int64_t tu_numel(const cj_tensor *t)
{
    if (t->ndim <= 0) return 0; /* SPEC: ndim 0 is an empty tensor */
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

cj_tensor tu_tensor(cj_dtype dt, int ndim, const int64_t *shape, int null_if_empty)
{
    cj_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = ndim;
    for (int d = 0; d < ndim; d++) t.shape[d] = shape[d];
    int64_t n = tu_numel(&t);
    if (n == 0 && null_if_empty) return t;
    t.data = malloc((size_t)(n > 0 ? n : 1) * tu_dtype_size(dt));
    if (!t.data) { fprintf(stderr, "out of memory\n"); abort(); }
    return t;
}

cj_tensor tu_tensor4(cj_dtype dt, int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t s[4] = {a, b, c, d};
    return tu_tensor(dt, 4, s, 0);
}

void tu_free(cj_tensor *t)
{
    free(t->data);
    t->data = NULL;
}

double tu_get(const cj_tensor *t, int64_t i)
{
    return t->dtype == CJ_F64 ? ((const double *)t->data)[i] : (double)((const float *)t->data)[i];
}

void tu_set(cj_tensor *t, int64_t i, double v)
{
    if (t->dtype == CJ_F64) ((double *)t->data)[i] = v;
    else ((float *)t->data)[i] = (float)v;
}

void tu_fill_uniform(tu_rng *r, cj_tensor *t, double *out)
{
    int64_t n = tu_numel(t);
    for (int64_t i = 0; i < n; i++) {
        tu_set(t, i, tu_uniform(r));
        if (out) out[i] = tu_get(t, i);
    }
}

void tu_fill_nan(cj_tensor *t)
{
    int64_t n = tu_numel(t);
    if (!t->data) return;
    for (int64_t i = 0; i < n; i++) tu_set(t, i, NAN);
}

int tu_all_nan(const cj_tensor *t)
{
    int64_t n = tu_numel(t);
    if (!t->data) return 1;
    for (int64_t i = 0; i < n; i++)
        if (!isnan(tu_get(t, i))) return 0;
    return 1;
}

void tu_fill_byte(cj_tensor *t, unsigned char b)
{
    if (t->data) memset(t->data, b, (size_t)tu_numel(t) * tu_dtype_size(t->dtype));
}

int tu_all_byte(const cj_tensor *t, unsigned char b)
{
    if (!t->data) return 1;
    const unsigned char *p = t->data;
    size_t n = (size_t)tu_numel(t) * tu_dtype_size(t->dtype);
    for (size_t i = 0; i < n; i++)
        if (p[i] != b) return 0;
    return 1;
}

void tu_to_double(const cj_tensor *t, double *out)
{
    int64_t n = tu_numel(t);
    for (int64_t i = 0; i < n; i++) out[i] = tu_get(t, i);
}

void tu_from_double(cj_tensor *t, const double *in)
{
    int64_t n = tu_numel(t);
    for (int64_t i = 0; i < n; i++) tu_set(t, i, in[i]);
}

double *tu_dalloc(int64_t n)
{
    double *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    if (!p) { fprintf(stderr, "out of memory\n"); abort(); }
    return p;
}

/* ---- accuracy ---- */
double tu_tol(cj_algorithm algo, cj_dtype dt)
{
    int loose = algo == CJ_ALGO_WINOGRAD || algo == CJ_ALGO_FFT || algo == CJ_ALGO_AUTO;
    if (dt == CJ_F64) return loose ? 1e-12 : 1e-13;
    return loose ? 1e-4 : 1e-5;
}

const char *tu_dtype_name(cj_dtype dt) { return dt == CJ_F64 ? "f64" : dt == CJ_F32 ? "f32" : "?"; }

static void unravel(const cj_tensor *t, int64_t i, char *buf, size_t n)
{
    int64_t idx[4] = {0, 0, 0, 0};
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] > 0) { idx[d] = i % t->shape[d]; i /= t->shape[d]; }
    }
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", d ? "," : "", (long long)idx[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

int tu_check_close(const char *what, const cj_tensor *got, const double *exact, const double *mag,
                   double tol)
{
    int64_t n = tu_numel(got), worst = -1, nbad = 0;
    double worst_ratio = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = tu_get(got, i), err = fabs(g - exact[i]);
        double lim = tol * mag[i] + 1e-30;
        double ratio = isnan(err) ? INFINITY : err / lim;
        if (!(err <= lim)) nbad++;
        if (worst < 0 || ratio > worst_ratio) {
            worst = i;
            worst_ratio = ratio;
        }
    }
    if (nbad == 0) return 1;
    char ib[96];
    unravel(got, worst, ib, sizeof ib);
    printf("    %s: %lld of %lld elements off; worst %s = %.17g, exact %.17g, s = %.6g, |err|/(tol*s) = %.3g (tol %g)\n",
           what, (long long)nbad, (long long)n, ib, tu_get(got, worst), exact[worst], mag[worst],
           worst_ratio, tol);
    return 0;
}

const char *tu_cfg_str(char *buf, size_t n, const ref_conv *c, cj_dtype dt, cj_algorithm algo,
                       const char *pass)
{
    snprintf(buf, n,
             "N=%lld C=%lld H=%lld W=%lld K=%lld kh=%lld kw=%lld pad=%lldx%lld stride=%lldx%lld "
             "dil=%lldx%lld groups=%lld dtype=%s algo=%s pass=%s",
             (long long)c->N, (long long)c->C, (long long)c->H, (long long)c->W, (long long)c->K,
             (long long)c->kh, (long long)c->kw, (long long)c->ph, (long long)c->pw, (long long)c->sh,
             (long long)c->sw, (long long)c->dh, (long long)c->dw, (long long)c->groups,
             tu_dtype_name(dt), cj_algorithm_name(algo), pass);
    return buf;
}

/* ---- ISA ---- */
int tu_isa_check(void)
{
    const char *e = getenv("CONJURE_ARCH");
    int want = -1;
    if (e && *e) {
        if (!strcmp(e, "scalar")) want = 0;
        else if (!strcmp(e, "avx2")) want = 1;
        else if (!strcmp(e, "avx512")) want = 2;
        else printf("CONJURE_ARCH=%s not recognised; running the default path\n", e);
    }
    const cj_cpu_info *cpu = cj_cpu();
    if (want > (int)cpu->isa_max) {
        printf("CONJURE_ARCH=%s: this machine supports up to %s; skipped\n", e, cj_isa_name(cpu->isa_max));
        exit(77);
    }
    printf("ISA path in use: %s (machine max %s)\n", cj_isa_name(cpu->isa), cj_isa_name(cpu->isa_max));
    if (want >= 0 && (int)cpu->isa != want)
        tu_fail("CONJURE_ARCH=%s but cj_cpu()->isa is %s", e, cj_isa_name(cpu->isa));
    return (int)cpu->isa;
}

/* ---- counter ---- */
static int n_pass, n_fail;

void tu_pass(void) { n_pass++; }

void tu_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    n_fail++;
}

int tu_expect(int cond, const char *fmt, ...)
{
    if (cond) { n_pass++; return 1; }
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    n_fail++;
    return 0;
}

int tu_failed(void) { return n_fail; }

int tu_finish(void)
{
    printf("%d passed, %d failed\n", n_pass, n_fail);
    fflush(stdout);
    return n_fail ? 1 : 0;
}

/* ---- one gradient, several thread counts ---- */
void tu_check_gradient_threads(const ref_conv *c0, cj_dtype dt, cj_algorithm algo, int grad_weight, int max_threads,
                               tu_rng *rng)
{
    ref_conv c = *c0;
    if (!ref_conv_init(&c)) {
        tu_fail("invalid case");
        return;
    }
    const int64_t cg = c.C / c.groups;
    cj_tensor in = tu_tensor4(dt, c.N, c.C, c.H, c.W), w = tu_tensor4(dt, c.K, cg, c.kh, c.kw);
    cj_tensor gout = tu_tensor4(dt, c.N, c.K, c.Ho, c.Wo);
    cj_tensor got = grad_weight ? tu_tensor4(dt, c.K, cg, c.kh, c.kw) : tu_tensor4(dt, c.N, c.C, c.H, c.W);
    const int64_t n = grad_weight ? ref_w_numel(&c) : ref_in_numel(&c);
    double *din = tu_dalloc(ref_in_numel(&c)), *dw = tu_dalloc(ref_w_numel(&c)), *dgo = tu_dalloc(ref_out_numel(&c));
    double *exact = tu_dalloc(n), *mag = tu_dalloc(n);
    tu_fill_uniform(rng, &in, din);
    tu_fill_uniform(rng, &w, dw);
    tu_fill_uniform(rng, &gout, dgo);
    if (grad_weight) ref_grad_weight(&c, din, dgo, exact, mag);
    else ref_grad_input(&c, dw, dgo, exact, mag);
    const char *pass = grad_weight ? "grad_weight" : "grad_input";
    const cj_conv2d_params p = {{c.ph, c.pw}, {c.sh, c.sw}, {c.dh, c.dw}, c.groups, algo};
    char buf[256];
    for (int threads = 1; threads <= max_threads; threads++) {
        cj_context *ctx = NULL;
        cj_context_options o = {0};
        o.num_threads = threads;
        if (cj_context_create(&o, &ctx) != CJ_OK) {
            tu_fail("cj_context_create failed");
            break;
        }
        tu_fill_nan(&got);
        snprintf(buf, sizeof buf, "%s, %d threads", tu_cfg_str(buf + 128, 128, &c, dt, algo, pass), threads);
        const cj_status st = cj_conv2d_backward(ctx, &in, &w, NULL, &p, &gout, grad_weight ? NULL : &got,
                                                grad_weight ? &got : NULL, NULL);
        if (tu_expect(st == CJ_OK, "%s: %s", buf, cj_last_error()))
            tu_expect(tu_check_close(buf, &got, exact, mag, tu_tol(algo, dt)), "wrong %s values", pass);
        cj_context_destroy(ctx);
    }
    free(din), free(dw), free(dgo), free(exact), free(mag);
    tu_free(&in), tu_free(&w), tu_free(&gout), tu_free(&got);
}
