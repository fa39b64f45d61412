/* CJ_ALGO_AUTO. The model's rules, in order (each only where the algorithm exists and accepts
 * the configuration), from side-by-side measurements of every algorithm on the suite of
 * bench/layers.tsv (1 thread, f32, AMD Zen 5 with AVX-512; the figures are in the closing notes):
 *  1. grouped with at most 8 channels per group (depthwise included), or (f32) kernels above 1x1
 *     with at most 8 channels each way: DIRECT — 5-15x the GEMM algorithms there, whose GEMMs are
 *     too thin for the NR-wide kernel;
 *  2. 3x3, stride 1, dilation 1, 16+ channels each way and 64+ output tiles of 4x4, or 32+ tiles
 *     with 256+ channels each way, or 16+ tiles mostly inside the output (below): WINOGRAD
 *     (F(4x4,3x3): 1.5-2.2x the GEMM algorithms on the ResNet/VGG 3x3 layers; AVX2 takes it from 16 tiles: winograd_16_tiles below). At 32 tiles,
 *     resnet50.res5.3x3, DIRECT's forward and grad_input beat it by 5-15% on Zen 5 before the
 *     vector tile gather (stop 18); on Granite Rapids after it (1 thread, min of 5 x 4 calls),
 *     Winograd / best other: res5.3x3 12.95 / 15.97 ms (IMPLICIT) forward, 18.2 / ~18.3 (IM2COL)
 *     grad_input, 9.13 / 14.19 grad_weight; 2 x 512 x 14^2 13.1 / 15.1, 18.1 / 16.6, 9.3 / 13.6.
 *     At 32 channels (2 x 32 x 14^2) DIRECT stays ahead (0.064 against 0.078 ms), hence 256+.
 *     grad_weight takes it from 9 tiles there (Granite Rapids, min of 2 x 6 rounds, 1 / 2 threads,
 *     Winograd against the best GEMM: resnet50.res4.3x3.n1 1.61 / 0.86 ms against 1.69 / 1.08,
 *     1 x 512 x 14^2 6.20 / 2.92 against 6.93 / 4.11, 4 x 512 x 7^2 5.64 / 2.65 against 7.57 / 4.29,
 *     2 x 256 x 10^2 1.78 / 0.89 against 1.84 / 1.15, 1 x 256 x 12^2 -> 384 (9 tiles) 1.97 / 1.08
 *     against 2.04 / 1.30); forward and grad_input stay at 32 (forward IMPLICIT's within 5%,
 *     grad_input IM2COL's 5-25% ahead on those layers). Without winograd_16_tiles it also takes
 *     16-63 tiles where at least 3/4 of the tiles' pixels are output pixels, grad_input only up to
 *     256 channels per group each way (Granite Rapids, stop 20, min of 6 rounds, 1 / 2 threads,
 *     Winograd against the best GEMM: 2 x 128 x 14^2 (32 tiles) 0.39 / 0.22 ms against 0.63 / 0.35
 *     forward, 0.40 / 0.23 against 0.69 / 0.38 grad_input, 0.43 / 0.24 against 0.78 / 0.43
 *     grad_weight; 1 x 128 x 28^2 0.71 / 0.45 against 1.16 / 0.70; 2 x 64 x 14^2 0.115 / 0.071
 *     against 0.171 / 0.108; 1 x 256 x 16^2 1.21 / 0.68 against 1.59 / 0.82, grad_input 1.33 / 0.79
 *     against 1.87 / 0.94; resnet50.res4.3x3.n1 1.20 / 0.68 against 1.34 / 0.70, grad_input 1.33 /
 *     0.78 against 1.56 / 0.79; 1 x 512 x 14^2 forward 5.45 / 2.89 against 5.56 / 2.99 but grad_input
 *     8.07 / 4.00 against 6.26 / 3.32, 1 x 384 x 14^2 3.99 / 2.13 against 3.72 / 1.94; fewer useful
 *     pixels: 1 x 256 x 13^2 (66%) 1.22 / 0.68 against 1.15 / 0.60, 2 x 256 x 10^2 (69%) 1.63 /
 *     0.88 against 1.37 / 0.73). Layers with 256+ channels each way take it there in forward and
 *     grad_input only when 9/10 of the tiles' pixels are output pixels since the forward reads
 *     small GEMMs' weights in place and grad_input's weights are gathered (stop 22, Granite
 *     Rapids, min of 3 rounds, 1 / 2 threads, Winograd against IMPLICIT: resnet50.res4.3x3.n1
 *     (77%) forward 1.31 / 0.72 against 1.15 / 0.60, grad_input 1.46 / 0.82 against 1.40 / 0.74;
 *     1 x 512 x 14^2 forward 5.78 / 2.97 against 4.60 / 2.33; 1 x 256 x 16^2 (100%) still
 *     Winograd's: forward 1.31 / 0.72 against 1.41 / 0.73, grad_input 1.43 / 0.82 against 1.67 /
 *     0.88). Dilated 3x3 layers at stride 1 take it where the rule takes the undilated layer of
 *     their phase images, which Winograd runs (dilation_phases.h): deeplab.dil2 (4 x 512 x 28^2,
 *     dilation 2: 16 phase images of 14^2) 2.1 / 2.0 / 2.1x IMPLICIT at 1 thread, 1.6 / 1.5 / 2.0x
 *     at 2 (stop 24, min of 2 alternations; forward / grad_input / grad_weight);
 * 2b. kernels of one column or row of 7 or 5 taps (Inception's 7x1 / 1x7), stride 1, f32 with
 *     AVX-512, 48+ channels each way and 256+ tiles: WINOGRAD's one-axis form for the forward and
 *     grad_input (F(2,7) / F(4,5): 1.2-1.8x the GEMM algorithms; wino_one_axis below);
 *  3. DIRECT's channel-vector path (f32 on AVX-512, 32+ channels per group on the vector side:
 *     direct.h) for kernels larger than 1x1: forward, grad_input (stride 1), grad_weight (dilated
 *     only with AVX-512) when its register-tile sums fit in L2 (lenet.conv2 1.6-1.8x the GEMM algorithms in
 *     every pass, lenet.conv1 forward 1.9x, alexnet.conv2 forward and grad_input 1.15-1.3x FFT,
 *     deeplab.dil2 forward and grad_input 1.15-1.3x GEMM, resnet50.conv1 forward 1.4x);
 *  4. kernels of area 16+ up to 16x16, stride 1, dilation 1, 8+ input channels and 300+ output
 *     pixels: FFT (where rule 3 does not apply: f64, AVX2, fewer channels);
 *  5. kernels of area 25+ with few channels (3 to 32 input channels in forward, 1 to 3 in
 *     grad_weight): DIRECT (its pixel-vector kernels, where rule 3 does not apply);
 *  6. grad_input with a stride, or with fewer than 16 input channels per group: IM2COL_GEMM
 *     (implicit GEMM's transposed problem then has too few output channels or too many phases:
 *     alexnet.conv1 grad_input 10x slower); forward and grad_weight with a stride: IM2COL_GEMM;
 *  7. otherwise IMPLICIT_GEMM (no column matrix; 1x1 stride-1 reads NCHW as it is), but for the
 *     grad_weight of 1x1 kernels with at most 64 input channels per group on planes of 56x56 or
 *     more (AVX-512): DIRECT (below).
 * Where the kernels rank differently by machine, a rule asks a switch (auto_switches.h) instead of
 * the ISA: with AVX-512 every switch but direct_strided, direct_one_column and implicit_strided_fwd
 * is off by default;
 * without it (measured on AMD Zen 3, AVX2; medians of 5-9 alternating runs where two figures are
 * given as 1 / 2 threads) the defaults are:
 *  - winograd_16_tiles: rule 2 from 16 tiles in every pass since the weight transform got cheap
 *    (ms at 1 / 2 threads, forward and grad_input, Winograd against the best GEMM or DIRECT:
 *    resnet50.res4.3x3.n1 2.60 / 1.99 against 3.36 / 2.24 and 3.60 / 1.96 against 3.44 / 2.17;
 *    1 x 512 x 14^2 10.0 / 5.2 against 15.9 / 7.9 and 10.4 / 5.2 against 13.6 / 6.5; 4 x 512 x 7^2
 *    14.7 / 4.9 against 14.6 / 7.2 and 10.9 / 5.3 against 19.4 / 11.2; 1 x 64 x 16^2 0.20 / 0.12
 *    against 0.29 / 0.19 and 0.19 / 0.20 against 0.30 / 0.16; one run of 3 each), not from 8
 *    (2 x 256 x 7^2: 2.64 / 2.18 against 1.95 / 1.66; 9 tiles, 1 x 128 x 12^2, 0.85 against
 *    0.66); grad_weight was measured from 16 before (resnet50.res4.3x3.n1 1.98 / 1.11 against
 *    IMPLICIT's 2.80 / 1.75; 4 tiles 1.45 / 0.86 against 0.82 / 0.48);
 *  - direct_strided and direct_one_column off: rule 3 needs stride 1 and kernels more than one
 *    column wide and one row high (Inception-v3's 7x1, 128 channels at 17x17: DIRECT 25-26 ms, IM2COL 14-15); the
 *    AVX2 path also takes blocks of at most half of L2 in weights (direct.h: lenet.conv2
 *    grad_weight 23 ms against IM2COL's 32, forward 25 against FFT's 25-29, grad_input 25
 *    against FFT's 29);
 *  - fft_100_pixels: rule 4 from 100 output pixels (grad_weight too since the calibration flipped
 *    it on in two sessions running: 32 x 16 x 12^2 -> 16 5x5 FFT 0.93 / 0.93 ms, IMPLICIT 2.23 /
 *    1.14; 16 x 24 x 14^2 -> 24 7x7 3.18 / 1.73 against 4.39 / 2.23, fastest of 7); fft_before_direct:
 *    before rule 3 from 28x28 outputs (5x5 with 64 channels at 28x28: on a par; Inception-v3's 5x5
 *    branch, 48 channels at 35x35: FFT 20-22 ms, DIRECT 28-29 in every pass; lenet.conv2 at 14x14
 *    is DIRECT's). On by default on Intel CPUs with AVX-512 too, where DIRECT's kernels run at
 *    70-77% of the FMA peak (Granite Rapids, 1 thread, min of 2 x 6 rounds, forward / grad_input /
 *    grad_weight, FFT against DIRECT: 8 x 64 x 56^2 7x7 29.8 / 31.1 / 33.9 ms against 62.2 / 62.3 /
 *    59.2, 8 x 64 x 28^2 7x7 10.6 / 10.4 / 11.9 against 14.3 / 13.9 / 15.7, 8 x 128 x 28^2 7x7 47.4 /
 *    51.9 / 40.4 against 60.1 / 60.3 / 62.1, 8 x 64 x 56^2 5x5 26.1 / 26.2 / 27.9 against 33.3 /
 *    31.9 / 30.9, 8 x 48 x 32^2 -> 64 5x5 6.7 / 7.3 / 7.5 against 7.2 / 10.1 / 7.6; 8 x 128 x 28^2
 *    5x5 28.6 / 32.1 / 27.8 against 32.4 / 31.1 / 32.4). There three more switches default the
 *    other way, as `conjure bench --calibrate` found them there in two
 *    sessions (Granite Rapids, fastest of 7 alternating runs, 1 / 2 threads): fft_100_pixels for
 *    grad_input and grad_weight (32 x 16 x 12^2 -> 16 5x5: FFT 0.63 / 0.37 ms against IM2COL 1.34 /
 *    0.65, grad_weight 0.86 / 0.78 against IMPLICIT 1.76 / 0.85; 16 x 24 x 14^2 -> 24 7x7 1.70 /
 *    0.95 against 2.73 / 1.34 and 2.76 / 1.71 against 3.47 / 1.81), direct_one_column off for the
 *    forward (8 x 96 x 20^2 5x1: IMPLICIT 1.94 / 0.94 against DIRECT 2.20 / 1.06; 8 x 160 x 17^2 7x1
 *    5.46 / 2.63 against 5.88 / 2.88; Inception-v3's 7x1 5.0 / 2.6 against 5.4 / 3.0) and, since
 *    IMPLICIT's packer reads a "same"-padded image as one run (stop 22), for grad_input, where the
 *    switch now covers kernels one row high too (Inception-v3, one suite run, IMPLICIT against
 *    DIRECT: 7x1 grad_input 4.06 / 2.08 ms against 4.71 / 2.44; 1x7 forward 2.71 / 1.36 against
 *    2.91 / 1.49, grad_input 2.74 / 1.39 against 2.94 / 1.53; grad_weight stays DIRECT's: 7x1
 *    4.09 / 2.18 against IMPLICIT's 4.66 / 2.39, 1x7 2.54 / 1.31 against 3.54 / 1.82), and
 *    first_layer_wgrad on (8 x 3 x 160^2 -> 16 3x3 s2: DIRECT 0.90 / 0.46 against IM2COL 1.31 /
 *    0.67);
 *  - direct_one_channel: rule 5 from 1 input channel in forward, and at any stride with at most 3
 *    input channels whatever the switches (lenet.conv1 forward DIRECT 3.4 ms, IM2COL 4.3;
 *    resnet50.conv1 forward 40 / 23 against IM2COL's 52 / 27, grad_weight 34 / 22 against
 *    IMPLICIT's 42 / 28; alexnet.conv1 forward 26 / 19 against 28 / 20, grad_weight 32 / 17
 *    against 36 / 19);
 *  - im2col_above_1x1: grad_input of kernels larger than 1x1 by IM2COL_GEMM (resnet50.res4.3x3.n1
 *    5.5 ms, IMPLICIT 7.0; vgg16.conv1_2 77 against 134), and their forward since the GEMM's A
 *    panels are packed by transposes (IM2COL 1-5% ahead of IMPLICIT on every such layer of the
 *    suite and of bench/outside_layers.tsv that reaches this rule, medians of 3 alternating runs:
 *    resnet50.res4.3x3.n1 3.04 / 1.69 ms against 3.12 / 1.77 at 1 / 2 threads; deeplab.dil2
 *    160 / 81 against 163 / 82 and Inception-v3's 7x1 10.1 / 5.2 against 10.5 / 5.3 in one run
 *    each). Its grad_input half was on by default on Intel CPUs with AVX-512 too (stop 19: IM2COL
 *    5-25% ahead there) until IMPLICIT's grad_input packed its rotated weights straight into the
 *    GEMM's layout (stop 21; Granite Rapids, 1 / 2 threads, min of 2, IMPLICIT against IM2COL:
 *    1 x 512 x 14^2 5.60 / 2.92 ms against 5.87 / 3.02, 4 x 512 x 7^2 5.72 / 3.02 against
 *    6.33 / 3.25, 1 x 256 x 12^2 -> 384 1.58 / 0.83 against 1.64 / 0.87, resnet50.res4.3x3.n1
 *    1.41 / 0.77 against 1.55 / 0.78, res5.3x3 9.97 / 5.24 against 11.95 / 5.65, deeplab.dil2
 *    70.4 / 35.1 against 73.5 / 37.4); implicit_strided_wgrad: grad_weight with
 *    a stride by IMPLICIT_GEMM (on a par with IM2COL: resnet50.res3.3x3s2 32.0 against 32.5 ms);
 *  - implicit_strided_fwd: forward of kernels above 1x1 at stride_w 1-2 with a stride and more
 *    than 3 input channels by IMPLICIT_GEMM, since its panel packers read stride-2 rows by masked
 *    loads and shuffles (min of 3 runs of 20 calls, 1 thread: 2 x 128 x 56^2 -> 128 3x3 s2 9.41 ms
 *    against IM2COL's 10.50, 8 x 96 x 28^2 3x3 s2 6.03 against 7.37); 1x1 strided stays IM2COL's
 *    (8 x 256 x 28^2 -> 512 s2 5.86 against 6.97) but with AVX-512, whose packer reads its rows by
 *    masked loads and a permute (stop 25, min of 4 alternations, 1 / 2 threads, IMPLICIT against
 *    IM2COL: resnet50.res3.1x1s2 11.34 / 5.53 ms against 12.04 / 5.99, 8 x 256 x 28^2 -> 512 2.91 /
 *    1.60 against 3.06 / 1.73, 8 x 512 x 28^2 -> 1024 10.79 / 5.29 against 11.32 / 5.75; their
 *    grad_input and grad_weight stay IM2COL's, 0.91-1.04x by IMPLICIT). On by default with AVX-512 too since its packer
 *    (stop 18), ahead of rule 3 (Granite Rapids, min of 5 x 5-20 calls, two runs, IMPLICIT against
 *    DIRECT: resnet50.res3.3x3s2 14.8-15.2 ms against 16.7-16.9, 2 x 128 x 56^2 3.60-3.73 against
 *    4.06-4.17, 8 x 96 x 28^2 2.40 against 2.32-2.38, 4 x 64 x 112^2 5x5 s2 22.0 against 21.4-21.8;
 *    first layers are DIRECT's: resnet50.conv1 15.5 against 16.9-17.3);
 *  - direct_wide: rule 3 also for layers with 256+ channels per group each way, and its forward
 *    and grad_input from 128 x 128 channels (C_in/g * C_out/g; many_channels), with its
 *    grad_weight from 128 x 256 where FFT's rule would take it; on by default but
 *    on Intel CPUs: on Granite Rapids (AVX-512, 1 / 2 threads, stop 18's suite runs) those layers
 *    ran faster by the GEMM rules, DIRECT against the best GEMM: deeplab.dil2 forward 111 / 58 ms
 *    against 106 / 50, grad_input 117 / 68 against 107 / 54; resnet50.res4.3x3.n1 forward 2.04 /
 *    1.50 against 2.09 / 1.07, grad_input 2.45 / 1.82 against 2.26 / 1.17; narrower layers stay
 *    DIRECT's there too (lenet.conv2 7.8 against 15.2, alexnet.conv2 at par; since stop 23 its
 *    forward and grad_input are IMPLICIT's, 1.03-1.08x: many_channels);
 *  - implicit_strided_bwd_data: grad_input at stride 2 of kernels above 1x1 with 16-128 input
 *    channels per group and 256+ pixels per stride phase by IMPLICIT_GEMM, ahead of rule 6, since
 *    its phases' rows are stored two at a time (stop 19). On with AVX-512 (Granite Rapids, 1 / 2
 *    threads, min of 2 runs of 6 x 3 calls, IMPLICIT against IM2COL: resnet50.res3.3x3s2 17.2 /
 *    9.8 ms against 21.2 / 10.1, 4 x 64 x 112^2 5x5 s2 20.7 / 11.3 against 35.1 / 15.7, 2 x 32 x
 *    64^2 0.44 / 0.29 against 0.80 / 0.40; outside its bounds IM2COL stays ahead: 8 x 96 x 28^2
 *    (14x14 phases) 2.79 / 1.95 against 2.94 / 1.49, 8 x 256 x 28^2 18.2 / 10.0 against 16.1 /
 *    8.1, 1x1 8 x 256 x 56^2 -> 512 20.0 / 8.3 against 16.3 / 7.4); off with AVX2 (not measured);
 *  - first_layer_wgrad: rule 5's grad_weight of strided first layers from 3x3 kernels (medians of
 *    3, 1 / 2 threads: MobileNet-V2's stem, 8 x 3 x 224^2 -> 32 at stride 2: DIRECT 4.49 / 2.17 ms,
 *    IMPLICIT 5.56 / 2.72; Inception-v3's conv1a 8.19 / 4.03 against 10.27 / 5.19; with 16
 *    outputs 3.15 against 3.40). At stride 1 the rank of 3-channel 3x3 layers follows how the
 *    rows split into 14-pixel tiles (DIRECT 2.70 / IMPLICIT 3.10 ms at 48^2, 3.22 / 2.81 at
 *    32^2, 3.30 / 2.74 at 64^2, 3.80 / 4.14 at 112^2): no rule there.
 * `conjure bench --calibrate` (cj_calibrate) measures every switch on a probe layer of its own on
 * this machine and AUTO follows those measurements from then on.
 * The measured mode replaces the rules by timing, per context. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "algo/auto.h"
#include "algo/auto_switches.h"
#include "algo/dilation_phases.h"
#include "algo/direct.h"
#include "algo/winograd_1d.h"
#include "arch/cpu.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#include "util/error.h"
#include "util/memory.h"

static const cj_algo *usable(cj_algorithm id, const cj_conv_desc *d, cj_pass pass) {
    const cj_algo *a = cj_algo_get(id);
    return a && !a->unsupported(d, pass) ? a : NULL;
}

/* Rule 3's grad_weight: undilated, its register-tile sums within L2, or with AVX-512 kernels up
 * to 5x5 (whose 4-5 tap kernel broadcasts each input once per pixel block: stop 20, Granite
 * Rapids, min of 2-3 x 6 calls, 1 / 2 threads, DIRECT against FFT with 3-18 MB of sums:
 * alexnet.conv2 34.4 / 17.5 ms against 34.2 / 19.0, 8 x 128 x 14^2 -> 256 12.9 / 6.9 against
 * 16.1 / 10.7, 16 x 64 x 20^2 -> 192 18.3 / 9.3 against 19.9 / 10.3, 8 x 256 x 14^2 -> 512 58.9 /
 * 29.7 against 61.6 / 45.0; 7x7 stays FFT's there: 16 x 64 x 20^2 43.4 / 23.2 against 28.6 / 17.7).
 * Dilated layers too with AVX-512 (stop 26, Granite Rapids, 1 thread, one bench run of every
 * algorithm, DIRECT against IMPLICIT: 4 x 64 x 56^2 5x5 dilation 2 1.00 against 1.42 x, 4 x 32 x
 * 56^2 7x7 dilation 2 1.00 against 2.04 x; dilated 3x3 layers stay Winograd's by rule 2); not
 * measured with AVX2, which keeps them off. */
