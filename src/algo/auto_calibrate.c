/* cj_calibrate: measures AUTO's switches (auto_switches.h) on this machine. Each switch has a
 * probe layer of its own, shaped where its rule draws the line (not a layer of the benchmark
 * suite); for every pass that asks the switch, the model is evaluated with the switch on and off
 * (the other switches at their defaults), and when the two choices differ both algorithms are
 * timed on the probe, alternately, keeping each one's fastest run (this kind of machine varies by
 * 20-50% between runs; the alternation spreads that over both). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "algo/auto.h"
#include "algo/auto_switches.h"
#include "api/context.h"
#include "api/validate.h"
#include "util/checked.h"
#include "util/error.h"
#include "util/memory.h"

typedef struct probe {
    cj_auto_switch sw;
    int64_t n, c, h, w, k, kh, kw, ph, pw, stride, dil;
} probe;

/* Two probes per switch, on its rule's boundary and apart from each other in channels or kernel
 * (a rule's line moves with them: Winograd's grad_weight at 32 tiles once won at 256 channels and
 * lost at 512 on Zen 3). A switch leaves its default only where every probe agrees. */
static const probe probes[] = {
    {CJ_SW_WINOGRAD_16_TILES, 4, 256, 7, 7, 256, 3, 3, 1, 1, 1, 1},      /* 16 tiles of 4x4 */
    {CJ_SW_WINOGRAD_16_TILES, 1, 512, 14, 14, 512, 3, 3, 1, 1, 1, 1},
    {CJ_SW_FFT_100_PIXELS, 32, 16, 12, 12, 16, 5, 5, 2, 2, 1, 1},        /* 144 output pixels */
    {CJ_SW_FFT_100_PIXELS, 16, 24, 14, 14, 24, 7, 7, 3, 3, 1, 1},        /* 196 */
    {CJ_SW_FFT_BEFORE_DIRECT, 8, 48, 32, 32, 64, 5, 5, 2, 2, 1, 1},      /* 32x32 outputs, channel vectors */
    {CJ_SW_FFT_BEFORE_DIRECT, 8, 128, 28, 28, 128, 5, 5, 2, 2, 1, 1},    /* 28x28 */
    {CJ_SW_DIRECT_STRIDED, 8, 64, 32, 32, 64, 5, 5, 2, 2, 2, 1},         /* channel vectors at stride 2 */
    {CJ_SW_DIRECT_STRIDED, 8, 128, 28, 28, 128, 3, 3, 1, 1, 2, 1},
    {CJ_SW_DIRECT_ONE_COLUMN, 8, 96, 20, 20, 96, 5, 1, 2, 0, 1, 1},      /* kernels one column wide */
    {CJ_SW_DIRECT_ONE_COLUMN, 8, 160, 17, 17, 160, 7, 1, 3, 0, 1, 1},
    {CJ_SW_DIRECT_ONE_CHANNEL, 48, 1, 30, 30, 16, 5, 5, 2, 2, 1, 1},     /* one input channel, too few
                                                                          outputs for channel vectors */
    {CJ_SW_DIRECT_ONE_CHANNEL, 16, 1, 48, 48, 24, 7, 7, 3, 3, 1, 1},
    {CJ_SW_IMPLICIT_STRIDED_WGRAD, 8, 96, 28, 28, 96, 3, 3, 1, 1, 2, 1}, /* strided grad_weight */
    {CJ_SW_IMPLICIT_STRIDED_WGRAD, 8, 256, 28, 28, 512, 1, 1, 0, 0, 2, 1},
    {CJ_SW_IM2COL_ABOVE_1X1, 2, 384, 14, 14, 384, 3, 3, 2, 2, 1, 2},     /* off the other rules */
    {CJ_SW_IM2COL_ABOVE_1X1, 2, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1},
    {CJ_SW_FIRST_LAYER_WGRAD, 8, 3, 192, 192, 32, 3, 3, 1, 1, 2, 1},     /* RGB stems at stride 2 */
    {CJ_SW_FIRST_LAYER_WGRAD, 8, 3, 160, 160, 16, 3, 3, 1, 1, 2, 1},
    {CJ_SW_IMPLICIT_STRIDED_FWD, 8, 96, 28, 28, 96, 3, 3, 1, 1, 2, 1},   /* 3x3 at stride 2 */
    {CJ_SW_IMPLICIT_STRIDED_FWD, 2, 128, 56, 56, 128, 3, 3, 1, 1, 2, 1},
    {CJ_SW_DIRECT_WIDE, 2, 256, 12, 12, 256, 3, 3, 1, 1, 1, 1},          /* 9 tiles: below Winograd's rule */
    {CJ_SW_DIRECT_WIDE, 2, 384, 20, 20, 384, 3, 3, 2, 2, 1, 2},          /* dilated */
    {CJ_SW_IMPLICIT_STRIDED_BWD_DATA, 2, 128, 48, 48, 128, 3, 3, 1, 1, 2, 1}, /* 24x24 phases */
    {CJ_SW_IMPLICIT_STRIDED_BWD_DATA, 2, 64, 64, 64, 64, 5, 5, 2, 2, 2, 1},
};

