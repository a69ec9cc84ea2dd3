"""The one-argument tests, bitwise ops, lerp, div's rounding modes, the composed activations and
the interop faces on the GPU, compared with the CPU (tiny shapes: the simulator is slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from cuda_helpers import assert_same, pair

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad.ops.elementwise import BITWISE, PREDICATES

pytestmark = pytest.mark.cuda

SPECIAL = [1.5, -0.0, math.nan, -math.inf, math.inf, -2.0]


@pytest.mark.parametrize("name", sorted(PREDICATES))
def test_predicates_match_cpu(name):
    xc, xg = pair(SPECIAL, nb.float32)
    assert_same(getattr(nb, name)(xc), getattr(nb, name)(xg))


@pytest.mark.parametrize("name", sorted(BITWISE))
def test_bitwise_rows_match_cpu(name):
    ac, ag = pair([12, -7, 5], nb.int64)
    bc, bg = pair([3, 1, 2], nb.int64)
    fn = getattr(nb, name)
    if BITWISE[name].nargs == 1:
        assert_same(fn(ac), fn(ag))
    else:
        assert_same(fn(ac, bc), fn(ag, bg))
        assert_same(fn(ac, 2), fn(ag, 2))
    pc, pg = pair([True, False, True], nb.bool)
    assert_same(~pc, ~pg)
    assert_same(pc & pc, pg & pg)


def test_lerp_div_modes_and_nan_to_num_match_cpu():
    ac, ag = pair([[1.5, -2.0], [3.0, 0.5]], nb.float64, requires_grad=True)
    bc, bg = pair([[2.0, 0.5], [-1.5, 3.0]], nb.float64, requires_grad=True)
    assert_same(nb.lerp(ac, bc, 0.3), nb.lerp(ag, bg, 0.3))
    nb.lerp(ac, bc, bc.detach()).sum().backward()
    nb.lerp(ag, bg, bg.detach()).sum().backward()
    assert_same(ac.grad, ag.grad)
    for mode in ("trunc", "floor"):
        assert_same(nb.div(ac, bc, rounding_mode=mode), nb.div(ag, bg, rounding_mode=mode))
    ic, ig = pair([-7, 7], nb.int64)
    assert_same(nb.div(ic, 2, rounding_mode="trunc"), nb.div(ig, 2, rounding_mode="trunc"))
    sc, sg = pair(SPECIAL, nb.float32)
    assert_same(nb.nan_to_num(sc), nb.nan_to_num(sg))


@pytest.mark.parametrize("fn", [F.elu, F.selu, F.leaky_relu, F.hardswish, F.mish, F.softsign,
                                F.hardshrink, lambda t: F.glu(t, 1), F.normalize,
                                lambda t: F.softmin(t, 1)],
                         ids=["elu", "selu", "leaky_relu", "hardswish", "mish", "softsign",
                              "hardshrink", "glu", "normalize", "softmin"])
def test_activations_match_cpu(fn):
    xc, xg = pair([[-1.5, 0.2], [0.7, 2.5]], nb.float64, requires_grad=True)
    assert_same(fn(xc), fn(xg))
    fn(xc).sum().backward()
    fn(xg).sum().backward()
    assert_same(xc.grad, xg.grad)


def test_interop_on_the_gpu():
    x = nb.tensor([[1.0, 2.0], [3.0, 4.0]], device="cuda")
    face = x.__cuda_array_interface__
    assert face["shape"] == (2, 2) and face["typestr"] == "<f4" and x.data_ptr() != 0
    assert x[1].data_ptr() - x.data_ptr() == 8
    assert x.__dlpack_device__()[0] == 2 and x.type() == "nbgrad.cuda.FloatTensor"
    assert x.untyped_storage().nbytes() == 16
    from numba import cuda

    arr = cuda.to_device(np.arange(4.0))
    t = nb.from_dlpack(arr)
    assert t.is_cuda and t.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert x.numpy(force=True).tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert f"{x[0, 1]:.1f}" == "2.0"
    with pytest.raises(TypeError, match="does not support dtype float16"):
        nb.ones(2, dtype=nb.float16, device="cuda")
