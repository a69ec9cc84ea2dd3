"""optim.lr_scheduler, a second set: each schedule against its formula written out, epoch by
PyTorch's errors, warnings and state_dict round trip."""

import math
import warnings

import pytest

import nbgrad as nb

S = nb.optim.lr_scheduler


def sgd(lr=1.0, **kw):
    return nb.optim.SGD([nb.nn.Parameter(nb.zeros(1))], lr=lr, **kw)


def run(sched, opt, steps):
    lrs = [sched.get_last_lr()[0]]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return lrs


CLOSED_FORMS = {
    "StepLR": (lambda o: S.StepLR(o, 3, 0.5), lambda e: 0.5 ** (e // 3)),
    "MultiStepLR": (lambda o: S.MultiStepLR(o, [2, 5, 5], 0.5),
                    lambda e: 0.5 ** ((e >= 2) + 2 * (e >= 5))),
    "ConstantLR": (lambda o: S.ConstantLR(o, 0.25, 4), lambda e: 0.25 if e < 4 else 1.0),
    "LinearLR": (lambda o: S.LinearLR(o, 0.2, 0.9, 6), lambda e: 0.2 + 0.7 * min(e, 6) / 6),
    "ExponentialLR": (lambda o: S.ExponentialLR(o, 0.8), lambda e: 0.8 ** e),
    "PolynomialLR": (lambda o: S.PolynomialLR(o, 7, 2.0), lambda e: (1 - min(e, 7) / 7) ** 2),
    "CosineAnnealingLR": (lambda o: S.CosineAnnealingLR(o, 5, 0.01),
                          lambda e: 0.01 + 0.99 * (1 + math.cos(math.pi * e / 5)) / 2),
    "LambdaLR": (lambda o: S.LambdaLR(o, lambda e: 1 / (1 + e)), lambda e: 1 / (1 + e)),
    "MultiplicativeLR": (lambda o: S.MultiplicativeLR(o, lambda e: 0.9), lambda e: 0.9 ** e),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_chainable_schedule_follows_its_formula(name):
    make, formula = CLOSED_FORMS[name]
    opt = sgd()
    lrs = run(make(opt), opt, 12)
    # CosineAnnealingLR's recursive form equals its closed form only up to T_max
    epochs = range(6) if name == "CosineAnnealingLR" else range(13)
    for e in epochs:
        assert lrs[e] == pytest.approx(formula(e), rel=1e-12), e


def test_cosine_annealing_continues_past_t_max_as_pytorch():
    # past T_max PyTorch's recursion climbs back: epoch T_max+1 adds (base - eta_min)(1-cos(pi/T))/2
    opt = sgd()
    lrs = run(S.CosineAnnealingLR(opt, 4), opt, 6)
    assert lrs[4] == pytest.approx(0.0, abs=1e-12)
    assert lrs[5] == pytest.approx((1 - math.cos(math.pi / 4)) / 2)


def test_warm_restarts_periods_grow_by_t_mult():
    opt = sgd()
    lrs = run(S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=2), opt, 8)
    # periods of 2, then 4: restarts at epochs 2 and 6
    t_cur = [0, 1, 0, 1, 2, 3, 0, 1, 2]
    t_i = [2, 2, 4, 4, 4, 4, 8, 8, 8]
    for e in range(9):
        assert lrs[e] == pytest.approx((1 + math.cos(math.pi * t_cur[e] / t_i[e])) / 2)
    opt = sgd()
    sched = S.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=3)
    opt.step()
    sched.step(7.5)  # periods 2, 6: epoch 7.5 is 5.5 into the second
    assert (sched.T_i, sched.T_cur) == (6, 5.5)
    with pytest.raises(ValueError, match="Expected positive integer T_0, but got 0"):
        S.CosineAnnealingWarmRestarts(sgd(), T_0=0)


def test_cyclic_triangular_and_momentum_cycle_inversely():
    opt = sgd(lr=0.1, momentum=0.9)
    sched = S.CyclicLR(opt, base_lr=0.1, max_lr=1.0, step_size_up=2, step_size_down=2,
                       base_momentum=0.8, max_momentum=0.9)
    lrs, moms = [sched.get_last_lr()[0]], [opt.param_groups[0]["momentum"]]
    for _ in range(8):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
    tri = [0, 0.5, 1, 0.5, 0, 0.5, 1, 0.5, 0]
    assert lrs == pytest.approx([0.1 + 0.9 * t for t in tri])
    assert moms == pytest.approx([0.9 - 0.1 * t for t in tri])


def test_cyclic_triangular2_halves_each_cycle_and_adam_cycles_beta1():
    opt = nb.optim.Adam([nb.nn.Parameter(nb.zeros(1))], lr=0.01)
    sched = S.CyclicLR(opt, 0.0, 1.0, step_size_up=1, mode="triangular2")
    lrs = run(sched, opt, 6)
    assert lrs == pytest.approx([0, 1, 0, 0.5, 0, 0.25, 0])
    assert opt.param_groups[0]["betas"][0] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="mode is invalid and scale_fn is None"):
        S.CyclicLR(sgd(momentum=0.9), 0.1, 1.0, mode="zigzag")
    with pytest.raises(ValueError, match="base_lr must have the same length as "
                       "optimizer.param_groups. base_lr has 2 values, param_groups has 1."):
        S.CyclicLR(sgd(momentum=0.9), [0.1, 0.2], 1.0)


