"""nb.optim: SGD/Adam/AdamW against PyTorch's update formulas written out in numpy, on the fused
CPU kernel in place and on contiguous copies of non-contiguous parameters; grad modes and
version counters; state dicts."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import nbgrad as nb
from nbgrad import nn

RNG = np.random.default_rng(7)
P0 = RNG.standard_normal((3, 4))
GRADS = [RNG.standard_normal((3, 4)) for _ in range(4)]


# ----------------------------------------------------------------------------- references
def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            maximize=False):
    buf = None
    for g in grads:
        d = -g if maximize else g
        d = d + weight_decay * p
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
    return p


def ref_adam(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             decoupled=False, maximize=False):
    b1, b2 = betas
    m, v, vmax = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for step, g in enumerate(grads, start=1):
        d = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            d = d + weight_decay * p
        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d * d
        vhat = np.maximum(vmax, v) if amsgrad else v
        vmax = vhat
        denom = np.sqrt(vhat) / np.sqrt(1 - b2 ** step) + eps
        p = p - lr / (1 - b1 ** step) * m / denom
    return p


def make_param(contiguous: bool) -> nn.Parameter:
    """A float64 parameter holding P0: contiguous (updated in place) or a transposed view
    (updated on a contiguous copy, written back)."""
    if contiguous:
        return nn.Parameter(nb.tensor(P0, dtype=nb.float64))
    p = nn.Parameter(nb.tensor(P0.T.copy(), dtype=nb.float64).t())
    assert not p.is_contiguous()
    return p


def run(opt_cls, contiguous, **kwargs):
    p = make_param(contiguous)
    opt = opt_cls([p], **kwargs)
    for g in GRADS:
        p.grad = nb.tensor(g, dtype=nb.float64)
        opt.step()
    return p.detach().numpy()


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.8, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.5, weight_decay=0.1),
    dict(lr=0.1, momentum=0.9, maximize=True),
]


@pytest.mark.parametrize("contiguous", [True, False], ids=["fused", "copied"])
@pytest.mark.parametrize("kwargs", SGD_CASES, ids=lambda k: ",".join(k))
def test_sgd_matches_pytorch_formula(kwargs, contiguous):
    np.testing.assert_allclose(run(nb.optim.SGD, contiguous, **kwargs),
                               ref_sgd(P0, GRADS, **kwargs), rtol=1e-12, atol=1e-14)


ADAM_CASES = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, maximize=True),
]


@pytest.mark.parametrize("contiguous", [True, False], ids=["fused", "copied"])
@pytest.mark.parametrize("kwargs", ADAM_CASES, ids=lambda k: ",".join(k))
def test_adam_matches_pytorch_formula(kwargs, contiguous):
    np.testing.assert_allclose(run(nb.optim.Adam, contiguous, **kwargs),
                               ref_adam(P0, GRADS, **kwargs), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("contiguous", [True, False], ids=["fused", "copied"])
@pytest.mark.parametrize("kwargs", [dict(lr=0.01), dict(lr=0.02, weight_decay=0.5, amsgrad=True)],
                         ids=["default", "decay+amsgrad"])
def test_adamw_matches_pytorch_formula(kwargs, contiguous):
    expected = ref_adam(P0, GRADS, decoupled=True, **{"weight_decay": 0.01, **kwargs})
    np.testing.assert_allclose(run(nb.optim.AdamW, contiguous, **kwargs), expected, rtol=1e-12,
                               atol=1e-14)


def test_hand_computed_steps():
    # SGD, momentum 0.9, lr 0.1, gradient 1 each step, from 0:
    # buf 1 -> p -0.1; buf 1.9 -> p -0.29; buf 2.71 -> p -0.561
    p = nn.Parameter(nb.zeros(1, dtype=nb.float64))
    opt = nb.optim.SGD([p], lr=0.1, momentum=0.9)
    seen = []
    for _ in range(3):
        p.grad = nb.ones(1, dtype=nb.float64)
        opt.step()
        seen.append(p.item())
    np.testing.assert_allclose(seen, [-0.1, -0.29, -0.561])
    # Adam's first step moves every coordinate by lr * sign(grad) (bias correction exact)
    q = nn.Parameter(nb.tensor([1.0, -2.0, 3.0], dtype=nb.float64))
    adam = nb.optim.Adam([q], lr=0.5, eps=0.0)
    q.grad = nb.tensor([4.0, -0.001, 0.0], dtype=nb.float64)
    adam.step()
    np.testing.assert_allclose(q.detach().numpy()[:2], [0.5, -1.5])
    assert np.isnan(q.detach().numpy()[2])  # 0 / 0 with eps=0, as in PyTorch


@pytest.mark.parametrize("contiguous", [True, False], ids=["fused", "copied"])
def test_adam_eps_zero_gives_ieee_results_on_every_layout(contiguous):
    # eps=0 and a zero second moment: m / 0 is nan (m == 0) or +-inf, as PyTorch; the update
    # is one scalar function, so contiguous and non-contiguous parameters agree
    p = nn.Parameter(nb.tensor([[1.0, -2.0], [3.0, 0.5]], dtype=nb.float64))
    if not contiguous:
        p = nn.Parameter(nb.tensor([[1.0, 3.0], [-2.0, 0.5]], dtype=nb.float64).t())
        assert not p.is_contiguous()
    opt = nb.optim.Adam([p], lr=0.5, eps=0.0)
    p.grad = nb.tensor([[4.0, 0.0], [-1e-300, 2.0]], dtype=nb.float64)
    opt.step()
    got = p.detach().numpy()
    assert got[0, 0] == 0.5 and np.isnan(got[0, 1])
    assert got[1, 0] == math.inf  # d*d underflows to 0: a nonzero m over a zero denominator
    assert got[1, 1] == 0.0


@pytest.mark.parametrize("opt_cls", [nb.optim.SGD, nb.optim.Adam, nb.optim.AdamW])
def test_non_contiguous_state_is_updated_and_written_back(opt_cls):
    kwargs = dict(lr=0.1, momentum=0.9) if opt_cls is nb.optim.SGD else dict(lr=0.1)
    ref, p = make_param(True), make_param(False)
    opts = [opt_cls([ref], **kwargs), opt_cls([p], **kwargs)]
    for g in GRADS:
        for q, opt in zip((ref, p), opts):
            q.grad = nb.tensor(g, dtype=nb.float64)
            opt.step()
    np.testing.assert_array_equal(p.detach().numpy(), ref.detach().numpy())
    for key, value in opts[0].state[ref].items():
        if isinstance(value, nb.Tensor):
            np.testing.assert_array_equal(opts[1].state[p][key].numpy(), value.numpy())


def test_float32_parameters_use_the_fused_kernel_and_stay_float32():
    p = nn.Parameter(nb.tensor(P0, dtype=nb.float32))
    opt = nb.optim.Adam([p], lr=0.01)
    for g in GRADS:
        p.grad = nb.tensor(g, dtype=nb.float32)
        opt.step()
    assert p.dtype is nb.float32 and opt.state[p]["exp_avg"].dtype is nb.float32
    np.testing.assert_allclose(p.detach().numpy(), ref_adam(P0, GRADS, lr=0.01), rtol=1e-5,
                               atol=1e-6)


# ----------------------------------------------------------------------------- grad modes
@pytest.mark.parametrize("opt_cls", [nb.optim.SGD, nb.optim.Adam, nb.optim.AdamW])
def test_step_is_an_in_place_no_grad_update(opt_cls):
    p = make_param(True)
    opt = opt_cls([p], lr=0.1)
    versions = []
    for g in GRADS[:2]:
        p.grad = nb.tensor(g, dtype=nb.float64)
        opt.step()
        versions.append(p._version)
    assert versions == [1, 2]  # one bump per fused update
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert nb.is_grad_enabled()


def test_fallback_step_also_bumps_versions_and_keeps_leaves():
    p = make_param(False)
    opt = nb.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = nb.tensor(GRADS[0], dtype=nb.float64)
    opt.step()
    assert p._version >= 1 and p.is_leaf and p.requires_grad


def test_step_after_backward_detects_a_stale_saved_tensor():
    w = nn.Parameter(nb.tensor([1.0, 2.0]))
    y = (w * w).sum()
    y.backward(retain_graph=True)
    nb.optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_training_loop_decreases_the_loss():
    nb.manual_seed(0)
    x = nb.randn(64, 3)
    y = x @ nb.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    model = nn.Linear(3, 1)
    opt = nb.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(100):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-4 < 1.0 < losses[0]
    np.testing.assert_allclose(model.weight.detach().numpy(), [[1.0, -2.0, 0.5]], atol=0.02)


def test_closure_runs_with_grad_enabled():
    w = nn.Parameter(nb.tensor([3.0]))
    opt = nb.optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with nb.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0 and w.item() == 1.5


def test_zero_grad():
    w = nn.Parameter(nb.ones(2))
    opt = nb.optim.Adam([w])
    (w * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert w.grad is not None and w.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None
    opt.step()  # no gradient: nothing happens
    assert w.tolist() == [1.0, 1.0] and not opt.state


# ----------------------------------------------------------------------------- groups, state
def test_param_groups_have_their_own_hyperparameters():
    a, b = nn.Parameter(nb.zeros(1)), nn.Parameter(nb.zeros(1))
    opt = nb.optim.SGD([{"params": [a]}, {"params": b, "lr": 1.0}], lr=0.1)
    a.grad, b.grad = nb.ones(1), nb.ones(1)
    opt.step()
    assert a.item() == pytest.approx(-0.1) and b.item() == -1.0
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    assert "Parameter Group 1" in repr(opt) and "lr: 1.0" in repr(opt)


@pytest.mark.parametrize("opt_cls, kwargs", [
    (nb.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (nb.optim.Adam, dict(lr=0.01, amsgrad=True)),
])
def test_state_dict_round_trip_continues_identically(opt_cls, kwargs):
    p1 = make_param(True)
    opt1 = opt_cls([p1], **kwargs)
    for g in GRADS[:2]:
        p1.grad = nb.tensor(g, dtype=nb.float64)
        opt1.step()
    buffer = io.BytesIO()
    nb.save(opt1.state_dict(), buffer)
    buffer.seek(0)
    loaded = nb.load(buffer)
    p2 = nn.Parameter(p1.detach().clone())
    opt2 = opt_cls([p2], lr=123.0)
    opt2.load_state_dict(loaded)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    for g in GRADS[2:]:
        for p, opt in ((p1, opt1), (p2, opt2)):
            p.grad = nb.tensor(g, dtype=nb.float64)
            opt.step()
    np.testing.assert_array_equal(p1.detach().numpy(), p2.detach().numpy())


def test_state_dict_layout():
    a, b = nn.Parameter(nb.zeros(2)), nn.Parameter(nb.zeros(3))
    opt = nb.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}])
    b.grad = nb.ones(3)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert list(sd["state"]) == [1] and sd["state"][1]["step"] == 1
    assert set(sd["state"][1]) == {"step", "exp_avg", "exp_avg_sq"}


def test_load_state_dict_errors():
    opt = nb.optim.SGD([nn.Parameter(nb.zeros(1))], lr=0.1)
    other = nb.optim.SGD([nn.Parameter(nb.zeros(1)), nn.Parameter(nb.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict(other.state_dict())
    two = nb.optim.SGD([{"params": [nn.Parameter(nb.zeros(1))]},
                        {"params": [nn.Parameter(nb.zeros(1))]}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict(two.state_dict())
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"lr": 1})


def test_constructor_errors():
    w = nn.Parameter(nb.zeros(1))
    with pytest.raises(ValueError, match="empty parameter list"):
        nb.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        nb.optim.SGD([w], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        nb.optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        nb.optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="non-leaf"):
        nb.optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        nb.optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        nb.optim.SGD({w}, lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        nb.optim.SGD(w, lr=0.1)
