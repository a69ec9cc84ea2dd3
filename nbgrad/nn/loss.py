"""Loss modules wrapping ``nb.nn.functional``."""

from __future__ import annotations

from nbgrad.nn import functional as F
from nbgrad.nn.module import Module
from nbgrad.tensor import Tensor

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss"]


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F._check_reduction(reduction, size_average, reduce)


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy of logits and class indices (or class probabilities); see
    ``nb.nn.functional.cross_entropy``.

    >>> import nbgrad as nb
    >>> loss = nb.nn.CrossEntropyLoss()(nb.zeros(2, 4), nb.tensor([1, 3]))
    >>> round(loss.item(), 4)  # log(4)
    1.3863
    """

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> loss = nb.nn.CrossEntropyLoss(reduction="sum")
        >>> loss.forward(nb.zeros(2, 4), nb.tensor([1, 3]))  # 2 * log(4)
        tensor(2.7726)
        """
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities; see ``nb.nn.functional.nll_loss``.

    >>> import nbgrad as nb
    >>> log_probs = nb.tensor([[-0.5, -1.0], [-2.0, -0.1]])
    >>> nb.nn.NLLLoss()(log_probs, nb.tensor([0, 1]))  # (0.5 + 0.1) / 2
    tensor(0.3000)
    """

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> log_probs = nb.tensor([[-0.5, -1.0], [-2.0, -0.1]])
        >>> nb.nn.NLLLoss(reduction="none").forward(log_probs, nb.tensor([0, 1]))
        tensor([0.5000, 0.1000])
        """
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error.

    >>> import nbgrad as nb
    >>> nb.nn.MSELoss()(nb.tensor([1.0, 2.0]), nb.tensor([0.0, 4.0]))  # (1 + 4) / 2
    tensor(2.5000)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.MSELoss(reduction="sum").forward(nb.tensor([1.0, 2.0]), nb.tensor([0.0, 4.0]))
        tensor(5.)
        """
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error.

    >>> import nbgrad as nb
    >>> nb.nn.L1Loss()(nb.tensor([1.0, 2.0]), nb.tensor([0.0, 4.0]))  # (1 + 2) / 2
    tensor(1.5000)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.L1Loss(reduction="none").forward(nb.tensor([1.0, 2.0]), nb.tensor([0.0, 4.0]))
        tensor([1., 2.])
        """
        return F.l1_loss(input, target, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities.

    >>> import nbgrad as nb
    >>> nb.nn.BCELoss()(nb.tensor([0.5, 0.5]), nb.tensor([1.0, 0.0]))  # log(2)
    tensor(0.6931)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> loss = nb.nn.BCELoss(reduction="none")
        >>> loss.forward(nb.tensor([0.9, 0.2]), nb.tensor([1.0, 0.0]))  # -log(0.9), -log(0.8)
        tensor([0.1054, 0.2231])
        """
        return F.binary_cross_entropy(input, target, weight=self.weight,
                                      reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy computed stably from logits.

    >>> import nbgrad as nb
    >>> nb.nn.BCEWithLogitsLoss()(nb.zeros(2), nb.tensor([1.0, 0.0]))  # log(2)
    tensor(0.6931)
    """

    def __init__(self, weight: Tensor | None = None, size_average=None, reduce=None,
                 reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> loss = nb.nn.BCEWithLogitsLoss(pos_weight=nb.tensor([2.0]), reduction="none")
        >>> loss.forward(nb.zeros(2), nb.tensor([1.0, 0.0]))  # positives count twice
        tensor([1.3863, 0.6931])
        """
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
