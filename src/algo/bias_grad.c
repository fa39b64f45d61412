/* grad_bias[k] = sum of grad_out[n, k, :, :]: a reduction over batch and pixels per channel,
 * split between threads by channel (no shared accumulators, bit-reproducible). f32 sums are
 * carried in double, which costs nothing on this memory-bound loop and keeps the error far
 * below the contract. */
#include "algo/algo.h"
#include "util/memory.h"

typedef struct {
    const cj_conv_desc *d;
    const void *grad_out;
    void *grad_bias;
    int64_t parts;
} bias_job;

static void sum_into(double acc[8], const double *g, int64_t count) {
    int64_t p = 0;
    for (; p + 8 <= count; p += 8)
        for (int j = 0; j < 8; j++) acc[j] += g[p + j];
    for (; p < count; p++) acc[p % 8] += g[p];
}

/* f32: blocks of 128 values are summed in f32 by 32 independent partial sums, folded to 8, each
 * lane's 16 terms then carried into the double sums (error per block at most about 16 units of
 * f32 rounding times the sum of |terms|, 1e-6 of it, against the contract's 1e-5). Converting and
 * adding every value in double ran at 3 cycles per 8 values on one chain of dependent adds per
 * lane: a quarter of mobilenet.dw3x3's grad_weight time on Zen 3. */
enum { F32_BLOCK = 128, F32_SUMS = 32 };

static void sum_into_f32(double acc[8], const float *g, int64_t count) {
    int64_t p = 0;
    for (; p + F32_BLOCK <= count; p += F32_BLOCK) {
        float s[F32_SUMS];
        for (int j = 0; j < F32_SUMS; j++) s[j] = g[p + j];
        for (int i = F32_SUMS; i < F32_BLOCK; i += F32_SUMS)
            for (int j = 0; j < F32_SUMS; j++) s[j] += g[p + i + j];
        for (int j = 0; j < 8; j++) acc[j] += (double)((s[j] + s[j + 8]) + (s[j + 16] + s[j + 24]));
    }
    for (; p < count; p++) acc[p % 8] += (double)g[p];
}

static void bias_task(void *arg, size_t part) {
    const bias_job *job = arg;
    const cj_conv_desc *d = job->d;
    const int64_t plane = d->h_out * d->w_out;
    int64_t k0, k1;
    cj_split_range(d->c_out, job->parts, (int64_t)part, &k0, &k1);
    for (int64_t k = k0; k < k1; k++) {
        /* Eight independent partial sums: the adds pipeline (and vectorise) instead of waiting on
         * one chain; the fixed order keeps the result bit-reproducible. */
        double acc[8] = {0};
        for (int64_t n = 0; n < d->n; n++) {
            const int64_t base = (n * d->c_out + k) * plane;
            /* The planes are strided (C_out planes apart) and often a few KiB: ask for the next
             * one's lines now, or each plane's reads would wait on memory in turn. */
            int64_t next = -1;
            if (n + 1 < d->n) next = base + d->c_out * plane; /* this channel, the next image */
            else if (k + 1 < k1) next = (k + 1) * plane;      /* the next channel, image 0 */
            if (next >= 0)
                cj_prefetch_range((const char *)job->grad_out + (size_t)next * d->elem, (size_t)plane * d->elem);
            if (d->dtype == CJ_F64) sum_into(acc, (const double *)job->grad_out + base, plane);
            else sum_into_f32(acc, (const float *)job->grad_out + base, plane);
        }
        const double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        if (d->dtype == CJ_F64) ((double *)job->grad_bias)[k] = sum;
        else ((float *)job->grad_bias)[k] = (float)sum;
    }
}

void cj_bias_grad(cj_context *ctx, const cj_conv_desc *d, const void *grad_out, void *grad_bias) {
    bias_job job = {d, grad_out, grad_bias, ctx->num_threads < d->c_out ? ctx->num_threads : d->c_out};
    cj_parallel_for(ctx, (size_t)job.parts, bias_task, &job);
}
