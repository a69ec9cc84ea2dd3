"""The CUDA backend: numba.cuda device arrays and kernels generated from the same op table.

It exposes the same functions as ``nbgrad.backends.cpu`` (``map_elementwise``, ``reduce``,
``matmul``, ``getitem`` ...), on :class:`CudaArray` device arrays. Importing it needs the
``numba-cuda`` package (``pip install 'nbgrad[cuda]'``), not a GPU; the first allocation checks
that a GPU (or Numba's CUDA simulator, ``NUMBA_ENABLE_CUDASIM=1``) is there.
"""

try:
    from numba import cuda as _cuda  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "the CUDA backend needs the numba-cuda package: pip install 'nbgrad[cuda]'"
    ) from exc

from nbgrad.backends.cuda import _runtime
from nbgrad.backends.cuda import arrays as _arrays
from nbgrad.backends.cuda import indexing as _indexing
from nbgrad.backends.cuda._runtime import CudaArray, synchronize  # noqa: F401
from nbgrad.backends.cuda.arrays import *  # noqa: F403
from nbgrad.backends.cuda.copying import *  # noqa: F403
from nbgrad.backends.cuda.elementwise import elementwise_kernel, map_elementwise  # noqa: F401
from nbgrad.backends.cuda.indexing import getitem, index_add, setitem  # noqa: F401
from nbgrad.backends.cuda.linalg import matmul  # noqa: F401
from nbgrad.backends.cuda.reduce import reduce  # noqa: F401

_runtime.bind_methods(copy=_arrays.copy, astype=_arrays.astype, setitem=_indexing.setitem)
