"""Optimizers and the Updater (``mx.optimizer``)."""

from . import optimizer
from .optimizer import (Optimizer, register, create, Updater, get_updater,
                        SGD, NAG, Adam, RMSProp, AdaGrad)

__all__ = ['Optimizer', 'register', 'create', 'Updater', 'get_updater',
           'SGD', 'NAG', 'Adam', 'RMSProp', 'AdaGrad']
