"""Alias of :mod:`mxnet.initializer`, so that ``mx.init.Xavier()`` works."""

from .initializer import *  # noqa: F401,F403
