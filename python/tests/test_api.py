"""The numpy API without PyTorch: arguments as PyTorch takes them, copies of non-contiguous arrays,
out=, contexts, the errors (with the library's messages), and the GIL released during the C call."""
import os
import sys
import threading

import numpy as np
import pytest

import conjure


def data(dtype=np.float64, shape_x=(2, 4, 9, 10), shape_w=(6, 4, 3, 3), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape_x).astype(dtype), rng.standard_normal(shape_w).astype(dtype), \
        rng.standard_normal(shape_w[0]).astype(dtype)


def naive_conv2d(x, w, b, padding, stride, dilation, groups):
    """The definition in SPEC.md, in float64: an oracle for the tests that run without PyTorch."""
    (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
    n, c, h, wd = x.shape
    k, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    ho, wo = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, k, ho, wo)) + (0 if b is None else b.reshape(1, k, 1, 1))
    kg = k // groups
    for o in range(k):
        grp = o // kg
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, grp * cg:(grp + 1) * cg, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                           j * dw:j * dw + sw * (wo - 1) + 1:sw]
                out[:, o] += np.einsum("nchw,c->nhw", patch, w[o, :, i, j])
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_the_definition_with_pairs_and_ints(dtype):
    x, w, b = data(dtype, (2, 6, 11, 12), (4, 3, 3, 2))
    y = conjure.conv2d(x, w, b, padding=(2, 1), stride=[2, 3], dilation=(1, 2), groups=np.int64(2))
    assert y.dtype == dtype and y.shape == (2, 4, 7, 4)
    ref = naive_conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), (2, 1), (2, 3), (1, 2), 2)
    assert np.abs(y - ref).max() <= (1e-5 if dtype == np.float32 else 1e-12) * np.abs(ref).max()
    # an int means the same int for height and width
    np.testing.assert_array_equal(conjure.conv2d(x, w[:, :, :2], padding=1, stride=2, groups=2),
                                  conjure.conv2d(x, w[:, :, :2], padding=(1, 1), stride=(2, 2), groups=2))


def test_non_contiguous_arrays_are_copied_and_give_the_same_result():
    x, w, b = data(shape_x=(2, 4, 18, 20))
    views = [x[:, :, ::2, ::2], np.asfortranarray(x[:, :, :9, :10]), x[:, :, ::-2, ::-2]]
    for v in views:
        assert not v.flags.c_contiguous
        np.testing.assert_array_equal(conjure.conv2d(v, w, b), conjure.conv2d(np.ascontiguousarray(v), w, b))
    wt = np.ascontiguousarray(w.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)  # same values, other strides
    np.testing.assert_array_equal(conjure.conv2d(x, wt), conjure.conv2d(x, w))
    big_endian = x.astype(">f8")
    np.testing.assert_array_equal(conjure.conv2d(big_endian, w), conjure.conv2d(x, w))
    g = np.random.default_rng(1).standard_normal((2, 6, 14, 16))[:, :, ::2, ::2]
    strided = conjure.conv2d_backward(g, views[0], w, b)
    copied = conjure.conv2d_backward(np.ascontiguousarray(g), np.ascontiguousarray(views[0]), w, b)
    for a, c in zip(strided, copied):
        np.testing.assert_array_equal(a, c)


def test_out_is_written_in_place():
    x, w, b = data()
    out = np.full((2, 6, 7, 8), np.nan)
    assert conjure.conv2d(x, w, b, out=out) is out
    np.testing.assert_array_equal(out, conjure.conv2d(x, w, b))


def test_backward_needs_mask_and_bias_shape():
    x, w, b = data()
    g = np.ones((2, 6, 7, 8))
    gi, gw, gb = conjure.conv2d_backward(g, x, w, b)
    assert gi.shape == x.shape and gw.shape == w.shape and gb.shape == (6,)
    np.testing.assert_allclose(gb, np.full(6, 2 * 7 * 8))
    assert conjure.conv2d_backward(g, x, w)[2] is None  # no bias: no grad_bias unless asked
    gi2, gw2, gb2 = conjure.conv2d_backward(g, x, w, needs=(False, True, True))
    assert gi2 is None and gb2.shape == (6,)
    np.testing.assert_array_equal(gw2, gw)
    gb3 = conjure.conv2d_backward(g, x, w, b.reshape(6, 1, 1), needs=(False, False, True))[2]
    assert gb3.shape == (6, 1, 1)


