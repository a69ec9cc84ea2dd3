"""Generators, seeds and samplers: exact state round trips, ranges, distributions' moments."""

from __future__ import annotations

import pytest

import nbgrad as nb


def test_generator_state_round_trips_exactly():
    g = nb.Generator().manual_seed(123)
    assert g.initial_seed() == 123 and g.device == nb.device("cpu")
    nb.rand(5, generator=g)
    state = g.get_state()
    assert state.dtype.name in ("uint8", "int64") and state.ndim == 1  # uint8 once it exists
    draws = [nb.rand(3, generator=g).tolist(), nb.randn(2, generator=g).tolist(),
             nb.randint(0, 100, (4,), generator=g).tolist(), nb.randperm(6, generator=g).tolist()]
    g.set_state(state)
    again = [nb.rand(3, generator=g).tolist(), nb.randn(2, generator=g).tolist(),
             nb.randint(0, 100, (4,), generator=g).tolist(), nb.randperm(6, generator=g).tolist()]
    assert draws == again
    h = nb.Generator().set_state(state)  # a state moves between generators
    assert nb.rand(3, generator=h).tolist() == draws[0]
    with pytest.raises(TypeError, match="uint8"):
        g.set_state(nb.zeros(3))
    with pytest.raises(RuntimeError, match="not a state"):
        g.set_state(nb.tensor([1, 2]).to(state.dtype))


def test_global_seed_and_state():
    nb.manual_seed(5)
    assert nb.initial_seed() == 5 and nb.random.initial_seed() == 5
    s = nb.get_rng_state()
    a = nb.rand(4).tolist()
    nb.set_rng_state(s)
    assert nb.rand(4).tolist() == a
    nb.manual_seed(5)
    assert nb.rand(4).tolist() == a
    new = nb.seed()
    assert nb.initial_seed() == new
    with nb.random.fork_rng():
        b = nb.rand(2).tolist()
    assert nb.rand(2).tolist() == b
    nb.cuda.manual_seed(1)  # nothing without a GPU
    nb.cuda.manual_seed_all(1)
    g1, g2 = nb.Generator().manual_seed(9), nb.Generator().manual_seed(9)
    assert nb.rand(3, generator=g1).tolist() == nb.rand(3, generator=g2).tolist()


def test_samplers():
    g = nb.Generator().manual_seed(0)
    p = nb.randperm(10, generator=g)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype is nb.int64
    w = nb.tensor([[0.0, 1.0, 3.0], [1.0, 2.0, 0.0]])
    m = nb.multinomial(w, 2, generator=g)
    assert sorted(m[1].tolist()) == [0, 1] and sorted(m[0].tolist()) == [1, 2]
    r = nb.multinomial(nb.tensor([1.0, 3.0]), 4000, True, generator=g)
    assert abs(r.to(nb.float64).mean().item() - 0.75) < 0.05
    with pytest.raises(RuntimeError, match="without replacement"):
        nb.multinomial(nb.tensor([1.0, 1.0]), 3)
    with pytest.raises(RuntimeError, match="element < 0"):
        nb.multinomial(nb.tensor([-1.0, 1.0]), 1)
    b = nb.bernoulli(nb.full((4000,), 0.3), generator=g)
    assert abs(b.mean().item() - 0.3) < 0.05
    n = nb.normal(nb.full((4000,), 2.0), nb.full((4000,), 0.5), generator=g)
    assert abs(n.mean().item() - 2) < 0.05 and abs(n.std().item() - 0.5) < 0.05
    assert nb.normal(1.0, 2.0, (3, 2)).shape == (3, 2)
    ps = nb.poisson(nb.full((4000,), 4.0), generator=g)
    assert abs(ps.mean().item() - 4) < 0.2
    x = nb.zeros(4000, dtype=nb.float64)
    assert 2 <= x.uniform_(2, 3, generator=g).min().item() and x.max().item() < 3
    assert abs(x.normal_(1, 2, generator=g).mean().item() - 1) < 0.2
    assert abs(x.exponential_(2.0, generator=g).mean().item() - 0.5) < 0.05
    assert abs(x.geometric_(0.5, generator=g).mean().item() - 2) < 0.1
    assert x.log_normal_(generator=g).min().item() > 0
    assert abs(x.bernoulli_(0.2, generator=g).mean().item() - 0.2) < 0.05
    x.cauchy_(generator=g)
    i = nb.zeros(100, dtype=nb.int64).random_(3, 6, generator=g)
    assert set(i.tolist()) == {3, 4, 5}
    assert nb.randint_like(nb.zeros(3), 2, 4).shape == (3,)
    with pytest.raises(RuntimeError, match="from"):
        nb.zeros(2).uniform_(3, 2)
    with pytest.raises(TypeError, match="Generator"):
        nb.rand(2, generator=object())
