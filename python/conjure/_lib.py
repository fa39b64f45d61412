"""Finding and loading libconjure.so, and the ctypes declarations of the public C API (conjure.h).

ctypes, not cffi: it is in the standard library, so the package has no build step of its own, and a
call through a ctypes.CDLL releases the GIL for its whole duration (a PyDLL would not), so Python
threads run while conjure computes.

Where the library is looked for, first match wins:
  1. $CONJURE_LIBRARY: the path of a libconjure.so (nothing else is tried if it is set);
  2. a copy bundled inside the installed package (what `pip install ./python` puts there);
  3. the build tree of the source checkout this package sits in: $CONJURE_BUILD_DIR, else <repo>/build;
  4. the system's search path (e.g. after `cmake --install build`).
"""
import ctypes
import ctypes.util
import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parent.parent  # python/conjure/_lib.py -> the repository root, in a source checkout
_SONAME = "libconjure.so.0"


def _candidates():
    env = os.environ.get("CONJURE_LIBRARY")
    if env:
        return [Path(env)]
    found = [_HERE / _SONAME]
    build_dirs = [Path(os.environ["CONJURE_BUILD_DIR"])] if os.environ.get("CONJURE_BUILD_DIR") else []
    build_dirs.append(_REPO / "build")
    found += [d / "libconjure.so" for d in build_dirs]
    system = ctypes.util.find_library("conjure")
    found.append(Path(system) if system else Path(_SONAME))
    return found


def _load():
    tried = []
    for path in _candidates():
        # A bare soname (the system fallback) is left to the dynamic loader's own search.
        if path.parent != Path(".") and not path.exists():
            tried.append(f"{path} (no such file)")
            continue
        try:
            return ctypes.CDLL(str(path)), str(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError(
        "conjure: cannot load libconjure.so; tried:\n  " + "\n  ".join(tried) +
        "\nBuild it (cmake -S . -B build && cmake --build build) and set CONJURE_LIBRARY=/path/to/libconjure.so "
        "or CONJURE_BUILD_DIR=/path/to/build, or install it (cmake --install build), or `pip install ./python`.")


class Tensor(ctypes.Structure):
    _fields_ = [("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                ("shape", ctypes.c_int64 * 4), ("data", ctypes.c_void_p)]


class Size2d(ctypes.Structure):
    _fields_ = [("height", ctypes.c_int64), ("width", ctypes.c_int64)]


class Params(ctypes.Structure):
    _fields_ = [("padding", Size2d), ("stride", Size2d), ("dilation", Size2d),
                ("groups", ctypes.c_int64), ("algorithm", ctypes.c_int)]


class ContextOptions(ctypes.Structure):
    # The header says further fields may follow, zero meaning their default: pad with zeros so a
    # newer library reading a longer struct still reads defaults.
    _fields_ = [("num_threads", ctypes.c_int), ("threadpool", ctypes.c_void_p),
                ("_reserved", ctypes.c_uint64 * 8)]


# cj_status values (stable, SPEC.md)
OK, INVALID_ARGUMENT, UNSUPPORTED, OUT_OF_MEMORY = 0, 1, 2, 3
F32, F64 = 1, 2
ALGORITHMS = ("auto", "im2col_gemm", "implicit_gemm", "winograd", "fft", "direct")

lib, path = _load()

_T = ctypes.POINTER(Tensor)
_P = ctypes.POINTER(Params)
lib.cj_context_create.argtypes = [ctypes.POINTER(ContextOptions), ctypes.POINTER(ctypes.c_void_p)]
lib.cj_context_create.restype = ctypes.c_int
lib.cj_context_destroy.argtypes = [ctypes.c_void_p]
lib.cj_context_destroy.restype = None
lib.cj_context_num_threads.argtypes = [ctypes.c_void_p]
lib.cj_context_num_threads.restype = ctypes.c_int
lib.cj_conv2d.argtypes = [ctypes.c_void_p, _T, _T, _T, _P, _T]
lib.cj_conv2d.restype = ctypes.c_int
lib.cj_conv2d_backward.argtypes = [ctypes.c_void_p, _T, _T, _T, _P, _T, _T, _T, _T]
lib.cj_conv2d_backward.restype = ctypes.c_int
lib.cj_conv2d_output_shape.argtypes = [_T, _T, _P, ctypes.c_int64 * 4]
lib.cj_conv2d_output_shape.restype = ctypes.c_int
lib.cj_conv2d_plan_create.argtypes = [ctypes.c_void_p, _T, _T, _T, _P, ctypes.POINTER(ctypes.c_void_p)]
lib.cj_conv2d_plan_create.restype = ctypes.c_int
lib.cj_conv2d_plan_run.argtypes = [ctypes.c_void_p, _T, _T]
lib.cj_conv2d_plan_run.restype = ctypes.c_int
lib.cj_conv2d_plan_algorithm.argtypes = [ctypes.c_void_p]
lib.cj_conv2d_plan_algorithm.restype = ctypes.c_int
lib.cj_conv2d_plan_bytes.argtypes = [ctypes.c_void_p]
lib.cj_conv2d_plan_bytes.restype = ctypes.c_size_t
lib.cj_conv2d_plan_destroy.argtypes = [ctypes.c_void_p]
lib.cj_conv2d_plan_destroy.restype = None
lib.cj_status_string.argtypes = [ctypes.c_int]
lib.cj_status_string.restype = ctypes.c_char_p
lib.cj_last_error.argtypes = []
lib.cj_last_error.restype = ctypes.c_char_p
lib.cj_algorithm_name.argtypes = [ctypes.c_int]
lib.cj_algorithm_name.restype = ctypes.c_char_p


def last_error():
    """This thread's message for its last failed call (the library keeps it per thread)."""
    return lib.cj_last_error().decode("utf-8", "replace")
