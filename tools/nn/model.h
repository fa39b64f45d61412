/* The Fashion-MNIST network of `conjure train`, float32 NCHW:
 *
 *   conv 1->32 5x5 pad 2 -> ReLU -> max-pool 2 -> conv 32->64 5x5 pad 2 -> ReLU -> max-pool 2
 *   -> flatten (3136) -> linear 3136->128 -> ReLU -> linear 128->10 -> softmax cross-entropy
 *
 * Both convolutions, forward and backward, run through conjure's public API on the model's
 * context; the other layers are nn/layers.h. */
#ifndef CJ_NN_MODEL_H
#define CJ_NN_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "conjure.h"
#include "nn/error.h"

#define NN_INPUT_SIDE 28
#define NN_CLASSES    10

/* Where the time of a training step goes (wall seconds, summed over steps). */
typedef enum nn_phase {
    NN_PHASE_CONV1_FWD,
    NN_PHASE_CONV1_BWD_WEIGHTS,   /* grad_weight + grad_bias (its input is the data: no grad_input) */
    NN_PHASE_CONV2_FWD,
    NN_PHASE_CONV2_BWD_DATA,
    NN_PHASE_CONV2_BWD_WEIGHTS,
    NN_PHASE_OTHER,               /* pooling, ReLU, linear layers, loss, SGD */
    NN_NUM_PHASES
} nn_phase;
extern const char *const nn_phase_names[NN_NUM_PHASES];

/* One learnable tensor, PyTorch's name and shape (conv1.weight [32, 1, 5, 5], ...). */
typedef struct nn_param {
    const char *name;
    int         ndim;
    int64_t     shape[4];
    size_t      count;
    int64_t     fan_in;    /* of its layer: the initialisation's scale */
    float      *value, *grad, *velocity;
} nn_param;
#define NN_NUM_PARAMS 8

typedef struct nn_model nn_model;

/* A model for batches of up to max_batch images, running on ctx (NULL: the default context) with
 * algo for every convolution pass. The parameters are zero until nn_model_init or a load. */
int nn_model_create(cj_context *ctx, cj_algorithm algo, int max_batch, nn_model **out, nn_error *err);
void nn_model_destroy(nn_model *m);

/* PyTorch's default initialisation: weights Kaiming-uniform with a = sqrt(5) and biases alike,
 * both U(-1/sqrt(fan_in), 1/sqrt(fan_in)); momentum buffers zero. */
void nn_model_init(nn_model *m, uint64_t seed);

nn_param *nn_model_params(nn_model *m);

/* The normalisation of the input the model was trained with: x = (pixel / 255 - mean) / std. */
void nn_model_set_norm(nn_model *m, float mean, float std);
void nn_model_get_norm(const nn_model *m, float *mean, float *std);

/* Logits [batch x 10] of x [batch x 1 x 28 x 28]; *logits points into the model (valid until the
 * next call). */
int nn_model_forward(nn_model *m, const float *x, int batch, const float **logits, nn_error *err);

/* Fills every parameter's grad with the gradient of the mean loss over the batch, and *loss. */
int nn_model_backprop(nn_model *m, const float *x, const uint8_t *labels, int batch, double *loss,
                      nn_error *err);

/* One step of SGD with momentum on the batch: backprop, then the update. */
int nn_model_train_step(nn_model *m, const float *x, const uint8_t *labels, int batch, float lr,
                        float momentum, double *loss, nn_error *err);

/* The time spent per phase in nn_model_train_step since the model was created. */
void nn_model_phase_times(const nn_model *m, double seconds[NN_NUM_PHASES]);

/* The weights file (format: nn/weights.c and the README): the normalisation and every parameter. */
int nn_model_save(nn_model *m, const char *path, nn_error *err);
int nn_model_load(nn_model *m, const char *path, nn_error *err);

#endif
