/* Matrix products for the fully connected layers, float32, on conjure's GEMM engine (an internal
 * interface: src/gemm/gemm.h) and a conjure context's threads. */
#ifndef CJ_NN_MATMUL_H
#define CJ_NN_MATMUL_H
#include <stddef.h>
#include <stdint.h>

#include "conjure.h"
#include "nn/error.h"

/* Memory the products reuse from call to call; it grows to the largest call's need. */
typedef struct nn_workspace {
    void  *ptr;
    size_t bytes;
} nn_workspace;
void nn_workspace_free(nn_workspace *ws);

/* A strided view of a float matrix: element (i, j) at data[i*rs + j*cs]. Transposing is swapping
 * rs and cs. */
typedef struct nn_view {
    const float *data;
    int64_t      rs, cs;
} nn_view;

static inline nn_view nn_rows(const float *data, int64_t ld) { return (nn_view){data, ld, 1}; }
static inline nn_view nn_cols(const float *data, int64_t ld) { return (nn_view){data, 1, ld}; }

/* C[m x n] = A[m x k] * B[k x n] (+ C when accumulate); C row-major with leading dimension ldc.
 * The columns of C are split statically between ctx's threads (NULL: the default context), so
 * results are the same for every thread count. */
int nn_matmul(cj_context *ctx, nn_workspace *ws, int64_t m, int64_t n, int64_t k, nn_view a, nn_view b,
              float *c, int64_t ldc, int accumulate, nn_error *err);

#endif
