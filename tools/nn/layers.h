/* The layers of the network other than the convolutions (those are conjure's cj_conv2d and
 * cj_conv2d_backward): ReLU, 2x2 max-pooling, fully connected, softmax cross-entropy, and the SGD
 * update. float32, batch-major (NCHW for images, [batch, features] once flattened); every backward
 * function writes its whole gradient (nothing needs zeroing first). */
#ifndef CJ_NN_LAYERS_H
#define CJ_NN_LAYERS_H
#include <stddef.h>
#include <stdint.h>

#include "nn/matmul.h"

/* x = max(x, 0), in place. The element-wise layers run on ctx's threads (NULL: the default
 * context), with the same results for every thread count. */
void nn_relu_forward(cj_context *ctx, float *x, size_t n);
/* g *= (y > 0), where y is the ReLU's output. */
void nn_relu_backward(cj_context *ctx, const float *y, float *g, size_t n);

/* y[p, i, j] = max of x[p, 2i..2i+1, 2j..2j+1] over planes p in [0, planes), as PyTorch's
 * max_pool2d(2): the output is floor(h/2) x floor(w/2), a last odd row or column is dropped, and a
 * tie goes to the first element in row order. arg[p, i, j] records the winner's offset in its
 * plane (h * w < 2^32). With relu, y = max(y, 0) too: ReLU then pool equals pool then ReLU (both
 * are monotonic), and the latter touches a quarter of the data. */
void nn_maxpool2_forward(cj_context *ctx, const float *x, int64_t planes, int64_t h, int64_t w, int relu,
                         float *y, uint32_t *arg);
/* gx (planes x h x w) = gy routed to the winners, 0 elsewhere; relu_out: the forward's y when it
 * applied the ReLU (gy passes where y > 0), else NULL. */
void nn_maxpool2_backward(cj_context *ctx, const float *gy, const float *relu_out, const uint32_t *arg,
                          int64_t planes, int64_t h, int64_t w, float *gx);

/* y[b, o] = sum_i x[b, i] * w[o, i] + bias[o]: x [batch x in], w [out x in] (PyTorch's layout). */
int nn_linear_forward(cj_context *ctx, nn_workspace *ws, const float *x, const float *w, const float *bias,
                      int64_t batch, int64_t in, int64_t out, float *y, nn_error *err);
/* The gradients of a linear layer given gy [batch x out]: gx [batch x in] (NULL: not computed),
 * gw [out x in], gbias [out]. */
int nn_linear_backward(cj_context *ctx, nn_workspace *ws, const float *x, const float *w, const float *gy,
                       int64_t batch, int64_t in, int64_t out, float *gx, float *gw, float *gbias,
                       nn_error *err);

/* The mean over the batch of -log softmax(logits[b])[labels[b]]; logits [batch x classes]. With
 * grad non-NULL also its gradient with respect to the logits, (softmax - onehot) / batch. */
double nn_softmax_xent(const float *logits, const uint8_t *labels, int64_t batch, int64_t classes, float *grad);

/* SGD with momentum as PyTorch's (no dampening, no weight decay): v = momentum * v + g; w -= lr * v,
 * v starting at zero; over several tensors in one parallel pass. */
typedef struct nn_sgd_tensor {
    float       *w, *v;
    const float *g;
    size_t       n;
} nn_sgd_tensor;
void nn_sgd_step(cj_context *ctx, const nn_sgd_tensor *tensors, int count, float lr, float momentum);

#endif
