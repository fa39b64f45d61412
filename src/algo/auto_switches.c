/* CJ_ALGO_AUTO's switches: defaults per ISA path, and the calibration file (auto_switches.h). */
#define _POSIX_C_SOURCE 200809L /* mkdir, rename */
#include "algo/auto_switches.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/cpu.h"
#include "util/error.h"

static const char *const switch_names[CJ_SW_COUNT] = {
    "winograd_16_tiles", "fft_100_pixels",      "fft_before_direct",           "direct_strided",
    "direct_one_column", "direct_one_channel", "implicit_strided_wgrad", "im2col_above_1x1",
    "first_layer_wgrad", "implicit_strided_fwd", "direct_wide",  "implicit_strided_bwd_data",
};
static const char *const pass_names[CJ_PASSES] = {"fwd", "bwd_data", "bwd_weights"};

const char *cj_auto_switch_name(cj_auto_switch s) { return (unsigned)s < CJ_SW_COUNT ? switch_names[s] : "?"; }
const char *cj_pass_short_name(cj_pass pass) { return (unsigned)pass < CJ_PASSES ? pass_names[pass] : "?"; }

bool cj_auto_switch_asked(cj_auto_switch s, cj_pass pass) {
    switch (s) {
    case CJ_SW_DIRECT_ONE_CHANNEL: return pass == CJ_PASS_FORWARD;
    case CJ_SW_IMPLICIT_STRIDED_WGRAD: return pass == CJ_PASS_BACKWARD_WEIGHTS;
    case CJ_SW_IM2COL_ABOVE_1X1: return pass != CJ_PASS_BACKWARD_WEIGHTS;
    case CJ_SW_FIRST_LAYER_WGRAD: return pass == CJ_PASS_BACKWARD_WEIGHTS;
    case CJ_SW_IMPLICIT_STRIDED_FWD: return pass == CJ_PASS_FORWARD;
    case CJ_SW_DIRECT_WIDE: return true;
    case CJ_SW_IMPLICIT_STRIDED_BWD_DATA: return pass == CJ_PASS_BACKWARD_DATA;
    default: return true;
    }
}

/* The defaults: what auto.c's comments measured on each ISA path (AVX-512: AMD Zen 5, with the
 * switches where Intel Granite Rapids measured the other way set per vendor). */
void cj_auto_switches_default(cj_auto_switches *out) {
    const bool avx512 = cj_cpu()->isa == CJ_ISA_AVX512;
    const bool intel = strncmp(cj_cpu()->model, "GenuineIntel", 12) == 0;
    for (int p = 0; p < CJ_PASSES; p++) {
        const bool backward = p != CJ_PASS_FORWARD;
        out->on[p][CJ_SW_WINOGRAD_16_TILES] = !avx512;
        out->on[p][CJ_SW_FFT_100_PIXELS] = !avx512 || (intel && backward); /* auto.c */
        out->on[p][CJ_SW_FFT_BEFORE_DIRECT] = !avx512 || intel; /* auto.c */
        out->on[p][CJ_SW_DIRECT_STRIDED] = avx512;
        out->on[p][CJ_SW_DIRECT_ONE_COLUMN] = avx512 && !(intel && p != CJ_PASS_BACKWARD_WEIGHTS); /* auto.c */
        out->on[p][CJ_SW_DIRECT_ONE_CHANNEL] = !avx512;
        out->on[p][CJ_SW_IMPLICIT_STRIDED_WGRAD] = !avx512;
        out->on[p][CJ_SW_IM2COL_ABOVE_1X1] = !avx512; /* auto.c */
        out->on[p][CJ_SW_FIRST_LAYER_WGRAD] = !avx512 || intel; /* auto.c */
        out->on[p][CJ_SW_IMPLICIT_STRIDED_FWD] = true; /* both: their packers read stride-2 rows */
        out->on[p][CJ_SW_DIRECT_WIDE] = !intel; /* auto.c: Zen 5 one way, Granite Rapids the other */
        out->on[p][CJ_SW_IMPLICIT_STRIDED_BWD_DATA] = avx512; /* measured on Granite Rapids only */
    }
}

/* ---- the process's calibration ---- */

enum { MAX_ENTRIES = CJ_SW_COUNT * CJ_PASSES * 16, LINE = 256 };

static struct {
    pthread_mutex_t lock;
    bool loaded;
    atomic_int generation; /* bumped by every load: the per-thread copies of the switches expire */
    cj_calibration_entry entries[MAX_ENTRIES];
    int count;
    cj_calibration_entry merged[MAX_ENTRIES]; /* cj_calibration_store's (80 KiB: not on a stack) */
    char status[400];
} g_cal = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const header = "conjure-calibration 1";

