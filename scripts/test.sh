#!/usr/bin/env bash
# Set up a virtual environment in .venv and run the whole test suite:
# the CPU suite, the docs' examples, and the CUDA kernels under Numba's CUDA simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV="${NBGRAD_VENV:-.venv}"
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$HOME/.cache/nbgrad-numba}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e ".[test,cuda-compile-check,examples,distributed]"
"$VENV/bin/python" -m ruff check nbgrad tests asv_benchmarks
"$VENV/bin/python" -m pytest
# The simulator must be switched on before numba is imported, hence a separate run.
NUMBA_ENABLE_CUDASIM=1 "$VENV/bin/python" -m pytest tests/cuda -m cuda
