#include "api/validate.h"

#include "util/checked.h"
#include "util/error.h"

/* SPEC: ndim 0 or any zero extent is an empty tensor (no scalar tensors). */
static int64_t numel(const cj_tensor *t) {
    if (t->ndim == 0) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i]; /* checked by check_tensor */
    return n;
}

static size_t dtype_size(cj_dtype dt) { return dt == CJ_F64 ? sizeof(double) : sizeof(float); }

size_t cj_tensor_bytes(const cj_tensor *t) {
    if (!t || t->ndim < 0 || t->ndim > 4) return 0;
    return (size_t)numel(t) * dtype_size(t->dtype);
}

static const char *dtype_name(cj_dtype dt) { return dt == CJ_F32 ? "f32" : dt == CJ_F64 ? "f64" : "?"; }

/* Non-NULL, known dtype, ndim in range, no negative extent, element and byte counts that fit,
 * data present when there are elements. want_ndim < 0: any ndim 0..4. */
static cj_status check_tensor(const char *fn, const char *name, const cj_tensor *t, int want_ndim) {
    CJ_FAIL_IF(!t, CJ_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, name);
    CJ_FAIL_IF(t->dtype != CJ_F32 && t->dtype != CJ_F64, CJ_ERR_INVALID_ARGUMENT,
               "%s: %s has unknown dtype %d (CJ_F32 = 1, CJ_F64 = 2)", fn, name, (int)t->dtype);
    CJ_FAIL_IF(t->ndim < 0 || t->ndim > 4, CJ_ERR_INVALID_ARGUMENT, "%s: %s has ndim %d, must be 0..4",
               fn, name, t->ndim);
    CJ_FAIL_IF(want_ndim >= 0 && t->ndim != want_ndim, CJ_ERR_INVALID_ARGUMENT,
               "%s: %s has ndim %d, must be %d", fn, name, t->ndim, want_ndim);
    int64_t count = 1;
    for (int i = 0; i < t->ndim; i++) {
        CJ_FAIL_IF(t->shape[i] < 0, CJ_ERR_INVALID_ARGUMENT, "%s: %s has negative extent %lld in dimension %d",
                   fn, name, (long long)t->shape[i], i);
        CJ_FAIL_IF(!cj_mul_i64(count, t->shape[i], &count), CJ_ERR_INVALID_ARGUMENT,
                   "%s: %s's element count overflows (extent %lld in dimension %d)", fn, name,
                   (long long)t->shape[i], i);
    }
    int64_t bytes;
    CJ_FAIL_IF(!cj_mul_i64(count, (int64_t)dtype_size(t->dtype), &bytes) || (uint64_t)bytes > SIZE_MAX / 2,
               CJ_ERR_INVALID_ARGUMENT, "%s: %s's size overflows (%lld elements)", fn, name, (long long)count);
    if (t->ndim == 0) count = 0;
    CJ_FAIL_IF(count > 0 && !t->data, CJ_ERR_INVALID_ARGUMENT, "%s: %s has %lld elements but its data is NULL",
               fn, name, (long long)count);
    return CJ_OK;
}

static cj_status check_dtype(const char *fn, const char *name, const cj_tensor *t, cj_dtype want) {
    CJ_FAIL_IF(t->dtype != want, CJ_ERR_INVALID_ARGUMENT, "%s: %s is %s but input is %s", fn, name,
               dtype_name(t->dtype), dtype_name(want));
    return CJ_OK;
}

static cj_status check_params(const char *fn, const cj_conv2d_params *p) {
    CJ_FAIL_IF(p->padding.height < 0 || p->padding.width < 0, CJ_ERR_INVALID_ARGUMENT,
               "%s: padding is (%lld, %lld), must be >= 0", fn, (long long)p->padding.height,
               (long long)p->padding.width);
    CJ_FAIL_IF(p->stride.height < 1 || p->stride.width < 1, CJ_ERR_INVALID_ARGUMENT,
               "%s: stride is (%lld, %lld), must be >= 1", fn, (long long)p->stride.height,
               (long long)p->stride.width);
    CJ_FAIL_IF(p->dilation.height < 1 || p->dilation.width < 1, CJ_ERR_INVALID_ARGUMENT,
               "%s: dilation is (%lld, %lld), must be >= 1", fn, (long long)p->dilation.height,
               (long long)p->dilation.width);
    CJ_FAIL_IF(p->groups < 1, CJ_ERR_INVALID_ARGUMENT, "%s: groups is %lld, must be >= 1", fn,
               (long long)p->groups);
    CJ_FAIL_IF((int)p->algorithm < (int)CJ_ALGO_AUTO || (int)p->algorithm > (int)CJ_ALGO_DIRECT,
               CJ_ERR_INVALID_ARGUMENT, "%s: unknown algorithm %d", fn, (int)p->algorithm);
    return CJ_OK;
}

