/* conjure: 2-D convolution, forward and backward, for CPUs.
 *
 * The one public header. The contract it implements is SPEC.md (shipped beside the project):
 * NCHW tensors, weight [C_out, C_in/groups, kH, kW], cross-correlation as PyTorch's conv2d.
 * Every function returns a cj_status; on failure cj_last_error() says what was wrong. */
#ifndef CONJURE_H
#define CONJURE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(CONJURE_BUILDING_SHARED)
#define CJ_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CJ_API __attribute__((visibility("default")))
#else
#define CJ_API
#endif

#define CJ_VERSION_MAJOR 0
#define CJ_VERSION_MINOR 1
#define CJ_VERSION_PATCH 0

typedef enum cj_dtype { CJ_F32 = 1, CJ_F64 = 2 } cj_dtype;

typedef struct cj_tensor {
    cj_dtype dtype;
    int      ndim;       /* 0..4; ndim 0 or any zero extent = an empty tensor */
    int64_t  shape[4];   /* shape[0..ndim-1] */
    void    *data;       /* dense, row-major (C order), owned by the caller */
} cj_tensor;

typedef struct cj_size2d { int64_t height, width; } cj_size2d;

typedef enum cj_status {
    CJ_OK = 0,
    CJ_ERR_INVALID_ARGUMENT = 1,
    CJ_ERR_UNSUPPORTED = 2,
    CJ_ERR_OUT_OF_MEMORY = 3
} cj_status;

typedef enum cj_algorithm {
    CJ_ALGO_AUTO = 0,        /* the fastest algorithm that meets the accuracy contract; every configuration */
    CJ_ALGO_IM2COL_GEMM,     /* im2col + GEMM: every configuration, every dtype */
    CJ_ALGO_IMPLICIT_GEMM,   /* GEMM without materialising the im2col matrix: every configuration */
    CJ_ALGO_WINOGRAD,        /* Winograd minimal filtering: 3x3, stride 1, dilation 1 (and dilations
                                up to H_out / W_out, run over phase images) */
    CJ_ALGO_FFT,             /* tiled FFT: stride 1, dilation 1, kernels up to 16x16 */
    CJ_ALGO_DIRECT           /* direct convolution: every configuration */
} cj_algorithm;

typedef struct cj_context cj_context; /* opaque */

typedef struct cj_context_options {
    int   num_threads;  /* 0: every online core (or CONJURE_NUM_THREADS for the default context) */
    void *threadpool;   /* optional pthreadpool_t owned by the caller, used instead of a pool of the
                           context's own (num_threads is then ignored); it must outlive the context */
    int   autotune;     /* nonzero: CJ_ALGO_AUTO times every algorithm that can run a configuration on
                           its first call (on the caller's buffers) and the context remembers the
                           fastest, per configuration, pass and thread count; 0: AUTO follows its
                           model (no timing). The default context takes CONJURE_AUTOTUNE=1. */
    /* further fields may follow; zero means their default */
} cj_context_options;

/* Creates a context: a thread pool, reusable scratch memory. NULL options: defaults. */
CJ_API cj_status cj_context_create(const cj_context_options *options, cj_context **out);
/* Destroys a context; NULL does nothing. No call may be running on it. */
CJ_API void cj_context_destroy(cj_context *ctx);
/* The number of threads the context's calls run on; NULL: the default context's. */
CJ_API int cj_context_num_threads(const cj_context *ctx);

typedef struct cj_conv2d_params {
    cj_size2d    padding;    /* >= 0 */
    cj_size2d    stride;     /* >= 1 */
    cj_size2d    dilation;   /* >= 1 */
    int64_t      groups;     /* >= 1, divides C_in and C_out */
    cj_algorithm algorithm;
} cj_conv2d_params;

/* padding 0, stride 1, dilation 1, groups 1, CJ_ALGO_AUTO */
#define CJ_CONV2D_PARAMS_DEFAULT \
    { {0, 0}, {1, 1}, {1, 1}, 1, CJ_ALGO_AUTO }

/* output[N, C_out, H_out, W_out] = conv2d(input, weight) + bias.
 * ctx NULL: the process-wide default context. bias NULL or empty: no bias. params NULL: defaults. */
CJ_API cj_status cj_conv2d(cj_context *ctx,
                           const cj_tensor *input, const cj_tensor *weight,
                           const cj_tensor *bias,
                           const cj_conv2d_params *params,
                           cj_tensor *output);

/* Gradients of a conv2d with respect to its input, weight and bias, given grad_output.
 * Each of grad_input, grad_weight, grad_bias may be NULL: not computed. grad_bias has the shape of
 * bias, or [C_out]. bias itself is only read for its shape and may be NULL. */
CJ_API cj_status cj_conv2d_backward(cj_context *ctx,
                                    const cj_tensor *input, const cj_tensor *weight,
                                    const cj_tensor *bias,
                                    const cj_conv2d_params *params,
                                    const cj_tensor *grad_output,
                                    cj_tensor *grad_input,
                                    cj_tensor *grad_weight,
                                    cj_tensor *grad_bias);

