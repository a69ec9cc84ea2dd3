"""Internals of ``nbgrad.utils.data`` at PyTorch's paths (``_utils.collate``, ``_utils.worker``)."""

from nbgrad.utils.data._utils import collate, worker

__all__ = ["collate", "worker"]
