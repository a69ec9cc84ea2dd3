"""``DistributedDataParallel``: gradients averaged across ranks in buckets, during backward.

How it works (PyTorch's reducer, on MPI):

* At construction the parameters and buffers of rank 0 are broadcast to every rank, and the
  parameters that require grad are split into buckets (in reverse registration order, the order
  in which backward usually produces their gradients; the first bucket is capped at 1 MiB, the
  others at ``bucket_cap_mb``; one dtype per bucket).
* A hook on each parameter's ``AccumulateGrad`` node (``Tensor.register_post_accumulate_grad_hook``
  when the engine has it) marks the parameter ready once its gradient is accumulated. When every
  parameter of a bucket is ready its gradients are copied into the bucket's flat buffer and a
  non-blocking ``MPI_Iallreduce`` starts; buckets start in index order on every rank (MPI needs
  the same order of collectives everywhere). Each later hook also calls ``MPI_Testall`` so that
  MPI progresses the reductions already started while backward computes the rest.
* The hook that marks the last parameter ready waits for every bucket (bounded by the process
  group's timeout), divides by the world size and writes the averages into ``.grad``: all of this
  happens before ``backward()`` returns.
"""

from __future__ import annotations

import contextlib

import numpy as np

from nbgrad import distributed as dist
from nbgrad._graph import AccumulateGrad
from nbgrad.grad_mode import no_grad
from nbgrad.nn.module import Module
from nbgrad.ops.creation import from_numpy
from nbgrad.ops.creation import tensor as _make_tensor
from nbgrad.tensor import Tensor

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024


class _Bucket:
    __slots__ = ("indices", "offsets", "buffer", "pending", "request", "launched")

    def __init__(self, indices, offsets, buffer) -> None:
        self.indices = indices
        self.offsets = offsets
        self.buffer = buffer
        self.pending = len(indices)
        self.request = None
        self.launched = False


def _output_tensors(obj, found: list) -> list:
    if isinstance(obj, Tensor):
        found.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _output_tensors(o, found)
    elif isinstance(obj, dict):
        for o in obj.values():
            _output_tensors(o, found)
    return found


def _reachable_leaves(outputs) -> set[int]:
    """ids of the leaf tensors the outputs' graph reaches."""
    seen_nodes: set[int] = set()
    leaves: set[int] = set()
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    for t in outputs:
        if t.grad_fn is None and t.requires_grad:
            leaves.add(id(t))
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, AccumulateGrad):
            v = node.variable
            if v is not None:
                leaves.add(id(v))
            continue
        for nxt, _ in node.next_functions:
            if nxt is not None:
                stack.append(nxt)
    return leaves


