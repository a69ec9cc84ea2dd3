"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and state dicts."""

from __future__ import annotations

import copy
from collections.abc import Callable

from nbgrad.grad_mode import enable_grad, no_grad
from nbgrad.tensor import Tensor

__all__ = ["Optimizer"]


def _fused_update(step, p: Tensor, grad: Tensor, states: tuple, *hyper) -> None:
    """Run the backend's fused update ``step`` on ``p``, ``grad`` and the state tensors, in
    place. The kernels take contiguous arrays: a tensor that is not contiguous is updated on a
    contiguous copy and written back, so every layout runs the same formula (the backend's
    scalar update, :mod:`nbgrad.backends._optim_rules`).

    >>> import nbgrad as nb
    >>> w = nb.nn.Parameter(nb.tensor([[1.0, 2.0], [3.0, 4.0]]).t())  # not contiguous
    >>> w.grad = nb.ones(2, 2)
    >>> nb.optim.SGD([w], lr=0.5).step()
    >>> w.tolist()
    [[0.5, 2.5], [1.5, 3.5]]
    """
    work = {id(t): t if t.is_contiguous() else t.contiguous() for t in (p, grad, *states)}
    step(work[id(p)], work[id(grad)], *(work[id(s)] for s in states), *hyper)
    for t in (p, *states):
        if work[id(t)] is not t and t is not grad:  # (SGD without momentum passes the grad)
            t.copy_(work[id(t)])


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class: ``param_groups`` (list of dicts with ``"params"`` and hyperparameters) and
    ``state`` (per-parameter dict). Subclasses implement ``step``.

    ``params`` is an iterable of tensors, or of dicts that each give ``"params"`` and may
    override the defaults for that group.

    >>> import nbgrad as nb
    >>> class SignSGD(nb.optim.Optimizer):
    ...     def __init__(self, params, lr=0.01):
    ...         super().__init__(params, {"lr": lr})
    ...     def step(self, closure=None):
    ...         with nb.no_grad():
    ...             for group in self.param_groups:
    ...                 for p in group["params"]:
    ...                     if p.grad is not None:
    ...                         p.sub_(p.grad.sign() * group["lr"])
    >>> w = nb.nn.Parameter(nb.tensor([1.0, -2.0]))
    >>> opt = SignSGD([w], lr=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.tolist()
    [0.5, -1.5]
    """

    def __init__(self, params, defaults: dict) -> None:
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}"
            )
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (a dict with ``"params"``), filling in the defaults.

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(2, 2)
        >>> opt = nb.optim.SGD([fc.weight], lr=0.1)
        >>> opt.add_param_group({"params": [fc.bias], "lr": 0.01})
        >>> [group["lr"] for group in opt.param_groups]
        [0.1, 0.01]
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group = dict(param_group, params=params)
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to ``None`` by default, else to zeros).

        >>> import nbgrad as nb
        >>> w = nb.nn.Parameter(nb.ones(2))
        >>> opt = nb.optim.SGD([w], lr=0.1)
        >>> w.sum().backward()
        >>> opt.zero_grad()
        >>> w.grad is None
        True
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad
                    if g.grad_fn is not None:
                        g.detach_()
                    with no_grad():
                        g.zero_()

    def _closure(self, closure: Callable | None):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def step(self, closure: Callable | None = None):
        """Update the parameters once (``closure`` re-evaluates the loss and returns it).

        >>> import nbgrad as nb
        >>> w = nb.nn.Parameter(nb.tensor([3.0]))
        >>> opt = nb.optim.SGD([w], lr=0.25)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (w * w).sum()
        ...     loss.backward()
        ...     return loss
        >>> opt.step(closure)  # the loss before the update
        tensor(9., grad_fn=<SumBackward0>)
        >>> w.item()  # 3 - 0.25 * 6
        1.5
        """
        loss = self._closure(closure)
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, group)
        return loss

    def _update(self, p: Tensor, group: dict) -> None:
        """Update one parameter in place (under ``no_grad``): what each optimizer defines."""
        raise NotImplementedError

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}``.

        Parameters are replaced by their position across groups; state tensors are referenced,
        not copied (save with ``nb.save``).

        >>> import nbgrad as nb
        >>> w = nb.nn.Parameter(nb.ones(2))
        >>> opt = nb.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> w.sum().backward()
        >>> opt.step()
        >>> state = opt.state_dict()
        >>> state["param_groups"][0]["params"], state["state"][0]["momentum_buffer"]
        ([0], tensor([1., 1.]))
        """
        index: dict = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = self.state[p]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and state saved by ``state_dict`` (groups must match in
        number and size); floating state tensors are cast to their parameter's dtype/device.

        >>> import nbgrad as nb
        >>> w = nb.nn.Parameter(nb.ones(2))
        >>> opt = nb.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> w.sum().backward()
        >>> opt.step()
        >>> resumed = nb.optim.SGD([w], lr=0.5, momentum=0.9)
        >>> resumed.load_state_dict(opt.state_dict())
        >>> resumed.param_groups[0]["lr"], resumed.state[w]["momentum_buffer"]
        (0.1, tensor([1., 1.]))
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError("optimizer state_dict must be a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, theirs in zip(self.param_groups, saved_groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        by_index = {}
        for mine, theirs in zip(self.param_groups, saved_groups):
            for idx, p in zip(theirs["params"], mine["params"]):
                by_index[idx] = p
        new_state: dict = {}
        for idx, value in state_dict["state"].items():
            p = by_index.get(int(idx))
            if p is None:
                continue
            new_state[p] = {k: self._cast_state(p, k, v) for k, v in value.items()}
        for mine, theirs in zip(self.param_groups, saved_groups):
            for k, v in theirs.items():
                if k != "params":
                    mine[k] = copy.deepcopy(v)
        self.state = new_state

    @staticmethod
    def _cast_state(p: Tensor, key: str, value):
        if not isinstance(value, Tensor):
            return value
        if key != "step" and value.is_floating_point():
            if value.shape != p.shape:
                raise ValueError(f"optimizer state '{key}' has shape {value.shape} but its "
                                 f"parameter has shape {p.shape}")
            value = value.to(p.dtype)
        return value.to(p.device).detach().clone()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
