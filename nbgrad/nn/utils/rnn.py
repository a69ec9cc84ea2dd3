"""Variable-length sequences for the recurrent layers: ``PackedSequence``,
``pack_padded_sequence``, ``pad_packed_sequence``, ``pad_sequence``, ``pack_sequence``,
``unpad_sequence``, ``unpack_sequence`` (PyTorch's ``torch.nn.utils.rnn``)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nbgrad.ops import functions as _f
from nbgrad.ops.creation import full, tensor
from nbgrad.tensor import Tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence", "invert_permutation"]


class PackedSequence(NamedTuple):
    """A batch of variable-length sequences packed time step by time step: ``data`` holds,
    for each step, the entries of the sequences still running (longest first);
    ``batch_sizes`` counts them per step. ``sorted_indices`` / ``unsorted_indices`` map
    between the original batch order and the sorted one (None when the input was sorted).

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils.rnn import pack_sequence
    >>> p = pack_sequence([nb.tensor([1.0, 2.0, 3.0]), nb.tensor([4.0])])
    >>> p.data, p.batch_sizes
    (tensor([1., 4., 2., 3.]), tensor([2, 1, 1]))
    """

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def to(self, *args, **kwargs) -> PackedSequence:
        """``data`` moved/cast like ``Tensor.to`` (the index tensors follow the device).

        >>> import nbgrad as nb
        >>> from nbgrad.nn.utils.rnn import pack_sequence
        >>> pack_sequence([nb.tensor([1.0])]).to(nb.float64).data.dtype
        nbgrad.float64
        """
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        dev = data.device
        move = (lambda t: None if t is None else t.to(dev))
        return PackedSequence(data, self.batch_sizes, move(self.sorted_indices),
                              move(self.unsorted_indices))

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` is on a CUDA device.

        >>> import nbgrad as nb
        >>> nb.nn.utils.rnn.pack_sequence([nb.tensor([1.0])]).is_cuda
        False
        """
        return self.data.device.type == "cuda"

    def is_pinned(self) -> bool:
        """False: nbgrad has no pinned memory.

        >>> import nbgrad as nb
        >>> nb.nn.utils.rnn.pack_sequence([nb.tensor([1.0])]).is_pinned()
        False
        """
        return False


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation of ``0..n-1`` (None for None).

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils.rnn import invert_permutation
    >>> invert_permutation(nb.tensor([2, 0, 1]))
    tensor([1, 2, 0])
    """
    if permutation is None:
        return None
    p = permutation.detach().cpu().numpy()
    inv = np.empty_like(p)
    inv[p] = np.arange(len(p))
    return tensor(inv, device=permutation.device)


def _lengths(lengths) -> np.ndarray:
    if isinstance(lengths, Tensor):
        return lengths.detach().cpu().numpy().astype(np.int64).reshape(-1)
    return np.asarray(lengths, dtype=np.int64).reshape(-1)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` -- ``(B, T, *)`` with ``batch_first`` -- whose sequences
    have the given ``lengths``. ``enforce_sorted``: the lengths must be decreasing; otherwise
    the batch is sorted here and the permutation kept.

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils.rnn import pack_padded_sequence
    >>> x = nb.tensor([[1.0, 2.0], [3.0, 0.0]])  # (T=2, B=2): lengths 2 and 1
    >>> pack_padded_sequence(x, [2, 1]).data
    tensor([1., 2., 3.])
    """
    lens = _lengths(lengths)
    if batch_first:
        input = input.transpose(0, 1)
    t_max, b = input.shape[0], input.shape[1]
    if len(lens) != b:
        raise ValueError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                         f"{len(lens)} (batch_size={b})")
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability.")
        order = np.arange(b)
        sorted_idx = None
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_idx = tensor(order, device=input.device)
    slens = lens[order]
    if b and slens[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    if b and slens[0] > t_max:
        raise RuntimeError(f"Expected sequence length to be at most {t_max}, but got "
                           f"{slens[0]}")
    steps = int(slens[0]) if b else 0
    batch_sizes = np.array([(slens > t).sum() for t in range(steps)], dtype=np.int64)
    flat_idx = np.concatenate([t * b + order[:bs] for t, bs in enumerate(batch_sizes)]) \
        if steps else np.zeros(0, dtype=np.int64)
    flat = input.reshape(t_max * b, *input.shape[2:])
    data = flat.index_select(0, tensor(flat_idx, device=input.device))
    return PackedSequence(data, tensor(batch_sizes), sorted_idx,
                          invert_permutation(sorted_idx))


def _unsorted(sequence: PackedSequence, b: int) -> np.ndarray:
    if sequence.sorted_indices is None:
        return np.arange(b)
    return sequence.sorted_indices.detach().cpu().numpy().astype(np.int64)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo ``pack_padded_sequence``: the padded batch ``(T, B, *)`` -- or ``(B, T, *)`` -- in the
    original batch order, and the lengths (int64).

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils.rnn import pack_sequence, pad_packed_sequence
    >>> pad_packed_sequence(pack_sequence([nb.tensor([1.0, 2.0]), nb.tensor([3.0])]))
    (tensor([[1., 3.],
            [2., 0.]]), tensor([2, 1]))
    """
    data, bs = sequence.data, sequence.batch_sizes.detach().cpu().numpy().astype(np.int64)
    steps = len(bs)
    b = int(bs[0]) if steps else 0
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                f"Expected total_length to be at least the length of the longest sequence in "
                f"input, but got total_length={total_length} and max sequence length being "
                f"{steps}")
        t_out = total_length
    else:
        t_out = steps
    order = _unsorted(sequence, b)  # sorted position j holds original sample order[j]
    n = data.shape[0]
    index = np.full((t_out, b), n, dtype=np.int64)  # n: the padding row
    pos = 0
    slens = np.zeros(b, dtype=np.int64)
    for t, k in enumerate(bs):
        index[t, order[:k]] = np.arange(pos, pos + k)
        slens[:k] += 1
        pos += k
    lengths = np.zeros(b, dtype=np.int64)
    lengths[order] = slens
    pad = full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)
    source = _f.cat([data, pad], 0)
    out = source.index_select(0, tensor(index.reshape(-1), device=data.device))
    out = out.reshape(t_out, b, *data.shape[1:])
    if batch_first:
        out = out.transpose(0, 1)
    return out, tensor(lengths)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes ``(L_i, *)`` into ``(L_max, B, *)`` -- ``(B, L_max, *)`` with
    ``batch_first`` -- padding with ``padding_value`` on the ``padding_side``.

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils.rnn import pad_sequence
    >>> pad_sequence([nb.tensor([1.0, 2.0]), nb.tensor([3.0])], batch_first=True)
    tensor([[1., 2.],
            [3., 0.]])
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got "
                         f"{padding_side}.")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        short = longest - s.shape[0]
        if short:
            pad = full((short, *s.shape[1:]), padding_value, dtype=s.dtype, device=s.device)
            s = _f.cat([s, pad] if padding_side == "right" else [pad, s], 0)
        rows.append(s)
    return _f.stack(rows, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """Split a padded batch back into its sequences.

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils.rnn import unpad_sequence
    >>> unpad_sequence(nb.tensor([[1.0, 2.0], [3.0, 0.0]]), [2, 1], batch_first=True)
    [tensor([1., 2.]), tensor([3.])]
    """
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[i, :int(n)] for i, n in enumerate(_lengths(lengths))]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences ``(L_i, *)`` (longest first unless ``enforce_sorted=False``).

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils.rnn import pack_sequence
    >>> pack_sequence([nb.tensor([1.0]), nb.tensor([2.0, 3.0])], enforce_sorted=False).data
    tensor([2., 1., 3.])
    """
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The list of sequences in a ``PackedSequence`` (original order).

    >>> import nbgrad as nb
    >>> from nbgrad.nn.utils.rnn import pack_sequence, unpack_sequence
    >>> unpack_sequence(pack_sequence([nb.tensor([1.0, 2.0]), nb.tensor([3.0])]))
    [tensor([1., 2.]), tensor([3.])]
    """
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
