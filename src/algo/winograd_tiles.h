/* The tiles both Winograd forms share (winograd.c's 4x4, winograd_1d.c's m x 1 and 1 x m): how
 * a batch's output is cut into tiles and the tiles into blocks, and the strides that keep the
 * transforms' matrices out of each other's L1 sets. */
#ifndef CJ_ALGO_WINOGRAD_TILES_H
#define CJ_ALGO_WINOGRAD_TILES_H
#include <stddef.h>
#include <stdint.h>

#include "kernels/winograd_transforms.h"

/* Tasks per thread the drivers aim at (blocks x groups x row chunks). */
#define CJ_WINO_TASKS_PER_THREAD 4

typedef struct cj_wino_tiling {
    int64_t my, mx;                   /* a tile's outputs down and across */
    int64_t th, tw, per_image, total; /* tiles per column, per row, per image, in the batch */
    int64_t nb, blocks;               /* tiles per block, blocks */
} cj_wino_tiling;

/* Tiles of my x mx outputs over n images of h x w, numbered row by row through the batch, in
 * blocks of NB (see winograd_tiles.c). */
cj_wino_tiling cj_wino_make_tiling(int64_t n, int64_t h, int64_t w, int64_t my, int64_t mx, int64_t groups,
                                   size_t bytes_per_tile, int64_t nr, int64_t most_nr, int64_t threads);

/* The tiles of block b (their images src_image and dst_image elements apart in the two tensors);
 * returns their count. */
int64_t cj_wino_block_tiles(const cj_wino_tiling *t, int64_t b, int64_t src_image, int64_t dst_image,
                            cj_wino_tile *out);

/* The byte stride between the element matrices of U, V, M and Z (bytes: one matrix). The
 * transforms write (or read) all of them in turn, and at strides that are 4 KiB multiples their
 * lines share one L1 set: a stride one line past a 4 KiB multiple spreads them (U: resnet50.res4.3x3.n1
 * forward 2.59 -> 2.33 ms, res5.3x3 17.7 -> 16.9; Zen 3, 1 thread, medians of 4 alternating runs.
 * V: 64 channels x 48 tiles is 12 KiB a matrix; 36 stores per tile group took 96 ns there and 45
 * one line past it, Granite Rapids). */
static inline size_t cj_wino_unaliased(size_t bytes) { return (bytes + 4095) / 4096 * 4096 + 64; }
static inline int64_t cj_wino_unaliased_elems(int64_t elems, size_t elem) {
    return (int64_t)(cj_wino_unaliased((size_t)elems * elem) / elem);
}

#endif
