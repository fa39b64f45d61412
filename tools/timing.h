/* Wall-clock timing of a repeated call: one warm-up, then runs until a time budget is spent
 * (at least 3 runs), reporting the median, which shrugs off the odd preempted run. */
#ifndef CJ_TOOLS_TIMING_H
#define CJ_TOOLS_TIMING_H

/* Seconds on a monotonic clock. */
double bench_now(void);

/* The call timed: returns 0 on success, anything else stops the timing. */
typedef int (*bench_fn)(void *arg);

/* Times fn(arg): a warm-up call, then repeats until budget_s has passed and at least 3 timed runs
 * are done. On success stores the median in milliseconds and returns 0; otherwise returns what fn
 * returned (or -1 when out of memory). */
int bench_time(bench_fn fn, void *arg, double budget_s, double *median_ms);

/* Sleeps for s seconds. */
void bench_sleep(double s);

#endif
