"""nb.nn: Module registry and traversal, modes, state dicts, devices/dtypes, repr, layers, init."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import nbgrad as nb
from nbgrad import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.drop = nn.Dropout(0.5)
        self.register_buffer("running", nb.zeros(4))
        self.register_buffer("scratch", nb.ones(2), persistent=False)

    def forward(self, x):
        return self.drop(self.fc(x)) + self.running


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(4, 2, bias=False)
        self.scale = nn.Parameter(nb.ones(1))

    def forward(self, x):
        return self.head(self.block(x)) * self.scale


# ----------------------------------------------------------------------------- Parameter
def test_parameter_is_a_leaf_that_requires_grad_even_under_no_grad():
    with nb.no_grad():
        p = nn.Parameter(nb.zeros(3))
    assert isinstance(p, nb.Tensor) and p.requires_grad and p.is_leaf
    assert not nn.Parameter(nb.zeros(2), requires_grad=False).requires_grad
    with nb.no_grad():
        layer = nn.Linear(2, 2)
    assert all(q.requires_grad for q in layer.parameters())


def test_parameter_shares_storage_and_repr():
    data = nb.zeros(2)
    p = nn.Parameter(data)
    with nb.no_grad():
        p.add_(1.0)
    assert data.tolist() == [1.0, 1.0]
    assert repr(p).startswith("Parameter containing:\ntensor([1., 1.], requires_grad=True)")
    assert type(p * 2) is nb.Tensor
    with pytest.raises(TypeError, match="must be a Tensor"):
        nn.Parameter([1.0, 2.0])
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(nb.tensor([1, 2]))


# ----------------------------------------------------------------------------- registry
def test_named_parameters_buffers_children_modules():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "block.fc.weight", "block.fc.bias", "head.weight"]
    assert [n for n, _ in net.named_buffers()] == ["block.running", "block.scratch"]
    assert [n for n, _ in net.named_children()] == ["block", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "block", "block.fc", "block.drop", "head"]
    assert len(list(net.parameters(recurse=False))) == 1
    assert net.get_submodule("block.fc") is net.block.fc
    with pytest.raises(AttributeError, match="no submodule"):
        net.get_submodule("block.nope")


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 3


def test_setattr_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(nb.ones(2))
    m.sub = nn.Linear(1, 1)
    m.plain = 3
    assert "w" in m._parameters and "sub" in m._modules and m.plain == 3
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = nb.ones(2)
    m.w = None
    assert list(m.named_parameters())[0][0] == "sub.weight"
    m.register_buffer("buf", nb.zeros(1))
    m.buf = nb.ones(1)
    assert m.buf.tolist() == [1.0]
    with pytest.raises(TypeError, match="as buffer 'buf'"):
        m.buf = 5
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", nb.zeros(1))
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        _ = m.missing


def test_assigning_before_init_is_an_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(nb.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()


def test_forward_missing_and_call():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)
    assert Net()(nb.ones(5, 3)).shape == (5, 2)


# ----------------------------------------------------------------------------- modes
def test_train_eval_propagate_and_dropout_follows():
    net = Net()
    assert net.training and net.block.drop.training
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    x = nb.ones(4, 3)
    np.testing.assert_array_equal(net.block.drop(x).numpy(), x.numpy())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")


def test_zero_grad_and_requires_grad_():
    net = Net()
    net(nb.ones(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_module_forward_under_no_grad_records_nothing():
    with nb.no_grad():
        net = Net()
        y = net(nb.ones(2, 3))
    assert not y.requires_grad and y.grad_fn is None
    assert all(p.requires_grad for p in net.parameters())


# ----------------------------------------------------------------------------- state dicts
def test_state_dict_contents():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    # PyTorch's order: a module's own parameters and buffers, then its children's
    assert list(sd) == ["scale", "block.running", "block.fc.weight", "block.fc.bias",
                        "head.weight"]
    assert not any(v.requires_grad for v in sd.values())
    assert net.state_dict(keep_vars=True)["scale"] is net.scale
    np.testing.assert_array_equal(sd["block.fc.weight"].numpy(),
                                  net.block.fc.weight.detach().numpy())


def test_load_state_dict_round_trip_keeps_parameter_objects():
    a, b = Net(), Net()
    weight = b.block.fc.weight
    version = weight._version
    result = b.load_state_dict(a.state_dict())
    assert repr(result) == "<All keys matched successfully>"
    assert b.block.fc.weight is weight and weight._version == version + 1
    for (n1, p1), (_, p2) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p1.detach().numpy(), p2.detach().numpy(), err_msg=n1)
    x = nb.ones(3, 3)
    a.eval()
    b.eval()
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())


def test_load_state_dict_strict_errors_name_keys_and_shapes():
    net = Net()
    sd = net.state_dict()
    del sd["scale"]
    sd["extra"] = nb.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "scale"' in msg
    assert 'Unexpected key(s) in state_dict: "extra"' in msg
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["scale"] and result.unexpected_keys == ["extra"]

    bad = net.state_dict()
    bad["head.weight"] = nb.zeros(3, 4)
    before = net.block.fc.weight.detach().numpy().copy()
    bad["block.fc.weight"] = nb.zeros(4, 3)
    with pytest.raises(RuntimeError, match=r"size mismatch for head.weight: copying a param "
                                           r"with shape \(3, 4\).*current model is \(2, 4\)"):
        net.load_state_dict(bad, strict=False)
    # nothing was copied: the check runs before any write
    np.testing.assert_array_equal(net.block.fc.weight.detach().numpy(), before)
    bad = net.state_dict()
    bad["scale"] = [1.0]
    with pytest.raises(RuntimeError, match='"scale", expected a Tensor'):
        net.load_state_dict(bad)


def test_load_state_dict_assign_and_dtype_cast():
    net = nn.Linear(2, 2)
    sd = {"weight": nb.ones(2, 2, dtype=nb.float64), "bias": nb.zeros(2, dtype=nb.float64)}
    net.load_state_dict(sd)
    assert net.weight.dtype is nb.float32 and net.weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    net.load_state_dict(sd, assign=True)
    assert net.weight.dtype is nb.float64 and isinstance(net.weight, nn.Parameter)
    assert net.weight.requires_grad


# ----------------------------------------------------------------------------- to / dtype
def test_to_dtype_keeps_parameter_identity_and_grads():
    net = nn.Linear(3, 2)
    w = net.weight
    net(nb.ones(1, 3)).sum().backward()
    assert net.double() is net
    assert net.weight is w and w.dtype is nb.float64 and w.grad.dtype is nb.float64
    assert net(nb.ones(1, 3, dtype=nb.float64)).dtype is nb.float64
    net.to(nb.float32)
    assert w.dtype is nb.float32
    assert net.to("cpu") is net
    with pytest.raises(TypeError, match="floating point"):
        net.to(nb.int64)


def test_deepcopy_gives_independent_parameters():
    net = Net()
    twin = copy.deepcopy(net)
    assert twin.block.fc.weight is not net.block.fc.weight
    with nb.no_grad():
        twin.block.fc.weight.fill_(0.0)
    assert net.block.fc.weight.detach().numpy().any()
    assert isinstance(twin.scale, nn.Parameter) and twin.scale.requires_grad


# ----------------------------------------------------------------------------- repr
def test_nested_repr():
    net = nn.Sequential(OrderedDict(
        body=nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.LayerNorm(16), nn.Dropout(0.1)),
        act=nn.ReLU(), head=nn.Linear(16, 4, bias=False), out=nn.Softmax(dim=-1)))
    assert repr(net) == (
        "Sequential(\n"
        "  (body): Sequential(\n"
        "    (0): Linear(in_features=8, out_features=16, bias=True)\n"
        "    (1): GELU(approximate='none')\n"
        "    (2): LayerNorm((16,), eps=1e-05, elementwise_affine=True, bias=True)\n"
        "    (3): Dropout(p=0.1, inplace=False)\n"
        "  )\n"
        "  (act): ReLU()\n"
        "  (head): Linear(in_features=16, out_features=4, bias=False)\n"
        "  (out): Softmax(dim=-1)\n"
        ")"
    )
    assert repr(nn.Embedding(10, 3, padding_idx=0)) == "Embedding(10, 3, padding_idx=0)"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


# ----------------------------------------------------------------------------- containers
def test_sequential_indexing_and_forward():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    x = nb.randn(4, 2)
    expected = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(seq(x).detach().numpy(), expected.detach().numpy())
    seq.append(nn.Sigmoid())
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    del seq[3]
    assert len(seq) == 3
    with pytest.raises(IndexError, match="out of range"):
        seq[5]


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.Tanh())
    layers.insert(0, nn.ReLU())
    assert [type(m).__name__ for m in layers] == ["ReLU", "Linear", "Linear", "Linear", "Tanh"]
    del layers[0]
    assert [n for n, _ in layers.named_children()] == ["0", "1", "2", "3"]
    assert isinstance(layers[1:], nn.ModuleList) and len(layers[1:]) == 3
    layers += [nn.Sigmoid()]
    assert len(layers) == 5

    class Stack(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(2, 2) for _ in range(2))

    assert [n for n, _ in Stack().named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]


# ----------------------------------------------------------------------------- layers
def test_linear_default_init_bounds_and_values():
    nb.manual_seed(0)
    fc = nn.Linear(100, 50)
    bound = 1 / math.sqrt(100)
    w, b = fc.weight.detach().numpy(), fc.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound
    x = np.random.default_rng(0).standard_normal((4, 100)).astype(np.float32)
    np.testing.assert_allclose(fc(nb.tensor(x)).detach().numpy(), x @ w.T + b, rtol=1e-5,
                               atol=1e-6)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert fc(nb.ones(7, 2, 100)).shape == (7, 2, 50)


def test_linear_init_is_reproducible_with_manual_seed():
    nb.manual_seed(5)
    a = nn.Linear(4, 4).weight.detach().numpy().copy()
    nb.manual_seed(5)
    b = nn.Linear(4, 4).weight.detach().numpy()
    np.testing.assert_array_equal(a, b)


def test_embedding_layer():
    emb = nn.Embedding(5, 3, padding_idx=-1)
    assert emb.padding_idx == 4
    assert not emb.weight.detach().numpy()[4].any()
    out = emb(nb.tensor([[4, 1]]))
    assert out.shape == (1, 2, 3)
    out.sum().backward()
    assert not emb.weight.grad.numpy()[4].any() and emb.weight.grad.numpy()[1].all()
    with pytest.raises(AssertionError, match="Padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)


def test_layernorm_layer():
    ln = nn.LayerNorm(4)
    x = nb.randn(3, 4)
    y = ln(x).detach().numpy()
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-6)
    np.testing.assert_allclose(y.var(-1), 1, atol=1e-3)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    assert list(nn.LayerNorm(4, elementwise_affine=False).parameters()) == []


@pytest.mark.parametrize("layer, ref", [
    (nn.ReLU(), lambda a: np.maximum(a, 0)),
    (nn.Tanh(), np.tanh),
    (nn.Sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
    (nn.SiLU(), lambda a: a / (1 + np.exp(-a))),
    (nn.Softmax(dim=1), lambda a: np.exp(a) / np.exp(a).sum(1, keepdims=True)),
    (nn.Identity(), lambda a: a),
    (nn.Flatten(), lambda a: a.reshape(len(a), -1)),
])
def test_activation_layers(layer, ref):
    a = np.random.default_rng(2).standard_normal((3, 4))
    out = layer(nb.tensor(a, dtype=nb.float64)).numpy()
    np.testing.assert_allclose(out, ref(a), rtol=1e-10)


def test_loss_modules():
    logits, target = nb.randn(4, 3), nb.tensor([0, 2, 1, 2])
    a = nn.CrossEntropyLoss(label_smoothing=0.1)(logits, target)
    b = nb.nn.functional.cross_entropy(logits, target, label_smoothing=0.1)
    assert a.item() == b.item()
    w = nb.tensor([1.0, 2.0, 3.0])
    loss = nn.CrossEntropyLoss(weight=w)
    assert "weight" in loss.state_dict()
    assert nn.CrossEntropyLoss(reduction="none")(logits, target).shape == (4,)
    x, y = nb.randn(5), nb.randn(5)
    np.testing.assert_allclose(nn.MSELoss()(x, y).item(),
                               ((x.numpy() - y.numpy()) ** 2).mean(), rtol=1e-6)
    np.testing.assert_allclose(nn.L1Loss(reduction="sum")(x, y).item(),
                               np.abs(x.numpy() - y.numpy()).sum(), rtol=1e-6)
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="total")


# ----------------------------------------------------------------------------- init
def test_init_functions():
    nb.manual_seed(0)
    w = nn.Parameter(nb.empty(200, 100))
    before = w._version
    assert nn.init.uniform_(w, -2, 3) is w
    v = w.detach().numpy()
    assert v.min() >= -2 and v.max() < 3 and w._version == before + 1
    nn.init.normal_(w, 1.0, 0.5)
    assert abs(w.detach().numpy().mean() - 1.0) < 0.02
    assert abs(w.detach().numpy().std() - 0.5) < 0.02
    nn.init.constant_(w, 0.3)
    assert np.all(w.detach().numpy() == np.float32(0.3))
    nn.init.zeros_(w)
    assert not w.detach().numpy().any()
    nn.init.ones_(w)
    assert np.all(w.detach().numpy() == 1)
    nn.init.xavier_uniform_(w)
    assert np.abs(w.detach().numpy()).max() <= math.sqrt(6 / 300)
    nn.init.kaiming_uniform_(w, nonlinearity="relu")
    assert np.abs(w.detach().numpy()).max() <= math.sqrt(2) * math.sqrt(3 / 100)
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.detach().numpy().std() - math.sqrt(2 / 200)) < 0.01
    nn.init.xavier_normal_(w)
    assert abs(w.detach().numpy().std() - math.sqrt(2 / 300)) < 0.01
    assert w.requires_grad and w.is_leaf


def test_init_gain_and_fan_errors():
    assert nn.init.calculate_gain("relu") == math.sqrt(2)
    assert nn.init.calculate_gain("tanh") == 5 / 3
    assert nn.init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(nb.zeros(3))
    with pytest.raises(ValueError, match="Mode"):
        nn.init.kaiming_uniform_(nb.zeros(2, 2), mode="fan_avg")
