/* The public entry points: validate everything, then dispatch to an algorithm. Nothing is written
 * before every argument has been checked and the algorithm has accepted the configuration. */
#include <string.h>

#include "algo/algo.h"
#include "algo/auto.h"
#include "api/context.h"
#include "api/dispatch.h"
#include "api/validate.h"
#include "util/error.h"

const cj_conv2d_params cj_default_params = CJ_CONV2D_PARAMS_DEFAULT;

static const char *pass_name(cj_pass pass) {
    switch (pass) {
    case CJ_PASS_FORWARD: return "forward";
    case CJ_PASS_BACKWARD_DATA: return "grad_input";
    case CJ_PASS_BACKWARD_WEIGHTS: return "grad_weight";
    }
    return "?";
}

cj_status cj_check_explicit(const char *fn, cj_algorithm requested, const cj_conv_desc *d, cj_pass pass) {
    if (requested == CJ_ALGO_AUTO) return CJ_OK;
    const cj_algo *a = cj_algo_get(requested);
    CJ_FAIL_IF(!a, CJ_ERR_UNSUPPORTED, "%s: algorithm %s is not available in this build", fn,
               cj_algorithm_name(requested));
    const char *why = a->unsupported(d, pass);
    CJ_FAIL_IF(why, CJ_ERR_UNSUPPORTED, "%s: %s cannot do this %s pass: %s", fn, cj_algorithm_name(requested),
               pass_name(pass), why);
    return CJ_OK;
}

cj_status cj_resolve_algorithm(cj_context *ctx, cj_algorithm requested, const cj_conv_desc *d, cj_pass pass,
                               const cj_pass_buffers *bufs, const cj_algo **out) {
    if (requested != CJ_ALGO_AUTO) {
        *out = cj_algo_get(requested);
        return CJ_OK;
    }
    return cj_auto_choose(ctx, d, pass, bufs, out);
}

cj_status cj_conv2d_output_shape(const cj_tensor *input, const cj_tensor *weight,
                                 const cj_conv2d_params *params, int64_t out_shape[4]) {
    cj_clear_error();
    CJ_FAIL_IF(!out_shape, CJ_ERR_INVALID_ARGUMENT, "cj_conv2d_output_shape: out_shape is NULL");
    cj_conv_desc d;
    CJ_FORWARD(cj_validate_conv("cj_conv2d_output_shape", input, weight, params, &d));
    out_shape[0] = d.n;
    out_shape[1] = d.c_out;
    out_shape[2] = d.h_out;
    out_shape[3] = d.w_out;
    return CJ_OK;
}

cj_status cj_conv2d(cj_context *ctx, const cj_tensor *input, const cj_tensor *weight, const cj_tensor *bias,
                    const cj_conv2d_params *params, cj_tensor *output) {
    static const char fn[] = "cj_conv2d";
    cj_clear_error();
    const cj_conv2d_params *p = params ? params : &cj_default_params;
    cj_conv_desc d;
    int has_bias;
    CJ_FORWARD(cj_validate_conv(fn, input, weight, p, &d));
    CJ_FORWARD(cj_validate_bias(fn, "bias", bias, &d, &has_bias));
    CJ_FORWARD(cj_validate_exact(fn, "output", output, &d, d.n, d.c_out, d.h_out, d.w_out));
    CJ_FORWARD(cj_validate_no_overlap(fn, "output", output, "input", input));
    CJ_FORWARD(cj_validate_no_overlap(fn, "output", output, "weight", weight));
    CJ_FORWARD(cj_validate_no_overlap(fn, "output", output, "bias", has_bias ? bias : NULL));
    CJ_FORWARD(cj_check_explicit(fn, p->algorithm, &d, CJ_PASS_FORWARD));
    cj_context *c = cj_context_resolve(ctx);
    if (!c) return CJ_ERR_OUT_OF_MEMORY;
    if (d.n == 0) return CJ_OK; /* an empty output */
    const cj_pass_buffers bufs = {.in = input->data, .w = weight->data, .bias = has_bias ? bias->data : NULL,
                                  .out = output->data};
    const cj_algo *algo;
    CJ_FORWARD(cj_resolve_algorithm(c, p->algorithm, &d, CJ_PASS_FORWARD, &bufs, &algo));
    return cj_algo_run(algo, c, &d, CJ_PASS_FORWARD, &bufs);
}

