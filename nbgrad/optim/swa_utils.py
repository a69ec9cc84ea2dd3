"""Stochastic weight averaging (PyTorch's ``torch.optim.swa_utils``): :class:`AveragedModel`
(running or exponential average of a model's parameters), :class:`SWALR` (anneal each group's
lr to ``swa_lr``), :func:`update_bn` and the EMA helpers."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable

from nbgrad import _dtype
from nbgrad.grad_mode import no_grad
from nbgrad.nn.module import Module
from nbgrad.ops.creation import tensor
from nbgrad.optim.lr_scheduler import LRScheduler

__all__ = ["AveragedModel", "SWALR", "update_bn", "get_ema_avg_fn", "get_swa_avg_fn",
           "get_ema_multi_avg_fn", "get_swa_multi_avg_fn"]


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """``avg_fn`` of an exponential moving average: ``decay * avg + (1 - decay) * new``.

    >>> import nbgrad as nb
    >>> from nbgrad.optim.swa_utils import get_ema_avg_fn
    >>> get_ema_avg_fn(0.5)(nb.tensor(0.0), nb.tensor(2.0), 1)
    tensor(1.)
    """
    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn() -> Callable:
    """``avg_fn`` of the running mean: ``avg + (new - avg) / (n + 1)``.

    >>> import nbgrad as nb
    >>> from nbgrad.optim.swa_utils import get_swa_avg_fn
    >>> get_swa_avg_fn()(nb.tensor(1.0), nb.tensor(4.0), 2)
    tensor(2.)
    """
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """``multi_avg_fn`` form of :func:`get_ema_avg_fn` (lists of tensors, updated in place).

    >>> import nbgrad as nb
    >>> from nbgrad.optim.swa_utils import get_ema_multi_avg_fn
    >>> avg = [nb.tensor([0.0])]
    >>> get_ema_multi_avg_fn(0.5)(avg, [nb.tensor([2.0])], 1); avg[0].tolist()
    [1.0]
    """
    one = get_ema_avg_fn(decay)

    def ema_update(ema_params, current_params, num_averaged):
        for a, c in zip(ema_params, current_params):
            a.copy_(one(a, c, num_averaged))
    return ema_update


def get_swa_multi_avg_fn() -> Callable:
    """``multi_avg_fn`` form of :func:`get_swa_avg_fn`.

    >>> import nbgrad as nb
    >>> from nbgrad.optim.swa_utils import get_swa_multi_avg_fn
    >>> avg = [nb.tensor([1.0])]
    >>> get_swa_multi_avg_fn()(avg, [nb.tensor([4.0])], 2); avg[0].tolist()
    [2.0]
    """
    one = get_swa_avg_fn()

    def swa_update(averaged_params, current_params, num_averaged):
        for a, c in zip(averaged_params, current_params):
            a.copy_(one(a, c, num_averaged))
    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters (and buffers with ``use_buffers``) are the average
    of the models given to :meth:`update_parameters` (running mean by default; ``avg_fn`` /
    ``multi_avg_fn`` for EMA and others). Calling it runs the averaged copy.

    >>> import nbgrad as nb
    >>> from nbgrad.optim.swa_utils import AveragedModel
    >>> fc = nb.nn.Linear(1, 1, bias=False)
    >>> swa = AveragedModel(fc)
    >>> for v in (1.0, 3.0):
    ...     with nb.no_grad():
    ...         _ = fc.weight.fill_(v)
    ...     swa.update_parameters(fc)
    >>> swa.module.weight.item(), swa.n_averaged.item()
    (2.0, 2)
    """

    def __init__(self, model: Module, device=None, avg_fn: Callable | None = None,
                 multi_avg_fn: Callable | None = None, use_buffers: bool = False) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=_dtype.int64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _tensors(self, model: Module) -> list:
        if self.use_buffers:
            return list(itertools.chain(model.parameters(), model.buffers()))
        return list(model.parameters())

    def update_parameters(self, model: Module) -> None:
        """Fold ``model``'s current parameters into the average.

        >>> import nbgrad as nb
        >>> from nbgrad.optim.swa_utils import AveragedModel
        >>> fc = nb.nn.Linear(1, 1)
        >>> swa = AveragedModel(fc); swa.update_parameters(fc); swa.n_averaged.item()
        1
        """
        n = int(self.n_averaged.item())
        with no_grad():
            mine, theirs = self._tensors(self.module), self._tensors(model)
            if n == 0:
                for a, c in zip(mine, theirs):
                    a.copy_(c.detach())
            elif self.multi_avg_fn is not None:
                self.multi_avg_fn(mine, [c.detach() for c in theirs], n)
            else:
                fn = self.avg_fn or get_swa_avg_fn()
                for a, c in zip(mine, theirs):
                    a.copy_(fn(a.detach(), c.detach(), n))
            if not self.use_buffers:  # the copy keeps the live model's buffers
                for a, c in zip(self.module.buffers(), model.buffers()):
                    a.copy_(c.detach())
        self.n_averaged = tensor(n + 1, dtype=_dtype.int64)


