"""Internals of ``nb.utils.data``: collation, worker processes, the random-draw adapter."""

from nbgrad.utils.data._utils import collate, worker

__all__ = ["collate", "worker"]
