"""Gluon: the imperative neural-network API (``mx.gluon``)."""

from .parameter import Parameter, Constant, ParameterDict, DeferredInitializationError
from .block import Block, HybridBlock
from .trainer import Trainer
from . import nn
from . import loss
from . import utils
from . import data

__all__ = ['Parameter', 'Constant', 'ParameterDict', 'DeferredInitializationError', 'Block',
           'HybridBlock', 'Trainer', 'nn', 'loss', 'utils', 'data']