/* out = (in + 2*pad - dil*(k-1) - 1) / stride + 1, checked; *ok false when it overflows. */
static int64_t output_extent(int64_t in, int64_t pad, int64_t dil, int64_t k, int64_t stride, int *ok) {
    int64_t span, twice_pad, padded;
    *ok = cj_mul_i64(dil, k - 1, &span) && cj_mul_i64(2, pad, &twice_pad) &&
          cj_add_i64(in, twice_pad, &padded);
    if (!*ok) return 0;
    const int64_t room = padded - span - 1; /* both operands >= 0: cannot overflow */
    if (room < 0) return 0;
    return room / stride + 1;
}

/* dil*(k-1) + 1 for the message, once output_extent has checked that dil*(k-1) fits in int64: the
 * + 1 may not (dilation INT64_MAX with k = 2), so it is done unsigned. */
static unsigned long long dilated_extent(int64_t k, int64_t dil) {
    return (unsigned long long)((k - 1) * dil) + 1u;
}

cj_status cj_validate_conv(const char *fn, const cj_tensor *input, const cj_tensor *weight,
                           const cj_conv2d_params *params, cj_conv_desc *d) {
    static const cj_conv2d_params defaults = CJ_CONV2D_PARAMS_DEFAULT;
    const cj_conv2d_params *p = params ? params : &defaults;
    CJ_FORWARD(check_tensor(fn, "input", input, 4));
    CJ_FORWARD(check_tensor(fn, "weight", weight, 4));
    CJ_FORWARD(check_dtype(fn, "weight", weight, input->dtype));
    CJ_FORWARD(check_params(fn, p));
    const int64_t *is = input->shape, *ws = weight->shape;
    CJ_FAIL_IF(is[1] < 1 || is[2] < 1 || is[3] < 1, CJ_ERR_INVALID_ARGUMENT,
               "%s: input is [%lld, %lld, %lld, %lld]: C_in, H_in and W_in must be >= 1", fn,
               (long long)is[0], (long long)is[1], (long long)is[2], (long long)is[3]);
    CJ_FAIL_IF(ws[0] < 1 || ws[1] < 1 || ws[2] < 1 || ws[3] < 1, CJ_ERR_INVALID_ARGUMENT,
               "%s: weight is [%lld, %lld, %lld, %lld]: every extent must be >= 1", fn, (long long)ws[0],
               (long long)ws[1], (long long)ws[2], (long long)ws[3]);
    const int64_t g = p->groups;
    CJ_FAIL_IF(is[1] % g != 0 || ws[0] % g != 0, CJ_ERR_INVALID_ARGUMENT,
               "%s: groups=%lld must divide C_in=%lld and C_out=%lld", fn, (long long)g, (long long)is[1],
               (long long)ws[0]);
    CJ_FAIL_IF(ws[1] != is[1] / g, CJ_ERR_INVALID_ARGUMENT,
               "%s: weight has %lld input channels per group, input has %lld with groups=%lld (expected %lld)",
               fn, (long long)ws[1], (long long)is[1], (long long)g, (long long)(is[1] / g));
    int ok_h, ok_w;
    const int64_t ho = output_extent(is[2], p->padding.height, p->dilation.height, ws[2], p->stride.height, &ok_h);
    const int64_t wo = output_extent(is[3], p->padding.width, p->dilation.width, ws[3], p->stride.width, &ok_w);
    CJ_FAIL_IF(!ok_h || !ok_w, CJ_ERR_INVALID_ARGUMENT,
               "%s: padding (%lld, %lld) or dilation (%lld, %lld) too large: the output size overflows", fn,
               (long long)p->padding.height, (long long)p->padding.width, (long long)p->dilation.height,
               (long long)p->dilation.width);
    CJ_FAIL_IF(ho < 1 || wo < 1, CJ_ERR_INVALID_ARGUMENT,
               "%s: output would be %lld x %lld: input %lld x %lld with padding (%lld, %lld) is smaller than "
               "the dilated kernel %llu x %llu",
               fn, (long long)ho, (long long)wo, (long long)is[2], (long long)is[3],
               (long long)p->padding.height, (long long)p->padding.width,
               dilated_extent(ws[2], p->dilation.height), dilated_extent(ws[3], p->dilation.width));
    /* Every size an algorithm may form from these extents must fit in bytes: the output
     * (N*C_out*H_out*W_out) and one image's im2col matrix (C_in*kH*kW * H_out*W_out). The weight's
     * own element count was checked with the tensor, so C_in/g*kH*kW cannot overflow. */
    const int64_t patch = ws[1] * ws[2] * ws[3];
    int64_t plane, out_bytes, col_bytes;
    CJ_FAIL_IF(!cj_mul_i64(ho, wo, &plane) || !cj_mul_i64(plane, ws[0], &out_bytes) ||
                   !cj_mul_i64(out_bytes, is[0], &out_bytes) || !cj_mul_i64(out_bytes, 8, &out_bytes) ||
                   !cj_mul_i64(plane, patch, &col_bytes) || !cj_mul_i64(col_bytes, g, &col_bytes) || !cj_mul_i64(col_bytes, 8, &col_bytes),
               CJ_ERR_INVALID_ARGUMENT, "%s: sizes overflow: output [%lld, %lld, %lld, %lld], %lld weights per output",
               fn, (long long)is[0], (long long)ws[0], (long long)ho, (long long)wo, (long long)(patch * g));
    *d = (cj_conv_desc){
        .dtype = input->dtype,
        .elem = dtype_size(input->dtype),
        .n = is[0], .c_in = is[1], .h_in = is[2], .w_in = is[3],
        .c_out = ws[0], .kh = ws[2], .kw = ws[3], .h_out = ho, .w_out = wo,
        .pad_h = p->padding.height, .pad_w = p->padding.width,
        .stride_h = p->stride.height, .stride_w = p->stride.width,
        .dil_h = p->dilation.height, .dil_w = p->dilation.width,
        .groups = g, .cin_g = is[1] / g, .cout_g = ws[0] / g,
    };
    return CJ_OK;
}