def test_batch_of_zero_gives_empty_output_and_zero_weight_gradients():
    x = np.zeros((0, 3, 6, 6))
    w = np.ones((4, 3, 3, 3))
    assert conjure.conv2d(x, w).shape == (0, 4, 4, 4)
    gi, gw, gb = conjure.conv2d_backward(np.zeros((0, 4, 4, 4)), x, w, needs=(True, True, True))
    assert gi.shape == x.shape and not gw.any() and not gb.any() and gb.shape == (4,)


def test_contexts():
    x, w, b = data()
    with conjure.Context(threads=1) as one, conjure.Context(threads=2) as two:
        assert one.threads == 1 and two.threads == 2
        ref = naive_conv2d(x, w, b, (0, 0), (1, 1), (1, 1), 1)
        for ctx in (one, two, None):
            np.testing.assert_allclose(conjure.conv2d(x, w, b, context=ctx), ref, rtol=0, atol=1e-12)
    assert "closed" in repr(one)
    with pytest.raises(ValueError, match="closed"):
        conjure.conv2d(x, w, context=one)
    one.close()  # closing twice does nothing
    assert conjure.default_threads() >= 1


def test_bad_arguments_raise_with_the_library_message():
    x, w, b = data()
    cases = [
        (TypeError, "float32 or float64", lambda: conjure.conv2d(x.astype(np.int64), w)),
        (TypeError, "weight is f32 but input is f64", lambda: conjure.conv2d(x, w.astype(np.float32))),
        (TypeError, "bias is f32 but input is f64", lambda: conjure.conv2d(x, w, b.astype(np.float32))),
        (ValueError, "weight has 3 input channels per group, input has 4", lambda: conjure.conv2d(x, w[:, :3])),
        (ValueError, "groups", lambda: conjure.conv2d(x, w, groups=3)),
        (ValueError, "padding", lambda: conjure.conv2d(x, w, padding=-1)),
        (ValueError, "stride", lambda: conjure.conv2d(x, w, stride=(1, 0))),
        (ValueError, "dilation", lambda: conjure.conv2d(x, w, dilation=0)),
        (ValueError, "pair", lambda: conjure.conv2d(x, w, padding=(1, 2, 3))),
        (TypeError, "pair", lambda: conjure.conv2d(x, w, stride=1.5)),
        (ValueError, "algorithm", lambda: conjure.conv2d(x, w, algorithm="fastest")),
        (ValueError, "ndim 3", lambda: conjure.conv2d(x[0], w)),
        (ValueError, "at most 4", lambda: conjure.conv2d(x[None], w)),
        (ValueError, "bias", lambda: conjure.conv2d(x, w, b[:5])),
        (ValueError, "output", lambda: conjure.conv2d(x, np.ones((6, 4, 12, 3)))),
        (ValueError, "output", lambda: conjure.conv2d(x, w, out=np.empty((2, 6, 7, 7)))),
        (TypeError, "out is float32", lambda: conjure.conv2d(x, w, out=np.empty((2, 6, 7, 8), np.float32))),
        (ValueError, "C-contiguous", lambda: conjure.conv2d(x, w, out=np.empty((2, 6, 8, 7)).transpose(0, 1, 3, 2))),
        (ValueError, "overlap", lambda: conjure.conv2d(x, w, out=x.reshape(-1)[:2 * 6 * 7 * 8].reshape(2, 6, 7, 8))),
        (ValueError, "grad_output", lambda: conjure.conv2d_backward(np.ones((2, 6, 7, 7)), x, w)),
        (ValueError, "three", lambda: conjure.conv2d_backward(np.ones((2, 6, 7, 8)), x, w, needs=(True,))),
        (ValueError, "num_threads is -1", lambda: conjure.Context(threads=-1)),
        (TypeError, "context", lambda: conjure.conv2d(x, w, context=4)),
    ]
    for kind, words, call in cases:
        with pytest.raises(kind, match=words):
            call()
    # an error leaves the library usable, and the message is about the call that failed
    np.testing.assert_array_equal(conjure.conv2d(x, w), conjure.conv2d(x, w))


