"""RNN / LSTM / GRU against a numpy reference of PyTorch's equations, and nn.utils.rnn."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad import nn
from nbgrad.nn.utils import rnn as rnn_utils

RNG = np.random.default_rng(1)


def sig(x):
    return 1 / (1 + np.exp(-x))


def np_layer(mode, x, h, c, w_ih, w_hh, b_ih, b_hh, reverse=False):
    """One layer and direction, PyTorch's gate order; x (T, B, in)."""
    outs = [None] * len(x)
    steps = range(len(x) - 1, -1, -1) if reverse else range(len(x))
    for t in steps:
        gi, gh = x[t] @ w_ih.T + b_ih, h @ w_hh.T + b_hh
        if mode == "LSTM":
            i, f, g, o = np.split(gi + gh, 4, axis=-1)
            c = sig(f) * c + sig(i) * np.tanh(g)
            h = sig(o) * np.tanh(c)
        elif mode == "GRU":
            ir, iz, in_ = np.split(gi, 3, axis=-1)
            hr, hz, hn = np.split(gh, 3, axis=-1)
            r, z = sig(ir + hr), sig(iz + hz)
            n = np.tanh(in_ + r * hn)
            h = (1 - z) * n + z * h
        else:
            h = np.tanh(gi + gh)
        outs[t] = h
    return np.stack(outs), h, c


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
def test_recurrent_matches_numpy_reference(mode):
    m = getattr(nn, mode)(3, 4, num_layers=2, bidirectional=True).double()
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert "weight_hh_l1_reverse" in names
    gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[mode]
    assert m.weight_ih_l1.shape == (gates * 4, 8)
    x = RNG.standard_normal((5, 2, 3))
    out, hn = m(nb.tensor(x))
    if mode == "LSTM":
        hn, cn = hn
    p = {n: v.detach().numpy() for n, v in m.named_parameters()}
    inp, hs, cs = x, [], []
    for layer in range(2):
        outs = []
        for sfx in ("", "_reverse"):
            z = np.zeros((2, 4))
            o, h, c = np_layer(mode, inp, z, z, p[f"weight_ih_l{layer}{sfx}"],
                               p[f"weight_hh_l{layer}{sfx}"], p[f"bias_ih_l{layer}{sfx}"],
                               p[f"bias_hh_l{layer}{sfx}"], reverse=bool(sfx))
            outs.append(o)
            hs.append(h)
            cs.append(c)
        inp = np.concatenate(outs, -1)
    np.testing.assert_allclose(out.detach().numpy(), inp, atol=1e-12)
    np.testing.assert_allclose(hn.detach().numpy(), np.stack(hs), atol=1e-12)
    if mode == "LSTM":
        np.testing.assert_allclose(cn.detach().numpy(), np.stack(cs), atol=1e-12)


def test_lstm_proj_batch_first_and_gradcheck():
    m = nn.LSTM(2, 3, proj_size=2, batch_first=True).double()
    assert m.weight_hr_l0.shape == (2, 3) and m.weight_hh_l0.shape == (12, 2)
    x = nb.tensor(RNG.standard_normal((2, 3, 2)), requires_grad=True)
    out, (h, c) = m(x)
    assert out.shape == (2, 3, 2) and h.shape == (1, 2, 2) and c.shape == (1, 2, 3)
    g = nn.GRU(2, 2).double()
    assert nb.autograd.gradcheck(lambda x: g(x)[0], (nb.tensor(RNG.standard_normal((3, 1, 2)),
                                                               requires_grad=True),))


def test_packed_sequence_equals_separate_runs():
    m = nn.GRU(2, 3, bidirectional=True).double()
    seqs = [nb.tensor(RNG.standard_normal((n, 2))) for n in (2, 4, 3)]
    packed = rnn_utils.pack_sequence(seqs, enforce_sorted=False)
    out, h = m(packed)
    padded, lengths = rnn_utils.pad_packed_sequence(out)
    assert lengths.tolist() == [2, 4, 3]
    for b, s in enumerate(seqs):
        single, hs = m(s)  # unbatched
        n = s.shape[0]
        np.testing.assert_allclose(padded[:n, b].detach().numpy(), single.detach().numpy(),
                                   atol=1e-12)
        np.testing.assert_allclose(h[:, b].detach().numpy(), hs.detach().numpy(), atol=1e-12)
        assert not padded[n:, b].detach().numpy().any()


def test_rnn_utils_and_errors():
    a, b = nb.tensor([1.0, 2.0, 3.0]), nb.tensor([4.0])
    assert rnn_utils.pad_sequence([a, b], batch_first=True, padding_value=-1,
                                  padding_side="left").tolist() == [[1, 2, 3], [-1, -1, 4]]
    p = rnn_utils.pack_padded_sequence(nb.tensor([[1.0, 4.0], [2.0, 0.0], [3.0, 0.0]]), [3, 1])
    assert p.data.tolist() == [1, 4, 2, 3] and p.batch_sizes.tolist() == [2, 1, 1]
    padded, _ = rnn_utils.pad_packed_sequence(p, batch_first=True, total_length=4)
    assert padded.shape == (2, 4)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        rnn_utils.pack_padded_sequence(nb.zeros(3, 2), [1, 3])
    with pytest.raises(ValueError, match="total_length to be at least"):
        rnn_utils.pad_packed_sequence(p, total_length=2)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.GRU(2, 3, proj_size=1)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size"):
        nn.RNN(2, 3)(nb.zeros(4, 1, 5))
    with pytest.raises(RuntimeError, match="Expected hidden size"):
        nn.RNN(2, 3)(nb.zeros(4, 1, 2), nb.zeros(2, 1, 3))
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(2, 2, dropout=0.5)
    assert repr(nn.LSTM(2, 3, num_layers=2, batch_first=True)) == \
        "LSTM(2, 3, num_layers=2, batch_first=True)"


@pytest.mark.parametrize("cell,mode", [("RNNCell", "RNN"), ("LSTMCell", "LSTM"),
                                       ("GRUCell", "GRU")])
def test_cells(cell, mode):
    m = getattr(nn, cell)(3, 2).double()
    x, h = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 2))
    if mode == "LSTM":
        c = RNG.standard_normal((4, 2))
        hn, cn = m(nb.tensor(x), (nb.tensor(h), nb.tensor(c)))
    else:
        c = None
        hn = m(nb.tensor(x), nb.tensor(h))
    p = {n: v.detach().numpy() for n, v in m.named_parameters()}
    _, rh, rc = np_layer(mode, x[None], h, c, p["weight_ih"], p["weight_hh"], p["bias_ih"],
                         p["bias_hh"])
    np.testing.assert_allclose(hn.detach().numpy(), rh, atol=1e-12)
    if mode == "LSTM":
        np.testing.assert_allclose(cn.detach().numpy(), rc, atol=1e-12)
