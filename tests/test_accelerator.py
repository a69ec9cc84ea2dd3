"""nb.accelerator: agrees with nb.cuda, and says None/0 without a usable GPU."""

import pytest

import nbgrad as nb


def test_accelerator_agrees_with_cuda():
    assert nb.accelerator.is_available() == nb.cuda.is_available()
    acc = nb.accelerator.current_accelerator(check_available=True)
    if nb.cuda.is_available():
        assert acc.type == "cuda" and nb.accelerator.device_count() == nb.cuda.device_count()
    else:
        assert acc is None and nb.accelerator.device_count() == 0
    assert nb.accelerator.current_device_index() == 0
    nb.accelerator.synchronize()
    with pytest.raises(RuntimeError, match="device 0 only, got index 3"):
        nb.accelerator.set_device_index(3)
