"""Module hooks, containers and state-dict behaviour."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad as nb
from nbgrad import nn


def test_forward_hooks_order_kwargs_and_removal():
    m = nn.Identity()
    calls = []
    h1 = m.register_forward_hook(lambda mod, args, out: calls.append("a"))
    m.register_forward_hook(lambda mod, args, out: calls.append("b"), prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] * 3,), kwargs),
                                with_kwargs=True)
    assert m(nb.tensor([1.0])).tolist() == [3.0] and calls == ["b", "a"]
    h1.remove()
    calls.clear()
    m(nb.tensor([1.0]))
    assert calls == ["b"]


def test_forward_hook_always_call_on_error():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    seen = []
    m = Boom()
    m.register_forward_hook(lambda mod, args, out: seen.append(out), always_call=True)
    with pytest.raises(ValueError, match="boom"):
        m(nb.zeros(1))
    assert seen == [None]


def test_full_backward_hooks():
    fc = nn.Linear(2, 1).double()
    got = {}

    def hook(mod, grad_input, grad_output):
        got["gi"], got["go"] = grad_input, grad_output
        return (grad_input[0] * 0.0,)

    fc.register_full_backward_hook(hook)
    x = nb.tensor(np.ones((3, 2)), requires_grad=True)
    (fc(x) * 2).sum().backward()
    np.testing.assert_allclose(got["go"][0].numpy(), np.full((3, 1), 2.0))
    np.testing.assert_allclose(got["gi"][0].numpy(), 2 * np.tile(fc.weight.detach().numpy(),
                                                                  (3, 1)))
    assert not x.grad.numpy().any()  # replaced by the hook
    np.testing.assert_allclose(fc.weight.grad.numpy(), [[6.0, 6.0]])


def test_containers():
    d = nn.ModuleDict({"a": nn.Linear(2, 2)})
    d["b"] = nn.ReLU()
    assert list(d) == ["a", "b"] and len(list(d.parameters())) == 2
    pl = nn.ParameterList([nb.zeros(2)])
    pl.append(nb.ones(3))
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    pd = nn.ParameterDict({"w": nb.zeros(2)})
    assert isinstance(pd["w"], nn.Parameter) and "w" in pd
    seq = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())
    del seq[0]
    assert list(seq._modules) == ["0", "1"]
    seq.insert(1, nn.ReLU())
    assert [type(m).__name__ for m in seq] == ["Tanh", "ReLU", "Sigmoid"]
    assert isinstance(seq[1:], nn.Sequential) and len(seq[1:]) == 2
    assert type(seq.pop(0)).__name__ == "Tanh" and len(seq) == 2


def test_state_dict_metadata_and_load_errors():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    sd = net.state_dict(prefix="model.")
    assert "model.0.weight" in sd and sd._metadata["model.1"] == {"version": 2}
    assert net.state_dict(keep_vars=True)["0.weight"] is net[0].weight
    res = net.load_state_dict({"0.weight": nb.zeros(2, 2), "junk": nb.zeros(1)}, strict=False)
    assert res.unexpected_keys == ["junk"] and "0.bias" in res.missing_keys
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "0.bias"'):
        net.load_state_dict({"0.weight": nb.zeros(2, 2)})
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
        net.load_state_dict({"0.weight": nb.zeros(3, 2)}, strict=False)


def test_submodule_accessors_and_dtype():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    assert net.get_parameter("0.weight") is net[0].weight
    assert net.get_buffer("1.running_var").tolist() == [1.0, 1.0]
    with pytest.raises(AttributeError, match="is not an nn.Parameter"):
        net.get_parameter("1.running_var")
    with pytest.raises(AttributeError, match="has no submodule"):
        net.get_submodule("5")
    net.double()
    assert net[1].running_mean.dtype == nb.float64
    assert net[1].num_batches_tracked.dtype == nb.int64
    m = nn.Module()
    m.register_buffer("tmp", nb.zeros(1), persistent=False)
    assert "tmp" not in m.state_dict() and [n for n, _ in m.named_buffers()] == ["tmp"]


def test_batchnorm_loads_legacy_state_dict_without_counter():
    bn = nn.BatchNorm1d(2)
    legacy = {k: v for k, v in nn.BatchNorm1d(2).state_dict().items()
              if k != "num_batches_tracked"}
    assert bn.load_state_dict(legacy).missing_keys == []
    sd = nn.BatchNorm1d(2).state_dict()
    del sd["num_batches_tracked"]  # version 2 metadata: the key is really missing
    with pytest.raises(RuntimeError, match="num_batches_tracked"):
        bn.load_state_dict(sd)


def test_dropout2d_3d_inputs_warn_like_pytorch():
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        nb.nn.functional.dropout2d(nb.ones(2, 3, 4))
    y = nb.nn.functional.dropout3d(nb.ones(3, 2, 2, 2), p=0.5).numpy()  # unbatched (C, D, H, W)
    assert all(len(set(c.ravel())) == 1 for c in y)


def test_torch_nn_modules_paths():
    from nbgrad.nn.modules.batchnorm import _BatchNorm
    from nbgrad.nn.modules.loss import _Loss, _WeightedLoss
    from nbgrad.nn.modules.module import Module
    from nbgrad.nn.modules.rnn import LSTM
    from nbgrad.nn.modules.utils import _pair, _triple

    assert Module is nn.Module and LSTM is nn.LSTM
    assert issubclass(nn.BatchNorm1d, _BatchNorm) and issubclass(nn.NLLLoss, _WeightedLoss)
    assert issubclass(nn.MSELoss, _Loss)
    assert _pair(3) == (3, 3) and _triple((1, 2, 3)) == (1, 2, 3)


def test_global_module_hooks():
    from nbgrad.nn.modules.module import register_module_forward_hook

    order = []
    m = nn.Identity()
    m.register_forward_hook(lambda mod, a, out: order.append("own"))
    h = register_module_forward_hook(lambda mod, a, out: order.append("global"))
    m(nb.ones(1))
    h.remove()
    m(nb.ones(1))
    assert order == ["global", "own", "own"]
