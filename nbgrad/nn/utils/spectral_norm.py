"""Classic spectral normalisation with hooks (PyTorch's ``torch.nn.utils.spectral_norm``):
``weight_orig`` is the parameter, ``weight_u`` / ``weight_v`` the power-iteration buffers."""

from __future__ import annotations

from nbgrad.nn.parameter import Parameter
from nbgrad.nn.utils._spectral import normalize, power_iteration_, reshape_weight, sigma
from nbgrad.ops.creation import randn

__all__ = ["spectral_norm", "remove_spectral_norm", "SpectralNorm"]


class SpectralNorm:
    """The forward pre-hook that recomputes ``weight = weight_orig / sigma``."""

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.name = name
        self.dim = dim
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def compute_weight(self, module, do_power_iteration: bool):
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        mat = reshape_weight(weight, self.dim)
        if do_power_iteration:
            power_iteration_(mat, u, v, self.n_power_iterations, self.eps)
            u, v = u.clone(), v.clone()
        return weight / sigma(mat, u, v)

    def __call__(self, module, inputs) -> None:
        object.__setattr__(module, self.name,
                           self.compute_weight(module, do_power_iteration=module.training))


def spectral_norm(module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None):
    """Divide ``module.<name>`` by its spectral norm before every forward.

    >>> import nbgrad as nb
    >>> m = nb.nn.utils.spectral_norm(nb.nn.Linear(4, 3))
    >>> sorted(m.state_dict())
    ['bias', 'weight_orig', 'weight_u', 'weight_v']
    """
    for hook in (module.__dict__.get("_forward_pre_hooks") or {}).values():
        if isinstance(hook, SpectralNorm) and hook.name == name:
            raise RuntimeError(f"Cannot register two spectral_norm hooks on the same "
                               f"parameter {name}")
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    fn = SpectralNorm(name, n_power_iterations, dim, eps)
    weight = module._parameters[name]
    mat = reshape_weight(weight.detach(), dim)
    h, w = mat.shape
    u = normalize(randn(h, dtype=weight.dtype, device=weight.device), eps)
    v = normalize(randn(w, dtype=weight.dtype, device=weight.device), eps)
    del module._parameters[name]
    module.register_parameter(name + "_orig", weight)
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    object.__setattr__(module, name, weight.detach())
    handle = module.register_forward_pre_hook(fn)
    module.__dict__.setdefault("_spectral_norm_handles", {})[name] = handle
    return module


def remove_spectral_norm(module, name: str = "weight"):
    """Undo :func:`spectral_norm`; the current normalised weight becomes the parameter.

    >>> import nbgrad as nb
    >>> m = nb.nn.utils.remove_spectral_norm(nb.nn.utils.spectral_norm(nb.nn.Linear(4, 3)))
    >>> sorted(m.state_dict())
    ['bias', 'weight']
    """
    handles = module.__dict__.get("_spectral_norm_handles") or {}
    if name not in handles:
        raise ValueError(f"spectral_norm of '{name}' not found in {module}")
    fn = module.__dict__["_forward_pre_hooks"][handles[name].id]
    weight = fn.compute_weight(module, do_power_iteration=False).detach()
    handles.pop(name).remove()
    del module._parameters[name + "_orig"]
    del module._buffers[name + "_u"]
    del module._buffers[name + "_v"]
    module.__dict__.pop(name, None)
    module.register_parameter(name, Parameter(weight.clone()))
    return module
