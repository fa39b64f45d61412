/* AUTO's calibration (algo/auto_switches.h, cj_calibrate): a valid file moves the model's choice
 * the way its entries say, at the thread count they name (else the nearest below, else above);
 * a file of another CPU, ISA path or format is ignored whole and the defaults stand; storing
 * keeps the other thread counts; a real (quick) calibration writes a file that reads back. */
#define _POSIX_C_SOURCE 200809L /* setenv, mkdtemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "algo/auto.h"
#include "algo/auto_switches.h"
#include "api/validate.h"
#include "arch/cpu.h"
#include "testutil.h"

static char dir[64] = "/tmp/cj_calibration_XXXXXX";
static char path[128];

/* Writes the header of this machine (or the given cpu/isa lines) and then body to path. */
static void write_file(const char *cpu, const char *isa, const char *body) {
    FILE *f = fopen(path, "w");
    if (!f) {
        tu_fail("cannot write %s", path);
        return;
    }
    char cpu_line[96], isa_line[32];
    snprintf(cpu_line, sizeof cpu_line, "cpu %s", cj_cpu()->model);
    snprintf(isa_line, sizeof isa_line, "isa %s", cj_isa_name(cj_cpu()->isa));
    fprintf(f, "conjure-calibration 1\n%s\n%s\n%s", cpu ? cpu : cpu_line, isa ? isa : isa_line, body);
    fclose(f);
}

/* Whether the process's calibration is the defaults, switch for switch, at `threads`. */
static int is_default(int threads) {
    cj_auto_switches got, def;
    cj_auto_switches_get(threads, &got);
    cj_auto_switches_default(&def);
    return memcmp(&got, &def, sizeof got) == 0;
}

static int switch_at(cj_auto_switch s, cj_pass p, int threads) {
    cj_auto_switches got;
    cj_auto_switches_get(threads, &got);
    return got.on[p][s];
}

static void expect_ignored(const char *what, const char *cpu, const char *isa, const char *body) {
    write_file(cpu, isa, body);
    char status[512];
    tu_expect(!cj_calibration_load(path), "%s: the file was accepted", what);
    cj_calibration_describe(status, sizeof status);
    tu_expect(strncmp(status, "none (", 6) == 0, "%s: status \"%s\"", what, status);
    tu_expect(is_default(1) && is_default(2), "%s: not the defaults", what);
}

/* The model's choice on a layer with 32 tiles of 4x4 (Winograd's switch decides it). */
static cj_algorithm choice_at_32_tiles(int threads) {
    float shape_only;
    cj_tensor in = {CJ_F32, 4, {8, 64, 7, 7}, &shape_only}, w = {CJ_F32, 4, {64, 64, 3, 3}, &shape_only};
    cj_conv2d_params p = CJ_CONV2D_PARAMS_DEFAULT;
    p.padding = (cj_size2d){1, 1};
    cj_conv_desc d;
    if (cj_validate_conv("test", &in, &w, &p, &d) != CJ_OK) return (cj_algorithm)-1;
    return cj_auto_model(&d, CJ_PASS_FORWARD, threads)->id;
}

static void report_line(const char *line, void *user) {
    (*(int *)user)++;
    printf("  %s\n", line);
}

