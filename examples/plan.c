/* An inference loop through a plan: the weights are prepared once (for a 3x3 layer AUTO picks
 * Winograd, whose transformed weights the plan holds), then every batch runs against them. Built
 * as build/example_plan; prints the algorithm, the plan's size and one output value per batch. */
#include <stdio.h>
#include <stdlib.h>

#include <conjure.h>

enum { C = 64, K = 64, H = 28, W = 28, BATCH = 4, BATCHES = 3 };

int main(void)
{
    float *w = malloc(sizeof(float) * K * C * 3 * 3), *b = malloc(sizeof(float) * K);
    float *in = malloc(sizeof(float) * BATCH * C * H * W), *out = malloc(sizeof(float) * BATCH * K * H * W);
    if (!w || !b || !in || !out)
        return 1;
    for (int i = 0; i < K * C * 9; i++)
        w[i] = (float)((i * 37) % 19 - 9) / 90.0f;
    for (int k = 0; k < K; k++)
        b[k] = 0.01f * (float)k;

    cj_tensor input = {CJ_F32, 4, {BATCH, C, H, W}, NULL}; /* for the plan, a shape: no data yet */
    cj_tensor weight = {CJ_F32, 4, {K, C, 3, 3}, w};
    cj_tensor bias = {CJ_F32, 1, {K}, b};
    cj_tensor output = {CJ_F32, 4, {BATCH, K, H, W}, out};
    cj_conv2d_params params = CJ_CONV2D_PARAMS_DEFAULT;
    params.padding.height = params.padding.width = 1;

    cj_conv2d_plan *plan;
    cj_status st = cj_conv2d_plan_create(NULL, &input, &weight, &bias, &params, &plan);
    if (st != CJ_OK) {
        fprintf(stderr, "cj_conv2d_plan_create: %s: %s\n", cj_status_string(st), cj_last_error());
        return 1;
    }
    free(w); /* the plan holds its own copy */
    free(b);
    printf("plan: %s, %zu bytes\n", cj_algorithm_name(cj_conv2d_plan_algorithm(plan)), cj_conv2d_plan_bytes(plan));

    input.data = in;
    for (int batch = 0; batch < BATCHES; batch++) {
        for (int i = 0; i < BATCH * C * H * W; i++)
            in[i] = (float)((i + batch) % 11 - 5) / 5.0f;
        st = cj_conv2d_plan_run(plan, &input, &output);
        if (st != CJ_OK) {
            fprintf(stderr, "cj_conv2d_plan_run: %s: %s\n", cj_status_string(st), cj_last_error());
            break;
        }
        printf("batch %d: out[0][0][14][14] = %.5f\n", batch, (double)out[14 * W + 14]);
    }
    cj_conv2d_plan_destroy(plan);
    free(in);
    free(out);
    return st == CJ_OK ? 0 : 1;
}
