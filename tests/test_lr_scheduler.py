"""nb.optim.lr_scheduler: each schedule's learning rates step by step against the closed-form
formulas of PyTorch's documentation (checked against torch 2.13 when written), warnings and
state dicts."""

from __future__ import annotations

import math
import warnings

import pytest

import nbgrad as nb
from nbgrad.optim import lr_scheduler as S


def opt(lr=1.0, **kw):
    return nb.optim.SGD([nb.nn.Parameter(nb.ones(1))], lr=lr, momentum=0.9, **kw)


def run(o, s, n=12):
    """lrs after construction and after each of ``n`` steps."""
    out = [o.param_groups[0]["lr"]]
    for _ in range(n):
        o.step()
        s.step()
        out.append(o.param_groups[0]["lr"])
        assert s.get_last_lr() == [o.param_groups[0]["lr"]]
    return out


def close(a, b):
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15), (i, x, y)


def test_simple_schedules_follow_their_closed_forms():
    o = opt()
    close(run(o, S.StepLR(o, 3, 0.5)), [0.5 ** (e // 3) for e in range(13)])
    o = opt()
    close(run(o, S.MultiStepLR(o, [2, 5, 5, 9], 0.3)),
          [0.3 ** (int(e >= 2) + 2 * int(e >= 5) + int(e >= 9)) for e in range(13)])
    o = opt()
    close(run(o, S.ExponentialLR(o, 0.8)), [0.8 ** e for e in range(13)])
    o = opt()
    close(run(o, S.ConstantLR(o, 0.25, 4)), [0.25 if e < 4 else 1.0 for e in range(13)])
    o = opt()
    close(run(o, S.LinearLR(o, 0.2, 0.9, 6)), [0.2 + 0.7 * min(e, 6) / 6 for e in range(13)])
    o = opt()
    close(run(o, S.PolynomialLR(o, 7, 2.0)), [(1 - min(e, 7) / 7) ** 2 for e in range(13)])
    o = opt()
    close(run(o, S.LambdaLR(o, lambda e: 1 / (e + 1))), [1 / (e + 1) for e in range(13)])
    o = opt()
    close(run(o, S.MultiplicativeLR(o, lambda e: 0.95)), [0.95 ** e for e in range(13)])


def test_cosine_annealing_and_warm_restarts():
    o = opt()
    lo, t = 0.01, 4
    # within the first half period the recursive form equals the closed form; past T_max it
    # keeps going (PyTorch's recursive cosine), back up to base_lr at 2 T_max
    close(run(o, S.CosineAnnealingLR(o, t, lo), 8),
          [lo + (1 - lo) * (1 + math.cos(math.pi * e / t)) / 2 for e in range(9)])
    o = opt()
    lrs = run(o, S.CosineAnnealingWarmRestarts(o, 3, 2, 0.05), 12)
    t_cur, t_i, expect = 0, 3, []
    for _ in range(13):
        expect.append(0.05 + 0.95 * (1 + math.cos(math.pi * t_cur / t_i)) / 2)
        t_cur += 1
        if t_cur >= t_i:
            t_cur, t_i = t_cur - t_i, t_i * 2
    close(lrs, expect)
    o = nb.optim.SGD([nb.nn.Parameter(nb.ones(1))], lr=1.0)
    s = S.CosineAnnealingWarmRestarts(o, 3, 2)
    s.step(10.5)  # epochs 0-2, 3-8, 9-20: T_cur = 1.5 of T_i = 12
    close(s.get_last_lr(), [(1 + math.cos(math.pi * 1.5 / 12)) / 2])


def test_cyclic_lr_and_momentum():
    o = opt()
    lrs = run(o, S.CyclicLR(o, 0.1, 1.0, step_size_up=3, step_size_down=2, mode="triangular2"))
    expect = []
    for e in range(13):
        cycle = math.floor(1 + e / 5)
        x = 1 + e / 5 - cycle
        f = x / 0.6 if x <= 0.6 else (x - 1) / (0.6 - 1)
        expect.append(0.1 + 0.9 * f / 2 ** (cycle - 1))
    close(lrs, expect)
    assert math.isclose(o.param_groups[0]["momentum"],
                        0.9 - 0.1 * ((1 + 12 / 5 - 3) / 0.6) / 4)  # cycle 3, rising
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        S.CyclicLR(nb.optim.Optimizer([nb.nn.Parameter(nb.ones(1))], {"lr": 1.0}), 0.1, 1.0)


def test_one_cycle():
    o = opt()
    lrs = run(o, S.OneCycleLR(o, 2.0, total_steps=15), 14)
    init, lo = 2.0 / 25, 2.0 / 25 / 1e4
    cos = lambda a, b, p: b + (a - b) / 2 * (math.cos(math.pi * p) + 1)  # noqa: E731
    end1 = 0.3 * 15 - 1
    expect = [cos(init, 2.0, e / end1) if e <= end1 else cos(2.0, lo, (e - end1) / (14 - end1))
              for e in range(15)]
    close(lrs, expect)
    assert math.isclose(o.param_groups[0]["momentum"], 0.95)
    o = opt()
    short = S.OneCycleLR(o, 2.0, total_steps=2)
    o.step()
    short.step()
    short.step()
    with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total "
                                         "steps is 2"):
        short.step()
    with pytest.raises(ValueError, match="You must define either total_steps"):
        S.OneCycleLR(opt(), 1.0)


def test_reduce_on_plateau():
    o = nb.optim.SGD([nb.nn.Parameter(nb.ones(1))], lr=1.0)
    s = S.ReduceLROnPlateau(o, patience=2, factor=0.5, cooldown=1, threshold=0.1)
    lrs = []
    for m in [5, 4, 4.5, 4.2, 4.1, 4.0, 3, 3, 3, 3, 3, 3, 3, 3]:
        s.step(m)
        lrs.append(o.param_groups[0]["lr"])
    # best 4 after epoch 2; 4.5, 4.2, 4.1 are not 10 % better: bad 1, 2, 3 > patience -> halve;
    # a cooldown epoch (4.0); 3 is better (best 3); three bad epochs -> halve; cooldown; ...
    assert lrs == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125]
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        S.ReduceLROnPlateau(o, factor=1.0)


def test_sequential_and_chained():
    o = opt()
    lrs = run(o, S.SequentialLR(o, [S.LinearLR(o, 0.1, 1.0, 3), S.ExponentialLR(o, 0.5)], [3]))
    close(lrs, [0.1 + 0.9 * e / 3 for e in range(3)] + [0.5 ** (e - 3) for e in range(3, 13)])
    o = opt()
    lrs = run(o, S.ChainedScheduler([S.ConstantLR(o, 0.5, 3), S.ExponentialLR(o, 0.9)]))
    close(lrs, [(0.5 if e < 3 else 1.0) * 0.9 ** e for e in range(13)])


def test_warning_when_the_scheduler_steps_before_the_optimizer():
    o = opt()
    s = S.StepLR(o, 2)
    with pytest.warns(UserWarning, match=r"Detected call of `lr_scheduler.step\(\)` before"):
        s.step()
    o = opt()
    s = S.StepLR(o, 2)
    o.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()


def test_state_dict_round_trip_and_resume_keys():
    o = opt()
    s = S.StepLR(o, 2, 0.5)
    for _ in range(3):
        o.step()
        s.step()
    state = s.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3
    o2 = opt()
    s2 = S.StepLR(o2, 5, 0.1)
    s2.load_state_dict(state)
    assert s2.step_size == 2 and s2.last_epoch == 3 and s2.base_lrs == [1.0]
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified"):
        S.StepLR(opt(), 2, last_epoch=4)
    lam = S.LambdaLR(opt(), lambda e: 1.0)
    assert lam.state_dict()["lr_lambdas"] == [None]


def test_swalr_anneals_to_swa_lr():
    from nbgrad.optim.swa_utils import SWALR

    def cos(t):
        return (1 - math.cos(math.pi * t)) / 2

    for strategy, f in (("cos", cos), ("linear", lambda t: t)):
        o = opt()
        lrs = run(o, SWALR(o, 0.05, anneal_epochs=4, anneal_strategy=strategy), 7)
        # lr_e = swa_lr * alpha(e / 4) + base * (1 - alpha(e / 4)), then held at swa_lr
        close(lrs, [0.05 * f(min(e, 4) / 4) + 1.0 * (1 - f(min(e, 4) / 4)) for e in range(8)])
    with pytest.raises(ValueError, match="anneal_strategy must by one of"):
        SWALR(opt(), 0.1, anneal_strategy="step")


def test_averaged_model_running_mean_and_ema():
    from nbgrad.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    fc = nb.nn.Linear(2, 1)
    swa = AveragedModel(fc)
    ema = AveragedModel(fc, multi_avg_fn=get_ema_multi_avg_fn(0.5))
    values = [1.0, 2.0, 6.0]
    for v in values:
        with nb.no_grad():
            fc.weight.fill_(v)
        swa.update_parameters(fc)
        ema.update_parameters(fc)
    assert swa.module.weight.tolist() == [[3.0, 3.0]] and swa.n_averaged.item() == 3
    assert ema.module.weight.tolist() == [[0.5 * (0.5 * 1 + 0.5 * 2) + 0.5 * 6] * 2]
    assert swa(nb.ones(1, 2)).shape == (1, 1)
