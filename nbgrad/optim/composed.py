"""RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam, ASGD and Rprop with PyTorch's update rules
(single-tensor path), written as compositions of nbgrad's tensor ops under ``no_grad``, so they
run on every backend. Each keeps PyTorch's state keys, with ``state["step"]`` a 0-d float32
tensor. (Unlike SGD/Adam/AdamW these are not fused into one kernel per parameter yet.)"""

from __future__ import annotations

import math

from nbgrad import _dtype
from nbgrad.ops.creation import full_like, tensor, zeros_like
from nbgrad.ops.elementwise import where
from nbgrad.optim.optimizer import Optimizer
from nbgrad.tensor import Tensor

__all__ = ["RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]


def _check(name: str, value: float, low: float = 0.0, what: str | None = None) -> None:
    if not value >= low:
        raise ValueError(f"Invalid {what or name} value: {value}")


def _check_lr(lr: float) -> None:
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_betas(betas) -> None:
    for i in (0, 1):
        if not 0.0 <= betas[i] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")


def _no_differentiable(differentiable: bool) -> None:
    if differentiable:
        raise NotImplementedError("differentiable=True is not supported")


def _step_tensor(value: float = 0.0) -> Tensor:
    return tensor(float(value), dtype=_dtype.float32)


def _advance(state: dict) -> int:
    state["step"] = _step_tensor(float(state["step"].item()) + 1.0)
    return int(state["step"].item())


def _grad(p: Tensor, group: dict) -> Tensor:
    g = p.grad
    return -g if group.get("maximize") else g


class _Composed(Optimizer):
    """The shared ``step``: each parameter with a gradient through ``_update``."""

    def _update(self, p: Tensor, group: dict) -> None:
        state = self.state.setdefault(p, {})
        self._apply(p, _grad(p, group), group, state)

    def _apply(self, p, g, group, state) -> None:
        raise NotImplementedError


class RMSprop(_Composed):
    """RMSprop: ``v = alpha v + (1 - alpha) g^2``; ``p -= lr g / (sqrt(v) + eps)``, with
    ``centered`` (subtract the squared mean gradient) and ``momentum``.

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0]))
    >>> opt = nb.optim.RMSprop([w], lr=0.01)
    >>> w.grad = nb.tensor([2.0]); opt.step()
    >>> round(w.item(), 4)  # 1 - 0.01 * 2 / sqrt(0.01 * 4)
    0.9
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                 capturable: bool = False, foreach=None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check_lr(lr)
        _check("eps", eps, what="epsilon")
        _check("momentum", momentum)
        _check("weight_decay", weight_decay)
        _check("alpha", alpha)
        _no_differentiable(differentiable)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize,
                                      foreach=foreach, capturable=capturable,
                                      differentiable=differentiable))

    def _apply(self, p, g, group, state) -> None:
        if not state:
            state["step"] = _step_tensor()
            state["square_avg"] = zeros_like(p)
            if group["momentum"] > 0:
                state["momentum_buffer"] = zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = zeros_like(p)
        _advance(state)
        alpha, eps, lr = group["alpha"], group["eps"], group["lr"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        sq = state["square_avg"]
        sq.copy_(sq * alpha + (1 - alpha) * g * g)
        if group["centered"]:
            ga = state["grad_avg"]
            ga.copy_(ga + (1 - alpha) * (g - ga))
            avg = (sq - ga * ga).sqrt() + eps
        else:
            avg = sq.sqrt() + eps
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf.copy_(buf * group["momentum"] + g / avg)
            p.copy_(p - lr * buf)
        else:
            p.copy_(p - lr * (g / avg))


class Adagrad(_Composed):
    """Adagrad: ``s += g^2``; ``p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)``.

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0]))
    >>> opt = nb.optim.Adagrad([w], lr=0.1)
    >>> w.grad = nb.tensor([2.0]); opt.step()
    >>> round(w.item(), 4)  # 1 - 0.1 * 2 / 2
    0.9
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, fused=None) -> None:
        _check_lr(lr)
        _check("lr_decay", lr_decay)
        _check("weight_decay", weight_decay)
        _check("initial_accumulator_value", initial_accumulator_value)
        _check("eps", eps, what="epsilon")
        _no_differentiable(differentiable)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, fused=fused))
        for group in self.param_groups:  # PyTorch creates the state up front
            for p in group["params"]:
                self.state[p] = {"step": _step_tensor(),
                                 "sum": full_like(p, group["initial_accumulator_value"])}

    def _apply(self, p, g, group, state) -> None:
        if not state:
            state["step"] = _step_tensor()
            state["sum"] = full_like(p, group["initial_accumulator_value"])
        step = _advance(state)
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        s = state["sum"]
        s.copy_(s + g * g)
        p.copy_(p - clr * (g / (s.sqrt() + group["eps"])))


