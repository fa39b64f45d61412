"""The PyTorch bridge: conv2d's forward and backward on conjure, for CPU tensors.

    from conjure.torch import Conv2d          # instead of torch.nn.Conv2d: same arguments,
    layer = Conv2d(1, 32, 5, padding=2)       # parameters and initialisation

Importable only where torch is installed (it raises ImportError otherwise). Tensors are handed to
conjure as numpy views, without copies when they are contiguous float32/float64 CPU tensors.
"""
try:
    import torch
except ImportError as e:
    raise ImportError("conjure.torch needs PyTorch (Debian: apt-get install python3-torch)") from e
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from . import _conv

__all__ = ["Conv2d", "Conv2dFunction", "conv2d"]


def _numpy(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"conjure.torch: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"conjure.torch: {name} is on {t.device}; conjure runs on the CPU")
    if t.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"conjure.torch: {name} has dtype {t.dtype}; conjure takes float32 or float64")
    return t.detach().contiguous().numpy()


class Conv2dFunction(torch.autograd.Function):
    """conv2d as an autograd Function: apply(input, weight, bias, stride, padding, dilation, groups,
    algorithm, context), bias may be None; the backward computes only the gradients autograd asks for."""

    @staticmethod
    def forward(ctx, input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto",
                context=None):
        conv = dict(padding=padding, stride=stride, dilation=dilation, groups=groups, algorithm=algorithm,
                    context=context)
        y = _conv.conv2d(_numpy("input", input), _numpy("weight", weight),
                         None if bias is None else _numpy("bias", bias), **conv)
        ctx.save_for_backward(input, weight, bias)
        ctx.conv = conv
        return torch.from_numpy(y)

    @staticmethod
    @once_differentiable  # the gradients are computed outside autograd: no double backward
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        if not any(needs):
            return (None,) * 9
        grads = _conv.conv2d_backward(_numpy("grad_output", grad_output), _numpy("input", input),
                                      _numpy("weight", weight), None if bias is None else _numpy("bias", bias),
                                      needs=(needs[0], needs[1], needs[2] and bias is not None), **ctx.conv)
        return tuple(None if g is None else torch.from_numpy(g) for g in grads) + (None,) * 6


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, algorithm="auto", context=None):
    """torch.nn.functional.conv2d on conjure (same argument order), differentiable. padding may also be
    'valid' or 'same'; an unbatched [C, H, W] input gives an unbatched output, as in PyTorch."""
    if isinstance(padding, str):
        input, padding = _pad_string(input, weight, padding, dilation)
    unbatched = input.dim() == 3
    if unbatched:
        input = input.unsqueeze(0)
    y = Conv2dFunction.apply(input, weight, bias, stride, padding, dilation, groups, algorithm, context)
    return y.squeeze(0) if unbatched else y


def _pad_string(input, weight, padding, dilation):
    """'valid' and 'same' as PyTorch does them: 'same' pads the extra row/column of an even total at the
    bottom/right, which conjure's symmetric padding cannot express, so that part goes through F.pad."""
    if padding == "valid":
        return input, 0
    if padding != "same":
        raise ValueError(f"conjure.torch.conv2d: padding string must be 'valid' or 'same', got {padding!r}")
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    total = (dh * (weight.shape[2] - 1), dw * (weight.shape[3] - 1))
    sym = (total[0] // 2, total[1] // 2)
    extra = (total[0] - 2 * sym[0], total[1] - 2 * sym[1])
    if any(extra):
        input = F.pad(input, (0, extra[1], 0, extra[0]))
    return input, sym


class Conv2d(torch.nn.Conv2d):
    """torch.nn.Conv2d whose forward and backward run on conjure: the same constructor arguments,
    parameters (weight, bias), shapes and initialisation, so it loads a torch.nn.Conv2d's state_dict
    and swaps into an existing model. Extra keyword arguments: algorithm (one of conjure.ALGORITHMS)
    and context (a conjure.Context)."""

    def __init__(self, *args, algorithm="auto", context=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.algorithm = algorithm
        self.context = context

    @classmethod
    def from_torch(cls, conv, algorithm="auto", context=None):
        """A conjure Conv2d sharing the parameters of an existing torch.nn.Conv2d."""
        new = cls(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                  conv.groups, conv.bias is not None, conv.padding_mode, device="meta", algorithm=algorithm,
                  context=context)
        new.weight, new.bias = conv.weight, conv.bias
        return new

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":  # as torch.nn.Conv2d: pad explicitly, then no padding
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = 0
        else:
            padding = self.padding
        return conv2d(input, weight, bias, self.stride, padding, self.dilation, self.groups, self.algorithm,
                      self.context)

    def extra_repr(self):
        return super().extra_repr() + f", algorithm={self.algorithm!r}"
