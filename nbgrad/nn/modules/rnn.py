"""``torch.nn.modules.rnn``.

>>> from nbgrad.nn.modules.rnn import LSTM
>>> LSTM(2, 3).hidden_size
3
"""

from nbgrad.nn.rnn import (  # noqa: F401
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNBase,
    RNNCell,
    RNNCellBase,
)

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
