"""conv2d and conv2d_backward on numpy arrays, and Context, over the C API.

The library does the validating: shapes, parameters and dtype agreement are passed through as they
are, and a failure raises with the library's own message (cj_last_error()). Python checks only what
a cj_tensor cannot express: a dtype other than float32/float64, more than 4 dimensions, an out=
array the library cannot write into.
"""
import ctypes
import operator
import threading

import numpy as np

from . import _lib
from ._lib import lib


class Error(Exception):
    """A failed conjure call; `status` is the library's cj_status."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


class InvalidArgumentError(Error, ValueError):
    """Bad shapes or parameters (CJ_ERR_INVALID_ARGUMENT)."""


class DtypeError(Error, TypeError):
    """An array of a dtype conjure does not take, or arrays of different dtypes."""


class UnsupportedError(Error, NotImplementedError):
    """A valid convolution that the requested algorithm cannot do (CJ_ERR_UNSUPPORTED)."""


def _raise(status, dtype_mismatch):
    message = _lib.last_error() or lib.cj_status_string(status).decode()
    if status == _lib.OUT_OF_MEMORY:
        raise MemoryError(message)
    if status == _lib.UNSUPPORTED:
        raise UnsupportedError(message, status)
    if dtype_mismatch:
        raise DtypeError(message, status)
    raise InvalidArgumentError(message, status)


class _Closeable:
    """`with` closes the object (its close() frees the C resource now rather than when collected)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Context(_Closeable):
    """A conjure context: a thread pool of `threads` threads (0: every online core) and reusable
    scratch memory. Pass it as `context=` to conv2d / conv2d_backward; calls on one context from
    several Python threads at once are safe. Close it (or use `with`) to free it now rather than
    when it is garbage-collected."""

    def __init__(self, threads=0):
        threads = operator.index(threads)
        options = _lib.ContextOptions(num_threads=threads)
        handle = ctypes.c_void_p()
        status = lib.cj_context_create(ctypes.byref(options), ctypes.byref(handle))
        if status != _lib.OK:
            _raise(status, False)
        self._handle = handle.value
        self._lock = threading.Lock()
        self._running = 0  # calls in flight: the C API forbids destroying a context in use

    @property
    def threads(self):
        """The number of threads this context's calls run on."""
        return lib.cj_context_num_threads(self._use())

    def _use(self):
        if self._handle is None:
            raise ValueError("conjure.Context: the context is closed")
        return self._handle

    def _enter(self):
        with self._lock:
            handle = self._use()
            self._running += 1
            return handle

    def _exit(self):
        with self._lock:
            self._running -= 1

    def close(self):
        with self._lock:
            if self._handle is None:
                return
            if self._running:
                raise RuntimeError(f"conjure.Context.close: {self._running} call(s) or plan(s) still using it")
            lib.cj_context_destroy(self._handle)
            self._handle = None

    def __del__(self):
        # No call can be running: each holds a reference to its context.
        if getattr(self, "_handle", None) is not None and lib is not None:  # lib: None at interpreter exit
            lib.cj_context_destroy(self._handle)
            self._handle = None

    def __repr__(self):
        state = "closed" if self._handle is None else f"threads={self.threads}"
        return f"conjure.Context({state})"


def default_threads():
    """The thread count of the process-wide default context (CONJURE_NUM_THREADS, else every core)."""
    return lib.cj_context_num_threads(None)


