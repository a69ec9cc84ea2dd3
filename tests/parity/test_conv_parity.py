"""Convolutions, pooling, padding and resampling beside PyTorch: float64 values, input and
weight gradients, state_dict keys/shapes (weights copied from torch's state_dict)."""

import warnings

import numpy as np
import pytest

from ._parity import build_pair, compare, module_fn, randn, torch  # noqa: F401

# torch warns about even kernels with padding="same" and such; only values matter here
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

CONV = [
    # (module, in, out, kernel, kwargs, input shape without batch/channels)
    ("Conv1d", 2, 4, 3, {}, (7,)),
    ("Conv1d", 2, 4, 3, {"stride": 2, "padding": 1}, (8,)),
    ("Conv1d", 4, 4, 2, {"padding": "same", "dilation": 3}, (9,)),
    ("Conv1d", 4, 6, 3, {"groups": 2, "dilation": 2, "bias": False}, (9,)),
    ("Conv1d", 2, 3, 3, {"padding": 2, "padding_mode": "reflect"}, (6,)),
    ("Conv1d", 2, 3, 3, {"padding": 2, "padding_mode": "replicate"}, (6,)),
    ("Conv1d", 2, 3, 3, {"padding": 2, "padding_mode": "circular"}, (6,)),
    ("Conv1d", 2, 3, 4, {"padding": "same", "padding_mode": "circular"}, (6,)),
    ("Conv2d", 2, 3, 3, {}, (5, 6)),
    ("Conv2d", 2, 4, (2, 3), {"stride": (2, 1), "padding": (1, 2)}, (5, 6)),
    ("Conv2d", 2, 4, (2, 3), {"padding": "same", "dilation": (2, 1)}, (5, 6)),
    ("Conv2d", 4, 4, 3, {"groups": 4, "stride": 2}, (6, 5)),
    ("Conv2d", 4, 6, 3, {"groups": 2, "padding": 1, "padding_mode": "reflect"}, (5, 5)),
    ("Conv2d", 2, 3, 3, {"padding": (1, 2), "padding_mode": "replicate"}, (4, 5)),
    ("Conv2d", 2, 3, 3, {"padding": 1, "padding_mode": "circular", "stride": 2}, (5, 4)),
    ("Conv2d", 2, 3, 2, {"padding": "same", "padding_mode": "reflect"}, (4, 5)),
    ("Conv3d", 2, 3, 2, {}, (3, 4, 3)),
    ("Conv3d", 2, 4, (1, 2, 3), {"stride": (1, 2, 1), "padding": (0, 1, 1), "groups": 2},
     (3, 4, 4)),
    ("Conv3d", 2, 2, 2, {"padding": "same", "dilation": 2}, (4, 3, 4)),
    ("Conv3d", 2, 2, 3, {"padding": 1, "padding_mode": "circular"}, (3, 3, 4)),
    ("Conv3d", 2, 2, 3, {"padding": 1, "padding_mode": "replicate", "bias": False}, (3, 3, 3)),
    ("ConvTranspose1d", 2, 3, 3, {"stride": 2, "output_padding": 1}, (4,)),
    ("ConvTranspose2d", 2, 3, 3, {}, (3, 4)),
    ("ConvTranspose2d", 2, 3, 3, {"stride": 2, "padding": 1, "output_padding": 1}, (3, 4)),
    ("ConvTranspose2d", 4, 6, (2, 3), {"stride": (3, 2), "output_padding": (2, 1),
                                       "groups": 2}, (3, 3)),
    ("ConvTranspose2d", 2, 2, 3, {"stride": 2, "dilation": 2, "output_padding": 1,
                                  "bias": False}, (3, 3)),
    ("ConvTranspose3d", 2, 2, 2, {"stride": 2, "padding": 1, "output_padding": 1}, (2, 3, 2)),
]


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("case", CONV, ids=lambda c: f"{c[0]}-{c[4]}")
def test_conv(case, batched):
    name, cin, cout, k, kw, spatial = case
    nm, tm = build_pair(name, cin, cout, k, **kw)
    x = randn(*((2,) if batched else ()), cin, *spatial)
    compare(module_fn(nm, tm), [x], nm, tm)


