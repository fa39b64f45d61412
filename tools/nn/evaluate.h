/* Test accuracy and confusion matrix of a model on a split of Fashion-MNIST. */
#ifndef CJ_NN_EVALUATE_H
#define CJ_NN_EVALUATE_H
#include <stdint.h>

#include "nn/fashion.h"
#include "nn/model.h"

typedef struct nn_scores {
    uint64_t confusion[NN_CLASSES][NN_CLASSES];  /* [true class][predicted class] */
    uint64_t correct, total;
    double   loss;                               /* mean cross-entropy */
} nn_scores;

/* Runs the model over the whole split in batches of `batch` (at most the model's), normalised with
 * the model's mean and standard deviation; ties between logits go to the lower class. */
int nn_evaluate(nn_model *m, const nn_split *s, int batch, nn_scores *out, nn_error *err);

static inline double nn_accuracy_percent(const nn_scores *s)
{
    return s->total ? 100.0 * (double)s->correct / (double)s->total : 0.0;
}

#endif
