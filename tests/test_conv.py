"""Convolutions (conv1d/2d/3d, conv_transpose1d/2d/3d, unfold/fold) and the Conv layers: values
against a direct numpy loop, gradients by float64 gradcheck/gradgradcheck, PyTorch's errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(7)


def t64(a, requires_grad=True):
    return nb.tensor(np.asarray(a, dtype=np.float64), dtype=nb.float64,
                     requires_grad=requires_grad)


def np_conv(x, w, b=None, stride=1, pad=0, dil=1, groups=1):
    """Direct N-d cross-correlation: x (N, C, *S), w (OC, C/groups, *k), symmetric padding."""
    nd = x.ndim - 2
    st, pd, dl = ((v,) * nd if np.isscalar(v) else tuple(v) for v in (stride, pad, dil))
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pd])
    k = w.shape[2:]
    out_sz = [(xp.shape[2 + i] - dl[i] * (k[i] - 1) - 1) // st[i] + 1 for i in range(nd)]
    n, oc = x.shape[0], w.shape[0]
    cg, ocg = w.shape[1], oc // groups
    out = np.zeros((n, oc, *out_sz))
    for o in itertools.product(*(range(s) for s in out_sz)):
        for j in itertools.product(*(range(kk) for kk in k)):
            pos = tuple(o[i] * st[i] + j[i] * dl[i] for i in range(nd))
            for g in range(groups):
                xs = xp[(slice(None), slice(g * cg, (g + 1) * cg), *pos)]  # (N, cg)
                ws = w[(slice(g * ocg, (g + 1) * ocg), slice(None), *j)]  # (ocg, cg)
                out[(slice(None), slice(g * ocg, (g + 1) * ocg), *o)] += xs @ ws.T
    if b is not None:
        out += b.reshape(1, -1, *(1,) * nd)
    return out


def np_conv_transpose(x, w, stride, pad, out_pad, dil, groups):
    """Direct transposed convolution: scatter every input value through the kernel."""
    nd = x.ndim - 2
    n, cin = x.shape[:2]
    ocg, k = w.shape[1], w.shape[2:]
    cig = cin // groups
    full = [(x.shape[2 + i] - 1) * stride[i] + dil[i] * (k[i] - 1) + 1 + out_pad[i]
            for i in range(nd)]
    out = np.zeros((n, ocg * groups, *[f + pad[i] for i, f in enumerate(full)]))
    for i in itertools.product(*(range(s) for s in x.shape[2:])):
        for j in itertools.product(*(range(kk) for kk in k)):
            pos = tuple(i[d] * stride[d] + j[d] * dil[d] for d in range(nd))
            for g in range(groups):
                xs = x[(slice(None), slice(g * cig, (g + 1) * cig), *i)]  # (N, cig)
                ws = w[(slice(g * cig, (g + 1) * cig), slice(None), *j)]  # (cig, ocg)
                out[(slice(None), slice(g * ocg, (g + 1) * ocg), *pos)] += xs @ ws
    sl = tuple(slice(pad[d], pad[d] + full[d] - 2 * pad[d] + 0) for d in range(nd))
    sl = tuple(slice(pad[d], full[d] - pad[d]) for d in range(nd))
    return out[(slice(None), slice(None), *sl)]


CONV_CASES = [
    # nd, x shape, w shape, kwargs
    (1, (2, 3, 9), (4, 3, 3), dict(stride=2, padding=1)),
    (1, (1, 4, 8), (6, 2, 2), dict(dilation=3, groups=2)),
    (2, (2, 2, 6, 5), (3, 2, 3, 2), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    (2, (1, 4, 5, 5), (4, 1, 3, 3), dict(padding=1, groups=4)),
    (3, (1, 2, 4, 3, 5), (2, 2, 2, 2, 3), dict(stride=(1, 2, 1), padding=(1, 0, 1))),
]


@pytest.mark.parametrize("nd,xs,ws,kw", CONV_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_matches_a_direct_loop(nd, xs, ws, kw, dtype):
    x, w, b = RNG.standard_normal(xs), RNG.standard_normal(ws), RNG.standard_normal(ws[0])
    fn = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    got = fn(nb.tensor(x.astype(dtype)), nb.tensor(w.astype(dtype)), nb.tensor(b.astype(dtype)),
             **kw)
    want = np_conv(x, w, b, kw.get("stride", 1), kw.get("padding", 0), kw.get("dilation", 1),
                   kw.get("groups", 1))
    assert got.dtype == nb.tensor(x.astype(dtype)).dtype
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


def test_conv2d_unbatched_and_non_contiguous_input():
    x = RNG.standard_normal((3, 5, 6))
    w = RNG.standard_normal((2, 3, 2, 2))
    got = F.conv2d(nb.tensor(x), nb.tensor(w))
    np.testing.assert_allclose(got.numpy(), np_conv(x[None], w)[0], atol=1e-10)
    xt = nb.tensor(x).transpose(1, 2)  # (3, 6, 5), strided
    np.testing.assert_allclose(F.conv2d(xt, nb.tensor(w)).numpy(),
                               np_conv(x.transpose(0, 2, 1)[None], w)[0], atol=1e-10)


@pytest.mark.parametrize("k,dil", [(3, 1), (4, 1), (2, 3)])
def test_padding_same_and_valid(k, dil):
    x, w = RNG.standard_normal((1, 2, 7)), RNG.standard_normal((3, 2, k))
    same = F.conv1d(nb.tensor(x), nb.tensor(w), padding="same", dilation=dil)
    assert same.shape == (1, 3, 7)
    total = dil * (k - 1)
    xp = np.pad(x, [(0, 0), (0, 0), (total // 2, total - total // 2)])
    np.testing.assert_allclose(same.numpy(), np_conv(xp, w, dil=dil), atol=1e-10)
    valid = F.conv1d(nb.tensor(x), nb.tensor(w), padding="valid", dilation=dil)
    np.testing.assert_allclose(valid.numpy(), np_conv(x, w, dil=dil), atol=1e-10)


@pytest.mark.parametrize("nd,xs,ws,kw", CONV_CASES[::2])
def test_conv_gradcheck(nd, xs, ws, kw):
    fn = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    x, w, b = t64(RNG.standard_normal(xs)), t64(RNG.standard_normal(ws)), t64(
        RNG.standard_normal(ws[0]))
    assert gradcheck(lambda x, w, b: fn(x, w, b, **kw), (x, w, b))


def test_conv_gradgradcheck():
    x, w = t64(RNG.standard_normal((1, 2, 4, 4))), t64(RNG.standard_normal((2, 1, 2, 2)))
    assert gradgradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2), (x, w))


TRANSPOSE_CASES = [
    (1, (2, 2, 4), (2, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    (2, (1, 4, 3, 2), (4, 1, 2, 3), dict(stride=(2, 1), padding=(0, 1), groups=2,
                                         dilation=(1, 2))),
    (3, (1, 2, 2, 2, 3), (2, 2, 2, 2, 2), dict(stride=2, output_padding=(1, 0, 1))),
]


@pytest.mark.parametrize("nd,xs,ws,kw", TRANSPOSE_CASES)
def test_conv_transpose_matches_a_direct_loop(nd, xs, ws, kw):
    x, w, b = RNG.standard_normal(xs), RNG.standard_normal(ws), RNG.standard_normal(
        ws[1] * kw.get("groups", 1))
    fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
    got = fn(nb.tensor(x), nb.tensor(w), nb.tensor(b), **kw)

    def tup(v, d):
        return (v,) * nd if np.isscalar(v) else tuple(v) if v is not None else (d,) * nd
    want = np_conv_transpose(x, w, tup(kw.get("stride", 1), 1), tup(kw.get("padding", 0), 0),
                             tup(kw.get("output_padding", 0), 0),
                             tup(kw.get("dilation", 1), 1), kw.get("groups", 1))
    want += b.reshape(1, -1, *(1,) * nd)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-10)


def test_conv_transpose_gradcheck_and_gradgradcheck():
    x, w = t64(RNG.standard_normal((1, 2, 3, 2))), t64(RNG.standard_normal((2, 2, 2, 2)))
    fn = lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)  # noqa
    assert gradcheck(fn, (x, w))
    assert gradgradcheck(fn, (x, w))


def test_conv_transpose_is_the_adjoint_of_conv():
    # <conv(x, w), y> == <x, conv_transpose(y, w)>
    x, w = RNG.standard_normal((2, 3, 7, 6)), RNG.standard_normal((4, 3, 3, 2))
    y = np_conv(x, w, stride=2, pad=1)
    y = RNG.standard_normal(y.shape)
    lhs = (np_conv(x, w, stride=2, pad=1) * y).sum()
    xt = F.conv_transpose2d(nb.tensor(y), nb.tensor(w), stride=2, padding=1)
    assert xt.shape == x.shape
    assert math.isclose(lhs, float((xt.numpy() * x).sum()), rel_tol=1e-9)


def test_integer_conv_is_exact():
    x = nb.arange(16).reshape(1, 1, 4, 4)
    out = F.conv2d(x, nb.ones(1, 1, 2, 2, dtype=nb.int64))
    assert out.dtype == nb.int64
    assert out.tolist() == [[[[10, 14, 18], [26, 30, 34], [42, 46, 50]]]]


def test_unfold_and_fold_are_transposes():
    x = RNG.standard_normal((2, 3, 5, 4))
    cols = F.unfold(nb.tensor(x), (2, 3), dilation=(1, 1), padding=1, stride=(2, 1))
    n_l = ((5 + 2 - 2) // 2 + 1) * ((4 + 2 - 3) // 1 + 1)
    assert cols.shape == (2, 3 * 6, n_l)
    xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    want = np.stack([xp[:, :, 2 * i + a, j + b] for a in range(2) for b in range(3)
                     for i in range(3) for j in range(4)], -1)  # (N, C, K*L)
    np.testing.assert_allclose(cols.numpy(), want.reshape(2, 3 * 6, n_l), atol=0)
    y = RNG.standard_normal(cols.shape)
    back = F.fold(nb.tensor(y), (5, 4), (2, 3), padding=1, stride=(2, 1))
    assert math.isclose(float((cols.numpy() * y).sum()), float((back.numpy() * x).sum()),
                        rel_tol=1e-9)
    xg = t64(RNG.standard_normal((1, 2, 3, 3)))
    assert gradcheck(lambda t: F.unfold(t, 2, padding=1), (xg,))
    assert gradgradcheck(lambda t: F.fold(t, (3, 3), 2), (t64(RNG.standard_normal((1, 8, 4))),))


def test_unfold_unbatched():
    assert F.unfold(nb.ones(2, 3, 3), 2).shape == (8, 4)
    assert F.fold(nb.ones(8, 4), 3, 2).shape == (2, 3, 3)


@pytest.mark.parametrize("call,message", [
    (lambda: F.conv2d(nb.zeros(2, 3), nb.zeros(4, 3, 3, 3)),
     r"Expected 3D \(unbatched\) or 4D \(batched\) input to conv2d, but got input of size: "
     r"\[2, 3\]"),
    (lambda: F.conv2d(nb.zeros(1, 2, 5, 5), nb.zeros(4, 3, 3, 3)),
     r"Given groups=1, weight of size \[4, 3, 3, 3\], expected input\[1, 2, 5, 5\] to have 3 "
     r"channels, but got 2 channels instead"),
    (lambda: F.conv2d(nb.zeros(1, 6, 5, 5), nb.zeros(3, 3, 3, 3), groups=2),
     r"Given groups=2, expected weight to be divisible by 2 at dimension 0"),
    (lambda: F.conv2d(nb.zeros(1, 3, 2, 2), nb.zeros(4, 3, 3, 3)),
     r"Kernel size can't be greater than actual input size"),
    (lambda: F.conv2d(nb.zeros(1, 3, 5, 5), nb.zeros(4, 3, 3, 3), nb.zeros(3)),
     r"expected bias to be 1-dimensional with 4 elements, but got bias of size \[3\]"),
    (lambda: F.conv2d(nb.zeros(1, 3, 5, 5), nb.zeros(4, 3, 3, 3), stride=2, padding="same"),
     r"padding='same' is not supported for strided convolutions"),
    (lambda: F.conv2d(nb.zeros(1, 3, 5, 5), nb.zeros(4, 3, 3, 3), padding="foo"),
     r"Invalid padding string: 'foo'"),
    (lambda: F.conv2d(nb.zeros(1, 3, 5, 5), nb.zeros(4, 3, 3, 3), stride=0),
     r"non-positive stride is not supported"),
    (lambda: F.conv2d(nb.zeros(1, 3, 5, 5), nb.zeros(4, 3, 3, 3), padding=-1),
     r"negative padding is not supported"),
    (lambda: F.conv2d(nb.zeros(1, 3, 5, 5), nb.zeros(4, 3, 3, 3), stride=(1, 1, 1)),
     r"expected stride to be a single integer value or a list of 2 values"),
    (lambda: F.conv1d(nb.zeros(1, 3, 5, 5), nb.zeros(4, 3, 3)),
     r"Expected 2D \(unbatched\) or 3D \(batched\) input to conv1d"),
    (lambda: F.conv_transpose2d(nb.zeros(1, 3, 5, 5), nb.zeros(4, 3, 3, 3)),
     r"Given transposed=1, weight of size \[4, 3, 3, 3\], expected input\[1, 3, 5, 5\] to have "
     r"4 channels, but got 3 channels instead"),
    (lambda: F.conv_transpose2d(nb.zeros(1, 4, 5, 5), nb.zeros(4, 3, 3, 3), output_padding=2),
     r"output padding must be smaller than either stride or dilation"),
    (lambda: F.conv2d(nb.zeros(1, 3, 5, 5), nb.zeros(4, 3, 3, 3, dtype=nb.float64)),
     r"expected scalar type Float but found Double"),
])
def test_conv_errors(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


# ----------------------------------------------------------------------------- layers
def test_conv2d_layer_shapes_init_and_repr():
    nb.manual_seed(0)
    conv = nb.nn.Conv2d(3, 4, 3, stride=2, padding=1, dilation=2, bias=False,
                        padding_mode="reflect")
    assert conv.weight.shape == (4, 3, 3, 3) and conv.bias is None
    assert repr(conv) == ("Conv2d(3, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                          "dilation=(2, 2), bias=False, padding_mode=reflect)")
    assert repr(nb.nn.Conv2d(3, 4, 3)) == "Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(nb.nn.ConvTranspose2d(3, 4, 3, stride=2)) == \
        "ConvTranspose2d(3, 4, kernel_size=(3, 3), stride=(2, 2))"
    assert repr(nb.nn.Conv1d(2, 4, 3, padding="same")) == \
        "Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=same)"
    c = nb.nn.Conv2d(4, 6, (3, 2), groups=2)
    bound = 1 / math.sqrt(2 * 3 * 2)  # kaiming-uniform(a=sqrt(5)) gives U(-1/sqrt(fan_in), ..)
    assert c.weight.shape == (6, 2, 3, 2)
    assert float(c.weight.abs().max()) <= bound and float(c.bias.abs().max()) <= bound
    t = nb.nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert t.weight.shape == (4, 3, 3, 3)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv_layer_padding_modes(mode):
    conv = nb.nn.Conv1d(1, 1, 3, padding=2, padding_mode=mode, bias=False)
    with nb.no_grad():
        conv.weight.copy_(nb.tensor([[[1.0, 10.0, 100.0]]]))
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
               "circular": "wrap"}[mode]
    xp = np.pad(x, 2, mode=np_mode)
    want = np.convolve(xp, [100.0, 10.0, 1.0], mode="valid")
    np.testing.assert_allclose(conv(nb.tensor([[x]])).detach().numpy()[0, 0], want)


def test_conv_layer_loads_a_state_dict_and_transpose_output_size():
    conv = nb.nn.Conv2d(2, 3, 2)
    w, b = RNG.standard_normal((3, 2, 2, 2)), RNG.standard_normal(3)
    conv.load_state_dict({"weight": nb.tensor(w, dtype=nb.float32),
                          "bias": nb.tensor(b, dtype=nb.float32)})
    x = RNG.standard_normal((1, 2, 4, 4))
    got = conv(nb.tensor(x, dtype=nb.float32)).detach().numpy()
    np.testing.assert_allclose(got, np_conv(x, w, b), rtol=1e-5, atol=1e-5)
    up = nb.nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1)
    assert up(nb.zeros(1, 1, 4, 4), output_size=(8, 7)).shape == (1, 1, 8, 7)
    with pytest.raises(ValueError, match="requested an output size"):
        up(nb.zeros(1, 1, 4, 4), output_size=(10, 10))


def test_conv_layer_argument_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nb.nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nb.nn.Conv2d(3, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported'):
        nb.nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")


def test_small_cnn_trains():
    nb.manual_seed(0)
    net = nb.nn.Sequential(nb.nn.Conv2d(1, 4, 3), nb.nn.ReLU(), nb.nn.MaxPool2d(2),
                           nb.nn.Flatten(), nb.nn.Linear(4 * 3 * 3, 2))
    x = nb.randn(8, 1, 8, 8)
    y = (x.mean((1, 2, 3)) > 0).long()
    opt = nb.optim.Adam(net.parameters(), lr=0.05)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first
