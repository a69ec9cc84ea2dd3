"""The one-argument tests, bitwise rows, lerp and div's trunc mode compile for a real GPU
(the dry run of tests/cuda/test_cuda_ptx.py: PTX for compute capability 8.0, no device)."""

from __future__ import annotations

from test_cuda_ptx import dry_run, pytestmark  # noqa: F401  (the fixture and its skip)


def test_predicate_bitwise_and_ternary_rows_compile_for_the_gpu(dry_run):  # noqa: F811
    import nbgrad as nb
    from nbgrad.ops._dispatch import apply
    from nbgrad.ops.elementwise import BITWISE, PREDICATES

    before = len(dry_run)
    for dtype in (nb.float32, nb.int64, nb.bool):
        x = nb.ones(2, 3, dtype=dtype, device="cuda")
        for op in PREDICATES.values():
            apply(op, (x,))
        if dtype is not nb.float32:
            for op in BITWISE.values():
                apply(op, (x,) if op.nargs == 1 else (x, x))
    f = nb.ones(2, 3, device="cuda")
    nb.lerp(f, f, 0.5)
    nb.lerp(f, f, f)
    nb.div(f, f, rounding_mode="trunc")
    nb.div(nb.ones(2, dtype=nb.int64, device="cuda"), 3, rounding_mode="trunc")
    assert len(dry_run) > before + 20
