#include "nn/evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"

int nn_evaluate(nn_model *m, const nn_split *s, int batch, nn_scores *out, nn_error *err)
{
    memset(out, 0, sizeof *out);
    float mean, std;
    nn_model_get_norm(m, &mean, &std);
    float *x = malloc((size_t)batch * NN_FASHION_PIXELS * sizeof *x);
    uint8_t *labels = malloc((size_t)batch);
    uint32_t *index = malloc((size_t)batch * sizeof *index);
    int rc = 0;
    if (!x || !labels || !index)
        rc = nn_fail(err, "out of memory for a batch of %d test images", batch);
    double loss_sum = 0.0;
    for (size_t b0 = 0; rc == 0 && b0 < s->n; b0 += (size_t)batch) {
        const size_t n = s->n - b0 < (size_t)batch ? s->n - b0 : (size_t)batch;
        for (size_t i = 0; i < n; i++)
            index[i] = (uint32_t)(b0 + i);
        nn_split_gather(s, index, n, mean, std, x, labels);
        const float *logits;
        rc = nn_model_forward(m, x, (int)n, &logits, err);
        if (rc != 0)
            break;
        loss_sum += nn_softmax_xent(logits, labels, (int64_t)n, NN_CLASSES, NULL) * (double)n;
        for (size_t i = 0; i < n; i++) {
            const float *z = logits + i * NN_CLASSES;
            int best = 0;
            for (int c = 1; c < NN_CLASSES; c++)
                best = z[c] > z[best] ? c : best;
            out->confusion[labels[i]][best]++;
            out->correct += best == labels[i];
        }
        out->total += n;
    }
    out->loss = out->total ? loss_sum / (double)out->total : 0.0;
    free(x);
    free(labels);
    free(index);
    return rc;
}
