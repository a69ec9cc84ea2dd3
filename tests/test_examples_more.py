"""The CNN digits example, small: it trains (loss falls), learns something, and runs its
DataLoader with 2 worker processes."""

from __future__ import annotations

import pytest


def test_digits_cnn_trains_small():
    pytest.importorskip("sklearn")
    from nbgrad.examples import digits_cnn

    lines = []
    result = digits_cnn.run(epochs=2, width=8, limit=256, workers=2, log=lines.append)
    assert len(result["losses"]) == 2 and result["losses"][1] < result["losses"][0]
    assert result["test_accuracy"] > 0.3  # 10 classes: well above chance after 2 short epochs
    assert lines[-1].startswith("test accuracy")
