"""nbgrad: a JIT-compiled autograd engine on Numba with PyTorch's API.

>>> import nbgrad as nb
>>> x = nb.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad
tensor([2., 4., 6.])
"""

from nbgrad import accelerator, autograd, cuda, func, linalg, nn, ops, optim, random, utils
from nbgrad._device import Device as device
from nbgrad._dtype import DType as dtype
from nbgrad._dtype import bool_ as bool  # noqa: A001
from nbgrad._dtype import float16, float32, float64, int8, int16, int32, int64, uint8
from nbgrad.errors import AutogradError
from nbgrad.fusion import compile  # noqa: A004
from nbgrad.grad_mode import (
    enable_grad,
    grad_mode,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from nbgrad.nn._activations import log_softmax, softmax  # declared by nn, also nb.<name>
from nbgrad.ops.creation import default_generator
from nbgrad.ops.functions import *  # noqa: F403
from nbgrad.serialization import load, save
from nbgrad.tensor import Tensor

float = float32  # noqa: A001
double = float64
long = int64
half = float16
short = int16
int = int32  # noqa: A001

__version__ = "0.1.0"