/* The file's path: path itself, else the default location; "" when there is none. */
static void resolve_path(const char *path, char *out, size_t size) {
    const char *env = getenv("CONJURE_CALIBRATION"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (path) snprintf(out, size, "%s", path);
    else if (env) snprintf(out, size, "%s", env); /* "" turns the calibration off */
    else if (xdg && *xdg) snprintf(out, size, "%s/conjure/calibration", xdg);
    else if (home && *home) snprintf(out, size, "%s/.cache/conjure/calibration", home);
    else out[0] = '\0';
}

static int switch_by_name(const char *name) {
    for (int s = 0; s < CJ_SW_COUNT; s++)
        if (strcmp(name, switch_names[s]) == 0) return s;
    return -1;
}

static int pass_by_name(const char *name) {
    for (int p = 0; p < CJ_PASSES; p++)
        if (strcmp(name, pass_names[p]) == 0) return p;
    return -1;
}

/* Reads one line without its newline; false at the end, or on a line too long for the format. */
static bool read_line(FILE *f, char line[LINE], bool *too_long) {
    if (!fgets(line, LINE, f)) return false;
    const size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
    else if (!feof(f)) *too_long = true;
    return !*too_long;
}

/* Parses the file into entries; on failure writes why and returns -1. */
static int parse(FILE *f, cj_calibration_entry *entries, char *why, size_t why_size) {
    char line[LINE], cpu_line[LINE], isa_line[LINE], note[LINE] = "";
    bool too_long = false;
    int count = 0, lineno = 0, headers = 0;
    snprintf(cpu_line, sizeof cpu_line, "cpu %s", cj_cpu()->model);
    snprintf(isa_line, sizeof isa_line, "isa %s", cj_isa_name(cj_cpu()->isa));
    while (read_line(f, line, &too_long)) {
        lineno++;
        if (line[0] == '\0' || (line[0] == '#' && headers < 3)) continue;
        if (headers < 3) { /* the format, the CPU model and the ISA path, in that order */
            const char *want = headers == 0 ? header : headers == 1 ? cpu_line : isa_line;
            if (strcmp(line, want) != 0) {
                snprintf(why, why_size, "line %d is \"%.60s\", not \"%.70s\" (written by another version, CPU or ISA path)",
                         lineno, line, want);
                return -1;
            }
            headers++;
            continue;
        }
        if (line[0] == '#') {
            snprintf(note, sizeof note, "%s", line + 1 + (line[1] == ' '));
            continue;
        }
        char name[LINE], pass[LINE], value[LINE];
        int threads, used = -1;
        if (sscanf(line, "%255s %255s %d %255s %n", name, pass, &threads, value, &used) != 4 || used < 0 ||
            line[used] != '\0' || pass_by_name(pass) < 0 || threads < 1 || threads > 4096 ||
            (strcmp(value, "on") != 0 && strcmp(value, "off") != 0)) {
            snprintf(why, why_size, "line %d is not \"<switch> <pass> <threads> <on|off>\": \"%.60s\"", lineno, line);
            return -1;
        }
        const int s = switch_by_name(name);
        if (s < 0) continue; /* a switch of a newer build */
        if (count == MAX_ENTRIES) {
            snprintf(why, why_size, "more than %d entries", MAX_ENTRIES);
            return -1;
        }
        cj_calibration_entry *e = &entries[count++];
        *e = (cj_calibration_entry){(cj_auto_switch)s, (cj_pass)pass_by_name(pass), threads, value[1] == 'n', ""};
        snprintf(e->note, sizeof e->note, "%s", note);
        note[0] = '\0';
    }
    if (too_long) {
        snprintf(why, why_size, "line %d is longer than %d characters", lineno + 1, LINE - 2);
        return -1;
    }
    if (headers < 3) {
        snprintf(why, why_size, "the header (\"%s\", cpu, isa) is incomplete", header);
        return -1;
    }
    return count;
}

/* Called with the lock held. */
static bool load_locked(const char *path) {
    char file[4096];
    resolve_path(path, file, sizeof file);
    g_cal.loaded = true;
    g_cal.count = 0;
    atomic_fetch_add_explicit(&g_cal.generation, 1, memory_order_release);
    if (!file[0]) {
        snprintf(g_cal.status, sizeof g_cal.status, "none (CONJURE_CALIBRATION is empty, or no HOME)");
        return false;
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        snprintf(g_cal.status, sizeof g_cal.status, "none (%.200s: %s)", file, strerror(errno));
        return false;
    }
    char why[256];
    const int count = parse(f, g_cal.entries, why, sizeof why);
    fclose(f);
    if (count < 0) {
        snprintf(g_cal.status, sizeof g_cal.status, "none (%.200s ignored: %.100s)", file, why);
        return false;
    }
    g_cal.count = count;
    snprintf(g_cal.status, sizeof g_cal.status, "%.200s: %d decisions", file, count);
    return true;
}

bool cj_calibration_load(const char *path) {
    pthread_mutex_lock(&g_cal.lock);
    const bool ok = load_locked(path);
    pthread_mutex_unlock(&g_cal.lock);
    return ok;
}

static void ensure_loaded_locked(void) {
    if (!g_cal.loaded) load_locked(NULL);
}

void cj_calibration_describe(char *buf, size_t size) {
    if (!buf || size == 0) return;
    pthread_mutex_lock(&g_cal.lock);
    ensure_loaded_locked();
    snprintf(buf, size, "%s", g_cal.status);
    pthread_mutex_unlock(&g_cal.lock);
}

/* This thread's last answer: every AUTO call asks, and the answer changes only with a load. */
static _Thread_local struct {
    int generation; /* 0: none yet (a load makes the generation at least 1) */
    int threads;
    cj_auto_switches sw;
} t_last;

void cj_auto_switches_get(int threads, cj_auto_switches *out) {
    const int generation = atomic_load_explicit(&g_cal.generation, memory_order_acquire);
    if (generation != 0 && t_last.generation == generation && t_last.threads == threads) {
        *out = t_last.sw;
        return;
    }
    cj_auto_switches_default(out);
    int best[CJ_SW_COUNT][CJ_PASSES]; /* the thread count of the entry in use; 0: none yet */
    memset(best, 0, sizeof best);
    pthread_mutex_lock(&g_cal.lock);
    ensure_loaded_locked();
    for (int i = 0; i < g_cal.count; i++) {
        const cj_calibration_entry *e = &g_cal.entries[i];
        int *b = &best[e->sw][e->pass];
        /* rank: exact, then the nearest below, then the nearest above */
        const bool better = *b == 0 || (*b > threads ? e->threads < *b : e->threads <= threads && e->threads > *b);
        if (!better) continue;
        *b = e->threads;
        out->on[e->pass][e->sw] = e->on;
    }
    t_last.generation = atomic_load_explicit(&g_cal.generation, memory_order_relaxed);
    t_last.threads = threads;
    t_last.sw = *out;
    pthread_mutex_unlock(&g_cal.lock);
}

/* mkdir -p of path's directory (the default location's cache directory may not exist yet). */
static void make_parent_dirs(const char *file) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", file);
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(dir, 0755); /* an existing directory is fine; any real problem shows at fopen */
        *p = '/';
    }
}

