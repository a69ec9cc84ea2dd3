"""Every differentiable op, declared once (forward kernel + gradient rule)."""

from nbgrad.ops import _methods  # noqa: F401  (attaches the Tensor methods)
