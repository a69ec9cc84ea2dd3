"""``nb.optim``: optimizers updating parameters in place under ``no_grad``."""

from nbgrad.optim import lr_scheduler
from nbgrad.optim.adam import Adam, AdamW
from nbgrad.optim.optimizer import Optimizer
from nbgrad.optim.sgd import SGD

__all__ = ["lr_scheduler", "Optimizer", "SGD", "Adam", "AdamW"]
