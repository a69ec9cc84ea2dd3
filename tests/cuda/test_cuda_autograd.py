"""The autograd rules do not depend on the device: grad modes, version counters, inference
tensors, views and in-place checks run on the CPU and on the GPU (``device`` fixture), plus the
device API itself (``to``/``cuda``/``cpu``, factories, ``nb.cuda``, mixing devices)."""

from __future__ import annotations

import numpy as np
import pytest
from cuda_helpers import assert_same, host, pair

import nbgrad as nb
from nbgrad import errors


# ------------------------------------------------------------------ the same rules on both devices
def test_grad_modes(device):
    x = nb.tensor([1.0, 2.0], device=device, requires_grad=True)
    with nb.no_grad():
        y = x * 2
        with nb.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn.name() == "MulBackward0"
    with nb.set_grad_enabled(False):
        assert not (x + 1).requires_grad
    assert y.device == x.device == z.device


def test_inference_tensors(device):
    x = nb.tensor([1.0, 2.0], device=device, requires_grad=True)
    with nb.inference_mode():
        y = x * 2
        y.add_(1)  # allowed inside inference mode
    assert y.is_inference() and not y.requires_grad
    assert y.device == x.device
    with pytest.raises(errors.InferenceTensorError, match="Inference tensors do not track"):
        _ = y._version
    with pytest.raises(errors.InferenceTensorError):
        y.add_(1)
    with pytest.raises(errors.InferenceTensorError):
        (x * y).sum().backward()  # saving an inference tensor for backward
    np.testing.assert_allclose(host(y), [3.0, 5.0])


def test_version_counters_and_views(device):
    x = nb.zeros(2, 3, device=device)
    v = x[1]
    assert x._version == v._version == 0
    v.add_(1)
    x.mul_(2)
    assert x._version == v._version == 2
    np.testing.assert_allclose(host(x), [[0, 0, 0], [2, 2, 2]])


def test_modified_saved_tensor_is_detected(device):
    a = nb.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = a * 1
    c = b * b
    b.add_(1)
    with pytest.raises(errors.VersionMismatchError, match="modified by an inplace operation"):
        c.sum().backward()


def test_in_place_on_a_leaf_is_refused(device):
    a = nb.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(errors.InplaceError, match="leaf Variable"):
        a.add_(1)


def test_view_written_in_place_routes_gradients(device):
    a = nb.tensor([1.0, 2.0, 3.0, 4.0], device=device, requires_grad=True)
    b = a * 1
    b[1:3].mul_(10)
    (b * b).sum().backward()
    np.testing.assert_allclose(host(a.grad), [2.0, 400.0, 600.0, 8.0])
    assert a.grad.device == a.device


def test_higher_order_gradients_and_hooks(device):
    x = nb.tensor([0.5, 1.5], device=device, dtype=nb.float64, requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.device) or g)
    y = (x ** 3).sum()
    (g,) = nb.autograd.grad(y, x, create_graph=True)
    g.sum().backward()
    np.testing.assert_allclose(host(x.grad), 6 * np.array([0.5, 1.5]))
    assert seen and all(d == x.device for d in seen)


def test_retain_grad_and_accumulation(device):
    x = nb.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x.exp()
    h.retain_grad()
    h.sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(host(h.grad), [1.0, 1.0])
    np.testing.assert_allclose(host(x.grad), np.exp([1.0, 2.0]) + 3, rtol=1e-6)


# ------------------------------------------------------------------ the device API
@pytest.mark.cuda
def test_to_cuda_and_back_is_differentiable():
    x = nb.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.cuda()
    assert y.is_cuda and y.device == nb.device("cuda", 0) and str(y.device) == "cuda:0"
    assert y.grad_fn.name() == "ToCopyBackward0"
    z = (y * y).cpu()
    assert z.device == nb.device("cpu") and not z.is_cuda
    z.sum().backward()
    assert x.grad.device == nb.device("cpu")
    np.testing.assert_allclose(host(x.grad), [2.0, 4.0, 6.0])
    g = nb.ones(2, device="cuda", requires_grad=True)
    g.to("cpu").sum().backward()
    assert g.grad.is_cuda
    assert y.cuda() is y and y.to("cuda:0") is y and x.cpu() is x
    assert x.to("cuda", nb.float64).dtype is nb.float64


@pytest.mark.cuda
def test_numpy_refuses_and_host_conversions_work():
    x = nb.tensor([[1.5, 2.0]], device="cuda")
    with pytest.raises(TypeError, match="can't convert cuda:0 device tensor to numpy"):
        x.numpy()
    with pytest.raises(TypeError, match="copy"):
        np.asarray(x._data)
    assert x.tolist() == [[1.5, 2.0]]
    assert x[0, 0].item() == 1.5 and float(x[0, 1]) == 2.0
    assert "device='cuda:0'" in repr(x)


