"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their cells, with PyTorch's parameter
names, shapes, gate order and initialisation (a PyTorch ``state_dict`` loads and gives the same
outputs). The time loop is Python; each step is a few differentiable ops, and the input
projections of all steps are one matrix product per layer and direction."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from nbgrad.nn import functional as F
from nbgrad.nn import init
from nbgrad.nn.module import Module
from nbgrad.nn.parameter import Parameter
from nbgrad.nn.utils.rnn import PackedSequence, invert_permutation, pad_packed_sequence
from nbgrad.ops import functions as _f
from nbgrad.ops.creation import empty, tensor, zeros
from nbgrad.tensor import Tensor

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _lin(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return F.linear(x, w, b)


def _rnn_step(mode, gi, h, c, w_hh, b_hh, w_hr):
    """One step from the precomputed input projection ``gi``; returns (h', c')."""
    gh = _lin(h, w_hh, b_hh)
    if mode == "LSTM":
        i, f, g, o = (gi + gh).chunk(4, -1)
        c_new = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h_new = o.sigmoid() * c_new.tanh()
        if w_hr is not None:
            h_new = h_new @ w_hr.t()
        return h_new, c_new
    if mode == "GRU":
        ir, iz, in_ = gi.chunk(3, -1)
        hr, hz, hn = gh.chunk(3, -1)
        r = (ir + hr).sigmoid()
        z = (iz + hz).sigmoid()
        n = (in_ + r * hn).tanh()
        return n + z * (h - n), None
    pre = gi + gh
    return (pre.tanh() if mode == "RNN_TANH" else pre.relu()), None


class RNNBase(Module):
    """The shared machinery of ``RNN``, ``LSTM`` and ``GRU`` (``mode`` is "RNN_TANH",
    "RNN_RELU", "LSTM" or "GRU").

    >>> import nbgrad as nb
    >>> nb.nn.RNNBase("GRU", 2, 3).weight_ih_l0.shape
    (9, 2)
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 \
                or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", UserWarning,
                          stacklevel=2)
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: "
                            f"{type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        gate_size = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            for direction in range(directions):
                in_size = input_size if layer == 0 else real_hidden * directions
                sfx = "_reverse" if direction == 1 else ""
                names = [f"weight_ih_l{layer}{sfx}", f"weight_hh_l{layer}{sfx}"]
                shapes = [(gate_size, in_size), (gate_size, real_hidden)]
                if bias:
                    names += [f"bias_ih_l{layer}{sfx}", f"bias_hh_l{layer}{sfx}"]
                    shapes += [(gate_size,), (gate_size,)]
                if proj_size > 0:
                    names.append(f"weight_hr_l{layer}{sfx}")
                    shapes.append((proj_size, hidden_size))
                for name, shape in zip(names, shapes):
                    setattr(self, name, Parameter(empty(shape, device=device, dtype=dtype)))
                self._flat_weights_names.extend(names)
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """The parameters, one list per layer and direction.

        >>> import nbgrad as nb
        >>> [[p.shape for p in ws] for ws in nb.nn.GRU(2, 3).all_weights]
        [[(9, 2), (9, 3), (9,), (9,)]]
        """
        per = 2 + 2 * self.bias + (self.proj_size > 0)
        w = self._flat_weights
        return [w[i:i + per] for i in range(0, len(w), per)]

    def flatten_parameters(self) -> None:
        """Accepted for compatibility (nbgrad keeps no fused weight buffer).

        >>> import nbgrad as nb
        >>> nb.nn.LSTM(2, 2).flatten_parameters()
        """

    def reset_parameters(self) -> None:
        """Every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

        >>> import nbgrad as nb
        >>> rnn = nb.nn.RNN(3, 4)
        >>> rnn.reset_parameters()
        >>> all(bool(p.abs().max() <= 0.5) for p in rnn.parameters())
        True
        """
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # --------------------------------------------------------------------- the computation
    def _hidden_shapes(self, batch: int):
        d = 2 if self.bidirectional else 1
        real = self.proj_size if self.proj_size > 0 else self.hidden_size
        return (self.num_layers * d, batch, real), (self.num_layers * d, batch, self.hidden_size)

    def _check_hidden(self, h: Tensor, expected, what: str = "hidden") -> None:
        if tuple(h.shape) != tuple(expected):
            msg = "Expected hidden size" if what == "hidden" else "Expected hidden[1] size"
            raise RuntimeError(f"{msg} {tuple(expected)}, got {list(h.shape)}")

    def _run(self, x: Tensor, lengths, h0: Tensor, c0: Tensor | None):
        """x (T, B, in), lengths (numpy (B,) or None); returns output, h_n, c_n."""
        t_steps = x.shape[0]
        directions = 2 if self.bidirectional else 1
        mask = None
        if lengths is not None:
            m = (np.arange(t_steps)[:, None] < lengths[None, :]).astype(np.float64)
            mask = tensor(m[:, :, None], dtype=x.dtype, device=x.device)  # (T, B, 1)
        layer_in = x
        h_n, c_n = [], []
        weights = self.all_weights
        for layer in range(self.num_layers):
            outs = []
            for direction in range(directions):
                ws = weights[layer * directions + direction]
                w_ih, w_hh = ws[0], ws[1]
                b_ih = ws[2] if self.bias else None
                b_hh = ws[3] if self.bias else None
                w_hr = ws[-1] if self.proj_size > 0 else None
                k = layer * directions + direction
                h = h0[k]
                c = c0[k] if c0 is not None else None
                gi_all = _lin(layer_in, w_ih, b_ih).unbind(0)  # T x (B, gates)
                steps = range(t_steps - 1, -1, -1) if direction == 1 else range(t_steps)
                seq = [None] * t_steps
                for t in steps:
                    h_new, c_new = _rnn_step(self.mode, gi_all[t], h, c, w_hh, b_hh, w_hr)
                    if mask is not None:
                        mt = mask[t]
                        h = h + (h_new - h) * mt
                        if c is not None:
                            c = c + (c_new - c) * mt
                        seq[t] = h_new * mt
                    else:
                        h, c = h_new, c_new
                        seq[t] = h_new
                outs.append(_f.stack(seq, 0))
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
            layer_in = outs[0] if directions == 1 else _f.cat(outs, -1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        return layer_in, _f.stack(h_n, 0), (_f.stack(c_n, 0) if c_n else None)

    def forward(self, input, hx=None):
        """Run the sequence ``input`` (T, B, in) -- (B, T, in) with ``batch_first``, (T, in)
        unbatched, or a ``PackedSequence`` -- from the initial state ``hx`` (zeros by default;
        ``(h0, c0)`` for an LSTM). Returns ``output, h_n`` (``output, (h_n, c_n)`` for LSTM).

        >>> import nbgrad as nb
        >>> out, h = nb.nn.GRU(3, 4, num_layers=2).forward(nb.randn(5, 2, 3))
        >>> out.shape, h.shape
        ((5, 2, 4), (2, 2, 4))
        """
        is_lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        lengths = None
        sorted_idx = unsorted_idx = None
        if packed:
            sorted_idx, unsorted_idx = input.sorted_indices, input.unsorted_indices
            x, lens = pad_packed_sequence(input)
            lengths = lens.numpy()
            batched = True
        else:
            if not isinstance(input, Tensor):
                raise TypeError(f"{type(self).__name__}: input must be a Tensor or a "
                                f"PackedSequence, got {type(input).__name__}")
            if input.ndim not in (2, 3):
                raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got "
                                 f"{input.ndim}D tensor instead")
            batched = input.ndim == 3
            x = input if batched else input.unsqueeze(1)
            if batched and self.batch_first:
                x = x.transpose(0, 1)
        if not x.dtype.is_floating_point:
            raise RuntimeError(f"{type(self).__name__}: expected a floating point input, got "
                               f"{x.dtype.name}")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.input_size}, got {x.shape[-1]}")
        batch = x.shape[1]
        h_shape, c_shape = self._hidden_shapes(batch)
        if hx is None:
            h0 = zeros(h_shape, dtype=x.dtype, device=x.device)
            c0 = zeros(c_shape, dtype=x.dtype, device=x.device) if is_lstm else None
        else:
            if is_lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise RuntimeError("LSTM: hx must be a tuple (h_0, c_0)")
                h0, c0 = hx
            else:
                if not isinstance(hx, Tensor):
                    raise RuntimeError(f"{type(self).__name__}: hx must be a Tensor")
                h0, c0 = hx, None
            if not batched:
                if h0.ndim != 2:
                    raise RuntimeError(f"For unbatched 2-D input, hx should also be 2-D but "
                                       f"got {h0.ndim}-D tensor")
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
            elif h0.ndim != 3:
                raise RuntimeError(f"For batched 3-D input, hx should also be 3-D but got "
                                   f"{h0.ndim}-D tensor")
            self._check_hidden(h0, h_shape)
            if c0 is not None:
                self._check_hidden(c0, c_shape, "cell")
        out, h_n, c_n = self._run(x, lengths, h0, c0)
        if packed:
            out = _repack(out, lengths, input.batch_sizes, sorted_idx, unsorted_idx)
        elif not batched:
            out = out.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif self.batch_first:
            out = out.transpose(0, 1)
        return (out, (h_n, c_n)) if is_lstm else (out, h_n)


def _repack(out: Tensor, lengths: np.ndarray, batch_sizes: Tensor, sorted_idx, unsorted_idx):
    """Pack the padded output (T, B, H) (original batch order) like the input was packed."""
    b = out.shape[1]
    order = np.arange(b) if sorted_idx is None else \
        sorted_idx.detach().cpu().numpy().astype(np.int64)
    bs = batch_sizes.detach().cpu().numpy().astype(np.int64)
    flat_idx = np.concatenate([t * b + order[:k] for t, k in enumerate(bs)])
    data = out.reshape(out.shape[0] * b, out.shape[2]).index_select(
        0, tensor(flat_idx, device=out.device))
    return PackedSequence(data, batch_sizes, sorted_idx,
                          unsorted_idx if unsorted_idx is not None else
                          invert_permutation(sorted_idx))


class RNN(RNNBase):
    """Elman RNN: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (``relu`` with
    ``nonlinearity="relu"``), stacked ``num_layers`` deep, optionally bidirectional.

    >>> import nbgrad as nb
    >>> rnn = nb.nn.RNN(3, 4, batch_first=True, bidirectional=True)
    >>> out, h = rnn(nb.randn(2, 5, 3))
    >>> out.shape, h.shape, [n for n, _ in rnn.named_parameters()][:2]
    ((2, 5, 8), (2, 2, 4), ['weight_ih_l0', 'weight_hh_l0'])
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None, proj_size: int = 0) -> None:
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or "
                             "'relu'.")
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, gates ``i, f, g, o`` in PyTorch's order; ``proj_size > 0``
    projects ``h`` (``weight_hr``).

    >>> import nbgrad as nb
    >>> lstm = nb.nn.LSTM(3, 4, num_layers=2, proj_size=2)
    >>> out, (h, c) = lstm(nb.randn(5, 1, 3))
    >>> out.shape, h.shape, c.shape
    ((5, 1, 2), (2, 1, 2), (2, 1, 4))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit, gates ``r, z, n`` with PyTorch's
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.

    >>> import nbgrad as nb
    >>> out, h = nb.nn.GRU(3, 4)(nb.randn(5, 3))  # unbatched
    >>> out.shape, h.shape
    ((5, 4), (1, 4))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None,
                 proj_size: int = 0) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)