def _pair(name, value):
    """An int or a pair of ints, as PyTorch accepts them; range checks are the library's."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"conjure: {name} must be an int or a pair of ints, got {value!r}")
        items = value
    else:
        items = (value, value)
    try:
        return tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"conjure: {name} must be an int or a pair of ints, got {value!r}") from None


def _algorithm(value):
    if isinstance(value, str) and value.lower() in _lib.ALGORITHMS:
        return _lib.ALGORITHMS.index(value.lower())
    raise ValueError(f"conjure: algorithm must be one of {', '.join(_lib.ALGORITHMS)}; got {value!r}")


def _params(padding, stride, dilation, groups, algorithm):
    p = _lib.Params()
    p.padding.height, p.padding.width = _pair("padding", padding)
    p.stride.height, p.stride.width = _pair("stride", stride)
    p.dilation.height, p.dilation.width = _pair("dilation", dilation)
    p.groups = operator.index(groups)
    p.algorithm = _algorithm(algorithm)
    return p


def _array(name, value):
    """A C-contiguous float32/float64 array of native byte order; a copy only if it must be."""
    a = np.asarray(value)
    if a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
        raise DtypeError(f"conjure: {name} has dtype {a.dtype}; conjure takes float32 or float64",
                         _lib.INVALID_ARGUMENT)
    if a.ndim > 4:
        raise InvalidArgumentError(f"conjure: {name} has {a.ndim} dimensions, at most 4", _lib.INVALID_ARGUMENT)
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("="))


def _tensor(a):
    t = _lib.Tensor()
    t.dtype = _lib.F32 if a.dtype.itemsize == 4 else _lib.F64
    t.ndim = a.ndim
    t.shape[:a.ndim] = a.shape
    t.data = a.ctypes.data
    return ctypes.byref(t)


def _mismatch(*arrays):
    dtypes = {a.dtype.itemsize for a in arrays if a is not None}
    return len(dtypes) > 1


def _call(context, fn, dtype_mismatch, *args):
    if context is not None and not isinstance(context, Context):
        raise TypeError(f"conjure: context must be a conjure.Context or None, got {type(context).__name__}")
    handle = context._enter() if context is not None else None
    try:
        status = fn(handle, *args)  # a CDLL call: the GIL is released until it returns
    finally:
        if context is not None:
            context._exit()
    if status != _lib.OK:
        _raise(status, dtype_mismatch)


def _output(fn, out, shape, dtype):
    """A new output array, or the caller's out= checked for what the library cannot see."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{fn}: out must be a numpy array, got {type(out).__name__}")
    if not (out.flags.c_contiguous and out.flags.writeable and out.dtype.isnative):
        raise InvalidArgumentError(f"{fn}: out must be a C-contiguous, writeable array of native byte order",
                                   _lib.INVALID_ARGUMENT)
    if out.dtype != dtype:
        raise DtypeError(f"{fn}: out is {out.dtype} but input is {dtype}", _lib.INVALID_ARGUMENT)
    return out


def output_shape(input, weight, padding=0, stride=1, dilation=1, groups=1):
    """The output shape (N, C_out, H_out, W_out) of conv2d for these arguments."""
    x, w = _array("input", input), _array("weight", weight)
    shape = (ctypes.c_int64 * 4)()
    status = lib.cj_conv2d_output_shape(_tensor(x), _tensor(w), ctypes.byref(_params(padding, stride, dilation,
                                                                                     groups, "auto")), shape)
    if status != _lib.OK:
        _raise(status, _mismatch(x, w))
    return tuple(shape)


def conv2d(input, weight, bias=None, padding=0, stride=1, dilation=1, groups=1, algorithm="auto", out=None,
           context=None):
    """output = conv2d(input, weight) + bias, as torch.nn.functional.conv2d (cross-correlation, NCHW).

    input [N, C_in, H, W], weight [C_out, C_in/groups, kH, kW], bias [C_out] or None; float32 or
    float64, all one dtype. padding, stride, dilation: an int or a pair (height, width). algorithm:
    one of conjure.ALGORITHMS. out: a C-contiguous, writeable array of the output's shape and dtype to
    write into. context: a conjure.Context, else the process-wide default one. Returns the output.
    """
    x, w = _array("input", input), _array("weight", weight)
    b = None if bias is None else _array("bias", bias)
    params = ctypes.byref(_params(padding, stride, dilation, groups, algorithm))
    out = _output("conjure.conv2d", out, output_shape(x, w, padding, stride, dilation, groups), x.dtype)
    _call(context, lib.cj_conv2d, _mismatch(x, w, b), _tensor(x), _tensor(w),
          None if b is None else _tensor(b), params, _tensor(out))
    return out


def conv2d_backward(grad_output, input, weight, bias=None, padding=0, stride=1, dilation=1, groups=1,
                    algorithm="auto", needs=None, context=None):
    """The gradients (grad_input, grad_weight, grad_bias) of conv2d given grad_output.

    Arguments as conv2d's; bias is only read for its shape ([C_out] or [C_out, 1, 1]) and may be None.
    needs: three booleans saying which gradients to compute, like torch's output_mask (default:
    grad_input and grad_weight always, grad_bias when bias is given); one not needed comes back as None.
    """
    x, w, g = _array("input", input), _array("weight", weight), _array("grad_output", grad_output)
    b = None if bias is None else _array("bias", bias)
    if needs is None:
        needs = (True, True, b is not None)
    needs = tuple(bool(n) for n in needs)
    if len(needs) != 3:
        raise ValueError(f"conjure.conv2d_backward: needs must be three booleans, got {len(needs)}")
    params = ctypes.byref(_params(padding, stride, dilation, groups, algorithm))
    bias_shape = b.shape if b is not None and b.size else (w.shape[0] if w.ndim else 0,)
    grads = [np.empty(shape, dtype=x.dtype) if need else None
             for need, shape in zip(needs, (x.shape, w.shape, bias_shape))]
    _call(context, lib.cj_conv2d_backward, _mismatch(x, w, b, g), _tensor(x), _tensor(w),
          None if b is None else _tensor(b), params, _tensor(g), *(None if a is None else _tensor(a) for a in grads))
    return tuple(grads)


