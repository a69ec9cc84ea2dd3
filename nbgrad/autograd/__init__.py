"""Reverse-mode automatic differentiation: the engine, custom Functions and checks."""

from nbgrad._graph import Node
from nbgrad.autograd import graph
from nbgrad.autograd.engine import backward, grad
from nbgrad.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from nbgrad.grad_mode import is_multithreading_enabled, set_multithreading_enabled

__all__ = [
    "backward", "grad", "gradcheck", "gradgradcheck", "GradcheckError", "graph", "Node",
    "set_multithreading_enabled", "is_multithreading_enabled",
]
