"""``torch.nn.modules.activation`` (PyTorch keeps ``MultiheadAttention`` here too).

>>> from nbgrad.nn.modules.activation import ReLU, MultiheadAttention
>>> ReLU()
ReLU()
"""

from nbgrad.nn import activation as _act
from nbgrad.nn.activation import *  # noqa: F403
from nbgrad.nn.layers import GELU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh  # noqa: F401
from nbgrad.nn.transformer import MultiheadAttention  # noqa: F401

__all__ = [*_act.__all__, "ReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
           "MultiheadAttention"]