class RNNCellBase(Module):
    """The shared parameters of the cells: ``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh`` (``num_chunks`` gates).

    >>> import nbgrad as nb
    >>> nb.nn.RNNCellBase(2, 3, True, 4).weight_hh.shape
    (12, 3)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(empty(num_chunks * hidden_size, input_size, device=device,
                                         dtype=dtype))
        self.weight_hh = Parameter(empty(num_chunks * hidden_size, hidden_size, device=device,
                                         dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)).

        >>> import nbgrad as nb
        >>> cell = nb.nn.GRUCell(2, 4)
        >>> cell.reset_parameters()
        >>> bool(cell.weight_ih.abs().max() <= 0.5)
        True
        """
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _prep(self, input: Tensor, hx, name: str):
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[-1]} "
                               f"expected {self.input_size}")
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        return x, batched

    def _state(self, hx, x: Tensor, batched: bool) -> Tensor:
        if hx is None:
            return zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        h = hx if batched else hx.unsqueeze(0)
        if tuple(h.shape) != (x.shape[0], self.hidden_size):
            raise RuntimeError(f"hidden has inconsistent hidden_size or batch: got "
                               f"{list(hx.shape)}, expected {[x.shape[0], self.hidden_size]}")
        return h


class RNNCell(RNNCellBase):
    """One Elman RNN step.

    >>> import nbgrad as nb
    >>> nb.nn.RNNCell(3, 4)(nb.randn(2, 3)).shape
    (2, 4)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """``h' = act(input W_ih^T + b_ih + hx W_hh^T + b_hh)``.

        >>> import nbgrad as nb
        >>> nb.nn.RNNCell(2, 3).forward(nb.ones(2)).shape
        (3,)
        """
        x, batched = self._prep(input, hx, "RNNCell")
        h = self._state(hx, x, batched)
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        out, _ = _rnn_step(mode, _lin(x, self.weight_ih, self.bias_ih), h, None,
                           self.weight_hh, self.bias_hh, None)
        return out if batched else out.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step; returns ``(h', c')``.

    >>> import nbgrad as nb
    >>> h, c = nb.nn.LSTMCell(3, 4)(nb.randn(2, 3))
    >>> h.shape, c.shape
    ((2, 4), (2, 4))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx=None) -> tuple[Tensor, Tensor]:
        """``(h', c')`` from ``input`` and ``hx = (h, c)`` (zeros by default).

        >>> import nbgrad as nb
        >>> h, c = nb.nn.LSTMCell(2, 3).forward(nb.ones(2))
        >>> h.shape
        (3,)
        """
        x, batched = self._prep(input, hx, "LSTMCell")
        if hx is None:
            h = c = self._state(None, x, batched)
        else:
            h, c = self._state(hx[0], x, batched), self._state(hx[1], x, batched)
        h, c = _rnn_step("LSTM", _lin(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh,
                         self.bias_hh, None)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step.

    >>> import nbgrad as nb
    >>> nb.nn.GRUCell(3, 4)(nb.randn(2, 3)).shape
    (2, 4)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """``h'`` from ``input`` and ``hx`` (zeros by default).

        >>> import nbgrad as nb
        >>> nb.nn.GRUCell(2, 3).forward(nb.ones(2)).shape
        (3,)
        """
        x, batched = self._prep(input, hx, "GRUCell")
        h = self._state(hx, x, batched)
        out, _ = _rnn_step("GRU", _lin(x, self.weight_ih, self.bias_ih), h, None,
                           self.weight_hh, self.bias_hh, None)
        return out if batched else out.squeeze(0)
