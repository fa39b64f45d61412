/* cj_fix_few_terms (see few_terms.h).
 *
 * An element's term count is (terms per tap) x (taps along rows) x (taps along columns): the
 * channels of its group (forward: C_in/g, grad_input: C_out/g) or the batch (grad_weight) times
 * the rows and columns of its window that meet the other operand. Each axis is counted on its own,
 * so the scan skips whole rows whose count is already too large. */
#include "algo/few_terms.h"

#include "util/checked.h"

typedef struct {
    int64_t k, stride, pad, dil;
    int64_t in, out;   /* input and output extents along the axis */
} axis;

/* Taps of the result's position pos along one axis that have a term. */
static int64_t axis_taps(const axis *x, cj_pass pass, int64_t pos) {
    int64_t count = 0;
    if (pass == CJ_PASS_FORWARD) {          /* pos: an output index; taps i with an input pixel */
        for (int64_t i = 0; i < x->k; i++) {
            const int64_t at = pos * x->stride - x->pad + i * x->dil;
            count += at >= 0 && at < x->in;
        }
    } else if (pass == CJ_PASS_BACKWARD_DATA) { /* pos: an input index; taps i reached by an output */
        for (int64_t i = 0; i < x->k; i++) {
            const int64_t t = pos + x->pad - i * x->dil;
            count += t >= 0 && t % x->stride == 0 && t / x->stride < x->out;
        }
    } else {                                /* pos: a tap; outputs whose input pixel exists */
        int64_t lo, hi;
        const int64_t first = x->pad - pos * x->dil; /* output o reads input o * stride - first */
        lo = first <= 0 ? 0 : cj_div_up(first, x->stride);
        hi = x->in - 1 + first < 0 ? -1 : (x->in - 1 + first) / x->stride;
        hi = cj_min64(hi, x->out - 1);
        count = hi >= lo ? hi - lo + 1 : 0;
    }
    return count;
}

typedef struct {
    const cj_conv_desc *d;
    cj_pass pass;
    axis ax_h, ax_w;
    int64_t max_terms, per_tap;
    const char *a, *b, *bias;
    char *dst;
    int64_t planes, rows, cols, min_col_taps, slots;
} fix_job;

/* One element, accumulated in double: at most max_terms products, so the only rounding that
 * matters is the final one. */
