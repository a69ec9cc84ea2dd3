"""airspeed-velocity benchmarks, one module per area of the package (see docs/performance.md)."""
