"""Exact resume: train N steps, checkpoint, get SIGKILLed, resume M steps in a new process —
the parameters are bit-identical to N + M steps without interruption (SGD with momentum, Adam,
AdamW with a scheduler; a shuffling DataLoader on the global generator, dropout, and numpy's
global generator all in play)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

CHILD = r"""
import os, signal, sys
import numpy as np
import nbgrad as nb
import nbgrad.nn.functional as F
from nbgrad.utils.data import DataLoader, TensorDataset
from nbgrad.utils.resume import ResumableLoader, checkpoint_state, restore_state

mode, opt_name, ckpt, out = sys.argv[1:5]
N, M = 7, 6

class HalveEvery3:  # a scheduler-shaped object (nb.optim.lr_scheduler's when it exists)
    def __init__(self, opt):
        self.opt, self.count = opt, 0
    def step(self):
        self.count += 1
        if self.count % 3 == 0:
            for g in self.opt.param_groups:
                g["lr"] *= 0.5
    def state_dict(self):
        return {"count": self.count, "lrs": [g["lr"] for g in self.opt.param_groups]}
    def load_state_dict(self, s):
        self.count = s["count"]
        for g, lr in zip(self.opt.param_groups, s["lrs"]):
            g["lr"] = lr

nb.manual_seed(0)
np.random.seed(0)
X = nb.tensor(np.random.default_rng(1).standard_normal((40, 5)))
Y = nb.tensor(np.random.default_rng(2).integers(0, 3, 40))
model = nb.nn.Sequential(nb.nn.Linear(5, 8), nb.nn.ReLU(), nb.nn.Dropout(0.3),
                         nb.nn.Linear(8, 3)).double()
if opt_name == "sgd":
    opt = nb.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
elif opt_name == "adam":
    opt = nb.optim.Adam(model.parameters(), lr=0.01)
else:
    opt = nb.optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.1)
sched = HalveEvery3(opt) if opt_name == "adamw" else None
if sched is not None and hasattr(nb.optim, "lr_scheduler"):
    sched = nb.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
loader = ResumableLoader(DataLoader(TensorDataset(X, Y), batch_size=8, shuffle=True))
step = 0
if mode == "resume":
    step = restore_state(nb.load(ckpt), model=model, optimizer=opt, scheduler=sched,
                         loader=loader)["step"]
total = N + M
while step < total:
    for xb, yb in loader:
        noise = nb.tensor(np.random.normal(0.0, 0.01, xb.shape))  # numpy's global generator
        loss = F.cross_entropy(model(xb + noise), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        step += 1
        if mode == "part" and step == N:
            nb.save(checkpoint_state(model=model, optimizer=opt, scheduler=sched,
                                     loader=loader, step=step), ckpt)
        if mode == "part" and step == N + 2:
            os.kill(os.getpid(), signal.SIGKILL)   # a real crash, after more training
        if step == total:
            break
np.savez(out, *[p.detach().numpy() for p in model.parameters()])
"""


def _run(tmp_path, *args, expect_kill=False):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(script), *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if expect_kill:
        assert proc.returncode == -signal.SIGKILL, proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "adamw"])
def test_killed_and_resumed_run_is_bit_identical(tmp_path, opt_name):
    ckpt = tmp_path / "ckpt.nbz"
    _run(tmp_path, "full", opt_name, ckpt, tmp_path / "full.npz")
    _run(tmp_path, "part", opt_name, ckpt, tmp_path / "never.npz", expect_kill=True)
    assert ckpt.exists() and not (tmp_path / "never.npz").exists()
    _run(tmp_path, "resume", opt_name, ckpt, tmp_path / "resumed.npz")
    full, resumed = np.load(tmp_path / "full.npz"), np.load(tmp_path / "resumed.npz")
    assert len(full.files) == 4
    for k in full.files:
        assert np.array_equal(full[k], resumed[k]), k  # bit for bit


def test_resume_without_the_rng_state_differs(tmp_path):
    """The test above can fail: dropping the global RNG state changes the result."""
    import nbgrad as nb
    from nbgrad.utils.data import DataLoader, TensorDataset
    from nbgrad.utils.resume import ResumableLoader, checkpoint_state, restore_state

    def batches(it, k):
        return [next(it)[0].tolist() for _ in range(k)]

    nb.manual_seed(0)
    loader = ResumableLoader(DataLoader(TensorDataset(nb.arange(20)), batch_size=4,
                                        shuffle=True))
    it = iter(loader)
    batches(it, 2)
    state = checkpoint_state(loader=loader)
    rest = batches(it, 3)
    fresh = ResumableLoader(DataLoader(TensorDataset(nb.arange(20)), batch_size=4,
                                       shuffle=True))
    nb.manual_seed(123)
    restore_state(state, loader=fresh)
    assert batches(iter(fresh), 3) == rest
    fresh = ResumableLoader(DataLoader(TensorDataset(nb.arange(20)), batch_size=4,
                                       shuffle=True))
    nb.manual_seed(123)
    assert batches(iter(fresh), 3) != rest
    with pytest.raises(ValueError, match="holds 1 loaders, 0 given"):
        restore_state(state)
