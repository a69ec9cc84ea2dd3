"""Lookup tables: ``Embedding`` and ``EmbeddingBag``."""

from __future__ import annotations

from nbgrad.grad_mode import no_grad
from nbgrad.nn import functional as F
from nbgrad.nn import init
from nbgrad.nn.module import Module
from nbgrad.nn.parameter import Parameter
from nbgrad.ops.creation import empty
from nbgrad.tensor import Tensor

__all__ = ["Embedding", "EmbeddingBag"]


def _padding(padding_idx, num_embeddings: int):
    if padding_idx is None:
        return None
    if padding_idx > 0:
        if padding_idx >= num_embeddings:
            raise AssertionError("Padding_idx must be within num_embeddings")
    elif padding_idx < 0:
        if padding_idx < -num_embeddings:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx += num_embeddings
    return padding_idx


def _table(num_embeddings, embedding_dim, _weight, device, dtype):
    if _weight is None:
        return Parameter(empty(num_embeddings, embedding_dim, device=device, dtype=dtype)), True
    if tuple(_weight.shape) != (num_embeddings, embedding_dim):
        raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
    return Parameter(_weight.detach()), False


class Embedding(Module):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim`` (init N(0, 1)).
    The row at ``padding_idx`` starts at zero and gets no gradient; ``max_norm`` renormalises
    looked-up rows in place; ``scale_grad_by_freq`` divides gradients by index counts.

    >>> import nbgrad as nb
    >>> emb = nb.nn.Embedding(10, 3, padding_idx=0)
    >>> emb(nb.tensor([[0, 2], [4, 0]])).shape
    (2, 2, 3)
    >>> emb.weight[0].tolist()
    [0.0, 0.0, 0.0]
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Tensor | None = None, _freeze: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _padding(padding_idx, num_embeddings)
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        self.weight, fresh = _table(num_embeddings, embedding_dim, _weight, device, dtype)
        if _freeze:
            self.weight.requires_grad_(False)
        if fresh:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the table from N(0, 1) (zeroing the padding row).

        >>> import nbgrad as nb
        >>> emb = nb.nn.Embedding(4, 2, padding_idx=1)
        >>> emb.reset_parameters()
        >>> emb.weight[1].tolist()
        [0.0, 0.0]
        """
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor) -> Tensor:
        """Rows of the table at the integer indices ``input``.

        >>> import nbgrad as nb
        >>> emb = nb.nn.Embedding(4, 2)
        >>> emb.forward(nb.tensor([3, 3])).tolist() == [emb.weight[3].tolist()] * 2
        True
        """
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An ``Embedding`` whose table is ``embeddings`` (2-D), frozen unless ``freeze=False``.

        >>> import nbgrad as nb
        >>> emb = nb.nn.Embedding.from_pretrained(nb.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> emb(nb.tensor([1])), emb.weight.requires_grad
        (tensor([[3., 4.]]), False)
        """
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=embeddings, _freeze=freeze)


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings, without building the intermediate
    (bag, index, dim) tensor's gradient per bag.

    >>> import nbgrad as nb
    >>> bag = nb.nn.EmbeddingBag(10, 3, mode="sum")
    >>> bag(nb.tensor([1, 2, 4, 5, 4, 3]), nb.tensor([0, 4])).shape
    (2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                 sparse: bool = False, _weight: Tensor | None = None,
                 include_last_offset: bool = False, padding_idx: int | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.padding_idx = _padding(padding_idx, num_embeddings)
        self.weight, fresh = _table(num_embeddings, embedding_dim, _weight, device, dtype)
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset
        if fresh:
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the table from N(0, 1) (zeroing the padding row).

        >>> import nbgrad as nb
        >>> bag = nb.nn.EmbeddingBag(3, 2, padding_idx=2)
        >>> bag.reset_parameters()
        >>> bag.weight[2].tolist()
        [0.0, 0.0]
        """
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, input: Tensor, offsets: Tensor | None = None,
                per_sample_weights: Tensor | None = None) -> Tensor:
        """``embedding_bag`` of ``input`` (B, N), or 1-D with ``offsets``.

        >>> import nbgrad as nb
        >>> bag = nb.nn.EmbeddingBag.from_pretrained(nb.tensor([[1.0], [3.0]]))
        >>> bag.forward(nb.tensor([[0, 1]]))
        tensor([[2.]])
        """
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                               self.scale_grad_by_freq, self.mode, self.sparse,
                               per_sample_weights, self.include_last_offset, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        s += f", mode='{self.mode}'"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        max_norm: float | None = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean",
                        sparse: bool = False, include_last_offset: bool = False,
                        padding_idx: int | None = None) -> EmbeddingBag:
        """An ``EmbeddingBag`` over the 2-D table ``embeddings`` (frozen by default).

        >>> import nbgrad as nb
        >>> nb.nn.EmbeddingBag.from_pretrained(nb.ones(2, 2)).weight.requires_grad
        False
        """
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        bag = cls(rows, cols, max_norm, norm_type, scale_grad_by_freq, mode, sparse,
                  embeddings, include_last_offset, padding_idx)
        bag.weight.requires_grad_(not freeze)
        return bag
