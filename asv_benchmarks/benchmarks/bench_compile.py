"""C1-C3: import time and the first training step of a fresh process (compile/cache cost).

Each figure is measured in a subprocess, so ``track_`` benchmarks (seconds) are used: asv's
timers would only see this process, where everything is already compiled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from .common import available

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

IMPORT = ("import time; t = time.perf_counter(); import nbgrad; "
          "print(time.perf_counter() - t)")

FIRST_STEP = """
import time
t0 = time.perf_counter()
import nbgrad as nb
from asv_benchmarks.benchmarks.common import mlp, mlp_batch, training_step
model = mlp(nb)
xa, ya = mlp_batch()
opt = nb.optim.SGD(model.parameters(), lr=0.01)
training_step(nb, model, opt, nb.from_numpy(xa), nb.from_numpy(ya))
print(time.perf_counter() - t0)
"""


def _seconds(code: str, env: dict | None = None) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=_ROOT, env={**os.environ, **(env or {})})
    return float(out.stdout.strip().splitlines()[-1])


def _require_training() -> None:
    for mod, attr in (("nbgrad.nn", "functional.cross_entropy"), ("nbgrad.optim", "SGD")):
        if not available(mod, attr):
            raise NotImplementedError(f"{mod}.{attr} not available yet")


class ImportTime:
    """C1: ``import nbgrad`` in a fresh interpreter (target <= 0.3 s: no compilation)."""

    def track_import_seconds(self):
        return min(_seconds(IMPORT) for _ in range(3))

    track_import_seconds.unit = "seconds"


class FirstTrainingStep:
    """C2 (warm Numba cache, target <= 2 s) and C3 (empty cache, target <= 30 s)."""

    timeout = 600
    number = 1
    repeat = 1

    def setup(self, result):
        _require_training()

    def setup_cache(self):
        if not (available("nbgrad.nn", "functional.cross_entropy")
                and available("nbgrad.optim", "SGD")):
            return None
        with tempfile.TemporaryDirectory() as cache:
            env = {"NUMBA_CACHE_DIR": cache, "NBGRAD_FUSION_DIR": os.path.join(cache, "fused")}
            cold = _seconds(FIRST_STEP, env)
            warm = _seconds(FIRST_STEP, env)
        return {"cold": cold, "warm": warm}

    def track_first_step_warm_cache(self, result):
        return result["warm"]

    track_first_step_warm_cache.unit = "seconds"

    def track_first_step_empty_cache(self, result):
        return result["cold"]

    track_first_step_empty_cache.unit = "seconds"
