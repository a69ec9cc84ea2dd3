"""Fit an ODE model whose inner loop is your own ``@numba.njit`` code, with nbgrad's autograd.

    python -m nbgrad.examples.ode_fit [--iters 300] [--lr 0.05] [--seed 0]

The model is a damped oscillator ``x'' + 2 zeta omega x' + omega^2 x = 0`` integrated with a
hand-written RK4 loop in Numba. Its gradient is the discrete adjoint of that same loop, also in
Numba. ``nb.autograd.Function`` glues the two into one differentiable op, so the unknown
``(omega, zeta)`` and the initial state are fitted to noisy observations with ``nb.optim.Adam``.
The script first checks the adjoint gradient against central finite differences.
"""

from __future__ import annotations

import argparse
import sys
import time

import numba
import numpy as np

import nbgrad as nb
from nbgrad.examples._guard import check_finite

try:  # exported as nb.autograd.Function once the custom-Function API lands in the package root
    Function = nb.autograd.Function
except AttributeError:  # pragma: no cover - older trees
    from nbgrad.autograd.function import Function


# ----------------------------------------------------------------------------- user's Numba code
@numba.njit(cache=True)
def _rhs(x, v, omega, zeta):
    return v, -2.0 * zeta * omega * v - omega * omega * x


@numba.njit(cache=True)
def _rhs_vjp(x, v, omega, zeta, ax, av):
    """Cotangents of (x, v, omega, zeta) given those (ax, av) of the right-hand side."""
    dx = -omega * omega * av
    dv = ax - 2.0 * zeta * omega * av
    domega = -(2.0 * zeta * v + 2.0 * omega * x) * av
    dzeta = -2.0 * omega * v * av
    return dx, dv, domega, dzeta


@numba.njit(cache=True)
def rk4_trajectory(params, y0, dt, n_steps):
    """States (n_steps + 1, 2) of the oscillator from ``y0`` with parameters (omega, zeta)."""
    omega, zeta = params[0], params[1]
    out = np.empty((n_steps + 1, 2))
    x, v = y0[0], y0[1]
    out[0, 0], out[0, 1] = x, v
    for k in range(n_steps):
        k1x, k1v = _rhs(x, v, omega, zeta)
        k2x, k2v = _rhs(x + 0.5 * dt * k1x, v + 0.5 * dt * k1v, omega, zeta)
        k3x, k3v = _rhs(x + 0.5 * dt * k2x, v + 0.5 * dt * k2v, omega, zeta)
        k4x, k4v = _rhs(x + dt * k3x, v + dt * k3v, omega, zeta)
        x = x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        v = v + dt / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v)
        out[k + 1, 0], out[k + 1, 1] = x, v
    return out


@numba.njit(cache=True)
def rk4_adjoint(params, traj, dt, grad_traj):
    """Discrete adjoint of :func:`rk4_trajectory`: gradients of (params, y0) given the gradient
    of the loss with respect to every state."""
    omega, zeta = params[0], params[1]
    n_steps = traj.shape[0] - 1
    lx, lv = grad_traj[n_steps, 0], grad_traj[n_steps, 1]
    gomega, gzeta = 0.0, 0.0
    for k in range(n_steps - 1, -1, -1):
        x, v = traj[k, 0], traj[k, 1]
        # recompute the stages of step k
        k1x, k1v = _rhs(x, v, omega, zeta)
        y1x, y1v = x + 0.5 * dt * k1x, v + 0.5 * dt * k1v
        k2x, k2v = _rhs(y1x, y1v, omega, zeta)
        y2x, y2v = x + 0.5 * dt * k2x, v + 0.5 * dt * k2v
        k3x, k3v = _rhs(y2x, y2v, omega, zeta)
        y3x, y3v = x + dt * k3x, v + dt * k3v
        # y_next = y + dt/6 (k1 + 2 k2 + 2 k3 + k4): pull the cotangent back stage by stage
        dk4x, dk4v = dt / 6.0 * lx, dt / 6.0 * lv
        dk3x, dk3v = dt / 3.0 * lx, dt / 3.0 * lv
        dk2x, dk2v = dt / 3.0 * lx, dt / 3.0 * lv
        dk1x, dk1v = dt / 6.0 * lx, dt / 6.0 * lv
        dyx, dyv = lx, lv
        ax, av, dw, dz = _rhs_vjp(y3x, y3v, omega, zeta, dk4x, dk4v)
        gomega += dw
        gzeta += dz
        dyx += ax
        dyv += av
        dk3x += dt * ax
        dk3v += dt * av
        ax, av, dw, dz = _rhs_vjp(y2x, y2v, omega, zeta, dk3x, dk3v)
        gomega += dw
        gzeta += dz
        dyx += ax
        dyv += av
        dk2x += 0.5 * dt * ax
        dk2v += 0.5 * dt * av
        ax, av, dw, dz = _rhs_vjp(y1x, y1v, omega, zeta, dk2x, dk2v)
        gomega += dw
        gzeta += dz
        dyx += ax
        dyv += av
        dk1x += 0.5 * dt * ax
        dk1v += 0.5 * dt * av
        ax, av, dw, dz = _rhs_vjp(x, v, omega, zeta, dk1x, dk1v)
        gomega += dw
        gzeta += dz
        lx = dyx + ax + grad_traj[k, 0]
        lv = dyv + av + grad_traj[k, 1]
    return np.array([gomega, gzeta]), np.array([lx, lv])