def test_unsupported_algorithm_raises_its_own_error():
    x, w, _ = data(shape_w=(6, 4, 5, 5))
    with pytest.raises(conjure.UnsupportedError, match="winograd") as e:
        conjure.conv2d(x, w, stride=2, algorithm="winograd")  # Winograd is 3x3 stride 1 only
    assert isinstance(e.value, NotImplementedError) and e.value.status == 2


@pytest.mark.skipif(not hasattr(os, "sched_yield"), reason="needs os.sched_yield")
def test_the_gil_is_released_during_the_c_call():
    """While one thread is inside conjure, another runs Python. Deterministic, without timing: with
    a switch interval far longer than the test, the interpreter never takes the GIL from a thread; it
    changes hands only where a thread lets it go. The main thread lets it go at every step of its
    loop; the worker, only if the C call does. So the main thread's counter moves while the worker
    is inside conv2d only if the call releases the GIL (it stays 0 with a ctypes.PyDLL). The worker
    tries up to 20 calls, for a main thread that the OS might not schedule during one of them."""
    x, w, _ = data(np.float32, (8, 32, 64, 64), (32, 32, 3, 3))
    out = np.empty(conjure.output_shape(x, w), np.float32)
    ticks, during, done = [0], [], threading.Event()
    ctx = conjure.Context(threads=1)

    def worker():
        while len(during) < 20 and not any(during):
            before = ticks[0]
            conjure.conv2d(x, w, out=out, context=ctx)
            during.append(ticks[0] - before)
        done.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        t = threading.Thread(target=worker)
        t.start()
        while not done.is_set():
            ticks[0] += 1
            os.sched_yield()  # releases the GIL: lets the worker take it whenever it waits for it
        t.join()
    finally:
        sys.setswitchinterval(interval)
        ctx.close()
    assert any(during), f"the main thread never ran while conv2d was running: {during}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plan_matches_conv2d_at_any_batch_and_keeps_its_own_weights(dtype):
    x, w, b = data(dtype, (3, 16, 12, 12), (16, 16, 3, 3))
    with conjure.Context(2) as ctx:
        with conjure.Plan(x.shape, w, b, padding=1, context=ctx) as plan:
            assert plan.algorithm in conjure.ALGORITHMS and plan.algorithm != "auto"
            assert plan.nbytes >= w.nbytes + b.nbytes
            expected = conjure.conv2d(x, w, b, padding=1, algorithm=plan.algorithm, context=ctx)
            w[...] = 0  # the plan copied the weights at creation
            b[...] = 0
            np.testing.assert_array_equal(plan(x), expected)
            np.testing.assert_array_equal(plan(x[:1]), expected[:1])  # another batch size
            out = np.empty_like(expected)
            assert plan(x, out=out) is out
            np.testing.assert_array_equal(out, expected)
            with pytest.raises(RuntimeError, match="still using it"):
                ctx.close()  # the plan holds its context open
        ctx.close()
    with pytest.raises(ValueError, match="closed"):
        plan(x)


def test_plan_errors_carry_the_library_message():
    x, w, b = data(np.float32, (2, 4, 9, 10), (6, 4, 3, 3))
    with pytest.raises(conjure.InvalidArgumentError, match="5"):
        conjure.Plan((2, 5, 9, 10), w)  # channels that do not match the weight
    with pytest.raises(conjure.UnsupportedError):
        conjure.Plan(x.shape, np.ones((6, 4, 5, 5), np.float32), algorithm="winograd")
    plan = conjure.Plan(x.shape, w, b)
    with pytest.raises(conjure.InvalidArgumentError, match="plan was made for"):
        plan(np.ones((2, 4, 9, 11), np.float32))
    with pytest.raises(conjure.DtypeError):
        plan(x.astype(np.float64))
    assert "algorithm=" in repr(plan)
    plan.close()
    assert repr(plan) == "conjure.Plan(closed)"