class DistributedDataParallel(Module):
    """Data parallelism across the ranks of a process group (one process per rank).

    Wrap the model on every rank after ``dist.init_process_group()``; call it like the model.
    ``loss.backward()`` then leaves on every rank the gradients averaged over all ranks, so an
    optimizer step keeps the replicas identical. ``no_sync()`` skips the reduction (gradient
    accumulation); ``find_unused_parameters=True`` lets a forward leave some parameters out of
    the graph. ``ddp.module`` is the wrapped model and ``ddp.state_dict()`` keys start with
    ``module.``. Only single-device modules are supported (``device_ids`` None or one device);
    CUDA gradients are staged through host memory.

    >>> import nbgrad as nb
    >>> from nbgrad.nn.parallel import DistributedDataParallel
    >>> DistributedDataParallel(nb.nn.Linear(2, 2))
    Traceback (most recent call last):
    ...
    ValueError: Default process group has not been initialized, ...ll init_process_group.
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nb.nn.Module, got "
                            f"{type(module).__name__}")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("device_ids can only be None or contain a single element")
        pg = dist._group(process_group)
        if pg is None:
            raise ValueError("this rank is not a member of process_group")
        self.module = module
        self.device_ids = device_ids
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = broadcast_buffers
        self.process_group = process_group
        self.find_unused_parameters = find_unused_parameters
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.require_backward_grad_sync = True
        cap_mb = 25 if bucket_cap_mb is None else bucket_cap_mb
        if cap_mb <= 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.bucket_bytes_cap = int(cap_mb * 1024 * 1024)
        object.__setattr__(self, "_pg", pg)
        object.__setattr__(self, "_world", pg.size())

        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        devices = {p.device for _, p in named}
        if len(devices) > 1:
            raise ValueError(f"DistributedDataParallel needs a single-device module, got "
                             f"parameters on {sorted(str(d) for d in devices)}")
        object.__setattr__(self, "_names", [n for n, _ in named])
        object.__setattr__(self, "_params", [p for _, p in named])
        self._sync_module_states()
        object.__setattr__(self, "_buckets", self._make_buckets())
        object.__setattr__(self, "_bucket_of", {})
        for b_index, bucket in enumerate(self._buckets):
            for i in bucket.indices:
                self._bucket_of[i] = b_index
        object.__setattr__(self, "_handles", [self._install_hook(i, p)
                                              for i, p in enumerate(self._params)])
        object.__setattr__(self, "_active", False)   # a synced backward is expected
        object.__setattr__(self, "_ready", [False] * len(self._params))
        object.__setattr__(self, "_ready_count", 0)
        object.__setattr__(self, "_next_launch", 0)
        object.__setattr__(self, "_unused", [])
        object.__setattr__(self, "_used_mask", None)

    # ------------------------------------------------------------------ construction
    def _sync_module_states(self) -> None:
        """Rank 0's parameters and buffers everywhere (one broadcast per tensor)."""
        if self._world == 1:
            return
        src = self._pg.ranks[0]
        with no_grad():
            for p in self.module.parameters():
                dist.broadcast(p.detach(), src=src, group=self.process_group)
            for b in self.module.buffers():
                dist.broadcast(b, src=src, group=self.process_group)

    def _make_buckets(self) -> list[_Bucket]:
        buckets: list[_Bucket] = []
        current: dict = {}
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            dtype = np.dtype(p.dtype.name)
            cap = _FIRST_BUCKET_BYTES if not buckets and not current else self.bucket_bytes_cap
            group = current.setdefault(dtype, [[], 0])
            if group[0] and group[1] + p.numel() * dtype.itemsize > cap:
                buckets.append(self._bucket(group[0], dtype))
                current[dtype] = group = [[], 0]
            group[0].append(i)
            group[1] += p.numel() * dtype.itemsize
        for dtype, (indices, _) in current.items():
            if indices:
                buckets.append(self._bucket(indices, dtype))
        return buckets

    def _bucket(self, indices, dtype) -> _Bucket:
        sizes = [self._params[i].numel() for i in indices]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return _Bucket(list(indices), offsets, np.zeros(int(offsets[-1]), dtype=dtype))

    def _install_hook(self, index: int, p: Tensor):
        def hook(*_args):
            self._mark_ready(index)
        register = getattr(p, "register_post_accumulate_grad_hook", None)
        if register is not None:
            return register(hook)
        return AccumulateGrad.of(p).register_hook(hook)

    # ------------------------------------------------------------------------ forward
    @contextlib.contextmanager
    def no_sync(self):
        """Within this context gradients are accumulated locally without reduction; the first
        synced backward after it reduces the accumulated sum.

        >>> from nbgrad.nn.parallel import DistributedDataParallel
        >>> DistributedDataParallel.no_sync.__doc__ is not None
        True
        """
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def forward(self, *inputs, **kwargs):
        if self._active and self._ready_count < len(self._params):
            missing = [self._names[i] for i, ready in enumerate(self._ready) if not ready]
            raise RuntimeError(
                "DistributedDataParallel: expected to have finished reduction in the prior "
                "iteration before starting a new one. This error indicates that your module has "
                "parameters that were not used in producing loss (or backward was not called). "
                "Pass find_unused_parameters=True to DistributedDataParallel, or make sure every "
                f"parameter takes part in the loss. Parameters which did not receive grad on rank "
                f"{dist.get_rank()}: {', '.join(missing)}"
            )
        sync = self.require_backward_grad_sync
        # buffers only in training mode: an evaluation forward on rank 0 alone must not block
        if sync and self.module.training and self.broadcast_buffers and self._world > 1:
            src = self._pg.ranks[0]
            with no_grad():
                for b in self.module.buffers():
                    dist.broadcast(b, src=src, group=self.process_group)
        output = self.module(*inputs, **kwargs)
        self._prepare(output if sync else None, sync)
        return output

    def _prepare(self, output, sync: bool) -> None:
        self._active = False
        if not sync:
            return
        outputs = [t for t in _output_tensors(output, []) if t.requires_grad]
        if not outputs:
            return
        self._ready = [False] * len(self._params)
        self._ready_count = 0
        self._next_launch = 0
        for b in self._buckets:
            b.pending = len(b.indices)
            b.request = None
            b.launched = False
        self._unused = []
        if self.find_unused_parameters:
            reached = _reachable_leaves(outputs)
            self._unused = [i for i, p in enumerate(self._params) if id(p) not in reached]
            mask = np.ones(len(self._params), dtype=np.int32)
            mask[self._unused] = 0
            self._used_mask = mask
        self._active = True

    # ----------------------------------------------------------------------- reducer
    def _mark_ready(self, index: int) -> None:
        if not self._active:
            return
        if self._ready[index]:
            raise RuntimeError(
                "DistributedDataParallel: parameter "
                f"{self._names[index]} received its gradient twice in one iteration (a second "
                "backward through the same forward); call the DDP module again for each backward"
            )
        if self._unused:  # locally unused parameters are ready as soon as backward starts
            unused, self._unused = self._unused, []
            for i in unused:
                self._set_ready(i)
        self._set_ready(index)
        launched = [b.request for b in self._buckets if b.request is not None]
        if launched:  # let MPI progress the reductions already in flight
            dist._mpi().Request.Testall(launched)
        if self._ready_count == len(self._params):
            self._finalize()

    def _set_ready(self, index: int) -> None:
        self._ready[index] = True
        self._ready_count += 1
        bucket = self._buckets[self._bucket_of[index]]
        bucket.pending -= 1
        while (self._next_launch < len(self._buckets)
               and self._buckets[self._next_launch].pending == 0):
            self._launch(self._buckets[self._next_launch])
            self._next_launch += 1

    def _launch(self, bucket: _Bucket) -> None:
        MPI = dist._mpi()
        buf = bucket.buffer
        for i, lo, hi in zip(bucket.indices, bucket.offsets[:-1], bucket.offsets[1:]):
            g = self._params[i].grad
            locally_unused = self._used_mask is not None and not self._used_mask[i]
            if g is None or locally_unused:
                buf[lo:hi] = 0
            else:
                buf[lo:hi] = np.asarray(g.detach()._host()).reshape(-1)
        bucket.request = self._pg.comm.Iallreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        bucket.launched = True

    def _finalize(self) -> None:
        self._active = False
        requests = [b.request for b in self._buckets]
        used = None
        if self.find_unused_parameters:  # which parameters got a gradient on any rank
            MPI = dist._mpi()
            used = self._used_mask.copy()
            requests.append(self._pg.comm.Iallreduce(MPI.IN_PLACE, used, op=MPI.MAX))
        if requests:
            dist._wait_all(requests, self._pg.timeout, "DistributedDataParallel all_reduce",
                           self._pg)
        for bucket in self._buckets:
            buf = bucket.buffer
            buf /= self._world
            for i, lo, hi in zip(bucket.indices, bucket.offsets[:-1], bucket.offsets[1:]):
                p = self._params[i]
                if used is not None and not used[i]:
                    continue  # unused on every rank: .grad is left as it is
                view = buf[lo:hi].reshape(p.shape)
                if p.device.type == "cpu":
                    p.grad = from_numpy(view if self.gradient_as_bucket_view else view.copy())
                else:
                    p.grad = _make_tensor(view).to(p.device)

    # ------------------------------------------------------------------------- misc
    def extra_repr(self) -> str:
        return f"world_size={self._world}, buckets={len(self._buckets)}"