def test_conv_transpose_output_size():
    nm, tm = build_pair("ConvTranspose2d", 2, 3, 3, stride=2)
    call = module_fn(nm, tm, lambda lib, m, x: m(x, output_size=[10, 11]))
    compare(call, [randn(1, 2, 4, 5)], nm, tm)


def fn(name, **kw):
    def f(lib, *xs):
        return getattr(lib.nn.functional, name)(*xs, **kw)
    return f


POOL = [
    ("MaxPool2d", {"kernel_size": 2}, (2, 2, 5, 6)),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, (1, 2, 6, 7)),
    ("MaxPool2d", {"kernel_size": (2, 3), "stride": 2, "padding": 1, "return_indices": True},
     (2, 2, 5, 6)),
    ("MaxPool2d", {"kernel_size": 2, "dilation": 2, "ceil_mode": True, "return_indices": True},
     (1, 2, 6, 7)),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (2, 5, 6)),
    ("AvgPool2d", {"kernel_size": 2}, (2, 2, 5, 6)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (1, 2, 6, 7)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
     (1, 2, 6, 7)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 2, 6, 7)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                   "count_include_pad": False}, (1, 2, 6, 7)),
    ("AvgPool2d", {"kernel_size": 2, "divisor_override": 3}, (2, 5, 6)),
    ("AvgPool2d", {"kernel_size": 3, "padding": 1, "divisor_override": 5,
                   "count_include_pad": False}, (1, 1, 5, 5)),
    ("AdaptiveAvgPool2d", {"output_size": 3}, (2, 2, 5, 7)),
    ("AdaptiveAvgPool2d", {"output_size": (2, 4)}, (1, 2, 5, 7)),
    ("AdaptiveAvgPool2d", {"output_size": (None, 3)}, (2, 5, 7)),
    ("AdaptiveAvgPool2d", {"output_size": (7, 9)}, (1, 1, 5, 7)),
    ("AdaptiveAvgPool2d", {"output_size": 1}, (2, 3, 4, 4)),
]


@pytest.mark.parametrize("case", POOL, ids=lambda c: f"{c[0]}-{c[1]}")
def test_pool(case):
    name, kw, shape = case
    nm, tm = build_pair(name, **kw)
    compare(module_fn(nm, tm), [randn(*shape)], nm, tm)


PAD = [
    ((1, 2), "constant", (2, 3, 4)),
    ((1, 2, 0, 1), "constant", (2, 3, 4)),
    ((-1, 2, 1, -1), "constant", (1, 2, 4, 5)),
    ((1, 1, 2, 0, 0, 1), "constant", (1, 1, 3, 3, 3)),
    ((2, 1), "reflect", (2, 3, 4)),
    ((2, 1, 1, 2), "reflect", (1, 2, 4, 5)),
    ((1, 1, 2, 0, 0, 1), "reflect", (1, 1, 3, 3, 3)),
    ((3, 1), "replicate", (2, 3, 4)),
    ((2, 1, 0, 3), "replicate", (1, 2, 4, 5)),
    ((1, 1, 2, 0, 0, 1), "replicate", (1, 1, 3, 3, 3)),
    ((2, 3), "circular", (2, 3, 4)),
    ((2, 1, 1, 3), "circular", (1, 2, 4, 5)),
    ((1, 1, 2, 0, 0, 1), "circular", (1, 1, 3, 3, 3)),
    ((2, 1), "reflect", (3, 4)),
    ((1, 2, 2, 1), "replicate", (2, 4, 5)),
]


@pytest.mark.parametrize("case", PAD, ids=lambda c: f"{c[1]}-{c[0]}-{len(c[2])}d")
def test_pad(case):
    pad, mode, shape = case
    kw = {"value": 0.5} if mode == "constant" else {}
    compare(fn("pad", pad=pad, mode=mode, **kw), [randn(*shape)])