cj_status cj_calibration_store(const char *path, int threads, const cj_calibration_entry *entries, int count) {
    char file[4096], tmp[4200];
    resolve_path(path, file, sizeof file);
    CJ_FAIL_IF(!file[0], CJ_ERR_INVALID_ARGUMENT,
               "calibration: no file to write (CONJURE_CALIBRATION is empty and no path was given)");
    CJ_FAIL_IF(threads < 1 || count < 0 || count > MAX_ENTRIES, CJ_ERR_INVALID_ARGUMENT,
               "calibration: %d entries at %d threads", count, threads);
    if (!path) make_parent_dirs(file);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", file, (long)getpid());
    pthread_mutex_lock(&g_cal.lock);
    /* the file as it is now (if it is valid for this CPU) keeps its other thread counts */
    load_locked(path);
    cj_calibration_entry *merged = g_cal.merged;
    int n = 0;
    for (int i = 0; i < g_cal.count; i++)
        if (g_cal.entries[i].threads != threads && n < MAX_ENTRIES - count) merged[n++] = g_cal.entries[i];
    for (int i = 0; i < count; i++) merged[n++] = entries[i];
    FILE *f = fopen(tmp, "w");
    bool ok = f != NULL;
    if (ok) {
        fprintf(f, "%s\ncpu %s\nisa %s\n", header, cj_cpu()->model, cj_isa_name(cj_cpu()->isa));
        for (int i = 0; i < n; i++) {
            if (merged[i].note[0]) fprintf(f, "# %s\n", merged[i].note);
            fprintf(f, "%s %s %d %s\n", switch_names[merged[i].sw], pass_names[merged[i].pass], merged[i].threads,
                    merged[i].on ? "on" : "off");
        }
        ok = fclose(f) == 0;
        ok = ok && rename(tmp, file) == 0;
    }
    const int err = errno;
    if (!ok) remove(tmp);
    else load_locked(path);
    pthread_mutex_unlock(&g_cal.lock);
    CJ_FAIL_IF(!ok, CJ_ERR_INVALID_ARGUMENT, "calibration: cannot write %s: %s", file, strerror(err));
    return CJ_OK;
}
