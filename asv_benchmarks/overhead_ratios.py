"""W1 / W2 / W2b of design/PERFORMANCE.md with each library in its own process, at its defaults.

    python -m asv_benchmarks.overhead_ratios --torch-python PATH [--rounds N] [--only W1,W2]

Each round starts one fresh process for nbgrad (this interpreter) and one for PyTorch (the
interpreter given by ``--torch-python``, which must have ``torch``), alternating A B A B; each
process warms up, then reports the median of its timed repetitions. The printed ratio is the
median of the per-round ratios nbgrad / torch, so machine noise that hits both sides cancels.
PyTorch runs with ``torch.set_num_threads(2)``, as PERFORMANCE.md says, and nothing else is set.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

# One workload, timed in the child process; ``lib`` is ``nbgrad`` or ``torch``.
_CHILD = r"""
import statistics, sys, time
lib, name = sys.argv[1], sys.argv[2]
if lib == "torch":
    import torch as m
    m.set_num_threads(2)
else:
    import nbgrad as m

def w1():  # per-op overhead: 1000 elementwise ops recorded, then backward
    x = m.rand(100, requires_grad=True)
    y = x
    for _ in range(500):
        y = y * 1.0001 + 0.0001
    y.sum().backward()

def w2():
    for _ in range(1000):
        with m.no_grad():
            pass

def w2b():
    for _ in range(1000):
        with m.inference_mode():
            pass

fn = {"W1": w1, "W2": w2, "W2b": w2b}[name]
for _ in range(5):
    fn()
times = []
for _ in range(15):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
print(statistics.median(times) / 1000)  # seconds per op (W1) or per with-block (W2, W2b)
"""

WORKLOADS = {
    "W1": "per-op overhead, forward+backward (x = x*1.0001 + 0.0001, 100 elements)",
    "W2": "enter+exit no_grad",
    "W2b": "enter+exit inference_mode",
}


def _time(python: str, lib: str, name: str) -> float:
    out = subprocess.run([python, "-c", _CHILD, lib, name], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", required=True,
                        help="a Python interpreter that has torch installed")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    args = parser.parse_args(argv)
    print(f"{'id':5} {'nbgrad':>10} {'torch':>10} {'ratio':>7}  workload")
    for name in args.only.split(","):
        ours, theirs, ratios = [], [], []
        for _ in range(args.rounds):
            a = _time(sys.executable, "nbgrad", name)
            b = _time(args.torch_python, "torch", name)
            ours.append(a)
            theirs.append(b)
            ratios.append(a / b)
        a_us, b_us = statistics.median(ours) * 1e6, statistics.median(theirs) * 1e6
        print(f"{name:5} {a_us:8.2f}us {b_us:8.2f}us {statistics.median(ratios):7.2f}  "
              f"{WORKLOADS[name]}")


if __name__ == "__main__":
    main()
