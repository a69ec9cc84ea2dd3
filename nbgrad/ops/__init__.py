"""Every differentiable op, declared once (forward kernel + gradient rule + public names)."""

from nbgrad.ops import functions  # noqa: F401  (declares every op: nb.<name> and Tensor methods)