@pytest.mark.cuda
def test_mixing_devices_names_both():
    a, b = nb.ones(2), nb.ones(2, device="cuda")
    with pytest.raises(errors.DeviceMismatchError, match="cuda:0 and cpu|cpu and cuda:0"):
        a + b
    with pytest.raises(errors.DeviceMismatchError, match="cuda:0 and cpu|cpu and cuda:0"):
        b.add_(a)


@pytest.mark.cuda
def test_factories_on_the_gpu():
    for fn in (lambda d: nb.zeros(2, 3, device=d), lambda d: nb.ones(2, dtype=nb.int64, device=d),
               lambda d: nb.full((2,), 7, device=d), lambda d: nb.arange(1, 7, 2, device=d),
               lambda d: nb.eye(3, device=d), lambda d: nb.linspace(0, 1, 5, device=d),
               lambda d: nb.zeros_like(nb.ones(2, device=d)), lambda d: nb.empty(0, device=d),
               lambda d: nb.tensor(True, device=d), lambda d: nb.full((), 2.5, device=d)):
        assert_same(fn("cpu"), fn("cuda"))
    t = nb.ones(3, device="cuda", requires_grad=True)
    assert t.is_leaf and t.requires_grad and t.is_cuda
    for fn in (lambda d: nb.rand(3, 2, device=d), lambda d: nb.randn(4, device=d),
               lambda d: nb.randint(0, 10, (5,), device=d)):
        nb.manual_seed(123)
        c = fn("cpu")
        nb.manual_seed(123)
        assert_same(c, fn("cuda"))  # the same host generator feeds both devices


@pytest.mark.cuda
def test_nb_cuda_module():
    assert nb.cuda.is_available()
    assert nb.cuda.device_count() >= 1
    nb.cuda.synchronize()
    nb.cuda.manual_seed(5)
    a = nb.rand(3, device="cuda")
    nb.cuda.manual_seed(5)
    assert host(a).tolist() == host(nb.rand(3, device="cuda")).tolist()


def test_nb_cuda_without_a_gpu(monkeypatch):
    monkeypatch.setattr(nb.cuda, "is_available", lambda: False)
    assert nb.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        nb.cuda.synchronize()


@pytest.mark.cuda
def test_contiguity_strides_and_metadata_match_cpu():
    xc, xg = pair(np.arange(24.0).reshape(2, 3, 4), nb.float32)
    for fn in (lambda x: x, lambda x: x.t() if x.ndim == 2 else x.transpose(0, 2),
               lambda x: x[:, 1:, ::2], lambda x: x.unsqueeze(1).expand(2, 5, 3, 4)):
        c, g = fn(xc), fn(xg)
        assert c.stride() == g.stride() and c.is_contiguous() == g.is_contiguous()
        assert c.shape == g.shape and c.numel() == g.numel()
    assert xg.element_size() == 4 and xg.dim() == 3


def test_cuda_tensors_without_a_gpu_fail_clearly():
    if nb.cuda.is_available():
        pytest.skip("a GPU (or the simulator) is available")
    with pytest.raises(RuntimeError, match="CUDA is not available.*NUMBA_ENABLE_CUDASIM"):
        nb.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        nb.ones(2).cuda()


# ------------------------------------------- gradcheck keywords and forward mode on the device
def test_gradcheck_keywords_on_the_device(device):
    x = nb.tensor([0.5, 1.5], dtype=nb.float64, device=device, requires_grad=True)
    assert nb.autograd.gradcheck(lambda t: (t * t).sin(), (x,), fast_mode=True,
                                 check_forward_ad=True, check_batched_grad=True)
    assert nb.autograd.gradgradcheck(lambda t: (t * t * t).sum(), (x,))
    assert not nb.autograd.gradcheck(lambda t: t.detach() * t, (x,), raise_exception=False)
    assert x.device == device and x._version == 0  # perturbed and restored in place


def test_forward_mode_on_the_device(device):
    import nbgrad.autograd.forward_ad as fwAD

    x = nb.tensor([0.0, 1.0], device=device)
    with fwAD.dual_level():
        d = fwAD.make_dual(x, nb.ones(2, device=device))
        primal, tangent = fwAD.unpack_dual((d * d).exp())
    assert tangent.device == device
    np.testing.assert_allclose(host(tangent), 2 * host(x) * np.exp(host(x) ** 2), rtol=1e-6)
