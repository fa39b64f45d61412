/* The training curves as an SVG picture: the running training loss (left axis) and the test
 * accuracy after each epoch (right axis), against epochs. */
#ifndef CJ_NN_PLOT_H
#define CJ_NN_PLOT_H
#include <stddef.h>

#include "nn/error.h"

/* A growing list of points. */
typedef struct nn_curve {
    size_t  n, cap;
    double *x, *y;
} nn_curve;
int nn_curve_add(nn_curve *c, double x, double y);
void nn_curve_free(nn_curve *c);

/* Writes the picture to path; accuracy in percent; x_max is the last epoch. */
int nn_plot_svg(const char *path, const char *title, const nn_curve *loss, const nn_curve *accuracy,
                double x_max, nn_error *err);

#endif
