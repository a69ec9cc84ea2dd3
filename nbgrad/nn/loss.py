"""Loss modules wrapping ``nb.nn.functional``."""

from __future__ import annotations

from nbgrad.nn import functional as F
from nbgrad.nn.module import Module
from nbgrad.tensor import Tensor

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss",
           "SmoothL1Loss", "HuberLoss", "KLDivLoss", "PoissonNLLLoss", "GaussianNLLLoss",
           "CosineEmbeddingLoss", "MarginRankingLoss", "HingeEmbeddingLoss", "MultiMarginLoss",
           "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss", "SoftMarginLoss",
           "TripletMarginLoss", "TripletMarginWithDistanceLoss", "CTCLoss"]


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


class SmoothL1Loss(_Loss):
    """Smooth L1 loss: quadratic below ``beta``, linear above.

    >>> import nbgrad as nb
    >>> nb.nn.SmoothL1Loss(beta=1.0)(nb.tensor([0.5, 3.0]), nb.zeros(2))
    tensor(1.3125)
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.SmoothL1Loss(reduction="sum").forward(nb.tensor([2.0]), nb.zeros(1))
        tensor(1.5000)
        """
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Huber loss: quadratic below ``delta``, ``delta``-scaled linear above.

    >>> import nbgrad as nb
    >>> nb.nn.HuberLoss(delta=2.0)(nb.tensor([3.0]), nb.zeros(1))
    tensor(4.)
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.HuberLoss().forward(nb.tensor([0.5]), nb.zeros(1))
        tensor(0.1250)
        """
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(_Loss):
    """KL divergence with ``input`` as log-probabilities (``log_target``: the target too);
    ``reduction="batchmean"`` is the true KL per sample.

    >>> import nbgrad as nb
    >>> p = nb.tensor([[0.25, 0.75]])
    >>> nb.nn.KLDivLoss(reduction="batchmean")(p.log(), p)
    tensor(0.)
    """

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        if reduction == "batchmean" and size_average is None and reduce is None:
            Module.__init__(self)
            self.reduction = reduction
        else:
            super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.KLDivLoss(reduction="sum", log_target=True).forward(nb.zeros(2), nb.zeros(2))
        tensor(0.)
        """
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood.

    >>> import nbgrad as nb
    >>> nb.nn.PoissonNLLLoss()(nb.zeros(2), nb.ones(2))
    tensor(1.)
    """

    def __init__(self, log_input: bool = True, full: bool = False, size_average=None,
                 eps: float = 1e-8, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.PoissonNLLLoss(log_input=False).forward(nb.ones(1), nb.zeros(1))
        tensor(1.)
        """
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood with predicted variance ``var``.

    >>> import nbgrad as nb
    >>> nb.nn.GaussianNLLLoss()(nb.zeros(2), nb.zeros(2), nb.ones(2))
    tensor(0.)
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full = full
        self.eps = eps

    def forward(self, input: Tensor, target: Tensor, var) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.GaussianNLLLoss().forward(nb.ones(1), nb.zeros(1), nb.ones(1))
        tensor(0.5000)
        """
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """``1 - cos`` for similar pairs (target 1), ``max(0, cos - margin)`` for dissimilar.

    >>> import nbgrad as nb
    >>> nb.nn.CosineEmbeddingLoss()(nb.ones(1, 2), nb.ones(1, 2), nb.tensor([-1]))
    tensor(1.)
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.CosineEmbeddingLoss().forward(nb.ones(1, 2), nb.ones(1, 2), nb.tensor([1]))
        tensor(0.)
        """
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)


class MarginRankingLoss(_Loss):
    """``max(0, -y * (x1 - x2) + margin)``.

    >>> import nbgrad as nb
    >>> nb.nn.MarginRankingLoss(margin=1.0)(nb.tensor([2.0]), nb.tensor([2.0]), nb.tensor([1.0]))
    tensor(1.)
    """

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.MarginRankingLoss().forward(nb.ones(1), nb.zeros(1), nb.tensor([-1.0]))
        tensor(1.)
        """
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)


