"""MultiheadAttention and the transformer layers against a numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad import nn

RNG = np.random.default_rng(2)


def softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_mha(q, k, v, w_in, b_in, w_out, b_out, heads, mask=None):
    """q (L, N, E), k/v (S, N, E); returns output (L, N, E) and head-averaged weights."""
    e = q.shape[-1]
    hd = e // heads
    qp = q @ w_in[:e].T + b_in[:e]
    kp = k @ w_in[e:2 * e].T + b_in[e:2 * e]
    vp = v @ w_in[2 * e:].T + b_in[2 * e:]
    split = (lambda a: a.reshape(a.shape[0], a.shape[1], heads, hd).transpose(1, 2, 0, 3))
    s = split(qp) @ split(kp).transpose(0, 1, 3, 2) / np.sqrt(hd)
    if mask is not None:
        s = s + mask
    w = softmax(s)
    out = (w @ split(vp)).transpose(2, 0, 1, 3).reshape(q.shape[0], q.shape[1], e)
    return out @ w_out.T + b_out, w.mean(1)


def test_mha_matches_numpy_with_masks():
    mha = nn.MultiheadAttention(6, 3).double()
    assert [n for n, _ in mha.named_parameters()] == ["in_proj_weight", "in_proj_bias",
                                                      "out_proj.weight", "out_proj.bias"]
    q, k = RNG.standard_normal((4, 2, 6)), RNG.standard_normal((5, 2, 6))
    attn = RNG.standard_normal((4, 5))
    kpm = np.zeros((2, 5), dtype=bool)
    kpm[1, 3:] = True
    out, w = mha(nb.tensor(q), nb.tensor(k), nb.tensor(k), attn_mask=nb.tensor(attn),
                 key_padding_mask=nb.tensor(kpm))
    p = {n: t.detach().numpy() for n, t in mha.named_parameters()}
    full_mask = attn[None, None] + np.where(kpm, -np.inf, 0.0)[:, None, None, :]
    ref, ref_w = np_mha(q, k, k, p["in_proj_weight"], p["in_proj_bias"], p["out_proj.weight"],
                        p["out_proj.bias"], 3, full_mask)
    np.testing.assert_allclose(out.detach().numpy(), ref, atol=1e-12)
    np.testing.assert_allclose(w.detach().numpy(), ref_w, atol=1e-12)
    _, none = mha(nb.tensor(q), nb.tensor(k), nb.tensor(k), need_weights=False)
    assert none is None
    _, per_head = mha(nb.tensor(q), nb.tensor(k), nb.tensor(k), average_attn_weights=False)
    assert per_head.shape == (2, 3, 4, 5)


def test_mha_layouts_and_errors():
    m = nn.MultiheadAttention(4, 2, kdim=3, vdim=5, add_bias_kv=True, add_zero_attn=True,
                              batch_first=True)
    assert m.in_proj_weight is None and m.k_proj_weight.shape == (4, 3)
    assert m.bias_k.shape == (1, 1, 4)
    out, w = m(nb.randn(2, 3, 4), nb.randn(2, 6, 3), nb.randn(2, 6, 5))
    assert out.shape == (2, 3, 4) and w.shape == (2, 3, 8)  # +1 bias_kv, +1 zero attention
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(5, 2)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        nn.MultiheadAttention(4, 2)(nb.randn(3, 4), nb.randn(3, 4), nb.randn(3, 4),
                                    is_causal=True)


def test_mha_gradcheck_and_causal_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(3).numpy()
    assert np.array_equal(mask, np.triu(np.full((3, 3), -np.inf), 1))
    mha = nn.MultiheadAttention(4, 2).double()
    x = nb.tensor(RNG.standard_normal((3, 1, 4)), requires_grad=True)
    m = nn.Transformer.generate_square_subsequent_mask(3, dtype=nb.float64)
    assert nb.autograd.gradcheck(lambda x: mha(x, x, x, attn_mask=m)[0], (x,))


def test_encoder_layer_matches_formula():
    layer = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0).double()
    x = RNG.standard_normal((3, 2, 4))
    out = layer(nb.tensor(x)).detach().numpy()
    p = {n: t.detach().numpy() for n, t in layer.named_parameters()}

    def ln(a, w, b):
        return (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + 1e-5) * w + b

    sa, _ = np_mha(x, x, x, p["self_attn.in_proj_weight"], p["self_attn.in_proj_bias"],
                   p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"], 2)
    h = ln(x + sa, p["norm1.weight"], p["norm1.bias"])
    ff = np.maximum(h @ p["linear1.weight"].T + p["linear1.bias"], 0) @ p["linear2.weight"].T \
        + p["linear2.bias"]
    np.testing.assert_allclose(out, ln(h + ff, p["norm2.weight"], p["norm2.bias"]), atol=1e-12)


def test_transformer_stack_shapes_and_keys():
    model = nn.Transformer(8, 2, 2, 1, 16, dropout=0.0, batch_first=True, norm_first=True,
                           activation="gelu")
    keys = list(model.state_dict())
    assert "encoder.layers.1.self_attn.in_proj_weight" in keys
    assert "decoder.layers.0.multihead_attn.out_proj.bias" in keys and "decoder.norm.weight" in keys
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(3)
    out = model(nb.randn(2, 5, 8), nb.randn(2, 3, 8), tgt_mask=tgt_mask, tgt_is_causal=True)
    assert out.shape == (2, 3, 8)
    with pytest.raises(RuntimeError, match="activation should be relu/gelu"):
        nn.TransformerEncoderLayer(4, 2, activation="tanh")
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        model(nb.randn(2, 5, 8), nb.randn(3, 3, 8))
