"""Alias of :mod:`mxnet.initializer`, so that ``mx.init.Xavier()`` works."""

from .initializer import *  # noqa: F401,F403
from .initializer import InitDesc, Initializer, create, register, alias  # noqa: F401