static int ocv_wgrad_fits(const cj_conv_desc *d) {
    const int avx512 = cj_cpu()->isa == CJ_ISA_AVX512, small_kernel = avx512 && d->kh * d->kw <= 25;
    return ((d->dil_h == 1 && d->dil_w == 1) || avx512) &&
           (small_kernel || cj_direct_ocv_weights_tile_bytes(d) <= cj_cpu()->l2_bytes);
}

/* Rule 3's forward and grad_input only where the channels on the vector side (output channels,
 * grad_input's input channels) fill 85% of their 32-channel blocks: the kernel's FMAs run on whole
 * blocks (stop 26, Granite Rapids, 1 thread, one bench run of every algorithm, DIRECT against the
 * best, 8 images at 27^2, 5x5: grad_input 48 -> 128 1.14x (IMPLICIT), 80 -> 128 1.13x (FFT),
 * 40 -> 96 1.36x, 33 -> 64 1.47x, 64 and 96 -> 128 1.00-1.05x; forward 128 -> 48 1.14x, 128 -> 80
 * 1.37x, 64 -> 40 1.33x). They go to IMPLICIT (1.00-1.15x the best there; FFT, 1.00-1.11x, ran
 * AlexNet's two-group conv2 grad_input, 48 -> 128 a group, at 1.43x IMPLICIT's time and 1.19x
 * DIRECT's). grad_weight keeps it whatever the fill (1.00-1.06x there). */
