/* The progress bar of `conjure train`: one line on stderr, redrawn in place, only when stderr is a
 * terminal (a log file gets the per-epoch lines alone). */
#ifndef CJ_TOOLS_PROGRESS_H
#define CJ_TOOLS_PROGRESS_H
#include <stddef.h>

typedef struct progress {
    int    enabled;
    int    epoch, epochs;
    size_t total;          /* batches in the epoch */
    double start, last_draw;
} progress;

void progress_start(progress *p, int epoch, int epochs, size_t total_batches);
/* After `done` batches of `images` images so far, with the epoch's mean loss so far. */
void progress_update(progress *p, size_t done, size_t images, double loss);
/* Erases the bar, so that the epoch's line takes its place. */
void progress_clear(progress *p);
/* "testing on N images..." in the bar's place (on a terminal), until the next line is printed. */
void progress_note(size_t test_images);

#endif
