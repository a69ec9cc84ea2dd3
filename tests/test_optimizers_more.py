"""RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop: ten steps each against the
update rules written out in numpy (float64), which were checked against torch 2.13 when
written; plus errors, state layout and state-dict round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nbgrad as nb

RNG = np.random.default_rng(0)
GRADS = RNG.standard_normal((10, 5))
GRADS[3] = -GRADS[2]  # a sign flip for Rprop
P0 = np.linspace(-1.0, 1.0, 5)


def run_nb(cls, **kw):
    w = nb.nn.Parameter(nb.tensor(P0, dtype=nb.float64))
    opt = cls([w], **kw)
    out = []
    for g in GRADS:
        w.grad = nb.tensor(g, dtype=nb.float64)
        opt.step()
        out.append(w.detach().numpy().copy())
    return np.array(out), opt, w


def ref_rmsprop(lr, alpha=0.99, eps=1e-8, wd=0.0, momentum=0.0, centered=False, maximize=False):
    p, v, ga, buf, out = P0.copy(), 0 * P0, 0 * P0, 0 * P0, []
    for g in GRADS:
        g = -g if maximize else g
        g = g + wd * p
        v = alpha * v + (1 - alpha) * g * g
        if centered:
            ga = ga + (1 - alpha) * (g - ga)
            avg = np.sqrt(v - ga * ga) + eps
        else:
            avg = np.sqrt(v) + eps
        if momentum:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
        out.append(p)
    return np.array(out)


def ref_adagrad(lr, lr_decay=0.0, wd=0.0, init=0.0, eps=1e-10):
    p, s, out = P0.copy(), np.full(5, init), []
    for t, g in enumerate(GRADS, 1):
        g = g + wd * p
        s = s + g * g
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
        out.append(p)
    return np.array(out)


def ref_adadelta(lr, rho, eps=1e-6, wd=0.0):
    p, v, u, out = P0.copy(), 0 * P0, 0 * P0, []
    for g in GRADS:
        g = g + wd * p
        v = rho * v + (1 - rho) * g * g
        d = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * d * d
        p = p - lr * d
        out.append(p)
    return np.array(out)


def ref_adamax(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0):
    p, m, u, out = P0.copy(), 0 * P0, 0 * P0, []
    for t, g in enumerate(GRADS, 1):
        g = g + wd * p
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        p = p - lr / (1 - b1 ** t) * m / u
        out.append(p)
    return np.array(out)


def ref_nadam(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, md=4e-3, decoupled=False):
    p, m, v, prod, out = P0.copy(), 0 * P0, 0 * P0, 1.0, []
    for t, g in enumerate(GRADS, 1):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        mu = b1 * (1 - 0.5 * 0.96 ** (t * md))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * md))
        prod *= mu
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = np.sqrt(v / (1 - b2 ** t)) + eps
        p = p - lr * (1 - mu) / (1 - prod) * g / denom \
            - lr * mu_next / (1 - prod * mu_next) * m / denom
        out.append(p)
    return np.array(out)


def ref_radam(lr, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, decoupled=False):
    p, m, v, out = P0.copy(), 0 * P0, 0 * P0, []
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(GRADS, 1):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1 ** t)
        rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho_t > 5:
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2)
                                                                 * rho_t))
            p = p - lr * mhat * r * math.sqrt(1 - b2 ** t) / (np.sqrt(v) + eps)
        else:
            p = p - lr * mhat
        out.append(p)
    return np.array(out)


def ref_asgd(lr, lambd, alpha=0.75, t0=1e6):
    p, ax, eta, mu, out, axs = P0.copy(), 0 * P0, lr, 1.0, [], []
    for t, g in enumerate(GRADS, 1):
        p = p * (1 - lambd * eta) - eta * g
        ax = ax + (p - ax) * mu if mu != 1 else p.copy()
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)
        out.append(p)
        axs.append(ax)
    return np.array(out), np.array(axs)


def ref_rprop(lr, etas=(0.5, 1.2), sizes=(1e-6, 50)):
    p, prev, size, out = P0.copy(), 0 * P0, np.full(5, lr), []
    for g in GRADS:
        s = np.sign(g * prev)
        size = np.clip(size * np.where(s > 0, etas[1], np.where(s < 0, etas[0], 1.0)), *sizes)
        g = np.where(s < 0, 0.0, g)
        p = p - np.sign(g) * size
        prev = g
        out.append(p)
    return np.array(out)


# float32 state scalars (eta, mu_product) as PyTorch keeps them: a few ulps of float32
TOL = dict(rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kw", [dict(lr=0.01), dict(lr=0.01, maximize=True),
                                dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)])
def test_rmsprop(kw):
    got, _, _ = run_nb(nb.optim.RMSprop, **kw)
    ref = ref_rmsprop(kw["lr"], wd=kw.get("weight_decay", 0.0), momentum=kw.get("momentum", 0),
                      centered=kw.get("centered", False), maximize=kw.get("maximize", False))
    np.testing.assert_allclose(got, ref, **TOL)


def test_adagrad_adadelta_adamax():
    got, opt, w = run_nb(nb.optim.Adagrad, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.5,
                         weight_decay=0.1)
    np.testing.assert_allclose(got, ref_adagrad(0.1, 0.01, 0.1, 0.5), **TOL)
    got, _, _ = run_nb(nb.optim.Adadelta, lr=1.0, rho=0.8, weight_decay=0.05)
    np.testing.assert_allclose(got, ref_adadelta(1.0, 0.8, wd=0.05), **TOL)
    got, _, _ = run_nb(nb.optim.Adamax, lr=0.02, weight_decay=0.1)
    np.testing.assert_allclose(got, ref_adamax(0.02, wd=0.1), **TOL)


@pytest.mark.parametrize("decoupled", [False, True])
def test_nadam_radam(decoupled):
    got, _, _ = run_nb(nb.optim.NAdam, lr=0.02, weight_decay=0.1,
                       decoupled_weight_decay=decoupled)
    np.testing.assert_allclose(got, ref_nadam(0.02, wd=0.1, decoupled=decoupled), **TOL)
    got, _, _ = run_nb(nb.optim.RAdam, lr=0.02, weight_decay=0.1,
                       decoupled_weight_decay=decoupled)
    np.testing.assert_allclose(got, ref_radam(0.02, wd=0.1, decoupled=decoupled), **TOL)


def test_asgd_and_rprop():
    got, opt, w = run_nb(nb.optim.ASGD, lr=0.05, t0=3, lambd=0.01)
    ref, ax = ref_asgd(0.05, 0.01, t0=3)
    np.testing.assert_allclose(got, ref, **TOL)
    np.testing.assert_allclose(opt.state[w]["ax"].numpy(), ax[-1], **TOL)
    got, _, _ = run_nb(nb.optim.Rprop, lr=0.05)
    np.testing.assert_allclose(got, ref_rprop(0.05), **TOL)


def test_state_layout_and_round_trip():
    _, opt, w = run_nb(nb.optim.RMSprop, lr=0.01, momentum=0.5, centered=True)
    sd = opt.state_dict()
    st = sd["state"][0]
    assert set(st) == {"step", "square_avg", "momentum_buffer", "grad_avg"}
    assert st["step"].shape == () and st["step"].dtype is nb.float32 and st["step"].item() == 10
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][0]["alpha"] == 0.99
    w2 = nb.nn.Parameter(w.detach().clone())
    opt2 = nb.optim.RMSprop([w2], lr=0.5)
    opt2.load_state_dict(sd)
    g = nb.tensor(np.ones(5))
    w.grad, w2.grad = g, g.clone()
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(w.detach().numpy(), w2.detach().numpy())
    _, adam, _ = run_nb(nb.optim.Adam, lr=0.01)
    assert adam.state_dict()["state"][0]["step"].dtype is nb.float32


@pytest.mark.parametrize("cls", [nb.optim.RMSprop, nb.optim.Adagrad, nb.optim.Adadelta,
                                 nb.optim.Adamax, nb.optim.NAdam, nb.optim.RAdam,
                                 nb.optim.ASGD, nb.optim.Rprop])
def test_errors_and_accepted_keywords(cls):
    w = nb.nn.Parameter(nb.ones(2))
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        cls([w], lr=-1.0)
    with pytest.raises(NotImplementedError, match="differentiable"):
        cls([w], lr=0.1, differentiable=True)
    cls([w], lr=0.1, foreach=False, maximize=False)


def test_beta_and_eta_errors():
    w = nb.nn.Parameter(nb.ones(2))
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        nb.optim.NAdam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid eta values: 1.5, 1.2"):
        nb.optim.Rprop([w], etas=(1.5, 1.2))


# ------------------------------------------------------------------ LBFGS
def _rosenbrock_closure(opt, w):
    def closure():
        opt.zero_grad()
        loss = (100 * (w[1:] - w[:-1] ** 2) ** 2 + (1 - w[:-1]) ** 2).sum()
        loss.backward()
        return loss
    return closure


def test_lbfgs_first_iteration_is_a_scaled_gradient_step():
    w = nb.nn.Parameter(nb.tensor([-1.5, 2.0, 0.5], dtype=nb.float64))
    opt = nb.optim.LBFGS([w], lr=0.1, max_iter=1)
    x = np.array([-1.5, 2.0, 0.5])
    g = np.zeros(3)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    loss = opt.step(_rosenbrock_closure(opt, w))
    assert math.isclose(loss.item(), float((100 * (x[1:] - x[:-1] ** 2) ** 2
                                            + (1 - x[:-1]) ** 2).sum()))
    t = min(1.0, 1.0 / np.abs(g).sum()) * 0.1
    np.testing.assert_allclose(w.detach().numpy(), x - t * g, rtol=1e-12)
    assert opt.state[w]["n_iter"] == 1 and opt.state[w]["func_evals"] == 1


@pytest.mark.parametrize("history", [100, 3])
def test_lbfgs_strong_wolfe_minimises_rosenbrock(history):
    w = nb.nn.Parameter(nb.tensor([-1.5, 2.0, 0.5], dtype=nb.float64))
    opt = nb.optim.LBFGS([w], max_iter=15, history_size=history, line_search_fn="strong_wolfe")
    closure = _rosenbrock_closure(opt, w)
    for _ in range(4):
        opt.step(closure)
    np.testing.assert_allclose(w.detach().numpy(), np.ones(3), atol=1e-4)
    assert len(opt.state[w]["old_dirs"]) <= history


def test_lbfgs_solves_a_quadratic_exactly():
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    w = nb.nn.Parameter(nb.zeros(2, dtype=nb.float64))
    opt = nb.optim.LBFGS([w], line_search_fn="strong_wolfe", tolerance_grad=1e-12)
    am, bm = nb.tensor(a), nb.tensor(b)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (w @ (am @ w)) - (bm * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(w.detach().numpy(), np.linalg.solve(a, b), atol=1e-6)


def test_lbfgs_errors():
    w = nb.nn.Parameter(nb.ones(2))
    with pytest.raises(ValueError, match="Invalid learning rate: -1.0"):
        nb.optim.LBFGS([w], lr=-1.0)
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        nb.optim.LBFGS([w], line_search_fn="armijo")
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        nb.optim.LBFGS([{"params": [w]}, {"params": [nb.nn.Parameter(nb.ones(1))]}])
    with pytest.raises(RuntimeError, match="requires a closure"):
        nb.optim.LBFGS([w]).step()
