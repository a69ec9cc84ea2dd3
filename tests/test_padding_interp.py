"""F.pad (every mode), F.interpolate (every mode), pixel_shuffle/unshuffle,
scaled_dot_product_attention and the padding/upsampling layers: values against numpy or exact
formulas (a few reference numbers written out from PyTorch's documented coordinate rules),
gradients by float64 gradcheck, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(5)


def t64(a, requires_grad=True):
    return nb.tensor(np.asarray(a, dtype=np.float64), dtype=nb.float64,
                     requires_grad=requires_grad)


# ----------------------------------------------------------------------------- pad
@pytest.mark.parametrize("mode,np_mode", [("reflect", "reflect"), ("replicate", "edge"),
                                          ("circular", "wrap")])
@pytest.mark.parametrize("shape,pads", [((2, 5), (2, 1)), ((1, 2, 5), (1, 3)),
                                        ((2, 4, 5), (1, 2, 3, 0)),
                                        ((1, 2, 3, 4, 5), (1, 1, 2, 0, 0, 2))])
def test_pad_modes_match_numpy(mode, np_mode, shape, pads):
    x = RNG.standard_normal(shape)
    got = F.pad(nb.tensor(x), pads, mode=mode)
    widths = [(0, 0)] * (x.ndim - len(pads) // 2) + [
        (pads[2 * i], pads[2 * i + 1]) for i in reversed(range(len(pads) // 2))]
    np.testing.assert_array_equal(got.numpy(), np.pad(x, widths, mode=np_mode))


def test_constant_pad_any_dims_and_negative_pads():
    x = RNG.standard_normal((2, 3, 4))
    got = F.pad(nb.tensor(x), (1, 2, 0, 1, 1, 1), value=2.5)
    want = np.pad(x, [(1, 1), (0, 1), (1, 2)], constant_values=2.5)
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(F.pad(nb.tensor(x), (-1, 1)).numpy(),
                                  np.pad(x[..., 1:], [(0, 0), (0, 0), (0, 1)]))


def test_pad_gradients():
    x = t64(RNG.standard_normal((1, 2, 4, 3)))
    for mode in ("constant", "reflect", "replicate", "circular"):
        assert gradcheck(lambda t, m=mode: F.pad(t, (1, 2, 2, 1), mode=m), (x,)), mode
    assert gradgradcheck(lambda t: F.pad(t, (1, 2, 1, 0), mode="reflect") ** 2, (x,))


@pytest.mark.parametrize("call,exc,message", [
    (lambda: F.pad(nb.zeros(3, 3), (1, 1, 1)), RuntimeError,
     "Padding length must be divisible by 2"),
    (lambda: F.pad(nb.zeros(3, 3), (4, 4), mode="reflect"), RuntimeError,
     r"Padding size should be less than the corresponding input dimension, but got: padding "
     r"\(4, 4\) at dimension 1 of input \[3, 3\]"),
    (lambda: F.pad(nb.zeros(3), (1, 1), mode="reflect"), NotImplementedError,
     "Padding size 2 is not supported for 1D input tensor."),
    (lambda: F.pad(nb.zeros(3, 3), (1, 1), mode="foo"), NotImplementedError,
     "Unrecognised padding mode foo"),
])
def test_pad_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_padding_layers():
    x = nb.tensor([[[1.0, 2.0, 3.0]]])
    assert nb.nn.ReflectionPad1d((2, 0))(x).tolist() == [[[3.0, 2.0, 1.0, 2.0, 3.0]]]
    assert nb.nn.ReplicationPad1d(1)(x).tolist() == [[[1.0, 1.0, 2.0, 3.0, 3.0]]]
    assert nb.nn.CircularPad1d(1)(x).tolist() == [[[3.0, 1.0, 2.0, 3.0, 1.0]]]
    assert nb.nn.ConstantPad1d(1, 7.0)(x).tolist() == [[[7.0, 1.0, 2.0, 3.0, 7.0]]]
    assert nb.nn.ZeroPad2d((1, 0, 0, 1))(nb.ones(1, 1, 1)).tolist() == [[[0.0, 1.0],
                                                                        [0.0, 0.0]]]
    assert nb.nn.ReplicationPad3d(1)(nb.ones(1, 1, 1, 1)).shape == (1, 3, 3, 3)
    assert repr(nb.nn.ZeroPad2d(1)) == "ZeroPad2d((1, 1, 1, 1))"
    assert repr(nb.nn.ConstantPad1d(2, 3.5)) == "ConstantPad1d(padding=(2, 2), value=3.5)"
    assert repr(nb.nn.ReflectionPad2d(1)) == "ReflectionPad2d((1, 1, 1, 1))"
    assert repr(nb.nn.ZeroPad1d((1, 2))) == "ZeroPad1d((1, 2))"


# ----------------------------------------------------------------------------- interpolate
X = [[[[1.0, 2.0, 4.0], [3.0, 0.0, -1.0]]]]


@pytest.mark.parametrize("kwargs,want", [
    (dict(size=(3, 4), mode="bicubic"),
     [0.729689, 1.439801, 3.136167, 4.596275, 2.071777, 1.305420, 1.070313, 1.535889,
      3.413866, 1.171039, -0.995540, -1.524496]),
    (dict(size=(3, 5), mode="bilinear"),
     [1.0, 1.4, 2.0, 3.2, 4.0, 2.0, 1.6, 1.0, 1.3, 1.5, 3.0, 1.8, 0.0, -0.6, -1.0]),
    (dict(scale_factor=1.7, mode="bilinear"),
     [1.0, 1.382353, 1.970588, 3.117647, 4.0, 1.764706, 1.562284, 1.250865, 1.711938,
      2.088235, 2.941177, 1.839100, 0.143598, -0.450692, -0.852942]),
    (dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True),
     [1.0, 1.4, 2.0, 3.2, 4.0, 2.0, 1.6, 1.0, 1.3, 1.5, 3.0, 1.8, 0.0, -0.6, -1.0]),
    (dict(scale_factor=1.7, mode="nearest"),
     [1.0, 1.0, 2.0, 2.0, 4.0, 1.0, 1.0, 2.0, 2.0, 4.0, 3.0, 3.0, 0.0, 0.0, -1.0]),
    (dict(size=(3, 5), mode="nearest-exact"),
     [1.0, 1.0, 2.0, 4.0, 4.0, 3.0, 3.0, 0.0, -1.0, -1.0, 3.0, 3.0, 0.0, -1.0, -1.0]),
])
def test_interpolate_2d_reference_values(kwargs, want):
    got = F.interpolate(nb.tensor(X), **kwargs)
    np.testing.assert_allclose(got.numpy().ravel(), want, atol=2e-6)


def test_interpolate_1d_3d_and_align_corners():
    y = nb.tensor([[[1.0, 2.0, 4.0, 3.0]]])
    np.testing.assert_allclose(F.interpolate(y, scale_factor=0.6, mode="linear").numpy().ravel(),
                               [4 / 3, 4.0], rtol=1e-6)
    np.testing.assert_allclose(
        F.interpolate(y, size=7, mode="linear", align_corners=True).numpy().ravel(),
        [1.0, 1.5, 2.0, 3.0, 4.0, 3.5, 3.0])
    z = nb.arange(8.0).reshape(1, 1, 2, 2, 2)
    got = F.interpolate(z, size=(3, 3, 3), mode="trilinear").numpy().ravel()[:9]
    np.testing.assert_allclose(got, [0.0, 0.5, 1.0, 1.0, 1.5, 2.0, 2.0, 2.5, 3.0])
    # align_corners=True reproduces a linear ramp exactly
    ramp = np.add.outer(np.arange(4.0), 2 * np.arange(5.0))[None, None]
    got = F.interpolate(nb.tensor(ramp), size=(7, 9), mode="bilinear", align_corners=True)
    want = np.add.outer(np.linspace(0, 3, 7), 2 * np.linspace(0, 4, 9))
    np.testing.assert_allclose(got.numpy()[0, 0], want, atol=1e-12)
    area = F.interpolate(nb.tensor(ramp), size=(2, 5), mode="area")
    np.testing.assert_allclose(area.numpy(), F.adaptive_avg_pool2d(nb.tensor(ramp), (2, 5)).numpy())


def test_interpolate_gradients():
    x = t64(RNG.standard_normal((1, 1, 3, 2)))
    for kw in (dict(size=(4, 5), mode="bilinear"), dict(scale_factor=2, mode="bicubic",
                                                        align_corners=True),
               dict(scale_factor=1.5, mode="nearest")):
        assert gradcheck(lambda t, kw=kw: F.interpolate(t, **kw), (x,)), kw
    assert gradgradcheck(lambda t: F.interpolate(t, size=(4, 3), mode="bilinear") ** 2, (x,))


@pytest.mark.parametrize("call,exc,message", [
    (lambda: F.interpolate(nb.zeros(1, 3, 2, 2), size=3, mode="linear"), NotImplementedError,
     "Got 4D input, but linear mode needs 3D input"),
    (lambda: F.interpolate(nb.zeros(1, 3, 2, 2), size=3, mode="nearest", align_corners=True),
     ValueError, "align_corners option can only be set with the interpolating modes"),
    (lambda: F.interpolate(nb.zeros(1, 3, 2, 2)), ValueError,
     "either size or scale_factor should be defined"),
    (lambda: F.interpolate(nb.zeros(1, 3, 2, 2), size=3, scale_factor=2), ValueError,
     "only one of size or scale_factor should be defined"),
])
def test_interpolate_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_upsample_layers():
    assert repr(nb.nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nb.nn.UpsamplingBilinear2d(scale_factor=2)) == \
        "UpsamplingBilinear2d(scale_factor=2.0, mode='bilinear')"
    assert repr(nb.nn.UpsamplingNearest2d(size=3)) == "UpsamplingNearest2d(size=3, mode='nearest')"
    x = nb.tensor(X)
    np.testing.assert_allclose(nb.nn.UpsamplingBilinear2d(size=(3, 5))(x).numpy(),
                               F.interpolate(x, size=(3, 5), mode="bilinear",
                                             align_corners=True).numpy())
    assert nb.nn.Upsample(scale_factor=2)(x).shape == (1, 1, 4, 6)


# ----------------------------------------------------------------------------- pixel shuffle
def test_pixel_shuffle_and_unshuffle():
    x = RNG.standard_normal((2, 8, 3, 2))
    got = F.pixel_shuffle(nb.tensor(x), 2)
    want = x.reshape(2, 2, 2, 2, 3, 2).transpose(0, 1, 4, 2, 5, 3).reshape(2, 2, 6, 4)
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(F.pixel_unshuffle(got, 2).numpy(), x)
    assert nb.nn.PixelShuffle(2)(nb.zeros(8, 1, 1)).shape == (2, 2, 2)
    assert repr(nb.nn.PixelUnshuffle(2)) == "PixelUnshuffle(downscale_factor=2)"
    assert gradcheck(lambda t: F.pixel_shuffle(t, 2), (t64(x[:1, :4, :2, :1]),))
    with pytest.raises(RuntimeError, match=r"input.size\(-3\)=3 is not divisible by 4"):
        F.pixel_shuffle(nb.zeros(1, 3, 2, 2), 2)


def test_fold_unfold_layers():
    assert repr(nb.nn.Fold(4, 2)) == \
        "Fold(output_size=4, kernel_size=2, dilation=1, padding=0, stride=1)"
    assert repr(nb.nn.Unfold(2)) == "Unfold(kernel_size=2, dilation=1, padding=0, stride=1)"
    x = nb.tensor(RNG.standard_normal((1, 2, 4, 4)))
    cols = nb.nn.Unfold(2, stride=2)(x)
    np.testing.assert_allclose(nb.nn.Fold(4, 2, stride=2)(cols).numpy(), x.numpy())


# ----------------------------------------------------------------------------- attention
def np_sdpa(q, k, v, mask=None, causal=False, scale=None):
    s = q @ np.swapaxes(k, -1, -2) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


def test_scaled_dot_product_attention():
    q, k, v = (RNG.standard_normal((2, 3, 4, 5)) for _ in range(3))
    nq, nk, nv = nb.tensor(q), nb.tensor(k), nb.tensor(v)
    np.testing.assert_allclose(F.scaled_dot_product_attention(nq, nk, nv).numpy(),
                               np_sdpa(q, k, v), atol=1e-12)
    np.testing.assert_allclose(
        F.scaled_dot_product_attention(nq, nk, nv, is_causal=True, scale=0.3).numpy(),
        np_sdpa(q, k, v, causal=True, scale=0.3), atol=1e-12)
    bmask = RNG.random((4, 4)) > 0.3
    bmask[:, 0] = True
    np.testing.assert_allclose(
        F.scaled_dot_product_attention(nq, nk, nv, attn_mask=nb.tensor(bmask)).numpy(),
        np_sdpa(q, k, v, mask=bmask), atol=1e-12)
    fmask = RNG.standard_normal((4, 4))
    np.testing.assert_allclose(
        F.scaled_dot_product_attention(nq, nk, nv, attn_mask=nb.tensor(fmask)).numpy(),
        np_sdpa(q, k, v, mask=fmask), atol=1e-12)
    a, b, c = (t64(RNG.standard_normal((1, 3, 2))) for _ in range(3))
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True),
                     (a, b, c))
    kq = RNG.standard_normal((1, 4, 3, 2))
    kk, kv = RNG.standard_normal((1, 2, 3, 2)), RNG.standard_normal((1, 2, 3, 2))
    gqa = F.scaled_dot_product_attention(nb.tensor(kq), nb.tensor(kk), nb.tensor(kv),
                                         enable_gqa=True)
    want = np_sdpa(kq, np.repeat(kk, 2, axis=1), np.repeat(kv, 2, axis=1))
    np.testing.assert_allclose(gqa.numpy(), want, atol=1e-12)
    nb.manual_seed(0)
    dropped = F.scaled_dot_product_attention(nq, nk, nv, dropout_p=0.5)
    assert dropped.shape == (2, 3, 4, 5)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set"):
        F.scaled_dot_product_attention(nq, nk, nv, attn_mask=nb.tensor(bmask), is_causal=True)
