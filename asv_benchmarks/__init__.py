"""nbgrad's performance suite: airspeed-velocity benchmarks (``benchmarks/``) and a side-by-side
comparison with PyTorch (``python -m asv_benchmarks.compare``)."""