static int vectors_filled(const cj_conv_desc *d, cj_pass pass) {
    if (pass == CJ_PASS_BACKWARD_WEIGHTS) return 1;
    const int64_t v = pass == CJ_PASS_BACKWARD_DATA ? d->cin_g : d->cout_g;
    return 20 * v >= 17 * cj_round_up(v, 32);
}

/* Rule 3 from 128 x 128 channels (C_in/g * C_out/g) where direct_wide is off (Intel): forward and
 * grad_input go to IMPLICIT, whose A panels are large enough there for it to lead, and grad_weight
 * to FFT where rule 4 would take it (stop 23, Granite Rapids, min of 3 alternations, 1 thread,
 * forward / grad_input ms, DIRECT against IMPLICIT, 8 images, 5x5 pad 2 unless said: 96 -> 256 at
 * 27^2 (alexnet.conv2) 36.6 / 38.6 against 34.2 / 37.4, 128 -> 256 at 28^2 52.9 / 55.6 against
 * 48.0 / 50.6, 192 -> 192 at 27^2 57.8 / 57.7 against 51.2 / 51.4, 256 -> 128 at 14^2 15.6 / 15.7
 * against 13.4 / 12.1, 64 -> 256 at 28^2 27.6 / 27.5 against 26.9 / 27.5, 128 -> 128 7x7 at 20^2
 * 31.1 / 32.0 against 24.9 / 25.2, 128 -> 128 3x3 dilation 2 at 28^2 9.18 / 9.28 against 9.09 /
 * 9.06; below it DIRECT: 64 -> 192 at 27^2 16.4 / 16.9 against 17.2 / 18.8, 96 -> 128 16.5 / 16.9
 * against 17.6 / 18.0, 64 -> 128 7x7 12.2 / 12.9 against 12.5 / 13.5; the same at 2 threads.
 * grad_weight, FFT against DIRECT, 1 / 2 threads: alexnet.conv2 30.1 / 15.8 against 33.3 / 17.0,
 * 192 -> 192 39.2 / 21.7 against 50.0 / 25.8, 128 -> 256 at 28^2 38.7 against 48.1; below it
 * DIRECT: 64 -> 192 17.9 / 9.6 against 16.2 / 8.3, 48 -> 64 at 35^2 7.03 against 6.69; IMPLICIT
 * trails both, alexnet.conv2 38.0). It is direct_wide's ranking at a smaller size, so the switch
 * (and its calibration) carries both.
 * grad_weight goes to FFT only from 128 x 256 channels (GW_FFT_CHANNELS): alexnet.conv2's (96 x 256)
 * ranking turned in the two sessions after stop 23, its suite rows DIRECT 20.7 against FFT 23.2 ms
 * (stop 24, 2 threads), 51.9 against 60.1 (stop 25, 1 thread), and min of 3 alternations in stop
 * 25, DIRECT against FFT, 1 / 2 threads: alexnet.conv2 49.0 / 25.1 against 53.2 / 26.8, 64 -> 256
 * 31.7 / 16.5 against 36.0 / 20.9, 256 -> 256 at 14^2 38.0 / 20.6 against 45.1 / 31.5; from 128 x
 * 256 up they stay within 2-7% either way (128 -> 256 at 28^2 64.9 / 35.4 against 68.9 / 38.0,
 * 192 -> 192 72.9 / 37.6 against 71.7 / 38.3) where stop 23 had FFT 1.24x ahead; 128 -> 128 at
 * 28^2 is FFT's at 1 thread (31.7 against 34.9) and level at 2 (18.1 / 18.0), and goes to DIRECT. */
