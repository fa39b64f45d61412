/* The benchmark's suite of layers: a tab-separated file, one convolution a line
 * (name N C H W K kh kw pad_h pad_w stride_h stride_w dil groups [note]), '#' starts a comment line. */
#ifndef CJ_TOOLS_LAYERS_H
#define CJ_TOOLS_LAYERS_H
#include <stddef.h>
#include <stdint.h>

typedef struct bench_layer {
    char    name[64];
    int64_t n, c, h, w;          /* input [N, C, H, W] */
    int64_t k, kh, kw;           /* weight [K, C/groups, kh, kw] */
    int64_t pad_h, pad_w, stride_h, stride_w, dil, groups;
    int64_t out_h, out_w;        /* derived */
    char    note[128];
} bench_layer;

/* Reads and validates every layer of the file at path into a malloc'ed array (*out, *count).
 * On failure prints "path:line: what is wrong" to stderr and returns -1. */
int bench_layers_read(const char *path, bench_layer **out, size_t *count);

/* Multiply-adds times two of one pass of the layer: 2*N*K*(C/groups)*kh*kw*out_h*out_w. */
double bench_layer_flops(const bench_layer *l);

/* Elements of the layer's input [N,C,H,W], weight [K,C/groups,kh,kw] and output [N,K,out_h,out_w]. */
size_t bench_elems_input(const bench_layer *l);
size_t bench_elems_weight(const bench_layer *l);
size_t bench_elems_output(const bench_layer *l);

#endif
