"""``nb.nn.utils``: gradient clipping, parameter/vector conversion, weight and spectral
normalisation, parametrizations, and ``rnn`` (packed sequences) -- PyTorch's paths."""

from nbgrad.nn.utils import rnn
from nbgrad.nn.utils.rnn import PackedSequence

__all__ = ["rnn", "PackedSequence"]
