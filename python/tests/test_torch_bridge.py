"""conjure.torch: gradients by torch.autograd.gradcheck in float64, and the Conv2d module as a drop-in
for torch.nn.Conv2d (arguments, parameters, initialisation, state_dict, results, training)."""
import pytest

import conjure

torch = pytest.importorskip("torch", reason="PyTorch is not installed (apt-get install python3-torch)")
ct = pytest.importorskip("conjure.torch")

GRADCHECK_CONFIGS = [  # (N, C_in, H, W, C_out, kH, kW, stride, padding, dilation, groups, bias)
    (2, 4, 6, 7, 6, 3, 3, 1, 1, 1, 1, True),
    (1, 4, 9, 7, 4, 3, 2, (2, 1), (1, 0), (1, 2), 2, True),
    (2, 3, 5, 6, 3, 3, 3, 1, 1, 1, 3, False),  # depthwise
    (1, 2, 8, 7, 3, 5, 5, 1, 2, 1, 1, True),
]


@pytest.fixture(scope="module")
def one_thread():
    # gradcheck makes thousands of tiny calls: one thread each, no pool wake-ups
    with conjure.Context(threads=1) as ctx:
        yield ctx


@pytest.mark.parametrize("algorithm", conjure.ALGORITHMS)
def test_gradcheck_float64(algorithm, one_thread):
    ran = 0
    for n, c, h, w, k, kh, kw, stride, padding, dilation, groups, has_bias in GRADCHECK_CONFIGS:
        gen = torch.Generator().manual_seed(n * 100 + c * 10 + kh)
        x = torch.randn(n, c, h, w, dtype=torch.float64, generator=gen, requires_grad=True)
        wt = torch.randn(k, c // groups, kh, kw, dtype=torch.float64, generator=gen, requires_grad=True)
        b = torch.randn(k, dtype=torch.float64, generator=gen, requires_grad=True) if has_bias else None
        args = (x, wt) + ((b,) if has_bias else ())

        def f(*a):
            return ct.conv2d(a[0], a[1], a[2] if has_bias else None, stride, padding, dilation, groups, algorithm,
                             one_thread)

        try:
            f(*args)
            f(*args).sum().backward()
        except conjure.UnsupportedError:
            continue
        # conv2d is linear in each argument, so central differences are exact for any step but for the
        # forward's own rounding divided by the step: a large step keeps Winograd's and FFT's (SPEC
        # allows 1e-12 * s in float64) far below atol.
        assert torch.autograd.gradcheck(f, args, eps=1e-3, atol=1e-8, rtol=1e-6)
        ran += 1
    if ran == 0:
        pytest.skip(f"{algorithm} does none of these configurations in this build")


def test_module_is_a_drop_in_for_nn_conv2d():
    kwargs = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    torch.manual_seed(3)
    ref = torch.nn.Conv2d(4, 6, (3, 2), **kwargs)
    torch.manual_seed(3)
    mine = ct.Conv2d(4, 6, (3, 2), **kwargs)
    assert isinstance(mine, torch.nn.Conv2d)
    assert [(n, p.shape) for n, p in mine.named_parameters()] == [(n, p.shape) for n, p in ref.named_parameters()]
    assert torch.equal(mine.weight, ref.weight) and torch.equal(mine.bias, ref.bias)  # same initialisation
    x = torch.randn(3, 4, 11, 9)
    torch.testing.assert_close(mine(x), ref(x), rtol=1e-5, atol=1e-5)
    # a state_dict moves either way
    other = ct.Conv2d(4, 6, (3, 2), **kwargs)
    other.load_state_dict(ref.state_dict())
    torch.testing.assert_close(other(x), ref(x), rtol=1e-5, atol=1e-5)
    shared = ct.Conv2d.from_torch(ref, algorithm="im2col_gemm")
    assert shared.weight is ref.weight and "im2col_gemm" in repr(shared)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's own remark on even kernels
@pytest.mark.parametrize("options", [
    dict(padding="same"), dict(padding="valid", bias=False), dict(padding=1, padding_mode="reflect"),
    dict(padding=(2, 1), padding_mode="circular"), dict(padding="same", dilation=2, padding_mode="replicate"),
])
@pytest.mark.parametrize("kernel", [3, (4, 2)])
def test_module_padding_variants_and_gradients_match_torch(options, kernel):
    if options.get("padding") == "same" and options.get("dilation", 1) > 1 and kernel != 3:
        kernel = 3
    torch.manual_seed(5)
    ref = torch.nn.Conv2d(3, 4, kernel, **options).double()
    mine = ct.Conv2d(3, 4, kernel, **options).double()
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 10, 9, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    y, y2 = ref(x), mine(x2)
    torch.testing.assert_close(y2, y, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    y.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-12, atol=1e-12)
    for p, q in zip(mine.parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-12, atol=1e-12)


def test_only_the_needed_gradients_and_unbatched_input():
    layer = ct.Conv2d(2, 3, 3, padding=1).double()
    layer.weight.requires_grad_(False)
    x = torch.randn(2, 5, 5, dtype=torch.float64, requires_grad=True)  # unbatched [C, H, W]
    y = layer(x)
    assert y.shape == (3, 5, 5)
    y.sum().backward()
    assert x.grad.shape == x.shape and layer.weight.grad is None and layer.bias.grad.shape == (3,)
    with pytest.raises(RuntimeError):  # no double backward through conjure
        z = ct.conv2d(x.unsqueeze(0), layer.weight.detach().requires_grad_())
        (gx,) = torch.autograd.grad(z.sum(), x, create_graph=True)
        gx.sum().backward()


def test_bad_tensors():
    layer = ct.Conv2d(2, 3, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        layer(torch.ones(1, 2, 5, 5, dtype=torch.int32))
    with pytest.raises(TypeError, match="f64 but input is f32"):
        ct.conv2d(torch.ones(1, 2, 5, 5), torch.ones(3, 2, 3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="input channels"):
        layer(torch.ones(1, 4, 5, 5))
    with pytest.raises(ValueError, match="'valid' or 'same'"):
        ct.conv2d(torch.ones(1, 2, 5, 5), torch.ones(3, 2, 3, 3), padding="full")


def test_training_steps_lower_the_loss_as_with_torch():
    """A small CNN trained for a few steps with the conjure layer follows the torch one step by step."""
    def net(conv):
        torch.manual_seed(11)
        return torch.nn.Sequential(conv(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                   conv(4, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                   torch.nn.Linear(6 * 4 * 4, 3)).double()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, 1, 8, 8, dtype=torch.float64, generator=gen)
    labels = torch.randint(0, 3, (16,), generator=gen)
    losses = {}
    for name, conv in (("torch", torch.nn.Conv2d), ("conjure", ct.Conv2d)):
        model = net(conv)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        losses[name] = []
        for _ in range(8):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), labels)
            loss.backward()
            opt.step()
            losses[name].append(loss.item())
    assert losses["conjure"][-1] < losses["conjure"][0]
    assert losses["conjure"] == pytest.approx(losses["torch"], rel=1e-9)