#define GW_FFT_CHANNELS (128 * 256)

static int many_channels(const cj_conv_desc *d, cj_pass pass, const bool *on) {
    return !on[CJ_SW_DIRECT_WIDE] && d->cin_g * d->cout_g >= (pass == CJ_PASS_BACKWARD_WEIGHTS ? GW_FFT_CHANNELS : 128 * 128);
}

/* Rule 2b: one-axis Winograd where its 8 GEMMs per tile replace the 14 (7 taps) or 20 (5 taps)
 * multiplications of the direct sums: 48+ channels each way and 256+ tiles of m outputs (stop 27,
 * Granite Rapids, 1 thread, one bench run of every algorithm, forward / grad_input, Winograd
 * against the best other, 7x1 pad 3 unless said: 8 x 160 x 17^2 0.72 / 0.71x, 8 x 64 x 35^2 0.77 /
 * 0.79x, 8 x 64 x 17^2 0.85 / 0.86x, 8 x 96 x 20^2 5x1 0.55x, 8 x 48 x 28^2 5x1 0.60 / 0.64x;
 * level or behind below: 8 x 32 x 17^2 0.99 / 1.01x, 8 x 16 x 17^2 1.14 / 1.20x, 1 x 192 x 17^2
 * (153 tiles) 0.95 / 0.99x, 4 x 256 x 9^2 (180) 0.99 / 1.02x, 1 x 128 x 8^2 (32) 1.86 / 1.92x).
 * grad_weight stays with the others (Inception-v3's 7x1: Winograd 5.01 ms, DIRECT 4.98; 1x7 3.97
 * against DIRECT 3.38). The generic transforms (f64; f32 on AVX2) keep the others: one bench run,
 * Inception-v3's 7x1 / 1x7, forward and grad_input, f64 Winograd 12.0 / 12.7 and 9.6 / 10.5 ms
 * against IMPLICIT 11.6 / 12.3 and 11.5 / 8.4; AVX2 (CONJURE_ARCH=avx2) 7.8 / 8.7 and 8.0 / 8.1
 * against DIRECT 8.5 / 9.0 and 5.4 / 5.4. */
