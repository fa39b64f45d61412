#define _POSIX_C_SOURCE 200809L
#include "timing.h"

#include <stdlib.h>
#include <time.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { MIN_RUNS = 3, MAX_RUNS = 100000 };

int bench_time(bench_fn fn, void *arg, double budget_s, double *median_ms)
{
    int rc = fn(arg); /* warm-up: first-touch page faults, caches, lazily built plans */
    if (rc != 0)
        return rc;
    size_t cap = 64, n = 0;
    double *t = malloc(cap * sizeof *t);
    if (!t)
        return -1;
    double start = bench_now();
    while (n < MIN_RUNS || (bench_now() - start < budget_s && n < MAX_RUNS)) {
        if (n == cap) {
            double *grown = realloc(t, 2 * cap * sizeof *t);
            if (!grown) {
                free(t);
                return -1;
            }
            t = grown, cap *= 2;
        }
        double t0 = bench_now();
        rc = fn(arg);
        t[n++] = bench_now() - t0;
        if (rc != 0) {
            free(t);
            return rc;
        }
    }
    qsort(t, n, sizeof *t, cmp_double);
    *median_ms = 1e3 * (n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]));
    free(t);
    return 0;
}

void bench_sleep(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}
