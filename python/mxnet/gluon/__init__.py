"""Gluon: the imperative neural-network API (``mx.gluon``)."""

import importlib

from .parameter import Parameter, Constant, ParameterDict, DeferredInitializationError
from .block import Block, HybridBlock, SymbolBlock
from .trainer import Trainer
from . import nn
from . import loss
from . import utils

try:
    data = importlib.import_module(__name__ + '.data')
except ModuleNotFoundError as _error:  # pragma: no cover - only while gluon.data is missing
    # gluon.data is developed separately; the rest of Gluon works without it.
    if _error.name != __name__ + '.data':
        raise

__all__ = ['Parameter', 'Constant', 'ParameterDict', 'DeferredInitializationError', 'Block',
           'HybridBlock', 'SymbolBlock', 'Trainer', 'nn', 'loss', 'utils', 'data']
