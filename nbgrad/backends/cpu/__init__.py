"""The CPU backend: numpy arrays, Numba ``@njit`` kernels and BLAS matmul through numpy."""

from nbgrad.backends.cpu.arrays import *  # noqa: F403
from nbgrad.backends.cpu.copying import *  # noqa: F403
from nbgrad.backends.cpu.elementwise import elementwise_kernel, map_elementwise  # noqa: F401
from nbgrad.backends.cpu.reduce import reduce  # noqa: F401