/* The output shape [N, C_out, H_out, W_out] of cj_conv2d for these arguments, after validating them. */
CJ_API cj_status cj_conv2d_output_shape(const cj_tensor *input, const cj_tensor *weight,
                                        const cj_conv2d_params *params, int64_t out_shape[4]);

/* ---- plans: one forward convolution prepared once, run many times ------------------------------ */

typedef struct cj_conv2d_plan cj_conv2d_plan; /* opaque */

/* Prepares cj_conv2d for repeated calls with one weight and bias on inputs of one shape, as an
 * inference loop makes them. At creation the algorithm is chosen once (params->algorithm; AUTO:
 * its choice for input's shape on ctx) and the weight and bias are copied, the weights also put
 * in the form that algorithm computes with where it has one (WINOGRAD: the transformed weights
 * G g G^T, 4x the weights, packed for its GEMMs; IM2COL_GEMM and IMPLICIT_GEMM: the GEMM's packed
 * weight panels; DIRECT and FFT keep the plain copy), so that a run skips that work.
 * input gives the shape and dtype only: its data is not read and may be NULL. The plan keeps no
 * pointer to the caller's tensors (they may change or be freed once this returns). ctx (NULL: the
 * default context) must outlive the plan; runs use its threads and scratch. Errors as cj_conv2d's,
 * plus CJ_ERR_OUT_OF_MEMORY when the plan's memory (cj_conv2d_plan_bytes) cannot be had. */
CJ_API cj_status cj_conv2d_plan_create(cj_context *ctx, const cj_tensor *input, const cj_tensor *weight,
                                       const cj_tensor *bias, const cj_conv2d_params *params,
                                       cj_conv2d_plan **out);
/* output = conv2d(input, the plan's weight) + the plan's bias, by the plan's algorithm: the same
 * result as cj_conv2d with that algorithm, within its accuracy contract. input must have the
 * plan's dtype, C_in, H_in and W_in; its batch N may differ from the creation's (any N >= 0);
 * output is [N, C_out, H_out, W_out]. A plan is read-only once made: several threads may run it
 * at once. */
CJ_API cj_status cj_conv2d_plan_run(const cj_conv2d_plan *plan, const cj_tensor *input, cj_tensor *output);
/* The algorithm the plan runs (never CJ_ALGO_AUTO); plan NULL: CJ_ALGO_AUTO. */
CJ_API cj_algorithm cj_conv2d_plan_algorithm(const cj_conv2d_plan *plan);
/* The bytes the plan holds (weight, bias and the prepared form); plan NULL: 0. */
CJ_API size_t cj_conv2d_plan_bytes(const cj_conv2d_plan *plan);
/* Frees the plan; NULL does nothing. No run may be using it. */
CJ_API void cj_conv2d_plan_destroy(cj_conv2d_plan *plan);

/* The passes, for cj_conv2d_query_algorithm. */
typedef enum cj_conv2d_pass {
    CJ_CONV2D_FORWARD = 0,          /* cj_conv2d */
    CJ_CONV2D_BACKWARD_DATA = 1,    /* grad_input of cj_conv2d_backward */
    CJ_CONV2D_BACKWARD_WEIGHTS = 2  /* grad_weight of cj_conv2d_backward */
} cj_conv2d_pass;

/* The algorithm that params->algorithm resolves to for this configuration and pass on ctx: the
 * explicit algorithm itself (CJ_ERR_UNSUPPORTED if it cannot do it), or CJ_ALGO_AUTO's choice.
 * With autotune, a configuration not yet measured reports the model's choice. */
CJ_API cj_status cj_conv2d_query_algorithm(cj_context *ctx, const cj_tensor *input, const cj_tensor *weight,
                                           const cj_conv2d_params *params, cj_conv2d_pass pass,
                                           cj_algorithm *algorithm);

/* Measures, on this machine and at ctx's thread count, the decisions of CJ_ALGO_AUTO's model that
 * depend on the machine (which of two algorithms is faster where a rule draws its line), each on
 * a probe layer of its own (10-60 s in all), and saves them to path (NULL: CONJURE_CALIBRATION,
 * else $XDG_CACHE_HOME/conjure/calibration, else $HOME/.cache/conjure/calibration), keeping the
 * file's entries for other thread counts. From then on AUTO's model follows them, in this process
 * and in every later one that finds the file on the same CPU model and ISA path. ctx NULL: the
 * default context. report (may be NULL) receives a line per decision: the algorithms and times. */
CJ_API cj_status cj_calibrate(cj_context *ctx, const char *path,
                              void (*report)(const char *line, void *user), void *user);
/* Where AUTO's machine-dependent decisions come from: "<file>: N decisions", or why the built-in
 * defaults are in use ("none (...)"); at most size - 1 characters and a NUL (buf NULL or size 0:
 * nothing). */
CJ_API void cj_calibration_describe(char *buf, size_t size);

CJ_API const char *cj_status_string(cj_status status);
/* This thread's message for its last failed call: what was wrong, with the numbers ("" if none). */
CJ_API const char *cj_last_error(void);
CJ_API const char *cj_algorithm_name(cj_algorithm algorithm);

#ifdef __cplusplus
}
#endif
#endif /* CONJURE_H */
