"""``nbgrad.distributed``: torch.distributed's API on MPI (mpi4py), for data-parallel training.

Launch one process per rank with an MPI launcher (``mpiexec -n 4 python train.py`` or
``python -m nbgrad.distributed.run --nproc-per-node 4 train.py``); rank and world size come
from the launcher. mpi4py is imported only by :func:`init_process_group`, never by
``import nbgrad``.

* CPU tensors are handed to MPI as buffers without copies when they are contiguous (a strided
  tensor goes through a contiguous copy that is written back). CUDA tensors are staged through
  host memory (one copy each way): nbgrad does not hand device pointers to MPI.
* Every wait is bounded by the process group's ``timeout``: collectives are started
  non-blocking and polled against a deadline, raising :class:`DistBackendError` when it passes.
* ``init_process_group`` installs a ``sys.excepthook`` that calls ``MPI.COMM_WORLD.Abort(1)``,
  so an exception that ends one rank ends the whole job instead of leaving the others waiting.

>>> import nbgrad.distributed as dist
>>> dist.is_initialized()
False
>>> dist.ReduceOp.SUM
<RedOpType.SUM: 0>
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
import os
import pickle
import sys
import time
from datetime import timedelta

import numpy as np

from nbgrad.grad_mode import no_grad
from nbgrad.ops.creation import tensor as _make_tensor
from nbgrad.tensor import Tensor

__all__ = [
    "is_available", "is_initialized", "is_mpi_available", "init_process_group",
    "destroy_process_group", "get_rank", "get_world_size", "get_backend", "new_group", "barrier",
    "ReduceOp", "Work", "ProcessGroup", "group", "GroupMember", "DistError", "DistBackendError",
    "all_reduce", "broadcast", "reduce", "all_gather", "all_gather_into_tensor", "gather",
    "scatter", "reduce_scatter", "reduce_scatter_tensor", "all_to_all", "all_to_all_single",
    "send", "recv", "isend", "irecv", "broadcast_object_list", "all_gather_object",
    "gather_object", "default_pg_timeout",
]

default_pg_timeout = timedelta(minutes=30)
"""The default ``timeout`` of :func:`init_process_group` (PyTorch's default)."""


class DistError(RuntimeError):
    """Base class of nbgrad.distributed's errors (a ``RuntimeError``).

    >>> import nbgrad.distributed as dist
    >>> issubclass(dist.DistBackendError, dist.DistError), issubclass(dist.DistError, RuntimeError)
    (True, True)
    """


class DistBackendError(DistError):
    """A collective or point-to-point operation failed or timed out.

    >>> import nbgrad.distributed as dist
    >>> str(dist.DistBackendError("all_reduce timed out"))
    'all_reduce timed out'
    """


class RedOpType(enum.Enum):
    """The reduction operations (``dist.ReduceOp.SUM`` etc.)."""

    SUM = 0
    PRODUCT = 1
    MIN = 2
    MAX = 3
    BAND = 4
    BOR = 5
    BXOR = 6
    AVG = 7


class ReduceOp:
    """``ReduceOp.SUM``, ``PRODUCT``, ``MIN``, ``MAX``, ``AVG`` (and ``BAND``/``BOR``/``BXOR``
    for integer tensors), as in PyTorch.

    >>> import nbgrad.distributed as dist
    >>> dist.ReduceOp.AVG.name
    'AVG'
    """

    SUM = RedOpType.SUM
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR
    AVG = RedOpType.AVG
    RedOpType = RedOpType


def _mpi():
    from mpi4py import MPI

    return MPI


def _mpi_op(op):
    MPI = _mpi()
    if not isinstance(op, RedOpType):
        raise ValueError(f"op must be a dist.ReduceOp, got {op!r}")
    return {
        RedOpType.SUM: MPI.SUM, RedOpType.AVG: MPI.SUM, RedOpType.PRODUCT: MPI.PROD,
        RedOpType.MIN: MPI.MIN, RedOpType.MAX: MPI.MAX, RedOpType.BAND: MPI.BAND,
        RedOpType.BOR: MPI.BOR, RedOpType.BXOR: MPI.BXOR,
    }[op]


# ------------------------------------------------------------------------- process groups
class ProcessGroup:
    """A set of ranks with its own MPI communicator (made by :func:`init_process_group` and
    :func:`new_group`). ``ranks`` are global ranks in group-rank order.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> pg = dist.new_group([0, 1])  # doctest: +SKIP
    >>> pg.ranks, pg.size()  # doctest: +SKIP
    ([0, 1], 2)
    """

    def __init__(self, comm, ranks: list[int], timeout: float) -> None:
        self.comm = comm
        self.ranks = ranks
        self.timeout = timeout

    def rank(self) -> int:
        """This process's rank in the group.

        On 2 ranks under mpiexec (rank r holds the values shown):

        >>> dist.group.WORLD.rank() == dist.get_rank()  # doctest: +SKIP
        True
        """
        return self.comm.Get_rank()

    def size(self) -> int:
        """The number of ranks in the group.

        On 2 ranks under mpiexec (rank r holds the values shown):

        >>> dist.group.WORLD.size()  # doctest: +SKIP
        2
        """
        return self.comm.Get_size()

    def _group_rank(self, global_rank: int, what: str) -> int:
        try:
            return self.ranks.index(global_rank)
        except ValueError:
            raise ValueError(
                f"{what}={global_rank} is not a rank of this process group (ranks {self.ranks})"
            ) from None

    def __repr__(self) -> str:
        return f"ProcessGroup(backend='mpi', ranks={self.ranks})"


class GroupMember:
    """``GroupMember.WORLD`` (the default group) and ``NON_GROUP_MEMBER`` (what
    :func:`new_group` returns to a rank that is not in the new group).

    >>> import nbgrad.distributed as dist
    >>> dist.GroupMember.WORLD is None   # before init_process_group
    True
    """

    WORLD: ProcessGroup | None = None
    NON_GROUP_MEMBER = object()


class group:  # noqa: N801 - PyTorch's name
    """``dist.group.WORLD``: the default process group once initialised.

    >>> import nbgrad.distributed as dist
    >>> dist.group.WORLD is None   # before init_process_group
    True
    """

    WORLD: ProcessGroup | None = None


class _State:
    world: ProcessGroup | None = None
    previous_hook = None


_state = _State()


def is_available() -> bool:
    """Whether the MPI backend can be used (mpi4py is installed); does not import it.

    >>> import nbgrad.distributed as dist
    >>> isinstance(dist.is_available(), bool)
    True
    """
    return importlib.util.find_spec("mpi4py") is not None


is_mpi_available = is_available


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and :func:`destroy_process_group` not since).

    >>> import nbgrad.distributed as dist
    >>> dist.is_initialized()
    False
    """
    return _state.world is not None


def _seconds(timeout) -> float:
    if timeout is None:
        return default_pg_timeout.total_seconds()
    if isinstance(timeout, timedelta):
        return timeout.total_seconds()
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout)
    raise ValueError(f"timeout must be a datetime.timedelta or positive seconds, got {timeout!r}")


def _abort_hook(exc_type, exc, tb):
    """Print the exception as usual, then abort every rank of the job."""
    hook = _state.previous_hook or sys.__excepthook__
    try:
        hook(exc_type, exc, tb)
        sys.stderr.flush()
    finally:
        try:
            rank = _mpi().COMM_WORLD.Get_rank()
            sys.stderr.write(f"nbgrad.distributed: rank {rank} raised {exc_type.__name__}; "
                             "aborting the MPI job\n")
            sys.stderr.flush()
            _mpi().COMM_WORLD.Abort(1)
        except Exception:  # pragma: no cover - MPI already gone
            os._exit(1)


def init_process_group(backend: str | None = "mpi", init_method: str | None = None,
                       timeout=None, world_size: int = -1, rank: int = -1, store=None,
                       group_name: str = "", pg_options=None, device_id=None) -> None:
    """Initialise the default process group from the MPI launcher.

    ``backend`` must be ``"mpi"`` (or None). ``init_method`` may be None or ``"env://"``; rank and
    world size always come from MPI, and ``world_size``/``rank`` if given must agree with them.
    ``timeout`` (a ``timedelta`` or seconds, default 30 minutes) bounds every wait of every
    collective. Installs a ``sys.excepthook`` that aborts the job when a rank raises.

    >>> import nbgrad.distributed as dist
    >>> dist.init_process_group(backend="gloo")
    Traceback (most recent call last):
    ...
    ValueError: nbgrad.distributed supports only the 'mpi' backend, got 'gloo'
    """
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(f"nbgrad.distributed supports only the 'mpi' backend, got {backend!r}")
    if init_method not in (None, "env://"):
        raise ValueError(
            f"init_method={init_method!r} is not supported: with MPI the launcher (mpiexec) "
            "connects the ranks; pass None"
        )
    if store is not None:
        raise ValueError("store= is not supported by the MPI backend")
    if _state.world is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    seconds = _seconds(timeout)
    if not is_available():
        raise RuntimeError(
            "nbgrad.distributed needs mpi4py and an MPI runtime: pip install 'nbgrad[distributed]'"
        )
    MPI = _mpi()
    comm = MPI.COMM_WORLD.Dup()
    size, me = comm.Get_size(), comm.Get_rank()
    if world_size not in (-1, None) and world_size != size:
        raise ValueError(f"world_size={world_size} but the MPI launcher started {size} ranks")
    if rank not in (-1, None) and rank != me:
        raise ValueError(f"rank={rank} but MPI gives this process rank {me}")
    _state.world = group.WORLD = GroupMember.WORLD = ProcessGroup(comm, list(range(size)), seconds)
    if sys.excepthook is not _abort_hook:
        _state.previous_hook = sys.excepthook
        sys.excepthook = _abort_hook


def _world() -> ProcessGroup:
    if _state.world is None:
        raise ValueError(
            "Default process group has not been initialized, please make sure to call "
            "init_process_group."
        )
    return _state.world


def _group(g) -> ProcessGroup | None:
    """The process group to use; None for a rank that is not a member of ``g``."""
    world = _world()
    if g is None:
        return world
    if g is GroupMember.NON_GROUP_MEMBER:
        return None
    if not isinstance(g, ProcessGroup):
        raise TypeError(f"group must be a ProcessGroup made by new_group, got {type(g).__name__}")
    return g


def destroy_process_group(group: ProcessGroup | None = None) -> None:
    """Free the default group (and every group made from it); restores ``sys.excepthook``.

    >>> import nbgrad.distributed as dist
    >>> dist.destroy_process_group()
    Traceback (most recent call last):
    ...
    ValueError: Default process group has not been initialized, ...ll init_process_group.
    """
    pg = _group(group)
    if pg is None:
        return
    if group is None or pg is _state.world:
        with contextlib.suppress(Exception):
            pg.comm.Free()
        _state.world = globals()["group"].WORLD = GroupMember.WORLD = None
        if sys.excepthook is _abort_hook:
            sys.excepthook = _state.previous_hook or sys.__excepthook__
        _state.previous_hook = None
    else:
        with contextlib.suppress(Exception):
            pg.comm.Free()


def get_rank(group: ProcessGroup | None = None) -> int:
    """This process's rank in ``group`` (the default group if None); -1 if not a member.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> dist.get_rank(), dist.get_world_size()  # doctest: +SKIP
    (0, 2)
    """
    pg = _group(group)
    return -1 if pg is None else pg.rank()


def get_world_size(group: ProcessGroup | None = None) -> int:
    """The number of ranks in ``group`` (the default group if None); -1 if not a member.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> dist.get_world_size()  # doctest: +SKIP
    2
    """
    pg = _group(group)
    return -1 if pg is None else pg.size()


def get_backend(group: ProcessGroup | None = None) -> str:
    """``"mpi"`` (the only backend).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> dist.get_backend()  # doctest: +SKIP
    'mpi'
    """
    _group(group)
    return "mpi"


def new_group(ranks=None, timeout=None, backend=None, pg_options=None,
              use_local_synchronization: bool = False, group_desc=None):
    """A process group of the given global ``ranks`` (all ranks if None). As in PyTorch, every
    rank of the default group must call it; a rank not in ``ranks`` gets
    ``GroupMember.NON_GROUP_MEMBER``.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> g = dist.new_group([1])  # doctest: +SKIP
    >>> dist.get_rank(g)   # -1 on rank 0, 0 on rank 1  # doctest: +SKIP
    -1
    """
    world = _world()
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(f"nbgrad.distributed supports only the 'mpi' backend, got {backend!r}")
    size = world.size()
    members = list(range(size)) if ranks is None else sorted({int(r) for r in ranks})
    for r in members:
        if not 0 <= r < size:
            raise ValueError(f"new_group: rank {r} is out of range for world size {size}")
    MPI = _mpi()
    me = world.rank()
    color = 0 if me in members else MPI.UNDEFINED
    comm = world.comm.Split(color, me)
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    seconds = world.timeout if timeout is None else _seconds(timeout)
    return ProcessGroup(comm, members, seconds)


# ------------------------------------------------------------------------------ work
class Work:
    """The handle ``async_op=True`` returns: ``wait()`` blocks (bounded by the group's timeout)
    until the operation finished and its results are in the output tensors; ``is_completed()``
    asks without blocking.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> t = nb.ones(2)  # doctest: +SKIP
    >>> work = dist.all_reduce(t, async_op=True)  # doctest: +SKIP
    >>> work.wait(); t  # doctest: +SKIP
    True
    tensor([2., 2.])
    """

    def __init__(self, requests, finish, name: str, pg: ProcessGroup | None,
                 timeout: float | None = None, status=None) -> None:
        self._requests = list(requests)
        self._status = status
        self._finish = finish
        self._name = name
        self._pg = pg
        self._timeout = timeout if timeout is not None else (pg.timeout if pg else 0.0)
        self._done = not self._requests
        self._result = None
        if self._done:
            self._complete()

    def _complete(self) -> None:
        self._done = True
        finish, self._finish = self._finish, None
        if finish is not None:
            self._result = finish()

    def is_completed(self) -> bool:
        """True once the operation has finished (drives MPI's progress; never blocks).

        On 2 ranks under mpiexec (rank r holds the values shown):

        >>> work = dist.barrier(async_op=True)  # doctest: +SKIP
        >>> while not work.is_completed():  # doctest: +SKIP
        ...     pass  # doctest: +SKIP
        """
        if not self._done and _test(self._requests, self._status):
            self._complete()
        return self._done

    def wait(self, timeout=None) -> bool:
        """Wait for the operation, at most ``timeout`` (default: the process group's timeout);
        raises :class:`DistBackendError` when the time runs out.

        On 2 ranks under mpiexec (rank r holds the values shown):

        >>> dist.barrier(async_op=True).wait(timeout=60)  # doctest: +SKIP
        True
        """
        if self._done:
            return True
        limit = self._timeout if timeout is None else _seconds(timeout)
        _wait_all(self._requests, limit, self._name, self._pg, self._status)
        self._complete()
        return True

    def result(self):
        """The operation's outputs (the output tensors), after :meth:`wait`.

        On 2 ranks under mpiexec (rank r holds the values shown):

        >>> dist.all_reduce(nb.ones(1), async_op=True).result()  # doctest: +SKIP
        [tensor([2.])]
        """
        self.wait()
        return self._result

    def __repr__(self) -> str:
        return f"<Work {self._name} completed={self._done}>"


def _test(requests, status=None) -> bool:
    if status is not None:
        return requests[0].Test(status)
    return _mpi().Request.Testall(requests)


def _wait_all(requests, limit: float, name: str, pg, status=None) -> None:
    start = time.monotonic()
    deadline = start + limit
    while not _test(requests, status):
        now = time.monotonic()
        if now > deadline:
            where = f"rank {get_rank()} of {get_world_size()}" if is_initialized() else "this rank"
            raise DistBackendError(
                f"nbgrad.distributed: {name} timed out after {limit:g} s on {where}: another "
                "rank has failed, died or did not call the same operation (the process group's "
                "timeout bounds every wait)"
            )
        # MPI progresses a non-blocking collective only inside MPI calls: poll often at first
        # (yielding the core), then back off so that a long wait does not burn a core
        waited = now - start
        time.sleep(0 if waited < 0.05 else 0.0002 if waited < 1.0 else 0.002)


def _run(requests, finish, name: str, pg, async_op: bool):
    work = Work(requests, finish, name, pg)
    if async_op:
        return work
    work.wait()
    return None


# ---------------------------------------------------------------------- tensor buffers
def _check_tensor(t, name: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be an nbgrad Tensor, got {type(t).__name__}")


class _Buffer:
    """A contiguous numpy array holding ``t``'s values, MPI's buffer: ``t``'s own memory for a
    contiguous CPU tensor, else a host copy written back by :meth:`commit`."""

    def __init__(self, t: Tensor, name: str = "tensor", read: bool = True) -> None:
        _check_tensor(t, name)
        self.t = t
        data = t._data
        self.direct = (t.device.type == "cpu" and isinstance(data, np.ndarray)
                       and data.flags.c_contiguous and data.flags.writeable)
        if self.direct:
            self.array = data
        elif read:
            self.array = np.ascontiguousarray(t.detach()._host())
        else:
            self.array = np.empty(t.shape, dtype=np.dtype(t.dtype.name))

    def commit(self) -> None:
        """Make the tensor hold the buffer's values (and count the in-place change)."""
        t = self.t
        if not self.direct:
            if t.device.type == "cpu":
                t._data[...] = self.array
            else:
                with no_grad():
                    t.detach().copy_(_make_tensor(self.array).to(t.device))
                return
        if t._version_counter is not None:
            t._version_counter.value += 1


def _avg(arrays, n: int, op) -> None:
    if op is RedOpType.AVG:
        for a in arrays:
            if a.dtype.kind != "f":
                raise ValueError("ReduceOp.AVG needs a floating-point tensor")
            a /= n


def _finish_all(buffers, op=None, n: int = 1):
    def finish():
        if op is not None:
            _avg([b.array for b in buffers], n, op)
        for b in buffers:
            b.commit()
        return [b.t for b in buffers]
    return finish


# ------------------------------------------------------------------------- collectives
def barrier(group: ProcessGroup | None = None, async_op: bool = False, device_ids=None):
    """Wait until every rank of ``group`` has reached the barrier (bounded by the timeout).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> dist.barrier()  # doctest: +SKIP
    """
    pg = _group(group)
    if pg is None:
        return None
    return _run([pg.comm.Ibarrier()], None, "barrier", pg, async_op)


def all_reduce(tensor: Tensor, op=ReduceOp.SUM, group: ProcessGroup | None = None,
               async_op: bool = False):
    """Reduce ``tensor`` across ranks, in place on every rank (``op`` a :class:`ReduceOp`).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> t = nb.tensor([float(dist.get_rank() + 1)])  # doctest: +SKIP
    >>> dist.all_reduce(t); t  # doctest: +SKIP
    tensor([3.])
    >>> dist.all_reduce(t, op=dist.ReduceOp.AVG); t  # doctest: +SKIP
    tensor([3.])
    """
    pg = _group(group)
    if pg is None:
        return None
    MPI = _mpi()
    b = _Buffer(tensor)
    if op is RedOpType.AVG and b.array.dtype.kind != "f":
        raise ValueError("ReduceOp.AVG needs a floating-point tensor")
    req = pg.comm.Iallreduce(MPI.IN_PLACE, b.array, op=_mpi_op(op))
    return _run([req], _finish_all([b], op, pg.size()), "all_reduce", pg, async_op)


def broadcast(tensor: Tensor, src: int = 0, group: ProcessGroup | None = None,
              async_op: bool = False, group_src: int | None = None):
    """Copy ``tensor`` from global rank ``src`` into ``tensor`` on every rank of ``group``.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> t = nb.tensor([float(dist.get_rank())])  # doctest: +SKIP
    >>> dist.broadcast(t, src=1); t  # doctest: +SKIP
    tensor([1.])
    """
    pg = _group(group)
    if pg is None:
        return None
    root = group_src if group_src is not None else pg._group_rank(src, "src")
    b = _Buffer(tensor, read=True)
    req = pg.comm.Ibcast(b.array, root=root)
    return _run([req], _finish_all([b]), "broadcast", pg, async_op)


def reduce(tensor: Tensor, dst: int = 0, op=ReduceOp.SUM, group: ProcessGroup | None = None,
           async_op: bool = False, group_dst: int | None = None):
    """Reduce ``tensor`` across ranks into ``tensor`` on global rank ``dst`` (the others keep
    their values).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> t = nb.tensor([float(dist.get_rank() + 1)])  # doctest: +SKIP
    >>> dist.reduce(t, dst=0); t   # on rank 0  # doctest: +SKIP
    tensor([3.])
    """
    pg = _group(group)
    if pg is None:
        return None
    MPI = _mpi()
    root = group_dst if group_dst is not None else pg._group_rank(dst, "dst")
    b = _Buffer(tensor)
    if pg.rank() == root:
        req = pg.comm.Ireduce(MPI.IN_PLACE, b.array, op=_mpi_op(op), root=root)
        finish = _finish_all([b], op, pg.size())
    else:
        req = pg.comm.Ireduce(b.array, None, op=_mpi_op(op), root=root)
        finish = None
    return _run([req], finish, "reduce", pg, async_op)


def _same(tensors, ref: Tensor, what: str) -> None:
    for t in tensors:
        _check_tensor(t, what)
        if tuple(t.shape) != tuple(ref.shape) or t.dtype != ref.dtype:
            raise ValueError(
                f"{what}: every tensor must have shape {tuple(ref.shape)} and dtype {ref.dtype}, "
                f"got shape {tuple(t.shape)} and dtype {t.dtype}"
            )


def _count(tensors, n: int, what: str) -> None:
    if len(tensors) != n:
        raise ValueError(f"{what} must hold one tensor per rank ({n}), got {len(tensors)}")


def _scatter_into(tensors, array) -> None:
    """Copy row ``i`` of ``array`` into ``tensors[i]``."""
    for t, part in zip(tensors, array):
        b = _Buffer(t, read=False)
        b.array[...] = part.reshape(b.array.shape)
        b.commit()


def all_gather(tensor_list: list, tensor: Tensor, group: ProcessGroup | None = None,
               async_op: bool = False):
    """Gather ``tensor`` from every rank into ``tensor_list`` (one tensor per rank).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> out = [nb.zeros(1), nb.zeros(1)]  # doctest: +SKIP
    >>> dist.all_gather(out, nb.tensor([float(dist.get_rank())])); out  # doctest: +SKIP
    [tensor([0.]), tensor([1.])]
    """
    pg = _group(group)
    if pg is None:
        return None
    _check_tensor(tensor, "tensor")
    _count(tensor_list, pg.size(), "tensor_list")
    _same(tensor_list, tensor, "all_gather")
    b = _Buffer(tensor)
    out = np.empty((pg.size(),) + b.array.shape, dtype=b.array.dtype)
    req = pg.comm.Iallgather(b.array, out)
    return _run([req], lambda: _scatter_into(tensor_list, out), "all_gather", pg, async_op)


def all_gather_into_tensor(output_tensor: Tensor, input_tensor: Tensor,
                           group: ProcessGroup | None = None, async_op: bool = False):
    """Gather ``input_tensor`` from every rank into ``output_tensor`` (world size times as
    many elements; stacked or concatenated along dim 0).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> out = nb.zeros(2)  # doctest: +SKIP
    >>> dist.all_gather_into_tensor(out, nb.tensor([float(dist.get_rank())])); out  # doctest: +SKIP
    tensor([0., 1.])
    """
    pg = _group(group)
    if pg is None:
        return None
    _check_tensor(output_tensor, "output_tensor")
    _check_tensor(input_tensor, "input_tensor")
    if output_tensor.numel() != input_tensor.numel() * pg.size() or (
            output_tensor.dtype != input_tensor.dtype):
        raise ValueError(
            f"all_gather_into_tensor: output_tensor must have world_size ({pg.size()}) times "
            f"the input's {input_tensor.numel()} elements and its dtype {input_tensor.dtype}; got "
            f"{output_tensor.numel()} elements of {output_tensor.dtype}"
        )
    bi = _Buffer(input_tensor)
    bo = _Buffer(output_tensor, read=False)
    req = pg.comm.Iallgather(bi.array, bo.array)
    return _run([req], _finish_all([bo]), "all_gather_into_tensor", pg, async_op)


def gather(tensor: Tensor, gather_list: list | None = None, dst: int = 0,
           group: ProcessGroup | None = None, async_op: bool = False,
           group_dst: int | None = None):
    """Gather ``tensor`` from every rank into ``gather_list`` on global rank ``dst``.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> out = [nb.zeros(1), nb.zeros(1)] if dist.get_rank() == 0 else None  # doctest: +SKIP
    >>> dist.gather(nb.tensor([float(dist.get_rank())]), out, dst=0); out  # doctest: +SKIP
    [tensor([0.]), tensor([1.])]
    """
    pg = _group(group)
    if pg is None:
        return None
    root = group_dst if group_dst is not None else pg._group_rank(dst, "dst")
    b = _Buffer(tensor)
    if pg.rank() == root:
        if gather_list is None:
            raise ValueError("gather: gather_list must be given on the destination rank")
        _count(gather_list, pg.size(), "gather_list")
        _same(gather_list, tensor, "gather")
        out = np.empty((pg.size(),) + b.array.shape, dtype=b.array.dtype)
        req = pg.comm.Igather(b.array, out, root=root)
        return _run([req], lambda: _scatter_into(gather_list, out), "gather", pg, async_op)
    if gather_list:
        raise ValueError("gather: gather_list must be None or empty on non-destination ranks")
    return _run([pg.comm.Igather(b.array, None, root=root)], None, "gather", pg, async_op)


def scatter(tensor: Tensor, scatter_list: list | None = None, src: int = 0,
            group: ProcessGroup | None = None, async_op: bool = False,
            group_src: int | None = None):
    """Send ``scatter_list[i]`` from global rank ``src`` into ``tensor`` on group rank ``i``.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> root = dist.get_rank() == 0  # doctest: +SKIP
    >>> parts = [nb.tensor([10.0]), nb.tensor([11.0])] if root else None  # doctest: +SKIP
    >>> t = nb.zeros(1); dist.scatter(t, parts, src=0); t   # on rank 1  # doctest: +SKIP
    tensor([11.])
    """
    pg = _group(group)
    if pg is None:
        return None
    root = group_src if group_src is not None else pg._group_rank(src, "src")
    b = _Buffer(tensor, read=False)
    send = None
    if pg.rank() == root:
        if scatter_list is None:
            raise ValueError("scatter: scatter_list must be given on the source rank")
        _count(scatter_list, pg.size(), "scatter_list")
        _same(scatter_list, tensor, "scatter")
        send = np.stack([np.ascontiguousarray(t.detach()._host()) for t in scatter_list])
    elif scatter_list:
        raise ValueError("scatter: scatter_list must be None or empty on non-source ranks")
    req = pg.comm.Iscatter(send, b.array, root=root)
    return _run([req], _finish_all([b]), "scatter", pg, async_op)


def reduce_scatter(output: Tensor, input_list: list, op=ReduceOp.SUM,
                   group: ProcessGroup | None = None, async_op: bool = False):
    """Reduce ``input_list[i]`` across ranks into ``output`` on group rank ``i``.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> t = nb.zeros(1)  # doctest: +SKIP
    >>> dist.reduce_scatter(t, [nb.tensor([1.0]), nb.tensor([2.0])]); t  # doctest: +SKIP
    tensor([4.])
    """
    pg = _group(group)
    if pg is None:
        return None
    _check_tensor(output, "output")
    _count(input_list, pg.size(), "input_list")
    _same(input_list, output, "reduce_scatter")
    send = np.stack([np.ascontiguousarray(t.detach()._host()) for t in input_list])
    b = _Buffer(output, read=False)
    req = pg.comm.Ireduce_scatter_block(send, b.array, op=_mpi_op(op))
    return _run([req], _finish_all([b], op, pg.size()), "reduce_scatter", pg, async_op)


def reduce_scatter_tensor(output: Tensor, input: Tensor, op=ReduceOp.SUM,  # noqa: A002
                          group: ProcessGroup | None = None, async_op: bool = False):
    """Reduce ``input`` (world size times ``output``'s elements) across ranks and give group
    rank ``i`` the ``i``-th chunk in ``output``.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> t = nb.zeros(1)  # doctest: +SKIP
    >>> dist.reduce_scatter_tensor(t, nb.tensor([1.0, 2.0])); t   # on rank 1  # doctest: +SKIP
    tensor([4.])
    """
    pg = _group(group)
    if pg is None:
        return None
    _check_tensor(output, "output")
    _check_tensor(input, "input")
    if input.numel() != output.numel() * pg.size() or input.dtype != output.dtype:
        raise ValueError(
            f"reduce_scatter_tensor: input must have world_size ({pg.size()}) times the "
            f"output's {output.numel()} elements and its dtype {output.dtype}; got "
            f"{input.numel()} elements of {input.dtype}"
        )
    bi = _Buffer(input)
    bo = _Buffer(output, read=False)
    req = pg.comm.Ireduce_scatter_block(bi.array, bo.array, op=_mpi_op(op))
    return _run([req], _finish_all([bo], op, pg.size()), "reduce_scatter_tensor", pg, async_op)


def all_to_all(output_tensor_list: list, input_tensor_list: list,
               group: ProcessGroup | None = None, async_op: bool = False):
    """Send ``input_tensor_list[i]`` to group rank ``i``; receive rank ``j``'s into
    ``output_tensor_list[j]`` (tensors may differ in size).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> r = float(dist.get_rank())  # doctest: +SKIP
    >>> out = [nb.zeros(1), nb.zeros(1)]  # doctest: +SKIP
    >>> dist.all_to_all(out, [nb.tensor([10 * r]), nb.tensor([10 * r + 1])]); out  # doctest: +SKIP
    [tensor([1.]), tensor([11.])]
    """
    pg = _group(group)
    if pg is None:
        return None
    n = pg.size()
    _count(output_tensor_list, n, "output_tensor_list")
    _count(input_tensor_list, n, "input_tensor_list")
    for t in list(output_tensor_list) + list(input_tensor_list):
        _check_tensor(t, "all_to_all")
    dtypes = {t.dtype for t in list(output_tensor_list) + list(input_tensor_list)}
    if len(dtypes) != 1:
        raise ValueError("all_to_all: every tensor must have the same dtype")
    send = np.concatenate([np.ascontiguousarray(t.detach()._host()).ravel()
                           for t in input_tensor_list])
    scounts = [t.numel() for t in input_tensor_list]
    rcounts = [t.numel() for t in output_tensor_list]
    recv = np.empty(sum(rcounts), dtype=send.dtype)
    req = pg.comm.Ialltoallv([send, scounts], [recv, rcounts])

    def finish():
        offsets = np.cumsum([0] + rcounts)
        for t, lo, hi in zip(output_tensor_list, offsets[:-1], offsets[1:]):
            b = _Buffer(t, read=False)
            b.array[...] = recv[lo:hi].reshape(b.array.shape)
            b.commit()
        return output_tensor_list
    return _run([req], finish, "all_to_all", pg, async_op)


def all_to_all_single(output: Tensor, input: Tensor, output_split_sizes=None,  # noqa: A002
                      input_split_sizes=None, group: ProcessGroup | None = None,
                      async_op: bool = False):
    """``all_to_all`` on single tensors split along dim 0 (equal splits when sizes are None).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> out = nb.zeros(2)  # doctest: +SKIP
    >>> dist.all_to_all_single(out, nb.arange(2.0) + 10 * dist.get_rank()); out  # doctest: +SKIP
    tensor([ 1., 11.])
    """
    pg = _group(group)
    if pg is None:
        return None
    n = pg.size()
    _check_tensor(output, "output")
    _check_tensor(input, "input")
    row_in = input.numel() // max(input.shape[0], 1) if input.ndim else 1
    row_out = output.numel() // max(output.shape[0], 1) if output.ndim else 1
    ins = input_split_sizes or [input.shape[0] // n] * n
    outs = output_split_sizes or [output.shape[0] // n] * n
    if sum(ins) != input.shape[0] or sum(outs) != output.shape[0]:
        raise ValueError("all_to_all_single: split sizes must add up to dim 0 of the tensors")
    bi = _Buffer(input)
    bo = _Buffer(output, read=False)
    req = pg.comm.Ialltoallv([bi.array, [s * row_in for s in ins]],
                             [bo.array, [s * row_out for s in outs]])
    return _run([req], _finish_all([bo]), "all_to_all_single", pg, async_op)


# ------------------------------------------------------------------- point to point
def isend(tensor: Tensor, dst: int, group: ProcessGroup | None = None, tag: int = 0,
          group_dst: int | None = None) -> Work:
    """Start sending ``tensor`` to global rank ``dst``; returns a :class:`Work`.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> if dist.get_rank() == 0:  # doctest: +SKIP
    ...     dist.isend(nb.tensor([5.0]), dst=1).wait()  # doctest: +SKIP
    True
    """
    pg = _group(group)
    peer = group_dst if group_dst is not None else pg._group_rank(dst, "dst")
    b = _Buffer(tensor)
    return Work([pg.comm.Isend(b.array, dest=peer, tag=tag)], None, "send", pg)


def irecv(tensor: Tensor, src: int | None = None, group: ProcessGroup | None = None,
          tag: int = 0, group_src: int | None = None) -> Work:
    """Start receiving into ``tensor`` from global rank ``src`` (any rank if None).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> t = nb.zeros(1)  # doctest: +SKIP
    >>> dist.irecv(t, src=0).wait(); t   # on rank 1  # doctest: +SKIP
    True
    tensor([5.])
    """
    pg = _group(group)
    MPI = _mpi()
    if group_src is not None:
        peer = group_src
    else:
        peer = MPI.ANY_SOURCE if src is None else pg._group_rank(src, "src")
    b = _Buffer(tensor, read=False)
    status = MPI.Status()
    req = pg.comm.Irecv(b.array, source=peer, tag=tag)

    def finish() -> int:
        b.commit()
        return pg.ranks[status.Get_source()]
    return Work([req], finish, "recv", pg, status=status)


def send(tensor: Tensor, dst: int, group: ProcessGroup | None = None, tag: int = 0,
         group_dst: int | None = None) -> None:
    """Send ``tensor`` to global rank ``dst`` (returns when the buffer may be reused).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> dist.send(nb.tensor([5.0]), dst=1)   # on rank 0  # doctest: +SKIP
    """
    isend(tensor, dst, group, tag, group_dst).wait()


def recv(tensor: Tensor, src: int | None = None, group: ProcessGroup | None = None,
         tag: int = 0, group_src: int | None = None) -> int:
    """Receive into ``tensor`` from global rank ``src`` (any if None); returns the sender.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> t = nb.zeros(1)  # doctest: +SKIP
    >>> dist.recv(t), t   # on rank 1: the sender's rank and the values  # doctest: +SKIP
    (0, tensor([5.]))
    """
    work = irecv(tensor, src, group, tag, group_src)
    work.wait()
    return work._result


# ------------------------------------------------------------------------- objects
def _pickled(obj) -> np.ndarray:
    return np.frombuffer(pickle.dumps(obj), dtype=np.uint8)


def broadcast_object_list(object_list: list, src: int = 0, group: ProcessGroup | None = None,
                          device=None, group_src: int | None = None) -> None:
    """Replace ``object_list``'s items on every rank by those of global rank ``src`` (pickled:
    as in PyTorch, only use it with ranks you trust).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> objs = [{"lr": 0.1}] if dist.get_rank() == 0 else [None]  # doctest: +SKIP
    >>> dist.broadcast_object_list(objs, src=0); objs  # doctest: +SKIP
    [{'lr': 0.1}]
    """
    pg = _group(group)
    if pg is None:
        return
    root = group_src if group_src is not None else pg._group_rank(src, "src")
    payload = _pickled(list(object_list)) if pg.rank() == root else None
    size = np.array([0 if payload is None else payload.size], dtype=np.int64)
    _wait_all([pg.comm.Ibcast(size, root=root)], pg.timeout, "broadcast_object_list", pg)
    buf = payload.copy() if payload is not None else np.empty(int(size[0]), dtype=np.uint8)
    _wait_all([pg.comm.Ibcast(buf, root=root)], pg.timeout, "broadcast_object_list", pg)
    if pg.rank() != root:
        objs = pickle.loads(buf.tobytes())
        if len(objs) != len(object_list):
            raise ValueError(
                f"broadcast_object_list: object_list has {len(object_list)} items here but "
                f"{len(objs)} on the source rank"
            )
        object_list[:] = objs


def _allgather_bytes(pg: ProcessGroup, payload: np.ndarray, name: str) -> list[bytes]:
    sizes = np.zeros(pg.size(), dtype=np.int64)
    _wait_all([pg.comm.Iallgather(np.array([payload.size], dtype=np.int64), sizes)],
              pg.timeout, name, pg)
    out = np.empty(int(sizes.sum()), dtype=np.uint8)
    _wait_all([pg.comm.Iallgatherv(payload, [out, sizes.tolist()])], pg.timeout, name, pg)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    return [out[lo:hi].tobytes() for lo, hi in zip(offsets[:-1], offsets[1:])]


def all_gather_object(object_list: list, obj, group: ProcessGroup | None = None) -> None:
    """Fill ``object_list`` (one slot per rank) with ``obj`` from every rank (pickled).

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> objs = [None, None]  # doctest: +SKIP
    >>> dist.all_gather_object(objs, {"rank": dist.get_rank()}); objs  # doctest: +SKIP
    [{'rank': 0}, {'rank': 1}]
    """
    pg = _group(group)
    if pg is None:
        return
    _count(object_list, pg.size(), "object_list")
    for i, raw in enumerate(_allgather_bytes(pg, _pickled(obj), "all_gather_object")):
        object_list[i] = pickle.loads(raw)


def gather_object(obj, object_gather_list: list | None = None, dst: int = 0,
                  group: ProcessGroup | None = None, group_dst: int | None = None) -> None:
    """Gather ``obj`` from every rank into ``object_gather_list`` on global rank ``dst``.

    On 2 ranks under mpiexec (rank r holds the values shown):

    >>> objs = [None, None] if dist.get_rank() == 0 else None  # doctest: +SKIP
    >>> dist.gather_object(dist.get_rank(), objs, dst=0); objs   # on rank 0  # doctest: +SKIP
    [0, 1]
    """
    pg = _group(group)
    if pg is None:
        return
    root = group_dst if group_dst is not None else pg._group_rank(dst, "dst")
    values = _allgather_bytes(pg, _pickled(obj), "gather_object")
    if pg.rank() == root:
        if object_gather_list is None:
            raise ValueError("gather_object: object_gather_list must be given on the dst rank")
        _count(object_gather_list, pg.size(), "object_gather_list")
        for i, raw in enumerate(values):
            object_gather_list[i] = pickle.loads(raw)