static int wino_one_axis(const cj_conv_desc *d, cj_pass pass) {
    if (pass == CJ_PASS_BACKWARD_WEIGHTS || d->dtype != CJ_F32 || cj_cpu()->isa != CJ_ISA_AVX512 ||
        !cj_winograd_1d_kernel(d) || d->cin_g < 48 || d->cout_g < 48)
        return 0;
    return cj_winograd_1d_tiles(d) >= 256;
}

/* f64, which has no channel-vector kernels (rule 3) nor SIMD panel packers for implicit GEMM, ranks
 * the algorithms on first layers and strided ones otherwise (stop 26, Granite Rapids, 1 thread,
 * one bench run of every algorithm, f64; ms, or the best algorithm's time x a factor):
 *  - rule 5's forward from 1 input channel, and with a stride or one channel from 3x3 kernels:
 *    lenet.conv1 DIRECT 1.87 ms against IMPLICIT 2.83; 32 x 1 x 64^2 -> 16 3x3 DIRECT 1.00 against
 *    1.40 x; 8 x 3 x 224^2 -> 32 3x3 s2 1.00 against IMPLICIT 1.26 x, IM2COL 1.36 x; Inception-v3's
 *    conv1a 9.9 against IM2COL 12.5 (3 channels at stride 1 stay IMPLICIT's: 2 x 3 x 224^2 -> 64
 *    3x3, DIRECT 1.12 x);
 *  - rule 5's grad_weight only up to F64_FEW_TAPS taps (C_in/g * kh * kw), from 3x3: DIRECT's
 *    pixel-vector sums trail the GEMMs beyond (alexnet.conv1 64.0 ms against IMPLICIT 36.3,
 *    resnet50.conv1 85.4 against 48.2, 8 x 3 x 224^2 -> 32 5x5 s2 1.31 x, 8 x 3 x 64^2 -> 32 7x7
 *    1.36 x; on AVX2 too: alexnet.conv1 87.9 against 47.8) and lead up to it (lenet.conv1 1.00
 *    against 1.07-1.08 x; 32 x 1 x 64^2 -> 16 3x3 1.00 against IMPLICIT 1.73 x; conv1a 1.00 against
 *    1.12 x);
 *  - implicit_strided_bwd_data does not apply: resnet50.res3.3x3s2 grad_input IM2COL 37.7 ms against
 *    IMPLICIT 44.0, odd.3x3s2 2.26 against 2.52;
 *  - nor the 1x1 grad_weight rule (DIRECT's): MobileNet-V2's expansion 8 x 24 x 56^2 -> 144 IMPLICIT
 *    7.0 ms against DIRECT 12.8. */
