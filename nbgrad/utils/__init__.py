"""Utilities: ``nb.utils.data`` (datasets and loaders), ``nb.utils.checkpoint``
(activation checkpointing), ``nb.utils.checkpoint_state`` / ``restore_state`` (exact resume of
training) and ``nb.utils.concurrency`` (the version guard)."""

from nbgrad.utils import checkpoint, concurrency, data, resume
from nbgrad.utils.resume import ResumableLoader, checkpoint_state, restore_state

__all__ = ["checkpoint", "concurrency", "data", "resume", "checkpoint_state", "restore_state",
           "ResumableLoader"]
