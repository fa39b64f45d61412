/* A 3x3 convolution with padding 1 on a 1x3x5x5 input: two output channels with bias. */
#include <stdio.h>

#include <conjure.h>

int main(void)
{
    float in[1 * 3 * 5 * 5], w[2 * 3 * 3 * 3], b[2] = {0.5f, -0.5f}, out[1 * 2 * 5 * 5];
    for (int i = 0; i < 75; i++)
        in[i] = (float)(i % 7) - 3.0f;
    for (int i = 0; i < 54; i++)
        w[i] = (i % 2) ? 0.1f : -0.1f;

    cj_tensor input  = {CJ_F32, 4, {1, 3, 5, 5}, in};
    cj_tensor weight = {CJ_F32, 4, {2, 3, 3, 3}, w};
    cj_tensor bias   = {CJ_F32, 1, {2}, b};
    cj_tensor output = {CJ_F32, 4, {1, 2, 5, 5}, out};
    cj_conv2d_params params = CJ_CONV2D_PARAMS_DEFAULT;
    params.padding.height = params.padding.width = 1;

    /* NULL context: the process-wide default one (CONJURE_NUM_THREADS threads, else every core). */
    cj_status st = cj_conv2d(NULL, &input, &weight, &bias, &params, &output);
    if (st != CJ_OK) {
        fprintf(stderr, "cj_conv2d: %s: %s\n", cj_status_string(st), cj_last_error());
        return 1;
    }
    for (int k = 0; k < 2; k++) {
        printf("channel %d:\n", k);
        for (int y = 0; y < 5; y++) {
            for (int x = 0; x < 5; x++)
                printf(" %6.2f", out[(k * 5 + y) * 5 + x]);
            printf("\n");
        }
    }
    return 0;
}
