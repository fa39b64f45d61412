"""conjure: 2-D convolution (forward and backward) for CPUs, on numpy arrays.

    import numpy as np, conjure
    y = conjure.conv2d(np.random.rand(1, 3, 32, 32), np.random.rand(8, 3, 3, 3), padding=1)
    gx, gw, gb = conjure.conv2d_backward(np.ones_like(y), x, w, b)
    plan = conjure.Plan(x.shape, w, b, padding=1); y = plan(x)   # weights prepared once

The PyTorch bridge is conjure.torch (imported on its own, when torch is installed).
"""
from ._conv import (Context, DtypeError, Error, InvalidArgumentError, Plan, UnsupportedError, conv2d,
                    conv2d_backward, default_threads, output_shape)
from ._lib import ALGORITHMS
from ._lib import path as library_path

__version__ = "0.1.0"

for _cls in (Context, DtypeError, Error, InvalidArgumentError, Plan, UnsupportedError):
    _cls.__module__ = __name__  # shown as conjure.X in tracebacks and reprs
del _cls
__all__ = ["ALGORITHMS", "Context", "DtypeError", "Error", "InvalidArgumentError", "Plan", "UnsupportedError",
           "conv2d", "conv2d_backward", "default_threads", "library_path", "output_shape"]
