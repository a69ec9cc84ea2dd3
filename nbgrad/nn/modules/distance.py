"""``torch.nn.modules.distance``.

>>> from nbgrad.nn.modules.distance import CosineSimilarity
>>> CosineSimilarity().dim
1
"""

from nbgrad.nn.layers import CosineSimilarity, PairwiseDistance  # noqa: F401

__all__ = ["PairwiseDistance", "CosineSimilarity"]
