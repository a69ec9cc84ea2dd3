"""The parity tier: the same inputs through nbgrad and PyTorch, values compared.

Runs only where PyTorch is installed (``pip install -e ".[test,parity]"``, which pins the CPU
wheel 2.13.0); ``.ci/run`` runs it in a venv of its own. nbgrad itself never imports torch."""

import pytest

torch = pytest.importorskip("torch", reason="the parity tier needs PyTorch (the parity extra)")