class Adadelta(_Composed):
    """Adadelta: ``v = rho v + (1 - rho) g^2``; ``d = sqrt(u + eps) / sqrt(v + eps) g``;
    ``u = rho u + (1 - rho) d^2``; ``p -= lr d``.

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0]))
    >>> opt = nb.optim.Adadelta([w], lr=1.0, rho=0.0, eps=0.0)
    >>> w.grad = nb.tensor([2.0]); opt.step()
    >>> w.item()  # the first step with u = 0 and eps = 0 does not move
    1.0
    """

    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, foreach=None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check("eps", eps, what="epsilon")
        _check("weight_decay", weight_decay)
        _no_differentiable(differentiable)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      foreach=foreach, capturable=capturable,
                                      maximize=maximize, differentiable=differentiable))

    def _apply(self, p, g, group, state) -> None:
        if not state:
            state["step"] = _step_tensor()
            state["square_avg"] = zeros_like(p)
            state["acc_delta"] = zeros_like(p)
        _advance(state)
        rho, eps = group["rho"], group["eps"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        sq, acc = state["square_avg"], state["acc_delta"]
        sq.copy_(sq * rho + (1 - rho) * g * g)
        delta = (acc + eps).sqrt() / (sq + eps).sqrt() * g
        acc.copy_(acc * rho + (1 - rho) * delta * delta)
        p.copy_(p - group["lr"] * delta)


class Adamax(_Composed):
    """Adamax: Adam with the infinity norm, ``u = max(beta2 u, |g| + eps)``;
    ``p -= lr / (1 - beta1^t) * m / u``.

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0]))
    >>> opt = nb.optim.Adamax([w], lr=0.1)
    >>> w.grad = nb.tensor([2.0]); opt.step()
    >>> round(w.item(), 4)
    0.9
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, foreach=None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _check_lr(lr)
        _check("eps", eps, what="epsilon")
        _check_betas(betas)
        _check("weight_decay", weight_decay)
        _no_differentiable(differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _apply(self, p, g, group, state) -> None:
        if not state:
            state["step"] = _step_tensor()
            state["exp_avg"] = zeros_like(p)
            state["exp_inf"] = zeros_like(p)
        step = _advance(state)
        (b1, b2), eps = group["betas"], group["eps"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        m, u = state["exp_avg"], state["exp_inf"]
        m.copy_(m + (1 - b1) * (g - m))
        scaled, cand = u * b2, g.abs() + eps
        u.copy_(where(scaled >= cand, scaled, cand))
        clr = group["lr"] / (1 - b1 ** step)
        p.copy_(p - clr * (m / u))


class NAdam(_Composed):
    """NAdam: Adam with Nesterov momentum and PyTorch's momentum schedule
    ``mu_t = beta1 (1 - 0.5 * 0.96^(t momentum_decay))``; ``decoupled_weight_decay`` decays
    the weights directly (NAdamW).

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0]))
    >>> opt = nb.optim.NAdam([w], lr=0.1)
    >>> w.grad = nb.tensor([2.0]); opt.step()
    >>> round(w.item(), 4)
    0.8944
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:
        _check_lr(lr)
        _check("eps", eps, what="epsilon")
        _check_betas(betas)
        _check("weight_decay", weight_decay)
        _check("momentum_decay", momentum_decay)
        _no_differentiable(differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      foreach=foreach, maximize=maximize, capturable=capturable,
                                      differentiable=differentiable))

    def _apply(self, p, g, group, state) -> None:
        if not state:
            state["step"] = _step_tensor()
            state["mu_product"] = _step_tensor(1.0)
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
        step = _advance(state)
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.copy_(p * (1 - lr * wd))
            else:
                g = g + wd * p
        bc2 = 1 - b2 ** step
        md = group["momentum_decay"]
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * md))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * md))
        mu_product = float(state["mu_product"].item()) * mu
        state["mu_product"] = _step_tensor(mu_product)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.copy_(m + (1 - b1) * (g - m))
        v.copy_(v * b2 + (1 - b2) * g * g)
        denom = (v / bc2).sqrt() + eps
        mu_product_next = mu_product * mu_next
        p.copy_(p - lr * (1 - mu) / (1 - mu_product) * (g / denom)
                - lr * mu_next / (1 - mu_product_next) * (m / denom))


