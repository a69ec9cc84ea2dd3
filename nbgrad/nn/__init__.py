"""``nb.nn``: modules, parameters, initialisers and functional forms for building models."""

from nbgrad.nn import activation, functional, init
from nbgrad.nn.activation import *  # noqa: F403  (ELU ... Softmax2d)
from nbgrad.nn.container import ModuleList, Sequential
from nbgrad.nn.layers import (
    GELU,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from nbgrad.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from nbgrad.nn.module import Module
from nbgrad.nn.parameter import Parameter

__all__ = [
    "functional", "init", "Module", "Parameter", "Sequential", "ModuleList", "Identity",
    "Linear", "Embedding", "LayerNorm", "Dropout", "ReLU", "GELU", "SiLU", "Tanh", "Sigmoid",
    "Softmax", "LogSoftmax", "Flatten", "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss",
    "BCELoss", "BCEWithLogitsLoss", *activation.__all__,
]