class HingeEmbeddingLoss(_Loss):
    """``x`` for target 1, ``max(0, margin - x)`` for target -1.

    >>> import nbgrad as nb
    >>> nb.nn.HingeEmbeddingLoss()(nb.tensor([0.25]), nb.tensor([-1.0]))
    tensor(0.7500)
    """

    def __init__(self, margin: float = 1.0, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.HingeEmbeddingLoss().forward(nb.tensor([0.25]), nb.tensor([1.0]))
        tensor(0.2500)
        """
        return F.hinge_embedding_loss(input, target, margin=self.margin,
                                      reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Multi-class hinge loss (``p`` 1 or 2).

    >>> import nbgrad as nb
    >>> nb.nn.MultiMarginLoss()(nb.tensor([[0.1, 0.2, 0.4, 0.8]]), nb.tensor([3]))
    tensor(0.3250)
    """

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Tensor | None = None,
                 size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError("only p == 1 and p == 2 supported")
        self.p = p
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.MultiMarginLoss(p=2).forward(nb.tensor([[0.0, 0.0]]), nb.tensor([0]))
        tensor(0.5000)
        """
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin,
                                   weight=self.weight, reduction=self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss (targets: label indices ended by -1).

    >>> import nbgrad as nb
    >>> loss = nb.nn.MultiLabelMarginLoss()
    >>> loss(nb.tensor([[0.1, 0.2, 0.4, 0.8]]), nb.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.MultiLabelMarginLoss().forward(nb.zeros(1, 2), nb.tensor([[0, -1]]))
        tensor(0.5000)
        """
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)


class MultiLabelSoftMarginLoss(_WeightedLoss):
    """Per-class logistic loss averaged over classes.

    >>> import nbgrad as nb
    >>> nb.nn.MultiLabelSoftMarginLoss()(nb.zeros(1, 2), nb.tensor([[1.0, 0.0]]))
    tensor(0.6931)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.MultiLabelSoftMarginLoss(reduction="sum").forward(nb.zeros(2, 1), nb.ones(2, 1))
        tensor(1.3863)
        """
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight,
                                             reduction=self.reduction)


class SoftMarginLoss(_Loss):
    """``log(1 + exp(-y x))``.

    >>> import nbgrad as nb
    >>> nb.nn.SoftMarginLoss()(nb.zeros(1), nb.ones(1))
    tensor(0.6931)
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.SoftMarginLoss(reduction="none").forward(nb.zeros(2), nb.ones(2))
        tensor([0.6931, 0.6931])
        """
        return F.soft_margin_loss(input, target, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with the ``p``-norm pairwise distance.

    >>> import nbgrad as nb
    >>> nb.nn.TripletMarginLoss(eps=0.0)(nb.zeros(1, 2), nb.zeros(1, 2), nb.zeros(1, 2))
    tensor(1.)
    """

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                 swap: bool = False, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got "
                             f"{margin} instead")
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.TripletMarginLoss(eps=0.0).forward(nb.zeros(1, 1), nb.zeros(1, 1),
        ...                                          nb.full((1, 1), 3.0))
        tensor(0.)
        """
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap, reduction=self.reduction)


class TripletMarginWithDistanceLoss(_Loss):
    """Triplet loss with a custom ``distance_function``.

    >>> import nbgrad as nb
    >>> loss = nb.nn.TripletMarginWithDistanceLoss(distance_function=nb.nn.PairwiseDistance())
    >>> loss(nb.zeros(1, 2), nb.zeros(1, 2), nb.zeros(1, 2))
    tensor(1.)
    """

    def __init__(self, *, distance_function=None, margin: float = 1.0, swap: bool = False,
                 reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        if margin <= 0:
            raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater "
                             f"than 0, got {margin} instead")
        self.distance_function = distance_function
        self.margin = margin
        self.swap = swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> nb.nn.TripletMarginWithDistanceLoss().forward(nb.zeros(1, 1), nb.zeros(1, 1),
        ...                                               nb.full((1, 1), 5.0))
        tensor(0.)
        """
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)


class CTCLoss(_Loss):
    """Connectionist temporal classification loss.

    >>> import nbgrad as nb
    >>> import nbgrad.nn.functional as F
    >>> lp = F.log_softmax(nb.zeros(2, 1, 2), 2)
    >>> nb.nn.CTCLoss(reduction="sum")(lp, nb.tensor([[1]]), [2], [1])
    tensor(0.2877)
    """

    def __init__(self, blank: int = 0, reduction: str = "mean",
                 zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Tensor, targets: Tensor, input_lengths,
                target_lengths) -> Tensor:
        """The loss.

        >>> import nbgrad as nb
        >>> import nbgrad.nn.functional as F
        >>> lp = F.log_softmax(nb.zeros(1, 1, 2), 2)
        >>> nb.nn.CTCLoss(zero_infinity=True).forward(lp, nb.tensor([[1, 1]]), [1], [2])
        tensor(0.)
        """
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                          self.reduction, self.zero_infinity)