#define F64_FEW_TAPS 27

const cj_algo *cj_auto_model_with(const cj_conv_desc *d, cj_pass pass, const cj_auto_switches *sw) {
    const bool *on = sw->on[pass];
    const int strided = d->stride_h != 1 || d->stride_w != 1, f64 = d->dtype == CJ_F64;
    const int unit_stride = !strided && d->dil_h == 1 && d->dil_w == 1;
    const int64_t area = d->kh * d->kw, pixels = d->h_out * d->w_out;
    const int64_t tiles = d->n * ((d->h_out + 3) / 4) * ((d->w_out + 3) / 4);
    const int64_t fft_pixels = on[CJ_SW_FFT_100_PIXELS] ? 100 : 300;
    const int64_t winograd_tiles = on[CJ_SW_WINOGRAD_16_TILES] ? 16 : 64;
    /* rule 2's small layers without the switch: 16+ tiles, 3/4 of their pixels inside the output,
     * grad_input up to 256 channels per group */
    const int64_t tile_pixels = d->n * ((d->h_out + 3) / 4 * 4) * ((d->w_out + 3) / 4 * 4);
    const int wide = d->cin_g >= 256 && d->cout_g >= 256;
    const int small_tiles = tiles >= 16 && 4 * d->n * pixels >= 3 * tile_pixels &&
                            (!wide || pass == CJ_PASS_BACKWARD_WEIGHTS || 10 * d->n * pixels >= 9 * tile_pixels) &&
                            (pass != CJ_PASS_BACKWARD_DATA || (d->cin_g <= 256 && d->cout_g <= 256));
    /* DIRECT's rules 3 and 5 at stride 1, or with a stride where the switch says (5 also for first layers) */
    const int direct_stride = on[CJ_SW_DIRECT_STRIDED] || !strided;
    /* rule 5's first layers: forward 3..32 input channels (or from 1), grad_weight up to 3 */
    const int64_t few_min = on[CJ_SW_DIRECT_ONE_CHANNEL] || f64 ? 1 : 3;
    const int few_channels = (direct_stride || d->cin_g <= 3) &&
                             (pass == CJ_PASS_BACKWARD_WEIGHTS
                                  ? d->cin_g <= 3
                                  : pass == CJ_PASS_FORWARD && d->cin_g >= few_min && d->cin_g <= 32);
    const int channel_vectors = area > 1 && direct_stride && (on[CJ_SW_DIRECT_ONE_COLUMN] || (d->kw > 1 && d->kh > 1)) &&
                                (on[CJ_SW_DIRECT_WIDE] || !wide) &&
                                cj_direct_ocv_ok(d, pass) && (pass != CJ_PASS_BACKWARD_WEIGHTS || ocv_wgrad_fits(d));
    const int fft_fits = unit_stride && area >= 16 && d->cin_g >= 8 && pixels >= fft_pixels;
    /* rule 5's grad_weight of strided first layers from 3x3 kernels (else from 5x5) */
    int64_t few_area = on[CJ_SW_FIRST_LAYER_WGRAD] && strided && pass == CJ_PASS_BACKWARD_WEIGHTS ? 9 : 25;
    int few_taps = 1; /* rule 5's bound on C_in/g * kh * kw (f64's grad_weight) */
    if (f64 && d->cin_g <= 3) {
        if (pass == CJ_PASS_BACKWARD_WEIGHTS) few_area = 9, few_taps = d->cin_g * area <= F64_FEW_TAPS;
        else if (pass == CJ_PASS_FORWARD && (strided || d->cin_g == 1)) few_area = 9;
    }
    const cj_algo *a = NULL;
    if (d->groups > 1 && d->cin_g <= 8) a = usable(CJ_ALGO_DIRECT, d, pass);
    /* rule 1 for ungrouped layers with at most 8 channels each way (f32; stop 26, Granite Rapids,
     * 1 thread, one bench run of every algorithm, forward / grad_input / grad_weight, the best other
     * against DIRECT: 4 x 8 x 224^2 -> 8 3x3 Winograd 1.11 / 1.04 / 1.13 x, IMPLICIT 1.50 / 1.37 /
     * 1.59 x; 8 x 4 x 128^2 -> 4 1.74-3.57 x) */
    if (!a && !f64 && area > 1 && d->cin_g <= 8 && d->cout_g <= 8) a = usable(CJ_ALGO_DIRECT, d, pass);
    /* rule 2's wide layers: from 32 tiles at 256+ channels each way, grad_weight from 9 */
    const int wide_tiles = tiles >= (pass == CJ_PASS_BACKWARD_WEIGHTS ? 9 : 32) && wide;
    if (!a && unit_stride && d->kh == 3 && d->kw == 3 && d->cin_g >= 16 && d->cout_g >= 16 &&
        (tiles >= winograd_tiles || wide_tiles || small_tiles))
        a = usable(CJ_ALGO_WINOGRAD, d, pass);
    /* rule 2 for dilated 3x3 layers: Winograd runs them as the undilated layer of their phase
     * images (dilation_phases.h), so where the rule takes that layer */
    if (!a && !strided && !unit_stride && d->kh == 3 && d->kw == 3) {
        const cj_conv_desc phases = cj_phase_desc(d);
        if (cj_auto_model_with(&phases, pass, sw) == cj_algo_get(CJ_ALGO_WINOGRAD)) a = usable(CJ_ALGO_WINOGRAD, d, pass);
    }
    /* rule 2b: one-axis Winograd (F(2,7), F(4,5)) for the forward and grad_input of kernels of one
     * column or row of 7 or 5 taps (winograd_1d.h), f32 with AVX-512 (its own transforms there) */
    if (!a && unit_stride && wino_one_axis(d, pass)) a = usable(CJ_ALGO_WINOGRAD, d, pass);
    /* fft_before_direct; grad_weight only above 5x5, where DIRECT's 4-5 tap kernel now leads (stop
     * 25, 1 / 2 threads, min of 3-4 alternations, DIRECT against FFT: Inception-v3's 5x5 branch
     * 10.1 / 5.0 ms against 11.1 / 7.3, 8 x 64 x 56^2 5x5 34.5 / 17.4 against 37.1 / 20.4, 8 x 128
     * x 28^2 5x5 36.4 / 18.4 against 38.7 / 21.6; 7x7 stays FFT's: 8 x 64 x 28^2 17.1 / 8.7 against
     * 15.2 / 9.0) */
    if (!a && on[CJ_SW_FFT_BEFORE_DIRECT] && fft_fits && pixels >= 28 * 28 &&
        (pass != CJ_PASS_BACKWARD_WEIGHTS || area > 25))
        a = usable(CJ_ALGO_FFT, d, pass);
    /* implicit_strided_fwd ahead of rule 3, which takes strided layers on AVX-512; first layers
     * (3 or fewer input channels) stay DIRECT's */
    if (!a && on[CJ_SW_IMPLICIT_STRIDED_FWD] && strided && pass == CJ_PASS_FORWARD &&
        (area > 1 || cj_cpu()->isa == CJ_ISA_AVX512) && d->stride_w <= 2 && d->cin_g > 3)
        a = usable(CJ_ALGO_IMPLICIT_GEMM, d, pass);
    if (!a && channel_vectors) {
        const int many = many_channels(d, pass, on);
        if ((many && pass != CJ_PASS_BACKWARD_WEIGHTS) || !vectors_filled(d, pass))
            a = usable(CJ_ALGO_IMPLICIT_GEMM, d, pass);
        else if (!(many && fft_fits)) a = usable(CJ_ALGO_DIRECT, d, pass); /* else FFT, next */
    }
    if (!a && fft_fits) a = usable(CJ_ALGO_FFT, d, pass);
    if (!a && area >= few_area && few_channels && few_taps) a = usable(CJ_ALGO_DIRECT, d, pass);
    if (!a && on[CJ_SW_IMPLICIT_STRIDED_WGRAD] && strided && pass == CJ_PASS_BACKWARD_WEIGHTS)
        a = usable(CJ_ALGO_IMPLICIT_GEMM, d, pass);
    if (!a && on[CJ_SW_IMPLICIT_STRIDED_BWD_DATA] && !f64 && strided && pass == CJ_PASS_BACKWARD_DATA && area > 1 &&
        d->stride_h <= 2 && d->stride_w <= 2 && d->cin_g >= 16 && d->cin_g <= 128 &&
        d->h_in * d->w_in >= 256 * d->stride_h * d->stride_w)
        a = usable(CJ_ALGO_IMPLICIT_GEMM, d, pass);
    /* 1x1 grad_weight with few input channels on large planes (AVX-512): DIRECT. Its GEMM has only
     * C_in/g columns against the kernel's 48 (stop 22, Granite Rapids, min of 2, 1 / 2 threads,
     * DIRECT against IMPLICIT: MobileNet-V2's 8 x 24 x 56^2 -> 144 2.02 / 1.05 ms against 2.94 /
     * 1.60, 8 x 16 x 112^2 -> 96 4.94 against 7.14, 8 x 64 x 56^2 -> 256 6.43 / 3.33 against
     * 7.34 / 3.87; at 28^2 it is mixed, 8 x 32 -> 192 0.78 against 0.75, and from 256 channels
     * IMPLICIT leads, resnet50.res2.1x1 6.05 against 6.24) */
    if (!a && pass == CJ_PASS_BACKWARD_WEIGHTS && area == 1 && !strided && d->cin_g <= 64 && pixels >= 56 * 56 &&
        cj_cpu()->isa == CJ_ISA_AVX512 && !f64)
        a = usable(CJ_ALGO_DIRECT, d, pass);
    if (!a && on[CJ_SW_IM2COL_ABOVE_1X1] && pass != CJ_PASS_BACKWARD_WEIGHTS && area > 1) a = &cj_algo_im2col_gemm;
    if (!a && (strided || (pass == CJ_PASS_BACKWARD_DATA && d->cin_g < 16))) a = &cj_algo_im2col_gemm;
    if (!a) a = usable(CJ_ALGO_IMPLICIT_GEMM, d, pass);
    return a ? a : &cj_algo_im2col_gemm;
}

