"""W2 / W2b: the cost of entering and leaving a grad mode (empty body)."""

from __future__ import annotations

import nbgrad as nb


class GradModeSwitch:
    """One ``with`` block per call; the body is empty so only the switch is timed."""

    def time_no_grad(self):
        with nb.no_grad():
            pass

    def time_inference_mode(self):
        with nb.inference_mode():
            pass

    def time_enable_grad(self):
        with nb.enable_grad():
            pass

    def time_set_grad_enabled_false(self):
        with nb.set_grad_enabled(False):
            pass

    def time_is_grad_enabled(self):
        nb.is_grad_enabled()


class DecoratedCall:
    """A function decorated with a mode: the per-call cost of the decorator."""

    def setup(self):
        @nb.no_grad()
        def under_no_grad():
            return None

        @nb.inference_mode()
        def under_inference():
            return None

        self.no_grad_fn = under_no_grad
        self.inference_fn = under_inference

    def time_no_grad_decorated(self):
        self.no_grad_fn()

    def time_inference_mode_decorated(self):
        self.inference_fn()
