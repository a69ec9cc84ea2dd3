"""2-rank data-parallel step time and how much of the gradient all-reduce backward hides.

    python asv_benchmarks/bench_distributed.py [--hidden 512] [--steps 30] [--batch 64]

Launches itself under ``mpiexec -n 2`` (mpi4py and an MPI wheel needed:
``pip install 'nbgrad[distributed]'``) and prints, per rank 0, the median of:

* ``local``: one training step of the digits-shaped MLP without DDP (no communication);
* ``allreduce``: a blocking all-reduce of all the gradients (one flat buffer) on its own —
  what the step would pay if nothing overlapped;
* ``ddp_one_bucket``: a DDP step with a single bucket (reduced after the whole backward);
* ``ddp``: a DDP step with 25 MB buckets... and ``ddp_small``: 1 MB buckets (overlapped);
* ``exposed = ddp - local`` and ``hidden = allreduce - exposed`` for each DDP variant.

Not an asv benchmark class: asv runs one process, this needs an MPI job.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def worker(hidden: int, steps: int, batch: int) -> None:
    import numpy as np

    import nbgrad as nb
    import nbgrad.distributed as dist
    import nbgrad.nn.functional as F
    from nbgrad.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("mpi", timeout=120)
    rank = dist.get_rank()
    rng = np.random.default_rng(rank)
    X = nb.tensor(rng.standard_normal((batch, 64)).astype(np.float32))
    Y = nb.tensor(rng.integers(0, 10, batch))

    def make():
        nb.manual_seed(0)
        return nb.nn.Sequential(nb.nn.Linear(64, hidden), nb.nn.ReLU(),
                                nb.nn.Linear(hidden, hidden), nb.nn.ReLU(),
                                nb.nn.Linear(hidden, 10))

    def timed(model, n=steps):
        opt = nb.optim.SGD(model.parameters(), lr=1e-3)
        times = []
        for i in range(n + 3):
            dist.barrier()
            t0 = time.perf_counter()
            loss = F.cross_entropy(model(X), Y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i >= 3:
                times.append(time.perf_counter() - t0)
        return float(np.median(times))

    results = {"local": timed(make())}
    nparams = sum(p.numel() for p in make().parameters())
    flat = nb.zeros(nparams)
    ar = []
    for i in range(steps + 3):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(flat)
        if i >= 3:
            ar.append(time.perf_counter() - t0)
    results["allreduce"] = float(np.median(ar))
    results["ddp_one_bucket"] = timed(DDP(make(), bucket_cap_mb=1e6))
    results["ddp"] = timed(DDP(make()))
    small = DDP(make(), bucket_cap_mb=nparams * 4 / 4 / 2**20)
    results["ddp_small"] = timed(small)
    if rank == 0:
        print(f"parameters {nparams} ({nparams * 4 / 2**20:.2f} MiB of float32 gradients), "
              f"batch {batch} per rank, {dist.get_world_size()} ranks, {len(small._buckets)} "
              "buckets in ddp_small")
        for k, v in results.items():
            print(f"{k:15s} {v * 1e3:8.2f} ms")
        for k in ("ddp_one_bucket", "ddp", "ddp_small"):
            exposed = results[k] - results["local"]
            print(f"{k:15s} exposed {exposed * 1e3:7.2f} ms, hidden "
                  f"{(results['allreduce'] - exposed) * 1e3:7.2f} ms of "
                  f"{results['allreduce'] * 1e3:.2f} ms all-reduce")
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--worker", action="store_true")
    args = parser.parse_args()
    if args.worker:
        worker(args.hidden, args.steps, args.batch)
        return
    from nbgrad.distributed.run import find_mpiexec

    env = dict(os.environ, UCX_NET_DEVICES="lo", FI_TCP_IFACE="lo", FI_SOCKETS_IFACE="lo",
               OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    cmd = [find_mpiexec(), "-n", "2", sys.executable, os.path.abspath(__file__), "--worker",
           "--hidden", str(args.hidden), "--steps", str(args.steps), "--batch", str(args.batch)]
    sys.exit(subprocess.call(cmd, env=env, timeout=900))


if __name__ == "__main__":
    main()
