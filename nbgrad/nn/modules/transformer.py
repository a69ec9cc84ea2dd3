"""``torch.nn.modules.transformer``.

>>> from nbgrad.nn.modules.transformer import Transformer
>>> Transformer.generate_square_subsequent_mask(2).shape
(2, 2)
"""

from nbgrad.nn.transformer import (  # noqa: F401
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = ["Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
           "TransformerDecoderLayer"]
