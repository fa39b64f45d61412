#include "algo/winograd_shared.h"

#include "arch/cpu.h"
#include "util/checked.h"

/* NB: as many tiles as let `bytes_per_tile` of slot buffers fit half of L2 (the other half for the
 * weights' panels streaming through and the output rows: with all of a 2 MiB L2, Granite Rapids,
 * resnet50.res2.3x3's output transform waited on M's reads; 1 thread, min of 5 x 10 calls, all of
 * L2 -> half: res2.3x3 forward 7.64-7.65 -> 6.26-6.45 ms, grad_input 7.34-7.47 -> 6.22-6.38,
 * grad_weight 9.95 -> 9.33-9.48, vgg16.conv1_2 forward 16.1-16.3 -> 13.8-14.5; res4.3x3 and
 * vgg16.conv3_2 at par, a quarter of L2 no better), in whole NR tiles and at least one, at most
 * most_nr of them, fewer when the batch would give the threads too few blocks (tiles of all images
 * count together, so small images still fill a GEMM). */
cj_wino_tiling cj_wino_make_tiling(int64_t n, int64_t h, int64_t w, int64_t my, int64_t mx, int64_t groups,
                                   size_t bytes_per_tile, int64_t nr, int64_t most_nr, int64_t threads) {
    cj_wino_tiling t = {.my = my, .mx = mx};
    t.th = cj_div_up(h, my);
    t.tw = cj_div_up(w, mx);
    t.per_image = t.th * t.tw;
    t.total = n * t.per_image;
    int64_t nb = (int64_t)(cj_cpu()->l2_bytes / 2 / bytes_per_tile) / nr * nr;
    nb = cj_min64(cj_max64(nb, nr), most_nr * nr);
    const int64_t want_blocks = cj_div_up(CJ_WINO_TASKS_PER_THREAD * threads, groups);
    nb = cj_min64(nb, cj_max64(nr, cj_round_up(cj_div_up(t.total, want_blocks), nr)));
    t.nb = cj_min64(nb, t.total);
    t.blocks = cj_div_up(t.total, t.nb);
    return t;
}

int64_t cj_wino_block_tiles(const cj_wino_tiling *t, int64_t b, int64_t src_image, int64_t dst_image,
                            cj_wino_tile *out) {
    const int64_t q0 = b * t->nb, count = cj_min64(t->nb, t->total - q0);
    for (int64_t i = 0; i < count; i++) {
        const int64_t q = q0 + i, n = q / t->per_image, r = q % t->per_image;
        out[i] = (cj_wino_tile){.src = n * src_image, .dst = n * dst_image, .y = r / t->tw * t->my,
                                .x = r % t->tw * t->mx};
    }
    return count;
}

cj_packed_a cj_wino_z_packed(const cj_gemm_config *cfg, void *Ze, int64_t M, int64_t count, int64_t nb, void *pz) {
    const cj_matrix ze = {Ze, nb, 1, 0, 0};
    cj_packed_a pa = {pz, 0, 0, 0, NULL};
    cj_pack_a(cfg, &ze, M, count, &pa);
    return pa;
}

/* In place skips a pass over every Z_e per block (winograd.c's 3x3 form, 1 / 2 threads, min of 6
 * alternations: resnet50.res2.3x3 1.03 / 1.21x, vgg16.conv1_2 1.31 / 1.09x, resnet50.res3.3x3
 * 1.12 / 1.00x). */
cj_packed_a cj_wino_z_matrix(const cj_gemm_config *cfg, void *Ze, int64_t M, int64_t count, int64_t nb, void *pz) {
    if (cfg->uk_sa) return (cj_packed_a){Ze, M, count, nb, NULL};
    return cj_wino_z_packed(cfg, Ze, M, count, nb, pz);
}

size_t cj_wino_z_matrix_bytes(const cj_gemm_config *cfg, int64_t M, int64_t nb) {
    return cfg->uk_sa ? 0 : (cj_packed_a_bytes(cfg, M, nb) + 63) / 64 * 64;
}
