"""Every scheduler of optim.lr_scheduler, stepped 19 times beside PyTorch's on the same
parameter groups: learning rates and cycled momenta equal to 1e-12."""

import warnings

import pytest

import nbgrad as nb

torch = pytest.importorskip("torch")


def schedules(lib):
    S = lib.optim.lr_scheduler
    return {
        "LambdaLR": lambda o: S.LambdaLR(o, lambda e: 0.9 ** e),
        "MultiplicativeLR": lambda o: S.MultiplicativeLR(o, lambda e: 0.95),
        "StepLR": lambda o: S.StepLR(o, 3, 0.5),
        "MultiStepLR": lambda o: S.MultiStepLR(o, [2, 5, 5, 9], 0.5),
        "ConstantLR": lambda o: S.ConstantLR(o, 0.25, 4),
        "LinearLR": lambda o: S.LinearLR(o, 0.2, 0.9, 6),
        "ExponentialLR": lambda o: S.ExponentialLR(o, 0.8),
        "PolynomialLR": lambda o: S.PolynomialLR(o, 7, 2.0),
        "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, 5, 0.01),
        "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, 3, 2, 0.001),
        "CyclicLR-triangular2": lambda o: S.CyclicLR(o, 0.01, 0.1, 3, 2, "triangular2"),
        "CyclicLR-exp_range": lambda o: S.CyclicLR(o, [0.01, 0.02], 0.1, 4, mode="exp_range",
                                                   gamma=0.9),
        "OneCycleLR": lambda o: S.OneCycleLR(o, 1.0, total_steps=20),
        "OneCycleLR-three_phase": lambda o: S.OneCycleLR(o, [1.0, 2.0], total_steps=20,
                                                         three_phase=True,
                                                         anneal_strategy="linear"),
        "SequentialLR": lambda o: S.SequentialLR(
            o, [S.LinearLR(o, 0.1, total_iters=3), S.CosineAnnealingLR(o, 8)], [3]),
        "SequentialLR-3": lambda o: S.SequentialLR(
            o, [S.ConstantLR(o, 0.5, 2), S.ExponentialLR(o, 0.9), S.StepLR(o, 2)], [2, 6]),
        "ChainedScheduler": lambda o: S.ChainedScheduler(
            [S.ExponentialLR(o, 0.9), S.MultiStepLR(o, [3, 6])]),
    }


def trace(lib, name, optimizer):
    def param():
        return lib.nn.Parameter(lib.zeros(1))

    if optimizer == "SGD":
        opt = lib.optim.SGD([{"params": [param()], "lr": 0.5}, {"params": [param()], "lr": 0.2}],
                            lr=0.1, momentum=0.9)
    else:
        opt = lib.optim.Adam([param(), param()], lr=0.01)
    try:
        sched = schedules(lib)[name](opt)
    except Exception as e:  # both must refuse the same way (e.g. Adam has no "momentum")
        return type(e).__name__
    lrs, momenta = [sched.get_last_lr()], []
    for _ in range(19):
        opt.step()
        sched.step()
        lrs.append(list(sched.get_last_lr()))
        group = opt.param_groups[0]
        momenta.append(group["momentum"] if "momentum" in group else group["betas"][0])
    return lrs, momenta


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize("name", sorted(schedules(nb)))
def test_schedule_matches_pytorch(name, optimizer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = trace(nb, name, optimizer), trace(torch, name, optimizer)
    if isinstance(theirs, str):
        assert ours == theirs
        return
    assert sum(ours[0], []) == pytest.approx(sum(theirs[0], []), rel=1e-12, abs=1e-15)
    assert ours[1] == pytest.approx(theirs[1], rel=1e-12)


def test_reduce_on_plateau_matches_pytorch():
    def run(lib):
        opt = lib.optim.SGD([{"params": [lib.nn.Parameter(lib.zeros(1))], "lr": 0.5},
                             {"params": [lib.nn.Parameter(lib.zeros(1))], "lr": 0.2}], lr=0.1)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5,
                                                         cooldown=1, min_lr=[0.1, 0.01])
        out = []
        for metric in [5, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3]:
            sched.step(metric)
            out += sched.get_last_lr()
        return out

    assert run(nb) == pytest.approx(run(torch), rel=1e-12)
