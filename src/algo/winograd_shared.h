/* What both Winograd forms share (winograd.c's 4x4 tiles, winograd_1d.c's m x 1 and 1 x m): how a
 * batch's output is cut into tiles and the tiles into blocks, the strides that keep the transforms'
 * matrices out of each other's L1 sets, and the weight gradient's transformed grad_output as the
 * GEMMs' A. */
#ifndef CJ_ALGO_WINOGRAD_SHARED_H
#define CJ_ALGO_WINOGRAD_SHARED_H
#include <stddef.h>
#include <stdint.h>

#include "gemm/gemm.h"
#include "kernels/winograd_transforms.h"

/* Tasks per thread the drivers aim at (blocks x groups x row chunks). */
#define CJ_WINO_TASKS_PER_THREAD 4

typedef struct cj_wino_tiling {
    int64_t my, mx;                   /* a tile's outputs down and across */
    int64_t th, tw, per_image, total; /* tiles per column, per row, per image, in the batch */
    int64_t nb, blocks;               /* tiles per block, blocks */
} cj_wino_tiling;

/* Tiles of my x mx outputs over n images of h x w, numbered row by row through the batch, in
 * blocks of NB (see winograd_shared.c). */
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

/* Z_e (M rows of `count` tiles, nb apart) packed into pz as the GEMM's A. */
cj_packed_a cj_wino_z_packed(const cj_gemm_config *cfg, void *Ze, int64_t M, int64_t count, int64_t nb, void *pz);

/* Z_e as a weight-gradient GEMM's A: read in place by the kernel's strided-A twin where there is
 * one, else packed into pz (see winograd_shared.c). */
cj_packed_a cj_wino_z_matrix(const cj_gemm_config *cfg, void *Ze, int64_t M, int64_t count, int64_t nb, void *pz);

/* The packed Z_e cj_wino_z_matrix needs: none where it is read in place. */
size_t cj_wino_z_matrix_bytes(const cj_gemm_config *cfg, int64_t M, int64_t nb);

#endif
