"""W1 / W2 / W2b of design/PERFORMANCE.md: a shorthand for ``asv_benchmarks.compare``.

    python -m asv_benchmarks.overhead_ratios --torch-python PATH [--rounds N] [--only W1,W2]

is ``python -m asv_benchmarks.compare --only W1,W2,W2b --repeat N --torch-python PATH``: each
library in its own process at its defaults, rounds alternating nbgrad / torch, the median of the
per-round ratios (see that module).
"""

from __future__ import annotations

import argparse
import sys

from asv_benchmarks import compare

OVERHEAD_ROWS = ("W1", "W2", "W2b")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: translate the options and run the comparison."""
    p = argparse.ArgumentParser(prog="python -m asv_benchmarks.overhead_ratios",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--torch-python", metavar="PATH",
                   help="interpreter that has torch (default: this one, if it imports torch)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per row (5)")
    p.add_argument("--only", default=",".join(OVERHEAD_ROWS), help="a subset of W1,W2,W2b")
    args = p.parse_args(argv)
    unknown = {s.strip() for s in args.only.split(",")} - set(OVERHEAD_ROWS)
    if unknown:
        p.error(f"not an overhead row: {', '.join(sorted(unknown))}")
    forwarded = ["--only", args.only, "--repeat", str(args.rounds)]
    if args.torch_python:
        forwarded += ["--torch-python", args.torch_python]
    return compare.main(forwarded)


if __name__ == "__main__":
    sys.exit(main())