/* One probe's tensors (f32, values in [-1, 1) from a fixed sequence). */
typedef struct probe_buffers {
    cj_conv_desc d;
    float *operands; /* input, weight, grad_output */
    float *result;   /* output, grad_input or grad_weight: room for the largest */
    cj_pass_buffers b;
} probe_buffers;

static void fill(float *x, int64_t count) {
    uint32_t v = 12345;
    for (int64_t i = 0; i < count; i++) {
        v = v * 1664525u + 1013904223u;
        x[i] = (float)(v >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

static cj_status probe_setup(const probe *p, probe_buffers *pb) {
    memset(pb, 0, sizeof *pb);
    cj_conv2d_params params = CJ_CONV2D_PARAMS_DEFAULT;
    params.padding = (cj_size2d){p->ph, p->pw};
    params.stride = (cj_size2d){p->stride, p->stride};
    params.dilation = (cj_size2d){p->dil, p->dil};
    float shape_only; /* validation wants data; it reads none */
    const cj_tensor in = {CJ_F32, 4, {p->n, p->c, p->h, p->w}, &shape_only};
    const cj_tensor w = {CJ_F32, 4, {p->k, p->c, p->kh, p->kw}, &shape_only};
    CJ_FORWARD(cj_validate_conv("cj_calibrate", &in, &w, &params, &pb->d));
    const cj_conv_desc *d = &pb->d;
    const int64_t n_in = d->n * d->c_in * d->h_in * d->w_in, n_w = d->c_out * d->cin_g * d->kh * d->kw;
    const int64_t n_go = d->n * d->c_out * d->h_out * d->w_out;
    const int64_t n_result = cj_max64(n_go, cj_max64(n_in, n_w));
    pb->operands = cj_alloc(sizeof(float) * (size_t)(n_in + n_w + n_go));
    pb->result = cj_alloc(sizeof(float) * (size_t)n_result);
    if (!pb->operands || !pb->result) {
        cj_free(pb->operands);
        cj_free(pb->result);
        return cj_fail(CJ_ERR_OUT_OF_MEMORY, "cj_calibrate: cannot allocate a probe's %lld floats",
                       (long long)(n_in + n_w + n_go + n_result));
    }
    fill(pb->operands, n_in + n_w + n_go);
    pb->b = (cj_pass_buffers){.in = pb->operands, .w = pb->operands + n_in, .grad_out = pb->operands + n_in + n_w,
                              .out = pb->result};
    return CJ_OK;
}

static cj_status time_run(cj_context *ctx, const cj_algo *a, const probe_buffers *pb, cj_pass pass, double *ms) {
    CJ_FORWARD(cj_algo_run_timed(a, ctx, &pb->d, pass, &pb->b, ms));
    *ms *= 1e3;
    return CJ_OK;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A probe's verdict on a switch in one pass. */
typedef enum verdict { NOT_MEASURED, FAVOURS_ON, FAVOURS_OFF, TIE, UNSTEADY } verdict;

/* Times the model's choice with the switch on and off, alternately, `rounds` times each after a
 * warm-up. A side wins by 5% of the fastest runs; when either side's median is 25% above its
 * fastest, the machine was busy (another program, or threads waiting for a core) and the probe
 * says nothing. */
static cj_status judge(cj_context *ctx, int rounds, const probe *p, const probe_buffers *pb, cj_pass pass,
                       const cj_auto_switches *base, verdict *v, char *note, size_t note_size) {
    cj_auto_switches on = *base, off = *base;
    on.on[pass][p->sw] = true;
    off.on[pass][p->sw] = false;
    const cj_algo *a_on = cj_auto_model_with(&pb->d, pass, &on), *a_off = cj_auto_model_with(&pb->d, pass, &off);
    *v = NOT_MEASURED;
    if (a_on == a_off) return CJ_OK;
    double t_on[16], t_off[16], warm;
    if (rounds > 16) rounds = 16;
    CJ_FORWARD(time_run(ctx, a_on, pb, pass, &warm));
    CJ_FORWARD(time_run(ctx, a_off, pb, pass, &warm));
    for (int r = 0; r < rounds; r++) {
        CJ_FORWARD(time_run(ctx, a_on, pb, pass, &t_on[r]));
        CJ_FORWARD(time_run(ctx, a_off, pb, pass, &t_off[r]));
    }
    qsort(t_on, (size_t)rounds, sizeof t_on[0], by_value);
    qsort(t_off, (size_t)rounds, sizeof t_off[0], by_value);
    const double on_min = t_on[0], off_min = t_off[0];
    const bool unsteady = rounds >= 3 && (t_on[rounds / 2] > 1.25 * on_min || t_off[rounds / 2] > 1.25 * off_min);
    *v = unsteady ? UNSTEADY : on_min * 1.05 < off_min ? FAVOURS_ON : off_min * 1.05 < on_min ? FAVOURS_OFF : TIE;
    snprintf(note, note_size, "%lldx%lldx%lldx%lld->%lld %lldx%lld s%lld d%lld: %s %.3f / %s %.3f ms%s",
             (long long)p->n, (long long)p->c, (long long)p->h, (long long)p->w, (long long)p->k, (long long)p->kh,
             (long long)p->kw, (long long)p->stride, (long long)p->dil, cj_algorithm_name(a_on->id), on_min,
             cj_algorithm_name(a_off->id), off_min, unsteady ? " (unsteady)" : "");
    return CJ_OK;
}

static void say(void (*report)(const char *, void *), void *user, const char *fmt, ...) CJ_PRINTF(3, 4);
static void say(void (*report)(const char *, void *), void *user, const char *fmt, ...) {
    if (!report) return;
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    report(line, user);
}

/* Measures every switch on its probes at ctx's thread count into entries (one per switch and
 * pass where a probe's choices differ). rounds: timed runs of each algorithm per probe. */
static cj_status calibrate(cj_context *ctx, int rounds, void (*report)(const char *, void *), void *user,
                           cj_calibration_entry *entries, int *count) {
    enum { PROBES = sizeof probes / sizeof probes[0] };
    cj_auto_switches base;
    cj_auto_switches_default(&base);
    verdict verdicts[PROBES][CJ_PASSES];
    char notes[PROBES][CJ_PASSES][96];
    for (int i = 0; i < PROBES; i++) {
        probe_buffers pb;
        CJ_FORWARD(probe_setup(&probes[i], &pb));
        cj_status st = CJ_OK;
        for (int pass = 0; pass < CJ_PASSES && st == CJ_OK; pass++) {
            verdicts[i][pass] = NOT_MEASURED;
            if (cj_auto_switch_asked(probes[i].sw, (cj_pass)pass))
                st = judge(ctx, rounds, &probes[i], &pb, (cj_pass)pass, &base, &verdicts[i][pass], notes[i][pass],
                           sizeof notes[i][pass]);
        }
        cj_free(pb.operands);
        cj_free(pb.result);
        CJ_FORWARD(st);
    }
    *count = 0;
    for (int sw = 0; sw < CJ_SW_COUNT; sw++)
        for (int pass = 0; pass < CJ_PASSES; pass++) {
            int measured = 0, for_on = 0, for_off = 0;
            cj_calibration_entry e = {(cj_auto_switch)sw, (cj_pass)pass, ctx->num_threads, base.on[pass][sw], ""};
            size_t used = 0;
            for (int i = 0; i < PROBES; i++) {
                if ((int)probes[i].sw != sw || verdicts[i][pass] == NOT_MEASURED) continue;
                measured++;
                for_on += verdicts[i][pass] == FAVOURS_ON;
                for_off += verdicts[i][pass] == FAVOURS_OFF;
                used += (size_t)snprintf(e.note + used, sizeof e.note - used, "%s%s", used ? "; " : "", notes[i][pass]);
                if (used >= sizeof e.note) used = sizeof e.note - 1;
            }
            if (!measured) continue;
            /* the default stands unless every probe measured wins for the other side */
            if (for_on == measured) e.on = true;
            if (for_off == measured) e.on = false;
            entries[(*count)++] = e;
            say(report, user, "%-22s %-11s %-3s (default %s): %s", cj_auto_switch_name((cj_auto_switch)sw),
                cj_pass_short_name((cj_pass)pass), e.on ? "on" : "off", base.on[pass][sw] ? "on" : "off", e.note);
        }
    return CJ_OK;
}

cj_status cj_calibrate_rounds(cj_context *ctx, const char *path, int rounds, void (*report)(const char *, void *),
                              void *user) {
    cj_clear_error();
    cj_context *c = cj_context_resolve(ctx);
    if (!c) return CJ_ERR_OUT_OF_MEMORY;
    cj_calibration_entry entries[CJ_SW_COUNT * CJ_PASSES];
    int count;
    CJ_FORWARD(calibrate(c, rounds, report, user, entries, &count));
    return cj_calibration_store(path, c->num_threads, entries, count);
}

cj_status cj_calibrate(cj_context *ctx, const char *path, void (*report)(const char *line, void *user), void *user) {
    return cj_calibrate_rounds(ctx, path, 7, report, user);
}