# ----------------------------------------------------------------------------- the nbgrad op
class Oscillator(Function):
    """Positions x(t_0..t_n) of the oscillator as a differentiable function of
    ``params = (omega, zeta)`` and ``y0 = (x0, v0)`` (float64 tensors)."""

    @staticmethod
    def forward(ctx, params, y0, dt: float, n_steps: int):
        p = np.ascontiguousarray(params.detach().numpy(), dtype=np.float64)
        traj = rk4_trajectory(p, np.ascontiguousarray(y0.detach().numpy(), dtype=np.float64),
                              dt, n_steps)
        ctx.save_for_backward(params)
        ctx.traj, ctx.dt = traj, dt
        return nb.from_numpy(traj[:, 0].copy())

    @staticmethod
    def backward(ctx, grad):
        (params,) = ctx.saved_tensors
        grad_traj = np.zeros_like(ctx.traj)
        grad_traj[:, 0] = grad.detach().numpy()
        gp, gy0 = rk4_adjoint(np.ascontiguousarray(params.detach().numpy(), dtype=np.float64),
                              ctx.traj, ctx.dt, grad_traj)
        return nb.from_numpy(gp), nb.from_numpy(gy0), None, None


def oscillator(params, y0, dt: float, n_steps: int):
    """``Oscillator.apply`` with a friendlier name."""
    return Oscillator.apply(params, y0, dt, n_steps)


# ----------------------------------------------------------------------------- the fit
def finite_difference_check(params, y0, obs, dt, n_steps, eps: float = 1e-6) -> float:
    """Largest relative difference between the adjoint gradient and central differences."""
    p = nb.tensor(params, dtype=nb.float64, requires_grad=True)
    y = nb.tensor(y0, dtype=nb.float64, requires_grad=True)
    loss = ((oscillator(p, y, dt, n_steps) - obs) ** 2).mean()
    loss.backward()
    analytic = np.concatenate([p.grad.numpy(), y.grad.numpy()])

    def f(z):
        traj = rk4_trajectory(z[:2].copy(), z[2:].copy(), dt, n_steps)
        return np.mean((traj[:, 0] - obs.numpy()) ** 2)

    z0 = np.concatenate([np.asarray(params, float), np.asarray(y0, float)])
    numeric = np.empty(4)
    for i in range(4):
        e = np.zeros(4)
        e[i] = eps
        numeric[i] = (f(z0 + e) - f(z0 - e)) / (2 * eps)
    names = ("omega", "zeta", "x0", "v0")
    print("gradient at the initial guess: adjoint (Numba) vs central finite differences")
    for name, a, n in zip(names, analytic, numeric):
        print(f"  d loss / d {name:5s}  adjoint {a: .8e}  finite diff {n: .8e}")
    rel = np.max(np.abs(analytic - numeric) / np.maximum(np.abs(numeric), 1e-12))
    print(f"  max relative difference {rel:.2e}")
    return float(rel)


def run(iters: int = 300, lr: float = 0.05, seed: int = 0, log=print) -> dict:
    """Generate noisy data from known parameters, then recover them; returns the figures."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    dt, n_steps = 0.05, 200
    true_params, true_y0 = np.array([2.0, 0.15]), np.array([1.0, 0.0])
    clean = rk4_trajectory(true_params, true_y0, dt, n_steps)[:, 0]
    obs = nb.tensor(clean + 0.02 * rng.standard_normal(clean.shape), dtype=nb.float64)

    guess_params, guess_y0 = [1.6, 0.4], [0.8, 0.3]
    rel = finite_difference_check(guess_params, guess_y0, obs, dt, n_steps)

    params = nb.nn.Parameter(nb.tensor(guess_params, dtype=nb.float64))
    y0 = nb.nn.Parameter(nb.tensor(guess_y0, dtype=nb.float64))
    opt = nb.optim.Adam([params, y0], lr=lr)
    loss = None
    for it in range(1, iters + 1):
        opt.zero_grad()
        loss = ((oscillator(params, y0, dt, n_steps) - obs) ** 2).mean()
        loss.backward()
        opt.step()
        if not np.isfinite(loss.item()):
            check_finite({"params": params, "y0": y0}, f"at iteration {it}", loss.item())
        if it == 1 or it % 50 == 0:
            log(f"iter {it:4d}  loss {loss.item():.6f}  omega {params[0].item():.4f}  "
                f"zeta {params[1].item():.4f}")
    fitted = params.detach().numpy().copy()
    log(f"true   omega {true_params[0]:.4f}  zeta {true_params[1]:.4f}")
    log(f"fitted omega {fitted[0]:.4f}  zeta {fitted[1]:.4f}  "
        f"({time.perf_counter() - start:.1f} s)")
    return {"fd_rel_error": rel, "params": fitted, "y0": y0.detach().numpy().copy(),
            "loss": loss.item(), "true_params": true_params}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(args.iters, args.lr, args.seed)
    return 0 if result["fd_rel_error"] < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
