#include "nn/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nn_curve_add(nn_curve *c, double x, double y)
{
    if (c->n == c->cap) {
        const size_t cap = c->cap ? 2 * c->cap : 256;
        double *nx = realloc(c->x, cap * sizeof *nx);
        if (!nx)
            return -1;
        c->x = nx;
        double *ny = realloc(c->y, cap * sizeof *ny);
        if (!ny)
            return -1;
        c->y = ny;
        c->cap = cap;
    }
    c->x[c->n] = x;
    c->y[c->n] = y;
    c->n++;
    return 0;
}

void nn_curve_free(nn_curve *c)
{
    free(c->x);
    free(c->y);
    memset(c, 0, sizeof *c);
}

/* The plot area inside the picture, in pixels. */
enum { W = 760, H = 440, LEFT = 70, RIGHT = 690, TOP = 50, BOTTOM = 380 };

typedef struct axis {
    double lo, hi;
} axis;

static double px(axis a, double v) { return LEFT + (v - a.lo) / (a.hi - a.lo) * (RIGHT - LEFT); }
static double py(axis a, double v) { return BOTTOM - (v - a.lo) / (a.hi - a.lo) * (BOTTOM - TOP); }

/* A step of 1, 2 or 5 times a power of ten giving about `ticks` intervals over span. */
static double nice_step(double span, int ticks)
{
    const double raw = span / ticks, p = pow(10.0, floor(log10(raw))), f = raw / p;
    return p * (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10);
}

static void polyline(FILE *f, const nn_curve *c, axis x, axis y, const char *color, int dots)
{
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" points=\"", color);
    for (size_t i = 0; i < c->n; i++)
        fprintf(f, "%.1f,%.1f ", px(x, c->x[i]), py(y, c->y[i]));
    fprintf(f, "\"/>\n");
    for (size_t i = 0; dots && i < c->n; i++)
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", px(x, c->x[i]), py(y, c->y[i]), color);
}

int nn_plot_svg(const char *path, const char *title, const nn_curve *loss, const nn_curve *accuracy,
                double x_max, nn_error *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return nn_fail(err, "%s: cannot create: %s", path, strerror(errno));
    static const char loss_color[] = "#1f77b4", acc_color[] = "#d62728";
    const axis xa = {0.0, x_max > 0 ? x_max : 1.0};
    double loss_max = 0.0, acc_min = 100.0;
    for (size_t i = 0; i < loss->n; i++)
        loss_max = loss->y[i] > loss_max ? loss->y[i] : loss_max;
    for (size_t i = 0; i < accuracy->n; i++)
        acc_min = accuracy->y[i] < acc_min ? accuracy->y[i] : acc_min;
    const double ls = nice_step(loss_max > 0 ? loss_max : 1.0, 5);
    const axis la = {0.0, ceil((loss_max > 0 ? loss_max : 1.0) / ls) * ls};
    const axis aa = {acc_min >= 100.0 ? 90.0 : floor(acc_min / 5.0) * 5.0, 100.0};
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H, W, H);
    fprintf(f, "<text x=\"%d\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n", W / 2, title);
    /* Grid and ticks: epochs below, loss left, accuracy right. */
    const double xs = nice_step(xa.hi, 8);
    for (double v = 0.0; v <= xa.hi + 1e-9; v += xs)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
                   "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                px(xa, v), TOP, px(xa, v), BOTTOM, px(xa, v), BOTTOM + 18, v);
    for (double v = la.lo; v <= la.hi + 1e-9; v += ls)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"%s\">%g</text>\n",
                LEFT, py(la, v), RIGHT, py(la, v), LEFT - 6, py(la, v) + 4, loss_color, v);
    const double as = nice_step(aa.hi - aa.lo, 5);
    for (double v = aa.lo; v <= aa.hi + 1e-9; v += as)
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" fill=\"%s\">%g%%</text>\n", RIGHT + 6, py(aa, v) + 4, acc_color, v);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", LEFT, TOP,
            RIGHT - LEFT, BOTTOM - TOP);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n", (LEFT + RIGHT) / 2, BOTTOM + 40);
    fprintf(f, "<text transform=\"translate(20,%d) rotate(-90)\" text-anchor=\"middle\" fill=\"%s\">"
               "training loss</text>\n", (TOP + BOTTOM) / 2, loss_color);
    fprintf(f, "<text transform=\"translate(%d,%d) rotate(90)\" text-anchor=\"middle\" fill=\"%s\">"
               "test accuracy</text>\n", W - 16, (TOP + BOTTOM) / 2, acc_color);
    polyline(f, loss, xa, la, loss_color, 0);
    polyline(f, accuracy, xa, aa, acc_color, 1);
    for (size_t i = 0; i < accuracy->n; i++)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"%s\">%.2f%%</text>\n",
                px(xa, accuracy->x[i]) - 6, py(aa, accuracy->y[i]) - 8, acc_color, accuracy->y[i]);
    fprintf(f, "</svg>\n");
    const int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return nn_fail(err, "%s: cannot write: %s", path, strerror(errno));
    return 0;
}
