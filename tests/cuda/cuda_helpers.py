"""Helpers shared by the CUDA tests: the same data on both devices, and comparisons."""

from __future__ import annotations

import numpy as np

import nbgrad as nb


def pair(data, dtype=None, requires_grad=False):
    """The same values as a CPU tensor and a CUDA tensor."""
    arr = np.asarray(data)
    dt = dtype if dtype is not None else None
    cpu = nb.tensor(arr, dtype=dt, requires_grad=requires_grad)
    gpu = nb.tensor(arr, dtype=dt, device="cuda", requires_grad=requires_grad)
    return cpu, gpu


def host(t) -> np.ndarray:
    """A tensor's values on the host (any device)."""
    return t.detach().cpu().numpy()


def assert_same(cpu_result, gpu_result, rtol=1e-5, atol=1e-6):
    """Values, dtype and shape of a CUDA result match the CPU result."""
    if cpu_result is None or gpu_result is None:
        assert cpu_result is None and gpu_result is None, (cpu_result, gpu_result)
        return
    if isinstance(cpu_result, (tuple, list)):
        assert len(cpu_result) == len(gpu_result)
        for c, g in zip(cpu_result, gpu_result):
            assert_same(c, g, rtol, atol)
        return
    assert isinstance(gpu_result, nb.Tensor)
    assert gpu_result.device == nb.device("cuda", 0), gpu_result.device
    assert gpu_result.dtype is cpu_result.dtype, (gpu_result.dtype, cpu_result.dtype)
    assert gpu_result.shape == cpu_result.shape, (gpu_result.shape, cpu_result.shape)
    np.testing.assert_allclose(host(gpu_result), host(cpu_result), rtol=rtol, atol=atol,
                               equal_nan=True)
