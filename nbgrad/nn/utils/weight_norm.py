"""Classic weight normalisation: ``weight = g * v / ||v||`` recomputed before each forward
(PyTorch's ``torch.nn.utils.weight_norm`` / ``remove_weight_norm``)."""

from __future__ import annotations

from nbgrad.nn.parameter import Parameter

__all__ = ["weight_norm", "remove_weight_norm", "WeightNorm"]


def _norm_except_dim(v, dim):
    if dim < 0:
        dim += v.ndim
    dims = tuple(d for d in range(v.ndim) if d != dim)
    return (v * v).sum(dims, keepdim=True).sqrt()


class WeightNorm:
    """The forward pre-hook that recomputes ``weight`` from ``weight_g`` and ``weight_v``."""

    def __init__(self, name: str, dim) -> None:
        self.name = name
        self.dim = dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        if self.dim is None:
            return v * (g / v.norm())
        return v * (g / _norm_except_dim(v, self.dim))

    def __call__(self, module, inputs) -> None:
        object.__setattr__(module, self.name, self.compute_weight(module))


def weight_norm(module, name: str = "weight", dim: int | None = 0):
    """Split ``module.<name>`` into a magnitude ``<name>_g`` and a direction ``<name>_v``
    (parameters); the weight is recomputed as ``g * v / ||v||`` before every forward (norm
    over every dim but ``dim``; ``dim=None``: the whole tensor).

    >>> import nbgrad as nb
    >>> m = nb.nn.utils.weight_norm(nb.nn.Linear(3, 2))
    >>> sorted(n for n, _ in m.named_parameters())
    ['bias', 'weight_g', 'weight_v']
    >>> m.weight_g.shape, m(nb.ones(1, 3)).shape
    ((2, 1), (1, 2))
    """
    for hook in (module.__dict__.get("_forward_pre_hooks") or {}).values():
        if isinstance(hook, WeightNorm) and hook.name == name:
            raise RuntimeError(f"Cannot register two weight_norm hooks on the same parameter "
                               f"{name}")
    fn = WeightNorm(name, dim)
    weight = getattr(module, name)
    del module._parameters[name]
    w = weight.detach()
    g = w.norm() if dim is None else _norm_except_dim(w, dim)
    module.register_parameter(name + "_g", Parameter(g.clone()))
    module.register_parameter(name + "_v", Parameter(w.clone()))
    object.__setattr__(module, name, fn.compute_weight(module))
    handle = module.register_forward_pre_hook(fn)
    module.__dict__.setdefault("_weight_norm_handles", {})[name] = handle
    return module


def remove_weight_norm(module, name: str = "weight"):
    """Undo :func:`weight_norm`: ``<name>`` is a plain parameter again.

    >>> import nbgrad as nb
    >>> m = nb.nn.utils.remove_weight_norm(nb.nn.utils.weight_norm(nb.nn.Linear(3, 2)))
    >>> sorted(n for n, _ in m.named_parameters())
    ['bias', 'weight']
    """
    handles = module.__dict__.get("_weight_norm_handles") or {}
    if name not in handles:
        raise ValueError(f"weight_norm of '{name}' not found in {module}")
    hooks = module.__dict__["_forward_pre_hooks"]
    fn = hooks[handles[name].id]
    weight = fn.compute_weight(module).detach()
    handles.pop(name).remove()
    del module._parameters[name + "_g"]
    del module._parameters[name + "_v"]
    module.__dict__.pop(name, None)
    module.register_parameter(name, Parameter(weight.clone()))
    return module
