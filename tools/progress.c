#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "timing.h"

#define BAR_WIDTH 30

void progress_start(progress *p, int epoch, int epochs, size_t total_batches)
{
    p->enabled = isatty(fileno(stderr));
    p->epoch = epoch;
    p->epochs = epochs;
    p->total = total_batches;
    p->start = bench_now();
    p->last_draw = 0.0;
}

void progress_update(progress *p, size_t done, size_t images, double loss)
{
    if (!p->enabled)
        return;
    const double t = bench_now();
    /* At most ten redraws a second, and always the last one. */
    if (done < p->total && t - p->last_draw < 0.1)
        return;
    p->last_draw = t;
    const double elapsed = t - p->start, rate = elapsed > 0 ? (double)images / elapsed : 0.0;
    const double eta = done > 0 ? elapsed * (double)(p->total - done) / (double)done : 0.0;
    const size_t fill = p->total ? done * BAR_WIDTH / p->total : 0;
    char bar[BAR_WIDTH + 1];
    for (size_t i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : (i == fill ? '>' : '.');
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\repoch %d/%d [%s] %zu/%zu batches  %6.0f img/s  loss %.4f  ETA %d:%02d \033[K",
            p->epoch, p->epochs, bar, done, p->total, rate, loss, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

void progress_clear(progress *p)
{
    if (p->enabled) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
}

void progress_note(size_t test_images)
{
    if (isatty(fileno(stderr))) {
        fprintf(stderr, "testing on %zu images...\r", test_images);
        fflush(stderr);
    }
}