cj_status cj_conv2d_backward(cj_context *ctx, const cj_tensor *input, const cj_tensor *weight,
                             const cj_tensor *bias, const cj_conv2d_params *params,
                             const cj_tensor *grad_output, cj_tensor *grad_input, cj_tensor *grad_weight,
                             cj_tensor *grad_bias) {
    static const char fn[] = "cj_conv2d_backward";
    cj_clear_error();
    const cj_conv2d_params *p = params ? params : &cj_default_params;
    cj_conv_desc d;
    int has_bias, bias_shaped;
    CJ_FORWARD(cj_validate_conv(fn, input, weight, p, &d));
    CJ_FORWARD(cj_validate_bias(fn, "bias", bias, &d, &has_bias));
    CJ_FORWARD(cj_validate_exact(fn, "grad_output", grad_output, &d, d.n, d.c_out, d.h_out, d.w_out));
    if (grad_input)
        CJ_FORWARD(cj_validate_exact(fn, "grad_input", grad_input, &d, d.n, d.c_in, d.h_in, d.w_in));
    if (grad_weight)
        CJ_FORWARD(cj_validate_exact(fn, "grad_weight", grad_weight, &d, d.c_out, d.cin_g, d.kh, d.kw));
    if (grad_bias) {
        CJ_FORWARD(cj_validate_bias(fn, "grad_bias", grad_bias, &d, &bias_shaped));
        CJ_FAIL_IF(!bias_shaped, CJ_ERR_INVALID_ARGUMENT, "%s: grad_bias is empty, must be [%lld] or [%lld, 1, 1]",
                   fn, (long long)d.c_out, (long long)d.c_out);
    }
    /* Every output against every input and against the other outputs. */
    const cj_tensor *ins[] = {input, weight, has_bias ? bias : NULL, grad_output};
    const char *in_names[] = {"input", "weight", "bias", "grad_output"};
    cj_tensor *outs[] = {grad_input, grad_weight, grad_bias};
    const char *out_names[] = {"grad_input", "grad_weight", "grad_bias"};
    for (int o = 0; o < 3; o++) {
        for (int i = 0; i < 4; i++) CJ_FORWARD(cj_validate_no_overlap(fn, out_names[o], outs[o], in_names[i], ins[i]));
        for (int o2 = o + 1; o2 < 3; o2++)
            CJ_FORWARD(cj_validate_no_overlap(fn, out_names[o], outs[o], out_names[o2], outs[o2]));
    }
    if (grad_input) CJ_FORWARD(cj_check_explicit(fn, p->algorithm, &d, CJ_PASS_BACKWARD_DATA));
    if (grad_weight) CJ_FORWARD(cj_check_explicit(fn, p->algorithm, &d, CJ_PASS_BACKWARD_WEIGHTS));
    cj_context *c = cj_context_resolve(ctx);
    if (!c) return CJ_ERR_OUT_OF_MEMORY;
    if (d.n == 0) { /* sums over an empty batch */
        if (grad_weight) memset(grad_weight->data, 0, cj_tensor_bytes(grad_weight));
        if (grad_bias) memset(grad_bias->data, 0, cj_tensor_bytes(grad_bias));
        return CJ_OK;
    }
    if (grad_input) {
        const cj_pass_buffers bufs = {.grad_out = grad_output->data, .w = weight->data, .out = grad_input->data};
        const cj_algo *algo;
        CJ_FORWARD(cj_resolve_algorithm(c, p->algorithm, &d, CJ_PASS_BACKWARD_DATA, &bufs, &algo));
        CJ_FORWARD(cj_algo_run(algo, c, &d, CJ_PASS_BACKWARD_DATA, &bufs));
    }
    if (grad_weight) {
        const cj_pass_buffers bufs = {.in = input->data, .grad_out = grad_output->data, .out = grad_weight->data,
                                      .grad_bias = grad_bias ? grad_bias->data : NULL};
        const cj_algo *algo;
        CJ_FORWARD(cj_resolve_algorithm(c, p->algorithm, &d, CJ_PASS_BACKWARD_WEIGHTS, &bufs, &algo));
        CJ_FORWARD(cj_algo_run(algo, c, &d, CJ_PASS_BACKWARD_WEIGHTS, &bufs));
    } else if (grad_bias) {
        cj_bias_grad(c, &d, grad_output->data, grad_bias->data); /* else cj_algo_run wrote it with grad_weight */
    }
    return CJ_OK;
}

cj_status cj_conv2d_query_algorithm(cj_context *ctx, const cj_tensor *input, const cj_tensor *weight,
                                    const cj_conv2d_params *params, cj_conv2d_pass pass, cj_algorithm *algorithm) {
    static const char fn[] = "cj_conv2d_query_algorithm";
    cj_clear_error();
    CJ_FAIL_IF(!algorithm, CJ_ERR_INVALID_ARGUMENT, "%s: algorithm is NULL", fn);
    CJ_FAIL_IF((int)pass < 0 || (int)pass > 2, CJ_ERR_INVALID_ARGUMENT, "%s: unknown pass %d", fn, (int)pass);
    const cj_conv2d_params *p = params ? params : &cj_default_params;
    const cj_pass internal = pass == CJ_CONV2D_FORWARD         ? CJ_PASS_FORWARD
                             : pass == CJ_CONV2D_BACKWARD_DATA ? CJ_PASS_BACKWARD_DATA
                                                               : CJ_PASS_BACKWARD_WEIGHTS;
    cj_conv_desc d;
    CJ_FORWARD(cj_validate_conv(fn, input, weight, p, &d));
    CJ_FORWARD(cj_check_explicit(fn, p->algorithm, &d, internal));
    cj_context *c = cj_context_resolve(ctx);
    if (!c) return CJ_ERR_OUT_OF_MEMORY;
    const cj_algo *a;
    CJ_FORWARD(cj_resolve_algorithm(c, p->algorithm, &d, internal, NULL, &a));
    *algorithm = a->id;
    return CJ_OK;
}
