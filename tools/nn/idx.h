/* The IDX format of (Fashion-)MNIST, read through zlib so that gzip-compressed and plain files both
 * work. An IDX file is: two zero bytes, an element-type byte (0x08: unsigned byte, the only type
 * read here), a dimension count, that many big-endian uint32 extents, then the elements. */
#ifndef CJ_NN_IDX_H
#define CJ_NN_IDX_H
#include <stddef.h>
#include <stdint.h>

#include "nn/error.h"

#define NN_IDX_MAX_DIMS 4

typedef struct nn_idx {
    int       ndim;
    uint32_t  dims[NN_IDX_MAX_DIMS];
    size_t    count;   /* product of dims */
    uint8_t  *data;    /* count bytes, malloc'd; nn_idx_free releases it */
} nn_idx;

/* Reads the whole file. Fails, naming the file and what was wrong, when it is missing, not an IDX
 * file of unsigned bytes, corrupt (bad gzip data or checksum) or truncated, or has bytes past the
 * data its header announces. */
int nn_idx_read(const char *path, nn_idx *out, nn_error *err);
void nn_idx_free(nn_idx *idx);

#endif
