/* Plans (conjure.h): one forward convolution prepared once and run many times. A plan is one
 * allocation, read-only once made: the descriptor of the creation's shape, the algorithm, a copy
 * of the weight and bias, and the weights in the form the algorithm computes with when it has one
 * (cj_algo's prepare hooks: Winograd's transformed weights, the GEMM drivers' packed panels).
 * Runs validate like cj_conv2d and then call the algorithm with the plan's buffers. */
#include <string.h>

#include "algo/algo.h"
#include "api/context.h"
#include "api/dispatch.h"
#include "api/validate.h"
#include "util/error.h"
#include "util/memory.h"

struct cj_conv2d_plan {
    cj_context      *ctx;       /* the context it was made on (the default one resolved) */
    const cj_algo   *algo;
    cj_conv2d_params params;    /* as given, with the algorithm resolved */
    cj_conv_desc     desc;      /* of the creation's input shape; a run replaces n */
    cj_tensor        weight;    /* the plan's copy */
    const void      *bias;      /* the plan's copy, or NULL: no bias */
    const void      *prepared;  /* algo->prepare's form of the weights, or NULL */
    size_t           bytes;     /* of the allocation holding all of it */
};

static size_t align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

cj_status cj_conv2d_plan_create(cj_context *ctx, const cj_tensor *input, const cj_tensor *weight,
                                const cj_tensor *bias, const cj_conv2d_params *params, cj_conv2d_plan **out) {
    static const char fn[] = "cj_conv2d_plan_create";
    cj_clear_error();
    CJ_FAIL_IF(!out, CJ_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    *out = NULL;
    CJ_FAIL_IF(!input, CJ_ERR_INVALID_ARGUMENT, "%s: input is NULL", fn);
    const cj_conv2d_params *p = params ? params : &cj_default_params;
    /* input is a shape: validate it as a tensor whose data is there, whatever its data is. */
    static char shape_only_data;
    cj_tensor shape_only = *input;
    shape_only.data = &shape_only_data;
    cj_conv_desc d;
    int has_bias;
    CJ_FORWARD(cj_validate_conv(fn, &shape_only, weight, p, &d));
    CJ_FORWARD(cj_validate_bias(fn, "bias", bias, &d, &has_bias));
    CJ_FORWARD(cj_check_explicit(fn, p->algorithm, &d, CJ_PASS_FORWARD));
    cj_context *c = cj_context_resolve(ctx);
    if (!c) return CJ_ERR_OUT_OF_MEMORY;
    const cj_algo *algo;
    CJ_FORWARD(cj_resolve_algorithm(c, p->algorithm, &d, CJ_PASS_FORWARD, NULL, &algo));

    const size_t weight_bytes = cj_tensor_bytes(weight), bias_bytes = has_bias ? cj_tensor_bytes(bias) : 0;
    const size_t prepared_bytes = algo->prepare ? algo->prepared_bytes(&d) : 0;
    size_t total = align64(sizeof(cj_conv2d_plan));
    const size_t weight_at = total;
    total += align64(weight_bytes);
    const size_t bias_at = total;
    total += align64(bias_bytes);
    const size_t prepared_at = total;
    CJ_FAIL_IF(prepared_bytes > SIZE_MAX - total, CJ_ERR_OUT_OF_MEMORY, "%s: the plan's size overflows", fn);
    total += prepared_bytes;
    char *mem = cj_alloc(total);
    CJ_FAIL_IF(!mem, CJ_ERR_OUT_OF_MEMORY, "%s: cannot allocate the plan's %zu bytes (weights %zu, prepared %zu)",
               fn, total, weight_bytes, prepared_bytes);

    cj_conv2d_plan *plan = (cj_conv2d_plan *)mem;
    *plan = (cj_conv2d_plan){.ctx = c, .algo = algo, .params = *p, .desc = d, .weight = *weight, .bytes = total};
    plan->params.algorithm = algo->id;
    plan->weight.data = mem + weight_at;
    memcpy(plan->weight.data, weight->data, weight_bytes);
    if (has_bias) {
        memcpy(mem + bias_at, bias->data, bias_bytes);
        plan->bias = mem + bias_at;
    }
    if (algo->prepare) {
        algo->prepare(c, &d, plan->weight.data, mem + prepared_at);
        plan->prepared = mem + prepared_at;
    }
    *out = plan;
    return CJ_OK;
}

/* input must be the plan's dtype and [*, C_in, H_in, W_in]: checked before the general validation,
 * whose messages would speak of the weight instead of the plan. */
static cj_status check_plan_input(const char *fn, const cj_conv2d_plan *plan, const cj_tensor *input) {
    const cj_conv_desc *d = &plan->desc;
    CJ_FAIL_IF(!input, CJ_ERR_INVALID_ARGUMENT, "%s: input is NULL", fn);
    CJ_FAIL_IF(input->dtype != d->dtype, CJ_ERR_INVALID_ARGUMENT, "%s: input's dtype is %d, the plan's %d (%s)", fn,
               (int)input->dtype, (int)d->dtype, d->dtype == CJ_F64 ? "CJ_F64" : "CJ_F32");
    CJ_FAIL_IF(input->ndim != 4, CJ_ERR_INVALID_ARGUMENT, "%s: input has ndim %d, must be 4", fn, input->ndim);
    CJ_FAIL_IF(input->shape[1] != d->c_in || input->shape[2] != d->h_in || input->shape[3] != d->w_in,
               CJ_ERR_INVALID_ARGUMENT, "%s: input is [%lld, %lld, %lld, %lld], the plan was made for [N, %lld, %lld, %lld]",
               fn, (long long)input->shape[0], (long long)input->shape[1], (long long)input->shape[2],
               (long long)input->shape[3], (long long)d->c_in, (long long)d->h_in, (long long)d->w_in);
    return CJ_OK;
}

cj_status cj_conv2d_plan_run(const cj_conv2d_plan *plan, const cj_tensor *input, cj_tensor *output) {
    static const char fn[] = "cj_conv2d_plan_run";
    cj_clear_error();
    CJ_FAIL_IF(!plan, CJ_ERR_INVALID_ARGUMENT, "%s: plan is NULL", fn);
    CJ_FORWARD(check_plan_input(fn, plan, input));
    cj_conv_desc d;
    CJ_FORWARD(cj_validate_conv(fn, input, &plan->weight, &plan->params, &d));
    CJ_FORWARD(cj_validate_exact(fn, "output", output, &d, d.n, d.c_out, d.h_out, d.w_out));
    CJ_FORWARD(cj_validate_no_overlap(fn, "output", output, "input", input));
    if (d.n == 0) return CJ_OK; /* an empty output */
    if (plan->prepared)
        return plan->algo->forward_prepared(plan->ctx, &d, input->data, plan->weight.data, plan->prepared,
                                            plan->bias, output->data);
    return plan->algo->forward(plan->ctx, &d, input->data, plan->weight.data, plan->bias, output->data);
}

cj_algorithm cj_conv2d_plan_algorithm(const cj_conv2d_plan *plan) { return plan ? plan->algo->id : CJ_ALGO_AUTO; }

size_t cj_conv2d_plan_bytes(const cj_conv2d_plan *plan) { return plan ? plan->bytes : 0; }

void cj_conv2d_plan_destroy(cj_conv2d_plan *plan) { cj_free(plan); }