def update_bn(loader: Iterable, model: Module, device=None) -> None:
    """Recompute the BatchNorm running statistics of ``model`` with one pass over ``loader``
    (cumulative averages: momentum ``None`` during the pass).

    >>> import nbgrad as nb
    >>> from nbgrad.optim.swa_utils import update_bn
    >>> update_bn([nb.ones(2, 3)], nb.nn.Linear(3, 1))  # no BatchNorm: nothing to do
    """
    momenta = {}
    for m in model.modules():
        if hasattr(m, "running_mean") and hasattr(m, "momentum"):
            if hasattr(m, "reset_running_stats"):
                m.reset_running_stats()
            momenta[m] = m.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for m in momenta:
        m.momentum = None
    with no_grad():
        for batch in loader:
            if isinstance(batch, (list, tuple)):
                batch = batch[0]
            if device is not None:
                batch = batch.to(device)
            model(batch)
    for m, mom in momenta.items():
        m.momentum = mom
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr from its value to ``swa_lr`` over ``anneal_epochs`` (``cos`` or
    ``linear``), then hold it.

    >>> import nbgrad as nb
    >>> from nbgrad.optim.swa_utils import SWALR
    >>> opt = nb.optim.SGD([nb.nn.Parameter(nb.ones(1))], lr=1.0)
    >>> sched = SWALR(opt, swa_lr=0.1, anneal_epochs=2, anneal_strategy="linear")
    >>> lrs = []
    >>> for _ in range(3):
    ...     opt.step(); sched.step(); lrs.append(round(sched.get_last_lr()[0], 4))
    >>> lrs  # halfway (1 + 0.1) / 2, then swa_lr
    [0.55, 0.1, 0.1]
    """

    def __init__(self, optimizer, swa_lr, anneal_epochs: int = 10, anneal_strategy: str = "cos",
                 last_epoch: int = -1) -> None:
        lrs = swa_lr if isinstance(swa_lr, (list, tuple)) else [swa_lr] * len(
            optimizer.param_groups)
        if len(lrs) != len(optimizer.param_groups):
            raise ValueError("swa_lr must have the same length as optimizer.param_groups: "
                             f"swa_lr has {len(lrs)}, optimizer.param_groups has "
                             f"{len(optimizer.param_groups)}")
        for lr, group in zip(lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError("anneal_strategy must by one of 'cos' or 'linear', instead got "
                             f"{anneal_strategy}")
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got "
                             f"{anneal_epochs}")
        self.anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def _anneal(self, t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2 if self.anneal_strategy == "cos" else t

    @staticmethod
    def _initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _compute_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self._anneal(max(0.0, min(1.0, (step - 1) / max(1, self.anneal_epochs))))
        groups = self.optimizer.param_groups
        prev = [self._initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        alpha = self._anneal(max(0.0, min(1.0, step / max(1, self.anneal_epochs))))
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, prev)]