const cj_algo *cj_auto_model(const cj_conv_desc *d, cj_pass pass, int threads) {
    cj_auto_switches sw;
    cj_auto_switches_get(threads, &sw);
    return cj_auto_model_with(d, pass, &sw);
}

cj_status cj_algo_run(const cj_algo *a, cj_context *ctx, const cj_conv_desc *d, cj_pass pass,
                      const cj_pass_buffers *b) {
    switch (pass) {
    case CJ_PASS_FORWARD: return a->forward(ctx, d, b->in, b->w, b->bias, b->out);
    case CJ_PASS_BACKWARD_DATA: return a->backward_data(ctx, d, b->grad_out, b->w, b->out);
    case CJ_PASS_BACKWARD_WEIGHTS:
        if (b->grad_bias && a->backward_weights_bias)
            return a->backward_weights_bias(ctx, d, b->in, b->grad_out, b->out, b->grad_bias);
        CJ_FORWARD(a->backward_weights(ctx, d, b->in, b->grad_out, b->out));
        if (b->grad_bias) cj_bias_grad(ctx, d, b->grad_out, b->grad_bias);
        return CJ_OK;
    }
    return CJ_ERR_INVALID_ARGUMENT;
}

cj_status cj_algo_run_timed(const cj_algo *a, cj_context *ctx, const cj_conv_desc *d, cj_pass pass,
                            const cj_pass_buffers *b, double *seconds) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CJ_FORWARD(cj_algo_run(a, ctx, d, pass, b));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return CJ_OK;
}