#define DEFINE_ELEMENT(T, sfx)                                                                      \
    static void element_##sfx(const fix_job *j, int64_t plane, int64_t y, int64_t x) {             \
        const cj_conv_desc *d = j->d;                                                              \
        const T *a = (const T *)j->a, *b = (const T *)j->b;                                        \
        double acc = 0;                                                                            \
        if (j->pass == CJ_PASS_FORWARD) {                                                          \
            const int64_t n = plane / d->c_out, ko = plane % d->c_out, g = ko / d->cout_g;         \
            if (j->bias) acc = ((const T *)j->bias)[ko];                                           \
            for (int64_t c = 0; c < d->cin_g; c++)                                                 \
                for (int64_t i = 0; i < d->kh; i++) {                                              \
                    const int64_t iy = y * d->stride_h - d->pad_h + i * d->dil_h;                  \
                    if (iy < 0 || iy >= d->h_in) continue;                                         \
                    for (int64_t jj = 0; jj < d->kw; jj++) {                                       \
                        const int64_t ix = x * d->stride_w - d->pad_w + jj * d->dil_w;             \
                        if (ix < 0 || ix >= d->w_in) continue;                                     \
                        acc += (double)a[((n * d->c_in + g * d->cin_g + c) * d->h_in + iy) * d->w_in + ix] * \
                               (double)b[((ko * d->cin_g + c) * d->kh + i) * d->kw + jj];          \
                    }                                                                              \
                }                                                                                  \
        } else if (j->pass == CJ_PASS_BACKWARD_DATA) {                                             \
            const int64_t n = plane / d->c_in, ci = plane % d->c_in, g = ci / d->cin_g, c = ci % d->cin_g; \
            for (int64_t k = 0; k < d->cout_g; k++) {                                              \
                const int64_t ko = g * d->cout_g + k;                                              \
                for (int64_t i = 0; i < d->kh; i++) {                                              \
                    const int64_t ty = y + d->pad_h - i * d->dil_h;                                \
                    if (ty < 0 || ty % d->stride_h || ty / d->stride_h >= d->h_out) continue;      \
                    for (int64_t jj = 0; jj < d->kw; jj++) {                                       \
                        const int64_t tx = x + d->pad_w - jj * d->dil_w;                           \
                        if (tx < 0 || tx % d->stride_w || tx / d->stride_w >= d->w_out) continue;  \
                        acc += (double)a[((n * d->c_out + ko) * d->h_out + ty / d->stride_h) * d->w_out + \
                                         tx / d->stride_w] *                                       \
                               (double)b[((ko * d->cin_g + c) * d->kh + i) * d->kw + jj];          \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        } else { /* plane = (ko, c), (y, x) = the tap */                                           \
            const int64_t ko = plane / d->cin_g, c = plane % d->cin_g, ci = ko / d->cout_g * d->cin_g + c; \
            for (int64_t n = 0; n < d->n; n++)                                                     \
                for (int64_t oy = 0; oy < d->h_out; oy++) {                                        \
                    const int64_t iy = oy * d->stride_h - d->pad_h + y * d->dil_h;                 \
                    if (iy < 0 || iy >= d->h_in) continue;                                         \
                    for (int64_t ox = 0; ox < d->w_out; ox++) {                                    \
                        const int64_t ix = ox * d->stride_w - d->pad_w + x * d->dil_w;             \
                        if (ix < 0 || ix >= d->w_in) continue;                                     \
                        acc += (double)a[((n * d->c_in + ci) * d->h_in + iy) * d->w_in + ix] *     \
                               (double)b[((n * d->c_out + ko) * d->h_out + oy) * d->w_out + ox];   \
                    }                                                                              \
                }                                                                                  \
        }                                                                                          \
        ((T *)j->dst)[(plane * j->rows + y) * j->cols + x] = (T)acc;                               \
    }
DEFINE_ELEMENT(float, f32)
DEFINE_ELEMENT(double, f64)

static int64_t min_taps(const axis *x, cj_pass pass, int64_t extent) {
    int64_t least = INT64_MAX;
    for (int64_t pos = 0; pos < extent; pos++) least = cj_min64(least, axis_taps(x, pass, pos));
    return least;
}

/* Positions outer, planes inner: each position's tap count is worked out once per slot. */
static void fix_task(void *arg, size_t slot) {
    const fix_job *j = arg;
    int64_t p0, p1;
    cj_split_range(j->planes, j->slots, (int64_t)slot, &p0, &p1);
    for (int64_t y = 0; y < j->rows; y++) {
        const int64_t row_terms = j->per_tap * axis_taps(&j->ax_h, j->pass, y);
        if (row_terms * j->min_col_taps > j->max_terms) continue;
        for (int64_t x = 0; x < j->cols; x++) {
            if (row_terms * axis_taps(&j->ax_w, j->pass, x) > j->max_terms) continue;
            for (int64_t p = p0; p < p1; p++) {
                if (j->d->dtype == CJ_F64) element_f64(j, p, y, x);
                else element_f32(j, p, y, x);
            }
        }
    }
}

void cj_fix_few_terms(cj_context *ctx, const cj_conv_desc *d, cj_pass pass, int64_t max_terms, const void *a,
                      const void *b, const void *bias, void *dst) {
    fix_job j = {.d = d, .pass = pass, .max_terms = max_terms, .a = a, .b = b, .bias = bias, .dst = dst};
    j.ax_h = (axis){d->kh, d->stride_h, d->pad_h, d->dil_h, d->h_in, d->h_out};
    j.ax_w = (axis){d->kw, d->stride_w, d->pad_w, d->dil_w, d->w_in, d->w_out};
    if (pass == CJ_PASS_FORWARD) {
        j.per_tap = d->cin_g;
        j.planes = d->n * d->c_out, j.rows = d->h_out, j.cols = d->w_out;
    } else if (pass == CJ_PASS_BACKWARD_DATA) {
        j.per_tap = d->cout_g;
        j.planes = d->n * d->c_in, j.rows = d->h_in, j.cols = d->w_in;
    } else {
        j.per_tap = d->n;
        j.planes = d->c_out * d->cin_g, j.rows = d->kh, j.cols = d->kw;
    }
    if (j.planes == 0) return;
    j.min_col_taps = min_taps(&j.ax_w, pass, j.cols);
    /* Most layers have no such element: one look at the smallest counts says so. */
    if (j.per_tap * min_taps(&j.ax_h, pass, j.rows) * j.min_col_taps > max_terms) return;
    j.slots = cj_min64(ctx->num_threads, j.planes);
    cj_parallel_for(ctx, (size_t)j.slots, fix_task, &j);
}
