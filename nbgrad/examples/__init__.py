"""Runnable examples: ``python -m nbgrad.examples.digits`` (the main job) and
``python -m nbgrad.examples.ode_fit``."""