int main(void) {
    tu_seed("test_calibration", 1);
    if (!mkdtemp(dir)) {
        tu_fail("mkdtemp failed");
        return tu_finish();
    }
    snprintf(path, sizeof path, "%s/calibration", dir);
    setenv("CONJURE_CALIBRATION", path, 1);

    tu_expect(!cj_calibration_load(NULL) && is_default(1), "a missing file: the defaults");
    char tiny[8] = "xxxxxxx";
    cj_calibration_describe(NULL, 100); /* nothing to write to: nothing happens */
    cj_calibration_describe(tiny, 0);
    tu_expect(tiny[0] == 'x', "size 0 writes nothing");
    cj_calibration_describe(tiny, sizeof tiny);
    tu_expect(strlen(tiny) == sizeof tiny - 1, "a short buffer gets a truncated, terminated status");

    /* Winograd's switch flipped from its default at 1 thread moves the choice at 1 and 2 threads
     * (the nearest below), and the other switches keep their defaults. */
    cj_auto_switches def;
    cj_auto_switches_default(&def);
    const int wino = def.on[CJ_PASS_FORWARD][CJ_SW_WINOGRAD_16_TILES];
    char body[512];
    snprintf(body, sizeof body, "# a note\nwinograd_16_tiles fwd 1 %s\nfft_100_pixels bwd_weights 4 %s\n",
             wino ? "off" : "on", def.on[CJ_PASS_BACKWARD_WEIGHTS][CJ_SW_FFT_100_PIXELS] ? "off" : "on");
    write_file(NULL, NULL, body);
    tu_expect(cj_calibration_load(NULL), "a valid file is read");
    char status[512];
    cj_calibration_describe(status, sizeof status);
    tu_expect(strstr(status, ": 2 decisions") != NULL, "status \"%s\"", status);
    tu_expect(switch_at(CJ_SW_WINOGRAD_16_TILES, CJ_PASS_FORWARD, 1) == !wino &&
                  switch_at(CJ_SW_WINOGRAD_16_TILES, CJ_PASS_FORWARD, 2) == !wino,
              "the entry at 1 thread holds at 1 and 2");
    tu_expect(switch_at(CJ_SW_WINOGRAD_16_TILES, CJ_PASS_BACKWARD_DATA, 1) ==
                  def.on[CJ_PASS_BACKWARD_DATA][CJ_SW_WINOGRAD_16_TILES], "another pass keeps its default");
    const int fft_w = def.on[CJ_PASS_BACKWARD_WEIGHTS][CJ_SW_FFT_100_PIXELS];
    tu_expect(switch_at(CJ_SW_FFT_100_PIXELS, CJ_PASS_BACKWARD_WEIGHTS, 1) == !fft_w &&
                  switch_at(CJ_SW_FFT_100_PIXELS, CJ_PASS_BACKWARD_WEIGHTS, 8) == !fft_w,
              "the entry at 4 threads holds above it, and below it when there is none below");
    const cj_algorithm flipped = choice_at_32_tiles(1);
    tu_expect((flipped == CJ_ALGO_WINOGRAD) == !wino, "the model follows the switch: %s",
              cj_algorithm_name(flipped));

    /* The nearest thread count below wins over one above; an exact one over both. */
    write_file(NULL, NULL,
               "winograd_16_tiles fwd 1 on\nwinograd_16_tiles fwd 4 off\nwinograd_16_tiles fwd 2 on\n"
               "winograd_16_tiles fwd 3 off\n");
    cj_calibration_load(NULL);
    tu_expect(switch_at(CJ_SW_WINOGRAD_16_TILES, CJ_PASS_FORWARD, 2) == 1 &&
                  switch_at(CJ_SW_WINOGRAD_16_TILES, CJ_PASS_FORWARD, 3) == 0 &&
                  switch_at(CJ_SW_WINOGRAD_16_TILES, CJ_PASS_FORWARD, 16) == 0,
              "thread counts: exact, then the nearest below");

    /* An unknown switch (a newer build's) is skipped; the rest is used. */
    write_file(NULL, NULL, "warp_drive fwd 1 on\nwinograd_16_tiles fwd 1 off\n");
    tu_expect(cj_calibration_load(NULL) && switch_at(CJ_SW_WINOGRAD_16_TILES, CJ_PASS_FORWARD, 1) == 0,
              "an unknown switch is skipped");

    /* Ignored whole: another CPU, ISA path or format, and malformed entries. */
    expect_ignored("another CPU", "cpu GenuineIntel family 6 model 143", NULL, "winograd_16_tiles fwd 1 off\n");
    expect_ignored("another ISA path", NULL, "isa avx1024", "winograd_16_tiles fwd 1 off\n");
    expect_ignored("an unknown pass", NULL, NULL, "winograd_16_tiles sideways 1 off\n");
    expect_ignored("zero threads", NULL, NULL, "winograd_16_tiles fwd 0 off\n");
    expect_ignored("neither on nor off", NULL, NULL, "winograd_16_tiles fwd 1 maybe\n");
    expect_ignored("trailing words", NULL, NULL, "winograd_16_tiles fwd 1 off please\n");
    expect_ignored("a missing field", NULL, NULL, "winograd_16_tiles fwd 1\n");
    char long_line[400];
    memset(long_line, 'x', sizeof long_line - 2);
    long_line[sizeof long_line - 2] = '\n';
    long_line[sizeof long_line - 1] = '\0';
    expect_ignored("a line too long", NULL, NULL, long_line);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("conjure-calibration 2\n", f);
        fclose(f);
    }
    tu_expect(!cj_calibration_load(NULL) && is_default(1), "another format version is ignored");
    setenv("CONJURE_CALIBRATION", "", 1);
    tu_expect(!cj_calibration_load(NULL) && is_default(1), "CONJURE_CALIBRATION empty: none");
    setenv("CONJURE_CALIBRATION", path, 1);

    /* Storing replaces one thread count's entries, keeps the others and their notes. */
    write_file(NULL, NULL, "# measured at one thread\nwinograd_16_tiles fwd 1 off\nwinograd_16_tiles fwd 2 off\n");
    cj_calibration_entry e = {CJ_SW_DIRECT_STRIDED, CJ_PASS_FORWARD, 2, true, "a probe"};
    tu_expect(cj_calibration_store(NULL, 2, &e, 1) == CJ_OK, "store: %s", cj_last_error());
    tu_expect(cj_calibration_load(NULL), "the stored file reads back");
    tu_expect(switch_at(CJ_SW_WINOGRAD_16_TILES, CJ_PASS_FORWARD, 1) == 0 &&
                  switch_at(CJ_SW_DIRECT_STRIDED, CJ_PASS_FORWARD, 2) == 1 &&
                  switch_at(CJ_SW_WINOGRAD_16_TILES, CJ_PASS_FORWARD, 2) == 0,
              "the other thread count kept, the stored entry in, the replaced one gone (1's holds at 2)");
    char text[1024] = "";
    f = fopen(path, "r");
    if (f) {
        text[fread(text, 1, sizeof text - 1, f)] = '\0';
        fclose(f);
    }
    tu_expect(strstr(text, "# measured at one thread\nwinograd_16_tiles fwd 1 off\n") && strstr(text, "# a probe\n"),
              "notes kept with their entries:\n%s", text);
    tu_expect(cj_calibration_store("/nonexistent/dir/calibration", 1, &e, 1) == CJ_ERR_INVALID_ARGUMENT &&
                  strstr(cj_last_error(), "/nonexistent/dir/calibration") != NULL,
              "an unwritable path is an error naming it: %s", cj_last_error());

    /* A real calibration, one timed run per probe: every entry it writes reads back. */
    remove(path);
    cj_context *ctx;
    cj_context_options one = {.num_threads = 1};
    if (cj_context_create(&one, &ctx) == CJ_OK) {
        int lines = 0;
        tu_expect(cj_calibrate_rounds(ctx, NULL, 1, report_line, &lines) == CJ_OK, "calibrate: %s", cj_last_error());
        cj_calibration_describe(status, sizeof status);
        char want[64];
        snprintf(want, sizeof want, ": %d decisions", lines);
        tu_expect(strstr(status, want) != NULL, "%d lines reported, status \"%s\"", lines, status);
        cj_context_destroy(ctx);
    } else {
        tu_fail("cj_context_create failed");
    }
    remove(path);
    rmdir(dir);
    return tu_finish();
}
