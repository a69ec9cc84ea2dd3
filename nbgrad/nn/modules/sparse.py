"""``torch.nn.modules.sparse``.

>>> from nbgrad.nn.modules.sparse import Embedding
>>> Embedding(4, 2).weight.shape
(4, 2)
"""

from nbgrad.nn.sparse import Embedding, EmbeddingBag  # noqa: F401

__all__ = ["Embedding", "EmbeddingBag"]