NO_ANTIALIAS = pytest.mark.xfail(strict=True, raises=NotImplementedError,
                                reason="nbgrad does not implement interpolate(antialias=True)")

INTERP = [
    ("nearest", (1, 2, 5), {"size": 8}),
    ("nearest", (1, 2, 4, 5), {"scale_factor": 1.7}),
    ("nearest", (1, 1, 2, 3, 4), {"size": (3, 5, 2)}),
    ("nearest-exact", (1, 2, 5), {"size": 8}),
    ("nearest-exact", (1, 2, 4, 5), {"scale_factor": (1.5, 0.6)}),
    ("linear", (2, 2, 5), {"size": 8}),
    ("linear", (2, 2, 5), {"size": 8, "align_corners": True}),
    ("linear", (1, 2, 5), {"scale_factor": 2.5}),
    ("linear", (1, 2, 5), {"scale_factor": 2.5, "recompute_scale_factor": True}),
    ("bilinear", (1, 2, 4, 5), {"size": (7, 3)}),
    ("bilinear", (1, 2, 4, 5), {"size": (7, 3), "align_corners": True}),
    ("bilinear", (1, 2, 4, 5), {"scale_factor": (1.5, 2.0)}),
    pytest.param(("bilinear", (1, 2, 6, 7), {"size": (3, 4), "antialias": True}),
                 marks=NO_ANTIALIAS),
    ("bicubic", (1, 2, 4, 5), {"size": (7, 6)}),
    ("bicubic", (1, 2, 4, 5), {"size": (7, 6), "align_corners": True}),
    pytest.param(("bicubic", (1, 2, 6, 7), {"size": (3, 4), "antialias": True}),
                 marks=NO_ANTIALIAS),
    ("trilinear", (1, 1, 3, 4, 2), {"size": (5, 3, 4)}),
    ("trilinear", (1, 1, 3, 4, 2), {"scale_factor": 1.5, "align_corners": True}),
    ("area", (1, 2, 7), {"size": 3}),
    ("area", (1, 2, 5, 7), {"size": (2, 3)}),
    ("area", (1, 1, 4, 5, 6), {"size": (2, 3, 4)}),
]


@pytest.mark.parametrize("case", INTERP, ids=lambda c: f"{c[0]}-{len(c[1])}d-{c[2]}")
def test_interpolate(case):
    mode, shape, kw = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compare(fn("interpolate", mode=mode, **kw), [randn(*shape)])


@pytest.mark.parametrize("name,kw", [
    ("Upsample", {"scale_factor": 2, "mode": "nearest"}),
    ("Upsample", {"size": (5, 3), "mode": "bilinear"}),
    ("UpsamplingNearest2d", {"scale_factor": 2}),
    ("UpsamplingBilinear2d", {"size": (5, 6)}),
])
def test_upsample_modules(name, kw):
    nm, tm = build_pair(name, **kw)
    compare(module_fn(nm, tm), [randn(1, 2, 3, 4)], nm, tm)


# ------------------------------------------------------------ functional forms, weights as leaves

FCONV = [
    ("conv1d", (2, 3, 7), (4, 3, 3), {"stride": 2, "padding": "valid"}),
    ("conv1d", (2, 4, 7), (4, 2, 2), {"padding": "same", "groups": 2, "dilation": 2}),
    ("conv2d", (1, 4, 5, 6), (6, 2, 3, 2), {"stride": (1, 2), "padding": (1, 0), "groups": 2}),
    ("conv2d", (1, 2, 5, 6), (3, 2, 2, 3), {"padding": "same", "dilation": (2, 1)}),
    ("conv3d", (1, 2, 3, 4, 4), (2, 2, 2, 2, 2), {"stride": 2, "padding": 1}),
    ("conv_transpose1d", (2, 2, 4), (2, 3, 3), {"stride": 2, "output_padding": 1,
                                                "dilation": 1}),
    ("conv_transpose2d", (1, 4, 3, 3), (4, 2, 3, 2), {"stride": 2, "groups": 2,
                                                      "dilation": (1, 2), "padding": 1}),
    ("conv_transpose3d", (1, 2, 2, 3, 2), (2, 2, 2, 2, 2), {"stride": (2, 1, 2),
                                                            "output_padding": (1, 0, 0)}),
]