cj_status cj_validate_bias(const char *fn, const char *name, const cj_tensor *bias, const cj_conv_desc *d,
                           int *has_bias) {
    *has_bias = 0;
    if (!bias) return CJ_OK;
    CJ_FORWARD(check_tensor(fn, name, bias, -1));
    if (bias->ndim == 0 || cj_tensor_bytes(bias) == 0) return CJ_OK; /* empty: no bias */
    CJ_FORWARD(check_dtype(fn, name, bias, d->dtype));
    const int vector = bias->ndim == 1 && bias->shape[0] == d->c_out;
    const int column = bias->ndim == 3 && bias->shape[0] == d->c_out && bias->shape[1] == 1 && bias->shape[2] == 1;
    CJ_FAIL_IF(!vector && !column, CJ_ERR_INVALID_ARGUMENT,
               "%s: %s must be [%lld] or [%lld, 1, 1] (C_out = %lld); it has ndim %d and shape[0] = %lld", fn,
               name, (long long)d->c_out, (long long)d->c_out, (long long)d->c_out, bias->ndim,
               (long long)bias->shape[0]);
    *has_bias = 1;
    return CJ_OK;
}

cj_status cj_validate_exact(const char *fn, const char *name, const cj_tensor *t, const cj_conv_desc *d,
                            int64_t a, int64_t b, int64_t c, int64_t e) {
    CJ_FORWARD(check_tensor(fn, name, t, 4));
    CJ_FORWARD(check_dtype(fn, name, t, d->dtype));
    const int64_t *s = t->shape;
    CJ_FAIL_IF(s[0] != a || s[1] != b || s[2] != c || s[3] != e, CJ_ERR_INVALID_ARGUMENT,
               "%s: %s is [%lld, %lld, %lld, %lld], must be [%lld, %lld, %lld, %lld]", fn, name, (long long)s[0],
               (long long)s[1], (long long)s[2], (long long)s[3], (long long)a, (long long)b, (long long)c,
               (long long)e);
    return CJ_OK;
}

cj_status cj_validate_no_overlap(const char *fn, const char *out_name, const cj_tensor *out,
                                 const char *other_name, const cj_tensor *other) {
    if (!out || !other) return CJ_OK;
    const size_t nb_out = cj_tensor_bytes(out), nb_other = cj_tensor_bytes(other);
    if (nb_out == 0 || nb_other == 0) return CJ_OK;
    const uintptr_t a0 = (uintptr_t)out->data, a1 = a0 + nb_out;
    const uintptr_t b0 = (uintptr_t)other->data, b1 = b0 + nb_other;
    CJ_FAIL_IF(a0 < b1 && b0 < a1, CJ_ERR_INVALID_ARGUMENT,
               "%s: %s (%zu bytes at %p) overlaps %s (%zu bytes at %p)", fn, out_name, nb_out, out->data,
               other_name, nb_other, other->data);
    return CJ_OK;
}