/* ---- the measured choices: a small table per context, oldest entry replaced when full ---- */

#define CACHE_SLOTS 256

typedef struct {
    int64_t key[20];
    cj_algorithm algorithm;
    int used;
} cache_entry;

struct cj_auto_cache {
    pthread_mutex_t lock;
    cache_entry entries[CACHE_SLOTS];
    int next; /* the slot the next new entry takes */
};

cj_auto_cache *cj_auto_cache_create(void) {
    cj_auto_cache *c = cj_calloc(sizeof *c);
    if (c && pthread_mutex_init(&c->lock, NULL) != 0) {
        cj_free(c);
        return NULL;
    }
    return c;
}

void cj_auto_cache_destroy(cj_auto_cache *c) {
    if (!c) return;
    pthread_mutex_destroy(&c->lock);
    cj_free(c);
}

static void make_key(const cj_conv_desc *d, cj_pass pass, int threads, int64_t key[20]) {
    const int64_t k[20] = {d->dtype, pass, threads, d->n, d->c_in, d->h_in, d->w_in, d->c_out, d->kh, d->kw,
                           d->pad_h, d->pad_w, d->stride_h, d->stride_w, d->dil_h, d->dil_w, d->groups, 0, 0, 0};
    memcpy(key, k, sizeof k);
}

static int cache_find(cj_auto_cache *c, const int64_t key[20], cj_algorithm *out) {
    int found = 0;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < CACHE_SLOTS && !found; i++)
        if (c->entries[i].used && memcmp(c->entries[i].key, key, sizeof c->entries[i].key) == 0) {
            *out = c->entries[i].algorithm;
            found = 1;
        }
    pthread_mutex_unlock(&c->lock);
    return found;
}

static void cache_store(cj_auto_cache *c, const int64_t key[20], cj_algorithm a) {
    pthread_mutex_lock(&c->lock);
    cache_entry *e = &c->entries[c->next];
    c->next = (c->next + 1) % CACHE_SLOTS;
    memcpy(e->key, key, sizeof e->key);
    e->algorithm = a;
    e->used = 1;
    pthread_mutex_unlock(&c->lock);
}

/* Times every algorithm that supports the pass (best of two runs each, after the model's choice
 * has warmed the caches and the scratch) and returns the fastest. */
static cj_status measure(cj_context *ctx, const cj_conv_desc *d, cj_pass pass, const cj_pass_buffers *b,
                         const cj_algo **out) {
    static const cj_algorithm ids[] = {CJ_ALGO_IM2COL_GEMM, CJ_ALGO_IMPLICIT_GEMM, CJ_ALGO_WINOGRAD,
                                       CJ_ALGO_FFT, CJ_ALGO_DIRECT};
    const cj_algo *best = cj_auto_model(d, pass, ctx->num_threads);
    CJ_FORWARD(cj_algo_run(best, ctx, d, pass, b));
    double best_time = 1e300;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const cj_algo *a = usable(ids[i], d, pass);
        if (!a) continue;
        double t = 1e300;
        for (int rep = 0; rep < 2; rep++) {
            double dt;
            CJ_FORWARD(cj_algo_run_timed(a, ctx, d, pass, b, &dt));
            if (dt < t) t = dt;
        }
        if (t < best_time) {
            best_time = t;
            best = a;
        }
    }
    *out = best;
    return CJ_OK;
}

cj_status cj_auto_choose(cj_context *ctx, const cj_conv_desc *d, cj_pass pass, const cj_pass_buffers *bufs,
                         const cj_algo **out) {
    *out = cj_auto_model(d, pass, ctx->num_threads);
    if (!ctx->auto_cache) return CJ_OK;
    int64_t key[20];
    make_key(d, pass, ctx->num_threads, key);
    cj_algorithm cached;
    if (cache_find(ctx->auto_cache, key, &cached)) {
        *out = cj_algo_get(cached);
        return CJ_OK;
    }
    if (!bufs) return CJ_OK; /* a query: the model's answer until a call has measured */
    CJ_FORWARD(measure(ctx, d, pass, bufs, out));
    cache_store(ctx->auto_cache, key, (*out)->id);
    return CJ_OK;
}