@pytest.mark.parametrize("case", FCONV, ids=lambda c: f"{c[0]}-{c[3]}")
def test_functional_conv(case):
    name, xs, ws, kw = case
    out_ch = ws[0] if not name.startswith("conv_transpose") else ws[1] * kw.get("groups", 1)
    compare(lambda lib, x, w, b: getattr(lib.nn.functional, name)(x, w, b, **kw),
            [randn(*xs), randn(*ws, seed=2), randn(out_ch, seed=3)])


UNPOOL_DUPLICATES = pytest.mark.xfail(
    strict=True, reason="overlapping windows repeat an index: PyTorch's max_unpool writes the "
    "value once, nbgrad's (the scatter-add it shares with max_pool's backward) sums the repeats")


@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": 2, "stride": 2, "padding": 1},
                                pytest.param({"kernel_size": 3, "stride": 2, "padding": 1},
                                             marks=UNPOOL_DUPLICATES)], ids=str)
def test_max_unpool2d(kw):
    def f(lib, x):
        y, i = lib.nn.functional.max_pool2d(x, return_indices=True, **kw)
        return lib.nn.functional.max_unpool2d(y * 2, i, output_size=x.shape[-2:], **kw), i
    compare(f, [randn(1, 2, 5, 6)])


SDPA = [
    {},
    {"is_causal": True},
    {"attn_mask": "bool"},
    {"attn_mask": "float"},
    {"scale": 0.3},
    {"attn_mask": "float", "scale": 2.0},
]


@pytest.mark.parametrize("kw", SDPA, ids=str)
@pytest.mark.parametrize("L,S", [(3, 3), (3, 5)])
def test_scaled_dot_product_attention(kw, L, S):
    if kw.get("is_causal") and L != S:
        L = S
    kw = dict(kw)
    arrays = [randn(2, 2, L, 4), randn(2, 2, S, 4, seed=2), randn(2, 2, S, 3, seed=3)]
    mask = kw.pop("attn_mask", None)
    if mask == "bool":
        m = np.ones((L, S), bool)
        m[0, 1:] = False
        m[-1, 0] = False
        arrays.append(m)
    elif mask == "float":
        arrays.append(randn(L, S, seed=4))

    def f(lib, q, k, v, *m):
        return lib.nn.functional.scaled_dot_product_attention(
            q, k, v, *m, **kw)
    compare(f, arrays)


def test_functional_batch_norm_running_stats():
    def f(lib, x, w, b):
        rm, rv = lib.tensor(np.zeros(3)), lib.tensor(np.ones(3))
        y = lib.nn.functional.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3)
        return y, rm, rv
    compare(f, [randn(4, 3, 2), randn(3, seed=2), randn(3, seed=3)])


@pytest.mark.parametrize("max_norm,norm_type", [(None, 2.0), (1.0, 2.0), (0.5, 1.0)])
def test_functional_embedding_max_norm(max_norm, norm_type):
    def f(lib, idx, w):  # max_norm renormalises the looked-up rows of the table in place
        table = w.detach().clone() if max_norm else w
        return lib.nn.functional.embedding(idx, table, max_norm=max_norm,
                                           norm_type=norm_type), table
    compare(f, [np.array([[0, 2], [3, 2]]), randn(5, 3) * 2])


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize(p, dim):
    compare(lambda lib, x: lib.nn.functional.normalize(x, p=p, dim=dim), [randn(3, 4)])


def test_one_hot():
    compare(lambda lib, i: lib.nn.functional.one_hot(i, 5), [np.array([[0, 3], [4, 1]])])
