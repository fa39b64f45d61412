/* CJ_ALGO_AUTO's machine-dependent decisions. The model's rules (auto.c) go by the shape; where
 * two algorithms rank differently on different machines, a rule asks one of these switches
 * instead of testing the ISA. Each switch has a default per ISA path (what the rules' comments
 * measured: AMD Zen 5 with AVX-512, Zen 3 with AVX2; with AVX-512 six of them also per vendor,
 * where Intel Granite Rapids measured the other way: auto_switches.c), and a calibration replaces
 * the defaults by what this machine measured on a probe layer (auto_calibrate.c), per switch, pass and thread
 * count: FFTW's "wisdom", for a handful of decisions instead of a plan per size.
 *
 * The calibration lives in a small text file, read once per process from CONJURE_CALIBRATION
 * (empty: none), else $XDG_CACHE_HOME/conjure/calibration, else $HOME/.cache/conjure/calibration.
 * A file written on another CPU model or ISA path, or not in the format below, is ignored whole:
 *
 *   conjure-calibration 1
 *   cpu AuthenticAMD family 25 model 1
 *   isa avx2
 *   # <what was measured>
 *   <switch> <fwd|bwd_data|bwd_weights> <threads> <on|off>
 *
 * Lines starting with '#' are comments (the one before an entry says what its probes measured and
 * is kept with it); an entry naming a switch this build does not know is skipped (a newer
 * build's). */
#ifndef CJ_ALGO_AUTO_SWITCHES_H
#define CJ_ALGO_AUTO_SWITCHES_H
#include <stdbool.h>
#include <stddef.h>

#include "algo/algo.h"
#include "conjure.h"

typedef enum cj_auto_switch {
    CJ_SW_WINOGRAD_16_TILES,      /* Winograd from 16 output tiles of 4x4 (else from 64, or from 16
                                     where 3/4 of their pixels are output pixels: auto.c, rule 2) */
    CJ_SW_FFT_100_PIXELS,         /* FFT from 100 output pixels (else from 300) */
    CJ_SW_FFT_BEFORE_DIRECT,      /* FFT before DIRECT's channel vectors from 28x28 outputs */
    CJ_SW_DIRECT_STRIDED,         /* DIRECT's channel-vector and few-channel rules with a stride too */
    CJ_SW_DIRECT_ONE_COLUMN,      /* DIRECT's channel vectors for kernels one column wide (or one row high) too */
    CJ_SW_DIRECT_ONE_CHANNEL,     /* DIRECT's few-channel forward from 1 input channel (else 3) */
    CJ_SW_IMPLICIT_STRIDED_WGRAD, /* grad_weight with a stride by IMPLICIT_GEMM (else IM2COL_GEMM) */
    CJ_SW_IM2COL_ABOVE_1X1,       /* forward and grad_input of kernels larger than 1x1 by
                                     IM2COL_GEMM (else the GEMM rules: IMPLICIT_GEMM where it suits) */
    CJ_SW_FIRST_LAYER_WGRAD,      /* grad_weight of first layers (1-3 input channels) with a stride:
                                     DIRECT from 3x3 kernels (else from 5x5: rule 5) */
    CJ_SW_IMPLICIT_STRIDED_FWD,   /* forward of kernels above 1x1 at stride_w 2 (or 1 with stride_h
                                     above 1) by IMPLICIT_GEMM (else IM2COL_GEMM) */
    CJ_SW_DIRECT_WIDE,            /* DIRECT's channel vectors also with 256+ channels per group each
                                     way (else the GEMM rules take those layers) */
    CJ_SW_IMPLICIT_STRIDED_BWD_DATA, /* grad_input of kernels above 1x1 at stride 2 with 16-128 input
                                     channels per group and 256+ pixels per stride phase by
                                     IMPLICIT_GEMM (else IM2COL_GEMM) */
    CJ_SW_COUNT
} cj_auto_switch;

enum { CJ_PASSES = 3 };

/* on[pass][switch] */
typedef struct cj_auto_switches {
    bool on[CJ_PASSES][CJ_SW_COUNT];
} cj_auto_switches;

const char *cj_auto_switch_name(cj_auto_switch s);
const char *cj_pass_short_name(cj_pass pass); /* fwd, bwd_data, bwd_weights */
/* Whether a rule asks the switch in this pass (the calibration measures only those). */
bool cj_auto_switch_asked(cj_auto_switch s, cj_pass pass);

/* This ISA path's defaults. */
void cj_auto_switches_default(cj_auto_switches *out);
/* The switches at this thread count: the calibration's entries where it has them (at this thread
 * count, else the nearest below, else the nearest above), else the defaults. Thread-safe; the
 * first call reads the calibration file. */
void cj_auto_switches_get(int threads, cj_auto_switches *out);

/* One measured decision. */
typedef struct cj_calibration_entry {
    cj_auto_switch sw;
    cj_pass pass;
    int threads;
    bool on;
    char note[200]; /* what the probes measured ("" if unknown) */
} cj_calibration_entry;

/* Replaces the process's calibration by the file at path (NULL: the default location above),
 * or by none if it is missing or invalid; why is in the status. Returns whether one was read. */
bool cj_calibration_load(const char *path);
/* Replaces the calibration's entries at `threads` by these and writes the whole to path (NULL:
 * the default location, its directory created if missing), atomically (a temporary file, then
 * rename). The process uses the new entries from then on. */
cj_status cj_calibration_store(const char *path, int threads, const cj_calibration_entry *entries, int count);
/* cj_calibrate (conjure.h, which also declares cj_calibration_describe) with `rounds` timed runs
 * of each algorithm per decision (cj_calibrate: 5; the tests: 1). */
cj_status cj_calibrate_rounds(cj_context *ctx, const char *path, int rounds, void (*report)(const char *, void *),
                              void *user);

#endif
