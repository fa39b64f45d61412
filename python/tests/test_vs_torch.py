"""Random configurations of every algorithm, dtype and pass against PyTorch, under SPEC's error measure.

PyTorch (torch.nn.functional.conv2d, torch.ops.aten.convolution_backward) is the outside oracle: run in
float64 on the very values conjure saw (float32 data is rounded first), it is exact to far below every
tolerance. Each element must satisfy |got - exact| <= tol * s, where s = |bias| + sum |in * w| over
that element's terms, obtained as the same convolution of absolute values. An algorithm that rejects a
configuration as unsupported is skipped for it, and counted.
"""
import numpy as np
import pytest

import conjure
from conftest import record_error

torch = pytest.importorskip("torch", reason="PyTorch is not installed (apt-get install python3-torch)")

SEED = 20261125
CONFIGS = 40  # per algorithm and dtype; each is run for the three passes
EVERY_CONFIGURATION = {"auto", "im2col_gemm", "implicit_gemm", "direct"}  # SPEC: these do them all
TOL = {  # SPEC's table; AUTO's is the tolerance of what it picked, at most the loose one
    "float32": {"loose": 1e-4, "tight": 1e-5},
    "float64": {"loose": 1e-12, "tight": 1e-13},
}


def tolerance(algorithm, dtype):
    return TOL[dtype]["loose" if algorithm in ("winograd", "fft", "auto") else "tight"]


def random_config(rng, algorithm):
    """A small random convolution; three in four fit the algorithm's domain (stride 1, dilation 1,
    and 3x3 for Winograd), so that the restricted algorithms run on many of them too."""
    groups = int(rng.choice([1, 1, 2, 3]))
    cin_g, cout_g = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    if rng.random() < 0.15:  # depthwise
        cin_g, cout_g = 1, int(rng.integers(1, 3))
        groups = int(rng.integers(2, 6))
    kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    if algorithm in ("winograd", "fft") and rng.random() < 0.75:
        stride = dilation = (1, 1)
        if algorithm == "winograd":
            kh = kw = 3
        elif rng.random() < 0.3:
            kh, kw = int(rng.integers(5, 10)), int(rng.integers(5, 10))
    padding = (int(rng.integers(0, kh)), int(rng.integers(0, kw)))
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    h = max(1, span[0] - 2 * padding[0]) + int(rng.integers(0, 12))
    w = max(1, span[1] - 2 * padding[1]) + int(rng.integers(0, 12))
    return dict(n=int(rng.integers(1, 4)), c_in=cin_g * groups, c_out=cout_g * groups, h=h, w=w, kh=kh, kw=kw,
                padding=padding, stride=stride, dilation=dilation, groups=groups, bias=bool(rng.random() < 0.7))


def exact_and_scale(x, w, b, g, cfg):
    """PyTorch's float64 results and SPEC's s for each pass: (exact, s) per pass name."""
    t = [None if a is None else torch.from_numpy(a.astype(np.float64)) for a in (x, w, b, g)]
    conv = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=cfg["groups"])
    fwd = torch.nn.functional.conv2d(t[0], t[1], t[2], **conv)
    fwd_s = torch.nn.functional.conv2d(t[0].abs(), t[1].abs(), None if b is None else t[2].abs(), **conv)

    def backward(go, xx, ww):
        return torch.ops.aten.convolution_backward(go, xx, ww, [ww.shape[0]], list(cfg["stride"]),
                                                   list(cfg["padding"]), list(cfg["dilation"]), False, [0, 0],
                                                   cfg["groups"], [True, True, True])

    gi, gw, gb = backward(t[3], t[0], t[1])
    gi_s, gw_s, gb_s = backward(t[3].abs(), t[0].abs(), t[1].abs())
    return {"forward": [(fwd, fwd_s)], "grad_input": [(gi, gi_s)], "grad_weight": [(gw, gw_s), (gb, gb_s)]}


def worst_ratio(got_list, pairs):
    ratio = 0.0
    for got, (exact, s) in zip(got_list, pairs):
        err = np.abs(got.astype(np.float64) - exact.numpy())
        r = err / (s.numpy() + 1e-30)
        r[np.isnan(r)] = np.inf
        ratio = max(ratio, float(r.max()) if r.size else 0.0)
    return ratio


def run_pass(pass_name, algorithm, x, w, b, g, cfg):
    conv = dict(padding=cfg["padding"], stride=cfg["stride"], dilation=cfg["dilation"], groups=cfg["groups"],
                algorithm=algorithm)
    if pass_name == "forward":
        out = np.full(conjure.output_shape(x, w, **{k: conv[k] for k in ("padding", "stride", "dilation", "groups")}),
                      np.nan, dtype=x.dtype)  # NaN: any element left unwritten fails
        return [conjure.conv2d(x, w, b, out=out, **conv)]
    needs = (True, False, False) if pass_name == "grad_input" else (False, True, True)
    grads = conjure.conv2d_backward(g, x, w, b, needs=needs, **conv)
    if pass_name == "grad_input":
        return [grads[0]]
    # without a bias, grad_bias is still the sum of grad_output (SPEC: [C_out])
    return [grads[1], grads[2]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("algorithm", conjure.ALGORITHMS)
def test_random_configurations_against_torch(algorithm, dtype):
    seed = SEED + 1000 * conjure.ALGORITHMS.index(algorithm) + (dtype == "float64")
    rng = np.random.default_rng(seed)
    tol = tolerance(algorithm, dtype)
    ran = {"forward": 0, "grad_input": 0, "grad_weight": 0}
    for i in range(CONFIGS):
        cfg = random_config(rng, algorithm)
        x = rng.standard_normal((cfg["n"], cfg["c_in"], cfg["h"], cfg["w"])).astype(dtype)
        w = rng.standard_normal((cfg["c_out"], cfg["c_in"] // cfg["groups"], cfg["kh"], cfg["kw"])).astype(dtype)
        b = rng.standard_normal(cfg["c_out"]).astype(dtype) if cfg["bias"] else None
        g = rng.standard_normal(conjure.output_shape(x, w, cfg["padding"], cfg["stride"], cfg["dilation"],
                                                     cfg["groups"])).astype(dtype)
        reference = exact_and_scale(x, w, b, g, cfg)
        for pass_name in ran:
            try:
                got = run_pass(pass_name, algorithm, x, w, b, g, cfg)
            except conjure.UnsupportedError as e:
                if "not available in this build" in str(e):
                    pytest.skip(f"{algorithm} is not in this build of the library")
                assert algorithm not in EVERY_CONFIGURATION, f"seed {seed} config {i} {cfg}: {e}"
                continue
            ratio = worst_ratio(got, reference[pass_name])
            record_error(algorithm, dtype, pass_name, ratio)
            ran[pass_name] += 1
            assert ratio <= tol, (f"{algorithm} {dtype} {pass_name}: error {ratio:.3g} * s > tol {tol:g}; "
                                  f"seed {seed}, configuration {i}: {cfg}")
    if algorithm in EVERY_CONFIGURATION:
        assert all(n == CONFIGS for n in ran.values()), ran
    else:  # the generator aims three in four configurations at its domain
        assert all(n > 0 for n in ran.values()), f"{algorithm} {dtype} ran on no configuration: {ran}"

