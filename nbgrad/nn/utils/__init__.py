"""``nb.nn.utils``: gradient clipping, parameter/vector conversion, weight normalisation and
``rnn`` (packed sequences) -- PyTorch's paths."""

from nbgrad.nn.utils import clip_grad, convert_parameters, parametrizations, parametrize, rnn
from nbgrad.nn.utils.clip_grad import (
    clip_grad_norm,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from nbgrad.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from nbgrad.nn.utils.rnn import PackedSequence
from nbgrad.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
from nbgrad.nn.utils.weight_norm import remove_weight_norm, weight_norm

__all__ = ["rnn", "clip_grad", "convert_parameters", "PackedSequence", "clip_grad_norm_",
           "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
           "parameters_to_vector", "vector_to_parameters", "weight_norm",
           "remove_weight_norm", "spectral_norm", "remove_spectral_norm", "parametrize",
           "parametrizations"]