class Plan(_Closeable):
    """A forward convolution prepared once for repeated calls with one weight and bias, as an
    inference loop makes them (cj_conv2d_plan). At creation the algorithm is chosen (`algorithm`;
    "auto": its choice for input_shape) and the weight and bias are copied, the weights also put
    in the form that algorithm computes with (Winograd's transformed weights, the GEMM's packed
    panels); each call then skips that work and gives the result conv2d gives with that algorithm.

        plan = conjure.Plan((8, 64, 56, 56), w, b, padding=1)
        y = plan(x)              # x: [any N, 64, 56, 56] of w's dtype; or plan(x, out=y)

    input_shape fixes C_in, H and W (its batch may differ at each call). `algorithm` reports the one
    chosen, `nbytes` the memory the plan holds. The plan keeps its context (if given) from being
    closed until the plan is closed; close() (or `with`) frees it now rather than when collected.
    """

    def __init__(self, input_shape, weight, bias=None, padding=0, stride=1, dilation=1, groups=1,
                 algorithm="auto", context=None):
        if context is not None and not isinstance(context, Context):
            raise TypeError(f"conjure: context must be a conjure.Context or None, got {type(context).__name__}")
        shape = tuple(operator.index(v) for v in input_shape)
        if len(shape) != 4:
            raise InvalidArgumentError(f"conjure.Plan: input_shape must have 4 extents, got {len(shape)}",
                                       _lib.INVALID_ARGUMENT)
        w = _array("weight", weight)
        b = None if bias is None else _array("bias", bias)
        x = _lib.Tensor()  # a shape only: the library reads no data at creation
        x.dtype = _lib.F32 if w.dtype.itemsize == 4 else _lib.F64
        x.ndim = 4
        x.shape[:4] = shape
        params = _params(padding, stride, dilation, groups, algorithm)
        handle = ctypes.c_void_p()
        ctx = context._enter() if context is not None else None
        try:
            status = lib.cj_conv2d_plan_create(ctx, ctypes.byref(x), _tensor(w), None if b is None else _tensor(b),
                                               ctypes.byref(params), ctypes.byref(handle))
            if status != _lib.OK:
                _raise(status, _mismatch(w, b))
        except BaseException:
            if context is not None:
                context._exit()
            raise
        self._handle, self._context, self._dtype = handle.value, context, w.dtype
        (ph, pw), (sh, sw), (dh, dw) = (params.padding.height, params.padding.width), \
            (params.stride.height, params.stride.width), (params.dilation.height, params.dilation.width)
        self._channels_out = w.shape[0]
        self._out_hw = ((shape[2] + 2 * ph - dh * (w.shape[2] - 1) - 1) // sh + 1,
                        (shape[3] + 2 * pw - dw * (w.shape[3] - 1) - 1) // sw + 1)

    def _use(self):
        if self._handle is None:
            raise ValueError("conjure.Plan: the plan is closed")
        return self._handle

    @property
    def algorithm(self):
        """The algorithm the plan runs (one of conjure.ALGORITHMS, never "auto")."""
        return _lib.ALGORITHMS[lib.cj_conv2d_plan_algorithm(self._use())]

    @property
    def nbytes(self):
        """The bytes the plan holds: weight, bias and the prepared form of the weights."""
        return lib.cj_conv2d_plan_bytes(self._use())

    def __call__(self, input, out=None):
        """conv2d(input, the plan's weight) + its bias; out: as conv2d's."""
        x = _array("input", input)
        if x.ndim != 4:
            raise InvalidArgumentError(f"conjure.Plan: input has {x.ndim} dimensions, must be 4", _lib.INVALID_ARGUMENT)
        out = _output("conjure.Plan", out, (x.shape[0], self._channels_out) + self._out_hw, x.dtype)
        status = lib.cj_conv2d_plan_run(self._use(), _tensor(x), _tensor(out))  # the GIL is released
        if status != _lib.OK:
            _raise(status, x.dtype != self._dtype)
        return out

    def close(self):
        if getattr(self, "_handle", None) is None:
            return
        lib.cj_conv2d_plan_destroy(self._handle)
        self._handle = None
        if self._context is not None:
            self._context._exit()
            self._context = None

    def __del__(self):
        if lib is not None:  # None at interpreter exit
            self.close()

    def __repr__(self):
        if self._handle is None:
            return "conjure.Plan(closed)"
        return f"conjure.Plan(algorithm={self.algorithm!r}, nbytes={self.nbytes})"
