"""Train an MLP on scikit-learn's handwritten digits with nbgrad -- the main job.

    python -m nbgrad.examples.digits [--epochs 20] [--batch-size 64] [--lr 1e-3] [--seed 0]
                                     [--device cpu] [--out ./digits-run]
    mpiexec -n 2 python -m nbgrad.examples.digits --distributed   # data-parallel on MPI

Real data shipped inside scikit-learn (1797 8x8 images, no network). The script standardises
the pixels, splits train/test with the seed, trains with Adam and cross-entropy (a tqdm bar per
epoch), evaluates under ``nb.inference_mode()`` with the model in ``eval()``, saves the weights
with ``nb.save``, reloads them into a fresh model to show the same test accuracy, and writes a
PNG plot of loss and accuracy per epoch. The same seed gives the same run.

With ``--distributed`` (under ``mpiexec`` or ``python -m nbgrad.distributed.run``) every rank
trains a DistributedDataParallel replica on its DistributedSampler share of each epoch, with
``--batch-size`` images per rank per step; rank 0 logs and saves. Training stops with the name of
the first parameter holding NaN or inf instead of saving such weights.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import nbgrad as nb
import nbgrad.distributed as dist
import nbgrad.nn.functional as F
from nbgrad import nn
from nbgrad.distributed.sampler import DistributedSampler
from nbgrad.examples._guard import check_finite
from nbgrad.nn.parallel import DistributedDataParallel
from nbgrad.utils.data import DataLoader, Subset, TensorDataset


def load_digits_split(seed: int, test_size: float = 0.2):
    """Standardised (train, test) arrays of the digits data set, split with ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X.astype(np.float32), y.astype(np.int64), test_size=test_size, random_state=seed,
        stratify=y,
    )
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std[std == 0] = 1.0  # border pixels that are always 0 in the training split
    return (X_train - mean) / std, y_train, (X_test - mean) / std, y_test


def build_model(hidden: int = 128, dropout: float = 0.1) -> nn.Module:
    """A two-hidden-layer MLP for 64 pixels -> 10 classes."""
    return nn.Sequential(
        nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, 10),
    )


