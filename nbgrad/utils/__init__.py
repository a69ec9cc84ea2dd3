"""Utilities: ``nb.utils.data`` (datasets and loaders), ``nb.utils.checkpoint``."""

from nbgrad.utils import checkpoint, data

__all__ = ["checkpoint", "data"]