def test_one_cycle_warms_up_then_anneals():
    opt = sgd(lr=0.1, momentum=0.9)
    n, peak = 10, 1.0
    lrs = run(S.OneCycleLR(opt, max_lr=peak, total_steps=n), opt, n - 1)
    initial, final = peak / 25, peak / 25 / 1e4
    warm_end = 0.3 * n - 1

    def cos(start, end, pct):
        return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)

    for s in range(n):
        if s <= warm_end:
            want = cos(initial, peak, s / warm_end)
        else:
            want = cos(peak, final, (s - warm_end) / (n - 1 - warm_end))
        assert lrs[s] == pytest.approx(want), s
    opt.step()
    sched = S.OneCycleLR(opt, max_lr=peak, total_steps=2)
    sched.step()
    sched.step()
    with pytest.raises(ValueError, match="Tried to step 3 times. The specified number of total"):
        sched.step()
    with pytest.raises(ValueError, match="You must define either total_steps OR"):
        S.OneCycleLR(sgd(momentum=0.9), 1.0)


def test_reduce_on_plateau_patience_cooldown_min_lr():
    opt = nb.optim.SGD([{"params": [nb.nn.Parameter(nb.zeros(1))]},
                        {"params": [nb.nn.Parameter(nb.zeros(1))], "lr": 0.2}], lr=1.0)
    sched = S.ReduceLROnPlateau(opt, patience=1, factor=0.5, cooldown=1, min_lr=[0.3, 0.0])
    history = []
    for metric in [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]:
        sched.step(metric)
        history.append(sched.get_last_lr())
    # bad epochs: 1, 2 -> reduce at the 3rd step; cooldown 1 step; then 1, 2 -> reduce again
    want = [[1.0, 0.2], [1.0, 0.2], [0.5, 0.1], [0.5, 0.1], [0.5, 0.1], [0.3, 0.05], [0.3, 0.05]]
    assert [lr for lrs in history for lr in lrs] == pytest.approx(sum(want, []))
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        S.ReduceLROnPlateau(sgd(), factor=1.0)
    with pytest.raises(ValueError, match="mode sideways is unknown!"):
        S.ReduceLROnPlateau(sgd(), mode="sideways")


def test_sequential_restarts_the_next_scheduler_at_its_milestone():
    opt = sgd()
    warm = S.LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = S.ExponentialLR(opt, gamma=0.5)
    lrs = run(S.SequentialLR(opt, [warm, decay], milestones=[3]), opt, 6)
    assert lrs == pytest.approx([0.5, 0.75, 1.0, 1.0, 0.5, 0.25, 0.125])
    with pytest.raises(ValueError, match="number of schedulers provided to be one more"):
        S.SequentialLR(opt, [warm, decay], milestones=[1, 2])
    other = S.StepLR(sgd(), 1)
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same"):
        S.SequentialLR(opt, [warm, other], milestones=[1])


def test_chained_scheduler_multiplies_effects():
    opt = sgd()
    lrs = run(S.ChainedScheduler([S.ExponentialLR(opt, 0.9), S.MultiStepLR(opt, [2])]), opt, 3)
    assert lrs == pytest.approx([1.0, 0.9, 0.81 * 0.1, 0.729 * 0.1])


def test_errors_and_warnings_as_pytorch():
    with pytest.raises(ValueError, match="Constant multiplicative factor expected"):
        S.ConstantLR(sgd(), factor=2.0)
    with pytest.raises(ValueError, match="Starting multiplicative factor expected"):
        S.LinearLR(sgd(), start_factor=0.0)
    with pytest.raises(KeyError, match="param 'initial_lr' is not specified in param_groups"):
        S.StepLR(sgd(), 1, last_epoch=3)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), 1)
    opt = sgd()
    sched = S.StepLR(opt, 1)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    opt = sgd()
    sched = S.StepLR(opt, 1)
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sched.step()  # the right order: no warning


def test_state_dict_round_trip_resumes_the_schedule():
    opt = sgd()
    sched = S.CosineAnnealingLR(opt, T_max=10)
    run(sched, opt, 4)
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 4
    opt2 = sgd()
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    opt2.param_groups[0]["initial_lr"] = 1.0
    resumed = S.CosineAnnealingLR(opt2, T_max=10, last_epoch=3)
    resumed.load_state_dict(state)
    assert run(resumed, opt2, 3)[1:] == pytest.approx(run(sched, opt, 3)[1:])


def test_lambda_state_dict_keeps_callable_objects_state_not_functions():
    class Warmup:
        def __init__(self):
            self.k = 2

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.k)

    opt = nb.optim.SGD([{"params": [nb.nn.Parameter(nb.zeros(1))]},
                        {"params": [nb.nn.Parameter(nb.zeros(1))]}], lr=1.0)
    sched = S.LambdaLR(opt, [Warmup(), lambda e: 1.0])
    assert sched.state_dict()["lr_lambdas"] == [{"k": 2}, None]
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 3"):
        S.LambdaLR(opt, [Warmup()] * 3)
