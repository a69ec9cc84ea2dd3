"""A small CNN on scikit-learn's 8x8 handwritten digits: Conv2d + BatchNorm2d + ReLU + MaxPool,
Dropout, AdamW with a OneCycleLR schedule, and a DataLoader with 2 worker processes.

    python -m nbgrad.examples.digits_cnn [--epochs 15] [--batch-size 32] [--workers 2] [--seed 0]

Prints the loss per epoch and the final test accuracy (about 98-99 % with the defaults).
"""

from __future__ import annotations

import argparse

import numpy as np

import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad import nn
from nbgrad.optim.lr_scheduler import OneCycleLR
from nbgrad.utils.data import DataLoader, TensorDataset


def load_images(seed: int):
    """Standardised ``(N, 1, 8, 8)`` float32 train/test images and int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X.astype(np.float32) / 16.0 - 0.5) / 0.5
    X_train, X_test, y_train, y_test = train_test_split(
        X.reshape(-1, 1, 8, 8), y.astype(np.int64), test_size=0.2, random_state=seed, stratify=y)
    return X_train, y_train, X_test, y_test


def build_model(width: int = 32, dropout: float = 0.25) -> nn.Module:
    """conv-bn-relu x2, 2x2 max-pool, conv-bn-relu, pool, dropout, linear."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width * 4, 10),
    )


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of ``model`` (in eval mode) on ``X``, ``y``."""
    model.eval()
    with nb.inference_mode():
        pred = model(nb.tensor(X)).argmax(1).numpy()
    return float((pred == y).mean())


def run(epochs: int = 15, batch_size: int = 32, lr: float = 3e-3, workers: int = 2,
        width: int = 32, seed: int = 0, log=print, limit: int | None = None) -> dict:
    """Train and evaluate; returns ``{"test_accuracy", "losses"}``."""
    nb.manual_seed(seed)
    X_train, y_train, X_test, y_test = load_images(seed)
    if limit is not None:
        X_train, y_train = X_train[:limit], y_train[:limit]
    train = TensorDataset(nb.tensor(X_train), nb.tensor(y_train))
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, num_workers=workers,
                        generator=np.random.default_rng(seed), persistent_workers=workers > 0)
    model = build_model(width)
    opt = nb.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=len(loader))
    losses = []
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(yb)
            count += len(yb)
        losses.append(total / count)
        log(f"epoch {epoch + 1}/{epochs}  loss {losses[-1]:.4f}  lr {sched.get_last_lr()[0]:.2e}")
    acc = evaluate(model, X_test, y_test)
    log(f"test accuracy {acc:.4f}")
    return {"test_accuracy": acc, "losses": losses}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run(args.epochs, args.batch_size, args.lr, args.workers, seed=args.seed)


if __name__ == "__main__":
    main()
