"""``nb.optim``: optimizers updating parameters in place under ``no_grad``; ``lr_scheduler``."""

from nbgrad.optim import lr_scheduler, swa_utils
from nbgrad.optim.adam import Adam, AdamW
from nbgrad.optim.composed import ASGD, Adadelta, Adagrad, Adamax, NAdam, RAdam, RMSprop, Rprop
from nbgrad.optim.lbfgs import LBFGS
from nbgrad.optim.optimizer import Optimizer
from nbgrad.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax",
           "NAdam", "RAdam", "ASGD", "Rprop", "LBFGS",
           "lr_scheduler", "swa_utils"]