class RAdam(_Composed):
    """RAdam: Adam with the variance rectification term (plain momentum SGD while the
    approximated SMA length ``rho_t`` is at most 5); ``decoupled_weight_decay`` as AdamW.

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0]))
    >>> opt = nb.optim.RAdam([w], lr=0.1)
    >>> w.grad = nb.tensor([2.0]); opt.step()
    >>> round(w.item(), 4)  # rho_1 = 1 <= 5: p -= lr * m / (1 - beta1)
    0.8
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:
        _check_lr(lr)
        _check("eps", eps, what="epsilon")
        _check_betas(betas)
        _check("weight_decay", weight_decay)
        _no_differentiable(differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      foreach=foreach, maximize=maximize, capturable=capturable,
                                      differentiable=differentiable))

    def _apply(self, p, g, group, state) -> None:
        if not state:
            state["step"] = _step_tensor()
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
        step = _advance(state)
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.copy_(p * (1 - lr * wd))
            else:
                g = g + wd * p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m.copy_(m + (1 - b1) * (g - m))
        v.copy_(v * b2 + (1 - b2) * g * g)
        bc1, bc2 = 1 - b1 ** step, 1 - b2 ** step
        corrected = m / bc1
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2 ** step) / bc2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive = math.sqrt(bc2) / (v.sqrt() + eps)
            p.copy_(p - corrected * lr * adaptive * rect)
        else:
            p.copy_(p - corrected * lr)


class ASGD(_Composed):
    """Averaged SGD: ``p *= 1 - lambd eta``; ``p -= eta g``; ``ax`` averages the iterates once
    ``step > t0``; ``eta = lr / (1 + lambd lr t)^alpha``.

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0]))
    >>> opt = nb.optim.ASGD([w], lr=0.1, lambd=0.0)
    >>> w.grad = nb.tensor([2.0]); opt.step()
    >>> round(w.item(), 4), opt.state[w]["ax"].tolist()
    (0.8, [0.800000011920929])
    """

    def __init__(self, params, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0.0, foreach=None,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _check_lr(lr)
        _check("weight_decay", weight_decay)
        _no_differentiable(differentiable)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                                      weight_decay=weight_decay, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable,
                                      capturable=capturable))

    def _apply(self, p, g, group, state) -> None:
        if not state:
            state["step"] = _step_tensor()
            state["eta"] = tensor(float(group["lr"]), dtype=_dtype.float32)
            state["mu"] = _step_tensor(1.0)
            state["ax"] = zeros_like(p)
        step = _advance(state)
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        eta, mu = float(state["eta"].item()), float(state["mu"].item())
        p.copy_(p * (1 - lambd * eta))
        p.copy_(p - eta * g)
        ax = state["ax"]
        if mu != 1:
            ax.copy_(ax + (p - ax) * mu)
        else:
            ax.copy_(p)
        state["eta"] = tensor(lr / ((1 + lambd * lr * step) ** alpha), dtype=_dtype.float32)
        state["mu"] = _step_tensor(1 / max(1, step - t0))


class Rprop(_Composed):
    """Rprop: each element's step size grows by ``etas[1]`` while its gradient keeps its sign
    and shrinks by ``etas[0]`` when it flips (that step is skipped), within ``step_sizes``;
    ``p -= sign(g) * step_size``.

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([1.0]))
    >>> opt = nb.optim.Rprop([w], lr=0.1)
    >>> for _ in range(2):
    ...     w.grad = nb.tensor([2.0]); opt.step()
    >>> round(w.item(), 4)  # 1 - 0.1 (no previous sign yet) - 0.1 * 1.2
    0.78
    """

    def __init__(self, params, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach=None, maximize: bool = False, differentiable: bool = False) -> None:
        _check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        _no_differentiable(differentiable)
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes),
                                      foreach=foreach, maximize=maximize,
                                      differentiable=differentiable, capturable=capturable))

    def _apply(self, p, g, group, state) -> None:
        if not state:
            state["step"] = _step_tensor()
            state["prev"] = zeros_like(p)
            state["step_size"] = full_like(p, group["lr"])
        _advance(state)
        (etaminus, etaplus), (lo, hi) = group["etas"], group["step_sizes"]
        prev, size = state["prev"], state["step_size"]
        s = (g * prev).sign()
        factor = where(s > 0, full_like(p, etaplus), where(s < 0, full_like(p, etaminus),
                                                          full_like(p, 1.0)))
        size.copy_((size * factor).clamp(lo, hi))
        g = where(s < 0, zeros_like(g), g)
        p.copy_(p - g.sign() * size)
        prev.copy_(g)
