"""Reverse- and forward-mode automatic differentiation: the engine, custom Functions, checks."""

from nbgrad._graph import Node
from nbgrad.autograd import anomaly, forward_ad, functional, graph
from nbgrad.autograd.anomaly import detect_anomaly, set_detect_anomaly
from nbgrad.autograd.engine import backward, grad
from nbgrad.autograd.function import Function, FunctionCtx, once_differentiable
from nbgrad.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck
from nbgrad.autograd.variable import Variable
from nbgrad.grad_mode import is_multithreading_enabled, set_multithreading_enabled

__all__ = [
    "backward", "grad", "gradcheck", "gradgradcheck", "GradcheckError", "graph", "Node",
    "set_multithreading_enabled", "is_multithreading_enabled",
    "Function", "FunctionCtx", "once_differentiable", "detect_anomaly", "set_detect_anomaly",
    "anomaly", "functional", "forward_ad", "Variable",
]