def evaluate(model: nn.Module, loader: DataLoader) -> tuple[float, float]:
    """(mean loss, accuracy) over ``loader``, in eval mode and under inference_mode."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with nb.inference_mode():
        for xb, yb in loader:
            logits = model(xb)
            total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
            count += yb.shape[0]
    return total_loss / count, correct / count


def train_epoch(model, loader, optimizer, desc: str, progress: bool) -> tuple[float, float]:
    """One pass over ``loader``; returns the (mean loss, accuracy) seen while training."""
    from tqdm.auto import tqdm

    model.train()
    total_loss, correct, count = 0.0, 0, 0
    bar = tqdm(loader, desc=desc, leave=False, disable=None if progress else True)
    for xb, yb in bar:
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        n = yb.shape[0]
        value = loss.item()
        if not np.isfinite(value):
            check_finite(model, f"({desc})", value)
        total_loss += value * n
        with nb.no_grad():
            correct += (logits.argmax(1) == yb).sum().item()
        count += n
        bar.set_postfix(loss=f"{total_loss / count:.4f}")
    bar.close()
    return total_loss / count, correct / count


def plot_history(history: dict, path: str) -> None:
    """Write a PNG with loss and accuracy per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["train_loss"], label="train")
    ax_loss.plot(epochs, history["test_loss"], label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    ax_acc.plot(epochs, history["train_acc"], label="train")
    ax_acc.plot(epochs, history["test_acc"], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("nbgrad MLP on scikit-learn digits")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _one_blas_thread():
    """A context limiting BLAS to one thread (threadpoolctl ships with scikit-learn).

    The MLP's matrices are tiny (at most 256 x 128): a second BLAS thread saves microseconds
    on an idle machine, and on a busy one the threads wait on each other (3-4x slower here).
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn always brings it
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run(epochs: int = 20, batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
        device: str = "cpu", out: str | None = "digits-run", hidden: int = 128,
        progress: bool = True, plot: bool = True, log=print, distributed: bool = False) -> dict:
    """Train, evaluate, save, reload and plot; returns the figures of the run."""
    with _one_blas_thread():
        return _run(epochs, batch_size, lr, seed, device, out, hidden, progress, plot, log,
                    distributed)


def _run(epochs, batch_size, lr, seed, device, out, hidden, progress, plot, log,
         distributed=False) -> dict:
    start = time.perf_counter()
    if distributed:
        if not dist.is_initialized():
            dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
        if rank != 0:  # rank 0 speaks and writes for the job
            log, out, progress = (lambda *a, **k: None), None, False
    nb.manual_seed(seed)
    X_train, y_train, X_test, y_test = load_digits_split(seed)
    train_ds = TensorDataset(nb.tensor(X_train, device=device), nb.tensor(y_train, device=device))
    test_ds = TensorDataset(nb.tensor(X_test, device=device), nb.tensor(y_test, device=device))
    train_loader = DataLoader(train_ds, batch_size=batch_size, shuffle=True, seed=seed)
    test_loader = DataLoader(test_ds, batch_size=256)

    model = build_model(hidden).to(device)
    trained = model
    sampler = None
    if distributed:
        trained = DistributedDataParallel(model)
        sampler = DistributedSampler(train_ds, seed=seed)
        log(f"data-parallel on {world} ranks, {batch_size} images per rank per step")
    optimizer = nb.optim.Adam(trained.parameters(), lr=lr)
    log(f"{len(train_ds)} training / {len(test_ds)} test images; model:\n{model}")

    history: dict = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}
    for epoch in range(1, epochs + 1):
        if sampler is not None:
            sampler.set_epoch(epoch)
            train_loader = DataLoader(Subset(train_ds, list(sampler)), batch_size=batch_size)
        train_loss, train_acc = train_epoch(trained, train_loader, optimizer,
                                            f"epoch {epoch}/{epochs}", progress)
        check_finite(model, f"after epoch {epoch}")
        test_loss, test_acc = evaluate(model, test_loader)
        for key, value in zip(history, (train_loss, train_acc, test_loss, test_acc)):
            history[key].append(value)
        log(f"epoch {epoch:3d}/{epochs}  train loss {train_loss:.4f}  train acc "
            f"{train_acc:.2%}  test loss {test_loss:.4f}  test acc {test_acc:.2%}")

    result = {"test_accuracy": history["test_acc"][-1], "history": history}
    if out is not None:
        os.makedirs(out, exist_ok=True)
        weights = os.path.join(out, "digits_mlp.nbz")
        nb.save(model.state_dict(), weights)
        fresh = build_model(hidden).to(device)
        fresh.load_state_dict(nb.load(weights))
        _, reloaded = evaluate(fresh, test_loader)
        result.update(weights=weights, reloaded_accuracy=reloaded)
        log(f"saved weights to {weights}; reloaded model test accuracy {reloaded:.2%}")
        if plot:
            figure = os.path.join(out, "digits_training.png")
            plot_history(history, figure)
            result["plot"] = figure
            log(f"wrote {figure}")
    result["seconds"] = time.perf_counter() - start
    log(f"test accuracy {result['test_accuracy']:.2%} in {result['seconds']:.1f} s")
    if distributed:
        dist.barrier()
    return result


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--hidden", type=int, default=128, help="width of the hidden layers")
    parser.add_argument("--out", default="digits-run", help="directory for weights and plot")
    parser.add_argument("--distributed", action="store_true",
                        help="data-parallel over the ranks of mpiexec (nbgrad.distributed)")
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as exc:
        print(f"this example needs scikit-learn, tqdm and matplotlib: pip install "
              f"'nbgrad[examples]' ({exc})", file=sys.stderr)
        return 2
    result = run(args.epochs, args.batch_size, args.lr, args.seed, args.device, args.out,
                 args.hidden, distributed=args.distributed)
    if "reloaded_accuracy" in result and result["reloaded_accuracy"] != result["test_accuracy"]:
        print("error: the reloaded model does not reproduce the test accuracy", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
